"""What the window asks of a view: the run's events as they stream, and the run to show.

A view is a widget (or a group of them) that the window places and feeds; it subscribes to
nothing itself. The window sends every batch of events of the run on screen, tells the view
to forget the run when another takes its place (switching family or dataset, New, Reset),
and asks it to show a saved or earlier run from its history (a reopened project, or
switching back to the trained settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ndestudio.core import events as ev

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.training import Trainer


class RunView(Protocol):
    def on_events(self, batch: list[ev.Event]) -> None:
        """Events of the run on screen, in order, batched by the worker. A run with a test
        set ends with ``Tested`` (the test metrics) just before ``Finished``."""

    def clear(self) -> None:
        """Forget the run shown: another run (or none) takes its place."""

    def replay(self, trainer: Trainer) -> None:
        """Show ``trainer``'s run from what it keeps (history, last evaluation)."""

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        """The dataset previewed in the dataset panel (before a run has predictions)."""
