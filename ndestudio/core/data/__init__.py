"""Datasets: built-in demo systems, data files, datasets that ship in packages, and the
time-series container they produce."""

from __future__ import annotations

from ndestudio.core.data.checks import DataError, check_test_data, check_training_data
from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.demos import DEMOS, Demo, make_demo
from ndestudio.core.data.files import DataFileError, LoadCancelled, load_csv, load_file
from ndestudio.core.data.readers.common import Progress  # share read → False cancels
from ndestudio.core.specs import DataSpec


def load_dataset(
    spec: DataSpec, split: str = "train", progress: Progress | None = None
) -> TimeSeriesDataset:
    """The series ``spec`` names: a generated demo, a data file, or a packaged dataset.

    ``split`` "train" gives the training data (validation is split off it later); "test" the
    held-out test set ``spec.test`` names (a :class:`DataFileError` when it names none).
    """
    if split == "test":
        if spec.test == "file":
            if not spec.test_path:
                raise DataFileError("no test file chosen (data.test_path)")
            return load_file(spec.test_path, spec.format, progress=progress)
        if spec.test == "split":
            from ndestudio.core.data.packaged import load_packaged

            return load_packaged(spec.name, "test")
        raise DataFileError("the run has no test set (data.test is 'none')")
    if spec.source == "file":
        if not spec.path:
            raise DataFileError("no data file chosen")
        return load_file(spec.path, spec.format, progress=progress)
    if spec.source == "dataset":
        from ndestudio.core.data.packaged import load_packaged

        return load_packaged(spec.name, "train")
    return make_demo(spec)


__all__ = [
    "DEMOS",
    "DataError",
    "DataFileError",
    "Demo",
    "LoadCancelled",
    "Progress",
    "TimeSeriesDataset",
    "check_test_data",
    "check_training_data",
    "load_csv",
    "load_dataset",
    "load_file",
    "make_demo",
]
