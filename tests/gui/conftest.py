"""GUI tests run offscreen with pytest-qt; settings and autosaves go to a temporary folder."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings

from ndestudio.gui import theme
from ndestudio.gui.app import make_app
from ndestudio.gui.colour_scheme import apply_theme
from ndestudio.gui.main_window import MainWindow


@pytest.fixture(scope="session")
def qapp_cls():
    make_app()
    from PySide6.QtWidgets import QApplication

    return QApplication


class Questions:
    """Stands in for QMessageBox.question (a modal dialog would hang an offscreen test):
    records each question's text and gives ``answer`` (Discard unless a test sets it)."""

    def __init__(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        self.asked: list[str] = []
        self.answer = QMessageBox.StandardButton.Discard

    def __call__(self, parent, title, text, *args, **kwargs):
        self.asked.append(text)
        return self.answer


@pytest.fixture(autouse=True)
def questions(monkeypatch) -> Questions:
    from PySide6.QtWidgets import QMessageBox

    recorder = Questions()
    monkeypatch.setattr(QMessageBox, "question", recorder)
    return recorder


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Build windows that share one temporary settings file; all are closed at the end."""
    windows: list[MainWindow] = []

    def make(spec=None) -> MainWindow:
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(spec, settings=settings)
        window.autosave_dir = tmp_path / "autosave"
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.session.shutdown()
        window.dirty = False  # closed by pytest-qt next: nothing to ask


@pytest.fixture(autouse=True)
def light_theme_after():
    """A test that turns the window dark leaves the next one light (the theme is the
    application's, and pytest-qt keeps one application)."""
    yield
    if theme.current() is not theme.LIGHT:
        apply_theme(theme.LIGHT)
