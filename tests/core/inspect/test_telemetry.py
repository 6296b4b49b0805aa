"""Solver telemetry: accepted steps tile the solved span, rejected steps are counted, NFE
forward and backward, a stiffness warning with the remedies past a threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ndestudio.core.inspect import NFE_THRESHOLD, from_stats, solve_telemetry
from ndestudio.core.solvers import Probe, SolveStats, solve_ode, solve_sde
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training import Trainer
from ndestudio.core.training.diagnostics import remedies
from tests.conftest import small_spec
from tests.core.inspect.conftest import ode_spec


class VanDerPol(nn.Module):
    """A stiff oscillator (μ = 30): an adaptive solver rejects steps on it."""

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, v = y[..., 0], y[..., 1]
        return torch.stack([v, 30.0 * (1 - x**2) * v - x], dim=-1)


def test_traced_steps_tile_the_span_and_rejections_are_counted():
    stats = SolveStats(trace=True)
    y0 = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    t = torch.linspace(0.0, 20.0, 5, dtype=torch.float64)
    solve_ode(VanDerPol(), y0, t, SolverSpec(rtol=1e-6, atol=1e-8), probe=Probe(stats))
    times, sizes = stats.step_times().numpy(), stats.step_sizes().numpy()
    assert len(times) == len(sizes) > 20
    assert times[0] == 0.0
    np.testing.assert_allclose(times[1:], times[:-1] + sizes[:-1], atol=1e-9)
    assert times[-1] < 20.0 <= times[-1] + sizes[-1]  # the last step may overshoot the end
    assert stats.rejected_steps > 0 and stats.solves == 1
    # dopri5: 6 evaluations per attempted step (first-same-as-last), 2 to pick the first step.
    assert stats.nfe_forward == 6 * (len(sizes) + stats.rejected_steps) + 2
    stats.reset()
    assert stats.trace and stats.rejected_steps == 0 and len(stats.step_times()) == 0


def test_without_trace_no_times_are_kept_and_backward_solves_record_real_time():
    stats = SolveStats()
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.0, -2.0], dtype=torch.float64)  # backward in time
    solve_ode(VanDerPol(), y0, t, SolverSpec(method="rk4", step_size=0.25), probe=Probe(stats))
    assert len(stats.step_sizes()) == 8 and len(stats.step_times()) == 0
    traced = SolveStats(trace=True)
    solve_ode(VanDerPol(), y0, t, SolverSpec(method="rk4", step_size=0.25), probe=Probe(traced))
    np.testing.assert_allclose(traced.step_times().numpy(), -0.25 * np.arange(8))


def test_fixed_step_sde_steps_are_traced():
    class Drift(nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return torch.ones_like(y)

    stats = SolveStats(trace=True)
    ts = torch.tensor([0.5, 1.0, 1.5])
    spec = SolverSpec(method="euler", step_size=0.125)
    solve_sde(Drift(), torch.zeros(4, 1), ts, spec, brownian_size=1, seed=0, probe=Probe(stats))
    np.testing.assert_allclose(stats.step_times().numpy(), 0.5 + 0.125 * np.arange(8))
    assert stats.solves == 1


def test_telemetry_of_the_validation_solve(pendulum_trainer):
    telemetry = solve_telemetry(pendulum_trainer)
    times = pendulum_trainer.dataset.times
    assert telemetry.solves == 1 and telemetry.nfe_backward == 0
    assert telemetry.accepted == len(telemetry.step_sizes) > 0
    assert telemetry.step_times[0] == times[0]
    ends = telemetry.step_times + telemetry.step_sizes
    np.testing.assert_allclose(telemetry.step_times[1:], ends[:-1], rtol=1e-9)
    assert telemetry.step_times[-1] < times[-1] <= ends[-1]
    assert telemetry.nfe_forward == 6 * (telemetry.accepted + telemetry.rejected) + 2
    assert telemetry.warning is None and telemetry.remedies == ()
    assert telemetry.nfe_threshold == NFE_THRESHOLD
    assert telemetry.to_dict()["nfe_per_solve"] == telemetry.nfe_forward


def test_gradient_telemetry_counts_the_backward_pass_and_leaves_the_run_alone():
    trainer = Trainer(ode_spec(dtype="float32"))
    before = trainer.generator.get_state()
    telemetry = solve_telemetry(trainer, gradient=True)
    assert telemetry.nfe_backward > 0 and telemetry.nfe_forward > 0
    assert all(p.grad is None for p in trainer.model.parameters())
    assert torch.equal(trainer.generator.get_state(), before)


def test_stiffness_warning_past_the_threshold_names_the_remedies(pendulum_trainer):
    telemetry = solve_telemetry(pendulum_trainer, nfe_threshold=10)
    assert telemetry.nfe_per_solve > 10
    assert telemetry.warning is not None and "stiff" in telemetry.warning
    assert telemetry.remedies == remedies(pendulum_trainer.spec)
    assert any("learning rate" in r for r in telemetry.remedies)
    assert any("min_step" in r for r in telemetry.remedies)  # an adaptive solver
    # The same numbers from a trainer's own statistics.
    stats = SolveStats(trace=True)
    stats.nfe_forward, stats.solves = 3000, 2
    quiet = from_stats(stats, pendulum_trainer.spec, nfe_threshold=2000)
    assert quiet.nfe_per_solve == 1500 and quiet.warning is None
    assert from_stats(stats, pendulum_trainer.spec, nfe_threshold=1000).warning is not None


def test_telemetry_of_cde_and_sde_solves(cde_trainer, sde_trainer):
    cde = solve_telemetry(cde_trainer)  # rk4 steps of 0.5 over the path's span
    assert cde.rejected == 0 and cde.solves == 1
    assert np.all(cde.step_sizes == 0.5)
    assert cde.nfe_forward == 4 * cde.accepted
    sde = solve_telemetry(sde_trainer)
    assert sde.solves == 1 and np.all(sde.step_sizes == 1 / 16)
    np.testing.assert_allclose(sde.step_times, np.arange(16) / 16)


@pytest.mark.parametrize("irregular", [False, True])
def test_without_validation_series_the_training_series_are_inspected(irregular, tmp_path):
    from ndestudio.core.inspect import inspect_run

    spec = small_spec("ode", iterations=2, eval_every=2)
    spec.data.val_fraction, spec.train.window = 0.0, None
    if irregular:  # each series on times of its own
        rows = [
            f"s{s},{t + 0.1 * s:.2f},{np.cos(t + s):.4f},{np.sin(t + s):.4f}"
            for s in range(6)
            for t in np.linspace(0, 2, 8)
        ]
        path = tmp_path / "own_times.csv"
        path.write_text("series,time,x,y\n" + "\n".join(rows) + "\n")
        spec.data.source, spec.data.path = "file", str(path)
    trainer = Trainer(spec)
    list(trainer.run())
    assert not trainer.task.has_validation and trainer.task.irregular == irregular
    report = inspect_run(trainer, grid=4, seeds=1, n_samples=8)
    assert report["telemetry"]["nfe_forward"] > 0 and report["telemetry"]["accepted_steps"] > 0
