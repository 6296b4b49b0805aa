"""``solve_ode``: the one entry point to torchdiffeq, for ODEs and (through a control path) CDEs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torchdiffeq
from torch import nn

from ndestudio.core.solvers.catalog import ODE_METHODS
from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import SolverSpec


class SolverFailure(RuntimeError):
    """The solver broke down on the learned dynamics ("max_num_steps exceeded", "underflow
    in dt"): torchdiffeq says so with an ``AssertionError``, which this layer names."""


class _InstrumentedField:
    """Wraps a vector field ``f(t, y)``: counts evaluations, records steps, checks for a stop.

    torchdiffeq copies the ``callback_*`` methods from the function it is given. A plain
    object rather than an ``nn.Module`` saves a module call per evaluation; the adjoint is
    given its parameters explicitly.
    """

    def __init__(self, field: nn.Module, probe: Probe) -> None:
        self.field = field
        self.probe = probe
        self.vjps = probe.counter()

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.probe.on_forward()
        return self.vjps.watch(self.field(t, y))


class _FixedStepField(_InstrumentedField):
    def callback_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_started()
        if not self.probe.stats.in_backward:
            self.probe.stats.add_step(dt)


class _AdaptiveStepField(_InstrumentedField):
    def callback_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_started()

    def callback_reject_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_rejected()

    def callback_accept_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.vjps.step_accepted()
        if not self.probe.stats.in_backward:
            self.probe.stats.add_step(dt)


def solver_options(spec: SolverSpec, jump_t: torch.Tensor | None = None) -> dict[str, Any]:
    info = ODE_METHODS[spec.method]
    options: dict[str, Any] = {}
    if info.adaptive:
        if spec.min_step is not None:
            options["min_step"] = spec.min_step
        if spec.max_num_steps is not None:
            options["max_num_steps"] = spec.max_num_steps
        if jump_t is not None:
            options["jump_t"] = jump_t
    else:
        options["step_size"] = spec.step_size
    return options


def solve_ode(
    field: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    spec: SolverSpec,
    *,
    probe: Probe | None = None,
    jump_t: torch.Tensor | None = None,
    extra_adjoint_params: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Solve ``dy/dt = field(t, y)`` from ``y0`` and return ``y`` at times ``t``: (T, *y0.shape).

    ``spec.gradient`` picks backprop through the solver, the adjoint, or the adjoint with the
    seminorm. ``extra_adjoint_params`` are tensors the field depends on besides its own
    parameters (for example a control path's coefficients) whose gradients the adjoint must
    return.
    """
    info = ODE_METHODS[spec.method]
    wrapper = _AdaptiveStepField if info.adaptive else _FixedStepField
    wrapped = wrapper(field, probe or Probe())
    t = t.to(dtype=y0.dtype, device=y0.device)
    options = solver_options(spec, jump_t)
    kwargs: dict[str, Any] = dict(
        rtol=spec.rtol, atol=spec.atol, method=spec.method, options=options
    )
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
