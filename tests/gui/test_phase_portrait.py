"""Inspect ▸ Phase portrait: the learned field, its equilibria, click-to-integrate (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from ndestudio.core.inspect import field_slice, integrate, learned_dynamics
from ndestudio.gui.views.phase_portrait import arrow_segments, speed_bands
from tests.conftest import small_spec


def _trained_portrait(make_window, qtbot):
    window = make_window(small_spec("ode", iterations=6, eval_every=3))
    window.resize(1200, 800)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    view = window.portrait_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.portrait is not None and not view._busy, timeout=60_000)
    return window, view


def test_the_portrait_is_the_learned_field_with_its_equilibria(make_window, qtbot):
    window, view = _trained_portrait(make_window, qtbot)
    trainer = window.session.trainer
    grid = view.portrait.field
    direct = field_slice(learned_dynamics(trainer), view.box(), n=len(grid.xs))
    np.testing.assert_allclose(grid.rates, direct.rates, rtol=1e-12, atol=1e-12)
    assert grid.true_rates is not None  # the spiral's equations are known
    drawn = sum(0 if c.xData is None else len(c.xData) for c in view.arrow_curves)
    assert drawn == 6 * len(grid.xs) * len(grid.ys)  # a shaft and two barbs per grid point
    listed = view.equilibria_text.text()
    for eq in view.portrait.equilibria:
        assert eq.kind in listed
        assert (
            np.linalg.norm(
                learned_dynamics(trainer).rate(learned_dynamics(trainer).tensor(eq.point)).numpy()
            )
            < 1e-6
        )
    assert len(view.equilibrium_dots.data) == len(view.portrait.equilibria)


def test_a_click_at_a_pixel_integrates_from_that_pixels_state(make_window, qtbot):
    window, view = _trained_portrait(make_window, qtbot)
    plot = view.plot
    box = view.box()
    target = QPointF(
        box[0][0] + 0.7 * (box[0][1] - box[0][0]), box[1][0] + 0.4 * (box[1][1] - box[1][0])
    )
    viewbox = plot.getPlotItem().getViewBox()
    pixel = plot.mapFromScene(viewbox.mapViewToScene(target))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pixel))
    # Where that pixel was at the click (a redraw after it may move the axes a little).
    clicked = viewbox.mapSceneToView(plot.mapToScene(pixel))
    qtbot.waitUntil(lambda: len(view.pinned) == 1, timeout=60_000)
    pinned = view.pinned[0]
    start = pinned.forward.start
    x, y = view.axes
    assert abs(start[x] - clicked.x()) < 1e-9 and abs(start[y] - clicked.y()) < 1e-9
    direct = integrate(learned_dynamics(window.session.trainer), start, view.horizon.value())
    np.testing.assert_allclose(pinned.forward.states, direct.states, rtol=1e-9, atol=1e-9)
    backward = integrate(learned_dynamics(window.session.trainer), start, -view.horizon.value())
    np.testing.assert_allclose(pinned.backward.states, backward.states, rtol=1e-9, atol=1e-9)
    assert pinned.true_forward is not None  # and the true system from the same state
    assert len(view.trajectory_curves) >= 3
    view.clear_button.click()
    assert view.pinned == [] and view.trajectory_curves == []


def test_switching_to_another_family_clears_the_portrait_and_disables_the_tab(make_window, qtbot):
    window, view = _trained_portrait(make_window, qtbot)
    window.model_panel.family.setCurrentText("sde")
    assert view.portrait is None and not window.tabs.isTabEnabled(window.tabs.indexOf(view))


def test_arrows_point_along_the_field_on_screen_and_bands_order_speeds():
    xs, ys = np.array([0.0, 1.0]), np.array([0.0, 2.0])
    u, v = np.ones((2, 2)), np.zeros((2, 2))
    u[0, 0], v[0, 0] = 0.0, 0.0  # no field: no arrow
    x, y = arrow_segments(xs, ys, u, v)
    assert len(x) == 6 * 3  # three arrows, each a shaft and two barbs (point pairs)
    shafts_x, shafts_y = x[:6].reshape(3, 2), y[:6].reshape(3, 2)
    assert np.all(shafts_x[:, 1] > shafts_x[:, 0]) and np.allclose(shafts_y[:, 0], shafts_y[:, 1])
    speed = np.array([[1.0, 10.0], [100.0, 1000.0]])
    bands = speed_bands(speed, 4)
    assert bands.ravel().tolist() == [0, 1, 2, 3]


def _mouse(widget, kind, pos: QPoint, buttons) -> None:
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    kinds = {
        "press": QEvent.Type.MouseButtonPress,
        "move": QEvent.Type.MouseMove,
        "release": QEvent.Type.MouseButtonRelease,
    }
    local = QPointF(pos)
    event = QMouseEvent(
        kinds[kind],
        local,
        QPointF(widget.mapToGlobal(pos)),
        Qt.MouseButton.LeftButton if kind != "move" else Qt.MouseButton.NoButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def test_dragging_a_start_moves_its_trajectories(make_window, qtbot):
    window, view = _trained_portrait(make_window, qtbot)
    plot, viewbox = view.plot, view.plot.getPlotItem().getViewBox()
    box = view.box()
    first = QPointF(
        box[0][0] + 0.7 * (box[0][1] - box[0][0]), box[1][0] + 0.5 * (box[1][1] - box[1][0])
    )
    view.launch(first.x(), first.y())
    qtbot.waitUntil(lambda: len(view.pinned) == 1, timeout=60_000)
    start = plot.mapFromScene(viewbox.mapViewToScene(first))
    end = start + QPoint(-60, 40)
    left = Qt.MouseButton.LeftButton
    _mouse(plot.viewport(), "press", start, left)
    for k in range(1, 11):
        _mouse(plot.viewport(), "move", start + (end - start) * (k / 10), left)
    _mouse(plot.viewport(), "release", end, Qt.MouseButton.NoButton)
    moved = viewbox.mapSceneToView(plot.mapToScene(end))
    x, y = view.axes
    pixel = abs(viewbox.viewPixelSize()[0]) + abs(viewbox.viewPixelSize()[1])

    def followed() -> bool:
        return len(view.pinned) == 1 and abs(view.pinned[0].forward.start[x] - first.x()) > pixel

    qtbot.waitUntil(followed, timeout=60_000)
    moved_to = view.pinned[0].forward.start
    assert abs(moved_to[x] - moved.x()) < 2 * pixel and abs(moved_to[y] - moved.y()) < 2 * pixel
    assert len(view.start_targets) == 1  # moved, not a second start
    direct = integrate(
        learned_dynamics(window.session.trainer), view.pinned[0].forward.start, view.horizon.value()
    )
    np.testing.assert_allclose(view.pinned[0].forward.states, direct.states, rtol=1e-9, atol=1e-9)


def test_the_portrait_exports_like_the_other_plots(make_window, qtbot, tmp_path):
    from pyqtgraph.exporters import CSVExporter, ImageExporter

    from ndestudio.gui.plots.svg_export import QtSVGExporter

    _, view = _trained_portrait(make_window, qtbot)
    item = view.plot.getPlotItem()
    QtSVGExporter(item).export(str(tmp_path / "portrait.svg"))
    assert "<svg" in (tmp_path / "portrait.svg").read_text()
    ImageExporter(item).export(str(tmp_path / "portrait.png"))
    assert (tmp_path / "portrait.png").stat().st_size > 10_000
    CSVExporter(item).export(str(tmp_path / "portrait.csv"))
    lines = (tmp_path / "portrait.csv").read_text().splitlines()
    columns = lines[0].count(",") + 1
    assert columns >= 2 * len(view.arrow_curves)  # x and y of every curve, arrows among them
    arrows = sum(len(c.xData) for c in view.arrow_curves)
    assert len(lines) - 1 >= max(len(c.xData) for c in view.arrow_curves) and arrows > 0


def test_a_three_channel_state_picks_its_axes_and_sets_the_other_channel(make_window, qtbot):
    spec = small_spec("ode", iterations=3, eval_every=3)
    spec.data.name = "lorenz"
    window = make_window(spec)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    view = window.portrait_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.portrait is not None and not view._busy, timeout=60_000)
    assert view.axes == (0, 1) and list(view.other_boxes) == [2]
    mean = np.nanmean(window.data_panel.dataset.values[..., 2])
    assert view.other_boxes[2].value() == pytest.approx(mean, abs=1e-3)
    view.y_axis.setCurrentIndex(2)  # x against z: y becomes the channel held fixed
    qtbot.waitUntil(lambda: view.portrait.field.axes == (0, 2) and not view._busy, timeout=60_000)
    assert list(view.other_boxes) == [1]
    view.other_boxes[1].setValue(view.other_boxes[1].value() + 5.0)
    held = view.other_boxes[1].value()
    qtbot.waitUntil(
        lambda: not view._busy and abs(view.portrait.field.state[1] - held) < 1e-9,
        timeout=60_000,
    )
    grid = view.portrait.field
    direct = field_slice(
        learned_dynamics(window.session.trainer),
        view.box(),
        n=len(grid.xs),
        axes=(0, 2),
        state=grid.state,
    )
    np.testing.assert_allclose(grid.rates, direct.rates, rtol=1e-12, atol=1e-12)


def test_a_recomputation_keeps_the_users_zoom(make_window, qtbot):
    _, view = _trained_portrait(make_window, qtbot)
    viewbox = view.plot.getPlotItem().getViewBox()
    viewbox.setRange(xRange=(0.0, 0.2), yRange=(0.0, 0.2), padding=0)
    zoomed = viewbox.viewRange()
    before = view.computed
    view.request()
    qtbot.waitUntil(lambda: view.computed > before and not view._busy, timeout=60_000)
    np.testing.assert_allclose(viewbox.viewRange(), zoomed)


def test_a_state_of_many_channels_keeps_the_window_and_its_docks_their_width(
    make_window, qtbot, tmp_path
):
    """Twelve channels: ten held-value boxes in rows of a few, not one row that widened the
    view past the screen and squeezed the docks to nothing on every tab switch."""
    channels = [f"c{k}" for k in range(12)]
    rows = [
        f"s{s},{t}," + ",".join(f"{np.sin(t + k + s):.3f}" for k in range(12))
        for s in range(4)
        for t in range(8)
    ]
    path = tmp_path / "twelve.csv"
    path.write_text("series,time," + ",".join(channels) + "\n" + "\n".join(rows) + "\n")
    spec = small_spec("ode", iterations=2, eval_every=2)
    spec.data.source, spec.data.path, spec.train.window = "file", str(path), None
    window = make_window(spec)
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: window.data_panel.dataset is not None, timeout=20_000)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    view = window.portrait_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.portrait is not None and not view._busy, timeout=60_000)
    assert len(view.other_boxes) == 10 and view.others.rowCount() >= 3
    assert view.minimumSizeHint().width() < 800
    widths = (window.model_dock.width(), window.training_dock.width())
    for page in (window.run_plots, window.readout_view, view):
        window.tabs.setCurrentWidget(page)
        qtbot.wait(50)
        assert (window.model_dock.width(), window.training_dock.width()) == widths
    assert window.width() == 1400
