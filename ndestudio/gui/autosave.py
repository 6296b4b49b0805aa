"""Each window's own autosave, locked while the window lives, so that only the autosave of an
instance that died (a crash, a kill) is ever offered for restoring.

A window writes ``autosave-<pid>[-<n>].ndeproj`` (and its ``.pt``) in the autosave folder and
holds ``<same stem>.lock`` with a :class:`QLockFile`. Qt's lock file records the process id,
the application and the host; a lock whose process is gone is *stale*, and only then can
another instance take it. A second instance started while the first runs sees the first's
lock held and leaves its autosave alone.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from PySide6.QtCore import QLockFile

from ndestudio.core.project import checkpoint_path

PREFIX = "autosave-"
_windows = itertools.count()  # windows of this process, for distinct names in one process


def _unlink(project: Path) -> None:
    project.unlink(missing_ok=True)
    checkpoint_path(project).unlink(missing_ok=True)


class AutosaveSlot:
    """The autosave files of one window, and the lock that says the window is alive."""

    def __init__(self, folder: Path) -> None:
        n = next(_windows)
        self.stem = f"{PREFIX}{os.getpid()}" + (f"-{n}" if n else "")
        self.folder = Path(folder)
        self._lock: QLockFile | None = None

    @property
    def project(self) -> Path:
        return self.folder / f"{self.stem}.ndeproj"

    @property
    def files(self) -> tuple[Path, Path]:
        return self.project, checkpoint_path(self.project)

    def move_to(self, folder: Path) -> None:
        """Autosave into ``folder`` from now on (the old folder's files are removed)."""
        self.discard()
        self.folder = Path(folder)

    def acquire(self) -> None:
        """Create the folder and take this window's lock (before the first write)."""
        if self._lock is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = QLockFile(str(self.folder / f"{self.stem}.lock"))
        lock.setStaleLockTime(0)  # stale only when its process is gone, however old
        if not lock.tryLock(0):
            raise OSError(f"the autosave lock {lock.fileName()} is held by another process")
        self._lock = lock

    def discard(self) -> None:
        """Remove this window's autosave and release its lock (a clean close)."""
        _unlink(self.project)
        if self._lock is not None:
            self._lock.unlock()  # removes the lock file
            self._lock = None


def orphaned_autosaves(folder: Path) -> list[Path]:
    """Autosaved projects in ``folder`` whose instance is no longer running, newest first.

    Taking a stale lock removes it; the caller owns these files from then on (it restores
    them or calls :func:`discard_orphan`).
    """
    found: list[Path] = []
    if not folder.is_dir():
        return found
    for project in folder.glob(f"{PREFIX}*.ndeproj"):
        lock = QLockFile(str(project.with_suffix(".lock")))
        lock.setStaleLockTime(0)
        if lock.tryLock(0):  # nobody holds it: its instance died (or never locked it)
            lock.unlock()
            found.append(project)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def discard_orphan(project: Path) -> None:
    """Remove an orphaned autosave (restored or declined)."""
    _unlink(project)
