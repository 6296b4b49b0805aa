"""A learning check: after a short run on the damped pendulum demo, the learned field has a
stable focus within 0.05 of the true equilibrium (0, 0), its eigenvalues within 0.2 of the
true -1/8 ± 0.992i, and no other equilibrium in the data's range.

Settings (~2-6 s a run on one CPU core): 32 series of 50 observations over 10 s (noise
0.01); an MLP of 2 × 32 tanh units; dopri5 at rtol 1e-3; Adam at 1e-2 with a cosine
schedule, 200 steps on batches of 16 windows of 10 observations; float32.

Seeds tried (training seed; data seed 0), equilibrium found and eigenvalues:
0 (0.007, -0.000) -0.137 ± 0.992i · 1 (-0.002, -0.001) -0.130 ± 1.056i ·
2 (0.001, -0.004) -0.147 ± 1.063i · 3 (0.004, -0.010) -0.130 ± 1.018i ·
4 (-0.001, -0.004) -0.126 ± 1.008i · 5 (0.004, -0.000) -0.139 ± 1.020i:
all stable foci, at most 0.011 from (0, 0). (At 150 steps, seeds 0-5: at most 0.011 too.)
Tested here: seeds 0 and 3 (the farthest).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndestudio.core import events as ev
from ndestudio.core.inspect import find_equilibria, learned_dynamics
from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer

DISTANCE = 0.05
EIGENVALUE_ERROR = 0.2
TRUE_EIGENVALUE = complex(-0.125, math.sqrt(1 - 1 / 64))


def pendulum_spec(seed: int) -> RunSpec:
    return RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=32, depth=2, activation="tanh")),
        solver=SolverSpec(method="dopri5", rtol=1e-3, atol=1e-6),
        data=DataSpec(name="pendulum", n_series=32, n_times=50, noise=0.01, seed=0),
        train=TrainSpec(
            iterations=200,
            batch_size=16,
            window=10,
            lr=1e-2,
            schedule="cosine",
            eval_every=200,
            seed=seed,
        ),
    )


@pytest.mark.parametrize("seed", [0, 3])
def test_learned_pendulum_has_a_stable_focus_at_the_origin(seed):
    trainer = Trainer(pendulum_spec(seed))
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    found = find_equilibria(learned_dynamics(trainer), [(-2.5, 2.5), (-1.5, 1.5)], seeds=8)
    assert len(found) == 1, [(e.point, e.kind) for e in found]
    (eq,) = found
    assert eq.kind == "stable focus"
    assert np.linalg.norm(eq.point) < DISTANCE
    upper = eq.eigenvalues[np.argmax(eq.eigenvalues.imag)]
    assert abs(upper - TRUE_EIGENVALUE) < EIGENVALUE_ERROR
