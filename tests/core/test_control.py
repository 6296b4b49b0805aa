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


ENGINES = ["torchdiffeq", "fast"]


def _spec(engine: str, family: str = "ode", **train: object):
    spec = small_spec(family, **train)
    spec.solver.engine = engine
    return spec


def _assert_engine(trainer: Trainer, engine: str) -> None:
    assert trainer.stats.engine == engine  # the engine asked for is the one that ran


@pytest.mark.parametrize("engine", ENGINES)
def test_pause_holds_the_run_and_resume_continues(engine):
    trainer = Trainer(_spec(engine, iterations=12, eval_every=100))
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
    _assert_engine(trainer, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_while_paused_stops(engine):
    trainer = Trainer(_spec(engine, iterations=50))
    control = TrainControl()
    events = []
    for event in trainer.run(control):
        events.append(event)
        if isinstance(event, ev.Step) and event.iteration == 2:
            control.pause()
            threading.Timer(0.2, control.stop).start()
    assert isinstance(events[-2], ev.Paused)
    assert isinstance(events[-1], ev.Stopped) and events[-1].iteration == 2
    _assert_engine(trainer, engine)


def _stiff_trainer(
    gradient: str = "backprop", scale: float = 40.0, tol: float = 1e-12, engine: str = "auto"
) -> Trainer:
    """An ODE whose vector field is made stiff: each adaptive solve takes seconds."""
    spec = _spec(engine, iterations=5, dtype="float64", batch_size=32)
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


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_lands_inside_a_long_forward_solve(engine):
    trainer = _stiff_trainer(engine=engine)
    before = _weights(trainer)
    latency, events = _stop_latency(trainer, after=0.5)
    assert isinstance(events[-1], ev.Stopped)
    assert not any(isinstance(e, ev.Step) for e in events)  # it was inside the first solve
    assert latency < 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))
    _assert_engine(trainer, engine)


@pytest.mark.parametrize(
    ("gradient", "scale", "tol", "engine"),
    # Through the solver only some evaluations carry a backward hook (torchdiffeq) or the
    # backward pass goes step by step (fast); the adjoint solves an ODE backwards. (Milder
    # for backprop, whose forward pass must end first: ~2 s.)
    [
        ("backprop", 15.0, 1e-10, "torchdiffeq"),
        ("backprop", 15.0, 1e-10, "fast"),
        ("adjoint", 40.0, 1e-12, "torchdiffeq"),
    ],
)
def test_stop_lands_inside_the_backward_pass(gradient, scale, tol, engine):
    trainer = _stiff_trainer(gradient, scale, tol, engine)
    control = TrainControl()
    stamp: dict[str, float] = {}
    original = trainer.stats.backward_phase
    stats = trainer.stats

    def backward_phase():
        # Stop as soon as the first backward pass has made some products.
        def stop() -> None:
            deadline = time.perf_counter() + 30
            while stats.nfe_backward == 0 and time.perf_counter() < deadline:
                time.sleep(0.001)
            stamp["t"] = time.perf_counter()
            control.stop()

        threading.Thread(target=stop, daemon=True).start()
        return original()

    trainer.stats.backward_phase = backward_phase  # type: ignore[method-assign]
    before = _weights(trainer)
    events = list(trainer.run(control))
    latency = time.perf_counter() - stamp["t"]
    assert isinstance(events[-1], ev.Stopped)
    assert trainer.stats.nfe_backward > 0  # the stop arrived during the backward pass
    assert latency < 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))
    _assert_engine(trainer, engine)


def _long_fixed_step_trainer(engine: str, family: str) -> Trainer:
    """Thousands of evaluations per solve: midpoint steps of 6e-4 over a window of the spiral,
    rk4 steps of 1e-2 along the CDE's paths."""
    spec = _spec(engine, family, iterations=5, batch_size=8)
    spec.solver.method, spec.solver.step_size = (
        ("midpoint", 6e-4) if family == "ode" else ("rk4", 1e-2)
    )
    return Trainer(spec)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("family", ["ode", "cde"])
@pytest.mark.parametrize("phase", ["forward", "backward"])
def test_stop_lands_inside_a_long_fixed_step_solve(engine, family, phase):
    trainer = _long_fixed_step_trainer(engine, family)
    before = _weights(trainer)
    control = TrainControl()
    stamp: dict[str, float] = {}
    stats = trainer.stats

    def stop_later() -> None:
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            if (phase == "forward" and stats.nfe_forward > 2000) or stats.nfe_backward > 2000:
                break
            time.sleep(0.001)
        stamp["t"] = time.perf_counter()
        control.stop()

    threading.Thread(target=stop_later, daemon=True).start()
    events = list(trainer.run(control))
    latency = time.perf_counter() - stamp["t"]
    assert isinstance(events[-1], ev.Stopped)
    assert not any(isinstance(e, ev.Step) for e in events)  # inside the first step
    assert (stats.nfe_backward > 0) == (phase == "backward")
    assert latency < 0.1
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer), strict=True))
    _assert_engine(trainer, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_run_goes_on_after_a_stop(engine):
    trainer = Trainer(_spec(engine, iterations=6, eval_every=100))
    control = TrainControl()
    for event in trainer.run(control):
        if isinstance(event, ev.Step) and event.iteration == 2:
            control.stop()
    assert trainer.iteration == 2
    events = list(trainer.run(TrainControl()))
    assert events[0].start_iteration == 2
    assert [e.iteration for e in events if isinstance(e, ev.Step)] == [3, 4, 5, 6]
    _assert_engine(trainer, engine)
