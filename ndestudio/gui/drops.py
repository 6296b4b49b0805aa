"""Drag and drop onto the window: a data file dropped anywhere becomes the data file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData

from ndestudio.gui.panels.data_catalog import DATA_SUFFIXES

KINDS = ", ".join(DATA_SUFFIXES[:-1]) + " or " + DATA_SUFFIXES[-1]


def dropped_files(mime: QMimeData) -> list[Path]:
    """The local files a drag carries (nothing for text, remote URLs and the like)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def data_file_from(mime: QMimeData) -> tuple[Path | None, str]:
    """The data file a drop carries, or None with the reason it is not one (for the
    status bar)."""
    files = dropped_files(mime)
    if not files:
        return None, f"Only a data file can be dropped here (a {KINDS} file)."
    if len(files) > 1:
        return None, f"Drop one data file at a time ({len(files)} files were dropped)."
    path = files[0]
    if path.suffix.lower() not in DATA_SUFFIXES:
        return None, f"{path.name} is not a data file: drop a {KINDS} file."
    if not path.is_file():
        return None, f"{path} is not a file that can be read."
    return path, ""
