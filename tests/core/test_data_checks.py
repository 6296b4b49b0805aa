"""Data checked against the run before training: bad data is named, never blamed on the model."""

from __future__ import annotations

import numpy as np
import pytest

from ndestudio.core.data import DataError, TimeSeriesDataset, check_training_data, make_demo
from ndestudio.core.errors import UserError
from ndestudio.core.presets import preset
from ndestudio.core.specs import DataSpec
from tests.conftest import small_spec

nan, inf = float("nan"), float("inf")


def dataset(values, times=None, *, labels=None, class_names=None, targets=None, name="mine"):
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, :, None]
    t, c = values.shape[1:]
    return TimeSeriesDataset(
        name=name,
        family="any",
        times=np.arange(t, dtype=float) if times is None else np.asarray(times, dtype=float),
        values=values,
        channel_names=["x", "y", "z"][:c],
        labels=None if labels is None else np.asarray(labels),
        class_names=list(class_names or []),
        targets=None if targets is None else np.asarray(targets, dtype=float),
    )


def spec_for(family, task="classification", objective="sde_gan", **train):
    spec = small_spec(family, **{"window": None, **train})
    spec.model.cde.task = task
    spec.model.sde.objective = objective
    return spec


def refused(ds, spec) -> str:
    with pytest.raises(DataError) as info:
        check_training_data(ds, spec)
    assert isinstance(info.value, UserError)
    message = str(info.value)
    assert ds.name in message
    return message


def good(n=8, t=5, c=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, c))


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_the_demo_datasets_pass(family):
    spec = preset(family)
    check_training_data(make_demo(spec.data), spec)
    spec = small_spec(family)
    check_training_data(make_demo(spec.data), spec)


@pytest.mark.parametrize(
    "spec", [spec_for("cde", task="regression"), spec_for("sde", objective="latent_sde")]
)
def test_the_demo_datasets_pass_the_other_objectives(spec):
    check_training_data(make_demo(spec.data), spec)


def test_a_file_is_named_by_its_path():
    spec = spec_for("ode")
    spec.data = DataSpec(source="file", path="/data/runs/my.csv")
    values = good()
    values[1, 2, 0] = inf
    message = refused(dataset(values, name="my.csv"), spec)
    assert message.startswith("/data/runs/my.csv: ")


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_infinite_values_are_refused(family):
    values = good(c=2 if family != "sde" else 1)
    values[1, 2, -1] = -inf
    ds = dataset(values, labels=np.arange(8) % 2, class_names=["a", "b"], targets=np.ones((8, 1)))
    message = refused(ds, spec_for(family))
    channel = "'y'" if family != "sde" else "'x'"
    assert (
        f"dataset 'mine': 1 infinite value(s), the first -inf at series 2, time 2, channel "
        f"{channel}; expected finite numbers (NaN or an empty cell marks a missing value)"
    ) in message


def test_infinite_targets_are_refused():
    targets = np.ones((8, 1))
    targets[3] = inf
    message = refused(dataset(good(), targets=targets), spec_for("cde", task="regression"))
    assert "series 4 (1 of 8) has an infinite regression target" in message


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_a_channel_that_is_never_observed_is_named(family):
    values = good()
    values[:, :, 1] = nan
    ds = dataset(values, labels=np.arange(8) % 2, class_names=["a", "b"])
    assert "channel 'y' is never observed (every value is missing)" in refused(ds, spec_for(family))


def test_a_channel_observed_only_in_validation_is_named():
    spec = spec_for("ode")
    values = good()
    ds = dataset(values)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    values[:, :, 1] = nan
    values[val[0], 0, 1] = 1.0
    message = refused(dataset(values), spec)
    assert "channel 'y' is observed only in the validation series (the 6 training series" in (
        message
    )


@pytest.mark.parametrize("family", ["ode", "sde"])
def test_a_series_with_fewer_than_two_observations_is_named(family):
    values = good()
    values[2, 1:] = nan  # one observation
    values[5] = nan  # none
    message = refused(dataset(values), spec_for(family, objective="latent_sde"))
    model = "an ODE" if family == "ode" else "an SDE"
    assert (
        f"series 3, 6 (2 of 8) have fewer than 2 observed times; {model} model needs at least 2"
    ) in message


def test_a_cde_classifies_series_with_a_single_observation():
    values = good()
    values[2, 1:] = nan
    ds = dataset(values, labels=np.arange(8) % 2, class_names=["a", "b"])
    check_training_data(ds, spec_for("cde"))


def test_the_sde_gan_needs_the_first_time_observed():
    values = good(c=1)
    values[4, 0, 0] = nan
    ds = dataset(values)
    message = refused(ds, spec_for("sde"))
    assert "series 5 (1 of 8) has missing values at the first time 0" in message
    assert "use the latent SDE objective" in message
    check_training_data(ds, spec_for("sde", objective="latent_sde"))


@pytest.mark.parametrize(("n", "fraction"), [(1, 0.2), (2, 0.9), (4, 0.9)])
def test_too_few_series_to_split_are_refused(n, fraction):
    spec = spec_for("ode")
    spec.data.val_fraction = fraction
    ds = dataset(good(n=n))
    assert len(ds.split(fraction, 0)[0]) == 0  # the split itself leaves nothing to train on
    message = refused(ds, spec)
    needed = {0.2: 2, 0.9: 5}[fraction]
    assert (
        f"{n} series {'is' if n == 1 else 'are'} too few to split into training and "
        f"validation: validation fraction "
        f"{fraction:g} puts {n} in validation and leaves no training series; at least "
        f"{needed} are needed"
    ) in message


def test_the_count_needed_is_exactly_the_splits():
    spec = spec_for("ode")
    spec.data.val_fraction = 0.9
    ds = dataset(good(n=5))  # round(4.5) == 4 to validation: one left for training
    assert len(ds.split(0.9, 0)[0]) == 1
    check_training_data(ds, spec)


def test_classification_needs_labels():
    message = refused(dataset(good()), spec_for("cde"))
    assert "the dataset has no class labels (a 'label' column) to classify" in message


def test_classification_needs_two_classes():
    ds = dataset(good(), labels=np.zeros(8, int), class_names=["up"])
    message = refused(ds, spec_for("cde"))
    assert "every series is of class 'up'; classification needs series of at least two" in message


def test_classification_needs_training_series_of_each_class():
    labels = np.array([0] * 7 + [1])
    ds = dataset(good(), labels=labels, class_names=["common", "rare"])
    message = refused(ds, spec_for("cde"))
    assert (
        "too few series of class 'rare' (1 series) to split into training and validation: "
        "validation fraction 0.2 and the split by class put them all in validation, leaving "
        "no training series of the class; at least 2 are needed per class"
    ) in message
    train, _ = ds.split(0.2, 0)
    assert not (labels[train] == 1).any()


def test_a_labelled_dataset_is_split_by_class_for_other_families_too():
    ds = dataset(good(n=3), labels=[0, 1, 2], class_names=["a", "b", "c"])
    message = refused(ds, spec_for("ode"))
    assert "3 series in 3 classes are too few to split into training and validation" in message


def test_regression_needs_targets():
    message = refused(dataset(good()), spec_for("cde", task="regression"))
    assert "the dataset has no regression targets (columns whose names start with" in message


def test_regression_needs_a_target_for_every_series():
    targets = np.ones((8, 2))
    targets[[1, 6], 1] = nan
    message = refused(dataset(good(), targets=targets), spec_for("cde", task="regression"))
    assert "series 2, 7 (2 of 8) have no regression target (NaN)" in message


@pytest.mark.parametrize("family", ["ode", "cde", "sde"])
def test_values_whose_squares_overflow_the_dtype_are_refused(family):
    values = good(c=1)
    values[3, 1, 0] = 1e18
    ds = dataset(values, labels=np.arange(8) % 2, class_names=["a", "b"])
    message = refused(ds, spec_for(family, dtype="float32"))
    assert (
        "channel 'x' holds values too large to train on in float32: 1e+18 at series 4, "
        "time 1, channel 'x', with the training series' mean"
    ) in message
    assert "expected values within 1.8e+15 of their channel's mean" in message
    assert "or train in float64" in message
    check_training_data(ds, spec_for(family, dtype="float64"))
    values[3, 1, 0] = 1e160
    assert "'x' holds values too large to train on in float64: 1e+160" in refused(
        dataset(values, labels=np.arange(8) % 2, class_names=["a", "b"]),
        spec_for(family, dtype="float64"),
    )


def test_a_large_offset_with_a_small_spread_is_fine():
    check_training_data(dataset(good() + 1e20), spec_for("ode", dtype="float32"))


def test_regression_targets_whose_squares_overflow_are_refused():
    targets = np.ones((8, 1))
    targets[2] = -1e17
    ds = dataset(good(), targets=targets)
    message = refused(ds, spec_for("cde", task="regression", dtype="float32"))
    assert "series 3 (1 of 8) has a regression target too large to train on in float32" in message


def test_times_float32_cannot_tell_apart_are_refused():
    ds = dataset(good(t=3), times=[1e8, 1e8 + 1, 1e8 + 2])
    message = refused(ds, spec_for("ode", dtype="float32"))
    assert "the times 100000000 and 100000001 are the same number in float32" in message
    check_training_data(ds, spec_for("ode", dtype="float64"))


def test_a_training_window_longer_than_the_data_is_refused():
    message = refused(dataset(good(t=5)), spec_for("ode", window=10))
    assert "the training window (10) must be between 2 and the dataset's 5 observation" in message


def test_an_empty_dataset_is_refused():
    assert "the dataset holds no series" in refused(dataset(np.zeros((0, 3, 1))), spec_for("ode"))


# Property: any dataset either passes or gets a DataError; what passes normalises to finite
# numbers in the run's dtype, with training series for every class.


def test_random_datasets_pass_or_give_a_data_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    element = st.one_of(
        st.floats(-3, 3),
        st.sampled_from([nan, inf, -inf, 1e18, -1e18, 1e160, 1e300, 0.0]),
    )

    @st.composite
    def cases(draw):
        n, t, c = draw(st.integers(0, 7)), draw(st.integers(2, 5)), draw(st.integers(1, 2))
        values = draw(hnp.arrays(np.float64, (n, t, c), elements=element))
        steps = draw(st.lists(st.sampled_from([1e-3, 1.0, 1e9]), min_size=t, max_size=t))
        times = np.cumsum(steps) + draw(st.sampled_from([0.0, 1e8, 1e300]))
        if not (np.diff(times) > 0).all():
            times = np.arange(t, dtype=float)
        labels = draw(st.none() | hnp.arrays(np.int64, (n,), elements=st.integers(0, 2)))
        targets = draw(st.none() | hnp.arrays(np.float64, (n, 1), elements=element))
        family = draw(st.sampled_from(["ode", "cde", "sde"]))
        spec = spec_for(
            family,
            task=draw(st.sampled_from(["classification", "regression"])),
            objective=draw(st.sampled_from(["sde_gan", "latent_sde"])),
            dtype=draw(st.sampled_from(["float32", "float64"])),
            window=draw(st.sampled_from([None, 2, 4])),
        )
        spec.data.val_fraction = draw(st.sampled_from([0.2, 0.5, 0.9]))
        spec.data.seed = draw(st.integers(0, 3))
        ds = TimeSeriesDataset(
            "random", "any", times, values, ["x", "y"][:c], labels, ["a", "b", "c"], targets
        )
        return ds, spec

    @settings(max_examples=400, deadline=None)
    @given(cases())
    def check(case):
        ds, spec = case
        try:
            check_training_data(ds, spec)
        except DataError as exc:
            assert "'random'" in str(exc)
            return
        train, _ = ds.split(spec.data.val_fraction, spec.data.seed)
        assert len(train) >= 1
        loc, scale = ds.channel_stats(train)
        dtype = np.float32 if spec.train.dtype == "float32" else np.float64
        with np.errstate(over="raise", invalid="raise"):
            assert np.isfinite(loc.astype(dtype)).all() and np.isfinite(scale.astype(dtype)).all()
            centred = (ds.values - loc)[~np.isnan(ds.values)].astype(dtype)
            assert np.isfinite(np.sum(centred**2))  # a sum of squares in the data's units
        if spec.model.family == "cde" and spec.model.cde.task == "classification":
            assert ds.labels is not None and len(np.unique(ds.labels[train])) >= 2

    check()
