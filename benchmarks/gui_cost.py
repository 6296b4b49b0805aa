"""What the window costs training, how responsive it stays, and how fast it starts.

1. GUI cost: the same run (spiral demo, same seed, so identical work) trained inside the
   running window with every plot redrawing, and by the core alone (``Trainer.run`` on a
   plain thread, no Qt), in adjacent pairs (alternating which goes first); prints steps/s of
   each and the median of the per-pair ratios with its quartiles (target ≥ 0.95). These
   machines are noisy (±15 % between identical runs), hence many short pairs.
2. Responsiveness: lateness of a 10 ms QTimer on the GUI thread while training (p50, p99;
   target p99 ≤ 16 ms), in runs of its own after the pairs.
3. Cold start: seconds from launching ``ndestudio``'s start-up in a fresh process to a shown
   window (target ≤ 2 s) and to a window whose core has loaded (panels filled, preview drawn),
   next to the old core-first order and ``python -c "import torch"``, interleaved.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_cost.py [--steps 150] [--rounds 12]
        [--cold-start-only]
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


# Started in a fresh process. ``launch`` is what ``ndestudio`` runs: it shows the window, then
# calls ``load_core``, which is wrapped here to note the moment (and that torch is not there).
_LAUNCH = """
import os, sys, time
from ndestudio.gui import app as gui_app
from ndestudio.gui.main_window import MainWindow
load_core, shown = MainWindow.load_core, []
def noting_load_core(window):
    assert window.isVisible() and "torch" not in sys.modules
    shown.append(time.time())
    load_core(window)
MainWindow.load_core = noting_load_core
window = gui_app.launch()
while not window.core_loaded:
    gui_app.QApplication.processEvents()
    time.sleep(0.002)
print(shown[0], time.time())
"""
# The order before the window learned to wait for torch: import the core, then show.
_CORE_FIRST = """
import time
from ndestudio.gui.app import make_app
from ndestudio.gui.main_window import MainWindow
app = make_app(); window = MainWindow(); window.show(); app.processEvents()
print(time.time())
"""


def cold_start(rounds: int) -> None:
    """Launch → shown window, launch → core loaded (panels filled, preview drawn), and the
    old core-first order, next to ``python -c "import torch"``; fresh processes, interleaved."""
    tmp = tempfile.mkdtemp()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "XDG_CONFIG_HOME": f"{tmp}/config",  # no settings or autosave of the user's
        "XDG_DATA_HOME": f"{tmp}/data",
    }
    shown, loaded, core_first, torch_s = [], [], [], []

    def launch(code: str) -> tuple[float, list[float]]:
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
        )
        return t0, [float(x) for x in out.stdout.split()]

    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True, env=env)
        torch_s.append(time.perf_counter() - t0)
        t0, (at_shown, at_loaded) = launch(_LAUNCH)
        shown.append(at_shown - t0)
        loaded.append(at_loaded - t0)
        t0, (at_shown_old,) = launch(_CORE_FIRST)
        core_first.append(at_shown_old - t0)
    med = statistics.median
    print(
        f"cold start (medians of {rounds}): launch to shown window {med(shown):.2f} s "
        f"(target ≤ 2 s), to core loaded and panels filled {med(loaded):.2f} s; "
        f"importing the core before showing (the old order) {med(core_first):.2f} s; "
        f'python -c "import torch" {med(torch_s):.2f} s'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--cold-start-only", action="store_true", help="skip the training part")
    args = parser.parse_args()
    if args.cold_start_only:
        cold_start(args.rounds)
        return
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
                gui_rates.append(in_window(app, window, args.steps))
            else:
                core_rates.append(core_alone(args.steps))
    # Responsiveness in runs of their own: the 100 Hz probe timer is a measuring instrument,
    # and its own GIL hand-overs would be charged to the window in the pairs above.
    for _ in range(max(2, args.rounds // 3)):
        in_window(app, window, args.steps, lateness)
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
    share = statistics.median(GUI_SHARE[: args.rounds])  # the pairs' window runs
    print(
        f"GUI thread CPU while training: median {100 * share:.1f} % of "
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
