"""Plot items drawn the way the window draws them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from ndestudio.gui.plots.trajectories import DotsItem


def test_dots_are_round_dots_of_their_size_where_the_points_are(qtbot):
    size = 7
    points = [(-1.0, -0.5), (0.0, 0.0), (1.0, 0.8)]
    dots = DotsItem("#d62728", size=size)
    dots.set_points(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    widget = pg.PlotWidget()
    widget.setBackground("w")
    widget.resize(600, 500)
    widget.addItem(dots)
    # A phase plane's small range: a cosmetic pen's points drawn in data coordinates came out
    # wider than their size at such scales.
    widget.setRange(xRange=(-1.5, 1.5), yRange=(-1.5, 1.5), padding=0)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    image = widget.grab().toImage()
    view = widget.getPlotItem().getViewBox()

    def red(x: int, y: int) -> bool:
        colour = image.pixelColor(x, y)
        return colour.red() > 150 and colour.green() < 150

    for x, y in points:
        centre = widget.mapFromScene(view.mapViewToScene(QPointF(x, y)))
        cx, cy = centre.x(), centre.y()
        across = sum(red(cx + d, cy) for d in range(-12, 13))
        down = sum(red(cx, cy + d) for d in range(-12, 13))
        assert size - 2 <= across <= size + 1 and size - 2 <= down <= size + 1, (across, down)
    # The same points again are not set again: a snapshot's observed data repeat.
    polygon = dots.points
    dots.set_points(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    assert dots.points is polygon
    dots.set_points(np.array([1.0]), np.array([1.0]))
    assert dots.points is None and len(dots.getData()[0]) == 1


def test_dots_shown_again_after_being_emptied():
    """A plot emptied on Reset shows the same data points again when they come back."""
    dots = DotsItem("#d62728", size=5)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    dots.set_points(x, y)
    dots.setData(x=np.empty(0), y=np.empty(0))  # as the plot's layers empty themselves
    dots.set_points(x, y)
    shown_x, shown_y = dots.getData()
    assert np.array_equal(shown_x, x) and np.array_equal(shown_y, y)


def _generated_snapshot(channels: int, n: int = 32):
    from ndestudio.core.events import Snapshot

    rng = np.random.default_rng(0)
    times = np.linspace(0, 1, 17)
    observed = rng.normal(size=(n, 17, channels)).cumsum(1)
    generated = rng.normal(size=(n, 17, channels)).cumsum(1)  # as many samples as data series
    return Snapshot(times, observed, generated, generated=True)


def test_generated_paths_never_share_per_series_colours_with_the_data(qtbot):
    """SDE samples are independent of the data series: even when there are as many of them
    as data series, they are drawn as two groups (data, generated), not colour-paired."""
    from ndestudio.gui.plots.trajectories import PhasePlot, TrajectoryPlot

    snap = _generated_snapshot(channels=2)
    plot = TrajectoryPlot()
    qtbot.addWidget(plot)
    plot.set_snapshot(snap, ["x", "y"])
    plot.redraw()
    for row in plot.rows:
        assert row.mode == "generated" and len(row.items) == 2
        data, generated = row.items
        assert data.opts["pen"].color().name() != generated.opts["pen"].color().name()
        assert np.isfinite(data.getData()[1]).sum() == snap.observed[..., 0].size
    phase = PhasePlot()
    qtbot.addWidget(phase)
    phase.set_snapshot(snap, ["x", "y"])
    phase.redraw()
    highlighted = [i for i in phase.layers.items[2:] if i.getData()[0] is not None]
    assert all(len(i.getData()[0]) == 0 for i in highlighted)  # no per-series highlights


def test_a_one_channel_state_gets_a_view_of_its_own_in_the_phase_space(qtbot):
    from ndestudio.core.events import Snapshot
    from ndestudio.gui.plots.trajectories import PhasePlot

    phase = PhasePlot()
    qtbot.addWidget(phase)
    snap = _generated_snapshot(channels=1, n=200)
    phase.set_snapshot(snap, ["x"])
    phase.redraw()
    assert phase.title.startswith("Distribution at the final time")
    data, _generated = phase.layers.items
    edges, density = data.getData()
    assert len(edges) == len(density) + 1  # a histogram (step mode)
    widths = np.diff(edges)
    assert abs(float((density * widths).sum()) - 1.0) < 1e-9  # a density
    times = np.linspace(0, 1, 10)
    observed = np.sin(times)[None, :, None].repeat(3, 0)
    phase.set_snapshot(Snapshot(times, observed, observed + 0.1), ["x"])
    phase.redraw()
    assert phase.title == "Predicted against observed"
    _diagonal, dots = phase.layers.items
    x, y = dots.getData()
    assert np.allclose(y - x, 0.1) and len(x) == observed.size


def _step(i: int, nfe: int, layers: dict[str, float] | None = None):
    from ndestudio.core import events as ev

    return ev.Step(i, 1.0 / i, 0.5, layers or {}, nfe, 2 * nfe, 1e-3, 0.01 * i)


def test_legends_sit_in_the_title_never_on_the_data_and_many_keys_fold(qtbot):
    from ndestudio.gui.plots.gradients import GradientPlot

    plot = GradientPlot()
    qtbot.addWidget(plot)
    plot.resize(280, 220)
    plot.show()
    layers = {f"model.field.net.{k}.linear": 0.1 * (k + 1) for k in range(8)}
    plot.add(_step(1, 10, layers))
    plot.redraw()
    assert plot.getPlotItem().legend is None  # nothing drawn over the data
    title = plot.getPlotItem().titleLabel.text
    assert title.count("<br>") == 1  # the title and one line of keys, never more
    assert "more" in title  # 9 keys do not fit 280 px: the rest are counted
    assert all(f"{k}.linear" in plot.toolTip() for k in range(8))  # and all listed here
    plot.resize(1200, 220)  # wider: the keys are re-wrapped to the new width
    qtbot.waitUntil(lambda: "more" not in plot.getPlotItem().titleLabel.text, timeout=5000)


def test_log_axes_label_only_decades():
    from ndestudio.gui.plots.base import DecadeAxis

    axis = DecadeAxis("left")
    axis.setLogMode(False, True)
    labels = axis.tickStrings([-3.0, -3 + np.log10(2), -3 + np.log10(5), -2.0], 1.0, 1.0)
    assert labels[1] == labels[2] == ""
    assert labels[0] != "" and labels[3] != ""


def test_the_nfe_plot_stays_a_readable_line_and_band_at_ten_thousand_steps(qtbot):
    from ndestudio.gui.plots.nfe import BLOCKS, NFEPlot

    plot = NFEPlot()
    qtbot.addWidget(plot)
    rng = np.random.default_rng(0)
    for i in range(1, 10_001):  # a GAN's alternating steps: 20 and 60 evaluations
        plot.add(_step(i, int(20 + 40 * (i % 2) + rng.integers(0, 3))))
    plot.redraw()
    for series, mean, low, high in plot.lines:
        x, y = mean.getData()
        assert len(x) <= BLOCKS  # a line, not 10 000 points zig-zagging into a block
        assert 35 <= float(np.median(y)) / (1 if series is plot.forward else 2) <= 45
        assert np.all(high.getData()[1] >= y) and np.all(low.getData()[1] <= y)
    assert plot.getPlotItem().titleLabel.text.startswith("<span")
    assert "NFE per step" in plot.getPlotItem().titleLabel.text
