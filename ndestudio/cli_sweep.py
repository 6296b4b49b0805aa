"""``ndestudio sweep``: train every trial of a grid over a run config in local processes
(each an ordinary ``ndestudio train`` in its own folder) and write the results table."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ndestudio.core.errors import UserError

RESULTS = "results.csv"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a grid of settings over a run config, one ordinary run per trial, and "
        "write a results table",
    )
    p.add_argument("config", help="the run config every trial starts from")
    p.add_argument(
        "--grid",
        nargs="+",
        required=True,
        metavar="KEY=V1,V2",
        help="settings to vary, e.g. train.lr=1e-3,3e-3 model.network.width=32,64",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=1,
        metavar="K",
        help="run every grid point K times, with the seeds seed, seed+1, …",
    )
    p.add_argument("--out", required=True, help="folder for the trials and results.csv")
    p.add_argument(
        "--jobs", type=int, default=1, metavar="J", help="trials trained at once (default 1)"
    )
    p.add_argument("--iterations", type=int, help="override every trial's iteration count")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the trials with Ray Tune on the cluster at ADDRESS ('local': start Ray on "
        "this machine); needs pip install 'ndestudio[sweep]'",
    )
    p.add_argument(
        "--asha",
        action="store_true",
        help="with --ray: let Tune's ASHA scheduler stop trials whose validation loss lags",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")
    p.set_defaults(func=sweep)


def sweep(args: argparse.Namespace) -> int:
    from ndestudio.core.resources import load_config
    from ndestudio.core.sweep import best, parse_grid, trials, write_results

    out = Path(args.out)
    try:
        base = load_config(args.config)
        if args.iterations is not None:
            base.train.iterations = args.iterations
        planned = trials(base, parse_grid(args.grid), args.samples)
        if args.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {args.jobs}")
        if args.asha and not args.ray:
            raise UserError("--asha schedules Ray Tune trials: use it with --ray ADDRESS")
        if args.ray:
            from ndestudio.sweep_ray import ray_problem

            problem = ray_problem()
            if problem:
                raise UserError(problem)
        if (out / RESULTS).exists() and not args.overwrite:
            raise UserError(
                f"{out} already holds a sweep ({RESULTS}): use --overwrite to replace it, or "
                "choose another folder"
            )
        out.mkdir(parents=True, exist_ok=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot use {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"sweep of {len(planned)} trials from {args.config} into {out}", file=sys.stderr)
    runner = _LocalRunner(out, args.overwrite)
    if args.ray:
        from ndestudio.sweep_ray import run_on_ray

        try:
            results = run_on_ray(planned, out, args.ray, args.jobs, args.asha)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for result in results:
            print(f"{result.trial.name}: {result.status}", file=sys.stderr)
    else:
        try:
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                results = list(pool.map(runner.run, planned))
        except KeyboardInterrupt:  # (the trials running got the Ctrl-C too and saved)
            runner.interrupted.set()
            results = runner.results()
    write_results(out / RESULTS, results)
    top = best(results)
    print(f"results: {out / RESULTS}", file=sys.stderr)
    if top is not None:
        shown = ", ".join(f"{k}={v}" for k, v in top.trial.settings.items())
        print(f"best: {top.trial.name} ({shown})", file=sys.stderr)
    if runner.interrupted.is_set():
        return 130
    done = ("finished", "stopped early")
    return 0 if all(r.status in done for r in results) else 1


class _LocalRunner:
    """Runs trials as ``ndestudio train`` processes, one folder each (``trial-NNN``: the
    run's files; ``trial-NNN.json``: its config; ``trial-NNN.log``: what it printed)."""

    def __init__(self, out: Path, overwrite: bool) -> None:
        from ndestudio.core.sweep import TrialResult

        self.out = out
        self.overwrite = overwrite
        self.interrupted = threading.Event()
        self._done: dict[int, TrialResult] = {}
        self._lock = threading.Lock()

    def run(self, trial: Any) -> Any:
        from ndestudio.core.sweep import TrialResult, read_result

        if self.interrupted.is_set():
            return TrialResult(trial, "not run", 0.0, "the sweep was interrupted")
        config = self.out / f"{trial.name}.json"
        folder = self.out / trial.name
        trial.spec.save(config)
        command = [sys.executable, "-m", "ndestudio", "train", str(config), "--out", str(folder)]
        if self.overwrite:
            command.append("--overwrite")
        start = time.perf_counter()
        with (self.out / f"{trial.name}.log").open("w", encoding="utf-8") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - start
        if code == 130:
            self.interrupted.set()
        status = {0: "finished", 130: "interrupted"}.get(code, "failed")
        message = {0: "", 130: "interrupted: its checkpoint holds the last good weights"}.get(code)
        if message is None:
            message = _last_error(self.out / f"{trial.name}.log")
        result = read_result(trial, folder, status, seconds, message)
        shown = ", ".join(f"{k}={v}" for k, v in trial.settings.items())
        score = result.values.get("best_val_loss", result.values.get("final_loss"))
        what = f", best validation loss {score:.4g}" if isinstance(score, float) else ""
        print(f"{trial.name} ({shown}): {status} in {seconds:.1f} s{what}", file=sys.stderr)
        with self._lock:
            self._done[trial.index] = result
        return result

    def results(self) -> list[Any]:
        with self._lock:
            return list(self._done.values())


def _last_error(log: Path) -> str:
    """The run's own error line (``error: …``), for the results table."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if line.strip().startswith("error:")]
    return errors[-1][len("error:") :].strip() if errors else (lines[-1] if lines else "")
