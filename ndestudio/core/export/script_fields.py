"""Vector fields and control paths in TorchScript: the trained networks, called as training
called them, and a CDE's control path computed inside the exported file from raw observations
(torchcde's formulas, NaN filling included)."""

import torch
from torch import Tensor, nn

from ndestudio.core.models.latent_sde import bounded_diffusion


def _with_time(t: Tensor, y: Tensor) -> Tensor:
    sizes = list(y.shape)
    sizes[-1] = 1
    return torch.cat([t.expand(sizes).to(dtype=y.dtype, device=y.device), y], dim=-1)


class MLPField(nn.Module):
    """``f(t, y)``: the trained MLP on the state, with the time as an extra input if trained so."""

    def __init__(self, net: nn.Module, time_input: bool) -> None:
        super().__init__()
        self.net = net
        self.time_input = time_input

    def forward(self, t: Tensor, y: Tensor, ctx: list[Tensor]) -> Tensor:
        if self.time_input:
            y = _with_time(t, y)
        return self.net(y)


class BoundedDiffusion(nn.Module):
    """A latent SDE's diffusion: the trained field squashed as the model squashes it."""

    def __init__(self, field: MLPField) -> None:
        super().__init__()
        self.field = field

    def forward(self, t: Tensor, y: Tensor, ctx: list[Tensor]) -> Tensor:
        return bounded_diffusion(self.field(t, y, ctx))


class AffineNoise(nn.Module):
    """A latent SDE's prior initial state: ``mean + std * noise``."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, noise: Tensor) -> Tensor:
        return self.mean + self.std * noise


class TimeOnlyField(nn.Module):
    """``g(t)``: an additive-noise diffusion that reads the time only."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, t: Tensor, y: Tensor, ctx: list[Tensor]) -> Tensor:
        return self.net(t.expand(y.size(0), 1).to(dtype=y.dtype, device=y.device))


class CDEPathField(nn.Module):
    """``dz/ds = f(s, z) dX/ds`` with the control path passed per call in ``ctx``:
    ``[knots, *coefficients]`` as :func:`path_parts` makes them."""

    def __init__(self, net: nn.Module, time_input: bool, hidden: int, channels: int, kind: str):
        super().__init__()
        self.vector = MLPField(net, time_input)
        self.hidden = hidden
        self.channels = channels
        self.kind = kind

    def forward(self, s: Tensor, z: Tensor, ctx: list[Tensor]) -> Tensor:
        matrix = self.vector(s, z, ctx).view(z.size(0), self.hidden, self.channels)
        dx = path_derivative(self.kind, ctx, s)
        return (matrix @ dx.unsqueeze(-1)).squeeze(-1)


def fill_missing(x: Tensor, t: Tensor) -> Tensor:
    """torchcde's NaN filling for (batch, T, C) observations at times ``t``: linear in time
    between observed values, the first observed value carried back, the last carried forward,
    zeros for a channel never observed."""
    length = x.size(1)
    observed = ~torch.isnan(x)
    index = torch.arange(length, device=x.device).view(1, length, 1).expand(x.shape)
    prev_idx = torch.where(observed, index, torch.full_like(index, -1)).cummax(dim=1).values
    later = torch.where(observed, index, torch.full_like(index, length))
    next_idx = later.flip([1]).cummin(dim=1).values.flip([1])
    prev_idx = torch.where(prev_idx < 0, next_idx, prev_idx)
    next_idx = torch.where(next_idx >= length, prev_idx, next_idx)
    prev_c = prev_idx.clamp(0, length - 1)
    next_c = next_idx.clamp(0, length - 1)
    values = torch.nan_to_num(x)
    prev_x = values.gather(1, prev_c)
    next_x = values.gather(1, next_c)
    prev_t = t[prev_c]
    next_t = t[next_c]
    time = t.view(1, length, 1).expand(x.shape)
    ratio = (time - prev_t) / (next_t - prev_t)
    between = torch.where(prev_c == next_c, prev_x, prev_x + ratio * (next_x - prev_x))
    filled = torch.where(observed, x, between)
    seen = observed.any(dim=1, keepdim=True)
    return torch.where(seen, filled, torch.zeros_like(filled))


def _forward_fill(x: Tensor) -> Tensor:
    mask = torch.isnan(x)
    if bool(mask.any()):
        cumsum_mask = (~mask).cumsum(dim=-2)
        cumsum_mask = cumsum_mask.masked_fill(mask, 0)
        index = cumsum_mask.cummax(dim=-2).indices
        x = x.gather(-2, index)
    return x


def last_observed(x: Tensor) -> Tensor:
    """(batch,) the index of each series' last row of ``x`` (batch, T, C) with any value."""
    seen = ~torch.isnan(x).all(dim=-1)
    return x.size(-2) - 1 - seen.flip([1]).to(torch.uint8).argmax(dim=1)


def path_parts(kind: str, x: Tensor, t: Tensor) -> list[Tensor]:
    """``[knots, *coefficients]`` of the control path through ``x`` (batch, T, C) at ``t``.

    ``hermite``: cubic Hermite with backward differences; ``linear``; ``rectilinear`` (time in
    channel 0, parameterised by the index of the doubled knots), each as torchcde builds it.
    """
    # A Hermite path holds constant from each series' last observed row on (its rows after
    # are all NaN), as ndestudio.core.solvers.paths does.
    length = x.size(-2)
    last = last_observed(x)
    if kind == "rectilinear":
        data = _forward_fill(x).repeat_interleave(2, dim=-2)
        data[..., :-1, 0] = data[..., 1:, 0].clone()
        x = data[..., :-1, :]
        t = torch.linspace(0, x.size(-2) - 1, x.size(-2), dtype=x.dtype, device=x.device)
    if bool(torch.isnan(x).any()):
        x = fill_missing(x, t)
    t_diff = (t[1:] - t[:-1]).unsqueeze(-1)
    derivs = (x[..., 1:, :] - x[..., :-1, :]) / t_diff
    if kind != "hermite":
        return [t, x, derivs]
    x_prev = x[..., :-1, :]
    x_next = x[..., 1:, :]
    derivs_prev = torch.cat((derivs[..., :1, :], derivs[..., :-1, :]), dim=-2)
    derivs_next = derivs
    x_diff = x_next - x_prev
    b = derivs_prev
    two_c = 2 * (3 * (x_diff / t_diff - b) - derivs_next + derivs_prev) / t_diff
    # Eager Python computes `1 / x` as `x.reciprocal() * 1`; TorchScript would divide.
    three_d = torch.reciprocal(t_diff**2) * (derivs_next - b) - (two_c) / t_diff
    ended = torch.arange(length - 1, device=x.device).view(1, -1, 1) >= last.view(-1, 1, 1)
    b = b.masked_fill(ended, 0.0)
    two_c = two_c.masked_fill(ended, 0.0)
    three_d = three_d.masked_fill(ended, 0.0)
    return [t, x_prev, b, two_c, three_d]


def _interval(knots: Tensor, pieces: int, s: Tensor) -> tuple[int, Tensor]:
    s = s.to(knots.dtype)
    index = int(torch.bucketize(s, knots).sub(1).clamp(0, pieces - 1))
    return index, s - knots[index]


def path_value(kind: str, parts: list[Tensor], s: Tensor) -> Tensor:
    knots = parts[0]
    if kind == "hermite":
        a, b, two_c, three_d = parts[1], parts[2], parts[3], parts[4]
        index, frac = _interval(knots, b.size(-2), s)
        frac = frac.unsqueeze(-1)
        inner = 0.5 * two_c[:, index] + three_d[:, index] * frac / 3
        inner = b[:, index] + inner * frac
        return a[:, index] + inner * frac
    coeffs, derivs = parts[1], parts[2]
    index, frac = _interval(knots, derivs.size(-2), s)
    frac = frac.unsqueeze(-1)
    prev = coeffs[:, index]
    diff_t = knots[index + 1] - knots[index]
    return prev + frac * (coeffs[:, index + 1] - prev) / diff_t.unsqueeze(-1)


def path_derivative(kind: str, parts: list[Tensor], s: Tensor) -> Tensor:
    knots = parts[0]
    if kind == "hermite":
        b, two_c, three_d = parts[2], parts[3], parts[4]
        index, frac = _interval(knots, b.size(-2), s)
        frac = frac.unsqueeze(-1)
        inner = two_c[:, index] + three_d[:, index] * frac
        return b[:, index] + inner * frac
    derivs = parts[2]
    index, _ = _interval(knots, derivs.size(-2), s)
    return derivs[:, index]
