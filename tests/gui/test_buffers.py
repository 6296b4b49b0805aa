"""Streaming buffers hold at most their limit of points, keeping the curve's envelope."""

from __future__ import annotations

import numpy as np

from ndestudio.gui.plots.buffers import Series, SmoothedSeries


def test_a_long_stream_is_held_within_the_limit_with_its_extremes():
    rng = np.random.default_rng(0)
    limit = 256
    series = Series(capacity=16, limit=limit)
    ys = rng.normal(size=20 * limit)
    ys[1234], ys[3000] = 50.0, -40.0  # spikes deep in the old, coarsened part
    for i, y in enumerate(ys):
        series.append(float(i), float(y))
        assert series.n <= limit
    assert len(series._x) == limit and len(series._y) == limit  # memory stays bounded
    assert np.all(np.diff(series.x) > 0)  # still a curve in x order
    assert series.y.max() == 50.0 and series.y.min() == -40.0  # the envelope survives
    assert 1234.0 in series.x and 3000.0 in series.x
    np.testing.assert_array_equal(series.y[-3:], ys[-3:])  # the newest points are all there
    held = dict(zip(series.x, series.y, strict=True))
    assert all(held[x] == ys[int(x)] for x in series.x)  # held points are real ones
    assert (series.y_min, series.y_max, series.x_max) == (-40.0, 50.0, len(ys) - 1)


def test_smoothing_is_unchanged_by_compaction():
    ys = np.linspace(1.0, 2.0, 5000)
    small = SmoothedSeries(alpha=0.9, limit=64)
    large = SmoothedSeries(alpha=0.9, limit=1 << 16)
    for i, y in enumerate(ys):
        small.append(float(i), float(y))
        large.append(float(i), float(y))
    assert small.n <= 64 and large.n == 5000
    assert small.smooth.y[-1] == large.smooth.y[-1]
