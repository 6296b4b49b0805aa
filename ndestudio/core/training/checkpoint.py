"""Checkpoints: run spec, weights, optimiser state and history in one file.

Written atomically (a temporary file in the same folder, then a rename) and read with
``torch.load(weights_only=True)``, so loading a checkpoint never executes pickled code.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ndestudio import __version__
from ndestudio.core.errors import UserError
from ndestudio.core.files import atomic_write
from ndestudio.core.specs import RunSpec, SpecError

FORMAT = "ndestudio-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(UserError):
    """A file that is not a readable NDE Studio checkpoint of a supported version."""


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
    )


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
    return problems
