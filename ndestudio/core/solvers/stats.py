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
    adjoint's augmented dynamics). Step sizes of a GPU solve stay the solver's own tensors,
    gathered once per summary: no GPU synchronisation per step.
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    in_backward: bool = False
    _device_steps: list[torch.Tensor] = field(default_factory=list)
    _host_steps: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.nfe_forward = 0
        self.nfe_backward = 0
        self.in_backward = False
        self._device_steps.clear()
        self._host_steps.clear()

    def add_step(self, dt: torch.Tensor) -> None:
        """Record an accepted step of a solver, its size a scalar tensor.

        A CPU solve's step is read at once (no synchronisation to avoid, and a float list is
        cheaper than gathering tensors); a GPU solve's stays on the device until a summary.
        """
        if dt.device.type == "cpu":
            self._host_steps.append(abs(dt.item()))
        else:
            self._device_steps.append(dt.detach().reshape(-1))

    def add_uniform_steps(self, dt: float, count: int) -> None:
        """Record ``count`` accepted steps of size ``dt`` (a fixed-step solve)."""
        self._host_steps.extend([abs(dt)] * count)

    def step_sizes(self) -> torch.Tensor:
        """Every accepted step size since the last reset (float64, on the CPU)."""
        parts = [torch.tensor(self._host_steps, dtype=torch.float64)]
        parts += [s.double().cpu().abs() for s in self._device_steps]
        return torch.cat(parts)

    def step_summary(self) -> tuple[float, float]:
        """(mean, min) accepted step size; NaN when no step was recorded."""
        if self._device_steps:
            steps = self.step_sizes()
            return float(steps.mean()), float(steps.min())
        if not self._host_steps:
            return math.nan, math.nan
        return math.fsum(self._host_steps) / len(self._host_steps), min(self._host_steps)

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
        self._hook = self._on_grad  # bound once: registered on every evaluation's output

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
            node.register_prehook(self._hook)
        return out

    def _on_grad(self, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        self.stats.nfe_backward += 1
        if self.stop_requested():
            raise StopRequested
