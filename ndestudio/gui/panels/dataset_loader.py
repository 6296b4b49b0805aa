"""Dataset loader: a built-in demo system with its parameters, or a CSV data file, and a
live preview of the data."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ndestudio.core.specs import DataSpec, RunSpec
from ndestudio.gui.panels.forms import Form, set_combo
from ndestudio.gui.plots.base import COLORS, add_legend, pen
from ndestudio.gui.plots.buffers import observed_lines

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset

PREVIEW_SERIES = 8


def _data() -> ModuleType:
    """The data module (demo systems are generated with torch), imported on first use: the
    panel is built before torch is loaded (see gui/core_loader.py) and filled in by ``load``."""
    from ndestudio.core import data

    return data


def demos_for(family: str) -> list[str]:
    return [name for name, demo in _data().DEMOS.items() if demo.family == family]


class DatasetPanel(QWidget):
    """Edits ``spec.data``; previews the first series of the dataset it describes."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = Form()
        f = self.form
        self.source = f.combo(
            "Source",
            ["demo", "file"],
            "demo: a built-in system generated with its parameters below;\n"
            "file: your own series from a CSV file (series, time, one column per channel;\n"
            "empty cells are missing values; optional label and target columns).",
        )
        self.file_row = QWidget()
        row = QHBoxLayout(self.file_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.path = QLineEdit()
        self.path.setPlaceholderText("a .csv file")
        self.path.editingFinished.connect(f._emit)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        self.reload = QPushButton("Reload")
        self.reload.setToolTip("Read the file again, after changing it (Ctrl+R).")
        self.reload.clicked.connect(lambda: self.on_reload())
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        row.addWidget(self.reload)
        f._row("Data file", self.file_row, "The CSV file the series are read from.")
        self.demo = f.combo("Demo system", [], "Built-in systems for the chosen model family.")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        self.n_series = f.integer(
            "Series", 4, 100_000, "How many series (trajectories) to generate."
        )
        self.n_times = f.integer("Observations", 2, 100_000, "Observation times per series.")
        self.t0 = f.number("Start time", -1e6, 1e6, 3, "Start of the time span.")
        self.t1 = f.number("End time", -1e6, 1e6, 3, "End of the time span.")
        self.noise = f.number(
            "Noise", 0.0, 100.0, 3, "Standard deviation of Gaussian observation noise."
        )
        self.drop = f.number(
            "Dropped",
            0.0,
            0.95,
            2,
            "Fraction of observations removed at random (NaN): irregular data.",
        )
        self.seed = f.integer(
            "Seed", 0, 2**31 - 1, "Seed of the generator: the same seed gives the same data."
        )
        self.val_fraction = f.number(
            "Validation", 0.05, 0.9, 2, "Fraction of series held out for validation."
        )
        box = QGroupBox("Data")
        inner = QVBoxLayout(box)
        inner.addWidget(self.form)
        inner.addWidget(self.description)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.error.setVisible(False)
        inner.addWidget(self.error)
        layout.addWidget(box)

        self.preview = pg.PlotWidget()
        self.preview.setBackground("w")
        self.preview.setMinimumHeight(160)
        self.preview.getPlotItem().setTitle("Preview", size="9pt")
        self.preview.getPlotItem().showGrid(x=False, y=False)
        add_legend(self.preview.getPlotItem())
        layout.addWidget(self.preview, 1)
        self.form.changed.connect(self._on_edit)
        self.on_change = lambda: None
        self.on_reload = lambda: None  # read the same file again
        self.start_folder: Callable[[], Path] = Path.home  # where Browse opens
        self.dataset: TimeSeriesDataset | None = None
        self.dataset_spec: DataSpec | None = None  # what ``dataset`` was made from
        self._family = "ode"
        self._last_demo = ""

    def load(self, spec: RunSpec, core: bool = True) -> None:
        """Show ``spec``. Without the ``core`` (torch not loaded yet) the demo list and the
        preview wait for a later ``load``."""
        self.form.loading = True
        try:
            d = spec.data
            self._family = spec.model.family
            set_combo(self.source, ["demo", "file"], d.source)
            self.path.setText(d.path or "")
            set_combo(self.demo, demos_for(self._family) if core else [d.name], d.name)
            self._last_demo = self.demo.currentText()
            demo = _data().DEMOS.get(d.name) if core else None
            span = d.t_span or (list(demo.t_span) if demo else [0.0, 1.0])
            self.n_series.setValue(d.n_series)
            self.n_times.setValue(d.n_times)
            self.t0.setValue(span[0])
            self.t1.setValue(span[1])
            self.noise.setValue(d.noise)
            self.drop.setValue(d.drop_fraction)
            self.seed.setValue(d.seed)
            self.val_fraction.setValue(d.val_fraction)
        finally:
            self.form.loading = False
        if core:
            self._describe()
            self.refresh_preview(spec.data)
        else:
            self.preview.getPlotItem().setTitle("Preview: loading…", size="9pt")

    def apply(self, spec: RunSpec) -> None:
        d = spec.data
        d.source = self.source.currentText()
        d.path = self.path.text().strip() or None
        d.name = self.demo.currentText()
        d.n_series = self.n_series.value()
        d.n_times = self.n_times.value()
        demo = _data().DEMOS.get(d.name)
        span = [self.t0.value(), self.t1.value()]
        d.t_span = None if demo is not None and tuple(span) == demo.t_span else span
        d.noise = self.noise.value()
        d.drop_fraction = self.drop.value()
        d.seed = self.seed.value()
        d.val_fraction = self.val_fraction.value()

    def _describe(self) -> None:
        from_file = self.source.currentText() == "file"
        demo = _data().DEMOS.get(self.demo.currentText())
        if from_file:
            self.description.setText(
                "CSV: a header with series, time and one column per channel (empty = missing); "
                "optional label (classes) and target… (regression) columns."
            )
        else:
            self.description.setText(demo.description if demo else "")
        self.file_row.setEnabled(from_file)
        for w in (self.demo, self.n_series, self.n_times, self.t0, self.t1, self.noise):
            w.setEnabled(not from_file)
        self.drop.setEnabled(not from_file and self._family == "cde")

    def _browse(self) -> None:
        current = self.path.text().strip()
        start = current if current and Path(current).parent.is_dir() else str(self.start_folder())
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data file", start, "CSV files (*.csv);;All files (*)"
        )
        if not path:
            return
        if path == current:  # the same file again: it may have been fixed since, re-read it
            self.on_reload()
        else:
            self.path.setText(path)
            self.form._emit()

    def _on_edit(self) -> None:
        demo = _data().DEMOS.get(self.demo.currentText())
        if demo is not None and demo.name != self._last_demo:  # a new demo: its own time span
            self._last_demo = demo.name
            self.form.loading = True
            self.t0.setValue(demo.t_span[0])
            self.t1.setValue(demo.t_span[1])
            self.form.loading = False
        self._describe()
        self.on_change()

    def dataset_for(self, data: DataSpec) -> TimeSeriesDataset | None:
        """The previewed demo dataset when ``data`` describes it, so that Train need not
        generate it again on the GUI thread; None for files (read afresh: they may have
        changed) and for anything else."""
        if data.source == "demo" and self.dataset is not None and self.dataset_spec == data:
            return self.dataset
        return None

    def refresh_preview(self, data: DataSpec) -> None:
        """Generate or read the dataset and draw its first series (milliseconds for demos and
        small files). A file that cannot be read is explained under the form."""
        datasets = _data()
        item = self.preview.getPlotItem()
        item.clear()
        self.error.setVisible(False)
        try:
            self.dataset = datasets.load_dataset(data)
            self.dataset_spec = copy.deepcopy(data)
        except datasets.DataFileError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            item.setTitle("Preview unavailable: the data file cannot be read", size="9pt")
            self.dataset = None
            return
        except (KeyError, ValueError) as exc:
            item.setTitle(f"Preview unavailable: {exc}", size="9pt")
            self.dataset = None
            return
        ds = self.dataset
        item.setTitle(
            f"Preview: {ds.name}, {ds.n_series} series × {len(ds.times)} times", size="9pt"
        )
        shown = ds.values[:PREVIEW_SERIES]
        for c, name in enumerate(ds.channel_names[:3]):
            paths = shown[..., c]
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
                symbolBrush=COLORS[c],
                symbolPen=None,
            )
