"""Checkpoints: run spec, weights (the last and the best-validation ones), optimiser state,
history, class names and the last test score in one file.

Written atomically (a temporary file in the same folder, then a rename) and read with
``torch.load(weights_only=True)``, so loading a checkpoint never executes pickled code.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ndestudio import __version__
from ndestudio.core import events as ev
from ndestudio.core.errors import UserError
from ndestudio.core.files import atomic_write
from ndestudio.core.specs import RunSpec, SpecError

FORMAT = "ndestudio-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(UserError):
    """A file that is not a readable NDE Studio checkpoint of a supported version."""


@dataclass
class BestWeights:
    """The weights of the best evaluation so far (lowest validation loss), its iteration
    and loss, and how many evaluations since have not improved on it."""

    model: dict[str, torch.Tensor]
    iteration: int
    val_loss: float
    evals_since: int = 0


@dataclass
class Checkpoint:
    spec: RunSpec
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    iteration: int
    history: dict[str, list[float]]
    generator: torch.Tensor
    version: str
    last_eval: ev.Eval | None = None  # what the window shows of the run on open
    best: BestWeights | None = None
    class_names: list[str] = field(default_factory=list)  # a classifier's, in output order
    last_test: ev.Tested | None = None

    def weights(self, which: str) -> tuple[dict[str, torch.Tensor], int, str]:
        """See :func:`chosen_weights`."""
        return chosen_weights(which, self.best, self.model, self.iteration)


def chosen_weights(
    which: str, best: BestWeights | None, last: dict[str, torch.Tensor], iteration: int
) -> tuple[dict[str, torch.Tensor], int, str]:
    """The ``which`` ("best" or "last") weights, their iteration and which they are: "best"
    in a run without validation (no ``best``) gives the ``last``, of ``iteration``."""
    if which not in ("best", "last"):
        raise ValueError(f"weights must be 'best' or 'last', got {which!r}")
    if which == "best" and best is not None:
        return best.model, best.iteration, "best"
    return last, iteration, "last"


def class_names_changed(trained: Sequence[str], now: Sequence[str]) -> str | None:
    """Why a model trained on classes ``trained`` does not fit data whose classes are ``now``
    (None: it fits, or the checkpoint names no classes, as older ones do not)."""
    if not trained or list(trained) == list(now):
        return None
    return (
        f"the model was trained on classes {', '.join(trained)} but its training data now has "
        f"{', '.join(now) or 'none'}: the data changed since training"
    )


def save_checkpoint(
    path: str | Path,
    *,
    spec: RunSpec,
    model: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    schedule: dict[str, Any],
    iteration: int,
    history: Mapping[str, Sequence[float]],
    generator: torch.Tensor,
    last_eval: ev.Eval | None = None,
    best: BestWeights | None = None,
    class_names: Sequence[str] = (),
    last_test: ev.Tested | None = None,
) -> Path:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ndestudio_version": __version__,
        "spec": spec.to_json(indent=None),
        "model": {k: v.detach().cpu() for k, v in model.items()},
        "optimizer": optimizer,
        "schedule": schedule,
        "iteration": iteration,
        # float64 tensors: a long run's history is saved without a Python float per value.
        "history": {
            k: torch.from_numpy(np.asarray(v, dtype=np.float64).copy()) for k, v in history.items()
        },
        "generator": generator,
    }
    if last_eval is not None:
        payload["last_eval"] = _eval_payload(last_eval)
    if best is not None:
        payload["best"] = {
            "model": {k: v.detach().cpu() for k, v in best.model.items()},
            "iteration": int(best.iteration),
            "val_loss": float(best.val_loss),
            "evals_since": int(best.evals_since),
        }
    payload["class_names"] = [str(name) for name in class_names]
    if last_test is not None:
        payload["last_test"] = _tested_payload(last_test)
    return atomic_write(Path(path), lambda fh: torch.save(payload, fh))


# A checkpoint's archive holds its tensors uncompressed (torch.save stores, never deflates):
# what it declares may exceed the file's size only by this much before it is refused.
_INFLATION_ALLOWANCE = 1 << 20
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _plain(text: str, limit: int = 300) -> str:
    """``text`` as one printable line: no terminal escapes or control characters."""
    text = _ANSI.sub("", text).splitlines()[0] if text.strip() else ""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:limit] + ("…" if len(text) > limit else "")


def _check_archive(path: Path) -> None:
    """Refuse a file that is not a checkpoint archive, or that would inflate when read."""
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError):
        raise CheckpointError(
            f"{path}: not a readable NDE Studio checkpoint (not a PyTorch archive; it may be "
            "damaged or of another kind)"
        ) from None
    names = {e.filename.split("/", 1)[-1] for e in entries}
    if "constants.pkl" in names or any(n.startswith("code/") for n in names):
        raise CheckpointError(
            f"{path}: this is not a checkpoint (it looks like an exported TorchScript model); "
            "open the project's own .pt checkpoint, or load this file with torch.jit.load"
        )
    declared = sum(e.file_size for e in entries)
    if declared > size + _INFLATION_ALLOWANCE:
        raise CheckpointError(
            f"{path}: refused: its {size / 2**20:.1f} MB would inflate to "
            f"{declared / 2**20:.0f} MB when read (NDE Studio writes checkpoints uncompressed)"
        )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint; any file that is not a sound one gives a :class:`CheckpointError`.

    The archive's declared sizes are checked before anything is read, and
    ``torch.load(weights_only=True)`` never runs pickled code.
    """
    path = Path(path)
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Weights only load failed" in text:
            why = "it holds objects other than tensors and plain data, which are never loaded"
        else:
            why = _plain(text) or type(exc).__name__
        raise CheckpointError(f"{path}: not a readable NDE Studio checkpoint ({why})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an NDE Studio checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {_plain(repr(payload.get('format_version')), 40)} is "
            f"not supported (this NDE Studio reads format {FORMAT_VERSION})"
        )
    problems = _payload_problems(payload)
    if problems:
        raise CheckpointError(f"{path}: a damaged checkpoint: " + "; ".join(problems))
    try:
        spec = RunSpec.from_json(payload["spec"], source=f"{path} (run spec)")
    except SpecError as exc:
        raise CheckpointError(str(exc)) from None
    return Checkpoint(
        spec=spec,
        model=payload["model"],
        optimizer=payload["optimizer"],
        schedule=payload["schedule"],
        iteration=payload["iteration"],
        history=payload["history"],
        generator=payload["generator"],
        version=str(payload["ndestudio_version"]),
        last_eval=_read_eval(payload.get("last_eval")),
        best=_read_best(payload.get("best")),
        class_names=list(payload.get("class_names", [])),
        last_test=_read_tested(payload.get("last_test")),
    )


def _tested_payload(event: ev.Tested) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iteration": int(event.iteration),
        "weights": str(event.weights),
        "n_series": int(event.n_series),
        "metrics": {str(k): float(v) for k, v in event.metrics.items()},
        "class_names": [str(n) for n in event.class_names],
        "per_class_accuracy": [float(a) for a in event.per_class_accuracy],
    }
    if event.confusion is not None:
        payload["confusion"] = torch.from_numpy(np.asarray(event.confusion, dtype=np.int64))
    return payload


def _read_tested(payload: Any) -> ev.Tested | None:
    if payload is None:
        return None
    confusion = payload.get("confusion")
    return ev.Tested(
        payload["iteration"],
        payload["weights"],
        payload["n_series"],
        dict(payload["metrics"]),
        tuple(payload["class_names"]),
        tuple(payload["per_class_accuracy"]),
        None if confusion is None else confusion.numpy(),
    )


def _read_best(payload: Any) -> BestWeights | None:
    if payload is None:
        return None
    return BestWeights(
        payload["model"], payload["iteration"], payload["val_loss"], payload["evals_since"]
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _extras_problems(payload: dict[str, Any]) -> list[str]:
    """What is wrong with a checkpoint's best weights, class names and last test score."""
    problems = []
    best = payload.get("best")
    if best is not None and not (
        isinstance(best, dict)
        and isinstance(best.get("model"), dict)
        and all(isinstance(v, torch.Tensor) for v in best["model"].values())
        and _is_int(best.get("iteration"))
        and isinstance(best.get("val_loss"), float)
        and _is_int(best.get("evals_since"))
    ):
        problems.append("its best weights are not the kind NDE Studio writes")
    names = payload.get("class_names", [])
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        problems.append("its class names are not a list of names")
    tested = payload.get("last_test")
    if tested is not None and not (
        isinstance(tested, dict)
        and _is_int(tested.get("iteration"))
        and isinstance(tested.get("weights"), str)
        and _is_int(tested.get("n_series"))
        and isinstance(tested.get("metrics"), dict)
        and all(isinstance(k, str) and isinstance(v, float) for k, v in tested["metrics"].items())
        and isinstance(tested.get("class_names"), list)
        and all(isinstance(n, str) for n in tested["class_names"])
        and isinstance(tested.get("per_class_accuracy"), list)
        and all(isinstance(a, float) for a in tested["per_class_accuracy"])
        and (
            tested.get("confusion") is None
            or (
                isinstance(tested["confusion"], torch.Tensor)
                and tested["confusion"].dim() == 2
                and tested["confusion"].shape[0]
                == tested["confusion"].shape[1]
                == len(tested["class_names"])
            )
        )
    ):
        problems.append("its last test score is not the kind NDE Studio writes")
    return problems


_SNAPSHOT_ARRAYS = ("times", "observed", "predicted", "labels")


def _eval_payload(event: ev.Eval) -> dict[str, Any]:
    """The last evaluation as tensors and plain data (``weights_only`` can read it)."""
    payload: dict[str, Any] = {
        "iteration": int(event.iteration),
        "val_loss": float(event.val_loss),
        "metrics": {str(k): float(v) for k, v in event.metrics.items()},
    }
    if event.warning is not None:
        payload["warning"] = str(event.warning)
    snap = event.snapshot
    if snap is not None:
        payload["snapshot"] = {
            name: torch.from_numpy(np.ascontiguousarray(getattr(snap, name)).copy())
            for name in _SNAPSHOT_ARRAYS
            if getattr(snap, name) is not None
        } | {"generated": bool(snap.generated)}
    return payload


def _read_eval(payload: Any) -> ev.Eval | None:
    """The evaluation :func:`_eval_payload` wrote (checked by :func:`_eval_problems`)."""
    if payload is None:
        return None
    snapshot = None
    if "snapshot" in payload:
        snap = payload["snapshot"]
        arrays = {name: snap[name].numpy() for name in _SNAPSHOT_ARRAYS if name in snap}
        snapshot = ev.Snapshot(**arrays, generated=snap["generated"])
    return ev.Eval(
        payload["iteration"],
        payload["val_loss"],
        payload["metrics"],
        snapshot,
        payload.get("warning"),
    )


def _eval_problems(payload: Any) -> list[str]:
    """What is wrong with a checkpoint's saved last evaluation (empty when sound)."""
    bad = ["its last evaluation is not the kind NDE Studio writes"]
    if not isinstance(payload, dict):
        return bad
    if not (
        isinstance(payload.get("iteration"), int)
        and not isinstance(payload["iteration"], bool)
        and isinstance(payload.get("val_loss"), float)
        and isinstance(payload.get("metrics"), dict)
        and isinstance(payload.get("warning", ""), str)
        and all(isinstance(k, str) and isinstance(v, float) for k, v in payload["metrics"].items())
    ):
        return bad
    snap = payload.get("snapshot")
    if snap is None:
        return []
    if not isinstance(snap, dict) or not isinstance(snap.get("generated"), bool):
        return bad
    arrays = {k: v for k, v in snap.items() if k != "generated"}
    if set(arrays) - set(_SNAPSHOT_ARRAYS) or not {"times", "observed", "predicted"} <= set(arrays):
        return bad
    if not all(isinstance(v, torch.Tensor) for v in arrays.values()):
        return bad
    times, observed, predicted = arrays["times"], arrays["observed"], arrays["predicted"]
    if times.dim() != 1 or observed.dim() != 3 or predicted.dim() != 3:
        return ["its last evaluation's arrays have the wrong number of dimensions"]
    if observed.shape[1] != times.shape[0]:
        return ["its last evaluation's observations do not match its times"]
    return []


def _payload_problems(payload: dict[str, Any]) -> list[str]:
    """What is missing or of the wrong kind in a checkpoint's contents (empty when sound)."""
    kinds: dict[str, type | tuple[type, ...]] = {
        "spec": str,
        "model": dict,
        "optimizer": dict,
        "schedule": dict,
        "iteration": int,
        "history": dict,
        "generator": torch.Tensor,
        "ndestudio_version": str,
    }
    problems = []
    for key, kind in kinds.items():
        if key not in payload:
            problems.append(f"'{key}' is missing")
        elif not isinstance(payload[key], kind) or isinstance(payload[key], bool):
            problems.append(f"'{key}' is a {type(payload[key]).__name__}")
    if problems:
        return problems
    if payload["iteration"] < 0:
        problems.append(f"the iteration count is {payload['iteration']}")
    model = payload["model"]
    odd = [str(k) for k, v in model.items() if not isinstance(v, torch.Tensor)]
    if odd:
        problems.append(f"weights {', '.join(odd[:3])} are not tensors")
    else:
        bad = [str(k) for k, v in model.items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            problems.append(
                f"weights {', '.join(bad[:3])} are NaN or infinite (NDE Studio saves only "
                "finite weights)"
            )
    history = payload["history"]
    for key, values in history.items():
        if isinstance(values, torch.Tensor) and values.dtype == torch.float64 and values.dim() == 1:
            history[key] = values.tolist()
        elif not (isinstance(values, list) and all(isinstance(x, float) for x in values)):
            problems.append("its history is not lists of numbers")
            break
    generator = payload["generator"]
    if generator.dtype != torch.uint8 or generator.dim() != 1:
        problems.append("the random generator's state is not a byte tensor")
    if "last_eval" in payload:
        problems += _eval_problems(payload["last_eval"])
    return problems + _extras_problems(payload)
