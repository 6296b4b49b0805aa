"""What every reader shares: the errors, the limits, the messages for bad cells, the checks
of each series (times that go backwards or repeat, labels and targets that change within a
series) and the dataset on the union of all observation times.

The CSV and Parquet readers hand their rows to a :class:`Table` chunk by chunk, in file order,
each with a :class:`Source` that turns a row number into a place in the file ("line 12",
"row 12") and gives a cell's text as written. A table refuses the first bad cell of a chunk
as soon as the chunk is read, then checks each series once every row is in, and builds the
:class:`TimeSeriesDataset`. The NPZ reader, whose arrays are already a grid, uses the same
messages and :func:`dataset_from_rows` for series on times of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

# The largest magnitude a time, value or target may have. Far beyond any measured quantity,
# and below sqrt(float64 max) / 1e4 ≈ 1.3e150, so that the squares that normalisation sums
# (a variance over up to 1e8 cells) stay finite in float64. Training in float32 needs far
# smaller values; ``check_training_data`` refuses those against the run's dtype.
MAX_MAGNITUDE = 1e150
# The most cells (series × distinct times × channels) a dataset may hold: 800 MB of float64.
MAX_CELLS = 100_000_000

# Called with the share of the file read so far; returning False cancels the load.
Progress = Callable[[float], bool]


def first_line(exc: BaseException) -> str:
    """What a library's exception says, as one short line (its type when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


_INFINITY = {"inf", "infinity"}


class DataFileError(UserError):
    """A data file that cannot be read; the message names the file, line and column."""


class LoadCancelled(Exception):
    """The user cancelled a load (its progress callback returned False)."""


@dataclass(frozen=True)
class Limits:
    """The largest magnitude of a number and the most cells a dataset may hold."""

    max_magnitude: float = MAX_MAGNITUDE
    max_cells: int = MAX_CELLS


def report(progress: Progress | None, fraction: float, path: Path) -> None:
    """Tell ``progress`` the share read; raise :class:`LoadCancelled` when it says stop."""
    if progress is not None and not progress(min(max(float(fraction), 0.0), 1.0)):
        raise LoadCancelled(str(path))


def shown(text: str, limit: int = 40) -> str:
    """``repr(text)``, shortened for a message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_number(text: str, where: str, *, missing_ok: bool, limit: float) -> float:
    """The number a cell holds, as Python's ``float`` reads it; a :class:`DataFileError` at
    ``where`` if it is not a number, not finite (NaN is a missing value where ``missing_ok``)
    or larger than ``limit`` in magnitude."""
    text = text.strip()
    if text == "":
        if missing_ok:
            return math.nan
        raise DataFileError(f"{where}: expected a number, the cell is empty")
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: expected a number, got {shown(text)}") from None
    if math.isnan(value):
        if missing_ok:
            return math.nan
        raise DataFileError(f"{where}: expected a finite number, got {shown(text)}")
    if math.isinf(value) and text.lstrip("+-").lower() in _INFINITY:
        hint = " (an empty cell or NaN marks a missing value)" if missing_ok else ""
        raise DataFileError(f"{where}: expected a finite number, got {shown(text)}{hint}")
    if not abs(value) <= limit:
        raise DataFileError(
            f"{where}: {shown(text)} is too large; expected a magnitude of at most "
            f"{limit:g} (rescale the column)"
        )
    return value


def cell_error(text: str, where: str, *, missing_ok: bool, limit: float) -> DataFileError:
    """The error for a cell the vectorised checks refused (see :func:`parse_number`)."""
    try:
        parse_number(text, where, missing_ok=missing_ok, limit=limit)
    except DataFileError as exc:
        return exc
    return DataFileError(f"{where}: expected a number, got {shown(text.strip())}")


def class_order(labels: Sequence[str]) -> list[str]:
    """The distinct labels in their natural order: numerically when every label is a finite
    number ("2" before "10", "-1" before "0.5"; equal numbers by their text), else as text."""
    distinct = set(labels)
    numbers: dict[str, float] = {}
    for label in distinct:
        try:
            number = float(label)
        except ValueError:
            return sorted(distinct)
        if not math.isfinite(number):
            return sorted(distinct)
        numbers[label] = number
    return sorted(distinct, key=lambda label: (numbers[label], label))


def check_cells(path: Path, n_series: int, n_times: int, channels: int, limits: Limits) -> None:
    """Refuse a grid of more than ``limits.max_cells`` cells before it is allocated."""
    cells = n_series * n_times * channels
    if cells > limits.max_cells:
        raise DataFileError(
            f"{path}: {n_series} series on {n_times} distinct times with {channels} "
            f"channel(s) make {cells} cells, more than the {limits.max_cells} allowed; "
            "series are placed on the union of all their times, so expected fewer distinct "
            "times (round them to a common grid) or fewer series"
        )


def dataset_from_rows(
    path: Path,
    series: np.ndarray,
    times: np.ndarray,
    values: np.ndarray,
    n_series: int,
    limits: Limits,
    **fields: Any,
) -> TimeSeriesDataset:
    """Observations (series number, time, channel values) on the union of all their times,
    NaN where a series was not observed; ``fields`` go to :class:`TimeSeriesDataset`."""
    grid = np.unique(times)
    if len(grid) < 2:
        raise DataFileError(f"{path}: at least two distinct observation times are needed")
    channels = values.shape[1]
    check_cells(path, n_series, len(grid), channels, limits)
    out = np.full((n_series, len(grid), channels), np.nan)
    out[series, np.searchsorted(grid, times)] = values
    return TimeSeriesDataset(family="any", times=grid, values=out, **fields)


@dataclass
class Layout:
    """The roles of a table's columns, by position in ``names``."""

    names: list[str]
    time: int
    channels: list[int]
    series: int | None = None  # None: the wide form, one series
    label: int | None = None
    targets: list[int] = field(default_factory=list)

    @property
    def text_columns(self) -> list[int]:
        return [i for i in (self.series, self.label) if i is not None]


def layout_of(
    where: str, names: list[str], form: str, *, what: str = "the header", kind: str = "csv"
) -> Layout:
    """The roles of ``names`` for ``form`` ("long", "wide" or "auto": long if there is a
    'series' column); a :class:`DataFileError` at ``where`` naming what is missing."""
    if form == "auto":
        form = "long" if "series" in names else "wide"
    have = ", ".join(names)
    if form == "long":
        missing = [c for c in ("series", "time") if c not in names]
        if missing:
            raise DataFileError(
                f"{where}: {what} needs columns 'series' and 'time' "
                f"(missing: {', '.join(missing)}); got {have}"
            )
    else:
        if "series" in names:
            raise DataFileError(
                f"{where}: a 'series' column makes this the long form (one row per "
                f"observation); expected the wide form (a 'time' column and one column per "
                f"channel), or choose the format '{kind}_long'"
                if kind == "csv"
                else f"{where}: a 'series' column in the wide form; expected 'time' and "
                "one column per channel"
            )
        if "time" not in names:
            raise DataFileError(
                f"{where}: {what} needs a column 'time' (the wide form: 'time' and one "
                "column per channel, one series) or columns 'series' and 'time' (the long "
                f"form: one row per observation); got {have}"
            )
        extra = [n for n in names if n == "label" or n.startswith("target")]
        if extra:
            raise DataFileError(
                f"{where}: column {extra[0]!r} in the wide form, which holds one series "
                "without labels or targets; expected only 'time' and channel columns (for "
                "labels or targets, use the long form with a 'series' column)"
            )
    time = names.index("time")
    series = names.index("series") if form == "long" else None
    label = names.index("label") if "label" in names else None
    targets = [i for i, n in enumerate(names) if n.startswith("target")]
    channels = [
        i for i, n in enumerate(names) if i not in (time, series, label) and i not in targets
    ]
    if not channels:
        besides = "series and time" if series is not None else "time"
        raise DataFileError(f"{where}: no value columns besides {besides}")
    return Layout(names, time, channels, series, label, targets)


def numeric(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN for missing, cells that are not numbers) of a column.

    Text cells are read by Python's ``float`` (after stripping; an empty cell is missing), so
    a text column gives exactly the numbers the file holds."""
    import pandas as pd
    from pandas.api import types

    n = len(column)
    if types.is_bool_dtype(column.dtype):  # True/False are not numbers here
        return np.full(n, np.nan), column.notna().to_numpy()
    if types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(n, bool)
    codes, uniques = pd.factorize(column)
    values, bad = np.empty(len(uniques)), np.zeros(len(uniques), bool)
    for k, cell in enumerate(uniques):
        text = str(cell).strip()
        if not text:
            values[k] = np.nan
            continue
        try:
            values[k] = float(text)
        except ValueError:
            values[k], bad[k] = np.nan, True
    missing = codes < 0
    codes = np.where(missing, 0, codes)
    if len(uniques) == 0:
        return np.full(n, np.nan), np.zeros(n, bool)
    return np.where(missing, np.nan, values[codes]), ~missing & bad[codes]


def text(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, distinct stripped texts) of a text column; code -1 marks an empty cell."""
    import pandas as pd

    codes, uniques = pd.factorize(column)
    names = [str(u).strip() for u in uniques]
    empty = np.array([not n for n in names] + [True])  # the last entry: code -1
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(empty[codes], -1, codes), names


class Source(Protocol):
    """Where a table's rows come from: places in the file and the text of a cell."""

    path: Path

    def place(self, row: int) -> str:
        """'line 12' / 'row 12' for the table's ``row`` (0-based, in file order)."""
        ...

    def cell(self, row: int, column: int) -> str:
        """'PATH, line 12, column 3 ('x')' / 'PATH, row 12, column 'x''."""
        ...

    def text(self, row: int, column: int, frame: pd.DataFrame, local: int) -> str:
        """The cell as written (``frame.iloc[local, column]`` is the cell as read)."""
        ...

    def ragged(self, first: int, frame: pd.DataFrame, keep: np.ndarray) -> int | None:
        """The first row of ``frame`` (rows ``first``, ``first + 1``, …; ``keep``: the rows
        that are not blank) that has too few or too many cells."""
        ...

    def ragged_error(self, row: int) -> DataFileError: ...

    def prefetch(self, rows: Sequence[int]) -> None:
        """Look up these rows together (the CSV source then scans the file once)."""
        ...


class Table:
    """Rows of a data file, checked chunk by chunk, then the dataset they make."""

    def __init__(self, source: Source, layout: Layout, limits: Limits, name: str) -> None:
        self.source, self.layout, self.limits, self.name = source, layout, limits, name
        self.series_codes: dict[str, int] = {}
        self.label_codes: dict[str, int] = {}
        # per chunk: rows, series, times, values, labels (or None), targets (or None)
        self.parts: list[tuple[Any, ...]] = []
        self.rows_seen = 0

    def where(self, row: int) -> str:
        return f"{self.source.path}, {self.source.place(row)}"

    def _global(self, codes: np.ndarray, names: list[str], table: dict[str, int]) -> np.ndarray:
        mapping = np.array([table.setdefault(n, len(table)) if n else -1 for n in names] + [-1])
        return mapping[codes]

    def add(self, frame: pd.DataFrame) -> None:
        """Check the next chunk of rows (its columns in ``layout.names`` order)."""
        lay, n = self.layout, len(frame)
        first, self.rows_seen = self.rows_seen, self.rows_seen + n
        if n == 0:
            return
        rows = np.arange(first, first + n)
        cols = frame.columns
        empty: list[np.ndarray] = []
        series = np.zeros(n, np.int64)
        series_names: list[str] = []
        if lay.series is not None:
            series, series_names = text(frame[cols[lay.series]])
            empty.append(series < 0)
        labels: np.ndarray | None = None
        label_names: list[str] = []
        if lay.label is not None:
            labels, label_names = text(frame[cols[lay.label]])
            empty.append(labels < 0)
        number_cols = [lay.time, *lay.channels, *lay.targets]
        converted = {i: numeric(frame[cols[i]]) for i in number_cols}
        for values, bad in converted.values():
            empty.append(np.isnan(values) & ~bad)
        keep = ~np.logical_and.reduce(empty)  # a row whose every cell is empty is skipped

        # The first bad cell of the chunk, in file order (a whole row first, then by column).
        found: list[tuple[int, int]] = []
        ragged = self.source.ragged(first, frame, keep)
        if ragged is not None:
            found.append((ragged, -1))
        limit = self.limits.max_magnitude
        for i in number_cols:
            values, bad = converted[i]
            missing_ok = i in lay.channels
            with np.errstate(invalid="ignore"):
                wrong = bad | np.isinf(values) | (np.abs(values) > limit)
            if not missing_ok:
                wrong |= np.isnan(values)
            hit = np.flatnonzero(wrong & keep)
            if len(hit):
                found.append((int(hit[0]) + first, i))
        for where, codes in ((lay.series, series), (lay.label, labels)):
            if where is not None and codes is not None:
                hit = np.flatnonzero((codes < 0) & keep)
                if len(hit):
                    found.append((int(hit[0]) + first, where))
        if found:
            self._refuse(min(found), frame, first, series, series_names)

        if lay.series is not None:
            series = self._global(series, series_names, self.series_codes)
        if labels is not None:
            labels = self._global(labels, label_names, self.label_codes)
        values = np.column_stack([converted[i][0] for i in lay.channels])
        targets = np.column_stack([converted[i][0] for i in lay.targets]) if lay.targets else None
        self.parts.append(
            (
                rows[keep],
                series[keep],
                converted[lay.time][0][keep],
                values[keep],
                None if labels is None else labels[keep],
                None if targets is None else targets[keep],
            )
        )

    def _refuse(
        self,
        found: tuple[int, int],
        frame: pd.DataFrame,
        first: int,
        series: np.ndarray,
        series_names: list[str],
    ) -> None:
        row, column = found
        src, lay = self.source, self.layout
        src.prefetch([row])
        if column < 0:
            raise src.ragged_error(row)
        where = src.cell(row, column)
        if column == lay.series:
            raise DataFileError(f"{where}: the series name is empty")
        if column == lay.label:
            code = int(series[row - first]) if lay.series is not None else -1
            name = series_names[code] if code >= 0 else ""
            raise DataFileError(
                f"{where}: the label is empty; expected the class of series {name!r} on each "
                "of its rows"
            )
        raise cell_error(
            src.text(row, column, frame, row - first),
            where,
            missing_ok=column in lay.channels,
            limit=self.limits.max_magnitude,
        )

    def dataset(self, empty_message: str) -> TimeSeriesDataset:
        """The dataset of every row added; refuse series that break the rules."""
        path, lay = self.source.path, self.layout
        if not sum(len(part[0]) for part in self.parts):
            raise DataFileError(f"{path}: {empty_message}")

        def joined(k: int) -> Any:
            items = [part[k] for part in self.parts]
            return None if items[0] is None else np.concatenate(items)

        rows, series, times, values, labels, targets = (joined(k) for k in range(6))
        names = list(self.series_codes) if lay.series is not None else [self.name]
        first_rows = np.unique(series, return_index=True)[1]  # each series' first row
        self._check_series(rows, series, times, labels, targets, names, first_rows)
        label_array, class_names = None, []
        if labels is not None:
            label_texts = list(self.label_codes)
            class_names = class_order(label_texts)
            rank = np.array([class_names.index(t) for t in label_texts])
            label_array = rank[labels[first_rows]]
        target_array = None
        if targets is not None:
            target_array = targets[first_rows]
        return dataset_from_rows(
            path,
            series,
            times,
            values,
            len(names),
            self.limits,
            name=self.name,
            channel_names=[lay.names[i] for i in lay.channels],
            labels=label_array,
            class_names=class_names,
            targets=target_array,
        )

    def _check_series(
        self,
        rows: np.ndarray,
        series: np.ndarray,
        times: np.ndarray,
        labels: np.ndarray | None,
        targets: np.ndarray | None,
        names: list[str],
        first_rows: np.ndarray,
    ) -> None:
        """Times increase, and labels and targets stay the same, within each series."""
        if len(series) > 1 and np.all(series[1:] >= series[:-1]):
            order = np.arange(len(series))  # the rows are grouped by series already
        else:
            order = np.argsort(series, kind="stable")
        s, t = series[order], times[order]
        same = s[1:] == s[:-1]
        found: list[tuple[int, int, int, str]] = []  # (row, rank, previous row, what)
        hit = np.flatnonzero(same & (t[1:] <= t[:-1]))
        if len(hit):
            k = hit[np.argmin(order[hit + 1])]
            found.append((int(order[k + 1]), 0, int(order[k]), "time"))
        for what, column in (("label", labels), ("targets", targets)):
            if column is None:
                continue
            first = first_rows[series]  # the first row of each row's series
            differs = column != column[first]
            if differs.ndim > 1:
                differs = differs.any(axis=1)
            hit = np.flatnonzero(differs)
            if len(hit):
                found.append((int(hit[0]), 1 if what == "label" else 2, int(first[hit[0]]), what))
        if not found:
            return
        at, _, before, what = min(found)
        src, lay = self.source, self.layout
        src.prefetch([rows[at], rows[before]])
        row, prev = int(rows[at]), int(rows[before])
        name = names[series[at]]
        if what == "time":
            now, then = times[at], times[before]
            if lay.series is None:
                if now == then:
                    raise DataFileError(
                        f"{self.where(row)}: time {now:g} again (also on {src.place(prev)}); "
                        "expected each time once, one row per time"
                    )
                raise DataFileError(
                    f"{self.where(row)}: time {now:g} comes after time {then:g} on "
                    f"{src.place(prev)}; expected the rows in increasing time"
                )
            if now == then:
                raise DataFileError(
                    f"{self.where(row)}: series {name!r} has two rows at time {now:g} (the "
                    f"other on {src.place(prev)}); expected each time once per series"
                )
            raise DataFileError(
                f"{self.where(row)}: series {name!r} goes back in time, to {now:g} after "
                f"{then:g} on {src.place(prev)}; expected the rows of each series in "
                "increasing time"
            )
        if what == "label":
            assert labels is not None and lay.label is not None
            texts = list(self.label_codes)
            raise DataFileError(
                f"{src.cell(row, lay.label)}: series {name!r} has label "
                f"{texts[labels[at]]!r} here but {texts[labels[before]]!r} on {src.place(prev)}"
            )
        raise DataFileError(
            f"{self.where(row)}: series {name!r} has different targets than on "
            f"{src.place(prev)}; a target belongs to the whole series"
        )
