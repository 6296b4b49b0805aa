"""``ndestudio evaluate`` and a training run with a held-out test file, from the command line."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch

from ndestudio import cli
from ndestudio.core.data import load_file, make_demo
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import Trainer, load_checkpoint
from tests.conftest import classes_csv, small_spec


def _by_hand(trainer: Trainer, path, weights: str) -> np.ndarray:
    """The confusion matrix of ``weights`` on the file at ``path``, counted series by series."""
    test = load_file(path)
    names = trainer.class_names
    with trainer.weights(weights), torch.no_grad():
        trainer.model.eval()
        predicted = trainer.task.outputs_of(test.values, test.times).argmax(-1).tolist()
    matrix = [[0] * len(names) for _ in names]
    for label, guess in zip(test.labels.tolist(), predicted, strict=True):
        matrix[names.index(test.class_names[label])][guess] += 1
    return np.array(matrix)


def _project(tmp_path):
    """A CDE config beside its data files, which it names by relative paths."""
    spec = small_spec("cde", iterations=30, eval_every=10, lr=0.03)
    demo = make_demo(spec.data)
    order = np.random.default_rng(1).permutation(demo.n_series)
    folder = tmp_path / "project"
    folder.mkdir()
    classes_csv(demo, order[:44], folder / "spirals_train.csv")
    classes_csv(demo, order[44:], folder / "spirals_test.csv")
    spec.data.source, spec.data.path = "file", "spirals_train.csv"
    spec.data.test, spec.data.test_path = "file", "spirals_test.csv"
    spec.save(folder / "run.json")
    return folder


def test_train_with_a_test_file_then_evaluate_against_a_hand_count(tmp_path, capsys, monkeypatch):
    folder = _project(tmp_path)
    monkeypatch.chdir(tmp_path)  # the config's relative paths are not relative to here
    out = tmp_path / "run"
    assert cli.main(["train", "project/run.json", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "CDE on 'spirals_train'" in err  # the file's own name
    assert "test set (best weights):" in err and "confusion matrix" in err
    saved = RunSpec.load(out / "config.json")
    assert saved.data.name == "spirals_train"
    assert saved.data.path == str(folder / "spirals_train.csv")
    # Validation columns are in metrics.csv's header from the start, filled at evaluations.
    with (out / "metrics.csv").open() as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert {"val_loss", "val_accuracy"} <= set(reader.fieldnames or [])
    evaluated = [r for r in rows if r["val_accuracy"] != ""]
    assert [int(r["iteration"]) for r in evaluated] == [10, 20, 30]

    trainer = Trainer.from_checkpoint(out / "checkpoint.pt")
    report = tmp_path / "report"
    assert cli.main(["evaluate", str(out / "checkpoint.pt"), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    expected = _by_hand(trainer, folder / "spirals_test.csv", "best")
    assert expected.sum() == 20
    with (report / "confusion.csv").open() as fh:
        table = list(csv.reader(fh))
    assert table[0][1:] == trainer.class_names
    assert [row[0] for row in table[1:]] == trainer.class_names
    assert np.array([[int(v) for v in row[1:]] for row in table[1:]]).tolist() == expected.tolist()
    meta = json.loads((report / "metrics.json").read_text())
    assert meta["weights"] == "best" and meta["iteration"] == trainer.best.iteration
    assert meta["confusion"] == expected.tolist()
    assert meta["metrics"]["accuracy"] == np.trace(expected) / expected.sum()
    diagonal = np.diag(expected) / expected.sum(axis=1)
    assert np.allclose(meta["per_class_accuracy"], diagonal)
    assert f"accuracy     {np.trace(expected) / expected.sum():.6g}" in printed
    with (report / "per_class.csv").open() as fh:
        per_class = list(csv.DictReader(fh))
    assert [int(r["correct"]) for r in per_class] == np.diag(expected).tolist()

    # Another file, the last weights.
    other = folder / "spirals_train.csv"
    assert (
        cli.main(
            [
                "evaluate",
                str(out / "checkpoint.pt"),
                "--data",
                str(other),
                "--weights",
                "last",
                "--out",
                str(report),
            ]
        )
        == 0
    )
    meta = json.loads((report / "metrics.json").read_text())
    assert meta["weights"] == "last" and meta["iteration"] == 30
    assert meta["confusion"] == _by_hand(trainer, other, "last").tolist()


def test_evaluate_explains_what_it_cannot_score(tmp_path, capsys):
    spec = small_spec("cde", iterations=4, eval_every=2)
    spec.data.val_fraction = 0.0
    run = tmp_path / "run.json"
    spec.save(run)
    out = tmp_path / "out"
    assert cli.main(["train", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    ckpt = str(out / "checkpoint.pt")
    assert cli.main(["evaluate", ckpt]) == 2
    assert "the run names no test set; give one with --data FILE" in capsys.readouterr().err
    assert cli.main(["evaluate", ckpt, "--split", "test"]) == 2
    assert "--split test needs a run trained on a packaged dataset" in capsys.readouterr().err
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("series,time,x,label\na,0,1,clockwise\na,1,2,clockwise\n")
    assert cli.main(["evaluate", ckpt, "--data", str(narrow)]) == 2
    err = capsys.readouterr().err
    assert "test set 'narrow' has channel(s) x but the model was trained on x, y" in err
    # Without validation the best weights are the last, and evaluate says so.
    data = make_demo(spec.data)
    held = classes_csv(data, range(10), tmp_path / "held.csv")
    assert cli.main(["evaluate", ckpt, "--data", str(held)]) == 0
    captured = capsys.readouterr()
    assert "the run had no validation, so its best weights are its last" in captured.err
    assert "last weights (iteration 4)" in captured.out


def test_resume_with_another_seed_is_refused_by_the_flag(tmp_path, capsys):
    spec = small_spec("ode", iterations=2, eval_every=2)
    spec.save(tmp_path / "run.json")
    out = str(tmp_path / "out")
    assert cli.main(["train", str(tmp_path / "run.json"), "--out", out, "--seed", "3"]) == 0
    capsys.readouterr()
    again = ["train", str(tmp_path / "run.json"), "--out", out, "--resume", "--iterations", "4"]
    assert cli.main([*again, "--seed", "4"]) == 2
    assert "--seed 4 differs from the seed of the run in" in capsys.readouterr().err
    assert cli.main([*again, "--seed", "3"]) == 0
    more = ["train", str(tmp_path / "run.json"), "--out", out, "--resume", "--iterations", "6"]
    assert cli.main(more) == 0  # without --seed: the run's own seed (3, not the config's 0)
    assert load_checkpoint(tmp_path / "out" / "checkpoint.pt").spec.train.seed == 3
