"""Inspect ▸ Phase portrait: the learned vector field of a neural ODE on a 2-D slice of its
state, as arrows coloured by speed, with its equilibria (classified), nullclines and saddle
manifolds; a click launches trajectories forward and backward from that state, for the
learned field and, where the equations are known, the true one.

Everything is computed on a copy of the weights in a worker thread of the view's own
(never on the GUI thread, never on the training thread): after each evaluation while the
view is visible, when a run is shown, and when a control changes. One computation runs at a
time; a request during it is served by one more computation when it ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ndestudio.gui import theme
from ndestudio.gui.plots.base import pen, title_html
from ndestudio.gui.views.background import BackgroundView

if TYPE_CHECKING:
    from ndestudio.core.data import TimeSeriesDataset
    from ndestudio.core.inspect import Dynamics, Portrait, StateTrajectories
    from ndestudio.gui.session import Session

GRID = 25  # arrows per side
SEEDS = 8  # Newton seeds per side for the equilibria
SPEED_BANDS = 5  # arrow colours, slow to fast
HELD_PER_ROW = 4  # the other channels' value boxes per row
ARROW_SHARE = 0.8  # an arrow's length, as a share of the grid's cell
HEAD = 0.3  # the arrowhead's length, as a share of the arrow's
KIND_STYLE = {  # symbol, filled, colour
    "stable node": ("o", True, "#1a7f37"),
    "stable focus": ("o", True, "#1f77b4"),
    "unstable node": ("o", False, "#d62728"),
    "unstable focus": ("o", False, "#ff7f0e"),
    "saddle": ("x", True, "#9467bd"),
    "centre-like": ("d", False, "#555555"),
}
LEARNED = "#d62728"
TRUE = "#555555"
NULLCLINE_COLOURS = ("#e377c2", "#17becf")


def arrow_segments(
    xs: np.ndarray,
    ys: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    px_per_x: float = 1.0,
    px_per_y: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One arrow per grid point along (u, v) as it looks on screen (``px_per_x``/``px_per_y``:
    pixels per data unit), each ARROW_SHARE of a cell long, with a two-barbed head: x and y
    arrays of point pairs for a ``connect="pairs"`` curve. Points where the field is 0 or
    not finite get none."""
    gx, gy = np.meshgrid(xs, ys)
    cell_x = abs(xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    cell_y = abs(ys[-1] - ys[0]) / max(len(ys) - 1, 1)
    length = ARROW_SHARE * min(cell_x * px_per_x, cell_y * px_per_y)  # pixels
    sx, sy = u * px_per_x, v * px_per_y  # the direction on screen
    norm = np.hypot(sx, sy)
    ok = np.isfinite(norm) & (norm > 0)
    sx, sy, gx, gy = sx[ok] / norm[ok], sy[ok] / norm[ok], gx[ok], gy[ok]
    x0, y0 = gx - 0.5 * length * sx / px_per_x, gy - 0.5 * length * sy / px_per_y
    x1, y1 = gx + 0.5 * length * sx / px_per_x, gy + 0.5 * length * sy / px_per_y
    pieces_x, pieces_y = [np.stack([x0, x1], 1)], [np.stack([y0, y1], 1)]
    for angle in (0.45, -0.45):  # two barbs, back from the tip, rotated on screen
        c, s = math.cos(angle), math.sin(angle)
        bx, by = -(c * sx - s * sy), -(s * sx + c * sy)
        tip_x = x1 + HEAD * length * bx / px_per_x
        tip_y = y1 + HEAD * length * by / px_per_y
        pieces_x.append(np.stack([x1, tip_x], 1))
        pieces_y.append(np.stack([y1, tip_y], 1))
    return np.concatenate(pieces_x).ravel(), np.concatenate(pieces_y).ravel()


def speed_bands(speed: np.ndarray, bands: int = SPEED_BANDS) -> np.ndarray:
    """Each grid point's band 0 … bands-1 by the quantiles of its (log) speed."""
    finite = np.isfinite(speed) & (speed > 0)
    out = np.zeros(speed.shape, dtype=int)
    if not finite.any():
        return out
    logs = np.log(speed[finite])
    edges = np.quantile(logs, np.linspace(0, 1, bands + 1)[1:-1])
    out[finite] = np.searchsorted(edges, logs, side="right")
    return out


def describe(equilibrium: Any, names: list[str]) -> str:
    """One line: the class, where, and the eigenvalues."""
    point = ", ".join(f"{n} {v:.3g}" for n, v in zip(names, equilibrium.point, strict=False))
    values = ", ".join(
        f"{z.real:.3g}"
        if abs(z.imag) < 1e-12
        else f"{z.real:.3g} {'+' if z.imag > 0 else '−'} {abs(z.imag):.3g}i"
        for z in equilibrium.eigenvalues
    )
    return f"{equilibrium.kind} at ({point}); eigenvalues {values}"


class _Trajectories(QObject):
    """Carries clicked trajectories from the worker thread to the GUI thread."""

    done = Signal(int, object)  # generation, (index to replace or None, result or error text)


class PhasePortraitView(BackgroundView):
    """A :class:`~ndestudio.gui.views.base.RunView` of a neural ODE's learned field."""

    idle_text = "Train a neural ODE, or open one, to see its vector field."
    busy_text = "Computing the field and its equilibria…"

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.pinned: list[StateTrajectories] = []
        self._shown_box: tuple[object, ...] | None = None  # the box the axes were set to
        self._trajectories = _Trajectories(self)
        self._trajectories.done.connect(self._show_trajectories)
        self._build()

    @property
    def portrait(self) -> Portrait | None:
        return self.result

    # layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        controls = QHBoxLayout()
        self.x_axis, self.y_axis = QComboBox(), QComboBox()
        self.x_axis.setToolTip("The state channel along the horizontal axis.")
        self.y_axis.setToolTip("The state channel along the vertical axis.")
        self.horizon = QDoubleSpinBox()
        self.horizon.setRange(0.01, 1e6)
        self.horizon.setDecimals(2)
        self.horizon.setValue(10.0)
        self.horizon.setToolTip(
            "How far in time a clicked trajectory runs, forward and backward (it may go "
            "beyond the training span)."
        )
        self.show_nullclines = QCheckBox("Nullclines")
        self.show_nullclines.setChecked(True)
        self.show_manifolds = QCheckBox("Saddle manifolds")
        self.show_manifolds.setChecked(True)
        self.show_truth = QCheckBox("True system")
        self.show_truth.setChecked(True)
        self.show_truth.setToolTip("The demo's own equations, where they are known.")
        self.clear_button = QPushButton("Clear trajectories")
        for label, widget in (("x", self.x_axis), ("y", self.y_axis), ("horizon", self.horizon)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.clear_button)
        controls.addStretch(1)
        layout.addLayout(controls)
        toggles = QHBoxLayout()  # a second row: the window stays narrow enough for small screens
        for widget in (self.show_nullclines, self.show_manifolds, self.show_truth):
            toggles.addWidget(widget)
        toggles.addStretch(1)
        layout.addLayout(toggles)
        # The other channels' values, for states of more than 2: a grid of a few per row, so
        # that a state of many channels cannot widen the window past the screen.
        self.others = QGridLayout()
        self.other_boxes: dict[int, QDoubleSpinBox] = {}
        layout.addLayout(self.others)

        self.plot = pg.PlotWidget(background=theme.shown("#ffffff"))
        self.plot.setToolTip("Click to launch a trajectory from that state.")
        item = self.plot.getPlotItem()
        item.setTitle("Learned vector field", size="10pt")
        item.getViewBox().setMouseEnabled(x=True, y=True)
        layout.addWidget(self.plot, 1)
        self.equilibria_text = QLabel("")
        self.equilibria_text.setWordWrap(True)
        self.equilibria_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.equilibria_text)
        layout.addWidget(self.status)

        self.arrow_curves = []
        for _ in range(SPEED_BANDS):
            curve = pg.PlotCurveItem(connect="pairs")
            item.addItem(curve)
            self.arrow_curves.append(curve)
        self._colour_arrows()
        self.nullcline_curves = [
            pg.PlotCurveItem(connect="pairs", pen=pen(c, 2.0)) for c in NULLCLINE_COLOURS
        ]
        self.manifold_curves: list[pg.PlotCurveItem] = []
        self.trajectory_curves: list[pg.PlotCurveItem] = []
        for curve in self.nullcline_curves:
            item.addItem(curve)
        self.equilibrium_dots = pg.ScatterPlotItem(size=12, hoverable=True)
        self.equilibrium_dots.setZValue(10)
        item.addItem(self.equilibrium_dots)
        self.start_targets: list[pg.TargetItem] = []  # the starts, draggable

        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.x_axis.currentIndexChanged.connect(self._axes_changed)
        self.y_axis.currentIndexChanged.connect(self._axes_changed)
        self.show_manifolds.toggled.connect(lambda _: self._draw_portrait())
        self.show_nullclines.toggled.connect(lambda _: self._draw_portrait())
        self.show_truth.toggled.connect(lambda _: self._draw_trajectories())
        self.clear_button.clicked.connect(self.clear_trajectories)

    def _colour_arrows(self) -> None:
        self.arrow_colours = theme.viridis(SPEED_BANDS, 0.1, 0.9)  # slow → fast
        for colour, curve in zip(self.arrow_colours, self.arrow_curves, strict=True):
            curve.setPen(pg.mkPen(colour, width=1))

    def theme_changed(self) -> None:
        self._colour_arrows()  # (a colour map: not translated by gui/restyle.py)
        super().theme_changed()

    # RunView -------------------------------------------------------------------------------

    def clear(self) -> None:
        self.pinned = []
        super().clear()
        self._draw_trajectories()

    def set_dataset(self, dataset: TimeSeriesDataset | None) -> None:
        super().set_dataset(dataset)
        names = list(dataset.channel_names) if dataset is not None else []
        if names == [self.x_axis.itemText(i) for i in range(self.x_axis.count())]:
            return
        for box in (self.x_axis, self.y_axis):
            blocked = box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.blockSignals(blocked)
        self.x_axis.setCurrentIndex(0)
        self.y_axis.setCurrentIndex(1 if len(names) > 1 else 0)
        if dataset is not None and len(dataset.times) > 1:
            self.horizon.setValue(float(dataset.times[-1] - dataset.times[0]))
        self._build_others()

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        self._draw_portrait()  # arrows keep their look at the new aspect ratio

    # computing -----------------------------------------------------------------------------

    def ready(self) -> bool:
        """Nothing is being computed and what can be drawn is drawn."""
        return not self._busy and (self.result is not None or self.usable() is not None)

    @property
    def axes(self) -> tuple[int, int]:
        return (self.x_axis.currentIndex(), self.y_axis.currentIndex())

    def usable(self) -> str | None:
        """Why nothing can be drawn now (None: it can)."""
        if self.trainer is None or self.trainer.spec.model.family != "ode":
            return "The phase portrait shows the learned field of a neural ODE: train one first."
        if self.dataset is None or self.dataset.values.shape[-1] < 2:
            return "The phase portrait needs a state of two or more channels."
        x, y = self.axes
        if x == y or min(x, y) < 0:
            return "Choose two different channels for the axes."
        return None

    def state(self) -> np.ndarray:
        """The full state the slice holds (the other channels at their boxes' values)."""
        assert self.dataset is not None
        base = np.nanmean(self.dataset.values.reshape(-1, self.dataset.values.shape[-1]), 0)
        for channel, box in self.other_boxes.items():
            base[channel] = box.value()
        return base

    def box(self) -> tuple[tuple[float, float], tuple[float, float]]:
        from ndestudio.core.inspect import data_box

        assert self.dataset is not None
        return data_box(self.dataset.values, self.axes)

    def dynamics(self) -> tuple[Dynamics, Dynamics | None]:
        """The learned field on a copy of the weights, and the true one where known."""
        from ndestudio.core.inspect import learned_dynamics, true_dynamics

        assert self.trainer is not None
        return learned_dynamics(self.trainer), true_dynamics(self.trainer)

    def prepare(self) -> Callable[[], object]:
        """The portrait's job, on a copy of the weights taken now."""
        learned, truth = self.dynamics()
        box, axes, state = self.box(), self.axes, self.state()

        def job() -> object:
            from ndestudio.core.inspect import phase_portrait

            return phase_portrait(
                learned, box, axes=axes, state=state, n=GRID, seeds=SEEDS, truth=truth
            )

        return job

    def draw(self) -> None:
        self._draw_portrait()

    def launch(self, x: float, y: float, replace: int | None = None) -> None:
        """Trajectories forward and backward from the state at (x, y) of the slice; with
        ``replace``, in place of the pinned trajectory of that index (its start dragged)."""
        if self.usable() is not None:
            return
        start = self.state()
        start[self.axes[0]], start[self.axes[1]] = x, y
        learned, truth = self.dynamics()
        horizon = self.horizon.value()
        generation = self._generation

        def job() -> None:
            from ndestudio.core.inspect import trajectories_from

            try:
                result: object = trajectories_from(learned, start, horizon, truth=truth)
            except Exception as exc:
                result = f"The trajectory could not be computed: {exc}"
            self._trajectories.done.emit(generation, (replace, result))

        self._executor.submit(job)

    def _show_trajectories(self, generation: int, outcome: object) -> None:
        replace, result = outcome  # type: ignore[misc]
        if generation != self._generation:
            return
        if isinstance(result, str):
            self.status.setText(result)
            return
        if replace is not None and replace < len(self.pinned):
            self.pinned[replace] = result
        else:
            self.pinned.append(result)
        self._draw_trajectories()

    def _dragged(self, index: int, target: pg.TargetItem) -> None:
        """A start dragged to a new state: its trajectories follow."""
        point = target.pos()
        self.launch(point.x(), point.y(), replace=index)

    def clear_trajectories(self) -> None:
        self.pinned = []
        self._draw_trajectories()

    def _clicked(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.button() != Qt.MouseButton.LeftButton:
            return
        view = self.plot.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        point = view.mapSceneToView(event.scenePos())
        self.launch(point.x(), point.y())

    def _axes_changed(self) -> None:
        self._build_others()
        self.pinned = []
        self._draw_trajectories()
        self.request()

    def _build_others(self) -> None:
        while self.others.count():
            widget = self.others.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.other_boxes = {}
        if self.dataset is None:
            return
        values = self.dataset.values.reshape(-1, self.dataset.values.shape[-1])
        names = list(self.dataset.channel_names)
        for channel, name in enumerate(names):
            if channel in self.axes:
                continue
            lo, hi = float(np.nanmin(values[:, channel])), float(np.nanmax(values[:, channel]))
            box = QDoubleSpinBox()
            box.setDecimals(3)
            box.setRange(lo - (hi - lo) - 1, hi + (hi - lo) + 1)
            box.setSingleStep(max((hi - lo) / 20, 1e-3))
            box.setValue(float(np.nanmean(values[:, channel])))
            box.setToolTip(f"{name} on this slice (starts at the data mean).")
            box.valueChanged.connect(lambda _: self.request())
            row, column = divmod(len(self.other_boxes), HELD_PER_ROW)
            self.others.addWidget(QLabel(name), row, 2 * column)
            self.others.addWidget(box, row, 2 * column + 1)
            self.other_boxes[channel] = box
        self.others.setColumnStretch(2 * HELD_PER_ROW, 1)

    # drawing -------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return list(self.dataset.channel_names) if self.dataset is not None else []

    def _draw_portrait(self) -> None:
        item = self.plot.getPlotItem()
        for curve in self.manifold_curves:
            item.removeItem(curve)
        self.manifold_curves = []
        portrait = self.portrait
        if portrait is None:
            for curve in (*self.arrow_curves, *self.nullcline_curves):
                curve.setData([], [])
            self.equilibrium_dots.setData([])
            self.equilibria_text.setText("")
            return
        grid = portrait.field
        names = self._names()
        x_name, y_name = names[grid.axes[0]], names[grid.axes[1]]
        item.setLabel("bottom", x_name)
        item.setLabel("left", y_name)
        view = item.getViewBox()
        shown = (grid.axes, grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
        if shown != self._shown_box:  # a new box; a recomputation keeps the user's zoom
            view.setRange(xRange=(grid.xs[0], grid.xs[-1]), yRange=(grid.ys[0], grid.ys[-1]))
            self._shown_box = shown
        width, height = max(view.width(), 100.0), max(view.height(), 100.0)
        px_x = width / (grid.xs[-1] - grid.xs[0])
        px_y = height / (grid.ys[-1] - grid.ys[0])
        bands = speed_bands(grid.speed)
        for band, curve in enumerate(self.arrow_curves):
            u = np.where(bands == band, grid.u, 0.0)
            v = np.where(bands == band, grid.v, 0.0)
            curve.setData(*arrow_segments(grid.xs, grid.ys, u, v, px_x, px_y))
        shown = self.show_nullclines.isChecked()
        for nullcline, curve in zip(portrait.nullclines, self.nullcline_curves, strict=True):
            segments = nullcline.segments if shown else np.zeros((0, 2, 2))
            curve.setData(segments[:, :, 0].ravel(), segments[:, :, 1].ravel())
        spots = []
        for eq in portrait.equilibria:
            symbol, filled, colour = KIND_STYLE.get(eq.kind, ("s", True, "#000000"))
            spots.append(
                {
                    "pos": (eq.point[grid.axes[0]], eq.point[grid.axes[1]]),
                    "symbol": symbol,
                    "brush": pg.mkBrush(theme.shown(colour if filled else "#ffffff")),
                    "pen": pg.mkPen(theme.shown(colour), width=2),
                    "data": describe(eq, names),
                }
            )
        self.equilibrium_dots.setData(spots)
        self.equilibrium_dots.opts["tip"] = lambda x, y, data: data
        if self.show_manifolds.isChecked():
            for manifold in portrait.manifolds:
                colour = "#1f77b4" if manifold.kind == "stable" else "#d62728"
                for branch in manifold.branches:
                    if branch.states.size == 0:
                        continue
                    curve = pg.PlotCurveItem(
                        branch.states[:, grid.axes[0]],
                        branch.states[:, grid.axes[1]],
                        pen=pg.mkPen(theme.shown(colour), width=1.5, style=Qt.PenStyle.DashLine),
                    )
                    item.addItem(curve)
                    self.manifold_curves.append(curve)
        lines = [
            f"<span style='color:{theme.shown(KIND_STYLE.get(eq.kind, ('', True, '#000'))[2])}'>"
            "●</span> " + describe(eq, names)
            for eq in portrait.equilibria
        ]
        self.equilibria_text.setText(
            "<br>".join(lines) if lines else "No equilibrium inside the box."
        )
        keys = [("arrows: slow → fast", self.arrow_colours[0])]
        keys.append(("trajectory (backward dotted)", LEARNED))
        if portrait.field.true_rates is not None:
            keys.append(("true system", TRUE))
        if shown:
            keys += [
                (f"{x_name}′ = 0", NULLCLINE_COLOURS[0]),
                (f"{y_name}′ = 0", NULLCLINE_COLOURS[1]),
            ]
        if portrait.manifolds and self.show_manifolds.isChecked():
            keys += [("stable manifold", "#1f77b4"), ("unstable manifold", "#d62728")]
        item.setTitle(title_html("Learned vector field", keys, max(self.plot.width() - 60, 200)))
        self.status.setText(
            f"{len(grid.xs)}×{len(grid.ys)} field and {len(portrait.equilibria)} "
            f"equilibri{'um' if len(portrait.equilibria) == 1 else 'a'} in "
            f"{portrait.seconds * 1000:.0f} ms. Arrows: direction, coloured by speed (slow "
            "blue, fast yellow). Click to launch a trajectory; the list above gives each "
            "equilibrium's eigenvalues (hover a marker for its own)."
        )

    def _draw_trajectories(self) -> None:
        item = self.plot.getPlotItem()
        for curve in self.trajectory_curves:
            item.removeItem(curve)
        for target in self.start_targets:
            item.removeItem(target)
        self.trajectory_curves, self.start_targets = [], []
        x, y = self.axes
        for index, pinned in enumerate(self.pinned):
            paths = [(pinned.forward, LEARNED, Qt.PenStyle.SolidLine)]
            paths.append((pinned.backward, LEARNED, Qt.PenStyle.DotLine))
            if self.show_truth.isChecked():
                for path in (pinned.true_forward, pinned.true_backward):
                    if path is not None:
                        paths.append((path, TRUE, Qt.PenStyle.DashLine))
            for path, colour, style in paths:
                if path.states.size == 0:
                    continue
                curve = pg.PlotCurveItem(
                    path.states[:, x],
                    path.states[:, y],
                    pen=pg.mkPen(theme.shown(colour), width=2, style=style),
                )
                curve.setZValue(5)
                item.addItem(curve)
                self.trajectory_curves.append(curve)
            target = pg.TargetItem(
                pos=(pinned.forward.start[x], pinned.forward.start[y]),
                size=9,
                symbol="o",
                pen=pg.mkPen(theme.shown("#000000")),
                brush=pg.mkBrush(theme.shown("#000000")),
                movable=True,
            )
            target.setZValue(11)
            target.setToolTip("Drag to move this start; its trajectories follow.")
            target.sigPositionChangeFinished.connect(
                lambda t, i=index: self._dragged(i, t)  # type: ignore[misc]
            )
            item.addItem(target)
            self.start_targets.append(target)
