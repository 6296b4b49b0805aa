"""Untrusted configs: every bad value is a SpecError naming the setting or the file, and work
that cannot fit in memory is refused with an estimate before anything is allocated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndestudio.core.budget import budget_problems
from ndestudio.core.presets import preset
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.validation import validate
from tests.conftest import small_spec
from tests.strategies import JSON_VALUES

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "resources/configs/ode_spiral.json"


def _config(**changes: dict) -> dict:
    data = json.loads(SPIRAL.read_text())
    for part, values in changes.items():
        target = data
        for key in part.split("."):
            target = target[key]
        target.update(values)
    return data


def _problems(data: dict) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(RunSpec.from_json(json.dumps(data)))
    return info.value.problems


def test_non_finite_numbers_are_refused_by_name():
    problems = _problems(_config(train={"lr": float("inf"), "weight_decay": float("nan")}))
    assert "learning rate must be a finite number, got inf" in problems
    assert "weight decay must be a finite number, got nan" in problems
    problems = _problems(_config(train={"grad_clip": float("inf")}, data={"noise": float("nan")}))
    assert "gradient clipping must be a finite number, got inf" in problems
    assert "data noise must be a finite number, got nan" in problems
    problems = _problems(_config(data={"t_span": [0, float("inf")]}))
    assert "time span [1] must be a finite number, got inf" in problems


def test_integers_out_of_range_are_refused():
    problems = _problems(_config(train={"seed": 2**70, "threads": 2**40}))
    assert f"training seed must be between 0 and 2**63 - 1, got {2**70}" in problems
    assert f"torch threads must be between 1 and 1024, got {2**40}" in problems
    problems = _problems(_config(train={"iterations": 10**15}))
    assert "iterations must be at most 10**12, got 1000000000000000" in problems


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"model.network": {"width": 10**9}}, "most of it is the networks' weights (width 1e+09"),
        ({"model.network": {"depth": 10**12}}, "the networks' weights"),
        ({"data": {"n_times": 10**9}}, "the dataset of 64 series × 1e+09 times"),
        (
            {"solver": {"method": "rk4", "step_size": 1e-4}, "train": {"batch_size": 4096}},
            "what backpropagation through the solver keeps",
        ),
    ],
)
def test_work_that_cannot_fit_in_memory_is_refused_with_an_estimate(changes, fragment):
    problems = _problems(_config(**changes))
    assert any("this run needs about" in p and "GiB is available" in p for p in problems)
    assert any(fragment in p for p in problems), problems


def test_a_hundred_million_fixed_steps_are_refused_whatever_the_memory():
    spec = preset("ode")
    spec.solver.method, spec.solver.step_size, spec.train.window = "rk4", 1e-7, None
    assert budget_problems(spec, available=2**70) == [
        "rk4 with step_size 1e-07 takes 1e+08 steps per training solve over the data's time "
        "span (at most 1e+07): use a larger step size or an adaptive solver"
    ]
    spec.train.window = 10  # (the issue's case: windows of 10 of the 100 times)
    assert any("this run needs about" in p for p in budget_problems(spec, available=24 * 2**30))


def test_the_presets_and_test_specs_fit_easily():
    for family in ("ode", "cde", "sde"):
        for spec in (preset(family), small_spec(family)):
            assert budget_problems(spec, available=2 * 2**30) == []


def test_text_that_is_not_a_utf8_json_object_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    cases = [
        (SPIRAL.read_text().encode("utf-16"), "the text is UTF-16; save the config as UTF-8"),
        (b'{"name": "\xff"}', "not UTF-8 text (byte 11)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[1, 2]", "expected a JSON object at the top level"),
        (b'{"train": {"seed": ' + b"9" * 5000 + b"}}", "invalid JSON"),
        (b'{"train": {"lr": "fast"}}', "run.train.lr: expected a number, got 'fast'"),
    ]
    for raw, fragment in cases:
        path.write_bytes(raw)
        with pytest.raises(SpecError) as info:
            RunSpec.load(path)
        message = str(info.value)
        assert str(path) in message and fragment in message, message


def _setting_paths() -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []

    def walk(node: object, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        else:
            out.append(path)

    walk(preset("ode").to_dict(), ())
    return out


@settings(max_examples=250, deadline=None)
@given(
    family=st.sampled_from(["ode", "cde", "sde"]),
    path=st.sampled_from(_setting_paths()),
    value=JSON_VALUES,
)
def test_any_value_anywhere_gives_a_spec_or_a_spec_error(family, path, value):
    data = preset(family).to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        spec = RunSpec.from_json(json.dumps(data))
        validate(spec)
    except SpecError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
