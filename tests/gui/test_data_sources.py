"""The dataset panel's sources (demo, file, packaged dataset), its test-set and format
controls, loading in a worker with progress and cancel, drag and drop of a data file, and the
test metrics and early stopping a run reports."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from ndestudio.core import data as core_data
from ndestudio.core import events as ev
from ndestudio.core.presets import preset
from ndestudio.core.specs import DataSpec
from ndestudio.gui.panels import data_catalog, dataset_loader
from ndestudio.gui.worker import TrainingWorker
from tests.conftest import classes_csv, small_spec


def _csv(path, series: int = 8) -> str:
    rows = "".join(f"s{s},{t},{np.sin(t + s):.4f}\n" for s in range(series) for t in range(6))
    path.write_text("series,time,x\n" + rows)
    return str(path)


def _loaded(panel, qtbot) -> None:
    qtbot.waitUntil(lambda: not panel.loading, timeout=20_000)


def _row_shown(panel, widget) -> bool:
    return panel.form.form.isRowVisible(widget)


def test_every_data_and_patience_control_round_trips_the_spec(make_window, qtbot, tmp_path):
    window = make_window(preset("cde"))
    panel = window.data_panel
    test_csv = _csv(tmp_path / "test.csv")
    base = window.session.spec
    cases = [
        dataclasses.replace(
            base.data, val_fraction=0.0, test="file", test_path=test_csv, format="csv_long"
        ),
        DataSpec(source="file", path=_csv(tmp_path / "d.csv"), format="csv_wide", seed=3),
        DataSpec(source="file", path=str(tmp_path / "d.npz"), format="npz", val_fraction=0.3),
        DataSpec(source="dataset", name="basic_motions", test="split", val_fraction=0.1),
    ]
    for data in cases:
        spec = copy.deepcopy(base)
        spec.data = data
        panel.load(spec)
        out = copy.deepcopy(base)
        out.data = dataclasses.replace(  # every setting the panel writes, scrambled
            data,
            name=data.name if data.source == "file" else "other",  # (a file's is unused)
            source="demo" if data.source != "demo" else "file",
            path=None,
            format="parquet",
            test="none",
            test_path=None,
            val_fraction=0.5,
            seed=99,
        )
        panel.apply(out)
        assert out.data == data
        _loaded(panel, qtbot)
    # The rows that apply are the ones shown: a packaged dataset with its official split.
    assert _row_shown(panel, panel.packaged) and not _row_shown(panel, panel.file_row)
    assert not _row_shown(panel, panel.test_row) and not _row_shown(panel, panel.n_series)
    assert panel.test.model().item(2).isEnabled()  # "split": packaged datasets only
    panel.val_fraction.setValue(0.0)
    assert panel.val_fraction.text() == "none"

    training = window.training_panel
    for patience in (None, 1, 7):
        spec = copy.deepcopy(base)
        spec.train.patience = patience
        training.load(spec)
        out = copy.deepcopy(base)
        out.train.patience = 99
        training.apply(out)
        assert out.train.patience == patience
    training.patience.setValue(0)
    assert training.patience.text() == "off"


def test_a_cancelled_load_leaves_the_previous_dataset(make_window, qtbot, tmp_path, monkeypatch):
    real = core_data.load_dataset
    seen = {"cancelled": False, "calls": 0}
    release = threading.Event()

    def slow(spec, split="train", progress=None):  # a big file, read a percent at a time
        if spec.source != "file":
            return real(spec, split, progress)
        seen["calls"] += 1
        for i in range(1, 1000):
            if not progress(i / 1000):
                seen["cancelled"] = True
                raise core_data.LoadCancelled(spec.path)
            if release.wait(0.01):
                break
        return real(spec, split)

    monkeypatch.setattr(core_data, "load_dataset", slow)
    window = make_window(small_spec("ode"))
    panel = window.data_panel
    previous, before = panel.dataset, copy.deepcopy(window.session.spec.data)
    panel.use_file(_csv(tmp_path / "big.csv"))
    qtbot.waitUntil(lambda: panel.progress.value() >= 20, timeout=10_000)  # 2 %, live
    assert panel.loading and panel.progress_row.isVisibleTo(panel)
    assert window.session.spec.data.source == "file"
    assert not window.training_panel.train_button.isEnabled()
    window.train()  # refused while the data loads
    assert window.session.trainer is None and window.session.state == "idle"
    panel.cancel.click()
    assert not panel.loading and not panel.progress_row.isVisibleTo(panel)
    assert panel.dataset is previous and panel.error.isHidden()
    assert window.session.spec.data == before  # the form is back on the data on screen
    assert panel.source.currentText() == "demo"
    assert "cancelled" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: seen["cancelled"], timeout=10_000)  # the worker stopped too
    assert window.training_panel.train_button.isEnabled()
    release.set()


def test_a_bad_file_is_one_message_and_the_dataset_stays(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window(small_spec("ode"))
    panel = window.data_panel
    previous = panel.dataset
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"series,time,x\na,0,1\na,1,\xff\n")
    panel.use_file(bad)
    _loaded(panel, qtbot)
    assert panel.error.isVisibleTo(panel)
    message = panel.error.text()
    assert str(bad) in message and "not UTF-8" in message and "Traceback" not in message
    assert panel.dataset is previous and window.failure_box is None  # no dialog
    assert "previous dataset" in panel.summary.text()
    assert "(the previous data)" in panel.preview.getPlotItem().titleLabel.text
    # A loader that crashes (a bug) is one message too, and the window lives on.
    monkeypatch.setattr(core_data, "load_dataset", lambda *a, **k: 1 / 0)
    panel.use_file(_csv(tmp_path / "fine.csv"))
    _loaded(panel, qtbot)
    assert "a bug" in panel.error.text() and "ZeroDivisionError" in panel.error.text()
    assert panel.dataset is previous and window.isVisible()


def test_a_dropped_data_file_loads_and_anything_else_is_explained(make_window, qtbot, tmp_path):
    window = make_window(small_spec("ode"))
    panel = window.data_panel
    csv = _csv(tmp_path / "dropped.csv", series=5)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(csv)])
    actions, button, none = (
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(20, 20), actions, mime, button, none)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), actions, mime, button, none)
    window.dropEvent(drop)
    assert drop.isAccepted()
    _loaded(panel, qtbot)
    data = window.session.spec.data
    assert data.source == "file" and data.path == csv and data.format == "auto"
    assert panel.dataset.n_series == 5 and panel.error.isHidden()

    other = tmp_path / "notes.txt"
    other.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    assert not window.drop_data(mime)
    assert "notes.txt is not a data file" in window.statusBar().currentMessage()
    text = QMimeData()
    text.setText("just text")
    assert not window.drop_data(text)
    assert "Only a data file" in window.statusBar().currentMessage()
    assert window.session.spec.data.path == csv


def test_a_missing_optional_package_names_the_install_command(make_window, monkeypatch):
    real = data_catalog.packaged_catalog()
    entry = dataclasses.replace(real["japanese_vowels"], package="ndestudio_no_such_package")

    def catalog():
        return {**real, "japanese_vowels": entry}

    monkeypatch.setattr(data_catalog, "packaged_catalog", catalog)
    monkeypatch.setattr(dataset_loader, "packaged_catalog", catalog)
    window = make_window(preset("cde"))
    panel = window.data_panel
    previous = panel.dataset
    panel.source.setCurrentText("dataset")
    assert panel.packaged.currentData() == "japanese_vowels"
    assert "(not installed)" in panel.packaged.currentText()
    assert not panel.loading and panel.dataset is previous
    assert 'pip install "ndestudio[datasets]"' in panel.error.text()


def test_a_packaged_dataset_and_its_test_split_load_with_their_own_names(make_window, qtbot):
    pytest.importorskip("aeon")
    window = make_window(preset("cde"))
    panel = window.data_panel
    panel.source.setCurrentText("dataset")
    panel.packaged.setCurrentIndex(panel.packaged.findData("japanese_vowels"))
    panel.test.setCurrentText("split")
    _loaded(panel, qtbot)
    assert window.session.spec.data.test == "split" and not window.session.problems()
    assert panel.dataset.name == "japanese_vowels" and panel.test_dataset.n_series == 370
    summary = panel.summary.text()
    assert "270 series" in summary and "12 channels" in summary
    assert "9 classes (1, 2, 3" in summary and "test set: 370 series" in summary
    # Train takes the loaded dataset rather than reading it again on the GUI thread.
    assert panel.dataset_for(window.session.spec.data) is panel.dataset


def _tested() -> ev.Tested:
    return ev.Tested(
        iteration=450,
        weights="best",
        n_series=370,
        metrics={"loss": 0.21, "accuracy": 0.968},
        class_names=("1", "2"),
        per_class_accuracy=(0.986, 0.944),
        confusion=np.array([[180, 3], [9, 178]]),
    )


def test_test_metrics_early_stopping_and_the_best_evaluation_are_shown(make_window):
    window = make_window(small_spec("cde"))
    finished = ev.Finished(
        iteration=450,
        wall_time=3.0,
        final_loss=0.1,
        reason="the validation loss did not improve for 5 evaluations",
        best_iteration=400,
        best_val_loss=0.0712,
    )
    window._on_events([_tested(), finished])
    panel = window.training_panel
    text = panel.test_result.text()
    assert "Test (best weights, 370 series):</b> loss 0.21, accuracy 96.8 %" in text
    assert "per class: 1 98.6 %, 2 94.4 %" in text
    assert "Stopped early at iteration 450" in panel.outcome.text()
    assert "validation loss 0.0712 at iteration 400" in panel.outcome.text()
    assert "did not improve" in window.statusBar().currentMessage()
    readout = window.readout_view
    assert readout.matrix_of.currentText() == "test"
    assert "358 of 370" in readout.accuracy.text() and "test set" in readout.accuracy.text()
    readout.matrix_of.setCurrentText("validation")  # (none computed yet: an empty matrix)
    window.clear_run()
    assert panel.test_result.text() == "" and readout.test_confusion is None


def test_the_worker_forwards_tested_at_once():
    class Run:
        iteration = 3

        def run(self, control):
            yield ev.Step(1, 0.5, 1.0, {}, 1, 1, 0.1, 0.0)
            yield _tested()
            time.sleep(0.01)
            yield ev.Finished(3, 1.0, 0.5)

    worker = TrainingWorker(Run(), control=None, max_rate=0.001)  # type: ignore[arg-type]
    batches: list[list] = []
    worker.batch.connect(batches.append)
    worker.run()
    # Tested goes out at once (not held back until the next batch is due), Finished too.
    assert [type(b[-1]) for b in batches][-2:] == [ev.Tested, ev.Finished]
    assert isinstance(batches[-1][-1], ev.Finished)


def test_a_run_with_a_test_file_shows_its_test_score_in_the_window(make_window, qtbot, tmp_path):
    spec = small_spec("cde", iterations=20, eval_every=10)
    demo = core_data.make_demo(spec.data)
    spec.data = dataclasses.replace(
        spec.data,
        source="file",
        path=str(classes_csv(demo, range(44), tmp_path / "train.csv")),
        test="file",
        test_path=str(classes_csv(demo, range(44, 64), tmp_path / "held.csv")),
    )
    window = make_window(spec)
    panel = window.data_panel
    _loaded(panel, qtbot)
    assert panel.test_dataset is not None and panel.test_dataset.n_series == 20
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    tested = window.session.trainer.last_test
    assert tested is not None and tested.n_series == 20 and tested.weights == "best"
    # The run scored the test set the panel loaded (aligned to the training classes).
    scored = window.session.trainer.test_dataset
    assert np.array_equal(scored.values, panel.test_dataset.values, equal_nan=True)
    text = window.training_panel.test_result.text()
    assert "Test (best weights, 20 series):</b>" in text
    assert f"accuracy {100 * tested.metrics['accuracy']:.1f} %" in text
    assert window.readout_view.matrix_of.currentText() == "test"
    right = int(np.trace(tested.confusion))
    assert f"{right} of 20" in window.readout_view.accuracy.text()


def test_train_with_a_changed_file_loads_it_in_the_worker_first(make_window, qtbot, tmp_path):
    """Train never reads data on the GUI thread: a run whose file changed since it was shown
    starts once the panel's worker has read it again, with that very dataset."""
    spec = small_spec("ode", iterations=4, eval_every=2)
    spec.data.source, spec.data.path, spec.train.window = "file", _csv(tmp_path / "a.csv"), None
    window = make_window(spec)
    panel = window.data_panel
    _loaded(panel, qtbot)
    assert panel.dataset.n_series == 8
    _csv(tmp_path / "a.csv", series=10)  # edited meanwhile
    assert panel.dataset_for(window.collect_spec().data) is None
    window.train()
    assert window.session.trainer is None  # not built here: the worker reads the file
    assert "training starts once it is loaded" in window.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: window.session.state == "idle" and window.session.trainer is not None,
        timeout=60_000,
    )
    assert window.session.trainer.dataset is panel.dataset and panel.dataset.n_series == 10
