"""The fast engine's backward loops in TorchScript: the vector-Jacobian products of the MLP and
the adjoint of Runge–Kutta steps, run without the Python interpreter between operations.

A backward pass is mostly small operations (a depth-2 MLP's product is eleven of them); in
TorchScript each costs less to dispatch than from Python. The loops are called a few steps at
a time, so that the caller checks for a stop between calls.

Kept free of ``from __future__ import annotations``: TorchScript reads these annotations.
An evaluation's record is ``[x, h_1 … h_n, (z_1 … z_n,) (out)]``: its input, the hidden
activations, their pre-activations when the activation's derivative needs them, and the
output of a final tanh (see :mod:`ndestudio.core.solvers.fast.mlp`).
"""

from functools import cache
from typing import Any

import torch
from torch import Tensor

# Activation codes, written as literals in the scripted code (TorchScript reads no globals).
TANH, RELU, SILU, LIPSWISH, SOFTPLUS, SIGMOID = 0, 1, 2, 3, 4, 5


def mlp_vjp(
    g: Tensor,
    record: list[Tensor],
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    act: int,
    keeps_pre: bool,
    final_tanh: bool,
    beta: float,
    threshold: float,
) -> Tensor:
    """``g``ᵀ ∂f/∂x at the evaluation ``record``; adds ``g``ᵀ ∂f/∂W to ``grad_w`` and the rows
    of ``g``ᵀ ∂f/∂b (summed later) to ``grad_b``."""
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
    return g


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
    act: int,
    keeps_pre: bool,
    final_tanh: bool,
    beta: float,
    threshold: float,
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """Back through stages ``len(a)`` … 1 of one step, whose stage ``i`` is the evaluation
    ``records[first_record + i - 1]`` at ``y0 + dt Σ a[i-1][j] k_j``. ``kb`` holds the
    adjoints of the stages' outputs from every later use and receives those of the earlier
    stages. ``last_is_result``: the last stage's input is the step's result (first-same-as-
    last methods), whose adjoint ``end_bar`` joins that stage's. Returns the sum of the stage
    inputs' adjoints, each one's (stage 1 first) and the adjoint of stage 0's output (a list
    passed in from Python is a copy in TorchScript: ``kb`` itself does not come back)."""
    count = len(a)
    inputs_bar: list[Tensor] = []
    total = torch.zeros_like(end_bar)
    for i in range(count, 0, -1):
        g = kb[i]
        if g is None:
            g = torch.zeros_like(end_bar)
        y_bar = mlp_vjp(
            g,
            records[first_record + i - 1],
            weights,
            grad_w,
            grad_b,
            act,
            keeps_pre,
            final_tanh,
            beta,
            threshold,
        )
        if last_is_result and i == count:
            y_bar = y_bar + end_bar
        inputs_bar.append(y_bar)
        total.add_(y_bar)
        row = a[i - 1]
        for j in range(len(row)):
            if row[j] != 0.0:
                _add(kb, j, y_bar, row[j] * dt)
    inputs_bar.reverse()
    return total, inputs_bar, kb[0]


def fixed_backward(
    g_out: Tensor,
    y_bar: Tensor,
    records: list[list[Tensor]],
    dts: list[float],
    out_start: list[int],
    out_index: list[int],
    out_x: list[float],
    lo: int,
    hi: int,
    a: list[list[float]],
    b: list[float],
    weights: list[Tensor],
    grad_w: list[Tensor],
    grad_b: list[Tensor],
    act: int,
    keeps_pre: bool,
    final_tanh: bool,
    beta: float,
    threshold: float,
) -> Tensor:
    """Back through fixed steps ``hi - 1`` … ``lo`` from the adjoint ``y_bar`` of step
    ``hi``'s start. Step ``n``'s evaluations are ``records[n * stages …]``; its outputs are
    ``out_index[out_start[n] : out_start[n + 1]]`` at fractions ``out_x`` of the step
    (linear interpolation). Returns the adjoint of step ``lo``'s start."""
    stages = len(b)
    for n in range(hi - 1, lo - 1, -1):
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
        total, _, _ = stages_backward(
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
            act,
            keeps_pre,
            final_tanh,
            beta,
            threshold,
        )
        g0 = kb[0]
        if g0 is None:
            g0 = torch.zeros_like(y_bar)
        total.add_(
            mlp_vjp(
                g0,
                records[first],
                weights,
                grad_w,
                grad_b,
                act,
                keeps_pre,
                final_tanh,
                beta,
                threshold,
            )
        )
        total.add_(end_bar).add_(start_bar)
        y_bar = total
    return y_bar


@cache
def compiled() -> Any:
    """The scripted loops, compiled on first use (~0.3 s, once per process)."""

    class Loops:
        mlp_vjp = torch.jit.script(mlp_vjp)
        stages_backward = torch.jit.script(stages_backward)
        fixed_backward = torch.jit.script(fixed_backward)

    return Loops
