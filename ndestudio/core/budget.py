"""How much memory a run needs, estimated from its spec before anything is allocated.

The estimate is deliberately rough and generous (it counts the copies a run makes of its
data, the weights with their gradients and optimiser state, and what backpropagation through
a fixed-step solver keeps for the backward pass); its job is to refuse, with numbers, work
that cannot fit — a network a billion units wide, a billion observation times, RK4 with a
step of 1e-7 — instead of letting the machine run out of memory halfway.
"""

from __future__ import annotations

import math
import os

from ndestudio.core.specs import NetworkSpec, RunSpec

GIB = 2**30
MAX_FIXED_STEPS = 10**7  # fixed solver steps per solve: more is never a useful training run
# Stages per step of the fixed-step methods (the others count as 4).
_STAGES = {"euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4}


def available_bytes() -> int | None:
    """Memory available to a new allocation now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _mlp(n_in: int, n_out: int, net: NetworkSpec) -> tuple[int, int]:
    """(parameters, activations per input) of ``MLP(n_in, n_out, net)``."""
    w, depth = net.width, max(net.depth, 0)
    if depth == 0:
        return (n_in + 1) * n_out, n_out
    params = (n_in + 1) * w + (depth - 1) * (w + 1) * w + (w + 1) * n_out
    return params, depth * w + n_out


def _channels(spec: RunSpec) -> int:
    from ndestudio.core.data.demos import DEMOS

    demo = DEMOS.get(spec.data.name) if spec.data.source == "demo" else None
    return len(demo.channel_names) if demo is not None else 1


def _time_span(spec: RunSpec) -> float | None:
    """The data's time span (None for a data file: it is known once the file is read)."""
    from ndestudio.core.data.demos import DEMOS

    if spec.data.t_span is not None and len(spec.data.t_span) == 2:
        return abs(spec.data.t_span[1] - spec.data.t_span[0])
    demo = DEMOS.get(spec.data.name) if spec.data.source == "demo" else None
    return abs(demo.t_span[1] - demo.t_span[0]) if demo is not None else None


def fixed_steps(spec: RunSpec) -> int | None:
    """Steps of one fixed-step training solve (None: adaptive, or a span not yet known).

    An ODE trained on windows solves over a window's share of the span."""
    step, span = spec.solver.step_size, _time_span(spec)
    if step is None or span is None or not step > 0 or not math.isfinite(step):
        return None
    window, n = spec.train.window, spec.data.n_times
    if spec.model.family == "ode" and window is not None and 2 <= window < n:
        span *= (window - 1) / (n - 1)
    steps = span / step
    return max(1, math.ceil(steps)) if steps < 1e18 else 10**18


def estimate(spec: RunSpec) -> dict[str, int]:
    """Bytes the run needs, by part: data, weights (with gradients and optimiser state),
    and what the backward pass keeps."""
    m, s, d, t = spec.model, spec.solver, spec.data, spec.train
    size = 8 if t.dtype == "float64" else 4
    c = _channels(spec)
    net = m.network
    if m.family == "cde":
        inputs = c + 1 + (c if m.cde.mask_channels else 0)
        h = m.cde.hidden_size
        params, acts = _mlp(h, h * inputs, net)
        params += (inputs + 1) * h + (h + 1) * 16
    elif m.family == "sde":
        h = m.sde.hidden_size
        drift, acts = _mlp(h + 1, h, net)
        diffusion, _ = _mlp(h + 1, h * m.sde.brownian_size, net)
        first, _ = _mlp(max(m.sde.initial_noise_size, m.sde.context_size), 2 * h, net)
        hd = m.sde.discriminator_hidden_size
        critic, critic_acts = _mlp(hd + 1, hd * (c + 1), m.sde.discriminator)
        params = 2 * (drift + diffusion) + first + critic + (h + 1) * c
        acts += critic_acts
    else:
        params, acts = _mlp(c + 1, c, net)
    parts = {
        # raw values in float64, normalised copies, the device copy, a CDE's path coefficients
        "data": d.n_series * d.n_times * (c + 1) * 8 * 8 if d.source == "demo" else 0,
        # weights, gradients, two Adam moments, the last good copy (and the SDE-GAN average)
        "weights": params * size * 6,
    }
    steps = fixed_steps(spec)
    if s.gradient == "backprop" and steps is not None:
        stages = 2 if m.family == "sde" else _STAGES.get(s.method, 4)
        evaluations = steps * stages * (2 if m.family == "sde" else 1)
        batch = t.batch_size
        # each evaluation keeps its layers' inputs and outputs (about 3 tensors a unit)
        parts["backward"] = evaluations * batch * (acts + 4 * c) * size * 3
    return parts


def _gib(n: int) -> str:
    return f"{n / GIB:.3g} GiB" if n < 10**30 else "more than 10^21 GiB"


def _short(n: int) -> str:
    """An integer for a message: big ones in scientific notation."""
    if n < 10**9:
        return str(n)
    return f"{float(n):.3g}" if n < 10**300 else f"a number of {len(str(n))} digits"


def budget_problems(spec: RunSpec, available: int | None = None) -> list[str]:
    """Reasons the run cannot fit in memory (empty when it can, or when it is unknown)."""
    p: list[str] = []
    steps = fixed_steps(spec)
    if steps is not None and steps > MAX_FIXED_STEPS:
        p.append(
            f"{spec.solver.method} with step_size {spec.solver.step_size:g} takes {steps:.3g} "
            f"steps per training solve over the data's time span (at most "
            f"{MAX_FIXED_STEPS:.0e}): use a larger step size or an adaptive solver"
        )
    parts = estimate(spec)
    total = sum(parts.values())
    available = available_bytes() if available is None else available
    if available is not None and total > 0.8 * available:
        biggest = max(parts, key=lambda k: parts[k])
        detail = {
            "data": f"the dataset of {_short(spec.data.n_series)} series × "
            f"{_short(spec.data.n_times)} times",
            "weights": f"the networks' weights (width {_short(spec.model.network.width)}, depth "
            f"{_short(spec.model.network.depth)}) with their gradients and optimiser state",
            "backward": "what backpropagation through the solver keeps for the backward pass "
            f"(batch {_short(spec.train.batch_size)} × {_short(steps or 0)} steps); the adjoint "
            "keeps none of it",
        }[biggest]
        p.append(
            f"this run needs about {_gib(total)} of memory, but {_gib(available)} is "
            f"available; most of it is {detail}"
        )
    return p
