"""Equilibria on analytic fields (linear fields with known eigenvalues, the damped
pendulum): found within 1e-6, classified right, one point each; nullclines; the manifolds
of saddles leave along the eigenvectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ndestudio.core.data.demos import true_field
from ndestudio.core.inspect import (
    ZERO_REAL_TOLERANCE,
    Dynamics,
    classify,
    field_slice,
    find_equilibria,
    jacobian,
    learned_dynamics,
    nullclines,
    saddle_manifolds,
    seed_grid,
    zero_contour,
)
from ndestudio.core.specs import SolverSpec

CENTRE = np.array([0.3, -0.2])
BOX = [(-2.0, 2.0), (-1.5, 1.5)]
TIGHT = SolverSpec(rtol=1e-9, atol=1e-11)


def linear(matrix: list[list[float]], centre: np.ndarray = CENTRE) -> Dynamics:
    """dx/dt = A (x - centre), solved in a normalisation that is not the identity."""
    a = torch.tensor(matrix, dtype=torch.float64)
    c = torch.as_tensor(centre, dtype=torch.float64)
    return Dynamics.from_function(lambda x: (x - c) @ a.T, [0.1, 0.2], [2.0, 0.5], TIGHT)


def pendulum() -> Dynamics:
    fn = true_field("pendulum")
    assert fn is not None
    return Dynamics.from_function(fn, [0.2, -0.1], [1.3, 0.6], TIGHT)


@pytest.mark.parametrize(
    ("matrix", "eigenvalues", "kind"),
    [
        ([[-1.0, 0.0], [0.5, -2.0]], [-2.0, -1.0], "stable node"),
        ([[3.0, 1.0], [0.0, 2.0]], [2.0, 3.0], "unstable node"),
        ([[1.0, -2.0], [2.0, 1.0]], [1 - 2j, 1 + 2j], "unstable focus"),
        ([[-0.5, 3.0], [-3.0, -0.5]], [-0.5 - 3j, -0.5 + 3j], "stable focus"),
        ([[1.0, 0.0], [0.0, -1.0]], [-1.0, 1.0], "saddle"),
        ([[0.0, 1.0], [-4.0, 0.0]], [-2j, 2j], "centre-like"),
    ],
)
def test_linear_fields_have_one_equilibrium_with_known_eigenvalues(matrix, eigenvalues, kind):
    found = find_equilibria(linear(matrix), BOX, seeds=6)
    assert len(found) == 1  # 36 seeds, deduplicated to one point
    eq = found[0]
    assert eq.seeds == 36
    assert np.abs(eq.point - CENTRE).max() < 1e-6
    np.testing.assert_allclose(eq.jacobian, matrix, atol=1e-9)
    np.testing.assert_allclose(eq.eigenvalues, eigenvalues, atol=1e-9)
    assert eq.kind == kind
    assert eq.to_dict()["eigenvalues"] == [[e.real, e.imag] for e in eq.eigenvalues]


def test_damped_pendulum_equilibria_are_k_pi_foci_and_saddles():
    found = find_equilibria(pendulum(), [(-7.0, 7.0), (-2.0, 2.0)], seeds=10)
    assert len(found) == 5  # one point per equilibrium, from 100 seeds
    assert sum(e.seeds for e in found) <= 100
    for k, eq in zip(range(-2, 3), found, strict=True):
        assert np.abs(eq.point - [k * math.pi, 0.0]).max() < 1e-6
        assert eq.kind == ("stable focus" if k % 2 == 0 else "saddle")
    # At 0: λ = -1/8 ± i √(1 - 1/64); at π: λ = -1/8 ± √(1 + 1/64).
    root = math.sqrt(1 - 1 / 64)
    np.testing.assert_allclose(found[2].eigenvalues, [-0.125 - 1j * root, -0.125 + 1j * root])
    saddle = math.sqrt(1 + 1 / 64)
    np.testing.assert_allclose(found[3].eigenvalues, [-0.125 - saddle, -0.125 + saddle])


def test_equilibria_outside_the_box_are_dropped_unless_asked_for():
    field = pendulum()
    inside = find_equilibria(field, [(-1.0, 4.0), (-1.0, 1.0)], seeds=6)
    assert [round(e.point[0] / math.pi) for e in inside] == [0, 1]
    anywhere = find_equilibria(field, [(-1.0, 4.0), (-1.0, 1.0)], seeds=6, keep_outside=True)
    assert len(anywhere) >= len(inside)


def test_classes_and_the_stated_tolerance():
    assert ZERO_REAL_TOLERANCE == 1e-2
    assert classify([-0.005 + 1j, -0.005 - 1j]) == "centre-like"  # |Re| < 1 % of |λ|
    assert classify([-0.02 + 1j, -0.02 - 1j]) == "stable focus"
    assert classify([-0.02 + 1j, -0.02 - 1j], tolerance=0.05) == "centre-like"
    assert classify([0.0, -1.0]) == "non-hyperbolic"
    assert classify([-1.0, -2.0, -0.5 + 3j]) == "stable"
    assert classify([1.0, 2.0, 3.0]) == "unstable"
    assert classify([-1.0, 2.0, -3.0]) == "saddle"
    assert classify([-1.0, 2j, -2j]) == "centre-like"
    assert classify([-1.0]) == "stable" and classify([1.0]) == "unstable"


def test_lorenz_equilibria_in_three_dimensions_are_saddles():
    fn = true_field("lorenz")
    assert fn is not None
    field = Dynamics.from_function(fn, [0.0, 0.0, 25.0], [8.0, 9.0, 8.0], TIGHT)
    found = find_equilibria(field, [(-15.0, 15.0), (-15.0, 15.0), (-5.0, 40.0)], seeds=4)
    c = math.sqrt(8 / 3 * 27)
    expected = [[-c, -c, 27.0], [0.0, 0.0, 0.0], [c, c, 27.0]]
    assert len(found) == 3
    for eq, point in zip(found, expected, strict=True):
        assert np.abs(eq.point - point).max() < 1e-6
    # The origin: two stable directions, one unstable. Off it, a stable direction and a
    # weakly unstable spiral, λ ≈ 0.094 ± 10.19i: within 1 % of neutral, so "centre-like"
    # at the default tolerance, a saddle at a tenth of it.
    assert found[1].kind == "saddle"
    for eq in (found[0], found[2]):
        pair = eq.eigenvalues[np.abs(eq.eigenvalues.imag) > 0]
        assert 0 < pair.real[0] < ZERO_REAL_TOLERANCE * abs(pair[0])
        assert eq.kind == "centre-like"
        assert classify(eq.eigenvalues, tolerance=1e-3) == "saddle"
    np.testing.assert_allclose(
        sorted(found[1].eigenvalues.real),
        [(-11 - math.sqrt(1201)) / 2, -8 / 3, (-11 + math.sqrt(1201)) / 2],
    )
    # Seeds over the (x, y) slice at z = 20 still reach the off-slice equilibria (z = 27).
    sliced = find_equilibria(field, [(-15.0, 15.0), (-15.0, 15.0)], state=[0, 0, 20], seeds=6)
    assert any(abs(e.point[2] - 27.0) < 1e-6 for e in sliced)


def test_equilibria_of_a_learned_field_are_zeros_of_the_model(pendulum_trainer):
    field = learned_dynamics(pendulum_trainer)
    found = find_equilibria(field, [(-6.0, 6.0), (-4.0, 4.0)], seeds=6, keep_outside=True)
    assert found  # an MLP with tanh has somewhere a zero (checked for this seed)
    for eq in found:
        rate = field.rate(torch.as_tensor(eq.point)).numpy()
        assert np.abs(rate / field.scale.numpy()).max() < 1e-9
        assert eq.kind in (
            "stable focus",
            "unstable focus",
            "stable node",
            "unstable node",
            "saddle",
            "centre-like",
            "non-hyperbolic",
        )


def test_jacobian_by_autograd_matches_finite_differences(pendulum_trainer):
    field = learned_dynamics(pendulum_trainer)
    points = np.array([[0.4, -0.3], [1.5, 0.8]])
    jac = jacobian(field, points)
    h = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        up = field.rate(torch.as_tensor(points + step)).numpy()
        down = field.rate(torch.as_tensor(points - step)).numpy()
        np.testing.assert_allclose(jac[:, :, j], (up - down) / (2 * h), atol=1e-7)


def test_seed_grid_holds_a_degenerate_range_fixed():
    seeds = seed_grid([(0.0, 1.0), (2.0, 2.0), (-1.0, 1.0)], 3)
    assert seeds.shape == (9, 3)
    assert np.all(seeds[:, 1] == 2.0)
    assert sorted(set(seeds[:, 0])) == [0.0, 0.5, 1.0]


def test_saddle_manifolds_leave_along_the_eigenvectors():
    field = linear([[1.0, 0.0], [0.0, -1.0]])
    (eq,) = find_equilibria(field, BOX, seeds=4)
    manifolds = saddle_manifolds(field, eq, bounds=BOX)
    kinds = {m.kind: m for m in manifolds}
    assert set(kinds) == {"stable", "unstable"}
    unstable, stable = kinds["unstable"], kinds["stable"]
    assert abs(unstable.direction @ [1.0, 0.0]) == pytest.approx(1.0)
    assert abs(stable.direction @ [0.0, 1.0]) == pytest.approx(1.0)
    for branch in unstable.branches:  # forward in time, along y = y*, out of the box
        assert not branch.backward
        assert np.abs(branch.states[:, 1] - CENTRE[1]).max() < 1e-9
        assert abs(branch.states[-1, 0] - CENTRE[0]) > 1.0
        assert not BOX[0][0] <= branch.states[-1, 0] <= BOX[0][1]  # cut where it leaves
    for branch in stable.branches:  # backward in time, along x = x*
        assert branch.backward
        assert np.abs(branch.states[:, 0] - CENTRE[0]).max() < 1e-9
        assert abs(branch.states[-1, 1] - CENTRE[1]) > 1.0
    left, right = unstable.branches
    assert np.sign(left.states[-1, 0] - CENTRE[0]) == -np.sign(right.states[-1, 0] - CENTRE[0])


def test_pendulum_saddle_manifolds_leave_along_eigenvectors_and_reach_the_foci():
    field = pendulum()
    bounds = [(-10.0, 10.0), (-3.0, 3.0)]
    found = find_equilibria(field, bounds, seeds=8)
    saddle = next(e for e in found if abs(e.point[0] - math.pi) < 1e-6)
    assert saddle.kind == "saddle"
    for manifold in saddle_manifolds(field, saddle, bounds=bounds, horizon=60.0, n_points=1200):
        for branch in manifold.branches:
            gone = np.linalg.norm(branch.states - saddle.point, axis=-1)
            k = int(np.argmax(gone > 1e-2))  # near the saddle, but well off the start
            direction = (branch.states[k] - saddle.point) / gone[k]
            assert abs(direction @ manifold.direction) > 0.999
            if manifold.kind == "unstable":  # the unstable branches fall into the foci
                end = branch.states[-1]
                nearest = round(end[0] / (2 * math.pi)) * 2 * math.pi
                assert np.abs(end - [nearest, 0.0]).max() < 0.05
                assert abs(nearest - saddle.point[0]) == pytest.approx(math.pi)


def test_nullclines_of_the_pendulum():
    sliced = field_slice(pendulum(), ((-4.0, 4.0), (-2.0, 2.0)), n=41)
    theta_dot, omega_dot = nullclines(sliced)
    assert theta_dot.channel == 0 and omega_dot.channel == 1
    # dθ/dt = ω: the line ω = 0 (exactly: the field is linear across cells there).
    assert len(theta_dot.segments) == 40
    assert np.abs(theta_dot.segments[..., 1]).max() < 1e-12
    # dω/dt = -sin θ - ω/4 = 0 along its segments, up to the linear interpolation.
    ends = omega_dot.segments.reshape(-1, 2)
    assert np.abs(-np.sin(ends[:, 0]) - 0.25 * ends[:, 1]).max() < 5e-3
    assert ends[:, 0].min() < -3.5 and ends[:, 0].max() > 3.5


def test_marching_squares_on_linear_and_saddle_functions():
    xs, ys = np.linspace(-1, 1, 11), np.linspace(-1, 1.2, 12)
    gx, gy = np.meshgrid(xs, ys)
    diagonal = zero_contour(xs, ys, gx - 0.5 * gy - 0.05)
    ends = diagonal.reshape(-1, 2)
    np.testing.assert_allclose(ends[:, 0] - 0.5 * ends[:, 1] - 0.05, 0.0, atol=1e-12)
    assert diagonal.shape[1:] == (2, 2) and len(diagonal) >= 11
    # x·y = 0 through cell corners off the grid: the two axes, crossing inside cells.
    xs2, ys2 = np.linspace(-1.05, 0.95, 11), np.linspace(-0.95, 1.05, 11)
    gx2, gy2 = np.meshgrid(xs2, ys2)
    cross = zero_contour(xs2, ys2, gx2 * gy2).reshape(-1, 2)
    assert np.all(np.minimum(np.abs(cross[:, 0]), np.abs(cross[:, 1])) < 1e-12)
    assert len(zero_contour(xs, ys, gx**2 + gy**2 + 1)) == 0


def test_newton_in_float32_converges_to_its_precision():
    fn = true_field("pendulum")
    assert fn is not None
    field = Dynamics.from_function(
        lambda y: fn(y.double()).float(), [0.0, 0.0], [1.5, 0.8], TIGHT, dtype=torch.float32
    )
    found = find_equilibria(field, [(-4.0, 4.0), (-2.0, 2.0)], seeds=6)
    assert [e.kind for e in found] == ["saddle", "stable focus", "saddle"]
    for k, eq in zip((-1, 0, 1), found, strict=True):
        assert np.abs(eq.point - [k * math.pi, 0.0]).max() < 1e-5


def test_an_equilibrium_whose_linearisation_vanishes_is_non_hyperbolic():
    """The cubic spiral dy/dt = y³A has a zero Jacobian at its origin: no linear class holds
    there (relative tolerances alone called it a focus from rounding-level eigenvalues)."""
    fn = true_field("spiral")
    assert fn is not None
    spiral = Dynamics.from_function(fn, [0.0, 0.0], [0.7, 0.7], TIGHT)
    found = find_equilibria(spiral, [(-1.0, 1.0), (-1.0, 1.0)], seeds=6)
    origin = [eq for eq in found if np.abs(eq.point).max() < 1e-3]
    assert origin and origin[0].kind == "non-hyperbolic"
    slow = [[-5e-4, 3e-3], [-3e-3, -5e-4]]  # a slow but genuine focus keeps its class
    assert find_equilibria(linear(slow), BOX, seeds=4)[0].kind == "stable focus"
