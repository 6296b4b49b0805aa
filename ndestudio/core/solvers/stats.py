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
    adjoint's augmented dynamics). Step sizes on the CPU are kept as floats (cheap); on a
    GPU as tensors, so that a solve is not synchronised once per step.
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    in_backward: bool = False
    _floats: list[float] = field(default_factory=list)
    _tensors: list[torch.Tensor] = field(default_factory=list)

    def reset(self) -> None:
        self.nfe_forward = 0
        self.nfe_backward = 0
        self.in_backward = False
        self._floats.clear()
        self._tensors.clear()

    def add_step(self, dt: torch.Tensor) -> None:
        if dt.device.type == "cpu" and dt.numel() == 1:
            self._floats.append(abs(dt.item()))
        else:
            self._tensors.append(dt.detach().abs().reshape(-1))

    def step_sizes(self) -> torch.Tensor:
        parts = [torch.tensor(self._floats, dtype=torch.float64)]
        parts += [t.double().cpu() for t in self._tensors]
        return torch.cat(parts)

    def step_summary(self) -> tuple[float, float]:
        """(mean, min) accepted step size; NaN when no step was recorded."""
        if not self._tensors:
            if not self._floats:
                return math.nan, math.nan
            return sum(self._floats) / len(self._floats), min(self._floats)
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
        self.control = control
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
