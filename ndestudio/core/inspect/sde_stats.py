"""The distribution of an SDE's sample paths against the data's: quantile bands per time,
marginal histograms at a time, and the 1-D Wasserstein-1 distance per time and channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def quantile_bands(paths: np.ndarray, levels: Sequence[float] = QUANTILES) -> np.ndarray:
    """Per-time quantiles of sample paths (N, T, C), NaN (missing) ignored: (L, T, C)."""
    return np.nanquantile(np.asarray(paths, dtype=float), list(levels), axis=0)


@dataclass
class Histograms:
    """Marginal histograms at ``time`` (index ``time_index``) per channel, model and data on
    shared ``edges`` (C, bins + 1); ``model``/``data`` (C, bins) are densities."""

    time: float
    time_index: int
    edges: np.ndarray
    model: np.ndarray
    data: np.ndarray


def marginal_histograms(
    model_paths: np.ndarray,
    data_paths: np.ndarray,
    times: np.ndarray,
    time_index: int,
    bins: int = 30,
) -> Histograms:
    """Histograms of both sets of paths (N, T, C) at ``times[time_index]`` over bins shared
    by model and data (spanning both), as densities."""
    channels = model_paths.shape[-1]
    edges = np.zeros((channels, bins + 1))
    model = np.zeros((channels, bins))
    data = np.zeros((channels, bins))
    for c in range(channels):
        a = _finite(model_paths[:, time_index, c])
        b = _finite(data_paths[:, time_index, c])
        both = np.concatenate([a, b])
        lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges[c] = np.linspace(lo, hi, bins + 1)
        if len(a):
            model[c] = np.histogram(a, edges[c], density=True)[0]
        if len(b):
            data[c] = np.histogram(b, edges[c], density=True)[0]
    return Histograms(float(times[time_index]), time_index, edges, model, data)


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """The Wasserstein-1 distance between the empirical distributions of samples ``a`` and
    ``b`` (any sizes): ∫ |F_a − F_b| dx over the merged sorted samples."""
    a = np.sort(_finite(a))
    b = np.sort(_finite(b))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    both = np.sort(np.concatenate([a, b]))
    widths = np.diff(both)
    cdf_a = np.searchsorted(a, both[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, both[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    try:
        from scipy.stats import wasserstein_distance
    except ImportError:  # scipy is optional
        return wasserstein_1d(a, b)
    a, b = _finite(a), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))


def wasserstein_per_time(model_paths: np.ndarray, data_paths: np.ndarray) -> np.ndarray:
    """W1 between the model's and the data's marginals at each time, per channel: (T, C)
    (scipy's ``wasserstein_distance`` when installed, else :func:`wasserstein_1d`)."""
    _, steps, channels = model_paths.shape
    out = np.zeros((steps, channels))
    for i in range(steps):
        for c in range(channels):
            out[i, c] = _distance(model_paths[:, i, c], data_paths[:, i, c])
    return out


@dataclass
class SDEStatistics:
    """Model sample paths and the data's (N, T, C), data units, at ``times``; quantile bands
    (L, T, C) of each at ``levels``; W1 ``distance`` (T, C); ``mean_distance``: its mean
    over time and channels."""

    times: np.ndarray
    model_paths: np.ndarray
    data_paths: np.ndarray
    levels: tuple[float, ...]
    model_bands: np.ndarray
    data_bands: np.ndarray
    distance: np.ndarray
    mean_distance: float

    def histograms(self, time_index: int, bins: int = 30) -> Histograms:
        return marginal_histograms(self.model_paths, self.data_paths, self.times, time_index, bins)

    def to_dict(self) -> dict[str, Any]:
        """The numbers (not the paths), JSON-serialisable."""
        return {
            "times": self.times.tolist(),
            "levels": list(self.levels),
            "model_quantiles": self.model_bands.tolist(),
            "data_quantiles": self.data_bands.tolist(),
            "wasserstein": self.distance.tolist(),
            "mean_wasserstein": self.mean_distance,
            "n_model": int(self.model_paths.shape[0]),
            "n_data": int(self.data_paths.shape[0]),
        }


def compare_paths(
    times: np.ndarray,
    model_paths: np.ndarray,
    data_paths: np.ndarray,
    levels: Sequence[float] = QUANTILES,
) -> SDEStatistics:
    """Bands and distances of model against data paths (N, T, C) at ``times``."""
    distance = wasserstein_per_time(model_paths, data_paths)
    return SDEStatistics(
        times=np.asarray(times, dtype=float),
        model_paths=model_paths,
        data_paths=data_paths,
        levels=tuple(levels),
        model_bands=quantile_bands(model_paths, levels),
        data_bands=quantile_bands(data_paths, levels),
        distance=distance,
        mean_distance=float(np.nanmean(distance)),
    )


def sde_statistics(
    trainer: Trainer,
    n_samples: int = 512,
    *,
    seed: int = 0,
    rows: str = "val",
    levels: Sequence[float] = QUANTILES,
) -> SDEStatistics:
    """``n_samples`` paths of a trained SDE (the SDE-GAN's averaged generator, or the latent
    SDE's prior) against the data's ``rows`` ("val", "train" or "all"; "val" is the training
    series when none are held out)."""
    task: Any = trainer.task
    if not hasattr(task, "sample"):
        raise TypeError(f"a {trainer.spec.model.family} model draws no sample paths")
    model_paths = task.sample(n_samples, seed)
    picked = {"val": task.inspected_rows, "train": task.train_rows}.get(rows)
    if picked is None and rows != "all":
        raise ValueError(f"rows must be 'val', 'train' or 'all', not {rows!r}")
    data = trainer.dataset.values if picked is None else trainer.dataset.values[picked]
    return compare_paths(trainer.dataset.times, model_paths, data, levels)


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).reshape(-1)
    return x[np.isfinite(x)]
