"""The ODE solve of the shared solver layer: on one time grid for the batch, or on each
series' own times (:mod:`ndestudio.core.solvers.per_series`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ndestudio.core.solvers.ode_grid import SolverFailure, solve_on_grid
from ndestudio.core.solvers.per_series import solve_per_series
from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import SolverSpec

__all__ = ["SolverFailure", "solve_ode"]


def solve_ode(
    field: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    spec: SolverSpec,
    *,
    probe: Probe | None = None,
    jump_t: torch.Tensor | None = None,
    step_grid: torch.Tensor | None = None,
    extra_adjoint_params: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Solve ``dy/dt = field(t, y)`` from ``y0`` and return ``y`` at times ``t``: (T, *y0.shape).

    ``t`` is (T,), shared by the batch, or (batch, T): each series' own times, ``y0[i]`` its
    state at ``t[i, 0]`` (rows nondecreasing; a repeated last time pads a shorter series);
    see :mod:`ndestudio.core.solvers.per_series`.

    ``spec.gradient`` picks backprop through the solver, the adjoint, or the adjoint with the
    seminorm. ``jump_t``: times where the field jumps, which an adaptive solver steps onto;
    ``step_grid``: for a fixed-step method, the grid to step on in place of
    ``spec.step_size`` (the field may jump at its points). ``extra_adjoint_params`` are
    tensors the field depends on besides its own parameters (for example a control path's
    coefficients) whose gradients the adjoint must return.
    """
    if t.dim() == 2:
        if jump_t is not None or step_grid is not None or extra_adjoint_params:
            raise ValueError("per-series times take no jump_t, step_grid or extra parameters")
        probe = probe or Probe()
        probe.stats.engine = "torchdiffeq"
        return solve_per_series(field, y0, t, spec, probe)
    return solve_on_grid(
        field,
        y0,
        t,
        spec,
        probe=probe,
        jump_t=jump_t,
        step_grid=step_grid,
        extra_adjoint_params=extra_adjoint_params,
    )
