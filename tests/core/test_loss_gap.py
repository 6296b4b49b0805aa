"""A training loss far below validation for several evaluations is flagged (issue 11, item 3)."""

from __future__ import annotations

import pytest

from ndestudio.core.training import Trainer
from ndestudio.core.training.diagnostics import GAP_EVALUATIONS, GAP_FACTOR, loss_gap_warning
from tests.conftest import small_spec


def _history(train: float, vals: list[float], every: int = 25):
    n = every * len(vals)
    iterations = list(range(1, n + 1))
    return iterations, [train] * n, [every * (k + 1) for k in range(len(vals))], vals


def test_a_lasting_gap_is_flagged_with_the_likely_cause():
    spec = small_spec("ode")
    spec.train.window = 10
    message = loss_gap_warning(spec, *_history(0.002, [0.3, 0.28, 0.29]))
    assert message is not None
    assert "140× or more below the validation loss (0.29)" in message
    assert "10-observation training windows" in message
    spec.train.window = None
    assert "overfitting" in (loss_gap_warning(spec, *_history(0.002, [0.3, 0.28, 0.29])) or "")


@pytest.mark.parametrize(
    "vals",
    [
        [0.3, 0.28],  # too few evaluations yet
        [0.3, 0.01, 0.29],  # not at every one of the last evaluations
        [0.015, 0.015, 0.015],  # a gap below the factor
    ],
)
def test_no_warning_without_a_lasting_large_gap(vals):
    assert GAP_EVALUATIONS == 3 and GAP_FACTOR == 10
    assert loss_gap_warning(small_spec("ode"), *_history(0.002, vals)) is None


def test_losses_that_are_not_comparable_are_never_flagged():
    assert loss_gap_warning(small_spec("sde"), *_history(0.002, [0.3, 0.3, 0.3])) is None


def test_only_the_steps_since_the_previous_evaluation_count():
    its, losses, evals, vals = _history(1.0, [0.3] * 5)  # early steps: a loss far above
    losses[-3 * 25 :] = [0.001] * (3 * 25)
    assert loss_gap_warning(small_spec("cde"), its, losses, evals, vals) is not None
    losses[-1] = 1000.0  # one step of the last stretch raises its mean above validation
    assert loss_gap_warning(small_spec("cde"), its, losses, evals, vals) is None


def test_the_trainer_reports_the_gap_on_its_evaluations(monkeypatch):
    trainer = Trainer(small_spec("ode", iterations=6, eval_every=2))
    monkeypatch.setattr("ndestudio.core.training.trainer.loss_gap_warning", lambda *a: "gap seen")
    evals = [e for e in trainer.run() if type(e).__name__ == "Eval"]
    assert [e.warning for e in evals] == ["gap seen"] * 3
    assert trainer.last_eval is not None and trainer.last_eval.warning == "gap seen"
