"""The session: the run spec being edited, the trainer, and the run's state machine.

States: ``idle`` (nothing running; a trainer may hold a finished or stopped run), ``starting``,
``running``, ``paused`` and ``stopping``. The worker thread is created per run and torn down
when it ends; closing the window stops it and waits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl
from ndestudio.core.errors import UserError
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.validation import validate
from ndestudio.gui.worker import TrainingWorker

if TYPE_CHECKING:  # imported when a run starts: the window shows before torch (core_loader)
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.training import Trainer


def _same_run(a: RunSpec, b: RunSpec) -> bool:
    """Two specs describe the same run if they differ at most in the iteration count."""
    a2, b2 = copy.deepcopy(a), copy.deepcopy(b)
    a2.train.iterations = b2.train.iterations = 0
    a2.name = b2.name = ""
    return a2 == b2


class Session(QObject):
    state_changed = Signal(str)
    events = Signal(object)  # list[Event], on the GUI thread
    run_reset = Signal()  # a new run starts from scratch: clear the plots
    spec_changed = Signal()
    problem = Signal(str)  # a message for the user (not an exception)
    saved = Signal(str)

    def __init__(self, spec: RunSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or RunSpec()
        self.trainer: Trainer | None = None
        self.state = "idle"
        self.control: TrainControl | None = None
        self.thread: QThread | None = None
        self.worker: TrainingWorker | None = None

    # Spec ----------------------------------------------------------------------------------

    def set_spec(self, spec: RunSpec) -> None:
        self.spec = spec
        self.spec_changed.emit()

    def problems(self) -> list[str]:
        try:
            validate(self.spec)
        except SpecError as exc:
            return exc.problems
        return []

    @property
    def matches_trainer(self) -> bool:
        """The spec describes the trainer's run (the iteration count aside)."""
        return self.trainer is not None and _same_run(self.trainer.spec, self.spec)

    @property
    def can_continue(self) -> bool:
        t = self.trainer
        return (
            t is not None
            and _same_run(t.spec, self.spec)
            and t.iteration < self.spec.train.iterations
        )

    # Run control ---------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def train(
        self,
        dataset: TimeSeriesDataset | None = None,
        test_dataset: TimeSeriesDataset | None = None,
    ) -> bool:
        """Start (or continue) training; False with a ``problem`` message if it cannot.

        ``dataset`` and ``test_dataset``: the training data and held-out test set the spec
        describes, when the caller has them already.
        """
        if self.state != "idle":
            return False
        problems = self.problems()
        if problems:
            self.problem.emit("The run cannot start:\n• " + "\n• ".join(problems))
            return False
        if not self.can_continue:
            from ndestudio.core.training import Trainer

            try:
                self.trainer = Trainer(self.spec, dataset, test_dataset)
            except UserError as exc:  # the data, say: the message says what is wrong
                self.problem.emit(f"The run cannot start: {exc}")
                return False
            except Exception as exc:  # a bug: said, and the window goes on
                self.problem.emit(f"The run could not start (a bug; please report it): {exc!r}")
                return False
            self.run_reset.emit()
        assert self.trainer is not None
        self.trainer.spec.train.iterations = self.spec.train.iterations
        self.control = TrainControl()
        self.thread = QThread()
        self.thread.setObjectName("ndestudio-training")
        self.worker = TrainingWorker(self.trainer, self.control)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.batch.connect(self._on_batch)
        self.worker.saved.connect(self.saved)
        self.worker.save_failed.connect(lambda msg: self.problem.emit(f"Saving failed: {msg}"))
        self.worker.done.connect(self._on_done)
        self._set_state("running")
        self.thread.start()
        return True

    def pause(self) -> None:
        if self.state == "running" and self.control is not None:
            self.control.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.state == "paused" and self.control is not None:
            self.control.resume()
            self._set_state("running")

    def toggle_pause(self) -> None:
        if self.state == "running":
            self.pause()
        elif self.state == "paused":
            self.resume()

    def stop(self) -> None:
        if self.state in ("running", "paused") and self.control is not None:
            self.control.stop()
            self._set_state("stopping")

    def reset(self) -> None:
        """Forget the trained weights: the next Train starts from a fresh initialisation."""
        if self.state != "idle":
            return
        self.trainer = None
        self.run_reset.emit()
        self._set_state("idle")

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop the worker and wait for its thread (used when the window closes)."""
        if self.control is not None:
            self.control.stop()
        thread = self.thread
        if thread is not None:
            # quit() directly: a queued quit would wait for this (blocked) GUI thread.
            thread.quit()
            thread.wait(timeout_ms)
        self._teardown()
        if self.state != "idle":
            self._set_state("idle")

    def _on_batch(self, batch: list[ev.Event]) -> None:
        self.events.emit(batch)

    def _on_done(self) -> None:
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
        self._teardown()
        self._set_state("idle")

    def _teardown(self) -> None:
        if self.worker is not None:
            self.worker.deleteLater()
        if self.thread is not None:
            self.thread.deleteLater()
        self.worker = None
        self.thread = None
        self.control = None

    # Saving --------------------------------------------------------------------------------

    def save_checkpoint(self, path: Path, then: Callable[[], None] | None = None) -> bool:
        """Write the trainer's checkpoint, then call ``then``; during a run both happen on
        the worker at the next step boundary, so that whatever ``then`` writes (a project
        file naming the checkpoint) never exists before the checkpoint does.

        Returns True when written now, False when scheduled (``saved`` fires later) or
        when there is nothing to save.
        """
        if self.trainer is None:
            return False
        if self.state == "running" and self.worker is not None:
            self.worker.request_save(path, then)
            return False
        # Idle or paused: the trainer is not changing its weights.
        self.trainer.save(path)
        if then is not None:
            then()
        return True
