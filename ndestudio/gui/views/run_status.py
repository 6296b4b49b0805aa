"""How the run is going, in words: progress, ETA, steps per second, the state, the latest
validation metrics and warnings (in the training panel and the status bar)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QStatusBar

from ndestudio.core import events as ev
from ndestudio.gui.panels.training import TrainingPanel

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.training import Trainer
    from ndestudio.gui.session import Session

TEXT_INTERVAL_S = 0.5  # the rate and ETA texts change twice a second
STATE_WORDS = {"running": "training", "stopping": "stopping…"}


class RunStatus:
    """A :class:`~ndestudio.gui.views.base.RunView` over the training panel's progress, ETA
    and metrics, and the status bar's device, state and rate labels."""

    def __init__(self, session: Session, panel: TrainingPanel, status: QStatusBar) -> None:
        self.session = session
        self.panel = panel
        self.status = status
        self.device_label = QLabel("Device: …")
        self.state_label = QLabel("State: idle")
        self.rate_label = QLabel("")
        for label in (self.device_label, self.state_label, self.rate_label):
            status.addPermanentWidget(label)
        self.ended = ""  # how the last run ended: finished, stopped, failed ("" while going)
        self._rate = (0, 0.0)  # (iteration, wall time) at the last rate update
        self.active_rate = 0.0  # steps/s over the last update while running

    # RunView -------------------------------------------------------------------------------

    def on_events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            if isinstance(event, ev.Started):
                self.device_label.setText(f"Device: {event.device}")
                self._rate = (event.start_iteration, time.perf_counter())
                self.ended = ""
            elif isinstance(event, ev.Paused):
                self._show_paused()
            elif isinstance(event, ev.Resumed):  # the rate counts active time only
                self._rate = (event.iteration, time.perf_counter())
            elif isinstance(event, ev.Stopped):
                self.ended = "stopped"
            elif isinstance(event, ev.Eval):
                self.show_evaluation(event)
            elif isinstance(event, ev.Failed):
                self.ended = "failed"
            elif isinstance(event, ev.Finished):
                self.ended = "finished"
                self.status.showMessage(f"Finished in {event.wall_time:.1f} s", 6000)
        steps = [e for e in batch if isinstance(e, ev.Step)]
        if steps:
            self._show_progress(steps[-1].iteration)

    def clear(self) -> None:
        self.panel.progress.setValue(0)
        self.panel.metrics.setText("")
        self.panel.show_warning(None)
        self.panel.eta.setText("")

    def replay(self, trainer: Trainer) -> None:
        if trainer.last_eval is not None:
            self.show_evaluation(trainer.last_eval)
        self.panel.progress.setMaximum(trainer.spec.train.iterations)
        self.panel.progress.setValue(trainer.iteration)

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        pass

    # texts ---------------------------------------------------------------------------------

    def started(self, iteration: int, iterations: int) -> None:
        """Training (re)starts at ``iteration`` of ``iterations``."""
        self._rate = (iteration, time.perf_counter())
        self.panel.progress.setMaximum(iterations)

    def show_evaluation(self, event: ev.Eval) -> None:
        self.panel.metrics.setText(
            f"validation loss {event.val_loss:.4g}"
            + "".join(f", {k} {v:.3g}" for k, v in event.metrics.items())
        )
        self.panel.show_warning(event.warning)

    def show_state(self, state: str, loaded: bool, shown: Trainer | None) -> None:
        """The state label, and what idle or paused means for the rate, ETA and progress."""
        trainer = self.session.trainer
        if state == "idle" and trainer is not None and self.ended:
            words = self.ended  # finished, stopped or failed: how the last run ended
        else:
            words = STATE_WORDS.get(state, state)
        self.state_label.setText(f"State: {words if loaded else 'loading…'}")
        if state == "paused":
            self._show_paused()
        if state == "idle":
            self.rate_label.setText("")
            self.panel.eta.setText("")  # nothing is running: nothing to wait for
            if trainer is not None and shown is trainer:
                self.panel.progress.setValue(trainer.iteration)

    def _show_paused(self) -> None:
        self.rate_label.setText(f"{self.active_rate:.1f} steps/s before the pause")
        self.panel.eta.setText("")

    def _show_progress(self, iteration: int) -> None:
        self.panel.progress.setValue(iteration)  # with every batch
        it0, t0 = self._rate
        now = time.perf_counter()
        if now - t0 < TEXT_INTERVAL_S or self.session.state != "running":
            return
        rate = (iteration - it0) / (now - t0)
        self._rate = (iteration, now)
        self.active_rate = rate
        self.rate_label.setText(f"{rate:.1f} steps/s")
        remaining = self.session.spec.train.iterations - iteration
        if rate > 0:
            eta = int(remaining / rate)
            self.panel.eta.setText(f"ETA {eta // 60:02d}:{eta % 60:02d}")
        else:
            self.panel.eta.setText("")
