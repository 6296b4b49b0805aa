"""CSV through pandas: the wide form, the long form's per-series rules, exact numbers, places in
the file across chunks and record layouts, files that are not CSV, progress and cancelling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndestudio.core.data import DataError, DataFileError, LoadCancelled, check_training_data
from ndestudio.core.data.files import load_csv, load_file
from ndestudio.core.data.readers import csvfile
from ndestudio.core.specs import DataSpec
from tests.conftest import refused_load as refused
from tests.conftest import small_spec


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


# The wide form: one series, a row per time.


def test_the_wide_form_is_one_series_named_after_the_file(tmp_path):
    path = write(tmp_path, "time,x,y\n0,1,2\n0.5,,3\n\n1.5,4,5\n", "pendulum run.csv")
    ds = load_file(path)
    assert ds.name == "pendulum run" and ds.n_series == 1
    assert ds.channel_names == ["x", "y"] and ds.times.tolist() == [0.0, 0.5, 1.5]
    assert ds.values[0, :, 1].tolist() == [2.0, 3.0, 5.0] and math.isnan(ds.values[0, 1, 0])
    assert ds.labels is None and ds.targets is None
    assert load_file(path, "csv_wide").values.shape == (1, 3, 2)


@pytest.mark.parametrize(
    ("text", "format", "message"),
    [
        (
            "time,x,label\n0,1,a\n",
            "auto",
            "line 1: column 'label' in the wide form, which holds one series without labels or "
            "targets; expected only 'time' and channel columns",
        ),
        ("time,x,target_y\n0,1,2\n", "csv_wide", "column 'target_y' in the wide form"),
        ("x,y\n0,1\n", "auto", "line 1: the header needs a column 'time' (the wide form"),
        ("time\n0\n1\n", "auto", "line 1: no value columns besides time"),
        (
            "series,time,x\na,0,1\n",
            "csv_wide",
            "line 1: a 'series' column makes this the long form (one row per observation); "
            "expected the wide form",
        ),
        ("time,x\n0,1\n1,2\n", "csv_long", "line 1: the header needs columns 'series' and 'time'"),
        ("time,x\n0,1\n1,2\n0.5,3\n", "auto", "line 4: time 0.5 comes after time 1 on line 3"),
        ("time,x\n0,1\n1,2\n1,3\n", "auto", "line 4: time 1 again (also on line 3); expected"),
        ("time,x\n0,1\n1,2\n2,x\n", "auto", "line 4, column 2 ('x'): expected a number, got 'x'"),
        ("time,x\n0,1\n1,2\n2,inf\n", "auto", "line 4, column 2 ('x'): expected a finite number"),
        ("time,x\n0,1\n1,2\n2\n", "auto", "line 4: 1 cells, expected 2 (time, x)"),
        ("time,x\n0,1\n", "auto", "at least two distinct observation times are needed"),
        ("time,x\n", "auto", "no observations after the header"),
        ("", "auto", "the file is empty; expected a header row"),
        ("time,\n0,1\n", "auto", "line 1, column 2: the column has no name"),
    ],
)
def test_bad_wide_files_name_line_and_column(tmp_path, text, format, message):
    assert message in refused(write(tmp_path, text), format)


# The long form: the rules for each series, and the class order.


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "series,time,x\na,0,1\nb,5,1\na,2,1\na,1,1\n",
            "line 5: series 'a' goes back in time, to 1 after 2 on line 4; expected the rows of "
            "each series in increasing time",
        ),
        (
            "series,time,x\na,0,1\nb,0,1\na,0,2\n",
            "line 4: series 'a' has two rows at time 0 (the other on line 2); expected each time "
            "once per series",
        ),
        (
            "series,time,x,label\na,0,1,up\nb,0,1,up\na,1,1,down\n",
            "line 4, column 4 ('label'): series 'a' has label 'down' here but 'up' on line 2",
        ),
        ("series,time,x,y\na,0,1,2\na,1,1,hello\n", "line 3, column 4 ('y'): expected a number"),
        ("series,time,x\na,0,1\na,1,2,\n", "line 3: 4 cells, expected 3 (series, time, x)"),
        ("series,time,label\na,0,1\n", "line 1: no value columns besides series and time"),
    ],
)
def test_bad_long_files_name_the_series_and_line(tmp_path, text, message):
    assert message in refused(write(tmp_path, text))


def test_rows_of_different_series_may_interleave(tmp_path):
    ds = load_file(write(tmp_path, "series,time,x\nb,0,1\na,0,2\nb,1,3\na,2,4\n"))
    assert ds.times.tolist() == [0.0, 1.0, 2.0]  # series in order of appearance: b, a
    np.testing.assert_array_equal(ds.values[0, :, 0], [1.0, 3.0, np.nan])
    np.testing.assert_array_equal(ds.values[1, :, 0], [2.0, np.nan, 4.0])


@pytest.mark.parametrize(
    ("labels", "order"),
    [
        (["10", "2", "1", "2"], ["1", "2", "10"]),  # numbers: numerically
        (["-1", "0.5", "1e1"], ["-1", "0.5", "1e1"]),
        (["b", "10", "2"], ["10", "2", "b"]),  # not all numbers: as text
        (["nan", "1"], ["1", "nan"]),  # NaN is no number to sort by
    ],
)
def test_classes_are_in_natural_order(tmp_path, labels, order):
    rows = "".join(f"s{k},{t},1,{label}\n" for k, label in enumerate(labels) for t in (0, 1))
    ds = load_file(write(tmp_path, "series,time,x,label\n" + rows))
    assert ds.class_names == order
    assert [ds.class_names[i] for i in ds.labels] == labels


def test_one_class_loads_and_the_training_check_refuses_it(tmp_path):
    path = write(
        tmp_path,
        "series,time,x,label\n" + "".join(f"s{k},{t},{k},up\n" for k in range(6) for t in (0, 1)),
    )
    ds = load_file(path)
    assert ds.class_names == ["up"] and ds.labels.tolist() == [0] * 6
    spec = small_spec("cde")
    spec.data = DataSpec(source="file", path=str(path))
    with pytest.raises(DataError, match="at least two classes"):
        check_training_data(ds, spec)


def test_numbers_are_read_exactly_as_written(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=500) * 10.0 ** rng.integers(-140, 140, 500)
    lines = "".join(f"a,{k},{float(v)!r}\n" for k, v in enumerate(x))
    ds = load_file(write(tmp_path, "series,time,x\n" + lines))
    assert ds.values[0, :, 0].tolist() == x.tolist()  # bit for bit, as Python's float reads


def test_spaces_around_numbers_and_blank_lines_are_fine(tmp_path):
    text = "series,time,x\r\n a ,0, 1.5 \r\n\r\n \t \r\n,,\r\na,1,\t2\r\n"
    ds = load_file(write(tmp_path, text))
    assert ds.values[0, :, 0].tolist() == [1.5, 2.0]


# Places in the file: the right line in any chunk, with any line breaks and quoting.


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(csvfile, "CHUNK_ROWS", 7)


def _long(n: int, newline: str = "\n", quote: bool = False) -> list[str]:
    name = '"s, {}"' if quote else "s{}"
    return ["series,time,x,y"] + [f"{name.format(k % 3)},{k // 3},{k},{k}" for k in range(n)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("quote", [False, True])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("s1,99,1", "line {line}: 3 cells, expected 4 (series, time, x, y)"),
        ("s1,99,1,2,3", "line {line}: 5 cells, expected 4"),
        ("s1,99,1,zz", "line {line}, column 4 ('y'): expected a number, got 'zz'"),
        ("s1,99,1e999,1", "line {line}, column 3 ('x'): '1e999' is too large"),
        ("s1,99,-inf,1", "line {line}, column 3 ('x'): expected a finite number, got '-inf'"),
        ("s1,,1,1", "line {line}, column 2 ('time'): expected a number, the cell is empty"),
        ("s1,0,1,1", "line {line}: series 's1' goes back in time, to 0 after"),
        (",99,1,1", "line {line}, column 1 ('series'): the series name is empty"),
    ],
)
def test_the_line_is_right_in_any_chunk(tmp_path, small_chunks, newline, quote, bad, message):
    lines = _long(40, newline, quote)
    lines[5:5] = ["", "  "]  # blank lines: skipped, but counted
    if quote:
        lines.insert(8, '"s' + newline + 'x",5,1,2')  # a series name with a line break
        bad = bad.replace("s1", '"s, 1"', 1)
        message = message.replace("'s1'", "'s, 1'")
    at = 30
    lines.insert(at, bad)
    physical = newline.join(lines[:at]).count(newline) + 2
    text = newline.join(lines) + newline
    assert message.format(line=physical) in refused(write(tmp_path, text))


def test_unusual_quoting_still_gives_the_line(tmp_path, small_chunks):
    lines = _long(30)
    lines[4] = 's"0,1,1,1'  # a quote inside a cell: text, for pandas and the csv module alike
    lines.insert(20, "s1,99,1")
    assert "line 21: 3 cells, expected 4" in refused(write(tmp_path, "\n".join(lines)))


def test_the_line_of_one_bad_cell_anywhere(tmp_path, monkeypatch):
    """Property: whatever the names, quoting, blank lines and line breaks, the message names
    the physical line of the one bad cell."""
    from hypothesis import given
    from hypothesis import strategies as st

    monkeypatch.setattr(csvfile, "CHUNK_ROWS", 5)
    path = tmp_path / "bad.csv"
    names = st.sampled_from(["a", "b", '"a, b"', '"x""y"', '"two\nlines"', '"c"', "d e"])
    value = st.sampled_from(["1", "", "2.5", "nan", " 3 "])

    @_settings(max_examples=150)
    @given(
        st.lists(st.tuples(names, value, st.booleans()), min_size=1, max_size=25),
        st.integers(0, 25),
        st.sampled_from(["\n", "\r\n", "\r"]),
        st.sampled_from(["zz", "inf", "1e999", "1,2,3"]),
    )
    def check(rows, at, newline, bad):
        at = min(at, len(rows))
        lines, times = ["series,time,x"], {}
        for k, (name, x, blank) in enumerate(rows):
            if k == at:
                lines.append(f"bad,0,{bad}")
            if blank:
                lines.append("")
            times[name] = times.get(name, -1) + 1
            lines.append(f"{name},{times[name]},{x}".replace("\n", newline))
        if at == len(rows):
            lines.append(f"bad,0,{bad}")
        text = newline.join(lines) + newline
        before = text[: text.index("bad,0,")]
        line = before.count("\r\n") + before.replace("\r\n", "").count("\n")
        line += before.replace("\r\n", "").count("\r") + 1
        path.write_bytes(text.encode())
        message = refused(path)
        assert f"line {line}" in message, (text, message)

    check()


def test_a_quoted_cell_never_closed_in_a_later_chunk(tmp_path, small_chunks):
    lines = _long(30)
    lines.insert(20, 's1,99,"1,1')
    assert "line 21: a quoted cell is never closed" in refused(write(tmp_path, "\n".join(lines)))


def test_a_long_first_row_is_ragged_not_truncated(tmp_path):
    assert "line 2: 4 cells, expected 3" in refused(write(tmp_path, "series,time,x\na,0,1,2\n"))


# Files that are not CSV text.


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PAR1\x00\x00\x15\x04", "the file looks like a Parquet file, not CSV text; choose the "),
        (b"PK\x03\x04\x14\x00", "looks like a zip archive (an .npz of NumPy arrays, or an Excel"),
        (b"\x93NUMPY\x01\x00v\x00", "looks like a single NumPy array (.npy), not CSV text"),
        (b"\x1f\x8b\x08\x00", "looks like gzip-compressed data, not CSV text; decompress it"),
        (b"\x00\x01\x02\x03binary", "line 1, character 1: a NUL byte; expected UTF-8 text"),
    ],
)
def test_a_csv_file_that_is_not_text_says_what_it_looks_like(tmp_path, data, message):
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    assert message in refused(path)
    assert message in refused(path, "csv_wide")


def test_auto_reads_an_unknown_extension_by_its_content(tmp_path):
    ds = load_file(write(tmp_path, "series,time,x\na,0,1\na,1,2\n", "data.dat"))
    assert ds.name == "data" and ds.values.shape == (1, 2, 1)
    message = refused(write(tmp_path, "series,time,x\n", "x.parquet"), "auto")
    assert "looks like text (a CSV file?), not a Parquet file; choose the format" in message


def test_the_readers_cover_every_format_a_spec_may_name():
    from ndestudio.core.data import files
    from ndestudio.core.specs import DATA_FORMATS

    assert files.FORMATS == DATA_FORMATS


def test_an_unknown_format_is_refused(tmp_path):
    assert "unknown data file format 'xlsx'" in refused(write(tmp_path, "time,x\n"), "xlsx")


# Progress and cancelling.


def test_progress_rises_to_one_as_the_file_is_read(tmp_path, small_chunks):
    path = write(tmp_path, "\n".join(_long(100)) + "\n")
    seen: list[float] = []
    ds = load_file(path, progress=lambda f: seen.append(f) or True)
    assert ds.n_series == 3
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) > 5
    assert seen == sorted(seen) and all(0.0 <= f <= 1.0 for f in seen)


@pytest.mark.parametrize("stop_after", [1, 3])
def test_progress_returning_false_cancels(tmp_path, small_chunks, stop_after):
    path = write(tmp_path, "\n".join(_long(100)) + "\n")
    calls: list[float] = []

    def progress(fraction: float) -> bool:
        calls.append(fraction)
        return len(calls) < stop_after

    with pytest.raises(LoadCancelled):
        load_file(path, progress=progress)
    assert len(calls) == stop_after
    with pytest.raises(LoadCancelled):
        load_csv(path, progress=lambda f: False)


# Fuzz: any bytes, as either form, load or say why.


def _loads_or_explains(path, format):
    from ndestudio.core.data.files import MAX_MAGNITUDE

    try:
        ds = load_file(path, format)
    except DataFileError as exc:
        assert str(path) in str(exc)
        return
    observed = ds.values[~np.isnan(ds.values)]
    assert np.all(np.abs(observed) <= MAX_MAGNITUDE) and np.all(np.isfinite(ds.times))
    assert np.all(np.diff(ds.times) > 0)


def _settings(**kwargs):
    from hypothesis import HealthCheck, settings

    return settings(
        deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], **kwargs
    )


def test_wide_and_auto_any_bytes_load_or_give_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    path = tmp_path / "fuzz.csv"

    @_settings(max_examples=200)
    @given(st.binary(max_size=200), st.sampled_from(["auto", "csv_wide", "csv_long"]))
    def check(data, format):
        path.write_bytes(data)
        _loads_or_explains(path, format)

    check()


def test_mutated_wide_text_loads_or_gives_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    path = tmp_path / "fuzz.csv"
    cells = st.one_of(
        st.integers(-3, 30).map(str),
        st.sampled_from(["", " ", "nan", "inf", "1e400", "x", '"1"', '"1,2"', '"a\nb"']),
    )

    @_settings(max_examples=200)
    @given(
        st.lists(st.lists(cells, min_size=1, max_size=4), max_size=8),
        st.sampled_from(["\n", "\r\n", "\r"]),
        st.lists(st.tuples(st.integers(0, 200), st.text(max_size=3)), max_size=2),
    )
    def check(rows, newline, edits):
        text = newline.join(["time,x,y", *(",".join(r) for r in rows)]) + newline
        for at, insert in edits:
            text = text[:at] + insert + text[at:]
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _loads_or_explains(path, "auto")

    check()
