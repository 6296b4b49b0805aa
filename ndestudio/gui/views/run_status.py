"""How the run is going, in words: progress, ETA, steps per second, the state, the latest
validation metrics and warnings, how the run ended (early stopping, the best evaluation) and
the held-out test set's metrics (in the training panel and the status bar)."""

from __future__ import annotations

import html
import math
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
ENGINE_TIPS = {
    "fast": "The fast engine solves and backpropagates the training steps (Solver ▸ Engine).",
    "torchdiffeq": "torchdiffeq solves the training steps: the fast engine does not cover "
    "this model or solver, or torchdiffeq was chosen (Solver ▸ Engine).",
    "torchsde": "torchsde solves the training steps of SDE models.",
}


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
                self.device_label.setText(f"Device: {event.device} · engine {event.engine}")
                self.device_label.setToolTip(ENGINE_TIPS.get(event.engine, ""))
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
                self.show_finished(event)
            elif isinstance(event, ev.Tested):
                self.show_tested(event)
        steps = [e for e in batch if isinstance(e, ev.Step)]
        if steps:
            self._show_progress(steps[-1].iteration)

    def clear(self) -> None:
        self.panel.progress.setValue(0)
        self.panel.metrics.setText("")
        self.panel.show_warning(None)
        self.panel.eta.setText("")
        self.panel.outcome.setText("")
        self.panel.test_result.setText("")

    def replay(self, trainer: Trainer) -> None:
        if trainer.last_eval is not None:
            self.show_evaluation(trainer.last_eval)
        if trainer.last_test is not None:  # (kept with the run, in its checkpoint)
            self.show_tested(trainer.last_test)
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

    def show_finished(self, event: ev.Finished) -> None:
        """Why the run ended (early stopping, say) and its best evaluation."""
        self.ended = "stopped early" if event.reason else "finished"
        words = f"Finished in {event.wall_time:.1f} s"
        if event.reason:
            words += f" at iteration {event.iteration}: {event.reason}"
        self.status.showMessage(words, 10_000)
        lines = []
        if event.reason:
            lines.append(f"Stopped early at iteration {event.iteration}: {event.reason}.")
        if event.best_iteration is not None and event.best_val_loss is not None:
            lines.append(
                f"Best: validation loss {event.best_val_loss:.4g} at iteration "
                f"{event.best_iteration}."
            )
        self.panel.outcome.setText(" ".join(lines))

    def show_tested(self, event: ev.Tested) -> None:
        """The test set's metrics, and each class's accuracy."""
        self.panel.test_result.setText(tested_text(event))

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


def _share(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.1f} %"


def _metric(name: str, value: float) -> str:
    if name == "accuracy":
        return f"accuracy {_share(value)}"
    return f"{name} {value:.3g}"


def tested_text(event: ev.Tested) -> str:
    """ "Test (best weights, 370 series): loss 0.21, accuracy 96.8 %" and per class (rich text)."""
    head = f"Test ({event.weights} weights, {event.n_series} series)"
    metrics = ", ".join(_metric(k, v) for k, v in event.metrics.items())
    text = f"<b>{html.escape(head)}:</b> {html.escape(metrics or 'no metrics')}"
    if event.per_class_accuracy:
        names = list(event.class_names) or [str(k) for k in range(len(event.per_class_accuracy))]
        per_class = ", ".join(
            f"{name} {_share(v)}" for name, v in zip(names, event.per_class_accuracy, strict=False)
        )
        text += f"<br>per class: {html.escape(per_class)}"
    return text
