"""Play, pause, step, reset, a timeline to scrub and the speed of the animation.

The paths are computed ahead (for 2-D problems, all at once); playing reveals them step by
step at the chosen speed. The timeline drags the playhead anywhere.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPointF, QRectF, QSignalBlocker, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QWidget,
)

from gui.controller import SPEEDS, speed_index


def media_icon(kind: str, color: QColor, size: int = 20) -> QIcon:
    """Play, pause, step and reset drawn in the palette's text colour (the style's own
    icons are dark grey, invisible on the dark theme)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    s = size
    if kind == "play":
        p.drawPolygon(
            QPolygonF(
                [
                    QPointF(0.28 * s, 0.18 * s),
                    QPointF(0.28 * s, 0.82 * s),
                    QPointF(0.82 * s, 0.5 * s),
                ]
            )
        )
    elif kind == "pause":
        p.drawRect(QRectF(0.26 * s, 0.2 * s, 0.16 * s, 0.6 * s))
        p.drawRect(QRectF(0.58 * s, 0.2 * s, 0.16 * s, 0.6 * s))
    elif kind == "step":
        p.drawPolygon(
            QPolygonF(
                [QPointF(0.22 * s, 0.2 * s), QPointF(0.22 * s, 0.8 * s), QPointF(0.62 * s, 0.5 * s)]
            )
        )
        p.drawRect(QRectF(0.66 * s, 0.2 * s, 0.12 * s, 0.6 * s))
    else:  # reset
        p.drawRect(QRectF(0.22 * s, 0.2 * s, 0.12 * s, 0.6 * s))
        p.drawPolygon(
            QPolygonF(
                [QPointF(0.78 * s, 0.2 * s), QPointF(0.78 * s, 0.8 * s), QPointF(0.38 * s, 0.5 * s)]
            )
        )
    p.end()
    return QIcon(pixmap)


def speed_text(speed: float) -> str:
    return "instant" if math.isinf(speed) else f"{speed:g} steps/s"


def compact_count(n: int) -> str:
    """641234 -> "641k", 1000000 -> "1M", 12345 -> "12.3k"; below 10,000 the number itself."""
    if n < 10_000:
        return str(n)
    for divisor, suffix in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "G")):
        text = f"{n / divisor:.3g}"
        if float(text) < 1000:  # 999,999 rounds to 1e+03k: that one is "1M"
            return text + suffix
    return f"{n / 1_000_000_000:.0f}G"


class PositionLabel(QLabel):
    """ "step 641,000 / 1,000,000", or "641k / 1M" where the bar is too narrow for that.

    Its width is the widest text the current total can give, so the bar does not shift while
    playing; it never asks for more than the compact text, so a narrow window shortens the
    text instead of pushing the label into its neighbours."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._head = 0
        self._total = 0
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    @staticmethod
    def full_text(head: int, total: int) -> str:
        return f"step {head:,} / {total:,}"

    @staticmethod
    def compact_text(head: int, total: int) -> str:
        return f"{compact_count(head)} / {compact_count(total)}"

    def _widest(self, text_of) -> int:
        # every digit is as wide as an 8 in the fonts that matter; the widest head for this
        # total writes 8 in every place
        widest = int("8" * len(str(self._total))) if self._total else 0
        return self.fontMetrics().horizontalAdvance(text_of(widest, self._total)) + 4

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self._widest(self.full_text), hint.height())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(self._widest(self.compact_text), hint.height())

    def set_position(self, head: int, total: int) -> None:
        if total != self._total:
            self._total = total
            self.updateGeometry()
        self._head = head
        self._refresh()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        text = self.full_text(self._head, self._total)
        if self.fontMetrics().horizontalAdvance(text) > self.width() - 2:
            text = self.compact_text(self._head, self._total)
        if text != self.text():
            self.setText(text)


class PlaybackBar(QWidget):
    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller

        def button(icon: str, tip: str, slot) -> QToolButton:
            b = QToolButton()
            b.setProperty("media", icon)
            b.setIconSize(QSize(20, 20))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            return b

        self.play_button = button(
            "play",
            "Play / pause the animation (Space)",
            controller.toggle_play,
        )
        self.step_button = button(
            "step",
            "Show one more update (→)",
            controller.step_forward,
        )
        self.reset_button = button("reset", "Back to step 0 (R)", controller.reset)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setToolTip("The playhead: drag to show the paths up to any step")
        self.timeline.setRange(0, controller.total_steps)
        self.timeline.setMinimumWidth(80)
        self.position = PositionLabel()
        self.position.setToolTip("The update shown / the updates of each run")
        self.position.set_position(0, controller.total_steps)
        self.speed = QComboBox()
        for value in SPEEDS:
            self.speed.addItem(speed_text(value), value)
        self.speed.setToolTip("How many updates the animation shows per second")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.reset_button, self.play_button, self.step_button):
            layout.addWidget(w)
        layout.addWidget(self.timeline, 1)
        layout.addWidget(self.position)
        layout.addSpacing(10)  # the step count and "speed" read as two things
        self.speed_label = QLabel("speed")
        self.speed_label.setToolTip(self.speed.toolTip())
        layout.addWidget(self.speed_label)
        layout.addWidget(self.speed)

        self.timeline.valueChanged.connect(self._on_timeline)
        self.speed.currentIndexChanged.connect(
            lambda: controller.set_speed(self.speed.currentData())
        )
        controller.sig_playing_changed.connect(self._on_playing)
        controller.sig_speed_changed.connect(self._on_speed)
        controller.sig_frame.connect(self._on_frame)
        controller.sig_experiment_changed.connect(lambda _s: self._on_total())
        self._on_speed(controller.speed)
        self._on_playing(controller.playing)

    def _paint_icons(self) -> None:
        color = self.palette().color(QPalette.ColorRole.ButtonText)
        for b in (self.reset_button, self.play_button, self.step_button):
            b.setIcon(media_icon(b.property("media"), color))

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._paint_icons()
        super().changeEvent(event)

    def _on_playing(self, playing: bool) -> None:
        self.play_button.setProperty("media", "pause" if playing else "play")
        self._paint_icons()
        self.play_button.setToolTip(("Pause" if playing else "Play") + " the animation (Space)")

    def _on_speed(self, speed: float) -> None:
        with QSignalBlocker(self.speed):
            self.speed.setCurrentIndex(speed_index(speed))

    def _on_total(self) -> None:
        total = self.controller.total_steps
        if self.timeline.maximum() != total:
            with QSignalBlocker(self.timeline):
                self.timeline.setRange(0, total)

    def _on_frame(self, frame) -> None:
        self._on_total()
        if not self.timeline.isSliderDown():
            with QSignalBlocker(self.timeline):
                self.timeline.setValue(frame.head)
        self.position.set_position(frame.head, self.controller.total_steps)

    def _on_timeline(self, value: int) -> None:
        self.controller.seek(value)
