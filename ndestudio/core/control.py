"""Thread-safe run control: stop, pause and resume a training run from another thread."""

from __future__ import annotations

import threading


class StopRequested(Exception):
    """Raised inside a solve (vector field or backward hook) to unwind a stopped run."""


class TrainControl:
    """Shared between the thread that trains and the thread that steers.

    The solver layer reads the stop flag on every vector-field evaluation and, in the backward
    pass, at least every few vector-Jacobian products (and ~10 ms of the forward solve's time),
    so a stop lands promptly even in the middle of a long adaptive solve or its backward pass.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stop_flag = self._stop.is_set  # a bound method: the cheapest check per evaluation

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused run so that it can stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running again (or stopping)."""
        return self._running.wait(timeout)
