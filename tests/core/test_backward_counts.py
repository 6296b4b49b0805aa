"""Backward products are counted exactly, though only some evaluations of an ODE solve carry a hook.

The reference count here is independent of the solver layer's bookkeeping: the fields put a
pre-hook of their own on every output and count the ones the backward pass runs.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ndestudio.core.models import VectorField
from ndestudio.core.models.sde import _Fields
from ndestudio.core.solvers import ODE_METHODS, SDE_METHODS, Probe, SolveStats, solve_ode, solve_sde
from ndestudio.core.specs import ModelSpec, NetworkSpec, SDESpec, SolverSpec


class _Hooked:
    """Counts the backward products that run through the outputs it is given."""

    def __init__(self) -> None:
        self.products = 0

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        out.grad_fn.register_prehook(self._count)
        return out

    def _count(self, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        self.products += 1


class _CountedField(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = VectorField(2, 2, NetworkSpec(width=32, depth=2)).double()
        with torch.no_grad():  # a lively field: adaptive solvers reject steps
            for p in self.net.parameters():
                p.mul_(4.0)
        self.hooked = _Hooked()

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.hooked(self.net(t, y))


def _rejected(stats: SolveStats, field: _CountedField) -> int:
    """Evaluations that reached no product: those of rejected steps."""
    return stats.nfe_forward - field.hooked.products


@pytest.mark.parametrize("method", list(ODE_METHODS))
@pytest.mark.parametrize("hook_every", [1, 3, 8])
def test_ode_backward_products_are_counted_exactly(method, hook_every):
    field = _CountedField()
    info = ODE_METHODS[method]
    spec = SolverSpec(
        method=method, rtol=1e-5, atol=1e-7, step_size=None if info.adaptive else 0.05
    )
    stats = SolveStats()
    probe = Probe(stats, hook_every=hook_every, hook_seconds=60.0)
    y0 = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ys = solve_ode(field, y0, torch.linspace(0, 3, 10, dtype=torch.float64), spec, probe=probe)
    with stats.backward_phase():
        ys.pow(2).sum().backward()
    assert stats.nfe_backward == field.hooked.products > 0
    if method in ("dopri5", "bosh3", "adaptive_heun"):
        assert _rejected(stats, field) > 0  # the case that needs the bookkeeping happened


SDE_CASES = [(m.name, m.sde_types[0]) for m in SDE_METHODS.values()]


class _CountedSDE(nn.Module):
    def __init__(self, sde_type: str, noise_type: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        spec = ModelSpec(
            family="sde",
            network=NetworkSpec(width=16, depth=1),
            sde=SDESpec(hidden_size=3, sde_type=sde_type, noise_type=noise_type),
        )
        self.fields = _Fields(3, spec)
        self.noise_type, self.sde_type = noise_type, sde_type
        self.hooked = _Hooked()

    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.hooked(self.fields.f(t, y))

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.hooked(self.fields.g(t, y))


@pytest.mark.parametrize(("method", "sde_type"), SDE_CASES)
def test_sde_backward_products_are_counted_exactly(method, sde_type):
    noise = "general" if "general" in SDE_METHODS[method].noise_types else "diagonal"
    sde = _CountedSDE(sde_type, noise)
    stats = SolveStats()
    probe = Probe(stats)
    y0 = torch.randn(4, 3)
    ys = solve_sde(
        sde,
        y0,
        torch.linspace(0, 1, 5),
        SolverSpec(method=method, step_size=0.05),
        brownian_size=sde.fields.brownian_size,
        seed=0,
        probe=probe,
    )
    # Some methods differentiate g inside a step; torchsde evaluates f and g once to check
    # their shapes, and these results reach nothing.
    forward_products = sde.hooked.products
    with stats.backward_phase():
        ys.pow(2).sum().backward()
    assert stats.nfe_backward == sde.hooked.products - forward_products > 0


ADAPTIVE = [m.name for m in ODE_METHODS.values() if m.adaptive]


@pytest.mark.parametrize("method", ADAPTIVE)
def test_backward_products_are_counted_exactly_across_jumps(method):
    """A linearly interpolated control path's knots are jumps: steps end there, and the field
    is evaluated again on the far side."""
    field = _CountedField()
    stats = SolveStats()
    y0 = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.linspace(0, 3, 10, dtype=torch.float64)
    spec = SolverSpec(method=method, rtol=1e-5, atol=1e-7)
    jumps = torch.tensor([0.7, 1.9], dtype=torch.float64)
    ys = solve_ode(field, y0, t, spec, probe=Probe(stats, hook_every=4), jump_t=jumps)
    with stats.backward_phase():
        ys.pow(2).sum().backward()
    assert stats.nfe_backward == field.hooked.products > 0
    assert stats.nfe_forward > field.hooked.products  # rejected steps, dead evaluations at jumps
