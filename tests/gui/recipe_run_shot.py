"""Trains the JapaneseVowels recipe in the window, as a user would (the config opened, Train
pressed), and takes resources/screenshots/japanese-vowels-run.png: the readout view with the
test set's confusion matrix and the training panel's test score. Prints the test score, to
compare with ``ndestudio train`` on the same config.

    QT_QPA_PLATFORM=offscreen python -m tests.gui.recipe_run_shot [--seed N] [OUT.png]

Needs the ``datasets`` extra (aeon). A few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "resources" / "examples" / "cde_japanese_vowels.json"
OUT = ROOT / "resources" / "screenshots" / "japanese-vowels-run.png"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default=str(OUT))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from ndestudio.core.specs import RunSpec
    from tests.gui.shots import close, shot_window, wait

    spec = RunSpec.load(RECIPE)
    spec.train.seed = spec.data.seed = args.seed
    window = shot_window(spec)

    panel = window.data_panel
    wait(lambda: window.core_loaded and not panel.loading and panel.test_dataset is not None, 120)
    started = time.monotonic()
    window.train()
    wait(lambda: window.session.state == "running", 30)
    wait(lambda: window.session.state == "idle", 3600)
    seconds = time.monotonic() - started
    tested = window.session.trainer.last_test
    window.tabs.setCurrentWidget(window.readout_view)
    wait(lambda: False, 2.0)  # let the views draw
    window.grab().save(args.out)
    if tested is None:
        print("no test score: the run did not finish")
        return 1
    print(
        f"{args.out}: seed {args.seed}: test accuracy {tested.metrics['accuracy']:.4f} "
        f"({tested.weights} weights, iteration {tested.iteration}), {seconds:.0f} s in the window"
    )
    close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
