"""The C++ client in examples/cpp: built against the libtorch inside the pip wheel, it loads an
exported neural ODE and prints exactly what Python computes from the same file."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from ndestudio.core.export import export_checkpoint
from ndestudio.core.training import Trainer
from tests.conftest import small_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cpp"


def _toolchain() -> str | None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    return f"needs {' and '.join(missing)} on PATH" if missing else None


@pytest.mark.skipif(_toolchain() is not None, reason=_toolchain() or "")
def test_cpp_client_prints_the_same_trajectory_as_python(tmp_path):
    trainer = Trainer(small_spec("ode", iterations=3))
    for _ in trainer.run():
        pass
    model_path = tmp_path / "spiral.pt"
    export_checkpoint(trainer.save(tmp_path / "checkpoint.pt"), model_path)

    build = tmp_path / "build"
    configure = subprocess.run(
        [
            "cmake",
            "-S",
            str(EXAMPLE),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        ],
        capture_output=True,
        text=True,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compiled = subprocess.run(
        ["cmake", "--build", str(build), "-j", "2"], capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stdout[-3000:] + compiled.stderr[-3000:]

    t0, t1, n, y0 = 0.0, -4.5, 13, (1.5, -0.25)  # backwards in time, off the training grid
    run = subprocess.run(
        [str(build / "ndestudio_client"), str(model_path), str(t0), str(t1), str(n)]
        + [str(v) for v in y0],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    printed = torch.tensor(
        [[float(v) for v in line.split()] for line in run.stdout.strip().splitlines()],
        dtype=torch.float64,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.jit.load(str(model_path))
    t = torch.linspace(t0, t1, n)
    expected = model(torch.tensor([y0]), t)[0].double()
    assert printed.shape == (n, 3)
    assert torch.equal(printed[:, 0], t.double())
    assert torch.equal(printed[:, 1:], expected)

    refused = subprocess.run(
        [str(build / "ndestudio_client"), str(tmp_path / "checkpoint.pt"), "0", "1", "3", "1", "0"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "cannot load" in refused.stderr
