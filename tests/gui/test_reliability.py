"""The window loses no work and explains every bad file: weights are written before the
project file that names them; damaged projects and checkpoints are explained in the window."""

from __future__ import annotations

import json

import torch

import ndestudio.gui.project_files as project_files
from tests.conftest import small_spec


def _training(window, qtbot, steps: int = 5) -> None:
    window.train()
    qtbot.waitUntil(lambda: window.loss_plot.train.n >= steps, timeout=60_000)


def _stop(window, qtbot) -> None:
    window.session.stop()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=30_000)


def test_autosave_writes_the_weights_before_the_project_that_names_them(
    make_window, qtbot, monkeypatch
):
    written = []
    save_project = project_files.save_project

    def recording_save_project(path, *args, **kwargs):
        written.append((path.name, path.with_suffix(".pt").exists()))
        save_project(path, *args, **kwargs)

    monkeypatch.setattr(project_files, "save_project", recording_save_project)
    window = make_window(small_spec("ode", iterations=100_000, eval_every=5))
    _training(window, qtbot)
    window.autosave()  # during the run: the worker writes the weights at a step boundary
    project = window.autosave_path
    qtbot.waitUntil(project.exists, timeout=30_000)
    assert written == [(project.name, True)]
    _stop(window, qtbot)
    window.autosave()  # idle: written on this thread, in the same order
    assert written[-1] == (project.name, True)


def test_a_project_with_a_damaged_checkpoint_is_explained(make_window, qtbot, tmp_path):
    window = make_window(small_spec("ode", iterations=3, eval_every=100))
    _training(window, qtbot, 3)
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=30_000)
    path = tmp_path / "p.ndeproj"
    window.save_project_to(path)
    weights = torch.load(path.with_suffix(".pt"), weights_only=True)
    name = next(iter(weights["model"]))
    weights["model"][name] = torch.full_like(weights["model"][name], float("nan"))
    torch.save(weights, path.with_suffix(".pt"))
    fresh = make_window()
    before = fresh.session.spec
    assert not fresh.open_project(path)
    text = fresh.failure_box.text()
    assert "Cannot open the project" in text and "NaN or infinite" in text, text
    assert fresh.session.spec == before and fresh.session.trainer is None


def test_a_project_whose_weights_lie_outside_its_folder_is_refused(make_window, tmp_path):
    window = make_window(small_spec("ode", iterations=3, eval_every=100))
    outside = tmp_path / "outside.pt"
    outside.write_bytes(b"not loaded")
    inner = tmp_path / "projects"
    inner.mkdir()
    project = {
        "format": "ndestudio-project",
        "format_version": 1,
        "spec": window.session.spec.to_dict(),
        "checkpoint": "../outside.pt",
        "ui": {},
    }
    (inner / "p.ndeproj").write_text(json.dumps(project))
    assert not window.open_project(inner / "p.ndeproj")
    assert "outside the project's folder" in window.failure_box.text()
