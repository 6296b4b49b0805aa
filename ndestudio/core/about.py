"""What NDE Studio runs on: its version and those of Python, PyTorch (with the CUDA device),
the solver libraries and the Qt stack — for Help ▸ About, ``ndestudio about`` and bug reports.

Versions come from the installed distributions' metadata, so listing them imports neither
torch nor Qt; the CUDA device is asked of torch only once something else has imported it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from ndestudio import __version__

# (label, distribution name) in the order they are shown.
LIBRARIES = (
    ("PyTorch", "torch"),
    ("torchdiffeq", "torchdiffeq"),
    ("torchsde", "torchsde"),
    ("torchcde", "torchcde"),
    ("PySide6", "PySide6"),
    ("pyqtgraph", "pyqtgraph"),
)


def installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def cuda_device(load_torch: bool = False) -> str:
    """The CUDA device training would use, or why there is none. Without ``load_torch`` torch
    is not imported here (it takes seconds): before it is loaded the answer says so."""
    torch = sys.modules.get("torch")
    if torch is None and load_torch:
        import torch
    if torch is None:
        return "not checked yet (PyTorch is still loading)"
    if not torch.cuda.is_available():
        built = torch.version.cuda
        return "none (a CPU-only build of PyTorch)" if built is None else "none found"
    index = torch.cuda.current_device()
    return f"{torch.cuda.get_device_name(index)} (CUDA {torch.version.cuda})"


def versions(load_torch: bool = False) -> list[tuple[str, str]]:
    """(what, version) rows: NDE Studio, Python, the libraries, the CUDA device."""
    rows = [
        ("NDE Studio", __version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
    ]
    rows += [(label, installed_version(dist)) for label, dist in LIBRARIES]
    rows.append(("CUDA device", cuda_device(load_torch)))
    return rows
