"""Datasets: built-in demo systems and the time-series container they produce."""

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.demos import DEMOS, Demo, make_demo

__all__ = ["DEMOS", "Demo", "TimeSeriesDataset", "make_demo"]
