"""An axis whose log mode labels decades (and 2×, 5× on short spans) and nothing else:
pyqtgraph's own labels every minor tick, which piles up on a span of less than a decade."""

from __future__ import annotations

import math

import pyqtgraph as pg

from gui.geometry import log_ticks


class LogAxis(pg.AxisItem):
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
