"""Hover over a surface view as a user does: the pointer moves over the plot, the scene's
``sigMouseMoved`` goes through the view's rate-limiting signal proxy to its handler.

The point is mapped to the widget only once the view's layout has settled. A draw changes
the axes' tick labels, and the axes take their new widths a moment later, in the event
loop: the plot area then moves. Mapped before that, the pointer lands off the point meant
(seen with the app's 10 pt font, which ``gui.app.create_app`` sets for the whole process:
after a test that ran ``gui.app.main`` the left axis narrowed by 17 px after the draw, so
the hover landed 0.15 off a path's point and named no run)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.gui.waiting import PATIENCE_MS

SETTLE_ROUNDS = 50


def settle_layout(view) -> None:
    """Process events until the plot area stops moving (two rounds alike)."""
    before = None
    for _ in range(SETTLE_ROUNDS):
        QApplication.processEvents()
        now = view.viewbox.sceneBoundingRect()
        if now == before:
            return
        before = now
    raise AssertionError(f"the surface view's plot area kept moving: {now}")


def move(viewport, point: QPoint) -> None:
    """A mouse move (no button) over the plot's viewport, as the window system delivers it
    (``QTest.mouseMove`` needs a native window, which ``WA_DontShowOnScreen`` views lack)."""
    local = QPointF(point)
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        local,
        QPointF(viewport.mapToGlobal(point)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


def hover(qtbot, view, a: float, b: float) -> str:
    """Move the pointer to view coordinates (a, b) and return the read-out's text."""
    settle_layout(view)
    viewport = view.plot_widget.viewport()
    target = view.plot_widget.mapFromScene(view.viewbox.mapViewToScene(QPointF(a, b)))
    # from the widget's corner first, so that the read-out is seen to change
    move(viewport, QPoint(1, 1))
    qtbot.waitUntil(lambda: view.readout.text() == "", timeout=PATIENCE_MS)
    # pyqtgraph's scene drops moves closer together than 1 / mouseRateLimit
    qtbot.wait(int(1000 / pg.getConfigOption("mouseRateLimit")) + 5)
    move(viewport, target)
    qtbot.waitUntil(lambda: view.readout.text() != "", timeout=PATIENCE_MS)
    return view.readout.text()
