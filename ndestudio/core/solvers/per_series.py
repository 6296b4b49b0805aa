"""``solve_ode`` with per-series times: each series of a batch observed at its own times.

Irregularly sampled series share no time grid. Solving a batch on the union of their times
costs one output per distinct time of the whole dataset (an interpolation of a solver step
in a Python loop, and its backward; for the adjoint, a backward solve between every two of
them): ~1 000 of them for 30 series of 35 observations, 4x (backpropagation) to 14x (the
adjoint) the time per training step of the same series on a regular grid
(``benchmarks/irregular_data.py``). Each series is solved here from its own first time, on
its own times, in one of two exact ways, picked by what the backward pass needs:

* **Dense output per series** (backpropagation through the solver, and any solve without a
  gradient). Series ``i`` is shifted to start at τ = 0, ``τ = t - t_i0``, the vector field
  seeing the real time ``t_i0 + τ``; the solver steps as it would on a shared grid (its
  steps do not depend on the output times), and after each step its interpolant — the one
  torchdiffeq evaluates at shared output times — is evaluated at every time of every series
  that falls inside the step, in one batched evaluation. The work is that of the steps,
  however many times the series have.
* **A time change** (the adjoint, which solves backwards between the outputs of a shared
  time grid). Series ``i`` is solved in ``s`` with ``t_i(s)`` piecewise linear through its
  times at ``s = 0, 1, …, K-1``: ``dz/ds = f(t_i(s), z) dt_i/ds``, which is 0 after a
  series' last time (padding), so its state holds still. The outputs are the K knots. The
  field jumps at the knots (``dt_i/ds`` changes), so an adaptive solver steps onto every
  knot (``jump_t``), and a fixed-step one steps on a grid that holds the knots: each interval
  between two knots cut into equal steps, as many as make every series' step in real time
  at most ``step_size``, with the field evaluated on the near side of each knot (torchdiffeq's
  ``perturb``). At least one step per knot: ~3x the forward evaluations of the dense output
  at loose tolerances, which is why backpropagation does not use it.

Both return ``y`` of each series at each of its times; padded times repeat the last value.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torchdiffeq._impl.misc import _check_inputs
from torchdiffeq._impl.odeint import SOLVERS

from ndestudio.core.solvers.catalog import ODE_METHODS
from ndestudio.core.solvers.ode_grid import (
    SolverFailure,
    _AdaptiveStepField,
    _FixedStepField,
    solve_on_grid,
    solver_options,
)
from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import SolverSpec

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def solve_per_series(
    field: Field, y0: torch.Tensor, t: torch.Tensor, spec: SolverSpec, probe: Probe
) -> torch.Tensor:
    """``y`` at each series' own times: ``y0`` (B, …) at ``t[:, 0]``, ``t`` (B, K) with
    nondecreasing rows → (K, B, …)."""
    t = t.to(dtype=y0.dtype, device=y0.device)
    if t.dim() != 2 or t.shape[0] != y0.shape[0]:
        raise ValueError(f"per-series times of shape {tuple(t.shape)} for a batch of {len(y0)}")
    if bool((t.diff(dim=1) < 0).any()):
        raise ValueError("each series' times must be nondecreasing")
    if t.shape[1] == 1:
        return y0.unsqueeze(0)
    if spec.gradient != "backprop" and torch.is_grad_enabled():
        return _time_changed(field, y0, t, spec, probe)
    return _dense(field, y0, t, spec, probe)


def _per_series(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or (B, 1) values shaped to broadcast against a state ``like`` (B, …, C)."""
    return values.reshape(-1, *[1] * (like.dim() - 1))


# Dense output --------------------------------------------------------------------------------


class _Shifted:
    """``f(t_i0 + τ, z)``: series ``i``'s field in its own time τ since its first time."""

    def __init__(self, field: Field, start: torch.Tensor) -> None:
        self.field = field
        self.start = start
        self.timed = getattr(field, "time_input", True)  # (a field that ignores t skips it)

    def __call__(self, tau: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.field(self.start + tau if self.timed else tau, z)


class _Outputs:
    """The (series, time) pairs of a solve in time order, filled step by step."""

    def __init__(self, tau: torch.Tensor, y0: torch.Tensor) -> None:
        self.shape = tau.shape
        flat = tau.reshape(-1)
        self.order = torch.argsort(flat, stable=True)
        self.tau = flat[self.order]
        self.host = self.tau.double().cpu().tolist()
        self.series = torch.div(self.order, tau.shape[1], rounding_mode="floor")
        self.pieces: list[torch.Tensor] = []
        self.done = bisect.bisect_right(self.host, 0.0)
        self.pieces.append(y0.index_select(0, self.series[: self.done]))

    @property
    def left(self) -> bool:
        return self.done < len(self.host)

    def upto(self, t1: float) -> slice | None:
        """The outputs not yet given at times up to ``t1`` (a slice of the time order)."""
        end = bisect.bisect_right(self.host, t1, self.done)
        if end == self.done:
            return None
        found = slice(self.done, end)
        self.done = end
        return found

    def result(self) -> torch.Tensor:
        """(K, B, …) from the pieces given in time order."""
        values = torch.cat(self.pieces)
        out = torch.zeros_like(values).index_copy(0, self.order, values)
        return out.reshape(*self.shape, *values.shape[1:]).transpose(0, 1)


def _dense(
    field: Field, y0: torch.Tensor, t: torch.Tensor, spec: SolverSpec, probe: Probe
) -> torch.Tensor:
    info = ODE_METHODS[spec.method]
    wrapper = _AdaptiveStepField if info.adaptive else _FixedStepField
    start = t[:, :1]
    tau = t - start
    outputs = _Outputs(tau, y0)
    if not outputs.left:  # every series at its first time only
        return outputs.result()
    wrapped = wrapper(_Shifted(field, _per_series(start, y0)), probe)
    ends = torch.stack([torch.zeros_like(tau[0, 0]), tau.max()])
    _, func, y0_, ends, rtol, atol, method, options, _, _ = _check_inputs(
        wrapped, y0, ends, spec.rtol, spec.atol, spec.method, solver_options(spec), None, SOLVERS
    )
    solver = SOLVERS[method](func=func, y0=y0_, rtol=rtol, atol=atol, **options)
    try:
        if info.adaptive:
            _integrate_adaptive(solver, ends, outputs)
        else:
            _integrate_fixed(solver, ends, outputs)
    except AssertionError as exc:
        raise SolverFailure(str(exc) or "the solver failed") from exc
    finally:
        wrapped.vjps.close()
    return outputs.result()


def _integrate_adaptive(solver: Any, ends: torch.Tensor, outputs: _Outputs) -> None:
    """torchdiffeq's adaptive ``integrate``, the interpolant of each step evaluated at every
    output inside it at once (it counts ``max_num_steps`` between outputs, as it does)."""
    ends = ends.to(solver.dtype)
    taus = outputs.tau.to(solver.dtype)
    solver._before_integrate(ends)
    steps = 0
    while outputs.left:
        state = solver.rk_state
        found = outputs.upto(float(state.t1.detach()))
        if found is None:
            assert steps < solver.max_num_steps, (
                f"max_num_steps exceeded ({steps}>={solver.max_num_steps})"
            )
            solver.rk_state = solver._adaptive_step(state)
            steps += 1
            continue
        coefficients = torch.stack(state.interp_coeff).index_select(1, outputs.series[found])
        x = ((taus[found] - state.t0) / (state.t1 - state.t0)).to(coefficients)
        x = _per_series(x, coefficients[0])
        total = coefficients[0] + x * coefficients[1]
        power = x
        for coefficient in coefficients[2:]:
            power = power * x
            total = total + power * coefficient
        outputs.pieces.append(total)
        steps = 0


def _integrate_fixed(solver: Any, ends: torch.Tensor, outputs: _Outputs) -> None:
    """torchdiffeq's fixed-grid ``integrate`` (linear interpolation between grid points),
    each step's outputs interpolated at once."""
    if solver.interp != "linear":
        raise ValueError(f"per-series times support linear interpolation, not {solver.interp}")
    grid = solver.grid_constructor(solver.func, solver.y0, ends)
    assert grid[0] == ends[0] and grid[-1] == ends[-1]
    points = grid.tolist()
    y0 = solver.y0
    for j in range(len(points) - 1):
        t0, t1 = grid[j], grid[j + 1]
        dt = t1 - t0
        solver.func.callback_step(t0, y0, dt)
        dy, _ = solver._step_func(solver.func, t0, dt, t1, y0)
        y1 = y0 + dy
        found = outputs.upto(points[j + 1])
        if found is not None:
            series = outputs.series[found]
            weight = _per_series(((outputs.tau[found] - t0) / dt).to(y0), y0)
            outputs.pieces.append(
                torch.lerp(y0.index_select(0, series), y1.index_select(0, series), weight)
            )
        y0 = y1


# Time change ---------------------------------------------------------------------------------


class TimeChange(nn.Module):
    """``dz/ds = f(t_i(s), z) dt_i/ds`` with ``t_i(s)`` piecewise linear through series
    ``i``'s times ``t[i, k]`` at ``s = k``. Its parameters are the field's (for the adjoint)."""

    def __init__(self, field: nn.Module, t: torch.Tensor, like: torch.Tensor) -> None:
        super().__init__()
        self.field = field
        self.timed = getattr(field, "time_input", True)
        self.knots = t
        self.slopes = t.diff(dim=1)
        self.last = t.shape[1] - 2
        self.shape = (t.shape[0], *[1] * (like.dim() - 1))
        # The mean step in real time of the series still observed on each interval.
        observed = (self.slopes > 0).sum(0).clamp_min(1)
        self.mean_slope = self.slopes.sum(0) / observed

    def _segment(self, s: torch.Tensor) -> torch.Tensor:
        return s.detach().floor().clamp(0, self.last).long().reshape(1)

    def forward(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        k = self._segment(s)
        slope = self.slopes.index_select(1, k).reshape(self.shape)
        if self.timed:
            t = self.knots.index_select(1, k).reshape(self.shape) + (s - k) * slope
            return self.field(t, z) * slope
        return self.field(s, z) * slope

    def real_step(self, s0: torch.Tensor, ds: torch.Tensor) -> torch.Tensor:
        """A step ``ds`` from ``s0`` (inside one interval) in real time, over the series."""
        return ds * self.mean_slope.index_select(0, self._segment(s0 + ds / 2)).to(ds).squeeze()


def step_grid(t: torch.Tensor, step_size: float) -> torch.Tensor:
    """The grid in ``s`` for a fixed-step method: the knots 0 … K-1, each interval cut into
    the fewest equal steps that keep every series' step in real time within ``step_size``."""
    gaps = t.diff(dim=1).amax(0).double().cpu().numpy()
    cuts = np.maximum(np.ceil(gaps / step_size - 1e-9), 1).astype(int)
    parts = [k + np.arange(m) / m for k, m in enumerate(cuts)]
    grid = np.concatenate([*parts, [float(len(cuts))]])
    return torch.as_tensor(grid, dtype=t.dtype, device=t.device)


def _time_changed(
    field: Field, y0: torch.Tensor, t: torch.Tensor, spec: SolverSpec, probe: Probe
) -> torch.Tensor:
    if not isinstance(field, nn.Module):
        raise TypeError("the adjoint needs the vector field as an nn.Module (its parameters)")
    k = t.shape[1]
    s = torch.arange(k, dtype=t.dtype, device=t.device)
    info = ODE_METHODS[spec.method]
    jumps = s[1:-1] if info.adaptive and k > 2 else None
    grid = None
    if not info.adaptive:
        assert spec.step_size is not None and math.isfinite(spec.step_size)
        grid = step_grid(t, spec.step_size)
    changed = TimeChange(field, t, y0)
    return solve_on_grid(changed, y0, s, spec, probe=probe, jump_t=jumps, step_grid=grid)
