"""Data loading: NDE Studio's readers against the libraries' bare readers, side by side.

Section ``csv``: writes a long-form CSV file of 10^6 rows (10 000 series × 100 times × 3
channels, values with ``--digits`` significant digits) to a temporary folder and measures, in
one run, interleaved ``--repeats`` times (the median is printed):

- ``load_file``: NDE Studio's reader, the file to a checked ``TimeSeriesDataset`` on its grid;
- ``read_csv``: pandas' bare ``read_csv`` of the same file (default options);
- ``read_csv exact``: the same with ``float_precision="round_trip"``, which NDE Studio uses
  because pandas' default float parser is off in the last digit for many 17-digit numbers;
- ``old reader``: the csv-module reader NDE Studio had before (``--old-ref``, read with
  ``git show`` into a temporary module; skipped where git or the revision is not there).

    python benchmarks/data_load.py [--series 10000] [--times 100] [--channels 3]
                                   [--digits 6] [--repeats 3] [--old-ref REV] [--no-old]

Section ``training``: peak resident memory per training step and seconds per step of the
JapaneseVowels recipe (``resources/examples/cde_japanese_vowels.json``) and of the run issue 13
reports (dopri5 at rtol 1e-4 over all 270 training series), each by backpropagation through
the solver and by the adjoint, every run in a fresh process (``--steps`` steps each).

Each section is a function ``section_NAME(args)`` called from ``main()``; add another the
same way and list it in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The last revision with the csv-module reader (ndestudio/core/data/files.py).
OLD_REF = "8467215c123494a16b76df256effa3d224da8cdd"


def write_long_csv(path: Path, series: int, times: int, channels: int, digits: int) -> int:
    """A long-form CSV file of series × times rows; returns the number of rows."""
    rng = np.random.default_rng(0)
    t = np.round(np.arange(times) * 0.1, 6)
    fmt = f"%.{digits}g"
    with path.open("w", newline="") as f:
        f.write("series,time," + ",".join(f"x{c}" for c in range(channels)) + "\n")
        for s in range(series):
            block = np.column_stack([t, rng.normal(size=(times, channels))])
            lines = [f"s{s}," + ",".join(fmt % v for v in row) for row in block.tolist()]
            f.write("\n".join(lines) + "\n")
    return series * times


def old_reader(ref: str) -> Callable[[Path], object] | None:
    """``load_csv`` of ``ref``'s files.py, or None where git cannot give it."""
    try:
        source = subprocess.run(
            ["git", "show", f"{ref}:ndestudio/core/data/files.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="ndestudio-old-reader-"))
    module_path = folder / "old_files.py"
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_files", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_csv  # type: ignore[no-any-return]


def timed(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each run, the runs interleaved so that machine noise hits all."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in seconds.items()}


def section_csv(args: argparse.Namespace) -> None:
    import pandas as pd

    from ndestudio.core.data.files import load_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.csv"
        rows = write_long_csv(path, args.series, args.times, args.channels, args.digits)
        size = path.stat().st_size / 1e6
        print(
            f"csv: {rows} rows ({args.series} series × {args.times} times, {args.channels} "
            f"channels, {args.digits} significant digits), {size:.1f} MB"
        )
        load_file(path)  # import pandas and warm the file cache before timing
        runs: dict[str, Callable[[], object]] = {
            "load_file": lambda: load_file(path),
            "read_csv": lambda: pd.read_csv(path),
            "read_csv exact": lambda: pd.read_csv(path, float_precision="round_trip"),
        }
        old = None if args.no_old else old_reader(args.old_ref)
        if old is not None:
            runs["old reader"] = lambda: old(path)
        elif not args.no_old:
            print(f"     (old reader: revision {args.old_ref[:12]} not available)")
        seconds = timed(runs, args.repeats)
    for name, s in seconds.items():
        print(f"  {name:<16} {s:7.2f} s")
    ours = seconds["load_file"]
    print(f"  load_file/read_csv: {ours / seconds['read_csv']:.2f}")
    print(f"  load_file/read_csv exact: {ours / seconds['read_csv exact']:.2f}")
    if "old reader" in seconds:
        print(f"  old reader/load_file: {seconds['old reader'] / ours:.2f}")


RECIPE = ROOT / "resources" / "examples" / "cde_japanese_vowels.json"
# The JapaneseVowels runs compared by the training section: name → settings over the recipe.
# "issue 13" is the run the issue reports (4.2 GB): the example CDE's field (one hidden
# layer, softplus, a time channel) with dopri5 at rtol 1e-4 over the whole training set a step.
ISSUE_13: dict[str, object] = {
    "model.network.depth": 1,
    "model.network.activation": "softplus",
    "model.cde.time_channel": True,
    "solver.method": "dopri5",
    "solver.step_size": None,
    "solver.rtol": 1e-4,
    "solver.atol": 1e-6,
    "train.batch_size": 270,
}
TRAINING_RUNS: dict[str, dict[str, object]] = {
    "recipe (rk4, backprop)": {},
    "recipe, adjoint": {"solver.gradient": "adjoint"},
    "issue 13 (dopri5 1e-4, backprop)": ISSUE_13,
    "issue 13, adjoint": {**ISSUE_13, "solver.gradient": "adjoint"},
}

# Runs in a fresh process per setting: builds the trainer, resets the peak resident memory
# (Linux: /proc/self/clear_refs), trains, and prints the peak above the resident memory
# before the first step (the largest step's working memory: autograd's graph, the solver's
# stages) and the seconds per step after the first.
_TRAINING_CHILD = """
import json, sys, time
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import Trainer
from ndestudio.core import events as ev

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
recipe, settings, steps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
spec = RunSpec.load(recipe)
for key, value in settings.items():
    *path, name = key.split(".")
    part = spec
    for step in path:
        part = getattr(part, step)
    setattr(part, name, value)
spec.train.iterations, spec.train.eval_every, spec.data.test = steps + 1, 10**6, "none"
trainer = Trainer(spec)
base = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
start = None
for event in trainer.run():
    if isinstance(event, ev.Step) and start is None:  # (the first step: lazy set-up)
        start = time.perf_counter()
seconds = (time.perf_counter() - start) / steps
print(json.dumps({"base_mb": base, "peak_mb": status("VmHWM") - base, "s_per_step": seconds,
                  "nfe": trainer.history["nfe_forward"][-1]}))
"""


def section_training(args: argparse.Namespace) -> None:
    """Peak memory and seconds per step of the JapaneseVowels recipe and of issue 13's run,
    by backpropagation through the solver and by the adjoint."""
    import json

    print(
        f"training: JapaneseVowels ({RECIPE.relative_to(ROOT)}), {args.steps} steps per run, "
        "each in a fresh process; peak resident memory above that before the first step"
    )
    results = {}
    for name, settings in TRAINING_RUNS.items():
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _TRAINING_CHILD,
                str(RECIPE),
                json.dumps(settings),
                str(args.steps),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"  {name}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[name]
        print(
            f"  {name:<34} peak {r['peak_mb']:7.0f} MB per step  {r['s_per_step']:6.3f} s/step"
            f"  ({r['nfe']:.0f} evaluations forward)"
        )
    for run in ("recipe", "issue 13"):
        back = next(
            (v for k, v in results.items() if k.startswith(run) and "adjoint" not in k), None
        )
        adj = next((v for k, v in results.items() if k.startswith(run) and "adjoint" in k), None)
        if back and adj:
            print(
                f"  {run}: adjoint/backprop memory {adj['peak_mb'] / back['peak_mb']:.2f}, "
                f"time {adj['s_per_step'] / back['s_per_step']:.2f}"
            )


# Sections run in this order; add new ones here (each a function of the parsed arguments).
SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "csv": section_csv,
    "training": section_training,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--times", type=int, default=100)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--digits", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--no-old", action="store_true", help="skip the old reader")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"of {', '.join(SECTIONS)}")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for name in args.sections.split(","):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
