"""``ndestudio inspect CHECKPOINT --out DIR``: the numbers as JSON and CSV, the views as PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from ndestudio import cli
from ndestudio.core.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "ode": "ode_spiral.json",
    "cde": "cde_spirals.json",
    "sde": "sde_brownian.json",
}


def _trained(tmp_path: Path, family: str, iterations: int = 4) -> Path:
    config = str(ROOT / "resources/configs" / CONFIGS[family])
    out = tmp_path / "run"
    assert cli.main(["train", config, "--out", str(out), "--iterations", str(iterations)]) == 0
    return out / "checkpoint.pt"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_an_ode_checkpoint_gives_its_equilibria_field_and_portrait(tmp_path, capsys):
    checkpoint = _trained(tmp_path, "ode")
    capsys.readouterr()
    out = tmp_path / "report"
    assert cli.main(["inspect", str(checkpoint), "--out", str(out), "--grid", "12"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "inspection.json").read_text())
    assert report["family"] == "ode" and report["iteration"] == 4
    equilibria = [r for r in _rows(out / "equilibria.csv") if r["field"] == "learned"]
    assert len(equilibria) == len(report["equilibria"])
    for row, eq in zip(equilibria, report["equilibria"], strict=True):
        assert row["kind"] == eq["kind"] and f"equilibrium: {eq['kind']}" in printed
        assert float(row["x"]) == pytest.approx(eq["point"][0])
    field = _rows(out / "field.csv")
    assert len(field) == 12 * 12 and set(field[0]) == {"x", "y", "dx/dt", "dy/dt", "speed"}
    for name in ("phase-portrait.png", "solver.png"):
        image = QImage(str(out / name))
        assert not image.isNull() and image.width() > 500 and image.height() > 400, name


def test_sde_and_cde_checkpoints_give_their_statistics(tmp_path):
    sde = _trained(tmp_path / "sde", "sde", iterations=2)
    out = tmp_path / "sde-report"
    assert cli.main(["inspect", str(sde), "--out", str(out), "--samples", "64"]) == 0
    assert not QImage(str(out / "distributions.png")).isNull()
    report = json.loads((out / "inspection.json").read_text())["sde"]
    rows = _rows(out / "sde_statistics.csv")
    assert len(rows) == len(report["times"])  # one channel
    assert float(rows[0]["w1"]) == pytest.approx(report["wasserstein"][0][0])
    cde = _trained(tmp_path / "cde", "cde", iterations=2)
    out = tmp_path / "cde-report"
    assert cli.main(["inspect", str(cde), "--out", str(out), "--no-figures"]) == 0
    counts = sum(int(r["count"]) for r in _rows(out / "confusion.csv"))
    assert counts == len(Trainer.from_checkpoint(cde).task.val_rows)


def test_a_file_that_is_not_a_checkpoint_is_one_message(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert cli.main(["inspect", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_grid_that_cannot_be_drawn_is_refused_by_the_parser(tmp_path, capsys):
    import pytest as _pytest

    with _pytest.raises(SystemExit) as exit_info:
        cli.main(["inspect", str(tmp_path / "x.pt"), "--out", str(tmp_path / "r"), "--grid", "0"])
    assert exit_info.value.code == 2
    assert "--grid: expected 2 to 500, got 0" in capsys.readouterr().err
