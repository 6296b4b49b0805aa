"""File > Export model…: choose the solver the exported file holds and where to write it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ndestudio.core.export import ExportOptions, export_methods
from ndestudio.core.export.script_solvers import ADAPTIVE_ODE_METHODS
from ndestudio.core.specs import RunSpec
from ndestudio.gui.panels.forms import read_float, show_float

EXPORT_FILTER = "TorchScript model (*.pt);;All files (*)"


def _scientific(value: float, tip: str) -> QLineEdit:
    """A positive float typed as text, 1e-6 style."""
    edit = QLineEdit()
    validator = QDoubleValidator(0.0, 1e12, 14, edit)
    validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
    edit.setValidator(validator)
    show_float(edit, value)
    edit.setToolTip(tip)
    return edit


class ExportDialog(QDialog):
    """Solver, tolerances or step size, the weights (the last, or the best-validation ones
    where the run has them) and the output file; defaults from the trained run."""

    def __init__(
        self,
        spec: RunSpec,
        path: Path,
        parent: QWidget | None = None,
        *,
        last_iteration: int = 0,
        best: tuple[int, float] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export model")
        solver = spec.solver
        form = QFormLayout(self)
        intro = QLabel(
            "Writes a TorchScript file holding the trained networks, a solver and the "
            "normalisation, then checks it in a fresh Python process against the eager solve."
        )
        intro.setWordWrap(True)
        form.addRow(intro)
        self.method = QComboBox()
        self.method.addItems(export_methods(spec))
        index = self.method.findText(solver.method)
        self.method.setCurrentIndex(index if index >= 0 else self.method.count() - 1)
        self.method.setToolTip(
            "The solver inside the file. dopri5 adapts its steps to the tolerances and "
            "reproduces torchdiffeq's steps; euler / midpoint / rk4 take fixed steps (faster, "
            "with a known cost). SDE models offer the solvers of their SDE type."
        )
        form.addRow("Solver", self.method)
        self.weights = QComboBox()
        self.weights.addItem(f"last (iteration {last_iteration})", "last")
        if best is not None:
            self.weights.addItem(
                f"best validation (iteration {best[0]}, loss {best[1]:.4g})", "best"
            )
            self.weights.setCurrentIndex(1)  # as `ndestudio export`: the best, where there are
        self.weights.setEnabled(best is not None)
        self.weights.setToolTip(
            "The weights the file holds: the last ones, or those of the evaluation with the "
            "lowest validation loss (a run without validation has only the last)."
        )
        form.addRow("Weights", self.weights)
        self.rtol = _scientific(
            solver.rtol, "Relative tolerance of dopri5 (the trained value by default)."
        )
        self.atol = _scientific(
            solver.atol, "Absolute tolerance of dopri5 (the trained value by default)."
        )
        self.step = _scientific(
            solver.step_size or 0.05, "Step of a fixed-step solver, in the data's time units."
        )
        self.max_steps = QSpinBox()
        self.max_steps.setRange(1, 10**8)
        self.max_steps.setValue(solver.max_num_steps or 10_000)
        self.max_steps.setToolTip(
            "dopri5 raises an error instead of running on when it needs more steps than this "
            "between two output times."
        )
        form.addRow("rtol", self.rtol)
        form.addRow("atol", self.atol)
        form.addRow("Step size", self.step)
        form.addRow("Max steps", self.max_steps)
        row = QHBoxLayout()
        self.path = QLineEdit(str(path))
        self.path.setToolTip("The file to write. Nothing is written unless it verifies.")
        self.path.setMinimumWidth(320)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path)
        row.addWidget(browse)
        form.addRow("File", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.method.currentTextChanged.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        adaptive = self.method.currentText() in ADAPTIVE_ODE_METHODS
        for box in (self.rtol, self.atol, self.max_steps):
            box.setEnabled(adaptive)
        self.step.setEnabled(not adaptive)

    def _browse(self) -> None:
        # The window asks before replacing a file (typed or chosen here), once.
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export model",
            self.path.text(),
            EXPORT_FILTER,
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.path.setText(path)

    def options(self) -> ExportOptions:
        adaptive = self.method.currentText() in ADAPTIVE_ODE_METHODS
        return ExportOptions(
            method=self.method.currentText(),
            rtol=read_float(self.rtol) if adaptive else None,
            atol=read_float(self.atol) if adaptive else None,
            step_size=None if adaptive else read_float(self.step),
            max_num_steps=self.max_steps.value() if adaptive else None,
        )

    def chosen_weights(self) -> str:
        """ "best" or "last"."""
        return str(self.weights.currentData())

    def target(self) -> Path:
        return Path(self.path.text()).expanduser()
