"""A neural CDE as its series unfold: the hidden state z(t) at every observation time, the
readout applied to it there (the online prediction), and the confusion matrix on the
validation series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ndestudio.core.events import Tested
from ndestudio.core.models import NeuralCDE
from ndestudio.core.solvers import CDEField, control_path, solve_ode
from ndestudio.core.training.scoring import confusion_matrix, per_class_accuracy

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer


@dataclass
class CDEReadout:
    """Series ``rows`` (dataset indices) at the observation ``times`` (T,): the hidden state
    ``hidden`` (B, T, H), the readout ``outputs`` (B, T, K) at each time (logits, or
    normalised regression values), and ``prediction`` (B, T, K): class probabilities, or the
    regression prediction in the targets' units. The last time is the model's answer."""

    rows: np.ndarray
    times: np.ndarray
    hidden: np.ndarray
    outputs: np.ndarray
    prediction: np.ndarray
    classification: bool


def _model(trainer: Trainer, model: NeuralCDE | None) -> NeuralCDE:
    model = model if model is not None else trainer.model  # type: ignore[assignment]
    if not isinstance(model, NeuralCDE):
        raise TypeError(f"a {trainer.spec.model.family} model is not a neural CDE")
    return model


def hidden_states(
    model: NeuralCDE, coeffs: torch.Tensor, times: torch.Tensor, solver: Any
) -> torch.Tensor:
    """z at every observation time (B, T, H): the CDE solved from the first observation
    with ``solver``, stepping onto every knot of the control path as the model does."""
    path = control_path(coeffs, times, model.interpolation)
    knots = path.times
    # Rectilinear paths run over doubled knots: observation k sits at parameter 2k.
    observed = knots[::2] if model.interpolation == "rectilinear" else knots
    z0 = model.initial(path.evaluate(knots[0]))
    field = CDEField(model.func, path, model.hidden, model.channels)
    zs = solve_ode(field, z0, observed, solver, jump_t=knots)
    return zs.transpose(0, 1)


def cde_readout(
    trainer: Trainer, rows: int | Sequence[int] | np.ndarray, *, model: NeuralCDE | None = None
) -> CDEReadout:
    """The hidden path and the readout over time of the dataset's series ``rows`` (one index
    or several) under ``model`` (default: the trainer's; pass a copy of its weights to read
    while it trains)."""
    cde = _model(trainer, model)
    task: Any = trainer.task
    picked = np.atleast_1d(np.asarray(rows, dtype=int))
    was_training = cde.training
    cde.eval()
    try:
        with torch.no_grad():
            zs = hidden_states(cde, task.coeffs[picked], task.times, trainer.spec.solver)
            outputs = cde.readout(zs)
    finally:
        cde.train(was_training)
    if task.classification:
        prediction = torch.softmax(outputs, -1)
    else:
        prediction = outputs * task.tensor(task.target_scale) + task.tensor(task.target_loc)
    return CDEReadout(
        rows=picked,
        times=trainer.dataset.times.copy(),
        hidden=zs.cpu().double().numpy(),
        outputs=outputs.cpu().double().numpy(),
        prediction=prediction.cpu().double().numpy(),
        classification=bool(task.classification),
    )


@dataclass
class Confusion:
    """``matrix`` (K, K): validation series of true class i (row) predicted as j (column);
    ``per_class`` (K,): the share of each class predicted right (NaN for a class absent from
    the validation series); ``accuracy``: the diagonal over the total."""

    class_names: list[str]
    matrix: np.ndarray
    per_class: np.ndarray
    accuracy: float

    @classmethod
    def from_tested(cls, event: Tested) -> Confusion:
        """A classifier's test score (``Tested`` with a confusion matrix) as a Confusion."""
        assert event.confusion is not None
        matrix = np.asarray(event.confusion)
        per_class = np.asarray(event.per_class_accuracy, dtype=float)
        return cls(list(event.class_names), matrix, per_class, event.metrics["accuracy"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "matrix": self.matrix.astype(int).tolist(),
            "per_class_accuracy": [None if np.isnan(v) else float(v) for v in self.per_class],
            "accuracy": self.accuracy,
        }


def validation_confusion(trainer: Trainer, *, model: NeuralCDE | None = None) -> Confusion:
    """The confusion matrix of a classifying CDE on the trainer's validation series (the
    predictions its evaluation scores), or on its training series when none are held out."""
    cde = _model(trainer, model)
    task: Any = trainer.task
    if not task.classification:
        raise TypeError("a regression CDE has no confusion matrix")
    was_training = cde.training
    cde.eval()
    try:
        with torch.no_grad():
            outputs = cde(task.coeffs[task.inspected_rows], task.times, trainer.spec.solver)
    finally:
        cde.train(was_training)
    predicted = outputs.argmax(-1).cpu().numpy()
    labels = trainer.dataset.labels
    assert labels is not None
    n_classes = trainer.dataset.n_classes
    matrix = confusion_matrix(labels[task.inspected_rows], predicted, n_classes)
    return Confusion(
        list(trainer.dataset.class_names),
        matrix,
        np.asarray(per_class_accuracy(matrix)),
        float(np.trace(matrix) / max(1, matrix.sum())),
    )
