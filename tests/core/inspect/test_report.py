"""``inspect_run`` gives strict-JSON numbers for each family; the benchmark's timing runs;
the inspection package imports without Qt."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ndestudio.core.inspect import inspect_run, jsonable, time_field_and_equilibria
from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer
from tests.core.test_import_without_qt import _run


def test_ode_report_holds_field_equilibria_and_the_truth(pendulum_trainer):
    report = inspect_run(pendulum_trainer, grid=8, seeds=6)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["family"] == "ode" and report["channels"] == ["angle", "velocity"]
    field = report["field"]
    assert len(field["xs"]) == 8 and np.asarray(field["u"]).shape == (8, 8)
    assert field["error"]["max_abs_error"] > 0
    true_points = [e["point"] for e in report["true_equilibria"]]
    assert any(np.allclose(p, [0.0, 0.0], atol=1e-6) for p in true_points)
    assert {e["kind"] for e in report["true_equilibria"]} <= {"stable focus", "saddle"}
    for eq in report["equilibria"]:
        assert len(eq["eigenvalues"]) == 2 and len(eq["eigenvalues"][0]) == 2
    assert report["telemetry"]["solves"] == 1


def test_ode_report_lists_saddle_manifolds():
    spec = RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=8, depth=1)),
        solver=SolverSpec(rtol=1e-5, atol=1e-7),
        data=DataSpec(name="pendulum", n_series=4, n_times=10),
        # Seed 5: a random field with a saddle in the box.
        train=TrainSpec(iterations=1, batch_size=4, dtype="float64", seed=5),
    )
    trainer = Trainer(spec)
    report = inspect_run(trainer, grid=5, seeds=5, box=[(-4.0, 4.0), (-2.0, 2.0)])
    assert report["field"]["xs"][0] == -4.0 and report["field"]["ys"][-1] == 2.0
    saddles = [e for e in report["equilibria"] if e["kind"] == "saddle"]
    assert saddles
    assert len(report["manifolds"]) == 2 * len(saddles)
    for manifold in report["manifolds"]:
        assert manifold["kind"] in ("stable", "unstable")
        assert len(manifold["branches"]) == 2
    json.dumps(report, allow_nan=False)


def test_cde_and_sde_reports(cde_trainer, sde_trainer):
    cde = inspect_run(cde_trainer)
    assert np.sum(cde["confusion"]["matrix"]) == len(cde_trainer.task.val_rows)
    assert "equilibria" not in cde
    sde = inspect_run(sde_trainer, n_samples=64)
    assert np.asarray(sde["sde"]["model_quantiles"]).shape == (5, 17, 1)
    assert sde["sde"]["mean_wasserstein"] > 0
    json.dumps([cde, sde], allow_nan=False)


def test_jsonable_turns_nan_and_numpy_into_json():
    value = jsonable({"a": np.float32(1.5), "b": [math.nan, np.inf], "c": np.arange(2)})
    assert value == {"a": 1.5, "b": [None, None], "c": [0, 1]}


def test_timing_of_a_field_plus_equilibria(pendulum_trainer):
    timing = time_field_and_equilibria(pendulum_trainer, n=30, repeats=1)
    assert 0 < timing["field_s"] <= timing["total_s"]
    assert 0 < timing["equilibria_s"] <= timing["total_s"]
    assert timing["total_s"] < 30


def test_inspection_imports_without_qt():
    result = _run(
        """
        import sys
        import ndestudio.core.inspect as inspect
        assert "inspect_run" in inspect.__all__
        print(sorted(m for m in sys.modules if m.split(".")[0] in {"PySide6", "pyqtgraph"}))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["spiral", "lorenz"])
def test_reports_for_other_demos_are_json(name):
    spec = RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=8, depth=1)),
        data=DataSpec(name=name, n_series=4, n_times=10),
        train=TrainSpec(iterations=1, batch_size=4),
    )
    report = inspect_run(Trainer(spec), grid=4, seeds=3)
    json.dumps(report, allow_nan=False)
    assert report["field"]["axes"] == [0, 1]
    assert "true_equilibria" in report
