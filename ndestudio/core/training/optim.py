"""Optimisers and learning-rate schedules named in ``TrainSpec``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ndestudio.core.specs import TrainSpec


def make_optimizer(spec: TrainSpec, groups: list[dict]) -> torch.optim.Optimizer:
    """The optimiser ``spec`` names, with torch's fused kernels where it has them.

    Fused Adam is about 3x faster per step than the default per-tensor loop on a CPU
    (benchmarks/trainer_overhead.py shows it): that is 1-2 % of a small model's step.
    """
    betas = (spec.betas[0], spec.betas[1]) if spec.betas else (0.9, 0.999)
    lr, decay = spec.lr, spec.weight_decay

    def build(fused: bool | None = None) -> torch.optim.Optimizer:
        if spec.optimizer == "adam":
            return torch.optim.Adam(groups, lr=lr, betas=betas, weight_decay=decay, fused=fused)
        if spec.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=decay, fused=fused)
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=decay, fused=fused)

    try:
        return build(fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device or torch
        return build()


# The rate each schedule ends at, as a fraction of the learning rate (its floor).
FLOORS = {"cosine": 0.0, "exponential": 0.01, "step": 0.01, "constant": 1.0}


def rate_factor(kind: str, progress: float) -> float:
    """The learning rate, as a fraction of the one configured, at ``progress`` ∈ [0, 1]
    through a schedule: 1 at the start, the schedule's floor (:data:`FLOORS`) at the end."""
    u = min(max(progress, 0.0), 1.0)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * u))
    if kind == "exponential":  # a hundredfold over the run
        return 0.01**u
    if kind == "step":  # tenfold at one and at two thirds of the run
        return 0.1 ** min(2, math.floor(3 * u + 1e-9))
    return 1.0


class Schedule:
    """The learning rate as a function of the iteration and the total it is planned for.

    The rate after ``k`` iterations is ``lr × rate_factor(kind, progress(k))``, where the
    progress through the schedule runs linearly from ``start_progress`` at iteration ``start``
    to 1 at ``total`` (a new run: from 0 at iteration 0), and stays at 1 after it: the rate
    never rises and never cycles.

    :meth:`retarget` re-plans it for another total when a run continues:

    * a run stopped part-way goes on from the progress it had reached, and the rest of the
      schedule is stretched (or squeezed) over the iterations left: the rate goes on from
      the current one without a jump and reaches the floor at the new total;
    * a run that had finished its schedule (cosine at 0, exponential and step at their
      floor) goes on as if the schedule had been planned for the new total from the start:
      after ``k`` of ``N`` iterations, the rate such a run would have there (a warm restart;
      a cosine run of 300 continued to 4000 restarts at 0.986 × lr and anneals to 0 at 4000).

    A continuation with an unchanged total follows the original schedule exactly.
    """

    def __init__(self, kind: str, optimizer: torch.optim.Optimizer, total: int) -> None:
        if kind not in FLOORS:
            raise ValueError(f"unknown learning-rate schedule {kind!r}")
        self.kind = kind
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.total = max(1, int(total))
        self.start = 0
        self.start_progress = 0.0

    def progress(self, iteration: int) -> float:
        if iteration >= self.total:
            return 1.0
        share = (iteration - self.start) / (self.total - self.start)
        return self.start_progress + (1.0 - self.start_progress) * share

    def factor(self, iteration: int) -> float:
        """The rate of the step after ``iteration`` steps, as a fraction of the base rate."""
        return rate_factor(self.kind, self.progress(iteration))

    def set_rates(self, iteration: int) -> None:
        """Give the optimiser the rates of the step that follows ``iteration`` steps."""
        factor = self.factor(iteration)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    def retarget(self, total: int, iteration: int) -> None:
        """Plan the rest of the schedule to end at ``total``, ``iteration`` steps into the
        run (see the class). Nothing changes when no step is left to take."""
        if total == self.total or total <= iteration:
            return
        progress = self.progress(iteration)
        if progress >= 1.0:  # finished: as if planned for the new total from the start
            progress = iteration / total
        self.start, self.start_progress, self.total = iteration, progress, total
        self.set_rates(iteration)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "total": self.total,
            "start": self.start,
            "start_progress": self.start_progress,
            "base_lrs": list(self.base_lrs),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The plan a checkpoint holds. Raises ``ValueError`` for one that does not fit; a
        checkpoint of a version before this class (a torch scheduler's state) is converted."""
        if "kind" not in state and "last_epoch" in state:
            state = self._from_torch(state)
        kind, total, start = state["kind"], state["total"], state["start"]
        progress, base_lrs = state["start_progress"], state["base_lrs"]
        if kind != self.kind:
            raise ValueError(f"the schedule is {kind!r}, the run spec says {self.kind!r}")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (total, start)):
            raise ValueError("the schedule's iteration counts are not integers")
        if not 0 <= start < total:
            raise ValueError(f"the schedule starts at {start} of {total} iterations")
        if not (isinstance(progress, float) and 0.0 <= progress <= 1.0):
            raise ValueError(f"the schedule's progress is {progress!r}")
        if not (
            isinstance(base_lrs, list)
            and len(base_lrs) == len(self.optimizer.param_groups)
            and all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in base_lrs)
        ):
            raise ValueError("the schedule's base learning rates do not fit the optimiser")
        self.total, self.start, self.start_progress = total, start, progress
        self.base_lrs = list(base_lrs)

    def _from_torch(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A plan from a torch scheduler's state (checkpoints written before this class):
        the total the old scheduler was built for, so that a continuation re-plans from it."""
        total = self.total
        if self.kind == "cosine":
            total = state["T_max"]
        elif self.kind == "step" and state["step_size"] != max(1, total // 3):
            total = 3 * state["step_size"]
        elif self.kind == "exponential":
            gamma = state["gamma"]
            if not (isinstance(gamma, float) and 0.0 < gamma < 1.0):
                raise ValueError(f"the exponential schedule's factor is {gamma!r}")
            total = max(1, round(math.log(0.01) / math.log(gamma)))
        base_lrs = state["base_lrs"]
        return {
            "kind": self.kind,
            "total": total,
            "start": 0,
            "start_progress": 0.0,
            "base_lrs": [float(x) for x in base_lrs] if isinstance(base_lrs, list) else base_lrs,
        }


def make_schedule(spec: TrainSpec, optimizer: torch.optim.Optimizer) -> Schedule:
    """The learning-rate schedule ``spec`` names, planned for its iteration count."""
    return Schedule(spec.schedule, optimizer, spec.iterations)
