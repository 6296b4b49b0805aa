"""Loading a dataset off the GUI thread, with progress and cancel.

The same machinery as the Inspect views' (``views/background.py``): one worker thread of a
:class:`~concurrent.futures.ThreadPoolExecutor`, results carried back to the GUI thread by a
queued signal and stamped with a generation, so that the result of a load that was
cancelled or replaced is dropped. The worker never touches a widget: it emits the share
loaded (``progressed``) and the outcome (``finished``), and the receiver draws them.

Cancel is at once for the window (the generation moves on, the result will be dropped) and
as soon as the loader next reports progress for the worker (the callback returns False and
the core raises ``LoadCancelled``). A loader that reports no progress (a packaged dataset
read by its package) runs to its end in the worker, unseen.
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

from ndestudio.core.errors import UserError
from ndestudio.core.specs import DataSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from ndestudio.core.data import TimeSeriesDataset

INSTALL = 'pip install "ndestudio[datasets]"'  # the optional packages of packaged datasets
PROGRESS_STEP = 0.01  # the bar moves by at least this share per signal…
PROGRESS_INTERVAL_S = 0.1  # …or after this long


FileStamp = tuple[int, int] | None  # (mtime in ns, size) of a file; None: it cannot be read


def file_stamp(path: str | None) -> FileStamp:
    """What tells whether a file changed since it was read."""
    if not path:
        return None
    try:
        info = Path(path).stat()
    except (OSError, ValueError):
        return None
    return (info.st_mtime_ns, info.st_size)


def data_files(data: DataSpec) -> list[str]:
    """The files ``data`` reads: the data file (source "file") and the test file."""
    files = []
    if data.source == "file" and data.path:
        files.append(data.path)
    if data.test == "file" and data.test_path:
        files.append(data.test_path)
    return files


def load_key(data: DataSpec) -> tuple:
    """The settings that decide what a load gives (the validation share only splits it
    afterwards): equal keys, equal datasets (for files: while the files are unchanged)."""
    test = (data.test, data.test_path if data.test == "file" else None)
    if data.source == "file":
        return ("file", data.path, data.format, *test)
    form = data.format if data.test == "file" else None
    if data.source == "dataset":
        return ("dataset", data.name, form, *test)
    span = None if data.t_span is None else tuple(data.t_span)
    generated = (data.name, data.n_series, data.n_times, span, data.noise, data.drop_fraction)
    return (data.source, *generated, data.seed, form, *test)


@dataclass
class Loaded:
    """What a load gave: the training data and the test set (``test`` None when the spec
    names none), or why not (``error``, a message for the user; ``cancelled``)."""

    spec: DataSpec
    dataset: TimeSeriesDataset | None = None
    test: TimeSeriesDataset | None = None
    error: str | None = None
    cancelled: bool = False
    stamps: dict[str, FileStamp] = field(default_factory=dict)  # each file read, as read


def load_now(data: DataSpec, progress: Callable[[float], bool] | None = None) -> Loaded:
    """Load ``data`` (the training series, then the test set it names) on this thread.

    User errors (a bad file, an unknown dataset, a package that is not installed) become
    ``error``, a message naming the part that failed; anything else is reported as a bug.
    """
    from ndestudio.core import data as datasets

    data = copy.deepcopy(data)
    result = Loaded(data, stamps={path: file_stamp(path) for path in data_files(data)})
    has_test = data.test != "none"
    parts = [("train", 0.0, 0.5 if has_test else 1.0)]
    if has_test:
        parts.append(("test", 0.5, 1.0))
    part = "train"
    try:
        for part, lo, hi in parts:
            share = None if progress is None else _scaled(progress, lo, hi)
            if share is not None and not share(0.0):
                raise datasets.LoadCancelled(part)
            loaded = datasets.load_dataset(data, part, progress=share)
            if share is not None and not share(1.0):  # e.g. a loader without progress
                raise datasets.LoadCancelled(part)
            if part == "train":
                result.dataset = loaded
            else:
                result.test = loaded
    except datasets.LoadCancelled:
        return Loaded(data, cancelled=True)
    except UserError as exc:
        result.error = _in_part(part, str(exc))
    except ImportError as exc:  # an optional package that is missing or broken
        result.error = _in_part(
            part, f"a package it needs cannot be imported ({exc}); install it: {INSTALL}"
        )
    except (KeyError, ValueError) as exc:  # e.g. a demo that does not exist
        result.error = _in_part(part, f"the data cannot be made ({exc})")
    except Exception as exc:  # a bug: say so, keep the window
        result.error = _in_part(part, f"loading failed (a bug; please report it): {exc!r}")
    if result.error is not None:
        result.dataset = result.test = None
    return result


def _in_part(part: str, message: str) -> str:
    return f"Test set: {message}" if part == "test" else message


def _scaled(progress: Callable[[float], bool], lo: float, hi: float) -> Callable[[float], bool]:
    """``progress`` of a part that spans ``lo``…``hi`` of the whole load."""

    def report(fraction: float) -> bool:
        return progress(lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0))

    return report


class _Signals(QObject):
    progressed = Signal(int, float)  # generation, share loaded
    finished = Signal(int, object)  # generation, Loaded


class DataLoader(QObject):
    """Loads one dataset at a time in a worker thread; ``on_progress(share)`` and
    ``on_done(Loaded)`` run on the GUI thread, for the latest load only."""

    def __init__(
        self,
        on_progress: Callable[[float], None],
        on_done: Callable[[Loaded], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._on_progress = on_progress
        self._on_done = on_done
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="data-load")
        self._signals = _Signals(self)
        # Queued: the slots run on the GUI thread's event loop, whichever thread emits.
        self._signals.progressed.connect(self._progressed, Qt.ConnectionType.QueuedConnection)
        self._signals.finished.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        self._generation = 0
        self._cancel: threading.Event | None = None
        self.spec: DataSpec | None = None  # what the load under way loads (None: none is)

    @property
    def busy(self) -> bool:
        return self.spec is not None

    def start(self, data: DataSpec) -> None:
        """Load ``data``; a load still under way is cancelled (its result dropped)."""
        self.cancel()
        self._generation += 1
        generation = self._generation
        cancel = threading.Event()
        self._cancel = cancel
        snapshot = copy.deepcopy(data)
        self.spec = snapshot
        signals = self._signals
        shown = [-1.0, 0.0]  # the share last sent, and when

        def progress(share: float) -> bool:
            if cancel.is_set():
                return False
            now = time.perf_counter()
            if share - shown[0] >= PROGRESS_STEP or now - shown[1] >= PROGRESS_INTERVAL_S:
                shown[0], shown[1] = share, now
                signals.progressed.emit(generation, share)
            return True

        def job() -> None:
            result = load_now(snapshot, progress)
            signals.finished.emit(generation, result)

        self._executor.submit(job)

    def cancel(self) -> None:
        """Forget the load under way (its result will be dropped) and ask it to stop."""
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
        if self.spec is not None:
            self._generation += 1
        self.spec = None

    def shutdown(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _progressed(self, generation: int, share: float) -> None:
        if generation == self._generation and self.spec is not None:
            self._on_progress(share)

    def _finished(self, generation: int, result: Loaded) -> None:
        if generation != self._generation or self.spec is None:
            return  # cancelled or replaced meanwhile
        self.spec = None
        self._cancel = None
        self._on_done(result)
