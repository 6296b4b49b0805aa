"""What the Inspect views share: a computation on a copy of the run's weights in a worker
thread of the view's own (never the GUI thread, never the training thread), its result
carried back by a queued signal, stale results dropped, and recomputation while training
kept within a budget; and the look of their plots."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QWidget

from ndestudio.core import events as ev
from ndestudio.gui.plots.base import DecadeAxis
from ndestudio.gui.theme import shown

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.training import Trainer
    from ndestudio.gui.session import Session

# While training, a computation takes CPU (and the GIL) from the trainer: after an evaluation
# the next one waits at least MIN_INTERVAL_S, and long enough to stay within BUDGET of the time
# (as the phase portrait does).
MIN_INTERVAL_S = 2.0
BUDGET = 0.03


def plot_widget(title: str, left: str, bottom: str, log_y: bool = False) -> pg.PlotWidget:
    """A plot with labelled axes on the theme's background; right-click → Export… saves
    PNG, SVG or CSV."""
    plot = pg.PlotWidget(background=shown("#ffffff"), axisItems={"left": DecadeAxis("left")})
    item = plot.getPlotItem()
    item.setTitle(title, size="10pt")
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.setLogMode(y=log_y)
    for axis in ("left", "bottom"):  # densities of 0.6 read "600 (x0.001)" otherwise
        item.getAxis(axis).enableAutoSIPrefix(False)
    item.layout.setContentsMargins(2, 2, 14, 2)  # room for the last tick label on the right
    plot.setMinimumSize(160, 140)
    return plot


def keys_width(plot: pg.PlotWidget) -> float:
    """The width a plot's title keys may take (see ``title_html``)."""
    return max(plot.width() - 60.0, 150.0)


class _Results(QObject):
    """Carries results from the view's worker thread to the GUI thread (a queued signal)."""

    done = Signal(int, object)  # generation, result or an error text


class BackgroundView(QWidget):
    """A :class:`~ndestudio.gui.views.base.RunView` that computes off the GUI thread.

    Subclasses build their widgets (with a ``self.status`` label), say why nothing can be
    drawn (:meth:`usable`), prepare a job on the GUI thread (:meth:`prepare`: read the
    controls, take the frozen copy; the job it returns runs in the worker) and draw its
    result (:meth:`draw`, with ``self.result`` None when there is nothing to draw)."""

    idle_text = ""
    busy_text = "Computing…"

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dataset: TimeSeriesDataset | None = None
        self.trainer: Trainer | None = None  # the run on screen
        self.result: Any = None
        self.seconds = 0.0  # how long the last computation took
        self._generation = 0  # results of an older generation (before a clear) are dropped
        self._busy = False
        self._again = False
        # New weights arrived during a computation: recompute once the budget allows (not
        # at once, which a run's steady stream of events would turn into back-to-back runs).
        self._stale = False
        self.computed = 0  # results drawn
        self._not_before = 0.0  # while training: no recomputation before this (perf_counter)
        self._later = QTimer(self)  # a deferred request
        self._later.setSingleShot(True)
        self._later.timeout.connect(self.request)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspect")
        self._results = _Results(self)
        self._results.done.connect(self._finished)
        self.status = QLabel(self.idle_text)
        self.status.setWordWrap(True)

    # RunView -------------------------------------------------------------------------------

    def on_events(self, batch: list[ev.Event]) -> None:
        if any(isinstance(e, ev.Started) for e in batch) and self.session is not None:
            self.trainer = self.session.trainer
        if self._new_weights(batch) and self.isVisible():
            if self._busy:
                self._stale = True
                return
            wait = self._not_before - time.perf_counter()
            if wait > 0:  # training goes on: within the budget, later
                if not self._later.isActive():
                    self._later.start(int(1000 * wait) + 1)
            else:
                self.request()

    def _new_weights(self, batch: list[ev.Event]) -> bool:
        """Whether ``batch`` calls for a recomputation: an evaluation, the run's end (its final
        weights), or, in a run without validation series (no evaluations), its steps."""
        if any(isinstance(e, (ev.Eval, ev.Finished, ev.Stopped)) for e in batch):
            return True
        task = getattr(self.trainer, "task", None)
        no_validation = task is not None and not task.has_validation
        return no_validation and any(isinstance(e, ev.Step) for e in batch)

    def clear(self) -> None:
        self._generation += 1
        self._later.stop()
        self._stale = False
        self.trainer = None
        self.result = None
        self.draw()
        self.status.setText(self.idle_text)

    def replay(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.request()

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        self.dataset = dataset

    def theme_changed(self) -> None:
        """Draw the result again in the new theme's colours (gui/restyle.py translated the
        items' colours; what a view draws from a colour map or picks by theme needs this)."""
        if self.result is not None:
            self.draw()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        self.request()  # what changed while it was hidden

    # computing -----------------------------------------------------------------------------

    def usable(self) -> str | None:
        """Why nothing can be computed now (None: it can)."""
        return None if self.trainer is not None else self.idle_text

    # Each view defines these two (Qt's metaclass rules out ABCMeta: they are documented
    # as abstract, and every view in gui/views/ overrides both).

    @abstractmethod
    def prepare(self) -> Callable[[], object]:
        """Read the controls and copy the weights (on the GUI thread); return the job that
        computes the result in the worker."""

    @abstractmethod
    def draw(self) -> None:
        """Draw ``self.result`` (None: clear the plots)."""

    def frozen(self) -> Trainer:
        """A copy of the run's weights now, for the worker (training may go on meanwhile)."""
        from ndestudio.core.inspect.frozen import frozen_copy

        assert self.trainer is not None
        return frozen_copy(self.trainer)

    def request(self) -> None:
        """Recompute (now, or once the computation under way ends)."""
        reason = self.usable()
        if reason is not None:
            self.status.setText(reason)
            return
        if self._busy:
            self._again = True
            return
        try:
            job = self.prepare()
        except Exception as exc:  # e.g. a run whose task cannot be copied: say so
            self.status.setText(f"Nothing to show: {exc}")
            return
        self._busy, self._again = True, False
        generation = self._generation
        self.status.setText(self.busy_text)

        def run() -> None:
            start = time.perf_counter()
            try:
                result = job()
            except Exception as exc:  # dynamics that blow up: say so, keep the view
                result = f"This could not be computed: {exc}"
            self.seconds = time.perf_counter() - start
            self._results.done.emit(generation, result)

        self._executor.submit(run)

    def _finished(self, generation: int, result: object) -> None:
        self._busy = False
        if generation == self._generation:
            if isinstance(result, str):
                self.status.setText(result)
            else:
                self.result = result
                self.computed += 1
                self.draw()
                self._not_before = time.perf_counter() + max(MIN_INTERVAL_S, self.seconds / BUDGET)
        if self._again:
            self.request()
        elif self._stale and not self._later.isActive():
            wait = max(0.0, self._not_before - time.perf_counter())
            self._later.start(int(1000 * wait) + 1)
        self._stale = False

    @property
    def busy(self) -> bool:
        return self._busy

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
