"""The training window of each step: fixed, or growing from short windows to whole series."""

from __future__ import annotations

from ndestudio.core.specs import TrainSpec


def window_at(train: TrainSpec, iteration: int, length: int) -> int | None:
    """The window (observations per training series) of the step after ``iteration`` steps,
    for series of ``length`` observations; None: the whole series.

    With ``window_growth`` g > 0 the window grows linearly from ``window`` at the start to
    ``length`` after a share g of the run's iterations, then stays the whole series.
    """
    if train.window is None:
        return None
    window = train.window
    if train.window_growth > 0:
        share = min(1.0, iteration / (train.window_growth * train.iterations))
        window = round(window + (length - window) * share)
    return None if window >= length else window
