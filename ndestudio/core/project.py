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
    """Read a project file; anything wrong with it gives a :class:`ProjectError` naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = _decoded(raw, path)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise ProjectError(f"{path}: the JSON is nested too deeply to be a project") from None
    except ValueError as exc:  # e.g. an integer of more than 4 300 digits
        raise ProjectError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ProjectError(f"{path}: not an NDE Studio project")
    version = payload.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ProjectError(f"{path}: project format {str(version)[:40]!r} is not supported")
    if "spec" not in payload:
        raise ProjectError(f"{path}: the project has no run spec ('spec' is missing)")
    try:
        spec = RunSpec.from_dict(payload["spec"])
    except SpecError as exc:
        raise ProjectError(f"{path}: {exc}") from None
    ui = payload.get("ui")
    return Project(
        spec, _weights_file(path, payload.get("checkpoint")), ui if isinstance(ui, dict) else {}
    )


def _decoded(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ProjectError(f"{path}: the text is UTF-16; a project file is UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    if "\0" in text:
        raise ProjectError(f"{path}: holds NUL characters; not a project file")
    return text


def _weights_file(path: Path, name: Any) -> Path | None:
    """The weights file a project names: only a plain file name beside the project, so that a
    project file cannot make NDE Studio read a file from anywhere else."""
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise ProjectError(f"{path}: 'checkpoint' must be a file name, got {type(name).__name__}")
    folder = path.parent.resolve()
    candidate = path.parent / name
    if (
        Path(name).name != name
        or name in (".", "..")
        or "\\" in name
        or candidate.resolve().parent != folder
    ):
        raise ProjectError(
            f"{path}: refers to a weights file outside the project's folder ({name[:80]!r}); "
            "only a file next to the project is loaded"
        )
    if not candidate.is_file():
        raise ProjectError(f"{path}: its weights file {name} is missing")
    return candidate
