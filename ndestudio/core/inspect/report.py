"""``inspect_run``: every inspection that applies to a trainer's model family, as plain
JSON-serialisable numbers (what ``ndestudio inspect`` writes as JSON and CSV)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ndestudio.core.inspect.cde_readout import validation_confusion
from ndestudio.core.inspect.dynamics import learned_dynamics, true_dynamics
from ndestudio.core.inspect.equilibria import find_equilibria, full_bounds
from ndestudio.core.inspect.field import Box, data_box, field_slice
from ndestudio.core.inspect.manifolds import saddle_manifolds
from ndestudio.core.inspect.sde_stats import sde_statistics
from ndestudio.core.inspect.telemetry import NFE_THRESHOLD, solve_telemetry

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer


def inspect_run(
    trainer: Trainer,
    *,
    grid: int = 30,
    seeds: int = 10,
    axes: tuple[int, int] = (0, 1),
    box: Sequence[tuple[float, float]] | None = None,
    n_samples: int = 512,
    seed: int = 0,
    nfe_threshold: float = NFE_THRESHOLD,
) -> dict[str, Any]:
    """Inspect the trainer's model. Every family: solver telemetry of its validation solve.
    ODE: the field on ``grid × grid`` over ``box`` (default: the data's range, widened 10 %)
    in the plane of ``axes`` (with the true field's error for demos), the equilibria from
    ``seeds × seeds`` seeds there with eigenvalues and classes, saddles' manifolds. SDE:
    ``n_samples`` paths' quantiles and W1 distances to the validation data. Classifying
    CDE: the validation confusion matrix. NaN becomes None."""
    family = trainer.spec.model.family
    out: dict[str, Any] = {
        "family": family,
        "iteration": trainer.iteration,
        "channels": list(trainer.dataset.channel_names),
        "telemetry": solve_telemetry(trainer, nfe_threshold=nfe_threshold).to_dict(),
    }
    if family == "ode":
        out.update(_ode(trainer, grid, seeds, axes, box))
    elif family == "sde":
        out["sde"] = sde_statistics(trainer, n_samples, seed=seed).to_dict()
    elif family == "cde" and getattr(trainer.task, "classification", False):
        out["confusion"] = validation_confusion(trainer).to_dict()
    return jsonable(out)


def _ode(
    trainer: Trainer,
    grid: int,
    seeds: int,
    axes: tuple[int, int],
    box: Sequence[tuple[float, float]] | None,
) -> dict[str, Any]:
    learned = learned_dynamics(trainer)
    truth = true_dynamics(trainer)
    values = trainer.dataset.values
    out: dict[str, Any] = {}
    if learned.channels >= 2:
        view: Box = data_box(values, axes)
        if box is not None:
            view = ((float(box[0][0]), float(box[0][1])), (float(box[1][0]), float(box[1][1])))
        sliced = field_slice(learned, view, n=grid, axes=axes, truth=truth)
        out["field"] = {
            "axes": list(axes),
            "state": sliced.state.tolist(),
            "xs": sliced.xs.tolist(),
            "ys": sliced.ys.tolist(),
            "u": sliced.u.tolist(),
            "v": sliced.v.tolist(),
            "speed": sliced.speed.tolist(),
            "error": sliced.error_summary(),
        }
        ranges: Sequence[tuple[float, float]] = view
    else:
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        ranges = [(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))]
    equilibria = find_equilibria(learned, ranges, axes=axes, seeds=seeds)
    bounds = full_bounds(learned, ranges, axes)
    out["equilibria"] = [e.to_dict() for e in equilibria]
    out["manifolds"] = [
        {
            "point": m.point.tolist(),
            "kind": m.kind,
            "eigenvalue": m.eigenvalue,
            "direction": m.direction.tolist(),
            "branches": [b.states.tolist() for b in m.branches],
        }
        for e in equilibria
        if e.kind == "saddle"
        for m in saddle_manifolds(learned, e, bounds=bounds, n_points=200)
    ]
    if truth is not None:
        out["true_equilibria"] = [
            e.to_dict() for e in find_equilibria(truth, ranges, axes=axes, seeds=seeds)
        ]
    return out


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists, NaN and ±inf as
    None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
