"""Help ▸ About (the versions NDE Studio runs on) and the "what to try" page of a first start."""

from __future__ import annotations

import html

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ndestudio.core.about import versions

FIRST_START_KEY = "first_start/what_to_try_shown"

WHAT_TO_TRY = """
<h3>What to try first</h3>
<ol>
<li><b>Load a demo.</b> In the <i>Dataset</i> panel pick a built-in system — the spiral for a
neural ODE, the spirals for a neural CDE classifier, Brownian motion for a neural SDE — or open a
data file of your own (CSV, Parquet, NPZ; irregular times and missing values are fine).</li>
<li><b>Choose the model.</b> In the <i>Model builder</i> set the family, the vector field's
network, the solver and its tolerances or step size, and the gradient method.</li>
<li><b>Train.</b> Press <b>F5</b> (Run ▸ Train / continue). The <i>Training</i> tab streams the
loss, the predicted trajectories and the gradients; <b>Space</b> pauses, <b>Esc</b> stops.</li>
<li><b>Inspect.</b> The <i>Inspect</i> tabs show what was learned: the phase portrait and vector
field (click to integrate from a point), equilibria, SDE sample distributions, a CDE's readout,
and the solver's steps.</li>
<li><b>Export.</b> File ▸ Export model (<b>Ctrl+E</b>) writes a TorchScript file that runs in
PyTorch without NDE Studio.</li>
</ol>
<p>This page is under Help ▸ What to try whenever you want it again.</p>
"""


def versions_html() -> str:
    rows = "".join(
        f"<tr><td>{html.escape(what)}</td><td>&nbsp;&nbsp;{html.escape(version)}</td></tr>"
        for what, version in versions()
    )
    return (
        "<h3>NDE Studio</h3><p>Neural ordinary, controlled and stochastic differential "
        f"equations: build, train, inspect, export.</p><table>{rows}</table>"
    )


def versions_text() -> str:
    return "\n".join(f"{what}: {version}" for what, version in versions())


class AboutDialog(QDialog):
    """The versions, selectable, with a button that copies them (for a bug report)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About NDE Studio")
        layout = QVBoxLayout(self)
        self.label = QLabel(versions_html())
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy versions")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(versions_text()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class WhatToTryDialog(QDialog):
    """The first start's guide: load a demo, train, inspect, export (no links: it is offline)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("What to try")
        layout = QVBoxLayout(self)
        self.label = QLabel(WHAT_TO_TRY)
        self.label.setWordWrap(True)
        self.label.setMinimumWidth(520)
        layout.addWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def show_what_to_try_once(settings: QSettings, parent: QWidget) -> WhatToTryDialog | None:
    """On the first start (as ``settings`` remember it), show the guide, without blocking."""
    if settings.value(FIRST_START_KEY, False, type=bool):
        return None
    settings.setValue(FIRST_START_KEY, True)
    dialog = WhatToTryDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
