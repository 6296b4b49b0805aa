"""The Butcher tableaus of the fast engine's methods (and of the exported file's dopri5), as
torchdiffeq defines them.

Stage ``i`` (from 1) is evaluated at ``y0 + dt * sum(a[i - 1][j] * k[j])``; ``k[0]`` is
``f(y0)``, carried over from the previous step's last stage for the first-same-as-last
(FSAL) adaptive methods, for which the last stage's input is the step's result.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tableau:
    order: int
    a: tuple[tuple[float, ...], ...]  # the rows of stages 1, 2, …
    b: tuple[float, ...]  # result weights (fixed-step methods; FSAL ones use a[-1])
    c: tuple[float, ...] = ()  # the times of stages 1, 2, … as fractions of the step
    adaptive: bool = False
    error: tuple[float, ...] = ()  # error-estimate weights, one per stage
    mid: tuple[float, ...] = ()  # weights of the dense output's mid-point, one per stage

    @property
    def stages(self) -> int:
        return len(self.a) + 1


_DOPRI5_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)

TABLEAUS: dict[str, Tableau] = {
    "euler": Tableau(order=1, a=(), b=(1.0,)),
    "midpoint": Tableau(order=2, a=((0.5,),), b=(0.0, 1.0), c=(0.5,)),
    "heun2": Tableau(order=2, a=((1.0,),), b=(0.5, 0.5), c=(1.0,)),
    "heun3": Tableau(order=3, a=((1 / 3,), (0.0, 2 / 3)), b=(0.25, 0.0, 0.75), c=(1 / 3, 2 / 3)),
    # torchdiffeq's rk4 is the 3/8 rule (rk4_alt_step_func).
    "rk4": Tableau(
        order=4,
        a=((1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)),
        b=(0.125, 0.375, 0.375, 0.125),
        c=(1 / 3, 2 / 3, 1.0),
    ),
    "bosh3": Tableau(
        order=3,
        a=((1 / 2,), (0.0, 3 / 4), (2 / 9, 1 / 3, 4 / 9)),
        b=(),
        c=(1 / 2, 3 / 4, 1.0),
        adaptive=True,
        error=(2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8),
        mid=(0.0, 0.5, 0.0, 0.0),
    ),
    "dopri5": Tableau(
        order=5,
        a=(
            (1 / 5,),
            (3 / 40, 9 / 40),
            (44 / 45, -56 / 15, 32 / 9),
            (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
            (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
            _DOPRI5_B,
        ),
        b=(),
        c=(1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
        adaptive=True,
        error=(
            35 / 384 - 1951 / 21600,
            0.0,
            500 / 1113 - 22642 / 50085,
            125 / 192 - 451 / 720,
            -2187 / 6784 - -12231 / 42400,
            11 / 84 - 649 / 6300,
            -1.0 / 60.0,
        ),
        mid=(
            6025192743 / 30085553152 / 2,
            0.0,
            51252292925 / 65400821598 / 2,
            -2691868925 / 45128329728 / 2,
            187940372067 / 1594534317056 / 2,
            -1776094331 / 19743644256 / 2,
            11237099 / 235043384 / 2,
        ),
    ),
}
