"""Verification of an exported file: fresh random inputs, the eager solve through the core's
solver layer (torchdiffeq / torchsde / torchcde), the file run in a fresh Python process that
imports neither NDE Studio nor those libraries, and the differences against stated bounds:

- fixed-step solvers (and every SDE solver): max |Δ| ≤ 1e-5 · max |y| in float32, 1e-10 · in
  float64;
- adaptive, float32: |Δ| ≤ 10 · (atol + rtol · |y|) elementwise, in the solver's (normalised)
  units, and NFE within 5 %;
- adaptive, float64: max |Δ| ≤ 1e-10 · max(1, max |y|) and identical NFE.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ndestudio.core.export.formats import ExportFormat
from ndestudio.core.export.script_solvers import ADAPTIVE_ODE_METHODS
from ndestudio.core.models import LatentSDE, NeuralCDE, NeuralODE, NeuralSDE
from ndestudio.core.solvers import Probe, SolveStats, path_coefficients, sde_step_grid
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training.tasks import (
    CDETask,
    LatentSDETask,
    SDEGANTask,
    Task,
)

FIXED_RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}
ADAPTIVE_F64 = 1e-10
NFE_SLACK_F32 = 0.05


@dataclass
class Case:
    """One call of the exported file and what the eager solve gave for it."""

    name: str
    method: str
    args: list
    expected: torch.Tensor
    nfe: int | None
    # Maps an output difference into the solver's units (normalised state), or None.
    to_solver_units: torch.Tensor | None = None
    solver_scale_ref: torch.Tensor | None = None
    # For outputs that are a fixed linear map of a verified state: the state's bound carried
    # through that map.
    abs_limit: float | None = None


@dataclass
class CaseResult:
    name: str
    max_abs: float
    max_rel: float
    bound: str
    passed: bool
    nfe_eager: int | None = None
    nfe_export: int | None = None

    def line(self) -> str:
        nfe = ""
        if self.nfe_eager is not None:
            nfe = f", NFE {self.nfe_export} vs eager {self.nfe_eager}"
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{self.name}: max |Δ| {self.max_abs:.3g} (relative {self.max_rel:.3g}; "
            f"bound {self.bound}){nfe} — {verdict}"
        )


@dataclass
class VerifyResult:
    cases: list[CaseResult] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(c.passed for c in self.cases)


def _span(task: Task) -> tuple[float, float]:
    times = task.data.times
    return float(times[0]), float(times[-1])


def _irregular_times(lo: float, hi: float, n: int, gen: torch.Generator) -> torch.Tensor:
    inner = torch.rand(n - 2, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    return torch.cat([torch.tensor([lo]), torch.sort(inner).values, torch.tensor([hi])])


def make_cases(task: Task, solver: SolverSpec, seed: int = 1234) -> list[Case]:
    """Fresh random inputs for the exported file and the eager solve's answers to them, solved
    by torchdiffeq: the file's solvers follow its arithmetic, so the two agree bit for bit
    (the fast engine agrees with both to rounding)."""
    solver = replace(solver, engine="torchdiffeq")
    gen = torch.Generator().manual_seed(seed)
    dtype = task.dtype
    lo, hi = _span(task)
    with torch.no_grad():
        if isinstance(task, CDETask):
            return _cde_cases(task, solver, gen, lo, hi)
        if isinstance(task, SDEGANTask | LatentSDETask):
            return _sde_cases(task, solver, gen, lo, hi)
        model = task.model
        assert isinstance(model, NeuralODE)
        cases = []
        for name, batch, times in (
            ("ODE, 7 states, 23 irregular increasing times", 7, _irregular_times(lo, hi, 23, gen)),
            (
                "ODE, 3 states, 9 decreasing times",
                3,
                torch.linspace(hi, lo, 9, dtype=torch.float64),
            ),
        ):
            y0 = model.loc + model.scale * torch.randn(batch, model.channels, generator=gen).to(
                dtype
            )
            t = times.to(dtype)
            probe = Probe(SolveStats())
            y = model((y0 - model.loc) / model.scale, t, solver, probe)
            expected = y * model.scale + model.loc
            cases.append(
                Case(
                    name,
                    "solve_with_stats",
                    [y0, t],
                    expected,
                    probe.stats.nfe_forward,
                    to_solver_units=1 / model.scale,
                    solver_scale_ref=y,
                )
            )
        return cases


def _cde_cases(
    task: CDETask, solver: SolverSpec, gen: torch.Generator, lo: float, hi: float
) -> list[Case]:
    model = task.model
    assert isinstance(model, NeuralCDE)
    cde = task.spec.model.cde
    batch, length = 6, max(5, task.data.values.shape[1] - 3)
    times = _irregular_times(lo, hi, length, gen)
    x = torch.as_tensor(task.loc) + torch.as_tensor(task.scale) * torch.randn(
        batch, length, task.data.channels, generator=gen, dtype=torch.float64
    )
    x[torch.rand(x.shape, generator=gen) < 0.25] = float("nan")
    # What the file receives, for the eager side too.
    x, times = x.to(task.dtype).double(), times.to(task.dtype).double()
    features = task.features_of(x.numpy(), times.numpy())
    t = times.to(task.dtype)
    coeffs = path_coefficients(torch.as_tensor(features, dtype=task.dtype), t, cde.interpolation)
    probe = Probe(SolveStats())
    z = model.final_state(coeffs, t, solver, probe)
    outputs = model.readout(z)
    if not task.classification:
        outputs = outputs * task.tensor(task.target_scale) + task.tensor(task.target_loc)
    x_in = x.to(task.dtype)
    abs_limit = None
    if solver.method in ADAPTIVE_ODE_METHODS:
        weight_norm = float(model.readout.weight.abs().sum(dim=1).max())
        out_scale = 1.0 if task.classification else float(task.target_scale.max())
        if task.dtype == torch.float64:
            state_limit = ADAPTIVE_F64 * max(1.0, float(z.abs().max()))
        else:
            state_limit = float((10 * (solver.atol + solver.rtol * z.abs())).max())
        abs_limit = weight_norm * out_scale * state_limit
    return [
        Case(
            f"CDE final state, {batch} series × {length} irregular times, 25 % missing",
            "hidden_with_stats",
            [x_in, t],
            z,
            probe.stats.nfe_forward,
            to_solver_units=torch.ones((), dtype=task.dtype),
            solver_scale_ref=z,
        ),
        Case("CDE outputs, same series", "forward", [x_in, t], outputs, None, abs_limit=abs_limit),
    ]


def _sde_cases(
    task: SDEGANTask | LatentSDETask, solver: SolverSpec, gen: torch.Generator, lo: float, hi: float
) -> list[Case]:
    batch = 8
    ts = torch.linspace(lo, hi, 13, dtype=torch.float64).to(task.dtype)
    grid = sde_step_grid(ts, float(solver.step_size or 0.0))
    model: LatentSDE | NeuralSDE
    if isinstance(task, LatentSDETask):  # samples of the prior SDE
        model = task.model  # type: ignore[assignment]
        assert isinstance(model, LatentSDE)
        sample, noise_size, channels = model.sample, model.hidden, model.hidden
    else:  # the generator, with its averaged weights
        model = task.average
        sample, noise_size, channels = model, model.noise_size, model.fields.brownian_size
    noise = torch.randn(batch, noise_size, generator=gen).to(task.dtype)
    increments = torch.randn(len(grid) - 1, batch, channels, generator=gen).to(task.dtype)
    increments = increments * (grid[1:] - grid[:-1]).sqrt().view(-1, 1, 1)
    paths = sample(ts, batch, solver, initial_noise=noise, increments=increments)
    return [
        Case(
            f"SDE, {batch} paths at 13 times, given noise",
            "sample_with_noise",
            [ts, noise, increments],
            paths * model.scale + model.loc,
            None,
        )
    ]


def run_fresh_process(fmt: ExportFormat, path: Path, cases: list[Case]) -> dict:
    """Run ``cases`` on the file at ``path`` in a new interpreter and return its results."""
    with tempfile.TemporaryDirectory(prefix="ndestudio-verify-") as tmp:
        cases_path = Path(tmp) / "cases.pt"
        out_path = Path(tmp) / "results.pt"
        torch.save({c.name: {"method": c.method, "args": c.args} for c in cases}, cases_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        proc = subprocess.run(
            [sys.executable, "-I", "-c", fmt.runner, str(path), str(cases_path), str(out_path)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            raise RuntimeError(
                "the exported file failed to run in a fresh Python process:\n" + "\n".join(tail)
            )
        return torch.load(out_path, weights_only=True)


def compare(
    cases: list[Case], results: dict, solver: SolverSpec, dtype: torch.dtype
) -> VerifyResult:
    verdict = VerifyResult()
    meta = results.get("__meta__", {})
    verdict.imported = list(meta.get("imported", []))
    if verdict.imported:
        verdict.problems.append(
            "the fresh process imported " + ", ".join(verdict.imported) + " to run the file"
        )
    if not meta.get("spec_bytes"):
        verdict.problems.append("the file does not carry the run spec")
    adaptive = solver.method in ADAPTIVE_ODE_METHODS
    for case in cases:
        got = results[case.name]["value"].to(case.expected)
        nfe = int(results[case.name]["nfe"])
        diff = (got - case.expected).abs()
        ref = case.expected.abs()
        max_abs = float(diff.max())
        max_rel = max_abs / max(float(ref.max()), 1e-30)
        nfe_eager = case.nfe if adaptive else None
        nfe_export = nfe if adaptive else None
        if not torch.isfinite(got).all():
            passed, bound = False, "finite"
        elif case.abs_limit is not None:
            passed = max_abs <= case.abs_limit
            bound = f"≤ {case.abs_limit:.3g}, the state's bound through the readout"
        elif not adaptive or case.to_solver_units is None:
            limit = FIXED_RTOL[dtype]
            passed, bound = max_rel <= limit, f"relative ≤ {limit:g}"
        elif dtype == torch.float64:
            limit = ADAPTIVE_F64 * max(1.0, float(ref.max()))
            passed = max_abs <= limit and nfe == case.nfe
            bound = f"≤ {limit:.3g}, identical NFE"
        else:
            assert case.solver_scale_ref is not None
            tol = 10 * (solver.atol + solver.rtol * case.solver_scale_ref.abs())
            worst = float((diff * case.to_solver_units / tol).max())
            slack = abs(nfe - (case.nfe or 0)) <= NFE_SLACK_F32 * (case.nfe or 0)
            passed = worst <= 1.0 and slack
            bound = f"10·(atol + rtol·|y|), used {worst:.2g} of it; NFE within 5 %"
        verdict.cases.append(
            CaseResult(case.name, max_abs, max_rel, bound, passed, nfe_eager, nfe_export)
        )
    return verdict
