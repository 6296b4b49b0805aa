"""A collection of time series on one shared time grid, NaN marking a missing observation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def validation_count(n: int, val_fraction: float) -> int:
    """How many of ``n`` series (of one class, for a stratified split) validation holds out:
    at least one for a positive ``val_fraction``, none for 0."""
    return max(1, round(val_fraction * n)) if val_fraction > 0 else 0


@dataclass
class TimeSeriesDataset:
    """``values`` (series, times, channels) observed at ``times``; optional labels or targets.

    Irregular sampling is represented on the union of all observation times with NaN where a
    series was not observed. Series that do not share their times (:attr:`shares_times`) are
    solved by an ODE on each one's own times (:meth:`observed_times`), not on the union.
    """

    name: str
    family: str
    times: np.ndarray
    values: np.ndarray
    channel_names: list[str]
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 3:
            raise ValueError(f"values must be (series, times, channels), got {self.values.shape}")
        if self.values.shape[1] != self.times.shape[0]:
            raise ValueError(
                f"{self.values.shape[1]} observation columns but {self.times.shape[0]} times"
            )
        if np.any(np.diff(self.times) <= 0):
            raise ValueError("observation times must be strictly increasing")

    @property
    def n_series(self) -> int:
        return int(self.values.shape[0])

    @property
    def channels(self) -> int:
        return int(self.values.shape[2])

    def observed_times(self) -> np.ndarray:
        """(series, times) booleans: where a series has an observation (any channel)."""
        return ~np.isnan(self.values).all(axis=2)

    @property
    def shares_times(self) -> bool:
        """Every series is observed (in some channel) at every time: one shared time grid."""
        return bool(self.observed_times().all())

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Random (train, validation) indices; stratified by label when there are labels.

        A positive ``val_fraction`` holds out at least one series (of each class); 0 holds
        out none (an empty validation set: every series trains)."""
        rng = np.random.default_rng(seed)
        if self.labels is None:
            order = rng.permutation(self.n_series)
            n_val = validation_count(self.n_series, val_fraction)
            return np.sort(order[n_val:]), np.sort(order[:n_val])
        train, val = [], []
        for label in np.unique(self.labels):
            idx = rng.permutation(np.flatnonzero(self.labels == label))
            n_val = validation_count(len(idx), val_fraction)
            val.append(idx[:n_val])
            train.append(idx[n_val:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))

    def channel_stats(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """NaN-aware per-channel mean and standard deviation over ``rows``."""
        flat = self.values[rows].reshape(-1, self.channels)
        loc = np.nanmean(flat, axis=0)
        scale = np.nanstd(flat, axis=0)
        scale = np.where(scale > 1e-8, scale, 1.0)
        return loc, scale
