"""The live training plots: loss, gradient norms, NFE, trajectories and the phase plane,
redrawn one at a time within a drawing budget so that the window costs training little."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QGridLayout, QWidget

from ndestudio.core import events as ev
from ndestudio.gui.plots.gradients import GradientPlot
from ndestudio.gui.plots.loss import LossPlot
from ndestudio.gui.plots.nfe import NFEPlot
from ndestudio.gui.plots.trajectories import PhasePlot, TrajectoryPlot

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.training import Trainer

# Redraw budget (benchmarks/gui_cost.py, 2 cores): every millisecond the GUI thread spends in
# pyqtgraph holds the GIL that the training thread needs. Live curves at 4 Hz and snapshots
# every 2 s keep the window's cost to the trainer small; the curves still move visibly.
REDRAW_HZ = 4  # live curves redraw at most this often
LIVE_PLOTS = 3  # loss, gradients, NFE: one plot per timer tick, in turn
SNAPSHOT_INTERVAL_S = 2.0
# Share of wall time the plots may take on the GUI thread. Training shares the GIL with it,
# so drawing time is training time lost: after each frame the next waits cost / budget.
DRAW_BUDGET = 0.03
MAX_DRAW_INTERVAL_MS = 2000
DATA_SERIES = 16  # series the trajectory plots show before a run has predictions


class TrainingPlots(QWidget):
    """The window's central area; a :class:`~ndestudio.gui.views.base.RunView`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = LossPlot()
        self.gradient_plot = GradientPlot()
        self.nfe_plot = NFEPlot()
        self.trajectory_plot = TrajectoryPlot()
        self.phase_plot = PhasePlot()
        self.live = (self.loss_plot, self.gradient_plot, self.nfe_plot)
        self.snapshots = (self.trajectory_plot, self.phase_plot)
        self.plots = [*self.live, *self.snapshots]
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.addWidget(self.trajectory_plot, 0, 0, 2, 1)
        grid.addWidget(self.phase_plot, 2, 0)
        grid.addWidget(self.loss_plot, 0, 1)
        grid.addWidget(self.gradient_plot, 1, 1)
        grid.addWidget(self.nfe_plot, 2, 1)
        grid.setColumnStretch(0, 5)
        grid.setColumnStretch(1, 4)
        self.smoothing = QCheckBox("Smooth loss", self)
        self.smoothing.setChecked(True)
        self.smoothing.setToolTip("Show an exponential moving average of the training loss.")
        self.smoothing.toggled.connect(self.loss_plot.set_smoothing)
        grid.addWidget(self.smoothing, 3, 1, alignment=Qt.AlignmentFlag.AlignRight)

        self.dataset: TimeSeriesDataset | None = None
        self.predicted = False  # the trajectory plots show a run's predictions
        self._last_draw: dict[int, float] = {}  # plot id → when it was last redrawn
        self._next_plot = 0  # the plot the next redraw tick looks at first
        self._painted = 0.0  # the plots' paint seconds at the last redraw
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(1000 // (REDRAW_HZ * LIVE_PLOTS))
        self.redraw_timer.timeout.connect(self._redraw_next)
        self.redraw_timer.start()

    # RunView -------------------------------------------------------------------------------

    def on_events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            for plot in self.live:
                plot.add(event)
            if isinstance(event, ev.Eval) and event.snapshot is not None:
                self.show_snapshot(event.snapshot)

    def clear(self) -> None:
        for plot in self.plots:
            plot.clear_data()
        self.predicted = False
        self.show_data()

    def replay(self, trainer: Trainer) -> None:
        """A run's curves from its history, and its last evaluation's paths."""
        h = trainer.history
        for i in range(len(h["iteration"])):
            step = ev.Step(
                int(h["iteration"][i]),
                h["loss"][i],
                h["grad_norm"][i],
                {},  # per-layer norms are not kept in the history: the total norm is
                int(h["nfe_forward"][i]),
                int(h["nfe_backward"][i]),
                h["lr"][i],
                h["wall_time"][i],
            )
            for plot in self.live:
                plot.add(step)
        for it, val in zip(
            trainer.eval_history["iteration"], trainer.eval_history["val_loss"], strict=True
        ):
            self.loss_plot.add(ev.Eval(int(it), val))
        last = trainer.last_eval  # saved with the weights: the run's last look
        if last is not None and last.snapshot is not None:
            self.show_snapshot(last.snapshot)
        self.set_x_extent(trainer.spec.train.iterations)
        self.redraw(force=True)

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        self.dataset = dataset
        self.show_data()

    # drawing -------------------------------------------------------------------------------

    def set_family(self, family: str) -> None:
        self.loss_plot.set_log(family != "sde")  # the SDE-GAN's critic loss is signed

    def set_x_extent(self, iterations: int) -> None:
        for plot in self.live:
            plot.x_extent = float(iterations)

    def show_snapshot(self, snapshot: ev.Snapshot) -> None:
        names = list(self.dataset.channel_names) if self.dataset is not None else []
        self.predicted = True
        for plot in self.snapshots:
            plot.set_snapshot(snapshot, names)

    def show_data(self) -> None:
        """Until the run has predictions, the trajectory and phase plots show the data itself
        (the first series of the previewed dataset, no predicted lines)."""
        dataset = self.dataset
        if dataset is None or self.predicted:
            return
        observed = dataset.values[:DATA_SERIES]
        snapshot = ev.Snapshot(dataset.times, observed, np.full_like(observed, np.nan))
        for plot in self.snapshots:
            plot.set_snapshot(snapshot, list(dataset.channel_names))
            plot.redraw()  # now, outside the budget: the first predictions are not held back

    def redraw(self, force: bool = False) -> None:
        """Redraw every plot that received data (snapshots only when due, or ``force``)."""
        now = time.perf_counter()
        for plot in self.plots:
            if plot.dirty and (force or self._due(plot, now)):
                self._draw(plot, now)

    def _redraw_next(self) -> None:
        """Redraw one plot per tick, in turn, so the GUI thread never stalls for several plots
        at once (timers and input wait less); each live curve updates up to REDRAW_HZ times a
        second and snapshots at most every SNAPSHOT_INTERVAL_S, within DRAW_BUDGET."""
        now = time.perf_counter()
        n = len(self.plots)
        for k in range(n):
            index = (self._next_plot + k) % n
            plot = self.plots[index]
            if plot.dirty and self._due(plot, now):
                self._draw(plot, now)
                # Qt paints the plots later, with the scene's own updates: the cost of this
                # frame is the data update now plus every paint since the last frame.
                painted = sum(p.paint_seconds for p in self.plots)
                cost = time.perf_counter() - now + painted - self._painted
                self._painted = painted
                self._next_plot = (index + 1) % n
                base = 1000 // (REDRAW_HZ * LIVE_PLOTS)
                wait = min(MAX_DRAW_INTERVAL_MS, max(base, int(1000 * cost / DRAW_BUDGET)))
                self.redraw_timer.setInterval(wait)
                return

    def _due(self, plot, now: float) -> bool:
        last = self._last_draw.get(id(plot), -math.inf)
        return plot not in self.snapshots or now - last >= SNAPSHOT_INTERVAL_S

    def _draw(self, plot, now: float) -> None:
        plot.redraw()
        self._last_draw[id(plot)] = now
