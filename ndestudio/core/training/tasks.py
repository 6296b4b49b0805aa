"""What each model family trains on and how it is scored: one task class per family.

A task owns its model and its data (already normalised and on the device), computes a
training loss for a batch of series, and evaluates on the validation series.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ndestudio.core.data import TimeSeriesDataset
from ndestudio.core.events import Snapshot
from ndestudio.core.models import CDEDiscriminator, LatentSDE, NeuralCDE, NeuralODE, NeuralSDE
from ndestudio.core.models.latent_sde import LatentOutput
from ndestudio.core.shard import SINGLE, BatchShare, Shard
from ndestudio.core.solvers import Probe, path_coefficients
from ndestudio.core.solvers.fast import planned_engine
from ndestudio.core.specs import CDESpec, RunSpec
from ndestudio.core.training.windows import window_at

if TYPE_CHECKING:
    from ndestudio.core.training.distributed import Distributed

SNAPSHOT_SERIES = 16


@dataclass
class Evaluation:
    """``predicted_labels``: for classification, each evaluated series' predicted class."""

    val_loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    predicted_labels: np.ndarray | None = None


class Task(ABC):
    """Base: holds the spec, the model, the data split and the trainer's random generator."""

    model: nn.Module
    # The metrics ``evaluate`` reports besides the loss, by name, in a stable order.
    metric_names: tuple[str, ...] = ()

    def __init__(
        self,
        spec: RunSpec,
        data: TimeSeriesDataset,
        device: torch.device,
        dtype: torch.dtype,
        generator: torch.Generator,
    ) -> None:
        self.spec = spec
        self.data = data
        self.device = device
        self.dtype = dtype
        self.generator = generator
        self.train_rows, self.val_rows = data.split(spec.data.val_fraction, spec.data.seed)
        # Data-parallel runs: this rank's share of each batch, and the model's DDP wrapper.
        self.shard: Shard = SINGLE
        self.wrapped: nn.Module | None = None
        self.loc, self.scale = data.channel_stats(self.train_rows)
        self.times = self.tensor(data.times)

    @property
    def trainee(self) -> nn.Module:
        """What a training step calls: the model, or its DDP wrapper in a distributed run."""
        return self.wrapped if self.wrapped is not None else self.model

    @property
    def has_validation(self) -> bool:
        """Some series are held out for validation (``val_fraction`` > 0)."""
        return len(self.val_rows) > 0

    @property
    def inspected_rows(self) -> np.ndarray:
        """The series the Inspect views and ``ndestudio inspect`` look at: the validation
        series, or the training series when none are held out."""
        return self.val_rows if self.has_validation else self.train_rows

    def on_dataset(self, data: TimeSeriesDataset) -> Task:
        """A view of this task (its model, normalisation and settings) whose ``evaluate``
        scores every series of ``data``, a held-out test set, instead of the validation
        series. ``data``'s labels must be in the training data's class order."""
        view = copy.copy(self)
        view.data = data
        view.val_rows = np.arange(data.n_series)
        view.times = view.tensor(data.times)
        view._prepare_validation()
        return view

    def _prepare_validation(self) -> None:
        """Put the validation series (``val_rows`` of ``data``) in the form ``evaluate``
        reads; called once the task is built, and by :meth:`on_dataset` for a test set."""
        self.val_values = self.normalised(self.val_rows)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def normalised(self, rows: np.ndarray) -> torch.Tensor:
        return self.tensor((self.data.values[rows] - self.loc) / self.scale)

    def distribute(self, distributed: Distributed) -> None:
        """Train this rank's shard of every batch, through a DDP wrapper of the model."""
        self.shard = distributed.shard
        self.wrapped = distributed.wrap(self.model)

    def share_of(self, batch: int) -> BatchShare | None:
        """This rank's share of a global batch of ``batch`` rows, for drawing its noise
        (``None`` in one process: the rows draw their own)."""
        return None if self.shard.world == 1 else BatchShare(self.shard, batch)

    def shard_mean(self, values: torch.Tensor, batch: int) -> torch.Tensor:
        """The mean over a global batch of ``batch`` rows of per-row ``values``, as this
        rank's part of it: its rows' sum over ``batch``, times the world size (DDP averages
        the ranks' gradients)."""
        if self.shard.world == 1:
            return values.mean()
        return values.sum() * (self.shard.world / batch)

    def sample_rows(self, n_rows: int) -> torch.Tensor:
        size = min(self.spec.train.batch_size, n_rows)
        return torch.randperm(n_rows, generator=self.generator)[:size]

    @abstractmethod
    def loss(self, iteration: int, probe: Probe) -> torch.Tensor:
        """The training loss on one random batch."""

    @abstractmethod
    def evaluate(self, probe: Probe) -> Evaluation:
        """Validation loss, metrics and a snapshot for plotting (called under no_grad)."""

    def after_backward(self) -> None:
        """Adjust gradients before clipping and the optimiser step (GANs flip signs here)."""
        return

    def after_step(self) -> None:
        """Project parameters after the optimiser step (weight clipping)."""
        return

    def parameter_groups(self, lr: float) -> list[dict]:
        return [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": lr}]

    def engine(self) -> str:
        """The engine that solves this task's training steps (see ``SolverSpec.engine``)."""
        m = self.spec.model
        return planned_engine(m.family, self.spec.solver, m.network)

    def _seed(self, iteration: int) -> int:
        """The Brownian motion's seed for a training step: reproducible, new each step."""
        return (self.spec.train.seed * 1_000_003 + iteration) % 2**31

    def _with_data_units(self, model: Any) -> Any:
        """``model`` on the task's device and dtype, told the data's per-channel location and
        scale (its ``loc``/``scale`` buffers), for outputs in the data's units."""
        model = model.to(self.device, self.dtype)
        model.loc.copy_(self.tensor(self.loc))
        model.scale.copy_(self.tensor(self.scale))
        return model


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, complete: bool = False) -> torch.Tensor:
    """Mean squared error over the observed (non-NaN) targets; ``complete``: none missing."""
    if complete:
        return (pred - target).pow(2).mean()
    observed = ~torch.isnan(target)
    diff = torch.where(observed, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return diff.pow(2).sum() / observed.sum().clamp_min(1)


def _shard_mse(pred: torch.Tensor, target: torch.Tensor, count: float, world: int) -> torch.Tensor:
    """A shard's part of the global batch's masked MSE: its squared errors' sum over the
    global batch's ``count`` of observed values, times ``world`` (DDP averages the ranks)."""
    observed = ~torch.isnan(target)
    diff = torch.where(observed, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return diff.pow(2).sum() * (world / max(count, 1.0))


def _observed_count(target: torch.Tensor) -> float:
    return float((~torch.isnan(target)).sum())


def _first_observed(series: torch.Tensor) -> torch.Tensor:
    """The initial state of each series (B, T, C) → (B, C): its first observed value per
    channel (irregular series may miss the first time of the window); 0, the channel mean in
    normalised units, where a channel is never observed."""
    observed = ~torch.isnan(series)
    first = observed.to(torch.uint8).argmax(dim=1, keepdim=True)
    return torch.nan_to_num(series.gather(1, first).squeeze(1))


@dataclass
class OwnTimes:
    """Series on their own observation times, for data whose series share no time grid.

    ``times`` (n, K) and normalised ``values`` (n, K, C) hold each series' observed rows (an
    observation: any channel observed) in time order, padded after its last one with that
    time repeated and NaN values; ``counts`` (n,) its observations (on the CPU); ``index``
    (n, K) the rows' positions on the union grid."""

    times: torch.Tensor
    values: torch.Tensor
    counts: torch.Tensor
    index: np.ndarray

    @property
    def first(self) -> np.ndarray:
        return self.index[:, 0]

    @property
    def last(self) -> np.ndarray:
        return self.index[np.arange(len(self.index)), self.counts.numpy() - 1]


class ODETask(Task):
    """Fit observed trajectories: start from the first observation, match the rest (MSE).

    Series that share one time grid are solved together on it (a window: ``window``
    consecutive times of it). Series that do not (irregular sampling, whole rows missing)
    are each solved on their own observation times (:class:`OwnTimes`), so that a step's
    cost follows the series' observations rather than the union of all times, and a window
    holds ``window`` consecutive observations of each series, its start drawn among that
    series' own; a series with fewer observations than that trains whole.
    """

    metric_names = ("rmse",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.model = self._with_data_units(NeuralODE(self.data.channels, self.spec.model))
        self.train_values = self.normalised(self.train_rows)
        self._prepare_validation()
        observed = self.data.observed_times()
        window = self.spec.train.window
        if self.irregular:
            most = int(observed.sum(axis=1).max())
            if window is not None and not 2 <= window <= most:
                raise ValueError(
                    f"the training window ({window}) must be between 2 and {most}, the most "
                    f"observations a series of dataset {self.data.name!r} has (a window on "
                    "irregularly sampled series counts each series' own observations)"
                )
            self.train_own = self.own_times(self.train_rows, observed)
        elif window is not None and not 2 <= window <= len(self.data.times):
            raise ValueError(
                f"the training window ({window}) must be between 2 and the dataset's "
                f"{len(self.data.times)} observation times"
            )

    def engine(self) -> str:
        m = self.spec.model
        return planned_engine(m.family, self.spec.solver, m.network, own_times=self.irregular)

    def _prepare_validation(self) -> None:
        super()._prepare_validation()
        # Without missing values the loss skips the NaN masking (a measurable share of a step).
        self.complete = not bool(np.isnan(self.data.values).any())
        observed = self.data.observed_times()
        self.irregular = not bool(observed.all())
        if self.irregular and self.has_validation:
            self.val_own = self.own_times(self.val_rows, observed)

    def own_times(self, rows: np.ndarray, observed: np.ndarray) -> OwnTimes:
        """``rows``' series on their own observation times."""
        seen = observed[rows]
        counts = seen.sum(axis=1)
        k = int(counts.max())
        # Each row's observed positions first, in time order (a stable sort of "not seen").
        order = np.argsort(~seen, axis=1, kind="stable")[:, :k]
        padding = np.arange(k)[None, :] >= counts[:, None]
        last = order[np.arange(len(rows)), counts - 1]
        index = np.where(padding, last[:, None], order)
        values = (self.data.values[rows[:, None], index] - self.loc) / self.scale
        values[padding] = np.nan
        return OwnTimes(
            times=self.tensor(self.data.times[index]),
            values=self.tensor(values),
            counts=torch.as_tensor(counts, dtype=torch.long),
            index=index,
        )

    def loss(self, iteration: int, probe: Probe) -> torch.Tensor:
        rows = self.sample_rows(len(self.train_rows))
        shard = self.shard
        if self.irregular:
            window = window_at(self.spec.train, iteration, self.train_own.times.shape[1])
            t, target = self._own_batch(self.train_own, rows, window)
            if shard.world > 1:
                count = _observed_count(target)
                t, target = shard.rows(t), shard.rows(target)
                pred = self.trainee(_first_observed(target), t, self.spec.solver, probe)
                return _shard_mse(pred, target, count, shard.world)
            pred = self.model(_first_observed(target), t, self.spec.solver, probe)
            return _masked_mse(pred, target)
        series = self.train_values[rows]
        window = window_at(self.spec.train, iteration, series.shape[1])
        if window is None:
            start, stop = 0, series.shape[1]
        else:
            start = int(torch.randint(series.shape[1] - window + 1, (1,), generator=self.generator))
            stop = start + window
        target = series[:, start:stop]
        if shard.world > 1:
            count = float(target.numel()) if self.complete else _observed_count(target)
            target = shard.rows(target)
            times = self.times[start:stop]
            pred = self.trainee(self._initial(target), times, self.spec.solver, probe)
            return _shard_mse(pred, target, count, shard.world)
        pred = self.model(self._initial(target), self.times[start:stop], self.spec.solver, probe)
        return _masked_mse(pred, target, self.complete)

    def _own_batch(
        self, own: OwnTimes, rows: torch.Tensor, window: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Times (B, K) and targets (B, K, C) of a batch on its series' own times: whole, or
        a window of ``window`` consecutive observations from a random start in each."""
        counts = own.counts[rows]
        if window is None:
            k = int(counts.max())
            return own.times[rows, :k], own.values[rows, :k]
        room = (counts - window).clamp_min(0) + 1
        draw = torch.rand(len(rows), generator=self.generator, dtype=torch.float64)
        start = (draw * room).long().clamp_max(room - 1)
        # Past a short series' last observation the padding repeats its last time, NaN.
        pos = (start[:, None] + torch.arange(window)).clamp_max(own.times.shape[1] - 1)
        pos = pos.to(self.device)
        picked = own.values[rows.to(self.device)]
        target = picked.gather(1, pos[..., None].expand(-1, -1, picked.shape[2]))
        return own.times[rows.to(self.device)].gather(1, pos), target

    def _initial(self, target: torch.Tensor) -> torch.Tensor:
        return target[:, 0] if self.complete else _first_observed(target)

    def evaluate(self, probe: Probe) -> Evaluation:
        if self.irregular:
            return self._evaluate_own(probe)
        target = self.val_values
        pred = self.model(self._initial(target), self.times, self.spec.solver, probe)
        val_loss = float(_masked_mse(pred, target, self.complete))
        scale = self.tensor(self.scale)
        rmse = torch.sqrt(torch.nanmean(((pred - target) * scale) ** 2)).item()
        n = min(SNAPSHOT_SERIES, len(self.val_rows))
        snapshot = Snapshot(
            times=self.data.times.copy(),
            observed=self.data.values[self.val_rows[:n]].copy(),
            predicted=(pred[:n] * scale + self.tensor(self.loc)).detach().cpu().double().numpy(),
        )
        return Evaluation(val_loss, {"rmse": rmse}, snapshot)

    def _evaluate_own(self, probe: Probe) -> Evaluation:
        """The validation series on their own times; the plotted predictions at every time
        of the union grid within each series' observed span (NaN outside it)."""
        own = self.val_own
        target = own.values
        pred = self.model(_first_observed(target), own.times, self.spec.solver, probe)
        val_loss = float(_masked_mse(pred, target))
        scale = self.tensor(self.scale)
        rmse = torch.sqrt(torch.nanmean(((pred - target) * scale) ** 2)).item()
        n = min(SNAPSHOT_SERIES, len(self.val_rows))
        first, last = own.first[:n], own.last[:n]
        length = int((last - first).max()) + 1
        index = np.minimum(first[:, None] + np.arange(length), last[:, None])
        with torch.no_grad():
            shown = self.model(
                _first_observed(target[:n]),
                self.tensor(self.data.times[index]),
                self.spec.solver,
                probe,
            )
        shown = (shown * scale + self.tensor(self.loc)).detach().cpu().double().numpy()
        predicted = np.full((n, len(self.data.times), self.data.channels), np.nan)
        inside = np.arange(length)[None, :] <= (last - first)[:, None]
        series = np.broadcast_to(np.arange(n)[:, None], index.shape)
        predicted[series[inside], index[inside]] = shown[inside]
        snapshot = Snapshot(
            times=self.data.times.copy(),
            observed=self.data.values[self.val_rows[:n]].copy(),
            predicted=predicted,
        )
        return Evaluation(val_loss, {"rmse": rmse}, snapshot)


def cde_features(
    values: np.ndarray,
    times: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    cde: CDESpec,
    time_origin: float,
    time_span: float,
    count_scale: float,
) -> np.ndarray:
    """A neural CDE's input channels from raw observations (batch, T, C) with NaN gaps:
    the time rescaled by the training span, normalised values, observation counts divided
    by ``count_scale`` (the training grid's length).

    Every channel, the time included, ends at the series' last observation: the rows after
    it are NaN, which the control path holds constant (:func:`path_coefficients`), so that
    padding a series with missing rows after its end cannot change its path or its output.
    """
    normalised = (values - loc) / scale
    # A missing first observation becomes the channel mean (0 once normalised), so that
    # the initial hidden state, and rectilinear paths, never look ahead in time.
    normalised[:, 0] = np.nan_to_num(normalised[:, 0], nan=0.0)
    last = last_observation(values)
    after_end = np.arange(values.shape[1])[None, :] > last[:, None]
    parts = []
    if cde.time_channel or cde.interpolation == "rectilinear":
        scaled = (times - time_origin) / time_span
        parts.append(np.broadcast_to(scaled[None, :, None], (*normalised.shape[:2], 1)))
    parts.append(normalised)
    if cde.mask_channels:
        observed = ~np.isnan(values)
        parts.append(np.cumsum(observed, axis=1) / count_scale)
    features = np.concatenate(parts, axis=-1)
    features[after_end] = np.nan
    if cde.interpolation == "rectilinear":  # (its time channel may hold no NaN: the end's time)
        features[:, :, 0] = np.where(
            after_end, features[np.arange(len(last)), last, 0:1], features[:, :, 0]
        )
    return features


def last_observation(values: np.ndarray) -> np.ndarray:
    """(batch,) the index of each series' last observed row (any channel); 0 for none."""
    observed = ~np.isnan(values).all(axis=2)
    return np.where(
        observed.any(axis=1), values.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1), 0
    )


class CDETask(Task):
    """Classify (cross-entropy) or regress (MSE) whole series from their control paths."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cde = self.spec.model.cde
        self.classification = cde.task == "classification"
        self.metric_names = ("accuracy",) if self.classification else ("rmse",)
        if self.classification:
            if self.data.labels is None or self.data.n_classes < 2:
                raise ValueError(f"dataset {self.data.name!r} has no class labels to classify")
            outputs = self.data.n_classes
        else:
            if self.data.targets is None:
                raise ValueError(f"dataset {self.data.name!r} has no regression targets")
            outputs = self.data.targets.shape[1]
            self.target_loc = self.data.targets[self.train_rows].mean(0)
            self.target_scale = self.data.targets[self.train_rows].std(0) + 1e-8
        # The training grid scales the time and count channels, for any series scored later.
        t = self.data.times
        self.time_origin, self.time_span, self.count_scale = t[0], t[-1] - t[0], len(t)
        self._prepare_validation()  # the paths of every series, training ones included
        n_features = self.features_of(self.data.values[:1], t).shape[-1]
        self.model = NeuralCDE(n_features, outputs, self.spec.model).to(self.device, self.dtype)

    def _prepare_validation(self) -> None:
        features = self.features_of(self.data.values, self.data.times)
        interpolation = self.spec.model.cde.interpolation
        self.coeffs = path_coefficients(self.tensor(features), self.times, interpolation)

    def features_of(self, values: np.ndarray, times: np.ndarray) -> np.ndarray:
        """CDE input channels of raw series ``values`` (n, T, C) at ``times``, scaled as the
        training data's are (its channel statistics, time span and grid length)."""
        cde = self.spec.model.cde
        return cde_features(
            values,
            times,
            self.loc,
            self.scale,
            cde,
            self.time_origin,
            self.time_span,
            self.count_scale,
        )

    def outputs_of(
        self, values: np.ndarray, times: np.ndarray, probe: Probe | None = None
    ) -> torch.Tensor:
        """The model's outputs (n, K) for raw series ``values`` (n, T, C) at ``times``:
        logits, or regression values in normalised units."""
        t = self.tensor(times)
        coeffs = path_coefficients(
            self.tensor(self.features_of(values, times)), t, self.spec.model.cde.interpolation
        )
        return self.model(coeffs, t, self.spec.solver, probe)

    def _outputs(
        self, rows: np.ndarray | torch.Tensor, probe: Probe, model: nn.Module | None = None
    ) -> torch.Tensor:
        return (model or self.model)(self.coeffs[rows], self.times, self.spec.solver, probe)

    def _targets(self, rows: np.ndarray) -> torch.Tensor:
        if self.classification:
            assert self.data.labels is not None
            return torch.as_tensor(self.data.labels[rows], dtype=torch.long, device=self.device)
        assert self.data.targets is not None
        return self.tensor((self.data.targets[rows] - self.target_loc) / self.target_scale)

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.classification:
            return nn.functional.cross_entropy(outputs, targets)
        return nn.functional.mse_loss(outputs, targets)

    def loss(self, iteration: int, probe: Probe) -> torch.Tensor:
        rows = self.train_rows[self.sample_rows(len(self.train_rows)).numpy()]
        shard = self.shard
        if shard.world == 1:
            return self._loss(self._outputs(rows, probe), self._targets(rows))
        # A shard's part of the global batch's mean loss (DDP averages the ranks).
        mine = rows[shard.rank :: shard.world]
        outputs, targets = self._outputs(mine, probe, self.trainee), self._targets(mine)
        if self.classification:
            total = nn.functional.cross_entropy(outputs, targets, reduction="sum")
            return total * (shard.world / len(rows))
        total = nn.functional.mse_loss(outputs, targets, reduction="sum")
        return total * (shard.world / (len(rows) * outputs.shape[-1]))

    def evaluate(self, probe: Probe) -> Evaluation:
        outputs = self._outputs(self.val_rows, probe)
        targets = self._targets(self.val_rows)
        metrics: dict[str, float] = {}
        predicted = None
        if self.classification:
            predicted = outputs.argmax(-1)
            metrics["accuracy"] = float((predicted == targets).double().mean())
            shown = torch.softmax(outputs, -1)
        else:
            shown = outputs * self.tensor(self.target_scale) + self.tensor(self.target_loc)
            error = (outputs - targets) * self.tensor(self.target_scale)
            metrics["rmse"] = float(error.pow(2).mean().sqrt())
        n = min(SNAPSHOT_SERIES, len(self.val_rows))
        labels = (
            self.data.labels[self.val_rows[:n]].copy() if self.data.labels is not None else None
        )
        snapshot = Snapshot(
            times=self.data.times.copy(),
            observed=self.data.values[self.val_rows[:n]].copy(),
            predicted=shown[:n, None, :].detach().cpu().double().numpy(),
            labels=labels,
        )
        return Evaluation(
            float(self._loss(outputs, targets)),
            metrics,
            snapshot,
            None if predicted is None else predicted.cpu().numpy(),
        )


class SDEGANTask(Task):
    """SDE-GAN: a neural SDE generator against a neural CDE Wasserstein critic."""

    EVAL_SAMPLES = 512
    metric_names = ("mean_error", "std_error")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        channels = self.data.channels
        self.generator_model = NeuralSDE(channels, self.spec.model)
        self.discriminator = CDEDiscriminator(channels, self.spec.model)
        self.average = copy.deepcopy(self.generator_model).requires_grad_(False)
        self.model = nn.ModuleDict(
            {
                "generator": self.generator_model,
                "discriminator": self.discriminator,
                "average": self.average,
            }
        ).to(self.device, self.dtype)
        for gen in (self.generator_model, self.average):
            gen.loc.copy_(self.tensor(self.loc))
            gen.scale.copy_(self.tensor(self.scale))
        self.train_values = self.normalised(self.train_rows)
        self._prepare_validation()
        if self.spec.model.sde.gan_constraint == "clip":
            self.discriminator.clip_weights()
        self._generator_step = True
        # What a training step calls: the players, or their DDP wrappers (one each).
        self.generator_trainee: nn.Module = self.generator_model
        self.discriminator_trainee: nn.Module = self.discriminator

    def distribute(self, distributed: Distributed) -> None:
        """Wrap each player on its own (the average is not trained: every rank updates it
        from the same averaged weights)."""
        self.shard = distributed.shard
        self.generator_trainee = distributed.wrap(self.generator_model)
        self.discriminator_trainee = distributed.wrap(self.discriminator)

    def parameter_groups(self, lr: float) -> list[dict]:
        ratio = self.spec.model.sde.discriminator_lr_ratio
        return [
            {"params": list(self.generator_model.parameters()), "lr": lr},
            {"params": list(self.discriminator.parameters()), "lr": lr * ratio},
        ]

    def _critic_only(self, iteration: int) -> bool:
        """With ``critic_steps = k``, k critic-only updates precede each joint update."""
        return (
            iteration % (self.spec.model.sde.critic_steps + 1) != self.spec.model.sde.critic_steps
        )

    def loss(self, iteration: int, probe: Probe) -> torch.Tensor:
        rows = self.sample_rows(len(self.train_rows))
        batch, share = len(rows), self.share_of(len(rows))
        real = self.shard.rows(self.train_values[rows])
        self._generator_step = not self._critic_only(iteration)
        with torch.set_grad_enabled(self._generator_step):
            fake = self.generator_trainee(
                self.times,
                len(real),
                self.spec.solver,
                seed=self._seed(iteration),
                generator=self.generator,
                probe=probe,
                share=share,
            )
        critic = self.discriminator_trainee
        loss = self.shard_mean(critic(fake, self.times), batch) - self.shard_mean(
            critic(real, self.times), batch
        )
        if self.spec.model.sde.gan_constraint == "gradient_penalty":
            loss = loss + self.spec.model.sde.gradient_penalty * self._gradient_penalty(
                real, fake.detach(), batch, share
            )
        return loss

    def _gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, batch: int, share: BatchShare | None
    ) -> torch.Tensor:
        """WGAN-GP's penalty on the critic's gradient at random mixtures of real and fake
        paths (the gradient is each path's own: a shard computes its rows' alone)."""
        if share is None:
            mix = torch.rand(real.shape[0], 1, 1, generator=self.generator)
        else:
            mix = share.uniform((1, 1), self.generator, torch.float32)
        paths = (mix.to(real) * real + (1 - mix.to(real)) * fake).requires_grad_(True)
        score = self.discriminator_trainee(paths, self.times).sum()
        (grad,) = torch.autograd.grad(score, paths, create_graph=True)
        return self.shard_mean((grad.flatten(1).norm(dim=1) - 1).pow(2), batch)

    def after_backward(self) -> None:
        # One loss for both players: the critic descends it, the generator ascends it.
        for p in self.generator_model.parameters():
            if p.grad is not None:
                p.grad.neg_()

    def after_step(self) -> None:
        if self.spec.model.sde.gan_constraint == "clip":
            self.discriminator.clip_weights()
        if self._generator_step:
            decay = self.spec.model.sde.average_decay
            with torch.no_grad():
                for avg, p in zip(
                    self.average.parameters(), self.generator_model.parameters(), strict=True
                ):
                    avg.lerp_(p, 1 - decay)

    def evaluate(self, probe: Probe) -> Evaluation:
        """Compare the generated marginals (mean, variance per time) with the validation data."""
        gen = torch.Generator().manual_seed(self.spec.train.seed + 7)
        fake = self.average(
            self.times,
            self.EVAL_SAMPLES,
            self.spec.solver,
            seed=self.spec.train.seed + 7,
            generator=gen,
            probe=probe,
        )
        return _generated_evaluation(self, fake, self.val_values)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` generated paths in the data's units: (n, T, C)."""
        with torch.no_grad():
            fake = self.average(
                self.times,
                n,
                self.spec.solver,
                seed=seed,
                generator=torch.Generator().manual_seed(seed),
            )
        return (fake * self.tensor(self.scale) + self.tensor(self.loc)).cpu().double().numpy()


def _generated_evaluation(
    task: Task, fake: torch.Tensor, real: torch.Tensor, metrics: dict[str, float] | None = None
) -> Evaluation:
    """Generated paths (n, T, C) in normalised units against the validation series: the gap
    in mean and variance per time is the validation loss; errors in the data's units.
    ``real``: the validation series, normalised."""
    mean_gap = fake.mean(0) - real.nanmean(0)
    var_fake = fake.var(0)
    var_real = torch.nanmean((real - real.nanmean(0)) ** 2, 0)
    val_loss = float((mean_gap.pow(2) + (var_fake - var_real).pow(2)).mean())
    scale, loc = task.tensor(task.scale), task.tensor(task.loc)
    metrics = dict(metrics or {})
    metrics["mean_error"] = float((mean_gap.abs() * scale).max())
    metrics["std_error"] = float(((var_fake.sqrt() - var_real.sqrt()).abs() * scale).max())
    n = min(2 * SNAPSHOT_SERIES, len(task.val_rows))
    snapshot = Snapshot(
        times=task.data.times.copy(),
        observed=task.data.values[task.val_rows[:n]].copy(),
        predicted=(fake[: 2 * SNAPSHOT_SERIES] * scale + loc).detach().cpu().double().numpy(),
        generated=True,
    )
    return Evaluation(val_loss, metrics, snapshot)


class LatentSDETask(Task):
    """Latent SDE: maximise the ELBO of the series under a posterior SDE; sample the prior."""

    EVAL_SAMPLES = 512
    metric_names = ("rmse", "elbo_loss", "mean_error", "std_error")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.model = self._with_data_units(LatentSDE(self.data.channels, self.spec.model))
        self.train_values = self.normalised(self.train_rows)
        self._prepare_validation()

    def _negative_elbo(
        self, xs: torch.Tensor, out: LatentOutput, kl_weight: float, per_series: bool = False
    ) -> torch.Tensor:
        """Per observation time: −log p(x | z) + w · (KL of z₀ + KL of the path); the mean
        over the series, or each series' (``per_series``)."""
        std = self.spec.model.sde.likelihood_std
        observed = ~torch.isnan(xs)
        z = (out.reconstruction - torch.nan_to_num(xs)) / std
        nll = 0.5 * z.pow(2) + math.log(std) + 0.5 * math.log(2 * math.pi)
        nll = torch.where(observed, nll, torch.zeros_like(nll)).sum(dim=(1, 2))
        each = (nll + kl_weight * (out.kl_initial + out.kl_path)) / xs.shape[1]
        return each if per_series else each.mean()

    def loss(self, iteration: int, probe: Probe) -> torch.Tensor:
        rows = self.sample_rows(len(self.train_rows))
        xs = self.shard.rows(self.train_values[rows])
        out = self.trainee(
            xs,
            self.times,
            self.spec.solver,
            generator=self.generator,
            seed=self._seed(iteration),
            probe=probe,
            share=self.share_of(len(rows)),
        )
        sde = self.spec.model.sde
        ramp = 1.0 if sde.kl_anneal_iterations == 0 else iteration / sde.kl_anneal_iterations
        elbo = self._negative_elbo(xs, out, sde.kl_weight * min(1.0, ramp), per_series=True)
        return self.shard_mean(elbo, len(rows))

    def evaluate(self, probe: Probe) -> Evaluation:
        """Reconstruction error and ELBO on the validation series; prior samples' marginals."""
        seed = self.spec.train.seed + 7
        gen = torch.Generator().manual_seed(seed)
        model: LatentSDE = self.model  # type: ignore[assignment]
        out = model(
            self.val_values, self.times, self.spec.solver, generator=gen, seed=seed, probe=probe
        )
        scale = self.tensor(self.scale)
        error = (out.reconstruction - self.val_values) * scale
        metrics = {
            "rmse": float(torch.sqrt(torch.nanmean(error**2))),
            "elbo_loss": float(self._negative_elbo(self.val_values, out, 1.0)),
        }
        fake = model.sample(
            self.times,
            self.EVAL_SAMPLES,
            self.spec.solver,
            generator=gen,
            seed=seed + 1,
            probe=probe,
        )
        return _generated_evaluation(self, fake, self.val_values, metrics)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` paths from the prior, in the data's units: (n, T, C)."""
        model: LatentSDE = self.model  # type: ignore[assignment]
        with torch.no_grad():
            fake = model.sample(
                self.times,
                n,
                self.spec.solver,
                generator=torch.Generator().manual_seed(seed),
                seed=seed,
            )
        return (fake * self.tensor(self.scale) + self.tensor(self.loc)).cpu().double().numpy()


TASKS: dict[str, type[Task]] = {"ode": ODETask, "cde": CDETask, "sde": SDEGANTask}


def task_class(spec: RunSpec) -> type[Task]:
    """The task that trains ``spec``'s model family with its objective."""
    if spec.model.family == "sde" and spec.model.sde.objective == "latent_sde":
        return LatentSDETask
    return TASKS[spec.model.family]
