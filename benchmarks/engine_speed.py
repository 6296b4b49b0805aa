"""Milliseconds per training step of a neural ODE on NDE Studio's two engines, torchdiffeq
alone, and diffrax when it is importable, side by side in one run (issue 14).

The problem is issue 14's: an MLP 2-64-64-2 with tanh, 20 output times over [0, 5], one step =
forward solve + backward + Adam, batch 16, 64 and 1024, solved with midpoint (95 fixed steps,
so that every output time falls on a step) and dopri5 (rtol = atol = 1e-3). The runs are
interleaved step by step (``--steps`` each, after ``--warmup``), so that machine noise hits
all of them; medians are printed.

- ``torchdiffeq``: a bare loop, ``torchdiffeq.odeint`` on the MLP and ``torch.optim.Adam``;
- ``fast``: the same loop and the same MLP (a ``VectorField``), solved by the solver layer's
  fast engine (``SolverSpec(engine="fast")``): same problem, same evaluations;
- ``trainer-torchdiffeq``, ``trainer-fast``: NDE Studio's ``Trainer`` on the spiral demo of
  the same size on each engine (its instrumentation included: stop checks, exact backward
  counts, gradient norms, step statistics);
- ``cde``: the ``Trainer`` on the CDE spirals demo (hidden 8, MLP width 32 softplus, final
  tanh, Hermite paths through 32 noisy observations with 30 % missing) solved with rk4 steps of
  0.25 on each engine, ``trainer-torchdiffeq`` against ``trainer-fast``;
- ``diffrax``: JAX's diffrax with ``jax.jit`` (not a dependency: the ``benchmark`` extra,
  ``pip install -e '.[benchmark]'``); the benchmark says when it is skipped.

Before timing, the first step of a fast-engine run is timed (in a new process it compiles the
scripted backward loops: the stall before training starts), and the fast engine's loss and
gradients are checked against torchdiffeq's in float64.

    python benchmarks/engine_speed.py [--batches 16,64,1024] [--steps 20] [--warmup 3] [--compile]
                                      [--solvers midpoint,dopri5] [--no-cde] [--no-time-input]
                                      [--no-adjoint]

``time input``: the Trainer with dopri5 on a field that takes the time as its first input
(the spiral demo's network with ``time_input``), on each engine.

It also times one long midpoint solve (1 000 and 8 000 steps) forward and back on each engine:
the time per step must not grow with the length of the solve.

``gradient methods``: dopri5 at batch 64 with backpropagation through the solver on each
engine, torchdiffeq's adjoint (default norm and seminorm) and diffrax's backsolve adjoint, with
the evaluations each takes forward and backward (``--no-adjoint`` skips them).

``--compile`` also times ``torch.compile`` on one midpoint step's forward pass (the stall an
interactive app would see before its first step), against eager.

It ends with one line per solver and batch: ``dopri5 batch 64 fast vs torchdiffeq: 2.71x``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ndestudio.core.models import VectorField  # noqa: E402
from ndestudio.core.solvers import Probe, SolveStats, solve_ode  # noqa: E402
from ndestudio.core.specs import NetworkSpec, SolverSpec  # noqa: E402

T_END, N_TIMES, WIDTH = 5.0, 20, 64
ENGINE_NAMES = ("torchdiffeq", "fast")
NFE: dict[str, tuple[int, int]] = {}  # (forward, backward) evaluations of each run's last step
SOLVERS = {
    "midpoint": {"method": "midpoint", "step_size": T_END / 95},
    "dopri5": {"method": "dopri5", "rtol": 1e-3, "atol": 1e-3},
}


def vector_field(dtype: torch.dtype = torch.float32) -> VectorField:
    torch.manual_seed(0)
    return VectorField(2, 2, NetworkSpec(width=WIDTH, depth=2, activation="tanh")).to(dtype)


def spiral_batch(
    batch: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Initial states, times and targets (T, batch, 2) of a damped spiral."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0.0, T_END, N_TIMES, dtype=dtype)
    y0 = torch.randn(batch, 2, generator=g, dtype=dtype)
    a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=dtype)
    target = torch.stack([y0 @ torch.linalg.matrix_exp(a * s).T for s in t])
    return y0, t, target


def solver_spec(solver: str, engine: str) -> SolverSpec:
    options = SOLVERS[solver]
    return SolverSpec(
        method=str(options["method"]),
        rtol=float(options.get("rtol", 1e-3)),
        atol=float(options.get("atol", 1e-3)),
        step_size=options.get("step_size"),  # type: ignore[arg-type]
        engine=engine,
    )


def torchdiffeq_step(batch: int, solver: str) -> Callable[[], None]:
    from torchdiffeq import odeint

    field = vector_field()
    optimizer = torch.optim.Adam(field.parameters(), lr=1e-3)
    y0, t, target = spiral_batch(batch)
    options = dict(SOLVERS[solver])
    method = str(options.pop("method"))
    kwargs: dict = {"rtol": options["rtol"], "atol": options["atol"]} if "rtol" in options else {}
    if "step_size" in options:
        kwargs["options"] = {"step_size": options["step_size"]}
    calls = [0]

    def f(_t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return field(_t, y)

    def step() -> None:
        calls[0] = 0
        optimizer.zero_grad(set_to_none=True)
        (odeint(f, y0, t, method=method, **kwargs) - target).pow(2).mean().backward()
        optimizer.step()
        NFE["torchdiffeq"] = (calls[0], -1)

    return step


def fast_step(batch: int, solver: str) -> Callable[[], None]:
    return layer_step(batch, solver, "fast", name="fast")


def layer_step(
    batch: int, solver: str, engine: str, gradient: str = "backprop", name: str = ""
) -> Callable[[], None]:
    """The bare loop through NDE Studio's solver layer (``solve_ode``) on ``engine`` with
    gradient method ``gradient``; its evaluations are kept under ``name``."""
    field = vector_field()
    optimizer = torch.optim.Adam(field.parameters(), lr=1e-3)
    y0, t, target = spiral_batch(batch)
    spec = solver_spec(solver, engine)
    spec.gradient = gradient
    stats = SolveStats()
    name = name or f"{gradient}-{engine}"

    def step() -> None:
        stats.reset()
        optimizer.zero_grad(set_to_none=True)
        ys = solve_ode(field, y0, t, spec, probe=Probe(stats))
        with stats.backward_phase():
            (ys - target).pow(2).mean().backward()
        optimizer.step()
        assert stats.engine == engine
        NFE[name] = (stats.nfe_forward, stats.nfe_backward)

    return step


def trainer_step(
    batch: int, solver: str, engine: str, time_input: bool = False
) -> Callable[[], None]:
    from ndestudio.core import events as ev
    from ndestudio.core.specs import DataSpec, ModelSpec, RunSpec, TrainSpec

    spec = RunSpec(
        model=ModelSpec(
            family="ode",
            network=NetworkSpec(width=WIDTH, depth=2, activation="tanh", time_input=time_input),
        ),
        solver=solver_spec(solver, engine),
        data=DataSpec(
            name="spiral",
            n_series=max(batch + 1, 8),
            n_times=N_TIMES,
            t_span=[0.0, T_END],
            val_fraction=1 / max(batch + 1, 8),
        ),
        train=TrainSpec(iterations=10**9, batch_size=batch, lr=1e-3, eval_every=10**9, threads=1),
    )
    run = _trainer_run(spec, engine)
    name = f"{'time' if time_input else 'trainer'}-{engine}"

    def step() -> None:
        for event in run:
            if isinstance(event, ev.Step):
                NFE[name] = (event.nfe_forward, event.nfe_backward)
                return

    return step


def cde_trainer_step(batch: int, engine: str) -> Callable[[], None]:
    """One training step of the CDE spirals demo with rk4 steps on ``engine``."""
    from ndestudio.core import events as ev
    from ndestudio.core.presets import spirals_cde

    spec = spirals_cde()
    spec.solver = SolverSpec(method="rk4", step_size=0.25, engine=engine)
    spec.data.n_series = max(2 * batch, 16)
    spec.data.val_fraction = 0.25
    spec.train.batch_size = batch
    spec.train.iterations, spec.train.eval_every, spec.train.threads = 10**9, 10**9, 1
    run = _trainer_run(spec, engine)

    def step() -> None:
        for event in run:
            if isinstance(event, ev.Step):
                NFE[f"cde-{engine}"] = (event.nfe_forward, event.nfe_backward)
                return

    return step


def _trainer_run(spec: object, engine: str) -> object:
    from ndestudio.core import events as ev
    from ndestudio.core.training import Trainer

    run = Trainer(spec).run()  # type: ignore[arg-type]
    started = next(run)
    assert isinstance(started, ev.Started) and started.engine == engine, started
    return run


def diffrax_step(batch: int, solver: str, backsolve: bool = False) -> Callable[[], None] | None:
    try:
        import diffrax  # type: ignore[import-not-found]
        import equinox as eqx  # type: ignore[import-not-found]
        import jax  # type: ignore[import-not-found]
        import jax.numpy as jnp  # type: ignore[import-not-found]
        import optax  # type: ignore[import-not-found]
    except ImportError:
        return None
    key = jax.random.PRNGKey(0)
    model = eqx.nn.MLP(2, 2, WIDTH, 2, activation=jnp.tanh, key=key)
    y0, t, target = (jnp.asarray(x.numpy()) for x in spiral_batch(batch))
    options = SOLVERS[solver]
    if options["method"] == "midpoint":
        method, controller, dt0 = (
            diffrax.Midpoint(),
            diffrax.ConstantStepSize(),
            options["step_size"],
        )
    else:
        method = diffrax.Dopri5()
        controller = diffrax.PIDController(rtol=options["rtol"], atol=options["atol"])
        dt0 = None

    def loss(m: object, y0: object) -> object:
        # (the MLP passed as the term's args: the backsolve adjoint differentiates those)
        term = diffrax.ODETerm(lambda _t, y, mlp: jax.vmap(mlp)(y))
        sol = diffrax.diffeqsolve(
            term,
            method,
            0.0,
            T_END,
            dt0,
            y0,
            args=m,
            saveat=diffrax.SaveAt(ts=t),
            stepsize_controller=controller,
            max_steps=100_000,
            adjoint=diffrax.BacksolveAdjoint()
            if backsolve
            else diffrax.RecursiveCheckpointAdjoint(),
        )
        return jnp.mean((sol.ys - target) ** 2)

    optim = optax.adam(1e-3)
    state = [model, optim.init(eqx.filter(model, eqx.is_array))]

    @eqx.filter_jit
    def update(m: object, s: object) -> tuple[object, object]:
        grads = eqx.filter_grad(loss)(m, y0)
        updates, s = optim.update(grads, s)
        return eqx.apply_updates(m, updates), s

    def step() -> None:
        state[0], state[1] = update(state[0], state[1])
        jax.block_until_ready(eqx.filter(state[0], eqx.is_array))

    return step


def check_fast() -> str:
    """The fast engine's loss and gradients against torchdiffeq's, in float64."""
    worst = 0.0
    for solver in SOLVERS:
        results = []
        for engine in ("torchdiffeq", "fast"):
            field = vector_field(torch.float64)
            y0, t, target = spiral_batch(16, torch.float64)
            loss = (solve_ode(field, y0, t, solver_spec(solver, engine)) - target).pow(2).mean()
            results.append([loss.detach(), *torch.autograd.grad(loss, list(field.parameters()))])
        for a, b in zip(*results, strict=True):
            worst = max(worst, float((a - b).norm() / a.norm()))
    return f"fast vs torchdiffeq, float64 (midpoint, dopri5): loss, gradients {worst:.1e} relative"


def first_steps_ms() -> tuple[float, float]:
    """The first training step of the first fast-engine run in a process (which compiles the
    scripted backward loops) and of a second run."""
    times = []
    for _ in range(2):
        step = fast_step(64, "dopri5")
        start = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - start))
    return times[0], times[1]


def compile_seconds() -> tuple[float, float, float]:
    """``torch.compile`` of one midpoint step's forward pass (batch 64): seconds to the first
    result, then ms per 95 steps eager and compiled."""
    field = vector_field()

    def midpoint(y: torch.Tensor, dt: float) -> torch.Tensor:
        return y + dt * field(None, y + 0.5 * dt * field(None, y))  # type: ignore[arg-type]

    y0 = spiral_batch(64)[0]
    start = time.perf_counter()
    compiled = torch.compile(midpoint)
    with torch.no_grad():
        compiled(y0, 0.05)
        first = time.perf_counter() - start
        per = []
        for f in (midpoint, compiled):
            begin = time.perf_counter()
            for _ in range(5):
                y = y0
                for _ in range(95):
                    y = f(y, 0.05)
            per.append(1000 * (time.perf_counter() - begin) / 5)
    return first, per[0], per[1]


def interleaved_ms(runs: dict[str, Callable[[], None]], steps: int, warmup: int) -> dict:
    """Median ms per call of each run, the runs called in turn ``steps`` times."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(steps):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(s) for name, s in seconds.items()}


def _engine_pair_rows(
    label: str,
    prefix: str,
    make_step: Callable[[int, str], Callable[[], None]],
    batches: list[int],
    args: argparse.Namespace,
) -> list[str]:
    """``make_step(batch, engine)`` timed on both engines, interleaved, at each batch:
    printed rows (named ``prefix-engine``), and summary lines."""
    out = []
    for batch in batches:
        NFE.clear()
        runs = {f"{prefix}-{e}": make_step(batch, e) for e in ENGINE_NAMES}
        ms = interleaved_ms(runs, args.steps, args.warmup)
        shown = "  ".join(f"{name} {value:6.1f}" for name, value in ms.items())
        print(f"{label}  batch {batch:5d}  ms/step: {shown}", flush=True)
        counts = ", ".join(f"{name} {f}/{b}" for name, (f, b) in NFE.items())
        print(f"    evaluations forward/backward in the last step: {counts}")
        ratio = ms[f"{prefix}-torchdiffeq"] / ms[f"{prefix}-fast"]
        out.append(f"{label} batch {batch} trainer-fast vs trainer-torchdiffeq: {ratio:.2f}x")
    return out


def cde_rows(batches: list[int], args: argparse.Namespace) -> list[str]:
    """The CDE trainer on both engines at each batch."""
    return _engine_pair_rows("cde rk4", "cde", cde_trainer_step, batches, args)


def time_input_rows(batches: list[int], args: argparse.Namespace) -> list[str]:
    """The Trainer with dopri5 on a field that takes the time as an input, on both engines
    at each batch (the stages' times move with the first step size: more to backpropagate)."""

    def step(batch: int, engine: str) -> Callable[[], None]:
        return trainer_step(batch, "dopri5", engine, time_input=True)

    return _engine_pair_rows("dopri5 time input", "time", step, batches, args)


def adjoint_rows(args: argparse.Namespace) -> list[str]:
    """dopri5 at batch 64 with each gradient method: backpropagation through the solver on
    each engine, torchdiffeq's adjoint with its default norm and with the seminorm (Kidger et
    al. 2021: the parameters' adjoints left out of the backward solve's error estimate), and
    diffrax's backsolve adjoint when it is importable. The adjoint runs on torchdiffeq only."""
    NFE.clear()
    runs: dict[str, Callable[[], None]] = {
        "backprop-fast": layer_step(64, "dopri5", "fast"),
        "backprop-torchdiffeq": layer_step(64, "dopri5", "torchdiffeq"),
        "adjoint-torchdiffeq": layer_step(64, "dopri5", "torchdiffeq", "adjoint"),
        "adjoint_seminorm-torchdiffeq": layer_step(64, "dopri5", "torchdiffeq", "adjoint_seminorm"),
    }
    backsolve = diffrax_step(64, "dopri5", backsolve=True)
    if backsolve is not None:
        runs["diffrax-backsolve"] = backsolve
    ms = interleaved_ms(runs, max(3, min(args.steps, 8)), 2)
    out = ["dopri5 batch 64 by gradient method, ms/step (evaluations forward/backward):"]
    for name, value in ms.items():
        counts = f" ({NFE[name][0]}/{NFE[name][1]})" if name in NFE else ""
        out.append(f"    {name:30s} {value:7.1f}{counts}")
    out.append(
        "dopri5 batch 64 adjoint vs backprop-fast: "
        f"{ms['adjoint-torchdiffeq'] / ms['backprop-fast']:.1f}x slower, seminorm "
        f"{ms['adjoint_seminorm-torchdiffeq'] / ms['backprop-fast']:.1f}x"
    )
    return out


def long_solve_rows() -> list[str]:
    """Forward + backward of one midpoint solve of 1 000 and 8 000 steps (batch 8) on each
    engine: microseconds per step, which stay level when the cost is linear in the steps."""
    field = vector_field()
    y0 = spiral_batch(8)[0].requires_grad_()
    out = []
    for engine in ("torchdiffeq", "fast"):
        per_step = []
        for steps in (1000, 8000):
            t = torch.linspace(0.0, steps * 1e-3, 10)
            spec = SolverSpec(method="midpoint", step_size=1e-3, engine=engine)
            start = time.perf_counter()
            solve_ode(field, y0, t, spec).sum().backward()
            per_step.append(1e6 * (time.perf_counter() - start) / steps)
        out.append(
            f"long solve {engine}: {per_step[0]:.0f} us/step at 1000 steps, "
            f"{per_step[1]:.0f} at 8000 ({per_step[1] / per_step[0]:.2f}x)"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,64,1024")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile on a midpoint step"
    )
    parser.add_argument("--no-cde", action="store_true", help="skip the CDE trainer runs")
    parser.add_argument(
        "--no-time-input", action="store_true", help="skip the time-input dopri5 trainer runs"
    )
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="of midpoint, dopri5")
    parser.add_argument(
        "--no-adjoint", action="store_true", help="skip the gradient-method runs (the adjoint)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.compile:
        first, eager, fast = compile_seconds()
        print(
            f"torch.compile, one midpoint step (forward, batch 64): {first:.1f} s to the first "
            f"result; 95 steps {eager:.2f} ms eager, {fast:.2f} ms compiled"
        )
    cold, warm = first_steps_ms()
    print(
        f"first step of a fast-engine run (dopri5, batch 64): {cold:.0f} ms in a new process "
        f"(compiling the scripted loops), {warm:.0f} ms after"
    )
    print(check_fast())
    print("\n".join(long_solve_rows()))
    summary = []
    for solver in args.solvers.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            NFE.clear()
            runs: dict[str, Callable[[], None]] = {
                "torchdiffeq": torchdiffeq_step(batch, solver),
                "fast": fast_step(batch, solver),
                "trainer-torchdiffeq": trainer_step(batch, solver, "torchdiffeq"),
                "trainer-fast": trainer_step(batch, solver, "fast"),
            }
            jax_run = diffrax_step(batch, solver)
            if jax_run is not None:
                runs["diffrax"] = jax_run
            ms = interleaved_ms(runs, args.steps, args.warmup)
            shown = "  ".join(f"{name} {value:6.1f}" for name, value in ms.items())
            print(f"{solver:8s} batch {batch:5d}  ms/step: {shown}", flush=True)
            counts = ", ".join(
                f"{name} {f}" + (f"/{b}" if b >= 0 else "") for name, (f, b) in NFE.items()
            )
            print(f"    evaluations forward/backward in the last step: {counts}")
            if jax_run is None:
                print(
                    "    (diffrax skipped: jax, equinox, optax and diffrax are not installed: "
                    "pip install -e '.[benchmark]')"
                )
            summary.append(
                f"{solver} batch {batch} trainer-fast vs trainer-torchdiffeq: "
                f"{ms['trainer-torchdiffeq'] / ms['trainer-fast']:.2f}x"
            )
            if "diffrax" in ms:
                summary.append(
                    f"{solver} batch {batch} fast vs diffrax: {ms['diffrax'] / ms['fast']:.2f}x"
                    " (above 1: faster than diffrax)"
                )
            summary.append(
                f"{solver} batch {batch} fast vs torchdiffeq: {ms['torchdiffeq'] / ms['fast']:.2f}x"
            )
    if not args.no_cde:
        summary += cde_rows([int(b) for b in args.batches.split(",")], args)
    if not args.no_time_input:
        summary += time_input_rows([int(b) for b in args.batches.split(",")], args)
    if not args.no_adjoint:
        print("\n".join(adjoint_rows(args)), flush=True)
    print("\n".join(summary))
    # Last, one line per solver at the batch the targets name (64, when measured).
    batches = [int(b) for b in args.batches.split(",")]
    key = 64 if 64 in batches else batches[0]
    for solver in args.solvers.split(","):
        line = f"{solver} batch {key} fast vs torchdiffeq:"
        print(next(s for s in summary if s.startswith(line)))


if __name__ == "__main__":
    main()
