"""``ndestudio datasets``: the packaged real datasets, their sizes and their packages."""

from __future__ import annotations

import json
import sys

import pytest

from ndestudio.cli import main
from ndestudio.core.data.packaged import PACKAGED

INSTALL = 'pip install "ndestudio[datasets]"'


def _run(capsys, *args: str) -> str:
    assert main(["datasets", *args]) == 0
    return capsys.readouterr().out


def _dataset_lines(out: str) -> dict[str, str]:
    """Each dataset's first line, by name (its description lines are indented)."""
    lines = [line for line in out.splitlines() if line[:1].strip()]
    return {line.split()[0]: line for line in lines[: len(PACKAGED)]}


def test_lists_every_dataset_with_family_task_sizes_and_package(capsys):
    out = _run(capsys)
    lines = _dataset_lines(out)
    assert list(lines) == list(PACKAGED)
    vowels = lines["japanese_vowels"]
    assert "CDE" in vowels and "classification" in vowels and "12 channels, 9 classes" in vowels
    assert "270 train / 370 test series of up to 29 times" in vowels
    assert "4 classes, 40 train / 40 test series of up to 100 times" in lines["basic_motions"]
    assert (
        "ODE/SDE" in lines["sunspots"]
        and "11 train / 3 test series of 22 times" in (lines["sunspots"])
    )
    assert "forecasting: 1 channel, 34 train / 9 test series of 52 times" in lines["co2"]
    for name, entry in PACKAGED.items():
        state = "installed" if entry.installed else "not installed"
        assert lines[name].endswith(f"[{entry.package}: {state}]")
    assert "Source: UEA multivariate archive via aeon" in out
    assert "the last 3 segments (1942–2007)" in " ".join(out.split())


def test_a_missing_package_is_named_with_its_install_command(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon", None)
    out = _run(capsys)
    lines = _dataset_lines(out)
    assert lines["japanese_vowels"].endswith("[aeon: not installed]")
    assert lines["basic_motions"].endswith("[aeon: not installed]")
    assert f"japanese_vowels and basic_motions need aeon, which is not installed: {INSTALL}" in (
        out.splitlines()
    )
    if PACKAGED["co2"].installed:
        assert "statsmodels, which is not installed" not in out


@pytest.mark.skipif(
    not all(d.installed for d in PACKAGED.values()), reason=f"needs the extra: {INSTALL}"
)
def test_with_the_extra_nothing_is_missing(capsys):
    out = _run(capsys)
    assert "not installed" not in out and INSTALL not in out


def test_json_output(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    rows = json.loads(_run(capsys, "--json"))
    assert [r["name"] for r in rows] == list(PACKAGED)
    by_name = {r["name"]: r for r in rows}
    vowels = by_name["japanese_vowels"]
    assert vowels["family"] == "cde" and vowels["families"] == ["cde"]
    assert vowels["classes"] == [str(i) for i in range(1, 10)] and len(vowels["channels"]) == 12
    assert (vowels["n_train"], vowels["n_test"], vowels["test_split"]) == (270, 370, True)
    co2 = by_name["co2"]
    assert co2["families"] == ["ode", "sde"] and co2["task"] == "forecasting"
    assert (co2["installed"], co2["install"]) == (False, INSTALL)
