"""A neural CDE's output for a series cannot depend on missing rows padded after its end.

Series of different lengths share one grid, the shorter ones padded with NaN rows (as a file
of irregular series, or JapaneseVowels, gives them). The control path, the time channel and
the observation counts included, must stop at each series' last observation — in training and
in the exported file alike.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ndestudio.core.data import TimeSeriesDataset
from ndestudio.core.export import ExportOptions, export_checkpoint
from ndestudio.core.specs import SolverSpec
from ndestudio.core.training import Trainer
from tests.conftest import small_spec

LENGTHS = (5, 9, 14, 20)  # observations of each test series; the grid has 20 times


def _dataset(rng: np.random.Generator, n: int = 24, times: int = 20) -> TimeSeriesDataset:
    """Two classes of noisy curves on the integer times 0…19, some rows missing."""
    t = np.arange(times, dtype=np.float64)
    labels = rng.integers(0, 2, n)
    freq = np.where(labels == 0, 0.3, 0.6)[:, None]
    values = np.stack(
        [np.sin(freq * t), np.cos(freq * t) * 0.5], axis=-1
    ) + 0.05 * rng.standard_normal((n, times, 2))
    values[rng.random(values.shape) < 0.15] = np.nan
    values[:, 0] = np.nan_to_num(values[:, 0])
    return TimeSeriesDataset(
        name="curves",
        family="cde",
        times=t,
        values=values,
        channel_names=["x", "y"],
        labels=labels,
        class_names=["slow", "fast"],
    )


def _write_csv(data: TimeSeriesDataset, path: Path) -> None:
    lines = ["series,time,x,y,label"]
    for s in range(data.n_series):
        label = data.class_names[int(data.labels[s])]
        for k, t in enumerate(data.times):
            x, y = ("" if np.isnan(v) else repr(float(v)) for v in data.values[s, k])
            lines.append(f"s{s},{float(t)!r},{x},{y},{label}")
    path.write_text("\n".join(lines) + "\n")


def _trainer(kind: str, method: str, folder: Path | None = None) -> Trainer:
    """A CDE classifier trained briefly on :func:`_dataset` (from a CSV file in ``folder``,
    so that an export can read the training data again)."""
    spec = small_spec("cde", iterations=6, eval_every=6, dtype="float64")
    data = _dataset(np.random.default_rng(0))
    if folder is not None:
        _write_csv(data, folder / "curves.csv")
        spec.data = dataclasses.replace(spec.data, source="file", path=str(folder / "curves.csv"))
    spec.model.cde = dataclasses.replace(
        spec.model.cde, interpolation=kind, time_channel=True, mask_channels=True
    )
    spec.solver = (
        SolverSpec(method="dopri5", rtol=1e-6, atol=1e-8)
        if method == "dopri5"
        else SolverSpec(method="rk4", step_size=0.5)
    )
    trainer = Trainer(spec, None if folder is not None else data)
    for _ in trainer.run():
        pass
    return trainer


def _series(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Test series of LENGTHS observations on the grid 0…19, NaN after each one's end."""
    values = _dataset(rng, n=len(LENGTHS)).values.copy()
    for s, length in enumerate(LENGTHS):
        values[s, length:] = np.nan
    return values, np.arange(20, dtype=np.float64)


def _padded(values: np.ndarray, times: np.ndarray, extra: int) -> tuple[np.ndarray, np.ndarray]:
    """``extra`` NaN rows appended at new times after the grid's end."""
    pad = np.full((values.shape[0], extra, values.shape[2]), np.nan)
    later = times[-1] + np.arange(1, extra + 1) * 1.0
    return np.concatenate([values, pad], axis=1), np.concatenate([times, later])


@pytest.mark.parametrize("kind", ["hermite", "linear", "rectilinear"])
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_padding_after_a_series_end_leaves_its_logits_unchanged(kind: str, method: str) -> None:
    trainer = _trainer(kind, method)
    task = trainer.task
    values, times = _series(np.random.default_rng(1))
    with torch.no_grad():
        batch = task.outputs_of(values, times).numpy()
        for extra in (1, 7):
            padded = task.outputs_of(*_padded(values, times, extra)).numpy()
            np.testing.assert_allclose(padded, batch, rtol=0, atol=1e-12)
        for s, length in enumerate(LENGTHS):
            # Alone, on nothing but its own observations: the same logits as padded.
            alone = task.outputs_of(values[s : s + 1, :length], times[:length]).numpy()
            padded_alone = task.outputs_of(values[s : s + 1], times).numpy()
            np.testing.assert_allclose(padded_alone, alone, rtol=0, atol=1e-12)
    assert np.abs(batch[0] - batch[-1]).max() > 1e-3  # the outputs do depend on the series


@pytest.mark.parametrize("kind", ["hermite", "linear", "rectilinear"])
def test_the_exported_file_ignores_padding_too(tmp_path, kind: str) -> None:
    trainer = _trainer(kind, "dopri5", tmp_path)
    ckpt = trainer.save(tmp_path / "run.ckpt")
    out = tmp_path / "cde.pt"
    report = export_checkpoint(ckpt, out, ExportOptions())
    assert report.cases and all(case.passed for case in report.cases), report.summary()
    model = torch.jit.load(str(out))
    values, times = _series(np.random.default_rng(2))
    x, t = torch.as_tensor(values), torch.as_tensor(times)
    base = model(x, t)
    for extra in (1, 5):
        xp, tp = _padded(values, times, extra)
        torch.testing.assert_close(
            model(torch.as_tensor(xp), torch.as_tensor(tp)), base, rtol=0, atol=1e-12
        )
    with torch.no_grad():
        eager = trainer.task.outputs_of(values, times)
    torch.testing.assert_close(base, eager, rtol=0, atol=1e-9)
