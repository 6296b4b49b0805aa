"""Pause, resume and stop from another thread, including inside a long stiff solve."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def _weights(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.params]


def test_pause_holds_the_run_and_resume_continues():
    trainer = Trainer(small_spec("ode", iterations=12, eval_every=100))
    control = TrainControl()
    seen: list[ev.Event] = []
    for event in trainer.run(control):
        seen.append(event)
        if isinstance(event, ev.Step) and event.iteration == 3:
            control.pause()
            paused_at = trainer.iteration
            threading.Timer(0.4, control.resume).start()
            t0 = time.perf_counter()
        if isinstance(event, ev.Resumed):
            waited = time.perf_counter() - t0
            assert trainer.iteration == paused_at  # no training while paused
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("Paused") == kinds.index("Step") + 3  # right after iteration 3
    assert kinds[kinds.index("Paused") + 1] == "Resumed"
    assert waited >= 0.35
    assert isinstance(seen[-1], ev.Finished) and seen[-1].iteration == 12


def test_stop_while_paused_stops():
    trainer = Trainer(small_spec("ode", iterations=50))
    control = TrainControl()
    events = []
    for event in trainer.run(control):
        events.append(event)
        if isinstance(event, ev.Step) and event.iteration == 2:
            control.pause()
            threading.Timer(0.2, control.stop).start()
    assert isinstance(events[-2], ev.Paused)
    assert isinstance(events[-1], ev.Stopped) and events[-1].iteration == 2


def _stiff_trainer(gradient: str = "backprop", scale: float = 40.0, tol: float = 1e-12) -> Trainer:
    """An ODE whose vector field is made stiff: each adaptive solve takes seconds."""
    spec = small_spec("ode", iterations=5, dtype="float64", batch_size=32)
    spec.solver.rtol = spec.solver.atol = tol
    spec.solver.max_num_steps = 10_000_000
    spec.solver.gradient = gradient
    spec.train.window = None
    trainer = Trainer(spec)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.mul_(scale)
    return trainer


def _stop_latency(trainer: Trainer, after: float) -> tuple[float, list[ev.Event]]:
    control = TrainControl()
    stamp: dict[str, float] = {}

    def stop() -> None:
        stamp["t"] = time.perf_counter()
        control.stop()

    events = []
    for event in trainer.run(control):
        events.append(event)
        if isinstance(event, ev.Started):
            threading.Timer(after, stop).start()
    return time.perf_counter() - stamp["t"], events


def test_stop_lands_inside_a_long_forward_solve():
    trainer = _stiff_trainer()
    before = _weights(trainer)
    latency, events = _stop_latency(trainer, after=0.5)
    assert isinstance(events[-1], ev.Stopped)
    assert not any(isinstance(e, ev.Step) for e in events)  # it was inside the first solve
    assert latency < 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))


@pytest.mark.parametrize(
    ("gradient", "scale", "tol"),
    # Through the solver only some evaluations carry a backward hook; the adjoint solves an
    # ODE backwards. (Milder for backprop, whose forward pass must end first: ~2 s, then ~1 s.)
    [("backprop", 15.0, 1e-10), ("adjoint", 40.0, 1e-12)],
)
def test_stop_lands_inside_the_backward_pass(gradient, scale, tol):
    trainer = _stiff_trainer(gradient, scale, tol)
    control = TrainControl()
    stamp: dict[str, float] = {}
    original = trainer.stats.backward_phase

    def backward_phase():
        # Stop 0.3 s into the first backward pass.
        def stop() -> None:
            stamp["t"] = time.perf_counter()
            control.stop()

        threading.Timer(0.3, stop).start()
        return original()

    trainer.stats.backward_phase = backward_phase  # type: ignore[method-assign]
    before = _weights(trainer)
    events = list(trainer.run(control))
    latency = time.perf_counter() - stamp["t"]
    assert isinstance(events[-1], ev.Stopped)
    assert trainer.stats.nfe_backward > 0  # the stop arrived during the backward pass
    assert latency < 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))


def test_run_goes_on_after_a_stop():
    trainer = Trainer(small_spec("ode", iterations=6, eval_every=100))
    control = TrainControl()
    for event in trainer.run(control):
        if isinstance(event, ev.Step) and event.iteration == 2:
            control.stop()
    assert trainer.iteration == 2
    events = list(trainer.run(TrainControl()))
    assert events[0].start_iteration == 2
    assert [e.iteration for e in events if isinstance(e, ev.Step)] == [3, 4, 5, 6]
