"""Checkpoints: run spec, weights, optimiser state and history in one file.

Written atomically (a temporary file in the same folder, then a rename) and read with
``torch.load(weights_only=True)``, so loading a checkpoint never executes pickled code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    history: dict[str, list[float]],
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
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "generator": generator,
    }
    return atomic_write(Path(path), lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable NDE Studio checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an NDE Studio checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format_version')} is not supported "
            f"(this NDE Studio reads format {FORMAT_VERSION})"
        )
    try:
        spec = RunSpec.from_json(payload["spec"], source=f"{path} (run spec)")
    except SpecError as exc:
        raise CheckpointError(str(exc)) from None
    return Checkpoint(
        spec=spec,
        model=payload["model"],
        optimizer=payload["optimizer"],
        schedule=payload["schedule"],
        iteration=int(payload["iteration"]),
        history=payload["history"],
        generator=payload["generator"],
        version=str(payload["ndestudio_version"]),
    )
