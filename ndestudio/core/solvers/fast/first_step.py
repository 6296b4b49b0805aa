"""The evaluations of an adaptive solve outside its steps: ``f0 = f(t0, y0)`` and the first
step size chosen from it, as torchdiffeq chooses it, with their gradients written out.

torchdiffeq differentiates through the first step size (every later one is chosen under
``no_grad``), so a training step backpropagates through its selection: two evaluations of the
field and two dozen operations on scalars. Recorded by autograd on the field's module, that
graph cost about a tenth of a dopri5 training step at batch 64 (0.4 of 5.5 ms); here the
evaluations run in the scripted MLP and the scalars' gradient is taken in Python floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import ndestudio.core.solvers.fast.scripted as scripted
from ndestudio.core.solvers.fast.mlp import FastMLP, Gradients
from ndestudio.core.solvers.stats import Probe

Tensor = torch.Tensor


def refuse_higher_order() -> None:
    """The hand-written backward passes record nothing: a gradient of one would be silently
    wrong, so asking for one (``create_graph=True``) is an error that says what to do."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "the fast engine's backward pass cannot itself be differentiated "
            "(create_graph=True): solve with engine='torchdiffeq' for higher derivatives"
        )


def _vjp(
    mlp: FastMLP, probe: Probe, record: list[Tensor], g: Tensor, time_wanted: bool
) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """``g``ᵀ ∂f at the evaluation ``record``: the adjoints of its state, of its time (with
    ``time_wanted`` and a field of the time; else None) and of the MLP's parameters; counted
    as a backward product (where a stop lands)."""
    probe.count_one(())
    gradients = Gradients(mlp, g.shape[0])
    y_bar, t_bar = scripted.compiled().field_vjp(g, record, None, *gradients.vjp_args, time_wanted)
    return y_bar, t_bar, gradients.result()


class _Evaluation(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, mlp: FastMLP, probe: Probe, t: Tensor, y: Tensor, *params: Tensor
    ) -> Tensor:
        probe.on_forward()
        out, record = scripted.compiled().mlp_forward(y.detach(), float(t), *mlp.forward_args, True)
        ctx.mlp, ctx.probe, ctx.record, ctx.t_dtype = mlp, probe, record, t.dtype
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        y_bar, t_bar, params_bar = _vjp(ctx.mlp, ctx.probe, ctx.record, g, ctx.needs_input_grad[2])
        t_grad = t_bar.to(ctx.t_dtype) if t_bar is not None else None
        return (None, None, t_grad, y_bar, *params_bar)


def evaluate(mlp: FastMLP, probe: Probe, t: Tensor, y: Tensor) -> Tensor:
    """``f(t, y)`` with its gradient, counted as the solver layer counts evaluations."""
    return _Evaluation.apply(mlp, probe, t, y, *mlp.parameters)


def first_step_size(
    mlp: FastMLP,
    probe: Probe,
    t0: Tensor,
    y0: Tensor,
    f0: Tensor,
    order: int,
    rtol: float,
    atol: float,
) -> Tensor:
    """torchdiffeq's first step size (Hairer, Nørsett & Wanner, II.4; its
    ``_select_initial_step`` with the RMS norm) from ``f0 = f(t0, y0)``, in float64, with its
    gradient with respect to ``y0``, ``f0`` and the field's parameters. ``order``: the
    method's order minus one, as torchdiffeq passes it."""
    return _FirstStep.apply(mlp, probe, (order, rtol, atol), t0, y0, f0, *mlp.parameters)


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def _split(a: float, b: float) -> tuple[float, float]:
    """The shares of the gradient of ``minimum(a, b)`` that go to ``a`` and ``b`` (torch
    halves it between equal arguments)."""
    return (1.0, 0.0) if a < b else (0.0, 1.0) if b < a else (0.5, 0.5)


class _FirstStep(torch.autograd.Function):
    """The step size in torchdiffeq's tensor arithmetic (the state's dtype, bit for bit); its
    backward pass in float64 scalars and a few tensor products, and the product through
    ``f1 = f(t0 + h0, y0 + h0 f0)`` where autograd would take one."""

    @staticmethod
    def forward(
        ctx: Any,
        mlp: FastMLP,
        probe: Probe,
        constants: tuple[int, float, float],
        t0: Tensor,
        y0: Tensor,
        f0: Tensor,
        *params: Tensor,
    ) -> Tensor:
        order, rtol, atol = constants
        probe.on_forward()  # (the evaluation of f1)
        h, values, tensors, record, small, tiny, m_is_d2 = scripted.compiled().first_step(
            y0.detach(), f0.detach(), t0, order, rtol, atol, *mlp.forward_args
        )
        if tiny:  # (then d1 < 1e-5 too, h0 = 1e-6: h is a constant, as on torchdiffeq)
            ctx.mark_non_differentiable(h)
        ctx.values = values.double().tolist()  # (the scalars as floats: one transfer)
        ctx.tensors = (*tensors, f0.detach())
        ctx.mlp, ctx.probe, ctx.record, ctx.order = mlp, probe, record, order
        ctx.small, ctx.m_is_d2, ctx.rtol = small, m_is_d2, rtol
        ctx.y0_sign = torch.sign(y0) if ctx.needs_input_grad[4] else None
        return h

    @staticmethod
    def backward(ctx: Any, h_grad: Tensor) -> tuple[Tensor | None, ...]:
        refuse_higher_order()
        r0, r1, r2, h0_raw, q, h1_raw, hundred_h0, h1, d1, d2 = ctx.values
        scale, u0, u1, diff, f0 = ctx.tensors
        h0 = abs(h0_raw)
        count = diff.numel()
        bar = float(h_grad)
        # h = min(100 h0, |h1|)
        to_h0, to_h1 = _split(hundred_h0, h1)
        h0_bar = 100 * to_h0 * bar
        h1_bar = to_h1 * bar * _sign(h1_raw)
        # h1 = (0.01 / m) ** (1 / (order + 1)), m = max(d1, d2) (not ``tiny``: h would be a
        # constant, marked so)
        m = d2 if ctx.m_is_d2 else d1
        m_bar = -h1_raw / (m * (ctx.order + 1)) * h1_bar
        d1_bar, d2_bar = (0.0, m_bar) if ctx.m_is_d2 else (m_bar, 0.0)
        f0_bar: Tensor | None = None
        y0_bar: Tensor | None = None
        scale_bar: Tensor | None = None
        params_bar: Sequence[Tensor | None] = [None] * len(ctx.mlp.parameters)
        if ctx.m_is_d2:  # f1 is in the graph: d2 = |r2 / h0|
            q_bar = _sign(q) * d2_bar
            h0_bar -= q_bar * r2 / (h0 * h0)
            diff_bar = diff * (q_bar / (h0 * count * r2))  # (r2 > d1 ≥ 0 here)
            f1_bar = diff_bar / scale
            f0_bar = -f1_bar
            if ctx.y0_sign is not None:
                scale_bar = -(diff_bar * diff / scale)
            y1_bar, t1_bar, params_bar = _vjp(
                ctx.mlp, ctx.probe, ctx.record, f1_bar, ctx.mlp.time_input
            )
            # f1 = f(t0 + h0, y0 + h0 f0)
            h0_bar += float((y1_bar * f0).sum()) + (float(t1_bar) if t1_bar is not None else 0)
            y0_bar = y1_bar
            f0_bar.add_(y1_bar, alpha=h0)
        if not ctx.small:  # h0 = |0.01 d0 / d1|
            raw_bar = _sign(h0_raw) * h0_bar
            d0 = abs(r0)
            d1_bar -= 0.01 * d0 / (d1 * d1) * raw_bar
            d0_bar = 0.01 / d1 * raw_bar
            if ctx.y0_sign is not None and d0_bar != 0.0:
                u0_bar = u0 * (_sign(r0) * d0_bar / (count * r0))
                y0_bar = _added(y0_bar, u0_bar / scale)
                scale_bar = _added(scale_bar, -(u0_bar * u0 / scale))
        if d1_bar != 0.0:
            u1_bar = u1 * (_sign(r1) * d1_bar / (count * r1))
            f0_bar = _added(f0_bar, u1_bar / scale)
            if ctx.y0_sign is not None:
                scale_bar = _added(scale_bar, -(u1_bar * u1 / scale))
        if ctx.y0_sign is not None and scale_bar is not None:
            y0_bar = _added(y0_bar, scale_bar * ctx.y0_sign * ctx.rtol)
        return (None, None, None, None, y0_bar, f0_bar, *params_bar)


def _added(into: Tensor | None, x: Tensor) -> Tensor:
    return x if into is None else into.add_(x)
