"""Run specifications: plain dataclasses that the GUI edits, the CLI reads and checkpoints keep.

Every spec round-trips through JSON (``to_json`` / ``from_json``). Whether a spec can run is
checked by :func:`ndestudio.core.validation.validate`, which needs the solver catalog and the
demo list: those import this module, so the check lives above them, not here.
"""

from __future__ import annotations

import dataclasses
import json
import os
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
# What solves an ODE or CDE: torchdiffeq, the fast engine (ndestudio.core.solvers.fast), or
# "auto": the fast engine wherever it covers the model and solver.
ENGINES = ("auto", "torchdiffeq", "fast")
DATA_SOURCES = ("demo", "file", "dataset")
# A data file's layout: "auto" picks by extension and header (a CSV with a 'series' column is
# long form, one without it wide form).
DATA_FORMATS = ("auto", "csv_long", "csv_wide", "parquet", "npz")
# Where a held-out test set comes from: none; a file (``test_path``); or the official test
# split of a packaged dataset (source "dataset").
TEST_SOURCES = ("none", "file", "split")
CHECKPOINT_CHOICES = ("best", "last")


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
    engine: str = "auto"  # "auto" (fast where it applies), "torchdiffeq" or "fast"


@dataclass
class DataSpec:
    """Where the data comes from: a generated demo (``name``), a file (``path``, read as
    ``format``; a relative path is resolved against the folder of the config that names it),
    or a dataset that ships in a package (``name``, source "dataset").

    ``val_fraction`` of the training series (stratified by class) are held out for
    validation; 0 trains on every series and skips validation. ``test`` names a held-out
    test set scored after training and by ``ndestudio evaluate``."""

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
    format: str = "auto"
    test: str = "none"
    test_path: str | None = None


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
    # Stop when the validation loss has not improved for this many evaluations (None: never).
    # The best-validation weights are kept beside the last ones either way.
    patience: int | None = None


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
        spec = cls.from_json(text, source=str(path))
        # A data file named relative to the config is found beside the config, wherever the
        # command runs from (and saved absolute, so that a copy of the config still finds it).
        folder = path.absolute().parent
        for name in ("path", "test_path"):
            value = getattr(spec.data, name)
            if value:
                given = Path(value).expanduser()  # "~/data.csv" is the user's home
                setattr(spec.data, name, os.path.normpath(folder / given))
        return spec

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
