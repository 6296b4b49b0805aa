"""An MLP vector field as plain tensors: its forward pass keeps what its backward pass needs,
and its vector-Jacobian product is written out (no autograd tape).

One evaluation of a depth-2 MLP is five operations forward and about twelve backward, where
autograd would record and replay each of them with its bookkeeping; the parameter gradients
are accumulated in place across every evaluation of a solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import torch
from torch import nn

import ndestudio.core.solvers.fast.scripted as scripted

if TYPE_CHECKING:
    from ndestudio.core.models.mlp import VectorField

Tensor = torch.Tensor


@dataclass(frozen=True)
class _Activation:
    code: int  # its forward and derivative in :mod:`ndestudio.core.solvers.fast.scripted`
    keeps_input: bool = False  # whether the derivative needs the pre-activation
    beta: float = 1.0  # (softplus)
    threshold: float = 20.0


@cache
def _activations() -> dict[type[nn.Module], _Activation]:
    # (models imports the solver layer: read on first use, not at import)
    from ndestudio.core.models.mlp import LipSwish

    return {
        nn.Tanh: _Activation(scripted.TANH),
        nn.ReLU: _Activation(scripted.RELU),
        nn.SiLU: _Activation(scripted.SILU, keeps_input=True),
        LipSwish: _Activation(scripted.LIPSWISH, keeps_input=True),
    }


def _softplus_activation(module: nn.Softplus) -> _Activation:
    return _Activation(
        scripted.SOFTPLUS,
        keeps_input=True,
        beta=float(module.beta),
        threshold=float(module.threshold),
    )


def _activation_of(module: nn.Module) -> _Activation | None:
    if isinstance(module, nn.Softplus):
        return _softplus_activation(module)
    return _activations().get(type(module))


def mlp_problem(field: nn.Module) -> str | None:
    """Why the fast engine cannot evaluate ``field`` by hand; None when it can."""
    from ndestudio.core.models.mlp import VectorField

    if type(field) is not VectorField:
        return f"its vector field is a {type(field).__name__}, not an MLP VectorField"
    layers = list(field.mlp.net)
    if layers and isinstance(layers[-1], nn.Tanh):
        layers = layers[:-1]
    for k, layer in enumerate(layers):
        wanted_linear = k % 2 == 0
        if wanted_linear != isinstance(layer, nn.Linear):
            return f"its MLP has an unexpected layer {type(layer).__name__}"
        if not wanted_linear and _activation_of(layer) is None:
            return f"its activation {type(layer).__name__} has no hand-written derivative"
    return None


Record = list[Tensor]
"""What one evaluation keeps: ``[x, h_1 … h_n, (z_1 … z_n,) (out)]``, its input (with the time
as column 0 for a field that takes it), the hidden activations, their pre-activations (for
activations whose derivative needs them) and the output of a final tanh."""


_SIGMOID = _Activation(scripted.SIGMOID)


def _as_sigmoid_layers(
    weights: list[Tensor], biases: list[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """The weights of the same MLP with sigmoid activations in place of tanh.

    ``tanh(z) = 2 σ(2z) − 1``: each hidden layer computes ``u = 2z`` and the next layer takes
    in ``2σ(u) − 1``, folded into its weights. The result equals the tanh MLP's to rounding
    (a few ulps of the activations) at a fraction of the cost: torch's tanh takes ~5× as
    long as its sigmoid on a CPU. Built with autograd, so that gradients with respect to
    these weights reach the MLP's own.
    """
    last = len(weights) - 1
    new_w: list[Tensor] = []
    new_b: list[Tensor] = []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        into_sigmoid = layer < last  # this layer feeds an activation: it computes 2z
        if layer == 0:
            w_hat, b_hat = w, b
        else:  # its input is 2σ − 1
            w_hat, b_hat = 2 * w, b - w.sum(1)
        if into_sigmoid:
            w_hat, b_hat = 2 * w_hat, 2 * b_hat
        new_w.append(w_hat)
        new_b.append(b_hat)
    return new_w, new_b


_SPREAD_ROWS = 4096  # batches up to this size get their biases spread over the rows


class FastMLP:
    """The MLP of a :class:`VectorField` (``mlp_problem(field)`` is None).

    ``sigmoid_form``: evaluate tanh hidden layers as sigmoid ones with transformed weights
    (:func:`_as_sigmoid_layers`), for solves whose steps do not depend on the last bits
    of the field (fixed-step methods); :attr:`parameters` are then those weights.
    ``rows``: the batch size of the solve's evaluations (0: unknown).
    """

    def __init__(self, field: VectorField, sigmoid_form: bool = False, rows: int = 0) -> None:
        layers = list(field.mlp.net)
        self.final_tanh = isinstance(layers[-1], nn.Tanh)
        if self.final_tanh:
            layers = layers[:-1]
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        self.weights: list[Tensor] = [m.weight for m in linears]
        self.biases: list[Tensor] = [m.bias for m in linears]
        activations = [_activation_of(m) for m in layers[1::2]]
        self.activations: list[_Activation] = [a for a in activations if a is not None]
        if sigmoid_form and layers[1:2] and isinstance(layers[1], nn.Tanh):
            self.weights, self.biases = _as_sigmoid_layers(self.weights, self.biases)
            self.activations = [_SIGMOID] * len(self.activations)
        # Detached for the scripted loops: TorchScript specialises on requires_grad.
        self.detached = [w.detach() for w in self.weights]
        self._weights_t = [w.t() for w in self.detached]
        self._biases = [b.detach() for b in self.biases]
        if 0 < rows <= _SPREAD_ROWS:
            # Spread over the batch's rows: addmm then copies its bias from a contiguous
            # tensor, not a broadcast one (the same numbers, the same sums, ~1 µs less each).
            self._biases = [b.expand(rows, -1).contiguous() for b in self._biases]
        act = self.activations[0] if self.activations else _SIGMOID
        # The arguments of the scripted loops (ndestudio.core.solvers.fast.scripted): the
        # activation, a final tanh, softplus's constants, the time as the first input.
        self.time_input = bool(field.time_input)
        self.options = (
            act.code,
            act.keeps_input,
            self.final_tanh,
            act.beta,
            act.threshold,
            self.time_input,
        )

    @property
    def forward_args(self) -> tuple:
        """The arguments of :func:`~ndestudio.core.solvers.fast.scripted.mlp_forward` after
        its input."""
        return (self._weights_t, self._biases, self.options)

    @property
    def parameters(self) -> list[Tensor]:
        """Weights and biases, layer by layer: the order of :meth:`gradients`."""
        out: list[Tensor] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w, b]
        return out


class Gradients:
    """Parameter gradients accumulated over the products of one backward pass (biases as
    running sums over the batch rows, summed at the end) by the scripted loops
    (:mod:`ndestudio.core.solvers.fast.scripted`)."""

    def __init__(self, mlp: FastMLP, rows: int) -> None:
        self.mlp = mlp
        self.weights = [torch.zeros_like(w) for w in mlp.weights]
        self.bias_rows = [b.new_zeros(rows, b.shape[0]) for b in mlp.biases]

    @property
    def vjp_args(self) -> tuple:
        """The arguments of the scripted vector-Jacobian products after the record (and the
        control): the weights, these gradients, the MLP's options."""
        return (self.mlp.detached, self.weights, self.bias_rows, self.mlp.options)

    def result(self) -> list[Tensor]:
        """The gradients in the order of :attr:`FastMLP.parameters`."""
        out: list[Tensor] = []
        for w, rows in zip(self.weights, self.bias_rows, strict=True):
            out += [w, rows.sum(0)]
        return out
