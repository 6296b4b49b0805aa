"""``ndestudio sweep --ray ADDRESS``: the trials of a sweep as Ray Tune trials, on a Ray cluster
(or ``--ray local``: a Ray instance started on this machine), optionally with the ASHA
scheduler stopping the trials whose validation loss lags.

Each trial trains in-process in its Ray worker, as ``ndestudio train`` would, into its own
folder of the sweep (on a cluster, ``--out`` must be a folder every node can write: shared
storage). At each evaluation it writes its metrics and checkpoint, then reports the
validation loss to Tune, so a trial ASHA stops keeps the checkpoint of its last evaluation.
Ray is an optional extra: ``pip install 'ndestudio[sweep]'``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ndestudio.core.errors import UserError
from ndestudio.core.sweep import Trial, TrialResult, read_result

INSTALL = "pip install 'ndestudio[sweep]'"


def ray_problem() -> str | None:
    """Why Ray Tune cannot be used here (None when it can)."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        return f"--ray needs Ray Tune, which is not installed: {INSTALL}"
    return None


def _train_trial(config: dict[str, Any]) -> None:
    """A Tune function trainable: one trial trained into its folder, reporting each
    evaluation's losses (``training_iteration`` counts the reports)."""
    from ray import tune

    from ndestudio.cli import MetricsWriter
    from ndestudio.core import events as ev
    from ndestudio.core.specs import RunSpec
    from ndestudio.core.training import Trainer

    spec = RunSpec.from_dict(config["spec"])
    folder = Path(config["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(folder / "config.json")
    trainer = Trainer(spec)
    metrics = MetricsWriter(folder / "metrics.csv", None, trainer.task.metric_names)
    loss = math.nan
    try:
        for event in trainer.run():
            if isinstance(event, ev.Step):
                metrics.step(event)
                loss = event.loss
            elif isinstance(event, ev.Eval):
                metrics.evaluation(event)
                metrics.sync()
                trainer.save(folder / "checkpoint.pt")  # (before a report ASHA may stop at)
                tune.report({"val_loss": event.val_loss, "loss": loss})
            elif isinstance(event, ev.Failed):
                raise RuntimeError(event.message)
    finally:
        metrics.close()
    trainer.save(folder / "checkpoint.pt")
    if not trainer.task.has_validation:
        tune.report({"val_loss": loss, "loss": loss})


def run_on_ray(
    trials: list[Trial], out: Path, address: str, jobs: int, asha: bool
) -> list[TrialResult]:
    """Every trial through Ray Tune; their results, read from their folders."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    problem = ray_problem()
    if problem:
        raise UserError(problem)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        if address == "local":
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        return _fit(trials, out, jobs, asha, tune, ASHAScheduler)
    finally:
        ray.shutdown()


def _fit(
    trials: list[Trial], out: Path, jobs: int, asha: bool, tune: Any, scheduler_class: Any
) -> list[TrialResult]:
    folder = out.absolute()
    plans = [{"spec": t.spec.to_dict(), "folder": str(folder / t.name)} for t in trials]
    evaluations = max(
        max(1, t.spec.train.iterations // max(t.spec.train.eval_every, 1)) for t in trials
    )
    scheduler = None
    if asha:
        scheduler = scheduler_class(
            metric="val_loss", mode="min", max_t=evaluations, grace_period=1
        )
    threads = max(t.spec.train.threads or 1 for t in trials)
    trainable = tune.with_resources(_by_index(plans), {"cpu": threads})
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(trials))))},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=jobs),
        run_config=tune.RunConfig(name="ray", storage_path=str(folder), verbose=0),
    )
    grid = tuner.fit()
    results: list[TrialResult] = []
    for result in grid:
        trial = trials[int(result.config["index"])]
        reports = int((result.metrics or {}).get("training_iteration", 0))
        seconds = float((result.metrics or {}).get("time_total_s", 0.0))
        if result.error is not None:
            status, message = "failed", " ".join(str(result.error).split())[-300:]
        elif asha and reports < evaluations:
            status, message = "stopped early", f"ASHA stopped it after {reports} evaluations"
        else:
            status, message = "finished", ""
        results.append(read_result(trial, folder / trial.name, status, seconds, message))
    return results


def _by_index(plans: list[dict[str, Any]]) -> Any:
    def trainable(config: dict[str, Any]) -> None:
        _train_trial(plans[int(config["index"])])

    return trainable
