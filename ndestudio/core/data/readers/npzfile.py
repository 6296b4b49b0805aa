"""NumPy archives (``numpy.savez`` / ``savez_compressed``) of named arrays.

- ``values`` (series, times, channels), numbers: required; NaN is a missing value.
- ``times``: (times,) shared by every series, or (series, times) a row per series (placed on
  the union of all times, NaN where a series was not observed, as the long CSV form is).
- ``mask`` (series, times, channels) booleans: False marks a missing value.
- ``lengths`` (series,) integers: the positions past a series' length are padding.
- ``labels`` (series,) integers or text; ``class_names`` (classes,) text names the classes
  (integer labels index it; text labels must be among it, and it gives their order).
- ``targets`` (series,) or (series, targets) numbers; ``channel_names`` (channels,) text.

The archive is read with ``allow_pickle=False`` always: an object array is refused, because
loading one would run the pickled code it holds. Arrays are checked against their headers
(shapes and types) before any is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ndestudio.core.data.dataset import TimeSeriesDataset
from ndestudio.core.data.readers.common import (
    DataFileError,
    Limits,
    Progress,
    check_cells,
    class_order,
    dataset_from_rows,
    first_line,
    report,
)
from ndestudio.core.data.readers.sniff import read_head, refuse_unless

ARRAYS = (
    "values",
    "times",
    "mask",
    "lengths",
    "labels",
    "targets",
    "channel_names",
    "class_names",
)
_TEXT = ("channel_names", "class_names")


def _headers(path: Path, archive: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of each array, from the .npy headers, before anything is loaded."""
    from numpy.lib import format as npy

    found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    members = archive.zip.namelist()
    if not any(m.endswith(".npy") for m in members):
        raise DataFileError(
            f"{path}: the zip archive holds no NumPy arrays (.npy files); expected an .npz "
            "archive as numpy.savez writes it (is this an Excel workbook or another zip?)"
        )
    for member in members:
        if not member.endswith(".npy"):
            raise DataFileError(
                f"{path}: the archive holds {member!r}, which is not a NumPy array; expected "
                f"only the arrays {', '.join(ARRAYS)}"
            )
        name = member[:-4]
        if name not in ARRAYS:
            raise DataFileError(
                f"{path}: an array named {name!r}; expected only {', '.join(ARRAYS)}"
            )
        if name in found:
            raise DataFileError(f"{path}: two arrays named {name!r}")
        with archive.zip.open(member) as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = npy.read_array_header_2_0(f)
            else:
                raise DataFileError(
                    f"{path}: array {name!r} is in .npy format version {version}; expected "
                    "version 1.0 or 2.0 (as numpy.savez writes)"
                )
        found[name] = (tuple(int(s) for s in shape), np.dtype(dtype))
    return found


def _refuse_objects(path: Path, headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    for name, (_, dtype) in headers.items():
        if dtype.hasobject:
            raise DataFileError(
                f"{path}: array {name!r} is an object array ({dtype}); object arrays are "
                "refused because loading them would run pickled code; save numbers as a "
                "numeric array and text as a string array (e.g. np.array(labels, dtype=str))"
            )


def _shape(path: Path, name: str, shape: tuple[int, ...], wanted: str) -> DataFileError:
    return DataFileError(f"{path}: {name} has shape {shape}; expected {wanted}")


def _check_shapes(path: Path, headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Every array's shape and kind against ``values``' (series, times, channels)."""
    if "values" not in headers:
        raise DataFileError(
            f"{path}: no 'values' array; expected values (series, times, channels) and times"
        )
    if "times" not in headers:
        raise DataFileError(
            f"{path}: no 'times' array; expected times (times,) shared by every series or "
            "(series, times) a row per series"
        )
    shape, dtype = headers["values"]
    if len(shape) != 3:
        raise _shape(path, "values", shape, "3 dimensions (series, times, channels)")
    n, t, c = shape
    if n == 0:
        raise DataFileError(f"{path}: values has shape {shape}: no series")
    if t == 0:
        raise DataFileError(f"{path}: values has shape {shape}: no observations")
    if c == 0:
        raise DataFileError(f"{path}: values has shape {shape}: no channels")
    if dtype.kind not in "biuf":
        raise DataFileError(f"{path}: values holds {dtype}; expected numbers")
    tshape, tdtype = headers["times"]
    if tshape not in ((t,), (n, t)):
        raise DataFileError(
            f"{path}: times has shape {tshape} but values {shape}; expected ({t},) shared "
            f"or ({n}, {t}) a row per series"
        )
    if tdtype.kind not in "iuf":
        raise DataFileError(f"{path}: times holds {tdtype}; expected numbers")
    wanted = {
        "mask": ((shape,), "the shape of values", "b"),
        "lengths": (((n,),), f"({n},), one per series", "iu"),
        "labels": (((n,),), f"({n},), one per series", "iuUS"),
        "targets": (((n,), (n, None)), f"({n},) or ({n}, targets)", "biuf"),
        "channel_names": (((c,),), f"({c},), one per channel", "US"),
        "class_names": (((None,),), "(classes,)", "US"),
    }
    for name, (shapes, text, kinds) in wanted.items():
        if name not in headers:
            continue
        got, dt = headers[name]
        if not any(
            len(got) == len(s) and all(w is None or w == g for w, g in zip(s, got, strict=True))
            for s in shapes
        ):
            raise DataFileError(
                f"{path}: {name} has shape {got} but values {shape}; expected {text}"
            )
        if dt.kind not in kinds:
            what = {
                "b": "booleans",
                "iu": "integers",
                "iuUS": "integers or text",
                "biuf": "numbers",
                "US": "text",
            }[kinds]
            raise DataFileError(f"{path}: {name} holds {dt}; expected {what}")
    if "class_names" in headers and "labels" not in headers:
        raise DataFileError(f"{path}: class_names without labels; expected labels too")


def _strings(path: Path, name: str, array: np.ndarray) -> list[str]:
    out = []
    for k, item in enumerate(array.tolist()):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise DataFileError(f"{path}: {name}[{k}] is not UTF-8 text") from None
        text = str(item).strip()
        if not text:
            raise DataFileError(f"{path}: {name}[{k}] is empty; expected a name")
        out.append(text)
    return out


def _index(shape: tuple[int, ...], flat: int) -> str:
    return ", ".join(str(int(i)) for i in np.unravel_index(flat, shape))


def _labels(path: Path, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray | None, list[str]]:
    """(class numbers, class names) from ``labels`` and ``class_names``."""
    if "labels" not in arrays:
        return None, []
    labels = arrays["labels"]
    given = None
    if "class_names" in arrays:
        given = _strings(path, "class_names", arrays["class_names"])
    if given is not None and len(set(given)) != len(given):
        raise DataFileError(f"{path}: class_names repeats a name; expected each class once")
    if labels.dtype.kind in "iu":
        if given is not None:
            bad = np.flatnonzero((labels < 0) | (labels >= len(given)))
            if len(bad):
                k = int(bad[0])
                raise DataFileError(
                    f"{path}: labels[{k}] is {labels[k]}; expected a class number from 0 to "
                    f"{len(given) - 1} (an index into class_names)"
                )
            return labels.astype(np.int64), given
        texts = [str(int(v)) for v in labels.tolist()]
    else:
        texts = _strings(path, "labels", labels)
    if given is not None:
        known = {name: k for k, name in enumerate(given)}
        for k, label in enumerate(texts):
            if label not in known:
                raise DataFileError(
                    f"{path}: labels[{k}] is {label!r}, which is not in class_names"
                )
        return np.array([known[label] for label in texts], dtype=np.int64), given
    names = class_order(texts)
    rank = {name: k for k, name in enumerate(names)}
    return np.array([rank[label] for label in texts], dtype=np.int64), names


def read_npz(path: Path, progress: Progress | None, limits: Limits) -> TimeSeriesDataset:
    """Read a NumPy archive of the arrays above."""
    refuse_unless(
        path,
        read_head(path),
        "zip",
        "an .npz archive",
        "expected an .npz archive as numpy.savez writes it",
    )
    report(progress, 0.0, path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile's, zlib's and NumPy's errors for damaged archives
        raise DataFileError(f"{path}: not a readable .npz archive ({first_line(exc)})") from None
    if not hasattr(archive, "zip"):  # np.load gave an array: not an archive after all
        raise DataFileError(f"{path}: not an .npz archive; expected numpy.savez's output")
    with archive:
        try:
            headers = _headers(path, archive)
        except DataFileError:
            raise
        except Exception as exc:
            why = first_line(exc)
            raise DataFileError(f"{path}: not a readable .npz archive ({why})") from None
        _refuse_objects(path, headers)
        _check_shapes(path, headers)
        n, t, c = headers["values"][0]
        check_cells(path, n, t, c, limits)
        for name, (shape, dtype) in headers.items():
            size = int(np.prod(shape, dtype=object))
            if size > limits.max_cells or size * dtype.itemsize > 8 * limits.max_cells:
                raise DataFileError(
                    f"{path}: {name} has shape {shape} ({dtype}), larger than the "
                    f"{limits.max_cells} cells allowed"
                )
        arrays: dict[str, np.ndarray] = {}
        for k, name in enumerate(headers):
            try:
                arrays[name] = np.asarray(archive[name])
            except Exception as exc:
                raise DataFileError(
                    f"{path}: array {name!r} cannot be read ({first_line(exc)}); is the archive "
                    "damaged?"
                ) from None
            report(progress, 0.9 * (k + 1) / len(headers), path)
    dataset = _dataset(path, arrays, limits)
    report(progress, 1.0, path)
    return dataset


def _dataset(path: Path, arrays: dict[str, np.ndarray], limits: Limits) -> TimeSeriesDataset:
    values = arrays["values"].astype(np.float64)
    n, t, c = values.shape
    valid = np.ones((n, t), bool)
    if "lengths" in arrays:
        lengths = arrays["lengths"]
        bad = np.flatnonzero((lengths < 1) | (lengths > t))
        if len(bad):
            k = int(bad[0])
            raise DataFileError(
                f"{path}: lengths[{k}] is {lengths[k]}; expected from 1 to {t} (the times "
                "of values)"
            )
        valid = np.arange(t)[None, :] < lengths[:, None]
    if "mask" in arrays:
        values[~arrays["mask"]] = np.nan
    values[~valid] = np.nan
    limit = limits.max_magnitude
    with np.errstate(invalid="ignore"):
        wrong = np.isinf(values) | (np.abs(values) > limit)
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        v = values.flat[k]
        raise DataFileError(
            f"{path}: values[{_index(values.shape, k)}] is {v:g}; expected finite numbers of "
            f"magnitude at most {limit:g} (NaN, or False in mask, marks a missing value)"
        )
    times = arrays["times"].astype(np.float64)
    _check_times(path, times, valid, limit)
    labels, class_names = _labels(path, arrays)
    targets = None
    if "targets" in arrays:
        targets = arrays["targets"].astype(np.float64).reshape(n, -1)
        with np.errstate(invalid="ignore"):
            wrong = ~np.isfinite(targets) | (np.abs(targets) > limit)
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise DataFileError(
                f"{path}: targets[{_index(targets.shape, k)}] is {targets.flat[k]:g}; expected "
                f"finite numbers of magnitude at most {limit:g}"
            )
    names = (
        _strings(path, "channel_names", arrays["channel_names"])
        if "channel_names" in arrays
        else [f"channel {i + 1}" for i in range(c)]
    )
    if len(set(names)) != len(names):
        raise DataFileError(f"{path}: channel_names repeats a name; expected each once")
    fields: dict[str, Any] = dict(
        name=path.stem,
        channel_names=names,
        labels=labels,
        class_names=class_names,
        targets=targets,
    )
    if times.ndim == 1:
        used = valid.any(axis=0)
        last = int(np.flatnonzero(used)[-1]) + 1
        if last < 2:
            raise DataFileError(f"{path}: at least two distinct observation times are needed")
        return TimeSeriesDataset(
            family="any", times=times[:last], values=values[:, :last], **fields
        )
    series, position = np.nonzero(valid)
    return dataset_from_rows(
        path, series, times[series, position], values[series, position], n, limits, **fields
    )


def _check_times(path: Path, times: np.ndarray, valid: np.ndarray, limit: float) -> None:
    """Finite times that increase along each series (past a series' length: padding)."""
    rows = times if times.ndim == 2 else times[None, :]
    use: np.ndarray = valid if times.ndim == 2 else np.any(valid, axis=0)[None, :]
    with np.errstate(invalid="ignore"):
        wrong = use & (~np.isfinite(rows) | (np.abs(rows) > limit))
    if wrong.any():
        s, k = (int(i) for i in np.argwhere(wrong)[0])
        at = f"times[{s}, {k}]" if times.ndim == 2 else f"times[{k}]"
        hint = " (give lengths to mark padding)" if times.ndim == 2 else ""
        raise DataFileError(
            f"{path}: {at} is {rows[s, k]:g}; expected finite times of magnitude at most "
            f"{limit:g}{hint}"
        )
    steps = use[:, 1:] & use[:, :-1] & (rows[:, 1:] <= rows[:, :-1])
    if steps.any():
        s, k = (int(i) for i in np.argwhere(steps)[0])
        now, then = rows[s, k + 1], rows[s, k]
        if times.ndim == 2:
            at, before, who = f"times[{s}, {k + 1}]", f"times[{s}, {k}]", f"series {s}: "
        else:
            at, before, who = f"times[{k + 1}]", f"times[{k}]", ""
        how = "repeats" if now == then else "goes back in time from"
        raise DataFileError(
            f"{path}: {who}{at} = {now:g} {how} {before} = {then:g}; expected increasing times"
        )
