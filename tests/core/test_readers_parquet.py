"""Parquet through pyarrow: both layouts, column types, bad cells by row and column, files that
are not Parquet, progress and cancelling, and damaged files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ndestudio.core.data import DataFileError, LoadCancelled
from ndestudio.core.data.files import load_file
from ndestudio.core.data.readers import parquetfile
from tests.conftest import refused_load as refused

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def write(tmp_path, columns: dict, name: str = "data.parquet"):
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


def test_the_long_form_with_labels_targets_and_nulls(tmp_path):
    path = write(
        tmp_path,
        {
            "series": ["a", "a", "b", "b"],
            "time": [0.0, 1.5, 0.5, 1.5],
            "x": [1.0, None, 3.0, 4.0],
            "y": [2.0, 2.5, float("nan"), 5.0],
            "label": [10, 10, 2, 2],
            "target_rate": [0.5, 0.5, 1.5, 1.5],
        },
        "runs.pq",
    )
    ds = load_file(path)
    assert ds.name == "runs" and ds.channel_names == ["x", "y"]
    assert ds.times.tolist() == [0.0, 0.5, 1.5]
    assert ds.class_names == ["2", "10"] and ds.labels.tolist() == [1, 0]  # natural order
    assert ds.targets.tolist() == [[0.5], [1.5]]
    assert math.isnan(ds.values[0, 2, 0]) and math.isnan(ds.values[1, 1, 1])
    assert ds.values[1, 2].tolist() == [4.0, 5.0]


def test_the_wide_form_and_integer_series(tmp_path):
    ds = load_file(write(tmp_path, {"time": [0, 1, 2], "x": [1, 2, 3], "y": [0.5, None, 1.0]}))
    assert ds.n_series == 1 and ds.values.shape == (1, 3, 2) and ds.name == "data"
    ds = load_file(
        write(
            tmp_path,
            {"series": pa.array([7, 7, 3, 3], pa.int32()), "time": [0, 1, 0, 1], "x": [1] * 4},
            "ints.parquet",
        )
    )
    assert ds.n_series == 2 and ds.values.shape == (2, 2, 1)


def test_dictionary_encoded_text_and_decimal_numbers(tmp_path):
    import decimal

    series = pa.array(["a", "a", "b", "b"]).dictionary_encode()
    x = pa.array([decimal.Decimal("1.5")] * 4, pa.decimal128(5, 2))
    ds = load_file(write(tmp_path, {"series": series, "time": [0, 1, 0, 1], "x": x}))
    assert ds.values[:, :, 0].tolist() == [[1.5, 1.5], [1.5, 1.5]]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"series": ["a", "a"], "time": [0.0, None], "x": [1.0, 2.0]},
            "row 2, column 'time': expected a number, the cell is empty",
        ),
        (
            {"series": ["a", "a"], "time": [0.0, float("nan")], "x": [1.0, 2.0]},
            "row 2, column 'time': expected a finite number, got 'nan'",
        ),
        (
            {"series": ["a", "a"], "time": [0.0, 1.0], "x": [1.0, float("inf")]},
            "row 2, column 'x': expected a finite number, got 'inf' (an empty cell or NaN",
        ),
        (
            {"series": ["a", "a"], "time": [0.0, 1.0], "x": [1.0, 1e200]},
            "row 2, column 'x': '1e+200' is too large; expected a magnitude of at most 1e+150",
        ),
        (
            {"series": ["a", None], "time": [0.0, 1.0], "x": [1.0, 2.0]},
            "row 2, column 'series': the series name is empty",
        ),
        (
            {"series": ["a", "a", "a"], "time": [0.0, 2.0, 1.0], "x": [1.0, 2.0, 3.0]},
            "row 3: series 'a' goes back in time, to 1 after 2 on row 2",
        ),
        (
            {"series": ["a", "b", "a"], "time": [0.0, 0.0, 0.0], "x": [1.0, 2.0, 3.0]},
            "row 3: series 'a' has two rows at time 0 (the other on row 1)",
        ),
        (
            {"time": [0.0, 1.0, 1.0], "x": [1.0, 2.0, 3.0]},
            "row 3: time 1 again (also on row 2)",
        ),
        (
            {"series": ["a", "a"], "time": [0, 1], "x": [1, 2], "label": ["u", "d"]},
            "row 2, column 'label': series 'a' has label 'd' here but 'u' on row 1",
        ),
        (
            {"series": ["a", "a"], "time": [0, 1], "x": ["1", "2"]},
            "column 'x': holds string; expected numbers",
        ),
        (
            {"series": ["a", "a"], "time": [0, 1], "x": [True, False]},
            "column 'x': holds bool; expected numbers",
        ),
        (
            {"series": ["a"], "time": pa.array([0], pa.timestamp("s")), "x": [1]},
            "column 'time': holds timestamp[ms]; expected numbers (convert the times to numbers",
        ),
        (
            {"series": [[1], [2]], "time": [0, 1], "x": [1, 2]},
            "column 'series': holds list<element: int64>; expected text or integers",
        ),
        ({"series": ["a", "b"], "time": [0, 1]}, "no value columns besides series and time"),
        ({"time": [0, 1], "label": ["a", "b"], "x": [1, 2]}, "column 'label' in the wide form"),
        ({"x": [0, 1]}, "the file needs a column 'time'"),
        ({"series": ["a"], "time": [0.0], "x": [1.0]}, "at least two distinct observation times"),
        (
            {"series": pa.array([], pa.string()), "time": pa.array([], pa.float64()), "x": []},
            "no rows; expected one row per observation",
        ),
    ],
)
def test_bad_tables_name_row_and_column(tmp_path, columns, message):
    assert message in refused(write(tmp_path, columns))


def test_repeated_column_names_are_refused(tmp_path):
    path = tmp_path / "data.parquet"
    table = pa.Table.from_arrays(
        [pa.array([0, 1]), pa.array([1, 2]), pa.array([3, 4])], ["time", "x", "x"]
    )
    pq.write_table(table, path)
    assert "repeated column names x; expected each name once" in refused(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"series,time,x\na,0,1\n", "looks like text (a CSV file?), not a Parquet file"),
        (b"PK\x03\x04rest", "looks like a zip archive (an .npz of NumPy arrays, or an Excel"),
        (b"", "the file is empty; expected a Parquet file"),
        (b"\x00\x01\x02\x03", "looks like binary data, not a Parquet file; expected a Parquet"),
        (b"PAR1 then nothing", "not a readable Parquet file ("),
    ],
)
def test_a_file_that_is_not_parquet_says_what_it_looks_like(tmp_path, data, message):
    path = tmp_path / "data.parquet"
    path.write_bytes(data)
    assert message in refused(path)
    assert message in refused(path, "parquet")


def test_auto_reads_parquet_content_under_another_name(tmp_path):
    path = write(tmp_path, {"time": [0, 1], "x": [1, 2]}, "data.bin")
    assert load_file(path).values.shape == (1, 2, 1)


def test_progress_and_cancel_by_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(parquetfile, "BATCH_ROWS", 10)
    n = 95
    path = write(
        tmp_path,
        {
            "series": [f"s{k % 5}" for k in range(n)],
            "time": [k // 5 for k in range(n)],
            "x": np.arange(n, dtype=float),
        },
    )
    seen: list[float] = []
    ds = load_file(path, progress=lambda f: seen.append(f) or True)
    assert ds.values.shape == (5, 19, 1)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 10 and seen == sorted(seen)
    calls: list[float] = []
    with pytest.raises(LoadCancelled):
        load_file(path, progress=lambda f: calls.append(f) or len(calls) < 4)
    assert len(calls) == 4


def test_the_row_is_right_in_a_later_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(parquetfile, "BATCH_ROWS", 7)
    x = np.arange(50, dtype=float)
    x[33] = np.inf
    path = write(tmp_path, {"series": ["a"] * 50, "time": np.arange(50.0), "x": x})
    assert "row 34, column 'x': expected a finite number, got 'inf'" in refused(path)


# Fuzz: damaged Parquet files load or say why.


def _settings(**kwargs):
    from hypothesis import HealthCheck, settings

    return settings(
        deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], **kwargs
    )


def test_damaged_parquet_files_load_or_give_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    good = write(
        tmp_path,
        {
            "series": ["a", "a", "b", "b"],
            "time": [0.0, 1.0, 0.0, 1.0],
            "x": [1.0, None, 2.0, 3.0],
            "label": ["u", "u", "d", "d"],
        },
        "good.parquet",
    ).read_bytes()
    path = tmp_path / "fuzz.parquet"

    @_settings(max_examples=300)
    @given(
        st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=6),
        st.integers(0, len(good)),
        st.sampled_from(["auto", "parquet"]),
    )
    def check(flips, keep, format):
        data = bytearray(good)
        for at, byte in flips:
            data[at] = byte
        path.write_bytes(bytes(data[:keep]) if keep < 8 else bytes(data))
        try:
            ds = load_file(path, format)
        except DataFileError as exc:
            assert str(path) in str(exc)
            return
        assert np.all(np.isfinite(ds.times)) and np.all(np.diff(ds.times) > 0)

    check()


def test_any_bytes_after_the_magic_load_or_give_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    path = tmp_path / "fuzz.parquet"

    @_settings(max_examples=150)
    @given(st.binary(max_size=300))
    def check(data):
        path.write_bytes(b"PAR1" + data + b"PAR1")
        with pytest.raises(DataFileError):
            load_file(path)

    check()


def test_float_series_or_labels_are_refused_not_named_nan(tmp_path):
    path = write(
        tmp_path,
        {"series": [1.0, 1.0, float("nan"), float("nan")], "time": [0, 1, 0, 1], "x": [1, 2, 3, 4]},
    )
    assert "column 'series': holds double; expected text or integers" in refused(path)
    path = write(
        tmp_path,
        {
            "series": ["a", "a", "b", "b"],
            "time": [0, 1, 0, 1],
            "x": [1, 2, 3, 4],
            "label": [1.0, 1.0, float("nan"), float("nan")],
        },
        "labels.parquet",
    )
    assert "column 'label': holds double; expected text or integers" in refused(path)
