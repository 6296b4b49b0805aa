"""SVG export through Qt's own QSvgGenerator.

pyqtgraph 0.14's SVG exporter fails on the paths current Qt writes ("not enough values to
unpack" in correctCoordinates; pyqtgraph issue #3485). This exporter renders the plot's scene
with Qt instead and is offered in the right-click Export… dialog in place of the broken one.
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.exporters import Exporter
from pyqtgraph.exporters.SVGExporter import SVGExporter
from pyqtgraph.parametertree import Parameter
from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator


class QtSVGExporter(Exporter):
    Name = "Scalable Vector Graphics (SVG)"
    allowCopy = False

    def __init__(self, item: pg.GraphicsItem) -> None:
        super().__init__(item)
        self.params = Parameter.create(name="params", type="group", children=[])

    def parameters(self) -> Parameter:
        return self.params

    def export(self, fileName: str | None = None, toBytes: bool = False, copy: bool = False):
        if fileName is None:
            self.fileSaveDialog(filter="Scalable Vector Graphics (*.svg)")
            return None
        source = self.getSourceRect()
        generator = QSvgGenerator()
        generator.setFileName(str(fileName))
        generator.setSize(QSize(int(source.width()), int(source.height())))
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
        generator.setTitle("NDE Studio plot")
        painter = QPainter(generator)
        try:
            self.setExportMode(True, {"painter": painter})
            self.getScene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
        finally:
            self.setExportMode(False)
            painter.end()
        return None


def install() -> None:
    """Offer the Qt SVG exporter instead of pyqtgraph's in the Export… dialog."""
    if SVGExporter in Exporter.Exporters:
        Exporter.Exporters.remove(SVGExporter)
    if QtSVGExporter not in Exporter.Exporters:
        QtSVGExporter.register()
