"""Inspect ▸ distributions (SDE), readout (CDE) and solver telemetry (every family): what
they draw is the core's numbers for the same samples and weights (issue 12)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from ndestudio.core.inspect import (
    NFE_THRESHOLD,
    cde_readout,
    marginal_histograms,
    sde_statistics,
)
from ndestudio.gui.views import sde_distributions, telemetry
from tests.conftest import small_spec


def _trained(make_window, qtbot, spec, view_name):
    window = make_window(spec)
    window.resize(1200, 800)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    view = getattr(window, view_name)
    assert window.tabs.isTabEnabled(window.tabs.indexOf(view))
    window.tabs.setCurrentWidget(view)  # shown: computed from the final weights
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=60_000)
    return window, view


def _reopened(make_window, qtbot, window, tmp_path, view_name):
    path = tmp_path / "run.ndeproj"
    window.save_project_to(path)
    fresh = make_window()
    assert fresh.open_project(path)
    view = getattr(fresh, view_name)
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=60_000)
    return fresh, view


def test_sde_distributions_draw_the_cores_bands_histograms_and_distance(
    make_window, qtbot, tmp_path
):
    window, view = _trained(
        make_window, qtbot, small_spec("sde", iterations=6, eval_every=3), "distributions_view"
    )
    stats = view.stats
    n = view.samples.value()
    assert stats.model_paths.shape[0] == n
    # The bands drawn are numpy's quantiles of the very samples, model and data.
    for who, paths in (("model", stats.model_paths), ("data", stats.data_paths)):
        for i, level in enumerate(stats.levels):
            curve = view.band_curves[(who, i)]
            np.testing.assert_allclose(curve.xData, stats.times)
            expected = np.quantile(paths[:, :, 0], level, axis=0)
            np.testing.assert_allclose(curve.yData, expected, rtol=1e-12, atol=1e-12)
    assert len(view.band_fills) == 4  # 5–95 % and 25–75 %, model and data
    # The fan: the first 64 paths of each, one NaN-separated curve apiece.
    assert np.isnan(view.model_paths.yData).sum() == min(view.fan.value(), n)
    # The mean W1 shown is the core's for the same weights, samples and rows.
    core = sde_statistics(window.session.trainer, n, seed=sde_distributions.SEED, rows="val")
    np.testing.assert_array_equal(core.model_paths, stats.model_paths)
    assert stats.mean_distance == pytest.approx(core.mean_distance, rel=1e-12)
    assert f"{core.mean_distance:.4g}" in view.summary.text()
    np.testing.assert_allclose(view.distance_curve.yData, core.distance[:, 0])
    # Histograms at the slider's time, model and data on shared bins.
    view.time.setValue(3)
    hist = marginal_histograms(stats.model_paths, stats.data_paths, stats.times, 3, 30)
    model_x, data_x = view.histograms["model"].xData, view.histograms["data"].xData
    np.testing.assert_array_equal(model_x, data_x)
    np.testing.assert_allclose(model_x, hist.edges[0])
    np.testing.assert_allclose(view.histograms["model"].yData, hist.model[0])
    np.testing.assert_allclose(view.histograms["data"].yData, hist.data[0])
    assert view.time_label.text() == f"t = {stats.times[3]:.3g}"
    assert all(line.value() == pytest.approx(stats.times[3]) for line in view.time_lines)

    # The solver tab measures an SDE-GAN's step too (the generator's fixed steps).
    solver = window.telemetry_view
    window.tabs.setCurrentWidget(solver)
    qtbot.waitUntil(lambda: solver.result is not None and not solver.busy, timeout=60_000)
    steps = solver.telemetry.step_sizes
    assert solver.telemetry.nfe_forward > 0 and np.allclose(steps, 1 / 16)

    # A reopened project shows the same distribution again.
    _, reopened = _reopened(make_window, qtbot, window, tmp_path, "distributions_view")
    assert reopened.stats.mean_distance == pytest.approx(stats.mean_distance, rel=1e-9)


def test_switching_family_after_an_sde_run_clears_the_distributions(make_window, qtbot):
    window, view = _trained(
        make_window, qtbot, small_spec("sde", iterations=3, eval_every=3), "distributions_view"
    )
    window.model_panel.family.setCurrentText("ode")
    assert view.result is None and view.band_curves[("model", 2)].yData.size == 0
    assert not window.tabs.isTabEnabled(window.tabs.indexOf(view))
    assert window.telemetry_view.result is None


def _metric(text: str, name: str) -> str:
    match = re.search(rf"{name} ([0-9.eE+-]+)", text)
    assert match, text
    return match.group(1)


def test_cde_readout_and_confusion_match_the_task_and_the_training_panel(
    make_window, qtbot, tmp_path
):
    window, view = _trained(make_window, qtbot, small_spec("cde"), "readout_view")
    trainer = window.session.trainer
    task = trainer.task
    confusion = view.confusion
    n_val = len(task.val_rows)
    counts = [int(text.textItem.toPlainText()) for text in view.count_texts]
    assert sum(counts) == n_val == confusion.matrix.sum()
    k = confusion.matrix.shape[0]
    assert counts == confusion.matrix.ravel().tolist()  # row by row, as drawn
    peak = confusion.matrix.max()
    np.testing.assert_allclose(view.heat.image * peak, confusion.matrix)
    ticks = view.confusion_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [name for _, name in ticks] == list(trainer.dataset.class_names)
    # The diagonal's share is the accuracy the training panel shows.
    shown = _metric(window.training_panel.metrics.text(), "accuracy")
    assert f"accuracy {shown}" in view.accuracy.text()
    assert np.trace(confusion.matrix) / n_val == pytest.approx(
        trainer.last_eval.metrics["accuracy"]
    )
    assert f"{np.trace(confusion.matrix) / n_val:.3g}" == shown
    assert k == 2 and len(confusion.per_class) == 2

    # The readout at the final time is the task's prediction for the chosen series.
    view.series.setCurrentIndex(2)
    row = int(task.val_rows[2])
    assert view.series.currentText().startswith(f"series {row}")
    with torch.no_grad():
        logits = trainer.model(task.coeffs[[row]], task.times, trainer.spec.solver)
    expected = torch.softmax(logits, -1)[0].double().numpy()
    final = np.array([curve.yData[-1] for curve in view.readout_curves])
    np.testing.assert_allclose(final, expected, atol=1e-5)
    direct = cde_readout(trainer, [row])
    # (float32: the view solves the series in a batch of its own, so the last bits may differ)
    np.testing.assert_allclose(view.hidden_curves[0].yData, direct.hidden[0, :, 0], atol=1e-5)
    assert len(view.hidden_curves) == direct.hidden.shape[-1]

    # Right-click → Export…: the project's SVG exporter and pyqtgraph's CSV one.
    from pyqtgraph.exporters import CSVExporter

    from ndestudio.gui.plots.svg_export import QtSVGExporter

    QtSVGExporter(view.confusion_plot.getPlotItem()).export(str(tmp_path / "confusion.svg"))
    assert "<svg" in (tmp_path / "confusion.svg").read_text()
    CSVExporter(view.readout_plot.getPlotItem()).export(str(tmp_path / "readout.csv"))
    assert len((tmp_path / "readout.csv").read_text().splitlines()) == len(task.times) + 1

    # Reopened, the project shows the same confusion matrix; switching family clears it.
    fresh, reopened = _reopened(make_window, qtbot, window, tmp_path, "readout_view")
    np.testing.assert_array_equal(reopened.confusion.matrix, confusion.matrix)
    fresh.model_panel.family.setCurrentText("sde")
    assert reopened.result is None and reopened.count_texts == []
    assert not fresh.tabs.isTabEnabled(fresh.tabs.indexOf(reopened))


def test_telemetry_warns_with_remedies_when_the_threshold_is_below_the_nfe(make_window, qtbot):
    _, view = _trained(
        make_window, qtbot, small_spec("ode", iterations=6, eval_every=3), "telemetry_view"
    )
    assert view.threshold.value() == NFE_THRESHOLD == telemetry.NFE_THRESHOLD_DEFAULT
    data = view.telemetry
    assert data.nfe_forward > 0 and data.nfe_backward > 0  # a training step, backward too
    assert data.warning is None and view.warning.isHidden()
    assert f"NFE forward {data.nfe_forward}" in view.counts.text()
    drawn = view.steps.yData  # (getData gives the log axis its log10)
    assert len(drawn) == data.accepted
    np.testing.assert_allclose(np.sort(drawn), np.sort(data.step_sizes))

    view.threshold.setValue(max(1.0, data.nfe_per_solve // 2))
    qtbot.waitUntil(lambda: not view.busy and view.telemetry.nfe_threshold < 1000, timeout=30_000)
    assert view.telemetry.warning is not None and not view.warning.isHidden()
    text = view.warning.text()
    assert "stiff" in text
    for remedy in ("min_step", "fixed-step solver", "weight decay", "smaller learning rate"):
        assert remedy in text

    view.solve.setCurrentText("validation solve")
    qtbot.waitUntil(lambda: not view.busy and view.telemetry.nfe_backward == 0, timeout=30_000)
    assert "no backward pass" in view.counts.text()


def test_without_validation_the_readout_shows_the_training_series(make_window, qtbot):
    spec = small_spec("cde", iterations=4, eval_every=2)
    spec.data.val_fraction = 0.0
    window, view = _trained(make_window, qtbot, spec, "readout_view")
    train_rows = window.session.trainer.task.train_rows
    assert view.series_label.text() == "training series"
    assert view.series.count() == len(train_rows) == spec.data.n_series
    assert view.series.currentText().startswith(f"series {train_rows[0]}")
    assert len(view.hidden_curves) > 0  # the chosen series is drawn
    assert view.confusion.matrix.sum() == spec.data.n_series
    assert f"of {spec.data.n_series} of the training series" in view.accuracy.text()
    assert view.status.text().startswith("Every training series read out in")


def test_an_open_readout_follows_a_run_without_validation(make_window, qtbot):
    """No evaluations to wait for: the open view recomputes from the steps and at the end."""
    spec = small_spec("cde", iterations=30, eval_every=10)
    spec.data.val_fraction = 0.0
    window = make_window(spec)
    view = window.readout_view
    window.tabs.setCurrentWidget(view)  # open before the run starts
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=60_000)
    assert view.series_label.text() == "training series"
    assert "every few steps: the run has no validation series" in view.status.text()
