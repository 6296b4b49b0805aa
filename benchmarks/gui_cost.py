"""What the window costs training, how responsive it stays, and how fast it starts.

1. GUI cost: the same run (spiral demo, same seed, so identical work) trained inside the
   running window with every plot redrawing, and by the core alone (``Trainer.run`` on a
   plain thread, no Qt), in adjacent pairs (alternating which goes first); prints steps/s of
   each and the median of the per-pair ratios with its quartiles (target ≥ 0.95). These
   machines are noisy (±15 % between identical runs), hence many short pairs.
2. Responsiveness: lateness of a 10 ms QTimer on the GUI thread while training (p50, p99;
   target p99 ≤ 16 ms).
3. Cold start: seconds from launching a process to a shown window, next to
   ``python -c "import torch"`` (target ≤ 2 s), interleaved.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_cost.py [--steps 150] [--rounds 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer

from ndestudio.core import events as ev
from ndestudio.core.training import Trainer
from ndestudio.gui.app import make_app
from ndestudio.gui.main_window import MainWindow, default_spec


def spec_for(steps: int):
    spec = default_spec()
    spec.train.iterations = steps
    spec.train.eval_every = 10
    return spec


def core_alone(steps: int) -> float:
    """Steps per second of the Trainer on a plain (non-Qt) thread, as the worker runs it."""
    out: dict[str, float] = {}

    def work() -> None:
        for event in Trainer(spec_for(steps)).run():
            if isinstance(event, ev.Finished):
                out["rate"] = event.iteration / event.wall_time

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return out["rate"]


GUI_SHARE: list[float] = []  # GUI-thread CPU time / wall time while training, per run


def in_window(app, window: MainWindow, steps: int, lateness: list[float] | None = None) -> float:
    """Steps per second inside the window; optionally samples a 10 ms timer's lateness.

    Also records the GUI thread's CPU time over the run's wall time in ``GUI_SHARE``: with
    training bound by the GIL, that share is roughly what the window takes from it, and it
    is far less noisy on these machines than steps per second.
    """
    window.session.reset()
    window.session.set_spec(spec_for(steps))
    window._load_panels()
    done: dict[str, float] = {}
    original = window._on_events

    def watch(batch: list[ev.Event]) -> None:
        for event in batch:
            if isinstance(event, ev.Started):
                done["cpu0"], done["wall0"] = time.thread_time(), time.perf_counter()
        original(batch)
        for event in batch:
            if isinstance(event, ev.Finished):
                done["rate"] = event.iteration / event.wall_time
                cpu, wall = time.thread_time() - done["cpu0"], time.perf_counter() - done["wall0"]
                GUI_SHARE.append(cpu / wall)

    window.session.events.disconnect()
    window.session.events.connect(watch)
    timer = QTimer()
    clock = QElapsedTimer()
    if lateness is not None:
        timer.setInterval(10)
        last = {"t": 0}

        def tick() -> None:
            now = clock.nsecsElapsed()
            if last["t"]:
                lateness.append((now - last["t"]) / 1e6 - 10.0)
            last["t"] = now

        timer.timeout.connect(tick)
        clock.start()
        timer.start()
    wait = QEventLoop()  # block in Qt's own loop (the GIL is released there), as exec() does
    window.session.state_changed.connect(lambda state: state == "idle" and wait.quit())
    window.train()
    wait.exec()
    window.session.state_changed.disconnect()
    window.session.state_changed.connect(window._on_state)
    timer.stop()
    window.session.events.disconnect()
    window.session.events.connect(original)
    return done["rate"]


def cold_start(rounds: int) -> None:
    show = (
        "import time, os; t0 = time.perf_counter();"
        "os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen');"
        "from ndestudio.gui.app import make_app; from ndestudio.gui.main_window import MainWindow;"
        "app = make_app(); w = MainWindow(); w.show(); app.processEvents();"
        "print(time.perf_counter() - t0)"
    )
    window_s, torch_s, window_inner = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", show], check=True, capture_output=True, text=True
        )
        window_s.append(time.perf_counter() - t0)
        window_inner.append(float(out.stdout.strip().splitlines()[-1]))
    print(
        f"cold start: process launch to shown window {statistics.median(window_s):.2f} s "
        f"(in-process {statistics.median(window_inner):.2f} s); "
        f'python -c "import torch" {statistics.median(torch_s):.2f} s; target ≤ 2 s'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    app = make_app()
    if os.environ.get("SWITCH"):
        sys.setswitchinterval(float(os.environ["SWITCH"]))
    tmp = tempfile.mkdtemp()
    window = MainWindow(settings=QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat))
    window.autosave_timer.stop()
    window.show()
    app.processEvents()
    core_alone(20)  # warm-up
    gui_rates, core_rates, lateness = [], [], []
    for i in range(args.rounds):
        order = ["gui", "core"] if i % 2 == 0 else ["core", "gui"]
        for which in order:
            if which == "gui":
                gui_rates.append(in_window(app, window, args.steps, lateness))
            else:
                core_rates.append(core_alone(args.steps))
    g, c = statistics.median(gui_rates), statistics.median(core_rates)
    print("steps/s per pair, window:", " ".join(f"{r:.0f}" for r in gui_rates))
    print("steps/s per pair, core:  ", " ".join(f"{r:.0f}" for r in core_rates))
    ratios = sorted(a / b for a, b in zip(gui_rates, core_rates, strict=True))
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    print(
        f"GUI cost: {g:.1f} steps/s in the window vs {c:.1f} steps/s core alone "
        f"(medians of {args.rounds} pairs, {args.steps} identical steps each): per-pair ratio "
        f"median {q2:.3f} (quartiles {q1:.3f}–{q3:.3f}); target ≥ 0.95"
    )
    print(
        f"GUI thread CPU while training: median {100 * statistics.median(GUI_SHARE):.1f} % of "
        "wall time (what the window can take from a GIL-bound trainer)"
    )
    lateness.sort()
    p50 = lateness[len(lateness) // 2]
    p99 = lateness[int(0.99 * (len(lateness) - 1))]
    print(
        f"responsiveness: 10 ms timer lateness during training p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms over {len(lateness)} ticks; target p99 ≤ 16 ms"
    )
    window.close()
    cold_start(args.rounds)


if __name__ == "__main__":
    main()
