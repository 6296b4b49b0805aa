"""The vector field on a grid over a 2-D slice of the state, in the data's units, and its error
against a known true field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ndestudio.core.inspect.dynamics import Dynamics

Box = tuple[tuple[float, float], tuple[float, float]]
"""((x_low, x_high), (y_low, y_high)) over the two axes of a slice."""


@dataclass
class FieldSlice:
    """dx/dt on an ``n_y × n_x`` grid (rows follow ``ys``, columns ``xs``), data units.

    ``axes``: the two state channels on the grid; ``state``: the full state (C,) whose other
    coordinates the slice holds fixed; ``u``/``v``: the field's components along ``axes``;
    ``speed``: the norm of the whole field (all C components); ``rates`` (n_y, n_x, C): every
    component. With a true field: ``true_rates``, ``error`` = |f_θ − f| (the norm over all
    components) and ``relative_error`` = error / |f| (NaN where |f| = 0)."""

    axes: tuple[int, int]
    xs: np.ndarray
    ys: np.ndarray
    state: np.ndarray
    rates: np.ndarray
    t: float = 0.0
    true_rates: np.ndarray | None = None

    @property
    def u(self) -> np.ndarray:
        return self.rates[..., self.axes[0]]

    @property
    def v(self) -> np.ndarray:
        return self.rates[..., self.axes[1]]

    @property
    def speed(self) -> np.ndarray:
        return np.linalg.norm(self.rates, axis=-1)

    @property
    def points(self) -> np.ndarray:
        """The grid's states (n_y, n_x, C)."""
        return grid_states(self.xs, self.ys, self.axes, self.state)

    @property
    def true_u(self) -> np.ndarray | None:
        return None if self.true_rates is None else self.true_rates[..., self.axes[0]]

    @property
    def true_v(self) -> np.ndarray | None:
        return None if self.true_rates is None else self.true_rates[..., self.axes[1]]

    @property
    def error(self) -> np.ndarray | None:
        if self.true_rates is None:
            return None
        return np.linalg.norm(self.rates - self.true_rates, axis=-1)

    @property
    def relative_error(self) -> np.ndarray | None:
        error = self.error
        if error is None or self.true_rates is None:
            return None
        norm = np.linalg.norm(self.true_rates, axis=-1)
        out = np.full_like(error, np.nan)
        np.divide(error, norm, out=out, where=norm > 0)
        return out

    def error_summary(self) -> dict[str, float] | None:
        """Mean and max absolute error, and the relative error of the whole grid
        (‖f_θ − f‖ / ‖f‖ over all points), or None without a true field."""
        error = self.error
        if error is None or self.true_rates is None:
            return None
        total = float(np.linalg.norm(self.true_rates))
        return {
            "mean_abs_error": float(error.mean()),
            "max_abs_error": float(error.max()),
            "relative_error": float(np.linalg.norm(error) / total) if total > 0 else float("nan"),
        }


def grid_states(
    xs: np.ndarray, ys: np.ndarray, axes: tuple[int, int], state: np.ndarray
) -> np.ndarray:
    """States (len(ys), len(xs), C): ``state`` with channels ``axes`` set to the grid's."""
    points = np.broadcast_to(state, (len(ys), len(xs), len(state))).copy()
    gx, gy = np.meshgrid(xs, ys)
    points[..., axes[0]] = gx
    points[..., axes[1]] = gy
    return points


def evaluate(dynamics: Dynamics, states: np.ndarray, t: float = 0.0) -> np.ndarray:
    """dx/dt (data units) of ``dynamics`` at ``states`` (..., C), as float64 numpy."""
    with torch.no_grad():
        rates = dynamics.rate(dynamics.tensor(states), t)
    return rates.detach().cpu().double().numpy()


def field_slice(
    dynamics: Dynamics,
    box: Box,
    *,
    n: int | tuple[int, int] = 30,
    axes: tuple[int, int] = (0, 1),
    state: Sequence[float] | np.ndarray | None = None,
    t: float = 0.0,
    truth: Dynamics | None = None,
) -> FieldSlice:
    """The field of ``dynamics`` on an ``n × n`` grid (or ``(n_x, n_y)``) over ``box`` in the
    plane of channels ``axes``; the other channels held at ``state`` (default: the data mean,
    ``dynamics.loc``); at time ``t`` for a field with a time input. ``truth``: a known field
    to compare with on the same grid."""
    if len(set(axes)) != 2 or not all(0 <= a < dynamics.channels for a in axes):
        raise ValueError(f"axes {axes} must be two different channels of {dynamics.channels}")
    n_x, n_y = (n, n) if isinstance(n, int) else n
    xs = np.linspace(box[0][0], box[0][1], n_x)
    ys = np.linspace(box[1][0], box[1][1], n_y)
    base = dynamics.loc.cpu().double().numpy() if state is None else np.asarray(state, float)
    if base.shape != (dynamics.channels,):
        raise ValueError(f"the state must have {dynamics.channels} channels, not {base.shape}")
    points = grid_states(xs, ys, axes, base)
    rates = evaluate(dynamics, points, t)
    true_rates = None if truth is None else evaluate(truth, points, t)
    return FieldSlice(axes, xs, ys, base.copy(), rates, t, true_rates)


def data_box(values: np.ndarray, axes: tuple[int, int] = (0, 1), margin: float = 0.1) -> Box:
    """A box around the observations (series, times, C) in the plane of ``axes``, widened
    by ``margin`` of its size on each side."""
    out = []
    for axis in axes:
        lo, hi = float(np.nanmin(values[..., axis])), float(np.nanmax(values[..., axis]))
        pad = margin * (hi - lo) if hi > lo else 1.0
        out.append((lo - pad, hi + pad))
    return (out[0], out[1])
