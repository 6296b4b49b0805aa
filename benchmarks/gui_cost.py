"""What the window costs training, how responsive it stays, and how fast it starts.

1. GUI cost: one long run (spiral demo) trained inside the running window with every plot
   redrawing, and the same run trained by the core alone (``Trainer.run`` on a plain thread,
   no Qt), alternately over the same iterations: the window trains ~``--steps`` iterations
   and pauses (its drawing stops too), then the core's trainer catches up to the same
   iteration. Both start from the same seed, so iteration i is the same work on both sides
   (same weights, batch and evaluations: checked by comparing their NFE). Each segment gives
   a ratio, core seconds / window seconds over its iterations; printed: their median, with
   quartiles and a bootstrap 90 % interval (target ≥ 0.95). These machines are noisy (±15 %
   between identical runs seconds apart): segments a second or two long, alternating, let
   the noise hit both sides alike.
2. Responsiveness: lateness of a 10 ms QTimer on the GUI thread while training (p50, p99;
   target p99 ≤ 16 ms), in runs of its own after the pairs.
3. Cold start: seconds from launching ``ndestudio``'s start-up in a fresh process to a shown
   window (target ≤ 2 s) and to a window whose core has loaded (panels filled, preview drawn),
   next to the old core-first order and ``python -c "import torch"``, interleaved.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_cost.py [--segments 120] [--steps 40]
        [--starts 12] [--cold-start-only] [--inspect]

``--inspect`` trains with the phase-portrait tab open, so that the window's cost includes
its recomputations, and prints how long a 30×30 field plus its equilibria take.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QObject, QSettings, QTimer, Signal

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


class _CoreDone(QObject):
    finished = Signal()


def alternating(window: MainWindow, segments: int, steps: int, skip: int = 3) -> list[float]:
    """Per-segment ratios core seconds / window seconds over the same iterations (see 1.).

    The first ``skip`` iterations after each resume are left out on both sides: they carry
    the pause and resume themselves, not steady training.
    """
    spec = spec_for(10**7)  # longer than the comparison: the same (cosine) schedule for both
    window.session.reset()
    window.session.set_spec(spec)
    window._load_panels()
    core = Trainer(spec_for(10**7))
    core_events = core.run()
    next(core_events)  # Started
    done = _CoreDone()
    wait = QEventLoop()
    ratios: list[float] = []
    state = {"start": 0, "phase": "window", "mismatch": 0}

    def core_catch_up(target: int) -> None:  # on a plain thread, as ``core_alone``
        while core.iteration < target:
            next(core_events)
        done.finished.emit()

    def on_events(batch: list[ev.Event]) -> None:
        original(batch)
        trainer = window.session.trainer
        if state["phase"] != "window" or trainer is None:
            return
        if any(isinstance(e, ev.Paused) for e in batch):
            state["phase"] = "core"
            window.redraw_timer.stop()  # the window's drawing stops with its training
            threading.Thread(target=core_catch_up, args=(trainer.iteration,)).start()
        elif trainer.iteration >= state["start"] + steps:
            window.session.pause()

    def on_core_done() -> None:
        trainer = window.session.trainer
        assert trainer is not None
        first, last = state["start"] + skip, trainer.iteration
        w_time, c_time = trainer.history["wall_time"], core.history["wall_time"]
        # wall_time[i - 1] is the end of iteration i: iteration i took [i - 1] - [i - 2].
        w = w_time[last - 1] - w_time[first - 1]
        c = c_time[last - 1] - c_time[first - 1]
        ratios.append(c / w)
        w_nfe = trainer.history["nfe_forward"][first:last]
        state["mismatch"] += w_nfe != core.history["nfe_forward"][first:last]
        window.redraw_timer.start()
        if len(ratios) == segments:
            window.session.stop()
            return
        state["start"], state["phase"] = last, "window"
        window.session.resume()

    original = window._on_events
    window.session.events.disconnect()
    window.session.events.connect(on_events)
    done.finished.connect(on_core_done)
    window.session.state_changed.connect(lambda st: st == "idle" and wait.quit())
    window.train()
    wait.exec()
    window.session.state_changed.disconnect()
    window.session.state_changed.connect(window._on_state)
    window.session.events.disconnect()
    window.session.events.connect(original)
    if state["mismatch"]:
        print(f"warning: {state['mismatch']} segments did different work (NFE differ)")
    return ratios


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


def bootstrap_median(values: list[float], draws: int = 5000) -> tuple[float, float]:
    """A 90 % bootstrap interval of the median of ``values`` (seeded: the same data, the same
    interval)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.05 * draws)], medians[int(0.95 * draws)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=120, help="window/core segments")
    parser.add_argument("--steps", type=int, default=40, help="iterations per segment")
    parser.add_argument("--runs-steps", type=int, default=300, help="iterations of a whole run")
    parser.add_argument("--starts", type=int, default=12, help="cold starts of each kind")
    parser.add_argument("--cold-start-only", action="store_true", help="skip the training part")
    parser.add_argument(
        "--inspect",
        action="store_true",
        help="train with the Inspect ▸ Phase portrait tab open (it recomputes while training)",
    )
    args = parser.parse_args()
    if args.cold_start_only:
        cold_start(args.starts)
        return
    app = make_app()
    tmp = tempfile.mkdtemp()
    window = MainWindow(settings=QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat))
    window.autosave_timer.stop()
    window.show()
    if args.inspect:
        from ndestudio.core.inspect import time_field_and_equilibria

        window.tabs.setCurrentWidget(window.portrait_view)
        timing = time_field_and_equilibria(Trainer(spec_for(10)), n=30, seeds=10)
        print(
            f"phase portrait: a 30×30 field {1000 * timing['field_s']:.1f} ms plus its "
            f"equilibria from 10×10 seeds {1000 * timing['equilibria_s']:.0f} ms "
            f"(total {1000 * timing['total_s']:.0f} ms, best of 3; spiral model)"
        )
    app.processEvents()
    core_alone(20)  # warm-up
    ratios = sorted(alternating(window, args.segments, args.steps))
    if args.inspect:
        print(f"phase portraits computed while training: {window.portrait_view.computed}")
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    lo, hi = bootstrap_median(ratios)
    print(
        f"GUI cost: steps/s in the window / steps/s of the core alone over the same "
        f"iterations, {len(ratios)} alternating segments of ~{args.steps} steps: median "
        f"{q2:.3f} (quartiles {q1:.3f}–{q3:.3f}; 90 % interval of the median {lo:.3f}–{hi:.3f}); "
        "target ≥ 0.95"
    )
    # Responsiveness, and the GUI thread's CPU share, in whole runs of their own: the 100 Hz
    # probe timer is a measuring instrument whose GIL hand-overs are not the window's.
    lateness: list[float] = []
    for _ in range(2):
        in_window(app, window, args.runs_steps)
    for _ in range(3):
        in_window(app, window, args.runs_steps, lateness)
    share = statistics.median(GUI_SHARE[:2])  # the runs without the probe timer
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
    window.dirty = False  # no save prompt: nothing here is the user's work
    window.close()
    cold_start(args.starts)


if __name__ == "__main__":
    main()
