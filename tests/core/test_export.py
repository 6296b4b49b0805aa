"""Export: parity of every exported solver and family with the eager solve, reloads with other
grids and batches, what the file carries, and refusals that leave no file behind."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ndestudio import __version__
from ndestudio.core.export import ExportError, ExportOptions, export_checkpoint
from ndestudio.core.export import verify as verify_module
from ndestudio.core.export.build import build_module
from ndestudio.core.export.options import resolve_solver
from ndestudio.core.solvers import Probe, SolveStats, path_coefficients, sde_step_grid
from ndestudio.core.training import Trainer
from tests.conftest import small_spec

_TRAINED: dict[tuple, tuple[Path, Trainer]] = {}


def trained(tmp_path_factory: pytest.TempPathFactory, family: str, **changes: object):
    """A briefly trained model of ``family`` (cached per variant) and its checkpoint."""
    key = (family, tuple(sorted(changes.items())))
    if key not in _TRAINED:
        spec = small_spec(family, iterations=3, dtype=changes.pop("dtype", "float32"))
        for name, value in changes.items():
            section, attr = name.split("__")
            target = spec.model.cde if section == "cde" else spec.model.sde
            target = spec.solver if section == "solver" else target
            setattr(target, attr, value)
        trainer = Trainer(spec)
        for _ in trainer.run():
            pass
        path = trainer.save(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt")
        _TRAINED[key] = (path, trainer)
    return _TRAINED[key]


def load(path: Path, extra: dict[str, str] | None = None):
    """Load an exported file; ``extra`` names extra files to read (filled in place)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), _extra_files=extra if extra is not None else {})


def assert_verified(report, adaptive: bool) -> None:
    assert report.cases, "no verification cases ran"
    for case in report.cases:
        assert case.passed, case.line()
        if adaptive and case.nfe_eager is not None:
            assert case.nfe_export == case.nfe_eager


ODE_CASES = [
    (method, dtype)
    for method in ("euler", "midpoint", "rk4", "dopri5")
    for dtype in ("float32", "float64")
]


@pytest.mark.parametrize(("method", "dtype"), ODE_CASES)
def test_ode_export_matches_eager_on_other_grids_and_batches(tmp_path_factory, method, dtype):
    ckpt, trainer = trained(tmp_path_factory, "ode", dtype=dtype)
    out = tmp_path_factory.mktemp("out") / "ode.pt"
    step = None if method == "dopri5" else 0.05
    report = export_checkpoint(ckpt, out, ExportOptions(method=method, step_size=step))
    assert_verified(report, method == "dopri5")
    model = load(out)
    task = trainer.task
    solver, _ = resolve_solver(trainer.spec, ExportOptions(method=method, step_size=step))
    node = task.model
    gen = torch.Generator().manual_seed(5)
    # Beyond the training span, other output counts, increasing/decreasing, batch 1 and 33.
    for batch, t in (
        (1, torch.linspace(0.0, 9.0, 50)),
        (33, torch.sort(torch.rand(7, generator=gen) * 3 + 1).values),
        (4, torch.linspace(2.0, -1.0, 12)),
    ):
        y0 = torch.randn(batch, 2, generator=gen).to(task.dtype)
        t = t.to(task.dtype)
        got, nfe = model.solve_with_stats(y0, t)
        # The file solves as torchdiffeq does, bit for bit; as the fast engine does, to rounding.
        for engine, tol in (("torchdiffeq", 0.0), ("fast", 1e-5 if dtype == "float32" else 1e-12)):
            solver.engine = engine
            probe = Probe(SolveStats())
            with torch.no_grad():
                want = node((y0 - node.loc) / node.scale, t, solver, probe)
            want = want * node.scale + node.loc
            assert got.shape == (batch, len(t), 2)
            torch.testing.assert_close(got, want, rtol=tol, atol=tol)
            assert nfe == probe.stats.nfe_forward
            increasing = bool(t[-1] > t[0])
            assert probe.stats.engine == (
                "fast" if engine == "fast" and increasing else "torchdiffeq"
            )
    single = model(y0[0], t)
    assert single.shape == (len(t), 2)


CDE_CASES = [
    ("hermite", "rk4", "float32"),
    ("hermite", "dopri5", "float32"),
    ("hermite", "dopri5", "float64"),
    ("linear", "dopri5", "float32"),
    ("linear", "midpoint", "float64"),
    ("linear", "euler", "float32"),
    ("rectilinear", "dopri5", "float32"),
]


@pytest.mark.parametrize(("kind", "method", "dtype"), CDE_CASES)
def test_cde_export_builds_its_path_from_raw_observations(tmp_path_factory, kind, method, dtype):
    ckpt, trainer = trained(tmp_path_factory, "cde", dtype=dtype, cde__interpolation=kind)
    out = tmp_path_factory.mktemp("out") / "cde.pt"
    step = None if method == "dopri5" else 0.25
    options = ExportOptions(method=method, step_size=step)
    report = export_checkpoint(ckpt, out, options)
    assert_verified(report, method == "dopri5")
    model = load(out)
    task = trainer.task
    solver, _ = resolve_solver(trainer.spec, options)
    gen = torch.Generator().manual_seed(3)
    for batch, length in ((1, 9), (11, 30)):
        t = torch.sort(torch.rand(length, generator=gen, dtype=torch.float64) * 8 - 1).values
        x = torch.randn(batch, length, 2, generator=gen, dtype=torch.float64)
        x[torch.rand(x.shape, generator=gen) < 0.3] = float("nan")
        # The model's input precision, for both sides.
        x, t = x.to(task.dtype).double(), t.to(task.dtype).double()
        logits = model(x.to(task.dtype), t.to(task.dtype))
        assert logits.shape == (batch, 2)
        feats = task.features_of(x.numpy(), t.numpy())
        tt = t.to(task.dtype)
        coeffs = path_coefficients(torch.as_tensor(feats, dtype=task.dtype), tt, kind)
        with torch.no_grad():  # the file follows torchdiffeq's arithmetic to the bit
            want = task.model(coeffs, tt, replace(solver, engine="torchdiffeq"), Probe())
            fast = task.model(coeffs, tt, replace(solver, engine="auto"), Probe())
        torch.testing.assert_close(logits, want, rtol=0, atol=0)
        torch.testing.assert_close(logits, fast)  # and the fast engine's to rounding


SDE_CASES = [
    ("stratonovich", "reversible_heun", "diagonal", "float32"),
    ("stratonovich", "midpoint", "general", "float32"),
    ("stratonovich", "heun", "scalar", "float32"),
    ("ito", "euler", "additive", "float32"),
    ("stratonovich", "reversible_heun", "diagonal", "float64"),
]


@pytest.mark.parametrize(("sde_type", "method", "noise", "dtype"), SDE_CASES)
def test_sde_export_reproduces_paths_for_given_noise_and_seeds(
    tmp_path_factory, sde_type, method, noise, dtype
):
    gradient = "reversible" if method == "reversible_heun" else "backprop"
    ckpt, trainer = trained(
        tmp_path_factory,
        "sde",
        dtype=dtype,
        sde__sde_type=sde_type,
        sde__noise_type=noise,
        sde__brownian_size=3,
        solver__method=method,
        solver__gradient=gradient,
    )
    out = tmp_path_factory.mktemp("out") / "sde.pt"
    report = export_checkpoint(ckpt, out)
    assert report.solver.method == method
    assert_verified(report, adaptive=False)
    model = load(out)
    task = trainer.task
    gen_model = task.average
    # Other times (not on the training grid) and another batch size.
    ts = torch.tensor([0.0, 0.1, 0.35, 0.8, 1.3], dtype=task.dtype)
    grid = model.solver_grid(ts)
    torch.testing.assert_close(grid, sde_step_grid(ts, trainer.spec.solver.step_size))
    gen = torch.Generator().manual_seed(9)
    noise0 = torch.randn(21, gen_model.noise_size, generator=gen).to(task.dtype)
    dw = torch.randn(len(grid) - 1, 21, gen_model.fields.brownian_size, generator=gen)
    dw = dw.to(task.dtype) * (grid[1:] - grid[:-1]).sqrt().view(-1, 1, 1)
    got = model.sample_with_noise(ts, noise0, dw)
    with torch.no_grad():
        want = gen_model(ts, 21, trainer.spec.solver, initial_noise=noise0, increments=dw)
    torch.testing.assert_close(got, want * gen_model.scale + gen_model.loc, rtol=0, atol=0)
    first, again, other = model(ts, 6, 11), model(ts, 6, 11), model(ts, 6, 12)
    assert first.shape == (6, len(ts), 1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_file_carries_run_spec_and_version_and_loads_without_ndestudio(tmp_path_factory):
    ckpt, trainer = trained(tmp_path_factory, "ode")
    out = tmp_path_factory.mktemp("out") / "model.pt"
    export_checkpoint(ckpt, out)
    extra = {"ndestudio/run_spec.json": "", "ndestudio/version": "", "ndestudio/export.json": ""}
    load(out, extra)
    assert json.loads(extra["ndestudio/run_spec.json"]) == trainer.spec.to_dict()
    assert extra["ndestudio/version"] == __version__.encode()
    meta = json.loads(extra["ndestudio/export.json"])
    assert meta["family"] == "ode" and meta["solver"]["method"] == "dopri5"
    script = (
        "import sys\n"
        "for m in ('ndestudio', 'torchdiffeq', 'torchsde', 'torchcde'): sys.modules[m] = None\n"
        "import torch\n"
        f"m = torch.jit.load({str(out)!r})\n"
        "print(tuple(m(torch.tensor([[2.0, 0.0]]), torch.linspace(0, 1, 5)).shape))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 5, 2)"


def test_adaptive_solver_stops_at_max_num_steps_with_a_clear_error(tmp_path_factory):
    _, trainer = trained(tmp_path_factory, "ode")
    solver, _ = resolve_solver(trainer.spec, ExportOptions(max_num_steps=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.jit.script(build_module(trainer.task, solver))
    with pytest.raises(torch.jit.Error, match="max_num_steps exceeded"):
        model(torch.tensor([[2.0, 0.0]]), torch.tensor([0.0, 50.0]))
    with pytest.raises(torch.jit.Error, match="strictly increasing or strictly decreasing"):
        model(torch.tensor([[2.0, 0.0]]), torch.tensor([0.0, 1.0, 0.5]))


def _no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_untrained_diverged_and_foreign_checkpoints_are_refused(tmp_path):
    trainer = Trainer(small_spec("ode", iterations=3))
    untrained = trainer.save(tmp_path / "untrained.pt")
    out = tmp_path / "model.pt"
    with pytest.raises(ExportError, match="has not been trained yet"):
        export_checkpoint(untrained, out)

    for _ in trainer.run():
        pass
    trainer.model.field.mlp.net[0].weight.data[0, 0] = float("nan")
    diverged = trainer.save(tmp_path / "diverged.pt")
    with pytest.raises(ExportError, match=r"weights field.mlp.net.0.weight are NaN or infinite"):
        export_checkpoint(diverged, out)  # (refused by the checkpoint reader)

    payload = torch.load(untrained, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ExportError, match="format 99 is not supported"):
        export_checkpoint(tmp_path / "future.pt", out)
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(ExportError, match="not a readable NDE Studio checkpoint"):
        export_checkpoint(tmp_path / "notes.txt", out)
    assert not out.exists()
    assert _no_leftovers(tmp_path) == []


def test_unwritable_targets_are_refused_and_existing_files_untouched(tmp_path_factory):
    ckpt, _ = trained(tmp_path_factory, "ode")
    folder = tmp_path_factory.mktemp("target")
    with pytest.raises(ExportError, match="does not exist"):
        export_checkpoint(ckpt, folder / "missing" / "model.pt")
    with pytest.raises(ExportError, match="is a folder"):
        export_checkpoint(ckpt, folder)
    with pytest.raises(ExportError, match=r"cannot write /proc/self/model\.pt"):
        export_checkpoint(ckpt, Path("/proc/self/model.pt"))
    assert _no_leftovers(folder) == []


def test_a_file_that_does_not_verify_is_not_kept(tmp_path_factory, monkeypatch):
    ckpt, _ = trained(tmp_path_factory, "ode")
    folder = tmp_path_factory.mktemp("target")
    previous = folder / "model.pt"
    previous.write_bytes(b"an earlier export")
    real = verify_module.make_cases

    def skewed(task, solver, seed=1234):
        cases = real(task, solver, seed)
        cases[0].expected = cases[0].expected + 0.1
        return cases

    monkeypatch.setattr("ndestudio.core.export.exporter.make_cases", skewed)
    with pytest.raises(ExportError, match="does not reproduce the trained model") as info:
        export_checkpoint(ckpt, previous)
    assert "FAILED" in str(info.value)
    assert previous.read_bytes() == b"an earlier export"
    assert _no_leftovers(folder) == []


def test_solver_choice_defaults_to_training_and_rejects_the_impossible():
    spec = small_spec("ode")
    spec.solver.method = "bosh3"
    solver, notes = resolve_solver(spec, ExportOptions())
    assert solver.method == "dopri5" and "bosh3" in notes[0]
    with pytest.raises(ExportError, match="fixed-step: set a step size"):
        resolve_solver(small_spec("ode"), ExportOptions(method="rk4"))
    with pytest.raises(ExportError, match="cannot be exported for this model"):
        resolve_solver(small_spec("sde"), ExportOptions(method="euler"))


def _exported_fixed_step(tmp_path_factory, family: str, **changes: object):
    """Train, export with a fixed-step solver, check the verification; (loaded file, trainer)."""
    ckpt, trainer = trained(tmp_path_factory, family, **changes)
    out = tmp_path_factory.mktemp("out") / f"{family}.pt"
    assert_verified(export_checkpoint(ckpt, out), adaptive=False)
    return load(out), trainer


def test_latent_sde_exports_its_prior(tmp_path_factory):
    model, trainer = _exported_fixed_step(tmp_path_factory, "sde", sde__objective="latent_sde")
    spec = trainer.spec
    latent = trainer.task.model
    ts = torch.tensor([0.0, 0.3, 0.55, 1.0])
    grid = model.solver_grid(ts)
    gen = torch.Generator().manual_seed(3)
    noise0 = torch.randn(9, latent.hidden, generator=gen)
    dw = torch.randn(len(grid) - 1, 9, latent.hidden, generator=gen) * 0.25
    with torch.no_grad():
        want = latent.sample(ts, 9, spec.solver, initial_noise=noise0, increments=dw)
    got = model.sample_with_noise(ts, noise0, dw)
    torch.testing.assert_close(got, want * latent.scale + latent.loc, rtol=0, atol=0)
    assert torch.equal(model(ts, 5, 1), model(ts, 5, 1))


def test_cde_regression_exports_predictions_in_the_targets_units(tmp_path_factory):
    model, trainer = _exported_fixed_step(tmp_path_factory, "cde", cde__task="regression")
    spec = trainer.spec
    task = trainer.task
    x = torch.as_tensor(task.data.values[:5]).float()
    t = torch.as_tensor(task.data.times).float()
    got = model(x, t)
    coeffs = task.coeffs[:5]
    with torch.no_grad():
        normalised = task.model(coeffs, task.times, spec.solver, Probe())
    want = normalised * task.tensor(task.target_scale) + task.tensor(task.target_loc)
    assert got.shape == (5, task.data.targets.shape[1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
