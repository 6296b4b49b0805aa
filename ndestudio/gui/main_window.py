"""The main window: assembles the panels, the run's views, the menus and the project files.

Each job has a module of its own: the live plots (``views/training_plots.py``) and the
run's status texts (``views/run_status.py``) are views fed with the session's events;
``menus.py`` builds the actions, ``project_files.py`` saves and opens projects and runs the
autosave, ``exporting.py`` exports the trained model. The window wires them to the session
and to each other, and keeps the spec in the panels and the session in step.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from ndestudio.core import events as ev
from ndestudio.core.presets import preset
from ndestudio.core.project import Project
from ndestudio.core.specs import DataSpec, RunSpec
from ndestudio.gui.about import AboutDialog, WhatToTryDialog, show_what_to_try_once
from ndestudio.gui.autosave import AutosaveSlot
from ndestudio.gui.colour_scheme import ColourScheme
from ndestudio.gui.core_loader import CoreLoader, import_core
from ndestudio.gui.drops import data_file_from, dropped_files
from ndestudio.gui.exporting import ModelExport
from ndestudio.gui.memory import release_freed_memory
from ndestudio.gui.menus import WindowMenus
from ndestudio.gui.panels.dataset_loader import DatasetPanel
from ndestudio.gui.panels.model_builder import ModelBuilderPanel
from ndestudio.gui.panels.training import TrainingPanel
from ndestudio.gui.project_files import ProjectFiles
from ndestudio.gui.session import Session
from ndestudio.gui.tensorboard_logging import TensorBoardLogging
from ndestudio.gui.views.base import RunView
from ndestudio.gui.views.cde_readout import CDEReadoutView
from ndestudio.gui.views.phase_portrait import PhasePortraitView
from ndestudio.gui.views.run_status import RunStatus
from ndestudio.gui.views.sde_distributions import SDEDistributionsView
from ndestudio.gui.views.telemetry import TelemetryView
from ndestudio.gui.views.training_plots import TrainingPlots

if TYPE_CHECKING:
    # The torch-based core is imported after the window shows (gui/core_loader.py); the
    # methods that use it import it where they run.
    from ndestudio.core.export import ExportOptions, ExportReport
    from ndestudio.core.training import Trainer

AUTOSAVE_MS = 60_000
DOCK_WIDTHS = (330, 285)  # the left (model, dataset) and right (training) docks at first start
TRIM_MS = 30_000  # freed heap memory goes back to the system this often


def _part(owner: str, name: str) -> Any:
    """A read-only attribute of the window that is ``name`` of its part ``owner``."""
    return property(lambda self: getattr(getattr(self, owner), name), doc=f"{owner}.{name}")


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
        self.smoke: Any = None  # (``gui --smoke``: its SmokeCheck, see gui/smoke.py)
        self.failure_box: QMessageBox | None = None
        self.autosave_slot = AutosaveSlot(
            Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
            / "autosave"
        )
        self._shown_run: Trainer | None = None  # the run the views show
        self.core_loaded = False
        self.core_loader: CoreLoader | None = None
        self._train_once_loaded: DataSpec | None = None  # Train asked for while loading
        self._when_core: list[Callable[[], None]] = []
        self.setWindowTitle("NDE Studio")
        self.resize(1400, 900)
        self.setAcceptDrops(True)  # a data file dropped anywhere (see dropEvent)

        self.run_plots = TrainingPlots()
        self.portrait_view = PhasePortraitView(self.session)
        self.distributions_view = SDEDistributionsView(self.session)
        self.readout_view = CDEReadoutView(self.session)
        self.telemetry_view = TelemetryView(self.session)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.run_plots, "Training")
        self.tabs.addTab(self.portrait_view, "Inspect: phase portrait")
        self.tabs.addTab(self.distributions_view, "Inspect: distributions")
        self.tabs.addTab(self.readout_view, "Inspect: readout")
        self.tabs.addTab(self.telemetry_view, "Inspect: solver")
        self.setCentralWidget(self.tabs)
        self._build_panels()
        self.run_status = RunStatus(self.session, self.training_panel, self.statusBar())
        self.tensorboard_logging = TensorBoardLogging(self.session, self.training_panel)
        self.views: list[RunView] = [
            self.run_plots,
            self.run_status,
            *self.inspect_views,
        ]
        self.projects = ProjectFiles(self)
        self.exports = ModelExport(self)
        self.menus = WindowMenus(self)
        for dock in (self.model_dock, self.data_dock, self.training_dock):
            self.menus.view_menu.addAction(dock.toggleViewAction())
        self.menus.view_menu.addSeparator()
        self.colour_scheme = ColourScheme(self, self.settings)
        self.colour_scheme.add_menu(self.menus.view_menu)
        self.colour_scheme.apply()  # (the desktop's scheme, or the one chosen last time)
        self.projects.refresh_recent()

        self.session.state_changed.connect(self._on_state)
        self.session.events.connect(self._on_events)
        self.session.run_reset.connect(self.clear_run)
        self.session.problem.connect(self.show_problem)
        self.session.saved.connect(lambda p: self.statusBar().showMessage(f"Saved {p}", 4000))

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

    # the parts ------------------------------------------------------------------------------

    @property
    def inspect_views(self) -> list:
        """The Inspect tabs' views (each computes in a worker thread of its own)."""
        return [self.portrait_view, self.distributions_view, self.readout_view, self.telemetry_view]

    # The parts by the names the rest of the app and the tests use (see _part)...
    plots = _part("run_plots", "plots")
    loss_plot = _part("run_plots", "loss_plot")
    gradient_plot = _part("run_plots", "gradient_plot")
    nfe_plot = _part("run_plots", "nfe_plot")
    trajectory_plot = _part("run_plots", "trajectory_plot")
    phase_plot = _part("run_plots", "phase_plot")
    smoothing = _part("run_plots", "smoothing")
    redraw_timer = _part("run_plots", "redraw_timer")
    state_label = _part("run_status", "state_label")
    rate_label = _part("run_status", "rate_label")
    train_action = _part("menus", "train_action")
    reset_action = _part("menus", "reset_action")
    reload_action = _part("menus", "reload_action")

    def redraw(self, force: bool = False) -> None:
        self.run_plots.redraw(force)

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
        self.run_status.device_label.setText(f"Device: {device}")
        self.statusBar().clearMessage()
        self._load_panels()
        self._on_state(self.session.state)
        pending, self._when_core = self._when_core, []
        for action in pending:
            action()

    def _on_core_failed(self, reason: str) -> None:
        self.statusBar().showMessage("PyTorch could not be loaded: training is unavailable.")
        self.show_problem(
            "NDE Studio could not load PyTorch and its solver libraries, so nothing can be "
            "trained. Reinstall torch, torchdiffeq, torchsde and torchcde in this Python "
            f"environment and restart.\n\n{reason}"
        )

    # construction --------------------------------------------------------------------------

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
        self.data_panel.on_loaded = self._show_dataset
        self.data_panel.on_cancel = self._forget_pending_train
        self.data_panel.on_busy = lambda busy: self._on_state(self.session.state)
        self.data_panel.on_message = lambda text: self.statusBar().showMessage(text, 8000)
        self.data_panel.start_folder = self.dialog_folder
        self.training_panel.on_change = self._on_spec_edit
        t = self.training_panel
        t.train_button.clicked.connect(self.train)
        t.pause_button.clicked.connect(self.session.toggle_pause)
        t.stop_button.clicked.connect(self.session.stop)
        t.reset_button.clicked.connect(self.reset_weights)

    # spec editing --------------------------------------------------------------------------

    def _load_panels(self) -> None:
        spec = self.session.spec
        self.model_panel.load(spec, self.core_loaded)
        self.data_panel.load(spec, self.core_loaded)
        self.training_panel.load(spec)
        self.run_plots.set_family(spec.model.family)
        family = spec.model.family
        for view, own, tip, why in (
            (
                self.portrait_view,
                "ode",
                "The learned vector field, its equilibria and trajectories from any state",
                " (for neural ODEs, whose state is the data's)",
            ),
            (
                self.distributions_view,
                "sde",
                "The model's sample paths against the data's: quantile bands, marginal "
                "histograms and the Wasserstein-1 distance per time",
                " (for neural SDEs)",
            ),
            (
                self.readout_view,
                "cde",
                "The hidden state and the readout as each series unfolds, and the validation "
                "confusion matrix",
                " (for neural CDEs)",
            ),
        ):
            index = self.tabs.indexOf(view)
            self.tabs.setTabEnabled(index, family == own)
            self.tabs.setTabToolTip(index, tip + ("" if family == own else why))
        self.tabs.setTabToolTip(
            self.tabs.indexOf(self.telemetry_view),
            "Step sizes, rejected steps and function evaluations of one solve, with a "
            "stiffness warning",
        )
        if self.core_loaded:  # validation looks up the solver catalog and the demos
            self._show_problems()

    def collect_spec(self) -> RunSpec:
        """The spec the panels show."""
        spec = copy.deepcopy(self.session.spec)
        self.model_panel.apply(spec)
        self.data_panel.apply(spec)
        self.training_panel.apply(spec)
        return spec

    def _on_model_edit(self) -> None:
        spec = self.collect_spec()
        if spec.model.family != self.session.spec.model.family:
            # A new family starts from its ready-to-train preset (demo, solver, optimiser),
            # keeping the device and dtype the user chose.
            fresh = preset(spec.model.family)
            fresh.train.device, fresh.train.dtype = spec.train.device, spec.train.dtype
            self.session.set_spec(fresh)
            self._load_panels()
            self.mark_dirty()
            self._sync_views()
            self._on_state(self.session.state)
            return
        self._commit(spec, data_changed=True)

    def _on_data_edit(self) -> None:
        self._forget_pending_train()  # other data: no longer what Train asked for
        self._commit(self.collect_spec(), data_changed=True)

    def _forget_pending_train(self) -> None:
        self._train_once_loaded = None

    def reload_data(self) -> None:
        """Read the data file again (File ▸ Reload data, the panel's Reload, or choosing the
        same file again): a file fixed since it was read is previewed afresh."""
        if self.session.state != "idle":
            return
        self.session.set_spec(self.collect_spec())
        self.data_panel.refresh_preview(self.session.spec.data, force=True)
        self._show_problems()

    def _on_spec_edit(self) -> None:
        self._commit(self.collect_spec(), data_changed=False)

    def _commit(self, spec: RunSpec, data_changed: bool) -> None:
        if spec == self.session.spec:
            return
        self.session.set_spec(spec)
        self.mark_dirty()
        if data_changed:  # the views get the dataset once it is loaded (on_loaded)
            self.data_panel.refresh_preview(spec.data)
            self._sync_views()
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

    def _show_dataset(self) -> None:
        for view in self.views:
            view.set_dataset(self.data_panel.dataset)
        pending, self._train_once_loaded = self._train_once_loaded, None
        if pending is not None and self.data_panel.holds(pending):
            self.train()  # Train (or --train) asked for it while it loaded

    # drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()  # any file: a wrong one is explained on the drop

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.drop_data(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop_data(self, mime: QMimeData) -> bool:
        """A data file dropped on the window becomes the data file and loads; anything else
        is explained in the status bar. True when the file is taken."""
        path, why = data_file_from(mime)
        if path is not None and (self.session.state != "idle" or not self.core_loaded):
            path, why = None, f"Not loaded: stop the run before loading {path.name}."
        if path is None:
            self.statusBar().showMessage(why, 8000)
            return False
        self.data_dock.show()
        self.data_dock.raise_()
        self.statusBar().showMessage(f"Loading {path}…", 4000)
        self.data_panel.use_file(path)
        return True

    def mark_dirty(self, dirty: bool = True) -> None:
        self.dirty = dirty
        name = self.project_path.name if self.project_path else "untitled"
        self.setWindowTitle(f"NDE Studio — {name}{' *' if dirty else ''}")

    def ui_state(self) -> dict:
        """What a project keeps of the window besides the spec."""
        return {"smoothing": self.smoothing.isChecked()}

    # running -------------------------------------------------------------------------------

    def train(self) -> None:
        if self.session.state != "idle" or not self.core_loaded:
            return
        self.session.set_spec(self.collect_spec())
        data = self.session.spec.data
        dataset, test = self.data_panel.dataset_for(data), self.data_panel.test_dataset_for(data)
        # Files and packaged datasets load in the panel's worker, never here on the GUI thread:
        # a new run whose data is not on screen (changed, still loading, or its load failed)
        # starts once the panel has loaded it.
        read = data.source != "demo" or data.test != "none"
        missing = dataset is None or (data.test != "none" and test is None)
        if read and missing and not self.session.can_continue:
            self._train_once_loaded = copy.deepcopy(data)
            if not self.data_panel.loading:
                self.data_panel.refresh_preview(data)
            self.statusBar().showMessage(
                "Loading the data: training starts once it is loaded (Cancel stops both).", 8000
            )
            return
        self._train_once_loaded = None
        self.run_plots.set_x_extent(self.session.spec.train.iterations)
        if self.session.train(dataset, test):
            trainer = self.session.trainer
            self.run_status.started(
                trainer.iteration if trainer else 0, self.session.spec.train.iterations
            )

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
        self.mark_dirty()

    def _on_events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            if isinstance(event, ev.Started):
                self._shown_run = self.session.trainer
        for view in self.views:
            view.on_events(batch)
        for event in batch:
            if isinstance(event, ev.Failed):
                self._show_failure(event)
        if not self.dirty and any(isinstance(e, ev.Step) for e in batch):
            self.mark_dirty()

    def add_view(self, view: RunView) -> None:
        """Feed another view (placed by the caller) with the run's events from now on; it
        is shown the dataset and the run on screen at once."""
        self.views.append(view)
        view.set_dataset(self.data_panel.dataset)
        if self._shown_run is not None:
            view.replay(self._shown_run)

    def clear_run(self) -> None:
        """The views forget the run on screen (after Reset, New, or switching away)."""
        for view in self.views:
            view.clear()
        self._shown_run = None

    def show_run(self, trainer: Trainer) -> None:
        """The views show ``trainer``'s run from what it keeps (a reopened project, or
        switching back to the trained settings)."""
        for view in self.views:
            view.replay(trainer)
        self._shown_run = trainer

    def _sync_views(self) -> None:
        """The views show the run the current spec would continue, or nothing: after
        switching family or dataset they clear, and switching back to the trained run's
        settings shows that run again."""
        trainer = self.session.trainer
        current = trainer if trainer is not None and self.session.matches_trainer else None
        if current is self._shown_run:
            return
        self.clear_run()
        if current is not None and current.iteration > 0:
            self.show_run(current)
        self._on_state(self.session.state)

    def _on_state(self, state: str) -> None:
        loaded = self.core_loaded
        self.training_panel.set_state(state, self.session.can_continue)
        self.training_panel.setEnabled(loaded)
        resettable = loaded and state == "idle" and self.session.trainer is not None
        self.training_panel.reset_button.setEnabled(resettable)
        self.menus.show_state(
            state, loaded, resettable, file_data=self.session.spec.data.source == "file"
        )
        if self.data_panel.loading:  # Train waits for the data
            self.training_panel.train_button.setEnabled(False)
            self.train_action.setEnabled(False)
        self.model_panel.setEnabled(loaded and state == "idle")
        self.data_panel.setEnabled(loaded and state == "idle")
        self.run_status.show_state(state, loaded, self._shown_run)
        if state == "idle":
            self.redraw(force=True)  # the run's last snapshot

    # messages ------------------------------------------------------------------------------

    def _show_failure(self, event: ev.Failed) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Training stopped", event.reason, parent=self)
        if event.remedies:
            box.setInformativeText("Things to try:\n• " + "\n• ".join(event.remedies))
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()  # not exec(): the window keeps running
        self.failure_box = box

    def show_problem(self, message: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "NDE Studio", message, parent=self)
        box.open()
        self.failure_box = box

    def about(self) -> None:
        AboutDialog(self).exec()

    def what_to_try(self) -> None:
        WhatToTryDialog(self).exec()

    def first_start(self) -> None:
        """The "what to try" page, once per user (it stays under Help)."""
        show_what_to_try_once(self.settings, self)

    def schedule(self, coro: Coroutine[Any, Any, Any]) -> None:
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
            self.show_problem(f"The operation failed: {task.exception()}")

    # export --------------------------------------------------------------------------------

    def export_dialog(self) -> None:
        self.exports.open_dialog()

    def export_to(self, path: Path, options: ExportOptions, weights: str = "last") -> None:
        self.exports.export_to(path, options, weights)

    @property
    def last_export(self) -> ExportReport | None:
        return self.exports.last_report

    # projects ------------------------------------------------------------------------------

    def show_project(self, path: Path, project: Project, trainer: Trainer | None) -> None:
        """Put an opened project on screen: its spec in the panels, its run in the views."""
        self.session.reset()
        self.session.set_spec(project.spec)
        self.session.trainer = trainer
        self._load_panels()
        self.smoothing.setChecked(bool(project.ui.get("smoothing", True)))
        self.project_path = path
        self.mark_dirty(False)
        if trainer is not None:
            self.show_run(trainer)
        self._on_state("idle")

    def open_project(self, path: Path) -> bool:
        return self.projects.open(path)

    async def open_async(self, path: Path) -> bool:
        return await self.projects.open_async(path)

    def open_dialog(self) -> None:
        self.projects.open_dialog()

    def save_project_to(self, path: Path) -> None:
        self.projects.save_to(path)

    async def save_async(self, path: Path) -> None:
        await self.projects.save_async(path)

    def save(self) -> None:
        self.projects.save()

    def save_as_dialog(self) -> None:
        self.projects.save_as_dialog()

    def dialog_folder(self) -> Path:
        return self.projects.dialog_folder()

    def new_project(self) -> None:
        if not self.projects.confirm_discard():
            return
        self.session.reset()
        self.session.set_spec(default_spec())
        self.project_path = None
        self._load_panels()
        self.clear_run()
        self.mark_dirty(False)
        self._on_state(self.session.state)

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
        self.projects.autosave()

    def save_project_copy(self, path: Path) -> None:
        self.projects.save_copy(path)

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
        if not self.projects.confirm_discard(closing=True):
            event.ignore()
            return
        self.autosave_slot.discard()  # closed on purpose: nothing to restore next time
        self.redraw_timer.stop()
        self.autosave_timer.stop()
        self.trim_timer.stop()
        for view in self.inspect_views:
            view.shutdown()
        self.data_panel.shutdown()
        self.colour_scheme.detach()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        event.accept()
