"""Adaptive torchdiffeq solvers that never lose track of the jumps they were told of.

torchdiffeq 0.2.5 clamps an adaptive step onto the next point of ``jump_t`` only when that
point lies strictly inside the step (``t0 < jump < t0 + dt``). A step that lands *exactly* on
it — common on evenly spaced knots, where an accepted step of one knot spacing proposes the
same step again — is accepted without moving on to the next jump, and from then on every
later jump is ignored: the solver steps across the control path's kinks, and past the end of
the path. (Found as a CDE whose logits moved when missing rows were padded after its end.)

Each solver here is torchdiffeq's own, told of such a landing one ulp early, so that it takes
the step as onto a jump (the same step, evaluated on the jump's near side, the far side's
derivative taken after it). The exported TorchScript solver does the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver

_PREFIX = "ndestudio-jumps-"


def _keeps_jumps(base: type[RKAdaptiveStepsizeODESolver]) -> type[RKAdaptiveStepsizeODESolver]:
    class KeepsJumps(base):
        def _adaptive_step(self, rk_state: Any) -> Any:
            if len(self.jump_t):
                t0, dt = rk_state.t1, rk_state.dt
                if torch.isfinite(dt):
                    dt = dt.clamp(self.min_step, self.max_step)
                    jump = self.jump_t[self.next_jump_index]
                    if t0 < jump and t0 + dt == jump:
                        far = torch.tensor(float("inf"), dtype=dt.dtype, device=dt.device)
                        while not t0 + dt > jump:
                            dt = torch.nextafter(dt, far)
                        rk_state = rk_state._replace(dt=dt)
            return super()._adaptive_step(rk_state)

    KeepsJumps.__name__ = KeepsJumps.__qualname__ = f"{base.__name__}KeepsJumps"
    return KeepsJumps


def _register() -> dict[str, str]:
    names = {}
    for name, solver in list(SOLVERS.items()):
        if isinstance(solver, type) and issubclass(solver, RKAdaptiveStepsizeODESolver):
            if name.startswith(_PREFIX):
                continue
            SOLVERS[_PREFIX + name] = _keeps_jumps(solver)
            names[name] = _PREFIX + name
    return names


JUMP_SAFE = _register()


def jump_safe(method: str) -> str:
    """The name under which torchdiffeq runs ``method`` keeping its jumps (itself if fixed-step)."""
    return JUMP_SAFE.get(method, method)
