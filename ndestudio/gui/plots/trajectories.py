"""Observed versus predicted series from the latest evaluation snapshot.

Per channel over time (one row each), and in the phase plane of the first two channels.
ODE: observed points and predicted trajectories. SDE: observed and generated sample paths.
CDE: the observed paths coloured by the predicted class. Many paths are drawn as one
NaN-separated item, which is several times faster than one item per path.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ndestudio.core.events import Snapshot
from ndestudio.gui.plots.base import COLORS, OBSERVED, pen
from ndestudio.gui.plots.buffers import nan_separated

MAX_CHANNELS = 3


class TrajectoryPlot(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.snapshot: Snapshot | None = None
        self.channel_names: list[str] = []
        self.rows: list[pg.PlotItem] = []
        self.dirty = False

    def set_snapshot(self, snapshot: Snapshot, channel_names: list[str]) -> None:
        self.snapshot = snapshot
        self.channel_names = channel_names
        self.dirty = True

    def clear_data(self) -> None:
        self.snapshot = None
        self.clear()
        self.rows = []

    def redraw(self) -> None:
        self.dirty = False
        snap = self.snapshot
        if snap is None:
            return
        n_channels = min(MAX_CHANNELS, snap.observed.shape[2])
        if len(self.rows) != n_channels:
            self.clear()
            self.rows = []
            for c in range(n_channels):
                row = self.addPlot(row=c, col=0)
                row.showGrid(x=True, y=True, alpha=0.2)
                row.setClipToView(True)
                row.addLegend(offset=(-10, 5), labelTextSize="8pt")
                if c:
                    row.setXLink(self.rows[0])
                self.rows.append(row)
        classifier = snap.predicted.shape[1] == 1 and snap.times.shape[0] > 1
        for c, row in enumerate(self.rows):
            row.clear()
            name = self.channel_names[c] if c < len(self.channel_names) else f"channel {c}"
            row.setLabel("left", name)
            if c == len(self.rows) - 1:
                row.setLabel("bottom", "time")
            if classifier:
                _draw_classified(row, snap, c)
            else:
                _draw_fit(row, snap, c)


def _draw_fit(row: pg.PlotItem, snap: Snapshot, c: int) -> None:
    generated = snap.predicted.shape[0] != snap.observed.shape[0]  # SDE: independent samples
    if generated:
        x, y = nan_separated(snap.times, snap.observed[..., c])
        row.plot(x, y, pen=pen(OBSERVED, 1.0, 120), connect="finite", name="data paths")
        x, y = nan_separated(snap.times, snap.predicted[..., c])
        row.plot(x, y, pen=pen(COLORS[0], 1.0, 120), connect="finite", name="generated paths")
        return
    obs = snap.observed[..., c]
    mask = np.isfinite(obs)
    t = np.broadcast_to(snap.times, obs.shape)
    row.plot(
        t[mask],
        obs[mask],
        pen=None,
        symbol="o",
        symbolSize=4,
        symbolBrush=OBSERVED,
        symbolPen=None,
        name="observed",
    )
    x, y = nan_separated(snap.times, snap.predicted[..., c])
    row.plot(x, y, pen=pen(COLORS[0], 1.5), connect="finite", name="predicted")


def _draw_classified(row: pg.PlotItem, snap: Snapshot, c: int) -> None:
    predicted = snap.predicted[:, 0, :].argmax(-1)
    for k in np.unique(predicted):
        rows = predicted == k
        x, y = nan_separated(snap.times, _fill_gaps(snap.observed[rows, :, c]))
        row.plot(
            x,
            y,
            pen=pen(COLORS[int(k) % len(COLORS)], 1.2),
            connect="finite",
            name=f"predicted class {int(k)}",
        )


def _fill_gaps(paths: np.ndarray) -> np.ndarray:
    """Draw through missing observations (NaN) by connecting the observed neighbours."""
    out = paths.copy()
    idx = np.arange(paths.shape[1])
    for i, p in enumerate(paths):
        ok = np.isfinite(p)
        if ok.sum() >= 2:
            out[i] = np.interp(idx, idx[ok], p[ok])
    return out


class PhasePlot(pg.PlotWidget):
    """The first two channels against each other: the phase portrait of the fit."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        item = self.getPlotItem()
        item.setTitle("Phase plane", size="10pt")
        item.showGrid(x=True, y=True, alpha=0.2)
        item.addLegend(offset=(-10, 10), labelTextSize="8pt")
        item.setAspectLocked(False)
        self.snapshot: Snapshot | None = None
        self.channel_names: list[str] = []
        self.dirty = False
        self.message = pg.TextItem("", color="#777777", anchor=(0.5, 0.5))

    def set_snapshot(self, snapshot: Snapshot, channel_names: list[str]) -> None:
        self.snapshot = snapshot
        self.channel_names = channel_names
        self.dirty = True

    def clear_data(self) -> None:
        self.snapshot = None
        self.getPlotItem().clear()

    def redraw(self) -> None:
        self.dirty = False
        item = self.getPlotItem()
        item.clear()
        snap = self.snapshot
        if snap is None:
            return
        if snap.observed.shape[2] < 2:
            item.setTitle("Phase plane (needs a state of dimension ≥ 2)", size="10pt")
            return
        item.setTitle("Phase plane", size="10pt")
        names = self.channel_names or ["channel 0", "channel 1"]
        item.setLabel("bottom", names[0])
        item.setLabel("left", names[1])
        obs = snap.observed
        if snap.predicted.shape[1] == 1:  # a classifier: show the data only
            _phase_paths(item, _fill_gaps3(obs), OBSERVED, "observed")
            return
        mask = np.isfinite(obs[..., 0]) & np.isfinite(obs[..., 1])
        item.plot(
            obs[..., 0][mask],
            obs[..., 1][mask],
            pen=None,
            symbol="o",
            symbolSize=4,
            symbolBrush=OBSERVED,
            symbolPen=None,
            name="observed",
        )
        _phase_paths(item, snap.predicted, COLORS[0], "predicted")


def _fill_gaps3(obs: np.ndarray) -> np.ndarray:
    return np.stack([_fill_gaps(obs[..., c]) for c in range(obs.shape[2])], axis=-1)


def _phase_paths(item: pg.PlotItem, paths: np.ndarray, color: str, name: str) -> None:
    b = paths.shape[0]
    x = np.concatenate([paths[..., 0], np.full((b, 1), np.nan)], axis=1).ravel()
    y = np.concatenate([paths[..., 1], np.full((b, 1), np.nan)], axis=1).ravel()
    item.plot(x, y, pen=pen(color, 1.5), connect="finite", name=name)
