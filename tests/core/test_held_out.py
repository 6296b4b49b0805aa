"""Held-out test sets, validation fraction 0, the best-validation weights and early stopping."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.data import DataError, load_file, make_demo
from ndestudio.core.export import export_checkpoint
from ndestudio.core.export.formats import EXTRA_EXPORT
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import Trainer
from ndestudio.core.training.checkpoint import load_checkpoint
from ndestudio.core.training.scoring import confusion_matrix, per_class_accuracy
from tests.conftest import classes_csv, small_spec


def _run(trainer, control=None):
    return list(trainer.run(control))


def test_confusion_matrix_and_per_class_accuracy_by_hand():
    true = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    matrix = confusion_matrix(true, predicted, 4)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    accuracy = per_class_accuracy(matrix)
    assert accuracy[:3] == (0.5, 1.0, 2 / 3) and np.isnan(accuracy[3])


def test_validation_fraction_zero_trains_on_every_series_and_never_evaluates():
    spec = small_spec("ode", iterations=12, eval_every=4)
    spec.data.val_fraction = 0.0
    trainer = Trainer(spec)
    events = _run(trainer)
    started = events[0]
    assert isinstance(started, ev.Started)
    assert (started.n_train, started.n_val) == (spec.data.n_series, 0)
    assert not [e for e in events if isinstance(e, ev.Eval)]
    finished = events[-1]
    assert isinstance(finished, ev.Finished) and finished.iteration == 12
    assert finished.best_iteration is None and trainer.best is None
    with trainer.weights("best") as (held, iteration):
        assert (held, iteration) == ("last", 12)


def test_the_best_weights_are_those_of_the_lowest_validation_loss():
    spec = small_spec("ode", iterations=40, eval_every=2, lr=0.05)
    trainer = Trainer(spec)
    seen = {}
    for event in trainer.run():
        if isinstance(event, ev.Eval):  # the model holds this evaluation's weights now
            state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
            seen[event.iteration] = (event.val_loss, state)
    losses = {it: loss for it, (loss, _) in seen.items()}
    best = min(losses, key=losses.get)
    assert trainer.best is not None and trainer.best.iteration == best
    assert trainer.best.val_loss == losses[best]
    for key, value in seen[best][1].items():
        assert torch.equal(trainer.best.model[key], value)
    later = [it for it in losses if it > best]
    assert trainer.best.evals_since == len(later)
    # The weights context swaps the best ones in and puts the last back.
    last = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with trainer.weights("best") as (held, iteration):
        assert (held, iteration) == ("best", best)
        assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in seen[best][1].items())
    assert all(torch.equal(trainer.model.state_dict()[k], v) for k, v in last.items())


def test_early_stopping_ends_the_run_after_patience_evaluations_without_improvement():
    spec = small_spec("ode", iterations=400, eval_every=1, lr=0.08, patience=3)
    trainer = Trainer(spec)
    events = _run(trainer)
    losses = [e.val_loss for e in events if isinstance(e, ev.Eval)]
    finished = events[-1]
    assert isinstance(finished, ev.Finished)
    assert finished.iteration < 400, "this run's validation loss was expected to stall"
    assert "early stopping" in finished.reason and "3 evaluations" in finished.reason
    best = int(np.argmin(losses))
    # It stopped at the third evaluation in a row that did not beat the best, no sooner.
    assert len(losses) == best + 1 + 3
    assert min(losses[best + 1 :]) >= losses[best]
    assert finished.best_iteration == best + 1 and finished.best_val_loss == losses[best]


def test_a_test_file_is_scored_after_training_in_the_training_class_order(tmp_path):
    spec = small_spec("cde", iterations=30, eval_every=10)
    demo = make_demo(spec.data)
    rng = np.random.default_rng(0)
    order = rng.permutation(demo.n_series)
    train_rows, test_rows = order[:48], order[48:]
    train_csv = classes_csv(
        demo, train_rows, tmp_path / "train.csv", ["clockwise", "anticlockwise"]
    )
    # The test file lists its classes in another order: they map to the training classes by name.
    test_rows = sorted(test_rows, key=lambda r: -demo.labels[r])
    test_csv = classes_csv(
        demo, test_rows, tmp_path / "held_out.csv", ["clockwise", "anticlockwise"]
    )
    spec.data.source, spec.data.path = "file", str(train_csv)
    spec.data.test, spec.data.test_path = "file", str(test_csv)
    trainer = Trainer(spec)
    assert trainer.spec.data.name == "train"  # the file's own name, not the demo's
    events = _run(trainer)
    tested, finished = events[-2], events[-1]
    assert isinstance(tested, ev.Tested) and isinstance(finished, ev.Finished)
    assert trainer.last_test is tested and tested.weights == "best"
    assert tested.iteration == finished.best_iteration
    assert tested.class_names == tuple(load_file(train_csv).class_names)
    # Scored independently: the best weights' outputs on the test file's series.
    test = load_file(test_csv)
    names = [test.class_names[k] for k in test.labels]
    true = np.array([tested.class_names.index(n) for n in names])
    with trainer.weights("best"), torch.no_grad():
        trainer.model.eval()
        predicted = trainer.task.outputs_of(test.values, test.times).argmax(-1).numpy()
    by_hand = np.zeros((2, 2), dtype=int)
    for t, p in zip(true, predicted, strict=True):
        by_hand[t, p] += 1
    assert tested.confusion.tolist() == by_hand.tolist()
    assert tested.n_series == len(test_rows) == by_hand.sum()
    assert tested.metrics["accuracy"] == pytest.approx(np.trace(by_hand) / by_hand.sum())
    assert tested.per_class_accuracy == pytest.approx(
        tuple(by_hand[k, k] / by_hand[k].sum() for k in range(2))
    )


def test_a_test_set_that_does_not_fit_the_model_is_refused_by_name(tmp_path):
    spec = small_spec("cde")
    demo = make_demo(spec.data)
    train_csv = classes_csv(demo, range(40), tmp_path / "train.csv")
    odd = classes_csv(demo, range(40, 64), tmp_path / "odd.csv", ["clockwise", "sideways"])
    spec.data.source, spec.data.path = "file", str(train_csv)
    spec.data.test, spec.data.test_path = "file", str(odd)
    with pytest.raises(DataError, match=r"test file .*odd.csv has series of class 'sideways'"):
        Trainer(spec)


def test_best_weights_class_names_and_the_test_score_survive_the_checkpoint(tmp_path):
    spec = small_spec("cde", iterations=30, eval_every=5, lr=0.05)
    demo = make_demo(spec.data)
    path = classes_csv(demo, range(64), tmp_path / "spirals.csv", ["clockwise", "anticlockwise"])
    spec.data.source, spec.data.path = "file", str(path)
    spec.data.test, spec.data.test_path = "file", str(path)
    trainer = Trainer(spec)
    _run(trainer)
    ckpt_path = trainer.save(tmp_path / "checkpoint.pt")
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt.class_names == trainer.class_names == load_file(path).class_names
    assert ckpt.best is not None and ckpt.best.iteration == trainer.best.iteration
    assert ckpt.last_test == trainer.last_test
    assert np.array_equal(ckpt.last_test.confusion, trainer.last_test.confusion)
    again = Trainer.from_checkpoint(ckpt_path)
    assert again.best.iteration == trainer.best.iteration
    for key, value in trainer.best.model.items():
        assert torch.equal(again.best.model[key], value)
    rescored = again.test()
    assert rescored.metrics == pytest.approx(trainer.last_test.metrics)
    # export --weights best writes the best weights and the class names into the file.
    out = tmp_path / "best.pt"
    export_checkpoint(ckpt_path, out, weights="best")
    with zipfile.ZipFile(out) as archive:
        name = next(n for n in archive.namelist() if n.endswith(EXTRA_EXPORT.split("/")[-1]))
        meta = json.loads(archive.read(name))
    assert meta["weights"] == "best" and meta["class_names"] == trainer.class_names
    assert meta["trained_iterations"] == trainer.best.iteration


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    spec = small_spec("ode")
    spec.data.source, spec.data.path = "file", "data/train.csv"
    spec.data.test, spec.data.test_path = "file", "../held_out.csv"
    spec.save(folder / "run.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = RunSpec.load("../project/run.json")
    assert loaded.data.path == str(folder / "data" / "train.csv")
    assert loaded.data.test_path == str(tmp_path / "held_out.csv")


def test_the_validation_split_is_stratified_by_class():
    spec = small_spec("cde")
    data = make_demo(spec.data)
    labels = np.array([0] * 40 + [1] * 20 + [2] * 4)
    data = type(data)(**{**data.__dict__, "labels": labels, "class_names": ["a", "b", "c"]})
    train, val = data.split(0.25, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(64))
    assert np.bincount(labels[val]).tolist() == [10, 5, 1]
    train, val = data.split(0.0, seed=3)
    assert len(val) == 0 and len(train) == 64


def _file_spec(tmp_path, names=("clockwise", "anticlockwise")):
    spec = small_spec("cde", iterations=6, eval_every=3)
    demo = make_demo(spec.data)
    spec.data.source = "file"
    spec.data.path = str(classes_csv(demo, range(64), tmp_path / "train.csv", list(names)))
    return spec, demo


def test_a_test_set_is_matched_by_channel_name_and_checked_like_training_data(tmp_path):
    spec, demo = _file_spec(tmp_path)
    trainer = Trainer(spec)
    list(trainer.run())
    same = load_file(classes_csv(demo, range(20), tmp_path / "same.csv"))
    text = (tmp_path / "same.csv").read_text().splitlines()
    header, *rows = (line.split(",") for line in text)
    swapped = [[r[0], r[1], r[3], r[2], r[4]] for r in [header, *rows]]  # y before x
    (tmp_path / "swapped.csv").write_text("\n".join(",".join(r) for r in swapped) + "\n")
    as_is = trainer.test(same)
    reordered = trainer.test(load_file(tmp_path / "swapped.csv"))
    assert reordered.metrics == as_is.metrics
    assert np.array_equal(reordered.confusion, as_is.confusion)
    renamed = [["series", "time", "u", "v", "label"], *rows]
    (tmp_path / "renamed.csv").write_text("\n".join(",".join(r) for r in renamed) + "\n")
    with pytest.raises(DataError, match=r"has channel\(s\) u, v but the model was trained on"):
        trainer.test(load_file(tmp_path / "renamed.csv"))
    # (the readers refuse an infinite value; data built in Python is checked when scored)
    infinite = same.values.copy()
    infinite[3, 0, 1] = np.inf
    with pytest.raises(DataError, match="1 infinite value"):
        trainer.test(dataclasses.replace(same, values=infinite))


def test_a_regression_test_set_without_every_target_is_refused(tmp_path):
    spec = small_spec("cde", iterations=3, eval_every=3)
    spec.model.cde.task = "regression"
    data = make_demo(spec.data)
    rows = ["series,time,x,y,target"]
    for s in range(64):
        for t, time in enumerate(data.times):
            if not np.isnan(data.values[s, t]).all():
                x, y = ("" if np.isnan(v) else repr(float(v)) for v in data.values[s, t])
                rows.append(f"s{s},{float(time)!r},{x},{y},{float(data.labels[s])!r}")
    path = tmp_path / "targets.csv"
    path.write_text("\n".join(rows) + "\n")
    spec.data.source, spec.data.path = "file", str(path)
    trainer = Trainer(spec)
    test = load_file(path)
    assert trainer.test(test).metrics["rmse"] >= 0
    targets = test.targets.copy()
    targets[5] = np.nan
    with pytest.raises(DataError, match=r"series 6 \(1 of 64\) has no regression target"):
        trainer.test(dataclasses.replace(test, targets=targets))


def test_continuing_after_early_stopping_waits_the_patience_again():
    spec = small_spec("ode", iterations=400, eval_every=1, lr=0.08, patience=2)
    trainer = Trainer(spec)
    first = list(trainer.run())
    stopped = first[-1]
    assert isinstance(stopped, ev.Finished) and "early stopping" in stopped.reason
    again = list(trainer.run())
    evaluations = [e for e in again if isinstance(e, ev.Eval)]
    # Not stopped at the first evaluation that does not improve: two in a row are needed.
    assert len(evaluations) >= 2
    assert again[-1].iteration > stopped.iteration


def test_a_home_relative_data_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = small_spec("ode")
    spec.data.source, spec.data.path = "file", "~/series.csv"
    spec.save(tmp_path / "run.json")
    assert RunSpec.load(tmp_path / "run.json").data.path == str(tmp_path / "series.csv")


def test_a_checkpoint_whose_training_classes_were_renamed_is_refused(tmp_path):
    from ndestudio.core.export import ExportError
    from ndestudio.core.training.checkpoint import CheckpointError

    spec, demo = _file_spec(tmp_path)
    trainer = Trainer(spec)
    list(trainer.run())
    ckpt = trainer.save(tmp_path / "checkpoint.pt")
    classes_csv(demo, range(64), tmp_path / "train.csv", ["left", "right"])  # renamed since
    with pytest.raises(ExportError, match="trained on classes anticlockwise, clockwise but"):
        export_checkpoint(ckpt, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="the data changed since training"):
        Trainer.from_checkpoint(ckpt)
