"""CSV data files: irregular times, missing values, labels and targets; clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndestudio.core import events as ev
from ndestudio.core.data import DataFileError, load_csv, make_demo
from ndestudio.core.specs import DataSpec, SpecError, validate
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_irregular_series_with_gaps_labels_and_targets(tmp_path):
    path = write(
        tmp_path,
        "series,time,x,y,label,target_rate\n"
        "a,0.0,1.0,2.0,up,0.5\n"
        "a,1.5,,2.5,up,0.5\n"
        "b,0.5,3.0,NaN,down,1.5\n"
        "\n"
        "b,1.5,4.0,5.0,down,1.5\n",
    )
    ds = load_csv(path)
    assert ds.channel_names == ["x", "y"] and ds.class_names == ["down", "up"]
    assert ds.times.tolist() == [0.0, 0.5, 1.5]  # the union of both series' times
    assert ds.values.shape == (2, 3, 2)
    assert ds.values[0, 0].tolist() == [1.0, 2.0]
    assert math.isnan(ds.values[0, 1, 0]) and math.isnan(ds.values[0, 2, 0])  # gap, empty cell
    assert ds.values[0, 2, 1] == 2.5 and math.isnan(ds.values[1, 1, 1])
    assert ds.labels.tolist() == [1, 0] and ds.targets.tolist() == [[0.5], [1.5]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected a header row"),
        ("name,t,x\na,0,1\n", "line 1: the header needs columns 'series' and 'time'"),
        ("series,time\na,0\n", "line 1: no value columns besides series and time"),
        ("series,time,x\na,0,1\na,zero,2\n", "line 3, column 2 ('time'): expected a number"),
        ("series,time,x\na,0,1\na,1,abc\n", "line 3, column 3 ('x'): expected a number, got 'abc'"),
        ("series,time,x\na,0,1\na,1\n", "line 3: 2 cells, expected 3"),
        ("series,time,x\na,0,1\na,0,2\n", "line 3: series 'a' has two rows at time 0"),
        (
            "series,time,x,label\na,0,1,up\na,1,2,down\n",
            "line 3, column 4 ('label'): series 'a' has label 'down' here but 'up' on line 2",
        ),
        ("series,time,x\na,0,1\nb,0,2\n", "at least two distinct observation times"),
    ],
)
def test_bad_files_name_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        load_csv(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_file_is_explained_by_validation(tmp_path):
    spec = small_spec("ode")
    spec.data = DataSpec(source="file", path=str(tmp_path / "nope.csv"))
    with pytest.raises(SpecError, match=r"nope\.csv does not exist"):
        validate(spec)
    spec.data = DataSpec(source="file")
    with pytest.raises(SpecError, match="no file is chosen"):
        validate(spec)


def _to_csv(ds, path, labels=False):
    lines = ["series,time," + ",".join(ds.channel_names) + (",label" if labels else "")]
    for s in range(ds.n_series):
        for k, t in enumerate(ds.times):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in ds.values[s, k]]
            label = [ds.class_names[ds.labels[s]]] if labels else []
            lines.append(",".join([f"s{s}", repr(float(t)), *cells, *label]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("family", ["ode", "cde"])
def test_a_model_trains_from_a_file(tmp_path, family):
    demo_spec = small_spec(family)
    ds = make_demo(demo_spec.data)
    path = _to_csv(ds, tmp_path / f"{family}.csv", labels=family == "cde")
    spec = small_spec(family, iterations=3, eval_every=3)
    spec.data = DataSpec(source="file", path=str(path))
    validate(spec)
    trainer = Trainer(spec)
    events = list(trainer.run())
    assert isinstance(events[-1], ev.Finished), events[-1]
    np.testing.assert_allclose(trainer.dataset.values, ds.values)
    assert trainer.dataset.times.tolist() == ds.times.tolist()


def test_a_training_window_longer_than_the_file_is_refused(tmp_path):
    path = write(
        tmp_path, "series,time,x,y\n" + "".join(f"a,{t},1,2\nb,{t},2,1\n" for t in range(5))
    )
    spec = small_spec("ode", window=10)
    spec.data = DataSpec(source="file", path=str(path))
    with pytest.raises(
        ValueError, match=r"training window \(10\) must be between 2 and the dataset's 5"
    ):
        Trainer(spec)


def test_irregular_series_start_from_their_first_observation():
    import torch

    from ndestudio.core.training.tasks import _first_observed

    nan = float("nan")
    series = torch.tensor([[[nan, 1.0], [2.0, nan], [3.0, 4.0]], [[nan, nan]] * 3])
    assert _first_observed(series).tolist() == [[2.0, 1.0], [0.0, 0.0]]
