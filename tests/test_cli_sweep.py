"""``ndestudio sweep``: a grid of ordinary training runs in local processes and their table."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndestudio.core.specs import RunSpec
from ndestudio.core.sweep import SweepError, parse_grid, trials
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def _sweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", "sweep", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "ode.json"
    small_spec("ode", iterations=4, eval_every=2).save(path)
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_two_by_two_grid_runs_four_ordinary_trials(tmp_path):
    out = tmp_path / "sweep"
    grid = ["train.lr=1e-3,3e-3", "model.network.width=16,32"]
    done = _sweep(str(_config(tmp_path)), "--grid", *grid, "--out", str(out), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert len(rows) == 4
    settings_seen = {(r["train.lr"], r["model.network.width"]) for r in rows}
    assert settings_seen == {("0.001", "16"), ("0.001", "32"), ("0.003", "16"), ("0.003", "32")}
    for row in rows:
        assert row["status"] == "finished" and row["iterations"] == "4"
        assert float(row["best_val_loss"]) <= float(row["final_val_loss"])
        # Each trial is an ordinary run: its checkpoint opens (as the window opens it) with
        # the trial's own settings.
        trainer = Trainer.from_checkpoint(out / row["checkpoint"])
        assert trainer.iteration == 4
        assert trainer.spec.train.lr == float(row["train.lr"])
        assert trainer.spec.model.network.width == int(row["model.network.width"])
    assert "best: trial-" in done.stderr
    again = _sweep(str(_config(tmp_path)), "--grid", *grid, "--out", str(out))
    assert again.returncode == 2 and "already holds a sweep" in again.stderr


def test_samples_repeat_a_grid_point_with_successive_seeds(tmp_path):
    base = small_spec("ode")
    base.train.seed = 7
    planned = trials(base, parse_grid(["train.lr=0.01"]), samples=3)
    assert [t.spec.train.seed for t in planned] == [7, 8, 9]
    assert [t.settings["train.seed"] for t in planned] == [7, 8, 9]
    assert len({t.name for t in planned}) == 3


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("train.lrr=1", "grid setting 'train.lrr': train has no 'lrr' (it has batch_size"),
        ("model.network.width=0,8", "the trial model.network.width=0 cannot run: vector field"),
        ("lr", "grid item 'lr': expected KEY=VALUE"),
    ],
)
def test_a_bad_grid_is_refused_by_name(tmp_path, grid, message):
    out = tmp_path / "sweep"
    done = _sweep(str(_config(tmp_path)), "--grid", grid, "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (out / "results.csv").exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_any_grid_text_parses_or_is_refused_with_a_message(items):
    base = RunSpec()
    try:
        planned = trials(base, parse_grid(items))
    except SweepError as exc:
        assert str(exc)
    else:
        assert planned


def test_a_grid_on_ray_tune_with_asha_writes_the_same_table(tmp_path):
    pytest.importorskip("ray.tune", reason="the sweep extra: pip install 'ndestudio[sweep]'")
    spec = small_spec("ode", iterations=8, eval_every=2)
    spec.train.threads = 1
    config = tmp_path / "ode.json"
    spec.save(config)
    out = tmp_path / "sweep"
    grid = ["train.lr=1e-3,3e-3", "model.network.width=16,32"]
    done = _sweep(str(config), "--grid", *grid, "--out", str(out), "--ray", "local", "--asha")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(out)
    assert {(r["train.lr"], r["model.network.width"]) for r in rows} == {
        ("0.001", "16"),
        ("0.001", "32"),
        ("0.003", "16"),
        ("0.003", "32"),
    }
    statuses = [r["status"] for r in rows]
    assert set(statuses) <= {"finished", "stopped early"} and "finished" in statuses
    for row in rows:  # a trial ASHA stopped keeps the checkpoint of its last evaluation
        trainer = Trainer.from_checkpoint(out / row["checkpoint"])
        assert trainer.iteration == int(row["iterations"])
        assert (row["status"] == "finished") == (trainer.iteration == 8)


def test_without_ray_the_sweep_says_what_installs_it(tmp_path, monkeypatch, capsys):
    from ndestudio.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # (as if it were not installed)
    code = main(
        [
            "sweep",
            str(_config(tmp_path)),
            "--grid",
            "train.lr=0.01",
            "--out",
            str(tmp_path / "s"),
            "--ray",
            "local",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--ray needs Ray Tune, which is not installed: pip install 'ndestudio[sweep]'" in err
    assert not (tmp_path / "s").exists()


def test_ctrl_c_stops_the_sweep_keeps_the_running_trial_and_writes_the_table(tmp_path):
    import os
    import signal
    import time

    out = tmp_path / "sweep"
    command = ["sweep", str(_config(tmp_path)), "--grid", "train.lr=1e-3,3e-3,1e-2"]
    command += ["--iterations", "1000000", "--out", str(out)]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "ndestudio", *command],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # (its own process group, as a terminal's job is)
    )
    deadline = time.monotonic() + 120
    while not (out / "trial-000" / "metrics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # well into the first trial
    os.killpg(sweep.pid, signal.SIGINT)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130 and "Traceback" not in stderr
    rows = _rows(out)
    assert [(r["trial"], r["status"]) for r in rows] == [("trial-000", "interrupted")]
    assert rows[0]["message"] == "interrupted: its checkpoint holds the last good weights"
    trainer = Trainer.from_checkpoint(out / rows[0]["checkpoint"])
    assert trainer.iteration > 0
    assert not (out / "trial-001").exists()  # no more trials were started
