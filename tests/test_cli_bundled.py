"""``ndestudio examples``, ``ndestudio train NAME`` with a bundled example's name, and
``ndestudio about``: run from a folder without the repository's ``resources/``."""

from __future__ import annotations

import csv
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ndestudio import __version__
from ndestudio.core.resources import examples


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_examples_lists_every_bundled_config(tmp_path):
    result = _cli(tmp_path, "examples")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(examples())
    assert "ode_spiral             ODE           demo spiral, dopri5" in lines
    assert lines[-1].startswith("train one: ndestudio train NAME --out DIR")


def test_train_takes_a_bundled_example_s_name(tmp_path):
    result = _cli(tmp_path, "train", "ode_spiral", "--out", "runs/x", "--iterations", "3")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "runs/x/metrics.csv").open(newline="") as fh:
        assert [row["iteration"] for row in csv.DictReader(fh) if row["loss"]] == ["1", "2", "3"]
    assert (tmp_path / "runs/x/checkpoint.pt").is_file()


def test_an_unknown_name_is_refused_with_the_names_there_are(tmp_path):
    result = _cli(tmp_path, "train", "ode_spirals", "--out", "runs/x")
    assert result.returncode == 2
    assert "'ode_spirals' is neither a config file nor a bundled example" in result.stderr
    assert "cde_spirals, ode_spiral, sde_brownian" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_about_lists_the_versions(tmp_path):
    result = _cli(tmp_path, "about")
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(":", 1) for line in result.stdout.strip().splitlines())
    rows = {k: v.strip() for k, v in rows.items()}
    assert rows["NDE Studio"] == __version__
    assert rows["Python"].startswith(".".join(map(str, sys.version_info[:3])))
    for label, dist in (("PyTorch", "torch"), ("torchsde", "torchsde"), ("PySide6", "PySide6")):
        assert rows[label] == metadata.version(dist)
    assert rows["CUDA device"]  # (here: none; on a GPU machine: its name)
