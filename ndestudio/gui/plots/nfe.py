"""Function evaluations per training step, forward and backward.

Adaptive solvers change their step count from one step to the next, and a GAN's steps
alternate between generator and critic, so that a raw curve of 10⁴ iterations is a solid
band. Each series is drawn as the mean of consecutive blocks of steps (at most
``BLOCKS`` of them) inside a faint band from the blocks' minimum to their maximum: readable
at any length, and cheap (O(n) per redraw).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ndestudio.core import events as ev
from ndestudio.gui.plots.base import COLORS, LivePlot
from ndestudio.gui.plots.buffers import Series
from ndestudio.gui.theme import shown

BLOCKS = 300
MIN_BLOCK = 4  # steps per block at least: alternating steps average out from the start


def block_summary(
    x: np.ndarray, y: np.ndarray, blocks: int = BLOCKS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block of consecutive points: the middle x, and the mean, min and max of y."""
    n = len(y)
    if n == 0:
        return x[:0], y[:0], y[:0], y[:0]
    size = max(MIN_BLOCK, -(-n // blocks))
    starts = np.arange(0, n, size)
    counts = np.diff(np.append(starts, n))
    mid = np.add.reduceat(x, starts) / counts
    mean = np.add.reduceat(y, starts) / counts
    return mid, mean, np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)


class NFEPlot(LivePlot):
    def __init__(self) -> None:
        super().__init__("NFE per step", "function evaluations", "iteration")
        self.setToolTip(
            "Function evaluations per training step. Lines: the mean over blocks of "
            "consecutive steps; bands: the blocks' minimum to maximum."
        )
        self.forward = Series()
        self.backward = Series()
        self.lines: list[tuple[Series, pg.PlotDataItem, pg.PlotCurveItem, pg.PlotCurveItem]] = []
        item = self.getPlotItem()
        for series, name, color in (
            (self.forward, "forward", COLORS[2]),
            (self.backward, "backward", COLORS[3]),
        ):
            low, high = pg.PlotCurveItem(pen=None), pg.PlotCurveItem(pen=None)
            fill = pg.mkColor(shown(color))
            fill.setAlpha(70)  # (a tint of the curve on either background)
            band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(fill))
            band.setOpacity(0.5)
            item.addItem(band)
            mean = self.curve(name, color)
            self.lines.append((series, mean, low, high))

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.Step):
            self.forward.append(event.iteration, event.nfe_forward)
            self.backward.append(event.iteration, event.nfe_backward)
            self.dirty = True

    def redraw(self) -> None:
        for series, mean_curve, low, high in self.lines:
            mid, mean, lo, hi = block_summary(series.x, series.y)
            mean_curve.setData(mid, mean)
            low.setData(mid, lo)
            high.setData(mid, hi)
        self.follow_data(
            self.forward.x_max,
            0.0,
            max(self.forward.y_max, self.backward.y_max, 1.0),
            log_y=False,
        )
        self.dirty = False

    def clear_data(self) -> None:
        self.forward.clear()
        self.backward.clear()
        self.redraw()
