"""Samples per second of data-parallel training with 1 and 2 ranks (issue 15).

A CDE classifier large enough that a step is mostly compute: the spirals demo with 2 048
series of 64 observations (30 % missing), Hermite paths, hidden size 32, an MLP of width 128,
rk4 steps of 0.1, a global batch of 256, float32, one thread per rank. Each configuration is
run as ``ndestudio train CONFIG --nproc N`` (gloo on loopback), alternately, ``--repeats``
times; the time is read from the run's own ``metrics.csv`` (``wall_time`` from the
``--warmup``-th step to the last: start-up, data generation and the rendezvous excluded).

    python benchmarks/ddp_scaling.py [--steps 40] [--warmup 5] [--repeats 2] [--ranks 1,2]

It ends with ``2 ranks vs 1: 1.7x samples/s (scaling efficiency 85 %)``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ndestudio.core.presets import spirals_cde  # noqa: E402
from ndestudio.core.specs import SolverSpec  # noqa: E402

BATCH = 256


def write_config(path: Path, steps: int) -> None:
    spec = spirals_cde()
    spec.data.n_series, spec.data.n_times, spec.data.val_fraction = 2048, 64, 0.05
    spec.model.cde.hidden_size = 32
    spec.model.network.width = 128
    spec.solver = SolverSpec(method="rk4", step_size=0.1)
    spec.train.batch_size, spec.train.iterations = BATCH, steps
    spec.train.eval_every, spec.train.threads = 10**6, 1
    spec.save(path)


def samples_per_second(config: Path, ranks: int, warmup: int, folder: Path) -> float:
    out = folder / f"run-{ranks}"
    command = [sys.executable, "-m", "ndestudio", "train", str(config), "--out", str(out)]
    command += ["--overwrite", "--nproc", str(ranks)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    with (out / "metrics.csv").open(newline="") as fh:
        times = [float(row["wall_time"]) for row in csv.DictReader(fh)]
    steps = len(times) - warmup
    return BATCH * steps / (times[-1] - times[warmup - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ranks", default="1,2")
    args = parser.parse_args()
    counts = [int(r) for r in args.ranks.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "cde.json"
        write_config(config, args.steps)
        measured: dict[int, list[float]] = {n: [] for n in counts}
        for repeat in range(args.repeats):
            for n in counts:
                rate = samples_per_second(config, n, args.warmup, folder)
                measured[n].append(rate)
                print(f"repeat {repeat + 1}: {n} rank(s) {rate:8.1f} samples/s", flush=True)
    rates = {n: statistics.median(values) for n, values in measured.items()}
    base = rates[counts[0]]
    for n in counts:
        print(f"{n} rank(s): {rates[n]:8.1f} samples/s (median of {args.repeats})")
    for n in counts[1:]:
        ratio = rates[n] / base
        print(
            f"{n} ranks vs {counts[0]}: {ratio:.2f}x samples/s "
            f"(scaling efficiency {100 * ratio / (n / counts[0]):.0f} %)"
        )


if __name__ == "__main__":
    main()
