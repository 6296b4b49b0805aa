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
NaN where a series was not observed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.errors import UserError


class DataFileError(UserError):
    """A data file that cannot be read; the message names the file, line and column."""


def _number(text: str, where: str, *, missing_ok: bool) -> float:
    text = text.strip()
    if text == "":
        if missing_ok:
            return math.nan
        raise DataFileError(f"{where}: expected a number, the cell is empty")
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: expected a number, got {text!r}") from None
    if not missing_ok and not math.isfinite(value):
        raise DataFileError(f"{where}: expected a finite number, got {text!r}")
    return value


def load_csv(path: str | Path) -> TimeSeriesDataset:
    """Read a CSV file in the format above; raise :class:`DataFileError` naming the problem."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataFileError(f"{path}: the file is empty; expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFileError(f"{path}, line 1: not a CSV text file ({exc})") from None
        missing = [c for c in ("series", "time") if c not in header]
        if missing:
            raise DataFileError(
                f"{path}, line 1: the header needs columns 'series' and 'time' "
                f"(missing: {', '.join(missing)}); got {', '.join(header) or 'nothing'}"
            )
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise DataFileError(f"{path}, line 1: repeated column names {', '.join(dupes)}")
        i_series, i_time = header.index("series"), header.index("time")
        i_label = header.index("label") if "label" in header else None
        target_cols = [i for i, h in enumerate(header) if h.startswith("target")]
        channel_cols = [
            i
            for i, h in enumerate(header)
            if i not in (i_series, i_time, i_label) and i not in target_cols
        ]
        if not channel_cols:
            raise DataFileError(f"{path}, line 1: no value columns besides series and time")

        rows: dict[str, dict[float, list[float]]] = {}
        labels: dict[str, tuple[str, int]] = {}
        targets: dict[str, list[float]] = {}
        try:
            for line, row in enumerate(reader, start=2):
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
                    raise DataFileError(
                        f"{path}, line {line}: series {name!r} has two rows at time {t:g}"
                    )
                series[t] = [_number(row[i], where(i), missing_ok=True) for i in channel_cols]
                if i_label is not None:
                    label = row[i_label].strip()
                    seen = labels.setdefault(name, (label, line))
                    if seen[0] != label:
                        raise DataFileError(
                            f"{where(i_label)}: series {name!r} has label {label!r} here "
                            f"but {seen[0]!r} on line {seen[1]}"
                        )
                if target_cols:
                    wanted = [_number(row[i], where(i), missing_ok=False) for i in target_cols]
                    first = targets.setdefault(name, wanted)
                    if first != wanted:
                        raise DataFileError(
                            f"{path}, line {line}: series {name!r} has different targets "
                            "on different rows; a target belongs to the whole series"
                        )
        except csv.Error as exc:
            raise DataFileError(f"{path}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: not a UTF-8 text file ({exc.reason})") from None

    if not rows:
        raise DataFileError(f"{path}: no observations after the header")
    names = list(rows)
    times = np.array(sorted({t for series in rows.values() for t in series}))
    if len(times) < 2:
        raise DataFileError(f"{path}: at least two distinct observation times are needed")
    index = {t: k for k, t in enumerate(times)}
    values = np.full((len(names), len(times), len(channel_cols)), np.nan)
    for s, name in enumerate(names):
        for t, obs in rows[name].items():
            values[s, index[t]] = obs
    label_array, class_names = None, []
    if i_label is not None:
        class_names = sorted({label for label, _ in labels.values()})
        label_array = np.array([class_names.index(labels[n][0]) for n in names])
    target_array = np.array([targets[n] for n in names]) if target_cols else None
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
