"""Start the desktop application: QApplication driven by a qasync event loop."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pyqtgraph as pg
import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from ndestudio.core.resources import resource_path
from ndestudio.core.specs import RunSpec
from ndestudio.gui import theme
from ndestudio.gui.autosave import discard_orphan, orphaned_autosaves
from ndestudio.gui.colour_scheme import apply_theme
from ndestudio.gui.main_window import MainWindow
from ndestudio.gui.plots import svg_export
from ndestudio.gui.smoke import SmokeCheck

DESKTOP_ID = "io.github.ndestudio.NDEStudio"


def app_icon() -> QIcon:
    """The application's icon, at each size rendered from its SVG (packaging/render_icons.py):
    a pixmap per size reads better at 16 px than the SVG scaled down."""
    icon = QIcon()
    for folder in sorted(resource_path("icons").iterdir()):
        png = folder / "ndestudio.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon if not icon.isNull() else QIcon(str(resource_path("icons", "ndestudio.svg")))


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("NDE Studio")
    app.setOrganizationName("NDE Studio")
    app.setDesktopFileName(DESKTOP_ID)  # (Wayland and docks match the .desktop file by it)
    app.setWindowIcon(app_icon())
    apply_theme(theme.current())  # (the window sets the desktop's, or the chosen, scheme)
    pg.setConfigOptions(antialias=False)
    svg_export.install()
    return app  # type: ignore[return-value]


def offer_restore(window: MainWindow) -> None:
    """After a crash or a kill, the dead instance's autosave is still there: offer it.

    Only autosaves whose instance is gone are offered (a running instance holds its lock):
    Restore reopens it as an unsaved, untitled session; Discard deletes it; Keep leaves it
    for the next start.
    """
    for project in orphaned_autosaves(window.autosave_dir):
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Restore autosave?",
            "An NDE Studio session did not close cleanly (a crash or a kill). Reopen what it "
            f"autosaved?\n\n{project}",
            parent=window,
        )
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Keep for later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is restore:
            if window.open_project(project):
                window.project_path = None
                window.mark_dirty(True)
                window.autosave()  # now this window's own autosave holds it
                discard_orphan(project)
            return
        if box.clickedButton() is discard:
            discard_orphan(project)


def mention_orphans(window: MainWindow) -> None:
    """With ``--train`` nothing may wait behind a dialog: only say that an autosave waits."""
    orphans = orphaned_autosaves(window.autosave_dir)
    if orphans:
        window.statusBar().showMessage(
            f"An autosave of a session that did not close cleanly is kept in {orphans[0].parent};"
            " start NDE Studio without --train to restore it.",
            15_000,
        )


def launch(
    project: Path | None = None,
    spec: RunSpec | None = None,
    autotrain: bool = False,
    smoke: bool = False,
) -> MainWindow:
    """Show the window, then load PyTorch behind it (see gui/core_loader.py); the project,
    an autosave to restore and ``autotrain`` wait until it is loaded. ``smoke``: train a few
    steps and quit (see gui/smoke.py; the window's ``smoke`` holds the outcome)."""
    app = make_app()
    window = MainWindow(spec, defer_core=True)
    window.smoke = SmokeCheck(window) if smoke else None
    window.show()
    app.processEvents()  # paint the window before the import takes the GIL
    window.load_core()

    def start() -> None:
        if window.smoke is not None:
            mention_orphans(window)
            window.smoke.start(project)
            return
        if project is not None:
            window.open_project(project)
        elif autotrain:
            mention_orphans(window)
        else:
            offer_restore(window)
            window.first_start()
        if autotrain:
            window.train()

    window.when_core_loaded(start)
    return window


def run(
    project: Path | None = None,
    spec: RunSpec | None = None,
    autotrain: bool = False,
    smoke: bool = False,
) -> int:
    """The application's event loop until the window closes; its exit status."""
    window = launch(project, spec, autotrain, smoke)  # referenced while the loop runs
    app = QApplication.instance()

    async def main() -> None:
        closed = asyncio.Event()
        app.aboutToQuit.connect(closed.set)
        await closed.wait()  # closing the window removed its autosave (closeEvent)

    with contextlib.suppress(asyncio.CancelledError):
        qasync.run(main())
    return window.smoke.code if window.smoke is not None else 0
