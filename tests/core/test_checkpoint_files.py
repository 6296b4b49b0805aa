"""Untrusted checkpoint files: each kind of damage gets a CheckpointError that says what is
wrong, never a traceback, a silent load of NaN weights, or torch's own advice to load with
``weights_only=False``."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ndestudio.core.training import CheckpointError, Trainer, load_checkpoint
from tests.conftest import small_spec


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[bytes, dict]:
    trainer = Trainer(small_spec("ode", iterations=2, eval_every=100))
    list(trainer.run())
    path = trainer.save(tmp_path_factory.mktemp("ckpt") / "good.pt")
    payload = torch.load(path, weights_only=True)
    return path.read_bytes(), payload


def _saved(tmp_path, payload: dict, name: str = "bad.pt"):
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _refused(path, *fragments: str) -> str:
    with pytest.raises(CheckpointError) as info:
        Trainer.from_checkpoint(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "weights_only=False" not in message and "\x1b" not in message
    return message


def test_missing_and_mistyped_entries_are_named(good, tmp_path):
    _, payload = good
    _refused(
        _saved(tmp_path, {k: v for k, v in payload.items() if k != "model"}), "'model' is missing"
    )
    _refused(_saved(tmp_path, {**payload, "iteration": "5"}), "'iteration' is a str")
    _refused(_saved(tmp_path, {**payload, "iteration": -3}), "the iteration count is -3")
    _refused(_saved(tmp_path, {**payload, "history": {"loss": ["x"]}}), "history is not lists")
    model = {**payload["model"], "field.net.0.weight": [1.0, 2.0]}
    _refused(_saved(tmp_path, {**payload, "model": model}), "are not tensors")
    _refused(_saved(tmp_path, {**payload, "generator": torch.zeros(3)}), "random generator")


def test_nan_weights_are_refused(good, tmp_path):
    _, payload = good
    model = dict(payload["model"])
    name = next(k for k, v in model.items() if v.is_floating_point())
    model[name] = torch.full_like(model[name], float("nan"))
    _refused(_saved(tmp_path, {**payload, "model": model}), name, "NaN or infinite")


def test_weights_and_optimiser_state_that_do_not_fit_the_model(good, tmp_path):
    _, payload = good
    model = dict(payload["model"])
    name = next(k for k, v in model.items() if v.dim() == 2)
    model[name] = torch.zeros(3, 3)
    _refused(_saved(tmp_path, {**payload, "model": model}), "the weights do not fit the model")
    extra = {**payload["model"], "surplus": torch.zeros(1)}
    _refused(_saved(tmp_path, {**payload, "model": extra}), "the weights do not fit", "surplus")
    optimizer = {"state": {}, "param_groups": [{"params": [0]}]}
    _refused(_saved(tmp_path, {**payload, "optimizer": optimizer}), "optimiser")
    state = {k: dict(v) for k, v in payload["optimizer"]["state"].items()}
    first = next(iter(state))
    state[first]["exp_avg"] = torch.zeros(7, 7)
    optimizer = {**payload["optimizer"], "state": state}
    _refused(_saved(tmp_path, {**payload, "optimizer": optimizer}), "tensor shapes differ")


def test_pickled_objects_are_refused_without_torch_advice(good, tmp_path):
    _, payload = good
    _refused(
        _saved(tmp_path, {**payload, "schedule": {"x": io.BytesIO(b"")}}),
        "not a readable NDE Studio checkpoint",
        "objects other than tensors and plain data",
    )


def test_terminal_escapes_never_reach_the_message(good, tmp_path):
    _, payload = good
    message = _refused(_saved(tmp_path, {**payload, "format_version": "\x1b[31mred\x1b[0m"}))
    assert "is not supported" in message


def test_an_exported_torchscript_file_is_named_as_such(tmp_path):
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    scripted.save(str(tmp_path / "model.pt"))
    _refused(tmp_path / "model.pt", "it looks like an exported TorchScript model")


def test_an_archive_that_would_inflate_is_refused_before_reading(good, tmp_path):
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (64 << 20))
    assert path.stat().st_size < 1 << 20
    _refused(path, "would inflate to 64 MB", "refused")


def test_folders_empty_and_truncated_files(good, tmp_path):
    data, _ = good
    _refused(tmp_path, "is a folder")
    (tmp_path / "empty.pt").write_bytes(b"")
    _refused(tmp_path / "empty.pt", "not a readable NDE Studio checkpoint")
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "half.pt", "not a readable NDE Studio checkpoint")


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_damage_gives_a_checkpoint_or_a_checkpoint_error(good, tmp_path, data):
    original, _ = good
    blob = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(blob))))
    path = tmp_path / "fuzzed.pt"
    path.write_bytes(bytes(blob[:cut]))
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        assert "weights_only=False" not in str(exc)
    else:
        assert ckpt.iteration >= 0
