"""Real datasets that ship inside packages (the ``datasets`` extra): each loads offline with
its official test split, and a run on one validates and trains."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ndestudio.core import events as ev
from ndestudio.core.data import load_dataset
from ndestudio.core.data.packaged import (
    PACKAGED,
    PackagedDataError,
    load_packaged,
    package_installed,
)
from ndestudio.core.errors import UserError
from ndestudio.core.specs import RunSpec, SpecError
from ndestudio.core.validation import validate
from tests.conftest import small_spec

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "resources/examples/cde_japanese_vowels.json"
INSTALL = 'pip install "ndestudio[datasets]"'


def _needs(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not package_installed(package), reason=f"needs {package}: {INSTALL} (CI installs it)"
    )


needs_aeon, needs_statsmodels = _needs("aeon"), _needs("statsmodels")
ALL = [pytest.param(name, marks=_needs(entry.package), id=name) for name, entry in PACKAGED.items()]


@pytest.mark.parametrize("name", ALL)
def test_each_dataset_loads_as_its_catalog_entry_says(name):
    entry = PACKAGED[name]
    train, test = load_packaged(name, "train"), load_packaged(name, "test")
    assert entry.has_test_split
    for split, count in ((train, entry.n_train), (test, entry.n_test)):
        assert split.name == name and split.family == entry.family
        assert split.values.shape == (count, entry.n_times, len(entry.channel_names))
        assert split.channel_names == list(entry.channel_names)
        assert split.class_names == list(entry.class_names)
        assert split.times[0] == 0 and np.all(np.diff(split.times) > 0)
        assert not np.isinf(split.values).any()
        # Every series starts observed (the SDE-GAN and the CDE's initial state need it).
        assert not np.isnan(split.values[:, 0]).any()
    np.testing.assert_array_equal(train.times, test.times)  # one grid for both splits


@needs_aeon
def test_japanese_vowels_official_split_padded_after_each_end():
    train = load_packaged("japanese_vowels", "train")
    test = load_packaged("japanese_vowels", "test")
    assert train.values.shape == (270, 29, 12) and test.values.shape == (370, 29, 12)
    np.testing.assert_array_equal(train.times, np.arange(29.0))  # the frame index
    assert train.class_names == [str(i) for i in range(1, 10)]
    assert np.bincount(train.labels).tolist() == [30] * 9
    assert np.bincount(test.labels).tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    for ds, shortest, longest in ((train, 7, 26), (test, 7, 29)):
        observed = ds.observed_times()
        lengths = observed.sum(axis=1)
        assert lengths.min() == shortest and lengths.max() == longest
        # Each utterance is observed in every channel up to its end, and NaN after it.
        ended = np.arange(29)[None, :] >= lengths[:, None]
        np.testing.assert_array_equal(observed, ~ended)
        assert np.isnan(ds.values[ended]).all() and not np.isnan(ds.values[~ended]).any()


@needs_aeon
def test_basic_motions_classes_in_the_same_order_for_both_splits():
    import aeon.datasets

    train = load_packaged("basic_motions", "train")
    test = load_packaged("basic_motions", "test")
    assert train.values.shape == (40, 100, 6) == test.values.shape
    assert train.class_names == ["badminton", "running", "standing", "walking"] == test.class_names
    for split, ds in (("TRAIN", train), ("TEST", test)):
        x, y = aeon.datasets.load_basic_motions(split=split)
        np.testing.assert_array_equal(ds.values, np.transpose(x, (0, 2, 1)))
        assert [ds.class_names[i] for i in ds.labels] == [str(label) for label in y]
        assert np.bincount(ds.labels).tolist() == [10, 10, 10, 10]


def test_numeric_labels_sort_as_numbers():
    from ndestudio.core.data.packaged import _class_order

    assert _class_order(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert _class_order(["walking", "badminton"]) == ["badminton", "walking"]


@needs_statsmodels
def test_sunspots_segments_are_chronological_with_the_future_as_test():
    from statsmodels.datasets import sunspots

    record = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    train = load_packaged("sunspots", "train")
    test = load_packaged("sunspots", "test")
    assert train.values.shape == (11, 22, 1) and test.values.shape == (3, 22, 1)
    np.testing.assert_array_equal(train.times, np.arange(22.0))  # years from each start
    assert train.labels is None and test.labels is None
    # The segments, train then test, are the record in order (its last year dropped).
    joined = np.concatenate([train.values, test.values]).reshape(-1)
    np.testing.assert_array_equal(joined, record[: 14 * 22])
    assert len(record) - len(joined) == 1
    assert not np.isnan(joined).any()


@needs_statsmodels
def test_co2_keeps_its_missing_weeks():
    from statsmodels.datasets import co2

    record = co2.load_pandas().data["co2"].to_numpy()
    train = load_packaged("co2", "train")
    test = load_packaged("co2", "test")
    assert train.values.shape == (34, 52, 1) and test.values.shape == (9, 52, 1)
    assert train.times[-1] == pytest.approx(51 * 7 / 365.25)  # in years
    joined = np.concatenate([train.values, test.values]).reshape(-1)
    np.testing.assert_array_equal(joined, record[14 : 14 + 43 * 52])  # NaN where NaN
    assert np.isnan(joined).sum() == 53
    assert np.isnan(train.values).any()
    assert not train.shares_times  # irregular: each segment solved on its own weeks


@needs_aeon
def test_loads_are_cached_and_each_one_a_fresh_copy():
    first = load_packaged("japanese_vowels", "train")
    first.values[:] = 0.0
    first.labels[:] = 0
    again = load_packaged("japanese_vowels", "train")
    assert np.isnan(again.values).any() and again.labels.max() == 8


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(PackagedDataError) as caught:
        load_packaged("mnist", "train")
    assert isinstance(caught.value, UserError)
    assert str(caught.value) == (
        "packaged dataset 'mnist' does not exist; choose one of "
        "japanese_vowels, basic_motions, sunspots, co2"
    )


@pytest.mark.parametrize(("name", "package"), [("japanese_vowels", "aeon"), ("co2", "statsmodels")])
def test_a_missing_package_says_how_to_install_it(monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now fails
    assert not PACKAGED[name].installed
    with pytest.raises(PackagedDataError) as caught:
        load_packaged(name, "train")
    assert str(caught.value) == f"dataset {name!r} needs the optional package {package}: {INSTALL}"
    spec = small_spec("cde" if PACKAGED[name].family == "cde" else "ode")
    spec.data.source, spec.data.name, spec.data.test = "dataset", name, "split"
    with pytest.raises(SpecError) as refused:
        validate(spec)
    assert str(caught.value) in refused.value.problems


def _dataset_spec(family: str, name: str) -> RunSpec:
    spec = small_spec(family)
    spec.data.source, spec.data.name, spec.data.test = "dataset", name, "split"
    spec.train.window = None
    return spec


def _problems(spec: RunSpec) -> list[str]:
    try:
        validate(spec)
    except SpecError as exc:
        return exc.problems
    return []


def test_validation_names_an_unknown_dataset():
    assert _problems(_dataset_spec("cde", "mnist")) == [
        "packaged dataset 'mnist' does not exist; choose one of "
        "japanese_vowels, basic_motions, sunspots, co2"
    ]


@pytest.mark.parametrize(
    ("family", "name", "problem"),
    [
        ("ode", "japanese_vowels", "is for CDE models, but the model family is ODE"),
        ("sde", "basic_motions", "is for CDE models, but the model family is SDE"),
        ("cde", "sunspots", "is for ODE and SDE models, but the model family is CDE"),
        ("cde", "co2", "is for ODE and SDE models, but the model family is CDE"),
    ],
)
def test_validation_refuses_a_family_the_dataset_does_not_suit(family, name, problem):
    problems = [p for p in _problems(_dataset_spec(family, name)) if "optional package" not in p]
    assert len(problems) == 1 and problems[0].startswith(f"dataset {name!r} (")
    assert problems[0].endswith(problem)


@pytest.mark.parametrize(
    ("family", "name"),
    [("cde", "japanese_vowels"), ("cde", "basic_motions"), ("ode", "sunspots"), ("sde", "co2")],
)
def test_validation_accepts_a_family_the_dataset_suits(family, name):
    problems = [p for p in _problems(_dataset_spec(family, name)) if "optional package" not in p]
    assert problems == []


def test_validation_wants_classification_on_a_labelled_set():
    spec = _dataset_spec("cde", "japanese_vowels")
    spec.model.cde.task = "regression"
    assert (
        "dataset 'japanese_vowels' has class labels and no regression targets; set the CDE "
        "task to classification" in _problems(spec)
    )


def test_validation_lists_the_data_sources():
    spec = small_spec("ode")
    spec.data.source = "url"
    assert "data source must be 'demo', 'file' or 'dataset'; got 'url'" in _problems(spec)


@needs_aeon
def test_the_recipe_loads_validates_and_trains():
    from ndestudio.core.training import Trainer

    spec = RunSpec.load(RECIPE)
    assert (spec.data.source, spec.data.name, spec.data.test) == (
        "dataset",
        "japanese_vowels",
        "split",
    )
    assert spec.data.val_fraction == 0.0  # the official training split, whole
    assert (spec.model.cde.hidden_size, spec.model.network.width) == (64, 128)
    validate(spec)
    assert load_dataset(spec.data, "test").values.shape == (370, 29, 12)
    spec.train.iterations, spec.train.eval_every, spec.train.batch_size = 3, 3, 16
    trainer = Trainer(spec)
    assert trainer.dataset.values.shape == (270, 29, 12)
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert len(steps) == 3 and all(math.isfinite(s.loss) and s.grad_norm > 0 for s in steps)
    assert not [e for e in events if isinstance(e, ev.Eval)]  # no validation series
    tested = events[-2]
    assert isinstance(tested, ev.Tested) and tested.n_series == 370
    assert tested.weights == "last" and tested.confusion.sum() == 370
    assert tested.class_names == tuple(str(k) for k in range(1, 10))
    assert 0 <= tested.metrics["accuracy"] <= 1


@needs_aeon
def test_a_tiny_model_trains_on_japanese_vowels():
    from ndestudio.core.training import Trainer

    spec = _dataset_spec("cde", "japanese_vowels")
    spec.model.network.width, spec.model.cde.hidden_size = 16, 4
    spec.solver.method, spec.solver.step_size = "rk4", 1.0
    spec.train.iterations, spec.train.eval_every, spec.train.batch_size = 3, 3, 8
    events = list(Trainer(spec).run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    assert math.isfinite(events[-1].final_loss)


def test_an_unknown_split_is_a_packaged_data_error():
    with pytest.raises(PackagedDataError, match="split must be 'train' or 'test', got 'dev'"):
        load_packaged("co2", "dev")
