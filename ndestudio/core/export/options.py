"""What the user chooses for an export, and which solver that resolves to."""

from __future__ import annotations

from dataclasses import dataclass

from ndestudio.core.errors import UserError
from ndestudio.core.export.script_sde import SDE_EXPORT_METHODS
from ndestudio.core.export.script_solvers import ADAPTIVE_ODE_METHODS, FIXED_ODE_METHODS
from ndestudio.core.solvers import ODE_METHODS
from ndestudio.core.specs import RunSpec, SolverSpec

DEFAULT_MAX_NUM_STEPS = 10_000


class ExportError(UserError):
    """An export that cannot be made or did not verify; the message says why."""


@dataclass
class ExportOptions:
    """The exported solver: ``None`` keeps what the model was trained with, when it can be
    expressed in the file (see :func:`export_methods`)."""

    method: str | None = None
    rtol: float | None = None
    atol: float | None = None
    step_size: float | None = None
    max_num_steps: int | None = None
    format: str = "torchscript"


def export_methods(spec: RunSpec) -> tuple[str, ...]:
    """The solvers an exported file of this model can hold."""
    if spec.model.family == "sde":
        sde_type = spec.model.sde.sde_type
        return tuple(m for m, kind in SDE_EXPORT_METHODS.items() if kind == sde_type)
    return FIXED_ODE_METHODS + ADAPTIVE_ODE_METHODS


def resolve_solver(spec: RunSpec, options: ExportOptions) -> tuple[SolverSpec, list[str]]:
    """The solver the file will hold, and notes on any substitution made."""
    trained = spec.solver
    allowed = export_methods(spec)
    notes: list[str] = []
    method = options.method
    if method is None:
        if trained.method in allowed:
            method = trained.method
        elif spec.model.family == "sde":
            method = allowed[-1]
            notes.append(
                f"trained with {trained.method!r}, which has no exported form; "
                f"exported with {method!r} at the same step size"
            )
        else:
            adaptive = ODE_METHODS[trained.method].adaptive
            method = "dopri5" if adaptive else "rk4"
            notes.append(
                f"trained with {trained.method!r}, which has no exported form; exported with "
                f"{method!r} at the same {'tolerances' if adaptive else 'step size'}"
            )
    elif method not in allowed:
        raise ExportError(
            f"solver {method!r} cannot be exported for this model; choose one of "
            + ", ".join(allowed)
        )
    adaptive = method in ADAPTIVE_ODE_METHODS
    solver = SolverSpec(
        method=method,
        rtol=options.rtol if options.rtol is not None else trained.rtol,
        atol=options.atol if options.atol is not None else trained.atol,
        step_size=None if adaptive else (options.step_size or trained.step_size),
        min_step=trained.min_step if adaptive else None,
        max_num_steps=options.max_num_steps or trained.max_num_steps or DEFAULT_MAX_NUM_STEPS,
        gradient="backprop",
    )
    problems = []
    if adaptive and not (solver.rtol > 0 and solver.atol > 0):
        problems.append(f"tolerances must be > 0, got rtol={solver.rtol}, atol={solver.atol}")
    if not adaptive and not (solver.step_size and solver.step_size > 0):
        problems.append(f"solver {method!r} is fixed-step: set a step size > 0")
    if solver.max_num_steps is not None and solver.max_num_steps < 1:
        problems.append(f"max_num_steps must be ≥ 1, got {solver.max_num_steps}")
    if problems:
        raise ExportError("; ".join(problems))
    return solver, notes
