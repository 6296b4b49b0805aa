"""``solve_sde``: the one entry point to torchsde."""

from __future__ import annotations

import math
from typing import Any

import torch
import torchsde
from torch import nn

from ndestudio.core.solvers.stats import Probe
from ndestudio.core.specs import SolverSpec

_LEVY_AREA = {"srk": "space-time", "log_ode": "foster"}


class _InstrumentedSDE(nn.Module):
    """Counts drift and diffusion evaluations (each one is one evaluation) and checks for a stop."""

    def __init__(self, sde: nn.Module, probe: Probe) -> None:
        super().__init__()
        self.sde: Any = sde
        self.probe = probe
        self.noise_type = sde.noise_type
        self.sde_type = sde.sde_type

    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.probe.on_forward()
        return self.probe.watch(self.sde.f(t, y))

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.probe.on_forward()
        return self.probe.watch(self.sde.g(t, y))


def brownian_motion(
    ts: torch.Tensor,
    batch: int,
    size: int,
    *,
    method: str,
    seed: int | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torchsde.BrownianInterval:
    """A Brownian motion over ``[ts[0], ts[-1]]``; a seed makes the noise reproducible."""
    return torchsde.BrownianInterval(
        t0=float(ts[0]),
        t1=float(ts[-1]),
        size=(batch, size),
        dtype=dtype,
        device=device,
        entropy=seed,
        levy_area_approximation=_LEVY_AREA.get(method, "none"),
    )


def solve_sde(
    sde: nn.Module,
    y0: torch.Tensor,
    ts: torch.Tensor,
    spec: SolverSpec,
    *,
    brownian_size: int,
    seed: int | None = None,
    probe: Probe | None = None,
) -> torch.Tensor:
    """Solve the SDE ``sde`` (with ``f``, ``g``, ``noise_type``, ``sde_type``) at times ``ts``.

    Returns (T, batch, state). Fixed step ``spec.step_size``. ``spec.gradient``: backprop
    through the solver, the stochastic adjoint, or reversible Heun's exact adjoint.
    """
    probe = probe or Probe()
    wrapped = _InstrumentedSDE(sde, probe)
    ts = ts.to(dtype=y0.dtype, device=y0.device)
    bm = brownian_motion(
        ts,
        y0.shape[0],
        brownian_size,
        method=spec.method,
        seed=seed,
        dtype=y0.dtype,
        device=y0.device,
    )
    dt = float(spec.step_size or 0.0)
    if not probe.stats.in_backward:
        span = float(ts[-1] - ts[0])
        probe.stats.add_step(torch.full((max(1, math.ceil(span / dt - 1e-9)),), dt))
    if spec.gradient == "backprop":
        return torchsde.sdeint(wrapped, y0, ts, bm=bm, method=spec.method, dt=dt)
    adjoint_method = "adjoint_reversible_heun" if spec.gradient == "reversible" else None
    return torchsde.sdeint_adjoint(
        wrapped,
        y0,
        ts,
        bm=bm,
        method=spec.method,
        adjoint_method=adjoint_method,
        dt=dt,
        adjoint_params=tuple(p for p in sde.parameters() if p.requires_grad),
    )
