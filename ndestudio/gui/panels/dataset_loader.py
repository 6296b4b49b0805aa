"""Dataset loader: a built-in demo system with its parameters, a data file (CSV, Parquet,
NumPy), or a dataset that ships in a package; the validation share, a held-out test set, and
a live preview of the data.

Demos are generated on the GUI thread (milliseconds). Files and packaged datasets, and any
test set, load in a worker thread (``gui/data_loading.py``) behind a progress bar that
Cancel stops; until a load succeeds the dataset on screen stays, so a cancelled load or a
file that cannot be read leaves the previous dataset in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ndestudio.core.specs import DATA_FORMATS, TEST_SOURCES, DataSpec, RunSpec
from ndestudio.gui.data_loading import (
    DataLoader,
    Loaded,
    data_files,
    file_stamp,
    load_key,
    load_now,
)
from ndestudio.gui.panels.data_catalog import (
    DATA_SUFFIXES,
    FILE_FILTER,
    SOURCES,
    data_module,
    demos_for,
    describe,
    missing_package,
    packaged_catalog,
    packaged_for,
)
from ndestudio.gui.panels.data_preview import PREVIEW_SERIES, DataPreview
from ndestudio.gui.panels.forms import Form, set_combo
from ndestudio.gui.theme import shown

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset

__all__ = ["DATA_SUFFIXES", "PREVIEW_SERIES", "DatasetPanel", "demos_for", "packaged_for"]


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
            list(SOURCES),
            "demo: a built-in system generated with its parameters below;\n"
            "file: your own series from a data file (CSV, Parquet or NumPy .npz);\n"
            "dataset: a real dataset that ships in a Python package (loads offline).",
        )
        self.file_row, self.path, self.browse = self._file_row(self._browse)
        self.path.setPlaceholderText("a .csv, .parquet or .npz file")
        self.reload = QPushButton("Reload")
        self.reload.setToolTip("Read the file again, after changing it (Ctrl+R).")
        self.reload.clicked.connect(lambda: self.on_reload())
        self.file_row.layout().addWidget(self.reload)
        f._row("Data file", self.file_row, "The file the series are read from.")
        self.format = f.combo(
            "File format",
            list(DATA_FORMATS),
            "How the data file (and a test file) is read. auto: by the extension, and for CSV\n"
            "by the header (a 'series' column: long form, one row per observation; without\n"
            "it: wide form, one row per series).",
        )
        self.packaged = QComboBox()
        self.packaged.currentIndexChanged.connect(f._emit)
        f._row("Dataset", self.packaged, "Real datasets that ship in Python packages.")
        self.demo = f.combo("Demo system", [], "Built-in systems for the chosen model family.")
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
            "Seed",
            0,
            2**31 - 1,
            "Seed of the demo generator and of the validation split: the same seed gives\n"
            "the same data and the same validation series.",
        )
        self.val_fraction = f.number(
            "Validation",
            0.0,
            0.9,
            2,
            "Fraction of the training series held out for validation (stratified by class);\n"
            "0: train on every series, without validation (and without early stopping).",
        )
        self.val_fraction.setSpecialValueText("none")
        self.val_fraction.setSingleStep(0.05)
        self.test = f.combo(
            "Test set",
            list(TEST_SOURCES),
            "A held-out test set, scored once after training (with the best weights):\n"
            "none; file: series from a file of the same layout as the data;\n"
            "split: the packaged dataset's official test split.",
        )
        self.test_row, self.test_path, self.test_browse = self._file_row(self._browse_test)
        self.test_path.setPlaceholderText("the test series' file")
        f._row("Test file", self.test_row, "The file the test series are read from.")

        box = QGroupBox("Data")
        inner = QVBoxLayout(box)
        inner.addWidget(self.form)
        self.description = self._label(f"color: {shown('#555555')};")
        inner.addWidget(self.description)
        self.summary = self._label("")  # the dataset on screen: its name, sizes, classes
        inner.addWidget(self.summary)
        self.progress_row = QWidget()
        row = QHBoxLayout(self.progress_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Loading… %p %")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop loading; the dataset on screen stays.")
        self.cancel.clicked.connect(self.cancel_load)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        self.progress_row.setVisible(False)
        inner.addWidget(self.progress_row)
        self.error = self._label(f"color: {shown('#b00020')};")
        self.error.setVisible(False)
        inner.addWidget(self.error)
        layout.addWidget(box)

        self.preview = DataPreview()
        layout.addWidget(self.preview, 1)
        self.form.changed.connect(self._on_edit)
        self.on_change: Callable[[], None] = lambda: None
        self.on_reload: Callable[[], None] = lambda: None  # read the same file again
        self.on_loaded: Callable[[], None] = lambda: None  # another dataset is on screen
        self.on_busy: Callable[[bool], None] = lambda busy: None  # a load starts or ends
        self.on_message: Callable[[str], None] = lambda text: None  # for the status bar
        self.on_cancel: Callable[[], None] = lambda: None  # the user cancelled a load
        self.start_folder: Callable[[], Path] = Path.home  # where Browse opens
        self.dataset: TimeSeriesDataset | None = None
        self.test_dataset: TimeSeriesDataset | None = None
        self.dataset_spec: DataSpec | None = None  # what ``dataset`` was made from
        self._stamps: dict[str, Any] = {}  # the files ``dataset`` was read from, as read
        self.loader = DataLoader(self._on_progress, self._on_loaded, self)
        self._family = "ode"
        self._last_demo = ""

    def _label(self, style: str) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(style)
        return label

    def _file_row(self, browse: Callable[[], None]) -> tuple[QWidget, QLineEdit, QPushButton]:
        widget = QWidget()
        row = QHBoxLayout(widget)
        row.setContentsMargins(0, 0, 0, 0)
        path = QLineEdit()
        path.editingFinished.connect(self.form._emit)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(path, 1)
        row.addWidget(button)
        return widget, path, button

    # the spec ------------------------------------------------------------------------------

    def load(self, spec: RunSpec, core: bool = True) -> None:
        """Show ``spec``. Without the ``core`` (torch not loaded yet) the demo list and the
        preview wait for a later ``load``."""
        self._family = spec.model.family
        self._fill(spec.data, core)
        if core:
            self._describe()
            self.refresh_preview(spec.data)
        else:
            self.preview.title("Preview: loading…")

    def _fill(self, d: DataSpec, core: bool = True) -> None:
        self.form.loading = True
        try:
            set_combo(self.source, list(SOURCES), d.source)
            self.path.setText(d.path or "")
            set_combo(self.format, list(DATA_FORMATS), d.format)
            self._fill_packaged(d.name if d.source == "dataset" else "", core)
            set_combo(self.demo, demos_for(self._family) if core else [d.name], d.name)
            self._last_demo = self.demo.currentText()
            demo = data_module().DEMOS.get(self.demo.currentText()) if core else None
            span = d.t_span or (list(demo.t_span) if demo else [0.0, 1.0])
            self.n_series.setValue(d.n_series)
            self.n_times.setValue(d.n_times)
            self.t0.setValue(span[0])
            self.t1.setValue(span[1])
            self.noise.setValue(d.noise)
            self.drop.setValue(d.drop_fraction)
            self.seed.setValue(d.seed)
            self.val_fraction.setValue(d.val_fraction)
            set_combo(self.test, list(TEST_SOURCES), d.test)
            self.test_path.setText(d.test_path or "")
        finally:
            self.form.loading = False

    def _fill_packaged(self, current: str, core: bool = True) -> None:
        """The packaged datasets of the family, titled (the catalog imports the data module,
        hence torch: without the ``core`` only the spec's own name is listed)."""
        catalog = packaged_catalog() if core else {}
        names = packaged_for(self._family) if core else []
        if current and current not in names:  # the spec's own, even for another family
            names.append(current)
        blocked = self.packaged.blockSignals(True)
        self.packaged.clear()
        for name in names:
            entry = catalog.get(name)
            title = entry.title if entry is not None else name
            if entry is not None and not entry.installed:
                title += " (not installed)"
            self.packaged.addItem(title, name)
            if entry is not None:
                self.packaged.setItemData(
                    self.packaged.count() - 1,
                    f"{name}: {entry.description}",
                    Qt.ItemDataRole.ToolTipRole,
                )
        index = self.packaged.findData(current)
        self.packaged.setCurrentIndex(index if index >= 0 else 0)
        self.packaged.blockSignals(blocked)

    def apply(self, spec: RunSpec) -> None:
        d = spec.data
        d.source = self.source.currentText()
        d.path = self.path.text().strip() or None
        d.format = self.format.currentText()
        if d.source == "dataset":
            d.name = self.packaged.currentData() or d.name
        elif d.source == "demo":
            d.name = self.demo.currentText()  # (a file keeps the name it had: unused)
        d.n_series = self.n_series.value()
        d.n_times = self.n_times.value()
        demo = data_module().DEMOS.get(self.demo.currentText())
        span = [self.t0.value(), self.t1.value()]
        d.t_span = None if demo is not None and tuple(span) == demo.t_span else span
        d.noise = self.noise.value()
        d.drop_fraction = self.drop.value()
        d.seed = self.seed.value()
        d.val_fraction = self.val_fraction.value()
        d.test = self.test.currentText()
        d.test_path = self.test_path.text().strip() or None

    def _describe(self) -> None:
        source = self.source.currentText()
        from_file, packaged = source == "file", source == "dataset"
        if from_file:
            self.description.setText(
                "CSV in long form (series, time, one column per channel; empty = missing) or "
                "wide form (one row per series), Parquet, or .npz (values, times, labels); "
                "optional label (classes) and target… (regression) columns."
            )
        elif packaged:
            entry = packaged_catalog().get(self.packaged.currentData() or "")
            if entry is not None:
                self.description.setText(
                    f"{entry.title}: {entry.description}. From the {entry.package} package."
                )
            elif not packaged_catalog():
                self.description.setText("This version of NDE Studio has no packaged datasets.")
            else:
                self.description.setText(
                    f"No packaged dataset for neural {self._family.upper()}s; "
                    f"{', '.join(packaged_catalog())} suit other families."
                )
        else:
            demo = data_module().DEMOS.get(self.demo.currentText())
            self.description.setText(demo.description if demo else "")
        test = self.test.currentText()
        self._show_row(self.file_row, from_file)
        self._show_row(self.format, from_file or test == "file")
        self._show_row(self.packaged, packaged)
        self._show_row(self.test_row, test == "file")
        demo_rows = (self.demo, self.n_series, self.n_times, self.t0, self.t1, self.noise)
        for w in (*demo_rows, self.drop):
            self._show_row(w, source == "demo")
        self.file_row.setEnabled(from_file)
        self.reload.setEnabled(from_file)
        for w in demo_rows:
            w.setEnabled(source == "demo")
        self.drop.setEnabled(source == "demo" and self._family == "cde")
        split = self.test.model().item(TEST_SOURCES.index("split"))
        if split is not None:
            split.setEnabled(packaged)

    def _show_row(self, widget: QWidget, visible: bool) -> None:
        self.form.form.setRowVisible(widget, visible)
        widget.setEnabled(visible)

    def _browse(self) -> None:
        path = self._ask_file("Open data file", self.path.text().strip())
        current = self.path.text().strip()
        if not path:
            return
        if path == current:  # the same file again: it may have been fixed since, re-read it
            self.on_reload()
        else:
            self.path.setText(path)
            self.form._emit()

    def _browse_test(self) -> None:
        path = self._ask_file("Open test file", self.test_path.text().strip())
        if path and path != self.test_path.text().strip():
            self.test_path.setText(path)
            self.form._emit()
        elif path:  # the same file again: it may have been fixed since, re-read it
            self.on_reload()

    def _ask_file(self, title: str, current: str) -> str:
        start = current if current and Path(current).parent.is_dir() else str(self.start_folder())
        path, _ = QFileDialog.getOpenFileName(self, title, start, FILE_FILTER)
        return path

    def use_file(self, path: str | Path) -> None:
        """Read the series from ``path`` (a dropped file): source "file", its format chosen
        by its extension."""
        path = str(path)
        if self.source.currentText() == "file" and self.path.text().strip() == path:
            self.on_reload()
            return
        self.form.loading = True
        try:
            self.source.setCurrentText("file")
            self.path.setText(path)
            self.format.setCurrentText("auto")
        finally:
            self.form.loading = False
        self.form._emit()

    def _on_edit(self) -> None:
        if self.source.currentText() != "dataset" and self.test.currentText() == "split":
            self.form.loading = True  # only packaged datasets have an official test split
            self.test.setCurrentText("none")
            self.form.loading = False
        demo = data_module().DEMOS.get(self.demo.currentText())
        if demo is not None and demo.name != self._last_demo:  # a new demo: its own time span
            self._last_demo = demo.name
            self.form.loading = True
            self.t0.setValue(demo.t_span[0])
            self.t1.setValue(demo.t_span[1])
            self.form.loading = False
        self._describe()
        self.on_change()

    # the dataset ---------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """A load is under way in the worker."""
        return self.loader.busy

    def holds(self, data: DataSpec) -> bool:
        """The dataset on screen is what ``data`` describes (the validation share aside,
        which splits it later), and the files it was read from are unchanged."""
        return (
            self.dataset is not None
            and self.dataset_spec is not None
            and load_key(self.dataset_spec) == load_key(data)
            and all(file_stamp(p) == self._stamps.get(p) for p in data_files(data))
        )

    def dataset_for(self, data: DataSpec) -> TimeSeriesDataset | None:
        """The dataset on screen when ``data`` describes it (a file unchanged since it was
        read), so that Train need not make or read it again on the GUI thread; else None."""
        return self.dataset if self.holds(data) else None

    def test_dataset_for(self, data: DataSpec) -> TimeSeriesDataset | None:
        """The held-out test set on screen when ``data`` describes it (see
        :meth:`dataset_for`); else None."""
        return self.test_dataset if data.test != "none" and self.holds(data) else None

    def refresh_preview(self, data: DataSpec, force: bool = False) -> None:
        """Show the dataset ``data`` describes: at once when it is on screen already (unless
        ``force``: read its files again), generated here for a demo, else loaded in the
        worker. What cannot be loaded is explained under the form; the previous dataset
        stays meanwhile."""
        if self.loading:
            under_way = self.loader.spec
            if not force and under_way is not None and load_key(under_way) == load_key(data):
                return  # loading it already
            self.loader.cancel()
            self._end_busy()
        if not force and self.holds(data):
            self.dataset_spec = copy.deepcopy(data)  # (the validation share, say)
            self._show_current()
            return
        reason = missing_package(data)
        if reason is not None:
            self._refuse(reason)
        elif data.source == "demo" and data.test == "none":
            self._accept(load_now(data))  # milliseconds
        else:
            self.error.setVisible(False)
            self.progress.setValue(0)
            self.progress.setFormat(f"Loading {_what(data).replace('%', '')}… %p %")
            self.progress_row.setVisible(True)
            self.loader.start(data)
            self.on_busy(True)

    def cancel_load(self) -> None:
        """Stop the load under way: the dataset on screen stays, and the form goes back to
        what it was made from."""
        if not self.loading:
            return
        self.loader.cancel()
        self._end_busy()
        self.on_cancel()
        self._cancelled()

    def _end_busy(self) -> None:
        self.progress_row.setVisible(False)
        self.on_busy(False)

    def _on_progress(self, share: float) -> None:
        self.progress.setValue(round(1000 * share))

    def _on_loaded(self, result: Loaded) -> None:
        self._end_busy()
        if result.cancelled:
            self._cancelled()
        else:
            self._accept(result)

    def _cancelled(self) -> None:
        previous = self.dataset_spec if self.dataset is not None else None
        if previous is None:
            self._refuse("Loading cancelled: no dataset is loaded.")
            return
        self.on_message(f"Loading cancelled: {self.dataset.name} stays.")
        self._fill(previous)
        self._describe()
        self.on_change()  # the spec goes back to the dataset on screen

    def _accept(self, result: Loaded) -> None:
        if result.error is not None or result.dataset is None:
            self._refuse(result.error or "The data cannot be loaded.")
            return
        self.dataset = result.dataset
        self.test_dataset = result.test
        self.dataset_spec = copy.deepcopy(result.spec)
        self._stamps = dict(result.stamps)
        self._show_current()
        self.on_loaded()

    def _show_current(self) -> None:
        self.error.setVisible(False)
        if self.dataset is None:
            return
        self.summary.setText(describe(self.dataset, self.test_dataset))
        self.preview.show_dataset(self.dataset)

    def _refuse(self, message: str) -> None:
        """``message`` under the form; the dataset on screen stays (and says so)."""
        self.error.setText(message)
        self.error.setVisible(True)
        if self.dataset is None:
            self.summary.setText("No dataset is loaded.")
            self.preview.unavailable("Preview unavailable: the data cannot be loaded")
            return
        self.summary.setText(
            "Still on screen, the previous dataset: " + describe(self.dataset, self.test_dataset)
        )
        self.preview.show_dataset(self.dataset, " (the previous data)")

    def shutdown(self) -> None:
        self.loader.shutdown()


def _what(data: DataSpec) -> str:
    """What a load reads, for the progress bar."""
    if data.source == "file" and data.path:
        return Path(data.path).name
    if data.source == "dataset":
        entry = packaged_catalog().get(data.name)
        return entry.title if entry is not None else data.name
    return "the test set" if data.test != "none" else "the data"
