"""The evaluations of an adaptive solve outside its steps: ``f0 = f(t0, y0)`` and the first
step size chosen from it, as torchdiffeq chooses it, with their gradients written out.

torchdiffeq differentiates through the first step size (every later one is chosen under
``no_grad``), so a training step backpropagates through its selection: two evaluations of the
field and two dozen operations on scalars. Recorded by autograd on the field's module, that
graph cost about a tenth of a dopri5 training step at batch 64 (0.4 of 5.5 ms); here the
evaluations run in the scripted MLP and the scalars' gradient is taken in Python floats.
The adaptive solve (:mod:`ndestudio.core.solvers.fast.engine`) chains these backward passes
into its own by hand: one autograd node for the whole solve.
"""

from __future__ import annotations

from typing import Any

import torch

import ndestudio.core.solvers.fast.scripted as scripted
from ndestudio.core.solvers.fast.mlp import FastMLP, Gradients
from ndestudio.core.solvers.stats import Probe

Tensor = torch.Tensor


def refuse_higher_order() -> None:
    """The hand-written backward passes record nothing: a gradient of one would be silently
    wrong, so asking for one (``create_graph=True``) is an error that says what to do."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "the fast engine's backward pass cannot itself be differentiated "
            "(create_graph=True): solve with engine='torchdiffeq' for higher derivatives"
        )


def field_at(mlp: FastMLP, probe: Probe, t: float, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """``f(t, y)`` by the scripted MLP and its record, counted as the solver layer counts
    evaluations."""
    probe.on_forward()
    return scripted.compiled().mlp_forward(y.detach(), t, *mlp.forward_args, True)


def field_vjp(
    mlp: FastMLP,
    probe: Probe,
    record: list[Tensor],
    g: Tensor,
    gradients: Gradients,
    time_wanted: bool,
) -> tuple[Tensor, Tensor | None]:
    """``g``ᵀ ∂f at the evaluation ``record``: the adjoints of its state and of its time (with
    ``time_wanted`` and a field of the time; else None); the parameters' go into
    ``gradients``. Counted as a backward product (where a stop lands)."""
    probe.count_one(())
    return scripted.compiled().field_vjp(g, record, None, *gradients.vjp_args, time_wanted)


class FirstStep:
    """torchdiffeq's first step size (Hairer, Nørsett & Wanner, II.4; its
    ``_select_initial_step`` with the RMS norm) from ``f0 = f(t0, y0)``: :attr:`h`, in
    float64, in torchdiffeq's tensor arithmetic (the state's dtype, bit for bit), evaluating
    ``f1 = f(t0 + h0, y0 + h0 f0)``; :meth:`backward` takes its gradient in float64 scalars,
    a few tensor products and the product through ``f1``, where autograd would record the
    selection. ``order``: the method's order minus one, as torchdiffeq passes it."""

    def __init__(
        self,
        mlp: FastMLP,
        probe: Probe,
        t0: Tensor,
        y0: Tensor,
        f0: Tensor,
        order: int,
        rtol: float,
        atol: float,
    ) -> None:
        probe.on_forward()  # (the evaluation of f1)
        h, values, tensors, record, small, tiny, m_is_d2 = scripted.compiled().first_step(
            y0.detach(), f0.detach(), t0, order, rtol, atol, *mlp.forward_args
        )
        self.h: Tensor = h
        # (tiny: then d1 < 1e-5 too, h0 = 1e-6: h is a constant, as on torchdiffeq)
        self.differentiable = not tiny
        self._values = values.double().tolist()  # (the scalars as floats: one transfer)
        self._tensors = (*tensors, f0.detach())
        self.mlp, self._probe, self._record, self._order = mlp, probe, record, order
        self._small, self._m_is_d2, self._rtol = small, m_is_d2, rtol
        self._y0 = y0.detach()

    def backward(
        self, bar: float, gradients: Gradients, y0_wanted: bool
    ) -> tuple[Tensor | None, Tensor | None]:
        """The adjoints of ``y0`` (with ``y0_wanted``; else None) and ``f0`` (None where
        nothing depends on them) from ``bar``, the adjoint of :attr:`h`; the parameters' (through
        ``f1``) go into ``gradients``."""
        r0, r1, r2, h0_raw, q, h1_raw, hundred_h0, h1, d1, d2 = self._values
        scale, u0, u1, diff, f0 = self._tensors
        h0 = abs(h0_raw)
        count = diff.numel()
        # h = min(100 h0, |h1|)
        to_h0, to_h1 = _split(hundred_h0, h1)
        h0_bar = 100 * to_h0 * bar
        h1_bar = to_h1 * bar * _sign(h1_raw)
        # h1 = (0.01 / m) ** (1 / (order + 1)), m = max(d1, d2) (not ``tiny``: h would be a
        # constant)
        m = d2 if self._m_is_d2 else d1
        m_bar = -h1_raw / (m * (self._order + 1)) * h1_bar
        d1_bar, d2_bar = (0.0, m_bar) if self._m_is_d2 else (m_bar, 0.0)
        f0_bar: Tensor | None = None
        y0_bar: Tensor | None = None
        scale_bar: Tensor | None = None
        if self._m_is_d2:  # f1 is in the graph: d2 = |r2 / h0|
            q_bar = _sign(q) * d2_bar
            h0_bar -= q_bar * r2 / (h0 * h0)
            diff_bar = diff * (q_bar / (h0 * count * r2))  # (r2 > d1 ≥ 0 here)
            f1_bar = diff_bar / scale
            f0_bar = -f1_bar
            if y0_wanted:
                scale_bar = -(diff_bar * diff / scale)
            y1_bar, t1_bar = field_vjp(
                self.mlp, self._probe, self._record, f1_bar, gradients, self.mlp.time_input
            )
            # f1 = f(t0 + h0, y0 + h0 f0)
            h0_bar += float((y1_bar * f0).sum()) + (float(t1_bar) if t1_bar is not None else 0)
            y0_bar = y1_bar
            f0_bar.add_(y1_bar, alpha=h0)
        if not self._small:  # h0 = |0.01 d0 / d1|
            raw_bar = _sign(h0_raw) * h0_bar
            d0 = abs(r0)
            d1_bar -= 0.01 * d0 / (d1 * d1) * raw_bar
            d0_bar = 0.01 / d1 * raw_bar
            if y0_wanted and d0_bar != 0.0:
                u0_bar = u0 * (_sign(r0) * d0_bar / (count * r0))
                y0_bar = _added(y0_bar, u0_bar / scale)
                scale_bar = _added(scale_bar, -(u0_bar * u0 / scale))
        if d1_bar != 0.0:
            u1_bar = u1 * (_sign(r1) * d1_bar / (count * r1))
            f0_bar = _added(f0_bar, u1_bar / scale)
            if y0_wanted:
                scale_bar = _added(scale_bar, -(u1_bar * u1 / scale))
        if y0_wanted and scale_bar is not None:
            y0_bar = _added(y0_bar, scale_bar * torch.sign(self._y0) * self._rtol)
        return (y0_bar if y0_wanted else None), f0_bar


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def _split(a: float, b: float) -> tuple[float, float]:
    """The shares of the gradient of ``minimum(a, b)`` that go to ``a`` and ``b`` (torch
    halves it between equal arguments)."""
    return (1.0, 0.0) if a < b else (0.0, 1.0) if b < a else (0.5, 0.5)


# Differentiable forms of the two, for code that wants autograd to chain them (the adaptive
# solve chains them by hand, in its own backward pass; the tests hold these to torchdiffeq's).


class _Evaluation(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, mlp: FastMLP, probe: Probe, t: Tensor, y: Tensor, *params: Tensor
    ) -> Tensor:
        out, record = field_at(mlp, probe, float(t), y)
        ctx.mlp, ctx.probe, ctx.record, ctx.t_dtype = mlp, probe, record, t.dtype
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        gradients = Gradients(ctx.mlp, g.shape[0])
        y_bar, t_bar = field_vjp(
            ctx.mlp, ctx.probe, ctx.record, g, gradients, ctx.needs_input_grad[2]
        )
        t_grad = t_bar.to(ctx.t_dtype) if t_bar is not None else None
        return (None, None, t_grad, y_bar, *gradients.result())


def evaluate(mlp: FastMLP, probe: Probe, t: Tensor, y: Tensor) -> Tensor:
    """``f(t, y)`` with its gradient, counted as the solver layer counts evaluations."""
    return _Evaluation.apply(mlp, probe, t, y, *mlp.parameters)


class _FirstStepFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        mlp: FastMLP,
        probe: Probe,
        constants: tuple[int, float, float],
        t0: Tensor,
        y0: Tensor,
        f0: Tensor,
        *params: Tensor,
    ) -> Tensor:
        step = FirstStep(mlp, probe, t0, y0, f0, *constants)
        if not step.differentiable:
            ctx.mark_non_differentiable(step.h)
        ctx.step, ctx.rows = step, f0.shape[0]
        return step.h

    @staticmethod
    def backward(ctx: Any, h_grad: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        step: FirstStep = ctx.step
        gradients = Gradients(step.mlp, ctx.rows)
        y0_bar, f0_bar = step.backward(float(h_grad), gradients, ctx.needs_input_grad[4])
        return (None, None, None, None, y0_bar, f0_bar, *gradients.result())


def first_step_size(
    mlp: FastMLP,
    probe: Probe,
    t0: Tensor,
    y0: Tensor,
    f0: Tensor,
    order: int,
    rtol: float,
    atol: float,
) -> Tensor:
    """:attr:`FirstStep.h` with its gradient with respect to ``y0``, ``f0`` and the field's
    parameters."""
    return _FirstStepFunction.apply(mlp, probe, (order, rtol, atol), t0, y0, f0, *mlp.parameters)


def _added(into: Tensor | None, x: Tensor) -> Tensor:
    return x if into is None else into.add_(x)
