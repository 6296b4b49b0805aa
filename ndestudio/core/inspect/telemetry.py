"""Solver telemetry of one solve of a model: accepted step sizes against time, rejected
steps, evaluations forward and backward, and a stiffness warning with remedies."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ndestudio.core.solvers import Probe, SolveStats
from ndestudio.core.specs import RunSpec
from ndestudio.core.training.diagnostics import remedies

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer

NFE_THRESHOLD = 1000
"""Forward evaluations per solve above which the dynamics are called stiff (the default of
the ``nfe_threshold`` a user may set)."""


@dataclass
class Telemetry:
    """``step_times``/``step_sizes`` (S,): each accepted step's start and size (solver time);
    ``rejected``: rejected steps; ``nfe_forward``/``nfe_backward``: evaluations of the
    forward solves and vector-Jacobian products of the backward pass; ``solves``: forward
    solves made; ``warning`` and ``remedies`` when ``nfe_per_solve`` passed the threshold."""

    step_times: np.ndarray
    step_sizes: np.ndarray
    rejected: int
    nfe_forward: int
    nfe_backward: int
    solves: int
    nfe_threshold: float
    warning: str | None = None
    remedies: tuple[str, ...] = field(default_factory=tuple)

    @property
    def accepted(self) -> int:
        return len(self.step_sizes)

    @property
    def nfe_per_solve(self) -> float:
        return self.nfe_forward / max(1, self.solves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted_steps": self.accepted,
            "rejected_steps": self.rejected,
            "nfe_forward": self.nfe_forward,
            "nfe_backward": self.nfe_backward,
            "solves": self.solves,
            "nfe_per_solve": self.nfe_per_solve,
            "nfe_threshold": self.nfe_threshold,
            "step_size_min": float(self.step_sizes.min()) if self.accepted else None,
            "step_size_mean": float(self.step_sizes.mean()) if self.accepted else None,
            "warning": self.warning,
            "remedies": list(self.remedies),
        }


def from_stats(stats: SolveStats, spec: RunSpec, nfe_threshold: float = NFE_THRESHOLD) -> Telemetry:
    """Telemetry of the solves ``stats`` recorded (set ``stats.trace`` before them for the
    step times), e.g. a trainer's latest step; the warning names remedies for ``spec``."""
    sizes = stats.step_sizes().numpy()
    times = stats.step_times().numpy()
    if len(times) != len(sizes):  # steps recorded before tracing began have no time
        times = np.concatenate([np.full(len(sizes) - len(times), np.nan), times])
    out = Telemetry(
        step_times=times,
        step_sizes=sizes,
        rejected=stats.rejected_steps,
        nfe_forward=stats.nfe_forward,
        nfe_backward=stats.nfe_backward,
        solves=stats.solves,
        nfe_threshold=float(nfe_threshold),
    )
    if out.nfe_per_solve > nfe_threshold:
        out.warning = (
            f"{out.nfe_per_solve:.0f} function evaluations per solve (more than "
            f"{nfe_threshold:g}): the learned dynamics look stiff"
        )
        out.remedies = remedies(spec)
    return out


def solve_telemetry(
    trainer: Trainer, *, gradient: bool = False, nfe_threshold: float = NFE_THRESHOLD
) -> Telemetry:
    """Telemetry of one solve of the trainer's model: without ``gradient``, its validation
    solve (what its evaluation runs); with it, one training batch's loss and its backward
    pass (gradients taken without touching the model's ``.grad`` or the optimiser; the
    trainer's random generator is restored afterwards)."""
    stats = SolveStats(trace=True)
    probe = Probe(stats)
    task: Any = trainer.task
    model = trainer.model
    if not gradient:
        was_training = model.training
        model.eval()
        # Without validation series, the training series' solve (see Task.inspected_rows).
        shown = task if task.has_validation else task.on_dataset(task.data)
        try:
            with torch.no_grad():
                shown.evaluate(probe)
        finally:
            model.train(was_training)
        return from_stats(stats, trainer.spec, nfe_threshold)
    state = trainer.generator.get_state()
    saved = copy.copy(task.__dict__)  # flags a loss may set (the SDE-GAN's player to step)
    try:
        loss = task.loss(trainer.iteration, probe)
        params = [p for p in model.parameters() if p.requires_grad]
        with stats.backward_phase():
            torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        trainer.generator.set_state(state)
        task.__dict__.update(saved)
    return from_stats(stats, trainer.spec, nfe_threshold)
