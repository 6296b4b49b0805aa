"""The window and the CLI import without PyTorch: the window shows before torch has loaded
(gui/core_loader.py), and the CLI handles Ctrl-C during torch's import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["ndestudio.gui.main_window", "ndestudio.cli"])
def test_importing_leaves_torch_unloaded(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'torch'))"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"{module} imports torch at import time"
