"""Assemble the exportable module of a trained task: copies of its networks, the solver the
user chose, and the statistics that map data units to the model's normalised units."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ndestudio.core.export.modules import ExportedCDE, ExportedODE, ExportedSDE
from ndestudio.core.export.script_fields import (
    AffineNoise,
    BoundedDiffusion,
    CDEPathField,
    MLPField,
    TimeOnlyField,
)
from ndestudio.core.export.script_sde import SDEFields, SDESolver
from ndestudio.core.export.script_solvers import ODESolver
from ndestudio.core.models import MLP, LatentSDE, NeuralCDE, NeuralODE, NeuralSDE, VectorField
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training.tasks import CDETask, LatentSDETask, SDEGANTask, Task


def _field(vf: VectorField) -> MLPField:
    return MLPField(copy.deepcopy(vf.mlp.net), vf.time_input)


def _ode_solver(field: nn.Module, solver: SolverSpec) -> ODESolver:
    return ODESolver(
        field,
        solver.method,
        rtol=float(solver.rtol),
        atol=float(solver.atol),
        step_size=float(solver.step_size or 0.0),
        min_step=float(solver.min_step or 0.0),
        max_num_steps=int(solver.max_num_steps or 2**31 - 1),
    )


def build_module(task: Task, solver: SolverSpec) -> nn.Module:
    """An eager module, ready for ``torch.jit.script``, that solves as ``task.model`` does."""
    family = task.spec.model.family
    if family == "ode":
        model = task.model
        assert isinstance(model, NeuralODE)
        module: nn.Module = ExportedODE(
            _ode_solver(_field(model.field), solver), model.loc, model.scale
        )
    elif family == "cde":
        assert isinstance(task, CDETask) and isinstance(task.model, NeuralCDE)
        model_cde = task.model
        cde = task.spec.model.cde
        field = CDEPathField(
            copy.deepcopy(model_cde.func.mlp.net),
            model_cde.func.time_input,
            model_cde.hidden,
            model_cde.channels,
            cde.interpolation,
        )
        outputs = model_cde.readout.out_features
        if task.classification:
            out_loc, out_scale = torch.zeros(outputs), torch.ones(outputs)
        else:
            out_loc, out_scale = task.tensor(task.target_loc), task.tensor(task.target_scale)
        times = task.data.times
        module = ExportedCDE(
            _ode_solver(field, solver),
            copy.deepcopy(model_cde.initial),
            copy.deepcopy(model_cde.readout),
            loc=torch.as_tensor(task.loc, dtype=torch.float64),
            scale=torch.as_tensor(task.scale, dtype=torch.float64),
            out_loc=out_loc.to(task.dtype),
            out_scale=out_scale.to(task.dtype),
            kind=cde.interpolation,
            time_channel=cde.time_channel,
            mask_channels=cde.mask_channels,
            time_origin=float(times[0]),
            time_span=float(times[-1] - times[0]),
            count_scale=float(len(times)),
        )
    elif isinstance(task, LatentSDETask):
        latent = task.model
        assert isinstance(latent, LatentSDE)
        fields_l = latent.fields
        sde_fields = SDEFields(
            _field(fields_l.prior),
            BoundedDiffusion(_field(fields_l.diffusion)),
            "diagonal",
            latent.hidden,
            latent.hidden,
        )
        module = ExportedSDE(
            SDESolver(sde_fields, solver.method, float(solver.step_size or 0.0)),
            AffineNoise(latent.prior_mean, latent.prior_logstd.exp()),
            copy.deepcopy(latent.readout),
            latent.loc,
            latent.scale,
            latent.hidden,
        )
    else:
        assert isinstance(task, SDEGANTask)
        gen: NeuralSDE = task.average
        fields = gen.fields
        diffusion: nn.Module
        if fields.noise_type == "additive":
            assert isinstance(fields.diffusion, MLP)
            diffusion = TimeOnlyField(copy.deepcopy(fields.diffusion.net))
        else:
            assert isinstance(fields.diffusion, VectorField)
            diffusion = _field(fields.diffusion)
        sde_fields = SDEFields(
            _field(fields.drift), diffusion, fields.noise_type, fields.hidden, fields.brownian_size
        )
        module = ExportedSDE(
            SDESolver(sde_fields, solver.method, float(solver.step_size or 0.0)),
            copy.deepcopy(gen.initial),
            copy.deepcopy(gen.readout),
            gen.loc,
            gen.scale,
            gen.noise_size,
        )
    module = module.to("cpu").eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
