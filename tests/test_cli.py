"""The headless CLI: ``python -m ndestudio train``, ``export`` and ``demos``."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path

from ndestudio.core.data import DEMOS
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndestudio", *args], capture_output=True, text=True, timeout=600
    )


def test_demos_lists_every_demo():
    result = _cli("demos")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(DEMOS)


def test_train_writes_checkpoint_and_metrics(tmp_path):
    result = _cli(
        "train",
        str(ROOT / "resources/configs/ode_spiral.json"),
        "--out",
        str(tmp_path),
        "--iterations",
        "12",
    )
    assert result.returncode == 0, result.stderr
    assert "12/12 loss" in result.stderr and "ETA" in result.stderr
    assert "engine fast;" in result.stderr  # the engine that runs is named
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt.iteration == 12 and ckpt.spec.train.iterations == 12
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 13))
    assert rows[-1]["val_loss"] != "" and float(rows[-1]["loss"]) > 0
    assert int(rows[0]["nfe_forward"]) > 0
    assert RunSpec.load(tmp_path / "config.json") == ckpt.spec

    model = tmp_path / "spiral.pt"
    exported = _cli("export", str(tmp_path / "checkpoint.pt"), "--out", str(model))
    assert exported.returncode == 0, exported.stderr
    assert "solver dopri5 (rtol 0.001, atol 1e-06), float32" in exported.stdout
    assert exported.stdout.count("— ok") == 2 and "NFE" in exported.stdout
    assert model.stat().st_size > 0

    refused = _cli(
        "export", str(tmp_path / "checkpoint.pt"), "--out", str(model), "--method", "rk4"
    )
    assert refused.returncode == 2
    assert "solver 'rk4' is fixed-step: set a step size > 0" in refused.stderr
    assert "nothing was written" in refused.stderr and "Traceback" not in refused.stderr


def test_example_configs_are_the_presets_and_valid():
    from ndestudio.core.presets import CONFIG_FILES, preset
    from ndestudio.core.validation import validate

    configs = sorted(p.name for p in (ROOT / "resources/configs").glob("*.json"))
    assert configs == sorted(CONFIG_FILES.values())
    for family, name in CONFIG_FILES.items():
        spec = RunSpec.load(ROOT / "resources/configs" / name)
        validate(spec)
        assert spec.model.family == family
        assert spec == preset(family)  # the window's starting point is the documented config


def test_bad_config_gives_clear_messages_and_no_traceback(tmp_path):
    data = json.loads((ROOT / "resources/configs/ode_spiral.json").read_text())
    data["solver"] = {"method": "rk4"}
    data["model"]["network"]["width"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = _cli("train", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "method 'rk4' is fixed-step: set step_size (> 0)" in result.stderr
    assert "vector field hidden width must be ≥ 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_broken_json_names_the_line(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{\n  "name": "x",\n  oops\n}\n')
    result = _cli("train", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{bad}, line 3, column 3: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_with_more_iterations_replans_the_learning_rate(tmp_path, capsys):
    """``--resume --iterations N`` after a finished cosine run: one anneal to 0 over the new
    total, never the old period's cycle (issue 11, item 2)."""
    from ndestudio import cli

    config, out = str(ROOT / "resources/configs/ode_spiral.json"), str(tmp_path / "run")
    assert cli.main(["train", config, "--out", out, "--iterations", "8"]) == 0
    capsys.readouterr()
    assert cli.main(["train", config, "--out", out, "--resume", "--iterations", "40"]) == 0
    err = capsys.readouterr().err
    assert "the cosine schedule planned for 8 iterations now ends at 40" in err
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 41))
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[7] == 0.0  # the first run finished its schedule
    continued = lrs[8:]
    assert all(b <= a for a, b in itertools.pairwise(continued))
    lr = RunSpec.load(config).train.lr
    assert continued[0] > 0.8 * lr and continued[-1] == 0.0  # a warm restart at 0.9 lr
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt.iteration == 40 and ckpt.schedule["total"] == 40
