"""The one shared solver layer: nothing else imports torchdiffeq, torchsde or torchcde."""

from ndestudio.core.solvers.catalog import (
    GRADIENT_LABELS,
    ODE_METHODS,
    SDE_METHODS,
    MethodInfo,
    check_solver,
    methods_for,
)
from ndestudio.core.solvers.ode import SolverFailure, solve_ode
from ndestudio.core.solvers.paths import CDEField, ControlPath, control_path, path_coefficients
from ndestudio.core.solvers.sde import brownian_motion, sde_step_grid, solve_sde
from ndestudio.core.solvers.stats import Probe, SolveStats

__all__ = [
    "GRADIENT_LABELS",
    "ODE_METHODS",
    "SDE_METHODS",
    "CDEField",
    "ControlPath",
    "MethodInfo",
    "Probe",
    "SolveStats",
    "SolverFailure",
    "brownian_motion",
    "check_solver",
    "control_path",
    "methods_for",
    "path_coefficients",
    "sde_step_grid",
    "solve_ode",
    "solve_sde",
]
