"""ODE and SDE solvers written in TorchScript, step for step the arithmetic of torchdiffeq and
torchsde, so that an exported file solves exactly as training did, without those libraries.

Kept free of ``from __future__ import annotations``: TorchScript reads these annotations.
Every time-like quantity and every expression follows the reference libraries' order of
operations and dtypes (torchdiffeq keeps adaptive times in float64 and casts them to the state's
dtype inside a step), which is what makes float64 results agree to rounding and float32 results
take the same steps.
"""

import torch
from torch import Tensor, nn

from ndestudio.core.solvers.fast.tableaus import TABLEAUS

FIXED_ODE_METHODS = ("euler", "midpoint", "rk4")
ADAPTIVE_ODE_METHODS = ("dopri5",)

# torchdiffeq's Perturb enum (evaluate at, just before, just after a time) is passed as the
# literals 0, 1, 2: TorchScript cannot read module-level names.

# Dormand–Prince 5(4), as torchdiffeq's Dopri5Solver: stage times, stage weights, error weights
# and the weights of the mid-point used by the dense output.
DOPRI5 = TABLEAUS["dopri5"]
DOPRI5_ALPHA = list(DOPRI5.c)
DOPRI5_BETA = [list(row) for row in DOPRI5.a]
DOPRI5_C_ERROR = list(DOPRI5.error)
DOPRI5_MID = list(DOPRI5.mid)


# Scalars are made with torch.full: in TorchScript, torch.tensor(0.9, dtype=torch.float64)
# rounds 0.9 through float32 (torch 2.13), which moved step sizes by ~1e-8 relative.


def _rms_norm(x: Tensor) -> Tensor:
    return x.abs().pow(2).mean().sqrt()


def _check_times(t: Tensor) -> bool:
    """Validate a 1-D output grid; return whether it runs backwards in time."""
    if t.dim() != 1 or t.numel() < 1:
        raise ValueError("t must be a 1-D tensor of output times")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t holds NaN or infinite times")
    if t.numel() == 1:
        return False
    diff = t[1:] > t[:-1]
    if not (bool(diff.all()) or bool((~diff).all())):
        raise ValueError("t must be strictly increasing or strictly decreasing")
    reverse = bool(t[0] > t[1])
    if reverse and not bool((t[1:] < t[:-1]).all()):
        raise ValueError("t must be strictly increasing or strictly decreasing")
    return reverse


class ODESolver(nn.Module):
    """Solves ``dy/dt = field(t, y, ctx)`` with one of ``euler``, ``midpoint``, ``rk4`` (fixed
    step, torchdiffeq's grid and linear output interpolation) or ``dopri5`` (torchdiffeq's
    error control, initial step selection and 4th-order dense output).

    ``ctx`` carries per-call tensors the field needs (a CDE's path coefficients); ``jump_t``
    lists times where the field is discontinuous, which the adaptive solver steps onto.
    """

    alpha: Tensor
    beta: Tensor
    c_error: Tensor
    mid: Tensor

    def __init__(
        self,
        field: nn.Module,
        method: str,
        rtol: float,
        atol: float,
        step_size: float,
        min_step: float,
        max_num_steps: int,
    ) -> None:
        super().__init__()
        if method not in FIXED_ODE_METHODS + ADAPTIVE_ODE_METHODS:
            raise ValueError(f"method {method!r} cannot be exported")
        self.field = field
        self.method = method
        self.rtol = rtol
        self.atol = atol
        self.step_size = step_size
        self.min_step = min_step
        self.max_num_steps = max_num_steps
        # The tableau in float64, cast to the state's dtype per solve as torchdiffeq does.
        beta = torch.zeros(6, 6, dtype=torch.float64)
        for i, row in enumerate(DOPRI5_BETA):
            beta[i, : len(row)] = torch.tensor(row, dtype=torch.float64)
        self.register_buffer("alpha", torch.tensor(DOPRI5_ALPHA, dtype=torch.float64))
        self.register_buffer("beta", beta)
        self.register_buffer("c_error", torch.tensor(DOPRI5_C_ERROR, dtype=torch.float64))
        self.register_buffer("mid", torch.tensor(DOPRI5_MID, dtype=torch.float64))

    def _f(self, t: Tensor, y: Tensor, ctx: list[Tensor], sign: float, perturb: int) -> Tensor:
        # torchdiffeq: time cast to the state's dtype, nudged across a discontinuity if asked,
        # and for a backwards solve the field of the time-reversed problem.
        t = t.to(y.dtype)
        if perturb == 2:
            t = torch.nextafter(t, t + 1)
        elif perturb == 1:
            t = torch.nextafter(t, t - 1)
        if sign < 0:
            return -1.0 * self.field(-t, y, ctx)
        return self.field(t, y, ctx)

    def solve(
        self, y0: Tensor, t: Tensor, ctx: list[Tensor], jump_t: Tensor | None
    ) -> tuple[Tensor, int]:
        """``y`` at each time of ``t`` (T, *y0.shape) and the number of field evaluations."""
        reverse = _check_times(t)
        sign = -1.0 if reverse else 1.0
        if reverse:
            t = -t
            if jump_t is not None:
                jump_t = -jump_t
        if self.method == "dopri5":
            return self._dopri5(y0, t, ctx, jump_t, sign)
        # Told of jumps (a CDE's knots), a fixed step evaluates its ends on its own side of
        # them, as torchdiffeq's ``perturb`` option does.
        return self._fixed(y0, t, ctx, sign, jump_t is not None)

    # ----------------------------------------------------------------- fixed-step solvers
    def _fixed(
        self, y0: Tensor, t: Tensor, ctx: list[Tensor], sign: float, perturb: bool
    ) -> tuple[Tensor, int]:
        t = t.to(y0.dtype)
        solution = torch.empty([t.numel()] + list(y0.shape), dtype=y0.dtype, device=y0.device)
        solution[0] = y0
        if t.numel() == 1:
            return solution, 0
        start = t[0]
        end = t[-1]
        n = int(torch.ceil((end - start) / self.step_size + 1).item())
        grid = torch.arange(0, n, dtype=t.dtype, device=t.device) * self.step_size + start
        grid[-1] = t[-1]
        nfe = 0
        j = 1
        y = y0
        for i in range(n - 1):
            t0 = grid[i]
            t1 = grid[i + 1]
            dt = t1 - t0
            dy, calls = self._fixed_step(t0, dt, t1, y, ctx, sign, perturb)
            nfe += calls
            y1 = y + dy
            while j < t.numel() and bool(t1 >= t[j]):
                solution[j] = _linear_interp(t0, t1, y, y1, t[j])
                j += 1
            y = y1
        return solution, nfe

    def _fixed_step(
        self,
        t0: Tensor,
        dt: Tensor,
        t1: Tensor,
        y0: Tensor,
        ctx: list[Tensor],
        sign: float,
        perturb: bool,
    ) -> tuple[Tensor, int]:
        f0 = self._f(t0, y0, ctx, sign, 2 if perturb else 0)
        if self.method == "euler":
            return dt * f0, 1
        if self.method == "midpoint":
            half_dt = 0.5 * dt
            y_mid = y0 + f0 * half_dt
            return dt * self._f(t0 + half_dt, y_mid, ctx, sign, 0), 2
        # torchdiffeq's "rk4" is the 3/8-rule variant (rk4_alt_step_func).
        one_third = 1 / 3
        two_thirds = 2 / 3
        k1 = f0
        k2 = self._f(t0 + dt * one_third, y0 + dt * k1 * one_third, ctx, sign, 0)
        k3 = self._f(t0 + dt * two_thirds, y0 + dt * (k2 - k1 * one_third), ctx, sign, 0)
        k4 = self._f(t1, y0 + dt * (k1 - k2 + k3), ctx, sign, 1 if perturb else 0)
        return (k1 + 3 * (k2 + k3) + k4) * dt * 0.125, 4

    # ------------------------------------------------------------------ Dormand–Prince 5(4)
    def _dopri5(
        self, y0: Tensor, t: Tensor, ctx: list[Tensor], jump_t: Tensor | None, sign: float
    ) -> tuple[Tensor, int]:
        tdtype = torch.float64
        device = y0.device
        t = t.to(tdtype)
        solution = torch.empty([t.numel()] + list(y0.shape), dtype=y0.dtype, device=device)
        solution[0] = y0
        rtol = torch.full([], self.rtol, dtype=tdtype, device=device)
        atol = torch.full([], self.atol, dtype=tdtype, device=device)
        min_step = torch.full([], self.min_step, dtype=tdtype, device=device)
        max_step = torch.full([], float("inf"), dtype=tdtype, device=device)
        alpha = self.alpha.to(dtype=y0.dtype, device=device)
        beta: list[Tensor] = []
        for i in range(6):
            beta.append(self.beta[i, : i + 1].to(dtype=y0.dtype, device=device))
        c_error = self.c_error.to(dtype=y0.dtype, device=device)
        mid = self.mid.to(dtype=y0.dtype, device=device)

        t0 = t[0]
        f0 = self._f(t0, y0, ctx, sign, 0)
        nfe = 1
        dt = self._initial_step(t0, y0, f0, rtol, atol, ctx, sign)
        nfe += 1
        t1 = t0
        y = y0
        coeffs = [y0, y0, y0, y0, y0]

        if jump_t is None:
            jumps = torch.empty(0, dtype=tdtype, device=device)
        else:
            jumps = jump_t.to(tdtype)
            jumps = torch.sort(jumps[jumps >= t0]).values
        n_jumps = jumps.numel()
        jump_index = min(int((jumps <= t0).sum()), n_jumps - 1)

        for i in range(1, t.numel()):
            next_t = t[i]
            n_steps = 0
            while bool(next_t > t1):
                if n_steps >= self.max_num_steps:
                    raise RuntimeError(
                        "max_num_steps exceeded: the adaptive solver took "
                        + str(n_steps)
                        + " steps between two output times; the dynamics may be stiff here: "
                        "raise max_num_steps or the tolerances"
                    )
                n_steps += 1
                step_t0 = t1
                if not bool(torch.isfinite(dt)):
                    dt = min_step
                dt = dt.clamp(min_step, max_step)
                if not bool(step_t0 + dt > step_t0):
                    raise RuntimeError("underflow in dt " + str(dt.item()))
                if not bool(torch.isfinite(y).all()):
                    raise RuntimeError("non-finite values in the state")
                step_t1 = step_t0 + dt
                on_jump = False
                if n_jumps > 0:
                    next_jump = jumps[jump_index]
                    # A step that lands exactly on the jump is taken as onto it (torchdiffeq
                    # 0.2.5 would lose track of every later jump: solvers/jumps.py).
                    on_jump = bool(step_t0 < next_jump) and bool(next_jump <= step_t0 + dt)
                    if on_jump:
                        step_t1 = next_jump
                        dt = step_t1 - step_t0
                y1, f1, y1_error, k = self._rk_step(
                    y, f0, step_t0, dt, step_t1, alpha, beta, c_error, ctx, sign
                )
                nfe += 6
                error_tol = atol + rtol * torch.max(y.abs(), y1.abs())
                error_ratio = _rms_norm(y1_error / error_tol).abs()
                accept = bool(error_ratio <= 1)
                if bool(dt > max_step):
                    accept = False
                if bool(dt <= min_step):
                    accept = True
                if accept:
                    coeffs = _interp_fit(y, y1, k, dt, mid)
                    if on_jump:
                        if jump_index != n_jumps - 1:
                            jump_index += 1
                        f1 = self._f(step_t1, y1, ctx, sign, 2)
                        nfe += 1
                    y = y1
                    f0 = f1
                    t1 = step_t1
                t0 = step_t0
                dt = _optimal_step_size(dt, error_ratio).clamp(min_step, max_step)
            solution[i] = _interp_evaluate(coeffs, t0, t1, next_t)
        return solution, nfe

    def _initial_step(
        self,
        t0: Tensor,
        y0: Tensor,
        f0: Tensor,
        rtol: Tensor,
        atol: Tensor,
        ctx: list[Tensor],
        sign: float,
    ) -> Tensor:
        # Hairer, Nørsett & Wanner, Sec. II.4, as torchdiffeq's _select_initial_step (order 4).
        scale = atol + torch.abs(y0) * rtol
        d0 = _rms_norm(y0 / scale).abs()
        d1 = _rms_norm(f0 / scale).abs()
        if bool(d0 < 1e-5) or bool(d1 < 1e-5):
            h0 = torch.full([], 1e-6, dtype=y0.dtype, device=y0.device)
        else:
            h0 = 0.01 * d0 / d1
        h0 = h0.abs()
        y1 = y0 + h0 * f0
        f1 = self._f(t0 + h0, y1, ctx, sign, 0)
        d2 = torch.abs(_rms_norm((f1 - f0) / scale) / h0)
        if bool(d1 <= 1e-15) and bool(d2 <= 1e-15):
            h1 = torch.max(torch.full([], 1e-6, dtype=y0.dtype, device=y0.device), h0 * 1e-3)
        else:
            dmax = d2 if bool(d2 > d1) else d1
            # `0.01 / d` in eager Python is `d.reciprocal() * 0.01`: written out to match.
            h1 = (dmax.reciprocal() * 0.01) ** (1.0 / 5.0)
        h1 = h1.abs()
        return torch.min(100 * h0, h1).to(t0.dtype)

    def _rk_step(
        self,
        y0: Tensor,
        f0: Tensor,
        t0: Tensor,
        dt: Tensor,
        t1: Tensor,
        alpha: Tensor,
        beta: list[Tensor],
        c_error: Tensor,
        ctx: list[Tensor],
        sign: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        t0 = t0.to(y0.dtype)
        dt = dt.to(y0.dtype)
        t1 = t1.to(y0.dtype)
        k = torch.empty(list(f0.shape) + [7], dtype=y0.dtype, device=y0.device)
        k[..., 0] = f0
        yi = y0
        for i in range(6):
            alpha_i = alpha[i]
            if bool(alpha_i == 1.0):
                ti = t1
                perturb = 1
            else:
                ti = t0 + alpha_i * dt
                perturb = 0
            yi = y0 + torch.sum(k[..., : i + 1] * (beta[i] * dt), dim=-1).view_as(f0)
            k[..., i + 1] = self._f(ti, yi, ctx, sign, perturb)
        # Dormand–Prince's last stage is the solution (first same as last).
        y1_error = torch.sum(k * (dt * c_error), dim=-1)
        return yi, k[..., -1], y1_error, k


def _linear_interp(t0: Tensor, t1: Tensor, y0: Tensor, y1: Tensor, t: Tensor) -> Tensor:
    if bool(t == t0):
        return y0
    if bool(t == t1):
        return y1
    slope = (t - t0) / (t1 - t0)
    return y0 + slope * (y1 - y0)


def _optimal_step_size(last_step: Tensor, error_ratio: Tensor) -> Tensor:
    # torchdiffeq's controller: safety 0.9, growth at most 10x, shrink at least 0.2x, order 5.
    ifactor = torch.full([], 10.0, dtype=last_step.dtype, device=last_step.device)
    safety = torch.full([], 0.9, dtype=last_step.dtype, device=last_step.device)
    dfactor = torch.full([], 0.2, dtype=last_step.dtype, device=last_step.device)
    if bool(error_ratio == 0):
        return last_step * ifactor
    if bool(error_ratio < 1):
        dfactor = torch.ones((), dtype=last_step.dtype, device=last_step.device)
    error_ratio = error_ratio.type_as(last_step)
    exponent = torch.full([], 5, dtype=last_step.dtype, device=last_step.device).reciprocal()
    factor = torch.min(ifactor, torch.max(safety / error_ratio**exponent, dfactor))
    return last_step * factor


def _interp_fit(y0: Tensor, y1: Tensor, k: Tensor, dt: Tensor, mid: Tensor) -> list[Tensor]:
    dt = dt.type_as(y0)
    y_mid = y0 + torch.sum(k * (dt * mid), dim=-1).view_as(y0)
    f0 = k[..., 0]
    f1 = k[..., -1]
    a = 2 * dt * (f1 - f0) - 8 * (y1 + y0) + 16 * y_mid
    b = dt * (5 * f0 - 3 * f1) + 18 * y0 + 14 * y1 - 32 * y_mid
    c = dt * (f1 - 4 * f0) - 11 * y0 - 5 * y1 + 16 * y_mid
    d = dt * f0
    e = y0
    return [e, d, c, b, a]


def _interp_evaluate(coefficients: list[Tensor], t0: Tensor, t1: Tensor, t: Tensor) -> Tensor:
    x = (t - t0) / (t1 - t0)
    x = x.to(coefficients[0].dtype)
    total = coefficients[0] + x * coefficients[1]
    x_power = x
    for coefficient in coefficients[2:]:
        x_power = x_power * x
        total = total + x_power * coefficient
    return total
