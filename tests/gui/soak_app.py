"""A live-training soak run, started in its own process by ``test_soak.py``.

Trains the spiral demo with every plot redrawing for ``seconds`` and prints what it did.
A PySide6 that mismanages references (6.12.0 on Python 3.11) aborts the interpreter here.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(seconds: float) -> int:
    import tempfile

    from PySide6.QtCore import QSettings, QTimer

    from ndestudio.core.specs import RunSpec
    from ndestudio.gui.app import make_app
    from ndestudio.gui.main_window import MainWindow, default_spec

    app = make_app()
    tmp = tempfile.mkdtemp()
    spec: RunSpec = default_spec()
    spec.train.iterations = 10**7
    spec.train.eval_every = 5  # snapshots often: trajectory and phase plots redraw too
    window = MainWindow(spec, settings=QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat))
    window.show()
    redraws = {"n": 0}
    original = window.redraw

    def counting_redraw() -> None:
        if any(p.dirty for p in window.plots):
            redraws["n"] += 1
        original()

    window.redraw_timer.timeout.disconnect()
    window.redraw_timer.timeout.connect(counting_redraw)
    start = time.perf_counter()
    window.train()

    def finish() -> None:
        iteration = window.session.trainer.iteration
        window.dirty = False  # no save prompt: nothing here is the user's work
        window.close()
        app.quit()
        elapsed = time.perf_counter() - start
        print(
            f"soak: {elapsed:.1f} s, {iteration} steps, {redraws['n']} redraws, "
            f"{window.loss_plot.train.n} loss points"
        )

    QTimer.singleShot(int(seconds * 1000), finish)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0))
