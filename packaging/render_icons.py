"""Render resources/icons/ndestudio.svg to the PNG sizes desktops ask for
(resources/icons/hicolor-like folders ``16x16`` … ``512x512``). Run after editing the SVG:

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / "ndestudio.svg"))
    if not renderer.isValid():
        print(f"error: cannot read {ICONS / 'ndestudio.svg'}", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        folder = ICONS / f"{size}x{size}"
        folder.mkdir(exist_ok=True)
        image.save(str(folder / "ndestudio.png"))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
