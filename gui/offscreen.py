"""Qt without a display: the headless runner and the tests draw figures offscreen."""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication

_app: QApplication | None = None


def offscreen_without_display() -> None:
    """Without a display (Linux with neither ``DISPLAY`` nor ``WAYLAND_DISPLAY``), point Qt
    at its offscreen platform, unless told otherwise; call before making a QApplication."""
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def ensure_app() -> QApplication:
    """The running QApplication, or a new one (offscreen without a display)."""
    global _app
    app = QApplication.instance()
    if app is not None:
        return app
    offscreen_without_display()
    _app = QApplication(sys.argv[:1])
    return _app
