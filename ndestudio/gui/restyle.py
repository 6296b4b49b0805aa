"""Re-colour what is on screen when the theme changes: every plot's background, axes, titles,
legends and items, and the colours in rich-text labels. Items keep their role: a colour of the
old theme becomes the same role's colour in the new one (see ``gui/theme.py``); colours no
theme names (colour maps, images) are left to the views that drew them."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QLabel, QWidget

from ndestudio.gui.theme import Theme, normalise, recolour_html, translation


def _colour(colour: QColor, table: dict[str, str]) -> QColor | None:
    new = table.get(normalise(colour.name()))
    if new is None:
        return None
    shown = QColor(new)
    shown.setAlpha(colour.alpha())
    return shown


def _translated(tool: Any, kind: type, table: dict[str, str]) -> Any:
    """A copy of the pen or brush ``tool`` in the translated colour; None if it keeps its."""
    if not isinstance(tool, kind):
        return None
    colour = _colour(tool.color(), table)
    if colour is None:
        return None
    new = kind(tool)
    new.setColor(colour)
    return new


def translated_pen(pen: Any, table: dict[str, str]) -> QPen | None:
    return _translated(pen, QPen, table)


def translated_brush(brush: Any, table: dict[str, str]) -> QBrush | None:
    return _translated(brush, QBrush, table)


def _options(item: Any, table: dict[str, str], setters: dict[str, Any]) -> None:
    """The pens and brushes among an item's options (``opts[key]``, set by ``setters[key]``:
    keys ending in Brush or brush are brushes)."""
    for key, setter in setters.items():
        value = item.opts.get(key)
        if value is None:
            continue
        brush = key.lower().endswith("brush")
        made = pg.mkBrush(value) if brush else pg.mkPen(value)
        new = (translated_brush if brush else translated_pen)(made, table)
        if new is not None:
            setter(new)


def _data_item(item: pg.PlotDataItem, table: dict[str, str]) -> None:
    _options(
        item,
        table,
        {
            "pen": item.setPen,
            "shadowPen": item.setShadowPen,
            "symbolPen": item.setSymbolPen,
            "symbolBrush": item.setSymbolBrush,
            "fillBrush": item.setFillBrush,
        },
    )


def _curve(item: pg.PlotCurveItem, table: dict[str, str]) -> None:
    _options(
        item, table, {"pen": item.setPen, "shadowPen": item.setShadowPen, "brush": item.setBrush}
    )


def _scatter(item: pg.ScatterPlotItem, table: dict[str, str]) -> None:
    for key, setter, convert, make in (
        ("pen", item.setPen, translated_pen, pg.mkPen),
        ("brush", item.setBrush, translated_brush, pg.mkBrush),
    ):
        default = convert(make(item.opts[key]), table)
        if default is not None:
            setter(default, update=False)
        spots = item.data[key] if len(item.data) else []
        if any(s is not None for s in spots):
            new = [convert(s, table) or s if s is not None else None for s in spots]
            if new != list(spots):
                setter(new, update=False)
    item.updateSpots()  # (rebuilds the spots' cached pictures; invalidate() alone does not)
    item.update()


def recolour_item(item: Any, table: dict[str, str], theme: Theme) -> None:
    """One graphics item, by kind (children are visited on their own); an item that draws
    itself says how with a ``recolour(table)`` method."""
    if callable(getattr(item, "recolour", None)):
        item.recolour(table)
    elif isinstance(item, pg.AxisItem):
        item.setPen(theme.foreground)
        item.setTextPen(theme.foreground)
    elif isinstance(item, pg.LabelItem):
        item.opts["color"] = theme.foreground
        item.setText(recolour_html(item.text, table))
    elif isinstance(item, pg.LegendItem):
        brush, pen = translated_brush(item.brush(), table), translated_pen(item.pen(), table)
        if brush is not None:
            item.setBrush(brush)
        if pen is not None:
            item.setPen(pen)
        item.setLabelTextColor(theme.foreground)
    elif isinstance(item, pg.PlotDataItem):
        _data_item(item, table)
    elif isinstance(item, pg.PlotCurveItem):
        _curve(item, table)
    elif isinstance(item, pg.ScatterPlotItem):
        _scatter(item, table)
    elif isinstance(item, pg.TargetItem):
        pen, brush = translated_pen(item.pen, table), translated_brush(item.brush, table)
        if pen is not None:
            item.setPen(pen)
        if brush is not None:
            item.setBrush(brush)
    elif isinstance(item, pg.InfiniteLine):
        pen = translated_pen(item.pen, table)
        if pen is not None:
            item.setPen(pen)
    elif isinstance(item, pg.TextItem):
        colour = _colour(item.color, table)
        if colour is not None:
            item.setColor(colour)
    elif isinstance(item, pg.FillBetweenItem):
        brush = translated_brush(item.brush(), table)
        if brush is not None:
            item.setBrush(brush)


def restyle(root: QWidget, old: Theme, new: Theme) -> None:
    """Everything drawn in ``root`` and under it in ``old``'s colours, in ``new``'s."""
    table = translation(old, new)
    widgets = [root, *root.findChildren(QWidget)]
    for view in widgets:
        if isinstance(view, pg.GraphicsView):
            view.setBackground(new.background)
            for item in view.scene().items():
                recolour_item(item, table, new)
    for widget in widgets:
        if callable(getattr(widget, "theme_changed", None)):
            widget.theme_changed()
    for label in widgets:
        if not isinstance(label, QLabel):
            continue
        text = label.text()
        if "color" in text:
            label.setText(recolour_html(text, table))
        sheet = label.styleSheet()
        if "color" in sheet:
            label.setStyleSheet(recolour_html(sheet, table))
