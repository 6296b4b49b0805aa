"""A rank's share of a global batch's noise: the rows one process would draw for them."""

from __future__ import annotations

import pytest
import torch

from ndestudio.core.shard import BatchShare, Shard
from ndestudio.core.solvers.sde import ShardBrownian, brownian_motion


def test_a_share_keeps_its_rows_of_draws_made_for_the_whole_batch():
    whole = torch.randn(7, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for rank in (0, 1):
        gen = torch.Generator().manual_seed(4)
        mine = BatchShare(Shard(rank, 2), 7).normal(3, gen, torch.float64)
        assert torch.equal(mine, whole[rank::2])
    uniform = torch.rand(5, 1, 1, generator=torch.Generator().manual_seed(2))
    mine = BatchShare(Shard(1, 2), 5).uniform(
        (1, 1), torch.Generator().manual_seed(2), torch.float32
    )
    assert torch.equal(mine, uniform[1::2])


@pytest.mark.parametrize(("method", "areas"), [("srk", "space-time"), ("log_ode", "foster")])
def test_a_shard_brownian_gives_its_rows_of_the_whole_batch_s_increments_and_areas(method, areas):
    ts = torch.linspace(0, 1, 5, dtype=torch.float64)

    def motion(batch: int) -> object:
        return brownian_motion(
            ts, batch, 2, method=method, seed=11, dtype=torch.float64, device=torch.device("cpu")
        )

    whole = motion(5)
    steps = [(0.0, 0.25), (0.25, 0.6), (0.6, 1.0), (0.1, 0.3)]
    expected = [whole(a, b, return_U=True, return_A=True) for a, b in steps]
    for rank, rows in ((0, 3), (1, 2)):
        shard = ShardBrownian(motion(5), Shard(rank, 2))
        assert shard.shape == torch.Size((rows, 2))
        assert shard.levy_area_approximation == areas
        for (a, b), drawn in zip(steps, expected, strict=True):
            got = shard(a, b, return_U=True, return_A=True)
            assert len(got) == 3
            for part, full in zip(got, drawn, strict=True):
                assert (part is None) == (full is None)  # (space-time areas: no A)
                assert part is None or torch.equal(part, full[rank::2])
        assert torch.equal(shard(0.0, 1.0), whole(0.0, 1.0)[rank::2])
