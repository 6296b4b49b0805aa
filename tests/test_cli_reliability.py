"""``ndestudio train`` loses no trained work: periodic atomic checkpoints that survive
``kill -9``, Ctrl-C that saves, a used folder that is never mixed, failures that still save."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ndestudio import cli
from ndestudio.core.export import ExportError, ExportOptions, export_checkpoint
from ndestudio.core.training import load_checkpoint
from ndestudio.core.training.tasks import ODETask

ROOT = Path(__file__).resolve().parents[1]
SPIRAL = str(ROOT / "resources/configs/ode_spiral.json")
TRAIN = (sys.executable, "-m", "ndestudio", "train")


def _as_in_a_terminal() -> None:
    # A job started in the background by a shell (`cmd &`, as CI runners may) inherits an
    # ignored SIGINT; a terminal's Ctrl-C reaches a process whose SIGINT is the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TRAIN, SPIRAL, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )


def _wait_for_checkpoints(out: Path, count: int, timeout: float = 120.0) -> None:
    """Until the checkpoint has been written ``count`` times (its inode changes each time)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, "no periodic checkpoint appeared"
        with contextlib.suppress(FileNotFoundError):
            seen.add((out / "checkpoint.pt").stat().st_ino)
        time.sleep(0.02)


def _metric_iterations(out: Path) -> list[int]:
    with (out / "metrics.csv").open(newline="") as fh:
        return [int(row["iteration"]) for row in csv.DictReader(fh)]


def test_kill_9_loses_at_most_the_save_interval_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--iterations", "100000", "--save-every", "0.3")
    try:
        _wait_for_checkpoints(out, 3)
        time.sleep(0.15)  # kill at a random point between saves, maybe during one
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    ckpt = load_checkpoint(out / "checkpoint.pt")  # intact: written atomically
    assert ckpt.iteration > 0
    assert len(ckpt.history["loss"]) == ckpt.iteration

    # A stale temporary file of a killed writer is removed by the next write.
    stale = out / ".checkpoint.pt.999999999.abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    total = ckpt.iteration + 5
    resumed = subprocess.run(
        [*TRAIN, SPIRAL, "--out", str(out), "--resume", "--iterations", str(total)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"from iteration {ckpt.iteration}" in resumed.stderr
    assert load_checkpoint(out / "checkpoint.pt").iteration == total
    # Rows the killed run wrote after its last checkpoint were dropped: one row per step.
    assert _metric_iterations(out) == list(range(1, total + 1))
    assert not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "metrics.csv"]


def test_ctrl_c_twice_stops_saves_and_exits_130_without_a_traceback(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--iterations", "100000", "--save-every", "0.3")
    try:
        _wait_for_checkpoints(out, 1)
        before = load_checkpoint(out / "checkpoint.pt").iteration
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
        proc.send_signal(signal.SIGINT)  # impatient: must not lose the final save
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: stopping and saving the last good weights" in stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.iteration >= before
    assert f"checkpoint: {out / 'checkpoint.pt'} (iteration {ckpt.iteration})" in stderr


@pytest.mark.parametrize("after", [0.3, 0.6, 0.9])  # importing torch, numpy's parts, …
def test_ctrl_c_while_starting_exits_130_without_a_traceback(tmp_path, after):
    proc = _start(tmp_path / "run", "--iterations", "100000")
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    # (A signal inside an import — torch's C++ start-up, numpy's Cython ones — used to abort
    # the process or end it by the signal.)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr


def test_a_used_folder_is_refused_unless_resumed_or_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", SPIRAL, "--out", str(out), "--iterations", "4"]) == 0
    first = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()

    assert cli.main(["train", SPIRAL, "--out", str(out), "--iterations", "6"]) == 2
    err = capsys.readouterr().err
    assert f"{out} already holds a run (checkpoint.pt, config.json, metrics.csv)" in err
    assert "--resume" in err and "--overwrite" in err
    assert (out / "checkpoint.pt").read_bytes() == first  # untouched

    other = tmp_path / "other.json"
    other.write_text(Path(SPIRAL).read_text().replace('"width": 64', '"width": 32'))
    assert cli.main(["train", str(other), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "describes another run than the one in" in err
    assert "model.network.width (64 in the run, 32 in the config)" in err

    assert (
        cli.main(["train", str(other), "--out", str(out), "--overwrite", "--iterations", "3"]) == 0
    )
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt.iteration == 3 and ckpt.spec.model.network.width == 32
    assert _metric_iterations(out) == [1, 2, 3]


def test_a_solver_failure_during_evaluation_still_saves_the_checkpoint(
    tmp_path, capsys, monkeypatch
):
    """The validation solve breaks down (torchdiffeq's real max_num_steps assertion)."""
    evaluate = ODETask.evaluate

    def stiff_evaluation(self, probe):
        self.spec.solver.max_num_steps = 1
        try:
            return evaluate(self, probe)
        finally:
            self.spec.solver.max_num_steps = 10_000

    monkeypatch.setattr(ODETask, "evaluate", stiff_evaluation)
    out = tmp_path / "run"
    assert cli.main(["train", SPIRAL, "--out", str(out), "--iterations", "30"]) == 1
    err = capsys.readouterr().err
    assert "The solver needed more than max_num_steps" in err
    assert "steps at the evaluation after 25 steps" in err
    assert "The last good weights were kept" in err and "Traceback" not in err
    assert load_checkpoint(out / "checkpoint.pt").iteration == 25
    monkeypatch.undo()

    # The checkpoint exports; a solver that cannot solve the model is refused by name.
    with pytest.raises(ExportError, match="cannot be solved with dopri5 to verify the export"):
        export_checkpoint(out / "checkpoint.pt", tmp_path / "m.pt", ExportOptions(max_num_steps=1))
    assert not (tmp_path / "m.pt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_every_bad_input_is_one_message_and_exit_2(tmp_path, capsys):
    """The CLI prints a user's error as one message naming the file: never a traceback."""
    data = tmp_path / "series.csv"
    data.write_text("series,time,x\na,0,1\na,1\n")
    config = json.loads(Path(SPIRAL).read_text())
    config["data"] = {"source": "file", "path": str(data)}
    config["train"]["window"] = None
    bad_data = tmp_path / "data.json"
    bad_data.write_text(json.dumps(config))
    rows = [f"s{i},{t},{i + t},,up" for i in range(8) for t in range(5)]
    empty = tmp_path / "empty_channel.csv"
    empty.write_text("series,time,x,y,label\n" + "\n".join(rows) + "\n")
    config["data"]["path"] = str(empty)
    unobserved = tmp_path / "unobserved.json"
    unobserved.write_text(json.dumps(config))
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(Path(SPIRAL).read_text().encode("utf-16"))
    scripted = tmp_path / "model.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(scripted))
    cases = [
        (["train", str(bad_data), "--out", str(tmp_path / "a")], f"{data}, line 3: 2 cells"),
        (["train", str(utf16), "--out", str(tmp_path / "b")], str(utf16)),
        (
            ["train", str(unobserved), "--out", str(tmp_path / "b")],
            f"{empty}: channel 'y' is never observed",
        ),
        (["gui", "--config", str(utf16)], str(utf16)),
        (["export", str(scripted), "--out", str(tmp_path / "m.pt")], "exported TorchScript"),
        (["train", SPIRAL, "--out", str(tmp_path / "c"), "--device", "cuda:x"], "cuda:x"),
    ]
    for argv, fragment in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
        assert "error: " in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
