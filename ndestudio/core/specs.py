"""Run specifications: plain dataclasses that the GUI edits, the CLI reads and checkpoints keep.

Every spec round-trips through JSON (``to_json`` / ``from_json``) and is checked by
``validate``, which raises :class:`SpecError` listing every problem in words a user can act on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ndestudio.core.errors import UserError

FAMILIES = ("ode", "cde", "sde")
ACTIVATIONS = ("tanh", "softplus", "relu", "silu", "lipswish")
INTERPOLATIONS = ("hermite", "linear", "rectilinear")
CDE_TASKS = ("classification", "regression")
NOISE_TYPES = ("diagonal", "general", "additive", "scalar")
SDE_TYPES = ("ito", "stratonovich")
SDE_OBJECTIVES = ("sde_gan", "latent_sde")
GAN_CONSTRAINTS = ("clip", "gradient_penalty")
GRADIENTS = ("backprop", "adjoint", "adjoint_seminorm", "reversible")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step", "exponential")
DTYPES = ("float32", "float64")


class SpecError(UserError):
    """A spec that cannot run; ``problems`` lists each reason on its own."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class NetworkSpec:
    """A multilayer perceptron: ``depth`` hidden layers of ``width`` units."""

    width: int = 64
    depth: int = 2
    activation: str = "softplus"
    final_tanh: bool = False
    time_input: bool = False
    zero_init_last: bool = False


@dataclass
class CDESpec:
    hidden_size: int = 16
    interpolation: str = "hermite"
    task: str = "classification"
    time_channel: bool = True
    mask_channels: bool = False


@dataclass
class SDESpec:
    hidden_size: int = 16
    noise_type: str = "diagonal"
    sde_type: str = "stratonovich"
    brownian_size: int = 1
    initial_noise_size: int = 5
    # Scale factors applied to the generator's initial weights (as in the thesis's SDE-GAN
    # example): a wider initial distribution and gentler vector fields train faster.
    initial_init_scale: float = 3.0
    field_init_scale: float = 0.5
    objective: str = "sde_gan"
    discriminator: NetworkSpec = field(
        default_factory=lambda: NetworkSpec(
            width=32, depth=1, activation="lipswish", final_tanh=True
        )
    )
    discriminator_hidden_size: int = 16
    gan_constraint: str = "gradient_penalty"
    gradient_penalty: float = 10.0
    discriminator_lr_ratio: float = 4.0
    critic_steps: int = 1
    # Samples come from an exponential moving average of the generator's weights, which
    # smooths the oscillations of adversarial training; 0 uses the raw generator.
    average_decay: float = 0.99
    # Latent SDE (objective "latent_sde"): a GRU encoder's context of this size drives the
    # posterior drift; the loss is the negative ELBO with a Gaussian likelihood of this
    # standard deviation (in normalised units) and the KL terms weighted up from 0 to
    # kl_weight over the first kl_anneal_iterations steps.
    context_size: int = 16
    likelihood_std: float = 0.5
    kl_weight: float = 1.0
    kl_anneal_iterations: int = 100


@dataclass
class ModelSpec:
    family: str = "ode"
    network: NetworkSpec = field(default_factory=NetworkSpec)
    cde: CDESpec = field(default_factory=CDESpec)
    sde: SDESpec = field(default_factory=SDESpec)


@dataclass
class SolverSpec:
    method: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-6
    step_size: float | None = None
    min_step: float | None = None
    max_num_steps: int | None = 10_000
    gradient: str = "backprop"


@dataclass
class DataSpec:
    source: str = "demo"
    name: str = "spiral"
    n_series: int = 128
    n_times: int = 64
    t_span: list[float] | None = None
    noise: float = 0.01
    drop_fraction: float = 0.0
    seed: int = 0
    val_fraction: float = 0.2
    path: str | None = None


@dataclass
class TrainSpec:
    optimizer: str = "adam"
    lr: float = 1e-2
    betas: list[float] | None = None
    schedule: str = "constant"
    batch_size: int = 16
    iterations: int = 300
    window: int | None = None
    # The share of the run over which the window grows, linearly, from ``window`` to the
    # whole series (0: it stays ``window``): short windows first, whole series at the end.
    window_growth: float = 0.0
    grad_clip: float | None = None
    weight_decay: float = 0.0
    seed: int = 0
    eval_every: int = 25
    device: str = "auto"
    dtype: str = "float32"
    threads: int = 1


@dataclass
class RunSpec:
    name: str = "run"
    model: ModelSpec = field(default_factory=ModelSpec)
    solver: SolverSpec = field(default_factory=SolverSpec)
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return _build(cls, data, "run")

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> RunSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                [f"{source}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"]
            ) from None
        except RecursionError:
            raise SpecError([f"{source}: the JSON is nested too deeply to be a config"]) from None
        except ValueError as exc:  # e.g. an integer of more than 4 300 digits
            raise SpecError([f"{source}: invalid JSON ({exc})"]) from None
        if not isinstance(data, dict):
            raise SpecError([f"{source}: expected a JSON object at the top level"])
        try:
            return cls.from_dict(data)
        except SpecError as exc:
            if len(exc.problems) == 1:  # (several are listed under the file's name)
                raise SpecError([f"{source}: {exc.problems[0]}"]) from None
            raise

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise SpecError([f"{path}: the text is UTF-16; save the config as UTF-8"])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError([f"{path}: not UTF-8 text (byte {exc.start + 1})"]) from None
        return cls.from_json(text, source=str(path))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


T = TypeVar("T")


def _build(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise SpecError([f"{where}: expected an object, got {type(data).__name__}"])
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    problems = [f"{where}.{key}: unknown setting" for key in unknown]
    kwargs: dict[str, Any] = {}
    for name in names & set(data):
        try:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is list:
        if not isinstance(value, list):
            raise SpecError([f"{where}: expected a list, got {type(value).__name__}"])
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise SpecError([f"{where}: expected true or false, got {value!r}"])
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError([f"{where}: expected an integer, got {value!r}"])
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError([f"{where}: expected a number, got {value!r}"])
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SpecError([f"{where}: expected a string, got {value!r}"])
        return value
    return value


def _choice(problems: list[str], label: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        problems.append(f"{label} must be one of {', '.join(allowed)}; got {value!r}")


def validate(spec: RunSpec) -> None:
    """Raise :class:`SpecError` listing every reason ``spec`` cannot run."""
    from ndestudio.core.data.demos import DEMOS
    from ndestudio.core.solvers.catalog import check_solver

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

    if d.source == "file":
        if not d.path:
            p.append("data source is a file, but no file is chosen (data.path)")
        elif not Path(d.path).is_file():
            p.append(f"data file {d.path} does not exist")
    elif d.source != "demo":
        p.append(f"data source must be 'demo' or 'file'; got {d.source!r}")
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
    if not 0 < d.val_fraction < 1:
        p.append(f"validation fraction must be in (0, 1), got {d.val_fraction}")

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
    if not 1 <= t.threads <= MAX_THREADS:
        p.append(f"torch threads must be between 1 and {MAX_THREADS}, got {t.threads}")
    if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
        p.append(f"device must be auto, cpu, cuda or cuda:N; got {t.device!r}")
    if not p:  # (sizes are known to be sound: estimate what they need)
        from ndestudio.core.budget import budget_problems

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


def _check_network(p: list[str], label: str, net: NetworkSpec) -> None:
    if net.width < 1:
        p.append(f"{label} hidden width must be ≥ 1, got {net.width}")
    if net.depth < 0:
        p.append(f"{label} depth must be ≥ 0, got {net.depth}")
    _choice(p, f"{label} activation", net.activation, ACTIVATIONS)
