"""Counting function evaluations and accepted steps, and checking for a stop, inside a solve."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ndestudio.core.control import StopRequested, TrainControl


@dataclass
class SolveStats:
    """Evaluations and step sizes of the solves made since the last :meth:`reset`.

    ``nfe_forward`` counts vector-field evaluations of the forward solves; ``nfe_backward``
    counts vector-Jacobian products of the backward pass (through the solver, or the
    adjoint's augmented dynamics). Step sizes are kept as the solver's own tensors and
    gathered once per summary: no per-step work and no GPU synchronisation per step.
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
        self._steps.append(dt)

    def step_sizes(self) -> torch.Tensor:
        if not self._steps:
            return torch.empty(0, dtype=torch.float64)
        if all(s.dim() == 0 for s in self._steps):  # one tensor per accepted ODE step
            return torch.stack(self._steps).detach().double().cpu().abs()
        return torch.cat([s.detach().reshape(-1).double().cpu() for s in self._steps]).abs()

    def step_summary(self) -> tuple[float, float]:
        """(mean, min) accepted step size; NaN when no step was recorded."""
        if not self._steps:
            return math.nan, math.nan
        steps = self.step_sizes()
        return float(steps.mean()), float(steps.min())

    @contextmanager
    def backward_phase(self) -> Iterator[None]:
        """Evaluations inside this block belong to the backward pass (e.g. the adjoint)."""
        self.in_backward = True
        try:
            yield
        finally:
            self.in_backward = False


def _never() -> bool:
    return False


class Probe:
    """What instrumented vector fields report to: statistics and the run's control.

    Called once per vector-field evaluation and once per backward product, so it is kept
    lean: the stop flag is read through a bound ``Event.is_set``.
    """

    def __init__(self, stats: SolveStats | None = None, control: TrainControl | None = None):
        self.stats = stats if stats is not None else SolveStats()
        self.stop_requested = control.stop_flag if control is not None else _never

    def on_forward(self) -> None:
        if self.stop_requested():
            raise StopRequested
        stats = self.stats
        if not stats.in_backward:
            stats.nfe_forward += 1

    def watch(self, out: torch.Tensor) -> torch.Tensor:
        """Count (and allow a stop at) each backward vector-Jacobian product through ``out``.

        A pre-hook on ``out``'s autograd node is cheaper than ``Tensor.register_hook``.
        """
        node = out.grad_fn
        if node is not None:
            node.register_prehook(self._on_grad)
        return out

    def _on_grad(self, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        self.stats.nfe_backward += 1
        if self.stop_requested():
            raise StopRequested
