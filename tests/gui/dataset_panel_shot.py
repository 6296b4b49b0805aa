"""Takes resources/screenshots/dataset-panel.png: the window at 1280×800 with the dataset
panel showing a packaged dataset (Japanese Vowels) and its official test split.

    QT_QPA_PLATFORM=offscreen python -m tests.gui.dataset_panel_shot [OUT.png]

Needs the ``datasets`` extra (aeon).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots" / "dataset-panel.png"


def main() -> int:
    from PySide6.QtCore import QSettings, Qt

    from ndestudio.core.presets import preset
    from ndestudio.gui.app import make_app
    from ndestudio.gui.main_window import DOCK_WIDTHS, MainWindow

    app = make_app()
    folder = Path(tempfile.mkdtemp())
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(preset("cde"), settings=settings)
    window.autosave_dir = folder / "autosave"
    window.resize(1280, 800)
    window.show()
    window.resizeDocks(
        [window.model_dock, window.training_dock], list(DOCK_WIDTHS), Qt.Orientation.Horizontal
    )
    window.data_dock.raise_()
    panel = window.data_panel
    panel.source.setCurrentText("dataset")
    panel.packaged.setCurrentIndex(panel.packaged.findData("japanese_vowels"))
    panel.test.setCurrentText("split")
    deadline = time.monotonic() + 60
    while (panel.loading or panel.test_dataset is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    window.grab().save(str(out))
    print(f"{out}: {panel.summary.text()}")
    window.session.shutdown()
    window.dirty = False
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
