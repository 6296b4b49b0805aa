"""The fast engine computes what torchdiffeq computes: the same solution, gradients, steps and
evaluation counts, the same failures; "auto" picks it only where it applies."""

from __future__ import annotations

import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.models import VectorField
from ndestudio.core.models.cde import NeuralCDE
from ndestudio.core.solvers import (
    CDEField,
    Probe,
    SolverFailure,
    SolveStats,
    control_path,
    path_coefficients,
    solve_ode,
)
from ndestudio.core.solvers.fast import FAST_METHODS, planned_engine
from ndestudio.core.solvers.fast.tableaus import TABLEAUS
from ndestudio.core.specs import CDESpec, ModelSpec, NetworkSpec, SolverSpec
from ndestudio.core.training import Trainer
from ndestudio.core.validation import validate
from tests.conftest import small_spec

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
CASES = [
    (method, activation, final_tanh, False)
    for method in FAST_METHODS
    for activation, final_tanh in [("tanh", False), ("softplus", True), ("relu", False)]
] + [
    ("dopri5", "silu", False, False),
    ("midpoint", "lipswish", True, False),
    ("bosh3", "lipswish", False, False),
    # The time as an input (fixed steps: the stage times of torchdiffeq's steps).
    ("euler", "relu", False, True),
    ("midpoint", "tanh", False, True),
    ("rk4", "softplus", True, True),
    # and of adaptive ones (their times move with the first step size: its gradient).
    ("dopri5", "tanh", False, True),
    ("dopri5", "relu", False, True),
    ("bosh3", "softplus", True, True),
]


def _field(dtype: torch.dtype, activation: str, final_tanh: bool, time_input: bool = False):
    torch.manual_seed(0)
    network = NetworkSpec(
        width=32, depth=2, activation=activation, final_tanh=final_tanh, time_input=time_input
    )
    field = VectorField(2, 2, network).to(dtype)
    with torch.no_grad():  # a lively field: adaptive solvers reject steps
        for p in field.parameters():
            p.mul_(2.0)
    return field


def _solve(
    engine: str,
    method: str,
    dtype: torch.dtype,
    activation: str,
    final_tanh: bool,
    time_input: bool = False,
    *,
    n_times: int = 10,
    tolerance: float | None = None,
):
    field = _field(dtype, activation, final_tanh, time_input)
    y0 = torch.randn(8, 2, dtype=dtype, generator=torch.Generator().manual_seed(1))
    y0.requires_grad_()
    t = torch.linspace(0, 3, n_times, dtype=dtype)
    fixed = not TABLEAUS[method].adaptive
    spec = SolverSpec(
        method=method,
        rtol=tolerance or 1e-5,
        atol=tolerance or (1e-7 if dtype == torch.float64 else 1e-6),
        step_size=0.07 if fixed else None,
        engine=engine,
    )
    stats = SolveStats()
    ys = solve_ode(field, y0, t, spec, probe=Probe(stats))
    loss = ys.pow(2).sum() + ys.sin().sum()
    with stats.backward_phase():
        loss.backward()
    grads = [y0.grad] + [p.grad for p in field.parameters()]
    return loss.detach(), grads, stats


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm().clamp_min(1e-300))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("method", "activation", "final_tanh", "time_input"), CASES)
def test_the_engines_agree(method, activation, final_tanh, time_input, dtype):
    case = (method, dtype, activation, final_tanh, time_input)
    loss_a, grads_a, stats_a = _solve("torchdiffeq", *case)
    loss_b, grads_b, stats_b = _solve("fast", *case)
    assert (stats_a.engine, stats_b.engine) == ("torchdiffeq", "fast")
    tol = TOLERANCE[dtype]
    assert _relative(loss_a, loss_b) <= tol
    for a, b in zip(grads_a, grads_b, strict=True):
        assert _relative(a, b) <= tol
    assert stats_b.nfe_forward == stats_a.nfe_forward
    assert stats_b.nfe_backward == stats_a.nfe_backward > 0
    assert stats_b.rejected_steps == stats_a.rejected_steps
    assert stats_b.solves == stats_a.solves == 1
    # The same accepted steps: adaptive solves follow torchdiffeq's arithmetic bit for bit.
    assert torch.equal(stats_b.step_sizes(), stats_a.step_sizes())


CDE_CASES = [
    (interpolation, method, step, activation, final_tanh)
    for interpolation in ("hermite", "linear", "rectilinear")
    # Steps of the knots' spacing (0.3) and across them: the evaluations at a knot are
    # torchdiffeq's, on its own side of the knot (a linear path's derivative jumps there).
    for method, step, activation, final_tanh in [
        ("euler", 0.3, "relu", False),
        ("midpoint", 0.15, "tanh", False),
        ("rk4", 0.3, "softplus", True),
        ("rk4", 0.13, "tanh", True),
    ]
]


def _solve_cde(engine, interpolation, method, step, activation, final_tanh, dtype):
    torch.manual_seed(0)
    network = NetworkSpec(width=16, depth=2, activation=activation, final_tanh=final_tanh)
    cde = CDESpec(hidden_size=4, interpolation=interpolation, task="classification")
    model = NeuralCDE(3, 2, ModelSpec(family="cde", network=network, cde=cde)).to(dtype)
    t = torch.linspace(0, 3, 11, dtype=dtype)
    x = torch.randn(5, 11, 3, dtype=dtype, generator=torch.Generator().manual_seed(3))
    x[2, 3, 1] = float("nan")  # a missing value
    if interpolation == "rectilinear":
        x[..., 0] = t  # (the time as channel 0; the solve runs over the doubled knots)
        step *= 2
    else:
        x[1, 7:] = float("nan")  # a series that ends early
    coeffs = path_coefficients(x, t, interpolation)
    stats = SolveStats()
    spec = SolverSpec(method=method, step_size=step, engine=engine)
    out = model(coeffs, t, spec, Probe(stats))
    loss = out.pow(2).sum() + out.sin().sum()
    with stats.backward_phase():
        loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()], stats


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("interpolation", "method", "step", "activation", "final_tanh"), CDE_CASES)
def test_the_engines_agree_on_cdes(interpolation, method, step, activation, final_tanh, dtype):
    case = (interpolation, method, step, activation, final_tanh, dtype)
    loss_a, grads_a, stats_a = _solve_cde("torchdiffeq", *case)
    loss_b, grads_b, stats_b = _solve_cde("fast", *case)
    assert (stats_a.engine, stats_b.engine) == ("torchdiffeq", "fast")
    tol = TOLERANCE[dtype]
    assert _relative(loss_a, loss_b) <= tol
    for a, b in zip(grads_a, grads_b, strict=True):  # the initial map's through z0
        assert _relative(a, b) <= tol
    assert stats_b.nfe_forward == stats_a.nfe_forward
    assert stats_b.nfe_backward == stats_a.nfe_backward > 0
    assert torch.equal(stats_b.step_sizes(), stats_a.step_sizes())


def test_a_cde_whose_path_needs_a_gradient_runs_on_torchdiffeq():
    network = NetworkSpec(width=8, depth=1)
    model = NeuralCDE(2, 1, ModelSpec(family="cde", network=network, cde=CDESpec(hidden_size=3)))
    t = torch.linspace(0, 1, 5)
    coeffs = path_coefficients(torch.randn(4, 5, 2), t, "hermite").requires_grad_()
    for method, expected in [("rk4", "torchdiffeq"), ("dopri5", "torchdiffeq")]:
        stats = SolveStats()
        model(coeffs, t, SolverSpec(method=method, step_size=0.1), Probe(stats)).sum().backward()
        assert stats.engine == expected
        assert coeffs.grad is not None and bool(coeffs.grad.abs().sum() > 0)
    stats = SolveStats()
    model(coeffs.detach(), t, SolverSpec(method="rk4", step_size=0.1), Probe(stats))
    assert stats.engine == "fast"
    # A path read from tensors that need a gradient, not passed as extra parameters (an
    # SDE-GAN's discriminator reading generated paths): the gradient reaches them.
    xs = torch.randn(4, 5, 2, requires_grad=True)
    path = control_path(path_coefficients(xs, t, "linear"), t, "linear")
    field = CDEField(model.func, path, 3, 2)
    stats = SolveStats()
    z0 = torch.zeros(4, 3)
    solve_ode(
        field, z0, t[[0, -1]], SolverSpec(method="midpoint", step_size=0.1), probe=Probe(stats)
    )[-1].sum().backward()
    assert stats.engine == "torchdiffeq"
    assert xs.grad is not None and bool(xs.grad.abs().sum() > 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("method", "time_input"), [("dopri5", False), ("bosh3", True)])
def test_outputs_inside_the_first_step_move_with_its_size(method, time_input, dtype):
    # Loose tolerances and dense outputs: the first step spans several output times, whose
    # places in it move with the first step size (the gradient through torchdiffeq's h).
    case = (method, dtype, "tanh", False, time_input)
    loss_a, grads_a, stats_a = _solve("torchdiffeq", *case, n_times=200, tolerance=1e-2)
    loss_b, grads_b, stats_b = _solve("fast", *case, n_times=200, tolerance=1e-2)
    assert float(stats_b.step_sizes()[0]) > 3 * (3 / 199)  # (three outputs in the first step)
    tol = TOLERANCE[dtype]
    assert _relative(loss_a, loss_b) <= tol
    for a, b in zip(grads_a, grads_b, strict=True):
        assert _relative(a, b) <= tol
    assert (stats_b.nfe_forward, stats_b.nfe_backward) == (
        stats_a.nfe_forward,
        stats_a.nfe_backward,
    )


def _solve_with(engine: str, field: VectorField, spec: SolverSpec):
    y0 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y0.requires_grad_()
    t = torch.linspace(0, 2, 7, dtype=torch.float64)
    field.zero_grad(set_to_none=True)
    stats = SolveStats()
    spec.engine = engine
    ys = solve_ode(field, y0, t, spec, probe=Probe(stats))
    with stats.backward_phase():
        (ys.pow(2).sum() + ys.sin().sum()).backward()
    grads = [y0.grad] + [p.grad for p in field.parameters()]
    return [g if g is not None else torch.zeros(()) for g in grads], stats


@pytest.mark.parametrize("case", ["a constant first step", "a first step below min_step"])
def test_the_first_step_without_a_gradient_in_a_whole_solve(case):
    """The adaptive solve's one backward pass chains the first step size's gradient by hand:
    where torchdiffeq's first step size is a constant (a field that is zero at y0: h =
    max(1e-6, h0 / 1000)) or is clamped up to ``min_step`` (whose gradient is zero), that
    link carries nothing, and the rest of the gradient must still be torchdiffeq's."""
    torch.manual_seed(0)
    zero = case == "a constant first step"
    network = NetworkSpec(width=16, depth=2, zero_init_last=zero)
    field = VectorField(2, 2, network).double()
    spec = SolverSpec(method="dopri5", rtol=1e-6, atol=1e-8, min_step=None if zero else 0.05)
    grads_a, stats_a = _solve_with("torchdiffeq", field, spec)
    grads_b, stats_b = _solve_with("fast", field, spec)
    assert (stats_a.engine, stats_b.engine) == ("torchdiffeq", "fast")
    first_a, first_b = float(stats_a.step_sizes()[0]), float(stats_b.step_sizes()[0])
    assert first_a == first_b == (1e-6 if zero else 0.05)  # (the case named)
    for a, b in zip(grads_a, grads_b, strict=True):
        assert float((a - b).abs().max()) <= 1e-10 * max(float(a.abs().max()), 1e-300)
    assert any(float(g.abs().max()) > 0 for g in grads_a[1:])
    assert (stats_b.nfe_forward, stats_b.nfe_backward) == (
        stats_a.nfe_forward,
        stats_a.nfe_backward,
    )


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_a_solve_whose_times_need_a_gradient_runs_on_torchdiffeq(method):
    field = _field(torch.float64, "tanh", False, time_input=True)
    y0 = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    t = torch.linspace(0, 1, 5, dtype=torch.float64).requires_grad_()
    stats = SolveStats()
    spec = SolverSpec(method=method, step_size=0.1, engine="auto")
    solve_ode(field, y0, t, spec, probe=Probe(stats)).pow(2).sum().backward()
    assert stats.engine == "torchdiffeq"
    assert t.grad is not None and bool(t.grad.abs().sum() > 0)


def test_adaptive_solves_reject_steps_in_these_cases():
    _, _, stats = _solve("fast", "dopri5", torch.float64, "relu", False)
    assert stats.rejected_steps > 0  # the case the step bookkeeping is for happened


@pytest.mark.parametrize("method", FAST_METHODS)
def test_solves_without_gradient_agree(method):
    field = _field(torch.float64, "softplus", False)
    y0 = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    t = torch.linspace(0, 2, 7, dtype=torch.float64)
    out = {}
    for engine in ("torchdiffeq", "fast"):
        spec = SolverSpec(method=method, step_size=0.1, engine=engine)
        stats = SolveStats()
        with torch.no_grad():
            out[engine] = (solve_ode(field, y0, t, spec, probe=Probe(stats)), stats)
    (a, stats_a), (b, stats_b) = out["torchdiffeq"], out["fast"]
    assert _relative(a, b) <= 1e-12
    assert stats_b.engine == "fast" and stats_b.nfe_forward == stats_a.nfe_forward


def _failure(engine: str, field: VectorField, y0: torch.Tensor, spec: SolverSpec) -> str:
    spec.engine = engine
    stats = SolveStats()
    with pytest.raises(SolverFailure) as info:
        solve_ode(field, y0, torch.linspace(0, 3, 4, dtype=y0.dtype), spec, probe=Probe(stats))
    assert stats.engine == engine
    return str(info.value)


def test_failures_say_the_same_on_both_engines():
    field = _field(torch.float64, "tanh", False)
    y0 = torch.randn(4, 2, dtype=torch.float64)
    few = SolverSpec(method="dopri5", rtol=1e-9, atol=1e-9, max_num_steps=3)
    messages = {_failure(e, field, y0, few) for e in ("torchdiffeq", "fast")}
    assert messages == {"max_num_steps exceeded (3>=3)"}

    with torch.no_grad():  # a field that is NaN everywhere: the step size underflows
        next(field.parameters()).fill_(float("nan"))
    spec = SolverSpec(method="bosh3")
    messages = {_failure(e, field, y0, spec) for e in ("torchdiffeq", "fast")}
    assert messages == {"underflow in dt 0.0"}

    field = _field(torch.float64, "tanh", False)
    y0[0, 0] = float("inf")  # (a non-finite state makes the first step size NaN first)
    messages = {_failure(e, field, y0, SolverSpec()) for e in ("torchdiffeq", "fast")}
    assert messages == {"underflow in dt 0.0"}


def test_auto_picks_the_fast_engine_where_it_applies():
    y0 = torch.randn(4, 2)
    t = torch.linspace(0, 1, 5)
    cases = [
        (_field(torch.float32, "tanh", False), t, SolverSpec(), "fast"),
        (_field(torch.float32, "tanh", False, time_input=True), t, SolverSpec(), "fast"),
        (_field(torch.float32, "tanh", False, True), t, SolverSpec(method="rk4"), "fast"),
        (_field(torch.float32, "tanh", False), t, SolverSpec(gradient="adjoint"), "torchdiffeq"),
        (_field(torch.float32, "tanh", False), t, SolverSpec(method="heun3"), "fast"),
        (
            _field(torch.float32, "tanh", False),
            t,
            SolverSpec(method="adaptive_heun"),
            "torchdiffeq",
        ),
        (_field(torch.float32, "tanh", False), t.expand(4, 5), SolverSpec(), "torchdiffeq"),
        (_field(torch.float32, "tanh", False), t, SolverSpec(engine="torchdiffeq"), "torchdiffeq"),
    ]
    for field, times, spec, expected in cases:
        if spec.method in ("heun3", "rk4"):
            spec.step_size = 0.1
        stats = SolveStats()
        solve_ode(field, y0, times, spec, probe=Probe(stats))
        assert stats.engine == expected, (spec, times.shape)


def test_the_planned_engine_is_the_one_that_runs():
    cases = [("ode", "fast"), ("cde", "fast"), ("cde", "torchdiffeq"), ("sde", "torchsde")]
    for family, engine in cases:
        spec = small_spec(family, iterations=1, eval_every=100)
        if family == "cde" and engine == "torchdiffeq":  # (adaptive CDE solves)
            spec.solver.method, spec.solver.step_size = "dopri5", None
        assert planned_engine(family, spec.solver, spec.model.network) == engine
        trainer = Trainer(spec)
        events = list(trainer.run())
        started = events[0]
        assert isinstance(started, ev.Started) and started.engine == engine
        assert trainer.stats.engine == engine


def test_asking_for_the_fast_engine_where_it_cannot_run_is_refused_by_name():
    spec = small_spec("ode")
    spec.solver.engine = "fast"
    spec.solver.gradient = "adjoint"
    with pytest.raises(ValueError, match="fast engine backpropagates through the solver"):
        validate(spec)
    spec = small_spec("cde")
    spec.solver.engine = "fast"
    validate(spec)  # rk4
    spec.solver.method, spec.solver.step_size = "dopri5", None
    with pytest.raises(ValueError, match="solves neural CDEs with fixed steps"):
        validate(spec)
    spec = small_spec("sde")
    spec.solver.engine = "fast"
    with pytest.raises(ValueError, match="fast engine solves neural ODEs and CDEs, not SDEs"):
        validate(spec)
    spec = small_spec("ode")
    spec.solver.engine = "fast"
    spec.model.network.time_input = True
    validate(spec)  # the time as an input: adaptive steps (dopri5) take it, fixed ones too
    assert planned_engine("ode", spec.solver, spec.model.network) == "fast"
    spec.solver.method, spec.solver.step_size = "rk4", 0.1
    validate(spec)
    assert planned_engine("ode", spec.solver, spec.model.network) == "fast"
    spec = small_spec("ode")
    spec.solver.engine = "quick"
    refused = "solver engine must be one of auto, torchdiffeq, fast; got 'quick'"
    with pytest.raises(ValueError, match=refused):
        validate(spec)


def test_checkpoints_carry_over_between_engines(tmp_path):
    """Half a run on one engine, the rest on the other: the run the other engine alone makes."""

    def spec(engine: str, iterations: int):
        s = small_spec("ode", iterations=iterations, eval_every=100, dtype="float64")
        s.solver.engine = engine
        return s

    straight = Trainer(spec("torchdiffeq", 8))
    list(straight.run())
    first = Trainer(spec("fast", 4))
    list(first.run())
    assert first.stats.engine == "fast"
    first.save(tmp_path / "half.pt")
    second = Trainer.from_checkpoint(tmp_path / "half.pt")
    second.spec.solver.engine = "torchdiffeq"
    second.spec.train.iterations = 8
    list(second.run())
    assert second.stats.engine == "torchdiffeq"
    assert list(second.history["loss"]) == pytest.approx(list(straight.history["loss"]), rel=1e-9)


def test_a_gradient_of_the_gradient_is_refused_not_wrong():
    """The hand-written backward pass is not itself differentiable: asking for second
    derivatives through it is an error (torchdiffeq's engine gives them)."""
    field = _field(torch.float64, "tanh", False)
    y0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    for method in ("midpoint", "dopri5"):
        spec = SolverSpec(method=method, step_size=0.1, engine="fast")
        with pytest.raises(RuntimeError, match="cannot itself be differentiated"):
            torch.autograd.grad(solve_ode(field, y0, t, spec).sum(), y0, create_graph=True)
        spec.engine = "torchdiffeq"  # which gives them
        (g,) = torch.autograd.grad(solve_ode(field, y0, t, spec).sum(), y0, create_graph=True)
        assert g.requires_grad


def test_each_scripted_call_of_a_long_fixed_step_solve_takes_its_chunk_alone(monkeypatch):
    """A call converts its list arguments: passing the whole solve's records to each call
    made a long backward pass quadratic (4000 steps took 40 s). Every call takes a chunk."""
    import ndestudio.core.solvers.fast.rk as rk
    import ndestudio.core.solvers.fast.scripted as scripted

    loops = scripted.compiled()
    sizes: list[tuple[str, int, int]] = []

    class Recording:
        def fixed_forward(self, y, grid, dts, *rest):
            sizes.append(("forward", len(grid), len(dts)))
            return loops.fixed_forward(y, grid, dts, *rest)

        def fixed_backward(self, g_out, y_bar, records, dts, *rest):
            sizes.append(("backward", len(records), len(dts)))
            return loops.fixed_backward(g_out, y_bar, records, dts, *rest)

    monkeypatch.setattr(rk.scripted, "compiled", lambda: Recording())
    field = _field(torch.float64, "tanh", False)
    y0 = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 3, 5, dtype=torch.float64)
    spec = SolverSpec(method="midpoint", step_size=0.01, engine="fast")
    solve_ode(field, y0, t, spec).sum().backward()
    assert {kind for kind, _, _ in sizes} == {"forward", "backward"}
    steps = sum(n for kind, _, n in sizes if kind == "forward")
    assert steps == 300
    chunked = [1 <= n <= rk.STEPS_PER_CALL and listed <= 2 * n for _, listed, n in sizes]
    assert len(chunked) >= 2 and all(chunked)  # (midpoint: 2 records a step)
