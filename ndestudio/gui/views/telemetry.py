"""Inspect ▸ Solver: telemetry of one solve of the model on screen — the accepted step sizes
against t, the rejected steps, the function evaluations forward and backward — and the
stiffness warning with its remedies when the evaluations per solve pass a threshold the user
sets.

It also holds :class:`BackgroundView`, what the inspection views share: their computation
runs on a frozen copy of the run (:func:`~ndestudio.core.inspect.frozen.frozen_copy`) in a
worker thread of the view's own — never on the GUI thread, never on the training thread —
after each evaluation while the view is visible, when a run is shown, and when a control
changes. One computation runs at a time; a request during it is served by one more
computation when it ends, and results of a run the view has since forgotten are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ndestudio.gui.plots.base import COLORS, pen, title_html
from ndestudio.gui.theme import shown
from ndestudio.gui.views.background import BackgroundView, keys_width, plot_widget

if TYPE_CHECKING:
    from ndestudio.core.inspect import Telemetry
    from ndestudio.gui.session import Session

NFE_THRESHOLD_DEFAULT = 1000  # the core's NFE_THRESHOLD (imported with the core, later)
WARNING = "#b00020"


def solve_lines(times: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps in the order taken, one line per solve: a NaN breaks the line where time goes
    back (the next solve starts)."""
    starts = np.flatnonzero(np.diff(times) <= 0) + 1
    return np.insert(times, starts, np.nan), np.insert(sizes, starts, np.nan)


SOLVES = {
    "training step": "one training batch's loss and its backward pass (gradients), on a copy",
    "validation solve": "the solve the evaluation runs on the validation series (no gradients)",
}


class TelemetryView(BackgroundView):
    """Solver telemetry of the latest solve of any family's model."""

    idle_text = "Train a model, or open one, to see how its solver steps."
    busy_text = "Solving once on a copy of the weights…"

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.telemetry: Telemetry | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        controls = QHBoxLayout()
        self.solve = QComboBox()
        self.solve.addItems(list(SOLVES))
        self.solve.setToolTip(
            "Which solve to measure:\n" + "\n".join(f"{k}: {v}" for k, v in SOLVES.items())
        )
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(1, 1e7)
        self.threshold.setDecimals(0)
        self.threshold.setValue(NFE_THRESHOLD_DEFAULT)
        self.threshold.setToolTip(
            "Function evaluations per forward solve above which the learned dynamics are "
            "called stiff and remedies are suggested."
        )
        controls.addWidget(QLabel("solve"))
        controls.addWidget(self.solve)
        controls.addWidget(QLabel("NFE threshold"))
        controls.addWidget(self.threshold)
        controls.addStretch(1)
        layout.addLayout(controls)

        self.plot = plot_widget("Accepted step sizes", "step size", "t (solver time)", log_y=True)
        self.steps = self.plot.getPlotItem().plot(  # a data item: it follows the log axis
            pen=pen("#9bbcd8"),
            connect="finite",
            symbol="o",
            symbolSize=5,
            symbolPen=None,
            symbolBrush=pg.mkBrush(shown(COLORS[0])),
        )
        layout.addWidget(self.plot, 1)
        self.counts = QLabel("")
        self.counts.setWordWrap(True)
        self.counts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning.hide()
        layout.addWidget(self.counts)
        layout.addWidget(self.warning)
        layout.addWidget(self.status)
        self.solve.currentIndexChanged.connect(lambda _: self.request())
        self.threshold.valueChanged.connect(lambda _: self.request())

    def prepare(self) -> Callable[[], object]:
        from ndestudio.core.inspect import solve_telemetry

        frozen = self.frozen()
        gradient = self.solve.currentText() == "training step"
        threshold = self.threshold.value()
        return lambda: solve_telemetry(frozen, gradient=gradient, nfe_threshold=threshold)

    def draw(self) -> None:
        telemetry: Telemetry | None = self.result
        self.telemetry = telemetry
        item = self.plot.getPlotItem()
        if telemetry is None:
            self.steps.setData([], [])
            self.counts.setText("")
            self.warning.hide()
            item.setTitle(title_html("Accepted step sizes", [], keys_width(self.plot)))
            return
        times, sizes = telemetry.step_times, telemetry.step_sizes
        ok = np.isfinite(times) & np.isfinite(sizes) & (sizes > 0)
        x, y = solve_lines(times[ok], sizes[ok])
        self.steps.setData(x, y)
        title = f"Accepted step sizes: {telemetry.accepted} accepted, {telemetry.rejected} rejected"
        keys = [("● accepted step (its start and size), a line per solve", COLORS[0])]
        item.setTitle(title_html(title, keys, keys_width(self.plot)))
        gradient = self.solve.currentText() == "training step"
        backward = (
            f"; backward: {telemetry.nfe_backward} vector-Jacobian products"
            if gradient
            else " (no backward pass: a validation solve takes no gradients)"
        )
        sizes_text = (
            f"; step size min {sizes.min():.3g}, mean {sizes.mean():.3g}" if len(sizes) else ""
        )
        self.counts.setText(
            f"<b>NFE forward {telemetry.nfe_forward}</b> over {telemetry.solves} solve"
            f"{'' if telemetry.solves == 1 else 's'} ({telemetry.nfe_per_solve:.0f} per solve, "
            f"threshold {telemetry.nfe_threshold:g}){backward}. <b>{telemetry.rejected} "
            f"rejected step{'' if telemetry.rejected == 1 else 's'}</b>{sizes_text}."
        )
        if telemetry.warning:
            items = "".join(f"<li>{r}</li>" for r in telemetry.remedies)
            self.warning.setText(
                f"<span style='color:{shown(WARNING)}'>⚠ {telemetry.warning}.</span> Things to try:"
                f"<ul style='margin:0'>{items}</ul>"
            )
            self.warning.show()
        else:
            self.warning.hide()
        what = "one training step (forward and backward)" if gradient else "one validation solve"
        self.status.setText(
            f"Telemetry of {what} on a copy of the weights, measured in "
            f"{self.seconds * 1000:.0f} ms (after each evaluation while this tab is open). "
            "Dots: each accepted step, at its start time, by its size (log scale); the steps "
            "of each solve are joined by a line (a step of several solves has several)."
        )
