"""Time series from data files: CSV (long or wide form), Parquet and NPZ.

CSV, long form (a header row, then one row per observation)::

    series,time,x,y[,label][,target...]
    a,0.0,1.2,0.3
    a,0.5,,0.1        <- an empty cell (or NaN) is a missing value
    b,0.2,0.9,0.4     <- series may be observed at different times

``series`` names the series a row belongs to (any text); ``time`` is a number; every other
column is a channel, except ``label`` (the series' class, for CDE classification; the same on
all its rows) and columns whose names start with ``target`` (regression targets per series).
Within a series the rows go forward in time (rows of different series may interleave).
Series may be sampled irregularly: the dataset's time grid is the union of all times, with
NaN where a series was not observed (an ODE still solves each series on its own times).

CSV, wide form: a ``time`` column and one column per channel, one row per time, increasing;
the file holds one series (no ``label`` or ``target`` columns). Parquet: either layout as
columns (numbers; ``series`` and ``label`` may be text or integers). NPZ (``numpy.savez``):
``values`` (series, times, channels) and ``times`` (times,) shared or (series, times) per
series, optional ``mask``, ``lengths``, ``labels``, ``targets``, ``channel_names`` and
``class_names`` (see :mod:`ndestudio.core.data.readers.npzfile`); object arrays are refused.

Classes are in their natural order: numerically when every label is a number ("2" before
"10"), else as text; ``class_names`` hold the labels' text. The dataset is named after the
file's stem.

A CSV file must be UTF-8 text (a UTF-8 byte-order mark is allowed). Any file either loads or
raises :class:`DataFileError` naming the file, the line (or row, or array element) and column
where there is one, and what was expected. Times, values and targets must be finite and at
most :data:`MAX_MAGNITUDE` in magnitude; the time grid may hold at most :data:`MAX_CELLS`
cells. pandas (CSV) and pyarrow (Parquet) are imported when a file of theirs is read.
"""

from __future__ import annotations

from pathlib import Path

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.readers import common as _common
from ndestudio.core.data.readers.common import DataFileError, Limits, LoadCancelled, Progress
from ndestudio.core.data.readers.sniff import kind, read_head

# The largest magnitude a time, value or target may have, and the most cells (series ×
# distinct times × channels) a dataset may hold; read at each load, so they may be changed.
MAX_MAGNITUDE = _common.MAX_MAGNITUDE
MAX_CELLS = _common.MAX_CELLS

# The formats load_file reads: those of ndestudio.core.specs.DATA_FORMATS (a test checks).
FORMATS = ("auto", "csv_long", "csv_wide", "parquet", "npz")
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}

__all__ = [
    "MAX_CELLS",
    "MAX_MAGNITUDE",
    "DataFileError",
    "LoadCancelled",
    "load_csv",
    "load_file",
]


def _limits() -> Limits:
    return Limits(max_magnitude=MAX_MAGNITUDE, max_cells=MAX_CELLS)


def load_csv(path: str | Path, *, progress: Progress | None = None) -> TimeSeriesDataset:
    """Read a long-form CSV file; raise :class:`DataFileError` naming the problem."""
    return load_file(path, "csv_long", progress=progress)


def load_file(
    path: str | Path,
    format: str = "auto",
    *,
    progress: Progress | None = None,
) -> TimeSeriesDataset:
    """Read a data file in ``format`` (see :data:`~ndestudio.core.specs.DATA_FORMATS`).

    "auto" goes by the extension: .csv and .txt are CSV (long form if the header has a
    'series' column, else wide), .parquet and .pq Parquet (long or wide the same way), .npz
    NPZ; any other name by the file's first bytes. ``progress(fraction)`` is called as the
    file is read; when it returns False the load stops with :class:`LoadCancelled`.
    """
    path = Path(path)
    if format not in FORMATS:
        raise DataFileError(
            f"{path}: unknown data file format {format!r}; expected one of {', '.join(FORMATS)}"
        )
    reader, form = format, "auto"
    if format == "auto":
        reader = _SUFFIXES.get(path.suffix.lower(), "")
        if not reader:
            found = kind(read_head(path))
            reader = found if found in ("parquet", "npz") else "npz" if found == "zip" else "csv"
    elif format.startswith("csv_"):
        reader, form = "csv", format.removeprefix("csv_")
    limits = _limits()
    if reader == "csv":
        from ndestudio.core.data.readers.csvfile import read_csv

        return read_csv(path, form, progress, limits)
    if reader == "parquet":
        from ndestudio.core.data.readers.parquetfile import read_parquet

        return read_parquet(path, progress, limits)
    from ndestudio.core.data.readers.npzfile import read_npz

    return read_npz(path, progress, limits)
