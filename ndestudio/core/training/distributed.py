"""Data-parallel training with ``torch.distributed``: one process per rank, started by
``torchrun`` (or ``ndestudio train --nproc N``), gradients averaged by
``DistributedDataParallel`` (gloo on CPUs, NCCL on CUDA, one device per rank).

Every rank builds the same trainer from the same seed, so every rank draws the same global
batch; each trains on its shard of it (rows ``rank``, ``rank + world``, …). A shard's loss is
its share of the global batch's loss — its sum over the global count, times the world size —
so that DDP's average of the ranks' gradients is the gradient of the global batch's loss, as
one process would compute it. Everything else (evaluation, early stopping, the best weights)
runs the same on every rank from the same numbers; rank 0 alone prints and writes files.

SDE models draw noise: a rank draws it for the whole global batch (the initial noise, the
gradient penalty's mixtures, the Brownian motion from the step's seed) and keeps its rows
(:class:`ndestudio.core.shard.BatchShare`), so its series see what they would see in one
process. The SDE-GAN's players are wrapped each on its own; its gradient penalty's double
backward needs nothing of DDP: the penalty's gradient is each path's own, and the parameters'
gradients (all of them, through the penalty too) come from the one ``backward``.

A stop is agreed on between steps (an all-reduce of each rank's stop flag): a rank that
stopped inside a solve would leave the others waiting in the gradient all-reduce.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from ndestudio.core.shard import Shard


class RankFailure(Exception):
    """Another rank of a distributed run failed or left: this one stops too (its message is
    for the user; the run's files are left as the last checkpoint wrote them)."""


def refusal(batch_size: int, world: int) -> str | None:
    """Why a run with this batch size cannot be sharded over ``world`` ranks (every family's
    objective is: see each task's ``loss``)."""
    if batch_size < world:
        return f"the batch size ({batch_size}) must be at least the number of ranks ({world})"
    return None


def launched_world() -> int:
    """The world size torchrun set for this process (1 when it was not started by it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


class Distributed:
    """This process's place in a torchrun world: rank, world size, its device."""

    def __init__(self, rank: int, world: int, local_rank: int, backend: str) -> None:
        self.rank, self.world, self.local_rank, self.backend = rank, world, local_rank, backend
        self.shard = Shard(rank, world)

    @classmethod
    def from_environment(cls, device: str, timeout_s: float = 300.0) -> Distributed:
        """Join the process group torchrun's environment describes (``RANK``, ``WORLD_SIZE``,
        ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): NCCL when the run is on CUDA,
        gloo otherwise."""
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device != "cpu" and torch.cuda.is_available()
        backend = "nccl" if cuda else "gloo"
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        return cls(rank, world, local_rank, backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device_name(self, requested: str) -> str:
        """The device of this rank: its own CUDA device (``cuda:LOCAL_RANK``) on NCCL."""
        return f"cuda:{self.local_rank}" if self.backend == "nccl" else requested

    def wrap(self, model: nn.Module) -> nn.Module:
        device_ids = [self.local_rank] if self.backend == "nccl" else None
        # (buffers are the data's units, the same on every rank: not re-broadcast each step)
        return nn.parallel.DistributedDataParallel(
            model, device_ids=device_ids, forward_sync_buffers=False
        )

    def mean(self, value: torch.Tensor) -> float:
        """The mean over ranks of a scalar."""
        total = value.detach().reshape(1).double().clone()
        if self.backend == "nccl":
            total = total.cuda()
        self._all_reduce(total)
        return float(total) / self.world

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank."""
        value = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64)
        if self.backend == "nccl":
            value = value.cuda()
        self._all_reduce(value, dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def _all_reduce(self, tensor: torch.Tensor, op: dist.ReduceOp.RedOpType | None = None) -> None:
        try:
            dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
        except RuntimeError as exc:  # (gloo's errors are often plain RuntimeErrors)
            raise left(exc) from None

    def close(self) -> None:
        """Leave the group once every rank has come to its end (rank 0 last writes its
        checkpoint): a rank tearing its part down while another still runs can abort."""
        if dist.is_initialized():
            try:
                dist.barrier()
            except RuntimeError:
                return  # (a peer is gone: nothing to tear down together)
            dist.destroy_process_group()


# Words of the errors a collective raises when a peer is gone (DDP's gradient all-reduce
# raises them as a plain RuntimeError through autograd, not as torch.distributed.DistError).
_PEER_GONE = ("gloo", "nccl", "connection reset", "connection closed", "processgroup")


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective operation failing (another rank gone), not this
    rank's own solver failure."""
    if isinstance(exc, (RankFailure, dist.DistError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(word in text for word in _PEER_GONE)


def left(exc: BaseException) -> RankFailure:
    """The error of a collective that failed because another rank is gone."""
    if isinstance(exc, RankFailure):
        return exc
    detail = re.sub(r"^\[[^\]]*\]\s*", "", " ".join(str(exc).split()))  # (gloo's source line)
    detail = detail.split(". ")[0][:160]
    return RankFailure(f"another rank of the distributed run failed or was stopped ({detail})")
