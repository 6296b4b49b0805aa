"""Device, dtype and thread policy, and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from ndestudio.core.errors import UserError

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DeviceError(UserError, RuntimeError):
    """A device that this machine does not have."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks the first CUDA device when one is usable, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(
            f"device {name!r} is not a device name: use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} was asked for, but CUDA is not available here")
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise DeviceError(
            f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


def resolve_dtype(name: str) -> torch.dtype:
    return _DTYPES[name]


def set_threads(n: int) -> None:
    """Set torch's CPU thread count deliberately.

    On small 2-core machines one thread was never slower for these small models, and two
    threads collapsed about 100x when another process held a core.
    """
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
