"""The fast engine's loops in TorchScript: the MLP's evaluations and vector-Jacobian products,
fixed steps forward and back, an adaptive step, the adjoint of a step's stages — run without
the Python interpreter between operations.

A solve is mostly small operations (a depth-2 MLP's product is eleven of them); in TorchScript
each costs less to dispatch than from Python (~20 % less on the products here). The loops are
called a few steps at a time, so that the caller checks for a stop between calls.

Kept free of ``from __future__ import annotations``: TorchScript reads these annotations.
An evaluation's record is ``[x, h_1 … h_n, (z_1 … z_n,) (out)]``: its input, the hidden
activations, their pre-activations when the activation's derivative needs them, and the
output of a final tanh (see :mod:`ndestudio.core.solvers.fast.mlp`).
"""

import warnings
from functools import cache
from typing import Any

import torch
from torch import Tensor

# Activation codes, written as literals in the scripted code (TorchScript reads no globals).
TANH, RELU, SILU, LIPSWISH, SOFTPLUS, SIGMOID = 0, 1, 2, 3, 4, 5


def mlp_forward(
    x: Tensor,
    t: float,
    weights_t: list[Tensor],
    biases: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    keep: bool,
) -> tuple[Tensor, list[Tensor]]:
    """The MLP at ``x`` (the very operations of its ``nn`` modules) and, with ``keep``, its
    record. ``options``: the activation's code, whether its derivative needs the
    pre-activations, a final tanh, softplus's beta and threshold, and whether the time ``t``
    is the first input (as :class:`~ndestudio.core.models.mlp.VectorField` prepends it)."""
    act, keeps_pre, final_tanh, beta, threshold, time_input = options
    if time_input:
        x = torch.cat([torch.full([x.shape[0], 1], t, dtype=x.dtype, device=x.device), x], 1)
    record: list[Tensor] = [x] if keep else []
    pre: list[Tensor] = []
    h = x
    layers = len(weights_t)
    for layer in range(layers - 1):
        z = torch.addmm(biases[layer], h, weights_t[layer])
        if act == 5:  # sigmoid
            h = torch.sigmoid(z)
        elif act == 0:  # tanh
            h = torch.tanh(z)
        elif act == 1:  # relu
            h = torch.relu(z)
        elif act == 2:  # silu
            h = torch.nn.functional.silu(z)
        elif act == 3:  # lipswish
            h = 0.909 * torch.nn.functional.silu(z)
        else:
            h = torch.nn.functional.softplus(z, beta, threshold)
        if keep:
            record.append(h)
            if keeps_pre:
                pre.append(z)
    out = torch.addmm(biases[layers - 1], h, weights_t[layers - 1])
    if final_tanh:
        out = torch.tanh(out)
    if keep:
        record.extend(pre)
        if final_tanh:
            record.append(out)
    return out, record


def controlled(out: Tensor, dx: Tensor) -> Tensor:
    """A neural CDE's field ``f(z) dX/ds`` from the MLP's output ``out`` (batch, H·C) and the
    path's derivative ``dx`` (batch, C, 1), as :class:`~ndestudio.core.solvers.paths.CDEField`
    computes it."""
    return torch.matmul(out.view(out.shape[0], -1, dx.shape[1]), dx).squeeze(-1)


def controlled_vjp(g: Tensor, dx: Tensor) -> Tensor:
    """``g``ᵀ ∂(f dX/ds)/∂f: the adjoint (batch, H·C) of the MLP's output."""
    return (g.unsqueeze(-1) * dx.transpose(1, 2)).view(g.shape[0], -1)


def adaptive_step(
    y: Tensor,
    f: Tensor,
    dt: float,
    table: Tensor,
    rtol: float,
    atol: float,
    weights_t: list[Tensor],
    biases: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    keep: bool,
    stage_times: list[float],
) -> tuple[Tensor, Tensor, Tensor, float, list[list[Tensor]]]:
    """One first-same-as-last Runge–Kutta step of size ``dt`` (rounded to the state's dtype)
    from ``y`` (batch, C) with ``f = f(y)``, in torchdiffeq's arithmetic: its stacked stages
    ``k`` (batch, C, stages), its result, its last stage (the field there), its error ratio
    and, with ``keep``, the records of its evaluations. ``table``: the stage rows, padded
    with zeros, above the error weights (stages, stages). ``stage_times``: the times of
    stages 1, 2, … (read by a field that takes the time; empty for one that does not)."""
    stages = table.shape[0]
    k = torch.empty(y.shape[0], y.shape[1], stages, dtype=y.dtype, device=y.device)
    # (narrow and select: one operation each, where k[:, :, :n] is three)
    k.select(2, 0).copy_(f)
    records: list[list[Tensor]] = []
    stage = y
    scaled = (table * dt).unbind(0)  # (each row as torchdiffeq scales it: in the state's dtype)
    for i in range(stages - 1):
        stage = y + torch.sum(k.narrow(2, 0, i + 1) * scaled[i].narrow(0, 0, i + 1), dim=-1)
        t = stage_times[i] if len(stage_times) > 0 else 0.0
        out, record = mlp_forward(stage, t, weights_t, biases, options, keep)
        k.select(2, i + 1).copy_(out)
        if keep:
            records.append(record)
    error = torch.sum(k * scaled[stages - 1], dim=-1)
    tolerance = atol + rtol * torch.max(y.abs(), stage.abs())
    ratio = (error / tolerance).pow(2).mean().sqrt()
    return k, stage, k.select(2, stages - 1), float(ratio), records


def _rms(x: Tensor) -> Tensor:
    return x.abs().pow(2).mean().sqrt()


def first_step(
    y0: Tensor,
    f0: Tensor,
    t0: Tensor,
    order: int,
    rtol: float,
    atol: float,
    weights_t: list[Tensor],
    biases: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor], bool, bool, bool]:
    """torchdiffeq's first step size (its ``_select_initial_step`` with the RMS norm, in its
    operations: ``0.01 / m`` is eager PyTorch's ``m.reciprocal() * 0.01``) from ``f0 =
    f(t0, y0)``, evaluating ``f1 = f(t0 + h0, y0 + h0 f0)``. Returns the step size (float64)
    and for its gradient the scalars ``[r0, r1, r2, h0 (before abs), q = r2 / h0, h1 (before
    abs), 100 h0, h1, d1, d2]``, the tensors ``[scale, u0, u1, diff]``, the record of ``f1``,
    and whether ``h0`` is the constant 1e-6 (``small``), ``h1`` the constant branch
    (``tiny``) and ``d2`` the larger of ``d1, d2``."""
    scale = atol + torch.abs(y0) * rtol
    u0 = y0 / scale
    u1 = f0 / scale
    r0 = _rms(u0)
    r1 = _rms(u1)
    d0 = r0.abs()
    d1 = r1.abs()
    small = bool(d0 < 1e-5) or bool(d1 < 1e-5)
    # (torch.full: TorchScript's torch.tensor of a float goes through float32)
    floor = torch.full([], 1e-6, dtype=y0.dtype, device=y0.device)
    h0_raw = floor if small else 0.01 * d0 / d1
    h0 = h0_raw.abs()
    f1, record = mlp_forward(y0 + h0 * f0, float(t0 + h0), weights_t, biases, options, True)
    diff = (f1 - f0) / scale
    r2 = _rms(diff)
    q = r2 / h0
    d2 = torch.abs(q)
    tiny = bool(d1 <= 1e-15) and bool(d2 <= 1e-15)
    m_is_d2 = False
    if tiny:
        h1_raw = torch.max(floor, h0 * 1e-3)
    else:
        m_is_d2 = bool(d2 > d1)  # (Python's max(d1, d2), as torchdiffeq takes it)
        m = d2 if m_is_d2 else d1
        h1_raw = (torch.reciprocal(m) * 0.01) ** (1.0 / float(order + 1))
    h1 = h1_raw.abs()
    hundred_h0 = 100 * h0
    h = torch.min(hundred_h0, h1).to(torch.float64)
    values = torch.stack([r0, r1, r2, h0_raw, q, h1_raw, hundred_h0, h1, d1, d2])
    return h, values, [scale, u0, u1, diff], record, small, tiny, m_is_d2


def _combine(y: Tensor, ks: list[Tensor], weights: list[float], dt: float) -> Tensor:
    """``y + dt Σ w_j k_j`` over the non-zero weights."""
    out = y
    for j in range(len(weights)):
        if weights[j] != 0.0:
            out = torch.add(out, ks[j], alpha=weights[j] * dt)
    return out


def fixed_forward(
    y: Tensor,
    grid: list[float],
    dts: list[float],
    a: list[list[float]],
    b: list[float],
    c: list[float],
    weights_t: list[Tensor],
    biases: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    keep: bool,
    controls: Tensor | None,
) -> tuple[list[Tensor], list[list[Tensor]]]:
    """Fixed steps from times ``grid`` of sizes ``dts`` (stage ``i`` at ``c[i - 1]`` of a step)
    from ``y``: the state after each and, with ``keep``, the records of their evaluations,
    step by step. ``controls``: for a neural CDE, the path's derivative at each evaluation of
    these steps (evaluations, batch, C, 1). The caller passes a chunk's steps alone: lists
    are converted on every call."""
    states: list[Tensor] = []
    records: list[list[Tensor]] = []
    stages = len(b)
    for n in range(len(dts)):
        dt, t0 = dts[n], grid[n]
        k, record = mlp_forward(y, t0, weights_t, biases, options, keep)
        if controls is not None:
            k = controlled(k, controls[n * stages])
        ks = [k]
        if keep:
            records.append(record)
        for i in range(len(a)):
            stage = _combine(y, ks, a[i], dt)
            k, record = mlp_forward(stage, t0 + c[i] * dt, weights_t, biases, options, keep)
            if controls is not None:
                k = controlled(k, controls[n * stages + i + 1])
            ks.append(k)
            if keep:
                records.append(record)
        y = _combine(y, ks, b, dt)
        states.append(y)
    return states, records


def mlp_vjp(
    g: Tensor,
    record: list[Tensor],
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    time_wanted: bool,
) -> tuple[Tensor, Tensor | None]:
    """``g``ᵀ ∂f/∂x at the evaluation ``record``; adds ``g``ᵀ ∂f/∂W to ``grad_w`` and the rows
    of ``g``ᵀ ∂f/∂b (summed later) to ``grad_b``. ``options`` as for :func:`mlp_forward`
    (with a time input, the product with respect to the state). With ``time_wanted`` and a
    time input, also ``g``ᵀ ∂f/∂t summed over the batch (an adaptive solve's times move with
    its first step size); else None."""
    act, keeps_pre, final_tanh, beta, threshold, time_input = options
    layers = len(weights)
    hidden = layers - 1
    if final_tanh:
        g = torch.ops.aten.tanh_backward(g, record[len(record) - 1])
    for layer in range(layers - 1, -1, -1):
        below = record[layer]
        grad_w[layer].addmm_(g.t(), below)
        grad_b[layer].add_(g)
        g = g.mm(weights[layer])
        if layer > 0:
            h = record[layer]
            if act == 5:  # sigmoid
                g = torch.ops.aten.sigmoid_backward(g, h)
            elif act == 0:  # tanh
                g = torch.ops.aten.tanh_backward(g, h)
            elif act == 1:  # relu
                g = torch.ops.aten.threshold_backward(g, h, 0.0)
            else:
                z = record[hidden + layer] if keeps_pre else h
                if act == 2:  # silu
                    g = torch.ops.aten.silu_backward(g, z)
                elif act == 3:  # lipswish
                    g = torch.ops.aten.silu_backward(g * 0.909, z)
                else:
                    g = torch.ops.aten.softplus_backward(g, z, beta, threshold)
    if not time_input:
        return g, None
    return g[:, 1:], g[:, 0].sum() if time_wanted else None


def field_vjp(
    g: Tensor,
    record: list[Tensor],
    control: Tensor | None,
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    time_wanted: bool,
) -> tuple[Tensor, Tensor | None]:
    """:func:`mlp_vjp` of the field: the MLP's own, or a neural CDE's (``control``: the
    path's derivative at the evaluation, (batch, C, 1))."""
    if control is not None:
        g = controlled_vjp(g, control)
    return mlp_vjp(g, record, weights, grad_w, grad_b, options, time_wanted)


def _add(into: list[Tensor | None], index: int, g: Tensor, scale: float) -> None:
    current = into[index]
    if current is None:
        into[index] = g * scale
    else:
        current.add_(g, alpha=scale)


def stages_backward(
    kb: list[Tensor | None],
    end_bar: Tensor,
    records: list[list[Tensor]],
    first_record: int,
    a: list[list[float]],
    dt: float,
    last_is_result: bool,
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    controls: Tensor | None,
    time_wanted: bool,
) -> tuple[Tensor, list[Tensor], Tensor | None, list[Tensor]]:
    """Back through stages ``len(a)`` … 1 of one step, whose stage ``i`` is the evaluation
    ``records[first_record + i - 1]`` at ``y0 + dt Σ a[i-1][j] k_j``. ``kb`` holds the
    adjoints of the stages' outputs from every later use and receives those of the earlier
    stages. ``last_is_result``: the last stage's input is the step's result (first-same-as-
    last methods), whose adjoint ``end_bar`` joins that stage's. Returns the sum of the stage
    inputs' adjoints, each one's (stage 1 first) and the adjoint of stage 0's output (a list
    passed in from Python is a copy in TorchScript: ``kb`` itself does not come back), and,
    with ``time_wanted``, for a field that takes the time, each stage's ``g``ᵀ ∂f/∂t (stage 1
    first; else empty).
    ``controls``: a neural CDE's path derivatives at this step's evaluations (stage 0 first)."""
    count = len(a)
    inputs_bar: list[Tensor] = []
    time_bars: list[Tensor] = []
    total = torch.zeros_like(end_bar)
    for i in range(count, 0, -1):
        g = kb[i]
        if g is None:
            g = torch.zeros_like(end_bar)
        control: Tensor | None = None
        if controls is not None:
            control = controls[i]
        record = records[first_record + i - 1]
        y_bar, time_bar = field_vjp(
            g, record, control, weights, grad_w, grad_b, options, time_wanted
        )
        if time_bar is not None:
            time_bars.append(time_bar)
        if last_is_result and i == count:
            y_bar = y_bar + end_bar
        inputs_bar.append(y_bar)
        total.add_(y_bar)
        row = a[i - 1]
        for j in range(len(row)):
            if row[j] != 0.0:
                _add(kb, j, y_bar, row[j] * dt)
    inputs_bar.reverse()
    time_bars.reverse()
    return total, inputs_bar, kb[0], time_bars


def adaptive_step_backward(
    g_outputs: Tensor | None,
    coefficients: Tensor | None,
    columns: Tensor | None,
    k_next: Tensor | None,
    end_bar: Tensor,
    records: list[list[Tensor]],
    a: list[list[float]],
    dt: float,
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    h_wanted: bool,
    y0: Tensor | None,
) -> tuple[Tensor, Tensor | None, list[Tensor], Tensor | None, Tensor | None]:
    """Back through one step of a first-same-as-last method (:func:`adaptive_step`) from the
    adjoint ``end_bar`` of its result, ``k_next`` of the next step's first stage (its last
    one) and ``g_outputs`` (outputs, batch·C) of its dense outputs, which are ``coefficients``
    (outputs, 2 + stages) times the columns ``[y0, y1, k_0 … k_last]`` (batch·C, 2 + stages).
    Returns the adjoint of the step's start and, as :func:`stages_backward`, stage 0's; with
    ``h_wanted`` (the first step size's gradient) the stages' time adjoints and the outputs'
    adjoints dotted with the columns (outputs, 2 + stages; else empty and None); and given the
    step's start ``y0``, the sum over its stages of each input's adjoint dotted with
    ``input - y0`` (how the loss moves as the stage inputs stretch with the step size; else
    None)."""
    stages = len(a) + 1
    kb: list[Tensor | None] = [None for _ in range(stages)]
    kb[stages - 1] = k_next
    start_bar: Tensor | None = None
    inner: Tensor | None = None
    if g_outputs is not None and coefficients is not None and columns is not None:
        parts = (coefficients.t() @ g_outputs).view(stages + 2, end_bar.shape[0], -1)
        start_bar = parts[0]
        end_bar = end_bar + parts[1]
        for j in range(stages):
            kb[j] = parts[j + 2]
        if k_next is not None:
            kb[stages - 1] = parts[stages + 1] + k_next
        if h_wanted:
            inner = g_outputs @ columns
    total, inputs_bar, k_first_bar, time_bars = stages_backward(
        kb, end_bar, records, 0, a, dt, True, weights, grad_w, grad_b, options, None, h_wanted
    )
    if start_bar is not None:
        total.add_(start_bar)
    stretch: Tensor | None = None
    if y0 is not None:
        stage_inputs = [records[i][0] for i in range(len(a))]
        if options[5]:  # (a time input: the record's input starts with the time)
            stage_inputs = [x[:, 1:] for x in stage_inputs]
        stretch = (torch.stack(inputs_bar) * (torch.stack(stage_inputs) - y0)).sum()
    return total, k_first_bar, time_bars, inner, stretch


def fixed_backward(
    g_out: Tensor,
    y_bar: Tensor,
    records: list[list[Tensor]],
    dts: list[float],
    out_start: list[int],
    out_index: list[int],
    out_x: list[float],
    a: list[list[float]],
    b: list[float],
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    options: tuple[int, bool, bool, float, float, bool],
    controls: Tensor | None,
) -> Tensor:
    """Back through fixed steps of sizes ``dts``, last first, from the adjoint ``y_bar`` of the
    end of the last. Step ``n``'s evaluations are ``records[n * stages …]``; its outputs are
    ``out_index[out_start[n] : out_start[n + 1]]`` at fractions ``out_x`` of the step
    (linear interpolation); ``controls`` as for :func:`fixed_forward`. Returns the adjoint of
    the first step's start. (A chunk's steps alone, as for :func:`fixed_forward`.)"""
    stages = len(b)
    for n in range(len(dts) - 1, -1, -1):
        dt = dts[n]
        end_bar = y_bar
        start_bar = torch.zeros_like(y_bar)
        for o in range(out_start[n], out_start[n + 1]):
            x = out_x[o]
            g = g_out[out_index[o]]
            if x != 0.0:
                end_bar = end_bar + g * x
            if x != 1.0:
                start_bar.add_(g, alpha=1.0 - x)
        kb: list[Tensor | None] = [None for _ in range(stages)]
        for j in range(stages):
            if b[j] != 0.0:
                kb[j] = end_bar * (b[j] * dt)
        first = n * stages
        step_controls: Tensor | None = None
        if controls is not None:
            step_controls = controls[n * stages : (n + 1) * stages]
        total, _, _, _ = stages_backward(
            kb,
            end_bar,
            records,
            first + 1,
            a,
            dt,
            False,
            weights,
            grad_w,
            grad_b,
            options,
            step_controls,
            False,
        )
        g0 = kb[0]
        if g0 is None:
            g0 = torch.zeros_like(y_bar)
        control: Tensor | None = None
        if step_controls is not None:
            control = step_controls[0]
        first_bar, _ = field_vjp(
            g0, records[first], control, weights, grad_w, grad_b, options, False
        )
        total.add_(first_bar)
        total.add_(end_bar).add_(start_bar)
        y_bar = total
    return y_bar


def _unoptimised(function: Any) -> Any:
    """``function`` run without the graph executor's optimisations: they rewrite ``addmm`` as
    ``mm`` + ``add``, which rounds differently from ``nn.Linear`` and would move float32
    adaptive steps off torchdiffeq's."""

    def run(*args: Any) -> Any:
        with torch.jit.optimized_execution(False):
            return function(*args)

    return run


@cache
def compiled() -> Any:
    """The scripted loops, compiled on first use (once per process). TorchScript is
    deprecated in torch 2.13 (it warns), but these compile in ~0.05 s where ``torch.compile``
    took 15 s for one midpoint step's forward pass on a 2-core machine (3.6 s with its
    on-disk cache warm; ``benchmarks/engine_speed.py --compile``): too long a stall for an
    interactive app."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        class Loops:
            mlp_forward = staticmethod(_unoptimised(torch.jit.script(mlp_forward)))
            first_step = staticmethod(_unoptimised(torch.jit.script(first_step)))
            field_vjp = torch.jit.script(field_vjp)
            adaptive_step = staticmethod(_unoptimised(torch.jit.script(adaptive_step)))
            adaptive_step_backward = torch.jit.script(adaptive_step_backward)
            fixed_forward = torch.jit.script(fixed_forward)
            fixed_backward = torch.jit.script(fixed_backward)

    return Loops
