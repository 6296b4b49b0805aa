"""Takes resources/screenshots/dataset-panel.png: the window at 1280×800 with the dataset
panel showing a packaged dataset (Japanese Vowels) and its official test split.

    QT_QPA_PLATFORM=offscreen python -m tests.gui.dataset_panel_shot [OUT.png]

Needs the ``datasets`` extra (aeon).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots" / "dataset-panel.png"


def main() -> int:
    from ndestudio.core.presets import preset
    from tests.gui.shots import close, shot_window, wait

    window = shot_window(preset("cde"), size=(1280, 800))
    window.data_dock.raise_()
    panel = window.data_panel
    panel.source.setCurrentText("dataset")
    panel.packaged.setCurrentIndex(panel.packaged.findData("japanese_vowels"))
    panel.test.setCurrentText("split")
    wait(lambda: not panel.loading and panel.test_dataset is not None, 60)
    wait(lambda: False, 0.4)  # let it draw
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    window.grab().save(str(out))
    print(f"{out}: {panel.summary.text()}")
    close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
