from __future__ import annotations

import json

import pytest

from ndestudio.core.specs import RunSpec, SolverSpec, SpecError
from ndestudio.core.validation import validate
from tests.conftest import small_spec


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_json_round_trip_is_exact(family, tmp_path):
    spec = small_spec(family)
    spec.solver.min_step = 1e-6
    spec.data.t_span = [0.0, 2.5]
    assert RunSpec.from_json(spec.to_json()) == spec
    path = tmp_path / "run.json"
    spec.save(path)
    assert RunSpec.load(path) == spec


def _problems(spec: RunSpec) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(spec)
    return info.value.problems


def test_fixed_step_method_needs_a_step_size():
    spec = small_spec("ode")
    spec.solver = SolverSpec(method="rk4")
    assert "method 'rk4' is fixed-step: set step_size (> 0)" in _problems(spec)


def test_zero_width_is_explained():
    spec = small_spec("ode")
    spec.model.network.width = 0
    assert "vector field hidden width must be ≥ 1, got 0" in _problems(spec)


def test_every_problem_is_listed_at_once():
    spec = small_spec("ode")
    spec.model.network.activation = "gelu"
    spec.train.lr = -1.0
    spec.data.name = "nope"
    problems = _problems(spec)
    assert any("activation must be one of" in p and "'gelu'" in p for p in problems)
    assert "learning rate must be > 0, got -1.0" in problems
    assert any(p.startswith("demo 'nope' does not exist") for p in problems)


def test_family_and_dataset_must_agree():
    spec = small_spec("ode")
    spec.data.name = "brownian"
    assert "demo 'brownian' is a SDE dataset, but the model family is ODE" in _problems(spec)


def test_gradient_method_must_suit_the_solver():
    spec = small_spec("sde")
    spec.solver.method = "euler"
    spec.solver.gradient = "reversible"
    problems = _problems(spec)
    assert any("gradient method 'reversible' is not available with 'euler'" in p for p in problems)
    assert any(
        "method 'euler' solves ito SDEs, but the SDE type is 'stratonovich'" in p for p in problems
    )


def test_seminorm_needs_an_adaptive_solver():
    spec = small_spec("ode")
    spec.solver = SolverSpec(method="rk4", step_size=0.1, gradient="adjoint_seminorm")
    assert any("'adjoint_seminorm' is not available with 'rk4'" in p for p in _problems(spec))


def test_noise_type_must_suit_the_solver():
    spec = small_spec("sde")
    spec.model.sde.sde_type = "ito"
    spec.model.sde.noise_type = "general"
    spec.solver.method = "srk"
    spec.solver.gradient = "backprop"
    assert any("method 'srk' supports" in p and "not 'general'" in p for p in _problems(spec))


def test_invalid_json_names_line_and_column():
    text = '{\n  "name": "x",\n  "train": {"lr": 0.1,}\n}'
    with pytest.raises(SpecError) as info:
        RunSpec.from_json(text, source="cfg.json")
    assert info.value.problems[0].startswith("cfg.json, line 3, column")
    assert "invalid JSON" in info.value.problems[0]


def test_unknown_keys_and_wrong_types_are_named():
    data = json.loads(small_spec("ode").to_json())
    data["train"]["learning_rate"] = 0.1
    data["model"]["network"]["width"] = "wide"
    with pytest.raises(SpecError) as info:
        RunSpec.from_dict(data)
    assert "run.train.learning_rate: unknown setting" in info.value.problems
    assert "run.model.network.width: expected an integer, got 'wide'" in info.value.problems


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(SpecError) as info:
        RunSpec.load(tmp_path / "absent.json")
    assert "absent.json: cannot read" in str(info.value)


def test_latent_sde_needs_diagonal_noise_and_a_positive_likelihood():
    spec = small_spec("sde")
    spec.model.sde.objective = "latent_sde"
    spec.model.sde.noise_type = "general"
    spec.model.sde.likelihood_std = 0.0
    with pytest.raises(SpecError) as info:
        validate(spec)
    text = str(info.value)
    assert "the latent SDE needs diagonal noise" in text
    assert "latent SDE likelihood std must be > 0, got 0.0" in text
