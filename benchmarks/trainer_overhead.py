"""Training steps per second: NDE Studio's ``Trainer`` versus a bare torchdiffeq loop.

Same config for both (spiral demo, MLP 2-64-64-2, dopri5, Adam), interleaved step by step
in one process so that machine noise hits both alike. Before each pair of steps the bare
loop is given the trainer's weights and random state, so both solve exactly the same batch
with the same number of evaluations: the difference is the Trainer's own overhead.

    python benchmarks/trainer_overhead.py [--pairs 200] [--batches 16 256] [--fused]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchdiffeq

from ndestudio.core import events as ev
from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer


def make_spec(batch: int) -> RunSpec:
    return RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=64, depth=2, activation="tanh")),
        solver=SolverSpec(method="dopri5", rtol=1e-3, atol=1e-6),
        data=DataSpec(name="spiral", n_series=max(320, batch + batch // 4 + 1), n_times=50),
        train=TrainSpec(batch_size=batch, iterations=10**9, window=10, eval_every=10**9, lr=1e-3),
    )


class BareLoop:
    """What a user would write by hand with torchdiffeq: sample, solve, MSE, backward, step."""

    def __init__(self, trainer: Trainer, fused: bool) -> None:
        task = trainer.task
        self.field = type(trainer.model.field)(2, 2, trainer.spec.model.network)
        self.data = task.train_values
        self.times = task.times
        self.batch = trainer.spec.train.batch_size
        self.window = trainer.spec.train.window or self.data.shape[1]
        # A hand-written loop's Adam is torch's default (per-tensor on a CPU); with --fused it
        # gets the fused kernels the Trainer picks, leaving only the Trainer's own overhead.
        params = self.field.parameters()
        lr = trainer.spec.train.lr
        self.optimizer = torch.optim.Adam(params, lr=lr, fused=True if fused else None)
        self.generator = torch.Generator().manual_seed(1)
        self.nfe = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.field(t, y)

    def step(self) -> None:
        rows = torch.randperm(self.data.shape[0], generator=self.generator)[: self.batch]
        start = int(
            torch.randint(self.data.shape[1] - self.window + 1, (1,), generator=self.generator)
        )
        target = self.data[rows, start : start + self.window]
        t = self.times[start : start + self.window]
        pred = torchdiffeq.odeint(
            self.forward, target[:, 0], t, rtol=1e-3, atol=1e-6, method="dopri5"
        )
        loss = (pred.transpose(0, 1) - target).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def measure(batch: int, pairs: int, fused: bool, batches: list[int]) -> None:
    trainer = Trainer(make_spec(batch))
    if batch == min(batches):
        fused_trainer = trainer.optimizer.defaults.get("fused")
        print(f"the Trainer uses {type(trainer.optimizer).__name__} (fused={fused_trainer})")
    bare = BareLoop(trainer, fused)
    events = trainer.run()
    next(events)  # Started

    def trainer_step() -> tuple[float, int]:
        t0 = time.perf_counter()
        event = next(events)
        while not isinstance(event, ev.Step):
            event = next(events)
        return time.perf_counter() - t0, event.nfe_forward

    def bare_step() -> tuple[float, int]:
        bare.nfe = 0
        t0 = time.perf_counter()
        bare.step()
        return time.perf_counter() - t0, bare.nfe

    for _ in range(3):  # warm-up
        trainer_step()
        bare_step()
    times: dict[str, list[float]] = {"trainer": [], "bare": []}
    nfe_mismatch = 0
    for i in range(pairs):
        # Identical work for both: the same weights and the same batch (the same random state).
        bare.field.load_state_dict(trainer.model.field.state_dict())
        bare.generator.set_state(trainer.generator.get_state())
        order = [("trainer", trainer_step), ("bare", bare_step)]
        nfes = {}
        for name, step in order if i % 2 == 0 else order[::-1]:
            elapsed, nfes[name] = step()
            times[name].append(elapsed)
        nfe_mismatch += nfes["trainer"] != nfes["bare"]
    t_total, b_total = sum(times["trainer"]), sum(times["bare"])
    ratios = [b / t for t, b in zip(times["trainer"], times["bare"], strict=True)]
    print(
        f"batch {batch:4d}: Trainer {pairs / t_total:7.1f} steps/s, bare torchdiffeq "
        f"{pairs / b_total:7.1f} steps/s over {pairs} interleaved step pairs; "
        f"ratio {b_total / t_total:.3f} "
        f"(median of per-pair ratios {statistics.median(ratios):.3f}); "
        f"pairs with different NFE: {nfe_mismatch}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 256])
    parser.add_argument(
        "--fused", action="store_true", help="give the bare loop the Trainer's fused Adam too"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the Trainer sets it (TrainSpec.threads)
    adam = "fused Adam" if args.fused else "torch's default Adam"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); the bare loop uses "
        f"{adam}; target ratio ≥ 0.97"
    )
    for batch in args.batches:
        measure(batch, args.pairs, args.fused, args.batches)


if __name__ == "__main__":
    main()
