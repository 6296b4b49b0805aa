"""``ndestudio gui --smoke``: the whole application's start, checked without a person —
show the window, wait for the core to load, train a few steps, quit. Installed wheels and the
bundled application are tested with it; the exit status says whether it worked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from ndestudio.core import events as ev
from ndestudio.gui.main_window import MainWindow

SMOKE_STEPS = 5
SMOKE_TIMEOUT_S = 300.0


class SmokeCheck(QObject):
    """Trains ``steps`` steps in ``window`` once its core has loaded, then closes it; the
    outcome is ``code`` (0: the steps were trained) and one line on stderr."""

    def __init__(self, window: MainWindow, steps: int = SMOKE_STEPS) -> None:
        super().__init__(window)
        self.window, self.steps = window, steps
        self.code = 1
        self.trained = 0
        self.loss = float("nan")
        self.problem = ""
        self.started = time.perf_counter()
        self.core_s = 0.0
        self.finished = False
        self.ran = False  # a run has started
        window.session.events.connect(self._on_events)
        window.session.state_changed.connect(self._on_state)
        window.session.problem.connect(self._on_problem)
        self.timeout = QTimer(self)
        self.timeout.setSingleShot(True)
        self.timeout.timeout.connect(self._timed_out)
        self.timeout.start(int(SMOKE_TIMEOUT_S * 1000))

    def start(self, project: Path | None = None) -> None:
        """Called once the core is loaded; ``project``: open it first, and train it."""
        self.core_s = time.perf_counter() - self.started
        print(f"smoke: window shown, core loaded in {self.core_s:.1f} s", file=sys.stderr)
        if project is not None and not self.window.open_project(project):
            box = self.window.failure_box
            self._finish(box.text() if box is not None else f"cannot open {project}")
            return
        self.window.training_panel.iterations.setValue(self.steps)  # (the run: 5 steps)
        self.window.train()
        self._check_started()

    def _check_started(self) -> None:
        """Until the run starts: a Train that waits for its data file (or packaged dataset)
        to load is not a failure; a load that ended without starting the run is."""
        if self.finished or self.window.session.state != "idle":
            return
        if self.window.data_panel.loading:  # (a load that ends starts the run, or fails)
            QTimer.singleShot(100, self._check_started)
            return
        panel_error = self.window.data_panel.error
        refused = panel_error.text() if not panel_error.isHidden() else ""
        self._finish(self.problem or refused or "training did not start")

    def _on_events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            if isinstance(event, ev.Step):
                self.trained, self.loss = event.iteration, event.loss
            elif isinstance(event, ev.Failed):
                self.problem = event.message
        if self.trained >= self.steps and self.window.session.state == "running":
            self.window.session.stop()  # (a run that was continued, with more to go)

    def _on_problem(self, message: str) -> None:
        self.problem = message

    def _on_state(self, state: str) -> None:
        if state != "idle":
            self.ran = True
        elif self.ran:
            self._finish(self.problem)

    def _timed_out(self) -> None:
        self.problem = f"no {self.steps} steps within {SMOKE_TIMEOUT_S:.0f} s"
        self.window.session.stop()
        self._finish(self.problem)

    def _finish(self, problem: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.timeout.stop()
        if self.trained >= self.steps and not problem:
            self.code = 0
            print(
                f"smoke: trained {self.trained} steps (loss {self.loss:.4g}) in "
                f"{time.perf_counter() - self.started:.1f} s; quitting",
                file=sys.stderr,
            )
        else:
            print(f"smoke: failed: {problem or 'training ended early'}", file=sys.stderr)
        self.window.dirty = False  # (nothing to ask about: a check, not work)
        QTimer.singleShot(0, self.window.close)
        QTimer.singleShot(0, QApplication.quit)
