"""Files NDE Studio reads at run time — example configs, icons, desktop files — shipped inside
the package as ``ndestudio.resources`` (the repository's ``resources/`` folder) and found
through :mod:`importlib.resources`, so an installed wheel or a bundled app finds them as a
checkout does."""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from ndestudio.core.specs import RunSpec, SpecError

PACKAGE = "ndestudio.resources"
# Example configs: one per family (configs/) and recipes on real datasets (examples/).
EXAMPLE_FOLDERS = ("configs", "examples")

_extracted = ExitStack()  # (a zipped install: files are extracted once, removed at exit)
atexit.register(_extracted.close)


def resource_path(*parts: str) -> Path:
    """A file or folder of the package's resources as a path on disk."""
    found = resources.files(PACKAGE).joinpath(*parts)
    if isinstance(found, Path):
        return found
    return _extracted.enter_context(resources.as_file(found))


def examples() -> dict[str, Path]:
    """The bundled example configs by name (their file's stem), sorted."""
    found: dict[str, Path] = {}
    for folder in EXAMPLE_FOLDERS:
        for entry in resources.files(PACKAGE).joinpath(folder).iterdir():
            if entry.name.endswith(".json"):
                found[entry.name.removesuffix(".json")] = resource_path(folder, entry.name)
    return dict(sorted(found.items()))


def config_path(text: str) -> Path:
    """The config a command line names: a file, or the name of a bundled example."""
    path = Path(text)
    if path.exists():
        return path
    bundled = examples()
    name = text.removesuffix(".json")
    if name in bundled:
        return bundled[name]
    if path.parent != Path(".") or text.endswith(".json"):
        return path  # (a path that is not there: reading it says so)
    raise SpecError(
        [
            f"{text!r} is neither a config file nor a bundled example; the examples are "
            f"{', '.join(bundled)} (`ndestudio examples` describes them)"
        ]
    )


def load_config(text: str) -> RunSpec:
    """The run config a command line names (see :func:`config_path`)."""
    return RunSpec.load(config_path(text))
