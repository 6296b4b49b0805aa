"""Plot widgets share one setup: clip to view, peak downsampling, a legend, export menu."""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg

from ndestudio.gui.theme import shown

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
OBSERVED = "#555555"


def pen(color: str, width: float = 1.0, alpha: int = 255) -> pg.QtGui.QPen:
    """Width 1 is the fast path of Qt's raster engine: wider pens cost ~2x per frame."""
    c = pg.mkColor(shown(color))
    c.setAlpha(alpha)
    return pg.mkPen(c, width=width)


def add_legend(item: pg.PlotItem) -> pg.LegendItem:
    """A legend in the top-right corner on a translucent card, so data shows through."""
    card, edge = pg.mkColor(shown("#ffffff")), pg.mkColor(shown("#c8c8c8"))
    card.setAlpha(190)
    legend = item.addLegend(offset=(-8, 4), labelTextSize="8pt", brush=card, pen=edge)
    legend.setLabelTextColor(shown("#000000"))
    return legend


class RangeFollower:
    """Keeps a view on the data in coarse steps instead of pyqtgraph's auto-range, which
    re-ranges on every ``setData`` and, when the range moves, rebuilds the axes (the costliest
    part of a redraw). Zooming or panning by hand stops the following; the "A" button resumes.
    """

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.follow = True
        self._range: tuple[float, ...] = ()
        view.disableAutoRange()
        view.sigRangeChangedManually.connect(self._stop)

    def _stop(self, *_: object) -> None:
        self.follow = False

    def following(self) -> bool:
        if any(self.view.state["autoRange"]):  # the user pressed "A": follow the data again
            self.view.disableAutoRange()
            self.follow, self._range = True, ()
        return self.follow

    def show(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> None:
        """Set the range if it differs from the one shown (and following is on)."""
        wanted = (x_lo, x_hi, y_lo, y_hi)
        if self.following() and wanted != self._range:
            self._range = wanted
            self.view.setRange(xRange=(x_lo, x_hi), yRange=(y_lo, y_hi), padding=0.02)

    def show_data(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
        """Follow the finite extent of the data, each axis rounded out to an eighth of it."""
        x_lo, x_hi = _extent(xs)
        y_lo, y_hi = _extent(ys)
        if math.isfinite(x_lo) and math.isfinite(y_lo):
            self.show(*_coarse(x_lo, x_hi, 8), *_coarse(y_lo, y_hi, 8))


def _extent(arrays: list[np.ndarray]) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays if a.size]
    finite = [a for a in finite if a.size]
    if not finite:
        return math.nan, math.nan
    return min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)


def _coarse(lo: float, hi: float, parts: int = 4) -> tuple[float, float]:
    """[lo, hi] rounded outwards to a 1-2-5 step of about 1/parts of the span."""
    step = _nice_ceiling(max(hi - lo, 1e-12) / parts)
    lo_r = math.floor(lo / step) * step
    return lo_r, max(math.ceil(hi / step) * step, lo_r + step)


class PaintTimed:
    """Mixin for a pyqtgraph view: adds up the time its paints take.

    The window's redraw scheduler budgets drawing time with it. Plots are painted by Qt's
    own update, together with the scene's item and axis updates; forcing a synchronous
    repaint to time a frame painted most of them twice.
    """

    paint_seconds = 0.0  # all paints so far

    def paintEvent(self, event) -> None:
        start = time.perf_counter()
        super().paintEvent(event)  # type: ignore[misc]
        self.paint_seconds += time.perf_counter() - start


class DecadeAxis(pg.AxisItem):
    """On a log scale, labels only whole decades (1, 10, 100 as 10⁰, 10¹, 10²): labelled
    minor ticks (2·10⁻³, 5·10⁻³, …) overlapped on short axes. Linear scales are unchanged."""

    def logTickStrings(self, values, scale, spacing):  # type: ignore[no-untyped-def]
        strings = super().logTickStrings(values, scale, spacing)
        return [s if float(v).is_integer() else "" for v, s in zip(values, strings, strict=True)]


def key_sample(label: str) -> tuple[str, str]:
    """A key's sample and words: "● name" is a dot, "name ●" a line with dots, else a line."""
    if label.startswith("●"):
        return "●", label[1:].lstrip()
    if label.endswith(" ●"):
        return "━●", label[:-2]
    return "━", label


def keys_html(
    keys: list[tuple[str, str]], width_px: float, font_pt: int = 8, max_lines: int = 1
) -> str:
    """Legend keys for a plot title (a sample in the curve's colour, then its name), wrapped
    into lines that fit ``width_px`` (a legend inside the plot covered the data; one long
    line widened the plot past its column). Keys beyond ``max_lines`` are counted
    ("+3 more"); the plot's tooltip has all."""
    font = pg.QtGui.QFont()
    font.setPointSizeF(font_pt)
    metrics = pg.QtGui.QFontMetricsF(font)
    lines: list[list[str]] = [[]]
    used = 0.0
    for i, (label, color) in enumerate(keys):
        sample, text = key_sample(label)
        words = f"{sample} {text}"
        need = metrics.horizontalAdvance(words + "  ") * 1.1  # rich text sets it a bit wider
        if lines[-1] and used + need > width_px:
            if len(lines) == max_lines:
                lines[-1].append(f"+{len(keys) - i} more")
                break
            lines.append([])
            used = 0.0
        # The sample in the curve's colour, the words in the text's: readable on either theme
        # whatever the colour (orange or cyan words on white are not).
        lines[-1].append(f"<span style='color:{shown(color)}'>{sample}</span>&nbsp;{text}")
        used += need
    return "<br>".join(" ".join(line) for line in lines if line)


def keys_tooltip(keys: list[tuple[str, str]]) -> str:
    return "<br>".join(f"<span style='color:{shown(c)}'>━</span> {label}" for label, c in keys)


def title_html(title: str, keys: list[tuple[str, str]], width_px: float) -> str:
    text = f"<span style='font-size:10pt'>{title}</span>"
    if keys:
        text += f"<br><span style='font-size:8pt'>{keys_html(keys, width_px)}</span>"
    return text


class LivePlot(PaintTimed, pg.PlotWidget):
    """A PlotWidget set up for streaming: redraws only what is visible, downsampled.

    Right-click → Export… saves the plot as PNG, SVG or CSV (pyqtgraph's exporters).
    """

    def __init__(
        self,
        title: str,
        left: str,
        bottom: str,
        log_y: bool = False,
    ) -> None:
        super().__init__(axisItems={"left": DecadeAxis("left")})
        self.setBackground(shown("#ffffff"))
        item = self.getPlotItem()
        self.title = title
        self._keys_width = 0.0  # the width the title's keys were wrapped for
        self.keys: list[tuple[str, str]] = []  # (label, colour): the legend, in the title
        item.setTitle(title, size="10pt")
        item.setLabel("left", left)
        item.setLabel("bottom", bottom)
        item.showGrid(x=False, y=False)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.setLogMode(y=log_y)
        self.dirty = False
        self.follower = RangeFollower(item.getViewBox())
        self.x_extent = 0.0  # the run's iteration count: the x axis spans it from the start

    def follow_data(self, x_max: float, y_min: float, y_max: float, log_y: bool) -> None:
        """Show [0, x_max] and [y_min, y_max], rounded outwards to steps that change rarely."""
        if not self.follower.following() or not (math.isfinite(x_max) and math.isfinite(y_min)):
            return
        # Grow in doubling steps (few axis rebuilds), capped at the run's length.
        x_hi = _nice_ceiling(max(x_max, 1.0) * 2.0)
        if x_max <= self.x_extent:
            x_hi = min(x_hi, self.x_extent)
        if log_y:
            y_lo = math.floor(math.log10(y_min))
            y_hi = math.ceil(math.log10(y_max)) if y_max > y_min else y_lo + 1
            y_hi = max(y_hi, y_lo + 1)
        else:
            y_lo, y_hi = _coarse(y_min, y_max)
        self.follower.show(0.0, x_hi, y_lo, y_hi)

    def curve(
        self, name: str | None, color: str, width: float = 1.0, alpha: int = 255
    ) -> pg.PlotDataItem:
        if name is not None:
            self.keys.append((name, color))
            self._show_keys()
        return self.getPlotItem().plot(name=name, pen=pen(color, width, alpha))

    def forget_keys(self, names: set[str]) -> None:
        self.keys = [(label, color) for label, color in self.keys if label not in names]
        self._show_keys()

    def _show_keys(self) -> None:
        """The legend as coloured words under the title: it never covers the data, and it
        wraps to the plot's width (re-wrapped when the plot is resized)."""
        self._keys_width = max(100.0, self.width() - 50.0)
        self.getPlotItem().setTitle(title_html(self.title, self.keys, self._keys_width))
        if len(self.keys) > 3:  # more than a line may hold: all of them on hover
            self.setToolTip(keys_tooltip(self.keys))

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        keys = self.__dict__.get("keys")  # resized during construction, before it has keys
        if keys and max(100.0, self.width() - 50.0) != self._keys_width:
            self._show_keys()


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is ≥ value."""
    exponent = math.floor(math.log10(value))
    for mantissa in (1, 2, 5, 10):
        candidate = mantissa * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)
