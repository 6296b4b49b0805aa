"""How long the phase-portrait view takes to recompute: a 30 × 30 field plus its equilibria."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ndestudio.core.inspect.dynamics import learned_dynamics
from ndestudio.core.inspect.equilibria import find_equilibria
from ndestudio.core.inspect.field import data_box, field_slice

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer


def time_field_and_equilibria(
    trainer: Trainer | None = None, *, n: int = 30, seeds: int = 10, repeats: int = 3
) -> dict[str, float]:
    """Seconds (best of ``repeats``) to copy the learned field, evaluate it on ``n × n`` and
    find its equilibria from ``seeds × seeds`` seeds over the data's box, for ``trainer``
    (default: an untrained model of the spiral preset). Keys: ``field_s``,
    ``equilibria_s``, ``total_s`` and ``equilibria`` (how many were found)."""
    if trainer is None:
        from ndestudio.core.presets import spiral_ode
        from ndestudio.core.training.trainer import Trainer

        trainer = Trainer(spiral_ode())
    box = data_box(trainer.dataset.values)
    best = {"field_s": float("inf"), "equilibria_s": float("inf"), "total_s": float("inf")}
    found = 0
    for _ in range(repeats):
        start = time.perf_counter()
        dynamics = learned_dynamics(trainer)
        field_slice(dynamics, box, n=n)
        middle = time.perf_counter()
        found = len(find_equilibria(dynamics, box, seeds=seeds))
        end = time.perf_counter()
        best["field_s"] = min(best["field_s"], middle - start)
        best["equilibria_s"] = min(best["equilibria_s"], end - middle)
        best["total_s"] = min(best["total_s"], end - start)
    return {**best, "equilibria": float(found)}
