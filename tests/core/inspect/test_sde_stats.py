"""SDE statistics: quantile bands equal numpy's, the W1 distance is 0 for identical samples
and |c| for samples shifted by c, histograms share their bins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from ndestudio.core.inspect import (
    QUANTILES,
    compare_paths,
    marginal_histograms,
    quantile_bands,
    sde_statistics,
    wasserstein_1d,
    wasserstein_per_time,
)


def _paths(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.standard_normal((n, 9, 2)), axis=1)


def test_quantile_bands_equal_numpy_quantile():
    paths = _paths(300, 0)
    bands = quantile_bands(paths)
    assert QUANTILES == (0.05, 0.25, 0.5, 0.75, 0.95)
    assert bands.shape == (5, 9, 2)
    np.testing.assert_array_equal(bands, np.quantile(paths, QUANTILES, axis=0))
    with_gaps = paths.copy()
    with_gaps[:10, 3, 1] = np.nan  # missing observations are left out
    expected = np.quantile(paths[10:, 3, 1], QUANTILES)
    np.testing.assert_allclose(quantile_bands(with_gaps)[:, 3, 1], expected)


def test_distance_is_zero_for_identical_samples_and_the_shift_for_shifted_ones():
    paths = _paths(200, 1)
    assert np.all(wasserstein_per_time(paths, paths.copy()) == 0.0)
    stats = compare_paths(np.arange(9.0), paths + 0.7, paths)
    np.testing.assert_allclose(stats.distance, 0.7, rtol=1e-9)
    assert stats.mean_distance == pytest.approx(0.7)
    shuffled = paths[np.random.default_rng(2).permutation(200)]
    assert np.all(wasserstein_per_time(shuffled, paths) < 1e-12)  # order does not matter


def test_own_formula_matches_scipy_for_unequal_sizes():
    rng = np.random.default_rng(3)
    for n, m in [(5, 7), (100, 37), (1, 50)]:
        a, b = rng.normal(size=n), rng.normal(0.3, 2.0, size=m)
        assert wasserstein_1d(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)
    assert wasserstein_1d(np.array([0.0, 1.0]), np.array([0.0, 1.0]) + 2.5) == pytest.approx(2.5)
    assert np.isnan(wasserstein_1d(np.array([np.nan]), np.array([1.0])))


def test_histograms_share_bins_and_are_densities():
    model, data = _paths(400, 4), _paths(250, 5) + 1.0
    hist = marginal_histograms(model, data, np.arange(9.0), time_index=6, bins=20)
    assert hist.time == 6.0 and hist.edges.shape == (2, 21)
    for c in range(2):
        both = np.concatenate([model[:, 6, c], data[:, 6, c]])
        assert hist.edges[c, 0] == both.min() and hist.edges[c, -1] == both.max()
        width = np.diff(hist.edges[c])
        assert np.sum(hist.model[c] * width) == pytest.approx(1.0)
        assert np.sum(hist.data[c] * width) == pytest.approx(1.0)
        counts = np.histogram(data[:, 6, c], hist.edges[c])[0]
        np.testing.assert_allclose(hist.data[c], counts / (250 * width))


def test_sde_statistics_of_a_trained_generator(sde_trainer):
    stats = sde_statistics(sde_trainer, 256, seed=3)
    task = sde_trainer.task
    data = sde_trainer.dataset.values[task.val_rows]
    assert stats.model_paths.shape == (256, 17, 1)
    np.testing.assert_array_equal(stats.data_paths, data)
    np.testing.assert_array_equal(stats.data_bands, np.quantile(data, QUANTILES, axis=0))
    np.testing.assert_array_equal(stats.model_bands, np.quantile(stats.model_paths, QUANTILES, 0))
    np.testing.assert_allclose(stats.model_paths, task.sample(256, 3))  # the same draw
    for i in (0, 8, 16):
        expected = wasserstein_distance(stats.model_paths[:, i, 0], data[:, i, 0])
        assert stats.distance[i, 0] == pytest.approx(expected)
    assert stats.mean_distance == pytest.approx(stats.distance.mean())
    numbers = stats.to_dict()
    assert numbers["mean_wasserstein"] == stats.mean_distance and numbers["n_model"] == 256
    assert stats.histograms(16).model.shape == (1, 30)
    with pytest.raises(ValueError):
        sde_statistics(sde_trainer, 8, rows="test")
