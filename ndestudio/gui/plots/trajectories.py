"""Observed versus predicted series from the latest evaluation snapshot.

Per channel over time (one row each), and in the phase plane of the first two channels.
ODE: observed points and predicted trajectories. SDE: observed and generated sample paths.
CDE: the observed paths coloured by the predicted class. Many paths are drawn as one
NaN-separated item, several times faster than one item per path, and items are created once
per drawing mode and then only given new data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPolygonF

from ndestudio.core.events import Snapshot
from ndestudio.gui.plots.base import (
    COLORS,
    OBSERVED,
    PaintTimed,
    RangeFollower,
    pen,
    title_html,
)
from ndestudio.gui.plots.buffers import nan_separated
from ndestudio.gui.restyle import translated_brush, translated_pen
from ndestudio.gui.theme import shown

MAX_CHANNELS = 3
FIT_SERIES = 6  # a few series in their own colours stay readable
EMPTY = np.empty(0)


class DotsItem(pg.PlotCurveItem):
    """Observed points as round dots, all drawn by one ``QPainter.drawPoints`` with a round
    cosmetic pen as wide as a dot. (A ScatterPlotItem keeps a Python record per point: a
    dozen of them made most of a snapshot's redraw and paint.) The curve's own pen is NoPen
    and its options carry a dot symbol, so the legend shows a dot, not a line."""

    def __init__(self, color: str, size: float, name: str | None = None) -> None:
        super().__init__(pen=pg.mkPen(None), name=name)
        self.opts.update(symbol="o", size=size, brush=pg.mkBrush(shown(color)))  # legend's sample
        self.dot = pg.mkPen(shown(color), width=size)
        self.dot.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.points: QPolygonF | None = None

    def recolour(self, table: dict[str, str]) -> None:
        """The theme changed (gui/restyle.py): the dots' own pen and the legend's sample."""
        dot, sample = translated_pen(self.dot, table), translated_brush(self.opts["brush"], table)
        if dot is not None:
            self.dot = dot
        if sample is not None:
            self.opts["brush"] = sample
        self.update()

    def set_points(self, x: np.ndarray, y: np.ndarray) -> None:
        """Show these points; the points already shown cost nothing (the observed series of
        one run come back in every snapshot)."""
        if (
            self.xData is not None
            and np.array_equal(x, self.xData)
            and np.array_equal(y, self.yData)
        ):
            return
        self.setData(x=x, y=y)

    def updateData(self, *args: Any, **kwargs: Any) -> None:
        super().updateData(*args, **kwargs)
        self.points = None

    def pixelPadding(self) -> float:
        return self.dot.widthF() / 2 + 1

    def paint(self, painter: QPainter, *args: Any) -> None:
        if self.xData is None or len(self.xData) == 0:
            return
        if self.points is None:
            self.points = pg.functions.arrayToQPolygonF(self.xData, self.yData)
        # In device pixels: a pen's round cap under the view's scaling is not a circle.
        device = painter.transform().map(self.points)
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)  # round dots, not blobs
        painter.setPen(self.dot)
        painter.drawPoints(device)
        painter.restore()


def _dots(color: str, name: str | None = None, size: int = 5) -> dict[str, Any]:
    return {"kind": "dots", "color": color, "size": size, "name": name}


def _line(
    color: str, width: float = 1.0, alpha: int = 255, name: str | None = None
) -> dict[str, Any]:
    return {"kind": "line", "pen": pen(color, width, alpha), "color": color, "name": name}


def _keys(specs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The legend of a plot's items, for its title: dots as ●, lines as ━."""
    return [
        (f"● {s['name']}" if s["kind"] == "dots" else s["name"], s["color"])
        for s in specs
        if s.get("name")
    ]


def _make(plot: pg.PlotItem, spec: dict[str, Any]) -> pg.GraphicsObject:
    """One item of a snapshot plot: plain curves, no PlotDataItem machinery (snapshots hold a
    few hundred points, so clipping and downsampling would cost more than they save)."""
    item: pg.GraphicsObject
    if spec["kind"] == "dots":
        item = DotsItem(spec["color"], spec["size"], spec["name"])
    else:
        item = pg.PlotCurveItem(pen=spec["pen"], connect="finite", name=spec["name"])
    plot.addItem(item)
    return item


class _Layers:
    """The items of one plot area, rebuilt only when the drawing mode changes."""

    def __init__(self, item: pg.PlotItem) -> None:
        self.item = item
        self.mode: str | None = None
        self.items: list[pg.PlotCurveItem] = []
        self.keys: list[tuple[str, str]] = []  # the legend, shown in a title
        self.follower = RangeFollower(item.getViewBox())

    def empty(self) -> None:
        """Show nothing, keeping the items for the next snapshot of the same kind."""
        for item in self.items:
            if getattr(item, "opts", {}).get("stepMode"):  # a histogram: x has one more value
                item.setData(x=EMPTY, y=EMPTY, stepMode=None)
            else:
                item.setData(x=EMPTY, y=EMPTY)

    def ensure(self, mode: str, specs: list[dict[str, Any]]) -> list[Any]:
        if mode != self.mode:
            self.item.clear()
            self.items = [_make(self.item, spec) for spec in specs]
            self.keys = _keys(specs)
            self.mode = mode
        return self.items


def _mode(snap: Snapshot) -> str:
    if snap.predicted.shape[1] == 1 and snap.times.shape[0] > 1:
        return f"classified-{snap.predicted.shape[2]}"
    if snap.generated or snap.predicted.shape[0] != snap.observed.shape[0]:
        return "generated"  # SDE: independent samples, not one prediction per series
    return "fit"


def _fill_gaps(paths: np.ndarray) -> np.ndarray:
    """Draw through missing observations (NaN) by connecting the observed neighbours."""
    out = paths.copy()
    idx = np.arange(paths.shape[1])
    for i, p in enumerate(paths):
        ok = np.isfinite(p)
        if ok.sum() >= 2:
            out[i] = np.interp(idx, idx[ok], p[ok])
    return out


class SnapshotView(PaintTimed):
    """Holds the latest evaluation snapshot until the next redraw (plots only draw)."""

    snapshot: Snapshot | None = None
    channel_names: list[str] = []  # replaced by set_snapshot, never mutated
    dirty = False

    def set_snapshot(self, snapshot: Snapshot, channel_names: list[str]) -> None:
        self.snapshot = snapshot
        self.channel_names = channel_names
        self.dirty = True


class TrajectoryPlot(SnapshotView, pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setBackground(shown("#ffffff"))
        self.rows: list[_Layers] = []
        self._titled: tuple[object, ...] = ()

    def clear_data(self) -> None:
        """Empty the rows but keep them: building a row costs more than a whole redraw."""
        self.snapshot = None
        for layers in self.rows:
            layers.empty()

    def _ensure_rows(self, n_channels: int) -> None:
        if len(self.rows) == n_channels:
            return
        self.clear()
        self.rows = []
        self._titled = ()
        for c in range(n_channels):
            row = self.addPlot(row=c, col=0)
            row.setClipToView(True)
            if c:
                row.setXLink(self.rows[0].item)
            self.rows.append(_Layers(row))
        self.rows[-1].item.setLabel("bottom", "time")

    def redraw(self) -> None:
        self.dirty = False
        snap = self.snapshot
        if snap is None:
            return
        self._ensure_rows(min(MAX_CHANNELS, snap.observed.shape[2]))
        mode = _mode(snap)
        for c, layers in enumerate(self.rows):
            name = self.channel_names[c] if c < len(self.channel_names) else f"channel {c}"
            _label(layers.item, "left", name)
            if mode == "fit":
                self._draw_fit(layers, snap, c)
            elif mode == "generated":
                self._draw_generated(layers, snap, c)
            else:
                self._draw_classified(layers, snap, c, mode)
            on_screen = [snap.observed[..., c]]
            if not mode.startswith("classified"):
                on_screen.append(snap.predicted[..., c])
            layers.follower.show_data([snap.times], on_screen)
        self._title(self.rows[0].keys)

    def _title(self, keys: list[tuple[str, str]]) -> None:
        """The legend of the rows, once, in the top row's title (never over the data)."""
        wanted = (tuple(keys), self.width() // 60)
        if wanted != self._titled:
            self._titled = wanted
            self.rows[0].item.setTitle(title_html("Series over time", keys, self.width() - 80))

    @staticmethod
    def _draw_fit(layers: _Layers, snap: Snapshot, c: int) -> None:
        specs = [_dots(COLORS[i], "observed" if i == 0 else None) for i in range(FIT_SERIES)]
        specs += [_line(COLORS[i], name="predicted" if i == 0 else None) for i in range(FIT_SERIES)]
        items = layers.ensure("fit", specs)
        for i in range(FIT_SERIES):
            if i < snap.observed.shape[0]:
                obs = snap.observed[i, :, c]
                ok = np.isfinite(obs)
                items[i].set_points(snap.times[ok], obs[ok])
                items[FIT_SERIES + i].setData(snap.times, snap.predicted[i, :, c])
            else:
                items[i].set_points(EMPTY, EMPTY)
                items[FIT_SERIES + i].setData(EMPTY, EMPTY)

    @staticmethod
    def _draw_generated(layers: _Layers, snap: Snapshot, c: int) -> None:
        data, generated = layers.ensure(
            "generated",
            [
                _line(OBSERVED, 1.0, 110, "data paths"),
                _line(COLORS[0], 1.0, 110, "generated paths"),
            ],
        )
        data.setData(*nan_separated(snap.times, snap.observed[..., c]))
        generated.setData(*nan_separated(snap.times, snap.predicted[..., c]))

    @staticmethod
    def _draw_classified(layers: _Layers, snap: Snapshot, c: int, mode: str) -> None:
        k = snap.predicted.shape[2]
        items = layers.ensure(
            mode,
            [_line(COLORS[j % len(COLORS)], name=f"predicted class {j}") for j in range(k)],
        )
        predicted = snap.predicted[:, 0, :].argmax(-1)
        filled = _fill_gaps(snap.observed[..., c])
        for j, item in enumerate(items):
            rows = predicted == j
            item.setData(*nan_separated(snap.times, filled[rows]) if rows.any() else (EMPTY, EMPTY))


class PhasePlot(SnapshotView, pg.PlotWidget):
    """The first two channels against each other: the phase portrait of the fit."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground(shown("#ffffff"))
        item = self.getPlotItem()
        self.title = ""
        self.layers = _Layers(item)
        self._titled: tuple[object, ...] = ()
        self._title("Phase plane")
        for axis in ("left", "bottom"):  # densities of 0.6 read "600 (x0.001)" otherwise
            item.getAxis(axis).enableAutoSIPrefix(False)

    def _title(self, text: str) -> None:
        """The title, with the legend of the items shown under it."""
        self.title = text
        wanted = (text, tuple(self.layers.keys), self.width() // 60)
        if wanted != self._titled:  # setting a title, even the same, re-lays the plot out
            self._titled = wanted
            self.getPlotItem().setTitle(title_html(text, self.layers.keys, self.width() - 60))

    def clear_data(self) -> None:
        self.snapshot = None
        self.layers.empty()

    def redraw(self) -> None:
        self.dirty = False
        if self.snapshot is not None:
            self._draw(self.snapshot)
            self._title(self.title)  # with the legend of what was drawn

    def _draw(self, snap: Snapshot) -> None:
        item = self.getPlotItem()
        if snap.observed.shape[2] < 2:
            self._draw_one_channel(item, snap)
            return
        self._title("Phase plane")
        names = self.channel_names or ["channel 0", "channel 1"]
        _label(item, "bottom", names[0])
        _label(item, "left", names[1])
        obs = snap.observed
        mode = _mode(snap)
        if mode.startswith("classified"):
            (paths,) = self.layers.ensure("paths", [_line(OBSERVED, 1.0, name="observed")])
            filled = np.stack([_fill_gaps(obs[..., 0]), _fill_gaps(obs[..., 1])], axis=-1)
            paths.setData(*_phase_xy(filled))
            self.layers.follower.show_data([filled[..., 0]], [filled[..., 1]])
            return
        specs = [_dots(OBSERVED, "observed", size=3), _line("#9bbcd8", 1.0, name="predicted")]
        specs += [_line(COLORS[i]) for i in range(FIT_SERIES)]
        items = self.layers.ensure("fit", specs)
        ok = np.isfinite(obs[..., 0]) & np.isfinite(obs[..., 1])
        items[0].set_points(obs[..., 0][ok], obs[..., 1][ok])
        items[1].setData(*_phase_xy(snap.predicted))
        for i in range(FIT_SERIES):
            highlight = mode == "fit" and i < snap.predicted.shape[0]
            items[2 + i].setData(
                *(_phase_xy(snap.predicted[i : i + 1]) if highlight else (EMPTY, EMPTY))
            )
        self.layers.follower.show_data(
            [obs[..., 0], snap.predicted[..., 0]], [obs[..., 1], snap.predicted[..., 1]]
        )

    def _draw_one_channel(self, item: pg.PlotItem, snap: Snapshot) -> None:
        """A state of one channel has no phase plane; the space shows instead what fits a
        scalar: data against generated distributions at the final time (SDEs), predicted
        against observed values (ODEs), or predicted against true class counts (CDEs)."""
        name = (self.channel_names or ["channel 0"])[0]
        mode = _mode(snap)
        if mode == "generated":
            self._title(f"Distribution at the final time (t = {snap.times[-1]:.3g})")
            data, generated = self.layers.ensure(
                "histogram",
                [_line(OBSERVED, 2.0, name="data"), _line(COLORS[0], 2.0, name="generated")],
            )
            real, fake = snap.observed[:, -1, 0], snap.predicted[:, -1, 0]
            real, fake = real[np.isfinite(real)], fake[np.isfinite(fake)]
            both = np.concatenate([real, fake])
            if both.size == 0:
                self.layers.empty()
                return
            edges = np.histogram_bin_edges(both, bins=max(5, min(30, int(both.size**0.5) + 1)))
            heights = [np.zeros(1)]
            for curve, values in ((data, real), (generated, fake)):
                density, _ = np.histogram(values, bins=edges, density=bool(values.size))
                curve.setData(edges, density, stepMode="center")
                heights.append(density)
            _label(item, "bottom", name)
            _label(item, "left", "density")
            self.layers.follower.show_data([edges], heights)
        elif mode == "fit":
            self._title("Predicted against observed")
            diagonal, dots = self.layers.ensure(
                "parity",
                [_line("#9bbcd8", 1.0, name="predicted = observed"), _dots(COLORS[0], "series")],
            )
            obs, pred = snap.observed[..., 0], snap.predicted[..., 0]
            ok = np.isfinite(obs) & np.isfinite(pred)
            x, y = obs[ok], pred[ok]
            if x.size:
                low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
                diagonal.setData(np.array([low, high]), np.array([low, high]))
            dots.set_points(x, y)
            _label(item, "bottom", f"observed {name}")
            _label(item, "left", f"predicted {name}")
            self.layers.follower.show_data([x], [y])
        else:
            k = snap.predicted.shape[2]
            self._title("Predicted and true classes")
            predicted_bars, true_bars = self.layers.ensure(
                "classes",
                [_line(COLORS[0], 2.0, name="predicted"), _line(OBSERVED, 2.0, name="true")],
            )
            edges = np.arange(k + 1) - 0.5
            counted = np.bincount(snap.predicted[:, 0, :].argmax(-1), minlength=k)
            predicted_bars.setData(edges, counted, stepMode="center")
            labels = snap.labels if snap.labels is not None else np.empty(0, dtype=int)
            true = np.bincount(labels.astype(int), minlength=k)[:k]
            true_bars.setData(edges, true, stepMode="center")
            _label(item, "bottom", "class")
            _label(item, "left", "series")
            self.layers.follower.show_data([edges], [counted, true])


def _label(item: pg.PlotItem, axis: str, text: str) -> None:
    """Set an axis label only when it changes: each set makes the axis re-render."""
    if item.getAxis(axis).labelText != text:
        item.setLabel(axis, text)


def _phase_xy(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = paths.shape[0]
    gap = np.full((b, 1), np.nan)
    x = np.concatenate([paths[..., 0], gap], axis=1).ravel()
    y = np.concatenate([paths[..., 1], gap], axis=1).ravel()
    return x, y
