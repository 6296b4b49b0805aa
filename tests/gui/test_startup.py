"""Start-up: the window shows before PyTorch loads, then fills in and trains (a subprocess:
this test process has imported torch already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_window_shows_before_torch_then_trains(tmp_path):
    script = Path(__file__).with_name("startup_app.py")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        # Settings and autosaves of this run stay in the temporary folder.
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Shown and painted with the spec in its (disabled) panels, torch not imported yet.
    assert seen["visible_at_load"] and not seen["torch_at_show"], seen
    assert seen["width_at_show"] == 48 and seen["method_at_show"] == "dopri5", seen
    assert not seen["train_enabled_at_show"], seen
    assert not seen["model_panel_enabled_at_show"] and not seen["training_panel_enabled_at_show"]
    assert seen["state_after_early_train"] == "idle", seen
    # The GUI thread kept running while the core loaded on its thread.
    assert seen["ticks_while_loading"] >= 10, seen
    # Then the catalog, the preview and the controls arrive, and --train runs to the end.
    assert seen["methods_after_load"] > 1 and seen["preview_after_load"], seen
    assert seen["training_panel_enabled_after_load"], seen
    assert seen["iterations"] == 20 and seen["loss_points"] == 20, seen


def test_a_core_that_cannot_load_is_explained_and_the_window_lives_on(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from ndestudio.gui import core_loader
    from ndestudio.gui.main_window import MainWindow

    def broken_import() -> None:
        raise ImportError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(core_loader, "import_core", broken_import)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, defer_core=True)
    qtbot.addWidget(window)
    window.show()
    window.load_core()
    qtbot.waitUntil(lambda: window.failure_box is not None, timeout=10_000)
    assert "could not load PyTorch" in window.failure_box.text()
    assert "libtorch_cpu.so" in window.failure_box.text()
    assert "training is unavailable" in window.statusBar().currentMessage()
    assert not window.core_loaded and not window.train_action.isEnabled()
    window.train()  # refused quietly: nothing to train with
    assert window.session.state == "idle" and window.isVisible()
