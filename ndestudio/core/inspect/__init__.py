"""Inspect what a model learned (Qt-free): its vector field on a slice of the state, against
the true one for demos; trajectories from any state; equilibria, nullclines and saddle
manifolds; an SDE's distribution against the data's; a CDE's readout as its series unfold;
solver telemetry. Results are dataclasses of numpy arrays; :func:`inspect_run` gathers them
as JSON-serialisable numbers."""

from __future__ import annotations

from ndestudio.core.inspect.cde_readout import (
    CDEReadout,
    Confusion,
    cde_readout,
    confusion_matrix,
    hidden_states,
    validation_confusion,
)
from ndestudio.core.inspect.dynamics import (
    Dynamics,
    StateFunction,
    learned_dynamics,
    true_dynamics,
)
from ndestudio.core.inspect.equilibria import (
    CLASSES_2D,
    CLASSES_ND,
    COMPLEX_TOLERANCE,
    ZERO_REAL_TOLERANCE,
    Equilibrium,
    classify,
    find_equilibria,
    jacobian,
    newton,
    seed_grid,
)
from ndestudio.core.inspect.field import FieldSlice, data_box, evaluate, field_slice
from ndestudio.core.inspect.manifolds import Manifold, saddle_manifolds
from ndestudio.core.inspect.nullclines import Nullcline, nullclines, zero_contour
from ndestudio.core.inspect.portrait import Portrait, phase_portrait
from ndestudio.core.inspect.report import inspect_run, jsonable
from ndestudio.core.inspect.sde_stats import (
    QUANTILES,
    Histograms,
    SDEStatistics,
    compare_paths,
    marginal_histograms,
    quantile_bands,
    sde_statistics,
    wasserstein_1d,
    wasserstein_per_time,
)
from ndestudio.core.inspect.telemetry import NFE_THRESHOLD, Telemetry, from_stats, solve_telemetry
from ndestudio.core.inspect.timing import time_field_and_equilibria
from ndestudio.core.inspect.trajectories import (
    StateTrajectories,
    Trajectory,
    integrate,
    trajectories_from,
)

__all__ = [
    "CLASSES_2D",
    "CLASSES_ND",
    "COMPLEX_TOLERANCE",
    "NFE_THRESHOLD",
    "QUANTILES",
    "ZERO_REAL_TOLERANCE",
    "CDEReadout",
    "Confusion",
    "Dynamics",
    "Equilibrium",
    "FieldSlice",
    "Histograms",
    "Manifold",
    "Nullcline",
    "Portrait",
    "SDEStatistics",
    "StateFunction",
    "StateTrajectories",
    "Telemetry",
    "Trajectory",
    "cde_readout",
    "classify",
    "compare_paths",
    "confusion_matrix",
    "data_box",
    "evaluate",
    "field_slice",
    "find_equilibria",
    "from_stats",
    "hidden_states",
    "inspect_run",
    "integrate",
    "jacobian",
    "jsonable",
    "learned_dynamics",
    "marginal_histograms",
    "newton",
    "nullclines",
    "phase_portrait",
    "quantile_bands",
    "saddle_manifolds",
    "sde_statistics",
    "seed_grid",
    "solve_telemetry",
    "time_field_and_equilibria",
    "trajectories_from",
    "true_dynamics",
    "validation_confusion",
    "wasserstein_1d",
    "wasserstein_per_time",
    "zero_contour",
]
