"""Counting function evaluations and accepted steps, and checking for a stop, inside a solve."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ndestudio.core.control import TrainControl


@dataclass
class SolveStats:
    """Evaluations and step sizes of the solves made since the last :meth:`reset`.

    ``nfe_forward`` counts vector-field evaluations of the forward solves; ``nfe_backward``
    counts vector-Jacobian products of the backward pass (through the solver, or the
    adjoint's augmented dynamics). Step sizes are kept as tensors so that a CUDA solve is
    not synchronised once per step.
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    in_backward: bool = False
    _steps: list[torch.Tensor] = field(default_factory=list)

    def reset(self) -> None:
        self.nfe_forward = 0
        self.nfe_backward = 0
        self.in_backward = False
        self._steps.clear()

    def add_step(self, dt: torch.Tensor) -> None:
        self._steps.append(dt.detach().abs().reshape(-1))

    def step_summary(self) -> tuple[float, float]:
        """(mean, min) accepted step size; NaN when no step was recorded."""
        if not self._steps:
            return math.nan, math.nan
        steps = torch.cat(self._steps).double()
        return float(steps.mean()), float(steps.min())

    def step_sizes(self) -> torch.Tensor:
        return torch.cat(self._steps).cpu() if self._steps else torch.empty(0)

    @contextmanager
    def backward_phase(self) -> Iterator[None]:
        """Evaluations inside this block belong to the backward pass (e.g. the adjoint)."""
        self.in_backward = True
        try:
            yield
        finally:
            self.in_backward = False


class Probe:
    """What instrumented vector fields report to: statistics and the run's control."""

    def __init__(self, stats: SolveStats | None = None, control: TrainControl | None = None):
        self.stats = stats if stats is not None else SolveStats()
        self.control = control

    def on_forward(self) -> None:
        if self.control is not None:
            self.control.check()
        if not self.stats.in_backward:
            self.stats.nfe_forward += 1

    def watch(self, out: torch.Tensor) -> torch.Tensor:
        """Count (and allow a stop at) each backward vector-Jacobian product through ``out``."""
        if out.requires_grad:
            out.register_hook(self._on_grad)
        return out

    def _on_grad(self, grad: torch.Tensor) -> None:
        self.stats.nfe_backward += 1
        if self.control is not None:
            self.control.check()
