"""Decision boundaries of a network on a 2-D data set, one small plot per run, side by side.

Each panel shades the (normalized) feature plane by the class the run's network predicts
there, as opaque as its probability is high (faint where it hesitates), with the training
points on top in their classes' colours: TensorFlow Playground's view, here for several runs
at once so that optimizers compare at a glance. The grids come from the worker
(``frame.snapshot.network.boundary``: the reservoir state nearest the playhead at or before
it), so the panels animate with the playhead. Each is titled with its run's label and its
accuracy at that step (evaluation mode, from the recorded rows). Every panel frames the same
rectangle of the feature plane, at equal scales on both axes; the view tells the worker the
panels' shape (``set_boundary_aspect``), which widens that rectangle to it, so that the
regions fill the panels (a square in a wide panel left blank bands on both sides).

Nothing here computes a prediction: the GUI only colours the worker's arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from gui.palette import class_rgb, region_image
from gui.theme import LIGHT, Theme, run_color, style_plot

NO_BOUNDARY = (
    "Decision boundaries are drawn for a network on a 2-D data set (moons, circles, spirals,"
    " XOR, blobs, or a CSV of two features)."
)
COMPUTING = "Computing the decision boundaries…"
POINT_SIZE = 5
# the panels' shape is asked for again when it changes by more than this (relative): a
# boundary grid is not recomputed for a pixel's resize
ASPECT_TOLERANCE = 0.02


def network_of(frame):
    return None if frame is None else getattr(frame.snapshot, "network", None)


def grid_columns(n: int, width: float, height: float) -> int:
    """How many columns ``n`` square panels take in a ``width`` × ``height`` area so that
    each is as large as it can be (ties: fewer columns)."""
    best, best_side = 1, -1.0
    for cols in range(1, max(n, 1) + 1):
        rows = math.ceil(n / cols)
        side = min(width / cols, height / rows)
        if side > best_side + 1e-9:
            best, best_side = cols, side
    return best


def accuracy_at(frame, col: int, step: int) -> tuple[float, float, int]:
    """(training accuracy, validation accuracy, the step they are of): the last evaluated
    row at or before ``step`` (evaluation runs on a cadence; NaN rows in between)."""
    h = frame.snapshot.history
    if h is None or col is None:
        return math.nan, math.nan, -1
    count = frame.snapshot.count
    k = int(np.searchsorted(h.step[:count], step, side="right"))
    extra = getattr(h, "extra", None) or {}
    acc = extra.get("accuracy")
    if acc is None or k == 0:
        return math.nan, math.nan, -1
    values = np.asarray(acc[:k, col], float)
    done = np.flatnonzero(np.isfinite(values))
    if len(done) == 0:
        return math.nan, math.nan, -1
    row = int(done[-1])
    val = extra.get("val_accuracy")
    v = float(val[row, col]) if val is not None else math.nan
    return float(values[row]), v, int(h.step[row])


def title_text(label: str, color: str, step: int, accuracy: float, val: float, at: int) -> str:
    """A panel's title: the run, the step shown, its accuracy (and where it is from when the
    last evaluated row is older than the state drawn)."""
    # two short lines: a panel is a few hundred pixels wide
    text = f"<span style='color:{color}'>■</span> <b>{label}</b><br>step {step:,}"
    if math.isfinite(accuracy):
        text += f" · accuracy {accuracy:.1%}"
        if math.isfinite(val):
            text += f" (validation {val:.1%})"
        if at != step:
            text += f" at step {at:,}"
    return text


class BoundaryPanel:
    """One run's plot: the regions (an RGBA image) under the training points."""

    def __init__(self):
        self.plot = pg.PlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.points = pg.ScatterPlotItem(size=POINT_SIZE, pxMode=True)
        self.plot.addItem(self.points)
        self.run: int | None = None  # the document's run shown
        self.title = ""
        self._key = None  # what the image shows now
        self._points_key = None

    def show(self, boundary, col: int, n_classes: int) -> None:
        key = (id(boundary.classes), id(boundary.confidence), col, n_classes)
        if key != self._key:
            self._key = key
            self.image.setImage(
                region_image(boundary.classes[col], boundary.confidence[col], n_classes),
                autoLevels=False,
                levels=(0, 255),
            )
            x0, x1, y0, y1 = boundary.rect
            self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))

    def show_points(self, points, labels, brushes, pen) -> None:
        key = (id(points), id(labels), id(brushes))
        if key != self._points_key:
            self._points_key = key
            labels = np.asarray(labels, int)
            self.points.setData(
                pos=np.asarray(points, float).reshape(-1, 2),
                brush=[brushes[k] for k in labels],
                pen=pen,
            )

    def set_title(self, text: str, color: str) -> None:
        if text != self.title:
            self.title = text
            self.plot.setTitle(text, color=color, size="9pt")


class BoundaryView(QWidget):
    def __init__(self, controller=None, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.theme = theme
        self._frame = None
        self._boundary = None
        self.panels: list[BoundaryPanel] = []
        self._arranged = None  # (runs shown, columns)
        self._framed = None  # the rectangle the panels were framed on
        self._asked_aspect: float | None = None  # the panels' shape last told the worker
        self._brushes: tuple = ()
        self._brush_key = None
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(6)
        self.placeholder = QLabel(NO_BOUNDARY)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setContentsMargins(30, 30, 30, 30)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.graphics)
        self.setToolTip(
            "Each run's network over the (normalized) feature plane: the colour is the class it\n"
            "predicts there, faint where it hesitates, strong where it is sure; the dots are the\n"
            "training points in their classes' colours. Drawn at the recorded state nearest the\n"
            "playhead."
        )
        self.apply_theme(theme)
        if controller is not None:
            controller.sig_frame.connect(self.draw)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.graphics.setBackground(theme.plot_background)
        self.placeholder.setStyleSheet(f"color: {theme.muted_text};")
        self._edge = pg.mkPen(theme.marker_edge, width=0.8)
        for panel in self.panels:
            style_plot(panel.plot, theme)
            panel.plot.showGrid(x=False, y=False)
            panel._points_key = None
            panel.title = ""
        if self._frame is not None:
            self.draw(self._frame)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._frame is not None:
            self.draw(self._frame)  # frames are drawn only while the view is seen

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._framed = None  # framed again at the new size
        if self._frame is not None and self.isVisible():
            self.draw(self._frame)  # the best number of columns may have changed

    # ---- drawing -----------------------------------------------------------------------------
    def draw(self, frame) -> None:
        self._frame = frame
        if not self.isVisible():
            return
        network = network_of(frame)
        boundary = None if network is None else network.boundary
        if boundary is None:
            self.placeholder.setText(NO_BOUNDARY if network is None else COMPUTING)
            self.stack.setCurrentWidget(self.placeholder)
            return
        self.stack.setCurrentWidget(self.graphics)
        self._boundary = boundary
        runs = frame.experiment.runs
        shown = []
        for i, run in enumerate(runs):
            col = frame.column(i)
            if run.visible and col is not None and col < boundary.classes.shape[0]:
                shown.append((i, col))
        self._arrange(len(shown))
        self._ask_aspect()
        self._frame_panels(boundary.rect)
        labels = np.asarray(boundary.labels, int)
        n_classes = max(int(labels.max(initial=0)), int(boundary.classes.max(initial=0))) + 1
        brushes = self._point_brushes(n_classes)
        fg = self.theme.plot_foreground
        for panel, (i, col) in zip(self.panels, shown, strict=False):
            run = runs[i]
            panel.run = i
            panel.show(boundary, col, n_classes)
            panel.show_points(boundary.points, boundary.labels, brushes, self._edge)
            accuracy, val, at = accuracy_at(frame, col, boundary.step)
            color = run_color(i, run.color)
            panel.set_title(
                title_text(run.display_label, color, int(boundary.step), accuracy, val, at), fg
            )

    def _frame_panels(self, rect) -> None:
        """Each panel shows the whole grid (each its own range: linked views with locked
        aspects in panels of unequal widths drifted off it)."""
        rect = tuple(float(v) for v in rect)
        if rect == self._framed:
            return
        self._framed = rect
        x0, x1, y0, y1 = rect
        for panel in self.panels:
            panel.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def panel_aspect(self) -> float | None:
        """Width / height of the panels' plotting areas (the first's: a grid's cells share
        their widths and heights); None before they have a size."""
        if not self.panels:
            return None
        size = self.panels[0].plot.getViewBox().size()
        if size.width() < 8 or size.height() < 8:
            return None
        return size.width() / size.height()

    def _ask_aspect(self, *_args) -> None:
        """Tell the worker the panels' shape when it has changed: the boundary it sends next
        covers a rectangle of that shape."""
        aspect = self.panel_aspect()
        if aspect is None or not self.isVisible():
            return
        asked = self._asked_aspect
        if asked is not None and abs(aspect / asked - 1) < ASPECT_TOLERANCE:
            return
        self._asked_aspect = aspect
        ask = getattr(self.controller, "set_boundary_aspect", None)
        if ask is not None:
            ask(aspect)

    def _point_brushes(self, n_classes: int) -> tuple:
        if self._brush_key != n_classes:
            self._brush_key = n_classes
            self._brushes = tuple(pg.mkBrush(*rgb) for rgb in class_rgb(n_classes))
        return self._brushes

    def _arrange(self, n: int) -> None:
        """As many panels as runs shown, in the grid that makes them largest."""
        cols = grid_columns(n, max(self.graphics.width(), 1), max(self.graphics.height(), 1))
        if self._arranged == (n, cols):
            return
        self._arranged = (n, cols)
        while len(self.panels) < n:
            panel = BoundaryPanel()
            style_plot(panel.plot, self.theme)
            panel.plot.showGrid(x=False, y=False)
            panel.plot.getViewBox().sigResized.connect(self._ask_aspect)
            self.panels.append(panel)
        del self.panels[n:]
        self.graphics.ci.clear()
        for k, panel in enumerate(self.panels):
            panel.title = ""
            self.graphics.ci.addItem(panel.plot, row=k // cols, col=k % cols)
        self._framed = None  # every panel is framed again

    def panel_of(self, run: int) -> BoundaryPanel | None:
        """The panel showing the document's ``run`` (tests read what it draws)."""
        for panel in self.panels:
            if panel.run == run:
                return panel
        return None
