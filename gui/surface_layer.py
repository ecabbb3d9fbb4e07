"""The one renderer of the loss surface: a colour map (an ``ImageItem`` with fixed levels)
and its contour lines (one ``PlotCurveItem`` holding every line). The live view, the
exported figure and the GIF (which films the live view) all draw the surface through it,
so they show the same colours and the same contours."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem

from gui.geometry import CONTOUR_LEVELS, Box, Shading, contour_paths


class SurfaceLayer:
    """The surface's items in ``plot``, behind everything else. ``show`` takes a loss grid
    sampled at the pixel centres of an image filling a box, and the surface's ``Shading``
    (fixed per surface, so that a re-evaluated grid keeps its colours)."""

    def __init__(self, plot: pg.PlotItem, cache: bool = False):
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-100)
        plot.addItem(self.image)
        self.contours = pg.PlotCurveItem(antialias=True)
        self.contours.setZValue(-50)
        plot.addItem(self.contours)
        if cache:
            # the surface changes rarely, the paths at every frame: keep it as pixels
            for item in (self.image, self.contours):
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.z: np.ndarray | None = None  # the loss grid shown, and where
        self.box: Box | None = None

    def set_look(self, colormap: pg.ColorMap, contour_color, width: float = 1.0) -> None:
        self.image.setLookupTable(colormap.getLookupTable(nPts=256))
        self.contours.setPen(pg.mkPen(contour_color, width=width))

    def show(self, z: np.ndarray, box: Box, shading: Shading, levels: int = CONTOUR_LEVELS):
        x0, x1, y0, y1 = box
        with np.errstate(all="ignore"):
            shade = shading(z)
        self.image.setImage(shade, levels=shading.levels, autoLevels=False)
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        # whole lines, not segments: a translucent pen would darken at every joint
        points, connect = contour_paths(shade, shading.contour_levels(levels), box)
        self.contours.setData(points[:, 0], points[:, 1], connect=connect)
        self.z, self.box = np.asarray(z, float), box
