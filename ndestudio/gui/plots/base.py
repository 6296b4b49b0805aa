"""Plot widgets share one setup: clip to view, peak downsampling, a legend, export menu."""

from __future__ import annotations

import pyqtgraph as pg

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
OBSERVED = "#555555"


def pen(color: str, width: float = 1.5, alpha: int = 255) -> pg.QtGui.QPen:
    c = pg.mkColor(color)
    c.setAlpha(alpha)
    return pg.mkPen(c, width=width)


class LivePlot(pg.PlotWidget):
    """A PlotWidget set up for streaming: redraws only what is visible, downsampled.

    Right-click → Export… saves the plot as PNG, SVG or CSV (pyqtgraph's exporters).
    """

    def __init__(self, title: str, left: str, bottom: str, log_y: bool = False) -> None:
        super().__init__()
        self.setBackground("w")
        item = self.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("left", left)
        item.setLabel("bottom", bottom)
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.setLogMode(y=log_y)
        item.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.dirty = False

    def curve(
        self, name: str | None, color: str, width: float = 1.5, alpha: int = 255
    ) -> pg.PlotDataItem:
        return self.getPlotItem().plot(name=name, pen=pen(color, width, alpha))
