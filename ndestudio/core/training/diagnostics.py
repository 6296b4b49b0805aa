"""Gradient statistics, and readable reasons with remedies when a run breaks down."""

from __future__ import annotations

import math

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
