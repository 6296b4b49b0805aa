"""Export a trained model to a self-contained file and verify it before it is kept.

The file is written to a temporary name beside the target, run in a fresh Python process on
fresh inputs, compared with the eager solve, and only then renamed into place: a failed or
refused export leaves no file behind and never touches an existing one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ndestudio import __version__
from ndestudio.core.data import DataFileError, load_dataset
from ndestudio.core.device import resolve_dtype
from ndestudio.core.export.build import build_module
from ndestudio.core.export.formats import (
    EXTRA_EXPORT,
    EXTRA_SPEC,
    EXTRA_VERSION,
    FORMATS,
)
from ndestudio.core.export.options import ExportError, ExportOptions, resolve_solver
from ndestudio.core.export.verify import CaseResult, compare, make_cases, run_fresh_process
from ndestudio.core.files import temporary_beside
from ndestudio.core.solvers import SolverFailure
from ndestudio.core.specs import RunSpec, SolverSpec, SpecError
from ndestudio.core.training.checkpoint import (
    CheckpointError,
    class_names_changed,
    load_checkpoint,
)
from ndestudio.core.training.scoring import is_classification
from ndestudio.core.training.tasks import Task, task_class
from ndestudio.core.validation import validate

USAGE = {
    "ode": "model(y0, t) -> trajectory: y0 (batch, C) or (C,), t (T,) strictly monotone; "
    "returns (batch, T, C). model.solve_with_stats(y0, t) also returns the evaluation count.",
    "cde": "model(x, t) -> outputs: x (batch, T, C) raw observations, NaN = missing, t (T,) "
    "increasing; returns (batch, K) logits (classification) or predictions (regression).",
    "sde": "model(ts, batch, seed) -> paths (batch, T, C); model.sample_with_noise(ts, "
    "initial_noise, increments) with increments over model.solver_grid(ts).",
}


@dataclass
class ExportReport:
    path: Path
    family: str
    solver: SolverSpec
    dtype: str
    notes: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        s = self.solver
        how = (
            f"rtol {s.rtol:g}, atol {s.atol:g}" if s.step_size is None else f"step {s.step_size:g}"
        )
        lines = [
            f"Exported {self.family.upper()} model to {self.path}",
            f"solver {s.method} ({how}), {self.dtype}; verified in a fresh Python process "
            f"without NDE Studio, torchdiffeq, torchsde or torchcde:",
        ]
        lines += ["  " + c.line() for c in self.cases]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"usage: {USAGE[self.family]}")
        return "\n".join(lines)


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    options: ExportOptions | None = None,
    weights: str = "last",
) -> ExportReport:
    """Export the model a checkpoint file holds (see :func:`export_trained`): its ``weights``,
    "last" or "best" (the best-validation ones; the last in a run without validation)."""
    try:
        ckpt = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    state, iteration, held = ckpt.weights(weights)
    report = export_trained(
        ckpt.spec,
        state,
        iteration=iteration,
        losses=ckpt.history.get("loss", []),
        out=out,
        options=options,
        source=str(checkpoint),
        weights=held,
        class_names=ckpt.class_names,
    )
    if weights == "best" and held == "last":
        report.notes.append("the run had no validation, so its best weights are its last")
    return report


def _check_trained(
    state: dict[str, torch.Tensor], iteration: int, losses: list[float], source: str
) -> None:
    if iteration <= 0:
        raise ExportError(f"{source} has not been trained yet (0 steps): train it before exporting")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ExportError(
            f"{source} holds non-finite weights ({', '.join(bad[:3])}): the run diverged; "
            "export the last good weights or retrain with a smaller learning rate"
        )
    if losses and not math.isfinite(float(losses[-1])):
        raise ExportError(
            f"{source} ended with a non-finite loss: the run diverged; retrain before exporting"
        )


def _check_target(out: Path) -> None:
    parent = out.parent
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a folder")
    if not parent.is_dir():
        raise ExportError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {out}: folder {parent} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise ExportError(f"cannot write {out}: the file is read-only")


def _task(spec: RunSpec, state: dict[str, torch.Tensor]) -> Task:
    dtype = resolve_dtype(spec.train.dtype)
    generator = torch.Generator().manual_seed(spec.train.seed)
    try:
        data = load_dataset(spec.data)
    except DataFileError as exc:
        raise ExportError(f"the training data is needed for its normalisation: {exc}") from None
    try:
        task = task_class(spec)(spec, data, torch.device("cpu"), dtype, generator)
    except ValueError as exc:
        raise ExportError(f"the training data does not fit the model: {exc}") from None
    try:
        task.model.load_state_dict(state)
    except RuntimeError as exc:
        raise ExportError(
            f"the weights do not fit the model the run spec describes: {exc}"
        ) from None
    task.model.eval()
    return task


def export_trained(
    spec: RunSpec,
    state: dict[str, torch.Tensor],
    *,
    iteration: int,
    losses: list[float],
    out: str | Path,
    options: ExportOptions | None = None,
    source: str = "the model",
    weights: str = "last",
    class_names: Sequence[str] = (),
) -> ExportReport:
    """Write ``out`` holding the trained networks, a TorchScript solver and the normalisation
    statistics; verify it in a fresh process; raise :class:`ExportError` (leaving no file)
    when anything is wrong."""
    started = time.perf_counter()
    options = options or ExportOptions()
    out = Path(out)
    try:
        validate(spec)
    except SpecError as exc:
        raise ExportError(f"{source}: {exc}") from None
    if options.format not in FORMATS:
        raise ExportError(f"unknown export format {options.format!r}; use one of {list(FORMATS)}")
    fmt = FORMATS[options.format]
    _check_trained(state, iteration, losses, source)
    _check_target(out)
    solver, notes = resolve_solver(spec, options)
    task = _task(spec, state)
    changed = class_names_changed(class_names, task.data.class_names)
    if changed:
        raise ExportError(f"{source}: {changed}, so the exported class names would be wrong")
    module = build_module(task, solver)
    extra = {
        EXTRA_SPEC: spec.to_json(),
        EXTRA_VERSION: __version__,
        EXTRA_EXPORT: json.dumps(
            {
                "family": spec.model.family,
                "format": fmt.name,
                "solver": solver.__dict__,
                "dtype": spec.train.dtype,
                "trained_iterations": iteration,
                "weights": weights,
                # A classifier's outputs, in order: logit k is the class class_names[k].
                "class_names": list(task.data.class_names) if is_classification(spec) else [],
                "usage": USAGE[spec.model.family],
            },
            indent=2,
        ),
    }
    try:
        tmp = temporary_beside(out)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        try:
            fmt.save(module, tmp, extra)
        except OSError as exc:
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
        try:
            with torch.no_grad():
                cases = make_cases(task, solver)
        except (SolverFailure, RuntimeError, ValueError) as exc:
            raise ExportError(
                f"the trained model cannot be solved with {solver.method} to verify the "
                f"export ({exc}): its dynamics probably became stiff. Export with another "
                "solver or more steps allowed (max_num_steps), or retrain"
            ) from None
        try:
            results = run_fresh_process(fmt, tmp, cases)
        except RuntimeError as exc:
            raise ExportError(str(exc)) from None
        verdict = compare(cases, results, solver, task.dtype)
        report = ExportReport(
            out, spec.model.family, solver, spec.train.dtype, notes, verdict.cases
        )
        if not verdict.passed:
            raise ExportError(
                "the exported file does not reproduce the trained model within the stated "
                "tolerances, so it was not kept:\n"
                + "\n".join(["  " + c.line() for c in verdict.cases] + verdict.problems)
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - started
    return report
