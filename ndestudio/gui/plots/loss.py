"""Training and validation loss against the iteration, log scale, optional smoothing."""

from __future__ import annotations

import numpy as np

from ndestudio.core import events as ev
from ndestudio.gui.plots.base import COLORS, LivePlot, pen
from ndestudio.gui.plots.buffers import Series, SmoothedSeries
from ndestudio.gui.theme import shown


class LossPlot(LivePlot):
    def __init__(self) -> None:
        super().__init__("Loss", "loss", "iteration", log_y=True)
        self.train = SmoothedSeries(alpha=0.9)
        self.val = Series()
        self.smoothing = True
        self.log_y = True
        self.raw_curve = self.curve("train", COLORS[0], 1.0, alpha=90)
        self.smooth_curve = self.curve("smoothed", "#0b3d91", 1.0)
        self.val_curve = self.getPlotItem().plot(
            name="validation",
            pen=pen(COLORS[1], 1.0),
            symbol="o",
            symbolSize=6,
            symbolBrush=shown(COLORS[1]),
            symbolPen=None,
        )
        self.val_shown = 0  # validation points drawn: their symbols are costly to redraw
        self.keys.append(("validation ●", COLORS[1]))
        self._show_keys()

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.Step):
            self.train.append(event.iteration, event.loss)
            self.dirty = True
        elif isinstance(event, ev.Eval):
            self.val.append(event.iteration, event.val_loss)
            self.dirty = True

    def set_smoothing(self, on: bool) -> None:
        self.smoothing = on
        self.smooth_curve.setVisible(on)
        self.raw_curve.setPen(pen(COLORS[0], 1.0, alpha=90 if on else 255))

    def set_log(self, on: bool) -> None:
        """Log scale for losses that stay positive; linear for a GAN's signed critic loss."""
        self.log_y = on
        self.getPlotItem().setLogMode(y=on)
        self.val_shown = -1
        self.redraw()

    def redraw(self) -> None:
        show = _positive if self.log_y else (lambda y: y)
        self.raw_curve.setData(self.train.x, show(self.train.y))
        self.smooth_curve.setData(self.train.smooth.x, show(self.train.smooth.y))
        if len(self.val.x) != self.val_shown:
            self.val_curve.setData(self.val.x, show(self.val.y))
            self.val_shown = len(self.val.x)
        series = (self.train, self.val)
        y_lo = min(s.y_min_positive if self.log_y else s.y_min for s in series)
        self.follow_data(
            max(s.x_max for s in series), y_lo, max(s.y_max for s in series), self.log_y
        )
        self.dirty = False

    def clear_data(self) -> None:
        self.train.clear()
        self.val.clear()
        self.redraw()


def _positive(values: np.ndarray) -> np.ndarray:
    """A log axis cannot show values ≤ 0: leave gaps there."""
    return np.where(values > 0, values, np.nan)
