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
        per_layer = []
        for params in self.params:
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                per_layer.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
            else:
                per_layer.append(torch.zeros((), device=params[0].device))
        norms = torch.stack(per_layer).double().cpu().tolist() if per_layer else []
        total = math.sqrt(sum(n * n for n in norms))
        return total, dict(zip(self.names, norms, strict=True))


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


def solver_failure(iteration: int, error: BaseException, spec: RunSpec) -> Failed:
    text = str(error) or type(error).__name__
    if "underflow" in text:
        reason = f"The adaptive solver's step size underflowed at iteration {iteration} ({text})"
    elif "max_num_steps" in text:
        reason = (
            f"The solver needed more than max_num_steps={spec.solver.max_num_steps} steps at "
            f"iteration {iteration}"
        )
    else:
        reason = f"The solve failed at iteration {iteration}: {text}"
    return Failed(
        iteration,
        reason + ": the learned dynamics probably became stiff. The last good weights were kept.",
        remedies(spec),
    )
