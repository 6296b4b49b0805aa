"""The window end to end: configure, train, pause, resume, stop, save, reopen."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from pyqtgraph.exporters import CSVExporter, Exporter, ImageExporter

from ndestudio.core.presets import preset
from ndestudio.core.specs import ENGINES, RunSpec
from tests.conftest import small_spec


def _gui_spec(family: str) -> RunSpec:
    spec = small_spec(family, iterations=100_000, eval_every=5)
    spec.name = f"gui-{family}"
    return spec


def _points(window) -> int:
    """Loss points received by the loss plot."""
    return window.loss_plot.train.n


def _drawn(window) -> int:
    """Points the loss curve shows (after clipping to the view and downsampling)."""
    x, _ = window.loss_plot.raw_curve.getData()
    return 0 if x is None else len(x)


def _stop(window, qtbot) -> None:
    window.session.stop()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=30_000)


def _train_then_stop(window, qtbot, points: int) -> None:
    """Train until the loss plot has ``points`` points, then stop and wait for idle."""
    window.train()
    qtbot.waitUntil(lambda: _points(window) >= points, timeout=60_000)
    _stop(window, qtbot)


def _weights(window) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in window.session.trainer.model.state_dict().items()}


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_train_pause_resume_stop_save_reopen(family, make_window, qtbot, tmp_path):
    window = make_window(_gui_spec(family))
    assert window.session.spec.model.family == family
    window.train()
    assert window.session.state == "running"
    qtbot.waitUntil(lambda: _points(window) >= 10, timeout=60_000)
    qtbot.waitUntil(lambda: _drawn(window) > 0, timeout=10_000)  # drawn, not only received
    qtbot.waitUntil(lambda: window.trajectory_plot.snapshot is not None, timeout=60_000)

    window.session.toggle_pause()
    assert window.session.state == "paused"
    qtbot.waitUntil(lambda: window.training_panel.pause_button.text() == "Resume")
    qtbot.wait(300)
    frozen = window.session.trainer.iteration
    qtbot.wait(500)
    assert window.session.trainer.iteration == frozen

    window.session.toggle_pause()
    assert window.session.state == "running"
    qtbot.waitUntil(lambda: window.session.trainer.iteration >= frozen + 3, timeout=60_000)

    _stop(window, qtbot)
    assert window.training_panel.train_button.text() == "Continue"
    stopped_at = window.session.trainer.iteration
    assert window.training_panel.progress.value() == stopped_at

    path = tmp_path / f"{family}.ndeproj"
    window.save_project_to(path)
    assert path.exists() and path.with_suffix(".pt").exists()
    assert not window.dirty and window.windowTitle().endswith(f"{family}.ndeproj")

    fresh = make_window()
    assert fresh.open_project(path)
    assert fresh.session.spec == window.session.spec
    assert fresh.collect_spec() == window.session.spec  # every panel shows the saved values
    saved, reopened = _weights(window), _weights(fresh)
    assert saved.keys() == reopened.keys()
    assert all(torch.equal(saved[k], reopened[k]) for k in saved)
    assert fresh.session.trainer.iteration == stopped_at
    assert _points(fresh) == stopped_at  # the loss curve is rebuilt from the history
    assert _drawn(fresh) > 0


def test_model_builder_enables_only_what_applies(make_window):
    window = make_window(_gui_spec("ode"))
    panel = window.model_panel
    assert panel.rtol.isEnabled() and not panel.step_size.isEnabled()
    panel.method.setCurrentText("rk4")
    assert not panel.rtol.isEnabled() and panel.step_size.isEnabled()
    assert [panel.gradient.itemText(i) for i in range(panel.gradient.count())] == [
        "backprop",
        "adjoint",
    ]
    panel.step_size.setText("")
    panel.step_size.editingFinished.emit()
    assert "method 'rk4' is fixed-step: set step_size (> 0)" in panel.problems.text()
    window.train()  # refused with a message, not an exception
    assert window.session.state == "idle"
    assert "set step_size" in window.failure_box.text()
    panel.step_size.setText("0.1")
    panel.step_size.editingFinished.emit()
    assert panel.problems.text() == ""
    for widget in (panel.family, panel.width_box, panel.method, panel.gradient, panel.device):
        assert widget.toolTip()


def test_the_engine_is_chosen_in_the_builder_and_named_in_the_status_bar(make_window, qtbot):
    window = make_window(_gui_spec("ode"))
    panel = window.model_panel
    assert [panel.engine.itemText(i) for i in range(panel.engine.count())] == list(ENGINES)
    assert panel.engine.currentText() == "auto" and panel.engine.toolTip()
    panel.engine.setCurrentText("fast")
    panel.gradient.setCurrentText("adjoint")
    assert "fast engine backpropagates through the solver" in panel.problems.text()
    panel.engine.setCurrentText("torchdiffeq")
    assert panel.problems.text() == ""
    assert window.session.spec.solver.engine == "torchdiffeq"
    panel.gradient.setCurrentText("backprop")
    panel.engine.setCurrentText("auto")
    window.train()
    label = window.run_status.device_label
    qtbot.waitUntil(lambda: "engine fast" in label.text(), timeout=60_000)
    assert label.text().startswith("Device: cpu") and label.toolTip()
    _stop(window, qtbot)
    panel.engine.setCurrentText("torchdiffeq")
    window.train()
    qtbot.waitUntil(lambda: "engine torchdiffeq" in label.text(), timeout=60_000)
    _stop(window, qtbot)
    assert window.session.trainer.stats.engine == "torchdiffeq"


def test_family_switch_offers_matching_demos_and_solvers(make_window):
    window = make_window(_gui_spec("ode"))
    window.model_panel.family.setCurrentText("sde")
    spec = window.session.spec
    assert spec.model.family == "sde"
    assert spec.data.name in ("brownian", "ornstein_uhlenbeck")
    assert spec.solver.method == "reversible_heun" and spec.solver.gradient == "reversible"
    assert window.model_panel.problems.text() == ""
    demos = [window.data_panel.demo.itemText(i) for i in range(window.data_panel.demo.count())]
    assert set(demos) == {"brownian", "ornstein_uhlenbeck"}


def test_failure_shows_a_dialog_and_the_window_lives_on(make_window, qtbot):
    spec = _gui_spec("ode")
    spec.train.lr = 50.0
    spec.train.optimizer = "sgd"
    spec.solver.max_num_steps = 2000
    window = make_window(spec)
    window.train()
    qtbot.waitUntil(
        lambda: window.failure_box is not None and window.failure_box.isVisible(), timeout=60_000
    )
    assert "last good weights were kept" in window.failure_box.text()
    assert "smaller learning rate" in window.failure_box.informativeText()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=10_000)
    assert all(torch.isfinite(p).all() for p in window.session.trainer.model.parameters())


def test_closing_during_training_stops_cleanly(make_window, qtbot, questions):
    window = make_window(_gui_spec("ode"))
    window.train()
    qtbot.waitUntil(lambda: _points(window) >= 3, timeout=60_000)
    window.autosave()
    qtbot.waitUntil(window.autosave_path.exists, timeout=30_000)
    thread = window.session.thread
    t0 = time.perf_counter()
    window.close()  # asked about the unsaved run; the answer: Discard
    assert time.perf_counter() - t0 < 5
    assert questions.asked and "a run in progress" in questions.asked[0]
    assert thread is not None and thread.isFinished()
    assert window.session.state == "idle" or window.session.thread is None
    assert not window.autosave_path.exists()  # closed on purpose: nothing to restore


def test_plots_export_png_svg_csv(make_window, qtbot, tmp_path):
    window = make_window(_gui_spec("ode"))
    _train_then_stop(window, qtbot, points=5)
    window.redraw()
    item = window.loss_plot.getPlotItem()
    # The exporters the right-click Export… dialog offers, by their menu names.
    offered = {e.Name: e for e in Exporter.Exporters}
    assert {
        "Image File (PNG, TIF, JPG, ...)",
        "Scalable Vector Graphics (SVG)",
        "CSV of original plot data",
    } <= set(offered)
    ImageExporter(item).export(str(tmp_path / "loss.png"))
    offered["Scalable Vector Graphics (SVG)"](item).export(str(tmp_path / "loss.svg"))
    CSVExporter(item).export(str(tmp_path / "loss.csv"))
    assert (tmp_path / "loss.png").stat().st_size > 1000
    svg = (tmp_path / "loss.svg").read_text()
    assert "<svg" in svg and "<path" in svg and "Loss" in svg
    rows = (tmp_path / "loss.csv").read_text().strip().splitlines()
    assert len(rows) >= 6  # a header and one row per point


def test_layout_is_remembered(make_window):
    window = make_window()
    window.resize(760, 700)  # inside the offscreen screen (800 x 800)
    window.training_dock.hide()
    window.close()
    again = make_window()
    assert again.size().width() == 760 and again.size().height() == 700
    assert again.training_dock.isHidden()


def test_menus_list_the_shortcuts(make_window):
    window = make_window()
    shortcuts = {
        a.text(): a.shortcut().toString() for a in window.findChildren(type(window.train_action))
    }
    assert shortcuts["&Train / continue"] == "F5"
    assert shortcuts["&Pause / resume"] == "Space"
    assert shortcuts["&Stop"] == "Esc"
    assert shortcuts["&Save"] == "Ctrl+S"


def test_saving_and_opening_run_off_the_gui_thread_on_the_qasync_loop(make_window, qtbot, tmp_path):
    import asyncio
    import threading

    import qasync
    from PySide6.QtWidgets import QApplication

    window = make_window(_gui_spec("ode"))
    _train_then_stop(window, qtbot, points=3)

    writers: list[str] = []
    trainer = window.session.trainer
    original = trainer.save

    def spy(path):
        writers.append(threading.current_thread().name)
        return original(path)

    trainer.save = spy
    loop = qasync.QEventLoop(QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        path = tmp_path / "async.ndeproj"
        loop.run_until_complete(window.save_async(path))
        assert writers and writers[0] != threading.main_thread().name  # the executor wrote it
        assert path.exists() and path.with_suffix(".pt").exists()
        fresh = make_window()
        assert loop.run_until_complete(fresh.open_async(path))
        assert fresh.session.spec == window.session.spec
        assert fresh.session.trainer.iteration == trainer.iteration
    finally:
        loop.close()  # joins the loop's executor threads
        asyncio.set_event_loop(None)


def test_opening_a_broken_project_explains_and_keeps_the_window(make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "bad.ndeproj"
    bad.write_text('{"format": "ndestudio-project", "format_version": 1,\n "spec": {"model": 3}}')
    before = window.session.spec
    assert not window.open_project(bad)
    assert "Cannot open the project" in window.failure_box.text()
    assert "run.model: expected an object" in window.failure_box.text()
    assert window.session.spec == before
    (tmp_path / "broken.ndeproj").write_text("{ not json")
    assert not window.open_project(tmp_path / "broken.ndeproj")
    assert "line 1, column 3" in window.failure_box.text()


def test_autosave_during_a_run_can_be_restored(make_window, qtbot):
    window = make_window(_gui_spec("ode"))
    window.train()
    qtbot.waitUntil(lambda: _points(window) >= 5, timeout=60_000)
    window.autosave()  # what the one-minute timer calls
    project = window.autosave_path
    weights = project.with_suffix(".pt")
    # Both written by the worker between two steps: the weights first, then the project.
    qtbot.waitUntil(project.exists, timeout=30_000)
    assert weights.exists()
    assert window.project_path is None and window.dirty  # the user's project is untouched
    _stop(window, qtbot)
    restored = make_window()
    assert restored.open_project(project)
    assert restored.session.trainer.iteration >= 5
    assert restored.session.spec == window.session.spec


def test_unsaved_changes_are_asked_about(make_window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window(_gui_spec("ode"))
    window.training_panel.iterations.setValue(1234)  # an edit: the project is now unsaved
    assert window.dirty and window.windowTitle().endswith("*")
    asked = []

    def answer(choice):
        def question(*args, **kwargs):
            asked.append(args[2])
            return choice

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.new_project()
    assert asked and "unsaved changes" in asked[0]
    assert window.session.spec.train.iterations == 1234  # cancelled: nothing lost
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    window.new_project()
    assert (
        window.session.spec.train.iterations == preset("ode").train.iterations and not window.dirty
    )


def test_export_action_writes_a_verified_file_off_the_gui_thread(make_window, qtbot, tmp_path):
    import asyncio

    import qasync
    from PySide6.QtWidgets import QApplication

    from ndestudio.core.export import ExportOptions
    from ndestudio.gui.export_dialog import ExportDialog

    window = make_window(_gui_spec("ode"))
    window.export_dialog()  # nothing trained yet: explained, no dialog
    assert "Train the model before exporting" in window.failure_box.text()
    assert window.exports.dialog is None

    window.train()
    qtbot.waitUntil(lambda: _points(window) >= 3, timeout=60_000)
    window.export_dialog()  # running: asked to pause first
    assert "Pause or stop training" in window.failure_box.text()
    _stop(window, qtbot)

    window.export_dialog()
    dialog = window.exports.dialog
    assert isinstance(dialog, ExportDialog) and dialog.method.currentText() == "dopri5"
    assert dialog.rtol.isEnabled() and not dialog.step.isEnabled()
    dialog.method.setCurrentText("rk4")
    assert dialog.step.isEnabled() and not dialog.rtol.isEnabled()
    dialog.step.setText("0.025")
    assert dialog.options() == ExportOptions(method="rk4", step_size=0.025)
    dialog.reject()

    loop = qasync.QEventLoop(QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        target = tmp_path / "spiral.pt"
        snapshot = window.exports.snapshot()
        report = loop.run_until_complete(
            window.exports.export_async(
                target, ExportOptions(method="rk4", step_size=0.05), snapshot
            )
        )
        assert report is not None and target.exists()
        assert str(target) in window.failure_box.text()
        details = window.failure_box.informativeText()
        assert "solver rk4 (step 0.05)" in details and details.count("— ok") == 2
        refused = loop.run_until_complete(
            window.exports.export_async(
                tmp_path / "no" / "such" / "x.pt", ExportOptions(), snapshot
            )
        )
        assert refused is None and "does not exist" in window.failure_box.text()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    sde_dialog = ExportDialog(small_spec("sde"), tmp_path / "sde.pt")
    methods = [sde_dialog.method.itemText(i) for i in range(sde_dialog.method.count())]
    assert methods == ["midpoint", "heun", "reversible_heun"]
    assert sde_dialog.method.currentText() == "reversible_heun"


def test_sde_objective_switches_the_fields_that_apply(make_window):
    window = make_window(_gui_spec("sde"))
    panel = window.model_panel
    assert panel.objective.currentText() == "sde_gan"
    assert panel.constraint.isEnabled() and not panel.likelihood_std.isEnabled()
    panel.objective.setCurrentText("latent_sde")
    assert not panel.constraint.isEnabled() and panel.likelihood_std.isEnabled()
    panel.likelihood_std.setValue(0.25)
    spec = window.collect_spec()
    assert spec.model.sde.objective == "latent_sde" and spec.model.sde.likelihood_std == 0.25


def test_dataset_from_a_csv_file_previews_trains_and_explains_errors(make_window, qtbot, tmp_path):
    good = tmp_path / "series.csv"
    rows = ["series,time,x,y"]
    for s in range(12):
        for k in range(20):
            t = k * 0.25 + (0.1 if s % 2 else 0.0)  # irregular: two interleaved grids
            rows.append(f"s{s},{t},{np.cos(t + s):.4f},{'' if k % 7 == 3 else f'{np.sin(t):.4f}'}")
    good.write_text("\n".join(rows) + "\n")
    bad = tmp_path / "broken.csv"
    bad.write_text("series,time,x\na,0,1\na,1,oops\n")

    window = make_window(_gui_spec("ode"))
    panel = window.data_panel
    demo = panel.dataset
    panel.source.setCurrentText("file")
    assert panel.file_row.isEnabled() and not panel.n_series.isEnabled()
    panel.path.setText(str(bad))
    panel.path.editingFinished.emit()
    qtbot.waitUntil(lambda: not panel.loading, timeout=10_000)  # files load in a worker
    assert not panel.error.isHidden()
    assert "line 3, column 3 ('x'): expected a number, got 'oops'" in panel.error.text()
    assert panel.dataset is demo  # the previous dataset stays

    panel.path.setText(str(good))
    panel.path.editingFinished.emit()
    qtbot.waitUntil(lambda: not panel.loading, timeout=10_000)
    assert panel.error.isHidden()
    assert panel.dataset is not None and panel.dataset.values.shape == (12, 40, 2)
    assert "12 series × 40 times" in panel.preview.getPlotItem().titleLabel.text
    spec = window.session.spec
    assert spec.data.source == "file" and spec.data.path == str(good)
    _train_then_stop(window, qtbot, points=3)
    assert window.session.trainer.dataset.values.shape == (12, 40, 2)
    # The file is unchanged since it was loaded: Train does not read it again on the GUI
    # thread. A file changed since is read afresh.
    assert window.session.trainer.dataset is panel.dataset
    good.write_text(good.read_text() + "s99,0.0,1.0,2.0\n")
    assert panel.dataset_for(window.session.spec.data) is None


def test_train_reuses_the_previewed_demo_dataset(make_window, qtbot):
    """Train does not generate the demo a second time on the GUI thread."""
    window = make_window(_gui_spec("ode"))
    panel = window.data_panel
    panel.seed.setValue(7)  # a new demo dataset: the preview regenerates it
    previewed = panel.dataset
    assert previewed is not None and window.session.spec.data.seed == 7
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "running", timeout=30_000)
    assert window.session.trainer.dataset is previewed
    _stop(window, qtbot)


def test_trajectory_plots_show_the_data_until_there_are_predictions(make_window, qtbot):
    window = make_window(_gui_spec("ode"))
    dataset = window.data_panel.dataset
    for plot in (window.trajectory_plot, window.phase_plot):
        snap = plot.snapshot
        assert snap is not None and np.isnan(snap.predicted).all()
        np.testing.assert_array_equal(snap.observed, dataset.values[: len(snap.observed)])
    dots = window.trajectory_plot.rows[0].items[0]  # the first series' observed points
    assert len(dots.getData()[0]) == np.isfinite(dataset.values[0, :, 0]).sum() > 0
    window.train()
    qtbot.waitUntil(
        lambda: (
            window.trajectory_plot.snapshot is not None
            and np.isfinite(window.trajectory_plot.snapshot.predicted).all()
        ),
        timeout=60_000,
    )
    _stop(window, qtbot)
    window.session.reset()  # the weights are gone: the plots show the data again
    assert np.isnan(window.trajectory_plot.snapshot.predicted).all()


def test_reopened_trained_project_shows_its_own_data(make_window, qtbot, tmp_path):
    window = make_window(_gui_spec("ode"))
    _train_then_stop(window, qtbot, points=6)  # past the first evaluation (every 5 steps)
    project = tmp_path / "trained.ndeproj"
    window.save_project_to(project)
    window.data_panel.seed.setValue(11)  # other data on screen before the project is reopened
    assert window.open_project(project)
    trainer = window.session.trainer
    assert trainer is not None and window.session.spec.data.seed == 0
    assert trainer.last_eval is not None and trainer.last_eval.snapshot is not None
    shown = window.trajectory_plot.snapshot
    # The reopened run shows its own last evaluation: the project's data and its predictions.
    assert shown is not None and not np.isnan(shown.predicted).all()
    np.testing.assert_array_equal(shown.predicted, trainer.last_eval.snapshot.predicted)
    rows = trainer.task.val_rows[: len(shown.observed)]
    np.testing.assert_array_equal(shown.observed, window.data_panel.dataset.values[rows])


def test_export_offers_the_best_weights_and_writes_them(make_window, qtbot, tmp_path):
    import asyncio
    import json
    import zipfile

    import qasync
    from PySide6.QtWidgets import QApplication

    from ndestudio.core.export import ExportOptions

    window = make_window(small_spec("ode", iterations=12, eval_every=3, lr=0.05))
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    best = window.session.trainer.best
    assert best is not None
    window.export_dialog()
    dialog = window.exports.dialog
    assert dialog.weights.isEnabled() and dialog.weights.count() == 2
    assert dialog.weights.itemText(1).startswith(f"best validation (iteration {best.iteration},")
    dialog.weights.setCurrentIndex(1)
    assert dialog.chosen_weights() == "best"
    dialog.reject()
    snapshot = window.exports.snapshot("best")
    assert snapshot[2] == best.iteration and snapshot[4] == "best"
    assert all(torch.equal(snapshot[1][k], best.model[k]) for k in best.model)
    loop = qasync.QEventLoop(QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        target = tmp_path / "best.pt"
        report = loop.run_until_complete(
            window.exports.export_async(target, ExportOptions(), snapshot)
        )
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert report is not None
    with zipfile.ZipFile(target) as archive:
        name = next(n for n in archive.namelist() if n.endswith("export.json"))
        meta = json.loads(archive.read(name))
    assert meta["weights"] == "best" and meta["trained_iterations"] == best.iteration
    # The project keeps the best weights beside the last ones.
    project = tmp_path / "best.ndeproj"
    window.save_project_to(project)
    fresh = make_window()
    assert fresh.open_project(project)
    kept = fresh.session.trainer.best
    assert kept is not None and (kept.iteration, kept.val_loss) == (best.iteration, best.val_loss)
    assert all(torch.equal(kept.model[k], best.model[k]) for k in best.model)
