from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.training import CheckpointError, Trainer, load_checkpoint
from tests.conftest import small_spec


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_checkpoint_round_trip_and_resume(family, tmp_path):
    trainer = Trainer(small_spec(family, iterations=6, eval_every=3))
    list(trainer.run())
    path = trainer.save(tmp_path / "ckpt.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left

    ckpt = load_checkpoint(path)  # torch.load(weights_only=True) inside
    assert ckpt.spec == trainer.spec and ckpt.iteration == 6
    assert ckpt.history["loss"] == list(trainer.history["loss"])

    restored = Trainer.from_checkpoint(path)
    for (name, a), b in zip(
        trainer.model.state_dict().items(), restored.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    restored.spec.train.iterations = 8
    steps = [e for e in restored.run() if isinstance(e, ev.Step)]
    assert [s.iteration for s in steps] == [7, 8]


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight = Trainer(small_spec("ode", iterations=8, eval_every=100))
    list(straight.run())
    first = Trainer(small_spec("ode", iterations=4, eval_every=100))
    list(first.run())
    first.save(tmp_path / "half.pt")
    second = Trainer.from_checkpoint(tmp_path / "half.pt")
    second.spec.train.iterations = 8
    list(second.run())
    assert second.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-5)


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('%s', 'w').write('pwned')" % (tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "ndestudio-checkpoint", "x": Evil()}))
    with pytest.raises(CheckpointError, match="not a readable NDE Studio checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_wrong_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an NDE Studio checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"format": "ndestudio-checkpoint", "format_version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format 99 is not supported"):
        load_checkpoint(tmp_path / "future.pt")


@pytest.mark.parametrize("family", ["ode", "sde"])
def test_the_last_evaluation_is_saved_with_the_weights(family, tmp_path):
    trainer = Trainer(small_spec(family, iterations=4, eval_every=2))
    list(trainer.run())
    last = trainer.last_eval
    assert last is not None and last.snapshot is not None
    restored = Trainer.from_checkpoint(trainer.save(tmp_path / "ckpt.pt"))
    again = restored.last_eval
    assert again is not None and again.snapshot is not None
    assert (again.iteration, again.val_loss, again.metrics) == (
        last.iteration,
        last.val_loss,
        last.metrics,
    )
    for name in ("times", "observed", "predicted"):
        assert np.array_equal(
            getattr(again.snapshot, name), getattr(last.snapshot, name), equal_nan=True
        ), name
    assert again.snapshot.generated is (family == "sde")


def test_a_damaged_last_evaluation_is_refused_by_name(tmp_path):
    trainer = Trainer(small_spec("ode", iterations=2, eval_every=2))
    list(trainer.run())
    path = trainer.save(tmp_path / "ckpt.pt")
    payload = torch.load(path, weights_only=True)
    payload["last_eval"]["snapshot"]["times"] = torch.zeros(2, 2)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="last evaluation's arrays"):
        load_checkpoint(path)
    payload["last_eval"] = {"iteration": "3"}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="last evaluation is not the kind"):
        load_checkpoint(path)


def test_a_checkpoint_without_a_last_evaluation_still_loads(tmp_path):
    trainer = Trainer(small_spec("ode", iterations=2, eval_every=100))
    list(trainer.run())
    trainer.last_eval = None
    assert Trainer.from_checkpoint(trainer.save(tmp_path / "ckpt.pt")).last_eval is None
