"""The PyInstaller bundle's inputs (packaging/bundle_inputs.py, read by ndestudio.spec): the
build itself takes minutes and 1.2 GB (packaging/build_app.sh, run by hand), so CI checks
what it is made from — the entry point, the icon, the data and source packages, and that the
application runs without the packages the bundle leaves out."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
import bundle_inputs as inputs  # noqa: E402

sys.path.remove(str(ROOT / "packaging"))

BLOCK = """
import sys
class _LeftOut:
    names = {names!r}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None
sys.meta_path.insert(0, _LeftOut())
"""


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_the_spec_reads_its_inputs_and_they_exist():
    spec = (ROOT / "packaging" / "ndestudio.spec").read_text()
    compile(spec, "ndestudio.spec", "exec")  # (PyInstaller runs it as Python)
    names = ("ENTRY", "NAME", "ICON", "DATA_PACKAGES", "SOURCE_PACKAGES", "HIDDEN_PACKAGES")
    for name in (*names, "METADATA", "EXCLUDES"):
        assert f"inputs.{name}" in spec, name
    assert inputs.ENTRY.is_file() and inputs.ICON.is_file()
    assert "from ndestudio.__main__ import main" in inputs.ENTRY.read_text()


def test_the_data_packages_hold_what_the_program_reads():
    (package,) = inputs.DATA_PACKAGES
    files = importlib.resources.files(package)
    configs = sorted(p.name for p in files.joinpath("configs").iterdir())
    assert {"ode_spiral.json", "cde_spirals.json", "sde_brownian.json"} <= set(configs)
    for name in configs:
        json.loads(files.joinpath("configs", name).read_text())
    assert files.joinpath("icons", "ndestudio.svg").is_file()
    assert files.joinpath("icons", "256x256", "ndestudio.png").is_file()
    assert any(p.name.endswith(".desktop") for p in files.joinpath("desktop").iterdir())


def test_the_versions_about_lists_travel_with_the_bundle():
    """Help ▸ About reads versions from the distributions' metadata: the spec copies it."""
    from ndestudio.core.about import LIBRARIES

    assert {"ndestudio", *(d for _, d in LIBRARIES)} <= set(inputs.METADATA)
    spec = (ROOT / "packaging" / "ndestudio.spec").read_text()
    assert "copy_metadata(distribution)" in spec and "for distribution in inputs.METADATA" in spec


def test_the_source_packages_have_their_sources():
    """TorchScript compiles Python source at run time: these travel as .py files too."""
    for name in inputs.SOURCE_PACKAGES:
        module = importlib.import_module(name)
        source = inspect.getsourcefile(module)
        assert source is not None and source.endswith(".py"), name


def test_the_app_runs_without_the_packages_the_bundle_leaves_out(tmp_path):
    """The bundle's entry point, with every excluded package unimportable: the window
    starts and trains (gui --smoke), as the bundle does in packaging/build_app.sh."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK.format(names=set(inputs.EXCLUDES)))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(blocker), *sys.path]),
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    result = _run([sys.executable, str(inputs.ENTRY), "gui", "--smoke"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "smoke: trained 5 steps" in result.stderr
    # And the bundled examples by name (the blocker is in force: a plain import would say).
    listed = _run([sys.executable, str(inputs.ENTRY), "examples"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    assert "ode_spiral" in listed.stdout


def test_the_entry_point_serves_what_the_program_starts_itself_as(tmp_path):
    """In the bundle sys.executable is the application: the export check's ``-I -c CODE``
    and the sweeps' ``-m ndestudio`` go to it. Emulated here: a program that runs the entry
    point stands in for sys.executable, and an exported model is verified through it."""
    app = tmp_path / "NDE Studio"
    app.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{inputs.ENTRY}" "$@"\n')
    app.chmod(0o755)
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    (frozen / "sitecustomize.py").write_text(f"import sys\nsys.executable = {str(app)!r}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(frozen), *sys.path]))

    def run(*args: str) -> subprocess.CompletedProcess:
        return _run([str(app), *args], tmp_path, env)

    about = run("-m", "ndestudio", "about")
    assert about.returncode == 0, about.stderr
    assert "NDE Studio" in about.stdout and "torchdiffeq" in about.stdout
    code = run("-I", "-c", "import sys; print('args', sys.argv[1:])", "a", "b")
    assert code.returncode == 0 and code.stdout.strip() == "args ['a', 'b']"
    trained = run("train", "ode_spiral", "--out", str(tmp_path / "run"), "--iterations", "3")
    assert trained.returncode == 0, trained.stderr
    exported = run("export", str(tmp_path / "run" / "checkpoint.pt"), "--out", "m.pt")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "m.pt").is_file()
