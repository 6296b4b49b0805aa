"""Neural SDE generator and the neural CDE discriminator of the SDE-GAN (thesis §4)."""

from __future__ import annotations

import torch
from torch import nn

from ndestudio.core.models.mlp import MLP, VectorField
from ndestudio.core.shard import BatchShare
from ndestudio.core.solvers import (
    CDEField,
    Probe,
    control_path,
    path_coefficients,
    solve_ode,
    solve_sde,
)
from ndestudio.core.specs import ModelSpec, NetworkSpec, SolverSpec


class _Fields(nn.Module):
    """Drift and diffusion in torchsde's contract (``f``, ``g``, ``noise_type``, ``sde_type``)."""

    def __init__(self, hidden: int, spec: ModelSpec) -> None:
        super().__init__()
        sde = spec.sde
        self.noise_type = sde.noise_type
        self.sde_type = sde.sde_type
        self.hidden = hidden
        self.brownian_size = {"diagonal": hidden, "scalar": 1}.get(
            sde.noise_type, sde.brownian_size
        )
        net = spec.network
        # The thesis's choice: bounded fields (final tanh) keep the generated paths well behaved.
        bounded = NetworkSpec(**{**net.__dict__, "final_tanh": True})
        self.drift = VectorField(hidden, hidden, bounded)
        diffusion_out = hidden if sde.noise_type == "diagonal" else hidden * self.brownian_size
        self.diffusion: nn.Module
        if sde.noise_type == "additive":
            # Additive noise may depend on time only: g(t).
            time_only = NetworkSpec(**{**bounded.__dict__, "time_input": False})
            self.diffusion = MLP(1, diffusion_out, time_only)
        else:
            self.diffusion = VectorField(hidden, diffusion_out, bounded)

    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.drift(t, y)

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.noise_type == "additive":
            out = self.diffusion(t.expand(y.shape[0], 1).to(y))
        else:
            out = self.diffusion(t, y)
        if self.noise_type == "diagonal":
            return out
        return out.view(y.shape[0], self.hidden, self.brownian_size)


class NeuralSDE(nn.Module):
    """Generator: ``x_0 = ζ(V)``, ``dx = μ(t, x) dt + σ(t, x) ∘ dW``, ``Y_t = ℓ(x_t)``.

    Works in normalised coordinates; ``loc`` and ``scale`` map back to the data's units.
    """

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, channels: int, spec: ModelSpec) -> None:
        super().__init__()
        self.channels = channels
        self.noise_size = spec.sde.initial_noise_size
        hidden = spec.sde.hidden_size
        self.initial = MLP(self.noise_size, hidden, spec.network)
        self.fields = _Fields(hidden, spec)
        self.readout = nn.Linear(hidden, channels)
        self.register_buffer("loc", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))
        with torch.no_grad():
            for p in self.initial.parameters():
                p.mul_(spec.sde.initial_init_scale)
            for p in self.fields.parameters():
                p.mul_(spec.sde.field_init_scale)

    def forward(
        self,
        ts: torch.Tensor,
        batch: int,
        solver: SolverSpec,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        probe: Probe | None = None,
        initial_noise: torch.Tensor | None = None,
        increments: torch.Tensor | None = None,
        share: BatchShare | None = None,
    ) -> torch.Tensor:
        """Generate ``batch`` normalised sample paths at ``ts``: (batch, T, channels).

        ``initial_noise`` (batch, noise) and Brownian ``increments`` (steps, batch, channels)
        over :func:`sde_step_grid` replace the random draws (used to check exported models).
        ``share``: generate this shard's rows of ``share.batch`` paths (``batch`` is its
        count): the noise is drawn for the whole batch, as one process would draw it.
        """
        p = self.readout.weight
        if initial_noise is None and share is not None:
            initial_noise = share.normal(self.noise_size, generator, p.dtype)
        elif initial_noise is None:
            initial_noise = torch.randn(batch, self.noise_size, generator=generator, dtype=p.dtype)
        x0 = self.initial(initial_noise.to(p))
        xs = solve_sde(
            self.fields,
            x0,
            ts,
            solver,
            brownian_size=self.fields.brownian_size,
            seed=seed,
            probe=probe,
            increments=increments,
            share=share,
        )
        return self.readout(xs).transpose(0, 1)


class CDEDiscriminator(nn.Module):
    """A neural CDE reading a (time, value) path and returning one score per path."""

    def __init__(self, channels: int, spec: ModelSpec) -> None:
        super().__init__()
        self.hidden = spec.sde.discriminator_hidden_size
        self.channels = channels + 1  # time is a channel
        self.initial = MLP(self.channels, self.hidden, spec.sde.discriminator)
        bounded = NetworkSpec(**{**spec.sde.discriminator.__dict__, "final_tanh": True})
        self.func = VectorField(self.hidden, self.hidden * self.channels, bounded)
        self.readout = nn.Linear(self.hidden, 1)

    def forward(self, ys: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        """Paths (batch, T, C) at times ``ts`` → scores (batch,)."""
        t_channel = ts.to(ys).view(1, -1, 1).expand(ys.shape[0], -1, 1)
        x = torch.cat([t_channel, ys], dim=-1)
        coeffs = path_coefficients(x, ts.to(ys), "linear")
        path = control_path(coeffs, ts.to(ys), "linear")
        z0 = self.initial(x[:, 0])
        field = CDEField(self.func, path, self.hidden, self.channels)
        # Midpoint steps of the observation spacing: each linear piece is integrated exactly
        # in its control increment, and gradients backpropagate to the generated paths.
        step = float((ts[1:] - ts[:-1]).min())
        solver = SolverSpec(method="midpoint", step_size=step, gradient="backprop")
        zs = solve_ode(field, z0, ts[[0, -1]].to(ys), solver)
        return self.readout(zs[-1]).squeeze(-1)

    def clip_weights(self) -> None:
        """Weight clipping for the Wasserstein critic (each layer to ±1/out_features)."""
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    bound = 1.0 / module.out_features
                    module.weight.clamp_(-bound, bound)
