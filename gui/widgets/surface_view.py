"""The loss surface with every run's path on it.

The surface is a colour map (``ImageItem`` with fixed levels; logarithmic colours where the
loss spans a wide range, as on Rosenbrock's walls) with contour lines. Each visible run is a
line in its colour, with a dot at its position at the playhead, or a cross where it
diverged (on the edge of the view where it leaves it for good, as in the exported figure).
The start (✛) can be dragged: every run without a start of its own restarts there and the
paths follow the mouse. Optional arrows at each current position show the gradient step
(−η∇L) and the run's momentum or last update, their lengths growing with the vectors'.

Every item is created once and updated with ``setData``/``setImage``. Nothing that is not
finite reaches pyqtgraph: paths end at their last finite point and points on their way to
infinity are pulled in to a box around the view. Long paths are thinned so that they keep
their shape (``gui.geometry.thin_path``); the surface is drawn by ``gui.surface_layer``, as
in the figures.

A network's frame (``frame.snapshot.network``, a ``gui.network_view.NetworkPicture``) is a
slice: the surface is the loss over a plane of weight space (its ``rect`` in the plane's
coordinates a, b), and each run's path is its reservoir of full states projected on the plane
(``path_coords``), revealed up to the playhead and drawn by the same code as a 2-D path. The
plane is chosen above the plot (``PlaneChooser``), its text (with the batch-norm note) is shown
under it, and each path's distance from the plane at the playhead is in the legend: a path far
off the plane must not look as if it walked the drawn valley. The start of a network is its
weights, so the ✛ marks where they project and refuses to be dragged, saying why. The
pointer near a path's point adds to the loss read-out that run's name, the step and its
distance from the plane there (``path_point_text``).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from gui.document import NETWORK_START_REFUSAL
from gui.geometry import (
    FAR_FACTOR,
    PathThinner,
    Shading,
    arrow_pixels,
    arrow_segments,
    far_off_plane,
    last_seen,
    off_plane_numbers,
    off_plane_text,
    pull_in,
    quiet_place,
)
from gui.palette import MINIMUM_COLOR, MINIMUM_EDGE
from gui.snapshot import surface_key as surface_key
from gui.surface_layer import SurfaceLayer
from gui.theme import LIGHT, Theme, run_color, set_pen, style_plot
from gui.widgets.curve_item import Curve
from gui.widgets.parameter_slider import format_value
from gui.widgets.plane_chooser import PlaneChooser

MAX_PATH_POINTS = 6000  # longer paths are thinned to about this many points, keeping their shape
MIN_WIDTH = 520  # pixels
ARROW_PIXELS = 60  # the longest arrow (a displacement of that many pixels or more)
#: what the ✛ is and does, by view (False: a 2-D problem, True: a network's slice), in its
#: tooltip, in the plot's and in Help → Shortcuts
START_HINT = {
    False: "Drag the ✛ on the surface to move where the runs start.",
    True: "The ✛ on a network's slice marks its initial weights: it can't be dragged.",
}
_MARKS = "● each run's position at the playhead; ✕ where a run diverged"
PLOT_TIP = {
    False: f"Scroll to zoom, drag to pan. {START_HINT[False]}\n★ marks a minimum; {_MARKS}.",
    True: f"Scroll to zoom, drag to pan. {START_HINT[True]}\n{_MARKS}; dashed: far off the plane.",
}
ARROWS_TIP = (
    "At each current position: the step plain gradient descent would take, −η∇L (thin),\n"
    "and the run's momentum or last update (thick). Drawn to scale when short,\n"
    "compressed when long: they shrink away as a run comes to rest."
)
NO_PICTURE_YET = "Computing the plane and the loss over it…"
NOTICE_MS = 6000  # how long a refusal stays on the plot
LEGEND_MARGIN = 10  # pixels between the legend and the plot's edges
# at most this many path points decide where the legend goes (each path's end always one)
LEGEND_SAMPLE_POINTS = 4096
HOVER_PIXELS = 8  # a path point this near the pointer is named in the read-out


def network_of(frame):
    """The frame's ``NetworkPicture`` (None: not a network, or none computed yet)."""
    return None if frame is None else getattr(frame.snapshot, "network", None)


def is_network(frame) -> bool:
    """The frame is of a network (a slice), whether or not its picture is computed yet."""
    if network_of(frame) is not None:
        return True
    return getattr(frame.snapshot.experiment.problem, "kind", "") == "mlp"


class StartMarker(pg.TargetItem):
    """The ✛ of the start. With a ``refusal`` set (a network's slice) a drag does not move
    it: ``sig_refused`` says why, and the view pans no more than it would over the marker."""

    sig_refused = Signal(str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refusal = ""

    def mouseDragEvent(self, ev):
        if self.refusal and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.isStart():
                self.sig_refused.emit(self.refusal)
            return
        super().mouseDragEvent(ev)


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with "…" rather than widening the window
    (a regression's formula is long); ``text()`` is the whole text."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(self.alignment()), text)


class SurfaceView(QWidget):
    sig_start_dragged = Signal(float, float)
    sig_plane_chosen = Signal(str, tuple)  # kind, runs (document indices)
    sig_refused = Signal(str)  # a refused edit (dragging a network's start), and why

    def __init__(self, controller=None, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.theme = theme
        self.show_arrows = False
        self._frame = None
        self._surface = None  # the worker's Surface drawn now (gui.snapshot)
        self._hovered = None  # (surface key, w1, w2) under the pointer
        self._path_hover = ""  # the path point under the pointer on a slice, said
        self._shading: Shading | None = None
        self._default_rect = (-1.0, 1.0, -1.0, 1.0)
        self._grid_rect = None
        self._legend_key = None
        self._brushes: dict = {}
        self._thinned: dict[int, tuple] = {}  # run: (source, pulled-in points, kept rows)
        self._network = None  # the NetworkPicture drawn now (None: a 2-D problem, or none yet)
        self._slice = False  # a network's frame is shown
        self._distances: dict[int, str] = {}  # run: its off-plane text at the playhead
        self._far: set[int] = set()  # runs far off the plane at the playhead (drawn dashed)

        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setToolTip("")
        plot = self.plot_widget.getPlotItem()
        self.plot = plot
        plot.setLabel("bottom", "w1")
        plot.setLabel("left", "w2")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showAxis("top")
        plot.showAxis("right")
        plot.getAxis("top").setStyle(showValues=False)
        plot.getAxis("right").setStyle(showValues=False)
        self.viewbox = plot.getViewBox()
        self.viewbox.disableAutoRange()

        self.layer = SurfaceLayer(plot, cache=True)  # the figures' renderer too
        self.image, self.contours = self.layer.image, self.layer.contours
        self.minima = pg.ScatterPlotItem(symbol="star", size=17)
        self.minima.setZValue(25)  # above the runs' dots: a run that found it hides nothing
        plot.addItem(self.minima)
        self.paths: list[Curve] = []
        self.heads = pg.ScatterPlotItem(symbol="o", size=11)
        self.heads.setZValue(20)
        plot.addItem(self.heads)
        self.crosses = pg.ScatterPlotItem(symbol="x", size=16)
        self.crosses.setZValue(21)
        plot.addItem(self.crosses)
        self.gradient_arrows = pg.PlotCurveItem(connect="pairs", antialias=True)
        self.gradient_arrows.setZValue(15)
        plot.addItem(self.gradient_arrows)
        self.update_arrows: list[pg.PlotCurveItem] = []  # one per run, in its colour
        self.start = StartMarker(pos=(0, 0), size=16, symbol="crosshair", movable=True)
        self.start.setZValue(30)
        plot.addItem(self.start)
        self.legend = pg.LegendItem(offset=(-10, 10), verSpacing=-4, labelTextSize="9pt")
        self.legend.setParentItem(self.viewbox)
        self._legend_place = (1.0, 0.0)  # top right, until the paths say otherwise

        # the read-out floats in the plot's bottom-left corner while the mouse is over the
        # plot: in the header it ran into a long formula (a regression's)
        self.readout = QLabel("", self.plot_widget)
        self.readout.setToolTip("The loss under the mouse pointer")
        self.readout.setContentsMargins(6, 2, 6, 2)
        self.readout.hide()
        # a refused edit says why where the user looked: on the plot, for a few seconds
        self.notice = QLabel("", self.plot_widget)
        self.notice.setContentsMargins(8, 4, 8, 4)
        self.notice.setWordWrap(True)
        self.notice.hide()
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self._hide_notice)
        self.formula = ElidedLabel("")
        self.formula.setToolTip("The loss being minimised")
        self.arrows_box = QCheckBox("arrows")
        self.arrows_box.setToolTip(ARROWS_TIP)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the problem's usual view again (after zooming)")
        # a network's slice: the plane chooser in the formula's place, the plane's text
        # (what it is, batch norm's mode) on a line of its own, where it is not cut off
        self.plane_chooser = PlaneChooser()
        self.plane_chooser.setVisible(False)
        self.plane_text = QLabel("")
        self.plane_text.setWordWrap(True)
        self.plane_text.setContentsMargins(6, 0, 6, 2)
        self.plane_text.setToolTip(
            "The plane of weight space the surface is the loss over, and how batch norm is\n"
            "evaluated on it. Paths are projected on the plane; the legend says how far each\n"
            "lies off it at the playhead. A path dashed is far off it (its distance at least\n"
            "half its distance from the plane's origin): it did not walk the drawn valley."
        )
        self.plane_text.setVisible(False)
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 4, 0)
        header.addWidget(self.formula, 1)
        header.addWidget(self.plane_chooser)
        header.addStretch(0)
        header.addWidget(self.arrows_box)
        header.addWidget(self.fit_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.plane_text)
        # the surface is the point of the window: it keeps this much room from the docks
        # (the formula no longer holds it open: it is shortened with "…" when narrow)
        self.setMinimumWidth(MIN_WIDTH)
        layout.addWidget(self.plot_widget, 1)

        # the worker computes the grid of a zoomed view: ask at most every 100 ms while
        # the view moves, and once more when it stops
        self._regrid = qthrottled(self._regrid_now, timeout=100, leading=False, parent=self)
        self.viewbox.sigRangeChanged.connect(lambda *_: self._regrid())
        # the legend moves off the paths when the view moves or resizes
        self.viewbox.sigRangeChanged.connect(lambda *_: self._place_legend())
        self.viewbox.sigResized.connect(lambda *_: self._place_legend())
        self._hover = pg.SignalProxy(
            self.plot_widget.scene().sigMouseMoved, rateLimit=30, slot=self._on_hover
        )
        self.start.sigPositionChanged.connect(self._on_start_moved)
        self.start.sig_refused.connect(self.refuse)
        self.plane_chooser.sig_chosen.connect(self._on_plane_chosen)
        self.arrows_box.toggled.connect(self.set_show_arrows)
        self.fit_button.clicked.connect(self.fit)
        self.start.setToolTip(START_HINT[False])
        self.plot_widget.setToolTip(PLOT_TIP[False])
        self.apply_theme(theme)
        if controller is not None:
            controller.sig_frame.connect(self.draw)
            controller.sig_value.connect(self._on_value)

    # ---- look --------------------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.plot_widget.setBackground(theme.plot_background)
        style_plot(self.plot, theme)
        self.plot.showGrid(x=False, y=False)
        self._set_si_prefix()
        self.layer.set_look(theme.surface_colormap(), theme.contour)
        self.minima.setPen(pg.mkPen(MINIMUM_EDGE, width=1.2))
        self.minima.setBrush(pg.mkBrush(MINIMUM_COLOR))
        fg = theme.plot_foreground
        self.start.setPen(pg.mkPen(fg, width=2))
        self.start.setBrush(pg.mkBrush(0, 0, 0, 0))
        self.start.setHoverPen(pg.mkPen(theme.highlight, width=3))
        self.gradient_arrows.setPen(pg.mkPen(fg, width=1.2))
        bg = pg.mkColor(theme.plot_background)
        bg.setAlpha(215)
        self.readout.setStyleSheet(
            f"background: rgba({bg.red()}, {bg.green()}, {bg.blue()}, 215);"
            f" color: {fg}; border: 1px solid {theme.muted_text}; border-radius: 3px;"
        )
        self.legend.setBrush(pg.mkBrush(bg))
        self.legend.setPen(pg.mkPen(theme.muted_text))
        self.legend.setLabelTextColor(fg)
        self.notice.setStyleSheet(
            f"background: rgba({bg.red()}, {bg.green()}, {bg.blue()}, 235);"
            f" color: {fg}; border: 1px solid {theme.error}; border-radius: 3px;"
        )
        self.plane_text.setStyleSheet(f"color: {theme.muted_text};")
        self._legend_key = None
        # the markers' pens and brushes are kept: a scatter renders a symbol again for
        # every pen or brush object it has not seen
        self._edges = (pg.mkPen(theme.marker_edge, width=1.5), pg.mkPen(theme.marker_edge, width=1))
        if self._frame is not None:
            self.draw(self._frame)

    def _brush(self, color: str):
        brush = self._brushes.get(color)
        if brush is None:
            brush = self._brushes[color] = pg.mkBrush(color)
        return brush

    def set_show_arrows(self, on: bool) -> None:
        self.show_arrows = bool(on)
        if self.arrows_box.isChecked() != self.show_arrows:
            self.arrows_box.setChecked(self.show_arrows)
        if self._frame is not None:
            self.draw(self._frame)

    # ---- the surface -------------------------------------------------------------------------
    def _set_surface(self, surface) -> None:
        """Another problem's surface (computed by the worker over its usual view)."""
        self._surface = surface
        self._default_rect = surface.default_rect
        self._shading = Shading(surface.z)
        names = surface.axis_names
        self.plot.setLabel("bottom", names[0], color=self.theme.plot_foreground)
        self.plot.setLabel("left", names[1], color=self.theme.plot_foreground)
        self._set_si_prefix()
        self.formula.setText(surface.formula)
        self.set_readout("")  # the value under the pointer was the old surface's
        self._hovered = None
        self.minima.setData(pos=surface.minima)
        self._show_grid(surface.z, surface.rect)
        self.fit()

    def fit(self) -> None:
        x0, x1, y0, y1 = self._default_rect
        self.viewbox.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _show_grid(self, z: np.ndarray, rect) -> None:
        self.layer.show(z, rect, self._shading)
        self._grid_rect = rect

    def _regrid_now(self) -> None:
        """Ask for the surface over what is visible after a zoom or pan (same colours)."""
        if self.show_arrows and self._frame is not None:
            self.draw(self._frame)  # arrows are so many pixels long: redraw for the new scale
        if self._surface is None or self._shading is None:
            return
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        dx0, dx1, _dy0, _dy1 = self._default_rect
        # no finer than 1/50 of the usual view, no wider than 50 of them
        if not (x1 > x0 and y1 > y0) or (x1 - x0) > FAR_FACTOR * (dx1 - dx0):
            return
        if self._grid_rect == (x0, x1, y0, y1):
            return
        if self.controller is not None:
            self.controller.request_surface(self._surface.key, (x0, x1, y0, y1))

    # ---- drawing a frame ---------------------------------------------------------------------
    def draw(self, frame) -> None:
        self._frame = frame
        s = frame.snapshot
        if s.built is None or s.history is None:
            return
        surface = s.surface
        if surface is not None and surface is not self._surface:
            if self._surface is None or surface.key != self._surface.key:
                self._set_surface(surface)
            else:  # the same surface over another rectangle (a zoom)
                self._surface = surface
                self._show_grid(surface.z, surface.rect)
        network = network_of(frame)
        self._show_network(frame, network, is_network(frame))
        runs = frame.experiment.runs
        n = len(runs)  # run i is column frame.column(i) of the history (None: not yet)
        while len(self.paths) < n:
            item = Curve(antialias=True)
            item.setZValue(10)
            self.plot.addItem(item)
            self.paths.append(item)
        heads, head_brushes, crosses, cross_brushes = [], [], [], []
        current = []
        self._distances = {}
        self._far = set()
        for i, item in enumerate(self.paths):
            run = runs[i] if i < n else None
            track = None
            if run is None or not run.visible:
                pass
            elif not self._slice:
                track = self._track(frame, i)
            elif network is not None:  # (a network before its first picture draws no path)
                track = self._network_track(i)
            if track is None:
                item.setData([], [])
                item.setVisible(False)
                continue
            points, shown, rows = track
            drawn = points[shown]
            color = run_color(i, run.color)
            width = 3.0 if i == frame.selected_run and n > 1 else 2.0
            style = Qt.PenStyle.DashLine if i in self._far else Qt.PenStyle.SolidLine
            set_pen(item, color, width, style)
            item.setData(drawn[:, 0], drawn[:, 1])
            item.setVisible(True)
            if frame.diverged_shown(i):
                # on the edge of the view where the run leaves it for good, as in the figures
                seen = points[:rows][np.isfinite(points[:rows]).all(axis=1)]
                crosses.append(last_seen(seen, self._default_rect, True))
                cross_brushes.append(self._brush(color))
            else:
                heads.append(drawn[-1])
                head_brushes.append(self._brush(color))
                if not self._slice:  # a slice has no 2-D gradient to draw
                    current.append((i, rows - 1, drawn[-1]))
        self.heads.setData(
            pos=np.array(heads).reshape(-1, 2), brush=head_brushes, pen=self._edges[0]
        )
        self.crosses.setData(
            pos=np.array(crosses).reshape(-1, 2), brush=cross_brushes, pen=self._edges[1]
        )
        self._draw_start(frame)
        self._draw_arrows(frame, current)
        self._draw_legend(frame, n)
        self._place_legend()

    def _track(self, frame, i: int):
        """What run ``i`` draws of a 2-D problem: (its rows pulled in, the rows drawn, the
        rows revealed), None for nothing."""
        rows = frame.finite_rows(i)
        if rows == 0:
            return None
        points, keep = self._path(frame, i)
        shown = keep[: np.searchsorted(keep, rows)]
        if len(shown) == 0:
            return None
        if shown[-1] != rows - 1:
            shown = np.append(shown, rows - 1)
        return points, shown, rows

    def _network_track(self, i: int):
        """What run ``i`` draws of a network: its reservoir rows projected on the plane, up
        to the playhead (``path_steps <= head``), thinned and pulled in as a 2-D path is;
        the head at the last of them that it has (rows where it has none are NaN). Its
        distance from the plane there goes to the legend."""
        frame, network = self._frame, self._network
        col = frame.column(i)
        coords = network.path_coords
        if col is None or coords.ndim != 3 or col >= coords.shape[1]:
            return None
        rows = network.rows_to(frame.head)
        source = ("network", frame.snapshot.job_id, col, self._default_rect)
        cached = self._thinned.get(i)
        if cached is None or cached.source != source or cached.data is not coords:
            # the plane changed or the reservoir was thinned: rows are not only appended
            cached = self._thinned[i] = _ThinnedPath(source, self._default_rect)
            cached.data = coords
            cached.extend(coords[:, col], self._default_rect)
        last = cached.last_finite(rows)
        if last < 0:
            return None
        keep = cached.keep
        shown = keep[: np.searchsorted(keep, rows)]
        if len(shown) == 0 or shown[-1] != last:
            shown = np.append(shown, last)
        # the legend's number and the dashing: one judgement of the same three numbers
        off_plane = off_plane_numbers(network, last, col, rows)
        self._distances[i] = off_plane_text(*off_plane)
        if far_off_plane(*off_plane):
            self._far.add(i)
        return cached.points, shown, rows

    def _show_network(self, frame, network, on: bool) -> None:
        """Switch between a 2-D problem's view and a network's slice (plane chooser, plane
        text, a start that refuses to move, no arrows)."""
        was = self._slice
        self._network = network
        self._slice = on
        if network is not None:
            self.plane_chooser.set_runs(r.display_label for r in frame.experiment.runs)
            self.plane_chooser.set_batch_norm(frame.experiment.has_batch_norm)
            self.plane_chooser.show_kind(network.plane_kind, self._plane_runs())
            self.plane_text.setText(network.plane_text)
            self.formula.setToolTip(network.plane_text)
        elif on:
            self.plane_text.setText(NO_PICTURE_YET)
        if on == was:
            return
        self.plane_chooser.setVisible(on)
        self.plane_text.setVisible(on)
        self.formula.setVisible(not on)
        self._set_si_prefix()
        self.arrows_box.setEnabled(not on)
        self.arrows_box.setToolTip(
            "No arrows on a slice: a network's gradient and update have as many components\n"
            "as it has weights, not two."
            if on
            else ARROWS_TIP
        )
        self.start.refusal = NETWORK_START_REFUSAL if on else ""
        self.start.setToolTip(START_HINT[on] + ("\n" + NETWORK_START_REFUSAL if on else ""))
        self.plot_widget.setToolTip(PLOT_TIP[on])
        self._legend_key = None
        if not on:
            self.formula.setToolTip("The loss being minimised")

    def start_hint(self) -> str:
        """What the ✛ is and does in the view shown now (Help → Shortcuts says it)."""
        return START_HINT[self._slice]

    def _plane_runs(self) -> tuple[int, ...]:
        """The document's runs the session's plane goes through (none known: ())."""
        runs = getattr(self.controller, "plane_runs", ())
        return tuple(runs) if isinstance(runs, tuple | list) else ()

    def _set_si_prefix(self) -> None:
        """No SI prefix on a slice's axes: "b (x0.001)" read as a scale of b. (No range gets
        a prefix; disabling it instead froze the scale it had, and every ``setLabel``
        restores the default ranges, so this follows each.)"""
        for name in ("bottom", "left"):
            axis = self.plot.getAxis(name)
            axis.setSIPrefixEnableRanges(() if self._slice else None)
            axis.updateAutoSIPrefix()

    def _path(self, frame, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``i``'s computed rows (pulled in from far away) and the rows a long path is
        drawn from (``PathThinner``). Worked out as rows arrive, at the cost of the new
        ones: a frame only picks the revealed ones."""
        s = frame.snapshot
        col = frame.column(i)
        source = (s.job_id, col, self._default_rect)
        rows = frame.finite_rows(i, s.count)
        cached = self._thinned.get(i)
        if cached is None or cached.source != source or cached.rows > rows:
            cached = self._thinned[i] = _ThinnedPath(source, self._default_rect)
        if cached.rows < rows:
            cached.extend(s.history.coords[cached.rows : rows, col], self._default_rect)
        return cached.points, cached.keep

    def _draw_start(self, frame) -> None:
        if getattr(self.start, "moving", False):
            return
        if self._slice:
            start = None if self._network is None else self._network_start(frame)
            self.start.setVisible(start is not None)
        else:
            # a network's frame before its first network picture has no start either
            start = getattr(frame.experiment.problem, "start", None)
            if start is None and frame.surface is not None:
                start = frame.surface.start  # the problem's own, as the worker published it
        if start is None:
            return
        x, y = float(start[0]), float(start[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        pos = self.start.pos()
        if (pos.x(), pos.y()) != (x, y):
            self.start.blockSignals(True)
            self.start.setPos(x, y)
            self.start.blockSignals(False)

    def _network_start(self, frame):
        """Where a network's initial weights project (the step-0 row of the first run that
        has one), None when none has."""
        network = self._network
        steps = np.asarray(network.path_steps)
        if len(steps) == 0 or steps[0] != 0:
            return None
        for i in range(len(frame.experiment.runs)):
            col = frame.column(i)
            if col is not None and col < network.path_coords.shape[1]:
                point = network.path_coords[0, col]
                if np.isfinite(point).all():
                    return point
        return None

    def _draw_arrows(self, frame, current) -> None:
        """At each current position: the step plain gradient descent would take from there
        (−η∇L, thin) and the run's momentum or last update (thick), in data units. They are
        drawn as long as they are on screen up to a few pixels, then log-compressed up to
        ARROW_PIXELS: a run coming to rest shows its arrows shrinking away."""
        for item in self.update_arrows:
            item.setVisible(False)
        if not self.show_arrows or not current:
            self.gradient_arrows.setData([], [])
            return
        h = frame.snapshot.history
        px, py = self.viewbox.viewPixelSize()
        if not (px > 0 and py > 0):
            return
        grad_segments = []
        for i, row, point in current:
            col = frame.column(i)
            step = -h.lr[row, col] * h.grad[row, col]
            if np.isfinite(step).all():
                length = arrow_pixels(step, px, py, ARROW_PIXELS * 0.8)
                grad_segments.extend(arrow_segments(point, step, px, py, length))
            motion = self.motion(h, col, row)
            if motion is None:
                continue
            while len(self.update_arrows) <= i:
                item = pg.PlotCurveItem(connect="pairs", antialias=True)
                item.setVisible(False)  # until it has an arrow to show
                item.setZValue(16)
                self.plot.addItem(item)
                self.update_arrows.append(item)
            length = arrow_pixels(motion, px, py, ARROW_PIXELS)
            u = np.array(arrow_segments(point, motion, px, py, length)).reshape(-1, 2)
            if len(u) == 0:
                continue
            run = frame.experiment.runs[i]
            item = self.update_arrows[i]
            set_pen(item, run_color(i, run.color), 2.6)
            item.setData(u[:, 0], u[:, 1])
            item.setVisible(True)
        g = np.array(grad_segments).reshape(-1, 2)
        self.gradient_arrows.setData(g[:, 0], g[:, 1])

    @staticmethod
    def motion(h, col: int, row: int) -> np.ndarray | None:
        """What the thick arrow of the history's column ``col`` shows at ``row``: its
        momentum (parameter units) if it has one, else its last update (new − old); None
        when there is none."""
        for field in (h.velocity, h.update):
            v = None if field is None else field[row, col]
            if v is not None and np.isfinite(v).all() and np.any(v):
                return np.asarray(v, float)
        return None

    def _draw_legend(self, frame, n: int) -> None:
        runs = frame.experiment.runs
        diverged = tuple(bool(frame.diverged_shown(i)) for i in range(n))
        distances = tuple(self._distances.get(i, "") for i in range(n))
        key = (
            *tuple(
                (r.display_label, run_color(i, r.color), r.visible) for i, r in enumerate(runs[:n])
            ),
            diverged,
            distances,
        )
        if key == self._legend_key:
            return
        self._legend_key = key
        self.legend.clear()
        for i in range(n):
            if runs[i].visible:
                label = runs[i].display_label + ("  (diverged)" if diverged[i] else "")
                if distances[i]:
                    label += f"  · {distances[i]}"
                self.legend.addItem(self.paths[i], label)
        if len(self.minima.data):
            self.legend.addItem(self.minima, "minimum")

    def _place_legend(self) -> None:
        """Put the legend where it covers the fewest drawn path points and no run's dot,
        the start or a minimum when a place is free of them (``quiet_place``): in a fixed
        corner it hid the ends of the paths that went there."""
        vb = self.viewbox
        size = vb.rect().size()
        w, h = size.width(), size.height()
        if not (w > 0 and h > 0) or not self.legend.items:
            return
        (x0, x1), (y0, y1) = vb.viewRange()
        if not (x1 > x0 and y1 > y0):
            return

        def pixels(points) -> np.ndarray:  # view coordinates → the view box's pixels
            p = np.asarray(points, float).reshape(-1, 2)
            p = p[np.isfinite(p).all(axis=1)]
            return np.column_stack([(p[:, 0] - x0) / (x1 - x0) * w, (y1 - p[:, 1]) / (y1 - y0) * h])

        drawn = [np.column_stack(item.getData()) for item in self.paths if item.isVisible()]
        drawn = [d for d in drawn if d.ndim == 2 and d.shape[1] == 2]
        # placed on every frame: a few thousand points say where the paths are as well as
        # all of them do (8 runs × 6,000 points cost 5 ms a frame); each path's end is kept
        # (under its run's dot, which the placement avoids as well)
        cap = max(1, LEGEND_SAMPLE_POINTS // max(len(drawn), 1))
        drawn = [
            d if len(d) <= cap else np.vstack([d[:: -(-len(d) // cap)], d[-1:]]) for d in drawn
        ]
        marks = [_scatter_points(self.heads), _scatter_points(self.crosses)]
        marks.append(_scatter_points(self.minima))
        if self.start.isVisible():
            marks.append(np.array([[self.start.pos().x(), self.start.pos().y()]]))
        legend = self.legend.boundingRect()
        place = quiet_place(
            pixels(np.concatenate(drawn)) if drawn else np.zeros((0, 2)),
            pixels(np.concatenate(marks)),
            (w, h),
            (legend.width(), legend.height()),
            margin=LEGEND_MARGIN,
            current=self._legend_place,  # kept unless another place is clearly better
        )
        if place == self._legend_place:
            return
        self._legend_place = place
        offset = tuple(
            LEGEND_MARGIN if a == 0 else -LEGEND_MARGIN if a == 1 else 0.0 for a in place
        )
        self.legend.anchor(itemPos=place, parentPos=place, offset=offset)

    # ---- interaction -------------------------------------------------------------------------
    def _on_start_moved(self, *_):
        pos = self.start.pos()
        x, y = float(pos.x()), float(pos.y())
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        if self.start.refusal:  # moved by other means than a drag: back where it belongs
            if self._frame is not None:
                self._draw_start(self._frame)
            self.refuse(self.start.refusal)
            return
        self.sig_start_dragged.emit(x, y)
        if self.controller is not None:
            self.controller.set_start(x, y)

    def refuse(self, reason: str) -> None:
        """Say on the plot why an edit was not made (for a few seconds)."""
        self.notice.setText("⚠ " + reason)
        # on one line where the plot is wide enough, else wrapped to its width (adjustSize
        # wrapped a wrapping label to a narrow column of three lines)
        self.notice.setWordWrap(False)
        line = self.notice.sizeHint().width()  # the one line, with margins and frame
        self.notice.setWordWrap(True)
        width = min(line, max(200, self.plot_widget.width() - 40))
        self.notice.resize(width, self.notice.heightForWidth(width))
        self.notice.move(12, 12)
        self.notice.show()
        self.notice.raise_()
        self._notice_timer.start(NOTICE_MS)
        if self.readout.isVisible():
            self._place_readout()  # out from under the notice
        self.sig_refused.emit(reason)

    def _hide_notice(self) -> None:
        self.notice.hide()
        if self.readout.isVisible():
            self._place_readout()  # back in its corner

    def _on_plane_chosen(self, kind: str, runs: tuple) -> None:
        self.sig_plane_chosen.emit(kind, runs)
        set_plane = getattr(self.controller, "set_plane", None)
        if set_plane is not None:
            set_plane(kind, runs=runs)

    def _on_hover(self, event) -> None:
        pos = event[0]
        if self._surface is None or not self.viewbox.sceneBoundingRect().contains(pos):
            self.set_readout("")
            return
        point = self.viewbox.mapSceneToView(pos)
        x, y = point.x(), point.y()
        # near a path's point on a slice: whose it is, its step and how far off the plane
        self._path_hover = self.path_point_text(x, y)
        # at once: the value interpolated in the worker's grid; a moment later the exact
        # one, which the worker computes (never the engine on the GUI thread)
        self._hovered = (self._surface.key, x, y)
        loss = self._surface.value_at(x, y)
        if not math.isfinite(loss):
            self.set_readout("")
        else:
            self.set_readout(self._readout_text(x, y, "≈", loss))
        if self.controller is not None:
            self.controller.request_value(*self._hovered)

    def _on_value(self, key: str, x: float, y: float, loss: float) -> None:
        """The worker's exact loss at the point last hovered (older answers are dropped)."""
        if self._hovered != (key, x, y) or self.readout.text() == "":
            return
        self.set_readout(self._readout_text(x, y, "=", loss))

    def _readout_text(self, x: float, y: float, relation: str, loss: float) -> str:
        a, b = self._surface.axis_names if self._surface is not None else ("w1", "w2")
        text = f"{a} = {x:.4g}   {b} = {y:.4g}   L {relation} {format_value(loss)}"
        return f"{text}\n{self._path_hover}" if self._path_hover else text

    def path_point_text(self, x: float, y: float) -> str:
        """On a slice, the revealed path point nearest to (x, y) within ``HOVER_PIXELS`` on
        screen: "momentum, step 120: off-plane distance 1.1 (15% of ‖θ − origin‖)"; '' when
        none is that near (or this is not a slice). The loss at (a, b) is the plane's: the
        distance says how far the run's weights there really were from it."""
        frame, network = self._frame, self._network
        if not self._slice or network is None or frame is None:
            return ""
        px, py = self.viewbox.viewPixelSize()
        if not (px > 0 and py > 0):
            return ""
        coords = np.asarray(network.path_coords)
        if coords.ndim != 3:
            return ""
        rows = network.rows_to(frame.head)
        best = None  # (squared pixels, run, row, column)
        for i, run in enumerate(frame.experiment.runs):
            col = frame.column(i)
            if not run.visible or col is None or col >= coords.shape[1] or rows == 0:
                continue
            d2 = ((coords[:rows, col, 0] - x) / px) ** 2 + ((coords[:rows, col, 1] - y) / py) ** 2
            d2 = np.where(np.isfinite(d2), d2, np.inf)
            row = int(np.argmin(d2))
            if d2[row] <= HOVER_PIXELS**2 and (best is None or d2[row] < best[0]):
                best = (float(d2[row]), i, row, col)
        if best is None:
            return ""
        _, i, row, col = best
        step = int(np.asarray(network.path_steps)[row])
        where = f"{frame.experiment.runs[i].display_label}, step {step:,}"
        off = off_plane_text(*off_plane_numbers(network, row, col, rows))
        return f"{where}: {off}" if off else where

    def set_readout(self, text: str) -> None:
        """Show ``text`` in the plot's bottom-left corner (nothing: hide it)."""
        self.readout.setText(text)
        self.readout.setVisible(bool(text))
        if text:
            self.readout.adjustSize()
            self._place_readout()

    def _place_readout(self) -> None:
        """In the plot's bottom-left corner, or its top-left one when the legend sits along
        the bottom edge (two lines of read-out over a slice ran into it); below a refusal
        shown on the plot where the two would meet."""
        box = self.plot_widget.mapFromScene(self.viewbox.sceneBoundingRect()).boundingRect()
        legend_below = bool(self.legend.items) and self._legend_place[1] == 1.0
        top = box.top() + 6 if legend_below else box.bottom() - self.readout.height() - 6
        self.readout.move(box.left() + 6, top)
        # a refusal on the plot (top left) must not hide the read-out: under it, then
        if self.notice.isVisible() and self.readout.geometry().intersects(self.notice.geometry()):
            self.readout.move(box.left() + 6, self.notice.geometry().bottom() + 4)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.readout.isVisible():
            self._place_readout()

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self.set_readout("")  # the pointer left: no stale value

    def path_data(self, run: int) -> tuple[np.ndarray, np.ndarray]:
        """What the path item of ``run`` draws now (tests compare it)."""
        if run >= len(self.paths):
            return np.zeros(0), np.zeros(0)
        x, y = self.paths[run].xData, self.paths[run].yData
        return (np.zeros(0) if x is None else np.asarray(x)), (
            np.zeros(0) if y is None else np.asarray(y)
        )


def _scatter_points(item: pg.ScatterPlotItem) -> np.ndarray:
    """The points a scatter draws ``(n, 2)``."""
    data = item.data
    if len(data) == 0:
        return np.zeros((0, 2))
    return np.column_stack([data["x"], data["y"]]).astype(float)


class _ThinnedPath:
    """A run's path as ``SurfaceView`` keeps it between frames: every computed row,
    pulled in (``points``), and the rows it is drawn from (``keep``)."""

    def __init__(self, source, box):
        self.source = source
        self.data = None  # a network's path_coords these rows came from
        self.rows = 0
        self.points = np.zeros((0, 2))
        self.keep = np.zeros(0, int)
        self._thinner = PathThinner(box, MAX_PATH_POINTS)
        self._finite: list[np.ndarray] = []  # row numbers of the thinner's points

    def extend(self, coords: np.ndarray, box) -> None:
        new = pull_in(np.asarray(coords, float), box)
        finite = np.isfinite(new).all(axis=1)  # rows before a divergence are; to be sure
        self._finite.append(self.rows + np.flatnonzero(finite))
        self._thinner.extend(new[finite])
        self.points = np.concatenate([self.points, new])
        self.rows += len(new)
        rows_of = np.concatenate(self._finite)
        self._finite = [rows_of]
        self.keep = rows_of[self._thinner.indices()]

    def last_finite(self, rows: int) -> int:
        """The last of the first ``rows`` rows that is finite, -1 when none is."""
        rows_of = self._finite[0] if self._finite else np.zeros(0, int)
        k = int(np.searchsorted(rows_of, rows))
        return int(rows_of[k - 1]) if k > 0 else -1
