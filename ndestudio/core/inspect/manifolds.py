"""Stable and unstable manifolds of saddles: integrated from just off the equilibrium along
its real eigenvectors, backward in time for the stable ones, forward for the unstable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ndestudio.core.inspect.dynamics import Dynamics
from ndestudio.core.inspect.equilibria import COMPLEX_TOLERANCE, Equilibrium
from ndestudio.core.inspect.trajectories import Trajectory, integrate


@dataclass
class Manifold:
    """One branch pair of a saddle's ``kind`` ("stable" / "unstable") manifold: the
    ``eigenvalue`` and unit ``direction`` (C,) it leaves along, and two ``branches``,
    from ``point ± offset · direction``."""

    point: np.ndarray
    kind: str
    eigenvalue: float
    direction: np.ndarray
    branches: tuple[Trajectory, Trajectory]


def saddle_manifolds(
    dynamics: Dynamics,
    equilibrium: Equilibrium,
    *,
    offset: float = 1e-4,
    horizon: float | None = None,
    n_points: int = 400,
    bounds: Sequence[tuple[float, float]] | None = None,
    t: float = 0.0,
) -> list[Manifold]:
    """The manifolds along each real eigenvector of ``equilibrium`` (for a saddle: one
    stable, one unstable in the plane). Each branch starts ``offset`` away (in normalised
    units) and runs over ``horizon`` (default: 12 / |λ|, long enough to grow e¹² times);
    with ``bounds`` (one (low, high) per channel) it is cut where it first leaves them."""
    scale = dynamics.scale.cpu().double().numpy()
    out = []
    for value, vector in zip(equilibrium.eigenvalues, equilibrium.eigenvectors.T, strict=True):
        if abs(value.imag) > COMPLEX_TOLERANCE * abs(value) or value.real == 0:
            continue
        lam = float(value.real)
        direction = np.real(vector)
        direction = direction / np.linalg.norm(direction)
        step = offset * direction / np.linalg.norm(direction / scale)
        span = horizon if horizon is not None else 12.0 / abs(lam)
        signed = span if lam > 0 else -span
        pair = tuple(
            _branch(dynamics, equilibrium.point + sign * step, signed, n_points, bounds, t)
            for sign in (1.0, -1.0)
        )
        kind = "unstable" if lam > 0 else "stable"
        out.append(Manifold(equilibrium.point, kind, lam, direction, (pair[0], pair[1])))
    return out


PIECES = 8
"""A branch is integrated in this many pieces, stopping at the first that leaves the bounds."""


def _branch(
    dynamics: Dynamics,
    start: np.ndarray,
    span: float,
    n_points: int,
    bounds: Sequence[tuple[float, float]] | None,
    t: float,
) -> Trajectory:
    """From ``start`` over ``span`` (signed) in :data:`PIECES` pieces, cut where it first
    leaves ``bounds``; a piece that fails ends it (its reason kept)."""
    per_piece = max(2, n_points // PIECES + 1)
    times, states = [np.array([t])], [start[None, :]]
    failed = None
    x, t0 = start, t
    for _ in range(PIECES):
        piece = integrate(
            dynamics, x, span / PIECES, t0=t0, n_points=per_piece, raise_on_failure=False
        )
        if piece.failed is not None:
            failed = piece.failed
            break
        times.append(piece.times[1:])
        states.append(piece.states[1:])
        x, t0 = piece.states[-1], float(piece.times[-1])
        if bounds is not None and _outside(piece.states, bounds).any():
            break
    path = Trajectory(np.concatenate(times), np.concatenate(states), start, failed)
    return _cut(path, bounds)


def _outside(states: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray:
    lows = np.array([lo for lo, _ in bounds])
    highs = np.array([hi for _, hi in bounds])
    free = lows < highs
    return np.any(free & ((states < lows) | (states > highs)), axis=-1)


def _cut(path: Trajectory, bounds: Sequence[tuple[float, float]] | None) -> Trajectory:
    """``path`` up to and including its first state outside ``bounds``."""
    if bounds is None or path.states.shape[-2] == 0:
        return path
    outside = _outside(path.states, bounds)
    if not outside.any():
        return path
    end = int(np.argmax(outside)) + 1
    return Trajectory(path.times[:end], path.states[:end], path.start, path.failed)
