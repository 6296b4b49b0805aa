"""Whether a run spec can run: every problem, in words a user can act on.

Above :mod:`ndestudio.core.specs`, the solver catalog and the demo list (each of which
imports the specs), so that no import goes round in a circle. Those two need torch: they
are imported when a spec is first checked, so that importing this module (the window does
before PyTorch has loaded; the CLI before it can handle Ctrl-C) stays light.
"""

from __future__ import annotations

import math
from pathlib import Path

from ndestudio.core.specs import (
    ACTIVATIONS,
    CDE_TASKS,
    DATA_FORMATS,
    DTYPES,
    FAMILIES,
    GAN_CONSTRAINTS,
    INTERPOLATIONS,
    NOISE_TYPES,
    OPTIMIZERS,
    SCHEDULES,
    SDE_OBJECTIVES,
    SDE_TYPES,
    TEST_SOURCES,
    NetworkSpec,
    RunSpec,
    SpecError,
)


def _choice(problems: list[str], label: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        problems.append(f"{label} must be one of {', '.join(allowed)}; got {value!r}")


def validate(spec: RunSpec) -> None:
    """Raise :class:`SpecError` listing every reason ``spec`` cannot run."""
    from ndestudio.core.budget import budget_problems
    from ndestudio.core.data.demos import DEMOS
    from ndestudio.core.solvers.catalog import check_solver
    from ndestudio.core.solvers.fast import ENGINES, engine_problems

    p: list[str] = []
    m, s, d, t = spec.model, spec.solver, spec.data, spec.train
    _choice(p, "model family", m.family, FAMILIES)
    _check_network(p, "vector field", m.network)
    _choice(p, "CDE interpolation", m.cde.interpolation, INTERPOLATIONS)
    _choice(p, "CDE task", m.cde.task, CDE_TASKS)
    _choice(p, "SDE noise type", m.sde.noise_type, NOISE_TYPES)
    _choice(p, "SDE type", m.sde.sde_type, SDE_TYPES)
    _choice(p, "SDE objective", m.sde.objective, SDE_OBJECTIVES)
    _choice(p, "GAN constraint", m.sde.gan_constraint, GAN_CONSTRAINTS)
    _check_network(p, "discriminator", m.sde.discriminator)
    for label, value in (
        ("CDE hidden size", m.cde.hidden_size),
        ("SDE hidden size", m.sde.hidden_size),
        ("Brownian motion size", m.sde.brownian_size),
        ("initial noise size", m.sde.initial_noise_size),
        ("discriminator hidden size", m.sde.discriminator_hidden_size),
        ("critic steps per generator step", m.sde.critic_steps),
        ("latent SDE context size", m.sde.context_size),
    ):
        if value < 1:
            p.append(f"{label} must be ≥ 1, got {value}")
    if m.family in FAMILIES:
        sde_type = m.sde.sde_type if m.family == "sde" else None
        noise_type = m.sde.noise_type if m.family == "sde" else None
        p.extend(check_solver(m.family, s, sde_type=sde_type, noise_type=noise_type))
    _choice(p, "solver engine", s.engine, ENGINES)
    if s.engine == "fast":
        p.extend(engine_problems(m.family, s, m.network))

    if d.source == "file":
        if not d.path:
            p.append("data source is a file, but no file is chosen (data.path)")
        elif not Path(d.path).is_file():
            p.append(f"data file {d.path} does not exist")
    elif d.source == "dataset":
        p.extend(_packaged_problems(d.name, m.family, m.cde.task))
    elif d.source != "demo":
        p.append(f"data source must be 'demo', 'file' or 'dataset'; got {d.source!r}")
    elif d.name not in DEMOS:
        p.append(f"demo {d.name!r} does not exist; choose one of {', '.join(DEMOS)}")
    elif m.family in FAMILIES and DEMOS[d.name].family != m.family:
        p.append(
            f"demo {d.name!r} is a {DEMOS[d.name].family.upper()} dataset, "
            f"but the model family is {m.family.upper()}"
        )
    if m.family == "sde" and m.sde.objective == "latent_sde":
        if m.sde.noise_type != "diagonal":
            p.append(
                f"the latent SDE needs diagonal noise (its KL term divides by the diffusion), "
                f"got {m.sde.noise_type!r}"
            )
        if not m.sde.likelihood_std > 0:
            p.append(f"latent SDE likelihood std must be > 0, got {m.sde.likelihood_std}")
        if m.sde.kl_weight < 0 or m.sde.kl_anneal_iterations < 0:
            p.append("latent SDE KL weight and annealing iterations must be ≥ 0")
    _check_numbers(p, spec)
    if not 0 <= m.sde.average_decay < 1:
        p.append(f"generator averaging decay must be in [0, 1), got {m.sde.average_decay}")
    if d.n_series < 4:
        p.append(f"number of series must be ≥ 4, got {d.n_series}")
    if d.n_times < 2:
        p.append(f"number of observation times must be ≥ 2, got {d.n_times}")
    if d.t_span is not None and (len(d.t_span) != 2 or not d.t_span[1] > d.t_span[0]):
        p.append(f"time span must be [start, end] with end > start, got {d.t_span}")
    if d.noise < 0:
        p.append(f"noise level must be ≥ 0, got {d.noise}")
    if not 0 <= d.drop_fraction < 1:
        p.append(f"drop fraction must be in [0, 1), got {d.drop_fraction}")
    if not 0 <= d.val_fraction < 1:
        p.append(f"validation fraction must be in [0, 1), got {d.val_fraction}")
    _choice(p, "data file format", d.format, DATA_FORMATS)
    _choice(p, "test set", d.test, TEST_SOURCES)
    if d.test == "file":
        if not d.test_path:
            p.append("the test set is a file, but no file is chosen (data.test_path)")
        elif not Path(d.test_path).is_file():
            p.append(f"test file {d.test_path} does not exist")
    elif d.test == "split" and d.source != "dataset":
        p.append(
            "the test set is the dataset's official test split (data.test 'split'), which only "
            "packaged datasets (data.source 'dataset') have; choose a test file instead"
        )

    _choice(p, "optimizer", t.optimizer, OPTIMIZERS)
    _choice(p, "learning-rate schedule", t.schedule, SCHEDULES)
    _choice(p, "dtype", t.dtype, DTYPES)
    if not t.lr > 0:
        p.append(f"learning rate must be > 0, got {t.lr}")
    if t.betas is not None and (len(t.betas) != 2 or not all(0 <= b < 1 for b in t.betas)):
        p.append(f"Adam betas must be two numbers in [0, 1), got {t.betas}")
    if t.batch_size < 1:
        p.append(f"batch size must be ≥ 1, got {t.batch_size}")
    if t.iterations < 1:
        p.append(f"iterations must be ≥ 1, got {t.iterations}")
    if t.eval_every < 1:
        p.append(f"evaluation interval must be ≥ 1, got {t.eval_every}")
    if t.window is not None and d.source == "demo" and not 2 <= t.window <= d.n_times:
        p.append(f"training window must be between 2 and the observation count {d.n_times}")
    if not 0 <= t.window_growth <= 1:
        p.append(f"window growth must be a share of the run in [0, 1], got {t.window_growth}")
    if t.grad_clip is not None and not t.grad_clip > 0:
        p.append(f"gradient clipping must be > 0 (or unset), got {t.grad_clip}")
    if t.weight_decay < 0:
        p.append(f"weight decay must be ≥ 0, got {t.weight_decay}")
    if t.patience is not None:
        if t.patience < 1:
            p.append(f"early-stopping patience must be ≥ 1 evaluation (or unset), got {t.patience}")
        elif d.val_fraction == 0:
            p.append(
                "early stopping watches the validation loss, but the validation fraction is 0 "
                "(no validation series); set a validation fraction or unset the patience"
            )
    if not 1 <= t.threads <= MAX_THREADS:
        p.append(f"torch threads must be between 1 and {MAX_THREADS}, got {t.threads}")
    if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
        p.append(f"device must be auto, cpu, cuda or cuda:N; got {t.device!r}")
    if not p:  # (sizes are known to be sound: estimate what they need)
        p.extend(budget_problems(spec))
    if p:
        raise SpecError(p)


MAX_THREADS = 1024
MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64-bit seeds
MAX_COUNT = 10**12  # iterations, evaluation interval, steps: beyond any run


def _check_numbers(p: list[str], spec: RunSpec) -> None:
    """Settings that JSON can make infinite, NaN or astronomically large."""
    m, s, d, t = spec.model, spec.solver, spec.data, spec.train
    floats: dict[str, float | None] = {
        "solver rtol": s.rtol,
        "solver atol": s.atol,
        "solver step_size": s.step_size,
        "solver min_step": s.min_step,
        "data noise": d.noise,
        "learning rate": t.lr,
        "weight decay": t.weight_decay,
        "gradient clipping": t.grad_clip,
        "SDE initial_init_scale": m.sde.initial_init_scale,
        "SDE field_init_scale": m.sde.field_init_scale,
        "SDE gradient_penalty": m.sde.gradient_penalty,
        "SDE discriminator_lr_ratio": m.sde.discriminator_lr_ratio,
        "latent SDE likelihood_std": m.sde.likelihood_std,
        "latent SDE kl_weight": m.sde.kl_weight,
    }
    for i, span_end in enumerate(d.t_span or []):
        floats[f"time span [{i}]"] = span_end
    for i, beta in enumerate(t.betas or []):
        floats[f"Adam beta [{i}]"] = beta
    for label, number in floats.items():
        if number is not None and not math.isfinite(number):
            p.append(f"{label} must be a finite number, got {number}")
    for label, seed in (("training seed", t.seed), ("data seed", d.seed)):
        if not 0 <= seed <= MAX_SEED:
            p.append(f"{label} must be between 0 and 2**63 - 1, got {seed}")
    counts: tuple[tuple[str, int | None], ...] = (
        ("iterations", t.iterations),
        ("evaluation interval", t.eval_every),
        ("max_num_steps", s.max_num_steps),
        ("latent SDE KL annealing iterations", m.sde.kl_anneal_iterations),
    )
    for name, count in counts:
        if count is not None and count > MAX_COUNT:
            p.append(f"{name} must be at most 10**12, got {count}")


def _packaged_problems(name: str, family: str, cde_task: str) -> list[str]:
    """Why the packaged dataset ``name`` cannot train a ``family`` model (data.source
    "dataset"): an unknown name, a family it does not suit, a package not installed."""
    from ndestudio.core.data.packaged import INSTALL, PACKAGED

    if name not in PACKAGED:
        return [f"packaged dataset {name!r} does not exist; choose one of {', '.join(PACKAGED)}"]
    entry, problems = PACKAGED[name], []
    if family in FAMILIES and family not in entry.families:
        suits = " and ".join(f.upper() for f in entry.families)
        problems.append(
            f"dataset {name!r} ({entry.task}) is for {suits} models, but the model family is "
            f"{family.upper()}"
        )
    elif family == "cde" and entry.task == "classification" and cde_task != "classification":
        problems.append(
            f"dataset {name!r} has class labels and no regression targets; set the CDE task "
            "to classification"
        )
    if not entry.installed:
        problems.append(f"dataset {name!r} needs the optional package {entry.package}: {INSTALL}")
    return problems


def _check_network(p: list[str], label: str, net: NetworkSpec) -> None:
    if net.width < 1:
        p.append(f"{label} hidden width must be ≥ 1, got {net.width}")
    if net.depth < 0:
        p.append(f"{label} depth must be ≥ 0, got {net.depth}")
    _choice(p, f"{label} activation", net.activation, ACTIVATIONS)
