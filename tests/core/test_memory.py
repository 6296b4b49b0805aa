"""Training keeps memory flat: no step's autograd graph outlives the step.

The solver's backward counter once held the last step's autograd nodes while their hooks held
the counter: a reference cycle through C++ that Python's collector cannot break, so every
step's graph stayed alive (~0.3–6 MB a step). ``benchmarks/soak.py`` measures long runs.
"""

from __future__ import annotations

import gc

import pytest

from ndestudio.core.solvers.stats import BackwardCounter
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def _live_counters() -> int:
    gc.collect()
    return sum(isinstance(o, BackwardCounter) for o in gc.get_objects())


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_no_solve_outlives_its_training_step(family):
    before = _live_counters()
    trainer = Trainer(small_spec(family, iterations=30, eval_every=10))
    events = list(trainer.run())
    assert trainer.iteration == 30, events[-1]
    # Each of the 30 steps made at least one ODE/CDE solve with a counter (the SDE-GAN's
    # critic is a CDE); none of them may still be alive.
    assert _live_counters() - before == 0


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_resident_memory_stays_flat_over_hundreds_of_steps(family):
    """Bound: under 12 MB between step 50 and step 200 (the leak added 43, 130 and 175 MB)."""
    trainer = Trainer(small_spec(family, iterations=200, eval_every=50))
    rss: dict[int, float] = {}
    for event in trainer.run():
        iteration = getattr(event, "iteration", None)
        if iteration in (50, 200) and iteration not in rss:
            gc.collect()
            rss[iteration] = _rss_mb()
    assert trainer.iteration == 200
    assert rss[200] - rss[50] < 12.0, f"RSS grew {rss[200] - rss[50]:.1f} MB in 150 steps"
