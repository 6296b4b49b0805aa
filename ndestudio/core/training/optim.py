"""Optimisers and learning-rate schedules named in ``TrainSpec``."""

from __future__ import annotations

import torch

from ndestudio.core.specs import TrainSpec


def make_optimizer(spec: TrainSpec, groups: list[dict]) -> torch.optim.Optimizer:
    betas = (spec.betas[0], spec.betas[1]) if spec.betas else (0.9, 0.999)
    if spec.optimizer == "adam":
        return torch.optim.Adam(groups, lr=spec.lr, betas=betas, weight_decay=spec.weight_decay)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, betas=betas, weight_decay=spec.weight_decay)
    return torch.optim.SGD(groups, lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)


def make_schedule(
    spec: TrainSpec, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    n = spec.iterations
    if spec.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n)
    if spec.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, n // 3), gamma=0.1)
    if spec.schedule == "exponential":
        # Decays the learning rate a hundredfold over the run.
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.01 ** (1 / n))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
