"""Memory over a long run: resident memory (RSS) per 1 000 training steps, for each family.

Trains each family's preset (the window's starting points; the latent SDE as well) for
``--steps`` steps with evaluations every ``--eval-every`` steps, samples RSS every
``--every`` steps, and fits a line to the samples after the first ``--warmup`` steps (the
allocator's warm-up). A flat run prints a slope near 0; the leak fixed in issue 10 was
300–6 000 MB per 1 000 steps.

    python benchmarks/soak.py [--steps 3000] [--families ode cde sde latent_sde]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from ndestudio.core.presets import preset
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import Trainer


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def family_spec(name: str) -> RunSpec:
    if name == "latent_sde":
        spec = preset("sde")
        spec.model.sde.objective = "latent_sde"
        spec.solver.method, spec.solver.gradient = "euler", "backprop"
        spec.model.sde.sde_type = "ito"
        return spec
    return preset(name)


def soak(name: str, steps: int, every: int, warmup: int, eval_every: int) -> tuple[float, ...]:
    spec = family_spec(name)
    spec.train.iterations = steps
    spec.train.eval_every = eval_every
    spec.train.schedule = "constant"
    trainer = Trainer(spec)
    samples: list[tuple[int, float]] = []
    started = time.perf_counter()
    for event in trainer.run():
        iteration = getattr(event, "iteration", None)
        if type(event).__name__ == "Step" and iteration is not None and iteration % every == 0:
            gc.collect()
            samples.append((iteration, rss_mb()))
        if type(event).__name__ == "Failed":
            raise SystemExit(f"{name}: the run failed: {event}")
    seconds = time.perf_counter() - started
    steady = np.array([s for s in samples if s[0] >= warmup])
    slope = float(np.polyfit(steady[:, 0], steady[:, 1], 1)[0]) * 1000
    return slope, steady[0, 1], steady[-1, 1], max(r for _, r in samples), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=50, help="sample RSS every N steps")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--families", nargs="+", default=["ode", "cde", "sde", "latent_sde"])
    args = parser.parse_args()
    print(
        f"{'family':12s} {'MB/1000 steps':>14s} {'RSS first':>10s} {'last':>8s} "
        f"{'peak':>8s} {'seconds':>8s}"
    )
    for name in args.families:
        slope, first, last, peak, seconds = soak(
            name, args.steps, args.every, args.warmup, args.eval_every
        )
        print(
            f"{name:12s} {slope:14.2f} {first:10.1f} {last:8.1f} {peak:8.1f} {seconds:8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
