"""The training panel's "TensorBoard logs" checkbox: each run's events, as ``ndestudio train
--tensorboard`` writes them, into a subfolder named after the run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from ndestudio.core import events as ev
from ndestudio.core.errors import UserError
from ndestudio.core.tensorboard_log import TensorBoardLog
from ndestudio.gui.panels.training import TrainingPanel
from ndestudio.gui.session import Session


class TensorBoardLogging(QObject):
    """Opens a log when a run starts with the box checked, feeds it the run's events, and
    closes it when the run ends. A run continued later goes on in the same folder; events from
    after its start, left by an earlier run (one trained before a Reset), are purged."""

    def __init__(self, session: Session, panel: TrainingPanel) -> None:
        super().__init__(panel)
        self.session, self.panel = session, panel
        self.log: TensorBoardLog | None = None
        session.state_changed.connect(self._on_state)
        session.events.connect(self._on_events)

    def folder(self) -> Path | None:
        """The run's log folder; None with the box unchecked (or no folder given)."""
        text = self.panel.tensorboard_dir.text().strip()
        if not self.panel.tensorboard.isChecked() or not text:
            return None
        return Path(text).expanduser() / (self.session.spec.name or "run")

    def _on_state(self, state: str) -> None:
        if state == "running" and self.log is None:
            folder = self.folder()
            trainer = self.session.trainer
            if folder is None or trainer is None:
                if self.panel.tensorboard.isChecked() and trainer is not None:
                    self.session.problem.emit(
                        "No TensorBoard logs for this run: no folder is given beside "
                        "“TensorBoard logs in”."
                    )
                return
            try:
                self.log = TensorBoardLog(folder, trainer.iteration)
            except UserError as exc:
                self.session.problem.emit(f"No TensorBoard logs for this run: {exc}")
        elif state == "idle" and self.log is not None:
            self.log.close()
            self.log = None

    def _on_events(self, batch: list[ev.Event]) -> None:
        if self.log is not None:
            self.log.events(batch)
