"""Light and dark: the colours the window and its plots are drawn in.

Plot code names its colours as they look on the light theme (``"#555555"`` for observed
data, ``"#000000"`` for ink, the series colours of ``plots/base.COLORS``); :func:`shown` gives
the colour the current theme draws it in. The dark theme maps every such colour to one that
reads on a dark background, so that a curve keeps its role (and its legend) in both.
Switching themes re-colours what is drawn already (see ``gui/restyle.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QStyleFactory

# The light theme's colours (what plot code names) → the dark theme's.
DARK_COLOURS: dict[str, str] = {
    "#ffffff": "#1b1d21",  # background (and hollow markers, legend cards)
    "#000000": "#e6e6e6",  # ink: axes, text, the global gradient norm, seeds
    "#555555": "#a8a8a8",  # observed data, the true dynamics
    "#9bbcd8": "#557ea3",  # predicted paths (many, faint)
    "#0b3d91": "#8ab4f8",  # the smoothed loss
    "#c8c8c8": "#50555c",  # legend card outline
    "#1f77b4": "#4ea1e8",  # the series colours
    "#ff7f0e": "#ff9a3c",
    "#2ca02c": "#4cc44c",
    "#d62728": "#ff5c5c",
    "#9467bd": "#b793e0",
    "#8c564b": "#c79283",
    "#e377c2": "#f09ad6",
    "#17becf": "#33d6e6",
    "#1a7f37": "#45c46a",  # stable nodes
    "#b00020": "#ff6b81",  # errors in text
    "#b35900": "#ffa64d",  # warnings in text
    "#e9edf2": "#2b2e33",  # dock titles
}
_NAMED = {"w": "#ffffff", "k": "#000000", "white": "#ffffff", "black": "#000000"}
_HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")


def normalise(colour: str) -> str:
    """``"#rrggbb"`` in lower case for ``colour`` given as a name or 3/6-digit hex."""
    text = _NAMED.get(colour.strip().lower(), colour.strip().lower())
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        text = "#" + "".join(ch * 2 for ch in text[1:])
    return text


@dataclass(frozen=True)
class Theme:
    name: str  # "light" or "dark"
    colours: dict[str, str] = field(default_factory=dict)  # light colour → this theme's

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def shown(self, colour: str) -> str:
        """The colour this theme draws the light theme's ``colour`` in (others unchanged)."""
        key = normalise(colour)
        return self.colours.get(key, colour)

    @property
    def background(self) -> str:
        return self.shown("#ffffff")

    @property
    def foreground(self) -> str:
        return self.shown("#000000")

    def palette(self, standard: QPalette) -> QPalette:
        """The widgets' palette: the platform's (``standard``) when light, unless that is a
        dark one (a dark desktop, with Light chosen): then Fusion's light palette."""
        if not self.dark:
            if standard.color(QPalette.ColorRole.Window).lightness() >= 128:
                return QPalette(standard)
            fusion = QStyleFactory.create("Fusion")
            return fusion.standardPalette() if fusion is not None else QPalette()
        p = QPalette()
        roles = {
            QPalette.ColorRole.Window: "#2b2d31",
            QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#1e1f22",
            QPalette.ColorRole.AlternateBase: "#27292d",
            QPalette.ColorRole.ToolTipBase: "#3a3d42",
            QPalette.ColorRole.ToolTipText: "#f0f0f0",
            QPalette.ColorRole.PlaceholderText: "#8c8c8c",
            QPalette.ColorRole.Text: "#e6e6e6",
            QPalette.ColorRole.Button: "#35383d",
            QPalette.ColorRole.ButtonText: "#e6e6e6",
            QPalette.ColorRole.BrightText: "#ff6b81",
            QPalette.ColorRole.Light: "#4a4d52",
            QPalette.ColorRole.Midlight: "#3e4146",
            QPalette.ColorRole.Mid: "#2f3236",
            QPalette.ColorRole.Dark: "#1a1b1e",
            QPalette.ColorRole.Shadow: "#0d0d0f",
            QPalette.ColorRole.Highlight: "#3d7bd9",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.Link: "#8ab4f8",
            QPalette.ColorRole.LinkVisited: "#c58af9",
        }
        for role, colour in roles.items():
            p.setColor(role, QColor(colour))
        disabled = QPalette.ColorGroup.Disabled
        for role in (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
        ):
            p.setColor(disabled, role, QColor("#7a7d82"))
        p.setColor(disabled, QPalette.ColorRole.Button, QColor("#2e3034"))
        return p

    def style_sheet(self) -> str:
        return f"""
QDockWidget::title {{ padding: 4px; background: {self.shown("#e9edf2")}; }}
QGroupBox {{ font-weight: bold; margin-top: 8px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 6px; padding: 0 3px; }}
QPushButton {{ padding: 4px 10px; }}
"""


LIGHT = Theme("light", {})
DARK = Theme("dark", DARK_COLOURS)
_current = LIGHT


def current() -> Theme:
    return _current


def set_current(theme: Theme) -> None:
    global _current
    _current = theme


def shown(colour: str) -> str:
    """``colour`` (as the light theme has it) in the current theme."""
    return _current.shown(colour)


def viridis(n: int, lo: float, hi: float) -> list[str]:
    """``n`` colours of viridis from ``lo`` to ``hi`` (in [0, 1]) on the light theme; the dark
    one skips the map's darkest part, which a dark background swallows."""
    import pyqtgraph as pg

    if _current.dark:
        lo, hi = max(lo, 0.35), 1.0
    table = pg.colormap.get("viridis").getLookupTable(lo, hi, n, alpha=False)
    return ["#{:02x}{:02x}{:02x}".format(*(int(v) for v in row[:3])) for row in table]


def translation(old: Theme, new: Theme) -> dict[str, str]:
    """What each colour ``old`` shows becomes under ``new``."""
    keys = set(DARK_COLOURS)
    return {old.shown(k): new.shown(k) for k in keys if old.shown(k) != new.shown(k)}


def recolour_html(text: str, table: dict[str, str]) -> str:
    """``text`` (HTML with ``color:#rrggbb`` spans) with its colours translated."""
    return _HEX.sub(lambda m: table.get(normalise(m.group(0)), m.group(0)), text)
