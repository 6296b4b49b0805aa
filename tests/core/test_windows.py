from __future__ import annotations

from ndestudio.core.specs import TrainSpec
from ndestudio.core.training.windows import window_at


def test_a_fixed_window_stays_and_none_is_the_whole_series():
    train = TrainSpec(window=10, iterations=100)
    assert [window_at(train, k, 100) for k in (0, 50, 99)] == [10, 10, 10]
    assert window_at(TrainSpec(window=None), 5, 100) is None
    assert window_at(train, 0, 10) is None  # a window as long as the series: the series


def test_a_growing_window_reaches_the_whole_series_after_its_share_of_the_run():
    train = TrainSpec(window=10, window_growth=0.5, iterations=600)
    assert window_at(train, 0, 100) == 10
    assert window_at(train, 150, 100) == 55
    assert window_at(train, 290, 100) == 97
    assert window_at(train, 300, 100) is None
    assert window_at(train, 599, 100) is None
    sizes = [window_at(train, k, 100) or 100 for k in range(600)]
    assert sizes == sorted(sizes)  # never shrinks
