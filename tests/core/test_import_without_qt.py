"""The core must import, and train, with no Qt installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_QT = textwrap.dedent(
    """
    import importlib.abc, sys
    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"PySide6", "pyqtgraph", "qasync", "shiboken6"}:
                raise ImportError(f"{name} is blocked: Qt is absent in this test")
            return None
    sys.meta_path.insert(0, BlockQt())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_QT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_core_modules_import_without_qt():
    result = _run(
        """
        import pkgutil, importlib, sys
        import ndestudio.core
        names = [m.name for m in pkgutil.walk_packages(ndestudio.core.__path__, "ndestudio.core.")]
        for name in names:
            importlib.import_module(name)
        import ndestudio.cli
        qt = sorted(m for m in sys.modules if m.split(".")[0] in {"PySide6", "pyqtgraph", "qasync"})
        print(len(names), qt)
        """
    )
    assert result.returncode == 0, result.stderr
    count, qt = result.stdout.split(" ", 1)
    assert int(count) >= 20
    assert qt.strip() == "[]"


def test_core_trains_without_qt():
    result = _run(
        """
        from ndestudio.core.specs import RunSpec, DataSpec, TrainSpec
        from ndestudio.core.training import Trainer
        from ndestudio.core.events import Finished
        data = DataSpec(n_series=8, n_times=10)
        spec = RunSpec(data=data, train=TrainSpec(iterations=2, batch_size=4))
        events = list(Trainer(spec).run())
        assert isinstance(events[-1], Finished), events[-1]
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
