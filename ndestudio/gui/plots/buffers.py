"""Preallocated, growing numpy buffers for streaming curves (amortised O(1) appends)."""

from __future__ import annotations

import math

import numpy as np


class Series:
    """x and y values appended one at a time; ``x``/``y`` are views of the filled part.

    At most ``limit`` points are held, so that a run of hours keeps memory flat: a full
    buffer is halved by keeping the lowest and the highest point of every four (in order),
    the envelope that peak downsampling would draw anyway. Old stretches of a long run are
    thereby held at a coarser resolution; the newest points are always all there.
    """

    def __init__(self, capacity: int = 1024, limit: int = 1 << 16) -> None:
        self.limit = max(limit, 8)
        self._x = np.empty(min(capacity, self.limit))
        self._y = np.empty(min(capacity, self.limit))
        self.n = 0
        Series.clear(self)

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            if self.n >= self.limit:
                self._compact()
            else:
                self._x = np.resize(self._x, min(2 * len(self._x), self.limit))
                self._y = np.resize(self._y, min(2 * len(self._y), self.limit))
        self._x[self.n] = x
        self._y[self.n] = y
        self.n += 1
        self.x_max = max(self.x_max, x)
        if math.isfinite(y):
            self.y_min = min(self.y_min, y)
            self.y_max = max(self.y_max, y)
            if y > 0:
                self.y_min_positive = min(self.y_min_positive, y)

    def _compact(self) -> None:
        """Halve the points: each group of four keeps its lowest and highest, in x order."""
        whole = self.n - self.n % 4
        xs = self._x[:whole].reshape(-1, 4)
        ys = self._y[:whole].reshape(-1, 4)
        finite = np.where(np.isfinite(ys), ys, 0.0)
        picks = np.sort(np.stack([finite.argmin(1), finite.argmax(1)], axis=1), axis=1)
        rows = np.arange(len(picks))[:, None]
        kept_x, kept_y = xs[rows, picks].ravel(), ys[rows, picks].ravel()
        rest_x, rest_y = self._x[whole : self.n].copy(), self._y[whole : self.n].copy()
        k = len(kept_x)
        self._x[:k], self._y[:k] = kept_x, kept_y
        self._x[k : k + len(rest_x)], self._y[k : k + len(rest_y)] = rest_x, rest_y
        self.n = k + len(rest_x)

    def clear(self) -> None:
        """Forget the points; the extents (for axis ranges) are kept up to date in O(1)."""
        self.n = 0
        self.x_max = -math.inf
        self.y_min = self.y_min_positive = math.inf
        self.y_max = -math.inf

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]


class SmoothedSeries(Series):
    """A series and its exponential moving average, updated in O(1) per appended point."""

    def __init__(self, alpha: float = 0.9, capacity: int = 1024, limit: int = 1 << 16) -> None:
        super().__init__(capacity, limit)
        self.alpha = alpha
        self.smooth = Series(capacity, limit)
        self._acc = 0.0
        self._count = 0  # points appended (``n`` is the points held)

    def append(self, x: float, y: float) -> None:
        super().append(x, y)
        self._count += 1
        if np.isfinite(y):
            self._acc = self.alpha * self._acc + (1 - self.alpha) * y
        corrected = self._acc / (1 - self.alpha**self._count)
        self.smooth.append(x, corrected)

    def clear(self) -> None:
        super().clear()
        self.smooth.clear()
        self._acc = 0.0
        self._count = 0


def nan_separated(times: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many paths (B, T) as one polyline broken by NaN: one plot item draws all of them."""
    b, t = paths.shape
    x = np.empty((b, t + 1))
    y = np.empty((b, t + 1))
    x[:, :t] = times
    y[:, :t] = paths
    x[:, t] = np.nan
    y[:, t] = np.nan
    return x.ravel(), y.ravel()


def observed_lines(times: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One NaN-separated line per series through its observed points only, so irregular
    series (NaN between their observations on the shared grid) are drawn as lines."""
    xs, ys = [], []
    for path in paths:
        ok = np.isfinite(path)
        xs += [times[ok], [np.nan]]
        ys += [path[ok], [np.nan]]
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)
