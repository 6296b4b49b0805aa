"""``ndestudio train --tensorboard DIR``: the scalars of metrics.csv as TensorBoard events,
read back by TensorBoard's own reader; without the package, one message and nothing run."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import small_spec

BLOCK_TENSORBOARD = """
import sys
class _NoTensorBoard:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _NoTensorBoard())
"""


def _train(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    iterations: int = 6,
    seed: int = 0,
):
    spec = small_spec("ode", iterations=iterations, eval_every=3)
    spec.train.seed = seed
    spec.save(tmp_path / "run.json")
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", "train", str(tmp_path / "run.json"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_event_files_hold_the_scalars_of_metrics_csv(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    result = _train(tmp_path, "--out", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb"))
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    events = accumulator.EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    with (tmp_path / "out/metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    compared = 0
    for column in rows[0]:
        if column == "iteration":
            continue
        expected = {int(r["iteration"]): float(r[column]) for r in rows if r[column]}
        expected = {i: v for i, v in expected.items() if math.isfinite(v)}
        if not expected:
            continue
        assert column in tags
        got = {e.step: e.value for e in events.Scalars(column)}
        assert sorted(got) == sorted(expected), column
        for step, value in expected.items():  # (TensorBoard keeps float32)
            assert got[step] == pytest.approx(value, rel=1e-6, abs=1e-30), (column, step)
        compared += 1
    assert {"loss", "grad_norm", "lr", "val_loss", "val_rmse"} <= tags
    assert compared >= 8
    assert sorted(e.step for e in events.Scalars("val_loss")) == [3, 6]


def test_without_tensorboard_the_run_is_refused_with_the_install_command(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TENSORBOARD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), *sys.path]))
    out = tmp_path / "out"
    result = _train(tmp_path, "--out", str(out), "--tensorboard", str(tmp_path / "tb"), env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: TensorBoard logs need the tensorboard package, which is not installed: "
        'pip install "ndestudio[tensorboard]"'
    )
    assert not out.exists() and not (tmp_path / "tb").exists()


def test_a_new_run_in_the_same_folder_replaces_the_old_ones_events(tmp_path):
    """Purging is by step: what TensorBoard reads back is the newest run alone, a shorter
    one included (no steps of the old run after its end)."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    board = tmp_path / "tb"
    first = _train(tmp_path, "--out", str(tmp_path / "a"), "--tensorboard", str(board))
    assert first.returncode == 0, first.stderr
    second = _train(
        tmp_path, "--out", str(tmp_path / "b"), "--tensorboard", str(board), iterations=4, seed=11
    )
    assert second.returncode == 0, second.stderr
    events = accumulator.EventAccumulator(str(board))
    events.Reload()
    with (tmp_path / "b/metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    losses = {int(r["iteration"]): float(r["loss"]) for r in rows}
    got = {e.step: e.value for e in events.Scalars("loss")}
    assert sorted(got) == [1, 2, 3, 4]
    for step, loss in losses.items():
        assert got[step] == pytest.approx(loss, rel=1e-6)
    evaluated = [int(r["iteration"]) for r in rows if r["val_loss"]]
    assert evaluated == [3, 4]  # (every 3 steps, and at the end)
    assert [e.step for e in events.Scalars("val_loss")] == evaluated
