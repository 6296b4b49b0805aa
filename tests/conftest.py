"""Shared helpers: small run specs that train in seconds on two CPU cores."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ndestudio.core.specs import (
    CDESpec,
    DataSpec,
    ModelSpec,
    NetworkSpec,
    RunSpec,
    SDESpec,
    SolverSpec,
    TrainSpec,
)


def small_spec(family: str = "ode", **train_overrides: object) -> RunSpec:
    if family == "ode":
        spec = RunSpec(
            model=ModelSpec(
                family="ode", network=NetworkSpec(width=32, depth=2, activation="tanh")
            ),
            solver=SolverSpec(method="dopri5", rtol=1e-3, atol=1e-6),
            data=DataSpec(name="spiral", n_series=32, n_times=40),
            train=TrainSpec(iterations=20, batch_size=8, window=10, lr=1e-2, eval_every=10),
        )
    elif family == "cde":
        spec = RunSpec(
            model=ModelSpec(
                family="cde",
                network=NetworkSpec(width=32, depth=1, activation="softplus", final_tanh=True),
                cde=CDESpec(hidden_size=8),
            ),
            solver=SolverSpec(method="rk4", step_size=0.5),
            data=DataSpec(name="spirals", n_series=64, n_times=24, drop_fraction=0.3),
            train=TrainSpec(iterations=20, batch_size=16, lr=1e-2, eval_every=10),
        )
    else:
        spec = RunSpec(
            model=ModelSpec(
                family="sde",
                network=NetworkSpec(width=16, depth=1, activation="lipswish"),
                sde=SDESpec(hidden_size=8, discriminator_hidden_size=8),
            ),
            solver=SolverSpec(method="reversible_heun", step_size=1 / 16, gradient="reversible"),
            data=DataSpec(name="brownian", n_series=64, n_times=17, noise=0.0),
            train=TrainSpec(iterations=20, batch_size=16, lr=1e-3, eval_every=10),
        )
    for key, value in train_overrides.items():
        setattr(spec.train, key, value)
    return spec


def refused_load(path, format: str = "auto") -> str:
    """The message with which ``load_file`` refuses ``path`` (it must name the file)."""
    from ndestudio.core.data import DataFileError, load_file

    with pytest.raises(DataFileError) as info:
        load_file(path, format)
    message = str(info.value)
    assert str(path) in message
    return message


def classes_csv(ds, rows, path: Path, names=None) -> Path:
    """Rows ``rows`` of a labelled dataset ``ds`` as a long-form CSV file, class k written as
    ``names[k]`` (default: the dataset's class names)."""
    names = names or ds.class_names
    lines = ["series,time," + ",".join(ds.channel_names) + ",label"]
    for s in rows:
        for t, time in enumerate(ds.times):
            if np.isnan(ds.values[s, t]).all():
                continue
            cells = ["" if np.isnan(v) else repr(float(v)) for v in ds.values[s, t]]
            lines.append(",".join([f"s{s}", repr(float(time)), *cells, names[ds.labels[s]]]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _quiet_library_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="torchsde")
        warnings.filterwarnings("ignore", category=UserWarning, module="torchdiffeq")
        yield
