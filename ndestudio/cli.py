"""Headless command line: train from a config, list demo systems."""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ndestudio.cli_evaluate import add_parser as add_evaluate_parser
from ndestudio.cli_evaluate import report_lines
from ndestudio.cli_sweep import add_parser as add_sweep_parser
from ndestudio.core import events as ev
from ndestudio.core.control import TrainControl
from ndestudio.core.errors import UserError
from ndestudio.core.resources import load_config
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.tensorboard_log import (
    STEP_SCALARS,
    TensorBoardLog,
    missing_message,
    tensorboard_installed,
)
from ndestudio.core.validation import validate

if TYPE_CHECKING:
    from ndestudio.core.training import Trainer
    from ndestudio.core.training.distributed import Distributed


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
    """metrics.csv: one row per training step; validation columns (``val_loss`` and
    ``val_<metric>`` for each of ``metric_names``) filled at evaluations.

    ``resume_at``: continue the file of a run resumed from its checkpoint at that iteration,
    dropping the rows written after that checkpoint (by a run that was then killed).
    """

    FIELDS = ["iteration", *STEP_SCALARS, "val_loss"]  # (TensorBoard logs the same names)

    def __init__(
        self,
        path: Path,
        resume_at: int | None = None,
        metric_names: tuple[str, ...] = (),
        tensorboard: TensorBoardLog | None = None,
    ) -> None:
        self.pending: dict[str, float] | None = None
        self.tensorboard = tensorboard  # (``--tensorboard``: the same scalars, as events)
        fields = self.FIELDS + [f"val_{name}" for name in metric_names]
        old_fields, rows = self._kept_rows(path, resume_at)
        fields += [name for name in old_fields if name not in fields]
        self.fh = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.fh, fieldnames=fields, restval="", extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.fh.flush()

    @staticmethod
    def _kept_rows(path: Path, resume_at: int | None) -> tuple[list[str], list[dict[str, str]]]:
        if resume_at is None or not path.is_file():
            return [], []
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                rows = [r for r in reader if _iteration(r) <= resume_at]
                return list(reader.fieldnames or []), rows
        except (OSError, UnicodeDecodeError, csv.Error):
            return [], []  # an unreadable old file: start a new one

    def step(self, step: ev.Step) -> None:
        self._flush()
        self.pending = {k: getattr(step, k) for k in self.FIELDS if k != "val_loss"}
        if self.tensorboard is not None:
            self.tensorboard.step(step)

    def evaluation(self, evaluation: ev.Eval) -> None:
        if self.tensorboard is not None:
            self.tensorboard.evaluation(evaluation)
        if self.pending is not None:
            self.pending["val_loss"] = evaluation.val_loss
            self.pending.update({f"val_{k}": v for k, v in evaluation.metrics.items()})

    def _flush(self) -> None:
        if self.pending is None:
            return
        self.writer.writerow(self.pending)
        self.pending = None

    def sync(self) -> None:
        """Put every row up to the current step on disk (with each periodic checkpoint)."""
        self._flush()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        self._flush()
        self.fh.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def _iteration(row: dict[str, str]) -> float:
    try:
        return float(row.get("iteration") or "inf")
    except ValueError:
        return math.inf


RUN_FILES = ("checkpoint.pt", "config.json", "metrics.csv")


class Interrupts:
    """Ctrl-C during training: the first stops the run at once (inside the solver), after
    which the checkpoint is saved; later ones only say that it is being saved, so that an
    impatient second Ctrl-C cannot lose it."""

    def __init__(self, control: TrainControl, also_sigterm: bool = False) -> None:
        self.control = control
        self.count = 0
        # (a rank of a distributed run: its launcher passes Ctrl-C on as SIGINT or SIGTERM)
        self.signals = (signal.SIGINT, signal.SIGTERM) if also_sigterm else (signal.SIGINT,)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for number in self.signals:
            self._previous[number] = signal.signal(number, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        # Once interrupted the process is on its way out: a late Ctrl-C must not break the
        # interpreter's own shutdown with a traceback.
        for number, previous in self._previous.items():
            signal.signal(number, signal.SIG_IGN if self.count else previous)

    def _on_sigint(self, signum: int, frame: object) -> None:
        self.count += 1
        self.control.stop()
        # os.write, not print: a signal handler may interrupt a write to sys.stderr.
        text = (
            "\ninterrupted: stopping and saving the last good weights…\n"
            if self.count == 1
            else "\nstill saving the checkpoint; it takes a moment…\n"
        )
        os.write(2, text.encode())


def _report(exc: UserError, config: str) -> None:
    """One clear message on stderr: a config's problems as a list under its name."""
    if isinstance(exc, SpecError) and not all(p.startswith(config) for p in exc.problems):
        print(f"error: {config}: the config cannot run:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
    else:
        print(f"error: {exc}", file=sys.stderr)


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Dotted names of the settings in which two spec dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        return out
    return [] if a == b else [f"{where} ({b!r} in the run, {a!r} in the config)"]


def _prepare(
    args: argparse.Namespace, out: Path, distributed: Distributed | None = None
) -> tuple[Trainer, int | None]:
    """The trainer, and the iteration a resumed run goes on from (None: a new run).
    ``distributed``: this process is a rank of a torchrun world (each rank builds the same
    trainer; rank 0 alone removes an overwritten run's files)."""
    from ndestudio.core.training import Trainer

    spec = load_config(args.config)
    if args.iterations is not None:
        spec.train.iterations = args.iterations
    if args.device is not None:
        spec.train.device = args.device
    if args.seed is not None:
        spec.train.seed = args.seed
    validate(spec)
    existing = [name for name in RUN_FILES if (out / name).exists()]
    checkpoint = out / "checkpoint.pt"
    if args.resume:
        if not checkpoint.exists():
            raise UserError(f"{out}: there is no checkpoint.pt to resume")
        trainer = Trainer.from_checkpoint(checkpoint, distributed=distributed)
        if args.seed is not None and args.seed != trainer.spec.train.seed:
            raise UserError(
                f"--seed {args.seed} differs from the seed of the run in {out} "
                f"({trainer.spec.train.seed}); resume it without --seed, or start another run "
                "with --overwrite or another --out"
            )
        saved, wanted = trainer.spec.to_dict(), spec.to_dict()
        for d in (saved, wanted):
            # (the seed: the run's own, which --seed, when given, was checked against above)
            d["train"]["iterations"] = d["train"]["device"] = d["name"] = None
            d["train"]["seed"] = None
        changed = _differences(wanted, saved)
        if changed:
            raise UserError(
                f"{args.config} describes another run than the one in {out}; resume with the "
                "same config (only iterations and device may change). Different: "
                + "; ".join(changed[:5])
            )
        planned = trainer.schedule.total
        trainer.set_iterations(spec.train.iterations)  # re-plans the learning-rate schedule
        if trainer.schedule.total != planned and trainer.spec.train.schedule != "constant":
            lr = trainer.optimizer.param_groups[0]["lr"]
            print(
                f"learning rate: the {trainer.spec.train.schedule} schedule planned for "
                f"{planned} iterations now ends at {trainer.schedule.total}; {lr:.3g} at "
                f"iteration {trainer.iteration}",
                file=sys.stderr,
            )
        return trainer, trainer.iteration
    if existing and not args.overwrite:
        raise UserError(
            f"{out} already holds a run ({', '.join(existing)}): continue it with --resume, "
            "start over with --overwrite (which replaces those files), or choose another folder"
        )
    trainer = Trainer(spec, distributed=distributed)
    if distributed is None or distributed.is_main:
        for name in existing:
            (out / name).unlink()
    return trainer, None


def train(args: argparse.Namespace) -> int:
    """``ndestudio train``: in this process, as one rank of a torchrun world, or (``--nproc``)
    as the launcher of such a world on this machine."""
    from ndestudio.core.training.distributed import launched_world

    world = launched_world()
    if world == 1 and (args.nproc or 1) > 1:
        from ndestudio.cli_distributed import launch

        return launch(args.argv, args.nproc)
    if world == 1:
        return _train(args, None)
    from ndestudio.cli_distributed import join

    distributed = join(args)
    if distributed is None:
        return 1
    code = _train(args, distributed)
    if code in (0, 130):  # (every rank came to the same end: they leave the group together)
        distributed.close()
    # The run's files are written and closed. The interpreter's own exit can still abort
    # in the process group's threads (seen once in CI, after a clean run; always when the
    # peers are gone), which would read as this rank failing: a rank ends here.
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


def _train(args: argparse.Namespace, distributed: Distributed | None) -> int:
    from ndestudio.cli_distributed import RANK_LEFT
    from ndestudio.core.training.distributed import RankFailure

    main = distributed is None or distributed.is_main
    # Rank 0 alone reports progress and writes the run's files; every rank reports errors.
    log: TextIO = sys.stderr if main else open(os.devnull, "w")  # noqa: SIM115
    rank = "" if distributed is None else f"rank {distributed.rank}: "
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: {out} is a file; --out needs a folder", file=log)
        return 2
    if args.tensorboard and not tensorboard_installed():
        print(f"error: {missing_message()}", file=log)
        return 2
    try:
        trainer, resumed = _prepare(args, out, distributed)
        if main:
            out.mkdir(parents=True, exist_ok=True)
    except UserError as exc:
        if main:
            _report(exc, args.config)
        return 2
    except RankFailure as exc:
        print(f"error: {rank}{exc}", file=sys.stderr)
        return RANK_LEFT
    except OSError as exc:
        print(f"error: cannot use {out}: {exc.strerror or exc}", file=log)
        return 2
    spec = trainer.spec
    checkpoint = out / "checkpoint.pt"
    if main:
        spec.save(out / "config.json")
        try:
            board = (
                TensorBoardLog(Path(args.tensorboard), resumed or 0) if args.tensorboard else None
            )
        except UserError as exc:
            print(f"error: {exc}", file=log)
            return 2
        metrics = MetricsWriter(out / "metrics.csv", resumed, trainer.task.metric_names, board)
    else:
        metrics = MetricsWriter(Path(os.devnull))
    bar = ProgressBar(spec.train.iterations, log)
    code = 0
    val_loss: float | None = None
    warned: str | None = None  # the loss-gap warning last printed
    start = 0
    control = TrainControl()
    interval = args.save_every
    last_save = time.monotonic()

    def save_if_due(evaluation_follows: bool) -> None:
        """A periodic checkpoint at a step boundary (after the step's evaluation, if any,
        so that the saved history holds it) with the metrics rows up to it."""
        nonlocal last_save
        if main and not evaluation_follows and time.monotonic() - last_save >= interval:
            trainer.save(checkpoint)
            metrics.sync()
            last_save = time.monotonic()

    try:
        with Interrupts(control, also_sigterm=distributed is not None) as interrupts:
            for event in trainer.run(control):
                if isinstance(event, ev.Started):
                    start = event.start_iteration
                    what = "resuming" if resumed is not None else "training"
                    print(
                        f"{what} {spec.name}: {spec.model.family.upper()} on "
                        f"'{spec.data.name}', {event.n_parameters} parameters, "
                        f"{event.n_train} train / {event.n_val} validation series, device "
                        f"{event.device}, {event.dtype}, engine {event.engine}; "
                        f"{_ranks(distributed)}"
                        f"from iteration {start}; "
                        f"checkpoint every {interval:g} s",
                        file=log,
                    )
                elif isinstance(event, ev.Step):
                    metrics.step(event)
                    bar.update(event, start, val_loss)
                    n = event.iteration
                    save_if_due(n % spec.train.eval_every == 0 or n == spec.train.iterations)
                elif isinstance(event, ev.Eval):
                    val_loss = event.val_loss
                    metrics.evaluation(event)
                    if event.warning and event.warning != warned:
                        print(f"\nwarning: {event.warning}", file=log)
                    warned = event.warning
                    save_if_due(False)
                elif isinstance(event, ev.Failed):
                    if main or event.this_rank_only:  # (else rank 0 says it for all)
                        print(f"\nerror: {rank}{event.message}", file=sys.stderr)
                    code = 1
                elif isinstance(event, ev.Stopped) and interrupts.count:
                    code = 130
                elif isinstance(event, ev.Tested):
                    print(f"test set ({event.weights} weights):", file=log)
                    print("\n".join(report_lines(event)), file=log)
                elif isinstance(event, ev.Finished):
                    summary = ", ".join(f"{k} {v:.4g}" for k, v in event.metrics.items())
                    if event.reason:
                        print(
                            f"stopped at iteration {event.iteration}: {event.reason}",
                            file=log,
                        )
                    print(
                        f"finished in {event.wall_time:.1f} s: loss {event.final_loss:.4g}; "
                        f"{summary}",
                        file=log,
                    )
                    if event.best_iteration is not None and event.best_val_loss is not None:
                        print(
                            f"best validation loss {event.best_val_loss:.4g} at iteration "
                            f"{event.best_iteration} (kept in the checkpoint beside the last "
                            "weights)",
                            file=log,
                        )
            metrics.close()
            if not main:
                return code
            path = trainer.save(checkpoint)
    except RankFailure as exc:
        print(
            f"\nerror: {rank}{exc}; the run stopped at iteration {trainer.iteration}, "
            f"{_kept(checkpoint) if main else 'rank 0 keeps its files'}",
            file=sys.stderr,
        )
        return RANK_LEFT
    except OSError as exc:
        print(f"\nerror: cannot write to {out}: {exc.strerror or exc}", file=log)
        return 1
    finally:
        if not metrics.fh.closed:
            metrics.close()
    print(f"checkpoint: {path} (iteration {trainer.iteration})", file=log)
    print(f"metrics:    {out / 'metrics.csv'}", file=log)
    return code


def _ranks(distributed: Distributed | None) -> str:
    if distributed is None:
        return ""
    return f"{distributed.world} ranks ({distributed.backend}), each a shard of every batch; "


def _kept(checkpoint: Path) -> str:
    """What a run that failed left in its folder."""
    if checkpoint.is_file():
        return f"{checkpoint} holds the last periodic checkpoint"
    return "no checkpoint was written"


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
        report = export_checkpoint(args.checkpoint, args.out, options, weights=args.weights)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def inspect(args: argparse.Namespace) -> int:
    """Inspect a trained checkpoint: numbers as JSON and CSV, the Inspect views as PNG."""
    from ndestudio.core.inspect import inspect_run
    from ndestudio.core.inspect.files import write_inspection
    from ndestudio.core.training import Trainer

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: {out} is a file; --out needs a folder", file=sys.stderr)
        return 2
    try:
        trainer = Trainer.from_checkpoint(args.checkpoint)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    family = trainer.spec.model.family
    print(
        f"inspecting {args.checkpoint}: {family.upper()} after {trainer.iteration} iterations",
        file=sys.stderr,
    )
    try:
        report = inspect_run(trainer, grid=args.grid, seeds=args.seeds, n_samples=args.samples)
    except (RuntimeError, ValueError) as exc:  # e.g. a learned field the solver cannot follow
        print(f"error: {args.checkpoint}: the inspection failed: {exc}", file=sys.stderr)
        return 1
    try:
        written = write_inspection(report, out)
        if not args.no_figures:
            from ndestudio.gui.figures import render_figures

            written += render_figures(trainer, out)
    except OSError as exc:
        print(f"error: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:  # the numbers are written; a figure took too long
        print(f"error: {exc}; the numbers are in {out}", file=sys.stderr)
        return 1
    for eq in report.get("equilibria", []):
        point = ", ".join(f"{v:.4g}" for v in eq["point"])
        eig = ", ".join(
            f"{re:.3g}{im:+.3g}i" if im else f"{re:.3g}" for re, im in eq["eigenvalues"]
        )
        print(f"equilibrium: {eq['kind']} at ({point}); eigenvalues {eig}")
    if "sde" in report:
        print(f"mean Wasserstein-1 distance to the data: {report['sde']['mean_wasserstein']:.4g}")
    if "confusion" in report:
        print(f"validation accuracy: {report['confusion']['accuracy']:.4g}")
    warning = report.get("telemetry", {}).get("warning")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def about(args: argparse.Namespace) -> int:
    """The versions NDE Studio runs on (as Help ▸ About lists them), for a bug report."""
    from ndestudio.core.about import versions

    for what, version in versions(load_torch=True):
        print(f"{what + ':':14s} {version}")
    return 0


def examples(args: argparse.Namespace) -> int:
    """The bundled example configs: ``ndestudio train NAME`` and ``gui --config NAME`` take
    their names."""
    from ndestudio.core.resources import examples as bundled

    for name, path in bundled().items():
        spec = RunSpec.load(path)
        family = spec.model.family.upper()
        if spec.model.family == "sde":
            family = "SDE (latent)" if spec.model.sde.objective == "latent_sde" else "SDE-GAN"
        data = spec.data.name if spec.data.source != "file" else Path(spec.data.path).name
        print(f"{name:22s} {family:13s} {spec.data.source} {data}, {spec.solver.method}")
    print("train one: ndestudio train NAME --out DIR (or ndestudio gui --config NAME)")
    return 0


def demos(args: argparse.Namespace) -> int:
    from ndestudio.core.data import DEMOS

    for demo in DEMOS.values():
        channels = ", ".join(demo.channel_names)
        print(f"{demo.name:20s} {demo.family.upper():4s} [{channels}]  {demo.description}")
    return 0


def datasets(args: argparse.Namespace) -> int:
    """The packaged real datasets, with their sizes and whether their package is installed."""
    import json
    import textwrap

    from ndestudio.core.data.packaged import INSTALL, PACKAGED

    if args.json:
        rows = [
            {
                "name": d.name,
                "title": d.title,
                "family": d.family,
                "families": list(d.families),
                "task": d.task,
                "package": d.package,
                "installed": d.installed,
                "install": None if d.installed else INSTALL,
                "channels": list(d.channel_names),
                "classes": list(d.class_names),
                "n_train": d.n_train,
                "n_test": d.n_test,
                "n_times": d.n_times,
                "test_split": d.has_test_split,
                "description": d.description,
                "source": d.source,
            }
            for d in PACKAGED.values()
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    missing: dict[str, list[str]] = {}
    for d in PACKAGED.values():
        families = "/".join(f.upper() for f in d.families)
        channels = f"{len(d.channel_names)} channel{'s' if len(d.channel_names) > 1 else ''}"
        classes = f", {len(d.class_names)} classes" if d.class_names else ""
        times = f"up to {d.n_times}" if d.task == "classification" else f"{d.n_times}"
        state = "installed" if d.installed else "not installed"
        print(
            f"{d.name:16s} {families:8s} {d.task}: {channels}{classes}, {d.n_train} train / "
            f"{d.n_test} test series of {times} times  [{d.package}: {state}]"
        )
        text = f"{d.title}: {d.description}. Source: {d.source}."
        print(textwrap.fill(text, 96, initial_indent="    ", subsequent_indent="    "))
        if not d.installed:
            missing.setdefault(d.package, []).append(d.name)
    for package, names in missing.items():
        need = "needs" if len(names) == 1 else "need"
        print(f"{' and '.join(names)} {need} {package}, which is not installed: {INSTALL}")
    return 0


def gui(args: argparse.Namespace) -> int:
    from ndestudio.gui.app import run

    try:
        spec = load_config(args.config) if getattr(args, "config", None) else None
    except SpecError as exc:
        _report(exc, args.config)
        return 2
    project = Path(args.project) if getattr(args, "project", None) else None
    return run(
        project=project,
        spec=spec,
        autotrain=getattr(args, "train", False),
        smoke=getattr(args, "smoke", False),
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], else a clear message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low} to {high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ndestudio",
        description="NDE Studio: neural ODEs, CDEs and SDEs. Without a subcommand it opens "
        "the window on the spiral demo; the subcommands run headless.",
    )
    sub = parser.add_subparsers(dest="command")
    p_gui = sub.add_parser("gui", help="open the window (the default)")
    p_gui.add_argument("project", nargs="?", help="a project file (.ndeproj) to open")
    p_gui.add_argument(
        "--config", help="start from this run config (a file or a bundled example's name)"
    )
    p_gui.add_argument("--train", action="store_true", help="start training at once")
    p_gui.add_argument(
        "--smoke",
        action="store_true",
        help="check the application starts: show the window, wait for PyTorch, train 5 steps, "
        "quit (exit status 0 when it all worked)",
    )
    p_gui.set_defaults(func=gui)
    p_train = sub.add_parser("train", help="train a model from a JSON run config")
    p_train.add_argument(
        "config", help="run config: a JSON file, or a bundled example's name (ndestudio examples)"
    )
    p_train.add_argument("--out", required=True, help="folder for checkpoint.pt and metrics.csv")
    p_train.add_argument("--iterations", type=int, help="override the config's iteration count")
    p_train.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write metrics.csv's scalars as TensorBoard events to DIR "
        '(needs the tensorboard package: pip install "ndestudio[tensorboard]")',
    )
    p_train.add_argument("--device", help="override the device: auto, cpu, cuda, cuda:N")
    p_train.add_argument(
        "--seed", type=int, help="override the training seed (initial weights, batches, noise)"
    )
    again = p_train.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint (same config; --iterations may "
        "raise the total)",
    )
    again.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p_train.add_argument(
        "--save-every",
        type=_positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="write the checkpoint this often while training (default 60): a kill loses at "
        "most this much training",
    )
    p_train.add_argument(
        "--nproc",
        type=_count(1, 1024),
        metavar="N",
        help="train data-parallel with N processes on this machine (starts torchrun; gloo on "
        "CPUs, one CUDA device per process on GPUs)",
    )
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
    p_export.add_argument(
        "--weights",
        choices=["best", "last"],
        default="best",
        help="the best-validation weights (the default; the last in a run without validation) "
        "or the last ones",
    )
    p_export.set_defaults(func=export)
    p_inspect = sub.add_parser(
        "inspect",
        help="inspect a trained checkpoint: equilibria, field, distributions, confusion "
        "matrix, solver telemetry (JSON, CSV) and the Inspect views (PNG)",
    )
    p_inspect.add_argument("checkpoint", help="checkpoint.pt written by training")
    p_inspect.add_argument("--out", required=True, help="the folder to write into")
    p_inspect.add_argument(
        "--grid", type=_count(2, 500), default=30, help="ODE field grid per side (2–500)"
    )
    p_inspect.add_argument(
        "--seeds", type=_count(1, 100), default=10, help="ODE Newton seeds per side (1–100)"
    )
    p_inspect.add_argument(
        "--samples", type=_count(2, 100_000), default=512, help="SDE sample paths"
    )
    p_inspect.add_argument("--no-figures", action="store_true", help="numbers only, no PNG")
    p_inspect.set_defaults(func=inspect)
    add_evaluate_parser(sub)
    add_sweep_parser(sub)
    p_about = sub.add_parser("about", help="the versions of NDE Studio and what it runs on")
    p_about.set_defaults(func=about)
    p_examples = sub.add_parser("examples", help="list the bundled example configs")
    p_examples.set_defaults(func=examples)
    p_demos = sub.add_parser("demos", help="list the built-in demo systems")
    p_demos.set_defaults(func=demos)
    p_datasets = sub.add_parser(
        "datasets",
        help='list the real datasets that ship in packages (pip install "ndestudio[datasets]")',
    )
    p_datasets.add_argument("--json", action="store_true", help="machine-readable output")
    p_datasets.set_defaults(func=datasets)
    return parser


class _ImportSafeInterrupts:
    """Ctrl-C, until a command installs a handler of its own: a KeyboardInterrupt as usual,
    except while a module is being imported. Raised inside an import — torch's C++ start-up
    or numpy's Cython ones calling into Python — it escaped as a C++ exception or left the
    interpreter dying by the signal: the process aborted ("terminate called …") or ended by
    SIGINT instead of exiting 130 with one line. There it is held, and raised within 20 ms
    of the import's end."""

    RETRY_S = 0.02

    def __enter__(self) -> _ImportSafeInterrupts:
        self._active = hasattr(signal, "setitimer") and (
            threading.current_thread() is threading.main_thread()
        )
        if self._active:
            self._previous = signal.signal(signal.SIGINT, self._interrupt)
            self._previous_alarm = signal.signal(signal.SIGALRM, self._interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_alarm)
            if signal.getsignal(signal.SIGINT) == self._interrupt:  # (else a command's choice,
                signal.signal(signal.SIGINT, self._previous)  # such as ignoring a late one)

    def _interrupt(self, signum: int, frame: Any) -> None:
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
                signal.setitimer(signal.ITIMER_REAL, self.RETRY_S)  # (SIGALRM: look again)
                return
            frame = frame.f_back
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # (for a launcher of ranks)
    try:
        if args.command is None or args.func is gui:
            return gui(args)
        with _ImportSafeInterrupts():
            return int(args.func(args))
    except KeyboardInterrupt:  # before training started (while importing torch, say)
        print("\ninterrupted", file=sys.stderr)
        return 130
