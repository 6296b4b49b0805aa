"""What ``ndestudio inspect`` writes besides its figures: the numbers of
:func:`~ndestudio.core.inspect.inspect_run` as one JSON file, and its tables as CSV files
(one row per equilibrium, per grid point of the field, per time of an SDE's statistics, per
cell of a CDE's confusion matrix)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ndestudio.core.files import atomic_write


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    def write(fh: Any) -> None:
        text = _TextWriter(fh)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)

    return atomic_write(path, write)


class _TextWriter:
    """A text view of the binary file ``atomic_write`` hands out (for the csv module)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def write(self, text: str) -> int:
        self.fh.write(text.encode("utf-8"))
        return len(text)


def write_inspection(report: dict[str, Any], out: Path) -> list[Path]:
    """Write ``report`` (from ``inspect_run``) into the folder ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [
        atomic_write(
            out / "inspection.json",
            lambda fh: fh.write(json.dumps(report, indent=1, allow_nan=False).encode()),
        )
    ]
    channels = list(report.get("channels", []))
    if "equilibria" in report:
        rows = []
        for source, key in (("learned", "equilibria"), ("true", "true_equilibria")):
            for eq in report.get(key, []):
                eig = [v for pair in eq["eigenvalues"] for v in pair]
                rows.append([source, eq["kind"], *eq["point"], *eig, eq["residual"]])
        eig_names = [f"eig{i}_{part}" for i in range(len(channels)) for part in ("re", "im")]
        header = ["field", "kind", *channels, *eig_names, "residual"]
        written.append(_write_csv(out / "equilibria.csv", header, rows))
    field = report.get("field")
    if field is not None:
        x_name, y_name = (channels[a] for a in field["axes"])
        rows = [
            [x, y, field["u"][i][j], field["v"][i][j], field["speed"][i][j]]
            for i, y in enumerate(field["ys"])
            for j, x in enumerate(field["xs"])
        ]
        header = [x_name, y_name, f"d{x_name}/dt", f"d{y_name}/dt", "speed"]
        written.append(_write_csv(out / "field.csv", header, rows))
    sde = report.get("sde")
    if sde is not None:
        written.append(_sde_csv(sde, channels, out / "sde_statistics.csv"))
    confusion = report.get("confusion")
    if confusion is not None:
        matrix, names = confusion["matrix"], confusion["class_names"]
        rows = [
            [names[i], names[j], count]
            for i, row in enumerate(matrix)
            for j, count in enumerate(row)
        ]
        written.append(_write_csv(out / "confusion.csv", ["true", "predicted", "count"], rows))
    return written


def _sde_csv(sde: dict[str, Any], channels: list[str], path: Path) -> Path:
    levels = [f"q{round(100 * q)}" for q in sde["levels"]]
    header = ["time", "channel"]
    header += [f"model_{q}" for q in levels] + [f"data_{q}" for q in levels] + ["w1"]
    rows = []
    for k, t in enumerate(sde["times"]):
        for c, name in enumerate(channels):
            model = [sde["model_quantiles"][q][k][c] for q in range(len(levels))]
            data = [sde["data_quantiles"][q][k][c] for q in range(len(levels))]
            rows.append([t, name, *model, *data, sde["wasserstein"][k][c]])
    return _write_csv(path, header, rows)
