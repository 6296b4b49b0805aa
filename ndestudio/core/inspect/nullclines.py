"""Nullclines: the zero contours of each component of the field on a slice, by marching
squares (no plotting library needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ndestudio.core.inspect.field import FieldSlice

# Cell corners: 0 (x0, y0), 1 (x1, y0), 2 (x1, y1), 3 (x0, y1); the case bit k is set when
# corner k is above 0. Edges: 0 bottom (0-1), 1 right (1-2), 2 top (3-2), 3 left (0-3).
# Each case lists the pairs of edges that its segments join; 5 and 10 (two opposite
# corners above) depend on the cell's centre and are resolved below.
_SEGMENTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((3, 0),),
    2: ((0, 1),),
    3: ((3, 1),),
    4: ((1, 2),),
    6: ((0, 2),),
    7: ((3, 2),),
    8: ((2, 3),),
    9: ((0, 2),),
    11: ((1, 2),),
    12: ((1, 3),),
    13: ((0, 1),),
    14: ((3, 0),),
}
# Two opposite corners above 0: with the centre above, the above corners connect.
_SADDLES = {
    5: {True: ((3, 2), (0, 1)), False: ((3, 0), (1, 2))},
    10: {True: ((0, 3), (1, 2)), False: ((0, 1), (2, 3))},
}


@dataclass
class Nullcline:
    """Where component ``channel`` of the field is 0 on the slice: ``segments`` (K, 2, 2),
    each a line segment [[x0, y0], [x1, y1]] in the slice's coordinates."""

    channel: int
    segments: np.ndarray


def zero_contour(xs: np.ndarray, ys: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Line segments (K, 2, 2) of the contour ``z = 0`` of ``z`` (len(ys), len(xs)) sampled on
    the grid ``xs`` × ``ys``, linearly interpolated along cell edges (marching squares)."""
    z = np.asarray(z, dtype=float)
    above = z > 0
    corners = [z[:-1, :-1], z[:-1, 1:], z[1:, 1:], z[1:, :-1]]
    bits = [above[:-1, :-1], above[:-1, 1:], above[1:, 1:], above[1:, :-1]]
    case = bits[0] * 1 + bits[1] * 2 + bits[2] * 4 + bits[3] * 8
    x0, x1 = np.meshgrid(xs[:-1], ys[:-1])[0], np.meshgrid(xs[1:], ys[:-1])[0]
    y0, y1 = np.meshgrid(xs[:-1], ys[:-1])[1], np.meshgrid(xs[:-1], ys[1:])[1]

    def fraction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = a / (a - b)
        return np.clip(np.nan_to_num(f, nan=0.5), 0.0, 1.0)

    c0, c1, c2, c3 = corners
    f_bottom, f_right = fraction(c0, c1), fraction(c1, c2)
    f_top, f_left = fraction(c3, c2), fraction(c0, c3)
    edge_points = [
        (x0 + f_bottom * (x1 - x0), y0),
        (x1, y0 + f_right * (y1 - y0)),
        (x0 + f_top * (x1 - x0), y1),
        (x0, y0 + f_left * (y1 - y0)),
    ]
    centre_above = (c0 + c1 + c2 + c3) / 4 > 0
    pieces: list[np.ndarray] = []

    def add(mask: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> None:
        if not mask.any():
            return
        for a, b in pairs:
            pa, pb = edge_points[a], edge_points[b]
            seg = np.stack(
                [
                    np.stack([pa[0][mask], pa[1][mask]], -1),
                    np.stack([pb[0][mask], pb[1][mask]], -1),
                ],
                axis=1,
            )
            pieces.append(seg)

    finite = np.isfinite(c0) & np.isfinite(c1) & np.isfinite(c2) & np.isfinite(c3)
    for code, pairs in _SEGMENTS.items():
        add(finite & (case == code), pairs)
    for code, options in _SADDLES.items():
        for centre, pairs in options.items():
            add(finite & (case == code) & (centre_above == centre), pairs)
    if not pieces:
        return np.zeros((0, 2, 2))
    return np.concatenate(pieces)


def nullclines(field: FieldSlice) -> list[Nullcline]:
    """The nullclines of the slice's two components: where dx_a/dt = 0 and dx_b/dt = 0 for
    its axes (a, b)."""
    return [
        Nullcline(channel, zero_contour(field.xs, field.ys, field.rates[..., channel]))
        for channel in field.axes
    ]
