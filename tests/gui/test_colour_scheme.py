"""Light and dark: the window follows the desktop's colour scheme (Qt's colorSchemeChanged),
or the one chosen in View ▸ Colour scheme; every plot follows, and what it draws stays
readable on its background in both."""

from __future__ import annotations

import re

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from ndestudio.gui import theme
from ndestudio.gui.colour_scheme import KEY, apply_theme
from ndestudio.gui.restyle import restyle
from ndestudio.gui.theme import DARK_COLOURS
from tests.conftest import small_spec


def contrast(a: str | QColor, b: str | QColor) -> float:
    """WCAG contrast ratio of two colours (1: none, 21: black on white)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())
        )

    la, lb = (luminance(QColor(x) if isinstance(x, str) else x) for x in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _desktop_switches_to(scheme: Qt.ColorScheme) -> None:
    """What the platform does when the user switches the desktop (the offscreen platform
    cannot: it has no desktop), through the same signal."""
    QGuiApplication.styleHints().colorSchemeChanged.emit(scheme)


def _unreadable(window) -> list[str]:
    """Everything drawn in the window's plots that does not stand out from its background."""
    problems = []
    for view in window.findChildren(pg.GraphicsView):
        background = view.backgroundBrush().color()
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.isVisible():
                for what, pen in (("axis", item.pen()), ("tick labels", item.textPen())):
                    if contrast(pen.color(), background) < 4.5:
                        problems.append(f"{what} {pen.color().name()} on {background.name()}")
            elif isinstance(item, pg.LabelItem) and item.isVisible():
                # Coloured spans hold a key's sample (a line or a dot, like a curve); words
                # are in the text's colour.
                for colour, sample in re.findall(
                    r"color:\s*(#[0-9a-fA-F]{6})'>([^<]*)</span>", item.text
                ):
                    if sample.strip() not in ("━", "●", "━●"):
                        problems.append(f"title words {sample!r} in {colour}")
                    elif contrast(colour, background) < 1.5:
                        problems.append(f"title key {colour} on {background.name()}")
                # (no colour of its own: pyqtgraph's foreground when the text was set)
                text = pg.mkColor(item.opts["color"] or pg.getConfigOption("foreground"))
                if contrast(text, background) < 4.5:
                    problems.append(f"title text {text.name()} on {background.name()}")
            elif isinstance(item, pg.PlotCurveItem) and item.isVisible():
                pen = pg.mkPen(item.opts["pen"])
                drawn = pen.style() != Qt.PenStyle.NoPen and pen.color().alpha() > 0
                if drawn and contrast(pen.color(), background) < 1.5:
                    problems.append(f"curve {pen.color().name()} on {background.name()}")
    return problems


def _backgrounds(window) -> set[str]:
    return {v.backgroundBrush().color().name() for v in window.findChildren(pg.GraphicsView)}


def test_the_window_and_its_plots_follow_the_desktop(make_window, qtbot):
    window = make_window()
    window.training_panel.iterations.setValue(12)
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    window.tabs.setCurrentWidget(window.portrait_view)
    qtbot.waitUntil(lambda: window.portrait_view.result is not None, timeout=60_000)
    window.tabs.setCurrentWidget(window.run_plots)
    global_norm = window.run_plots.gradient_plot.total_curve
    assert theme.current() is theme.LIGHT and _backgrounds(window) == {"#ffffff"}
    assert _unreadable(window) == []
    light_arrows = window.portrait_view.arrow_colours

    _desktop_switches_to(Qt.ColorScheme.Dark)
    assert theme.current() is theme.DARK
    palette = QApplication.instance().palette()
    assert palette.color(QPalette.ColorRole.Window).lightness() < 80
    assert palette.color(QPalette.ColorRole.WindowText).lightness() > 200
    assert _backgrounds(window) == {DARK_COLOURS["#ffffff"]}
    assert _unreadable(window) == []
    # Each colour keeps its role: the global gradient norm is the dark theme's ink.
    assert global_norm.opts["pen"].color().name() == DARK_COLOURS["#000000"]
    assert window.portrait_view.arrow_colours != light_arrows  # (a colour map: its light end)
    loss_title = window.run_plots.loss_plot.getPlotItem().titleLabel.text
    assert DARK_COLOURS["#0b3d91"] in loss_title and "#0b3d91" not in loss_title

    _desktop_switches_to(Qt.ColorScheme.Light)
    assert theme.current() is theme.LIGHT and _backgrounds(window) == {"#ffffff"}
    assert global_norm.opts["pen"].color().name() == "#000000"
    assert window.portrait_view.arrow_colours == light_arrows
    assert _unreadable(window) == []


def test_a_chosen_scheme_stays_whatever_the_desktop_does(make_window, qtbot, tmp_path):
    window = make_window()
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    schemes = next(a.menu() for a in menu.actions() if a.text() == "&Colour scheme")
    choices = {a.text(): a for a in schemes.actions()}
    assert list(choices) == ["Follow the &desktop", "&Light", "&Dark"]
    assert choices["Follow the &desktop"].isChecked()

    choices["&Dark"].trigger()
    assert theme.current() is theme.DARK
    _desktop_switches_to(Qt.ColorScheme.Light)
    assert theme.current() is theme.DARK  # chosen: the desktop's switch is not followed
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert settings.value(KEY) == "dark"

    # The next start keeps the choice: a new window starts dark, its plots too.
    apply_theme(theme.LIGHT)  # (as a new process starts)
    later = make_window()
    assert theme.current() is theme.DARK
    assert later.colour_scheme.actions["dark"].isChecked()
    assert _backgrounds(later) == {DARK_COLOURS["#ffffff"]}
    # A window made while the theme is dark already: everything in it is made dark.
    third = make_window()
    assert _backgrounds(third) == {DARK_COLOURS["#ffffff"]} and _unreadable(third) == []

    later.colour_scheme.choose("desktop")
    _desktop_switches_to(Qt.ColorScheme.Light)
    assert theme.current() is theme.LIGHT and _backgrounds(later) == {"#ffffff"}


@pytest.mark.parametrize(
    ("family", "view_name"),
    [("sde", "distributions_view"), ("cde", "readout_view"), ("ode", "telemetry_view")],
)
def test_the_inspect_views_read_in_dark_and_back_in_light(make_window, qtbot, family, view_name):
    window = make_window(small_spec(family, iterations=6, eval_every=3))
    window.train()
    qtbot.waitUntil(lambda: window.session.state == "idle", timeout=60_000)
    view = getattr(window, view_name)
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=60_000)
    light = _items_colours(view)

    _desktop_switches_to(Qt.ColorScheme.Dark)
    assert _unreadable(window) == [] and _backgrounds(view) == {DARK_COLOURS["#ffffff"]}
    assert _items_colours(view) != light
    if family == "cde":  # the confusion matrix: none is the background, all is blue
        empty = "#{:02x}{:02x}{:02x}".format(*(int(v) for v in view.heat.lut[0][:3]))
        assert empty == DARK_COLOURS["#ffffff"]
    _desktop_switches_to(Qt.ColorScheme.Light)
    assert _unreadable(window) == [] and _items_colours(view) == light


def _items_colours(root) -> list[str]:
    """The pen colours of what ``root``'s plots draw, in a stable order."""
    colours = []
    for view in root.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, (pg.PlotCurveItem, pg.InfiniteLine)) and item.isVisible():
                pen = item.opts["pen"] if isinstance(item, pg.PlotCurveItem) else item.pen
                colours.append(pg.mkPen(pen).color().name())
    return sorted(colours)


def test_light_on_a_dark_desktop_is_light(make_window):
    """Light chosen where the platform's own palette is dark: the widgets turn light too
    (not the platform's dark palette around white plots)."""
    app = QApplication.instance()
    kept = app.property("ndestudio_platform_palette")
    dark_platform = theme.DARK.palette(QPalette())
    app.setProperty("ndestudio_platform_palette", dark_platform)
    try:
        window = make_window()
        assert theme.current() is theme.DARK  # (following the desktop: its palette is dark)
        window.colour_scheme.choose("light")
        palette = app.palette()
        assert palette.color(QPalette.ColorRole.Window).lightness() >= 200
        assert palette.color(QPalette.ColorRole.WindowText).lightness() <= 60
        assert _backgrounds(window) == {"#ffffff"}
    finally:
        app.setProperty("ndestudio_platform_palette", kept)


def test_restyled_markers_are_drawn_in_the_new_colour(qtbot):
    """Spots of a scatter plot, each with its own brush, drawn again after the theme
    changed: in the dark theme's colour (not gone, not the old one)."""
    plot = pg.PlotWidget(background="#ffffff")
    qtbot.addWidget(plot)
    plot.resize(200, 200)
    spots = [{"pos": (x, 0.0), "size": 30, "brush": pg.mkBrush("#1f77b4")} for x in (0, 1)]
    dots = pg.ScatterPlotItem(pen=None)
    dots.setData(spots)
    plot.addItem(dots)
    plot.show()
    qtbot.waitExposed(plot)

    def pixels_of(colour: str) -> int:
        image = plot.grab().toImage()
        wanted = pg.mkColor(colour)
        return sum(
            1
            for x in range(0, image.width(), 2)
            for y in range(0, image.height(), 2)
            if image.pixelColor(x, y) == wanted
        )

    assert pixels_of("#1f77b4") > 20
    restyle(plot, theme.LIGHT, theme.DARK)
    assert pixels_of(DARK_COLOURS["#1f77b4"]) > 20 and pixels_of("#1f77b4") == 0
