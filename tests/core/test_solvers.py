"""The shared solver layer: catalog, statistics, and adjoint gradients that match backprop."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

from ndestudio.core.models import VectorField
from ndestudio.core.solvers import (
    ODE_METHODS,
    SDE_METHODS,
    CDEField,
    Probe,
    SolveStats,
    control_path,
    path_coefficients,
    solve_ode,
    solve_sde,
)
from ndestudio.core.specs import ModelSpec, NetworkSpec, SDESpec, SolverSpec


def test_catalog_lists_every_installed_method():
    odeint = importlib.import_module("torchdiffeq._impl.odeint")
    settings = importlib.import_module("torchsde.settings")
    ours = {name for name in odeint.SOLVERS if name.startswith("ndestudio-jumps-")}
    assert set(ODE_METHODS) == set(odeint.SOLVERS) - {"scipy_solver"} - ours
    assert set(SDE_METHODS) == set(settings.METHODS.all()) - {"adjoint_reversible_heun"}
    assert ODE_METHODS["dopri5"].adaptive and ODE_METHODS["dopri5"].order == 5
    assert not ODE_METHODS["rk4"].adaptive and ODE_METHODS["rk4"].order == 4
    assert SDE_METHODS["reversible_heun"].gradients == ("backprop", "reversible")
    assert SDE_METHODS["euler"].sde_types == ("ito",)
    assert "general" not in SDE_METHODS["srk"].noise_types


class _Linear(nn.Module):
    """dy/dt = A y: exact solution known, evaluations easy to count."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor([[-0.5, 1.0], [-1.0, -0.5]], dtype=torch.float64))
        self.calls = 0

    def forward(self, t, y):
        self.calls += 1
        return y @ self.a.T


def test_counts_evaluations_and_accepted_steps():
    field = _Linear()
    stats = SolveStats()
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t = torch.linspace(0, 2, 5, dtype=torch.float64)
    ys = solve_ode(field, y0, t, SolverSpec(rtol=1e-8, atol=1e-10), probe=Probe(stats))
    exact = torch.linalg.matrix_exp(2 * field.a.detach()) @ y0[0]
    assert torch.allclose(ys[-1, 0], exact, atol=1e-7)
    assert stats.nfe_forward == field.calls > 0
    steps = stats.step_sizes()
    # Accepted steps cover the span; the last may overshoot it (dense output interpolates).
    assert len(steps) > 3 and float(steps[:-1].sum()) < 2.0 <= float(steps.sum())
    with stats.backward_phase():
        ys.sum().backward()
    # One VJP per evaluation that reaches the output: rejected steps' evaluations do not.
    assert 0 < stats.nfe_backward <= field.calls


def test_fixed_step_records_its_steps():
    stats = SolveStats()
    y0 = torch.ones(1, 2, dtype=torch.float64)
    solve_ode(
        _Linear(),
        y0,
        torch.linspace(0, 1, 3, dtype=torch.float64),
        SolverSpec(method="rk4", step_size=0.125),
        probe=Probe(stats),
    )
    steps = stats.step_sizes()
    assert len(steps) == 8 and torch.allclose(steps, torch.full((8,), 0.125, dtype=torch.float64))
    assert stats.nfe_forward == 8 * 4


def _grads(loss_fn, params):
    for p in params:
        p.grad = None
    loss_fn().backward()
    return torch.cat([p.grad.reshape(-1) for p in params])


def _rel(a, b):
    return float((a - b).norm() / b.norm())


NET = NetworkSpec(width=16, depth=2, activation="tanh", time_input=True)


@pytest.mark.parametrize("gradient", ["adjoint", "adjoint_seminorm"])
def test_ode_adjoint_matches_backprop_in_float64(gradient):
    torch.manual_seed(0)
    field = VectorField(2, 2, NET).double()
    y0 = torch.randn(4, 2, dtype=torch.float64)
    t = torch.linspace(0, 1, 6, dtype=torch.float64)

    def loss(spec):
        return lambda: solve_ode(field, y0, t, spec).pow(2).sum()

    tight = dict(rtol=1e-10, atol=1e-10, max_num_steps=100_000)
    params = list(field.parameters())
    g_backprop = _grads(loss(SolverSpec(gradient="backprop", **tight)), params)
    g_adjoint = _grads(loss(SolverSpec(gradient=gradient, **tight)), params)
    assert _rel(g_adjoint, g_backprop) <= 1e-6


def test_seminorm_takes_fewer_backward_evaluations():
    torch.manual_seed(0)
    field = VectorField(2, 2, NET).double()
    y0 = torch.randn(8, 2, dtype=torch.float64)
    t = torch.linspace(0, 2, 3, dtype=torch.float64)
    nfe = {}
    for gradient in ("adjoint", "adjoint_seminorm"):
        stats = SolveStats()
        ys = solve_ode(
            field, y0, t, SolverSpec(gradient=gradient, rtol=1e-7, atol=1e-9), probe=Probe(stats)
        )
        with stats.backward_phase():
            ys.pow(2).sum().backward()
        nfe[gradient] = stats.nfe_backward
    assert nfe["adjoint_seminorm"] < nfe["adjoint"]


@pytest.mark.parametrize("interpolation", ["hermite", "linear"])
def test_cde_adjoint_matches_backprop_in_float64(interpolation):
    torch.manual_seed(1)
    hidden, channels = 4, 3
    func = VectorField(
        hidden, hidden * channels, NetworkSpec(width=16, depth=1, final_tanh=True)
    ).double()
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    x = torch.cat(
        [t.view(1, -1, 1).expand(2, -1, 1), torch.randn(2, 7, 2, dtype=torch.float64)], -1
    )
    x[0, 3, 1] = float("nan")  # a missing observation
    coeffs = path_coefficients(x, t, interpolation)
    assert not torch.isnan(coeffs).any()
    path = control_path(coeffs, t, interpolation)
    z0 = torch.randn(2, hidden, dtype=torch.float64)

    def loss(spec):
        field = CDEField(func, path, hidden, channels)
        return lambda: solve_ode(field, z0, t[[0, -1]], spec, jump_t=path.times).pow(2).sum()

    tight = dict(rtol=1e-12, atol=1e-12, max_num_steps=1_000_000)
    params = list(func.parameters())
    g_backprop = _grads(loss(SolverSpec(gradient="backprop", **tight)), params)
    g_adjoint = _grads(loss(SolverSpec(gradient="adjoint", **tight)), params)
    assert _rel(g_adjoint, g_backprop) <= 1e-6


def test_sde_reversible_heun_adjoint_matches_backprop_in_float64():
    from ndestudio.core.models.sde import _Fields

    torch.manual_seed(2)
    spec = ModelSpec(family="sde", network=NET, sde=SDESpec(hidden_size=3, sde_type="stratonovich"))
    fields = _Fields(3, spec).double()
    y0 = torch.randn(5, 3, dtype=torch.float64)
    ts = torch.linspace(0, 1, 9, dtype=torch.float64)  # on the step grid of dt = 1/64

    def loss(gradient):
        solver = SolverSpec(method="reversible_heun", step_size=1 / 64, gradient=gradient)
        return lambda: solve_sde(fields, y0, ts, solver, brownian_size=3, seed=11).pow(2).sum()

    params = list(fields.parameters())
    g_backprop = _grads(loss("backprop"), params)
    g_reversible = _grads(loss("reversible"), params)
    assert _rel(g_reversible, g_backprop) <= 1e-6


@pytest.mark.parametrize("gradient", ["reversible", "adjoint"])
def test_latent_sde_adjoint_gradients_reach_the_encoder(gradient):
    """The posterior drift reads the encoder's context: the adjoint must carry its gradient."""
    from ndestudio.core.models import LatentSDE

    torch.manual_seed(4)
    spec = ModelSpec(
        family="sde",
        network=NET,
        sde=SDESpec(hidden_size=3, context_size=4, sde_type="stratonovich", objective="latent_sde"),
    )
    model = LatentSDE(2, spec).double()
    xs = torch.randn(5, 9, 2, dtype=torch.float64)
    ts = torch.linspace(0, 1, 9, dtype=torch.float64)  # on the step grid of dt = 1/64
    method = "reversible_heun" if gradient == "reversible" else "midpoint"

    def loss(grad):
        solver = SolverSpec(method=method, step_size=1 / 64, gradient=grad)

        def run():
            out = model(xs, ts, solver, generator=torch.Generator().manual_seed(1), seed=11)
            return out.reconstruction.pow(2).sum() + out.kl_path.sum() + out.kl_initial.sum()

        return run

    params = [p for p in model.parameters() if p.requires_grad]
    g_backprop = _grads(loss("backprop"), params)
    g_adjoint = _grads(loss(gradient), params)
    encoder = [p for name, p in model.named_parameters() if "encoder" in name]
    assert _grads(loss(gradient), encoder).abs().min() > 0  # every encoder weight is reached
    # Reversible Heun's adjoint is exact; the continuous adjoint of the midpoint method is
    # accurate to its discretisation (seen 1e-5 relative here).
    assert _rel(g_adjoint, g_backprop) <= (1e-6 if gradient == "reversible" else 1e-3)


def test_seeded_brownian_motion_is_reproducible():
    from ndestudio.core.models.sde import _Fields

    fields = _Fields(2, ModelSpec(family="sde", sde=SDESpec(hidden_size=2, sde_type="ito")))
    y0 = torch.zeros(3, 2)
    ts = torch.linspace(0, 1, 5)
    solver = SolverSpec(method="euler", step_size=0.125)
    with torch.no_grad():
        a = solve_sde(fields, y0, ts, solver, brownian_size=2, seed=5)
        b = solve_sde(fields, y0, ts, solver, brownian_size=2, seed=5)
        c = solve_sde(fields, y0, ts, solver, brownian_size=2, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sde_solve_records_its_fixed_steps():
    from ndestudio.core.models.sde import _Fields

    fields = _Fields(2, ModelSpec(family="sde", sde=SDESpec(hidden_size=2, sde_type="ito")))
    stats = SolveStats()
    solver = SolverSpec(method="euler", step_size=0.125)
    with torch.no_grad():
        solve_sde(
            fields,
            torch.zeros(3, 2),
            torch.linspace(0, 1, 5),
            solver,
            brownian_size=2,
            probe=Probe(stats),
        )
    assert torch.equal(stats.step_sizes(), torch.full((8,), 0.125, dtype=torch.float64))
    assert stats.step_summary() == (0.125, 0.125)


def test_an_adaptive_step_landing_exactly_on_a_jump_keeps_the_later_jumps():
    """torchdiffeq 0.2.5 drops every later jump after a step lands exactly on one; the solver
    layer steps onto each (here: knots 0, 1, …, 12 of a field that jumps at each integer)."""
    from ndestudio.core.solvers import solve_ode

    class Kinked(nn.Module):
        def forward(self, t, y):
            # A rate that changes at each integer: steps of exactly 1 are accepted and reused.
            return torch.ones_like(y) * (1.0 + torch.floor(t) % 2)

    knots = torch.arange(13, dtype=torch.float64)
    stats = SolveStats()
    y0 = torch.zeros(1, 1, dtype=torch.float64)
    spec = SolverSpec(method="dopri5", rtol=1e-6, atol=1e-9)
    ys = solve_ode(Kinked(), y0, knots[[0, -1]], spec, probe=Probe(stats), jump_t=knots)
    # Exact: half the unit intervals at rate 1, half at rate 2.
    assert float(ys[-1]) == pytest.approx(18.0, abs=1e-9)
    assert stats.rejected_steps == 0
