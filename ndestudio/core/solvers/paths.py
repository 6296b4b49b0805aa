"""Control paths for neural CDEs, built with torchcde from observations that may hold NaN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchcde
from torch import nn


def path_coefficients(x: torch.Tensor, t: torch.Tensor, kind: str) -> torch.Tensor:
    """Interpolation coefficients of ``x`` (batch, T, channels) observed at times ``t`` (T,).

    NaN marks a missing value. ``rectilinear`` expects the time as channel 0. A series whose
    rows are all missing from some row on has ended there: its path stays constant after its
    last observed row (torchcde's linear paths carry the last value forward; a Hermite
    path's last interval would still move with the backward difference, so it is held).
    """
    if kind == "hermite":
        coeffs = torchcde.hermite_cubic_coefficients_with_backward_differences(x, t)
        return _held_after_end(coeffs, x)
    if kind == "linear":
        return torchcde.linear_interpolation_coeffs(x, t)
    if kind == "rectilinear":
        return torchcde.linear_interpolation_coeffs(x, rectilinear=0)
    raise ValueError(f"unknown interpolation {kind!r}")


def _held_after_end(coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Hermite coefficients (batch, T-1, 4C) whose intervals from each series' last observed
    row of ``x`` (batch, T, C) on are constant: b, c and d zero there."""
    observed = ~torch.isnan(x).all(dim=-1)  # (batch, T)
    length = x.shape[-2]
    last = length - 1 - observed.flip(-1).to(torch.uint8).argmax(dim=-1)
    ended = torch.arange(length - 1, device=x.device)[None, :] >= last[:, None]  # (batch, T-1)
    if not bool(ended.any()):
        return coeffs
    channels = x.shape[-1]
    moving = torch.ones_like(coeffs, dtype=torch.bool)
    moving[..., channels:] = ~ended[..., None]
    return torch.where(moving, coeffs, torch.zeros_like(coeffs))


@dataclass
class ControlPath:
    """A continuous path X(s) and its knots ``times``: the parameter values ``s`` at which
    observations sit and the path is not smooth.

    The CDE is solved from ``times[0]`` to ``times[-1]``, and an adaptive solver is told to step
    onto every knot (torchdiffeq's ``jump_t``), which cut the evaluations of a Hermite path
    about 3x on the irregular spirals demo. For rectilinear paths the parameter is an index
    over the doubled knots, not the time.
    """

    interpolation: Any  # a torchcde interpolation (CubicSpline or LinearInterpolation)
    times: torch.Tensor

    def evaluate(self, s: torch.Tensor) -> torch.Tensor:
        return self.interpolation.evaluate(s)

    def derivative(self, s: torch.Tensor) -> torch.Tensor:
        return self.interpolation.derivative(s)


def control_path(coeffs: torch.Tensor, t: torch.Tensor, kind: str) -> ControlPath:
    if kind == "hermite":
        interp: Any = torchcde.CubicSpline(coeffs, t)
        return ControlPath(interp, t)
    if kind == "linear":
        interp = torchcde.LinearInterpolation(coeffs, t)
        return ControlPath(interp, t)
    if kind == "rectilinear":
        interp = torchcde.LinearInterpolation(coeffs)
        grid = interp.grid_points
        return ControlPath(interp, grid)
    raise ValueError(f"unknown interpolation {kind!r}")


class CDEField(nn.Module):
    """``dz/ds = f(z) dX/ds``: turns a CDE into an ODE that ``solve_ode`` can integrate."""

    def __init__(self, func: nn.Module, path: ControlPath, hidden: int, channels: int) -> None:
        super().__init__()
        self.func = func
        self.path = path
        self.hidden = hidden
        self.channels = channels

    def forward(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        matrix = self.func(s, z).view(*z.shape[:-1], self.hidden, self.channels)
        return (matrix @ self.path.derivative(s).unsqueeze(-1)).squeeze(-1)
