"""Gradient statistics, and readable reasons with remedies when a run breaks down."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ndestudio.core.events import Failed
from ndestudio.core.specs import RunSpec


class GradientNorms:
    """Per-layer and global gradient norms with one device synchronisation per call."""

    def __init__(self, model: nn.Module) -> None:
        self.names: list[str] = []
        self.params: list[list[nn.Parameter]] = []
        for name, module in model.named_modules():
            own = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if own:
                self.names.append(name or type(module).__name__)
                self.params.append(own)

    def compute(self) -> tuple[float, dict[str, float]]:
        """(global norm, {layer: norm}); one fused norm kernel and one transfer per call."""
        owners, grads = [], []
        for layer, params in enumerate(self.params):
            for p in params:
                if p.grad is not None:
                    owners.append(layer)
                    grads.append(p.grad)
        squares = [0.0] * len(self.params)
        if grads:
            norms = torch.stack(torch._foreach_norm(grads)).double().cpu().tolist()
            for layer, norm in zip(owners, norms, strict=True):
                squares[layer] += norm * norm
        per_layer = {name: math.sqrt(sq) for name, sq in zip(self.names, squares, strict=True)}
        return math.sqrt(sum(squares)), per_layer


def remedies(spec: RunSpec) -> tuple[str, ...]:
    out = [f"a smaller learning rate (now {spec.train.lr:g})"]
    if spec.solver.method in ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun"):
        out.append("set min_step in the solver so that the step size cannot underflow")
    if spec.train.dtype == "float32":
        out.append("float64")
    out.append("a fixed-step solver such as rk4 (or euler for SDEs)")
    if spec.train.weight_decay == 0:
        out.append("weight decay (e.g. 1e-4) to keep the vector field from becoming stiff")
    if spec.train.grad_clip is None:
        out.append("gradient clipping (e.g. 1.0)")
    return tuple(out)


def non_finite(iteration: int, what: str, spec: RunSpec) -> Failed:
    return Failed(
        iteration,
        f"The {what} became NaN or infinite at iteration {iteration}: the learned vector field "
        "probably became stiff or blew up. The last good weights were kept.",
        remedies(spec),
    )


def solver_failure(
    iteration: int, error: BaseException, spec: RunSpec, during: str = "training"
) -> Failed:
    """``during``: "training" (a step's solve; the weights from before it are put back) or
    "evaluation" (the validation solve after step ``iteration``; that step's weights stay)."""
    text = str(error) or type(error).__name__
    when = (
        f"iteration {iteration}"
        if during == "training"
        else f"the evaluation after {iteration} steps"
    )
    if "underflow" in text:
        reason = f"The adaptive solver's step size underflowed at {when} ({text})"
    elif "max_num_steps" in text:
        reason = (
            f"The solver needed more than max_num_steps={spec.solver.max_num_steps} steps at {when}"
        )
    else:
        reason = f"The solve failed at {when}: {text}"
    return Failed(
        iteration,
        reason + ": the learned dynamics probably became stiff. The last good weights were kept.",
        remedies(spec),
    )


# Training loss this many times below validation, at this many evaluations in a row, is
# flagged: the model fits what it trains on and not what it is judged on.
GAP_FACTOR = 10.0
GAP_EVALUATIONS = 3
# Families whose training and validation losses measure the same thing (an SDE-GAN's critic
# loss and a latent SDE's ELBO are not comparable with their validation statistics).
_COMPARABLE = ("ode", "cde")


def loss_gap_warning(
    spec: RunSpec,
    iterations: Sequence[float],
    losses: Sequence[float],
    eval_iterations: Sequence[float],
    val_losses: Sequence[float],
) -> str | None:
    """A warning when the training loss has stayed far below the validation loss.

    At each of the last :data:`GAP_EVALUATIONS` evaluations, the training loss is the mean of
    the steps since the evaluation before it; all must be :data:`GAP_FACTOR` times below the
    validation loss. None when there is no such gap (or the two losses are not comparable).
    """
    if spec.model.family not in _COMPARABLE or len(val_losses) < GAP_EVALUATIONS:
        return None
    evals = np.array(eval_iterations[-GAP_EVALUATIONS - 1 :], dtype=np.float64)
    vals = np.array(val_losses[-GAP_EVALUATIONS:], dtype=np.float64)
    bounds = evals if len(evals) > GAP_EVALUATIONS else np.concatenate([[0.0], evals])
    tail = max(0, int(bounds[-1] - bounds[0]))  # the steps since the first bound: a copy
    its = np.array(iterations[-tail:] if tail else [], dtype=np.float64)
    loss = np.array(losses[-tail:] if tail else [], dtype=np.float64)
    ratios = []
    for lo, hi, val in zip(bounds[:-1], bounds[1:], vals, strict=True):
        inside = loss[(its > lo) & (its <= hi)]
        train = float(inside.mean()) if inside.size else math.nan
        if not (math.isfinite(train) and math.isfinite(val) and train > 0):
            return None
        ratios.append(val / train)
    if min(ratios) < GAP_FACTOR:
        return None
    window = spec.train.window
    why = (
        f"it fits its {window}-observation training windows but not whole series: let the "
        "window grow to whole series (window growth), or train on longer windows"
        if window is not None and spec.model.family == "ode"
        else "it is overfitting: try more data, weight decay or a smaller network"
    )
    return (
        f"Training loss is {min(ratios):.0f}× or more below the validation loss "
        f"({vals[-1]:.3g}) at the last {GAP_EVALUATIONS} evaluations: {why}."
    )
