"""The dataset panel's preview: the first series of the dataset on screen, per channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg

from ndestudio.gui.plots.base import COLORS, add_legend, pen
from ndestudio.gui.plots.buffers import observed_lines
from ndestudio.gui.theme import shown

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset

PREVIEW_SERIES = 8
PREVIEW_CHANNELS = 3


class DataPreview(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setBackground(shown("#ffffff"))
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        item.setTitle("Preview", size="9pt")
        item.showGrid(x=False, y=False)
        add_legend(item)

    def title(self, text: str) -> None:
        self.getPlotItem().setTitle(text, size="9pt")

    def show_dataset(self, ds: TimeSeriesDataset, note: str = "") -> None:
        """Draw the first series of ``ds`` (up to three channels); ``note`` follows the title."""
        item = self.getPlotItem()
        item.clear()
        self.title(f"{ds.name}: {ds.n_series} series × {len(ds.times)} times{note}")
        series = ds.values[:PREVIEW_SERIES]
        for c, name in enumerate(ds.channel_names[:PREVIEW_CHANNELS]):
            paths = series[..., c]
            x, y = observed_lines(ds.times, paths)
            item.plot(x, y, pen=pen(COLORS[c], 1.0), connect="finite", name=name)
            t = np.broadcast_to(ds.times, paths.shape)
            ok = np.isfinite(paths)
            item.plot(
                t[ok],
                paths[ok],
                pen=None,
                symbol="o",
                symbolSize=3,
                symbolBrush=shown(COLORS[c]),
                symbolPen=None,
            )

    def unavailable(self, text: str) -> None:
        self.getPlotItem().clear()
        self.title(text)
