"""Projects on disk: save, open, new, recent files, the autosave, and the question before
unsaved work would be lost. File writing and reading run in the event loop's executor."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ndestudio.core.project import (
    Project,
    ProjectError,
    checkpoint_path,
    load_project,
    save_project,
)
from ndestudio.core.specs import RunSpec

if TYPE_CHECKING:
    from ndestudio.core.training import Trainer
    from ndestudio.gui.main_window import MainWindow

MAX_RECENT = 8
PROJECT_FILTER = "NDE Studio projects (*.ndeproj)"


class ProjectFiles:
    """The window's project files. ``window.project_path`` is the open project (None when
    untitled) and ``window.dirty`` whether it has unsaved changes."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    # writing -------------------------------------------------------------------------------

    def write(self, path: Path, spec: RunSpec, ui: dict) -> None:
        """Write weights (at the next step boundary if a run is going) and the project file.

        Touches no widget, so it may run in the event loop's executor.
        """
        session = self.window.session
        has_weights = session.trainer is not None
        write_project = functools.partial(save_project, path, spec, has_weights, ui)
        if has_weights:  # the weights first (both atomically): the project names them
            session.save_checkpoint(checkpoint_path(path), then=write_project)
        else:
            write_project()

    def named(self, path: Path) -> RunSpec:
        """The spec to save as ``path``: it takes the project's name (the file's stem), which
        names its exports and CLI run folders; the preset's name does not stick."""
        spec = self.window.collect_spec()
        spec.name = Path(path).stem
        return spec

    def saved_as(self, path: Path) -> None:
        w = self.window
        w.session.spec.name = path.stem
        w.project_path = path
        w.mark_dirty(False)
        self.add_recent(path)
        w.statusBar().showMessage(f"Saved {path}", 4000)

    def save_to(self, path: Path) -> None:
        """Save spec and weights now, on this thread."""
        path = Path(path)
        self.write(path, self.named(path), self.window.ui_state())
        self.saved_as(path)

    async def save_async(self, path: Path) -> None:
        """Save without blocking the GUI: file writing runs in the event loop's executor."""
        loop = asyncio.get_running_loop()
        spec, ui = self.named(path), self.window.ui_state()  # widgets: on the GUI thread
        await loop.run_in_executor(None, self.write, Path(path), spec, ui)
        self.saved_as(Path(path))

    def save_copy(self, path: Path) -> None:
        """Like saving, but leaves the project's own name and unsaved state alone."""
        self.write(path, self.window.collect_spec(), self.window.ui_state())

    def save(self) -> None:
        if self.window.project_path is None:
            self.save_as_dialog()  # a new window has no name yet: ask for one
        else:
            self.window.schedule(self.save_async(self.window.project_path))

    def save_as_dialog(self) -> None:
        path = self.ask_save_path()
        if path is not None:
            self.window.schedule(self.save_async(path))

    def ask_save_path(self) -> Path | None:
        """The project file to save as, from a dialog that starts in the project's folder
        (or the last one used) and asks before replacing a file; None if cancelled."""
        w = self.window
        stem = w.project_path.stem if w.project_path else w.session.spec.name
        path, _ = QFileDialog.getSaveFileName(
            w, "Save project", str(self.dialog_folder() / f"{stem}.ndeproj"), PROJECT_FILTER
        )
        if not path:
            return None
        if not path.endswith(".ndeproj"):
            path += ".ndeproj"
        self.remember_folder(Path(path))
        return Path(path)

    # reading -------------------------------------------------------------------------------

    @staticmethod
    def read(path: Path) -> tuple[Project, Trainer | None]:
        """The project file and its trained run; a ``ProjectError`` says what is wrong."""
        from ndestudio.core.errors import UserError
        from ndestudio.core.training import Trainer

        project = load_project(path)
        try:
            trainer = Trainer.from_checkpoint(project.checkpoint) if project.checkpoint else None
        except UserError as exc:  # a damaged checkpoint, or its data that cannot be loaded
            raise ProjectError(str(exc)) from exc
        return project, trainer

    def open(self, path: Path) -> bool:
        path = Path(path)
        try:
            project, trainer = self.read(path)
        except ProjectError as exc:
            self.window.show_problem(f"Cannot open the project:\n{exc}")
            return False
        self.window.show_project(path, project, trainer)
        self.add_recent(path)
        return True

    async def open_async(self, path: Path) -> bool:
        """Open without blocking the GUI: reading and rebuilding run in the executor."""
        loop = asyncio.get_running_loop()
        try:
            project, trainer = await loop.run_in_executor(None, self.read, Path(path))
        except ProjectError as exc:
            self.window.show_problem(f"Cannot open the project:\n{exc}")
            return False
        self.window.show_project(Path(path), project, trainer)
        self.add_recent(Path(path))
        return True

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open project", str(self.dialog_folder()), PROJECT_FILTER
        )
        if path:
            self.remember_folder(Path(path))
            self.window.schedule(self.open_async(Path(path)))

    # folders and recent files --------------------------------------------------------------

    def dialog_folder(self) -> Path:
        """Where file dialogs start: the open project's folder, else the last folder a dialog
        chose, else the home folder."""
        project = self.window.project_path
        if project is not None and project.parent.is_dir():
            return project.parent
        last = self.window.settings.value("last_folder", "", type=str)
        if last and Path(last).is_dir():
            return Path(last)
        return Path.home()

    def remember_folder(self, chosen: Path) -> None:
        self.window.settings.setValue("last_folder", str(Path(chosen).parent))

    def add_recent(self, path: Path) -> None:
        settings = self.window.settings
        recent = [p for p in settings.value("recent", [], type=list) if p != str(path)]
        settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self.refresh_recent()

    def refresh_recent(self) -> None:
        menu = self.window.menus.recent_menu
        menu.clear()
        recent = self.window.settings.value("recent", [], type=list)
        for p in recent:
            action = menu.addAction(p)
            action.triggered.connect(
                lambda _=False, p=p: (
                    self.confirm_discard() and self.window.schedule(self.open_async(Path(p)))
                )
            )
        menu.setEnabled(self.window.core_loaded and bool(recent))

    # unsaved work --------------------------------------------------------------------------

    def confirm_discard(self, closing: bool = False) -> bool:
        """Before unsaved work would be lost (New, Open, closing the window), ask Save /
        Discard / Cancel, training or not; True to go on. A run still going is stopped once
        the answer is Save or Discard (Save writes its weights as they are after the stop)."""
        w = self.window
        if w.dirty:
            what = "closing" if closing else "going on"
            running = w.session.state != "idle"
            answer = QMessageBox.question(
                w,
                "Unsaved changes",
                "The current project has unsaved changes"
                + (" and a run in progress" if running else "")
                + f". Save them before {what}?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Save:
                path = w.project_path or self.ask_save_path()
                if path is None:
                    return False
                w.session.shutdown()  # the weights hold still; written on this thread
                try:
                    self.save_to(path)
                except OSError as exc:
                    w.show_problem(f"The project was not saved, nothing was closed:\n{exc}")
                    return False
            elif answer != QMessageBox.StandardButton.Discard:
                return False
        w.session.shutdown()
        return True

    def autosave(self) -> None:
        """Save the session to this window's autosave: a crash loses at most one interval."""
        w = self.window
        if not w.dirty:
            return
        try:
            w.autosave_slot.acquire()
            self.save_copy(w.autosave_slot.project)
        except OSError as exc:
            w.statusBar().showMessage(f"Autosave failed: {exc}", 6000)
