"""Every catalogued method, with every gradient method it claims, trains for two steps."""

from __future__ import annotations

import math

import pytest

from ndestudio.core import events as ev
from ndestudio.core.solvers import ODE_METHODS, SDE_METHODS
from ndestudio.core.training import Trainer
from tests.conftest import small_spec

ODE_CASES = [(m.name, g) for m in ODE_METHODS.values() for g in m.gradients]
SDE_CASES = [(m.name, g, t) for m in SDE_METHODS.values() for g in m.gradients for t in m.sde_types]


def _two_steps(spec) -> list[ev.Step]:
    trainer = Trainer(spec)
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert len(steps) == 2
    for step in steps:
        assert math.isfinite(step.loss) and math.isfinite(step.grad_norm) and step.grad_norm > 0
        assert step.nfe_forward > 0
        assert all(math.isfinite(v) for v in step.layer_grad_norms.values())
    # (An SDE-GAN's critic-only steps make no generator backward pass.)
    assert any(step.nfe_backward > 0 for step in steps)
    return steps


@pytest.mark.parametrize(("method", "gradient"), ODE_CASES)
def test_ode_method_trains(method, gradient):
    spec = small_spec("ode", iterations=2, eval_every=100, batch_size=4)
    spec.solver.method = method
    spec.solver.gradient = gradient
    spec.solver.step_size = None if ODE_METHODS[method].adaptive else 0.1
    _two_steps(spec)


@pytest.mark.parametrize(("method", "gradient", "sde_type"), SDE_CASES)
def test_sde_method_trains(method, gradient, sde_type):
    spec = small_spec("sde", iterations=2, eval_every=100, batch_size=4)
    spec.solver.method = method
    spec.solver.gradient = gradient
    spec.model.sde.sde_type = sde_type
    _two_steps(spec)


LATENT_CASES = [
    ("euler", "backprop", "ito"),
    ("srk", "adjoint", "ito"),
    ("midpoint", "adjoint", "stratonovich"),
    ("reversible_heun", "reversible", "stratonovich"),
]


@pytest.mark.parametrize(("method", "gradient", "sde_type"), LATENT_CASES)
def test_latent_sde_trains(method, gradient, sde_type):
    spec = small_spec("sde", iterations=2, eval_every=100, batch_size=4)
    spec.model.sde.objective = "latent_sde"
    spec.solver.method = method
    spec.solver.gradient = gradient
    spec.model.sde.sde_type = sde_type
    _two_steps(spec)


@pytest.mark.parametrize("noise_type", ["diagonal", "general", "additive", "scalar"])
def test_every_noise_type_trains(noise_type):
    spec = small_spec("sde", iterations=2, eval_every=100, batch_size=4)
    spec.model.sde.noise_type = noise_type
    spec.model.sde.brownian_size = 2
    _two_steps(spec)


@pytest.mark.parametrize("interpolation", ["hermite", "linear", "rectilinear"])
@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_every_cde_control_path_trains(interpolation, gradient):
    spec = small_spec("cde", iterations=2, eval_every=100)
    spec.model.cde.interpolation = interpolation
    spec.model.cde.mask_channels = True
    spec.solver.method = "dopri5"
    spec.solver.rtol, spec.solver.atol = 1e-4, 1e-6
    spec.solver.gradient = gradient
    _two_steps(spec)
