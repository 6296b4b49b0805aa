"""The field on a slice: equal to direct calls of the model, in the data's units; the error
against the true field is 0 when the true field stands in for the learned one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ndestudio.core.data.demos import DEMOS, true_field
from ndestudio.core.inspect import (
    Dynamics,
    data_box,
    field_slice,
    learned_dynamics,
    true_dynamics,
)
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training import Trainer
from tests.core.inspect.conftest import ode_spec


def _direct(trainer: Trainer, points: np.ndarray) -> np.ndarray:
    """dx/dt in data units by calling the trainer's own model on normalised states."""
    model = trainer.model
    x = torch.as_tensor(points, dtype=model.loc.dtype)
    with torch.no_grad():
        rate = model.field(torch.tensor(0.0), (x - model.loc) / model.scale) * model.scale
    return rate.double().numpy()


def test_field_grid_equals_direct_calls_of_the_model(pendulum_trainer):
    dynamics = learned_dynamics(pendulum_trainer)
    sliced = field_slice(dynamics, ((-3.0, 2.0), (-1.0, 1.5)), n=(7, 5))
    assert sliced.xs.shape == (7,) and sliced.ys.shape == (5,) and sliced.u.shape == (5, 7)
    # Row i, column j is the state (xs[j], ys[i]).
    assert sliced.points[2, 3].tolist() == [sliced.xs[3], sliced.ys[2]]
    expected = _direct(pendulum_trainer, sliced.points)
    np.testing.assert_allclose(sliced.u, expected[..., 0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sliced.v, expected[..., 1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sliced.speed, np.hypot(expected[..., 0], expected[..., 1]))
    # The model really works in normalised units: loc/scale are not the identity here.
    assert not np.allclose(dynamics.scale.numpy(), 1.0)


def test_field_of_a_float32_model_is_inspected_in_float64_copy():
    trainer = Trainer(ode_spec(dtype="float32"))
    dynamics = learned_dynamics(trainer)
    assert dynamics.dtype == torch.float64
    assert next(trainer.model.parameters()).dtype == torch.float32  # the model is untouched
    sliced = field_slice(dynamics, ((-2.0, 2.0), (-1.0, 1.0)), n=6)
    np.testing.assert_allclose(sliced.rates, _direct(trainer, sliced.points), rtol=1e-5, atol=1e-6)


def test_slice_of_a_three_dimensional_state_holds_the_others_at_the_data_mean():
    trainer = Trainer(ode_spec("lorenz"))
    dynamics = learned_dynamics(trainer)
    sliced = field_slice(dynamics, ((-10.0, 10.0), (5.0, 40.0)), n=4, axes=(0, 2))
    loc = trainer.task.loc
    assert np.allclose(sliced.points[..., 1], loc[1])
    assert np.allclose(sliced.state, loc)
    expected = _direct(trainer, sliced.points)
    np.testing.assert_allclose(sliced.u, expected[..., 0], rtol=1e-12)
    np.testing.assert_allclose(sliced.v, expected[..., 2], rtol=1e-12)
    held = field_slice(dynamics, ((-1.0, 1.0), (-1.0, 1.0)), n=3, axes=(1, 2), state=[4, 0, 0])
    assert np.all(held.points[..., 0] == 4.0)
    with pytest.raises(ValueError):
        field_slice(dynamics, ((0, 1), (0, 1)), axes=(1, 1))


def test_error_is_zero_when_the_true_field_is_injected_as_the_learned_one(pendulum_trainer):
    truth = true_dynamics(pendulum_trainer)
    assert truth is not None
    task = pendulum_trainer.task
    fn = true_field("pendulum")
    assert fn is not None
    injected = Dynamics.from_function(fn, task.loc, task.scale, SolverSpec())
    sliced = field_slice(injected, ((-4.0, 4.0), (-2.0, 2.0)), n=9, truth=truth)
    assert sliced.error is not None and sliced.relative_error is not None
    assert np.all(sliced.error == 0.0)
    assert np.isnan(sliced.relative_error[4, 4])  # at the equilibrium (0, 0): |f| = 0
    assert np.nanmax(sliced.relative_error) == 0.0
    assert sliced.error_summary() == {
        "mean_abs_error": 0.0,
        "max_abs_error": 0.0,
        "relative_error": 0.0,
    }
    # ... and equals the known shift when the "learned" field is the true one plus c.
    shift = torch.tensor([0.3, -0.4], dtype=torch.float64)
    shifted = Dynamics.from_function(lambda y: fn(y) + shift, task.loc, task.scale, SolverSpec())
    off = field_slice(shifted, ((-4.0, 4.0), (-2.0, 2.0)), n=8, truth=truth)  # misses (0, 0)
    assert off.error is not None
    np.testing.assert_allclose(off.error, 0.5, rtol=1e-12)
    norm = np.linalg.norm(off.true_rates, axis=-1)
    np.testing.assert_allclose(off.relative_error, 0.5 / norm, rtol=1e-12)


def test_true_field_values_and_the_learned_fields_error(pendulum_trainer):
    truth = true_dynamics(pendulum_trainer)
    assert truth is not None
    rate = truth.rate(torch.tensor([[1.0, 2.0]], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(rate, [[2.0, -math.sin(1.0) - 0.5]], rtol=1e-14)
    learned = learned_dynamics(pendulum_trainer)
    box = data_box(pendulum_trainer.dataset.values)
    sliced = field_slice(learned, box, n=5, truth=truth)
    assert sliced.true_u is not None and sliced.true_v is not None
    np.testing.assert_allclose(sliced.true_u, sliced.points[..., 1], rtol=1e-12)  # dθ/dt = ω
    expected = np.linalg.norm(sliced.rates - sliced.true_rates, axis=-1)
    np.testing.assert_allclose(sliced.error, expected)
    assert sliced.error.max() > 0  # an untrained model is wrong


def test_true_fields_are_known_exactly_for_the_ode_demos():
    known = {name for name in DEMOS if true_field(name) is not None}
    assert known == {"spiral", "lotka_volterra", "pendulum", "van_der_pol", "lorenz"}
    assert {DEMOS[name].family for name in known} == {"ode"}
    lv = true_field("lotka_volterra")
    assert lv is not None
    np.testing.assert_allclose(lv(torch.tensor([2.0, 1.0], dtype=torch.float64)), [1.0, -1.0])


def test_data_box_covers_the_observations_with_a_margin():
    values = np.array([[[0.0, -1.0], [2.0, 1.0], [np.nan, 3.0]]])
    (x0, x1), (y0, y1) = data_box(values, margin=0.1)
    assert (x0, x1) == pytest.approx((-0.2, 2.2))
    assert (y0, y1) == pytest.approx((-1.4, 3.4))
