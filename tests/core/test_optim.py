"""Optimisers: torch's fused kernels where it has them, the plain ones where it has not."""

from __future__ import annotations

import pytest
import torch

from ndestudio.core.specs import TrainSpec
from ndestudio.core.training.optim import make_optimizer


def _groups() -> list[dict]:
    return [{"params": [torch.nn.Parameter(torch.randn(4, 3))]}]


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_fused_kernels_where_torch_has_them(name):
    optimizer = make_optimizer(TrainSpec(optimizer=name, lr=0.1), _groups())
    assert optimizer.defaults["fused"] is True
    assert optimizer.defaults["lr"] == 0.1


def test_plain_optimizer_when_there_is_no_fused_kernel(monkeypatch):
    plain_adam = torch.optim.Adam

    def adam_without_fused(params, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be ... supported devices")
        return plain_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", adam_without_fused)
    optimizer = make_optimizer(TrainSpec(optimizer="adam", lr=0.1, weight_decay=1e-4), _groups())
    assert not optimizer.defaults["fused"]
    assert optimizer.defaults["weight_decay"] == 1e-4


def test_fused_and_plain_adam_take_the_same_steps():
    """Fused Adam is a faster kernel for the same update (up to float rounding)."""
    fused = _groups()
    plain = [{"params": [torch.nn.Parameter(fused[0]["params"][0].detach().clone())]}]
    opt_fused = make_optimizer(TrainSpec(optimizer="adam", lr=0.01), fused)
    opt_plain = torch.optim.Adam(plain, lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        grad = torch.randn(4, 3, generator=gen)
        for groups, opt in ((fused, opt_fused), (plain, opt_plain)):
            groups[0]["params"][0].grad = grad.clone()
            opt.step()
    torch.testing.assert_close(fused[0]["params"][0], plain[0]["params"][0], rtol=1e-5, atol=1e-6)
