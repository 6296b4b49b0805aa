"""A phase portrait of a field on a 2-D slice: the field on a grid, its nullclines, its
equilibria with their class and, for saddles, their manifolds — what a phase-plane view
draws, computed in one call (off the GUI thread)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ndestudio.core.inspect.dynamics import Dynamics
from ndestudio.core.inspect.equilibria import Equilibrium, find_equilibria
from ndestudio.core.inspect.field import Box, FieldSlice, field_slice
from ndestudio.core.inspect.manifolds import Manifold, saddle_manifolds
from ndestudio.core.inspect.nullclines import Nullcline, nullclines


@dataclass
class Portrait:
    """What :func:`phase_portrait` found; ``seconds``: how long it took."""

    field: FieldSlice
    nullclines: list[Nullcline]
    equilibria: list[Equilibrium]
    manifolds: list[Manifold] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def phase_portrait(
    dynamics: Dynamics,
    box: Box,
    *,
    axes: tuple[int, int] = (0, 1),
    state: Sequence[float] | np.ndarray | None = None,
    n: int = 25,
    seeds: int = 8,
    truth: Dynamics | None = None,
    manifolds: bool = True,
) -> Portrait:
    """The portrait of ``dynamics`` over ``box`` in the plane of ``axes`` (other channels held
    at ``state``, default the data mean): an ``n × n`` field grid (with ``truth`` on the same
    grid where known), nullclines, equilibria from ``seeds × seeds`` Newton seeds inside the
    box, and each saddle's manifolds cut at the box."""
    began = time.perf_counter()
    grid = field_slice(dynamics, box, n=n, axes=axes, state=state, truth=truth)
    found = find_equilibria(dynamics, box, axes=axes, state=grid.state, seeds=seeds)
    bounds = [(float(v), float(v)) for v in grid.state]
    bounds[axes[0]], bounds[axes[1]] = box[0], box[1]
    curves: list[Manifold] = []
    if manifolds:
        for equilibrium in found:
            if equilibrium.kind == "saddle":
                curves += saddle_manifolds(dynamics, equilibrium, bounds=bounds)
    return Portrait(grid, nullclines(grid), found, curves, time.perf_counter() - began)
