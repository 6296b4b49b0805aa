"""Training steps per second: NDE Studio's ``Trainer`` versus a bare torchdiffeq loop.

Same config for both (spiral demo, MLP 2-64-64-2, dopri5, Adam), interleaved in blocks in
one process so that machine noise hits both alike. Before each block pair both models start
from the same weights, so that their solves cost about the same; NFE per step is printed too.

    python benchmarks/trainer_overhead.py [--blocks 8] [--steps 10]
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

    def __init__(self, trainer: Trainer) -> None:
        task = trainer.task
        self.field = type(trainer.model.field)(2, 2, trainer.spec.model.network)
        self.data = task.train_values
        self.times = task.times
        self.batch = trainer.spec.train.batch_size
        self.window = trainer.spec.train.window or self.data.shape[1]
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=trainer.spec.train.lr)
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


def measure(batch: int, blocks: int, steps: int) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(make_spec(batch))
    bare = BareLoop(trainer)
    events = trainer.run()
    next(events)  # Started

    def trainer_block() -> tuple[float, float]:
        nfe, t0 = 0, time.perf_counter()
        done = 0
        while done < steps:
            event = next(events)
            if isinstance(event, ev.Step):
                done += 1
                nfe += event.nfe_forward
        return steps / (time.perf_counter() - t0), nfe / steps

    def bare_block() -> tuple[float, float]:
        bare.nfe = 0
        t0 = time.perf_counter()
        for _ in range(steps):
            bare.step()
        return steps / (time.perf_counter() - t0), bare.nfe / steps

    for _ in range(2):  # warm-up
        bare.step()
    trainer_block()
    rates: dict[str, list[float]] = {"trainer": [], "bare": []}
    nfes: dict[str, list[float]] = {"trainer": [], "bare": []}
    for i in range(blocks):
        weights = {k: v.clone() for k, v in trainer.model.field.state_dict().items()}
        bare.field.load_state_dict(weights)
        order = [("trainer", trainer_block), ("bare", bare_block)]
        for name, block in order if i % 2 == 0 else order[::-1]:
            if name == "trainer":
                trainer.model.field.load_state_dict(weights)
            rate, nfe = block()
            rates[name].append(rate)
            nfes[name].append(nfe)
    t_rate, b_rate = statistics.median(rates["trainer"]), statistics.median(rates["bare"])
    t_nfe, b_nfe = statistics.mean(nfes["trainer"]), statistics.mean(nfes["bare"])
    ratios = [a / b for a, b in zip(rates["trainer"], rates["bare"], strict=True)]
    print(
        f"batch {batch:4d}: Trainer {t_rate:7.1f} steps/s ({t_nfe:.1f} NFE/step), "
        f"bare torchdiffeq {b_rate:7.1f} steps/s ({b_nfe:.1f} NFE/step); "
        f"ratio of medians {t_rate / b_rate:.3f}, median of paired ratios "
        f"{statistics.median(ratios):.3f}; per NFE {(t_rate * t_nfe) / (b_rate * b_nfe):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 256])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); target ratio ≥ 0.97")
    for batch in args.batches:
        measure(batch, args.blocks, args.steps)


if __name__ == "__main__":
    main()
