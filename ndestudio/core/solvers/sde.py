"""``solve_sde``: the one entry point to torchsde."""

from __future__ import annotations

import math
from typing import Any

import torch
import torchsde
from torch import nn

from ndestudio.core.shard import BatchShare, Shard
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

    def h(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The prior drift (latent SDEs): its difference from ``f`` gives the KL term."""
        self.probe.on_forward()
        return self.probe.watch(self.sde.h(t, y))


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


def sde_step_grid(ts: torch.Tensor, dt: float) -> torch.Tensor:
    """The times torchsde steps through over ``ts`` with step ``dt`` (its ``sdeint`` loop)."""
    times = [ts[0]]
    curr = ts[0]
    for out_t in ts[1:]:
        while curr < out_t:
            curr = min(curr + dt, ts[-1])
            times.append(curr)
    return torch.stack(times)


class GridBrownian(torchsde.BaseBrownian):
    """A Brownian motion given by its increments over the solver's step grid, so that a
    solve can be repeated with chosen noise (queried only between neighbouring grid times)."""

    def __init__(self, grid: torch.Tensor, increments: torch.Tensor) -> None:
        self._grid = grid
        self._increments = increments

    def _index(self, t: torch.Tensor | float) -> int:
        return int(torch.argmin((self._grid - torch.as_tensor(t).to(self._grid)).abs()))

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        i, j = self._index(ta), self._index(tb)
        if j != i + 1:
            raise ValueError(f"Brownian increment requested over {ta}..{tb}, not one grid step")
        return self._increments[i]

    def __repr__(self) -> str:
        return f"GridBrownian(steps={len(self._grid) - 1})"

    @property
    def dtype(self) -> torch.dtype:
        return self._increments.dtype

    @property
    def device(self) -> torch.device:
        return self._increments.device

    @property
    def shape(self) -> torch.Size:
        return self._increments.shape[1:]

    @property
    def levy_area_approximation(self) -> str:
        return "none"


class ShardBrownian(torchsde.BaseBrownian):
    """A shard's rows of a Brownian motion drawn for a whole batch (data-parallel training:
    each rank's series see the increments, and Lévy areas, one process would give them)."""

    def __init__(self, whole: torchsde.BaseBrownian, shard: Shard) -> None:
        self._whole = whole
        self._shard = shard
        self._rows = len(shard.rows(torch.empty(whole.shape[0], 0)))

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        drawn = self._whole(ta, tb, return_U=return_U, return_A=return_A)
        if isinstance(drawn, tuple):
            return tuple(None if part is None else self._shard.rows(part) for part in drawn)
        return self._shard.rows(drawn)

    def __repr__(self) -> str:
        return f"ShardBrownian({self._whole!r}, rank={self._shard.rank}, world={self._shard.world})"

    @property
    def dtype(self) -> torch.dtype:
        return self._whole.dtype

    @property
    def device(self) -> torch.device:
        return self._whole.device

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self._rows, *self._whole.shape[1:]))

    @property
    def levy_area_approximation(self) -> str:
        return self._whole.levy_area_approximation


def solve_sde(
    sde: nn.Module,
    y0: torch.Tensor,
    ts: torch.Tensor,
    spec: SolverSpec,
    *,
    brownian_size: int,
    seed: int | None = None,
    probe: Probe | None = None,
    increments: torch.Tensor | None = None,
    logqp: bool = False,
    extra_adjoint_params: tuple[torch.Tensor, ...] = (),
    share: BatchShare | None = None,
) -> Any:
    """Solve the SDE ``sde`` (with ``f``, ``g``, ``noise_type``, ``sde_type``) at times ``ts``.

    Returns (T, batch, state). Fixed step ``spec.step_size``. ``spec.gradient``: backprop
    through the solver, the stochastic adjoint, or reversible Heun's exact adjoint.
    ``increments`` (steps, batch, channels) over :func:`sde_step_grid` fix the noise.
    ``logqp``: also return the KL divergence of the path from the prior SDE (whose drift is
    ``sde.h``) per step, (T - 1, batch), for latent SDEs. ``extra_adjoint_params``: tensors
    the fields depend on besides their parameters (an encoder's context), for the adjoint.
    ``share``: ``y0`` is a shard of a larger batch; the Brownian motion is drawn for the whole
    batch (from ``seed``) and the shard's rows are kept.
    """
    probe = probe or Probe()
    probe.stats.engine = "torchsde"
    wrapped = _InstrumentedSDE(sde, probe)
    ts = ts.to(dtype=y0.dtype, device=y0.device)
    dt = float(spec.step_size or 0.0)
    if logqp and wrapped.noise_type == "diagonal":
        brownian_size += 1  # torchsde integrates the KL as one more (noise-free) channel
    bm: torchsde.BaseBrownian
    if increments is not None:
        bm = GridBrownian(sde_step_grid(ts, dt), increments.to(y0))
    else:
        bm = brownian_motion(
            ts,
            y0.shape[0] if share is None else share.batch,
            brownian_size,
            method=spec.method,
            seed=seed,
            dtype=y0.dtype,
            device=y0.device,
        )
        if share is not None and share.shard.world > 1:
            bm = ShardBrownian(bm, share.shard)
    if not probe.stats.in_backward:
        span = float(ts[-1] - ts[0])
        probe.stats.solves += 1
        probe.stats.add_uniform_steps(dt, max(1, math.ceil(span / dt - 1e-9)), float(ts[0]))
    if spec.gradient == "backprop":
        return torchsde.sdeint(wrapped, y0, ts, bm=bm, method=spec.method, dt=dt, logqp=logqp)
    adjoint_method = "adjoint_reversible_heun" if spec.gradient == "reversible" else None
    return torchsde.sdeint_adjoint(
        wrapped,
        y0,
        ts,
        bm=bm,
        method=spec.method,
        adjoint_method=adjoint_method,
        dt=dt,
        adjoint_params=tuple(p for p in sde.parameters() if p.requires_grad)
        + tuple(p for p in extra_adjoint_params if p.requires_grad),
        logqp=logqp,
    )
