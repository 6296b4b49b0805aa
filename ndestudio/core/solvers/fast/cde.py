"""Neural CDEs on the fast engine: the field ``f(z) dX/ds`` of a
:class:`~ndestudio.core.solvers.paths.CDEField` solved with fixed steps.

A fixed-step solve knows the time of each of its evaluations before it starts, so the control
path's derivative is read at a chunk's evaluations in one vectorised call, and each
evaluation is the MLP followed by one batched matrix product (its adjoint: one outer product
before the MLP's own). The times are torchdiffeq's to the bit: a CDE solve passes the knots
as ``jump_t``, which makes torchdiffeq perturb a step's first evaluation to just after its
start (and rk4's last to just before its end), so that each lands on its own side of a knot.
Adaptive solves stay on torchdiffeq: there the steps are clamped onto the knots.
"""

from __future__ import annotations

from typing import TypeGuard

import torch
from torch import nn

from ndestudio.core.solvers.paths import CDEField

Tensor = torch.Tensor

FIXED_CDE_METHODS = ("euler", "midpoint", "rk4")


def is_cde_field(field: nn.Module) -> TypeGuard[CDEField]:
    return type(field) is CDEField


def path_needs_gradient(field: CDEField) -> bool:
    """Whether the control path is built from tensors that need a gradient (its data are
    generated, or learned): the fast engine returns none with respect to the path."""
    interpolation = field.path.interpolation
    tensors = list(interpolation.buffers()) + list(interpolation.parameters())
    return any(t.requires_grad for t in tensors)


def evaluation_times(method: str, grid: Tensor) -> Tensor:
    """The times at which torchdiffeq's fixed-step ``method`` with ``perturb`` evaluates the
    field over ``grid``: (steps × stages,), step by step, in the grid's arithmetic."""
    t0, t1 = grid[:-1], grid[1:]
    dt = t1 - t0
    after_start = torch.nextafter(t0, t0 + 1)
    if method == "euler":
        stages = [after_start]
    elif method == "midpoint":
        stages = [after_start, t0 + 0.5 * dt]
    elif method == "rk4":  # (torchdiffeq's rk4_alt_step_func)
        stages = [after_start, t0 + dt * (1 / 3), t0 + dt * (2 / 3), torch.nextafter(t1, t1 - 1)]
    else:
        raise ValueError(f"no fixed-step CDE evaluation times for {method!r}")
    return torch.stack(stages, dim=1).reshape(-1)


class PathControl:
    """The control path's derivative at evaluation times, shaped for the scripted loops:
    (evaluations, batch, channels, 1)."""

    def __init__(self, field: CDEField, method: str, grid: Tensor) -> None:
        self.path = field.path
        self.times = evaluation_times(method, grid)
        self.stages = self.times.numel() // max(grid.numel() - 1, 1)

    def steps(self, lo: int, hi: int) -> Tensor:
        """At the evaluations of steps ``lo`` … ``hi - 1``."""
        times = self.times[lo * self.stages : hi * self.stages]
        with torch.no_grad():
            derivative = self.path.derivative(times)  # (batch, evaluations, channels)
        return derivative.transpose(0, 1).unsqueeze(-1).contiguous()
