"""One ready-to-train run per model family: the window's starting points and the example configs.

``resources/configs/*.json`` hold these same specs (a test keeps them equal). Each one was
tuned on a 2-core CPU to learn visibly in seconds to a minute (see tests/core/test_learning.py).
"""

from __future__ import annotations

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


def spiral_ode() -> RunSpec:
    return RunSpec(
        name="spiral-ode",
        model=ModelSpec(family="ode", network=NetworkSpec(width=64, depth=2, activation="tanh")),
        solver=SolverSpec(method="dopri5", rtol=1e-3, atol=1e-6, max_num_steps=10_000),
        data=DataSpec(name="spiral", n_series=64, n_times=100, noise=0.01),
        # Windows of 10 observations grow to the whole series over the first 60 % of the
        # run: short windows are learned in seconds, whole series are what validation judges.
        train=TrainSpec(
            lr=0.01,
            schedule="cosine",
            batch_size=16,
            iterations=800,
            window=10,
            window_growth=0.6,
            eval_every=25,
        ),
    )


def spirals_cde() -> RunSpec:
    return RunSpec(
        name="spirals-cde",
        model=ModelSpec(
            family="cde",
            network=NetworkSpec(width=32, depth=1, activation="softplus", final_tanh=True),
            cde=CDESpec(hidden_size=8, interpolation="hermite", task="classification"),
        ),
        solver=SolverSpec(method="dopri5", rtol=1e-4, atol=1e-6, gradient="backprop"),
        data=DataSpec(
            name="spirals",
            n_series=128,
            n_times=32,
            noise=0.05,
            drop_fraction=0.3,
            val_fraction=0.25,
        ),
        train=TrainSpec(lr=0.01, batch_size=32, iterations=50, eval_every=25),
    )


def brownian_sde() -> RunSpec:
    return RunSpec(
        name="brownian-sde-gan",
        model=ModelSpec(
            family="sde",
            network=NetworkSpec(width=32, depth=1, activation="lipswish"),
            sde=SDESpec(hidden_size=16, sde_type="stratonovich", gan_constraint="gradient_penalty"),
        ),
        solver=SolverSpec(method="reversible_heun", step_size=0.0625, gradient="reversible"),
        data=DataSpec(name="brownian", n_series=1024, n_times=17, noise=0.0),
        train=TrainSpec(
            lr=5e-4,
            betas=[0.5, 0.9],
            schedule="cosine",
            batch_size=128,
            iterations=1000,
            eval_every=100,
        ),
    )


PRESETS = {"ode": spiral_ode, "cde": spirals_cde, "sde": brownian_sde}
CONFIG_FILES = {"ode": "ode_spiral.json", "cde": "cde_spirals.json", "sde": "sde_brownian.json"}


def preset(family: str) -> RunSpec:
    return PRESETS[family]()
