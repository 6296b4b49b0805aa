"""What the screenshot scripts (``*_shot.py``) share: a window as a user first sees it, with
its own settings, waiting while the event loop runs, and closing it without questions."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def shot_window(spec: Any = None, size: tuple[int, int] = (1400, 900)) -> Any:
    """A shown main window on ``spec`` (the spiral demo when None), with settings and
    autosaves in a temporary folder, the docks at their usual widths."""
    from PySide6.QtCore import QSettings, Qt

    from ndestudio.gui.app import make_app
    from ndestudio.gui.main_window import DOCK_WIDTHS, MainWindow

    make_app()
    folder = Path(tempfile.mkdtemp())
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(spec, settings=settings)
    window.autosave_dir = folder / "autosave"
    window.resize(*size)
    window.show()
    window.resizeDocks(
        [window.model_dock, window.training_dock], list(DOCK_WIDTHS), Qt.Orientation.Horizontal
    )
    return window


def wait(done: Callable[[], bool], seconds: float) -> None:
    """Run the event loop until ``done()`` or ``seconds`` have passed."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def close(window: Any) -> None:
    window.session.shutdown()
    window.dirty = False
    window.close()
