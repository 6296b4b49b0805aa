"""Exported TorchScript model versus eager torchdiffeq on the same trained spiral model.

Trains the spiral demo briefly, exports it (dopri5, the trained tolerances), then times one
call of each at batch 1, 64 and 1024 with 100 output times, interleaved call by call in one
process so that machine noise hits both alike. Both solve the same normalised problem with
the same steps (the export is checked to give identical evaluations counts and values).

    python benchmarks/export_speed.py [--calls 30] [--iterations 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torchdiffeq

from ndestudio.core.export import export_checkpoint
from ndestudio.core.specs import RunSpec
from ndestudio.core.training import Trainer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="timed calls per batch size")
    parser.add_argument("--iterations", type=int, default=100, help="training steps first")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    spec = RunSpec.load(ROOT / "resources/configs/ode_spiral.json")
    spec.train.iterations = args.iterations
    trainer = Trainer(spec)
    for _ in trainer.run():
        pass
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = trainer.save(Path(tmp) / "checkpoint.pt")
        report = export_checkpoint(ckpt, Path(tmp) / "spiral.pt")
        exported = torch.jit.load(str(report.path))
    model = trainer.model
    field, loc, scale = model.field, model.loc, model.scale
    solver = spec.solver
    t = torch.linspace(0.0, float(trainer.dataset.times[-1]), 100)

    def eager(y0: torch.Tensor) -> torch.Tensor:
        y = torchdiffeq.odeint(
            field, (y0 - loc) / scale, t, rtol=solver.rtol, atol=solver.atol, method="dopri5"
        )
        return y.transpose(0, 1) * scale + loc

    print(
        f"spiral ODE, MLP 2-64-64-2 trained {args.iterations} steps, dopri5 rtol {solver.rtol:g} "
        f"atol {solver.atol:g}, 100 output times, 1 thread, {args.calls} interleaved calls"
    )
    print(f"{'batch':>6} {'eager ms':>10} {'exported ms':>12} {'speed-up':>9} {'max |Δ|':>9}")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for batch in args.batches:
            y0 = loc + scale * torch.randn(batch, 2, generator=gen)
            diff = float((exported(y0, t) - eager(y0)).abs().max())
            for _ in range(3):  # warm-up: TorchScript's profiling executor specialises
                exported(y0, t)
                eager(y0)
            times: dict[str, list[float]] = {"eager": [], "exported": []}
            for _ in range(args.calls):
                for name, fn in (("eager", eager), ("exported", exported)):
                    start = time.perf_counter()
                    fn(y0) if name == "eager" else fn(y0, t)
                    times[name].append(time.perf_counter() - start)
            e = statistics.median(times["eager"]) * 1e3
            x = statistics.median(times["exported"]) * 1e3
            print(f"{batch:>6} {e:>10.2f} {x:>12.2f} {e / x:>8.2f}x {diff:>9.2g}")


if __name__ == "__main__":
    main()
