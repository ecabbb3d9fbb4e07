"""The themes as a user sees them: every control stays visible on the dark window."""

from __future__ import annotations

import pytest


def _luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _indicator_contrast(qapp, widget_class, theme, checked: bool) -> float:
    """The strongest contrast between any pixel of the control's indicator and the window."""
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QStyle, QStyleOptionButton

    from gui.theme import apply_theme

    apply_theme(qapp, theme)
    button = widget_class("vs epoch")
    button.setChecked(checked)
    button.resize(button.sizeHint())
    image = button.grab().toImage()
    option = QStyleOptionButton()
    button.initStyleOption(option)
    element = (
        QStyle.SubElement.SE_RadioButtonIndicator
        if "Radio" in widget_class.__name__
        else QStyle.SubElement.SE_CheckBoxIndicator
    )
    rect = button.style().subElementRect(element, option, button)
    window = QColor(theme.window)
    background = (window.red(), window.green(), window.blue())
    best = 1.0
    scale = image.width() / button.width()
    for y in range(int(rect.top() * scale), int((rect.bottom() + 1) * scale)):
        for x in range(int(rect.left() * scale), int((rect.right() + 1) * scale)):
            c = image.pixelColor(x, y)
            best = max(best, _contrast((c.red(), c.green(), c.blue()), background))
    return best


@pytest.mark.parametrize("kind", ["QRadioButton", "QCheckBox"])
@pytest.mark.parametrize("name", ["light", "dark"])
def test_an_unchecked_indicator_stands_out_from_the_window(qapp, kind, name):
    # WCAG asks 3:1 of a control's outline against what is next to it; Fusion's dark radio
    # ring (the window colour made darker) reached about 1.2:1
    from PySide6 import QtWidgets

    from gui.theme import THEMES, apply_theme

    try:
        contrast = _indicator_contrast(qapp, getattr(QtWidgets, kind), THEMES[name], False)
    finally:
        apply_theme(qapp, THEMES["light"])
    assert contrast >= 3.0


def test_a_checked_radio_shows_the_highlight_colour_on_the_dark_theme(qapp):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QRadioButton

    from gui.theme import DARK, LIGHT, apply_theme

    try:
        apply_theme(qapp, DARK)
        button = QRadioButton("vs step")
        button.setChecked(True)
        button.resize(button.sizeHint())
        image = button.grab().toImage()
    finally:
        apply_theme(qapp, LIGHT)
    target = QColor(DARK.highlight)
    near = [
        (x, y)
        for y in range(image.height())
        for x in range(min(image.width(), 24))
        if abs(image.pixelColor(x, y).red() - target.red()) < 24
        and abs(image.pixelColor(x, y).green() - target.green()) < 24
        and abs(image.pixelColor(x, y).blue() - target.blue()) < 24
    ]
    assert len(near) >= 4  # a dot, not a stray anti-aliased pixel
