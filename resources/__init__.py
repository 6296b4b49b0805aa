"""What NDE Studio reads at run time: example configs, icons, desktop files (package data,
found through importlib.resources; see ndestudio/core/resources.py)."""
