"""Headless command line: train from a config, list demo systems."""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path
from typing import TextIO

from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl
from ndestudio.core.specs import RunSpec, SpecError


class ProgressBar:
    """A one-line progress bar with loss, rate and ETA, redrawn at most ten times a second."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.last_draw = 0.0
        self.interactive = stream.isatty()

    def update(self, step: ev.Step, start_iteration: int, val_loss: float | None) -> None:
        now = time.perf_counter()
        done = step.iteration == self.total
        if not done and now - self.last_draw < (0.1 if self.interactive else 2.0):
            return
        self.last_draw = now
        frac = step.iteration / self.total
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = (step.iteration - start_iteration) / max(step.wall_time, 1e-9)
        eta = (self.total - step.iteration) / rate if rate > 0 else math.inf
        val = f" val {val_loss:.4g}" if val_loss is not None else ""
        line = (
            f"[{bar}] {step.iteration}/{self.total} loss {step.loss:.4g}{val} "
            f"{rate:.1f} it/s ETA {_duration(eta)}"
        )
        end = "\r" if self.interactive and not done else "\n"
        self.stream.write(line.ljust(100) + end if self.interactive else line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


class MetricsWriter:
    """metrics.csv: one row per training step; validation columns filled at evaluations."""

    FIELDS = [
        "iteration",
        "loss",
        "grad_norm",
        "nfe_forward",
        "nfe_backward",
        "lr",
        "wall_time",
        "step_size_mean",
        "val_loss",
    ]

    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", newline="", encoding="utf-8")
        self.writer: csv.DictWriter | None = None
        self.pending: dict[str, float] | None = None

    def step(self, step: ev.Step) -> None:
        self._flush()
        self.pending = {k: getattr(step, k) for k in self.FIELDS if k != "val_loss"}

    def evaluation(self, evaluation: ev.Eval) -> None:
        if self.pending is not None:
            self.pending["val_loss"] = evaluation.val_loss
            self.pending.update({f"val_{k}": v for k, v in evaluation.metrics.items()})

    def _flush(self) -> None:
        if self.pending is None:
            return
        if self.writer is None:
            extra = [k for k in self.pending if k not in self.FIELDS]
            self.writer = csv.DictWriter(
                self.fh, fieldnames=self.FIELDS + extra, restval="", extrasaction="ignore"
            )
            self.writer.writeheader()
        self.writer.writerow(self.pending)
        self.pending = None

    def close(self) -> None:
        self._flush()
        self.fh.close()


def train(args: argparse.Namespace) -> int:
    from ndestudio.core.training import Trainer

    try:
        spec = RunSpec.load(args.config)
        if args.iterations is not None:
            spec.train.iterations = args.iterations
        if args.device is not None:
            spec.train.device = args.device
        trainer = Trainer(spec)
    except SpecError as exc:
        print(f"error: {args.config}: the config cannot run:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(out / "config.json")
    metrics = MetricsWriter(out / "metrics.csv")
    bar = ProgressBar(spec.train.iterations, sys.stderr)
    code = 0
    val_loss: float | None = None
    start = 0
    control = TrainControl()
    try:
        for event in trainer.run(control):
            if isinstance(event, ev.Started):
                start = event.start_iteration
                print(
                    f"training {spec.name}: {spec.model.family.upper()} on '{spec.data.name}', "
                    f"{event.n_parameters} parameters, {event.n_train} train / {event.n_val} "
                    f"validation series, device {event.device}, {event.dtype}",
                    file=sys.stderr,
                )
            elif isinstance(event, ev.Step):
                metrics.step(event)
                bar.update(event, start, val_loss)
            elif isinstance(event, ev.Eval):
                val_loss = event.val_loss
                metrics.evaluation(event)
            elif isinstance(event, ev.Failed):
                print(f"\nerror: {event.message}", file=sys.stderr)
                code = 1
            elif isinstance(event, ev.Finished):
                summary = ", ".join(f"{k} {v:.4g}" for k, v in event.metrics.items())
                print(
                    f"finished in {event.wall_time:.1f} s: loss {event.final_loss:.4g}; {summary}",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        control.stop()
        print("\ninterrupted: saving the last good weights", file=sys.stderr)
        code = 130
    finally:
        metrics.close()
    path = trainer.save(out / "checkpoint.pt")
    print(f"checkpoint: {path}\nmetrics:    {out / 'metrics.csv'}", file=sys.stderr)
    return code


def export(args: argparse.Namespace) -> int:
    from ndestudio.core.export import ExportError, ExportOptions, export_checkpoint

    options = ExportOptions(
        method=args.method,
        rtol=args.rtol,
        atol=args.atol,
        step_size=args.step_size,
        max_num_steps=args.max_num_steps,
    )
    print(f"exporting {args.checkpoint} and verifying it in a fresh process…", file=sys.stderr)
    try:
        report = export_checkpoint(args.checkpoint, args.out, options)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def demos(args: argparse.Namespace) -> int:
    from ndestudio.core.data import DEMOS

    for demo in DEMOS.values():
        channels = ", ".join(demo.channel_names)
        print(f"{demo.name:20s} {demo.family.upper():4s} [{channels}]  {demo.description}")
    return 0


def gui(args: argparse.Namespace) -> int:
    from ndestudio.gui.app import run

    spec = RunSpec.load(args.config) if getattr(args, "config", None) else None
    project = Path(args.project) if getattr(args, "project", None) else None
    return run(project=project, spec=spec, autotrain=getattr(args, "train", False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ndestudio",
        description="NDE Studio: neural ODEs, CDEs and SDEs. Without a subcommand it opens "
        "the window on the spiral demo; the subcommands run headless.",
    )
    sub = parser.add_subparsers(dest="command")
    p_gui = sub.add_parser("gui", help="open the window (the default)")
    p_gui.add_argument("project", nargs="?", help="a project file (.ndeproj) to open")
    p_gui.add_argument("--config", help="start from this run config instead of the demo")
    p_gui.add_argument("--train", action="store_true", help="start training at once")
    p_gui.set_defaults(func=gui)
    p_train = sub.add_parser("train", help="train a model from a JSON run config")
    p_train.add_argument("config", help="run config (see resources/configs/)")
    p_train.add_argument("--out", required=True, help="folder for checkpoint.pt and metrics.csv")
    p_train.add_argument("--iterations", type=int, help="override the config's iteration count")
    p_train.add_argument("--device", help="override the device: auto, cpu, cuda, cuda:N")
    p_train.set_defaults(func=train)
    p_export = sub.add_parser(
        "export", help="export a trained checkpoint as a TorchScript file, verified"
    )
    p_export.add_argument("checkpoint", help="checkpoint.pt written by training")
    p_export.add_argument("--out", required=True, help="the file to write, e.g. model.pt")
    p_export.add_argument(
        "--method",
        help="solver in the file: euler, midpoint, rk4, dopri5 (ODE/CDE); euler, midpoint, heun, "
        "reversible_heun (SDE). Default: the one the model was trained with",
    )
    p_export.add_argument("--rtol", type=float, help="relative tolerance (dopri5)")
    p_export.add_argument("--atol", type=float, help="absolute tolerance (dopri5)")
    p_export.add_argument("--step-size", type=float, help="step size (fixed-step solvers)")
    p_export.add_argument(
        "--max-num-steps", type=int, help="dopri5: steps allowed between two output times"
    )
    p_export.set_defaults(func=export)
    p_demos = sub.add_parser("demos", help="list the built-in demo systems")
    p_demos.set_defaults(func=demos)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return gui(args)
    return int(args.func(args))
