"""Neural CDE: a hidden state driven by a continuous path through the observations."""

from __future__ import annotations

import torch
from torch import nn

from ndestudio.core.models.mlp import VectorField
from ndestudio.core.solvers import CDEField, Probe, control_path, solve_ode
from ndestudio.core.specs import ModelSpec, SolverSpec


class NeuralCDE(nn.Module):
    """``z_0 = ζ(x_0)``, ``dz = f_θ(z) dX``, output ``ℓ(z_T)`` (logits or regression values)."""

    def __init__(self, channels: int, outputs: int, spec: ModelSpec) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = spec.cde.hidden_size
        self.interpolation = spec.cde.interpolation
        self.initial = nn.Linear(channels, self.hidden)
        self.func = VectorField(self.hidden, self.hidden * channels, spec.network)
        self.readout = nn.Linear(self.hidden, outputs)

    def forward(
        self,
        coeffs: torch.Tensor,
        times: torch.Tensor,
        solver: SolverSpec,
        probe: Probe | None = None,
    ) -> torch.Tensor:
        """Path coefficients (batch, ·, channels) → outputs (batch, K)."""
        return self.readout(self.final_state(coeffs, times, solver, probe))

    def final_state(
        self,
        coeffs: torch.Tensor,
        times: torch.Tensor,
        solver: SolverSpec,
        probe: Probe | None = None,
    ) -> torch.Tensor:
        """The hidden state at the end of the path, z_T (batch, hidden)."""
        path = control_path(coeffs, times, self.interpolation)
        s = path.times
        z0 = self.initial(path.evaluate(s[0]))
        field = CDEField(self.func, path, self.hidden, self.channels)
        zs = solve_ode(
            field,
            z0,
            s[[0, -1]],
            solver,
            probe=probe,
            jump_t=path.times,
            extra_adjoint_params=(coeffs,),
        )
        return zs[-1]
