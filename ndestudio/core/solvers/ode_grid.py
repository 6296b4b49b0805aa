"""The ODE solve on one time grid shared by a batch, instrumented for the solver statistics:
on torchdiffeq, or on the fast engine where it applies (:mod:`ndestudio.core.solvers.fast`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torchdiffeq
from torch import nn

from ndestudio.core.solvers.catalog import ODE_METHODS
from ndestudio.core.solvers.failure import SolverFailure
from ndestudio.core.solvers.fast import fast_applies, solve_fast
from ndestudio.core.solvers.jumps import jump_safe
from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import SolverSpec


class _InstrumentedField:
    """Wraps a vector field ``f(t, y)``: counts evaluations, records steps, checks for a stop.

    torchdiffeq copies the ``callback_*`` methods from the function it is given. A plain
    object rather than an ``nn.Module`` saves a module call per evaluation; the adjoint is
    given its parameters explicitly. A field that integrates in a parameter other than the
    time (a time change) converts each step to real time with its ``real_step(t0, dt)``.
    """

    def __init__(self, field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], probe: Probe):
        self.field = field
        self.probe = probe
        self.vjps = probe.counter()
        if not probe.stats.in_backward:
            probe.stats.solves += 1
        self.real_step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = getattr(
            field, "real_step", None
        )

    def record_step(self, t0: torch.Tensor, dt: torch.Tensor) -> None:
        stats = self.probe.stats
        if not stats.in_backward:
            stats.add_step(dt if self.real_step is None else self.real_step(t0, dt), t0)

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.probe.on_forward()
        return self.vjps.watch(self.field(t, y))


class _FixedStepField(_InstrumentedField):
    def callback_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_started()
        self.record_step(t0, dt)


class _AdaptiveStepField(_InstrumentedField):
    def callback_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_started()

    def callback_reject_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_rejected()
        if not self.probe.stats.in_backward:
            self.probe.stats.rejected_steps += 1

    def callback_accept_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_accepted()
        self.record_step(t0, dt)


def solver_options(
    spec: SolverSpec,
    jump_t: torch.Tensor | None = None,
    step_grid: torch.Tensor | None = None,
) -> dict[str, Any]:
    info = ODE_METHODS[spec.method]
    options: dict[str, Any] = {}
    if info.adaptive:
        if spec.min_step is not None:
            options["min_step"] = spec.min_step
        if spec.max_num_steps is not None:
            options["max_num_steps"] = spec.max_num_steps
        if jump_t is not None:
            options["jump_t"] = jump_t
    elif step_grid is not None:
        options["grid_constructor"] = _on_grid(step_grid)
        options["perturb"] = True  # the field's jumps sit on the grid: evaluate on each side
    else:
        options["step_size"] = spec.step_size
        if jump_t is not None:
            # A step evaluates its ends on its own side of a jump (a CDE's last knot included).
            options["perturb"] = True
    return options


def _on_grid(grid: torch.Tensor) -> Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A torchdiffeq grid constructor that steps on ``grid`` (increasing) between the ends of
    any interval it is asked for, in either direction (the adjoint solves backwards)."""

    def construct(func: Any, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        points = grid.to(t)
        lo, hi = torch.minimum(t[0], t[-1]), torch.maximum(t[0], t[-1])
        inside = points[(points > lo) & (points < hi)]
        if t[0] > t[-1]:
            inside = inside.flip(0)
        return torch.cat([t[:1], inside, t[-1:]])

    return construct


def solve_on_grid(
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
    """Solve ``dy/dt = field(t, y)`` from ``y0`` on times ``t`` (T,) shared by the batch and
    return ``y`` at them: (T, *y0.shape). See :func:`ndestudio.core.solvers.ode.solve_ode`."""
    probe = probe or Probe()
    if fast_applies(
        field,
        y0,
        t,
        spec,
        jump_t=jump_t,
        step_grid=step_grid,
        extra_adjoint_params=extra_adjoint_params,
    ):
        return solve_fast(field, y0, t.to(dtype=y0.dtype, device=y0.device), spec, probe)
    probe.stats.engine = "torchdiffeq"
    info = ODE_METHODS[spec.method]
    wrapper = _AdaptiveStepField if info.adaptive else _FixedStepField
    wrapped = wrapper(field, probe)
    t = t.to(dtype=y0.dtype, device=y0.device)
    options = solver_options(spec, jump_t, step_grid)
    method = jump_safe(spec.method) if jump_t is not None else spec.method
    kwargs: dict[str, Any] = dict(rtol=spec.rtol, atol=spec.atol, method=method, options=options)
    try:
        return _odeint(wrapped, field, y0, t, spec, kwargs, options, extra_adjoint_params)
    except AssertionError as exc:
        raise SolverFailure(str(exc) or "the solver failed") from exc
    finally:
        wrapped.vjps.close()


def _odeint(
    wrapped: _InstrumentedField,
    field: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    spec: SolverSpec,
    kwargs: dict[str, Any],
    options: dict[str, Any],
    extra_adjoint_params: Sequence[torch.Tensor],
) -> torch.Tensor:
    if spec.gradient == "backprop":
        return torchdiffeq.odeint(wrapped, y0, t, **kwargs)
    adjoint_options: dict[str, Any] = dict(options)
    if spec.gradient == "adjoint_seminorm":
        adjoint_options["norm"] = "seminorm"
    params: tuple[torch.Tensor, ...] = tuple(p for p in field.parameters() if p.requires_grad)
    params += tuple(p for p in extra_adjoint_params if p.requires_grad)
    return torchdiffeq.odeint_adjoint(
        wrapped,
        y0,
        t,
        adjoint_options=adjoint_options,
        adjoint_params=params,
        **kwargs,
    )
