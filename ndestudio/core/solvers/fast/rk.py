"""The fast engine's Runge–Kutta solves and their backward passes.

Each solve follows torchdiffeq's algorithm decision for decision — its time grid and linear
output interpolation for fixed steps; for dopri5 and bosh3 its error norm, step-size
control, ``max_num_steps`` per output interval, first-same-as-last stages and quartic dense
output — so that both engines take the same steps and evaluations. The forward pass runs
without autograd and keeps, per accepted step, each evaluation's input and activations; the
backward pass applies the adjoint of the discrete solve, step by step in reverse (the same
gradient that autograd computes through torchdiffeq, to rounding).

torchdiffeq differentiates through one step size: the first, chosen from ``f(y0)`` with
gradient. Every later step size is chosen under ``no_grad``, but the times after an accepted
first step all shift with it, which moves the dense output's interpolation points. The
adaptive backward pass returns that sensitivity (``dL/dh``) so that autograd carries it into
the initial step selection (:mod:`ndestudio.core.solvers.fast.first_step`).
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

import ndestudio.core.solvers.fast.scripted as scripted
from ndestudio.core.control import StopRequested
from ndestudio.core.solvers.failure import SolverFailure
from ndestudio.core.solvers.fast.cde import PathControl
from ndestudio.core.solvers.fast.mlp import FastMLP, Gradients, Record
from ndestudio.core.solvers.fast.tableaus import Tableau
from ndestudio.core.solvers.stats import Probe

Tensor = torch.Tensor

STEPS_PER_CALL = 8  # at most this many fixed steps per scripted call (a stop lands between)
CALL_SECONDS = 0.01  # and no more than take about this long


class _Chunks:
    """How many fixed steps the next scripted call takes: as many as fit in
    :data:`CALL_SECONDS` at the pace of the calls so far (one to begin with), at most
    :data:`STEPS_PER_CALL`, so that a stop lands within ~10 ms even on a huge batch."""

    def __init__(self) -> None:
        self.size = 1
        self._started = 0.0

    def start(self) -> int:
        self._started = time.perf_counter()
        return self.size

    def done(self, steps: int) -> None:
        per_step = (time.perf_counter() - self._started) / max(steps, 1)
        fits = int(CALL_SECONDS / per_step) if per_step > 0 else STEPS_PER_CALL
        self.size = max(1, min(STEPS_PER_CALL, fits))


# torchdiffeq's step-size controller constants.
_SAFETY, _IFACTOR, _DFACTOR = 0.9, 10.0, 0.2


@dataclass
class _Step:
    """One accepted step: what the backward pass needs of it."""

    t0: float
    dt: float
    t1: float
    y0: Tensor
    y1: Tensor
    f1: Tensor | None  # the field at y1 (adaptive methods: their last stage)
    records: list[Record]
    outputs: list[tuple[int, float]] = field(default_factory=list)  # (output index, x)
    # Adaptive methods: the stacked stages and the step in the state's dtype; once an output
    # time falls in the step, its dense output as one linear map of the columns
    # ``[y0, y1, k_0 … k_last]`` (flattened: (batch·C, 2 + stages)), by the outputs'
    # coefficients (outputs, 2 + stages).
    k: Tensor | None = None
    dt_y: float = math.nan  # dt rounded to the state's dtype, as torchdiffeq steps with it
    columns: Tensor | None = None
    coefficients: Tensor | None = None


class _Solve:
    """What fixed and adaptive solves share: the field, the tableau, counting, stopping."""

    def __init__(self, mlp: FastMLP, tableau: Tableau, times: list[float], probe: Probe) -> None:
        self.mlp = mlp
        self.tableau = tableau
        self.times = times
        self.probe = probe
        self.stats = probe.stats
        self.steps: list[_Step] = []

    def _check_stop(self) -> None:
        if self.probe.stop_requested():
            raise StopRequested

    def _count_forward(self, evaluations: int) -> None:
        if not self.stats.in_backward:
            self.stats.nfe_forward += evaluations


class FixedSolve(_Solve):
    """euler, midpoint, heun2, heun3, rk4 on torchdiffeq's grid: ``step_size`` from ``t[0]``,
    the last point moved onto ``t[-1]``; outputs interpolated linearly within a step.
    ``control``: for a neural CDE, its path's derivative at the evaluations on a grid
    (:class:`~ndestudio.core.solvers.fast.cde.PathControl`)."""

    def __init__(
        self,
        mlp: FastMLP,
        tableau: Tableau,
        times: Tensor,
        step_size: float,
        probe: Probe,
        control: Callable[[Tensor], PathControl] | None = None,
    ) -> None:
        super().__init__(mlp, tableau, times.tolist(), probe)
        start, end = times[0], times[-1]
        count = torch.ceil((end - start) / step_size + 1).item()
        grid = torch.arange(0, count, dtype=times.dtype, device=times.device) * step_size + start
        grid[-1] = end
        self.control = control(grid) if control is not None else None
        self.grid = grid.tolist()
        self.dts = (grid[1:] - grid[:-1]).tolist()  # in the times' dtype, as torchdiffeq steps

    def forward(self, y0: Tensor, keep: bool) -> list[Tensor]:
        """``y`` at every output time; a few steps per scripted call (:class:`_Chunks`),
        checking for a stop between calls."""
        tableau, times, dts = self.tableau, self.times, self.dts
        a = [list(row) for row in tableau.a]
        b, c = list(tableau.b), list(tableau.c)
        outs = [y0]
        j = 1
        y = y0
        done = 0
        try:
            chunks = _Chunks()
            while done < len(dts):
                self._check_stop()
                hi = min(done + chunks.start(), len(dts))
                states, records = scripted.compiled().fixed_forward(
                    y,
                    self.grid[done:hi],
                    dts[done:hi],
                    a,
                    b,
                    c,
                    *self.mlp.forward_args,
                    keep,
                    self._controls(done, hi),
                )
                chunks.done(hi - done)
                self._count_forward((hi - done) * tableau.stages)
                for n in range(done, hi):
                    t0, t1, y1 = self.grid[n], self.grid[n + 1], states[n - done]
                    step = None
                    if keep:
                        first = (n - done) * tableau.stages
                        kept = records[first : first + tableau.stages]
                        step = _Step(t0, dts[n], t1, y, y1, None, kept)
                        self.steps.append(step)
                    while j < len(times) and t1 >= times[j]:
                        t = times[j]
                        x = 0.0 if t == t0 else 1.0 if t == t1 else (t - t0) / (t1 - t0)
                        outs.append(y if x == 0.0 else y1 if x == 1.0 else torch.lerp(y, y1, x))
                        if step is not None:
                            step.outputs.append((j, x))
                        j += 1
                    y = y1
                done = hi
        finally:
            if not self.stats.in_backward:
                self.stats.add_steps(dts[:done], self.grid[:done])
        return outs

    def _controls(self, lo: int, hi: int) -> Tensor | None:
        return self.control.steps(lo, hi) if self.control is not None else None

    def backward(self, g_out: Tensor, gradients: Gradients) -> Tensor:
        """The adjoint of ``y0``; parameter gradients go into ``gradients``. Runs a few steps
        per scripted call (:class:`_Chunks`), checking for a stop between calls."""
        tableau = self.tableau
        stages = tableau.stages
        records = [record for step in self.steps for record in step.records]
        out_start, out_index, out_x = [0], [], []
        for step in self.steps:
            for j, x in step.outputs:
                out_index.append(j)
                out_x.append(x)
            out_start.append(len(out_index))
        dts = [step.dt for step in self.steps]
        a = [list(row) for row in tableau.a]
        b = list(tableau.b)
        mlp_args = gradients.vjp_args
        y_bar = torch.zeros_like(g_out[0])
        hi = len(self.steps)
        chunks = _Chunks()
        while hi > 0:
            self._check_stop()
            lo = max(0, hi - chunks.start())
            first, last = out_start[lo], out_start[hi]
            y_bar = scripted.compiled().fixed_backward(
                g_out,
                y_bar,
                records[lo * stages : hi * stages],
                dts[lo:hi],
                [n - first for n in out_start[lo : hi + 1]],
                out_index[first:last],
                out_x[first:last],
                a,
                b,
                *mlp_args,
                self._controls(lo, hi),
            )
            chunks.done(hi - lo)
            self.stats.nfe_backward += (hi - lo) * tableau.stages
            hi = lo
        return y_bar + g_out[0]


@cache
def _stage_table(tableau: Tableau, dtype: torch.dtype, device: torch.device) -> Tensor:
    """An adaptive tableau's stage rows, padded with zeros, and its error weights below them
    ((stages, stages)), in the state's dtype, cast from float64 as torchdiffeq casts them
    (once per dtype and device)."""
    table = torch.zeros(tableau.stages, tableau.stages, dtype=torch.float64)
    for i, row in enumerate(tableau.a):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.float64)
    table[-1] = torch.tensor(tableau.error, dtype=torch.float64)
    return table.to(dtype=dtype, device=device)


def _stage_times(tableau: Tableau, t0: float, dt: float, dtype: torch.dtype) -> list[float]:
    """The times of stages 1, 2, … of a step, as torchdiffeq computes them: in the state's
    dtype, ``t0 + c_i dt``, and just before ``t1 = t0 + dt`` (``nextafter``) for stages at
    the step's end (torchdiffeq's ``Perturb.PREV``). In float32 and float64 with NumPy's and
    Python's scalars (the same IEEE operations, without a tensor's cost)."""
    if dtype in _SCALARS:
        scalar = _SCALARS[dtype]
        start, size, end = scalar(t0), scalar(dt), scalar(t0 + dt)
        before_end = float(np.nextafter(end, scalar(-math.inf)))
        return [before_end if c == 1.0 else float(start + scalar(c) * size) for c in tableau.c]
    fractions, at_end = _stage_fractions(tableau, dtype)
    start_t, size_t, end_t = (
        torch.tensor(v, dtype=torch.float64).to(dtype) for v in (t0, dt, t0 + dt)
    )
    times = torch.where(at_end, torch.nextafter(end_t, end_t - 1), start_t + fractions * size_t)
    return times.tolist()


_SCALARS: dict[torch.dtype, type] = {torch.float32: np.float32, torch.float64: np.float64}


@cache
def _stage_fractions(tableau: Tableau, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    fractions = torch.tensor(tableau.c, dtype=torch.float64).to(dtype)
    return fractions, fractions == 1.0


def _rounded(x: float, dtype: torch.dtype) -> float:
    """``x`` rounded to ``dtype`` (a Python float: a tensor scalar costs two operations)."""
    if dtype == torch.float64:
        return x
    if dtype == torch.float32:
        return struct.unpack("f", struct.pack("f", x))[0]
    return torch.tensor(x, dtype=torch.float64).to(dtype).item()


def _torch_min(a: float, b: float) -> float:
    """``torch.min`` of two scalars: NaN if either is."""
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def _torch_max(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def _next_step(dt: float, ratio: float, order: int) -> float:
    """torchdiffeq's ``_optimal_step_size``."""
    if ratio == 0:
        return dt * _IFACTOR
    dfactor = 1.0 if ratio < 1 else _DFACTOR
    return dt * _torch_min(_IFACTOR, _torch_max(_SAFETY / ratio ** (1.0 / order), dfactor))


def _dense_weights(x: float) -> tuple[float, float, float, float, float]:
    """Weights of y0, y1, the mid-point, dt·f0 and dt·f1 in torchdiffeq's quartic dense
    output at ``x`` ∈ [0, 1] of a step."""
    x2, x3, x4 = x * x, x**3, x**4
    return (
        1 - 11 * x2 + 18 * x3 - 8 * x4,
        -5 * x2 + 14 * x3 - 8 * x4,
        16 * x2 - 32 * x3 + 16 * x4,
        x - 4 * x2 + 5 * x3 - 2 * x4,
        x2 - 3 * x3 + 2 * x4,
    )


def _dense_slopes(x: float) -> tuple[float, float, float, float, float]:
    """d/dx of :func:`_dense_weights`."""
    x2, x3 = x * x, x**3
    return (
        -22 * x + 54 * x2 - 32 * x3,
        -10 * x + 42 * x2 - 32 * x3,
        32 * x - 96 * x2 + 64 * x3,
        1 - 8 * x + 15 * x2 - 8 * x3,
        2 * x - 9 * x2 + 8 * x3,
    )


class AdaptiveSolve(_Solve):
    """dopri5, bosh3 with torchdiffeq's step-size control and dense output.

    The steps are taken in torchdiffeq's arithmetic, bit for bit; the output times that fall
    in a step are interpolated together, as one product of their weights and the step's
    five dense-output vectors (y0, y1, the mid-point, dt·f0, dt·f1), which only rounds
    differently from torchdiffeq's polynomial and moves no step.
    """

    def __init__(
        self,
        mlp: FastMLP,
        tableau: Tableau,
        times: Tensor,
        probe: Probe,
        *,
        rtol: float,
        atol: float,
        min_step: float,
        max_num_steps: int,
    ) -> None:
        super().__init__(mlp, tableau, times.double().tolist(), probe)
        self.rtol, self.atol = rtol, atol
        self.min_step, self.max_step = min_step, math.inf
        self.max_num_steps = max_num_steps
        self.first_accepted = False  # the first step tried was accepted: times follow h
        self.first_step = math.nan
        self._table: Tensor | None = None  # (_stage_table, looked up once per solve)

    def forward(self, y0: Tensor, f0: Tensor, h: float, keep: bool) -> Tensor:
        """``y`` at every output time, (T, *y0.shape)."""
        times, stats = self.times, self.stats
        result = torch.empty(len(times), *y0.shape, dtype=y0.dtype, device=y0.device)
        result[0] = y0
        y, f, t_now, dt = y0, f0, times[0], h
        last: _Step | None = None
        attempts = 0
        sizes: list[float] = []
        starts: list[float] = []
        try:
            for j in range(1, len(times)):
                target = times[j]
                n_steps = 0
                while target > t_now:
                    if n_steps >= self.max_num_steps:
                        raise SolverFailure(
                            f"max_num_steps exceeded ({n_steps}>={self.max_num_steps})"
                        )
                    self._check_stop()
                    if not math.isfinite(dt):
                        dt = self.min_step
                    dt = min(max(dt, self.min_step), self.max_step)
                    if not t_now + dt > t_now:
                        raise SolverFailure(f"underflow in dt {dt}")
                    if attempts == 0 and not bool(torch.isfinite(y0).all()):
                        # (accepted states are finite: a non-finite one fails its error test)
                        raise SolverFailure(f"non-finite values in state `y`: {y0}")
                    step, ratio = self._try_step(y, f, t_now, dt, keep)
                    if ratio <= 1 or dt <= self.min_step:
                        if attempts == 0:
                            self.first_accepted = True
                        if last is not None:
                            self._interpolate(last, result)
                        last = step
                        if keep:
                            self.steps.append(step)
                        sizes.append(dt)
                        starts.append(t_now)
                        assert step.f1 is not None
                        y, f, t_now = step.y1, step.f1, step.t1
                    elif not stats.in_backward:
                        stats.rejected_steps += 1
                    attempts += 1
                    dt = _next_step(dt, ratio, self.tableau.order)
                    dt = min(max(dt, self.min_step), self.max_step)
                    n_steps += 1
                assert last is not None
                last.outputs.append((j, (target - last.t0) / (last.t1 - last.t0)))
            assert last is not None
            self._interpolate(last, result)
        finally:
            if not stats.in_backward:
                stats.add_steps(sizes, starts)
        return result

    def _try_step(
        self, y: Tensor, f: Tensor, t0: float, dt: float, keep: bool
    ) -> tuple[_Step, float]:
        """One Runge–Kutta step and its error ratio, in torchdiffeq's arithmetic (its stage
        sums over a stacked ``k``, its step in the state's dtype): float32 solves then take
        the very steps that torchdiffeq takes."""
        dt_y = _rounded(dt, y.dtype)
        if self._table is None:
            self._table = _stage_table(self.tableau, y.dtype, y.device)
        times = _stage_times(self.tableau, t0, dt, y.dtype) if self.mlp.time_input else []
        k, stage, f1, ratio, records = scripted.compiled().adaptive_step(
            y.detach(),
            f.detach(),
            dt_y,
            self._table,
            self.rtol,
            self.atol,
            *self.mlp.forward_args,
            keep,
            times,
        )
        self._count_forward(self.tableau.stages - 1)
        step = _Step(t0, dt, t0 + dt, y, stage, f1, records)
        step.k = k
        step.dt_y = dt_y
        return step, ratio

    def _interpolate(self, step: _Step, result: Tensor) -> None:
        """Write the dense output of ``step`` at its output times into ``result``: one product
        of the outputs' coefficients and the step's columns ``[y0, y1, k_0 … k_last]``, which
        the backward pass uses again (the same map as torchdiffeq's polynomial through the
        step's mid-point, rounded differently)."""
        if not step.outputs:
            return
        assert step.k is not None
        y0, k = step.y0, step.k
        columns = torch.cat([y0.reshape(-1, 1), step.y1.reshape(-1, 1), k.view(-1, k.shape[-1])], 1)
        rows = [self._coefficients(step, x) for _, x in step.outputs]
        coefficients = torch.tensor(rows, dtype=y0.dtype, device=y0.device)
        step.columns, step.coefficients = columns, coefficients
        first, count = step.outputs[0][0], len(step.outputs)
        result[first : first + count] = (coefficients @ columns.t()).view(count, *y0.shape)

    def _coefficients(self, step: _Step, x: float) -> list[float]:
        """The dense output at ``x`` of ``step`` as weights of ``[y0, y1, k_0 … k_last]``:
        ``w_y0 y0 + w_y1 y1 + w_mid mid + dt (w_f0 k_0 + w_f1 k_last)``, the mid-point being
        ``y0 + dt Σ m_j k_j``."""
        wy0, wy1, wmid, wf0, wf1 = _dense_weights(x)
        of_stages = [wmid * m * step.dt_y for m in self.tableau.mid]
        of_stages[0] += wf0 * step.dt
        of_stages[-1] += wf1 * step.dt
        return [wy0 + wmid, wy1, *of_stages]

    def _output_times_adjoint(self, step: _Step, inner: list[list[float]], first: bool) -> float:
        """``dL/dh`` through the places ``x = (t − t0) / (t1 − t0)`` of the output times in
        ``step`` and, in the first step (``t1 = t0 + h``), through ``h`` as the factor of its
        slopes and of its mid-point's sum. ``inner[o][v]``: output ``o``'s adjoint dotted
        with column ``v`` of ``[y0, y1, k_0 … k_last]``. (Python floats: a few per output.)"""
        dt, dt_y, mid = step.dt, step.dt_y, self.tableau.mid
        total = 0.0
        for (_, x), q in zip(step.outputs, inner, strict=True):
            of_y0, of_y1, of_f0, of_f1 = q[0], q[1], q[2], q[-1]
            of_mid = of_y0 + dt_y * sum(m * of_k for m, of_k in zip(mid, q[2:], strict=True))
            s0, s1, smid, sf0, sf1 = _dense_slopes(x)
            x_bar = s0 * of_y0 + s1 * of_y1 + smid * of_mid + dt * (sf0 * of_f0 + sf1 * of_f1)
            if first:  # dx/dh = -x / h, and h scales the slopes and the mid-point's sum
                _, _, wmid, wf0, wf1 = _dense_weights(x)
                total -= x_bar * x / dt
                total += wf0 * of_f0 + wf1 * of_f1 + wmid * (of_mid - of_y0) / dt
            else:  # both ends move with h: dx/dh = -1 / dt
                total -= x_bar / dt
        return total

    def backward(
        self, g_out: Tensor, gradients: Gradients, h_needed: bool
    ) -> tuple[Tensor, Tensor | None, float | None]:
        """Adjoints of ``y0``, ``f0`` and the first step size (None where nothing depends on
        it); parameter gradients go into ``gradients``."""
        tableau = self.tableau
        y_bar = torch.zeros_like(g_out[0])
        k_next: Tensor | None = None  # the adjoint of the next step's first stage
        h_bar = 0.0
        h_path = h_needed and self.first_accepted
        rows = [list(row) for row in tableau.a]
        mlp_args = gradients.vjp_args
        for index in range(len(self.steps) - 1, -1, -1):
            step = self.steps[index]
            self._check_stop()
            first = index == 0
            g: Tensor | None = None
            if step.outputs:
                j0, count = step.outputs[0][0], len(step.outputs)
                g = g_out[j0 : j0 + count].reshape(count, -1)
            total, k_first_bar, time_bars, inner, stretch = (
                scripted.compiled().adaptive_step_backward(
                    g,
                    step.coefficients,
                    step.columns,
                    k_next,
                    y_bar,  # (the adjoint of the step's result, the last stage's input)
                    step.records,
                    rows,
                    step.dt,
                    *mlp_args,
                    h_path,
                    step.y0 if h_path and first else None,
                )
            )
            dt_bar = 0.0
            if inner is not None:
                moved = self._output_times_adjoint(step, inner.tolist(), first)
                if first:
                    dt_bar += moved
                else:
                    h_bar += moved
            self.stats.nfe_backward += len(rows)
            if stretch is not None:  # the first step's stage inputs: y0 + h Σ a_ij k_j
                dt_bar += float(stretch) / step.dt
            if h_path and time_bars:
                # A field of the time: stage i of the first step is at t0 + c_i h, every
                # later step's stages move with h as a whole.
                by_time = torch.stack(time_bars).tolist()  # (one transfer from a GPU)
                if first:
                    dt_bar += sum(c * bar for c, bar in zip(tableau.c, by_time, strict=True))
                else:
                    h_bar += sum(by_time)
            if h_path and first:
                h_bar += dt_bar
            y_bar = total
            k_next = k_first_bar
        h_grad = h_bar if h_path else None
        return y_bar + g_out[0], k_next, h_grad
