"""Hyperparameter sweeps: a grid of settings over a run config, each trial an ordinary
training run (``ndestudio train`` in its own folder), and a table of their results.

``--grid train.lr=1e-3,3e-3 model.network.width=32,64`` is the Cartesian product of the
listed values (each read as JSON where it parses — numbers, true/false, null, lists — else as
text); ``samples`` repeats every grid point with the seeds ``seed``, ``seed + 1``, …, as Ray
Tune's ``num_samples`` does.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ndestudio.core.errors import UserError
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.validation import validate

MAX_TRIALS = 10_000

RESULT_FIELDS = [
    "trial",
    "status",
    "seed",
    "iterations",
    "final_loss",
    "final_val_loss",
    "best_val_loss",
    "best_iteration",
    "seconds",
    "checkpoint",
]


class SweepError(UserError):
    """A grid or sweep that cannot run; the message names the setting and what was wrong."""


@dataclass
class Trial:
    """One run of a sweep: its number, the settings it changes and its full spec."""

    index: int
    settings: dict[str, Any]
    spec: RunSpec

    @property
    def name(self) -> str:
        return f"trial-{self.index:03d}"


@dataclass
class TrialResult:
    trial: Trial
    status: str  # "finished", "failed" (the run's own message in ``message``)
    seconds: float
    message: str = ""
    values: dict[str, float | int | str] = field(default_factory=dict)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``KEY=V1,V2,…`` items as {key: values}, in the order given."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise SweepError(
                f"grid item {item!r}: expected KEY=VALUE[,VALUE…], e.g. train.lr=1e-3,3e-3"
            )
        if key in grid:
            raise SweepError(f"grid item {item!r}: {key} is already in the grid")
        grid[key] = [_value(v.strip()) for v in values.split(",")]
    return grid


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    node: Any = data
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the config"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            raise SweepError(f"grid setting {key!r}: {where} has no {part!r} (it has {known})")
        if depth == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]


def trials(base: RunSpec, grid: dict[str, list[Any]], samples: int = 1) -> list[Trial]:
    """Every trial of the sweep, each a valid spec (else a :class:`SweepError` naming the
    trial's settings and every problem)."""
    if samples < 1:
        raise SweepError(f"samples must be at least 1, got {samples}")
    keys = list(grid)
    count = math.prod(len(v) for v in grid.values()) * samples
    if count > MAX_TRIALS:
        raise SweepError(f"the grid makes {count} trials, more than {MAX_TRIALS}: narrow it")
    out: list[Trial] = []
    for values in itertools.product(*(grid[k] for k in keys)):
        for sample in range(samples):
            settings = dict(zip(keys, values, strict=True))
            data = copy.deepcopy(base.to_dict())
            for key, value in settings.items():
                _set(data, key, value)
            if samples > 1:
                data["train"]["seed"] = base.train.seed + sample
                settings["train.seed"] = data["train"]["seed"]
            shown = ", ".join(f"{k}={v}" for k, v in settings.items())
            try:
                spec = RunSpec.from_dict(data)
                validate(spec)
            except SpecError as exc:
                raise SweepError(f"the trial {shown} cannot run: {exc}") from None
            spec.name = f"{base.name}-{len(out):03d}"
            out.append(Trial(len(out), settings, spec))
    return out


def read_result(
    trial: Trial, folder: Path, status: str, seconds: float, message: str = ""
) -> TrialResult:
    """A trial's numbers from its run folder's ``metrics.csv`` (the last step's loss, the last
    and the best validation loss and metrics)."""
    values: dict[str, float | int | str] = {"seed": trial.spec.train.seed}
    metrics = folder / "metrics.csv"
    rows: list[dict[str, str]] = []
    if metrics.is_file():
        with metrics.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    if rows:
        values["iterations"] = int(float(rows[-1]["iteration"]))
        values["final_loss"] = float(rows[-1]["loss"])
        evaluated = [r for r in rows if r.get("val_loss")]
        if evaluated:
            last = evaluated[-1]
            values["final_val_loss"] = float(last["val_loss"])
            best = min(evaluated, key=lambda r: float(r["val_loss"]))
            values["best_val_loss"] = float(best["val_loss"])
            values["best_iteration"] = int(float(best["iteration"]))
            for name, text in last.items():
                if name.startswith("val_") and name != "val_loss" and text:
                    values[f"final_{name}"] = float(text)
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():  # (relative to the results table, which sits beside the trials)
        values["checkpoint"] = f"{folder.name}/{checkpoint.name}"
    return TrialResult(trial, status, seconds, message, values)


def write_results(path: Path, results: list[TrialResult]) -> None:
    """The results table: one row per trial, its settings, numbers and status."""
    setting_keys: list[str] = []
    for result in results:
        setting_keys += [k for k in result.trial.settings if k not in setting_keys]
    extra: list[str] = []
    for result in results:
        extra += [k for k in result.values if k not in RESULT_FIELDS and k not in extra]
    fields = ["trial", *setting_keys, *RESULT_FIELDS[1:], *extra, "message"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        for result in sorted(results, key=lambda r: r.trial.index):
            row: dict[str, Any] = {"trial": result.trial.name, "status": result.status}
            row.update(
                {
                    k: json.dumps(v) if not isinstance(v, str) else v
                    for k, v in result.trial.settings.items()
                }
            )
            row.update(result.values)
            row["seconds"] = f"{result.seconds:.2f}"
            row["message"] = result.message
            writer.writerow(row)


def best(results: list[TrialResult]) -> TrialResult | None:
    """The finished trial with the lowest best validation loss (else final training loss)."""

    def key(result: TrialResult) -> float:
        value = result.values.get("best_val_loss", result.values.get("final_loss", math.inf))
        return float(value)

    finished = [r for r in results if r.status == "finished"]
    return min(finished, key=key) if finished else None
