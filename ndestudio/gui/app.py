"""Start the desktop application: QApplication driven by a qasync event loop."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pyqtgraph as pg
import qasync
from PySide6.QtWidgets import QApplication, QMessageBox

from ndestudio.core.specs import RunSpec
from ndestudio.gui.main_window import MainWindow
from ndestudio.gui.plots import svg_export

STYLE = """
QDockWidget::title { padding: 4px; background: #e9edf2; }
QGroupBox { font-weight: bold; margin-top: 8px; }
QGroupBox::title { subcontrol-origin: margin; left: 6px; padding: 0 3px; }
QPushButton { padding: 4px 10px; }
"""


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("NDE Studio")
    app.setOrganizationName("NDE Studio")
    app.setStyleSheet(STYLE)
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    svg_export.install()
    return app  # type: ignore[return-value]


def offer_restore(window: MainWindow) -> None:
    """After a crash, the autosave is still there: offer to reopen it."""
    autosave = window.autosave_dir / "autosave.ndeproj"
    if not autosave.exists():
        return
    answer = QMessageBox.question(
        window,
        "Restore autosave?",
        "NDE Studio did not close cleanly last time. Reopen the autosaved session?",
    )
    if answer == QMessageBox.StandardButton.Yes:
        window.open_project(autosave)
        window.project_path = None
        window._mark_dirty(True)


def launch(
    project: Path | None = None, spec: RunSpec | None = None, autotrain: bool = False
) -> MainWindow:
    """Show the window, then load PyTorch behind it (see gui/core_loader.py); the project,
    an autosave to restore and ``autotrain`` wait until it is loaded."""
    app = make_app()
    window = MainWindow(spec, defer_core=True)
    window.show()
    app.processEvents()  # paint the window before the import takes the GIL
    window.load_core()

    def start() -> None:
        if project is not None:
            window.open_project(project)
        else:
            offer_restore(window)
        if autotrain:
            window.train()

    window.when_core_loaded(start)
    return window


def run(project: Path | None = None, spec: RunSpec | None = None, autotrain: bool = False) -> int:
    window = launch(project, spec, autotrain)
    app = QApplication.instance()

    async def main() -> None:
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        await closed.wait()
        # A clean exit: nothing to restore next time.
        (window.autosave_dir / "autosave.ndeproj").unlink(missing_ok=True)
        (window.autosave_dir / "autosave.pt").unlink(missing_ok=True)

    with contextlib.suppress(asyncio.CancelledError):
        qasync.run(main())
    return 0
