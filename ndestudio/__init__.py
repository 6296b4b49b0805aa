"""NDE Studio: build, train, inspect and export neural differential equations."""

__version__ = "0.1.0"
