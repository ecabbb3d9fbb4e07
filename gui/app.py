"""Start the desktop app: ``python main.py [EXPERIMENT.toml]``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from gui.offscreen import offscreen_without_display

USAGE = "usage: python main.py [EXPERIMENT.toml]"


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (made once), with the app's names, font and pyqtgraph options."""
    app = QApplication.instance()
    if app is None:
        offscreen_without_display()
        app = QApplication([sys.argv[0] if sys.argv else "descent-lab", *(argv or [])])
    app.setApplicationName("Descent Lab")
    app.setOrganizationName("DescentLab")
    app.setApplicationDisplayName("Descent Lab")
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    pg.setConfigOptions(antialias=False, useOpenGL=False, exitCleanup=False)
    return app


def _close_on_ctrl_c(window):
    """Ctrl+C in the terminal closes the window (asking about unsaved changes) instead of
    being ignored until the next Python code runs. Returns the handler it replaced."""
    from PySide6.QtCore import QTimer

    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)  # lets Python see the signal now and then
    timer.start(250)
    return previous


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    # --startup-probe: quit as soon as the first window has been drawn (packaging/build.py
    # times a frozen start-up with it)
    probe = "--startup-probe" in argv
    argv = [a for a in argv if a != "--startup-probe"]
    unknown = [a for a in argv if a.startswith("-")]
    if unknown or len(argv) > 1:
        print(f"unknown arguments: {' '.join(unknown or argv[1:])}\n{USAGE}", file=sys.stderr)
        return 2
    app = create_app()

    from gui.main_window import MainWindow
    from gui.settings import Settings
    from gui.theme import apply_theme, theme_named

    settings = Settings()
    apply_theme(app, theme_named(settings.theme))
    window = MainWindow(settings)
    window.show()
    previous_sigint = _close_on_ctrl_c(window)
    if argv:
        # a bad file: the default experiment opens, and the title, a banner and the message
        # say that this file was not opened
        window.open_path(Path(argv[0]), ask=False, fallback=True)
    else:
        window.open_default()
    if probe:
        from PySide6.QtCore import QTimer

        def drawn_then_quit():
            window.repaint()
            app.quit()

        QTimer.singleShot(0, drawn_then_quit)
    try:
        return app.exec()
    finally:
        from gui.worker import wait_for_stopped_workers

        wait_for_stopped_workers()  # a thread destroyed while it runs aborts the process
        # the window is gone once the loop ends: Ctrl+C must not call a closed (or deleted)
        # window any more, in a process that goes on (an in-process run, a test session)
        # (None: a handler not installed from Python, which Python cannot put back)
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous_sigint is None else previous_sigint)
