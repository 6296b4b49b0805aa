"""CDE readouts: the confusion matrix sums to the validation size and its diagonal over the
total is the accuracy the task's evaluation reports; the readout at the final time is the
task's prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndestudio.core.inspect import cde_readout, confusion_matrix, validation_confusion
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def _task_outputs(trainer: Trainer, rows: np.ndarray) -> torch.Tensor:
    task = trainer.task
    with torch.no_grad():
        return trainer.model(task.coeffs[rows], task.times, trainer.spec.solver)


def test_confusion_matrix_matches_the_reported_accuracy(cde_trainer):
    confusion = validation_confusion(cde_trainer)
    n_val = len(cde_trainer.task.val_rows)
    assert confusion.matrix.shape == (2, 2)
    assert confusion.matrix.sum() == n_val
    accuracy = cde_trainer.evaluate().metrics["accuracy"]
    assert np.trace(confusion.matrix) / n_val == pytest.approx(accuracy)
    assert confusion.accuracy == pytest.approx(accuracy)
    labels = cde_trainer.dataset.labels[cde_trainer.task.val_rows]
    np.testing.assert_array_equal(confusion.matrix.sum(axis=1), np.bincount(labels, minlength=2))
    per_class = np.diag(confusion.matrix) / confusion.matrix.sum(axis=1)
    np.testing.assert_allclose(confusion.per_class, per_class)
    assert confusion.to_dict()["class_names"] == ["clockwise", "anticlockwise"]


def test_confusion_of_an_untrained_model_has_errors_off_the_diagonal():
    trainer = Trainer(small_spec("cde"))
    confusion = validation_confusion(trainer)
    assert confusion.accuracy == pytest.approx(trainer.evaluate().metrics["accuracy"])
    assert confusion.matrix.sum() == len(trainer.task.val_rows)
    assert confusion.matrix[0, 1] + confusion.matrix[1, 0] > 0  # (seen: 10 of 12 wrong)


def test_confusion_counts():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_readout_at_the_final_time_is_the_task_prediction(cde_trainer):
    rows = cde_trainer.task.val_rows[:5]
    readout = cde_readout(cde_trainer, rows)
    times = cde_trainer.dataset.times
    assert readout.hidden.shape == (5, len(times), 8)
    assert readout.prediction.shape == (5, len(times), 2)
    outputs = _task_outputs(cde_trainer, rows)
    np.testing.assert_allclose(readout.outputs[:, -1], outputs.double().numpy(), atol=1e-5)
    np.testing.assert_allclose(readout.prediction.sum(-1), 1.0, atol=1e-6)  # probabilities
    # The first time: the readout of the initial hidden state ζ(x₀).
    task = cde_trainer.task
    with torch.no_grad():
        z0 = cde_trainer.model.initial(task.coeffs[rows][:, 0, :3])
    np.testing.assert_allclose(readout.hidden[:, 0], z0.double().numpy(), atol=1e-6)
    one = cde_readout(cde_trainer, int(rows[0]))
    np.testing.assert_allclose(one.prediction[0], readout.prediction[0], atol=1e-6)


@pytest.mark.parametrize("interpolation", ["hermite", "rectilinear"])
def test_readout_with_an_adaptive_solver_and_other_paths(interpolation):
    spec = small_spec("cde")
    spec.model.cde.interpolation = interpolation
    spec.solver = SolverSpec(method="dopri5", rtol=1e-4, atol=1e-6)
    trainer = Trainer(spec)
    rows = trainer.task.val_rows[:3]
    readout = cde_readout(trainer, rows)
    assert readout.hidden.shape[1] == len(trainer.dataset.times)
    expected = torch.softmax(_task_outputs(trainer, rows), -1).double().numpy()
    np.testing.assert_allclose(readout.prediction[:, -1], expected, atol=1e-5)


def test_regression_readout_is_in_the_targets_units():
    spec = small_spec("cde")
    spec.model.cde.task = "regression"
    trainer = Trainer(spec)
    rows = trainer.task.val_rows[:4]
    readout = cde_readout(trainer, rows)
    task = trainer.task
    expected = _task_outputs(trainer, rows).double().numpy() * task.target_scale + task.target_loc
    assert not readout.classification
    np.testing.assert_allclose(readout.prediction[:, -1], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError):
        validation_confusion(trainer)


def test_without_validation_series_the_training_series_are_inspected():
    from ndestudio.core.inspect import inspect_run

    spec = small_spec("cde", iterations=2, eval_every=2)
    spec.data.val_fraction = 0.0
    trainer = Trainer(spec)
    list(trainer.run())
    task = trainer.task
    assert len(task.val_rows) == 0 and list(task.inspected_rows) == list(task.train_rows)
    confusion = validation_confusion(trainer)
    assert confusion.matrix.sum() == spec.data.n_series
    predicted = _task_outputs(trainer, task.train_rows).argmax(-1).numpy()
    expected = confusion_matrix(trainer.dataset.labels[task.train_rows], predicted, 2)
    np.testing.assert_array_equal(confusion.matrix, expected)
    report = inspect_run(trainer, grid=4, seeds=1, n_samples=8)
    assert sum(map(sum, report["confusion"]["matrix"])) == spec.data.n_series
