"""The fast engine of the solver layer: Runge–Kutta solves of an MLP vector field whose
backward pass is written out by hand (discretise-then-optimise) instead of recorded on
autograd's tape, so that a training step runs a few large operations per evaluation rather
than a few hundred small ones per step. See :mod:`ndestudio.core.solvers.fast.engine`."""

from ndestudio.core.solvers.fast.engine import (
    ENGINES,
    FAST_METHODS,
    engine_problems,
    fast_applies,
    planned_engine,
    solve_fast,
)

__all__ = [
    "ENGINES",
    "FAST_METHODS",
    "engine_problems",
    "fast_applies",
    "planned_engine",
    "solve_fast",
]
