"""The fast engine's first step size against torchdiffeq's own selection: the same value, bit
for bit, and the same gradient in every branch of the selection."""

import pytest
import torch
from torchdiffeq._impl.misc import _rms_norm, _select_initial_step

from ndestudio.core.models import VectorField
from ndestudio.core.solvers import Probe, SolveStats
from ndestudio.core.solvers.fast.first_step import evaluate, first_step_size
from ndestudio.core.solvers.fast.mlp import FastMLP
from ndestudio.core.specs import NetworkSpec

RTOL, ATOL, ORDER = 1e-3, 1e-4, 4  # (dopri5's order 5, as torchdiffeq passes it: 5 - 1)

# (name, field weights' scale, y0's scale, a field of the time, a zero last layer)
SCENARIOS = [
    ("d2 the larger", 3.0, 10.0, False, False),
    ("d2 the larger, a field of the time", 3.0, 10.0, True, False),
    ("d2 the larger, 100 h0 the smaller", 10.0, 1.0, False, False),
    ("d1 the larger", 0.05, 1.0, False, False),
    ("d1 the larger, 100 h0 the smaller", 1.0, 1e-2, False, False),
    ("d0 below 1e-5: h0 = 1e-6", 1.0, 1e-11, False, False),
    ("d1 and d2 below 1e-15: h1 = max(1e-6, h0 / 1000)", 1.0, 1.0, False, True),
]


def _problem(dtype, weights, y_scale, time_input, zero_last):
    torch.manual_seed(3)
    network = NetworkSpec(width=16, depth=2, time_input=time_input, zero_init_last=zero_last)
    field = VectorField(2, 2, network).to(dtype)
    with torch.no_grad():
        for p in field.parameters():
            p.mul_(weights)
    y0 = y_scale * torch.randn(6, 2, dtype=dtype, generator=torch.Generator().manual_seed(4))
    return field, y0.requires_grad_(), torch.tensor(0.25, dtype=torch.float64)


def _branch(field, y0, t0):
    """Which branch torchdiffeq's selection takes (its own quantities, recomputed)."""
    with torch.no_grad():
        f0 = field(t0, y0)
        scale = ATOL + y0.abs() * RTOL
        d0, d1 = _rms_norm(y0 / scale), _rms_norm(f0 / scale)
        h0 = torch.tensor(1e-6) if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        d2 = _rms_norm((field(t0 + h0, y0 + h0 * f0) - f0) / scale) / h0
        if d1 <= 1e-15 and d2 <= 1e-15:
            return "tiny", None
        h1 = (0.01 / max(d1, d2)) ** (1 / (ORDER + 1))
        return ("small" if d0 < 1e-5 else "d2" if d2 > d1 else "d1"), bool(100 * h0 < h1)


def _reference(field, y0, t0):
    stats = SolveStats()
    probe = Probe(stats)

    def f(t, y):  # (counted as the solver layer counts torchdiffeq's evaluations)
        probe.on_forward()
        return probe.watch(field(t, y))

    h = _select_initial_step(f, t0, y0, ORDER, RTOL, ATOL, _rms_norm, f0=f(t0, y0))
    return h, stats


def _fast(field, y0, t0):
    stats = SolveStats()
    probe = Probe(stats)
    mlp = FastMLP(field)
    f0 = evaluate(mlp, probe, t0, y0)
    return first_step_size(mlp, probe, t0, y0, f0, ORDER, RTOL, ATOL), stats


def _gradients(h, field, y0):
    inputs = [y0, *field.parameters()]
    if not h.requires_grad:  # (torchdiffeq's h is then a constant)
        return [torch.zeros_like(x) for x in inputs]
    grads = torch.autograd.grad(h, inputs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads, strict=True)]


@pytest.mark.parametrize(("name", "weights", "y_scale", "time_input", "zero_last"), SCENARIOS)
def test_the_first_step_and_its_gradient_are_torchdiffeqs(
    name, weights, y_scale, time_input, zero_last
):
    field, y0, t0 = _problem(torch.float64, weights, y_scale, time_input, zero_last)
    branch, hundred_h0_smaller = _branch(field, y0, t0)
    expected = {
        "d2 the larger": ("d2", False),
        "d2 the larger, a field of the time": ("d2", False),
        "d2 the larger, 100 h0 the smaller": ("d2", True),
        "d1 the larger": ("d1", False),
        "d1 the larger, 100 h0 the smaller": ("d1", True),
        "d0 below 1e-5: h0 = 1e-6": ("small", True),
        "d1 and d2 below 1e-15: h1 = max(1e-6, h0 / 1000)": ("tiny", None),
    }[name]
    assert (branch, hundred_h0_smaller) == expected  # the scenario is the one named
    h_ref, stats_ref = _reference(field, y0, t0)
    h_fast, stats_fast = _fast(field, y0, t0)
    assert h_fast.dtype == torch.float64 and torch.equal(h_fast, h_ref)
    assert h_fast.requires_grad == h_ref.requires_grad
    with stats_ref.backward_phase():
        ref = _gradients(h_ref, field, y0)
    with stats_fast.backward_phase():
        fast = _gradients(h_fast, field, y0)
    scale = max(float(g.abs().max()) for g in ref)
    for a, b in zip(ref, fast, strict=True):
        assert float((a - b).abs().max()) <= 1e-12 * max(scale, 1e-300)
    if hundred_h0_smaller is not None and not (branch == "small" and hundred_h0_smaller):
        assert scale > 0  # (a gradient that is there: h is a constant in the other cases)
    # the same evaluations forward, and the same products backward
    assert (stats_fast.nfe_forward, stats_fast.nfe_backward) == (
        stats_ref.nfe_forward,
        stats_ref.nfe_backward,
    )


def test_the_first_step_in_float32_is_torchdiffeqs_bit_for_bit():
    for weights, y_scale in [(3.0, 10.0), (10.0, 1.0), (0.05, 1.0), (1.0, 1e-2)]:
        field, y0, t0 = _problem(torch.float32, weights, y_scale, True, False)
        h_ref, _ = _reference(field, y0, t0)
        h_fast, _ = _fast(field, y0, t0)
        assert torch.equal(h_fast, h_ref)
