"""The window's menus and shortcuts, and which actions are enabled in which state."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from ndestudio.gui.main_window import MainWindow


class WindowMenus:
    """File, Run, View and Help. Actions that need the torch-based core are disabled until
    it has loaded; Run's actions follow the run's state."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.core_actions: list[QAction] = []
        w = window
        bar = w.menuBar()
        file = bar.addMenu("&File")
        self._action(
            file,
            "&New",
            w.new_project,
            QKeySequence.StandardKey.New,
            "Start over with the default demo.",
        )
        self._action(
            file, "&Open…", w.open_dialog, QKeySequence.StandardKey.Open, "Open a project."
        )
        self.recent_menu: QMenu = file.addMenu("Open &recent")
        file.addSeparator()
        self._action(
            file,
            "&Save",
            w.save,
            QKeySequence.StandardKey.Save,
            "Save the project (spec and weights).",
        )
        self._action(
            file,
            "Save &as…",
            w.save_as_dialog,
            QKeySequence.StandardKey.SaveAs,
            "Save under a new name.",
        )
        file.addSeparator()
        self.reload_action = self._action(
            file,
            "Re&load data file",
            w.reload_data,
            "Ctrl+R",
            "Read the data file again, after changing it outside NDE Studio (Ctrl+R).",
        )
        self._action(
            file,
            "&Export model…",
            w.export_dialog,
            "Ctrl+E",
            "Export the trained model as a TorchScript file that runs without NDE Studio (Ctrl+E).",
        )
        file.addSeparator()
        self._action(
            file, "&Quit", w.close, QKeySequence.StandardKey.Quit, "Close NDE Studio.", False
        )
        run = bar.addMenu("&Run")
        self.train_action = self._action(
            run, "&Train / continue", w.train, "F5", "Start or continue training (F5)."
        )
        self.pause_action = self._action(
            run, "&Pause / resume", w.session.toggle_pause, "Space", "Pause or resume (Space)."
        )
        self.stop_action = self._action(run, "&Stop", w.session.stop, "Esc", "Stop the run (Esc).")
        self.reset_action = self._action(
            run,
            "&Reset weights",
            w.reset_weights,
            None,
            "Discard the trained weights: the next Train starts afresh.",
        )
        self.view_menu = bar.addMenu("&View")
        help_menu = bar.addMenu("&Help")
        self._action(
            help_menu,
            "&What to try",
            w.what_to_try,
            tip="The first steps: load a demo, train, inspect, export.",
            needs_core=False,
        )
        self._action(help_menu, "&About NDE Studio", w.about, needs_core=False)

    def _action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[..., object],
        shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
        tip: str = "",
        needs_core: bool = True,
    ) -> QAction:
        action = QAction(text, self.window)
        if needs_core:
            self.core_actions.append(action)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def show_state(self, state: str, loaded: bool, resettable: bool, file_data: bool) -> None:
        for action in self.core_actions:
            action.setEnabled(loaded)
        self.recent_menu.setEnabled(loaded and bool(self.recent_menu.actions()))
        self.train_action.setEnabled(loaded and state == "idle")
        self.reset_action.setEnabled(resettable)
        self.pause_action.setEnabled(loaded and state in ("running", "paused"))
        self.stop_action.setEnabled(loaded and state in ("running", "paused"))
        self.reload_action.setEnabled(loaded and state == "idle" and file_data)
