"""Multilayer perceptrons used as vector fields, initial maps and discriminators."""

from __future__ import annotations

import torch
from torch import nn

from ndestudio.core.specs import NetworkSpec


class LipSwish(nn.Module):
    """``0.909 * x * sigmoid(x)``: a Lipschitz-1 SiLU, as used for SDE-GAN discriminators."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.909 * torch.nn.functional.silu(x)


def activation(name: str) -> nn.Module:
    return {
        "tanh": nn.Tanh,
        "softplus": nn.Softplus,
        "relu": nn.ReLU,
        "silu": nn.SiLU,
        "lipswish": LipSwish,
    }[name]()


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units; optional final tanh and zero last layer."""

    def __init__(self, in_size: int, out_size: int, spec: NetworkSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = in_size
        for _ in range(spec.depth):
            layers += [nn.Linear(size, spec.width), activation(spec.activation)]
            size = spec.width
        last = nn.Linear(size, out_size)
        if spec.zero_init_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        if spec.final_tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class VectorField(nn.Module):
    """``f(t, y)``: an MLP on the state, with the time as an extra input when asked."""

    def __init__(self, state_size: int, out_size: int, spec: NetworkSpec) -> None:
        super().__init__()
        self.time_input = spec.time_input
        self.mlp = MLP(state_size + int(spec.time_input), out_size, spec)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.time_input:
            y = torch.cat([t.expand(*y.shape[:-1], 1).to(y), y], dim=-1)
        return self.mlp(y)
