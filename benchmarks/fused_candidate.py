"""A candidate fast engine for issue 14, measured by ``engine_speed.py``: midpoint steps of an
MLP field (tanh) with a hand-written backward pass, both loops in TorchScript.

Backpropagation through the solver normally records every small operation of every step on
autograd's tape and replays it; here the forward loop keeps only the stage states and hidden
activations, and the backward loop applies the vector-Jacobian products of the midpoint map
and the MLP directly (discretise-then-optimise, the same gradient as autograd's to rounding).
Only the midpoint method on an MLP of ``Linear, tanh, …, Linear`` is covered: a prototype to
measure, not an engine. (No ``from __future__ import annotations``: TorchScript reads the
annotations.)
"""

import torch
from torch import Tensor


@torch.jit.script
def _mlp(y: Tensor, w: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """The MLP's output and its hidden activations; ``w`` = [W0, b0, W1, b1, …]."""
    hidden: list[Tensor] = []
    x = y
    for k in range(len(w) // 2 - 1):
        x = torch.tanh(torch.addmm(w[2 * k + 1], x, w[2 * k].t()))
        hidden.append(x)
    return torch.addmm(w[-1], x, w[-2].t()), hidden


@torch.jit.script
def _mlp_vjp(
    g: Tensor, y: Tensor, hidden: list[Tensor], w: list[Tensor], gw: list[Tensor]
) -> Tensor:
    """``g``ᵀ ∂f/∂y, accumulating ``g``ᵀ ∂f/∂w into ``gw``."""
    layers = len(w) // 2
    for k in range(layers - 1, -1, -1):
        below = hidden[k - 1] if k > 0 else y
        gw[2 * k].addmm_(g.t(), below)
        gw[2 * k + 1].add_(g.sum(0))
        g = g @ w[2 * k]
        if k > 0:
            g = g * (1 - hidden[k - 1] * hidden[k - 1])
    return g


@torch.jit.script
def _forward(y0: Tensor, w: list[Tensor], h: float, n: int, every: int):
    states = [y0]
    mids: list[Tensor] = []
    acts: list[list[Tensor]] = []
    outs = [y0]
    y = y0
    for i in range(n):
        k1, a1 = _mlp(y, w)
        u = y + (h / 2) * k1
        k2, a2 = _mlp(u, w)
        mids.append(u)
        acts.append(a1)
        acts.append(a2)
        y = y + h * k2
        states.append(y)
        if (i + 1) % every == 0:
            outs.append(y)
    return torch.stack(outs, 1), states, mids, acts


@torch.jit.script
def _backward(
    g_out: Tensor,
    states: list[Tensor],
    mids: list[Tensor],
    acts: list[list[Tensor]],
    w: list[Tensor],
    h: float,
    n: int,
    every: int,
) -> tuple[Tensor, list[Tensor]]:
    gw = [torch.zeros_like(x) for x in w]
    a = g_out[:, -1].clone()
    k = g_out.shape[1] - 2
    for i in range(n - 1, -1, -1):
        g_mid = _mlp_vjp(h * a, mids[i], acts[2 * i + 1], w, gw)
        a = a + g_mid + _mlp_vjp((h / 2) * g_mid, states[i], acts[2 * i], w, gw)
        if i % every == 0:
            a = a + g_out[:, k]
            k -= 1
    return a, gw


class FusedMidpoint(torch.autograd.Function):
    """``y`` (batch, n // every + 1, C) at every ``every``-th of ``n`` midpoint steps of size
    ``h`` from ``y0``, for the MLP with weights ``w``."""

    @staticmethod
    def forward(ctx, y0: Tensor, h: float, n: int, every: int, *w: Tensor) -> Tensor:  # type: ignore[override]
        out, states, mids, acts = _forward(y0, list(w), h, n, every)
        ctx.kept = (states, mids, acts, list(w), h, n, every)
        return out

    @staticmethod
    def backward(ctx, g_out: Tensor):  # type: ignore[override]
        states, mids, acts, w, h, n, every = ctx.kept
        g_y0, gw = _backward(g_out.contiguous(), states, mids, acts, w, h, n, every)
        return (g_y0, None, None, None, *gw)
