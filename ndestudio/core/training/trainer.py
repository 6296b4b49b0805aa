"""``Trainer.run(control)``: a generator of plain events, the one training loop of NDE Studio."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ndestudio.core import events as ev
from ndestudio.core.control import StopRequested, TrainControl
from ndestudio.core.data import (
    DataFileError,
    TimeSeriesDataset,
    check_training_data,
    load_dataset,
)
from ndestudio.core.device import (
    describe_device,
    resolve_device,
    resolve_dtype,
    seed_everything,
    set_threads,
)
from ndestudio.core.solvers import Probe, SolveStats
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.training.checkpoint import (
    BestWeights,
    CheckpointError,
    chosen_weights,
    class_names_changed,
    load_checkpoint,
    save_checkpoint,
)
from ndestudio.core.training.diagnostics import (
    GradientNorms,
    loss_gap_warning,
    non_finite,
    solver_failure,
)
from ndestudio.core.training.distributed import (
    Distributed,
    is_collective_failure,
    left,
    refusal,
)
from ndestudio.core.training.optim import make_optimizer, make_schedule
from ndestudio.core.training.scoring import align_to_training, score
from ndestudio.core.training.tasks import Task, task_class
from ndestudio.core.validation import validate

# What a solver raises when the learned dynamics break it down (torchdiffeq asserts).
_SOLVER_ERRORS = (AssertionError, RuntimeError, ValueError)

HISTORY_KEYS = ("iteration", "loss", "grad_norm", "nfe_forward", "nfe_backward", "lr", "wall_time")


class Trainer:
    """Trains the model a :class:`RunSpec` describes.

    ``run`` yields :mod:`ndestudio.core.events`; it can be called again after a stop to go on
    from where it left off. ``control`` pauses, resumes and stops it from another thread.

    The weights of the best evaluation (lowest validation loss) are kept beside the last
    ones (:attr:`best`); ``spec.train.patience`` stops the run once that many evaluations in
    a row have not improved on it. A run whose spec names a test set (``test_dataset``, or
    loaded from ``spec.data``) scores it after its last step (a :class:`~ev.Tested` event,
    also kept as :attr:`last_test`) with the best weights, or the last without validation.

    ``distributed``: this process is one rank of a data-parallel run
    (:mod:`ndestudio.core.training.distributed`): it trains on its shard of each batch
    through ``DistributedDataParallel``, and stops only where every rank agrees to.
    """

    def __init__(
        self,
        spec: RunSpec,
        dataset: TimeSeriesDataset | None = None,
        test_dataset: TimeSeriesDataset | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        validate(spec)
        self.distributed = distributed
        if distributed is not None:
            refused = refusal(spec.train.batch_size, distributed.world)
            if refused:
                raise SpecError([refused])
        self.spec = copy.deepcopy(spec)
        set_threads(spec.train.threads)
        device = spec.train.device
        self.device = resolve_device(distributed.device_name(device) if distributed else device)
        self.dtype = resolve_dtype(spec.train.dtype)
        self.generator = seed_everything(spec.train.seed)
        self.dataset = dataset if dataset is not None else load_dataset(spec.data)
        if self.spec.data.source == "file":  # the file's own name, shown and saved
            self.spec.data.name = self.dataset.name
        check_training_data(self.dataset, self.spec)  # bad data is named, not blamed on the model
        task_cls = task_class(spec)
        self.task: Task = task_cls(self.spec, self.dataset, self.device, self.dtype, self.generator)
        self.model = self.task.model
        if distributed is not None:
            self.task.distribute(distributed)
        self.optimizer = make_optimizer(spec.train, self.task.parameter_groups(spec.train.lr))
        self.schedule = make_schedule(spec.train, self.optimizer)
        self.stats = SolveStats()
        self.grad_norms = GradientNorms(self.model)
        self.params: list[torch.Tensor] = [p for p in self.model.parameters() if p.requires_grad]
        self._last_good = [p.detach().clone() for p in self.params]
        self.iteration = 0
        # Per-step history as packed doubles: 8 bytes a value where a list of floats takes 32,
        # so that a run of a million steps keeps ~56 MB of history rather than ~220 MB.
        self.history: dict[str, array[float]] = {k: array("d") for k in HISTORY_KEYS}
        self.eval_history: dict[str, list[float]] = {"iteration": [], "val_loss": []}
        self.last_eval: ev.Eval | None = None
        self.best: BestWeights | None = None
        self.last_test: ev.Tested | None = None
        self.test_dataset = self._test_set(test_dataset)

    def _test_set(self, given: TimeSeriesDataset | None) -> TimeSeriesDataset | None:
        """The held-out test set (``given``, else the one ``spec.data.test`` names) in the
        training data's class order; None when there is none."""
        data = self.spec.data
        if given is not None:  # (it replaces any the spec names)
            return align_to_training(given, self.dataset, self.spec, f"test set {given.name!r}")
        if data.test == "none":
            return None
        where = (
            f"test file {data.test_path}"
            if data.test == "file"
            else f"the test split of {data.name!r}"
        )
        return align_to_training(load_dataset(data, "test"), self.dataset, self.spec, where)

    @property
    def class_names(self) -> list[str]:
        """The classes a classifier's outputs stand for, in output order (else empty)."""
        return list(self.dataset.class_names)

    def set_iterations(self, total: int) -> None:
        """Make ``total`` the run's iteration count; a run that goes on to it re-plans its
        learning-rate schedule (see :class:`~ndestudio.core.training.optim.Schedule`). ``run``
        does the same for a ``spec.train.iterations`` set directly."""
        self.spec.train.iterations = total
        self.schedule.retarget(total, self.iteration)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.params)

    def run(self, control: TrainControl | None = None) -> Iterator[ev.Event]:
        # Torch's intra-op thread count is per OS thread (OpenMP): set it in the thread that
        # trains, which is not the one that built the trainer when a GUI worker runs it.
        set_threads(self.spec.train.threads)
        control = control or TrainControl()
        # A distributed run stops between steps, where the ranks agree (see _stop_agreed).
        probe = Probe(self.stats, None if self.distributed else control)
        reason = ""
        if self.best is not None and self._early_stop_reason():
            self.best.evals_since = 0  # going on after early stopping: patience starts again
        total = self.spec.train.iterations
        self.schedule.retarget(total, self.iteration)  # the total may have been raised
        yield ev.Started(
            device=describe_device(self.device),
            dtype=self.spec.train.dtype,
            n_parameters=self.n_parameters,
            n_train=len(self.task.train_rows),
            n_val=len(self.task.val_rows),
            iterations=total,
            start_iteration=self.iteration,
            engine=self.task.engine(),
        )
        started = time.perf_counter()
        elapsed_before = self.history["wall_time"][-1] if self.history["wall_time"] else 0.0
        self.model.train()
        while self.iteration < total:
            if control.paused:
                yield ev.Paused(self.iteration)
                while control.paused:
                    control.wait_while_paused(0.05)
                if not control.stop_requested:
                    yield ev.Resumed(self.iteration)
            if self._stop_agreed(control):
                yield ev.Stopped(self.iteration)
                return
            try:
                outcome = self._train_step(probe)
            except StopRequested:
                self.optimizer.zero_grad(set_to_none=True)
                yield ev.Stopped(self.iteration)
                return
            except _SOLVER_ERRORS as exc:
                if self.distributed is not None and is_collective_failure(exc):
                    raise left(exc) from None  # (another rank is gone: not this one's solve)
                self._restore_last_good()
                failed = solver_failure(self.iteration + 1, exc, self.spec)
                yield dataclasses.replace(failed, this_rank_only=self.distributed is not None)
                return
            if isinstance(outcome, ev.Failed):
                yield outcome
                return
            loss, grad_norm, layers = outcome
            self.iteration += 1
            self.schedule.set_rates(self.iteration)
            step_mean, step_min = self.stats.step_summary()
            step = ev.Step(
                iteration=self.iteration,
                loss=loss,
                grad_norm=grad_norm,
                layer_grad_norms=layers,
                nfe_forward=self.stats.nfe_forward,
                nfe_backward=self.stats.nfe_backward,
                lr=self.optimizer.param_groups[0]["lr"],
                wall_time=elapsed_before + time.perf_counter() - started,
                step_size_mean=step_mean,
                step_size_min=step_min,
            )
            self._record(step)
            yield step
            due = self.iteration % self.spec.train.eval_every == 0 or self.iteration == total
            if due and self.task.has_validation:
                try:
                    evaluation = self.evaluate(control)
                except StopRequested:
                    yield ev.Stopped(self.iteration)
                    return
                except _SOLVER_ERRORS as exc:  # the weights are those of a finite step: kept
                    yield solver_failure(self.iteration, exc, self.spec, during="evaluation")
                    return
                yield evaluation
                reason = self._early_stop_reason()
                if self.distributed is not None and self.distributed.any(bool(reason)):
                    # (every rank evaluates the same numbers, but a GPU's last bits may differ:
                    # the ranks stop together or not at all)
                    reason = reason or "early stopping, as another rank of the run decided"
                if reason:
                    break
        wall_time = elapsed_before + time.perf_counter() - started
        if self.test_dataset is not None:
            try:
                tested = self.test(control=control)
            except StopRequested:
                yield ev.Stopped(self.iteration)
                return
            except _SOLVER_ERRORS as exc:
                yield solver_failure(self.iteration, exc, self.spec, during="evaluation")
                return
            yield tested
        metrics = dict(self.last_eval.metrics) if self.last_eval else {}
        if self.last_eval:
            metrics["val_loss"] = self.last_eval.val_loss
        yield ev.Finished(
            self.iteration,
            wall_time,
            self.history["loss"][-1] if self.history["loss"] else math.nan,
            metrics,
            reason=reason,
            best_iteration=self.best.iteration if self.best else None,
            best_val_loss=self.best.val_loss if self.best else None,
        )

    def _stop_agreed(self, control: TrainControl) -> bool:
        """Whether to stop before the next step: asked for here, or on any rank of a
        distributed run (all of them then stop at the same step)."""
        if self.distributed is None:
            return control.stop_requested
        return self.distributed.any(control.stop_requested)

    def _early_stop_reason(self) -> str:
        """Why the run stops early now ("" to go on): the validation loss has not improved
        for ``spec.train.patience`` evaluations."""
        patience = self.spec.train.patience
        if patience is None or self.best is None or self.best.evals_since < patience:
            return ""
        return (
            f"early stopping: the validation loss has not improved for {patience} "
            f"evaluation{'s' if patience > 1 else ''} (best {self.best.val_loss:.4g} at "
            f"iteration {self.best.iteration})"
        )

    def _train_step(self, probe: Probe) -> tuple[float, float, dict[str, float]] | ev.Failed:
        """One optimiser step; a :class:`Failed` (weights untouched) if it went non-finite."""
        self.stats.reset()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.task.loss(self.iteration, probe)
        # (a distributed run: the global batch's loss, the same on every rank)
        loss_value = self.distributed.mean(loss) if self.distributed else float(loss.detach())
        if not math.isfinite(loss_value):
            self._restore_last_good()
            return non_finite(self.iteration + 1, "loss", self.spec)
        with self.stats.backward_phase():
            loss.backward()
        self.task.after_backward()
        grad_norm, layers = self.grad_norms.compute()
        if not math.isfinite(grad_norm):
            self._restore_last_good()
            return non_finite(self.iteration + 1, "gradient", self.spec)
        if self.spec.train.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.spec.train.grad_clip)
        torch._foreach_copy_(self._last_good, [p.detach() for p in self.params])
        self.optimizer.step()
        self.task.after_step()
        return loss_value, grad_norm, layers

    def _restore_last_good(self) -> None:
        """Put back the weights from before the last optimiser step (they gave a finite loss)."""
        with torch.no_grad():
            torch._foreach_copy_(self.params, self._last_good)
        self.optimizer.zero_grad(set_to_none=True)

    def evaluate(self, control: TrainControl | None = None) -> ev.Eval:
        self.model.eval()
        eval_stats = SolveStats()
        try:
            with torch.no_grad():
                result = self.task.evaluate(Probe(eval_stats, control))
        finally:
            self.model.train()
        self.eval_history["iteration"].append(self.iteration)
        self.eval_history["val_loss"].append(result.val_loss)
        for key, value in result.metrics.items():
            self.eval_history.setdefault(key, []).append(value)
        event = ev.Eval(
            self.iteration, result.val_loss, result.metrics, result.snapshot, self.loss_gap()
        )
        self.last_eval = event
        self._keep_if_best(result.val_loss)
        return event

    def _keep_if_best(self, val_loss: float) -> None:
        if self.best is not None and not val_loss < self.best.val_loss:
            self.best.evals_since += 1
        elif math.isfinite(val_loss):
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best = BestWeights(state, self.iteration, val_loss)

    # Testing -------------------------------------------------------------------------------

    @contextmanager
    def weights(self, which: str) -> Iterator[tuple[str, int]]:
        """The model holds the ``which`` ("best" or "last") weights within the block; yields
        the weights it holds and their iteration. "best" without a validation (so no best
        weights) gives the last ones, and says so."""
        state, iteration, held = self.weights_state(which)
        if held == "last":
            yield "last", iteration
            return
        current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(state)
        try:
            yield "best", iteration
        finally:
            self.model.load_state_dict(current)

    def weights_state(self, which: str) -> tuple[dict[str, torch.Tensor], int, str]:
        """The ``which`` weights' state dict (not copied), iteration and which they are (see
        :func:`~ndestudio.core.training.checkpoint.chosen_weights`)."""
        return chosen_weights(which, self.best, self.model.state_dict(), self.iteration)

    def test(
        self,
        data: TimeSeriesDataset | None = None,
        weights: str = "best",
        control: TrainControl | None = None,
    ) -> ev.Tested:
        """Score ``data`` (default: the run's test set, which is then kept as
        :attr:`last_test`) with the ``weights`` chosen (see :meth:`weights`)."""
        own = data is None
        if data is None:
            if self.test_dataset is None:
                raise DataFileError("the run has no test set (data.test is 'none')")
            data = self.test_dataset
        else:
            data = align_to_training(data, self.dataset, self.spec)
        with self.weights(weights) as (held, iteration):
            self.model.eval()
            try:
                with torch.no_grad():
                    tested = score(self.task, data, iteration, held, Probe(SolveStats(), control))
            finally:
                self.model.train()
        if own:
            self.last_test = tested
        return tested

    def loss_gap(self) -> str | None:
        """A warning when training loss has stayed far below validation (see
        :func:`~ndestudio.core.training.diagnostics.loss_gap_warning`)."""
        return loss_gap_warning(
            self.spec,
            self.history["iteration"],
            self.history["loss"],
            self.eval_history["iteration"],
            self.eval_history["val_loss"],
        )

    def _record(self, step: ev.Step) -> None:
        for key in HISTORY_KEYS:
            self.history[key].append(float(getattr(step, key)))

    # Checkpoints ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(
            path,
            spec=self.spec,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            schedule=self.schedule.state_dict(),
            iteration=self.iteration,
            history={**self.history, **{f"eval/{k}": v for k, v in self.eval_history.items()}},
            generator=self.generator.get_state(),
            last_eval=self.last_eval,
            best=self.best,
            class_names=self.class_names,
            last_test=self.last_test,
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        dataset: TimeSeriesDataset | None = None,
        test_dataset: TimeSeriesDataset | None = None,
        distributed: Distributed | None = None,
    ) -> Trainer:
        """The run a checkpoint holds, ready to continue (in one process, or as a rank of a
        distributed run: a checkpoint is the same either way). A checkpoint that does not
        fit the model its own spec describes gives a :class:`CheckpointError`; the spec's
        data must load (a :class:`UserError` says why not)."""
        ckpt = load_checkpoint(path)
        trainer = cls(ckpt.spec, dataset, test_dataset, distributed)
        changed = class_names_changed(ckpt.class_names, trainer.class_names)
        if changed:
            raise CheckpointError(f"{path}: {changed}")
        try:
            if ckpt.best is not None:  # (loaded only to check that they fit the model too)
                trainer.model.load_state_dict(ckpt.best.model)
            trainer.model.load_state_dict(ckpt.model)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{path}: the weights do not fit the model its run spec describes "
                f"({_first_lines(exc)})"
            ) from None
        trainer.best = ckpt.best
        trainer.last_test = ckpt.last_test
        try:
            trainer.optimizer.load_state_dict(ckpt.optimizer)
            trainer.schedule.load_state_dict(ckpt.schedule)
            trainer.generator.set_state(ckpt.generator)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise CheckpointError(
                f"{path}: its optimiser, schedule or random state does not fit the run "
                f"({_first_lines(exc)})"
            ) from None
        for param, state in trainer.optimizer.state.items():
            if any(
                isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != param.shape
                for v in state.values()
            ):
                raise CheckpointError(
                    f"{path}: its optimiser state does not fit the model's weights "
                    "(tensor shapes differ)"
                )
        trainer.iteration = ckpt.iteration
        trainer.last_eval = ckpt.last_eval
        trainer.schedule.set_rates(trainer.iteration)
        for key in HISTORY_KEYS:
            trainer.history[key] = array("d", ckpt.history.get(key, []))
        for key, values in ckpt.history.items():
            if key.startswith("eval/"):
                trainer.eval_history[key[5:]] = list(values)
        trainer._last_good = [p.detach().clone() for p in trainer.params]
        return trainer


def _first_lines(exc: BaseException, lines: int = 3) -> str:
    text = " ".join(str(exc).split("\n")[:lines]).strip()
    return text[:400] or type(exc).__name__
