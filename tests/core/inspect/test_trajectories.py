"""Trajectories from any state: a direct ``solve_ode`` of the model with its own solver,
backward as well as forward, and the true system's where its equations are known."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ndestudio.core.inspect import (
    integrate,
    learned_dynamics,
    trajectories_from,
    true_dynamics,
)
from ndestudio.core.solvers import solve_ode
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training import Trainer
from tests.core.inspect.conftest import ode_spec


def test_trajectory_equals_a_direct_solve_of_the_model(pendulum_trainer):
    dynamics = learned_dynamics(pendulum_trainer)
    assert dynamics.solver == pendulum_trainer.spec.solver  # the model's own solver
    start = np.array([[1.2, -0.4], [0.1, 0.9]])
    path = integrate(dynamics, start, 25.0, n_points=51)  # beyond the 10 s of the data
    model = pendulum_trainer.model
    x0 = torch.as_tensor(start)
    t = torch.linspace(0.0, 25.0, 51, dtype=torch.float64)
    with torch.no_grad():
        ys = solve_ode(model.field, (x0 - model.loc) / model.scale, t, pendulum_trainer.spec.solver)
    direct = (ys * model.scale + model.loc).transpose(0, 1).numpy()
    assert path.states.shape == (2, 51, 2)
    np.testing.assert_allclose(path.states, direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(path.times, t.numpy())
    assert not path.backward and path.failed is None


def test_backward_then_forward_returns_to_the_start(pendulum_trainer):
    tight = dataclasses.replace(
        learned_dynamics(pendulum_trainer), solver=SolverSpec(rtol=1e-9, atol=1e-11)
    )
    start = np.array([0.7, -0.3])
    back = integrate(tight, start, -3.0)
    assert back.backward and back.times[-1] == -3.0
    assert np.linalg.norm(back.states[-1] - start) > 0.1  # it went somewhere
    again = integrate(tight, back.states[-1], 3.0, t0=-3.0)
    np.testing.assert_allclose(again.states[-1], start, atol=1e-6)
    # With the model's own (looser) tolerances, still close.
    own = learned_dynamics(pendulum_trainer)
    there = integrate(own, integrate(own, start, -3.0).states[-1], 3.0, t0=-3.0)
    np.testing.assert_allclose(there.states[-1], start, atol=1e-3)


def test_true_trajectory_reproduces_the_demo_data():
    trainer = Trainer(ode_spec(noise=0.0))
    truth = true_dynamics(trainer)
    assert truth is not None
    data = trainer.dataset
    found = trajectories_from(
        learned_dynamics(trainer),
        data.values[0, 0],
        float(data.times[-1] - data.times[0]),
        truth=truth,
        t0=float(data.times[0]),
        n_points=len(data.times),
    )
    assert found.true_forward is not None and found.true_backward is not None
    np.testing.assert_allclose(found.true_forward.states, data.values[0], atol=1e-4)
    assert found.backward.backward and found.true_backward.backward
    # The learned (untrained) model goes elsewhere.
    assert np.abs(found.forward.states - data.values[0]).max() > 0.1


def test_a_solver_breakdown_comes_back_as_an_empty_trajectory(pendulum_trainer):
    fragile = dataclasses.replace(
        learned_dynamics(pendulum_trainer),
        solver=SolverSpec(rtol=1e-12, atol=1e-14, max_num_steps=3),
    )
    found = trajectories_from(fragile, [0.5, 0.5], 50.0)
    assert found.forward.failed is not None and "max_num_steps" in found.forward.failed
    assert found.forward.states.shape == (0, 2)
    assert found.true_forward is None  # no truth was given
