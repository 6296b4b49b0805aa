"""Function evaluations per training step, forward and backward."""

from __future__ import annotations

from ndestudio.core import events as ev
from ndestudio.gui.plots.base import COLORS, LivePlot
from ndestudio.gui.plots.buffers import Series


class NFEPlot(LivePlot):
    def __init__(self) -> None:
        super().__init__("Function evaluations per step", "NFE", "iteration")
        self.forward = Series()
        self.backward = Series()
        self.forward_curve = self.curve("forward", COLORS[2])
        self.backward_curve = self.curve("backward", COLORS[3])

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.Step):
            self.forward.append(event.iteration, event.nfe_forward)
            self.backward.append(event.iteration, event.nfe_backward)
            self.dirty = True

    def redraw(self) -> None:
        self.forward_curve.setData(self.forward.x, self.forward.y)
        self.backward_curve.setData(self.backward.x, self.backward.y)
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
