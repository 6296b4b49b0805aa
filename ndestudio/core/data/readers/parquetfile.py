"""Parquet files: the CSV layouts as columns, read with pyarrow batch by batch.

Long form if there is a 'series' column (one row per observation), else wide (one row per
time, one series). 'time', the channels and the targets are numbers (integers, floats or
decimals; a null is a missing value, as NaN is); 'series' and 'label' are text or integers.
Rows are numbered from 1 in messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.readers.common import (
    DataFileError,
    Layout,
    Limits,
    Progress,
    Table,
    first_line,
    layout_of,
    report,
)
from ndestudio.core.data.readers.sniff import read_head, refuse_unless

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 100_000


class _Source:
    """A Parquet file's places (rows and column names) for a :class:`Table`."""

    def __init__(self, path: Path, layout: Layout) -> None:
        self.path, self.layout = path, layout
        self.nulls: dict[int, np.ndarray] = {}  # the current batch's null cells, by column

    def place(self, row: int) -> str:
        return f"row {row + 1}"

    def cell(self, row: int, column: int) -> str:
        return f"{self.path}, row {row + 1}, column {self.layout.names[column]!r}"

    def text(self, row: int, column: int, frame: pd.DataFrame, local: int) -> str:
        nulls = self.nulls.get(column)
        if nulls is not None and nulls[local]:
            return ""
        value = frame.iat[local, column]
        return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)

    def ragged(self, first: int, frame: pd.DataFrame, keep: np.ndarray) -> int | None:
        return None  # every row of a table has every column

    def ragged_error(self, row: int) -> DataFileError:  # pragma: no cover - never ragged
        return DataFileError(f"{self.path}, row {row + 1}: a row with missing cells")

    def prefetch(self, rows: Sequence[int]) -> None:
        pass


def _kind(t: Any) -> str:
    """'number', 'text' or '' (neither) for a pyarrow type."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return "text" if _kind(t.value_type) else ""
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_null(t):
        return "number"  # a column with no values at all: every cell missing
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if getattr(pa.types, "is_string_view", lambda _: False)(t):
        return "text"
    if pa.types.is_boolean(t):
        return "bool"
    return ""


def _check_types(path: Path, layout: Layout, schema: Any) -> None:
    import pyarrow as pa

    for i, name in enumerate(layout.names):
        t = schema.field(i).type
        found = _kind(t)
        if i in layout.text_columns:  # series names and labels: text or whole numbers
            if found in ("text", "bool") or pa.types.is_integer(t):
                continue
            raise DataFileError(f"{path}, column {name!r}: holds {t}; expected text or integers")
        if found == "number":
            continue
        hint = ""
        if name == "time" and ("timestamp" in str(t) or "date" in str(t)):
            hint = " (convert the times to numbers, e.g. seconds since the first)"
        elif found == "text":
            hint = " (is this a label? name it 'label')" if name != "time" else ""
        raise DataFileError(f"{path}, column {name!r}: holds {t}; expected numbers{hint}")


def _frame(batch: Any, layout: Layout, source: _Source) -> pd.DataFrame:
    """The batch as a DataFrame: numbers as float64 (NaN for null), text as text."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    source.nulls = {}
    for i in range(len(layout.names)):
        column = batch.column(i)
        if i in layout.text_columns:
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            columns[f"c{i}"] = pd.Series(
                [None if v is None else str(v) for v in column.to_pylist()], dtype=object
            )
            continue
        source.nulls[i] = column.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_null(column.type):
            values = np.full(len(column), np.nan)
        else:
            values = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        columns[f"c{i}"] = np.asarray(values, dtype=np.float64)
    return pd.DataFrame(columns)


def read_parquet(path: Path, progress: Progress | None, limits: Limits) -> TimeSeriesDataset:
    """Read a Parquet file (long form if it has a 'series' column, else wide)."""
    refuse_unless(
        path,
        read_head(path),
        "parquet",
        "a Parquet file",
        "expected a Parquet file (it starts with the bytes PAR1)",
    )
    report(progress, 0.0, path)
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        total = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow's errors for damaged files are of many kinds
        raise DataFileError(
            f"{path}: not a readable Parquet file ({first_line(exc)}); expected a Parquet file "
            "as pandas, pyarrow or polars write it"
        ) from None
    names = list(schema.names)
    if not names:
        raise DataFileError(f"{path}: the file has no columns; expected 'time' and channels")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataFileError(
            f"{path}: repeated column names {', '.join(dupes)}; expected each name once"
        )
    layout = layout_of(str(path), names, "auto", what="the file", kind="parquet")
    _check_types(path, layout, schema)
    if total * len(layout.channels) > limits.max_cells:
        raise DataFileError(
            f"{path}: {total} rows of {len(layout.channels)} channel(s) make more than the "
            f"{limits.max_cells} cells allowed; expected fewer rows"
        )
    source = _Source(path, layout)
    table = Table(source, layout, limits, path.stem)
    done = 0
    try:
        batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    except Exception as exc:
        raise DataFileError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    while True:
        try:
            batch = next(batches)
            frame = _frame(batch, layout, source)
        except StopIteration:
            break
        except Exception as exc:
            raise DataFileError(
                f"{path}, after row {done}: the file cannot be read ({first_line(exc)}); is it "
                "damaged?"
            ) from None
        table.add(frame)
        done += len(frame)
        report(progress, done / max(total, 1), path)
    return table.dataset("no rows; expected one row per observation")
