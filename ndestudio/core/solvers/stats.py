"""Counting function evaluations and accepted steps, and checking for a stop, inside a solve."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import torch
from torch.autograd.graph import Node

from ndestudio.core.control import StopRequested, TrainControl


@dataclass
class SolveStats:
    """Evaluations and step sizes of the solves made since the last :meth:`reset`.

    ``nfe_forward`` counts vector-field evaluations of the forward solves; ``nfe_backward``
    counts vector-Jacobian products of the backward pass (through the solver, or the
    adjoint's augmented dynamics). Step sizes of a GPU solve stay the solver's own tensors,
    gathered once per summary: no GPU synchronisation per step.

    ``solves`` counts the forward solves and ``rejected_steps`` the steps an adaptive solver
    rejected in them. With ``trace`` set (solver telemetry), each accepted step's start time
    is kept too (:meth:`step_times`, in the solver's own time), at one host read per step.
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    in_backward: bool = False
    solves: int = 0
    rejected_steps: int = 0
    trace: bool = False
    engine: str = ""  # the engine of the latest solve: "torchdiffeq", "fast" or "torchsde"
    _device_steps: list[torch.Tensor] = field(default_factory=list)
    _host_steps: list[float] = field(default_factory=list)
    _step_times: list[float] = field(default_factory=list)

    def reset(self) -> None:
        """Clear the counts and steps (``trace`` stays as it is)."""
        self.nfe_forward = 0
        self.nfe_backward = 0
        self.in_backward = False
        self.solves = 0
        self.rejected_steps = 0
        self._device_steps.clear()
        self._host_steps.clear()
        self._step_times.clear()

    def add_step(self, dt: torch.Tensor, t0: torch.Tensor | None = None) -> None:
        """Record an accepted step of a solver, its size a scalar tensor (``t0``: its start,
        kept when tracing).

        A CPU solve's step is read at once (no synchronisation to avoid, and a float list is
        cheaper than gathering tensors); a GPU solve's stays on the device until a summary.
        """
        if self.trace:
            self._step_times.append(math.nan if t0 is None else float(t0.detach()))
        if dt.device.type == "cpu":
            self._host_steps.append(abs(dt.item()))
        else:
            self._device_steps.append(dt.detach().reshape(-1))

    def add_uniform_steps(self, dt: float, count: int, t0: float = math.nan) -> None:
        """Record ``count`` accepted steps of size ``dt`` (a fixed-step solve from ``t0``)."""
        if self.trace:
            self._step_times.extend([t0 + k * abs(dt) for k in range(count)])
        self._host_steps.extend([abs(dt)] * count)

    def add_steps(self, sizes: list[float], starts: list[float]) -> None:
        """Record accepted steps of these sizes, starting at ``starts`` (a host-side solve)."""
        if self.trace:
            self._step_times.extend(starts)
        self._host_steps.extend(abs(dt) for dt in sizes)

    def step_times(self) -> torch.Tensor:
        """The start time of every accepted step recorded while tracing (float64), in the
        order of :meth:`step_sizes` when every step was traced; NaN where unknown."""
        return torch.tensor(self._step_times, dtype=torch.float64)

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
        self.count_one = self._on_grad  # bound once: registered on many outputs

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
            node.register_prehook(self.count_one)
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
    differentiated, every evaluation of an accepted step reaches it and gets exactly one
    product. So the evaluations are grouped into blocks of at most ``hook_every``
    evaluations and ``hook_seconds`` of forward time; a hook on each block's first
    evaluation adds the block's size when the backward pass reaches it, and checks for a
    stop. The evaluations whose fate the solver decides afterwards are taken out of their
    blocks and given hooks of their own: those of a rejected step (which reach nothing, as
    torchdiffeq picks the next step size without gradient), the last one of a step that
    ends on a jump (the field is evaluated again on the jump's far side), and the two that
    choose an adaptive solve's first step size before any step (the backward pass reaches
    the second only through that size, which it need not depend on).

    Evaluations made inside the backward pass (the adjoint's augmented dynamics) each get a
    hook, as do an SDE solve's: torchsde evaluates the fields once to check their shapes,
    and those results reach nothing.
    """

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._blocks: list[int] = []  # evaluations counted by each block's hook
        self._room = 0  # evaluations the open block may still take
        self._deadline = 0.0  # perf_counter time at which the open block closes
        self._step: list[tuple[Node, int]] = []  # the current step's evaluations, their blocks
        self._accepted = False  # the current step was accepted (no step has begun since)
        self._stepping = False  # a step has begun (evaluations before: the initial step's)

    def watch(self, out: torch.Tensor) -> torch.Tensor:
        """Record the evaluation whose output is ``out`` (if it has an autograd node)."""
        node = out.grad_fn
        if node is None:
            return out
        probe = self._probe
        if probe.stats.in_backward or not self._stepping:
            # An adaptive solve's first evaluations choose its first step size, which the
            # backward pass reaches only through that size: each is counted on its own.
            return probe.watch(out)
        if self._accepted:  # evaluated after an accepted step, before the next: a jump
            self._unblock(self._step[-1:])
            self._accepted = False
        if self._room == 0 or time.perf_counter() > self._deadline:
            node.register_prehook(partial(self._on_grad, len(self._blocks)))
            self._blocks.append(0)
            self._room = probe.hook_every
            self._deadline = time.perf_counter() + probe.hook_seconds
        self._blocks[-1] += 1
        self._room -= 1
        self._step.append((node, len(self._blocks) - 1))
        return out

    def step_started(self) -> None:
        self._stepping = True
        self._step = []
        self._accepted = False

    def step_accepted(self) -> None:
        self._accepted = True

    def step_rejected(self) -> None:
        self._unblock(self._step)
        self._step = []

    def close(self) -> None:
        """The solve has ended: let go of its evaluations' autograd nodes.

        Their hooks hold this counter, so a node kept here would keep the whole graph of
        the solve alive in a reference cycle through C++ that Python's collector cannot see.
        """
        self._step = []
        self._accepted = False

    def _unblock(self, evaluations: list[tuple[Node, int]]) -> None:
        """Count these evaluations by hooks of their own, should they reach the output."""
        for node, block in evaluations:
            self._blocks[block] -= 1
            node.register_prehook(self._probe.count_one)
        self._room = 0  # the next evaluation opens a block: its first one might not be reached

    def _on_grad(self, block: int, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        self._probe.stats.nfe_backward += self._blocks[block]
        if self._probe.stop_requested():
            raise StopRequested
