"""NPZ archives: shared and per-series times, masks, lengths, labels, targets and names;
mismatched shapes named with their arrays; object arrays refused without being loaded."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from ndestudio.core.data import DataFileError, LoadCancelled
from ndestudio.core.data.files import load_file
from tests.conftest import refused_load as refused

nan = np.nan


def write(tmp_path, name: str = "data.npz", **arrays):
    path = tmp_path / name
    with path.open("wb") as f:
        np.savez(f, **arrays)
    return path


VALUES = np.arange(24, dtype=float).reshape(2, 4, 3)
TIMES = np.array([0.0, 0.5, 1.0, 2.0])


def test_shared_times_with_names_labels_and_targets(tmp_path):
    path = write(
        tmp_path,
        "walk.npz",
        values=VALUES,
        times=TIMES,
        labels=np.array(["up", "down"]),
        targets=np.array([1.5, 2.5]),
        channel_names=np.array(["x", "y", "z"]),
    )
    ds = load_file(path)
    assert ds.name == "walk" and ds.channel_names == ["x", "y", "z"]
    assert ds.times.tolist() == TIMES.tolist() and np.array_equal(ds.values, VALUES)
    assert ds.class_names == ["down", "up"] and ds.labels.tolist() == [1, 0]
    assert ds.targets.tolist() == [[1.5], [2.5]]


def test_mask_and_lengths_make_missing_values(tmp_path):
    mask = np.ones(VALUES.shape, bool)
    mask[0, 1, 2] = False
    ds = load_file(write(tmp_path, values=VALUES, times=TIMES, mask=mask, lengths=np.array([4, 2])))
    assert np.isnan(ds.values[0, 1, 2]) and not np.isnan(ds.values[0, 1, 1])
    assert np.isnan(ds.values[1, 2:]).all() and not np.isnan(ds.values[1, :2]).any()


def test_per_series_times_go_on_the_union_grid(tmp_path):
    times = np.array([[0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 9.0, nan]])
    ds = load_file(write(tmp_path, values=VALUES, times=times, lengths=np.array([4, 3])))
    assert ds.times.tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 9.0]
    np.testing.assert_array_equal(ds.values[0, :, 0], [0, nan, 3, 6, 9, nan])
    np.testing.assert_array_equal(ds.values[1, :, 0], [nan, 12, 15, nan, nan, 18])


def test_integer_labels_index_class_names(tmp_path):
    ds = load_file(
        write(
            tmp_path,
            values=VALUES,
            times=TIMES,
            labels=np.array([1, 0]),
            class_names=np.array(["zebra", "ant"]),
        )
    )
    assert ds.class_names == ["zebra", "ant"] and ds.labels.tolist() == [1, 0]
    ds = load_file(write(tmp_path, "b.npz", values=VALUES, times=TIMES, labels=np.array([10, 2])))
    assert ds.class_names == ["2", "10"] and ds.labels.tolist() == [1, 0]  # natural order


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"times": TIMES}, "no 'values' array; expected values (series, times, channels)"),
        ({"values": VALUES}, "no 'times' array"),
        ({"values": VALUES[..., 0], "times": TIMES}, "values has shape (2, 4); expected 3"),
        (
            {"values": VALUES, "times": TIMES[:3]},
            "times has shape (3,) but values (2, 4, 3); expected (4,) shared or (2, 4) a row",
        ),
        (
            {"values": VALUES, "times": TIMES, "mask": np.ones((2, 4, 2), bool)},
            "mask has shape (2, 4, 2) but values (2, 4, 3); expected the shape of values",
        ),
        (
            {"values": VALUES, "times": TIMES, "lengths": np.array([4])},
            "lengths has shape (1,) but values (2, 4, 3); expected (2,), one per series",
        ),
        (
            {"values": VALUES, "times": TIMES, "labels": np.array([0, 1, 1])},
            "labels has shape (3,) but values (2, 4, 3); expected (2,), one per series",
        ),
        (
            {"values": VALUES, "times": TIMES, "channel_names": np.array(["x"])},
            "channel_names has shape (1,) but values (2, 4, 3); expected (3,), one per channel",
        ),
        (
            {"values": VALUES, "times": TIMES, "targets": np.ones((3, 2))},
            "targets has shape (3, 2) but values (2, 4, 3); expected (2,) or (2, targets)",
        ),
        ({"values": VALUES, "times": TIMES, "mask": np.ones(VALUES.shape)}, "mask holds float64"),
        ({"values": VALUES.astype(str), "times": TIMES}, "values holds <U32; expected numbers"),
        ({"values": VALUES, "times": TIMES, "extra": TIMES}, "an array named 'extra'; expected"),
        ({"values": np.zeros((0, 4, 3)), "times": TIMES}, "values has shape (0, 4, 3): no series"),
        ({"values": np.zeros((2, 4, 0)), "times": TIMES}, "no channels"),
        (
            {"values": VALUES, "times": TIMES, "class_names": np.array(["a"])},
            "class_names without labels",
        ),
        (
            {"values": np.where(VALUES == 5, np.inf, VALUES), "times": TIMES},
            "values[0, 1, 2] is inf; expected finite numbers of magnitude at most 1e+150",
        ),
        (
            {"values": VALUES, "times": np.array([0.0, 1.0, 1.0, 2.0])},
            "times[2] = 1 repeats times[1] = 1; expected increasing times",
        ),
        (
            {"values": VALUES, "times": np.array([[0.0, 1, 2, 3], [0, 2, 1, 3]])},
            "series 1: times[1, 2] = 1 goes back in time from times[1, 1] = 2",
        ),
        (
            {"values": VALUES, "times": np.array([[0.0, 1, 2, 3], [0, 1, nan, 3]])},
            "times[1, 2] is nan; expected finite times of magnitude at most 1e+150 (give",
        ),
        (
            {"values": VALUES, "times": TIMES, "lengths": np.array([4, 5])},
            "lengths[1] is 5; expected from 1 to 4",
        ),
        (
            {"values": VALUES, "times": TIMES, "lengths": np.array([1, 1])},
            "at least two distinct observation times are needed",
        ),
        (
            {
                "values": VALUES,
                "times": TIMES,
                "labels": np.array([0, 2]),
                "class_names": np.array(["a", "b"]),
            },
            "labels[1] is 2; expected a class number from 0 to 1",
        ),
        (
            {
                "values": VALUES,
                "times": TIMES,
                "labels": np.array(["a", "c"]),
                "class_names": np.array(["a", "b"]),
            },
            "labels[1] is 'c', which is not in class_names",
        ),
        ({"values": VALUES, "times": TIMES, "labels": np.array(["a", " "])}, "labels[1] is empty"),
    ],
)
def test_bad_archives_name_the_arrays(tmp_path, arrays, message):
    assert message in refused(write(tmp_path, **arrays))


class _Trap:
    """Unpickling one sets ``ran``: proof that loading ran pickled code."""

    ran = False

    def __setstate__(self, state):
        type(self).ran = True


def test_object_arrays_are_refused_unloaded(tmp_path):
    labels = np.empty(2, dtype=object)
    labels[:] = [_Trap(), _Trap()]
    path = write(tmp_path, values=VALUES, times=TIMES, labels=labels)
    _Trap.ran = False
    message = refused(path)
    assert "array 'labels' is an object array (object); object arrays are refused because " in (
        message
    )
    assert "loading them would run pickled code" in message and not _Trap.ran


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"values,times\n1,2\n", "looks like text (a CSV file?), not an .npz archive"),
        (b"PAR1\x00\x00", "looks like a Parquet file, not an .npz archive; choose the format"),
        (b"", "the file is empty; expected an .npz archive"),
        (b"PK\x03\x04broken", "not a readable .npz archive ("),
    ],
)
def test_a_file_that_is_not_npz_says_what_it_looks_like(tmp_path, data, message):
    path = tmp_path / "data.npz"
    path.write_bytes(data)
    assert message in refused(path)
    assert message in refused(path, "npz")


def test_a_single_npy_array_or_another_zip_is_not_an_archive_of_arrays(tmp_path):
    path = tmp_path / "data.npz"
    np.save(path.open("wb"), VALUES)
    assert "looks like a single NumPy array (.npy), not an .npz archive; save the arrays " in (
        refused(path)
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    assert "holds no NumPy arrays (.npy files)" in refused(path)


def test_progress_and_cancel(tmp_path):
    path = write(tmp_path, values=VALUES, times=TIMES)
    seen: list[float] = []
    load_file(path, progress=lambda f: seen.append(f) or True)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(LoadCancelled):
        load_file(path, progress=lambda f: f < 0.5)


# Fuzz: damaged archives, and archives of arbitrary arrays, load or say why.


def _settings(**kwargs):
    from hypothesis import HealthCheck, settings

    return settings(
        deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], **kwargs
    )


def _loads_or_explains(path):
    try:
        ds = load_file(path)
    except DataFileError as exc:
        assert str(path) in str(exc)
        return
    assert np.all(np.isfinite(ds.times)) and np.all(np.diff(ds.times) > 0)
    assert not np.isinf(ds.values).any()


@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_archives_load_or_give_a_data_file_error(tmp_path, compressed):
    from hypothesis import given
    from hypothesis import strategies as st

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(
        buffer, values=VALUES, times=TIMES, labels=np.array(["a", "b"]), lengths=np.array([4, 3])
    )
    good = buffer.getvalue()
    path = tmp_path / "fuzz.npz"

    @_settings(max_examples=200)
    @given(st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=4))
    def check(flips):
        data = bytearray(good)
        for at, byte in flips:
            data[at] = byte
        path.write_bytes(bytes(data))
        _loads_or_explains(path)

    check()


def test_archives_of_any_arrays_load_or_give_a_data_file_error(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    path = tmp_path / "fuzz.npz"
    dtypes = st.sampled_from(["f8", "f4", "i8", "u1", "?", "U3", "S3", "c8"])
    arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    names = st.sampled_from(
        ["values", "times", "mask", "lengths", "labels", "targets", "channel_names", "class_names"]
    )

    @_settings(max_examples=300)
    @given(
        st.dictionaries(names, arrays, max_size=8),
        hnp.arrays("f8", hnp.array_shapes(min_dims=3, max_dims=3, max_side=3)),
    )
    def check(extra, values):
        contents = {"values": values, "times": np.arange(values.shape[1], dtype=float), **extra}
        with path.open("wb") as f:
            np.savez(f, **contents)
        _loads_or_explains(path)

    check()
