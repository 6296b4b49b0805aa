"""CSV files, long form (one row per observation) or wide form (one row per time), read by
pandas' C reader in chunks.

pandas does the reading. What it cannot say comes from an index of the file's records (where
each row pandas returns starts and ends, and its line): the line a bad cell is on; a row with
too few cells (pandas fills them in with missing ones, so its last cell is missing); and a
chunk's first row with too many (pandas drops the extra cells without a word; further rows
with too many it refuses). The index is split from the bytes with NumPy, at the line breaks
outside quotes, or for unusual quoting (a quote inside an unquoted cell) by the standard
library's ``csv`` module, which splits records the way pandas does.

Numbers are read with ``float_precision="round_trip"``: pandas' default parser is about three
times faster, but off by one unit in the last place for many numbers of 15 or more digits
(a third of those Python's ``repr`` writes), and a reader must give back the numbers written.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.readers.common import (
    DataFileError,
    Layout,
    Limits,
    Progress,
    Table,
    layout_of,
    report,
)
from ndestudio.core.data.readers.sniff import HEAD_BYTES, kind, read_bytes, refuse_unless

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 100_000
# Cells pandas reads as missing in a number column: an empty cell and the spellings of NaN
# that Python's float reads (others, and whitespace-only cells, are read by float itself).
_NUMBER_NA = ["", "nan", "NaN", "NAN", "-nan", "-NaN", "-NAN", "+nan", "+NaN", "+NAN"]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FIELD_LIMIT_LOCK = threading.RLock()
_DROPPED_CELLS = "Length of header or names does not match length of data"


def _position(before: str) -> str:
    """'line L, character C' of the character right after the text ``before``."""
    lines = _LINE_BREAK.split(before)
    return f"line {len(lines)}, character {len(lines[-1]) + 1}"


def check_text(path: Path, data: bytes) -> None:
    """Refuse UTF-16/32, NUL bytes and anything else that is not UTF-8 text."""
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
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _position(data[: exc.start].decode("utf-8", "replace"))
        raise DataFileError(
            f"{path}, {where}: byte 0x{data[exc.start]:02X} is not UTF-8; expected a UTF-8 "
            "text file (save it as UTF-8)"
        ) from None


@contextmanager
def _long_fields() -> Iterator[None]:
    """Let the ``csv`` module read cells of any length (pandas has no limit either)."""
    with _FIELD_LIMIT_LOCK:
        old = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)
        try:
            yield
        finally:
            csv.field_size_limit(old)


@dataclass
class Record:
    start: int  # byte offsets of the record in the file
    end: int
    line: int  # the physical line it starts on
    cells: list[str]


def _records(path: Path, data: bytes, start: int, line: int) -> Iterator[Record]:
    """Every CSV record from byte ``start`` (on line ``line``), split by the ``csv`` module."""

    class Lines:
        offset, count = start, line - 1

        def __iter__(self) -> Iterator[str]:
            for match in _LINE.finditer(data, start):
                self.offset, self.count = match.end(), self.count + 1
                yield match.group().decode("utf-8", "replace")

    lines = Lines()
    reader = csv.reader(iter(lines), strict=False)
    while True:
        begin, first = lines.offset, lines.count + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFileError(f"{path}, line {first}: not valid CSV ({exc})") from None
        yield Record(begin, lines.offset, first, cells)


def _blank(data: bytes, record: Record) -> bool:
    """A record pandas skips: an empty line, or spaces and tabs only."""
    return not data[record.start : record.end].strip(b" \t\r\n")


def _ragged(data: bytes, record: Record, n: int) -> bool:
    """A record with the wrong number of cells that is not skipped as blank."""
    if _blank(data, record) or len(record.cells) == n:
        return False
    return len(record.cells) > n or any(cell.strip() for cell in record.cells)


@dataclass
class Header:
    names: list[str]
    line: int  # the line it starts on
    body: int  # the byte offset where the rows start
    body_line: int  # the line they start on


def _header(path: Path, data: bytes, start: int) -> Header:
    """The first record with a cell that is not blank."""
    with _long_fields():
        for record in _records(path, data, start, 1):
            if any(cell.strip() for cell in record.cells):
                body_line = record.line + data.count(b"\n", record.start, record.end)
                body_line += len(re.findall(rb"\r(?!\n)", data[record.start : record.end]))
                return Header([c.strip() for c in record.cells], record.line, record.end, body_line)
    raise DataFileError(f"{path}: the file is empty; expected a header row")


def _check_names(where: str, names: list[str]) -> None:
    for i, name in enumerate(names):
        if not name:
            raise DataFileError(
                f"{where}, column {i + 1}: the column has no name; expected a name for "
                "every column of the header (a stray comma?)"
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        places = "; ".join(
            f"{n!r} in columns {', '.join(str(i + 1) for i, g in enumerate(names) if g == n)}"
            for n in dupes
        )
        raise DataFileError(
            f"{where}: repeated column names {', '.join(dupes)} ({places}); expected each name once"
        )


def _plain_quotes(a: np.ndarray) -> np.ndarray | None:
    """The positions of the quote characters when every one opens a cell, closes one or is
    doubled inside one (as a CSV writer quotes); then a character is inside quotes when an
    odd number of quotes come before it. None for other quoting."""
    q = np.flatnonzero(a == 34)
    if not len(q):
        return q
    before = a[np.maximum(q - 1, 0)]
    before[q == 0] = 10
    after = a[np.minimum(q + 1, len(a) - 1)]
    after[q == len(a) - 1] = 10
    doubled = q[1:] == q[:-1] + 1
    pair_before = np.concatenate([[False], doubled])
    pair_after = np.concatenate([doubled, [False]])
    opening = np.arange(len(q)) % 2 == 0
    ok = np.where(
        opening,
        np.isin(before, (44, 10, 13)) | pair_before,
        np.isin(after, (44, 10, 13)) | pair_after,
    )
    return q if ok.all() else None


class _Index:
    """The records pandas returns as rows, by row number: where each is in the file."""

    def __init__(self, path: Path, data: bytes, header: Header) -> None:
        self.path, self.data, self.header = path, data, header
        self.quoted = data.find(b'"', header.body) >= 0
        self._bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._quotes: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._cells: dict[int, list[str]] = {}

    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, end, line) of each row's record."""
        if self._bounds is None:
            self._bounds = self._split()
        return self._bounds

    def _split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split the bytes into records with NumPy: at each line break outside quotes."""
        body = self.header.body
        a = np.frombuffer(self.data, np.uint8)[body:]
        if self.quoted:
            self._quotes = _plain_quotes(a)
            if self._quotes is None:
                return self._scan()
        is_break = a == 10
        if self.data.find(b"\r", body) >= 0:
            lone = a == 13
            lone[:-1] &= ~is_break[1:]
            is_break |= lone
        breaks = np.flatnonzero(is_break)
        ends = breaks
        if self._quotes is not None:  # a line break inside quotes is part of a cell
            ends = breaks[np.searchsorted(self._quotes, breaks) % 2 == 0]
        starts = np.concatenate([[0], ends + 1])
        ends = np.concatenate([ends, [len(a)]])
        if starts[-1] == len(a):  # nothing after the last line break
            starts, ends = starts[:-1], ends[:-1]
        crlf = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
        ends = ends - crlf
        lines = np.searchsorted(breaks, starts) + self.header.body_line
        keep = ends > starts
        maybe = np.flatnonzero(keep & np.isin(a[np.minimum(starts, len(a) - 1)], (9, 32)))
        for k in maybe:  # lines of spaces and tabs only are skipped like empty ones
            if not self.data[body + starts[k] : body + ends[k]].strip(b" \t"):
                keep[k] = False
        return starts[keep] + body, ends[keep] + body, lines[keep]

    def _scan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split the records with the ``csv`` module (slower), for unusual quoting."""
        starts, ends, lines, counts = [], [], [], []
        with _long_fields():
            records = _records(self.path, self.data, self.header.body, self.header.body_line)
            for record in records:
                if _blank(self.data, record):
                    continue
                starts.append(record.start)
                ends.append(record.end)
                lines.append(record.line)
                counts.append(len(record.cells))
        self._counts = np.array(counts, dtype=np.int64)
        return (np.array(starts, np.int64), np.array(ends, np.int64), np.array(lines, np.int64))

    def __len__(self) -> int:
        return len(self.bounds()[0])

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """The number of cells of each of ``rows``' records."""
        starts, ends, _ = self.bounds()
        if self._counts is None and len(rows) <= 64:  # a few: count each on its own
            if not self.quoted:
                return np.array([self.data.count(b",", starts[r], ends[r]) + 1 for r in rows])
            return np.array([len(self.cells(int(r))) for r in rows], dtype=np.int64)
        if self._counts is None:  # one more than the commas outside quotes
            body = self.header.body
            commas = np.flatnonzero(np.frombuffer(self.data, np.uint8)[body:] == 44)
            if self._quotes is not None:
                commas = commas[np.searchsorted(self._quotes, commas) % 2 == 0]
            commas += body
            self._counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
        return self._counts[rows]

    def line(self, row: int) -> int | None:
        lines = self.bounds()[2]
        return int(lines[row]) if 0 <= row < len(lines) else None

    def cells(self, row: int) -> list[str]:
        if row not in self._cells:
            starts, ends, _ = self.bounds()
            if not 0 <= row < len(starts):
                return []
            text = self.data[starts[row] : ends[row]].decode("utf-8", "replace")
            if self.quoted:
                with _long_fields():
                    parsed = list(csv.reader(io.StringIO(text, newline=""), strict=False))
                self._cells[row] = [cell for record in parsed for cell in record]
            else:
                self._cells[row] = text.rstrip("\r\n").split(",")
        return self._cells[row]


class _Source:
    """A CSV file's places (lines and columns) and cell texts, for a :class:`Table`."""

    def __init__(self, path: Path, data: bytes, header: Header, layout: Layout) -> None:
        self.path, self.data, self.header, self.layout = path, data, header, layout
        self.index = _Index(path, data, header)

    def place(self, row: int) -> str:
        line = self.index.line(row)
        return f"line {line}" if line is not None else f"data row {row + 1}"

    def cell(self, row: int, column: int) -> str:
        name = self.layout.names[column]
        return f"{self.path}, {self.place(row)}, column {column + 1} ({name!r})"

    def text(self, row: int, column: int, frame: pd.DataFrame, local: int) -> str:
        cells = self.index.cells(row)
        if column < len(cells):
            return cells[column]
        value = frame.iat[local, column]
        return "" if value is None or value != value else str(value)

    def ragged(self, first: int, frame: pd.DataFrame, keep: np.ndarray) -> int | None:
        # pandas refuses a row with too many cells itself, except the first row of a chunk,
        # whose extra cells it drops without a word; and it fills a row with too few cells
        # with missing ones, so that its last cell is missing. Count the cells of those rows.
        n = len(self.layout.names)
        rows = first + np.flatnonzero(frame.iloc[:, n - 1].isna().to_numpy() & keep)
        rows = np.concatenate([[first], rows[rows != first]])
        rows = rows[rows < len(self.index)]
        if not len(rows):
            return None
        counts = self.index.counts(rows)
        wrong = (counts > n) | ((counts < n) & keep[rows - first])
        hit = np.flatnonzero(wrong)
        return int(rows[hit[0]]) if len(hit) else None

    def ragged_error(self, row: int) -> DataFileError:
        names = self.layout.names
        return DataFileError(
            f"{self.path}, {self.place(row)}: {len(self.index.cells(row))} cells, expected "
            f"{len(names)} ({', '.join(names)})"
        )

    def prefetch(self, rows: Sequence[int]) -> None:
        self.index.bounds()

    def diagnose(self, exc: Exception) -> DataFileError:
        """The error for a file pandas could not split into rows: the ``csv`` module's
        reading of the same records says where."""
        names, data = self.layout.names, self.data
        last = None
        with _long_fields():
            records = _records(self.path, data, self.header.body, self.header.body_line)
            for record in records:
                last = record
                if _ragged(data, record, len(names)) and "EOF inside string" not in str(exc):
                    return DataFileError(
                        f"{self.path}, line {record.line}: {len(record.cells)} cells, "
                        f"expected {len(names)} ({', '.join(names)})"
                    )
        if "EOF inside string" in str(exc) and last is not None:
            return DataFileError(
                f"{self.path}, line {last.line}: a quoted cell is never closed; expected a "
                'closing "'
            )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DataFileError(f"{self.path}: not valid CSV ({reason})")


def read_csv(path: Path, form: str, progress: Progress | None, limits: Limits) -> TimeSeriesDataset:
    """Read a CSV file in ``form`` "long", "wide" or "auto" (long if there is a 'series'
    column); see :mod:`ndestudio.core.data.files` for the formats."""
    import pandas as pd

    data = read_bytes(path)
    report(progress, 0.0, path)
    if kind(data[:HEAD_BYTES]) in ("parquet", "zip", "npy", "gzip"):
        refuse_unless(path, data[:HEAD_BYTES], "text", "CSV text", "")
    check_text(path, data)
    header = _header(path, data, len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    at_header = f"{path}, line {header.line}"
    _check_names(at_header, header.names)
    layout = layout_of(at_header, header.names, form)
    source = _Source(path, data, header, layout)
    names = layout.names
    text_columns = {names[i] for i in layout.text_columns}
    na = {n: [""] if n in text_columns else _NUMBER_NA for n in names}
    table = Table(source, layout, limits, path.stem)
    # pandas warns when it drops the cells beyond the last column of a chunk's first row;
    # the table refuses that row as ragged, with its line, so the warning says nothing more.
    warnings.filterwarnings("ignore", _DROPPED_CELLS, module=re.escape(__name__))
    stream = io.BytesIO(data)
    stream.seek(header.body)
    try:
        reader = pd.read_csv(
            stream,
            header=None,
            names=names,
            index_col=False,
            dtype={n: str for n in text_columns},
            keep_default_na=False,
            na_values=na,
            skip_blank_lines=True,
            float_precision="round_trip",
            chunksize=CHUNK_ROWS,
            engine="c",
            encoding="utf-8",
        )
    except Exception as exc:  # pandas' own errors: say where, in the file's terms
        raise source.diagnose(exc) from None
    with reader:
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                break
            except Exception as exc:
                raise source.diagnose(exc) from None
            table.add(frame)
            report(progress, stream.tell() / max(len(data), 1), path)
    dataset = table.dataset("no observations after the header")
    report(progress, 1.0, path)
    return dataset
