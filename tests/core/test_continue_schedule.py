"""A run continued to another total re-plans its learning-rate schedule over the new total:
the rate never cycles and never rises after the continuation point, goes on without a jump
from a run stopped part-way, restarts as planned for the new total from a finished one, and
the plan survives checkpoints (issue 11, item 2)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl
from ndestudio.core.training import CheckpointError, Trainer
from ndestudio.core.training.checkpoint import load_checkpoint, save_checkpoint
from ndestudio.core.training.optim import FLOORS, Schedule, rate_factor
from tests.conftest import small_spec

KINDS = ["cosine", "exponential", "step", "constant"]


def _optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def _rates(schedule: Schedule, first: int, last: int) -> list[float]:
    return [schedule.factor(k) for k in range(first, last + 1)]


def _non_increasing(values: list[float]) -> bool:
    return all(b <= a + 1e-12 for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("kind", "torch_schedule"),
    [
        ("cosine", lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)),
        ("step", lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)),
        (
            "exponential",
            lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1 / 30)),
        ),
    ],
)
def test_a_new_run_has_the_schedule_it_had_with_torchs_schedulers(kind, torch_schedule):
    ours, theirs = _optimizer(), _optimizer()
    """The rates of the 30 steps of a run of 30 (torch's step schedule drops once more after
    the last one, a rate no step uses: this one stays at its floor)."""
    schedule, reference = Schedule(kind, ours, 30), torch_schedule(theirs)
    for k in range(1, 30):
        theirs.step()
        reference.step()
        schedule.set_rates(k)
        assert ours.param_groups[0]["lr"] == pytest.approx(
            theirs.param_groups[0]["lr"], rel=1e-9, abs=1e-15
        ), k


@pytest.mark.parametrize("kind", KINDS)
def test_a_stopped_run_goes_on_from_its_rate_without_a_jump(kind):
    schedule = Schedule(kind, _optimizer(), 30)
    before = schedule.factor(12)
    schedule.retarget(200, 12)
    rates = _rates(schedule, 12, 200)
    assert rates[0] == pytest.approx(before, rel=1e-12)  # continuous at the continuation
    assert _non_increasing(rates)
    assert rates[-1] == pytest.approx(FLOORS[kind], abs=1e-12)  # the floor at the new total
    assert schedule.factor(500) == pytest.approx(FLOORS[kind], abs=1e-12)  # and after: no cycle


@pytest.mark.parametrize("kind", KINDS)
def test_a_finished_run_restarts_as_planned_for_the_new_total(kind):
    schedule = Schedule(kind, _optimizer(), 30)
    schedule.retarget(120, 30)
    assert _rates(schedule, 30, 120) == pytest.approx(
        [rate_factor(kind, k / 120) for k in range(30, 121)], rel=1e-12, abs=1e-15
    )
    assert _non_increasing(_rates(schedule, 30, 400))


def test_an_unchanged_total_keeps_the_schedule_and_a_lower_one_squeezes_it():
    schedule = Schedule("cosine", _optimizer(), 40)
    schedule.retarget(40, 10)
    assert schedule.factor(20) == rate_factor("cosine", 0.5)
    before = schedule.factor(10)
    schedule.retarget(20, 10)
    assert schedule.factor(10) == pytest.approx(before) and schedule.factor(20) == 0.0
    schedule.retarget(10, 10)  # no step left to take: nothing to plan
    assert schedule.total == 20


def _lrs(events: list[ev.Event]) -> list[float]:
    return [e.lr for e in events if isinstance(e, ev.Step)]


def test_continuing_a_finished_cosine_run_anneals_once_over_the_new_total():
    """The issue: a finished cosine run continued to a higher total cycled with the old
    period; now it restarts once, as planned for the new total, and anneals to 0 there."""
    trainer = Trainer(small_spec("ode", schedule="cosine", iterations=20, eval_every=100))
    first = _lrs(list(trainer.run()))
    assert first[-1] == 0.0  # the finished schedule is at its floor
    trainer.spec.train.iterations = 100  # what the window's Continue does
    rest = _lrs(list(trainer.run()))
    assert len(rest) == 80
    assert _non_increasing(rest)
    assert rest[0] == pytest.approx(1e-2 * rate_factor("cosine", 21 / 100))
    assert rest[-1] == 0.0
    assert trainer.schedule.total == 100


def test_continuing_a_stopped_run_goes_on_from_its_rate():
    trainer = Trainer(small_spec("ode", schedule="cosine", iterations=40, eval_every=100))
    control = TrainControl()
    first = []
    for event in trainer.run(control):
        if isinstance(event, ev.Step):
            first.append(event.lr)
            if event.iteration == 20:
                control.stop()
    assert trainer.iteration == 20 and first[-1] == pytest.approx(0.5e-2)
    trainer.set_iterations(100)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(first[-1], rel=1e-12)
    rest = _lrs(list(trainer.run()))
    assert len(rest) == 80 and _non_increasing(first + rest)
    assert first[-1] - rest[0] < first[-2] - first[-1]  # no jump: a slower descent than before
    assert rest[-1] == 0.0


def test_a_replanned_schedule_survives_a_checkpoint(tmp_path):
    spec = small_spec("ode", schedule="cosine", iterations=10, eval_every=100)
    straight = Trainer(spec)
    list(straight.run())
    straight.set_iterations(30)
    saved = straight.save(tmp_path / "replanned.pt")  # re-planned, no step taken since
    list(straight.run())

    ckpt = load_checkpoint(saved)
    assert ckpt.schedule["total"] == 30 and ckpt.schedule["start"] == 10
    restored = Trainer.from_checkpoint(saved)
    assert restored.schedule.state_dict() == ckpt.schedule
    list(restored.run())
    assert list(restored.history["lr"]) == pytest.approx(list(straight.history["lr"]), rel=1e-12)
    assert _non_increasing(list(restored.history["lr"])[10:])


def _old_checkpoint(trainer: Trainer, path, scheduler) -> None:
    """A checkpoint as NDE Studio wrote them with torch's schedulers."""
    save_checkpoint(
        path,
        spec=trainer.spec,
        model=trainer.model.state_dict(),
        optimizer=trainer.optimizer.state_dict(),
        schedule=scheduler.state_dict(),
        iteration=trainer.iteration,
        history=dict(trainer.history),
        generator=trainer.generator.get_state(),
    )


@pytest.mark.parametrize("kind", ["cosine", "step", "exponential", "constant"])
def test_a_checkpoint_with_a_torch_schedule_still_loads_and_continues(kind, tmp_path):
    trainer = Trainer(small_spec("ode", schedule=kind, iterations=12, eval_every=100))
    list(trainer.run())
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    scheduler = {
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=12),
        "step": lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.1),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(
            optimizer, gamma=0.01 ** (1 / 12)
        ),
        "constant": lambda: torch.optim.lr_scheduler.ConstantLR(
            optimizer, factor=1.0, total_iters=0
        ),
    }[kind]()
    for _ in range(12):
        optimizer.step()
        scheduler.step()
    _old_checkpoint(trainer, tmp_path / "old.pt", scheduler)

    restored = Trainer.from_checkpoint(tmp_path / "old.pt")
    assert restored.schedule.total == 12
    assert restored.optimizer.param_groups[0]["lr"] == pytest.approx(
        trainer.optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-15
    )
    restored.spec.train.iterations = 30
    rest = _lrs(list(restored.run()))
    assert len(rest) == 18 and _non_increasing(rest)
    assert rest[-1] == pytest.approx(1e-2 * FLOORS[kind], abs=1e-15)


@pytest.mark.parametrize(
    "damage",
    [
        {"kind": "step"},
        {"start_progress": 2.0},
        {"start_progress": math.nan},
        {"start": 50},
        {"total": "many"},
        {"base_lrs": [1e-2, 1e-3]},
        {"base_lrs": [-1.0]},
    ],
)
def test_a_schedule_that_does_not_fit_is_a_checkpoint_error(damage, tmp_path):
    trainer = Trainer(small_spec("ode", schedule="cosine", iterations=2, eval_every=100))
    list(trainer.run())
    path = trainer.save(tmp_path / "good.pt")
    payload = torch.load(path, weights_only=True)
    payload["schedule"] = {**payload["schedule"], **damage}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="optimiser, schedule or random state"):
        Trainer.from_checkpoint(tmp_path / "bad.pt")
