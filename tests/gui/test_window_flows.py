"""What a new user hit in the window (issue 11): export next to a project, quitting, two
instances, switching family or dataset, Reset, re-reading a fixed data file, file dialogs,
the rate after a pause, the state after finishing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ndestudio.core.export import ExportOptions
from ndestudio.core.training import Trainer
from ndestudio.gui import app as gui_app
from ndestudio.gui.autosave import orphaned_autosaves
from tests.conftest import small_spec

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
Save, Cancel = QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Cancel


def _run(window, qtbot, iterations: int = 4) -> None:
    """Train ``iterations`` steps to the end and wait until the window is idle."""
    window.session.spec.train.iterations = iterations
    window.training_panel.load(window.session.spec)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    assert window.session.trainer is not None
    assert window.session.trainer.iteration == iterations


def _trained_project(make_window, qtbot, tmp_path) -> tuple[object, Path]:
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    _run(window, qtbot)
    project = tmp_path / "p1.ndeproj"
    window.save_project_to(project)
    return window, project


# 1. Export must not overwrite the project's checkpoint -----------------------------------


def test_export_proposes_a_name_that_cannot_be_the_projects_checkpoint(
    make_window, qtbot, tmp_path
):
    window, project = _trained_project(make_window, qtbot, tmp_path)
    proposed = window.exports.default_path(window.session.spec.name)
    assert proposed == tmp_path / "p1-model.pt"
    assert proposed not in (project, project.with_suffix(".pt"))
    window.export_dialog()
    assert window.exports.dialog.target() == proposed
    window.exports.dialog.reject()


def test_export_refuses_the_projects_own_files_and_asks_before_replacing(
    make_window, qtbot, tmp_path, questions
):
    window, project = _trained_project(make_window, qtbot, tmp_path)
    weights = project.with_suffix(".pt")
    before = weights.read_bytes()
    exported: list[Path] = []
    window.exports.export_async = lambda path, options, snapshot: exported.append(path)  # type: ignore[method-assign]
    window.schedule = lambda coro: None  # type: ignore[method-assign]
    for owned in (weights, project, window.autosave_path):
        window.export_to(owned, ExportOptions())
        assert "belongs to the open project" in window.failure_box.text()
        assert "p1-model.pt" in window.failure_box.text()
    assert exported == [] and weights.read_bytes() == before
    other = tmp_path / "other.pt"
    other.write_bytes(b"keep me")
    questions.answer = No
    window.export_to(other, ExportOptions())
    assert "already exists" in questions.asked[-1]
    assert exported == [] and other.read_bytes() == b"keep me"
    questions.answer = Yes
    window.export_to(other, ExportOptions())
    assert exported == [other]
    fresh = tmp_path / "fresh.pt"
    n_asked = len(questions.asked)
    window.export_to(fresh, ExportOptions())
    assert exported[-1] == fresh and len(questions.asked) == n_asked  # nothing to ask


def test_opening_a_project_whose_weights_were_replaced_by_an_export_says_so(
    make_window, qtbot, tmp_path
):
    from ndestudio.core.export import export_trained

    window, project = _trained_project(make_window, qtbot, tmp_path)
    trainer = window.session.trainer
    export_trained(
        trainer.spec,
        trainer.model.state_dict(),
        iteration=trainer.iteration,
        losses=list(trainer.history["loss"]),
        out=project.with_suffix(".pt"),
        options=ExportOptions(),
        source="test",
    )
    fresh = make_window()
    assert not fresh.open_project(project)
    text = fresh.failure_box.text()
    assert "it looks like an exported TorchScript model" in text, text
    assert "weights_only" not in text
    assert fresh.failure_box.icon() == QMessageBox.Icon.Warning


# 5. Quit asks about unsaved work ---------------------------------------------------------


def test_closing_an_untitled_trained_window_asks_and_cancel_keeps_it(make_window, qtbot, questions):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    _run(window, qtbot)
    assert window.dirty and window.windowTitle() == "NDE Studio — untitled *"
    window.autosave()
    assert window.autosave_path.exists()
    questions.answer = Cancel
    assert not window.close()
    assert window.isVisible() and "unsaved changes" in questions.asked[-1]
    assert window.autosave_path.exists()  # nothing was thrown away
    assert window.session.trainer.iteration == 4


def test_closing_with_save_asks_for_a_name_and_writes_the_project(
    make_window, qtbot, tmp_path, questions, monkeypatch
):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    _run(window, qtbot)
    target = tmp_path / "kept.ndeproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    questions.answer = Save
    assert window.close()
    assert target.exists() and target.with_suffix(".pt").exists()
    assert Trainer.from_checkpoint(target.with_suffix(".pt")).iteration == 4
    assert not window.autosave_path.exists()


def test_closing_with_save_but_no_name_keeps_the_window(make_window, qtbot, questions, monkeypatch):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    _run(window, qtbot)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    questions.answer = Save
    assert not window.close()
    assert window.isVisible() and window.dirty


# 6. Each instance has its own autosave --------------------------------------------------

_DEAD_INSTANCE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtCore import QSettings
from ndestudio.gui.app import make_app
from ndestudio.gui.main_window import MainWindow
from tests.conftest import small_spec
make_app()
folder = Path(sys.argv[1])
settings = QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat)
w = MainWindow(small_spec("ode"), settings=settings)
w.autosave_dir = folder / "autosave"
w.dirty = True
w.autosave()
print(w.autosave_path, flush=True)
os._exit(0)  # dies without closing: its lock stays behind, stale
"""


def test_a_running_instances_autosave_is_never_offered_a_dead_ones_is(
    make_window, qtbot, tmp_path, monkeypatch
):
    first = make_window(small_spec("ode"))
    first.autosave_dir = tmp_path / "autosave"
    first.dirty = True
    first.autosave()
    assert first.autosave_path.exists()
    second = make_window(small_spec("ode"))
    assert second.autosave_dir == first.autosave_dir
    assert second.autosave_path != first.autosave_path  # its own files
    assert orphaned_autosaves(first.autosave_dir) == []  # the first one is alive
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DEAD_INSTANCE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    dead = Path(out.stdout.strip().splitlines()[-1])
    assert dead.exists() and dead != first.autosave_path
    assert orphaned_autosaves(first.autosave_dir) == [dead]
    offered: list[str] = []

    def exec_(box):  # the restore dialog, answered "Keep for later"
        offered.append(box.text())
        next(b for b in box.buttons() if b.text() == "Keep for later").click()

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    gui_app.offer_restore(second)
    assert len(offered) == 1 and str(dead) in offered[0]
    assert dead.exists()  # kept for later


def test_train_on_start_does_not_wait_behind_the_restore_dialog(make_window, tmp_path, monkeypatch):
    window = make_window(small_spec("ode"))
    folder = window.autosave_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "autosave-999999999.ndeproj").write_text("{}")  # a dead instance, no lock
    monkeypatch.setattr(QMessageBox, "exec", lambda box: pytest.fail("a modal dialog"))
    gui_app.mention_orphans(window)
    assert "without --train to restore it" in window.statusBar().currentMessage()


# 8. Switching family or dataset clears the previous run's views --------------------------


def test_switching_family_or_dataset_clears_the_runs_views_and_back_shows_it(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=6, eval_every=2))
    _run(window, qtbot, iterations=6)
    panel = window.training_panel
    assert window.loss_plot.train.n == 6 and panel.progress.value() == 6
    assert "validation loss" in panel.metrics.text()
    assert panel.eta.text() == ""  # a finished run shows no ETA
    demos = [window.data_panel.demo.itemText(i) for i in range(window.data_panel.demo.count())]
    other = next(d for d in demos if d != window.session.spec.data.name)
    window.data_panel.demo.setCurrentText(other)  # another dataset
    assert window.loss_plot.train.n == 0
    assert panel.progress.value() == 0 and panel.metrics.text() == "" and panel.eta.text() == ""
    window.data_panel.demo.setCurrentText("spiral")  # back: the trained run is shown again
    assert window.loss_plot.train.n == 6 and panel.progress.value() == 6
    window.model_panel.family.setCurrentText("sde")  # another family
    assert window.loss_plot.train.n == 0 and panel.progress.value() == 0
    assert panel.metrics.text() == ""


def test_a_stopped_run_shows_no_eta_and_says_stopped(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=100_000, eval_every=5))
    window.train()
    qtbot.waitUntil(lambda: window.loss_plot.train.n >= 3, timeout=60_000)
    qtbot.waitUntil(lambda: window.training_panel.eta.text() != "", timeout=30_000)
    window.session.stop()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=30_000)
    assert window.training_panel.eta.text() == ""
    assert window.state_label.text() == "State: stopped"


def test_a_finished_run_says_finished_and_the_progress_is_complete(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=5, eval_every=100))
    _run(window, qtbot, iterations=5)
    assert window.state_label.text() == "State: finished"
    assert window.training_panel.progress.value() == 5


# 9. A data file fixed after an error is read again --------------------------------------


def test_choosing_the_same_fixed_file_again_rereads_it_and_reload_does_too(
    make_window, qtbot, tmp_path, monkeypatch
):
    window = make_window(small_spec("ode"))
    csv = tmp_path / "d.csv"
    csv.write_text("series,time,x\na,0,1\na,1,oops\n")
    panel = window.data_panel
    demo = panel.dataset

    def loaded() -> None:  # files load in a worker thread
        qtbot.waitUntil(lambda: not panel.loading, timeout=10_000)

    panel.source.setCurrentText("file")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(csv), ""))
    panel.browse.click()
    loaded()
    assert panel.error.isVisibleTo(panel) and "oops" in panel.error.text()
    assert panel.dataset is demo  # what cannot be read leaves the previous dataset
    rows = "".join(f"{s},{t},{t * 0.5}\n" for s in "abcdefgh" for t in range(6))
    csv.write_text("series,time,x\n" + rows)
    panel.browse.click()  # the same path chosen again
    loaded()
    assert not panel.error.isVisibleTo(panel) and panel.dataset is not None
    assert panel.dataset.n_series == 8
    eight = panel.dataset
    csv.write_text("series,time,x\na,0,\n")
    window.reload_action.trigger()
    loaded()
    assert panel.error.isVisibleTo(panel) and panel.dataset is eight
    csv.write_text("series,time,x\n" + "".join(f"{s},{t},{t}\n" for s in "abcd" for t in range(6)))
    panel.reload.click()
    loaded()
    assert panel.dataset.n_series == 4 and not panel.error.isVisibleTo(panel)


# 10. Reset asks when trained weights would be lost; one state for both controls ---------


def test_reset_asks_before_discarding_trained_weights_and_shares_one_state(
    make_window, qtbot, questions
):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    panel_reset = window.training_panel.reset_button
    assert not panel_reset.isEnabled() and not window.reset_action.isEnabled()  # nothing yet
    _run(window, qtbot)
    assert panel_reset.isEnabled() and window.reset_action.isEnabled()
    questions.answer = No
    window.reset_action.trigger()
    assert "Discard the trained weights (4 iterations)" in questions.asked[-1]
    assert window.session.trainer is not None
    questions.answer = Yes
    panel_reset.click()
    assert window.session.trainer is None
    assert not panel_reset.isEnabled() and not window.reset_action.isEnabled()
    assert window.loss_plot.train.n == 0


# 13. File dialogs and names ---------------------------------------------------------------


def test_dialogs_open_in_the_projects_folder_and_save_takes_the_files_name(
    make_window, qtbot, tmp_path, monkeypatch
):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    seen: list[str] = []
    target = tmp_path / "work" / "mine.ndeproj"
    target.parent.mkdir()

    def save_dialog(parent, caption, start, *args, **kwargs):
        seen.append(start)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    preset_name = window.session.spec.name
    window.save()  # Ctrl+S on a new window asks for a name, proposing the run's name
    assert seen == [str(Path.home() / f"{preset_name}.ndeproj")]
    qtbot.waitUntil(target.exists, timeout=30_000)
    assert window.project_path == target
    assert window.session.spec.name == "mine"  # not the preset's name
    assert '"name": "mine"' in target.read_text()
    opened: list[str] = []

    def open_dialog(parent, caption, start, *args, **kwargs):
        opened.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", open_dialog)
    window.open_dialog()
    assert opened == [str(target.parent)]
    assert window.exports.default_path("x") == target.parent / "mine-model.pt"
    fresh = make_window()
    assert fresh.dialog_folder() == target.parent  # the last folder used


def test_the_rate_after_a_pause_is_the_rate_of_training(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=100_000, eval_every=1000))
    window.train()
    qtbot.waitUntil(lambda: window.rate_label.text().endswith("steps/s"), timeout=60_000)
    window.session.pause()
    qtbot.waitUntil(lambda: "before the pause" in window.rate_label.text(), timeout=10_000)
    paused_text = window.rate_label.text()
    rate_before = float(paused_text.split()[0])
    qtbot.wait(1500)  # paused for a while: the rate must not count this time
    window.session.resume()
    qtbot.waitUntil(
        lambda: (
            window.rate_label.text().endswith("steps/s") and "pause" not in window.rate_label.text()
        ),
        timeout=30_000,
    )
    qtbot.wait(700)
    rate_after = float(window.rate_label.text().split()[0])
    assert rate_after > 0.4 * rate_before, (rate_before, rate_after)
    window.session.stop()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=30_000)


# 11. A reopened project shows its last evaluation and every curve ----------------------------


def test_reopening_a_project_shows_its_predictions_metrics_and_curves(make_window, qtbot, tmp_path):
    window, project = _trained_project(make_window, qtbot, tmp_path)
    text = window.training_panel.metrics.text()
    assert text.startswith("validation loss")
    predicted = window.trajectory_plot.snapshot.predicted
    fresh = make_window()
    assert fresh.open_project(project)
    assert fresh.training_panel.metrics.text() == text
    assert fresh.trajectory_plot.snapshot is not None
    assert np.array_equal(fresh.trajectory_plot.snapshot.predicted, predicted)
    assert fresh.phase_plot.snapshot is not None
    for plot in (fresh.loss_plot, fresh.gradient_plot, fresh.nfe_plot):
        assert plot.x_extent == 4.0
    assert fresh.gradient_plot.total.n == 4
    assert fresh.nfe_plot.forward.n == 4


# 3. A training loss far below validation is flagged in the window ---------------------------


def test_a_loss_gap_warning_is_shown_and_cleared_on_switching(make_window, qtbot):
    from ndestudio.core import events as ev

    window = make_window(small_spec("ode"))
    panel = window.training_panel
    window._on_events([ev.Eval(75, 0.3, {"rmse": 0.5}, None, "Training loss is 150× below")])
    assert panel.warning.isVisibleTo(panel) and "150×" in panel.warning.text()
    window._on_events([ev.Eval(100, 0.01, {"rmse": 0.1}, None, None)])
    assert not panel.warning.isVisibleTo(panel)
    _run(window, qtbot, iterations=2)  # a run of this family and dataset on screen
    window._on_events([ev.Eval(2, 0.3, {}, None, "Training loss is 150× below")])
    assert panel.warning.isVisibleTo(panel)
    window.model_panel.family.setCurrentText("cde")
    assert not panel.warning.isVisibleTo(panel)


# Issue 12, structure: a view is a module the window feeds, not code in the window -----------


class _RecordingView:
    def __init__(self) -> None:
        self.steps: list[int] = []
        self.cleared = 0
        self.replayed: list[object] = []
        self.datasets: list[object] = []

    def on_events(self, batch) -> None:
        from ndestudio.core import events as ev

        self.steps += [e.iteration for e in batch if isinstance(e, ev.Step)]

    def clear(self) -> None:
        self.cleared += 1

    def replay(self, trainer) -> None:
        self.replayed.append(trainer)

    def set_dataset(self, dataset) -> None:
        self.datasets.append(dataset)


def test_an_added_view_gets_the_runs_events_clears_and_replays(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=4, eval_every=2))
    view = _RecordingView()
    window.add_view(view)
    assert view.datasets == [window.data_panel.dataset]
    _run(window, qtbot)
    assert view.steps == [1, 2, 3, 4]
    cleared = view.cleared
    window.model_panel.family.setCurrentText("cde")  # another run takes the screen
    assert view.cleared > cleared
    window.model_panel.family.setCurrentText("ode")  # the preset differs: nothing to replay
    late = _RecordingView()
    window.session.set_spec(window.session.trainer.spec)
    window._sync_views()
    assert view.replayed == [window.session.trainer]
    window.add_view(late)  # a view added while a run is shown is shown that run
    assert late.replayed == [window.session.trainer]
