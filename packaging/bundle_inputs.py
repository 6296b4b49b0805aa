"""What the PyInstaller bundle is built from (read by ndestudio.spec, checked by the tests)."""

from __future__ import annotations

from pathlib import Path

from ndestudio.core.about import LIBRARIES

HERE = Path(__file__).resolve().parent
ENTRY = HERE / "ndestudio_app.py"
NAME = "NDE Studio"
ICON = HERE.parent / "resources" / "icons" / "256x256" / "ndestudio.png"
# Packages whose data files must travel: the program's own resources (configs, icons, desktop
# files), found at run time through importlib.resources.
DATA_PACKAGES = ("ndestudio.resources",)
# TorchScript compiles Python source at run time (export, the fast engine): these packages
# travel as source as well as bytecode.
SOURCE_PACKAGES = ("ndestudio", "torchdiffeq", "torchsde", "torchcde")
# Imported by name at run time (the GUI's lazily loaded core, the readers by format).
HIDDEN_PACKAGES = ("ndestudio",)
# Distributions whose metadata travels: Help ▸ About and `about` read their versions from it
# (and some libraries check their own at run time).
METADATA = ("ndestudio", *(distribution for _, distribution in LIBRARIES))
# Heavy optional packages the app does not need (the sweep extra's Ray is left to pip installs).
EXCLUDES = ("ray", "tensorboard", "aeon", "statsmodels", "tkinter", "IPython", "matplotlib")
