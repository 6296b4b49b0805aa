"""Trains the spiral demo in the window and takes the light and dark screenshots of
resources/screenshots/: the training plots and the phase portrait (a trajectory launched
from a start), each in both colour schemes (View ▸ Colour scheme).

    QT_QPA_PLATFORM=xcb xvfb-run -a python -m tests.gui.colour_scheme_shot [--steps N] [DIR]

(``offscreen`` renders the same widgets; under Xvfb they go through a real X server.)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "resources" / "screenshots"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default=str(OUT))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    from tests.gui.shots import close, shot_window, wait

    window = shot_window()

    wait(lambda: window.core_loaded and not window.data_panel.loading, 120)
    window.training_panel.iterations.setValue(args.steps)
    window.train()
    wait(lambda: window.session.state == "running", 30)
    wait(lambda: window.session.state == "idle", 1800)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    portrait = window.portrait_view
    window.tabs.setCurrentWidget(portrait)
    wait(lambda: portrait.result is not None, 120)
    portrait.launch(1.2, 0.4)
    wait(lambda: bool(portrait.trajectory_curves), 60)
    for scheme in ("light", "dark"):
        window.colour_scheme.choose(scheme)
        for tab, name in ((window.run_plots, "training"), (portrait, "portrait")):
            window.tabs.setCurrentWidget(tab)
            wait(lambda: False, 1.5)  # let the views draw
            path = out / f"{name}-{scheme}.png"
            if not window.grab().save(str(path)):
                print(f"cannot write {path}")
                return 1
            print(path)
    close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
