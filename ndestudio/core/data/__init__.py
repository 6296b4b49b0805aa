"""Datasets: built-in demo systems, data files, and the time-series container they produce."""

from __future__ import annotations

from ndestudio.core.data.checks import DataError, check_training_data
from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.demos import DEMOS, Demo, make_demo
from ndestudio.core.data.files import DataFileError, load_csv
from ndestudio.core.specs import DataSpec


def load_dataset(spec: DataSpec) -> TimeSeriesDataset:
    """The dataset ``spec`` names: a generated demo or a CSV file."""
    if spec.source == "file":
        if not spec.path:
            raise DataFileError("no data file chosen")
        return load_csv(spec.path)
    return make_demo(spec)


__all__ = [
    "DEMOS",
    "DataError",
    "DataFileError",
    "Demo",
    "TimeSeriesDataset",
    "check_training_data",
    "load_csv",
    "load_dataset",
    "make_demo",
]
