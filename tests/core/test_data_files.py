"""CSV data files: irregular times, missing values, labels and targets; clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndestudio.core import events as ev
from ndestudio.core.data import (
    DataError,
    DataFileError,
    check_training_data,
    load_csv,
    make_demo,
)
from ndestudio.core.specs import DataSpec, SpecError
from ndestudio.core.training import Trainer
from ndestudio.core.validation import validate
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


# Every bad input gives a DataFileError naming the file, the line and (where it applies) the
# column, and what was expected; never a traceback, never a silent success.


def write_bytes(tmp_path, data: bytes, name: str = "data.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path) -> str:
    with pytest.raises(DataFileError) as info:
        load_csv(path)
    message = str(info.value)
    assert str(path) in message
    return message


HEAD = "series,time,x\na,0,1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n \n\n", "the file is empty; expected a header row"),
        (HEAD + "a,1,2,3\n", "line 3: 4 cells, expected 3 (series, time, x)"),
        (HEAD + "a,1,inf\n", "line 3, column 3 ('x'): expected a finite number, got 'inf'"),
        (HEAD + "a,1,-Infinity\n", "line 3, column 3 ('x'): expected a finite number"),
        (HEAD + "a,1,1e400\n", "line 3, column 3 ('x'): '1e400' is too large; expected a"),
        (HEAD + "a,1,-1e200\n", "column 3 ('x'): '-1e200' is too large; expected a magnitude"),
        (HEAD + "a,1e200,1\n", "line 3, column 2 ('time'): '1e200' is too large"),
        (HEAD + "a,nan,1\n", "line 3, column 2 ('time'): expected a finite number, got 'nan'"),
        (HEAD + "a,,1\n", "line 3, column 2 ('time'): expected a number, the cell is empty"),
        (HEAD + ",1,1\n", "line 3, column 1 ('series'): the series name is empty"),
        (HEAD + "a,1.0,2\na,1,3\n", "line 4: series 'a' has two rows at time 1"),
        ("series,time,x,\na,0,1,\n", "line 1, column 4: the column has no name; expected a name"),
        ("series, ,time,x\n", "line 1, column 2: the column has no name"),
        ("\n\nseries,time,x,\n", "line 3, column 4: the column has no name"),
        ("series,time\n", "line 1: no value columns besides series and time"),
        ("series,time,label,target\n", "line 1: no value columns besides series and time"),
        ("series,time,x,x\n", "line 1: repeated column names x ('x' in columns 3, 4)"),
        ("series,time,x, x\n", "line 1: repeated column names x"),
        ("series,time\n", "line 1: no value columns"),
        ("series,time,x\n\n", "no observations after the header"),
        (
            "series,time,x,label\na,0,1,up\na,1,2, \n",
            "line 3, column 4 ('label'): the label is empty; expected the class of series 'a'",
        ),
        (
            "series,time,x,target\na,0,1,high\n",
            "line 2, column 4 ('target'): expected a number, got 'high'",
        ),
        ("series,time,x,target\na,0,1,\n", "column 4 ('target'): expected a number, the cell"),
        ("series,time,x,target\na,0,1,nan\n", "column 4 ('target'): expected a finite number"),
        ("series,time,x,target\na,0,1,-inf\n", "column 4 ('target'): expected a finite number"),
        ("series,time,x,target\na,0,1,1e300\n", "column 4 ('target'): '1e300' is too large"),
        (
            "series,time,x,target\na,0,1,2\na,1,1,3\n",
            "line 3: series 'a' has different targets than on line 2",
        ),
        (HEAD + 'a,1,"2\n', 'line 3: a quoted cell is never closed; expected a closing "'),
        # Text after a closing quote belongs to the cell, as pandas and the csv module read it.
        (HEAD + 'a,1,"2"x\n', "line 3, column 3 ('x'): expected a number, got '2x'"),
        # A record's line is the physical line it starts on, also after quoted line breaks.
        ('series,time,x\na,0,"1\n"\na,1,z\n', "line 4, column 3 ('x'): expected a number"),
    ],
)
def test_more_bad_files_name_line_and_column(tmp_path, text, message):
    assert message in refused(write(tmp_path, text))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (HEAD.encode("utf-16"), "looks like UTF-16 text; save it as UTF-8"),
        (HEAD.encode("utf-16-be"), "looks like UTF-16 text (every other byte is NUL)"),
        (HEAD.encode("utf-16-le"), "looks like UTF-16 text (every other byte is NUL)"),
        (HEAD.encode("utf-32"), "looks like UTF-32 text; save it as UTF-8"),
        (
            HEAD.encode() + "b,1,café\n".encode("latin-1"),
            "line 3, character 8: byte 0xE9 is not UTF-8; expected a UTF-8 text file",
        ),
        (b"\xff\xd8\xff\xe0JFIF", "line 1, character 1: byte 0xFF is not UTF-8"),
        (HEAD.encode() + b"a,1,2\x00\n", "line 3, character 6: a NUL byte; expected UTF-8 text"),
    ],
)
def test_files_that_are_not_utf8_text_are_refused(tmp_path, data, message):
    assert message in refused(write_bytes(tmp_path, data))


def test_a_cell_beyond_the_csv_field_limit_is_refused(tmp_path):
    import csv

    path = write(tmp_path, HEAD + "a,1," + "1" * (csv.field_size_limit() + 1) + "\n")
    message = refused(path)  # no field limit now: the cell is read, and is a number too large
    assert "line 3, column 3 ('x'): '111" in message
    assert "is too large; expected a magnitude of at most 1e+150" in message


def test_a_time_grid_too_large_for_memory_is_refused(tmp_path, monkeypatch):
    from ndestudio.core.data import files

    monkeypatch.setattr(files, "MAX_CELLS", 5)
    path = write(tmp_path, "series,time,x\na,0,1\nb,1,2\nc,2,3\n")
    assert "3 series on 3 distinct times with 1 channel(s) make 9 cells" in refused(path)


def test_a_folder_is_not_a_file(tmp_path):
    assert "cannot read" in refused(tmp_path)


def test_a_utf8_bom_leading_blank_lines_and_quotes_are_fine(tmp_path):
    text = '\n\nseries,time,"x"\n"a, 1",0,1\n"a, 1",1,\n'
    ds = load_csv(write_bytes(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert ds.channel_names == ["x"] and ds.values.shape == (1, 2, 1)
    assert ds.values[0, 0, 0] == 1.0 and math.isnan(ds.values[0, 1, 0])


# Property: any bytes at all either load or give a DataFileError naming the file.

_CELLS = ["", " ", "nan", "inf", "-inf", "1e400", "1e200", "1e-320", "a", '"', '"1,2"', "\x00"]


def _csv_text():
    """CSV text that is mostly well-formed (a valid header, rows of the right length, numbers),
    with a few bad cells, bad names and byte-level mutations mixed in."""
    from hypothesis import strategies as st

    number = st.one_of(
        st.integers(-3, 3).map(str),
        st.floats(-10, 10, allow_nan=False).map(lambda x: f"{x:.3g}"),
    )
    odd = st.one_of(st.sampled_from(_CELLS), st.floats().map(repr), st.text(max_size=4))

    @st.composite
    def build(draw):
        def sometimes_odd(good):  # about one cell in 40 is odd
            return draw(odd) if draw(st.integers(0, 39)) == 0 else draw(good)

        extra = draw(st.sets(st.sampled_from(["y", "label", "target", "target_2"]), max_size=4))
        names = draw(st.permutations(["series", "time", "x", *sorted(extra)]))
        if draw(st.integers(0, 9)) == 0:  # now and then a bad header
            names[draw(st.integers(0, len(names) - 1))] = draw(
                st.sampled_from(["", "x", "series", "tim", " time "])
            )
        per_series = {  # a label and targets belong to a whole series
            name: {
                c: draw(st.sampled_from(["up", "down"])) if c == "label" else draw(number)
                for c in names
            }
            for name in ["a", "b", "c"]
        }
        lines, seen = [",".join(names)], {}
        for _ in range(draw(st.integers(0, 10))):
            series = sometimes_odd(st.sampled_from(["a", "b", "c"]))
            row = []
            for name in names:
                if name == "series":
                    row.append(series)
                elif name == "time":
                    seen[series] = seen.get(series, draw(st.integers(0, 2))) + 1
                    row.append(sometimes_odd(st.just(str(seen[series]))))
                elif name == "label" or name.startswith("target"):
                    fixed = per_series.get(series, {}).get(name, "")
                    row.append(sometimes_odd(st.just(fixed)))
                else:
                    row.append(sometimes_odd(number))
            if draw(st.integers(0, 19)) == 0:  # now and then a ragged row
                row = row[:-1] if draw(st.booleans()) else [*row, "1"]
            lines.append(",".join(row))
        text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + "\n"
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # insert, delete, duplicate
            at = draw(st.integers(0, len(text)))
            op = draw(st.sampled_from(["insert", "delete", "duplicate"]))
            if op == "insert":
                text = text[:at] + draw(st.text(min_size=1, max_size=3)) + text[at:]
            elif op == "delete":
                text = text[:at] + text[at + draw(st.integers(1, 5)) :]
            else:
                text = text[:at] + text[at : at + 10] + text[at:]
        return text

    return build()


def _loads_or_explains(path):
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.data.files import MAX_MAGNITUDE

    try:
        ds = load_csv(path)
    except DataFileError as exc:
        assert str(path) in str(exc)
        return None
    assert isinstance(ds, TimeSeriesDataset)
    observed = ds.values[~np.isnan(ds.values)]
    assert np.all(np.abs(observed) <= MAX_MAGNITUDE) and np.all(np.isfinite(ds.times))
    if ds.targets is not None:
        assert np.all(np.isfinite(ds.targets))
    return ds


def _property(**kwargs):
    from hypothesis import HealthCheck, settings

    return settings(
        deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], **kwargs
    )


def test_any_bytes_load_or_give_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    path = tmp_path / "fuzz.csv"

    @_property(max_examples=300)
    @given(st.binary(max_size=300))
    def check(data):
        path.write_bytes(data)
        _loads_or_explains(path)

    check()


def test_any_text_loads_or_gives_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    path = tmp_path / "fuzz.csv"

    @_property(max_examples=300)
    @given(st.text(max_size=200), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    def check(text, encoding):
        path.write_bytes(text.encode(encoding, "surrogatepass"))
        _loads_or_explains(path)

    check()


def test_mutated_csv_loads_or_gives_a_data_file_error(tmp_path):
    from hypothesis import given

    path = tmp_path / "fuzz.csv"

    @_property(max_examples=400)
    @given(_csv_text())
    def check(text):
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        ds = _loads_or_explains(path)
        if ds is not None:  # and what loads either trains or is explained before training
            for spec in specs:
                try:
                    check_training_data(ds, spec)
                except DataError as exc:
                    assert str(path) in str(exc)

    specs = [small_spec("ode"), small_spec("cde"), small_spec("sde")]
    regression = small_spec("cde")
    regression.model.cde.task = "regression"
    specs.append(regression)
    for spec in specs:
        spec.data = DataSpec(source="file", path=str(path))
    check()
