"""Help ▸ About lists the versions; the "what to try" page shows once, then from Help; the
window has the application's icon; ``ndestudio gui --smoke`` starts, trains and quits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ndestudio import __version__
from ndestudio.core.resources import config_path
from ndestudio.gui.about import AboutDialog, WhatToTryDialog, show_what_to_try_once


def _help_actions(window) -> list[str]:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return [a.text() for a in menu.actions()]


def test_about_lists_the_versions(make_window, qtbot):
    window = make_window()
    assert _help_actions(window) == ["&What to try", "&About NDE Studio"]
    dialog = AboutDialog(window)
    qtbot.addWidget(dialog)
    text = dialog.label.text()
    assert f"NDE Studio</td><td>&nbsp;&nbsp;{__version__}" in text
    for label, dist in (("PyTorch", "torch"), ("torchdiffeq", "torchdiffeq")):
        assert f"{label}</td><td>&nbsp;&nbsp;{metadata.version(dist)}" in text
    for dist in ("torchsde", "torchcde", "PySide6", "pyqtgraph"):
        assert metadata.version(dist) in text
    assert "Python" in text and "CUDA device" in text


def test_what_to_try_shows_on_the_first_start_only(make_window, qtbot, tmp_path):
    window = make_window()
    settings = QSettings(str(tmp_path / "first.ini"), QSettings.Format.IniFormat)
    first = show_what_to_try_once(settings, window)
    assert isinstance(first, WhatToTryDialog) and first.isVisible()
    assert "Load a demo" in first.label.text() and "Export" in first.label.text()
    assert "href" not in first.label.text()  # (offline: no links)
    first.close()
    assert show_what_to_try_once(settings, window) is None
    again = QSettings(str(tmp_path / "first.ini"), QSettings.Format.IniFormat)
    assert show_what_to_try_once(again, window) is None  # remembered across starts


def test_the_window_has_the_application_icon(make_window):
    window = make_window()
    icon = QApplication.windowIcon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert {16, 32, 48, 256} <= sizes
    assert not window.windowIcon().isNull()


def _smoke(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", "gui", *args, "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )


def test_gui_smoke_starts_trains_five_steps_and_quits(tmp_path):
    result = _smoke(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "smoke: window shown, core loaded in" in result.stderr
    assert "smoke: trained 5 steps (loss " in result.stderr
    assert "Traceback" not in result.stderr


def test_gui_smoke_waits_for_a_data_file_and_names_what_it_cannot_read(tmp_path):
    """A config whose data is a file loads it in the data panel's worker before the run
    starts: the smoke check waits for that, and a file it cannot read fails it by name."""
    rows = "".join(f"s{s},{t},{t + s},{t * s}\n" for s in range(8) for t in range(6))
    data = tmp_path / "series.csv"
    data.write_text("series,time,x,y\n" + rows)
    config = json.loads(config_path("ode_spiral").read_text())
    config["data"] = {"source": "file", "path": str(data)}
    config["train"]["window"] = None
    good = tmp_path / "file.json"
    good.write_text(json.dumps(config))
    result = _smoke(tmp_path, "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert "smoke: trained 5 steps (loss " in result.stderr

    broken = tmp_path / "broken.csv"
    broken.write_text("series,time,x,y\ns0,0,1,2\ns0,1,oops,3\n")
    config["data"]["path"] = str(broken)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    result = _smoke(tmp_path, "--config", str(bad))
    assert result.returncode == 1
    assert "smoke: failed: " in result.stderr and "broken.csv" in result.stderr
    assert "training did not start" not in result.stderr and "Traceback" not in result.stderr

    result = _smoke(tmp_path, str(good))  # (a run config is not a project: it is not opened)
    assert result.returncode == 1
    assert "smoke: failed: Cannot open the project" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_tensorboard_box_logs_a_window_run(make_window, qtbot, tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    window = make_window()
    panel = window.training_panel
    assert panel.tensorboard.isEnabled()
    panel.tensorboard.setChecked(True)
    panel.tensorboard_dir.setText(str(tmp_path / "tb"))
    panel.iterations.setValue(30)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    assert window.tensorboard_logging.log is None  # closed with the run
    folder = tmp_path / "tb" / window.session.spec.name
    events = accumulator.EventAccumulator(str(folder))
    events.Reload()
    losses = {e.step: e.value for e in events.Scalars("loss")}
    history = window.session.trainer.history
    assert sorted(losses) == list(range(1, 31))
    for step, loss in zip(history["iteration"], history["loss"], strict=True):
        assert losses[step] == pytest.approx(loss, rel=1e-6)
    assert [e.step for e in events.Scalars("val_loss")] == window.session.trainer.eval_history[
        "iteration"
    ]


def test_the_tensorboard_box_without_a_folder_says_so(make_window, qtbot):
    pytest.importorskip("tensorboard")
    window = make_window()
    said: list[str] = []
    window.session.problem.connect(said.append)
    window.training_panel.tensorboard.setChecked(True)
    window.training_panel.iterations.setValue(3)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    assert window.session.trainer.iteration == 3  # (the run itself goes on)
    assert any("no folder is given" in message for message in said)
