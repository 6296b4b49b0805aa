"""The Inspect views drawn offscreen into PNG files, for ``ndestudio inspect`` (reports,
headless machines): the same widgets as in the window, given the trained run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ndestudio.core.training import Trainer

SIZE = (1100, 800)
TIMEOUT_S = 300.0
TRAJECTORIES = 3  # clicked-in trajectories on the phase portrait: from validation starts


def _application() -> Any:
    """The running QApplication, or a new one (offscreen when there is no display)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ndestudio.gui.app import make_app

    return make_app()


def _wait(app: Any, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} took longer than {TIMEOUT_S:.0f} s")
        app.processEvents()
        time.sleep(0.01)


def _phase_portrait(app: Any, trainer: Trainer, path: Path) -> Path | None:
    from ndestudio.gui.views.phase_portrait import PhasePortraitView

    if trainer.spec.model.family != "ode" or trainer.dataset.values.shape[-1] < 2:
        return None
    view = PhasePortraitView()
    try:
        view.resize(*SIZE)
        view.show()
        view.set_dataset(trainer.dataset)
        view.replay(trainer)
        _wait(app, view.ready, "the phase portrait")
        if view.portrait is None:
            return None
        x, y = view.axes
        starts = trainer.dataset.values[trainer.task.inspected_rows[:TRAJECTORIES], 0]
        for start in starts:
            view.launch(float(start[x]), float(start[y]))
        _wait(app, lambda: len(view.pinned) == len(starts), "the trajectories")
        app.processEvents()
        view.plot.grab().save(str(path))  # the figure, not the controls
        return path
    finally:
        view.shutdown()
        view.close()
        view.deleteLater()


def _view(module: str, name: str, families: tuple[str, ...]) -> Callable[..., Path | None]:
    """Draw the view class ``name`` of ``gui/views/<module>.py`` for runs of ``families``."""

    def draw(app: Any, trainer: Trainer, path: Path) -> Path | None:
        import importlib

        if trainer.spec.model.family not in families:
            return None
        view = getattr(importlib.import_module(f"ndestudio.gui.views.{module}"), name)()
        try:
            view.resize(*SIZE)
            view.show()
            view.set_dataset(trainer.dataset)
            view.replay(trainer)
            _wait(
                app,
                lambda: not view.busy and (view.result is not None or view.usable() is not None),
                name,
            )
            if view.result is None:
                return None
            app.processEvents()
            view.grab().save(str(path))
            return path
        finally:
            view.shutdown()
            view.close()
            view.deleteLater()

    return draw


FIGURES: list[tuple[str, Callable[[Any, Trainer, Path], Path | None]]] = [
    ("phase-portrait.png", _phase_portrait),
    ("distributions.png", _view("sde_distributions", "SDEDistributionsView", ("sde",))),
    ("readout.png", _view("cde_readout", "CDEReadoutView", ("cde",))),
    ("solver.png", _view("telemetry", "TelemetryView", ("ode", "cde", "sde"))),
]


def render_figures(trainer: Trainer, out: Path) -> list[Path]:
    """Draw each Inspect view that applies to ``trainer``'s family into ``out``."""
    app = _application()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES:
        path = draw(app, trainer, out / name)
        if path is not None:
            written.append(path)
    return written
