"""Whole-series ODE training on irregularly sampled series versus the same series on a grid.

Builds two CSV files of the same 30 damped oscillators (position and velocity, some cells
empty): one with each series observed at 35 times of its own drawn over a common span
(~1 000 distinct times in the union grid), one with every series resampled to one regular
grid of 35 times. Trains the ODE preset's model and solver on each, whole series (no
window), interleaved step by step in one process so that machine noise hits all alike, and
prints the time per training step and the vector-field evaluations per step.

``--union`` adds the irregular data solved on the union grid, as before per-series times
(each series' prediction at every one of the ~1 000 union times): slow, so it takes fewer
steps.

    python benchmarks/irregular_data.py [--steps 40] [--union] [--union-steps 6]
                                        [--gradient backprop|adjoint|adjoint_seminorm] [--keep DIR]

The last line is ``irregular/regular: R``, R = seconds per step irregular / regular.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ndestudio.core import events as ev
from ndestudio.core.data import load_csv
from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer

N_SERIES, N_OBS, SPAN, MISSING = 30, 35, (0.0, 10.0), 0.1


def oscillators(seed: int = 0) -> list[dict[str, float]]:
    """Damped oscillators ``x'' + 2ζω x' + ω² x = 0``: ω in [1, 2], ζ in [0.05, 0.2]."""
    rng = np.random.default_rng(seed)
    return [
        dict(
            omega=rng.uniform(1.0, 2.0),
            zeta=rng.uniform(0.05, 0.2),
            x0=rng.uniform(-1.5, 1.5),
            v0=rng.uniform(-1.5, 1.5),
        )
        for _ in range(N_SERIES)
    ]


def state(p: dict[str, float], t: np.ndarray) -> np.ndarray:
    """Position and velocity (len(t), 2) in closed form (underdamped)."""
    w, z = p["omega"], p["zeta"]
    wd = w * np.sqrt(1 - z * z)
    a, b = p["x0"], (p["v0"] + z * w * p["x0"]) / wd
    decay = np.exp(-z * w * t)
    c, s = np.cos(wd * t), np.sin(wd * t)
    x = decay * (a * c + b * s)
    v = decay * ((-z * w) * (a * c + b * s) + wd * (-a * s + b * c))
    return np.stack([x, v], axis=1)


def write_csv(path: Path, irregular: bool, seed: int = 0) -> None:
    """The oscillators at their own random times (``irregular``) or on one regular grid;
    the same share of cells left empty in both (never a whole row)."""
    rng = np.random.default_rng(seed + 1)
    grid = np.linspace(*SPAN, N_OBS)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["series", "time", "x", "v"])
        for i, p in enumerate(oscillators(seed)):
            t = np.sort(rng.uniform(*SPAN, N_OBS)) if irregular else grid
            values = state(p, t) + 0.01 * rng.standard_normal((N_OBS, 2))
            empty = rng.random((N_OBS, 2)) < MISSING
            empty[empty.all(axis=1), rng.integers(2)] = False
            for k in range(N_OBS):
                cells = ["" if empty[k, c] else f"{values[k, c]:.6f}" for c in range(2)]
                out.writerow([f"s{i:02d}", f"{t[k]:.6f}", *cells])


def make_spec(path: Path, gradient: str) -> RunSpec:
    """The ODE preset's model and solver, trained on whole series."""
    return RunSpec(
        name=path.stem,
        model=ModelSpec(family="ode", network=NetworkSpec(width=64, depth=2, activation="tanh")),
        solver=SolverSpec(
            method="dopri5", rtol=1e-3, atol=1e-6, max_num_steps=10_000, gradient=gradient
        ),
        data=DataSpec(source="file", path=str(path), val_fraction=0.2),
        train=TrainSpec(
            lr=0.01, batch_size=16, iterations=10**9, window=None, eval_every=10**9, threads=1
        ),
    )


class Run:
    def __init__(self, label: str, path: Path, gradient: str, union: bool = False) -> None:
        self.label = label
        dataset = load_csv(path)
        self.trainer = Trainer(make_spec(path, gradient), dataset)
        if union:  # the path before per-series times: the batch solved on the union grid
            self.trainer.task.irregular = False  # type: ignore[attr-defined]
        self.events = self.trainer.run()
        assert isinstance(next(self.events), ev.Started)
        self.times: list[float] = []
        self.nfe: list[tuple[int, int]] = []
        self.n_times = len(dataset.times)

    def step(self, record: bool = True) -> None:
        start = time.perf_counter()
        step = next(self.events)
        elapsed = time.perf_counter() - start
        assert isinstance(step, ev.Step), step
        if record:
            self.times.append(elapsed)
            self.nfe.append((step.nfe_forward, step.nfe_backward))

    def seconds(self) -> float:
        return statistics.median(self.times)

    def report(self) -> str:
        forward = statistics.mean(f for f, _ in self.nfe)
        backward = statistics.mean(b for _, b in self.nfe)
        return (
            f"{self.label:<34} {self.n_times:>6} {1e3 * self.seconds():>9.1f} "
            f"{1 / self.seconds():>8.1f} {forward:>7.0f} {backward:>8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--union", action="store_true", help="also time the union-grid solve")
    parser.add_argument("--union-steps", type=int, default=6)
    parser.add_argument("--gradient", default="backprop", help="backprop, adjoint, ...")
    parser.add_argument("--keep", type=Path, help="write the CSV files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        irregular_csv, regular_csv = folder / "irregular.csv", folder / "regular.csv"
        write_csv(irregular_csv, irregular=True)
        write_csv(regular_csv, irregular=False)
        irregular = Run("irregular, own times", irregular_csv, args.gradient)
        regular = Run("regular grid", regular_csv, args.gradient)
        runs = [irregular, regular]
        if args.union:
            union = Run("irregular, union grid (before)", irregular_csv, args.gradient, union=True)
            runs.append(union)
        for run in runs:
            for _ in range(args.warmup):
                run.step(record=False)
        for i in range(args.steps):
            for run in runs:
                if run is irregular or run is regular or i < args.union_steps:
                    run.step()
    print(
        f"{N_SERIES} series x {N_OBS} observations over t in {list(SPAN)}, "
        f"{MISSING:.0%} of cells empty; dopri5 rtol 1e-3 atol 1e-6, {args.gradient}, "
        "batch 16, whole series"
    )
    print(f"{'run':<34} {'times':>6} {'ms/step':>9} {'steps/s':>8} {'nfe fwd':>7} {'nfe bwd':>8}")
    for run in runs:
        print(run.report())
    if args.union:
        print(f"union/regular: {runs[2].seconds() / regular.seconds():.2f}")
    print(f"irregular/regular: {irregular.seconds() / regular.seconds():.2f}")


if __name__ == "__main__":
    main()
