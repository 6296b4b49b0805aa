"""Checks of a dataset against a run before training: bad data is named as bad data.

Without them bad data surfaces later as something else: an infinite value as "NaN loss", a
channel that is never observed as "the learned vector field became stiff", too few series
as a run that "finishes" with loss 0 and an RMSE of NaN. :func:`check_training_data` raises
:class:`DataError`, naming the dataset and precisely what is wrong, before any model is built.

Series are numbered from 1 in the dataset's order (for a file: the order in which each series
first appears).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset, validation_count
from ndestudio.core.errors import UserError
from ndestudio.core.specs import RunSpec

# Headroom below the dtype's largest number: a sum of this many squared deviations from the
# mean (a variance, a mean squared error in the data's units) must stay finite.
SUM_HEADROOM = 1e8
# Headroom for the values themselves: the data's mean is stored in the model's dtype, and
# predictions are scaled back into the data's units.
VALUE_HEADROOM = 1e4
_SHOWN = 5  # the most series, classes or channels a message lists


class DataError(UserError):
    """A dataset that cannot train the chosen model; the message names the dataset and why."""


def magnitude_bounds(dtype: str) -> tuple[float, float]:
    """(largest |value - channel mean|, largest |value|) that training in ``dtype`` allows:
    sqrt(max / 1e8) and max / 1e4 (about 1.8e15 and 3.4e34 in float32, 1.3e150 and 1.8e304
    in float64)."""
    top = float(np.finfo(_np_dtype(dtype)).max)
    return float(np.sqrt(top / SUM_HEADROOM)), top / VALUE_HEADROOM


def check_training_data(dataset: TimeSeriesDataset, spec: RunSpec) -> None:
    """Raise :class:`DataError` if ``dataset`` cannot train ``spec``'s model; else return."""
    with np.errstate(all="ignore"):
        data = _Data(dataset, spec)
        _check_grid(data)
        _check_infinite(data)
        _check_task_inputs(data)
        _check_never_observed(data)
        train_rows = _check_split(data)
        _check_training_channels(data, train_rows)
        _check_observations(data)
        _check_window(data)
        _check_engine(data)
        _check_magnitudes(data, train_rows)


def check_test_data(dataset: TimeSeriesDataset, spec: RunSpec, where: str) -> None:
    """Raise :class:`DataError` naming ``where`` if ``dataset`` cannot be scored as a test set
    of ``spec``'s model: no series or times, infinite values or targets, missing labels or
    targets, an ODE series with fewer than two observations. (Unlike training data it may
    hold one class, or few series.)"""
    with np.errstate(all="ignore"):
        data = _Data(dataset, spec)
        data.where = where
        _check_grid(data)
        _check_infinite(data)
        _check_task_inputs(data)
        if data.family == "ode":
            _check_observations(data)


def _np_dtype(dtype: str) -> type[np.floating]:
    return np.float32 if dtype == "float32" else np.float64


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _series(rows: np.ndarray, total: int) -> str:
    """'series 3 (1 of 40) has' / 'series 3, 7 (2 of 40) have' for 0-based rows."""
    verb = "has" if len(rows) == 1 else "have"
    return f"series {_listed([str(int(r) + 1) for r in rows])} ({len(rows)} of {total}) {verb}"


def _train_count(n: int, val_fraction: float) -> int:
    """Training series out of ``n``, exactly as :meth:`TimeSeriesDataset.split` counts."""
    return n - validation_count(n, val_fraction)


def _needed(val_fraction: float) -> str:
    """How many series leave one for training after the split, in words."""
    for n in range(2, 100_000):
        if _train_count(n, val_fraction) >= 1:
            return f"at least {n} are needed"
    return "a validation fraction below 1 is needed"


@dataclass
class _Data:
    """The dataset and run under check, with what the checks share."""

    ds: TimeSeriesDataset
    spec: RunSpec

    def __post_init__(self) -> None:
        ds, spec = self.ds, self.spec
        if spec.data.source == "file" and spec.data.path:
            path = spec.data.path
            self.where = path if ds.name and ds.name in path else f"{path} ({ds.name!r})"
        else:
            self.where = f"dataset {ds.name!r}"
        self.family = spec.model.family
        self.classification = self.family == "cde" and spec.model.cde.task == "classification"
        self.regression = self.family == "cde" and not self.classification
        self.values = np.asarray(ds.values, dtype=np.float64)
        self.times = np.asarray(ds.times, dtype=np.float64)
        self.n = int(self.values.shape[0])
        channels = self.values.shape[2]
        given = list(ds.channel_names)[:channels]
        self.names = given + [f"channel {c + 1}" for c in range(len(given), channels)]
        self.labels = None if ds.labels is None else np.asarray(ds.labels)
        self.targets = None if ds.targets is None else np.asarray(ds.targets, dtype=np.float64)

    def error(self, message: str) -> DataError:
        return DataError(f"{self.where}: {message}")

    def cell(self, s: int, k: int, c: int) -> str:
        return f"series {s + 1}, time {self.times[k]:g}, channel {self.names[c]!r}"


def _check_grid(d: _Data) -> None:
    n_times, channels = d.values.shape[1:]
    if d.n == 0:
        raise d.error("the dataset holds no series")
    if channels == 0:
        raise d.error("the dataset has no value channels")
    if n_times < 2:
        raise d.error(f"{n_times} observation time(s); at least two distinct times are needed")
    if not np.isfinite(d.times).all():
        k = int(np.flatnonzero(~np.isfinite(d.times))[0])
        raise d.error(f"observation time {k + 1} is {d.times[k]}; expected finite times")
    dtype = d.spec.train.dtype
    cast = d.times.astype(_np_dtype(dtype))
    if not np.isfinite(cast).all():
        k = int(np.flatnonzero(~np.isfinite(cast))[0])
        raise d.error(
            f"the time {d.times[k]:g} is too large for {dtype}; expected times of at most "
            f"{float(np.finfo(_np_dtype(dtype)).max):.3g} (rescale the times)"
        )
    same = np.flatnonzero(np.diff(cast) <= 0)
    if len(same):
        k = int(same[0])
        raise d.error(
            f"the times {d.times[k]:.17g} and {d.times[k + 1]:.17g} are the same number in "
            f"{dtype} ({len(same)} such pair(s)); expected times that {dtype} tells apart "
            "(subtract the start time, rescale the times, or train in float64)"
        )


def _check_infinite(d: _Data) -> None:
    infinite = np.argwhere(np.isinf(d.values))
    if len(infinite):
        s, k, c = (int(i) for i in infinite[0])
        raise d.error(
            f"{len(infinite)} infinite value(s), the first {d.values[s, k, c]} at "
            f"{d.cell(s, k, c)}; expected finite numbers (NaN or an empty cell marks a "
            "missing value)"
        )
    if d.targets is not None and np.isinf(d.targets).any():
        rows = np.unique(np.argwhere(np.isinf(d.targets))[:, 0])
        raise d.error(
            f"{_series(rows, d.n)} an infinite regression target; expected finite targets"
        )


def _check_task_inputs(d: _Data) -> None:
    """The labels a classifier needs, the targets a regression needs, in the right shape."""
    if d.classification and d.labels is None:
        raise d.error(
            "the dataset has no class labels (a 'label' column) to classify; add labels or "
            "set the CDE task to regression"
        )
    if d.labels is not None:
        if d.labels.shape != (d.n,):
            raise d.error(f"labels of shape {d.labels.shape} for {d.n} series; expected one each")
        if not np.issubdtype(d.labels.dtype, np.integer):
            raise d.error(f"class labels must be class numbers, got {d.labels.dtype}")
        out = np.flatnonzero((d.labels < 0) | (d.labels >= d.ds.n_classes))
        if len(out):
            raise d.error(
                f"{_series(out, d.n)} a class number outside the dataset's {d.ds.n_classes} classes"
            )
    if d.regression:
        if d.targets is None:
            raise d.error(
                "the dataset has no regression targets (columns whose names start with "
                "'target'); add targets or set the CDE task to classification"
            )
        if d.targets.ndim != 2 or d.targets.shape[0] != d.n or d.targets.shape[1] == 0:
            raise d.error(
                f"regression targets of shape {d.targets.shape}; expected a row of targets for "
                f"each of the {d.n} series"
            )
        missing = np.flatnonzero(np.isnan(d.targets).any(axis=1))
        if len(missing):
            raise d.error(
                f"{_series(missing, d.n)} no regression target (NaN); expected a target for "
                "every series"
            )


def _check_never_observed(d: _Data) -> None:
    observed = ~np.isnan(d.values)
    never = [repr(d.names[c]) for c in range(len(d.names)) if not observed[:, :, c].any()]
    if never:
        raise d.error(
            f"channel {_listed(never)} is never observed (every value is missing); expected "
            "values in every channel (remove the column or fill it in)"
        )


def _check_split(d: _Data) -> np.ndarray:
    """The training rows of the run's split, once the split is sure to leave some."""
    vf = d.spec.data.val_fraction
    if d.labels is None:
        if _train_count(d.n, vf) < 1:
            n_val = min(d.n, validation_count(d.n, vf))
            raise d.error(
                f"{d.n} series {'is' if d.n == 1 else 'are'} too few to split into training "
                f"and validation: validation fraction {vf:g} puts {n_val} in validation and "
                f"leaves no training series; {_needed(vf)}"
            )
    else:
        classes, counts = np.unique(d.labels, return_counts=True)
        names = [_class_name(d.ds, int(c)) for c in classes]
        trained = [_train_count(int(c), vf) for c in counts]
        if d.classification:
            if len(classes) < 2:
                raise d.error(
                    f"every series is of class {names[0]!r}; classification needs series of "
                    "at least two classes"
                )
            short = [f"{names[i]!r} ({counts[i]} series)" for i, t in enumerate(trained) if t < 1]
            if short:
                raise d.error(
                    f"too few series of class {_listed(short)} to split into training and "
                    f"validation: validation fraction {vf:g} and the split by class put them "
                    f"all in validation, leaving no training series of the class; "
                    f"{_needed(vf)} per class"
                )
        elif sum(trained) < 1:
            raise d.error(
                f"{d.n} series in {len(classes)} class{'' if len(classes) == 1 else 'es'} are "
                f"too few to split into training and validation: validation fraction {vf:g} "
                "and the split by class put them all in validation, leaving no training "
                f"series; {_needed(vf)} in one class"
            )
    train_rows, _ = d.ds.split(vf, d.spec.data.seed)
    return train_rows


def _check_training_channels(d: _Data, train_rows: np.ndarray) -> None:
    observed = ~np.isnan(d.values[train_rows])
    unseen = [repr(d.names[c]) for c in range(len(d.names)) if not observed[:, :, c].any()]
    if unseen:
        raise d.error(
            f"channel {_listed(unseen)} is observed only in the validation series (the "
            f"{len(train_rows)} training series of {d.n} never observe it), so it cannot be "
            "normalised; expected values in the training series too (more series, or another "
            "data seed)"
        )


def _check_observations(d: _Data) -> None:
    observed = ~np.isnan(d.values)
    if d.family in ("ode", "sde"):
        few = np.flatnonzero(observed.any(axis=2).sum(axis=1) < 2)
        if len(few):
            model = "an ODE" if d.family == "ode" else "an SDE"
            raise d.error(
                f"{_series(few, d.n)} fewer than 2 observed times; {model} model needs at "
                "least 2 per series (a start and one to fit)"
            )
    if d.family == "sde" and d.spec.model.sde.objective != "latent_sde":
        late = np.argwhere(~observed[:, 0, :])
        if len(late):
            s, c = (int(i) for i in late[0])
            raise d.error(
                f"{_series(np.unique(late[:, 0]), d.n)} missing values at the first time "
                f"{d.times[0]:g} (the first: series {s + 1}, channel {d.names[c]!r}); the "
                "SDE-GAN's critic starts every path there, so expected every channel of every "
                "series observed at the first time (fill them in, or use the latent SDE "
                "objective)"
            )


def _check_window(d: _Data) -> None:
    window, n_times = d.spec.train.window, d.values.shape[1]
    if d.family != "ode" or window is None:
        return
    counts = (~np.isnan(d.values).all(axis=2)).sum(axis=1)
    if counts.min() == n_times:  # one shared grid
        if not 2 <= window <= n_times:
            raise d.error(
                f"the training window ({window}) must be between 2 and the dataset's "
                f"{n_times} observation times"
            )
        return
    most = int(counts.max())
    if not 2 <= window <= most:
        raise d.error(
            f"the training window ({window}) must be between 2 and {most}: a window on "
            "irregularly sampled series counts each series' own observations, and its "
            f"series have {_count_range(counts)} each ({n_times} distinct times in all)"
        )


def _check_engine(d: _Data) -> None:
    """The fast engine solves a batch on one time grid; irregularly sampled ODE series are
    each solved on their own times, which only torchdiffeq does ("auto" picks it)."""
    if d.family != "ode" or d.spec.solver.engine != "fast":
        return
    if not (~np.isnan(d.values).all(axis=2)).all():
        raise d.error(
            "its series are sampled at times of their own, and the fast engine solves only "
            "series on one shared time grid: choose engine auto or torchdiffeq"
        )


def _count_range(counts: np.ndarray) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"{low} observations" if low == high else f"{low} to {high} observations"


def _check_magnitudes(d: _Data, train_rows: np.ndarray) -> None:
    """Values (and targets) whose squares, centred on the training mean, fit the dtype."""
    dtype = d.spec.train.dtype
    spread, largest = magnitude_bounds(dtype)
    advice = "rescale the data" + (" or train in float64" if dtype == "float32" else "")
    flat = d.values[train_rows].reshape(-1, d.values.shape[2])
    loc = np.nanmean(flat, axis=0)
    deviation = np.nan_to_num(np.abs(d.values - loc), nan=0.0, posinf=np.inf)
    size = np.nan_to_num(np.abs(d.values), nan=0.0)
    for c, name in enumerate(d.names):
        if not (deviation[:, :, c].max() <= spread and size[:, :, c].max() <= largest):
            worst = deviation[:, :, c] if deviation[:, :, c].max() > spread else size[:, :, c]
            s, k = (int(i) for i in np.unravel_index(np.argmax(worst), worst.shape))
            raise d.error(
                f"channel {name!r} holds values too large to train on in {dtype}: "
                f"{d.values[s, k, c]:.6g} at {d.cell(s, k, c)}, with the training series' "
                f"mean {loc[c]:.6g}; expected values within {spread:.2g} of their channel's "
                f"mean and at most {largest:.2g} in magnitude, so that their squares stay "
                f"finite ({advice})"
            )
    if d.regression and d.targets is not None:
        centred = np.abs(d.targets - d.targets[train_rows].mean(axis=0))
        rows = np.unique(np.argwhere((centred > spread) | (np.abs(d.targets) > largest))[:, 0])
        if len(rows):
            raise d.error(
                f"{_series(rows, d.n)} a regression target too large to train on in {dtype}; "
                f"expected targets within {spread:.2g} of their mean and at most "
                f"{largest:.2g} in magnitude ({advice.replace('data', 'targets')})"
            )


def _class_name(ds: TimeSeriesDataset, label: int) -> str:
    return ds.class_names[label] if 0 <= label < len(ds.class_names) else str(label)
