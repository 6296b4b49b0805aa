"""Small form helpers shared by the panels: labelled inputs with tooltips, no torch."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)


class Form(QWidget):
    """A QFormLayout whose inputs all report edits through one ``changed`` signal."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.form = QFormLayout(self)
        self.form.setContentsMargins(4, 4, 4, 4)
        self.loading = False  # set while filling from a spec, so that no edit is reported

    def _row(self, label: str, widget: QWidget, tip: str) -> None:
        widget.setToolTip(tip)
        text = QLabel(label)
        text.setToolTip(tip)
        self.form.addRow(text, widget)

    def _emit(self, *_: object) -> None:
        if not self.loading:
            self.changed.emit()

    def combo(self, label: str, items: list[str], tip: str) -> QComboBox:
        box = QComboBox()
        box.addItems(items)
        box.currentTextChanged.connect(self._emit)
        self._row(label, box, tip)
        return box

    def integer(self, label: str, lo: int, hi: int, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.valueChanged.connect(self._emit)
        self._row(label, box, tip)
        return box

    def number(self, label: str, lo: float, hi: float, decimals: int, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setDecimals(decimals)
        box.valueChanged.connect(self._emit)
        self._row(label, box, tip)
        return box

    def scientific(self, label: str, tip: str) -> QLineEdit:
        """A float typed as text (1e-6 style); an empty box means "not set"."""
        edit = QLineEdit()
        validator = QDoubleValidator(0.0, 1e12, 12, edit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        edit.setValidator(validator)  # only non-negative numbers can be typed
        edit.editingFinished.connect(self._emit)
        self._row(label, edit, tip)
        return edit

    def check(self, label: str, tip: str) -> QCheckBox:
        box = QCheckBox()
        box.toggled.connect(self._emit)
        self._row(label, box, tip)
        return box


def set_combo(box: QComboBox, items: list[str], current: str) -> None:
    """Replace a combo's items and select ``current`` (or the first item) without signals."""
    blocked = box.blockSignals(True)
    box.clear()
    box.addItems(items)
    index = box.findText(current)
    box.setCurrentIndex(index if index >= 0 else 0)
    box.blockSignals(blocked)


def read_float(edit: QLineEdit) -> float | None:
    text = edit.text().strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:  # an intermediate text such as "1e" that the validator allows
        return None


def show_float(edit: QLineEdit, value: float | None) -> None:
    edit.setText("" if value is None else f"{value:g}")
