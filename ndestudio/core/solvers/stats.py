"""Counting function evaluations and accepted steps, and checking for a stop, inside a solve."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

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

    Called on every vector-field evaluation, so it is kept lean: the stop flag is read
    through a bound ``Event.is_set``. Backward products are counted by a hook on every
    evaluation's output (:meth:`watch`), or, for an ODE solve through the solver, on a few
    of them by a :class:`BackwardCounter` (:meth:`counter`).

    ``hook_every`` and ``hook_seconds`` bound the evaluations, and the seconds of forward
    solving, between two backward hooks of a :class:`BackwardCounter`: a stop lands in the
    backward pass within about one such block.
    """

    def __init__(
        self,
        stats: SolveStats | None = None,
        control: TrainControl | None = None,
        *,
        hook_every: int = 8,
        hook_seconds: float = 0.01,
    ):
        self.stats = stats if stats is not None else SolveStats()
        self.stop_requested = control.stop_flag if control is not None else _never
        self.hook_every = hook_every
        self.hook_seconds = hook_seconds
        self._hook = self._on_grad  # bound once: registered on many outputs

    def on_forward(self) -> None:
        if self.stop_requested():
            raise StopRequested
        stats = self.stats
        if not stats.in_backward:
            stats.nfe_forward += 1

    def watch(self, out: torch.Tensor) -> torch.Tensor:
        """Count (and allow a stop at) each backward product through ``out``.

        A pre-hook on ``out``'s autograd node is cheaper than ``Tensor.register_hook``.
        """
        node = out.grad_fn
        if node is not None:
            node.register_prehook(self._hook)
        return out

    def counter(self) -> BackwardCounter:
        """A counter of backward products for one new ODE solve."""
        return BackwardCounter(self)

    def _on_grad(self, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        stats = self.stats
        if stats.in_backward:  # (not a product some SDE solvers take inside a forward step)
            stats.nfe_backward += 1
        if self.stop_requested():
            raise StopRequested


class BackwardCounter:
    """Counts the vector-Jacobian products of one ODE solve's evaluations in the backward pass.

    A pre-hook on an autograd node costs ~5 µs when it runs, a few percent of a training
    step if every evaluation had one. But when the output of a solve through torchdiffeq is
    differentiated, every evaluation that reaches it gets exactly one product, and the
    evaluations that do not are known: those of a rejected step (torchdiffeq picks the next
    step size without gradient). So the evaluations are grouped into blocks of at most
    ``hook_every`` evaluations and ``hook_seconds`` of forward time; a hook on each block's
    first evaluation adds the block's live evaluations when the backward pass reaches it,
    and checks for a stop. A rejected step's evaluations are taken off their blocks.

    Evaluations made inside the backward pass (the adjoint's augmented dynamics) each get a
    hook, as do an SDE solve's: torchsde evaluates the fields once to check their shapes,
    and those results reach nothing.
    """

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._blocks: list[int] = []  # live evaluations of each block
        self._room = 0  # evaluations the open block may still take
        self._deadline = 0.0  # perf_counter time at which the open block closes
        self._recorded = 0  # evaluations recorded for the backward pass
        self._step_start = 0  # ... when the current step began

    def watch(self, out: torch.Tensor) -> torch.Tensor:
        """Record the evaluation whose output is ``out`` (if it has an autograd node)."""
        node = out.grad_fn
        if node is None:
            return out
        probe = self._probe
        if probe.stats.in_backward:
            return probe.watch(out)
        if self._room == 0 or time.perf_counter() > self._deadline:
            node.register_prehook(partial(self._on_grad, len(self._blocks)))
            self._blocks.append(0)
            self._room = probe.hook_every
            self._deadline = time.perf_counter() + probe.hook_seconds
        self._blocks[-1] += 1
        self._room -= 1
        self._recorded += 1
        return out

    def step_started(self) -> None:
        self._step_start = self._recorded

    def step_rejected(self) -> None:
        """The evaluations since the step began never reach the solution."""
        dead = self._recorded - self._step_start
        self._recorded = self._step_start
        block = len(self._blocks) - 1
        while dead > 0:
            taken = min(dead, self._blocks[block])
            self._blocks[block] -= taken
            dead -= taken
            block -= 1
        self._room = 0  # the next evaluation opens a block (with a hook that will run)

    def _on_grad(self, block: int, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        self._probe.stats.nfe_backward += self._blocks[block]
        if self._probe.stop_requested():
            raise StopRequested
