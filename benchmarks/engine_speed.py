"""Milliseconds per training step of a neural ODE: torchdiffeq alone, NDE Studio's Trainer, and
candidate engines for a faster one, side by side in one run (issue 14).

The problem is issue 14's: an MLP 2-64-64-2 with tanh, 20 output times over [0, 5], one step =
forward solve + backward + Adam, batch 16, 64 and 1024, solved with midpoint (95 fixed steps,
so that every output time falls on a step; the issue's 100 put them between steps) and dopri5
(rtol = atol = 1e-3). The runs are interleaved step by step (``--steps`` each,
after ``--warmup``), so that machine noise hits all of them; medians are printed.

- ``torchdiffeq``: a bare loop, ``torchdiffeq.odeint`` and ``torch.optim.Adam``;
- ``trainer``: NDE Studio's ``Trainer`` on the spiral demo of the same size (its
  instrumentation: stop checks, exact backward counts, gradient norms, step statistics);
- ``script``: the TorchScript solver that ``export`` writes (``core/export/script_solvers.py``,
  step for step torchdiffeq's arithmetic), with the scripted MLP, backpropagated through: a
  candidate fast engine (no per-operation Python in the solver loop);
- ``fused``: midpoint only, ``fused_candidate.py``: both loops in TorchScript with a
  hand-written backward pass (no autograd tape), its gradient checked against torchdiffeq's in
  float64 first;
- ``diffrax``: JAX's diffrax with ``jax.jit``, when it is importable (not a dependency; the
  benchmark says when it is skipped).

    python benchmarks/engine_speed.py [--batches 16,64,1024] [--steps 20] [--warmup 3]

It ends with one line per solver and batch: ``dopri5 batch 64 script vs torchdiffeq: 1.52x``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
T_END, N_TIMES, WIDTH = 5.0, 20, 64
NFE: dict[str, int] = {}  # forward evaluations of each run's last step (adaptive runs differ)
SOLVERS = {
    "midpoint": {"method": "midpoint", "step_size": T_END / 95},
    "dopri5": {"method": "dopri5", "rtol": 1e-3, "atol": 1e-3},
}


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(2, WIDTH), nn.Tanh(), nn.Linear(WIDTH, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 2)
    )


def spiral_batch(batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Initial states, times and targets of a damped spiral (the data do not change the cost)."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0.0, T_END, N_TIMES)
    y0 = torch.randn(batch, 2, generator=g)
    a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])
    target = torch.stack([y0 @ torch.linalg.matrix_exp(a * s).T for s in t], dim=1)
    return y0, t, target


def torchdiffeq_step(batch: int, solver: str) -> Callable[[], None]:
    from torchdiffeq import odeint

    net = mlp()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    y0, t, target = spiral_batch(batch)
    options = dict(SOLVERS[solver])
    method = options.pop("method")
    kwargs = {"rtol": options["rtol"], "atol": options["atol"]} if "rtol" in options else {}
    if "step_size" in options:
        kwargs["options"] = {"step_size": options["step_size"]}

    calls = [0]

    def field(_t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return net(y)

    def step() -> None:
        calls[0] = 0
        optimizer.zero_grad(set_to_none=True)
        pred = odeint(field, y0, t, method=method, **kwargs).transpose(0, 1)
        (pred - target).pow(2).mean().backward()
        optimizer.step()
        NFE["torchdiffeq"] = calls[0]

    return step


class _Solve(nn.Module):
    """The scripted solver's entry point (TorchScript compiles what ``forward`` calls)."""

    def __init__(self, solver: nn.Module) -> None:
        super().__init__()
        self.solver = solver

    def forward(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        empty: list[torch.Tensor] = []
        return self.solver.solve(y0, t, empty, None)[0]


def script_step(batch: int, solver: str) -> Callable[[], None] | None:
    from ndestudio.core.export.script_fields import MLPField
    from ndestudio.core.export.script_solvers import ODESolver

    net = mlp()
    options = SOLVERS[solver]
    module = ODESolver(
        MLPField(net, False),
        options["method"],
        rtol=float(options.get("rtol", 1e-3)),
        atol=float(options.get("atol", 1e-3)),
        step_size=float(options.get("step_size", 0.0)),
        min_step=0.0,
        max_num_steps=2**31 - 1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(_Solve(module))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    y0, t, target = spiral_batch(batch)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pred = scripted(y0, t)
        (pred.transpose(0, 1) - target).pow(2).mean().backward()
        optimizer.step()

    try:
        step()
    except RuntimeError as exc:  # e.g. a solver that writes its stages in place
        print(f"    (script, {solver}: cannot backpropagate: {str(exc).splitlines()[0][:160]})")
        return None
    return step


def fused_step(batch: int, solver: str) -> Callable[[], None] | None:
    if solver != "midpoint":
        return None
    from benchmarks.fused_candidate import FusedMidpoint

    net = mlp()
    weights = [
        p for layer in net if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)
    ]
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    y0, _, target = spiral_batch(batch)
    n = round(T_END / float(SOLVERS["midpoint"]["step_size"]))
    every = n // (N_TIMES - 1)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pred = FusedMidpoint.apply(y0, T_END / n, n, every, *weights)
        (pred - target).pow(2).mean().backward()
        optimizer.step()

    return step


def check_fused() -> str:
    """The fused candidate's loss and gradient against torchdiffeq's, in float64."""
    from torchdiffeq import odeint

    from benchmarks.fused_candidate import FusedMidpoint

    net = mlp().double()
    weights = [
        p for layer in net if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)
    ]
    y0, _, target = (x.double() for x in spiral_batch(16))
    t = torch.linspace(0.0, T_END, N_TIMES, dtype=torch.float64)  # (not float32's, rounded)
    n = round(T_END / float(SOLVERS["midpoint"]["step_size"]))
    h = T_END / n
    pred = odeint(lambda _t, y: net(y), y0, t, method="midpoint", options={"step_size": h})
    loss = (pred.transpose(0, 1) - target).pow(2).mean()
    grads = torch.autograd.grad(loss, weights)
    fused = (FusedMidpoint.apply(y0, h, n, n // (N_TIMES - 1), *weights) - target).pow(2).mean()
    fused_grads = torch.autograd.grad(fused, weights)
    gap = max(float((a - b).norm() / a.norm()) for a, b in zip(grads, fused_grads, strict=True))
    loss_gap = abs(loss.item() - fused.item()) / loss.item()
    return f"fused vs torchdiffeq in float64: loss {loss_gap:.1e}, gradients {gap:.1e} relative"


def trainer_step(batch: int, solver: str) -> Callable[[], None]:
    from ndestudio.core.specs import (
        DataSpec,
        ModelSpec,
        NetworkSpec,
        RunSpec,
        SolverSpec,
        TrainSpec,
    )
    from ndestudio.core.training import Trainer

    options = SOLVERS[solver]
    spec = RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=WIDTH, depth=2, activation="tanh")),
        solver=SolverSpec(
            method=str(options["method"]),
            rtol=float(options.get("rtol", 1e-3)),
            atol=float(options.get("atol", 1e-3)),
            step_size=options.get("step_size"),  # type: ignore[arg-type]
        ),
        data=DataSpec(
            name="spiral",
            n_series=max(batch + 1, 8),
            n_times=N_TIMES,
            t_span=[0.0, T_END],
            val_fraction=1 / max(batch + 1, 8),
        ),
        train=TrainSpec(iterations=10**9, batch_size=batch, lr=1e-3, eval_every=10**9, threads=1),
    )
    run = Trainer(spec).run()

    def step() -> None:
        from ndestudio.core import events as ev

        for event in run:
            if isinstance(event, ev.Step):
                NFE["trainer"] = event.nfe_forward
                return

    return step


def diffrax_step(batch: int, solver: str) -> Callable[[], None] | None:
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
        term = diffrax.ODETerm(lambda _t, y, _a: jax.vmap(m)(y))
        sol = diffrax.diffeqsolve(
            term,
            method,
            0.0,
            T_END,
            dt0,
            y0,
            saveat=diffrax.SaveAt(ts=t),
            stepsize_controller=controller,
            max_steps=100_000,
        )
        return jnp.mean((jnp.transpose(sol.ys, (1, 0, 2)) - target) ** 2)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,64,1024")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    torch.set_num_threads(1)
    print(check_fused())
    summary = []
    for solver in SOLVERS:
        for batch in (int(b) for b in args.batches.split(",")):
            runs: dict[str, Callable[[], None]] = {
                "torchdiffeq": torchdiffeq_step(batch, solver),
                "trainer": trainer_step(batch, solver),
            }
            for name, candidate in (
                ("script", script_step(batch, solver)),
                ("fused", fused_step(batch, solver)),
                ("diffrax", jax_run := diffrax_step(batch, solver)),
            ):
                if candidate is not None:
                    runs[name] = candidate
            for run in runs.values():
                for _ in range(args.warmup):
                    run()
            seconds: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.steps):
                for name, run in runs.items():
                    start = time.perf_counter()
                    run()
                    seconds[name].append(time.perf_counter() - start)
            ms = {name: 1000 * statistics.median(s) for name, s in seconds.items()}
            shown = "  ".join(f"{name} {value:7.1f}" for name, value in ms.items())
            print(f"{solver:8s} batch {batch:5d}  ms/step: {shown}", flush=True)
            if solver == "dopri5":  # (the Trainer trains on its demo: its steps may differ)
                nfe = ", ".join(f"{name} {count}" for name, count in NFE.items())
                print(f"    forward evaluations in the last step: {nfe}")
            if jax_run is None:
                print("    (diffrax skipped: jax, equinox, optax and diffrax are not installed)")
            for name in runs:
                if name != "torchdiffeq":
                    summary.append(
                        f"{solver} batch {batch} {name} vs torchdiffeq: "
                        f"{ms['torchdiffeq'] / ms[name]:.2f}x"
                    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
