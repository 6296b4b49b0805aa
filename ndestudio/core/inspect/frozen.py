"""A frozen copy of a trainer, for inspecting a run on another thread while it trains."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ndestudio.core.solvers import SolveStats

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer


def frozen_copy(trainer: Trainer) -> Trainer:
    """A shallow copy of ``trainer`` whose model — and every module its task holds (the
    SDE-GAN's generator, critic and averaged generator) — is a deep copy of the weights now,
    with a random generator and solve statistics of its own. The inspectors
    (:func:`sde_statistics`, :func:`cde_readout`, :func:`solve_telemetry`, …) can work on it
    in a worker thread while the original goes on training; data, spec and history are
    shared, read-only."""
    memo: dict[int, Any] = {}
    model = copy.deepcopy(trainer.model, memo)
    task = copy.copy(trainer.task)
    for name, value in vars(trainer.task).items():
        if isinstance(value, nn.Module):
            setattr(task, name, memo.get(id(value), value))
    generator = torch.Generator(device=trainer.generator.device)
    generator.set_state(trainer.generator.get_state())
    task.generator = generator
    clone = copy.copy(trainer)
    clone.task, clone.model, clone.generator = task, model, generator
    clone.stats = SolveStats()
    return clone
