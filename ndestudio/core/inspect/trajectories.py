"""Trajectories from any state, forward and backward in time, through the shared solver layer
with the model's own solver and tolerances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ndestudio.core.inspect.dynamics import Dynamics
from ndestudio.core.solvers import SolverFailure, solve_ode


@dataclass
class Trajectory:
    """``states`` (*batch, T, C) in the data's units at ``times`` (T,), from ``start`` at
    ``times[0]``; ``times`` decrease for a backward solve. ``failed``: the solver's reason
    when it broke down (the states are then empty)."""

    times: np.ndarray
    states: np.ndarray
    start: np.ndarray
    failed: str | None = None

    @property
    def backward(self) -> bool:
        return len(self.times) > 1 and bool(self.times[-1] < self.times[0])


def integrate(
    dynamics: Dynamics,
    start: Sequence[float] | np.ndarray,
    horizon: float,
    *,
    t0: float = 0.0,
    n_points: int = 201,
    raise_on_failure: bool = True,
) -> Trajectory:
    """Solve ``dynamics`` from ``start`` (C,) or (batch, C), data units, over ``horizon``
    from ``t0`` (negative: backward in time), at ``n_points`` equally spaced times, with the
    dynamics' solver spec. A solver breakdown raises :class:`SolverFailure`, or, without
    ``raise_on_failure``, returns an empty trajectory naming it."""
    x0 = np.asarray(start, dtype=float)
    times = np.linspace(t0, t0 + horizon, n_points)
    y0 = dynamics.normalise(dynamics.tensor(x0))
    try:
        with torch.no_grad():
            ys = solve_ode(dynamics.field, y0, dynamics.tensor(times), dynamics.solver)
    except SolverFailure as exc:
        if raise_on_failure:
            raise
        return Trajectory(times, np.empty((*x0.shape[:-1], 0, x0.shape[-1])), x0, str(exc))
    states = dynamics.denormalise(ys).movedim(0, -2).cpu().double().numpy()
    return Trajectory(times, states, x0)


@dataclass
class StateTrajectories:
    """From one start: the learned system's trajectory forward and backward in time and, where
    the true equations are known, the true system's."""

    forward: Trajectory
    backward: Trajectory
    true_forward: Trajectory | None = None
    true_backward: Trajectory | None = None


def trajectories_from(
    dynamics: Dynamics,
    start: Sequence[float] | np.ndarray,
    horizon: float,
    *,
    truth: Dynamics | None = None,
    t0: float = 0.0,
    n_points: int = 201,
) -> StateTrajectories:
    """Forward over ``horizon`` and backward over the same span from ``start`` (data units),
    for ``dynamics`` and ``truth``. A solve that breaks down (a learned field can blow up far
    from the data) comes back empty with its reason in ``failed``."""
    horizon = abs(horizon)

    def run(d: Dynamics, h: float) -> Trajectory:
        return integrate(d, start, h, t0=t0, n_points=n_points, raise_on_failure=False)

    return StateTrajectories(
        forward=run(dynamics, horizon),
        backward=run(dynamics, -horizon),
        true_forward=None if truth is None else run(truth, horizon),
        true_backward=None if truth is None else run(truth, -horizon),
    )
