"""Irregularly sampled series: each solved on its own times, windows of its own observations.

Issue 11 (items 3 and 4): on series that share no time grid, a window used to be cut from
the union of all times (one or two real observations per series: training loss 1e-3…1e-8,
validation 5.6), and a whole-series step solved every series at every union time.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from ndestudio.core import events as ev
from ndestudio.core.data import DataError, TimeSeriesDataset, check_training_data, load_csv
from ndestudio.core.models.mlp import VectorField
from ndestudio.core.solvers import Probe, SolveStats, solve_ode
from ndestudio.core.specs import DataSpec, ModelSpec, NetworkSpec, RunSpec, SolverSpec, TrainSpec
from ndestudio.core.training import Trainer

# Per-series solves ---------------------------------------------------------------------------

H = 0.05  # rk4's step; the test times sit on each series' own step grid


def _field() -> VectorField:
    torch.manual_seed(0)
    net = NetworkSpec(width=16, depth=2, activation="tanh", time_input=True)
    return VectorField(2, 2, net).double()


def _times() -> tuple[torch.Tensor, list[int]]:
    """Three series starting at different times, on multiples of H from their start; the
    second has 3 observations, padded with its last time."""
    starts = torch.tensor([0.0, 0.35, 1.1], dtype=torch.float64)
    steps = torch.tensor([[0, 3, 4, 9, 20], [0, 7, 12, 12, 12], [0, 1, 5, 6, 16]])
    return starts[:, None] + H * steps.double(), [5, 3, 5]


def _spec(method: str, gradient: str) -> SolverSpec:
    if method == "rk4":
        return SolverSpec(method="rk4", step_size=H, gradient=gradient)
    return SolverSpec(method=method, rtol=1e-9, atol=1e-10, gradient=gradient)


def _alone(field: VectorField, y0: torch.Tensor, t: torch.Tensor, counts: list[int], method: str):
    """Each series solved by itself on its own times (backprop), padded like a batch."""
    out = []
    for i, n in enumerate(counts):
        y = solve_ode(field, y0[i : i + 1], t[i, :n], _spec(method, "backprop"))[:, 0]
        out.append(torch.cat([y, y[-1:].expand(t.shape[1] - n, -1)]))
    return torch.stack(out, dim=1)


CASES = [
    ("dopri5", "backprop"),
    ("dopri5", "adjoint"),
    ("dopri5", "adjoint_seminorm"),
    ("rk4", "backprop"),
    ("rk4", "adjoint"),
]


@pytest.mark.parametrize(("method", "gradient"), CASES)
def test_a_batch_on_per_series_times_equals_each_series_solved_alone(method, gradient):
    field = _field()
    t, counts = _times()
    y0 = torch.tensor([[1.0, 0.0], [0.3, -0.8], [-0.5, 0.5]], dtype=torch.float64)

    y0_batch = y0.clone().requires_grad_(True)
    batch = solve_ode(field, y0_batch, t, _spec(method, gradient))
    assert batch.shape == (5, 3, 2)
    (batch.sin().sum()).backward()
    got = [p.grad.clone() for p in field.parameters()] + [y0_batch.grad.clone()]

    field.zero_grad()
    y0_alone = y0.clone().requires_grad_(True)
    alone = _alone(field, y0_alone, t, counts, method)
    (alone.sin().sum()).backward()
    want = [p.grad.clone() for p in field.parameters()] + [y0_alone.grad.clone()]

    tol = 1e-9 if method == "rk4" else 1e-6
    assert torch.allclose(batch.detach(), alone.detach(), rtol=0, atol=tol)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, rtol=1e-5, atol=1e-7), (g - w).abs().max()


def test_the_dense_solve_costs_the_same_however_many_times_the_series_have():
    """Evaluations of the per-series solve follow the solver's steps, not the output times."""
    field = _field()
    y0 = torch.tensor([[1.0, 0.0], [0.3, -0.8]], dtype=torch.float64)
    counts = []
    for n in (4, 400):
        t = torch.stack([torch.linspace(0.0, 2.0, n), torch.linspace(0.5, 1.5, n)]).double()
        stats = SolveStats()
        with torch.no_grad():
            solve_ode(field, y0, t, SolverSpec(rtol=1e-6, atol=1e-8), probe=Probe(stats))
        counts.append(stats.nfe_forward)
    assert counts[0] == counts[1]


# Training on irregular data ------------------------------------------------------------------


def _oscillators(n_series: int, n_obs: int, irregular: bool, seed: int = 0) -> TimeSeriesDataset:
    """Damped oscillators (position, velocity), each at ``n_obs`` times of its own over [0, 6]
    (or on one grid), 10 % of cells empty (never a whole row), as a CSV file would give."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        w, z = rng.uniform(1.0, 2.0), rng.uniform(0.05, 0.2)
        x0, v0 = rng.uniform(-1.5, 1.5, 2)
        t = np.sort(rng.uniform(0, 6, n_obs)) if irregular else np.linspace(0, 6, n_obs)
        wd = w * np.sqrt(1 - z * z)
        a, b = x0, (v0 + z * w * x0) / wd
        c, s, decay = np.cos(wd * t), np.sin(wd * t), np.exp(-z * w * t)
        x = decay * (a * c + b * s)
        v = decay * (-z * w * (a * c + b * s) + wd * (-a * s + b * c))
        empty = rng.random((n_obs, 2)) < 0.1
        empty[empty.all(axis=1), 0] = False
        for k in range(n_obs):
            rows.append((i, t[k], np.nan if empty[k, 0] else x[k], np.nan if empty[k, 1] else v[k]))
    times = np.unique([r[1] for r in rows])
    values = np.full((n_series, len(times), 2), np.nan)
    for i, tk, xk, vk in rows:
        values[i, np.searchsorted(times, tk)] = (xk, vk)
    return TimeSeriesDataset("oscillators", "ode", times, values, ["x", "v"])


def _spec_for(dataset: TimeSeriesDataset, window: int | None, **train: object) -> RunSpec:
    settings = dict(lr=0.01, batch_size=16, iterations=100, eval_every=50, threads=1)
    settings.update(train)
    return RunSpec(
        model=ModelSpec(family="ode", network=NetworkSpec(width=32, depth=2, activation="tanh")),
        solver=SolverSpec(method="dopri5", rtol=1e-3, atol=1e-6),
        # The dataset is handed to the Trainer: the data part only sets the split.
        data=DataSpec(source="demo", name="spiral", val_fraction=0.2),
        train=TrainSpec(window=window, **settings),  # type: ignore[arg-type]
    )


def _record_solves(trainer: Trainer) -> list[torch.Tensor]:
    """The times of every solve the model is asked for."""
    seen: list[torch.Tensor] = []
    forward = trainer.model.forward

    def recording(y0, t, solver, probe=None):
        seen.append(t.detach().clone())
        return forward(y0, t, solver, probe)

    trainer.model.forward = recording  # type: ignore[method-assign]
    return seen


def test_a_window_on_irregular_data_holds_window_observations_of_each_series():
    dataset = _oscillators(30, 24, irregular=True)
    # A short series: fewer observations (4) than the window, used whole.
    dataset.values[3, np.flatnonzero(dataset.observed_times()[3])[4:]] = np.nan
    window = 10
    trainer = Trainer(_spec_for(dataset, window, batch_size=32, iterations=30), dataset)
    task = trainer.task
    seen = _record_solves(trainer)
    batches = []
    sample_rows = task.sample_rows

    def recording(n_rows: int) -> torch.Tensor:
        picked = sample_rows(n_rows)
        batches.append(task.train_rows[picked.numpy()])
        return picked

    task.sample_rows = recording  # type: ignore[method-assign]
    for iteration in range(30):
        task.loss(iteration, Probe())
    observed = dataset.observed_times()
    starts = set()
    for t, rows in zip(seen, batches, strict=True):
        assert t.shape == (len(task.train_rows), window)  # (batch, window): own times
        for row, times in zip(rows, t.double().numpy(), strict=True):
            own = dataset.times[observed[row]].astype(np.float32).astype(np.float64)
            start = int(np.searchsorted(own, times[0]))
            expected = own[start : start + window]
            if len(own) < window:
                assert start == 0
            else:
                assert len(expected) == window  # W real observations, consecutive
            padded = np.concatenate([expected, np.repeat(expected[-1], window - len(expected))])
            np.testing.assert_array_equal(times, padded)
            starts.add((int(row), start))
    # Starts are drawn among each series' own observations, not one start for the batch.
    assert len({s for r, s in starts if r == task.train_rows[0]}) > 3


def test_whole_series_training_solves_on_each_series_own_times():
    dataset = _oscillators(20, 15, irregular=True)
    trainer = Trainer(_spec_for(dataset, None, iterations=2), dataset)
    seen = _record_solves(trainer)
    trainer.task.loss(0, Probe())
    assert len(dataset.times) > 250
    assert seen[0].shape == (16, 15)  # not (union,) = 300 times


def test_irregular_training_brings_validation_close_to_training():
    """A short run with the preset's window of 10 on an irregular CSV: validation follows the
    training loss (before: training 1e-3…1e-8, validation 5.6)."""
    dataset = _oscillators(30, 35, irregular=True)
    trainer = Trainer(_spec_for(dataset, 10, schedule="cosine"), dataset)
    before = trainer.evaluate().val_loss
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    losses = [e.loss for e in events if isinstance(e, ev.Step)]
    train_loss = float(np.mean(losses[-10:]))
    val_loss = events[-1].metrics["val_loss"]
    assert val_loss < before / 5, (before, val_loss)
    assert val_loss < 4 * train_loss, (train_loss, val_loss)  # seen: 2.2-2.4x (before: 3e4x)


def test_an_irregular_csv_evaluates_on_own_times_and_plots_on_the_union(tmp_path: Path):
    source = _oscillators(12, 8, irregular=True)
    path = tmp_path / "osc.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["series", "time", "x", "v"])
        for i, series in enumerate(source.values):
            for k in np.flatnonzero(source.observed_times()[i]):
                cells = ["" if np.isnan(v) else repr(float(v)) for v in series[k]]
                out.writerow([f"s{i}", repr(float(source.times[k])), *cells])
    dataset = load_csv(path)
    spec = _spec_for(dataset, None)
    spec.data = DataSpec(source="file", path=str(path), val_fraction=0.25)
    trainer = Trainer(spec, dataset)
    result = trainer.evaluate()
    snap = result.snapshot
    observed = dataset.observed_times()[trainer.task.val_rows]
    assert snap.times.shape == (len(dataset.times),)
    assert snap.predicted.shape == snap.observed.shape == (3, len(dataset.times), 2)
    for i in range(3):
        span = np.zeros(len(dataset.times), bool)
        first, last = np.flatnonzero(observed[i])[[0, -1]]
        span[first : last + 1] = True
        assert np.isfinite(snap.predicted[i, span]).all()
        assert np.isnan(snap.predicted[i, ~span]).all()
    # The loss is that of the predictions at the observations (in normalised units).
    task = trainer.task
    pred = (snap.predicted - task.loc) / task.scale
    target = (snap.observed - task.loc) / task.scale
    ok = ~np.isnan(target)
    assert result.val_loss == pytest.approx(float(((pred - target)[ok] ** 2).mean()), rel=1e-3)


def test_a_window_longer_than_every_series_is_refused_with_the_counts():
    dataset = _oscillators(10, 12, irregular=True)
    with pytest.raises(DataError, match=r"window \(13\) must be between 2 and 12.*12 observations"):
        check_training_data(dataset, _spec_for(dataset, 13))
    check_training_data(dataset, _spec_for(dataset, 12))


def test_the_fast_engine_is_refused_for_series_on_their_own_times():
    irregular = _oscillators(10, 12, irregular=True)
    spec = _spec_for(irregular, None)
    spec.solver.engine = "fast"
    with pytest.raises(DataError, match="fast engine solves only series on one shared time grid"):
        check_training_data(irregular, spec)
    spec.solver.engine = "auto"  # which solves them on torchdiffeq, and says so
    trainer = Trainer(spec, irregular)
    assert trainer.task.engine() == "torchdiffeq"
    regular = _oscillators(10, 12, irregular=False)
    spec.solver.engine = "fast"
    check_training_data(regular, spec)


def test_regular_data_keeps_the_shared_grid():
    """Series on one grid (missing cells, no missing rows) train as before: one start for
    the batch, the union times sliced."""
    dataset = _oscillators(20, 30, irregular=False)
    assert dataset.shares_times and len(dataset.times) == 30
    trainer = Trainer(_spec_for(dataset, 10), dataset)
    task = trainer.task
    assert not task.irregular
    seen = _record_solves(trainer)
    state = task.generator.get_state()
    loss = task.loss(0, Probe())
    # The same step by hand, as the task computed it before per-series times.
    task.generator.set_state(state)
    rows = task.sample_rows(len(task.train_rows))
    start = int(torch.randint(30 - 10 + 1, (1,), generator=task.generator))
    assert torch.equal(seen[0], task.times[start : start + 10])
    series = task.train_values[rows, start : start + 10]
    first = (~torch.isnan(series)).to(torch.uint8).argmax(dim=1, keepdim=True)
    y0 = torch.nan_to_num(series.gather(1, first).squeeze(1))
    with torch.no_grad():
        pred = solve_ode(trainer.model.field, y0, task.times[start : start + 10], task.spec.solver)
        pred = pred.transpose(0, 1)
        ok = ~torch.isnan(series)
        want = ((pred - torch.nan_to_num(series))[ok] ** 2).mean()
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-6)
