"""A diverging run stops with a reason and remedies; the last good weights stay."""

from __future__ import annotations

import math

import torch

from ndestudio.core import events as ev
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def test_diverging_run_fails_with_remedies_and_keeps_good_weights():
    spec = small_spec("ode", iterations=200, lr=50.0, optimizer="sgd", eval_every=1000)
    spec.solver.max_num_steps = 2000
    trainer = Trainer(spec)
    events = list(trainer.run())
    failed = events[-1]
    assert isinstance(failed, ev.Failed), failed
    assert "last good weights were kept" in failed.reason
    assert any("smaller learning rate (now 50)" in r for r in failed.remedies)
    assert any("min_step" in r for r in failed.remedies)
    assert any("float64" in r for r in failed.remedies)
    assert any("fixed-step solver" in r for r in failed.remedies)
    assert any("weight decay" in r for r in failed.remedies)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    # The kept weights still give a finite loss.
    with torch.no_grad():
        assert math.isfinite(float(trainer.evaluate().val_loss))


def test_nan_data_in_the_loss_is_a_failure_not_a_crash():
    trainer = Trainer(small_spec("ode", iterations=3))
    trainer.task.train_values[:] = float("inf")
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Failed)
    assert "last good weights were kept" in events[-1].reason
