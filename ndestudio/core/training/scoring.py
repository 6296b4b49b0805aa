"""Scoring a trained model on a held-out test set: its loss and metrics and, for
classification, the accuracy of each class and the confusion matrix."""

from __future__ import annotations

import dataclasses

import numpy as np

from ndestudio.core import events as ev
from ndestudio.core.data import DataError, TimeSeriesDataset, check_test_data
from ndestudio.core.solvers import Probe
from ndestudio.core.specs import RunSpec
from ndestudio.core.training.tasks import Task


def is_classification(spec: RunSpec) -> bool:
    return spec.model.family == "cde" and spec.model.cde.task == "classification"


def align_to_training(
    test: TimeSeriesDataset, train: TimeSeriesDataset, spec: RunSpec, where: str = "the test set"
) -> TimeSeriesDataset:
    """``test`` with its channels in the training data's order and its labels renumbered
    into the training data's class order (both matched by name); a :class:`DataError` naming
    ``where`` if a model trained on ``train`` cannot score it: other channels, no labels or
    targets, a class never trained, or values the training data would not be allowed."""
    test = _channels_as_trained(test, train, where)
    if spec.model.family == "cde":
        test = _classes_as_trained(test, train, spec, where)
    check_test_data(test, spec, where)
    return test


def _channels_as_trained(
    test: TimeSeriesDataset, train: TimeSeriesDataset, where: str
) -> TimeSeriesDataset:
    if test.channel_names == train.channel_names:
        return test
    if sorted(test.channel_names) == sorted(train.channel_names):  # the same, in another order
        order = [test.channel_names.index(name) for name in train.channel_names]
        return dataclasses.replace(
            test, values=test.values[..., order], channel_names=list(train.channel_names)
        )
    raise DataError(
        f"{where} has channel(s) {', '.join(test.channel_names)} but the model was trained on "
        f"{', '.join(train.channel_names)}; expected the same channels (by name)"
    )


def _classes_as_trained(
    test: TimeSeriesDataset, train: TimeSeriesDataset, spec: RunSpec, where: str
) -> TimeSeriesDataset:
    if is_classification(spec):
        if test.labels is None:
            raise DataError(f"{where} has no class labels, which scoring a classifier needs")
        index = {name: i for i, name in enumerate(train.class_names)}
        names = [test.class_names[int(label)] for label in test.labels]
        unknown = sorted({n for n in names if n not in index})
        if unknown:
            raise DataError(
                f"{where} has series of class {', '.join(repr(n) for n in unknown[:5])}, which "
                f"the model was not trained on (its classes: {', '.join(train.class_names)})"
            )
        labels = np.array([index[n] for n in names], dtype=np.int64)
        return dataclasses.replace(test, labels=labels, class_names=list(train.class_names))
    if test.targets is None:
        raise DataError(f"{where} has no regression targets, which scoring a regression needs")
    assert train.targets is not None
    if test.targets.shape[1] != train.targets.shape[1]:
        raise DataError(
            f"{where} has {test.targets.shape[1]} target(s) per series but the model was "
            f"trained on {train.targets.shape[1]}"
        )
    return test


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def per_class_accuracy(confusion: np.ndarray) -> tuple[float, ...]:
    """Each class's share of series classified correctly (NaN for a class with none)."""
    totals = confusion.sum(axis=1)
    return tuple(
        float(confusion[k, k] / totals[k]) if totals[k] else float("nan")
        for k in range(len(totals))
    )


def score(
    task: Task,
    data: TimeSeriesDataset,
    iteration: int,
    weights: str,
    probe: Probe | None = None,
) -> ev.Tested:
    """``task``'s model (as it stands) on every series of ``data`` (aligned with
    :func:`align_to_training`); call under ``torch.no_grad`` with the model in eval mode."""
    result = task.on_dataset(data).evaluate(probe or Probe())
    metrics = {"loss": result.val_loss, **result.metrics}
    if result.predicted_labels is None or data.labels is None:
        return ev.Tested(iteration, weights, data.n_series, metrics)
    confusion = confusion_matrix(data.labels, result.predicted_labels, len(data.class_names))
    return ev.Tested(
        iteration,
        weights,
        data.n_series,
        metrics,
        class_names=tuple(data.class_names),
        per_class_accuracy=per_class_accuracy(confusion),
        confusion=confusion,
    )
