"""The training worker: runs the core's event generator on a QThread, sends events in batches.

The worker never touches a widget. Events are coalesced and emitted at most ``max_rate`` times
a second over a queued signal; terminal events (stopped, finished, failed) and the test
metrics (tested) go out at once.
Saving is done here too, between two training steps, so that weights are never read while an
optimiser step writes them.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl

if TYPE_CHECKING:
    from ndestudio.core.training import Trainer

TERMINAL = (ev.Stopped, ev.Finished, ev.Failed)


class TrainingWorker(QObject):
    """Lives on a QThread; ``run`` is started by the thread's ``started`` signal."""

    batch = Signal(object)  # list[Event]
    saved = Signal(str)
    save_failed = Signal(str)
    done = Signal()

    def __init__(self, trainer: Trainer, control: TrainControl, max_rate: float = 5.0) -> None:
        super().__init__()
        self.trainer = trainer
        self.control = control
        self.interval = 1.0 / max_rate
        self._save_lock = threading.Lock()
        self._save_to: tuple[Path, Callable[[], None] | None] | None = None

    def request_save(self, path: Path, then: Callable[[], None] | None = None) -> None:
        """Ask for a checkpoint at the next step boundary (thread-safe); ``then`` runs on
        this thread once it is written (e.g. the project file that refers to it)."""
        with self._save_lock:
            self._save_to = (Path(path), then)

    def _save_if_requested(self) -> None:
        with self._save_lock:
            request, self._save_to = self._save_to, None
        if request is None:
            return
        path, then = request
        try:
            self.trainer.save(path)
            if then is not None:
                then()
        except OSError as exc:
            self.save_failed.emit(f"{exc.filename or path}: {exc.strerror or exc}")
        else:
            self.saved.emit(str(path))

    @Slot()
    def run(self) -> None:
        pending: list[ev.Event] = []
        last = 0.0
        try:
            for event in self.trainer.run(self.control):
                pending.append(event)
                now = time.perf_counter()
                urgent = isinstance(event, (*TERMINAL, ev.Tested, ev.Paused, ev.Started))
                if urgent or now - last >= self.interval:
                    self.batch.emit(pending)
                    pending = []
                    last = now
                self._save_if_requested()
        except Exception as exc:  # a bug must not take the window down: report it
            pending.append(
                ev.Failed(
                    self.trainer.iteration,
                    f"Training crashed (a bug; please report it): {exc!r}\n"
                    + traceback.format_exc(limit=3),
                )
            )
        if pending:
            self.batch.emit(pending)
        self._save_if_requested()
        self.done.emit()
