"""Training panel: optimiser settings, run buttons, progress with ETA."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ndestudio.core.specs import OPTIMIZERS, SCHEDULES, RunSpec
from ndestudio.core.tensorboard_log import missing_message, tensorboard_installed
from ndestudio.gui.panels.forms import Form, read_float, set_combo, show_float
from ndestudio.gui.theme import shown


class TrainingPanel(QWidget):
    """Edits ``spec.train`` (except device and dtype) and shows the run's progress."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = Form()
        f = self.form
        self.optimizer = f.combo(
            "Optimizer", list(OPTIMIZERS), "Adam is the usual choice; AdamW decouples weight decay."
        )
        self.lr = f.scientific(
            "Learning rate", "Step size of the optimiser; lower it if the loss diverges."
        )
        self.schedule = f.combo(
            "Schedule",
            list(SCHEDULES),
            "How the learning rate changes over the run (cosine decays it to 0).",
        )
        self.batch = f.integer("Batch size", 1, 100_000, "Series per training step.")
        self.iterations = f.integer(
            "Iterations",
            1,
            10_000_000,
            "Training steps in the run; raising it lets a finished run go on.",
        )
        self.window = f.integer(
            "Window",
            0,
            100_000,
            "ODE: train on random windows of this many observations (0 = whole series).",
        )
        self.window_growth = f.number(
            "Window growth",
            0.0,
            1.0,
            2,
            "ODE: the share of the run over which the window grows to the whole series "
            "(0 = the window stays fixed). Short windows are easy to fit first; growing them "
            "makes the model fit whole series, which validation judges.",
        )
        self.grad_clip = f.scientific(
            "Gradient clip", "Clip the global gradient norm to this value (empty = off)."
        )
        self.weight_decay = f.scientific(
            "Weight decay", "L2 penalty on the weights; keeps learned dynamics from becoming stiff."
        )
        self.seed = f.integer(
            "Seed",
            0,
            2**31 - 1,
            "Seed of initial weights, batches and noise: the same seed repeats the run.",
        )
        self.eval_every = f.integer(
            "Evaluate every", 1, 1_000_000, "Validation and plot snapshots every this many steps."
        )
        self.patience = f.integer(
            "Early stopping",
            0,
            1_000_000,
            "Stop when the validation loss has not improved for this many evaluations\n"
            "(off: run every iteration). The best weights are kept either way, and a test\n"
            "set is scored with them.",
        )
        self.patience.setSpecialValueText("off")
        self.patience.setSuffix(" evaluations")
        box = QGroupBox("Optimisation")
        QVBoxLayout(box).addWidget(self.form)
        layout.addWidget(box)

        # TensorBoard logs: a setting of this window, not of the run (not saved in the spec).
        board = QHBoxLayout()
        self.tensorboard = QCheckBox("TensorBoard logs in")
        self.tensorboard_dir = QLineEdit()
        self.tensorboard_dir.setPlaceholderText("folder")
        board.addWidget(self.tensorboard)
        board.addWidget(self.tensorboard_dir, 1)
        if tensorboard_installed():
            self.tensorboard.setToolTip(
                "Also write the loss, gradient norm, evaluations, … as TensorBoard events to a "
                "subfolder named after the run (open with: tensorboard --logdir FOLDER)."
            )
        else:
            self.tensorboard.setEnabled(False)
            self.tensorboard_dir.setEnabled(False)
            self.tensorboard.setToolTip(missing_message())
        layout.addLayout(board)

        buttons = QGridLayout()
        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.reset_button = QPushButton("Reset")
        self.train_button.setToolTip("Start training, or continue the current run (F5).")
        self.pause_button.setToolTip("Pause or resume the run (Space).")
        self.stop_button.setToolTip("Stop the run; the last good weights stay (Esc).")
        self.reset_button.setToolTip("Discard the trained weights: the next Train starts afresh.")
        for i, b in enumerate(
            (self.train_button, self.pause_button, self.stop_button, self.reset_button)
        ):
            buttons.addWidget(b, i // 2, i % 2)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.eta = QLabel("")
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.warning = QLabel("")  # e.g. training loss far below validation for a while
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {shown('#b35900')};")
        self.warning.setVisible(False)
        self.outcome = QLabel("")  # how the run ended: early stopping, the best evaluation
        self.outcome.setWordWrap(True)
        self.test_result = QLabel("")  # the held-out test set after training
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta)
        layout.addWidget(self.metrics)
        layout.addWidget(self.warning)
        layout.addWidget(self.outcome)
        layout.addWidget(self.test_result)
        layout.addStretch(1)
        self.form.changed.connect(lambda: self.on_change())
        self.on_change = lambda: None

    def show_warning(self, text: str | None) -> None:
        self.warning.setText(text or "")
        self.warning.setVisible(bool(text))

    def load(self, spec: RunSpec) -> None:
        t = spec.train
        self.form.loading = True
        try:
            set_combo(self.optimizer, list(OPTIMIZERS), t.optimizer)
            show_float(self.lr, t.lr)
            set_combo(self.schedule, list(SCHEDULES), t.schedule)
            self.batch.setValue(t.batch_size)
            self.iterations.setValue(t.iterations)
            self.window.setValue(t.window or 0)
            self.window_growth.setValue(t.window_growth)
            show_float(self.grad_clip, t.grad_clip)
            show_float(self.weight_decay, t.weight_decay)
            self.seed.setValue(t.seed)
            self.eval_every.setValue(t.eval_every)
            self.patience.setValue(t.patience or 0)
        finally:
            self.form.loading = False
        self.window.setEnabled(spec.model.family == "ode")
        self.window_growth.setEnabled(spec.model.family == "ode" and t.window is not None)
        self.progress.setRange(0, t.iterations)

    def apply(self, spec: RunSpec) -> None:
        t = spec.train
        t.optimizer = self.optimizer.currentText()
        t.lr = read_float(self.lr) or t.lr
        t.schedule = self.schedule.currentText()
        t.batch_size = self.batch.value()
        t.iterations = self.iterations.value()
        t.window = (self.window.value() or None) if spec.model.family == "ode" else None
        t.window_growth = self.window_growth.value() if t.window is not None else 0.0
        t.grad_clip = read_float(self.grad_clip) or None
        t.weight_decay = read_float(self.weight_decay) or 0.0
        t.seed = self.seed.value()
        t.eval_every = self.eval_every.value()
        t.patience = self.patience.value() or None
        self.window.setEnabled(spec.model.family == "ode")
        self.window_growth.setEnabled(spec.model.family == "ode" and t.window is not None)
        self.progress.setMaximum(t.iterations)

    def set_state(self, state: str, can_continue: bool) -> None:
        idle = state == "idle"
        self.train_button.setEnabled(idle)
        self.train_button.setText("Continue" if idle and can_continue else "Train")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(state in ("running", "paused"))
        self.reset_button.setEnabled(idle)
        self.form.setEnabled(idle)
