"""Equilibria of a vector field: Newton from a grid of seeds, deduplicated and classified by
the eigenvalues of their Jacobians."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ndestudio.core.inspect.dynamics import Dynamics

ZERO_REAL_TOLERANCE = 1e-2
"""An eigenvalue's real part counts as 0 when ``|Re λ| ≤ ZERO_REAL_TOLERANCE · |λ|`` (a
relative tolerance: 1 %, so the class does not depend on the units of time)."""

RATE_FLOOR = 1e-4
"""Eigenvalues smaller than this share of the field's typical rate (its median speed over
the seeds divided by the box's diagonal, in normalised units) count as 0."""

COMPLEX_TOLERANCE = 1e-8
"""An eigenvalue counts as complex (a rotation) when ``|Im λ| > COMPLEX_TOLERANCE · |λ|``."""

CLASSES_2D = (
    "stable node",
    "unstable node",
    "stable focus",
    "unstable focus",
    "saddle",
    "centre-like",
    "non-hyperbolic",
)
"""The classes of a planar equilibrium. "centre-like": a complex pair with real parts within
the tolerance of 0; "non-hyperbolic": a real eigenvalue within it (e.g. a line of equilibria)."""

CLASSES_ND = ("stable", "unstable", "saddle", "centre-like", "non-hyperbolic")
"""The classes in other dimensions, by the signs of the real parts: all negative, all
positive, both; real parts at 0 only in complex pairs ("centre-like") or not."""


@dataclass
class Equilibrium:
    """An equilibrium in the data's units: ``point`` (C,), the Jacobian of dx/dt there (C, C),
    its ``eigenvalues`` (C,) and ``eigenvectors`` (columns), the ``kind`` (see
    :data:`CLASSES_2D`, :data:`CLASSES_ND`), ``residual`` = |f(point)| in normalised units,
    and how many ``seeds`` converged to it."""

    point: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    kind: str
    residual: float
    seeds: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable numbers: eigenvalues as [real, imaginary] pairs."""
        return {
            "point": [float(v) for v in self.point],
            "kind": self.kind,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues],
            "jacobian": [[float(v) for v in row] for row in self.jacobian],
            "residual": float(self.residual),
            "seeds": int(self.seeds),
        }


def classify(
    eigenvalues: Sequence[complex] | np.ndarray,
    tolerance: float = ZERO_REAL_TOLERANCE,
    floor: float = 0.0,
) -> str:
    """The class of an equilibrium whose Jacobian has ``eigenvalues``; real parts within
    ``tolerance`` (relative, see :data:`ZERO_REAL_TOLERANCE`) of 0 count as 0, and an
    eigenvalue of modulus at most ``floor`` (a rate, 1 / time) is 0 altogether: the
    linearisation says nothing there ("non-hyperbolic", e.g. the cubic spiral's origin)."""
    lam = np.asarray(eigenvalues, dtype=complex)
    size = np.abs(lam)
    if (size <= floor).any():
        return "non-hyperbolic"
    zero = np.abs(lam.real) <= tolerance * size
    rotating = np.abs(lam.imag) > COMPLEX_TOLERANCE * size
    negative = ~zero & (lam.real < 0)
    positive = ~zero & (lam.real > 0)
    if zero.any():
        return "centre-like" if rotating[zero].all() else "non-hyperbolic"
    if len(lam) == 2:
        shape = "focus" if rotating.any() else "node"
        if negative.all():
            return f"stable {shape}"
        if positive.all():
            return f"unstable {shape}"
        return "saddle"
    if negative.all():
        return "stable"
    if positive.all():
        return "unstable"
    return "saddle"


def _value_and_jacobian(
    dynamics: Dynamics, y: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised field g(y) (B, C) and its Jacobian dg/dy (B, C, C) by autograd: one
    backward pass per channel (the field acts on each row of the batch on its own)."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        g = dynamics.field(t, y)
        rows = [
            torch.autograd.grad(g[:, i].sum(), y, retain_graph=i < g.shape[1] - 1)[0]
            for i in range(g.shape[1])
        ]
    return g.detach(), torch.stack(rows, dim=1)


def jacobian(dynamics: Dynamics, points: np.ndarray, t: float = 0.0) -> np.ndarray:
    """The Jacobian of dx/dt with respect to x in the data's units at ``points`` (B, C):
    (B, C, C). (Similar to the normalised one, so with the same eigenvalues.)"""
    tt = dynamics.tensor(t)
    _, jac = _value_and_jacobian(dynamics, dynamics.normalise(dynamics.tensor(points)), tt)
    scale = dynamics.scale
    data = scale[:, None] * jac / scale[None, :]
    return data.detach().cpu().double().numpy()


def newton(
    dynamics: Dynamics,
    seeds: np.ndarray,
    *,
    t: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 60,
    max_step: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton on f(x) = 0 from each seed (S, C) in the data's units, iterating in
    normalised units: the step solves ``J dy = -g`` in the least-squares sense (the
    pseudo-inverse, so a singular Jacobian still gives a step), at most ``max_step`` long,
    halved until |g| decreases; converged when |g| ≤ ``tol`` (at least 1000 ulp of the
    dynamics' dtype). Returns (points (S, C), residuals |g| (S,), converged (S,))."""
    tol = max(tol, 1e3 * torch.finfo(dynamics.dtype).eps)
    tt = dynamics.tensor(t)
    y = dynamics.normalise(dynamics.tensor(seeds)).detach()
    active = torch.ones(len(y), dtype=torch.bool, device=y.device)
    with torch.no_grad():
        g = dynamics.field(tt, y)
    norm = g.norm(dim=-1)
    for _ in range(max_iter):
        active &= norm > tol
        if not bool(active.any()):
            break
        idx = active.nonzero().squeeze(1)
        ya = y[idx]
        ga, jac = _value_and_jacobian(dynamics, ya, tt)
        step = -(torch.linalg.pinv(jac) @ ga.unsqueeze(-1)).squeeze(-1)
        length = step.norm(dim=-1, keepdim=True)
        step = step * torch.clamp(max_step / length.clamp_min(1e-300), max=1.0)
        na = ga.norm(dim=-1)
        alpha = torch.ones(len(idx), 1, dtype=y.dtype, device=y.device)
        pending = torch.ones(len(idx), dtype=torch.bool, device=y.device)
        new_y, new_n = ya.clone(), na.clone()
        with torch.no_grad():
            for _ in range(30):
                trial = ya + alpha * step
                n_trial = dynamics.field(tt, trial).norm(dim=-1)
                better = pending & (n_trial < na)
                new_y[better], new_n[better] = trial[better], n_trial[better]
                pending &= ~better
                if not bool(pending.any()):
                    break
                alpha[pending] *= 0.5
        # A seed whose step reduced nothing at any damping is stuck (a local minimum of |g|).
        stuck = pending.clone()
        y[idx], norm[idx] = new_y, new_n
        active[idx[stuck]] = False
        y = torch.where(torch.isfinite(y), y, torch.full_like(y, math.inf))
    converged = (norm <= tol) & torch.isfinite(norm)
    points = dynamics.denormalise(y).cpu().double().numpy()
    return points, norm.cpu().double().numpy(), converged.cpu().numpy()


def seed_grid(bounds: Sequence[tuple[float, float]], per_axis: int) -> np.ndarray:
    """``per_axis`` evenly spaced seeds along each (low, high) of ``bounds`` (one where
    low == high), all combinations: (S, C)."""
    axes = [np.array([lo]) if lo == hi else np.linspace(lo, hi, per_axis) for lo, hi in bounds]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(bounds))


def full_bounds(
    dynamics: Dynamics,
    box: Sequence[tuple[float, float]],
    axes: tuple[int, int] = (0, 1),
    state: Sequence[float] | np.ndarray | None = None,
) -> list[tuple[float, float]]:
    """Bounds for every channel: ``box`` itself when it covers all of them, else its two
    ranges on ``axes`` with the other channels held at ``state`` (default: the data mean)."""
    if len(box) == dynamics.channels:
        return [(float(lo), float(hi)) for lo, hi in box]
    if len(box) != 2:
        raise ValueError(f"a box of {len(box)} ranges for a state of {dynamics.channels}")
    base = dynamics.loc.cpu().double().numpy() if state is None else np.asarray(state, float)
    bounds = [(float(v), float(v)) for v in base]
    for axis, (lo, hi) in zip(axes, box, strict=True):
        bounds[axis] = (float(lo), float(hi))
    return bounds


def find_equilibria(
    dynamics: Dynamics,
    box: Sequence[tuple[float, float]],
    *,
    axes: tuple[int, int] = (0, 1),
    state: Sequence[float] | np.ndarray | None = None,
    seeds: int = 10,
    t: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 60,
    merge_distance: float = 1e-4,
    tolerance: float = ZERO_REAL_TOLERANCE,
    keep_outside: bool = False,
) -> list[Equilibrium]:
    """The equilibria Newton reaches from ``seeds × seeds`` seeds over ``box`` (two ranges on
    ``axes``, the other channels starting at ``state``; or one range per channel), merged
    when closer than ``merge_distance`` in normalised units, those outside the box dropped
    unless ``keep_outside``; each classified (``tolerance``: see :func:`classify`).
    Sorted by position."""
    bounds = full_bounds(dynamics, box, axes, state)
    starts = seed_grid(bounds, seeds)
    points, residuals, converged = newton(dynamics, starts, t=t, tol=tol, max_iter=max_iter)
    scale = dynamics.scale.cpu().double().numpy()
    lows = np.array([lo for lo, _ in bounds])
    highs = np.array([hi for _, hi in bounds])
    free = lows < highs
    found: list[tuple[np.ndarray, float, int]] = []
    for point, residual, ok in zip(points, residuals, converged, strict=True):
        if not ok:
            continue
        if not keep_outside:
            slack = 1e-9 * (highs - lows)
            if np.any(free & ((point < lows - slack) | (point > highs + slack))):
                continue
        for i, (other, other_residual, count) in enumerate(found):
            if np.linalg.norm((point - other) / scale) < merge_distance:
                best = point if residual < other_residual else other
                found[i] = (best, min(residual, other_residual), count + 1)
                break
        else:
            found.append((point, float(residual), 1))
    found.sort(key=lambda item: tuple(item[0]))
    if not found:
        return []
    jacobians = jacobian(dynamics, np.stack([p for p, _, _ in found]), t)
    floor = RATE_FLOOR * _typical_rate(dynamics, starts, lows, highs, t)
    out = []
    for (point, residual, count), jac in zip(found, jacobians, strict=True):
        values, vectors = np.linalg.eig(jac)
        order = np.lexsort((values.imag, values.real))
        values, vectors = values[order], vectors[:, order]
        out.append(
            Equilibrium(
                point, jac, values, vectors, classify(values, tolerance, floor), residual, count
            )
        )
    return out


def _typical_rate(
    dynamics: Dynamics, starts: np.ndarray, lows: np.ndarray, highs: np.ndarray, t: float
) -> float:
    """The field's median speed over ``starts`` per unit of the box's diagonal (1 / time),
    measured in normalised units so that no channel's units dominate."""
    with torch.no_grad():
        rates = dynamics.rate(dynamics.tensor(starts), t) / dynamics.scale
        speed = torch.linalg.vector_norm(rates, dim=-1)
    scale = dynamics.scale.cpu().double().numpy()
    diagonal = float(np.linalg.norm((highs - lows) / scale))
    return float(speed.median()) / diagonal if diagonal > 0 else 0.0
