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
