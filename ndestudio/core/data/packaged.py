"""Real datasets that ship inside PyPI packages and load offline (the ``datasets`` extra).

``pip install "ndestudio[datasets]"`` installs aeon (the UEA multivariate classification
sets JapaneseVowels and BasicMotions, stored inside the package) and statsmodels (the yearly
sunspot numbers and the weekly Mauna Loa CO2 record). Both packages are imported only when a
dataset is loaded: they are slow to import and optional.

Every dataset has an official test split:

- the classification sets (CDE models) use their archive's TRAIN/TEST split. Their series sit
  on the grid 0, 1, …, L−1 of sample indices (the times are the sample number, not seconds),
  L the longest series of both splits, so that both splits share one grid; a shorter series
  is NaN after its end. The classes are the archive's labels, numeric ones in numeric order
  ("2" before "10"), others in alphabetical order, numbered the same in both splits.
- the forecasting series (ODE and SDE models) are one long record cut into consecutive,
  non-overlapping segments of a fixed length (an incomplete tail is dropped), each segment a
  series with times in years from its own start. The test split is chronological: the last
  20 % of the segments (the future), the rest train.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.errors import UserError

INSTALL = 'pip install "ndestudio[datasets]"'
SPLITS = ("train", "test")
TEST_SHARE = 0.2  # forecasting series: the last share of the segments is the test split
_WEEK = 7 / 365.25  # one week in years


class PackagedDataError(UserError):
    """A packaged dataset that is unknown, or whose package is not installed."""


@dataclass(frozen=True)
class PackagedDataset:
    """A dataset shipped in ``package``; the counts describe what :func:`load_packaged` gives
    (a test keeps them equal), so that they can be listed without the package."""

    name: str
    title: str
    description: str
    family: str  # "cde": classification; "ode": forecasting, which suits SDE models too
    package: str  # the PyPI package (and import name) that ships the data
    task: str  # "classification" or "forecasting"
    has_test_split: bool
    source: str  # where the data comes from, with a citation
    channel_names: tuple[str, ...]
    class_names: tuple[str, ...]
    n_train: int
    n_test: int
    n_times: int  # observation times per series (the longest series, for classification)

    @property
    def families(self) -> tuple[str, ...]:
        """The model families that can train on it."""
        return ("cde",) if self.family == "cde" else ("ode", "sde")

    @property
    def installed(self) -> bool:
        return package_installed(self.package)


PACKAGED: dict[str, PackagedDataset] = {
    d.name: d
    for d in [
        PackagedDataset(
            name="japanese_vowels",
            title="Japanese Vowels",
            description=(
                "nine male speakers saying the vowel /ae/, 12 LPC cepstrum coefficients per "
                "frame over 7–29 frames; classify the speaker. Official TRAIN/TEST split (270/370 "
                "utterances); times are the frame index, shorter utterances NaN after their end"
            ),
            family="cde",
            package="aeon",
            task="classification",
            has_test_split=True,
            source=(
                "UEA multivariate archive via aeon; M. Kudo, J. Toyama, M. Shimbo, "
                "Multidimensional curve classification using passing-through regions, "
                "Pattern Recognition Letters 20 (1999)"
            ),
            channel_names=tuple(f"lpc{i}" for i in range(1, 13)),
            class_names=tuple(str(i) for i in range(1, 10)),
            n_train=270,
            n_test=370,
            n_times=29,
        ),
        PackagedDataset(
            name="basic_motions",
            title="Basic Motions",
            description=(
                "a smartwatch's 3-D accelerometer and gyroscope for 10 s at 10 Hz (100 "
                "samples); classify standing, walking, running or badminton. Official "
                "TRAIN/TEST split (40/40 recordings); times are the sample index"
            ),
            family="cde",
            package="aeon",
            task="classification",
            has_test_split=True,
            source=(
                "UEA multivariate archive via aeon; A. Bagnall et al., The UEA multivariate "
                "time series classification archive, 2018, arXiv:1811.00075"
            ),
            channel_names=("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
            class_names=("badminton", "running", "standing", "walking"),
            n_train=40,
            n_test=40,
            n_times=100,
        ),
        PackagedDataset(
            name="sunspots",
            title="Yearly sunspots",
            description=(
                "the yearly mean sunspot number 1700–2007 in 14 segments of 22 years (about "
                "two solar cycles; 2008 dropped), times in years from each segment's start; "
                "the test split is the last 3 segments (1942–2007), the future of the 11 "
                "training segments (1700–1941)"
            ),
            family="ode",
            package="statsmodels",
            task="forecasting",
            has_test_split=True,
            source=(
                "statsmodels.datasets.sunspots; Wolf/Zürich sunspot numbers (SIDC, Royal "
                "Observatory of Belgium), as distributed by NOAA"
            ),
            channel_names=("sunactivity",),
            class_names=(),
            n_train=11,
            n_test=3,
            n_times=22,
        ),
        PackagedDataset(
            name="co2",
            title="Mauna Loa CO2",
            description=(
                "weekly atmospheric CO2 (ppm) at Mauna Loa, 1958-07-05 to 2001-05-05, in 43 "
                "segments of 52 weeks, times in years from each segment's start; its 53 "
                "missing weeks stay missing values. The test split is the last 9 segments "
                "(from 1992-05-23), the future of the 34 training segments. The record's first "
                "14 weeks are dropped so that every segment starts with an observed week (the "
                "SDE-GAN needs one), and its incomplete tail of 34 weeks"
            ),
            family="ode",
            package="statsmodels",
            task="forecasting",
            has_test_split=True,
            source=(
                "statsmodels.datasets.co2; C. D. Keeling, T. P. Whorf and the Carbon Dioxide "
                "Research Group, Scripps Institution of Oceanography"
            ),
            channel_names=("co2",),
            class_names=(),
            n_train=34,
            n_test=9,
            n_times=52,
        ),
    ]
}


def package_installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it, unless it already is)."""
    if package in sys.modules:
        return sys.modules[package] is not None
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def packaged_dataset(name: str) -> PackagedDataset:
    """The catalog entry ``name``, or a :class:`PackagedDataError` naming the known ones."""
    if name not in PACKAGED:
        raise PackagedDataError(
            f"packaged dataset {name!r} does not exist; choose one of {', '.join(PACKAGED)}"
        )
    return PACKAGED[name]


def load_packaged(name: str, split: str) -> TimeSeriesDataset:
    """The ``split`` ("train" or "test") of the packaged dataset ``name``.

    Raises :class:`PackagedDataError` for an unknown name or a package that is not
    installed. The arrays are read once per process; each call returns fresh copies.
    """
    entry = packaged_dataset(name)
    if split not in SPLITS:
        raise PackagedDataError(f"split must be 'train' or 'test', got {split!r}")
    _require(entry)
    classes, splits = _load(name)
    times, values, labels = splits[split]
    return TimeSeriesDataset(
        name=name,
        family=entry.family,
        times=times.copy(),
        values=values.copy(),
        channel_names=list(entry.channel_names),
        labels=None if labels is None else labels.copy(),
        class_names=list(classes),
    )


def _require(entry: PackagedDataset) -> None:
    try:
        importlib.import_module(entry.package)
    except ImportError:
        raise PackagedDataError(
            f"dataset {entry.name!r} needs the optional package {entry.package}: {INSTALL}"
        ) from None


_Split = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # times, values, labels
_Loaded = tuple[tuple[str, ...], dict[str, _Split]]  # class names, the splits


@functools.cache  # (an lru_cache without a bound)
def _load(name: str) -> _Loaded:
    """The class names and both splits of ``name`` as (times, values, labels), read once
    per process (read-only arrays)."""
    loaders: dict[str, Callable[[], _Loaded]] = {
        "japanese_vowels": lambda: _aeon("load_japanese_vowels"),
        "basic_motions": lambda: _aeon("load_basic_motions"),
        "sunspots": _sunspots,
        "co2": _co2,
    }
    classes, splits = loaders[name]()
    for times, values, labels in splits.values():
        for array in (times, values, labels):
            if array is not None:
                array.setflags(write=False)
    return classes, splits


def _class_order(labels: list[str]) -> list[str]:
    """Distinct labels, numeric ones in numeric order ("2" before "10"), else as strings."""
    distinct = sorted(set(labels))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def _aeon(loader: str) -> _Loaded:
    """A UEA classification set from aeon: official splits on one shared sample-index grid."""
    import aeon.datasets

    load = getattr(aeon.datasets, loader)
    raw = {split: load(split=split.upper()) for split in SPLITS}
    series = {s: [np.asarray(x, dtype=np.float64) for x in raw[s][0]] for s in SPLITS}
    labels = {s: [str(y) for y in raw[s][1]] for s in SPLITS}
    classes = _class_order(labels["train"] + labels["test"])
    index = {c: i for i, c in enumerate(classes)}
    length = max(x.shape[1] for s in SPLITS for x in series[s])
    times = np.arange(length, dtype=np.float64)
    out: dict[str, _Split] = {}
    for s in SPLITS:
        channels = series[s][0].shape[0]
        values = np.full((len(series[s]), length, channels), np.nan)
        for i, x in enumerate(series[s]):  # x: (channels, own length)
            values[i, : x.shape[1]] = x.T
        out[s] = (times, values, np.array([index[y] for y in labels[s]], dtype=np.int64))
    return tuple(classes), out


def _segments(record: np.ndarray, length: int, step: float) -> _Loaded:
    """``record`` (T,) cut into consecutive segments of ``length`` (the tail dropped), the
    last :data:`TEST_SHARE` of them the test split; times ``step`` apart from 0."""
    n = len(record) // length
    values = record[: n * length].reshape(n, length, 1).astype(np.float64)
    n_test = max(1, round(TEST_SHARE * n))
    times = np.arange(length, dtype=np.float64) * step
    train, test = values[: n - n_test], values[n - n_test :]
    return (), {"train": (times, train, None), "test": (times, test, None)}


def _sunspots() -> _Loaded:
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    return _segments(data["SUNACTIVITY"].to_numpy(dtype=np.float64), 22, 1.0)


CO2_START = 14  # weeks dropped at the start: from 1958-07-05 every segment's first week is observed


def _co2() -> _Loaded:
    from statsmodels.datasets import co2

    data = co2.load_pandas().data
    return _segments(data["co2"].to_numpy(dtype=np.float64)[CO2_START:], 52, _WEEK)
