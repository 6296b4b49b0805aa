"""Latent SDE (thesis §4.3; Li et al. 2020): a variational autoencoder whose latent path is an
SDE. A GRU reads the series backwards into a context; the posterior SDE's drift sees that
context, the prior SDE's drift does not, and both share the diffusion. Training maximises the
ELBO: the likelihood of the observations under the posterior paths minus the KL divergence
of the initial state and of the path (torchsde's ``logqp``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ndestudio.core.models.mlp import MLP, VectorField
from ndestudio.core.shard import BatchShare
from ndestudio.core.solvers import Probe, solve_sde
from ndestudio.core.specs import ModelSpec, NetworkSpec, SolverSpec


def bounded_diffusion(raw: torch.Tensor) -> torch.Tensor:
    """The diffusion network's output squashed into (0.01, 1): the KL term divides by it.
    (The exported TorchScript model calls this function too.)"""
    return torch.sigmoid(raw) * 0.99 + 0.01


class _LatentFields(nn.Module):
    """Posterior drift ``f(t, z, context)``, prior drift ``h(t, z)``, diffusion ``g(t, z)``."""

    def __init__(self, hidden: int, context: int, spec: ModelSpec) -> None:
        super().__init__()
        self.noise_type = "diagonal"
        self.sde_type = spec.sde.sde_type
        net = spec.network
        bounded = NetworkSpec(**{**net.__dict__, "final_tanh": True})
        self.posterior = VectorField(hidden + context, hidden, bounded)
        self.prior = VectorField(hidden, hidden, bounded)
        self.diffusion = VectorField(hidden, hidden, NetworkSpec(**{**net.__dict__}))
        self._ts: torch.Tensor | None = None
        self._context: torch.Tensor | None = None

    def set_context(self, ts: torch.Tensor, context: torch.Tensor) -> None:
        """The encoder's context (T, batch, context) at times ``ts``. It stays set after the
        solve: an adjoint evaluates ``f`` again during the backward pass."""
        self._ts, self._context = ts, context

    def f(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self._context is None or self._ts is None:
            raise RuntimeError("the posterior drift needs the encoder's context")
        # The context at the first observation at or after t: what is still to come.
        i = min(int(torch.searchsorted(self._ts, t.reshape(1), right=True)), len(self._ts) - 1)
        return self.posterior(t, torch.cat([z, self._context[i]], dim=-1))

    def h(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.prior(t, z)

    def g(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return bounded_diffusion(self.diffusion(t, z))


class _PriorSDE(nn.Module):
    """The prior SDE: the prior drift as drift, the shared diffusion."""

    def __init__(self, fields: _LatentFields) -> None:
        super().__init__()
        self.fields = fields
        self.noise_type = fields.noise_type
        self.sde_type = fields.sde_type

    def f(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.fields.h(t, z)

    def g(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.fields.g(t, z)


@dataclass
class LatentOutput:
    reconstruction: torch.Tensor  # (batch, T, channels), normalised units
    kl_initial: torch.Tensor  # (batch,)
    kl_path: torch.Tensor  # (batch,)


class LatentSDE(nn.Module):
    """Encoder, posterior/prior SDE in a latent space of ``sde.hidden_size``, linear readout."""

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, channels: int, spec: ModelSpec) -> None:
        super().__init__()
        sde = spec.sde
        self.channels = channels
        self.hidden = sde.hidden_size
        self.context_size = sde.context_size
        self.encoder = nn.GRU(channels, sde.context_size)
        self.context_out = nn.Linear(sde.context_size, sde.context_size)
        self.initial = MLP(sde.context_size, 2 * self.hidden, spec.network)
        self.prior_mean = nn.Parameter(torch.zeros(1, self.hidden))
        self.prior_logstd = nn.Parameter(torch.zeros(1, self.hidden))
        self.fields = _LatentFields(self.hidden, sde.context_size, spec)
        self.readout = nn.Linear(self.hidden, channels)
        self.register_buffer("loc", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))

    def forward(
        self,
        xs: torch.Tensor,
        ts: torch.Tensor,
        solver: SolverSpec,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        probe: Probe | None = None,
        share: BatchShare | None = None,
    ) -> LatentOutput:
        """Encode normalised series ``xs`` (batch, T, C) observed at ``ts`` and reconstruct
        them through the posterior SDE. ``share``: ``xs`` is a shard of a larger batch, whose
        noise is drawn whole (see :class:`BatchShare`)."""
        observed = torch.nan_to_num(xs).transpose(0, 1)  # (T, batch, C)
        encoded, _ = self.encoder(observed.flip(0))
        context = self.context_out(encoded.flip(0))  # (T, batch, context)
        stats = self.initial(context[0])
        mean, logstd = stats.chunk(2, dim=-1)
        if share is None:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        else:
            noise = share.normal(mean.shape[-1], generator, mean.dtype)
        noise = noise.to(mean.device)
        z0 = mean + logstd.exp() * noise
        self.fields.set_context(ts, context)
        zs, log_ratio = solve_sde(
            self.fields,
            z0,
            ts,
            solver,
            brownian_size=self.hidden,
            seed=seed,
            probe=probe,
            logqp=True,
            extra_adjoint_params=(context,),
            share=share,
        )
        prior = torch.distributions.Normal(self.prior_mean, self.prior_logstd.exp())
        posterior = torch.distributions.Normal(mean, logstd.exp())
        kl_initial = torch.distributions.kl_divergence(posterior, prior).sum(-1)
        return LatentOutput(
            reconstruction=self.readout(zs).transpose(0, 1),
            kl_initial=kl_initial,
            kl_path=log_ratio.sum(0),
        )

    def sample(
        self,
        ts: torch.Tensor,
        batch: int,
        solver: SolverSpec,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        probe: Probe | None = None,
        initial_noise: torch.Tensor | None = None,
        increments: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``batch`` normalised paths from the prior SDE: (batch, T, channels).

        ``initial_noise`` (batch, hidden) and Brownian ``increments`` replace the random draws.
        """
        std = self.prior_logstd.exp()
        if initial_noise is None:
            initial_noise = torch.randn(batch, self.hidden, generator=generator, dtype=std.dtype)
        z0 = self.prior_mean + std * initial_noise.to(std)
        zs = solve_sde(
            _PriorSDE(self.fields),
            z0,
            ts,
            solver,
            brownian_size=self.hidden,
            seed=seed,
            probe=probe,
            increments=increments,
        )
        return self.readout(zs).transpose(0, 1)
