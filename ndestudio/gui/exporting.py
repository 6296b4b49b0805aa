"""File ▸ Export model: the checks that keep other work safe, then export and verification
in the event loop's executor, and the outcome in a dialog."""

from __future__ import annotations

import asyncio
import copy
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from ndestudio.core.project import checkpoint_path
from ndestudio.core.specs import RunSpec

if TYPE_CHECKING:
    from ndestudio.core.export import ExportOptions, ExportReport
    from ndestudio.gui.export_dialog import ExportDialog
    from ndestudio.gui.main_window import MainWindow

# The run spec, the weights, their iteration, the loss history, and which weights ("best", "last").
ExportSnapshot = tuple[RunSpec, dict, int, list[float], str]


class ModelExport:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.last_report: ExportReport | None = None
        self.dialog: ExportDialog | None = None

    def snapshot(self, weights: str = "last") -> ExportSnapshot | None:
        """The trained run to export with its ``weights`` ("last", or "best": those of the
        best evaluation), copied on the GUI thread while its weights hold still."""
        w = self.window
        trainer = w.session.trainer
        if trainer is None or trainer.iteration == 0:
            w.show_problem("Train the model before exporting it: there are no weights yet.")
            return None
        if w.session.state not in ("idle", "paused"):
            w.show_problem("Pause or stop training before exporting, so the weights hold still.")
            return None
        weights_of, iteration, held = trainer.weights_state(weights)
        state = {k: v.detach().cpu().clone() for k, v in weights_of.items()}
        losses = list(trainer.history["loss"])
        return copy.deepcopy(trainer.spec), state, iteration, losses, held

    def open_dialog(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        spec, _, iteration = snapshot[:3]
        from ndestudio.gui.export_dialog import ExportDialog

        best = self.window.session.trainer.best if self.window.session.trainer else None
        dialog = ExportDialog(
            spec,
            self.default_path(spec.name),
            self.window,
            last_iteration=iteration,
            best=None if best is None else (best.iteration, best.val_loss),
        )
        dialog.accepted.connect(
            lambda: self.export_to(dialog.target(), dialog.options(), dialog.chosen_weights())
        )
        dialog.open()
        self.dialog = dialog

    def default_path(self, name: str) -> Path:
        """The proposed export file: ``<project>-model.pt`` beside the project (never the
        project's own ``<project>.pt`` checkpoint), else in the last folder used."""
        project = self.window.project_path
        stem = project.stem if project is not None else name
        return self.window.projects.dialog_folder() / f"{stem}-model.pt"

    def owned_files(self) -> set[Path]:
        """Files the open project and this window's autosave own: never export onto them."""
        owned = set(self.window.autosave_slot.files)
        project = self.window.project_path
        if project is not None:
            owned |= {project, checkpoint_path(project)}
        return {p.expanduser().resolve() for p in owned}

    def export_to(self, path: Path, options: ExportOptions, weights: str = "last") -> None:
        """Export to ``path`` after the checks that keep other work safe: never onto the open
        project's files, and only with a yes before replacing an existing file."""
        w = self.window
        path = Path(path).expanduser()
        if path.resolve() in self.owned_files():
            w.show_problem(
                f"Not exported: {path.name} belongs to the open project "
                f"({'its weights' if path.suffix == '.pt' else 'its project file'}), and an "
                "exported model would replace it. Choose another file name, for example "
                f"{self.default_path(w.session.spec.name).name}."
            )
            return
        if path.is_dir():
            w.show_problem(f"Not exported: {path} is a folder; give a file name.")
            return
        if path.exists():
            answer = QMessageBox.question(
                w,
                "Replace file?",
                f"{path} already exists. Replace it with the exported model?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        w.projects.remember_folder(path)
        snapshot = self.snapshot(weights)
        if snapshot is not None:
            w.schedule(self.export_async(path, options, snapshot))

    async def export_async(
        self, path: Path, options: ExportOptions, snapshot: ExportSnapshot
    ) -> ExportReport | None:
        """Export and verify in the event loop's executor; report the outcome in a dialog."""
        from ndestudio.core.export import ExportError, export_trained

        w = self.window
        spec, state, iteration, losses, weights = snapshot
        w.statusBar().showMessage(f"Exporting to {path} and verifying it…")
        job = functools.partial(
            export_trained,
            spec,
            state,
            iteration=iteration,
            losses=losses,
            out=path,
            options=options,
            source="the trained model",
            weights=weights,
        )
        try:
            report = await asyncio.get_running_loop().run_in_executor(None, job)
        except ExportError as exc:
            w.statusBar().showMessage("Export failed; nothing was written.", 10_000)
            w.show_problem(f"The model was not exported (nothing was written):\n{exc}")
            return None
        self.last_report = report
        w.statusBar().showMessage(f"Exported to {path}", 10_000)
        head, *rest = report.summary().splitlines()
        box = QMessageBox(QMessageBox.Icon.Information, "Model exported", head, parent=w)
        box.setInformativeText("\n".join(rest))
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 640px; }")
        box.open()
        w.failure_box = box
        return report
