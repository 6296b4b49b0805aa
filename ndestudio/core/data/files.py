"""Time series from CSV files: one row per observation, any number of series and channels.

Format (a header row, then one row per observation)::

    series,time,x,y[,label][,target...]
    a,0.0,1.2,0.3
    a,0.5,,0.1        <- an empty cell (or NaN) is a missing value
    b,0.2,0.9,0.4     <- series may be observed at different times

``series`` names the series a row belongs to (any text); ``time`` is a number; every other
column is a channel, except ``label`` (the series' class, for CDE classification; the same on
all its rows) and columns whose names start with ``target`` (regression targets per series).
Series may be sampled irregularly: the dataset's time grid is the union of all times, with
NaN where a series was not observed (an ODE still solves each series on its own times).

The file must be UTF-8 text (a UTF-8 byte-order mark is allowed). Any file either loads or
raises :class:`DataFileError` naming the file, the line (and column where there is one) and
what was expected. Times, values and targets must be finite and at most
:data:`MAX_MAGNITUDE` in magnitude; the time grid may hold at most :data:`MAX_CELLS` cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.errors import UserError

# The largest magnitude a time, value or target may have. Far beyond any measured quantity,
# and below sqrt(float64 max) / 1e4 ≈ 1.3e150, so that the squares that normalisation sums
# (a variance over up to 1e8 cells) stay finite in float64. Training in float32 needs far
# smaller values; ``check_training_data`` refuses those against the run's dtype.
MAX_MAGNITUDE = 1e150
# The most cells (series × distinct times × channels) a dataset may hold: 800 MB of float64.
MAX_CELLS = 100_000_000

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INFINITY = {"inf", "infinity"}


class DataFileError(UserError):
    """A data file that cannot be read; the message names the file, line and column."""


def _shown(text: str, limit: int = 40) -> str:
    """``repr(text)``, shortened for a message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _position(before: str) -> str:
    """'line L, character C' of the character right after the text ``before``."""
    lines = _LINE_BREAK.split(before)
    return f"line {len(lines)}, character {len(lines[-1]) + 1}"


def _decode(path: Path, data: bytes) -> str:
    """The file's text; refuse UTF-16/32, NUL bytes and anything else that is not UTF-8."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise DataFileError(f"{path}: the file looks like UTF-32 text; save it as UTF-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFileError(f"{path}: the file looks like UTF-16 text; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        head = data[:200]
        if len(head) >= 4 and head.count(b"\x00") * 3 >= len(head):
            raise DataFileError(
                f"{path}: the file looks like UTF-16 text (every other byte is NUL); "
                "save it as UTF-8"
            )
        where = _position(data[:nul].decode("utf-8", "replace"))
        raise DataFileError(
            f"{path}, {where}: a NUL byte; expected UTF-8 text (is this a binary file?)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = _position(data[: exc.start].decode("utf-8", "replace"))
        raise DataFileError(
            f"{path}, {where}: byte 0x{data[exc.start]:02X} is not UTF-8; expected a UTF-8 "
            "text file (save it as UTF-8)"
        ) from None


def _records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each CSV record; CSV syntax errors become DataFileErrors."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "field larger than field limit" in reason:
                raise DataFileError(
                    f"{path}, line {line}: a cell longer than {csv.field_size_limit()} "
                    "characters (the field limit); expected short cells (is a quote never "
                    "closed?)"
                ) from None
            if "unexpected end of data" in reason:
                raise DataFileError(
                    f'{path}, line {line}: a quoted cell is never closed; expected a closing "'
                ) from None
            raise DataFileError(f"{path}, line {line}: not valid CSV ({reason})") from None
        yield line, row


def _number(text: str, where: str, *, missing_ok: bool) -> float:
    text = text.strip()
    if text == "":
        if missing_ok:
            return math.nan
        raise DataFileError(f"{where}: expected a number, the cell is empty")
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: expected a number, got {_shown(text)}") from None
    if math.isnan(value):
        if missing_ok:
            return math.nan
        raise DataFileError(f"{where}: expected a finite number, got {_shown(text)}")
    if math.isinf(value) and text.lstrip("+-").lower() in _INFINITY:
        hint = " (an empty cell or NaN marks a missing value)" if missing_ok else ""
        raise DataFileError(f"{where}: expected a finite number, got {_shown(text)}{hint}")
    if not abs(value) <= MAX_MAGNITUDE:
        raise DataFileError(
            f"{where}: {_shown(text)} is too large; expected a magnitude of at most "
            f"{MAX_MAGNITUDE:g} (rescale the column)"
        )
    return value


def load_csv(path: str | Path) -> TimeSeriesDataset:
    """Read a CSV file in the format above; raise :class:`DataFileError` naming the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # e.g. a NUL character in the path
        raise DataFileError(f"{str(path)!r}: cannot read ({exc})") from None
    records = _records(path, _decode(path, data))

    header: list[str] = []
    header_line = 1
    for line, row in records:
        if any(cell.strip() for cell in row):
            header, header_line = [h.strip() for h in row], line
            break
    if not header:
        raise DataFileError(f"{path}: the file is empty; expected a header row")
    at_header = f"{path}, line {header_line}"
    for i, h in enumerate(header):
        if not h:
            raise DataFileError(
                f"{at_header}, column {i + 1}: the column has no name; expected a name for "
                "every column of the header (a stray comma?)"
            )
    missing = [c for c in ("series", "time") if c not in header]
    if missing:
        raise DataFileError(
            f"{at_header}: the header needs columns 'series' and 'time' "
            f"(missing: {', '.join(missing)}); got {', '.join(header)}"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        places = "; ".join(
            f"{h!r} in columns {', '.join(str(i + 1) for i, g in enumerate(header) if g == h)}"
            for h in dupes
        )
        raise DataFileError(
            f"{at_header}: repeated column names {', '.join(dupes)} ({places}); "
            "expected each name once"
        )
    i_series, i_time = header.index("series"), header.index("time")
    i_label = header.index("label") if "label" in header else None
    target_cols = [i for i, h in enumerate(header) if h.startswith("target")]
    channel_cols = [
        i
        for i, h in enumerate(header)
        if i not in (i_series, i_time, i_label) and i not in target_cols
    ]
    if not channel_cols:
        raise DataFileError(f"{at_header}: no value columns besides series and time")

    rows: dict[str, dict[float, list[float]]] = {}
    labels: dict[str, tuple[str, int]] = {}
    targets: dict[str, tuple[list[float], int]] = {}
    for line, row in records:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise DataFileError(
                f"{path}, line {line}: {len(row)} cells, expected {len(header)} "
                f"({', '.join(header)})"
            )

        def where(i: int, line: int = line) -> str:
            return f"{path}, line {line}, column {i + 1} ({header[i]!r})"

        name = row[i_series].strip()
        if not name:
            raise DataFileError(f"{where(i_series)}: the series name is empty")
        t = _number(row[i_time], where(i_time), missing_ok=False)
        series = rows.setdefault(name, {})
        if t in series:
            raise DataFileError(f"{path}, line {line}: series {name!r} has two rows at time {t:g}")
        series[t] = [_number(row[i], where(i), missing_ok=True) for i in channel_cols]
        if i_label is not None:
            label = row[i_label].strip()
            if not label:
                raise DataFileError(
                    f"{where(i_label)}: the label is empty; expected the class of series "
                    f"{name!r} on each of its rows"
                )
            seen = labels.setdefault(name, (label, line))
            if seen[0] != label:
                raise DataFileError(
                    f"{where(i_label)}: series {name!r} has label {label!r} here "
                    f"but {seen[0]!r} on line {seen[1]}"
                )
        if target_cols:
            wanted = [_number(row[i], where(i), missing_ok=False) for i in target_cols]
            first, first_line = targets.setdefault(name, (wanted, line))
            if first != wanted:
                raise DataFileError(
                    f"{path}, line {line}: series {name!r} has different targets than on "
                    f"line {first_line}; a target belongs to the whole series"
                )

    if not rows:
        raise DataFileError(f"{path}: no observations after the header")
    names = list(rows)
    times = np.array(sorted({t for series in rows.values() for t in series}))
    if len(times) < 2:
        raise DataFileError(f"{path}: at least two distinct observation times are needed")
    cells = len(names) * len(times) * len(channel_cols)
    if cells > MAX_CELLS:
        raise DataFileError(
            f"{path}: {len(names)} series on {len(times)} distinct times with "
            f"{len(channel_cols)} channel(s) make {cells} cells, more than the {MAX_CELLS} "
            "allowed; series are placed on the union of all their times, so expected fewer "
            "distinct times (round them to a common grid) or fewer series"
        )
    index = {t: k for k, t in enumerate(times)}
    values = np.full((len(names), len(times), len(channel_cols)), np.nan)
    for s, name in enumerate(names):
        for t, obs in rows[name].items():
            values[s, index[t]] = obs
    label_array, class_names = None, []
    if i_label is not None:
        class_names = sorted({label for label, _ in labels.values()})
        label_array = np.array([class_names.index(labels[n][0]) for n in names])
    target_array = np.array([targets[n][0] for n in names]) if target_cols else None
    return TimeSeriesDataset(
        name=path.name,
        family="any",
        times=times,
        values=values,
        channel_names=[header[i] for i in channel_cols],
        labels=label_array,
        class_names=class_names,
        targets=target_array,
    )


class LoadCancelled(Exception):
    """The user cancelled a load (its progress callback returned False)."""


def load_file(
    path: str | Path,
    format: str = "auto",
    *,
    progress: Callable[[float], bool] | None = None,
) -> TimeSeriesDataset:
    """Read a data file in ``format`` (see :data:`~ndestudio.core.specs.DATA_FORMATS`)."""
    if progress is not None and not progress(0.0):
        raise LoadCancelled(str(path))
    return load_csv(path)
