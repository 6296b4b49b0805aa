"""Choosing the engine of an ODE or CDE solve, and the fast engine's entry point.

``SolverSpec.engine`` is "torchdiffeq", "fast" or "auto" (fast wherever it supports the
model and solver). The fast engine covers neural ODEs whose vector field is an MLP (any of
NDE Studio's activations, final tanh or not, the time as an input or not) on one time grid,
solved with euler, midpoint, heun2, heun3, rk4, bosh3 or dopri5, and neural CDEs with such
an MLP solved with euler, midpoint or rk4 (:mod:`ndestudio.core.solvers.fast.cde`), both
backpropagated through the solver; everything else runs on torchdiffeq (adaptive CDE
solves, per-series times, the adjoint) or torchsde. (A field that takes the time moves an
adaptive solve's gradient through its stages' times too: torchdiffeq differentiates through
the first step size, which every later time depends on.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ndestudio.core.solvers.fast.cde import (
    FIXED_CDE_METHODS,
    PathControl,
    is_cde_field,
    path_needs_gradient,
)
from ndestudio.core.solvers.fast.first_step import (
    FirstStep,
    field_at,
    field_vjp,
    refuse_higher_order,
)
from ndestudio.core.solvers.fast.mlp import FastMLP, Gradients, mlp_problem
from ndestudio.core.solvers.fast.rk import AdaptiveSolve, FixedSolve
from ndestudio.core.solvers.fast.tableaus import TABLEAUS
from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import ENGINES, NetworkSpec, SolverSpec

Tensor = torch.Tensor

__all__ = [
    "ENGINES",
    "FAST_METHODS",
    "engine_problems",
    "fast_applies",
    "planned_engine",
    "solve_fast",
]

FAST_METHODS = tuple(TABLEAUS)
_FAST_ACTIVATIONS = ("tanh", "softplus", "relu", "silu", "lipswish")


def engine_problems(family: str, spec: SolverSpec, network: NetworkSpec | None) -> list[str]:
    """Every reason the fast engine cannot train this model with this solver (empty: it can)."""
    out: list[str] = []
    if family not in ("ode", "cde"):
        out.append(f"the fast engine solves neural ODEs and CDEs, not {family.upper()}s")
    elif family == "cde" and spec.method in FAST_METHODS and spec.method not in FIXED_CDE_METHODS:
        out.append(
            "the fast engine solves neural CDEs with fixed steps "
            f"({', '.join(FIXED_CDE_METHODS)}); {spec.method!r} runs on torchdiffeq"
        )
    if spec.method not in FAST_METHODS:
        out.append(
            f"the fast engine has no {spec.method!r} solver; it has {', '.join(FAST_METHODS)}"
        )
    if spec.gradient != "backprop":
        out.append(
            f"the fast engine backpropagates through the solver; gradient {spec.gradient!r} "
            "runs on torchdiffeq"
        )
    if network is not None and network.activation not in _FAST_ACTIVATIONS:
        out.append(f"the fast engine has no derivative for activation {network.activation!r}")
    return out


def planned_engine(
    family: str, spec: SolverSpec, network: NetworkSpec | None, own_times: bool = False
) -> str:
    """The engine that solves this model's training steps: "fast", "torchdiffeq" or
    "torchsde". ``own_times``: the series are solved on their own times (torchdiffeq)."""
    if family == "sde":
        return "torchsde"
    if spec.engine == "torchdiffeq" or own_times or engine_problems(family, spec, network):
        return "torchdiffeq"
    return "fast"


def fast_applies(
    field: nn.Module,
    y0: Tensor,
    t: Tensor,
    spec: SolverSpec,
    *,
    jump_t: Tensor | None,
    step_grid: Tensor | None,
    extra_adjoint_params: Any,
) -> bool:
    """Whether this solve goes to the fast engine."""
    if spec.engine == "torchdiffeq" or spec.method not in FAST_METHODS:
        return False
    if spec.gradient != "backprop" or step_grid is not None:
        return False
    if any(p.requires_grad for p in extra_adjoint_params):
        return False  # (gradients with respect to a CDE's path are torchdiffeq's)
    if t.dim() != 1 or t.numel() < 2 or y0.dim() != 2 or not y0.is_floating_point():
        return False
    if t.requires_grad:
        return False  # (gradients with respect to the times are torchdiffeq's)
    if is_cde_field(field):
        # (jump_t: the knots, which a fixed-step solve evaluates on each side of)
        func = field.func
        assert isinstance(func, nn.Module)
        if spec.method not in FIXED_CDE_METHODS or mlp_problem(func) is not None:
            return False
        if path_needs_gradient(field):
            return False  # (as when an SDE-GAN's discriminator reads generated paths)
        return bool((t[1:] > t[:-1]).all())
    if jump_t is not None or extra_adjoint_params or mlp_problem(field) is not None:
        return False
    return bool((t[1:] > t[:-1]).all())


class _AdaptiveFunction(torch.autograd.Function):
    """An adaptive solve from ``y0``: ``f0 = f(t0, y0)``, the first step size chosen from it
    and the steps, with one backward pass that chains the three by hand (as autograd would
    through torchdiffeq, without three nodes' bookkeeping)."""

    @staticmethod
    def forward(ctx: Any, solve: AdaptiveSolve, y0: Tensor, *params: Tensor) -> Tensor:
        first, f0, f0_record = _start(solve, y0)
        ctx.solve, ctx.first, ctx.f0_record = solve, first, f0_record
        return solve.forward(y0, f0, solve.first_step, keep=True)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        solve: AdaptiveSolve = ctx.solve
        first: FirstStep = ctx.first
        ctx.solve = ctx.first = None  # the kept steps go as soon as they have been used
        y0_wanted = bool(ctx.needs_input_grad[1])
        gradients = Gradients(solve.mlp, g.shape[1])
        y0_bar, f0_bar, h_bar = solve.backward(g, gradients, first.differentiable)
        h = solve.first_step
        if h_bar is not None and solve.min_step <= h <= solve.max_step:  # (clamp's gradient)
            y0_by_h, f0_by_h = first.backward(h_bar, gradients, y0_wanted)
            if y0_by_h is not None:
                y0_bar.add_(y0_by_h)
            if f0_by_h is not None:
                f0_bar = f0_by_h if f0_bar is None else f0_bar.add_(f0_by_h)
        if f0_bar is not None:  # f0 = f(t0, y0)
            y0_by_f0, _ = field_vjp(solve.mlp, solve.probe, ctx.f0_record, f0_bar, gradients, False)
            y0_bar.add_(y0_by_f0)
        return (None, y0_bar if y0_wanted else None, *gradients.result())


def _start(solve: AdaptiveSolve, y0: Tensor) -> tuple[FirstStep, Tensor, list[Tensor]]:
    """``f0 = f(t0, y0)`` and the first step size chosen from it (set on ``solve``)."""
    t0 = torch.tensor(solve.times[0], dtype=torch.float64, device=y0.device)
    f0, record = field_at(solve.mlp, solve.probe, solve.times[0], y0)
    first = FirstStep(
        solve.mlp, solve.probe, t0, y0, f0, solve.tableau.order - 1, solve.rtol, solve.atol
    )
    solve.first_step = float(first.h)
    return first, f0, record


class _FixedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, solve: FixedSolve, y0: Tensor, *params: Tensor) -> Tensor:
        ctx.solve = solve
        return torch.stack(solve.forward(y0, keep=True))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        solve: FixedSolve = ctx.solve
        ctx.solve = None
        gradients = Gradients(solve.mlp, g.shape[1])
        y0_bar = solve.backward(g, gradients)
        return (None, y0_bar, *gradients.result())


def solve_fast(field: nn.Module, y0: Tensor, t: Tensor, spec: SolverSpec, probe: Probe) -> Tensor:
    """``y`` at times ``t`` (T,), (T, *y0.shape), solved by the fast engine
    (``fast_applies`` said yes)."""
    assert isinstance(field, nn.Module)
    tableau = TABLEAUS[spec.method]
    taped = torch.is_grad_enabled() and (
        y0.requires_grad or any(p.requires_grad for p in field.parameters())
    )
    cde = is_cde_field(field)
    network = field.func if cde else field
    # Fixed steps do not depend on the field's last bits: there its tanh may be a sigmoid.
    mlp = FastMLP(
        network,  # type: ignore[arg-type]
        sigmoid_form=not tableau.adaptive,
        rows=y0.shape[0],
    )
    params = mlp.parameters
    stats = probe.stats
    if not stats.in_backward:
        stats.solves += 1
    stats.engine = "fast"
    if not tableau.adaptive:
        assert spec.step_size is not None
        control = None
        if cde:

            def control(grid: Tensor) -> PathControl:
                return PathControl(field, spec.method, grid)  # type: ignore[arg-type]

        fixed = FixedSolve(mlp, tableau, t, spec.step_size, probe, control)
        if taped:
            return _FixedFunction.apply(fixed, y0, *params)
        with torch.no_grad():
            return torch.stack(fixed.forward(y0, keep=False))
    adaptive = AdaptiveSolve(
        mlp,
        tableau,
        t,
        probe,
        rtol=spec.rtol,
        atol=spec.atol,
        min_step=float(spec.min_step or 0.0),
        max_num_steps=spec.max_num_steps if spec.max_num_steps is not None else 2**31 - 1,
    )
    if taped:
        return _AdaptiveFunction.apply(adaptive, y0, *params)
    with torch.no_grad():
        _, f0, _ = _start(adaptive, y0)
        return adaptive.forward(y0, f0, adaptive.first_step, keep=False)
