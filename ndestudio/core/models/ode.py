"""Neural ODE: a learned vector field fitted to observed trajectories."""

from __future__ import annotations

import torch
from torch import nn

from ndestudio.core.models.mlp import VectorField
from ndestudio.core.solvers import Probe, solve_ode
from ndestudio.core.specs import ModelSpec, SolverSpec


class NeuralODE(nn.Module):
    """``dy/dt = f_θ(t, y)`` in normalised coordinates ``(y - loc) / scale``."""

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, channels: int, spec: ModelSpec) -> None:
        super().__init__()
        self.channels = channels
        self.field = VectorField(channels, channels, spec.network)
        self.register_buffer("loc", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))

    def forward(
        self, y0: torch.Tensor, t: torch.Tensor, solver: SolverSpec, probe: Probe | None = None
    ) -> torch.Tensor:
        """Normalised ``y0`` (batch, C) → normalised trajectory (batch, T, C).

        ``t``: (T,) shared by the batch, or (batch, T) each series' own times (nondecreasing,
        ``y0`` at the first; a repeated last time pads a shorter series)."""
        return solve_ode(self.field, y0, t, solver, probe=probe).transpose(0, 1)
