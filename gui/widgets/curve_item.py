"""A plot curve for data that is already finite and ready to draw, redrawn at every frame.

pyqtgraph's ``PlotCurveItem`` finds its bounds with NaN-aware reductions under a
warnings guard and pads them by a pixel size derived from its own device transform; the
scene asks for them again each time the data changes, which for some forty curves
redrawn at every frame cost more than setting their data. Here the bounds are two
plain reductions made when the data is set, and the padding uses the view's pixel size
(which the ``ViewBox`` caches).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF


class Curve(pg.PlotCurveItem):
    """A ``PlotCurveItem`` (with a cosmetic pen) whose data holds no NaN or infinity."""

    def __init__(self, **opts):
        self._bounds = None
        super().__init__(skipFiniteCheck=True, **opts)

    def updateData(self, *args, **kwargs):
        super().updateData(*args, **kwargs)
        x, y = self.xData, self.yData
        if x is not None and len(x) and y is not None and len(y) == len(x):
            self._bounds = ((float(x.min()), float(x.max())), (float(y.min()), float(y.max())))
        else:
            self._bounds = None
        self._boundingRect = None  # in case it was asked for while the data changed

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        if frac >= 1.0 and orthoRange is None:
            return (None, None) if self._bounds is None else self._bounds[ax]
        return super().dataBounds(ax, frac, orthoRange)

    def boundingRect(self):
        if self._boundingRect is None:
            if self._bounds is None:
                return QRectF()
            (x0, x1), (y0, y1) = self._bounds
            px = py = 0.0
            pad = self.pixelPadding()
            view = self.getViewBox()
            if pad > 0 and view is not None:
                px, py = view.viewPixelSize()
                px, py = px * pad, py * pad
            self._boundingRect = QRectF(x0 - px, y0 - py, x1 - x0 + 2 * px, y1 - y0 + 2 * py)
        return self._boundingRect
