"""What the dataset panel lists and says: the sources, the demo systems and packaged
datasets of a family, the install command a missing package needs, and a loaded dataset in
words. The catalogs import the data module (and so torch): call these once the core is
loaded (see gui/core_loader.py)."""

from __future__ import annotations

import html
from types import ModuleType
from typing import TYPE_CHECKING

from ndestudio.core.specs import DataSpec
from ndestudio.gui.data_loading import INSTALL

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.data.packaged import PackagedDataset

SOURCES = ("demo", "file", "dataset")
DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".npz")  # what Browse offers and a drop accepts
FILE_FILTER = (
    "Data files (*.csv *.parquet *.pq *.npz);;CSV files (*.csv);;Parquet files (*.parquet *.pq);;"
    "NumPy archives (*.npz);;All files (*)"
)
CLASS_NAMES_SHOWN = 12


def data_module() -> ModuleType:
    """The data module (demo systems are generated with torch), imported on first use: the
    panel is built before torch is loaded (see gui/core_loader.py) and filled in by ``load``."""
    from ndestudio.core import data

    return data


def demos_for(family: str) -> list[str]:
    return [name for name, demo in data_module().DEMOS.items() if demo.family == family]


def packaged_catalog() -> dict[str, PackagedDataset]:
    """The packaged datasets (name → entry); empty when this version has none."""
    try:
        from ndestudio.core.data.packaged import PACKAGED
    except ImportError:
        return {}
    return dict(PACKAGED)


def packaged_for(family: str) -> list[str]:
    """The packaged datasets a model of ``family`` can train on."""
    return [name for name, entry in packaged_catalog().items() if family in entry.families]


def missing_package(data: DataSpec) -> str | None:
    """Why the packaged dataset ``data`` names cannot load here (its package is not
    installed), with the command that installs it; None when it can."""
    if data.source != "dataset":
        return None
    entry = packaged_catalog().get(data.name)
    if entry is None or entry.installed:
        return None
    return (
        f"{entry.title} ships in the optional package {entry.package}, which is not "
        f"installed. Install it with:  {INSTALL}"
    )


def describe(ds: TimeSeriesDataset, test: TimeSeriesDataset | None) -> str:
    """The loaded dataset in one paragraph (rich text): its own name, sizes and classes."""
    channels = f"{ds.channels} channel{'s' if ds.channels != 1 else ''}"
    sizes = f"{ds.n_series} series × {len(ds.times)} times, {channels}"
    text = f"<b>{html.escape(ds.name)}</b>: {sizes}"
    if ds.n_classes:
        names = [str(n) for n in ds.class_names[:CLASS_NAMES_SHOWN]]
        more = f", … ({ds.n_classes - CLASS_NAMES_SHOWN} more)" if ds.n_classes > len(names) else ""
        text += f", {ds.n_classes} classes ({html.escape(', '.join(names))}{more})"
    elif ds.targets is not None:
        count = ds.targets.shape[-1] if ds.targets.ndim > 1 else 1
        text += f", {count} regression target{'s' if count != 1 else ''}"
    if test is not None:
        text += f"; test set: {test.n_series} series"
    return text + "."
