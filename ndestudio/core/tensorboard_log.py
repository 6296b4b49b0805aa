"""TensorBoard logs of a run: the scalars of ``metrics.csv``, under the same names, written
through ``torch.utils.tensorboard`` (the ``tensorboard`` package, an optional extra)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

from ndestudio.core import events as ev
from ndestudio.core.errors import UserError

INSTALL = 'pip install "ndestudio[tensorboard]"'
# metrics.csv's per-step columns (validation ones are ``val_loss`` and ``val_<metric>``).
STEP_SCALARS = (
    "loss",
    "grad_norm",
    "nfe_forward",
    "nfe_backward",
    "lr",
    "wall_time",
    "step_size_mean",
)


class TensorBoardMissing(UserError):
    pass


def tensorboard_installed() -> bool:
    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):  # (a broken or blocked install)
        return False


def missing_message() -> str:
    return f"TensorBoard logs need the tensorboard package, which is not installed: {INSTALL}"


class TensorBoardLog:
    """Event files in ``folder``: each step's scalars at its iteration, each evaluation's.

    ``start``: the iteration the run goes on from (0: a new one). Events the folder holds from
    after it are purged when TensorBoard reads it: those of the run a resumed one was stopped
    or killed in (as metrics.csv drops its rows), or of an earlier run that the new one
    replaces (a run trained again after Reset, logged to the same folder).
    """

    def __init__(self, folder: Path, start: int = 0) -> None:
        if not tensorboard_installed():
            raise TensorBoardMissing(missing_message())
        from torch.utils.tensorboard import SummaryWriter

        try:
            self.writer: Any = SummaryWriter(log_dir=str(folder), purge_step=start + 1)
        except OSError as exc:
            raise UserError(
                f"cannot write TensorBoard logs to {folder}: {exc.strerror or exc}"
            ) from None
        self.folder = folder

    def step(self, step: ev.Step) -> None:
        for name in STEP_SCALARS:
            self._scalar(name, getattr(step, name), step.iteration)

    def evaluation(self, evaluation: ev.Eval) -> None:
        self._scalar("val_loss", evaluation.val_loss, evaluation.iteration)
        for name, value in evaluation.metrics.items():
            self._scalar(f"val_{name}", value, evaluation.iteration)

    def events(self, batch: list[ev.Event]) -> None:
        for event in batch:
            if isinstance(event, ev.Step):
                self.step(event)
            elif isinstance(event, ev.Eval):
                self.evaluation(event)

    def _scalar(self, name: str, value: float | None, iteration: int) -> None:
        if value is not None and math.isfinite(value):
            self.writer.add_scalar(name, value, iteration)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
