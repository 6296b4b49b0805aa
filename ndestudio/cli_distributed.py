"""``ndestudio train`` across processes: joining a torchrun world as one rank, and
``--nproc N``, which starts such a world on this machine (torch's elastic launcher, the
engine of ``torchrun``) and reports how it ended."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ndestudio.core.training.distributed import Distributed

RANK_LEFT = 3  # the exit status of a rank that stopped because another one failed or left


def join(args: argparse.Namespace) -> Distributed | None:
    """This process's rank of the torchrun world its environment names; None (with the
    reason printed) when it cannot join."""
    from ndestudio.core.specs import RunSpec
    from ndestudio.core.training.distributed import Distributed

    device = args.device
    if device is None:
        try:
            device = RunSpec.load(args.config).train.device
        except Exception:  # (the config's own errors are reported once the rank has joined)
            device = "auto"
    try:
        return Distributed.from_environment(device)
    except (RuntimeError, ValueError, KeyError) as exc:
        rank = os.environ.get("RANK", "?")
        detail = " ".join(str(exc).split())[:300]
        print(f"error: rank {rank} could not join the distributed run: {detail}", file=sys.stderr)
        return None


def _without_nproc(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(argv: list[str], nproc: int) -> int:
    """Run ``ndestudio ARGV`` (less ``--nproc``) as ``nproc`` ranks on this machine, the way
    ``torchrun --standalone --nproc-per-node N -m ndestudio …`` would; 0 when every rank
    finished, 130 when the run was interrupted (Ctrl-C or SIGTERM reaches every rank, which
    stop at the same step, and rank 0 saves), else 1 with the ranks that failed and why."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"ndestudio-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    print(
        f"starting {nproc} ranks on this machine (torch.distributed, c10d rendezvous)",
        file=sys.stderr,
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # (each rank sets its own thread count)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "ndestudio", *_without_nproc(argv))
    except ChildFailedError as exc:
        return _report(exc.failures)
    except SignalException as exc:
        # Ctrl-C (or a SIGTERM): the launcher has passed the signal on to the ranks and waited
        # for them; they stopped at the same step and rank 0 saved its checkpoint.
        print(
            f"\ninterrupted ({signal.Signals(exc.sigval).name}): the ranks have stopped",
            file=sys.stderr,
        )
        return 130
    return 0


def _report(failures: dict[int, Any]) -> int:
    """The exit status of a failed world, and one line on why: the ranks that failed on
    their own (not stopped by the launcher's SIGTERM, nor ending with :data:`RANK_LEFT`
    because another had gone)."""
    codes = {failure.exitcode for failure in failures.values()}
    if codes <= {130, 2}:
        return 130 if 130 in codes else 2  # (each rank said why)
    followers = {RANK_LEFT, -int(signal.SIGTERM)}
    causes = {r: f for r, f in failures.items() if f.exitcode not in followers} or failures
    lines = []
    for rank, failure in sorted(causes.items()):
        if failure.exitcode < 0:
            why = f"ended by signal {failure.signal_name()}"
        else:
            why = f"exited with status {failure.exitcode}"
        lines.append(f"rank {rank} (pid {failure.pid}) {why}")
    others = len(failures) - len(causes)
    tail = f"; {others} other rank(s) stopped with it" if others else ""
    print("error: the distributed run failed: " + "; ".join(lines) + tail, file=sys.stderr)
    return 1
