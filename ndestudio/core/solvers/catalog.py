"""The catalog of every solver the installed torchdiffeq and torchsde provide.

Entries are read from the libraries themselves (class, order, fixed or adaptive) so that a
newer release's methods appear without code changes; what NDE Studio adds is which gradient
methods each one supports and a one-line description for tooltips.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ndestudio.core.specs import SolverSpec

GRADIENT_LABELS = {
    "backprop": "backpropagate through the solver (exact for the discretisation, memory grows "
    "with the number of steps)",
    "adjoint": "continuous adjoint (memory independent of the step count, gradient accurate to "
    "the solver tolerance)",
    "adjoint_seminorm": "adjoint with the seminorm step control (fewer backward steps)",
    "reversible": "reversible Heun with its exact, memory-free adjoint (Stratonovich SDEs)",
}

_ODE_NOTES = {
    "dopri5": "Dormand–Prince 5(4): the general-purpose default",
    "dopri8": "Dormand–Prince 8(7): for tight tolerances",
    "bosh3": "Bogacki–Shampine 3(2): cheap steps for loose tolerances",
    "fehlberg2": "Runge–Kutta–Fehlberg 2(1): very cheap, loose tolerances only",
    "adaptive_heun": "Heun 2(1) with step control",
    "euler": "explicit Euler: first order, fixed step",
    "midpoint": "explicit midpoint: second order, fixed step",
    "heun2": "Heun's method: second order, fixed step",
    "heun3": "Heun's third-order method, fixed step",
    "rk4": "classical Runge–Kutta (3/8 rule): fourth order, fixed step",
    "explicit_adams": "Adams–Bashforth multistep, fixed step",
    "implicit_adams": "Adams–Bashforth–Moulton predictor–corrector, fixed step",
    "fixed_adams": "Adams–Bashforth–Moulton with a fixed number of corrector iterations",
}

_SDE_NOTES = {
    "euler": "Euler–Maruyama (Itô): the simple default for Itô SDEs",
    "milstein": "Milstein: strong order 1 for diagonal, scalar or additive noise",
    "srk": "stochastic Runge–Kutta (Itô): strong order 1.5, diagonal/scalar/additive noise",
    "midpoint": "stochastic midpoint (Stratonovich)",
    "heun": "stochastic Heun (Stratonovich)",
    "euler_heun": "Euler–Heun (Stratonovich)",
    "log_ode": "log-ODE midpoint (Stratonovich), uses Lévy area",
    "reversible_heun": "reversible Heun (Stratonovich): exact memory-free adjoint, 1 drift "
    "evaluation per step",
}

# Methods that cannot train: they compute in NumPy, outside autograd.
_UNTRAINABLE_ODE = {"scipy_solver"}


@dataclass(frozen=True)
class MethodInfo:
    name: str
    family: str  # "ode" (also used for CDEs) or "sde"
    adaptive: bool
    order: float
    gradients: tuple[str, ...]
    description: str
    sde_types: tuple[str, ...] = ()
    noise_types: tuple[str, ...] = ()


def _ode_methods() -> dict[str, MethodInfo]:
    odeint_module = importlib.import_module("torchdiffeq._impl.odeint")
    fixed_base = importlib.import_module("torchdiffeq._impl.solvers").FixedGridODESolver
    out = {}
    for name, cls in odeint_module.SOLVERS.items():
        if name in _UNTRAINABLE_ODE:
            continue
        adaptive = not issubclass(cls, fixed_base)
        gradients = (
            ("backprop", "adjoint", "adjoint_seminorm") if adaptive else ("backprop", "adjoint")
        )
        out[name] = MethodInfo(
            name=name,
            family="ode",
            adaptive=adaptive,
            order=float(getattr(cls, "order", 1)),
            gradients=gradients,
            description=_ODE_NOTES.get(name, cls.__name__),
        )
    return out


def _sde_methods() -> dict[str, MethodInfo]:
    methods = importlib.import_module("torchsde._core.methods")
    settings = importlib.import_module("torchsde.settings")
    out = {}
    for name in settings.METHODS.all():
        if name == settings.METHODS.adjoint_reversible_heun:
            continue  # the backward half of reversible Heun, not a method of its own
        sde_types, noise_types, orders = [], set(), []
        for sde_type in settings.SDE_TYPES.all():
            cls = methods.select(name, sde_type)
            if cls.sde_type != sde_type:
                continue
            sde_types.append(sde_type)
            noise_types.update(cls.noise_types)
            order = getattr(cls, "strong_order", None)
            # Some methods set their order per noise type at construction: 0.5 at worst.
            orders.append(float(order) if isinstance(order, int | float) else 0.5)
        reversible = name == settings.METHODS.reversible_heun
        out[name] = MethodInfo(
            name=name,
            family="sde",
            adaptive=False,
            order=min(orders),
            gradients=("backprop", "reversible") if reversible else ("backprop", "adjoint"),
            description=_SDE_NOTES.get(name, name),
            sde_types=tuple(sde_types),
            noise_types=tuple(sorted(noise_types)),
        )
    return out


ODE_METHODS: dict[str, MethodInfo] = _ode_methods()
SDE_METHODS: dict[str, MethodInfo] = _sde_methods()


def methods_for(family: str) -> dict[str, MethodInfo]:
    """Methods valid for a model family: CDEs are solved as ODEs driven by a control path."""
    return SDE_METHODS if family == "sde" else ODE_METHODS


def check_solver(
    family: str,
    spec: SolverSpec,
    *,
    sde_type: str | None = None,
    noise_type: str | None = None,
) -> list[str]:
    """Every reason ``spec`` cannot solve a model of ``family``, in words a user can act on."""
    catalog = methods_for(family)
    info = catalog.get(spec.method)
    if info is None:
        return [
            f"method {spec.method!r} is not available for {family.upper()} models; "
            f"choose one of {', '.join(catalog)}"
        ]
    p: list[str] = []
    if not info.adaptive and (spec.step_size is None or not spec.step_size > 0):
        p.append(f"method {spec.method!r} is fixed-step: set step_size (> 0)")
    if info.adaptive:
        if not spec.rtol > 0 or not spec.atol > 0:
            p.append(f"tolerances must be > 0, got rtol={spec.rtol}, atol={spec.atol}")
        if spec.min_step is not None and spec.min_step < 0:
            p.append(f"min_step must be ≥ 0, got {spec.min_step}")
    if spec.max_num_steps is not None and spec.max_num_steps < 1:
        p.append(f"max_num_steps must be ≥ 1, got {spec.max_num_steps}")
    if spec.gradient not in info.gradients:
        p.append(
            f"gradient method {spec.gradient!r} is not available with {spec.method!r}; "
            f"choose one of {', '.join(info.gradients)}"
        )
    if sde_type is not None and info.sde_types and sde_type not in info.sde_types:
        p.append(
            f"method {spec.method!r} solves {' and '.join(info.sde_types)} SDEs, "
            f"but the SDE type is {sde_type!r}"
        )
    if noise_type is not None and info.noise_types and noise_type not in info.noise_types:
        p.append(
            f"method {spec.method!r} supports {', '.join(info.noise_types)} noise, "
            f"not {noise_type!r}"
        )
    return p
