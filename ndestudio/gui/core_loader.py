"""Imports the torch-based core off the GUI thread, so that the window shows before PyTorch.

Importing torch, torchdiffeq (which pulls in SciPy), torchsde and torchcde takes longer than
everything else the window needs together (benchmarks/gui_cost.py reports both). The window's
widgets, plots, specs and project files need none of it; training, the solver catalog, the
demo systems and export do. So the application shows the window first, imports the core on a
plain Python thread, and fills in the panels when ``ready`` arrives on the GUI thread.

Modules that the window builds before the core is loaded import these modules inside the
functions that use them, never at the top.
"""

from __future__ import annotations

import importlib
import threading
import traceback

from PySide6.QtCore import QObject, Qt, Signal

CORE_MODULES = (
    "ndestudio.core.device",
    "ndestudio.core.solvers",
    "ndestudio.core.data",
    "ndestudio.core.training",
    "ndestudio.core.export",
)


def import_core() -> None:
    """Import the core on this thread (at once when it is already imported)."""
    for name in CORE_MODULES:
        importlib.import_module(name)


class CoreLoader(QObject):
    """Imports the core on a background thread; ``ready`` or ``failed`` on the GUI thread."""

    ready = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread: threading.Thread | None = None

    def notify(self, on_ready, on_failed) -> None:
        # Queued: the slots run on the GUI thread's event loop, whichever thread emits.
        self.ready.connect(on_ready, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(on_failed, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._load, name="ndestudio-core-import", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        try:
            import_core()
        except Exception as exc:  # a broken installation: say so in the window
            self.failed.emit(f"{exc!r}\n{traceback.format_exc(limit=4)}")
        else:
            self.ready.emit()
