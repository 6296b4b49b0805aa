"""A process's share of a batch in data-parallel training, and the noise it draws for it.

Kept apart from :mod:`ndestudio.core.training.distributed` (which joins process groups) so
that models and the solver layer can take a share without importing ``torch.distributed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shard:
    """Which rows of a global batch this process trains on, and how its loss is scaled."""

    rank: int = 0
    world: int = 1

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of ``x`` (batch first)."""
        return x if self.world == 1 else x[self.rank :: self.world]


SINGLE = Shard()


@dataclass(frozen=True)
class BatchShare:
    """A shard of a global batch of ``batch`` rows, for drawing noise: every draw is made for
    the whole batch (the draws one process would make) and the shard keeps its rows, so a
    stochastic model's shards see the noise their rows would see in one process."""

    shard: Shard
    batch: int

    def normal(
        self, width: int, generator: torch.Generator | None, dtype: torch.dtype
    ) -> torch.Tensor:
        """Standard normal draws (shard rows, ``width``)."""
        return self.shard.rows(torch.randn(self.batch, width, generator=generator, dtype=dtype))

    def uniform(
        self, shape: tuple[int, ...], generator: torch.Generator | None, dtype: torch.dtype
    ) -> torch.Tensor:
        """Uniform draws on [0, 1) of shape (shard rows, *shape)."""
        return self.shard.rows(torch.rand(self.batch, *shape, generator=generator, dtype=dtype))
