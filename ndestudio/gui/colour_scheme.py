"""View ▸ Colour scheme: follow the desktop's light or dark scheme (Qt's
``styleHints().colorScheme()``, and its change signal), or keep light or dark whatever it is.
The choice is kept in the settings; the widgets' palette and every plot follow it."""

from __future__ import annotations

import contextlib

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from ndestudio.gui import theme
from ndestudio.gui.restyle import restyle
from ndestudio.gui.theme import DARK, LIGHT, Theme

KEY = "appearance/colour_scheme"
CHOICES = {"desktop": "Follow the &desktop", "light": "&Light", "dark": "&Dark"}


def _platform_palette() -> QPalette:
    """The palette the platform gave the application, before a theme replaced it."""
    app = QGuiApplication.instance()
    kept = app.property("ndestudio_platform_palette") if app is not None else None
    if isinstance(kept, QPalette):
        return kept
    palette = QGuiApplication.palette()
    if app is not None:
        app.setProperty("ndestudio_platform_palette", palette)
    return palette


def desktop_theme(scheme: Qt.ColorScheme) -> Theme:
    """The theme for the desktop's scheme; where the platform does not say (an X server
    without a desktop portal), what its palette looks like."""
    if scheme == Qt.ColorScheme.Dark:
        return DARK
    if scheme == Qt.ColorScheme.Light:
        return LIGHT
    window = _platform_palette().color(QPalette.ColorRole.Window)
    return DARK if window.lightness() < 128 else LIGHT


def apply_theme(new: Theme) -> None:
    """Make ``new`` the application's theme: palette, style sheet, pyqtgraph's defaults for
    plots made later, and every plot and label on screen now."""
    app = QApplication.instance()
    old = theme.current()
    standard = _platform_palette()
    theme.set_current(new)
    pg.setConfigOptions(background=new.background, foreground=new.foreground)
    if not isinstance(app, QApplication):
        return
    app.setPalette(new.palette(standard))
    app.setStyleSheet(new.style_sheet())
    if old is not new:
        # (windows alone: a floating dock or a dialog is restyled with its window)
        for widget in app.topLevelWidgets():
            if widget.parent() is None:
                restyle(widget, old, new)


class ColourScheme(QObject):
    """The window's colour-scheme choice and the menu that sets it."""

    changed = Signal(str)  # the theme now shown: "light" or "dark"

    def __init__(self, window: QWidget, settings: QSettings) -> None:
        super().__init__(window)
        self.settings = settings
        choice = str(settings.value(KEY, "desktop"))
        self.choice = choice if choice in CHOICES else "desktop"
        hints = QGuiApplication.styleHints()
        self.desktop = hints.colorScheme()
        hints.colorSchemeChanged.connect(self.desktop_changed)
        self.actions: dict[str, QAction] = {}

    def detach(self) -> None:
        """The window closed: the desktop's switches are no longer its business."""
        with contextlib.suppress(RuntimeError, TypeError):  # (not connected)
            QGuiApplication.styleHints().colorSchemeChanged.disconnect(self.desktop_changed)

    def wanted(self) -> Theme:
        if self.choice == "light":
            return LIGHT
        if self.choice == "dark":
            return DARK
        return desktop_theme(self.desktop)

    def apply(self) -> None:
        wanted = self.wanted()
        if wanted is not theme.current():
            apply_theme(wanted)
            self.changed.emit(wanted.name)

    def desktop_changed(self, scheme: Qt.ColorScheme) -> None:
        """The desktop switched between light and dark (Qt's ``colorSchemeChanged``)."""
        self.desktop = scheme
        if self.choice == "desktop":
            self.apply()

    def choose(self, choice: str) -> None:
        self.choice = choice
        self.settings.setValue(KEY, choice)
        if choice in self.actions:
            self.actions[choice].setChecked(True)
        self.apply()

    def add_menu(self, menu: QMenu) -> None:
        sub = menu.addMenu("&Colour scheme")
        group = QActionGroup(sub)
        for choice, text in CHOICES.items():
            action = QAction(text, sub, checkable=True)
            action.setChecked(choice == self.choice)
            action.triggered.connect(lambda _=False, c=choice: self.choose(c))
            group.addAction(action)
            sub.addAction(action)
            self.actions[choice] = action
