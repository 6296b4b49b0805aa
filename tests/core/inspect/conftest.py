"""Small trainers shared by the inspection tests (built once per session: seconds)."""

from __future__ import annotations

import pytest

from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def ode_spec(name: str = "pendulum", dtype: str = "float64", **data: object) -> RunSpec:
    """An untrained-size neural ODE on demo ``name`` (few series: fast to generate)."""
    return RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=16, depth=2, activation="tanh")),
        solver=SolverSpec(method="dopri5", rtol=1e-6, atol=1e-8),
        data=DataSpec(name=name, n_series=8, n_times=20, **data),  # type: ignore[arg-type]
        train=TrainSpec(iterations=1, batch_size=4, dtype=dtype),
    )


@pytest.fixture(scope="session")
def pendulum_trainer() -> Trainer:
    """A neural ODE (random weights, float64) on the pendulum demo."""
    return Trainer(ode_spec())


@pytest.fixture(scope="session")
def cde_trainer() -> Trainer:
    """A neural CDE classifier trained 20 steps on the spirals (rk4, fixed steps)."""
    trainer = Trainer(small_spec("cde"))
    list(trainer.run())
    return trainer


@pytest.fixture(scope="session")
def sde_trainer() -> Trainer:
    """An SDE-GAN trained 4 steps on Brownian motion."""
    trainer = Trainer(small_spec("sde", iterations=4))
    list(trainer.run())
    return trainer
