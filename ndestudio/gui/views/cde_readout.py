"""Inspect ▸ Readout: a neural CDE as a series unfolds — the chosen validation series, its
hidden state z(t), the readout applied at every observation time (class probabilities, or
the regression prediction against the target: the CDE's online prediction; the last time is
its answer), and the confusion matrix on the validation series with per-class accuracy
(or, once a run with a test set has ended, on the test set: the ``Tested`` event's).

Computed for every validation series at once on a frozen copy of the weights in the view's
own worker thread (:class:`~ndestudio.gui.views.background.BackgroundView`); picking another
series only redraws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ndestudio.core import events as ev
from ndestudio.gui import theme
from ndestudio.gui.plots.base import COLORS, OBSERVED, pen, title_html
from ndestudio.gui.views.background import BackgroundView, keys_width, plot_widget

if TYPE_CHECKING:
    from ndestudio.core.inspect import CDEReadout, Confusion
    from ndestudio.gui.session import Session

MATRIX_OF = ("validation", "test")


def heat_table() -> np.ndarray:
    """The confusion matrix's colours: the background's (none) → blue (all)."""
    ends = [pg.mkColor(theme.shown(c)).getRgb()[:3] for c in ("#ffffff", "#1f77b4")]
    return pg.ColorMap([0.0, 1.0], ends).getLookupTable(0.0, 1.0, 256)


@dataclass
class ReadoutResult:
    """The readout of every validation series, and the confusion matrix (classifiers)."""

    readout: CDEReadout
    confusion: Confusion | None


def _format_share(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.3g}"


class CDEReadoutView(BackgroundView):
    """A :class:`~ndestudio.gui.views.base.RunView` of a neural CDE's readout over time."""

    idle_text = "Train a neural CDE, or open one, to see its prediction as each series unfolds."
    busy_text = "Reading out every validation series on a copy of the weights…"

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.readout: CDEReadout | None = None
        self.confusion: Confusion | None = None
        self.test_confusion: Confusion | None = None  # from the run's Tested event
        self.test_label = "test set"
        self.rows_are = "validation"  # or "training", in a run without validation series
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.series = QComboBox()
        self.series.setToolTip("The validation series whose hidden path and readout are shown.")
        self.series.setMinimumContentsLength(18)
        self.series_label = QLabel("validation series")
        row.addWidget(self.series_label)
        row.addWidget(self.series)
        row.addStretch(1)
        self.matrix_of = QComboBox()
        self.matrix_of.addItems(list(MATRIX_OF))
        self.matrix_of.setToolTip(
            "The series the confusion matrix counts: the validation series (after each "
            "evaluation), or the held-out test set (scored once after training)."
        )
        self._enable_test(False)
        self.matrix_of.currentIndexChanged.connect(lambda _: self._draw_confusion())
        row.addWidget(QLabel("confusion matrix of"))
        row.addWidget(self.matrix_of)
        layout.addLayout(row)

        grid = QGridLayout()
        self.input_plot = plot_widget("Input series", "value", "t")
        self.hidden_plot = plot_widget("Hidden state z(t)", "z", "t")
        self.readout_plot = plot_widget("Readout over time", "probability", "t")
        self.confusion_plot = plot_widget("Validation confusion matrix", "true class", "predicted")
        grid.addWidget(self.input_plot, 0, 0)
        grid.addWidget(self.hidden_plot, 0, 1)
        grid.addWidget(self.readout_plot, 1, 0)
        grid.addWidget(self.confusion_plot, 1, 1)
        layout.addLayout(grid, 1)
        self.accuracy = QLabel("")
        self.accuracy.setWordWrap(True)
        self.accuracy.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.accuracy)
        layout.addWidget(self.status)

        self.input_curves: list[pg.PlotDataItem] = []
        self.hidden_curves: list[pg.PlotCurveItem] = []
        self.readout_curves: list[pg.PlotDataItem] = []
        self.target_lines: list[pg.InfiniteLine] = []
        item = self.confusion_plot.getPlotItem()
        item.getViewBox().invertY(True)  # the first true class on top, as a table reads
        item.getViewBox().setMouseEnabled(x=False, y=False)
        self.heat = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.heat)
        self.count_texts: list[pg.TextItem] = []
        self.series.currentIndexChanged.connect(lambda _: self._draw_series())

    # the test set ----------------------------------------------------------------------------

    def on_events(self, batch: list[ev.Event]) -> None:
        super().on_events(batch)
        for event in batch:
            if isinstance(event, ev.Tested):
                self.show_tested(event)

    def clear(self) -> None:
        self.test_confusion = None
        self._enable_test(False)
        super().clear()

    def replay(self, trainer) -> None:  # type: ignore[no-untyped-def]
        self.test_confusion = None
        self._enable_test(False)
        if trainer.last_test is not None:  # (kept with the run, in its checkpoint)
            self.show_tested(trainer.last_test)
        super().replay(trainer)

    def show_tested(self, event: ev.Tested) -> None:
        """The test set's confusion matrix (a classifier's), shown at once."""
        if event.confusion is None:
            return
        from ndestudio.core.inspect import Confusion

        self.test_confusion = Confusion.from_tested(event)
        self.test_label = f"test set, {event.weights} weights"
        self._enable_test(True)
        if self.matrix_of.currentText() == "test":
            self._draw_confusion()
        else:
            self.matrix_of.setCurrentText("test")  # the run's final word (redraws)

    def _enable_test(self, on: bool) -> None:
        item = self.matrix_of.model().item(MATRIX_OF.index("test"))
        item.setEnabled(on)
        if not on:
            self.matrix_of.setCurrentText("validation")

    # computing -----------------------------------------------------------------------------

    def usable(self) -> str | None:
        if self.trainer is None or self.trainer.spec.model.family != "cde":
            return self.idle_text
        return None

    def prepare(self) -> Callable[[], object]:
        from ndestudio.core.inspect import cde_readout, validation_confusion

        frozen = self.frozen()
        rows = np.asarray(frozen.task.inspected_rows)
        self.rows_are = "validation" if frozen.task.has_validation else "training"

        def job() -> ReadoutResult:
            readout = cde_readout(frozen, rows)
            classify = readout.classification
            return ReadoutResult(readout, validation_confusion(frozen) if classify else None)

        return job

    # drawing -------------------------------------------------------------------------------

    def draw(self) -> None:
        result: ReadoutResult | None = self.result
        self.readout = result.readout if result is not None else None
        self.confusion = result.confusion if result is not None else None
        self._fill_series()
        self._draw_series()
        self._draw_confusion()
        self.series_label.setText(f"{self.rows_are} series")
        if result is not None:
            when = (
                "after each evaluation"
                if self.rows_are == "validation"
                else "every few steps: the run has no validation series"
            )
            self.status.setText(
                f"Every {self.rows_are} series read out in {self.seconds * 1000:.0f} ms on a copy "
                f"of the weights ({when}, while this tab is open). The readout "
                "is applied to z at every observation time: what the model would answer "
                "having seen the series up to t; its value at the last time is the answer."
            )

    def _class_name(self, k: int) -> str:
        names = self.dataset.class_names if self.dataset is not None else []
        return names[k] if 0 <= k < len(names) else f"class {k}"

    def _fill_series(self) -> None:
        readout = self.readout
        labels = self.dataset.labels if self.dataset is not None else None
        items = []
        if readout is not None:
            for row in readout.rows:
                text = f"series {row}"
                if labels is not None and row < len(labels):
                    text += f" ({self._class_name(int(labels[row]))})"
                items.append(text)
        if items == [self.series.itemText(i) for i in range(self.series.count())]:
            return
        blocked = self.series.blockSignals(True)
        current = self.series.currentIndex()
        self.series.clear()
        self.series.addItems(items)
        self.series.setCurrentIndex(min(max(current, 0), len(items) - 1))
        self.series.blockSignals(blocked)

    def _clear_items(self, plot: pg.PlotWidget, items: list) -> None:
        for curve in items:
            plot.getPlotItem().removeItem(curve)
        items.clear()

    def _draw_series(self) -> None:
        for plot, items in (
            (self.input_plot, self.input_curves),
            (self.hidden_plot, self.hidden_curves),
            (self.readout_plot, self.readout_curves),
            (self.readout_plot, self.target_lines),
        ):
            self._clear_items(plot, items)
        readout, dataset = self.readout, self.dataset
        i = self.series.currentIndex()
        if readout is None or dataset is None or not 0 <= i < len(readout.rows):
            for plot, title in (
                (self.input_plot, "Input series"),
                (self.hidden_plot, "Hidden state z(t)"),
                (self.readout_plot, "Readout over time"),
            ):
                plot.getPlotItem().setTitle(title_html(title, [], keys_width(plot)))
            return
        row = int(readout.rows[i])
        times = readout.times
        # The series itself: its observed values (NaN: not observed), one colour a channel.
        values = dataset.values[row]
        keys = []
        for c, name in enumerate(dataset.channel_names):
            colour = COLORS[c % len(COLORS)]
            seen = np.isfinite(values[:, c])
            curve = self.input_plot.getPlotItem().plot(
                times[seen],
                values[seen, c],
                pen=pen(colour, 1.0, 160),
                symbol="o",
                symbolSize=4,
                symbolPen=None,
                symbolBrush=pg.mkBrush(theme.shown(colour)),
            )
            self.input_curves.append(curve)
            keys.append((name, colour))
        self.input_plot.getPlotItem().setTitle(
            title_html(f"Input: series {row} (dots: observed)", keys, keys_width(self.input_plot))
        )
        # The hidden state: one line per component, in a colour map (no key per channel).
        hidden = readout.hidden[i]
        colours = theme.viridis(hidden.shape[1], 0.0, 0.9)
        for h in range(hidden.shape[1]):
            curve = pg.PlotCurveItem(times, hidden[:, h], pen=pen(colours[h], 1.5))
            self.hidden_plot.getPlotItem().addItem(curve)
            self.hidden_curves.append(curve)
        self.hidden_plot.getPlotItem().setTitle(
            title_html(
                f"Hidden state z(t): {hidden.shape[1]} components",
                [
                    ("z₁", colours[0]),
                    (f"… z{_subscript(hidden.shape[1])}", colours[-1]),
                ],
                keys_width(self.hidden_plot),
            )
        )
        # The readout at every time.
        prediction = readout.prediction[i]
        item = self.readout_plot.getPlotItem()
        keys = []
        if readout.classification:
            truth = int(dataset.labels[row]) if dataset.labels is not None else -1
            for k in range(prediction.shape[1]):
                colour = COLORS[k % len(COLORS)]
                width = 3.0 if k == truth else 1.5
                curve = item.plot(times, prediction[:, k], pen=pen(colour, width))
                self.readout_curves.append(curve)
                keys.append((self._class_name(k) + (" (true)" if k == truth else ""), colour))
            answer = int(np.argmax(prediction[-1]))
            title = f"Class probabilities: answers {self._class_name(answer)}"
            item.setLabel("left", "probability")
            item.setYRange(0, 1, padding=0.02)
        else:
            targets = dataset.targets[row] if dataset.targets is not None else None
            for k in range(prediction.shape[1]):
                colour = COLORS[k % len(COLORS)]
                curve = item.plot(times, prediction[:, k], pen=pen(colour, 2.0))
                self.readout_curves.append(curve)
                keys.append((f"predicted {k}", colour))
                if targets is not None:
                    line = pg.InfiniteLine(
                        float(targets[k]),
                        angle=0,
                        pen=pg.mkPen(theme.shown(colour), width=1, style=Qt.PenStyle.DashLine),
                    )
                    item.addItem(line)
                    self.target_lines.append(line)
            if targets is not None:
                keys.append(("target (dashed)", OBSERVED))
            title = "Regression prediction over time"
            item.setLabel("left", "prediction")
            item.enableAutoRange()
        item.setTitle(title_html(title, keys, keys_width(self.readout_plot)))

    def _draw_confusion(self) -> None:
        item = self.confusion_plot.getPlotItem()
        for text in self.count_texts:
            item.removeItem(text)
        self.count_texts = []
        on_test = self.matrix_of.currentText() == "test" and self.test_confusion is not None
        confusion = self.test_confusion if on_test else self.confusion
        which = self.test_label if on_test else f"{self.rows_are} series"
        if confusion is None:
            self.heat.clear()
            regression = self.readout is not None and not self.readout.classification
            self.accuracy.setText(
                "A regression CDE has no confusion matrix: its validation RMSE is in the "
                "training panel."
                if regression
                else ""
            )
            item.setTitle(
                title_html("Validation confusion matrix", [], keys_width(self.confusion_plot))
            )
            return
        matrix = confusion.matrix.astype(float)
        k = matrix.shape[0]
        peak = max(matrix.max(), 1.0)
        self.heat.setLookupTable(heat_table())
        self.heat.setImage(matrix / peak, levels=(0.0, 1.0))
        self.heat.setRect(0, 0, k, k)
        for i in range(k):
            for j in range(k):
                count = int(confusion.matrix[i, j])
                deep = matrix[i, j] / peak > 0.55  # (text in the background's colour on it)
                ink = theme.shown("#ffffff" if deep else "#000000")
                text = pg.TextItem(str(count), color=ink, anchor=(0.5, 0.5))
                font = text.textItem.font()
                font.setPointSize(11)
                font.setBold(True)
                text.setFont(font)
                text.setPos(j + 0.5, i + 0.5)
                item.addItem(text)
                self.count_texts.append(text)
        names = [self._class_name(c) for c in range(k)]
        if on_test and len(confusion.class_names) == k:  # the test run's own names
            names = [str(name) for name in confusion.class_names]
        ticks = [[(c + 0.5, name) for c, name in enumerate(names)]]
        item.getAxis("bottom").setTicks(ticks)
        item.getAxis("left").setTicks(ticks)
        item.setLabel("bottom", "predicted class")
        item.setLabel("left", "true class")
        item.getViewBox().setRange(xRange=(0, k), yRange=(0, k), padding=0.02)
        total = int(confusion.matrix.sum())
        right = int(np.trace(confusion.matrix))
        item.setTitle(
            title_html(
                f"Confusion matrix: {right} of {total} right",
                [(f"counts of the {which}", OBSERVED)],
                keys_width(self.confusion_plot),
            )
        )
        per_class = ", ".join(
            f"{name} {_format_share(v)}" for name, v in zip(names, confusion.per_class, strict=True)
        )
        where = (
            f"of the {which}"
            if on_test or self.rows_are != "validation"
            else "validation series, as in the training panel"
        )
        self.accuracy.setText(
            f"<b>accuracy {confusion.accuracy:.3g}</b> ({right} of {total} {where}); "
            f"per class: {per_class}."
        )


def _subscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
