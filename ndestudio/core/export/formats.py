"""File formats an export can be written in, behind one interface.

TorchScript is the one implemented (torch 2.13 marks it deprecated but it is the format that
``torch::jit::load`` reads from C++); a ``torch.export`` format would add a class here with its
own ``save`` and its own fresh-process ``runner``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

EXTRA_SPEC = "ndestudio/run_spec.json"
EXTRA_VERSION = "ndestudio/version"
EXTRA_EXPORT = "ndestudio/export.json"

# Runs in a fresh interpreter (python -I): loads the file with torch alone, runs the cases and
# reports which NDE Studio or solver-library modules got imported (there must be none).
_TORCHSCRIPT_RUNNER = f"""
import sys, warnings
warnings.filterwarnings("ignore")
# As on a machine without them: any import of these fails.
for blocked in ("ndestudio", "torchdiffeq", "torchsde", "torchcde"):
    sys.modules[blocked] = None
import torch
torch.set_num_threads(1)
model_path, cases_path, out_path = sys.argv[1:4]
extra = {{"{EXTRA_SPEC}": "", "{EXTRA_VERSION}": ""}}
model = torch.jit.load(model_path, _extra_files=extra)
cases = torch.load(cases_path, weights_only=True)
results = {{}}
for name, case in cases.items():
    out = getattr(model, case["method"])(*case["args"])
    if isinstance(out, tuple):
        results[name] = {{"value": out[0], "nfe": int(out[1])}}
    else:
        results[name] = {{"value": out, "nfe": -1}}
imported = sorted(m for m in ("ndestudio", "torchdiffeq", "torchsde", "torchcde")
                  if sys.modules.get(m) is not None)
results["__meta__"] = {{"imported": imported, "spec_bytes": len(extra["{EXTRA_SPEC}"]),
                       "version": extra["{EXTRA_VERSION}"].decode() if isinstance(
                           extra["{EXTRA_VERSION}"], bytes) else str(extra["{EXTRA_VERSION}"])}}
torch.save(results, out_path)
"""


class ExportFormat(Protocol):
    name: str
    runner: str

    def save(self, module: nn.Module, path: Path, extra_files: dict[str, str]) -> None:
        """Compile ``module`` and write it with ``extra_files`` to ``path``."""


class TorchScriptFormat:
    name = "torchscript"
    runner = _TORCHSCRIPT_RUNNER

    def save(self, module: nn.Module, path: Path, extra_files: dict[str, str]) -> None:
        with warnings.catch_warnings():
            # torch 2.13 warns that TorchScript is deprecated on every script/save call.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.script(module)
            torch.jit.save(scripted, str(path), _extra_files=extra_files)


FORMATS: dict[str, ExportFormat] = {"torchscript": TorchScriptFormat()}
