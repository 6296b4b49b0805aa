"""Inspect ▸ Distributions: a neural SDE's sample paths against the data's, per channel — a
fan of paths, the 5/25/50/75/95 % quantile bands of each, the marginal histograms at a time
picked with a slider (shared bins), and the Wasserstein-1 distance between the marginals per
time with its mean over time as one number.

Computed on a frozen copy of the weights in the view's own worker thread
(:class:`~ndestudio.gui.views.background.BackgroundView`); the slider and the channel picker
only redraw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ndestudio.gui.plots.base import COLORS, OBSERVED, pen, title_html
from ndestudio.gui.plots.buffers import nan_separated
from ndestudio.gui.theme import shown
from ndestudio.gui.views.background import BackgroundView, keys_width, plot_widget

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.inspect import SDEStatistics
    from ndestudio.gui.session import Session

MODEL = COLORS[0]  # generated paths, as in the training plots
DATA = OBSERVED
ROWS = {"validation": "val", "training": "train", "all": "all"}
SEED = 0  # the same Brownian samples each time: the fan moves only as the weights do
BINS = 30
BANDS = ((0, 4, 45), (1, 3, 95))  # (lower level, upper level, fill alpha): 5–95 %, 25–75 %


def _percent(level: float) -> str:
    return f"{100 * level:g}"


class SDEDistributionsView(BackgroundView):
    """A :class:`~ndestudio.gui.views.base.RunView` of a neural SDE's distribution."""

    idle_text = "Train a neural SDE, or open one, to compare its sample paths with the data."
    busy_text = "Sampling paths on a copy of the weights…"

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.stats: SDEStatistics | None = None
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.channel = QComboBox()
        self.channel.setToolTip("The data channel shown.")
        self.rows = QComboBox()
        self.rows.addItems(list(ROWS))
        self.rows.setToolTip("The data series the model's paths are compared with.")
        self.samples = QSpinBox()
        self.samples.setRange(16, 8192)
        self.samples.setSingleStep(128)
        self.samples.setValue(512)
        self.samples.setToolTip("Model sample paths drawn for the bands, histograms and W1.")
        self.fan = QSpinBox()
        self.fan.setRange(0, 1024)
        self.fan.setValue(64)
        self.fan.setToolTip("How many of the paths (model and data each) the fan draws.")
        for label, widget in (
            ("channel", self.channel),
            ("data", self.rows),
            ("samples", self.samples),
            ("fan", self.fan),
        ):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        layout.addLayout(row)
        row = QHBoxLayout()  # a second row: the window stays narrow enough for small screens
        self.time = QSlider(Qt.Orientation.Horizontal)
        self.time.setRange(0, 0)
        self.time.setToolTip("The time of the marginal histograms (a dotted line elsewhere).")
        self.time_label = QLabel("t = –")
        self.time_label.setMinimumWidth(90)
        row.addWidget(QLabel("histogram time"))
        row.addWidget(self.time, 1)
        row.addWidget(self.time_label)
        layout.addLayout(row)

        grid = QGridLayout()
        self.paths_plot = plot_widget("Sample paths", "value", "t")
        self.bands_plot = plot_widget("Quantile bands", "value", "t")
        self.histogram_plot = plot_widget("Marginal histograms", "density", "value")
        self.distance_plot = plot_widget("Wasserstein-1 per time", "W1", "t")
        grid.addWidget(self.paths_plot, 0, 0)
        grid.addWidget(self.bands_plot, 0, 1)
        grid.addWidget(self.histogram_plot, 1, 0)
        grid.addWidget(self.distance_plot, 1, 1)
        layout.addLayout(grid, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        layout.addWidget(self.status)

        item = self.paths_plot.getPlotItem()
        self.data_paths = pg.PlotCurveItem(pen=pen(DATA, 1.0, 90))
        self.model_paths = pg.PlotCurveItem(pen=pen(MODEL, 1.0, 90))
        item.addItem(self.data_paths)
        item.addItem(self.model_paths)

        item = self.bands_plot.getPlotItem()
        # band_curves[(who, level index)]: the quantile curve drawn for that level
        self.band_curves: dict[tuple[str, int], pg.PlotCurveItem] = {}
        self.band_fills: list[pg.FillBetweenItem] = []
        for who, colour in (("data", DATA), ("model", MODEL)):
            for level in range(5):
                width, alpha = (2.0, 255) if level == 2 else (1.0, 140)
                curve = pg.PlotCurveItem(pen=pen(colour, width, alpha))
                self.band_curves[(who, level)] = curve
                item.addItem(curve)
            for lo, hi, alpha in BANDS:
                fill_colour = pg.mkColor(shown(colour))
                fill_colour.setAlpha(alpha)
                fill = pg.FillBetweenItem(
                    self.band_curves[(who, lo)], self.band_curves[(who, hi)], brush=fill_colour
                )
                fill.setZValue(-1)
                item.addItem(fill)
                self.band_fills.append(fill)

        item = self.histogram_plot.getPlotItem()
        self.histograms: dict[str, pg.PlotCurveItem] = {}
        for who, colour, alpha in (("data", DATA, 70), ("model", MODEL, 70)):
            fill_colour = pg.mkColor(shown(colour))
            fill_colour.setAlpha(alpha)
            curve = pg.PlotCurveItem(fillLevel=0, brush=fill_colour, pen=pen(colour, 2.0))
            curve.opts["stepMode"] = "center"  # (not in the constructor: it checks empty data)
            item.addItem(curve)
            self.histograms[who] = curve

        item = self.distance_plot.getPlotItem()
        self.distance_curve = pg.PlotCurveItem(pen=pen(COLORS[3], 2.0))
        self.mean_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(shown(COLORS[3]), width=1, style=Qt.PenStyle.DashLine)
        )
        item.addItem(self.distance_curve)
        item.addItem(self.mean_line)

        self.time_lines = []
        for plot in (self.paths_plot, self.bands_plot, self.distance_plot):
            line = pg.InfiniteLine(
                angle=90, pen=pg.mkPen(shown("#000000"), width=1, style=Qt.PenStyle.DotLine)
            )
            line.setZValue(20)
            plot.getPlotItem().addItem(line)
            self.time_lines.append(line)

        self.channel.currentIndexChanged.connect(lambda _: self.draw())
        self.time.valueChanged.connect(lambda _: self._draw_time())
        self.fan.valueChanged.connect(lambda _: self.draw())
        self.rows.currentIndexChanged.connect(lambda _: self.request())
        self.samples.editingFinished.connect(self.request)

    # RunView -------------------------------------------------------------------------------

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        self.dataset = dataset
        names = list(dataset.channel_names) if dataset is not None else []
        if names != [self.channel.itemText(i) for i in range(self.channel.count())]:
            blocked = self.channel.blockSignals(True)
            self.channel.clear()
            self.channel.addItems(names)
            self.channel.setCurrentIndex(0)
            self.channel.blockSignals(blocked)
        self.channel.setEnabled(len(names) > 1)

    # computing -----------------------------------------------------------------------------

    def usable(self) -> str | None:
        if self.trainer is None or self.trainer.spec.model.family != "sde":
            return self.idle_text
        return None

    def prepare(self) -> Callable[[], object]:
        from ndestudio.core.inspect import sde_statistics

        frozen = self.frozen()
        n, rows = self.samples.value(), ROWS[self.rows.currentText()]
        return lambda: sde_statistics(frozen, n, seed=SEED, rows=rows)

    # drawing -------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return list(self.dataset.channel_names) if self.dataset is not None else []

    def draw(self) -> None:
        stats: SDEStatistics | None = self.result
        self.stats = stats
        if stats is None:
            for curve in (
                self.data_paths,
                self.model_paths,
                self.distance_curve,
                *self.band_curves.values(),
            ):
                curve.setData([], [])
            for curve in self.histograms.values():
                curve.clear()  # a step curve takes one edge more than values: none at all
            self.summary.setText("")
            return
        c = min(max(self.channel.currentIndex(), 0), stats.model_paths.shape[-1] - 1)
        names = self._names()
        name = names[c] if c < len(names) else f"channel {c}"
        times = stats.times
        if self.time.maximum() != len(times) - 1:
            blocked = self.time.blockSignals(True)
            self.time.setRange(0, len(times) - 1)
            self.time.setValue(len(times) - 1)  # the final marginals, as the training plots
            self.time.blockSignals(blocked)
        fan = self.fan.value()
        self.model_paths.setData(*nan_separated(times, stats.model_paths[:fan, :, c]))
        self.data_paths.setData(*nan_separated(times, stats.data_paths[:fan, :, c]))
        n_model, n_data = stats.model_paths.shape[0], stats.data_paths.shape[0]
        keys = [
            (f"model ({min(fan, n_model)} of {n_model})", MODEL),
            (f"data ({min(fan, n_data)} of {n_data})", DATA),
        ]
        self._title(self.paths_plot, f"Sample paths: {name}", keys)
        self.paths_plot.getPlotItem().setLabel("left", name)

        for who, bands in (("model", stats.model_bands), ("data", stats.data_bands)):
            for level in range(len(stats.levels)):
                self.band_curves[(who, level)].setData(times, bands[level, :, c])
        levels = stats.levels
        # A short title: a long one widens the plot past its column (and is clipped).
        bands = f"{_percent(levels[0])}–{_percent(levels[-1])}, {_percent(levels[1])}–"
        bands += f"{_percent(levels[3])}, {_percent(levels[2])} %"
        keys = [("model", MODEL), ("data", DATA)]
        self._title(self.bands_plot, f"Quantiles {bands}: {name}", keys)
        self.bands_plot.getPlotItem().setLabel("left", name)

        distance = stats.distance[:, c]
        self.distance_curve.setData(times, distance)
        channel_mean = float(np.nanmean(distance))
        self.mean_line.setValue(channel_mean)
        self._title(
            self.distance_plot,
            f"Wasserstein-1 per time: mean {channel_mean:.3g}",
            [("W1 at t", COLORS[3]), ("mean (dashed)", COLORS[3])],
        )
        over = "time" if stats.distance.shape[1] == 1 else "time and channels"
        self.summary.setText(
            f"<b>Mean W1 over {over}: {stats.mean_distance:.4g}</b> (0: the model's marginals "
            f"are the data's). {n_model} model paths against {n_data} "
            f"{self.rows.currentText()} series."
        )
        self._draw_time()
        self.status.setText(
            f"Sampled in {self.seconds * 1000:.0f} ms on a copy of the weights (after each "
            "evaluation while this tab is open). Bands: the 5–95 % and 25–75 % quantiles "
            "per time and the median line, model against data; the histograms share their "
            "bins; the dotted line marks the histogram time."
        )

    def _draw_time(self) -> None:
        stats = self.stats
        if stats is None:
            return
        i = min(self.time.value(), len(stats.times) - 1)
        t = float(stats.times[i])
        self.time_label.setText(f"t = {t:.3g}")
        for line in self.time_lines:
            line.setValue(t)
        c = min(max(self.channel.currentIndex(), 0), stats.model_paths.shape[-1] - 1)
        hist = stats.histograms(i, BINS)
        self.shown_histograms = hist
        self.histograms["model"].setData(hist.edges[c], hist.model[c])
        self.histograms["data"].setData(hist.edges[c], hist.data[c])
        names = self._names()
        name = names[c] if c < len(names) else f"channel {c}"
        w1 = stats.distance[i, c]
        self._title(
            self.histogram_plot,
            f"Marginals at t = {t:.3g}: W1 {w1:.3g}",
            [("model", MODEL), ("data", DATA)],
        )
        self.histogram_plot.getPlotItem().setLabel("bottom", name)

    @staticmethod
    def _title(plot: pg.PlotWidget, title: str, keys: list[tuple[str, str]]) -> None:
        plot.getPlotItem().setTitle(title_html(title, keys, keys_width(plot)))
