"""Axes whose labels never run into each other.

``SpacedAxis`` (linear) spaces its ticks by the room its labels need: pyqtgraph's own
spacing depends on the axis length only, and a narrow curves panel read "50100150".
``LogAxis`` in log mode labels decades (and 2×, 5× on short spans) and nothing else:
pyqtgraph's own labels every minor tick, which piles up on a span of less than a decade."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics

from gui.geometry import log_ticks, nice_step

LABEL_GAP_PIXELS = 14  # between two labels along a horizontal axis


class SpacedAxis(pg.AxisItem):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setStyle(maxTextLevel=0)  # labels on the major ticks only

    def label_pixels(self, low: float, high: float) -> float:
        """Room one label takes along the axis (with a gap)."""
        metrics = QFontMetrics(self.style.get("tickFont") or QFont())
        if self.orientation in ("left", "right"):
            return metrics.height() * 1.8
        widest = max(metrics.horizontalAdvance(f"{v:g}") for v in (low, high, (low + high) / 2))
        return widest + LABEL_GAP_PIXELS

    def tickSpacing(self, minVal, maxVal, size):
        if self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)):
            return super().tickSpacing(minVal, maxVal, size)
        low, high = sorted((minVal, maxVal))
        if high <= low:
            return super().tickSpacing(minVal, maxVal, size)
        major = nice_step(high - low, size, self.label_pixels(low, high))
        return [(major, 0.0), (major / 2, 0.0)]


class LogAxis(SpacedAxis):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._labels: dict[float, str] = {}

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        low, high = sorted((minVal, maxVal))
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return []
        major, minor = log_ticks(low, high)
        if not major:  # a span inside one decade with no 1/2/5 mark: label its ends
            major = [
                (p, f"{10.0**p:.3g}") for p in (low + 0.1 * (high - low), high - 0.1 * (high - low))
            ]
        self._labels = {round(p, 9): text for p, text in major}
        return [(1.0, [p for p, _ in major]), (None, [p for p, _ in minor])]

    def logTickStrings(self, values, scale, spacing):
        return [self._labels.get(round(v, 9), "") for v in values]
