"""Untrusted project files: every damage is a ProjectError naming the file; a project may
only name a weights file next to it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndestudio.core.project import ProjectError, load_project, save_project
from ndestudio.core.specs import RunSpec
from tests.strategies import JSON_VALUES


def _project(**changes: object) -> dict:
    payload = {
        "format": "ndestudio-project",
        "format_version": 1,
        "spec": RunSpec().to_dict(),
        "checkpoint": None,
        "ui": {},
    }
    payload.update(changes)
    return payload


def _write(folder: Path, payload: object, name: str = "p.ndeproj") -> Path:
    path = folder / name
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def _refused(path: Path, fragment: str) -> None:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)


def test_a_saved_project_reads_back(tmp_path):
    spec = RunSpec(name="mine")
    (tmp_path / "p.pt").write_bytes(b"weights")
    save_project(tmp_path / "p.ndeproj", spec, has_weights=True, ui={"smoothing": False})
    project = load_project(tmp_path / "p.ndeproj")
    assert project.spec == spec and project.checkpoint == tmp_path / "p.pt"
    assert project.ui == {"smoothing": False}


def test_wrong_types_and_missing_parts_are_named(tmp_path):
    _refused(_write(tmp_path, _project(spec=[])), "run: expected an object, got list")
    payload = _project()
    del payload["spec"]
    _refused(_write(tmp_path, payload), "'spec' is missing")
    _refused(_write(tmp_path, _project(format_version="1")), "is not supported")
    _refused(_write(tmp_path, _project(format_version=True)), "is not supported")
    _refused(_write(tmp_path, _project(checkpoint=5)), "'checkpoint' must be a file name")
    _refused(_write(tmp_path, _project(checkpoint="gone.pt")), "weights file gone.pt is missing")
    _refused(_write(tmp_path, [1, 2]), "not an NDE Studio project")
    spec = RunSpec().to_dict()
    spec["train"]["lr"] = "fast"
    _refused(_write(tmp_path, _project(spec=spec)), "run.train.lr: expected a number")
    assert load_project(_write(tmp_path, _project(ui="x"))).ui == {}


def test_undecodable_and_deeply_nested_text_is_named(tmp_path):
    path = tmp_path / "p.ndeproj"
    path.write_bytes(json.dumps(_project()).encode("utf-16"))
    _refused(path, "UTF-16")
    path.write_bytes(b'{"format": "\xff\xfe\x80"}')
    _refused(path, "not UTF-8")
    path.write_bytes(b'{"format": "nde\x00"}')
    _refused(path, "NUL")
    path.write_text("[" * 100_000 + "]" * 100_000)
    _refused(path, "nested too deeply")
    path.write_text('{"format": \n oops}')
    _refused(path, "line 2, column 2: invalid JSON")


@pytest.mark.parametrize(
    "reference", ["../../../x.pt", "../x.pt", "sub/../../x.pt", "sub/x.pt", "..", "a\\b.pt"]
)
def test_references_that_leave_the_folder_are_refused(tmp_path, reference):
    inner = tmp_path / "a" / "b" / "c"
    (inner / "sub").mkdir(parents=True)
    for target in (tmp_path / "x.pt", inner / "sub" / "x.pt", tmp_path / "a" / "b" / "x.pt"):
        target.write_bytes(b"weights elsewhere")
    _refused(_write(inner, _project(checkpoint=reference)), "outside the project's folder")


def test_absolute_paths_and_symlinks_out_of_the_folder_are_refused(tmp_path):
    outside = tmp_path / "outside.pt"
    outside.write_bytes(b"weights elsewhere")
    inner = tmp_path / "projects"
    inner.mkdir()
    _refused(_write(inner, _project(checkpoint=str(outside))), "outside the project's folder")
    os.symlink(outside, inner / "link.pt")
    _refused(_write(inner, _project(checkpoint="link.pt")), "outside the project's folder")


SPEC_KEYS = ["name", "model", "solver", "data", "train", "model.network", "train.lr", "data.path"]


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(["spec", "checkpoint", "ui", "format_version", *SPEC_KEYS]),
    value=JSON_VALUES,
    text=st.one_of(st.none(), st.text(max_size=60)),
)
def test_any_project_file_gives_a_project_or_a_project_error(key, value, text):
    payload = _project()
    if "." in key or key in ("name", "model", "solver", "data", "train"):
        target = payload["spec"]
        *parents, last = key.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    else:
        payload[key] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.ndeproj"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        else:
            path.write_text(json.dumps(payload), encoding="utf-8")
        try:
            project = load_project(path)
        except ProjectError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(project.spec, RunSpec)
            assert project.checkpoint is None or project.checkpoint.parent == path.parent
