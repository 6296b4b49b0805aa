"""What a file looks like from its first bytes, so that a file that is not what its name (or
the chosen format) says is named for what it is: a Parquet file, a zip archive (an .npz, or an
Excel workbook), a single NumPy array, gzip-compressed data, text, or other binary data."""

from __future__ import annotations

import codecs
from pathlib import Path

from ndestudio.core.data.readers.common import DataFileError

HEAD_BYTES = 4096

_KINDS = {
    "parquet": "a Parquet file",
    "zip": "a zip archive (an .npz of NumPy arrays, or an Excel workbook)",
    "npy": "a single NumPy array (.npy)",
    "gzip": "gzip-compressed data",
    "text": "text (a CSV file?)",
    "binary": "binary data",
    "empty": "an empty file",
}
_TEXT_BOMS = (
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
)


def kind(head: bytes) -> str:
    """'parquet', 'zip', 'npy', 'gzip', 'text', 'binary' or 'empty' for a file's first bytes."""
    if not head:
        return "empty"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(_TEXT_BOMS):
        return "text"
    head = head[:HEAD_BYTES]
    if b"\x00" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut by the end of the head
            return "binary"
    return "text"


def read_bytes(path: Path) -> bytes:
    """The whole file; a :class:`DataFileError` naming the file when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # e.g. a NUL character in the path
        raise DataFileError(f"{str(path)!r}: cannot read ({exc})") from None


def read_head(path: Path) -> bytes:
    """The file's first :data:`HEAD_BYTES` bytes (see :func:`read_bytes` for errors)."""
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise DataFileError(f"{str(path)!r}: cannot read ({exc})") from None


def refuse_unless(path: Path, head: bytes, wanted: str, expected: str, advice: str) -> None:
    """Refuse a file whose first bytes are not of ``wanted`` kind, saying what it looks like."""
    found = kind(head)
    if found == wanted:
        return
    if found == "empty":
        raise DataFileError(f"{path}: the file is empty; expected {expected}")
    hints = {
        "parquet": "choose the format 'parquet' (or name the file .parquet)",
        "zip": "an .npz archive loads with the format 'npz' (or named .npz); save a "
        "workbook as CSV",
        "npy": "save the arrays with numpy.savez into an .npz archive",
        "gzip": "decompress it first",
        "text": "choose the format 'csv_long' or 'csv_wide' (or name the file .csv)",
        "binary": advice,
    }
    raise DataFileError(
        f"{path}: the file looks like {_KINDS[found]}, not {expected}; {hints[found]}"
    )
