"""Data-parallel training: ``ndestudio train --nproc 2`` (two gloo ranks on loopback) against
one process, its checkpoint, a rank killed mid-run, Ctrl-C, and what is refused."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ndestudio.cli_distributed import RANK_LEFT, _report, _without_nproc
from ndestudio.core.specs import SpecError
from ndestudio.core.training import Trainer
from ndestudio.core.training.distributed import Distributed, Shard, refusal
from tests.conftest import small_spec


def _config(tmp_path: Path, family: str, iterations: int = 20) -> Path:
    """A float64 run of ``family`` ("ode", "cde", "sde_gan", "latent_sde") on fixed steps."""
    spec = small_spec(family.split("_")[-1], iterations=iterations, eval_every=10, dtype="float64")
    if family == "ode":  # (fixed steps: adaptive ones choose a shard's steps from its own error)
        spec.solver.method, spec.solver.step_size = "midpoint", 0.05
        spec.train.batch_size = 16
    if family == "latent_sde":  # (srk: the Brownian motion's Lévy areas are sharded too)
        spec.model.sde.objective = "latent_sde"
        spec.solver.method, spec.solver.gradient = "srk", "adjoint"
        spec.model.sde.sde_type = "ito"
    if family == "sde_gan":  # (the default objective: WGAN-GP, the gradient penalty's double
        assert spec.model.sde.gan_constraint == "gradient_penalty"  # backward through DDP)
    path = tmp_path / f"{family}.json"
    spec.save(path)
    return path


def _train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", "train", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _losses(out: Path) -> list[float]:
    with (out / "metrics.csv").open(newline="") as fh:
        return [float(row["loss"]) for row in csv.DictReader(fh)]


def _relative(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) / abs(x) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("family", ["ode", "cde", "sde_gan", "latent_sde"])
def test_two_ranks_train_as_one_process_does(tmp_path, family):
    config = _config(tmp_path, family)
    one = _train(str(config), "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = _train(str(config), "--out", str(tmp_path / "two"), "--nproc", "2")
    assert two.returncode == 0, two.stderr
    assert "2 ranks (gloo), each a shard of every batch" in two.stderr
    assert two.stderr.count("finished in") == 1  # rank 0 alone reports
    single, double = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(single) == 20
    assert _relative(single, double) <= 1e-10
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "metrics.csv",
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_nodes_meeting_by_c10d_rendezvous_train_as_one_process_does(tmp_path):
    """The README's several-node command, with two torchrun agents ("nodes") on loopback."""
    config = _config(tmp_path, "cde")
    one = _train(str(config), "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
    node_args = ["--nproc-per-node", "1", *rendezvous, "--rdzv-id", "two-nodes"]
    train = [*torchrun, *node_args, "-m", "ndestudio", "train", str(config), "--out"]
    nodes = [
        subprocess.Popen(
            [*train, str(tmp_path / f"node{node}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in (0, 1)
    ]
    ended = [node.communicate(timeout=300) for node in nodes]
    for node, (_, stderr) in zip(nodes, ended, strict=True):
        assert node.returncode == 0, stderr
    # Which node holds rank 0 is the rendezvous's choice: that one alone wrote the run.
    written = [d for d in (tmp_path / "node0", tmp_path / "node1") if (d / "metrics.csv").exists()]
    assert len(written) == 1
    assert sorted(p.name for p in written[0].iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "metrics.csv",
    ]
    assert sum(stderr.count("finished in") for _, stderr in ended) == 1
    assert _relative(_losses(tmp_path / "one"), _losses(written[0])) <= 1e-10


def test_a_two_rank_checkpoint_continues_in_one_process(tmp_path):
    config = _config(tmp_path, "cde")
    straight = _train(str(config), "--out", str(tmp_path / "one"))
    assert straight.returncode == 0, straight.stderr
    half = _train(str(config), "--out", str(tmp_path / "two"), "--nproc", "2", "--iterations", "10")
    assert half.returncode == 0, half.stderr
    trainer = Trainer.from_checkpoint(tmp_path / "two" / "checkpoint.pt")  # the ordinary kind
    assert trainer.iteration == 10
    trainer.set_iterations(20)
    list(trainer.run())
    assert _relative(_losses(tmp_path / "one"), list(trainer.history["loss"])) <= 1e-10


def _ranks(launcher: int) -> dict[int, int]:
    """pid of each rank (from its RANK) among the launcher's descendants."""
    found: dict[int, int] = {}

    def walk(pid: int) -> None:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return
        for child in children:
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                if entry.startswith(b"RANK="):
                    found[int(entry[5:])] = int(child)
            walk(int(child))

    walk(launcher)
    return found


def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, dict[int, int]]:
    config = _config(tmp_path, "cde", iterations=10**6)
    out = tmp_path / "run"
    command = ["train", str(config), "--out", str(out), "--nproc", "2"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ndestudio", *command],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # (its own process group, as a terminal's job is)
    )
    assert launcher.stderr is not None
    for line in launcher.stderr:
        if line.startswith("training run"):
            break
    time.sleep(1.0)  # well into training
    ranks = _ranks(launcher.pid)
    assert sorted(ranks) == [0, 1]
    return launcher, out, ranks


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the ranks")
def test_a_rank_killed_mid_run_ends_the_run_with_a_clear_message(tmp_path):
    launcher, out, ranks = _start_long_run(tmp_path)
    os.kill(ranks[1], signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 1
    assert f"rank 1 (pid {ranks[1]}) ended by signal SIGKILL; 1 other rank(s) stopped" in stderr
    assert "rank 0: another rank of the distributed run failed or was stopped" in stderr
    assert "no checkpoint was written" in stderr
    assert "Traceback" not in stderr
    # No checkpoint (the first periodic one was not due), and no half-written one either.
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.csv"]


_FAILING_SOLVE = """
import os
if os.environ.get("RANK") == "1":  # (rank 1's shard alone: its solve fails at iteration 7)
    from ndestudio.core.training import tasks

    solved = tasks.CDETask.loss

    def loss(self, iteration, probe):
        if iteration == 6:
            raise AssertionError("max_num_steps exceeded (10)")
        return solved(self, iteration, probe)

    tasks.CDETask.loss = loss
"""


def test_a_solve_that_fails_on_one_rank_ends_the_run_with_that_rank_s_reason(tmp_path):
    injected = tmp_path / "injected"
    injected.mkdir()
    (injected / "sitecustomize.py").write_text(_FAILING_SOLVE)
    config = _config(tmp_path, "cde", iterations=40)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(injected), *sys.path]))
    train = [sys.executable, "-m", "ndestudio", "train", str(config), "--nproc", "2"]
    run = subprocess.run(
        [*train, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 1, run.stderr
    assert (
        "error: rank 1: The solver needed more than max_num_steps=10000 steps at iteration 7"
        in run.stderr
    )
    assert "rank 0: another rank of the distributed run failed or was stopped" in run.stderr
    assert "error: the distributed run failed: rank 1 (pid " in run.stderr
    assert "exited with status 1; 1 other rank(s) stopped with it" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.count("max_num_steps") == 1  # (rank 1 said it; rank 0 did not repeat it)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the ranks")
def test_ctrl_c_stops_every_rank_at_one_step_and_rank_0_saves(tmp_path):
    launcher, out, _ = _start_long_run(tmp_path)
    os.killpg(launcher.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches its whole job
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted (SIGINT): the ranks have stopped" in stderr
    trainer = Trainer.from_checkpoint(out / "checkpoint.pt")
    assert trainer.iteration > 0
    assert len(_losses(out)) >= trainer.iteration - 1


def test_what_cannot_be_sharded_is_refused_by_name():
    assert refusal(3, 4) == "the batch size (3) must be at least the number of ranks (4)"
    assert refusal(16, 2) is None
    pretend = Distributed(rank=0, world=4, local_rank=0, backend="gloo")
    with pytest.raises(SpecError, match=r"the batch size \(3\) must be at least"):
        Trainer(small_spec("sde", batch_size=3), distributed=pretend)


def test_a_shard_takes_every_world_th_row():
    rows = torch.arange(7)
    assert Shard(0, 2).rows(rows).tolist() == [0, 2, 4, 6]
    assert Shard(1, 2).rows(rows).tolist() == [1, 3, 5]
    assert Shard().rows(rows) is rows


def test_the_launcher_passes_the_rest_of_the_command_on():
    argv = ["train", "c.json", "--nproc", "2", "--out", "x", "--nproc=3"]
    assert _without_nproc(argv) == ["train", "c.json", "--out", "x"]


def test_the_launcher_names_the_rank_that_failed_first(capsys):
    class Failure:
        def __init__(self, pid: int, exitcode: int) -> None:
            self.pid, self.exitcode = pid, exitcode

        def signal_name(self) -> str:
            return signal.Signals(-self.exitcode).name

    code = _report({0: Failure(10, RANK_LEFT), 1: Failure(11, 1), 2: Failure(12, -15)})
    assert code == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: the distributed run failed: rank 1 (pid 11) exited with status 1; "
        "2 other rank(s) stopped with it"
    )
    assert _report({0: Failure(10, 130), 1: Failure(11, 130)}) == 130


def test_early_stopping_stops_every_rank_at_the_same_step(tmp_path):
    spec = small_spec("cde", iterations=60, eval_every=2, dtype="float64")
    spec.train.patience, spec.train.lr = 1, 0.5  # (a rate that stops it early)
    config = tmp_path / "cde.json"
    spec.save(config)
    one = _train(str(config), "--out", str(tmp_path / "one"))
    two = _train(str(config), "--out", str(tmp_path / "two"), "--nproc", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    line = next(x for x in one.stderr.splitlines() if x.startswith("stopped at iteration"))
    assert "early stopping" in line and line in two.stderr.splitlines()
    assert len(_losses(tmp_path / "two")) == len(_losses(tmp_path / "one")) < 60
