"""A vector field with the normalisation it is solved in: the object the inspectors work on.

A neural ODE learns ``dy/dt = f_θ(t, y)`` in normalised coordinates ``y = (x - loc) / scale``;
in the data's units its field is ``dx/dt = scale · f_θ(t, (x - loc) / scale)``. A
:class:`Dynamics` holds such a normalised field with its ``loc`` and ``scale`` and the solver
spec to integrate it with, so that the learned field of a model, the true field of a demo,
or any callable ``x ↦ dx/dt`` injected in its place are inspected the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ndestudio.core.data.demos import true_field
from ndestudio.core.specs import SolverSpec

if TYPE_CHECKING:
    from ndestudio.core.training.trainer import Trainer

StateFunction = Callable[[torch.Tensor], torch.Tensor]
"""An autonomous vector field in the data's units: states (..., C) → dx/dt (..., C)."""


class _Normalised(nn.Module):
    """``g(t, y) = fn(y · scale + loc) / scale``: a data-units field in normalised units."""

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, fn: StateFunction, loc: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        self.register_buffer("loc", loc)
        self.register_buffer("scale", scale)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(y * self.scale + self.loc) / self.scale


@dataclass
class Dynamics:
    """``field(t, y)`` in normalised units, ``loc``/``scale`` (C,) mapping them to the data's,
    and the ``solver`` that integrates it; all tensors of one dtype (float64 by default).

    ``names`` label the channels. Build one with :func:`learned_dynamics`,
    :func:`true_dynamics` or :meth:`from_function`.
    """

    field: nn.Module
    loc: torch.Tensor
    scale: torch.Tensor
    solver: SolverSpec
    names: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return int(self.loc.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.loc.dtype

    def tensor(self, x: np.ndarray | torch.Tensor | list[float] | float) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.loc.dtype, device=self.loc.device)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale

    def denormalise(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.loc

    def rate(self, x: torch.Tensor, t: float = 0.0) -> torch.Tensor:
        """dx/dt in the data's units at states ``x`` (..., C) in the data's units."""
        tt = torch.tensor(t, dtype=self.dtype, device=self.loc.device)
        return self.field(tt, self.normalise(x)) * self.scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.rate(x)

    @classmethod
    def from_function(
        cls,
        fn: StateFunction,
        loc: np.ndarray | torch.Tensor,
        scale: np.ndarray | torch.Tensor,
        solver: SolverSpec,
        *,
        names: tuple[str, ...] = (),
        dtype: torch.dtype = torch.float64,
    ) -> Dynamics:
        """Any field ``fn`` (data units → dx/dt) solved in the normalisation ``loc``/``scale``:
        the true field of a system, or a stand-in for the learned one."""
        loc_t = torch.as_tensor(loc, dtype=dtype)
        scale_t = torch.as_tensor(scale, dtype=dtype)
        return cls(_Normalised(fn, loc_t, scale_t), loc_t, scale_t, solver, names)


def learned_dynamics(
    trainer: Trainer, *, dtype: torch.dtype | None = torch.float64, copy_weights: bool = True
) -> Dynamics:
    """The learned field of a neural ODE trainer, with its normalisation and solver.

    ``copy_weights``: work on a copy of the field (training may go on meanwhile) in
    ``dtype`` (None: the model's); without it, on the model's own field and dtype. Raises
    ``TypeError`` for other families (their fields live in a hidden space, not the data's)."""
    from ndestudio.core.models import NeuralODE

    model = trainer.model
    if not isinstance(model, NeuralODE):
        raise TypeError(f"a {trainer.spec.model.family} model has no vector field in data space")
    field: nn.Module = model.field
    loc, scale = model.loc.detach(), model.scale.detach()
    if copy_weights:
        target = dtype or loc.dtype
        field = copy.deepcopy(field).to(target).requires_grad_(False)
        loc, scale = loc.to(target, copy=True), scale.to(target, copy=True)
    return Dynamics(field, loc, scale, copy.deepcopy(trainer.spec.solver), _names(trainer))


def true_dynamics(trainer: Trainer, *, dtype: torch.dtype = torch.float64) -> Dynamics | None:
    """The true field of the trainer's demo system in the model's normalisation and with its
    solver, or None when the data have no known equations."""
    data = trainer.spec.data
    fn = true_field(data.name) if data.source == "demo" else None
    if fn is None or trainer.spec.model.family != "ode":
        return None
    task = trainer.task
    return Dynamics.from_function(
        fn,
        task.loc,
        task.scale,
        copy.deepcopy(trainer.spec.solver),
        names=_names(trainer),
        dtype=dtype,
    )


def _names(trainer: Trainer) -> tuple[str, ...]:
    return tuple(trainer.dataset.channel_names)
