"""Light and dark themes: the Qt palette, and the colours every plot takes from it.

Views never hard-code a colour: they ask the current ``Theme`` (``apply_theme`` to each view)
so that switching theme recolours every plot. Exported figures are always drawn on a light
background whatever the theme (``gui/figures.py``), from ``gui/palette.py``'s colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QProxyStyle, QStyle, QStyleFactory

from gui.palette import CONTOUR_COLOR, RUN_COLORS, SURFACE_STOPS, run_color, surface_colormap

__all__ = ["DARK", "LIGHT", "RUN_COLORS", "THEMES", "Theme", "apply_theme", "run_color"]


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    text: str
    muted_text: str
    highlight: str
    plot_background: str
    plot_foreground: str
    grid_alpha: float
    contour: tuple[int, int, int, int]  # contour lines over the surface (RGBA)
    marker_edge: str  # outline of the current-position dots
    surface_stops: tuple[tuple[float, str], ...]  # the loss surface's colours, low to high
    error: str
    dark: bool
    # the ring of radio buttons and the box of check boxes; "" leaves Fusion's own, the
    # window colour made darker: on a dark window all but invisible
    indicator_edge: str = ""

    def surface_colormap(self) -> pg.ColorMap:
        return surface_colormap(self.surface_stops)


LIGHT = Theme(
    name="light",
    window="#f4f5f7",
    base="#ffffff",
    text="#1f2328",
    muted_text="#59636e",
    highlight="#1c7ed6",
    plot_background="#ffffff",
    plot_foreground="#30363d",
    grid_alpha=0.18,
    contour=CONTOUR_COLOR,  # light: the exported figures' look, so both look alike
    marker_edge="#ffffff",
    surface_stops=SURFACE_STOPS,
    error="#c92a2a",
    dark=False,
    indicator_edge="#7d8590",  # 3.4:1 on the window; Fusion's own ring reached 1.7:1
)

DARK = Theme(
    name="dark",
    window="#1e2127",
    base="#16181d",
    text="#e6e8eb",
    muted_text="#9aa3ad",
    highlight="#4dabf7",
    plot_background="#111318",
    plot_foreground="#c9d1d9",
    grid_alpha=0.22,
    contour=(200, 215, 235, 70),
    marker_edge="#111318",
    surface_stops=(
        (0.00, "#0d1b2a"),
        (0.25, "#1b3047"),
        (0.50, "#2a4763"),
        (0.75, "#3f6283"),
        (1.00, "#5f82a6"),
    ),
    error="#ff6b6b",
    dark=True,
    indicator_edge="#9aa3ad",  # 6.3:1 on the window (WCAG asks 3:1 of a control); Fusion: 1.2:1
)

THEMES = {"light": LIGHT, "dark": DARK}


def theme_named(name: str | None) -> Theme:
    return THEMES.get(name or "light", LIGHT)


class ThemedStyle(QProxyStyle):
    """Fusion with the radio and check indicators outlined in ``theme.indicator_edge`` and a
    checked radio's dot in the highlight colour. Fusion derives the outline from the window
    colour made darker, which a dark theme cannot change through the palette."""

    def __init__(self, theme: Theme):
        super().__init__(QStyleFactory.create("Fusion"))
        self._edge = QColor(theme.indicator_edge) if theme.indicator_edge else None
        self._dot = QColor(theme.highlight)

    def drawPrimitive(self, element, option, painter, widget=None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if self._edge is None:
            return
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            self._outline(painter, option, round_=True)
        elif element == QStyle.PrimitiveElement.PE_IndicatorCheckBox:
            self._outline(painter, option, round_=False)

    def _outline(self, painter: QPainter, option, *, round_: bool) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(self._edge, 1.2))
        if round_:
            painter.drawEllipse(rect)
            if option.state & QStyle.StateFlag.State_On:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(self._dot)
                inset = rect.width() * 0.25
                painter.drawEllipse(rect.adjusted(inset, inset, -inset, -inset))
        else:
            painter.drawRoundedRect(rect, 1.5, 1.5)
        painter.restore()


def apply_theme(app: QApplication, theme: Theme) -> None:
    """The Qt palette (Fusion style, so that the palette is honoured on every platform)."""
    app.setStyle(ThemedStyle(theme))
    palette = QPalette()
    window, base, text = QColor(theme.window), QColor(theme.base), QColor(theme.text)
    muted = QColor(theme.muted_text)
    palette.setColor(QPalette.ColorRole.Window, window)
    palette.setColor(QPalette.ColorRole.WindowText, text)
    palette.setColor(QPalette.ColorRole.Base, base)
    palette.setColor(QPalette.ColorRole.AlternateBase, window)
    palette.setColor(QPalette.ColorRole.Text, text)
    palette.setColor(QPalette.ColorRole.Button, window)
    palette.setColor(QPalette.ColorRole.ButtonText, text)
    palette.setColor(QPalette.ColorRole.ToolTipBase, base)
    palette.setColor(QPalette.ColorRole.ToolTipText, text)
    palette.setColor(QPalette.ColorRole.PlaceholderText, muted)
    palette.setColor(QPalette.ColorRole.Highlight, QColor(theme.highlight))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Link, QColor(theme.highlight))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text):
        palette.setColor(QPalette.ColorGroup.Disabled, role, muted)
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, muted)
    if theme.dark:
        palette.setColor(QPalette.ColorRole.Light, QColor("#3a3f47"))
        palette.setColor(QPalette.ColorRole.Mid, QColor("#2b2f36"))
        palette.setColor(QPalette.ColorRole.Dark, QColor("#0d0f12"))
    app.setPalette(palette)
    pg.setConfigOptions(background=theme.plot_background, foreground=theme.plot_foreground)


def set_pen(item, color: str, width: float, style=Qt.PenStyle.SolidLine) -> None:
    """Give a plot item a pen only when it changes: a PlotDataItem's ``setPen`` pushes its
    whole data through again, at every frame otherwise."""
    key = (color, width, style)
    if getattr(item, "_pen_key", None) != key:
        item._pen_key = key
        item.setPen(pg.mkPen(color, width=width, style=style))


def style_plot(plot: pg.PlotItem, theme: Theme) -> None:
    """Axis, axis-label, grid and title colours of one plot."""
    fg = theme.plot_foreground
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(fg, width=1))
        axis.setTextPen(pg.mkPen(fg))
        if axis.labelText:  # a label keeps its text and takes the theme's colour
            axis.setLabel(axis.labelText, color=fg)
        # an axis (and its grid) repaints from a pixmap while only the curves move: replaying
        # its vector drawing at every frame cost more than the curves themselves
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.showGrid(x=True, y=True, alpha=theme.grid_alpha)
    title = plot.titleLabel
    if title is not None and title.text:
        title.setText(title.text, color=fg)
