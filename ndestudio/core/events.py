"""Plain events that ``Trainer.run`` yields: floats, strings and numpy arrays only.

They cross threads (the GUI worker) and processes (the CLI's CSV), so they never hold tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Started:
    device: str
    dtype: str
    n_parameters: int
    n_train: int
    n_val: int
    iterations: int
    start_iteration: int = 0
    engine: str = "torchdiffeq"  # what solves the training steps: fast, torchdiffeq, torchsde


@dataclass(frozen=True)
class Step:
    iteration: int
    loss: float
    grad_norm: float
    layer_grad_norms: dict[str, float]
    nfe_forward: int
    nfe_backward: int
    lr: float
    wall_time: float
    step_size_mean: float = float("nan")
    step_size_min: float = float("nan")


@dataclass(frozen=True)
class Snapshot:
    """Observed and predicted (or generated) series for plotting, as numpy arrays.

    ``times``: (T,); ``observed``: (B, T, C) with NaN where nothing was observed;
    ``predicted``: (B', T, C) — predictions for ODEs, generated sample paths for SDEs, and for
    CDEs the readout at the final time repeated as a (B, 1, K) array of class probabilities
    or regression outputs.

    ``generated``: the predicted paths are independent samples of a generative model (SDEs),
    not one prediction per observed series, so that views never pair them by colour.
    """

    times: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray | None = None
    generated: bool = False


@dataclass(frozen=True)
class Eval:
    iteration: int
    val_loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    warning: str | None = None  # e.g. training loss far below validation for a while


@dataclass(frozen=True)
class Paused:
    iteration: int


@dataclass(frozen=True)
class Resumed:
    iteration: int


@dataclass(frozen=True)
class Stopped:
    iteration: int
    reason: str = "stopped by the user"


@dataclass(frozen=True)
class Finished:
    iteration: int
    wall_time: float
    final_loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    # Why the run ended before its planned iterations ("" when it ran them all), e.g. early
    # stopping; and the best evaluation's iteration and validation loss (None: no validation).
    reason: str = ""
    best_iteration: int | None = None
    best_val_loss: float | None = None


@dataclass(frozen=True)
class Tested:
    """The held-out test set scored with the ``weights`` ("best" or "last") after training.

    ``metrics``: loss and the family's metrics (accuracy, rmse …). For classification,
    ``class_names`` in the model's class order, ``per_class_accuracy`` in that order and the
    ``confusion`` matrix (true class × predicted class, counts)."""

    iteration: int
    weights: str
    n_series: int
    metrics: dict[str, float] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    per_class_accuracy: tuple[float, ...] = ()
    confusion: np.ndarray | None = field(default=None, compare=False)  # (an array: by hand)


@dataclass(frozen=True)
class Failed:
    iteration: int
    reason: str
    remedies: tuple[str, ...] = ()
    # A distributed run: the solve of this rank's shard failed, not the others' (they stop
    # when it leaves). Other failures (non-finite global loss, evaluation) reach every rank.
    this_rank_only: bool = False

    @property
    def message(self) -> str:
        if not self.remedies:
            return self.reason
        return self.reason + " Try: " + "; ".join(self.remedies) + "."


Event = Started | Step | Eval | Paused | Resumed | Stopped | Finished | Tested | Failed
