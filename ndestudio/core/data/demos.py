"""Built-in demo systems, generated (seeded) with the shared solver layer."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.solvers import solve_ode, solve_sde
from ndestudio.core.specs import DataSpec, SolverSpec

_TRUTH_ODE = SolverSpec(method="dopri5", rtol=1e-8, atol=1e-10, max_num_steps=1_000_000)


class _Field(nn.Module):
    """An analytic vector field as a module, so that it can go through ``solve_ode``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(y)


class _ScalarSDE(nn.Module):
    """A one-dimensional Itô SDE with diagonal noise: ``dX = a(X) dt + b dW``."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, drift: Callable[[torch.Tensor], torch.Tensor], sigma: float) -> None:
        super().__init__()
        self.drift = drift
        self.sigma = sigma

    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.drift(y)

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.full_like(y, self.sigma)


@dataclass(frozen=True)
class Demo:
    name: str
    family: str
    description: str
    t_span: tuple[float, float]
    channel_names: tuple[str, ...]
    make: Callable[[DataSpec, np.random.Generator, np.ndarray], TimeSeriesDataset]


def _span(spec: DataSpec, demo_span: tuple[float, float]) -> tuple[float, float]:
    if spec.t_span is None:
        return demo_span
    return float(spec.t_span[0]), float(spec.t_span[1])


def _ode_demo(
    name: str,
    fn: Callable[[torch.Tensor], torch.Tensor],
    initial: Callable[[np.random.Generator, int], np.ndarray],
    channel_names: tuple[str, ...],
) -> Callable[[DataSpec, np.random.Generator, np.ndarray], TimeSeriesDataset]:
    def make(spec: DataSpec, rng: np.random.Generator, times: np.ndarray) -> TimeSeriesDataset:
        y0 = torch.as_tensor(initial(rng, spec.n_series), dtype=torch.float64)
        t = torch.as_tensor(times, dtype=torch.float64)
        with torch.no_grad():
            ys = solve_ode(_Field(fn), y0, t, _TRUTH_ODE).transpose(0, 1).numpy()
        ys = ys + spec.noise * rng.standard_normal(ys.shape)
        return TimeSeriesDataset(name, "ode", times, ys, list(channel_names))

    return make


_SPIRAL_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)


def _spiral(y: torch.Tensor) -> torch.Tensor:
    return (y**3) @ _SPIRAL_A


def _lotka_volterra(y: torch.Tensor) -> torch.Tensor:
    x, p = y[..., 0], y[..., 1]
    return torch.stack([1.5 * x - x * p, x * p - 3.0 * p], dim=-1)


def _pendulum(y: torch.Tensor) -> torch.Tensor:
    theta, omega = y[..., 0], y[..., 1]
    return torch.stack([omega, -torch.sin(theta) - 0.25 * omega], dim=-1)


def _van_der_pol(y: torch.Tensor) -> torch.Tensor:
    x, v = y[..., 0], y[..., 1]
    return torch.stack([v, (1 - x**2) * v - x], dim=-1)


def _lorenz(y: torch.Tensor) -> torch.Tensor:
    x, v, z = y[..., 0], y[..., 1], y[..., 2]
    return torch.stack([10.0 * (v - x), x * (28.0 - z) - v, x * v - 8.0 / 3.0 * z], dim=-1)


def _spiral_initial(rng: np.random.Generator, n: int) -> np.ndarray:
    radius = rng.uniform(0.6, 1.2, n)
    angle = rng.uniform(0, 2 * math.pi, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def _clockwise_spirals(
    spec: DataSpec, rng: np.random.Generator, times: np.ndarray
) -> TimeSeriesDataset:
    """Clockwise (label 0) vs anticlockwise (label 1) decaying spirals, irregularly observed.

    Each spiral decays at its own rate, the regression target: r(t) = 1 / (1 + rate * t).
    """
    n = spec.n_series
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    phase = rng.uniform(0, 2 * math.pi, (n, 1))
    decay = rng.uniform(0.2, 0.8, (n, 1))
    s = (times[None, :] - times[0]) / (times[-1] - times[0])
    angle = 2 * math.pi * 2.0 * s  # two turns
    direction = np.where(labels[:, None] == 1, 1.0, -1.0)
    radius = 1.0 / (1.0 + decay * (times[None, :] - times[0]))
    x = radius * np.cos(direction * angle + phase)
    y = radius * np.sin(direction * angle + phase)
    values = np.stack([x, y], axis=-1) + spec.noise * rng.standard_normal((n, len(times), 2))
    values[rng.random(values.shape[:2]) < spec.drop_fraction] = np.nan
    return TimeSeriesDataset(
        "spirals",
        "cde",
        times,
        values,
        ["x", "y"],
        labels=labels,
        class_names=["clockwise", "anticlockwise"],
        targets=decay,
    )


def _sde_demo(
    name: str, drift: Callable[[torch.Tensor], torch.Tensor], sigma: float
) -> Callable[[DataSpec, np.random.Generator, np.ndarray], TimeSeriesDataset]:
    def make(spec: DataSpec, rng: np.random.Generator, times: np.ndarray) -> TimeSeriesDataset:
        x0 = torch.as_tensor(rng.uniform(-1, 1, (spec.n_series, 1)), dtype=torch.float64)
        t = torch.as_tensor(times, dtype=torch.float64)
        dt = float(np.min(np.diff(times))) / 8
        solver = SolverSpec(method="euler", step_size=dt)
        with torch.no_grad():
            xs = solve_sde(_ScalarSDE(drift, sigma), x0, t, solver, brownian_size=1, seed=spec.seed)
        values = xs.transpose(0, 1).numpy()
        values = values + spec.noise * rng.standard_normal(values.shape)
        return TimeSeriesDataset(name, "sde", times, values, ["x"])

    return make


DEMOS: dict[str, Demo] = {
    d.name: d
    for d in [
        Demo(
            "spiral",
            "ode",
            "the torchdiffeq demo's cubic spiral dy/dt = y³A, from random starts",
            (0.0, 10.0),
            ("x", "y"),
            _ode_demo("spiral", _spiral, _spiral_initial, ("x", "y")),
        ),
        Demo(
            "lotka_volterra",
            "ode",
            "predator–prey cycles (α=1.5, β=1, δ=1, γ=3)",
            (0.0, 10.0),
            ("prey", "predator"),
            _ode_demo(
                "lotka_volterra",
                _lotka_volterra,
                lambda rng, n: rng.uniform(0.5, 2.5, (n, 2)),
                ("prey", "predator"),
            ),
        ),
        Demo(
            "pendulum",
            "ode",
            "damped pendulum θ'' = −sin θ − 0.25 θ'",
            (0.0, 10.0),
            ("angle", "velocity"),
            _ode_demo(
                "pendulum",
                _pendulum,
                lambda rng, n: np.stack([rng.uniform(-2, 2, n), rng.uniform(-1, 1, n)], axis=1),
                ("angle", "velocity"),
            ),
        ),
        Demo(
            "van_der_pol",
            "ode",
            "Van der Pol oscillator with μ = 1 (a limit cycle)",
            (0.0, 10.0),
            ("x", "v"),
            _ode_demo(
                "van_der_pol", _van_der_pol, lambda rng, n: rng.uniform(-2, 2, (n, 2)), ("x", "v")
            ),
        ),
        Demo(
            "lorenz",
            "ode",
            "Lorenz system (σ=10, ρ=28, β=8/3), 3-D and chaotic",
            (0.0, 2.0),
            ("x", "y", "z"),
            _ode_demo(
                "lorenz",
                _lorenz,
                lambda rng, n: np.array([1.0, 1.0, 20.0]) + rng.uniform(-5, 5, (n, 3)),
                ("x", "y", "z"),
            ),
        ),
        Demo(
            "spirals",
            "cde",
            "clockwise vs anticlockwise spirals, irregular times and dropped observations",
            (0.0, 10.0),
            ("x", "y"),
            _clockwise_spirals,
        ),
        Demo(
            "brownian",
            "sde",
            "Brownian motion started from Uniform[−1, 1] (the thesis's example)",
            (0.0, 1.0),
            ("x",),
            _sde_demo("brownian", lambda y: torch.zeros_like(y), 1.0),
        ),
        Demo(
            "ornstein_uhlenbeck",
            "sde",
            "Ornstein–Uhlenbeck dX = 2(0.5 − X) dt + 0.8 dW, from Uniform[−1, 1]",
            (0.0, 2.0),
            ("x",),
            _sde_demo("ornstein_uhlenbeck", lambda y: 2.0 * (0.5 - y), 0.8),
        ),
    ]
}


# The known equations of the ODE demos: state (..., C) → dy/dt, float64 tensors.
_TRUE_FIELDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "spiral": _spiral,
    "lotka_volterra": _lotka_volterra,
    "pendulum": _pendulum,
    "van_der_pol": _van_der_pol,
    "lorenz": _lorenz,
}


def true_field(name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The true vector field ``y ↦ dy/dt`` of the ODE demo ``name`` (autonomous, on float64
    states of shape (..., C) in the data's units), or None where the equations are not
    known (not an ODE demo, or a data file)."""
    return _TRUE_FIELDS.get(name)


def make_demo(spec: DataSpec) -> TimeSeriesDataset:
    """Generate the demo named by ``spec`` (deterministic for a given seed)."""
    if spec.name not in DEMOS:
        raise KeyError(f"demo {spec.name!r} does not exist; choose one of {', '.join(DEMOS)}")
    demo = DEMOS[spec.name]
    rng = np.random.default_rng(spec.seed)
    t0, t1 = _span(spec, demo.t_span)
    if demo.family == "cde":
        inner = np.sort(rng.uniform(t0, t1, spec.n_times - 2))
        times = np.concatenate([[t0], inner, [t1]])
        times = np.maximum.accumulate(times + np.arange(len(times)) * 1e-9)
    else:
        times = np.linspace(t0, t1, spec.n_times)
    return demo.make(spec, rng, times)
