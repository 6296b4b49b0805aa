"""Starts NDE Studio the way ``ndestudio`` does, in its own process for ``test_startup.py``.

The window must show before PyTorch is imported, refuse to train while the core loads, stay
responsive meanwhile, then fill its panels and train (``--train``) once the core is there.
Prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ITERATIONS = 20
TICK_MS = 10


def main() -> int:
    from PySide6.QtCore import QTimer

    from ndestudio.gui import app as gui_app
    from ndestudio.gui.main_window import MainWindow, default_spec

    seen: dict[str, object] = {}
    load_core = MainWindow.load_core

    def spying_load_core(window: MainWindow) -> None:
        # Called by launch() once the window is shown and painted, before the import starts.
        seen["visible_at_load"] = window.isVisible()
        seen["torch_at_show"] = "torch" in sys.modules
        seen["train_enabled_at_show"] = window.train_action.isEnabled()
        seen["training_panel_enabled_at_show"] = window.training_panel.isEnabled()
        seen["model_panel_enabled_at_show"] = window.model_panel.isEnabled()
        seen["width_at_show"] = window.model_panel.width_box.value()
        seen["method_at_show"] = window.model_panel.method.currentText()
        window.train()  # F5 before the core is there: ignored, no crash
        seen["state_after_early_train"] = window.session.state
        load_core(window)

    MainWindow.load_core = spying_load_core  # type: ignore[method-assign]
    spec = default_spec()
    spec.train.iterations = ITERATIONS
    spec.model.network.width = 48  # a non-default value the panels must show at once
    t0 = time.perf_counter()
    window = gui_app.launch(spec=spec, autotrain=True)
    app = gui_app.QApplication.instance()
    lateness: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        if not window.core_loaded:
            lateness.append((now - last[0]) * 1000 - TICK_MS)
        last[0] = now
        trainer = window.session.trainer
        if window.core_loaded and "loaded_after_s" not in seen:
            seen["loaded_after_s"] = now - t0
            seen["methods_after_load"] = window.model_panel.method.count()
            seen["preview_after_load"] = window.data_panel.dataset is not None
            seen["training_panel_enabled_after_load"] = window.training_panel.isEnabled()
        done = trainer is not None and trainer.iteration >= ITERATIONS
        if (done and window.session.state == "idle") or now - t0 > 120:
            seen["iterations"] = trainer.iteration if trainer is not None else 0
            seen["loss_points"] = window.loss_plot.train.n
            seen["lateness_p50_ms"] = sorted(lateness)[len(lateness) // 2] if lateness else None
            seen["ticks_while_loading"] = len(lateness)
            window.dirty = False  # no save prompt: nothing here is the user's work
            window.close()
            app.quit()

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    app.exec()
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
