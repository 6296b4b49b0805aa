"""The main window: docked panels, live plots, menus, status bar, projects."""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from ndestudio import __version__
from ndestudio.core import events as ev
from ndestudio.core.presets import preset
from ndestudio.core.project import (
    Project,
    ProjectError,
    checkpoint_path,
    load_project,
    save_project,
)
from ndestudio.core.specs import RunSpec
from ndestudio.gui.autosave import AutosaveSlot
from ndestudio.gui.core_loader import CoreLoader, import_core
from ndestudio.gui.memory import release_freed_memory
from ndestudio.gui.panels.dataset_loader import DatasetPanel
from ndestudio.gui.panels.model_builder import ModelBuilderPanel
from ndestudio.gui.panels.training import TrainingPanel
from ndestudio.gui.plots.gradients import GradientPlot
from ndestudio.gui.plots.loss import LossPlot
from ndestudio.gui.plots.nfe import NFEPlot
from ndestudio.gui.plots.trajectories import PhasePlot, TrajectoryPlot
from ndestudio.gui.session import Session

if TYPE_CHECKING:
    # The torch-based core is imported after the window shows (gui/core_loader.py); the
    # methods that use it import it where they run.
    from ndestudio.core.export import ExportOptions, ExportReport
    from ndestudio.core.training import Trainer
    from ndestudio.gui.export_dialog import ExportDialog

# Redraw budget (benchmarks/gui_cost.py, 2 cores): every millisecond the GUI thread spends in
# pyqtgraph holds the GIL that the training thread needs. Live curves at 4 Hz and snapshots
# every 2 s keep the window's cost to the trainer small; the curves still move visibly.
REDRAW_HZ = 4  # live curves redraw at most this often
LIVE_PLOTS = 3  # loss, gradients, NFE: one plot per timer tick, in turn
SNAPSHOT_INTERVAL_S = 2.0
# Share of wall time the plots may take on the GUI thread. Training shares the GIL with it,
# so drawing time is training time lost: after each frame the next waits cost / budget.
DRAW_BUDGET = 0.03
MAX_DRAW_INTERVAL_MS = 2000
AUTOSAVE_MS = 60_000
DOCK_WIDTHS = (330, 285)  # the left (model, dataset) and right (training) docks at first start
TRIM_MS = 30_000  # freed heap memory goes back to the system this often
MAX_RECENT = 8
DATA_SERIES = 16  # series the trajectory plots show before a run has predictions
PROJECT_FILTER = "NDE Studio projects (*.ndeproj)"


def default_spec() -> RunSpec:
    """The demo a new window opens with: a neural ODE on the spiral that learns in seconds."""
    return preset("ode")


class MainWindow(QMainWindow):
    """The main window.

    With ``defer_core`` the window is built without the torch-based core: panels, training
    controls and the file actions that need it stay disabled until ``load_core`` has imported
    it on a background thread (the application shows the window first). Without it, the core
    is imported here, at once when it already is.
    """

    def __init__(
        self,
        spec: RunSpec | None = None,
        settings: QSettings | None = None,
        *,
        defer_core: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings or QSettings("NDE Studio", "NDE Studio")
        self.session = Session(copy.deepcopy(spec) if spec else default_spec())
        self.project_path: Path | None = None
        self.dirty = False
        self.failure_box: QMessageBox | None = None
        self.last_export: ExportReport | None = None
        self.export_box: ExportDialog | None = None
        self.autosave_slot = AutosaveSlot(
            Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
            / "autosave"
        )
        self._rate = (0, 0.0)  # (iteration, wall time) at the last status update
        self._last_draw: dict[int, float] = {}  # plot id → when it was last redrawn
        self._next_plot = 0  # the plot the next redraw tick looks at first
        self._painted = 0.0  # the plots' paint seconds at the last redraw
        self._predicted = False  # the trajectory plots show this run's predictions
        self._active_rate = 0.0  # steps/s over the last update while running
        self._ended = ""  # how the last run ended: finished, stopped, failed ("" while going)
        self._shown_run: Trainer | None = None  # the run the plots and progress show
        self.core_loaded = False
        self.core_loader: CoreLoader | None = None
        self._when_core: list[Callable[[], None]] = []
        self._core_actions: list[QAction] = []  # enabled once the core is loaded
        self.setWindowTitle("NDE Studio")
        self.resize(1400, 900)

        self._build_plots()
        self._build_panels()
        self._build_menus()
        self._build_status()

        self.session.state_changed.connect(self._on_state)
        self.session.events.connect(self._on_events)
        self.session.run_reset.connect(self._clear_plots)
        self.session.problem.connect(self._show_problem)
        self.session.saved.connect(lambda p: self.statusBar().showMessage(f"Saved {p}", 4000))

        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(1000 // (REDRAW_HZ * LIVE_PLOTS))
        self.redraw_timer.timeout.connect(self._redraw_next)
        self.redraw_timer.start()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.trim_timer = QTimer(self)  # flat memory over hours: see gui/memory.py
        self.trim_timer.setInterval(TRIM_MS)
        self.trim_timer.timeout.connect(release_freed_memory)
        self.trim_timer.start()

        self._restore_layout()
        if defer_core:
            self.statusBar().showMessage("Loading PyTorch and the solvers…")
            self._load_panels()
            self._on_state("idle")
        else:
            import_core()
            self._on_core_loaded()

    # the torch-based core ------------------------------------------------------------------

    def load_core(self) -> None:
        """Import the core on a background thread; the panels fill in when it is done."""
        if self.core_loaded or self.core_loader is not None:
            return
        self.core_loader = CoreLoader(self)
        self.core_loader.notify(self._on_core_loaded, self._on_core_failed)
        self.core_loader.start()

    def when_core_loaded(self, action: Callable[[], None]) -> None:
        """Run ``action`` now if the core is loaded, else as soon as it is."""
        if self.core_loaded:
            action()
        else:
            self._when_core.append(action)

    def _on_core_loaded(self) -> None:
        from ndestudio.core.device import describe_device, resolve_device, set_threads

        set_threads(1)  # torch work on the GUI thread (previews); see field notes on 2 cores
        self.core_loaded = True
        try:
            device = describe_device(resolve_device(self.session.spec.train.device))
        except RuntimeError as exc:
            device = str(exc)
        self.device_label.setText(f"Device: {device}")
        self.statusBar().clearMessage()
        self._load_panels()
        self._on_state(self.session.state)
        pending, self._when_core = self._when_core, []
        for action in pending:
            action()

    def _on_core_failed(self, reason: str) -> None:
        self.statusBar().showMessage("PyTorch could not be loaded: training is unavailable.")
        self._show_problem(
            "NDE Studio could not load PyTorch and its solver libraries, so nothing can be "
            "trained. Reinstall torch, torchdiffeq, torchsde and torchcde in this Python "
            f"environment and restart.\n\n{reason}"
        )

    # construction --------------------------------------------------------------------------

    def _build_plots(self) -> None:
        self.loss_plot = LossPlot()
        self.gradient_plot = GradientPlot()
        self.nfe_plot = NFEPlot()
        self.trajectory_plot = TrajectoryPlot()
        self.phase_plot = PhasePlot()
        self.plots = [
            self.loss_plot,
            self.gradient_plot,
            self.nfe_plot,
            self.trajectory_plot,
            self.phase_plot,
        ]
        central = QWidget()
        grid = QGridLayout(central)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.addWidget(self.trajectory_plot, 0, 0, 2, 1)
        grid.addWidget(self.phase_plot, 2, 0)
        grid.addWidget(self.loss_plot, 0, 1)
        grid.addWidget(self.gradient_plot, 1, 1)
        grid.addWidget(self.nfe_plot, 2, 1)
        grid.setColumnStretch(0, 5)
        grid.setColumnStretch(1, 4)
        self.smoothing = QCheckBox("Smooth loss", central)
        self.smoothing.setChecked(True)
        self.smoothing.setToolTip("Show an exponential moving average of the training loss.")
        self.smoothing.toggled.connect(self.loss_plot.set_smoothing)
        grid.addWidget(self.smoothing, 3, 1, alignment=Qt.AlignmentFlag.AlignRight)
        self.setCentralWidget(central)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self) -> None:
        self.model_panel = ModelBuilderPanel()
        self.data_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        self.model_dock = self._dock("Model builder", "model_dock", self.model_panel, left)
        self.data_dock = self._dock("Dataset", "data_dock", self.data_panel, left)
        self.training_dock = self._dock(
            "Training", "training_dock", self.training_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self.model_dock, self.data_dock)
        self.model_dock.raise_()
        self.model_panel.on_change = self._on_model_edit
        self.data_panel.on_change = self._on_data_edit
        self.data_panel.on_reload = self.reload_data
        self.data_panel.start_folder = self.dialog_folder
        self.training_panel.on_change = self._on_spec_edit
        t = self.training_panel
        t.train_button.clicked.connect(self.train)
        t.pause_button.clicked.connect(self.session.toggle_pause)
        t.stop_button.clicked.connect(self.session.stop)
        t.reset_button.clicked.connect(self.reset_weights)

    def _action(
        self,
        menu,
        text: str,
        slot,
        shortcut: str | QKeySequence | None = None,
        tip: str = "",
        needs_core: bool = True,
    ) -> QAction:
        action = QAction(text, self)
        if needs_core:
            self._core_actions.append(action)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(
            file,
            "&New",
            self.new_project,
            QKeySequence.StandardKey.New,
            "Start over with the default demo.",
        )
        self._action(
            file, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "Open a project."
        )
        self.recent_menu = file.addMenu("Open &recent")
        file.addSeparator()
        self._action(
            file,
            "&Save",
            self.save,
            QKeySequence.StandardKey.Save,
            "Save the project (spec and weights).",
        )
        self._action(
            file,
            "Save &as…",
            self.save_as_dialog,
            QKeySequence.StandardKey.SaveAs,
            "Save under a new name.",
        )
        file.addSeparator()
        self.reload_action = self._action(
            file,
            "Re&load data file",
            self.reload_data,
            "Ctrl+R",
            "Read the data file again, after changing it outside NDE Studio (Ctrl+R).",
        )
        self._action(
            file,
            "&Export model…",
            self.export_dialog,
            "Ctrl+E",
            "Export the trained model as a TorchScript file that runs without NDE Studio (Ctrl+E).",
        )
        file.addSeparator()
        self._action(
            file, "&Quit", self.close, QKeySequence.StandardKey.Quit, "Close NDE Studio.", False
        )
        run = bar.addMenu("&Run")
        self.train_action = self._action(
            run, "&Train / continue", self.train, "F5", "Start or continue training (F5)."
        )
        self.pause_action = self._action(
            run, "&Pause / resume", self.session.toggle_pause, "Space", "Pause or resume (Space)."
        )
        self.stop_action = self._action(
            run, "&Stop", self.session.stop, "Esc", "Stop the run (Esc)."
        )
        self.reset_action = self._action(
            run,
            "&Reset weights",
            self.reset_weights,
            None,
            "Discard the trained weights: the next Train starts afresh.",
        )
        view = bar.addMenu("&View")
        for dock in (self.model_dock, self.data_dock, self.training_dock):
            view.addAction(dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About NDE Studio", self._about, needs_core=False)
        self._refresh_recent()

    def _build_status(self) -> None:
        status = self.statusBar()
        self.device_label = QLabel("Device: …")
        self.state_label = QLabel("State: idle")
        self.rate_label = QLabel("")
        for w in (self.device_label, self.state_label, self.rate_label):
            status.addPermanentWidget(w)

    # spec editing --------------------------------------------------------------------------

    def _load_panels(self) -> None:
        spec = self.session.spec
        self.model_panel.load(spec, self.core_loaded)
        self.data_panel.load(spec, self.core_loaded)
        self.training_panel.load(spec)
        self.loss_plot.set_log(spec.model.family != "sde")
        if self.core_loaded:  # validation looks up the solver catalog and the demos
            self._show_problems()
            self._show_data()

    def _collect(self) -> RunSpec:
        spec = copy.deepcopy(self.session.spec)
        self.model_panel.apply(spec)
        self.data_panel.apply(spec)
        self.training_panel.apply(spec)
        return spec

    def _on_model_edit(self) -> None:
        spec = self._collect()
        if spec.model.family != self.session.spec.model.family:
            # A new family starts from its ready-to-train preset (demo, solver, optimiser),
            # keeping the device and dtype the user chose.
            fresh = preset(spec.model.family)
            fresh.train.device, fresh.train.dtype = spec.train.device, spec.train.dtype
            self.session.set_spec(fresh)
            self._load_panels()
            self._mark_dirty()
            self._sync_views()
            self._on_state(self.session.state)
            return
        self._commit(spec, data_changed=True)

    def _on_data_edit(self) -> None:
        self._commit(self._collect(), data_changed=True)

    def reload_data(self) -> None:
        """Read the data file again (File ▸ Reload data, the panel's Reload, or choosing the
        same file again): a file fixed since it was read is previewed afresh."""
        if self.session.state != "idle":
            return
        self.session.set_spec(self._collect())
        self.data_panel.refresh_preview(self.session.spec.data)
        self._show_data()
        self._show_problems()

    def _on_spec_edit(self) -> None:
        self._commit(self._collect(), data_changed=False)

    def _commit(self, spec: RunSpec, data_changed: bool) -> None:
        if spec == self.session.spec:
            return
        self.session.set_spec(spec)
        self._mark_dirty()
        if data_changed:
            self.data_panel.refresh_preview(spec.data)
            self._sync_views()
            self._show_data()
        self._show_problems()
        self._on_state(self.session.state)

    def _show_problems(self) -> None:
        problems = self.session.problems()
        self.model_panel.show_problems(problems)
        self.training_panel.train_button.setToolTip(
            "Start training, or continue the current run (F5)."
            if not problems
            else "Fix first:\n" + "\n".join(problems)
        )

    def _mark_dirty(self, dirty: bool = True) -> None:
        self.dirty = dirty
        name = self.project_path.name if self.project_path else "untitled"
        self.setWindowTitle(f"NDE Studio — {name}{' *' if dirty else ''}")

    # running -------------------------------------------------------------------------------

    def train(self) -> None:
        if self.session.state != "idle" or not self.core_loaded:
            return
        self.session.set_spec(self._collect())
        self._set_x_extent(self.session.spec.train.iterations)
        if self.session.train(self.data_panel.dataset_for(self.session.spec.data)):
            self._rate = (
                self.session.trainer.iteration if self.session.trainer else 0,
                time.perf_counter(),
            )
            self.training_panel.progress.setMaximum(self.session.spec.train.iterations)

    def reset_weights(self) -> None:
        """Run ▸ Reset weights and the panel's Reset: forget the trained run, after a yes
        when it holds trained weights."""
        trainer = self.session.trainer
        if self.session.state != "idle" or trainer is None:
            return
        if trainer.iteration > 0:
            answer = QMessageBox.question(
                self,
                "Reset weights?",
                f"Discard the trained weights ({trainer.iteration} iterations)? The next Train "
                "starts from a fresh initialisation. A saved project keeps its own copy.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.session.reset()
        self._mark_dirty()

    def _sync_views(self) -> None:
        """The plots, progress, ETA and validation text show the run the current spec would
        continue, or nothing: after switching family or dataset they clear, and switching
        back to the trained run's settings shows that run again."""
        trainer = self.session.trainer
        current = trainer if trainer is not None and self.session.matches_trainer else None
        if current is self._shown_run:
            return
        self._clear_plots()
        self._shown_run = None
        if current is not None and current.iteration > 0:
            self._replay_history(current)
        self._on_state(self.session.state)

    def _set_x_extent(self, iterations: int) -> None:
        for plot in (self.loss_plot, self.gradient_plot, self.nfe_plot):
            plot.x_extent = float(iterations)

    def _on_state(self, state: str) -> None:
        loaded = self.core_loaded
        self.training_panel.set_state(state, self.session.can_continue)
        self.training_panel.setEnabled(loaded)
        labels = {"running": "training", "stopping": "stopping…"}
        if state == "idle" and self.session.trainer is not None and self._ended:
            state_text = self._ended  # finished, stopped or failed: how the last run ended
        else:
            state_text = labels.get(state, state)
        shown = state_text if loaded else "loading…"
        self.state_label.setText(f"State: {shown}")
        for action in self._core_actions:
            action.setEnabled(loaded)
        self.recent_menu.setEnabled(loaded and bool(self.recent_menu.actions()))
        self.train_action.setEnabled(loaded and state == "idle")
        resettable = loaded and state == "idle" and self.session.trainer is not None
        self.reset_action.setEnabled(resettable)
        self.training_panel.reset_button.setEnabled(resettable)
        self.pause_action.setEnabled(loaded and state in ("running", "paused"))
        self.stop_action.setEnabled(loaded and state in ("running", "paused"))
        self.model_panel.setEnabled(loaded and state == "idle")
        self.data_panel.setEnabled(loaded and state == "idle")
        self.reload_action.setEnabled(
            loaded and state == "idle" and self.session.spec.data.source == "file"
        )
        if state == "paused":
            self.rate_label.setText(f"{self._active_rate:.1f} steps/s before the pause")
            self.training_panel.eta.setText("")
        if state == "idle":
            self.rate_label.setText("")
            self.training_panel.eta.setText("")  # nothing is running: nothing to wait for
            if self.session.trainer is not None and self._shown_run is self.session.trainer:
                self.training_panel.progress.setValue(self.session.trainer.iteration)
            self.redraw(force=True)  # the run's last snapshot

    def _on_events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            for plot in (self.loss_plot, self.gradient_plot, self.nfe_plot):
                plot.add(event)
            if isinstance(event, ev.Started):
                self.device_label.setText(f"Device: {event.device}")
                self._rate = (event.start_iteration, time.perf_counter())
                self._ended = ""
                self._shown_run = self.session.trainer
            elif isinstance(event, ev.Paused):
                self.rate_label.setText(f"{self._active_rate:.1f} steps/s before the pause")
                self.training_panel.eta.setText("")
            elif isinstance(event, ev.Resumed):  # the rate counts active time only
                self._rate = (event.iteration, time.perf_counter())
            elif isinstance(event, ev.Stopped):
                self._ended = "stopped"
            elif isinstance(event, ev.Eval):
                self._show_evaluation(event)
            elif isinstance(event, ev.Failed):
                self._ended = "failed"
                self._show_failure(event)
            elif isinstance(event, ev.Finished):
                self._ended = "finished"
                self.statusBar().showMessage(f"Finished in {event.wall_time:.1f} s", 6000)
        steps = [e for e in batch if isinstance(e, ev.Step)]
        if steps:
            if not self.dirty:
                self._mark_dirty()
            last = steps[-1]
            self.training_panel.progress.setValue(last.iteration)  # with every batch
            it0, t0 = self._rate
            now = time.perf_counter()
            if now - t0 >= 0.5 and self.session.state == "running":  # texts twice a second
                rate = (last.iteration - it0) / (now - t0)
                self._rate = (last.iteration, now)
                self._active_rate = rate
                self.rate_label.setText(f"{rate:.1f} steps/s")
                remaining = self.session.spec.train.iterations - last.iteration
                eta = remaining / rate if rate > 0 else float("inf")
                self.training_panel.eta.setText(
                    f"ETA {int(eta) // 60:02d}:{int(eta) % 60:02d}" if eta != float("inf") else ""
                )

    def _show_evaluation(self, event: ev.Eval) -> None:
        """An evaluation's predicted paths in the trajectory and phase plots, its metrics in
        the training panel."""
        if event.snapshot is not None:
            names = self.data_panel.dataset.channel_names if self.data_panel.dataset else []
            self._predicted = True
            self.trajectory_plot.set_snapshot(event.snapshot, names)
            self.phase_plot.set_snapshot(event.snapshot, names)
        self.training_panel.metrics.setText(
            f"validation loss {event.val_loss:.4g}"
            + "".join(f", {k} {v:.3g}" for k, v in event.metrics.items())
        )
        self.training_panel.show_warning(event.warning)

    def redraw(self, force: bool = False) -> None:
        """Redraw every plot that received data (snapshots only when due, or ``force``)."""
        now = time.perf_counter()
        for plot in self.plots:
            if plot.dirty and (force or self._due(plot, now)):
                self._draw(plot, now)

    def _redraw_next(self) -> None:
        """Redraw one plot per tick, in turn, so the GUI thread never stalls for several plots
        at once (timers and input wait less); each live curve updates up to REDRAW_HZ times a
        second and snapshots at most every SNAPSHOT_INTERVAL_S, within DRAW_BUDGET."""
        now = time.perf_counter()
        n = len(self.plots)
        for k in range(n):
            index = (self._next_plot + k) % n
            plot = self.plots[index]
            if plot.dirty and self._due(plot, now):
                self._draw(plot, now)
                # Qt paints the plots later, with the scene's own updates: the cost of this
                # frame is the data update now plus every paint since the last frame.
                painted = sum(p.paint_seconds for p in self.plots)
                cost = time.perf_counter() - now + painted - self._painted
                self._painted = painted
                self._next_plot = (index + 1) % n
                base = 1000 // (REDRAW_HZ * LIVE_PLOTS)
                wait = min(MAX_DRAW_INTERVAL_MS, max(base, int(1000 * cost / DRAW_BUDGET)))
                self.redraw_timer.setInterval(wait)
                return

    def _due(self, plot, now: float) -> bool:
        last = self._last_draw.get(id(plot), -math.inf)
        is_snapshot = plot in (self.trajectory_plot, self.phase_plot)
        return not is_snapshot or now - last >= SNAPSHOT_INTERVAL_S

    def _draw(self, plot, now: float) -> None:
        plot.redraw()
        self._last_draw[id(plot)] = now

    def _clear_plots(self) -> None:
        for plot in self.plots:
            plot.clear_data()
        self.training_panel.progress.setValue(0)
        self.training_panel.metrics.setText("")
        self.training_panel.show_warning(None)
        self.training_panel.eta.setText("")
        self._predicted = False
        self._shown_run = None
        self._show_data()

    def _show_data(self) -> None:
        """Until the run has predictions, the trajectory and phase plots show the data itself
        (the first series of the previewed dataset, no predicted lines)."""
        dataset = self.data_panel.dataset
        if dataset is None or self._predicted:
            return
        observed = dataset.values[:DATA_SERIES]
        snapshot = ev.Snapshot(dataset.times, observed, np.full_like(observed, np.nan))
        for plot in (self.trajectory_plot, self.phase_plot):
            plot.set_snapshot(snapshot, list(dataset.channel_names))
            plot.redraw()  # now, outside the budget: the first predictions are not held back

    def _show_failure(self, event: ev.Failed) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Training stopped", event.reason, parent=self)
        if event.remedies:
            box.setInformativeText("Things to try:\n• " + "\n• ".join(event.remedies))
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()  # not exec(): the window keeps running
        self.failure_box = box

    def _show_problem(self, message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "NDE Studio", message, parent=self)
        box.open()
        self.failure_box = box

    def _about(self) -> None:
        QMessageBox.about(
            self, "NDE Studio", f"NDE Studio {__version__}: neural ODEs, CDEs and SDEs."
        )

    # export --------------------------------------------------------------------------------

    def _export_snapshot(self) -> tuple[RunSpec, dict, int, list[float]] | None:
        """The trained run to export, copied on the GUI thread while its weights hold still."""
        trainer = self.session.trainer
        if trainer is None or trainer.iteration == 0:
            self._show_problem("Train the model before exporting it: there are no weights yet.")
            return None
        if self.session.state not in ("idle", "paused"):
            self._show_problem(
                "Pause or stop training before exporting, so the weights hold still."
            )
            return None
        state = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
        losses = list(trainer.history["loss"])
        return copy.deepcopy(trainer.spec), state, trainer.iteration, losses

    def export_dialog(self) -> None:
        snapshot = self._export_snapshot()
        if snapshot is None:
            return
        spec = snapshot[0]
        from ndestudio.gui.export_dialog import ExportDialog

        dialog = ExportDialog(spec, self.export_default(spec.name), self)
        dialog.accepted.connect(lambda: self.export_to(dialog.target(), dialog.options()))
        dialog.open()
        self.export_box = dialog

    def export_default(self, name: str) -> Path:
        """The proposed export file: ``<project>-model.pt`` beside the project (never the
        project's own ``<project>.pt`` checkpoint), else in the last folder used."""
        stem = self.project_path.stem if self.project_path is not None else name
        return self.dialog_folder() / f"{stem}-model.pt"

    def owned_files(self) -> set[Path]:
        """Files the open project and this window's autosave own: never export onto them."""
        owned = set(self.autosave_slot.files)
        if self.project_path is not None:
            owned |= {self.project_path, checkpoint_path(self.project_path)}
        return {p.expanduser().resolve() for p in owned}

    def export_to(self, path: Path, options: ExportOptions) -> None:
        """Export to ``path`` after the checks that keep other work safe: never onto the open
        project's files, and only with a yes before replacing an existing file."""
        path = Path(path).expanduser()
        if path.resolve() in self.owned_files():
            self._show_problem(
                f"Not exported: {path.name} belongs to the open project "
                f"({'its weights' if path.suffix == '.pt' else 'its project file'}), and an "
                "exported model would replace it. Choose another file name, for example "
                f"{self.export_default(self.session.spec.name).name}."
            )
            return
        if path.is_dir():
            self._show_problem(f"Not exported: {path} is a folder; give a file name.")
            return
        if path.exists():
            answer = QMessageBox.question(
                self,
                "Replace file?",
                f"{path} already exists. Replace it with the exported model?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._remember_folder(path)
        snapshot = self._export_snapshot()
        if snapshot is not None:
            self._schedule(self.export_async(path, options, snapshot))

    async def export_async(
        self, path: Path, options: ExportOptions, snapshot: tuple[RunSpec, dict, int, list[float]]
    ) -> ExportReport | None:
        """Export and verify in the event loop's executor; report the outcome in a dialog."""
        from ndestudio.core.export import ExportError, export_trained

        spec, state, iteration, losses = snapshot
        self.statusBar().showMessage(f"Exporting to {path} and verifying it…")
        job = functools.partial(
            export_trained,
            spec,
            state,
            iteration=iteration,
            losses=losses,
            out=path,
            options=options,
            source="the trained model",
        )
        try:
            report = await asyncio.get_running_loop().run_in_executor(None, job)
        except ExportError as exc:
            self.statusBar().showMessage("Export failed; nothing was written.", 10_000)
            self._show_problem(f"The model was not exported (nothing was written):\n{exc}")
            return None
        self.last_export = report
        self.statusBar().showMessage(f"Exported to {path}", 10_000)
        head, *rest = report.summary().splitlines()
        box = QMessageBox(QMessageBox.Icon.Information, "Model exported", head, parent=self)
        box.setInformativeText("\n".join(rest))
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 640px; }")
        box.open()
        self.failure_box = box
        return report

    # projects ------------------------------------------------------------------------------

    def _ui_state(self) -> dict:
        return {"smoothing": self.smoothing.isChecked()}

    def _write_project(self, path: Path, spec: RunSpec, ui: dict) -> None:
        """Write weights (at the next step boundary if a run is going) and the project file.

        Touches no widget, so it may run in the event loop's executor.
        """
        has_weights = self.session.trainer is not None
        write_project = functools.partial(save_project, path, spec, has_weights, ui)
        if has_weights:  # the weights first (both atomically): the project names them
            self.session.save_checkpoint(checkpoint_path(path), then=write_project)
        else:
            write_project()

    def _named(self, path: Path) -> RunSpec:
        """The spec to save as ``path``: it takes the project's name (the file's stem), which
        names its exports and CLI run folders; the preset's name does not stick."""
        spec = self._collect()
        spec.name = Path(path).stem
        return spec

    def _saved_as(self, path: Path) -> None:
        self.session.spec.name = path.stem
        self.project_path = path
        self._mark_dirty(False)
        self._add_recent(path)
        self.statusBar().showMessage(f"Saved {path}", 4000)

    def save_project_to(self, path: Path) -> None:
        """Save spec and weights now, on this thread."""
        path = Path(path)
        self._write_project(path, self._named(path), self._ui_state())
        self._saved_as(path)

    @staticmethod
    def _read_project(path: Path) -> tuple[Project, Trainer | None]:
        """The project file and its trained run; a ``ProjectError`` says what is wrong."""
        from ndestudio.core.errors import UserError
        from ndestudio.core.training import Trainer

        project = load_project(path)
        try:
            trainer = Trainer.from_checkpoint(project.checkpoint) if project.checkpoint else None
        except UserError as exc:  # a damaged checkpoint, or its data that cannot be loaded
            raise ProjectError(str(exc)) from exc
        return project, trainer

    def open_project(self, path: Path) -> bool:
        path = Path(path)
        try:
            project, trainer = self._read_project(path)
        except ProjectError as exc:
            self._show_problem(f"Cannot open the project:\n{exc}")
            return False
        self._apply_project(path, project, trainer)
        return True

    async def open_async(self, path: Path) -> bool:
        """Open without blocking the GUI: reading and rebuilding run in the executor."""
        loop = asyncio.get_running_loop()
        try:
            project, trainer = await loop.run_in_executor(None, self._read_project, Path(path))
        except ProjectError as exc:
            self._show_problem(f"Cannot open the project:\n{exc}")
            return False
        self._apply_project(Path(path), project, trainer)
        return True

    def _apply_project(self, path: Path, project: Project, trainer: Trainer | None) -> None:
        self.session.reset()
        self.session.set_spec(project.spec)
        self.session.trainer = trainer
        self._load_panels()
        self.smoothing.setChecked(bool(project.ui.get("smoothing", True)))
        self.project_path = path
        self._mark_dirty(False)
        self._add_recent(path)
        if trainer is not None:
            self._replay_history(trainer)
        self._on_state("idle")

    def _replay_history(self, trainer: Trainer) -> None:
        """Redraw a reopened run's curves from its saved history."""
        h = trainer.history
        live = (self.loss_plot, self.gradient_plot, self.nfe_plot)
        for i in range(len(h["iteration"])):
            step = ev.Step(
                int(h["iteration"][i]),
                h["loss"][i],
                h["grad_norm"][i],
                {},  # per-layer norms are not kept in the history: the total norm is
                int(h["nfe_forward"][i]),
                int(h["nfe_backward"][i]),
                h["lr"][i],
                h["wall_time"][i],
            )
            for plot in live:
                plot.add(step)
        for it, val in zip(
            trainer.eval_history["iteration"], trainer.eval_history["val_loss"], strict=True
        ):
            self.loss_plot.add(ev.Eval(int(it), val))
        if trainer.last_eval is not None:  # saved with the weights: the run's last look
            self._show_evaluation(trainer.last_eval)
        self.training_panel.progress.setMaximum(trainer.spec.train.iterations)
        self.training_panel.progress.setValue(trainer.iteration)
        self._set_x_extent(trainer.spec.train.iterations)
        self._shown_run = trainer
        self.redraw(force=True)

    async def save_async(self, path: Path) -> None:
        """Save without blocking the GUI: file writing runs in the event loop's executor."""
        loop = asyncio.get_running_loop()
        spec, ui = self._named(path), self._ui_state()  # widgets are read on the GUI thread
        await loop.run_in_executor(None, self._write_project, Path(path), spec, ui)
        self._saved_as(Path(path))

    def _schedule(self, coro) -> None:
        """Run ``coro`` on the qasync loop when there is one, else to completion now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(coro)
            task.add_done_callback(self._report_task_error)
        else:
            asyncio.run(coro)

    def _report_task_error(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._show_problem(f"The operation failed: {task.exception()}")

    def save(self) -> None:
        if self.project_path is None:
            self.save_as_dialog()  # a new window has no name yet: ask for one
        else:
            self._schedule(self.save_async(self.project_path))

    def save_as_dialog(self) -> None:
        path = self._ask_save_path()
        if path is not None:
            self._schedule(self.save_async(path))

    def _ask_save_path(self) -> Path | None:
        """The project file to save as, from a dialog that starts in the project's folder
        (or the last one used) and asks before replacing a file; None if cancelled."""
        stem = self.project_path.stem if self.project_path else self.session.spec.name
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", str(self.dialog_folder() / f"{stem}.ndeproj"), PROJECT_FILTER
        )
        if not path:
            return None
        if not path.endswith(".ndeproj"):
            path += ".ndeproj"
        self._remember_folder(Path(path))
        return Path(path)

    def dialog_folder(self) -> Path:
        """Where file dialogs start: the open project's folder, else the last folder a dialog
        chose, else the home folder."""
        if self.project_path is not None and self.project_path.parent.is_dir():
            return self.project_path.parent
        last = self.settings.value("last_folder", "", type=str)
        if last and Path(last).is_dir():
            return Path(last)
        return Path.home()

    def _remember_folder(self, chosen: Path) -> None:
        self.settings.setValue("last_folder", str(Path(chosen).parent))

    def open_dialog(self) -> None:
        if not self._confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", str(self.dialog_folder()), PROJECT_FILTER
        )
        if path:
            self._remember_folder(Path(path))
            self._schedule(self.open_async(Path(path)))

    def new_project(self) -> None:
        if not self._confirm_discard():
            return
        self.session.reset()
        self.session.set_spec(default_spec())
        self.project_path = None
        self._load_panels()
        self._clear_plots()
        self._mark_dirty(False)
        self._on_state(self.session.state)

    def _confirm_discard(self, closing: bool = False) -> bool:
        """Before unsaved work would be lost (New, Open, closing the window), ask Save /
        Discard / Cancel, training or not; True to go on. A run still going is stopped once
        the answer is Save or Discard (Save writes its weights as they are after the stop)."""
        if self.dirty:
            what = "closing" if closing else "going on"
            running = self.session.state != "idle"
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "The current project has unsaved changes"
                + (" and a run in progress" if running else "")
                + f". Save them before {what}?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Save:
                path = self.project_path or self._ask_save_path()
                if path is None:
                    return False
                self.session.shutdown()  # the weights hold still; written on this thread
                try:
                    self.save_project_to(path)
                except OSError as exc:
                    self._show_problem(f"The project was not saved, nothing was closed:\n{exc}")
                    return False
            elif answer != QMessageBox.StandardButton.Discard:
                return False
        self.session.shutdown()
        return True

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.settings.value("recent", [], type=list) if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("recent", [], type=list)
        for p in recent:
            action = self.recent_menu.addAction(p)
            action.triggered.connect(
                lambda _=False, p=p: (
                    self._confirm_discard() and self._schedule(self.open_async(Path(p)))
                )
            )
        self.recent_menu.setEnabled(self.core_loaded and bool(recent))

    @property
    def autosave_dir(self) -> Path:
        return self.autosave_slot.folder

    @autosave_dir.setter
    def autosave_dir(self, folder: Path) -> None:
        self.autosave_slot.move_to(folder)

    @property
    def autosave_path(self) -> Path:
        """This window's autosaved project (its weights beside it); no other window uses it."""
        return self.autosave_slot.project

    def autosave(self) -> None:
        """Save the session to this window's autosave: a crash loses at most one interval."""
        if not self.dirty:
            return
        try:
            self.autosave_slot.acquire()
            self.save_project_copy(self.autosave_path)
        except OSError as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 6000)

    def save_project_copy(self, path: Path) -> None:
        """Like saving, but leaves the project's own name and unsaved state alone."""
        self._write_project(path, self._collect(), self._ui_state())

    # window state --------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        else:  # first start: the plots get the room, the forms what they need
            self.resizeDocks(
                [self.model_dock, self.training_dock],
                [DOCK_WIDTHS[0], DOCK_WIDTHS[1]],
                Qt.Orientation.Horizontal,
            )

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._confirm_discard(closing=True):
            event.ignore()
            return
        self.autosave_slot.discard()  # closed on purpose: nothing to restore next time
        self.redraw_timer.stop()
        self.autosave_timer.stop()
        self.trim_timer.stop()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        event.accept()
