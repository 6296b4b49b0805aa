"""``ndestudio evaluate``: score a trained checkpoint on a held-out test set."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from ndestudio.core import events as ev
from ndestudio.core.errors import UserError
from ndestudio.core.specs import DATA_FORMATS


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a trained checkpoint on a held-out test set: loss, accuracy, per-class "
        "accuracy and the confusion matrix",
    )
    p.add_argument("checkpoint", help="checkpoint.pt written by training")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--data", metavar="FILE", help="a test data file (CSV, Parquet, NPZ)")
    which.add_argument(
        "--split",
        choices=["test"],
        help="the official test split of the packaged dataset the run trained on",
    )
    p.add_argument(
        "--format", choices=DATA_FORMATS, default="auto", help="the --data file's layout"
    )
    p.add_argument(
        "--weights",
        choices=["best", "last"],
        default="best",
        help="the best-validation weights (the default; the last without validation) or the "
        "last ones",
    )
    p.add_argument("--out", metavar="DIR", help="also write metrics.json and confusion.csv here")
    p.set_defaults(func=evaluate)


def _test_data(args: argparse.Namespace) -> Any:
    """The test set the arguments name (None: the one the run's spec names)."""
    from ndestudio.core.data import load_file
    from ndestudio.core.data.packaged import load_packaged
    from ndestudio.core.training.checkpoint import load_checkpoint

    if args.data:
        return load_file(args.data, args.format)
    if args.split:
        spec = load_checkpoint(args.checkpoint).spec
        if spec.data.source != "dataset":
            raise UserError(
                f"{args.checkpoint}: --split test needs a run trained on a packaged dataset "
                f"(this one trained on {spec.data.source} data); give the test file with --data"
            )
        return load_packaged(spec.data.name, "test")
    spec = load_checkpoint(args.checkpoint).spec
    if spec.data.test == "none":
        raise UserError(
            f"{args.checkpoint}: the run names no test set; give one with --data FILE or, for "
            "a packaged dataset, --split test"
        )
    return None


def evaluate(args: argparse.Namespace) -> int:
    from ndestudio.core.training import Trainer

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        print(f"error: {out} is a file; --out needs a folder", file=sys.stderr)
        return 2
    try:
        data = _test_data(args)
        trainer = Trainer.from_checkpoint(args.checkpoint, test_dataset=data)
        assert trainer.test_dataset is not None
        name = trainer.test_dataset.name
        tested = trainer.test(weights=args.weights)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, AssertionError) as exc:  # a solve the weights break
        print(f"error: {args.checkpoint}: scoring failed: {exc}", file=sys.stderr)
        return 1
    if args.weights == "best" and tested.weights == "last":
        print("note: the run had no validation, so its best weights are its last", file=sys.stderr)
    print(f"{args.checkpoint} on {name!r}:")
    print("\n".join(report_lines(tested)))
    if out is not None:
        try:
            for path in write_report(tested, out, args.checkpoint, name):
                print(f"wrote {path}", file=sys.stderr)
        except OSError as exc:
            print(f"error: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0


def report_lines(tested: ev.Tested) -> list[str]:
    """The score as text: metrics, per-class accuracy and the confusion matrix."""
    lines = [f"{tested.n_series} series, {tested.weights} weights (iteration {tested.iteration})"]
    lines += [f"{key:12s} {value:.6g}" for key, value in tested.metrics.items()]
    if tested.confusion is None:
        return lines
    names = tested.class_names
    width = max(6, *(len(n) for n in names)) + 1
    lines.append("per-class accuracy:")
    for name, acc, row in zip(names, tested.per_class_accuracy, tested.confusion, strict=True):
        shown = "  n/a" if math.isnan(acc) else f"{acc:.4f}"
        lines.append(f"  {name:>{width}s} {shown} ({row.sum()} series)")
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    lines.append(" " * (width + 2) + "".join(f"{n:>{width}s}" for n in names))
    for name, row in zip(names, tested.confusion, strict=True):
        lines.append(f"  {name:>{width}s}" + "".join(f"{int(v):>{width}d}" for v in row))
    return lines


def tested_json(tested: ev.Tested, checkpoint: str, data: str) -> dict[str, Any]:
    """The score as plain JSON data (NaN per-class accuracy as null)."""
    return {
        "checkpoint": str(checkpoint),
        "data": data,
        "weights": tested.weights,
        "iteration": tested.iteration,
        "n_series": tested.n_series,
        "metrics": tested.metrics,
        "class_names": list(tested.class_names),
        "per_class_accuracy": [None if math.isnan(a) else a for a in tested.per_class_accuracy],
        "confusion": None if tested.confusion is None else tested.confusion.tolist(),
    }


def write_report(tested: ev.Tested, out: Path, checkpoint: str, data: str) -> list[Path]:
    """``metrics.json`` (everything) and, for a classifier, ``confusion.csv`` (true class
    per row, predicted class per column, counts) and ``per_class.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json"]
    text = json.dumps(tested_json(tested, checkpoint, data), indent=2) + "\n"
    written[0].write_text(text, encoding="utf-8")
    if tested.confusion is None:
        return written
    with (out / "confusion.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true \\ predicted", *tested.class_names])
        for name, row in zip(tested.class_names, tested.confusion, strict=True):
            writer.writerow([name, *(int(v) for v in row)])
    with (out / "per_class.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class", "series", "correct", "accuracy"])
        for k, name in enumerate(tested.class_names):
            total = int(tested.confusion[k].sum())
            acc = tested.per_class_accuracy[k]
            writer.writerow([name, total, int(tested.confusion[k, k]), "" if total == 0 else acc])
    return [*written, out / "confusion.csv", out / "per_class.csv"]
