"""Project files: the run spec (JSON) with the trained weights in a checkpoint beside it.

``name.ndeproj`` is readable JSON; ``name.pt`` next to it is a checkpoint (see
``training.checkpoint``). Both are written atomically, the checkpoint first, so that a crash
mid-save never leaves a project pointing at a half-written file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ndestudio import __version__
from ndestudio.core.errors import UserError
from ndestudio.core.files import atomic_write
from ndestudio.core.specs import RunSpec, SpecError

FORMAT = "ndestudio-project"
FORMAT_VERSION = 1
SUFFIX = ".ndeproj"


class ProjectError(UserError):
    """A project file that cannot be read, with the reason."""


@dataclass
class Project:
    spec: RunSpec
    checkpoint: Path | None  # absolute path of the weights, when the project has any
    ui: dict[str, Any]


def checkpoint_path(project_path: Path) -> Path:
    return project_path.with_suffix(".pt")


def save_project(
    path: Path, spec: RunSpec, has_weights: bool, ui: dict[str, Any] | None = None
) -> None:
    """Write the project file; the caller writes ``checkpoint_path(path)`` first if weights."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ndestudio_version": __version__,
        "spec": spec.to_dict(),
        "checkpoint": checkpoint_path(path).name if has_weights else None,
        "ui": ui or {},
    }
    text = json.dumps(payload, indent=2) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def load_project(path: Path) -> Project:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ProjectError(f"{path}: not an NDE Studio project")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ProjectError(
            f"{path}: project format {payload.get('format_version')} is not supported"
        )
    try:
        spec = RunSpec.from_dict(payload["spec"])
    except SpecError as exc:
        raise ProjectError(f"{path}: {exc}") from None
    checkpoint = None
    if payload.get("checkpoint"):
        checkpoint = path.parent / payload["checkpoint"]
        if not checkpoint.exists():
            raise ProjectError(f"{path}: its weights file {checkpoint.name} is missing")
    ui = payload.get("ui")
    ui = ui if isinstance(ui, dict) else {}
    return Project(spec, checkpoint, ui)
