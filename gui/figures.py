"""Publication figures of a finished experiment: the loss surface with every path, and the
loss and learning-rate curves. Drawn with pyqtgraph on a light background, for slides.

The same code serves the headless runner (``python main.py run ... --out DIR`` writes
``surface.png`` and ``curves.png`` through ``render_run_figures``, offscreen) and the app's
"export figure" command (``surface_figure``/``curves_figure`` build a widget, ``export_png``
and ``export_svg`` write it).

Nothing that is not finite ever reaches pyqtgraph: the surface is shaded from finite values,
a diverged run is drawn up to its last finite point (a cross marks where it was last seen),
and the log-scaled loss axis only receives positive values. Lines are clipped to the axes
before they are handed over, so exported SVGs (which keep no clipping) look like the PNGs.

Headless use needs no display: ``ensure_app`` picks Qt's offscreen platform when there is
none, and figures are laid out without a window ever appearing.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QImage, QPainter, QPen
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QSizePolicy

from engine.files import atomic_path

# ---- looks ---------------------------------------------------------------------------------

#: Run colours: distinguishable, saturated enough to read over the pale surface, and in an
#: order where neighbours differ in hue and lightness (after Tableau 10 and Okabe–Ito).
RUN_COLORS: tuple[str, ...] = (
    "#1f6fd1",  # blue
    "#e0362c",  # red
    "#1a9a4b",  # green
    "#f28e1c",  # orange
    "#8a4fc7",  # purple
    "#11a3b8",  # teal
    "#d4479b",  # magenta
    "#8c5a2b",  # brown
    "#3d3d3d",  # near black
    "#a59a00",  # olive
)

BACKGROUND = "#ffffff"
FOREGROUND = "#262626"  # axes, ticks, titles
CONTOUR_COLOR = (70, 84, 102, 110)  # grey-blue, translucent: the paths stay in front
MINIMUM_COLOR = "#ffd400"

#: The surface's colour map: pale cream at the bottom of the loss to a soft slate blue at
#: the top, so that the saturated run colours stand out everywhere.
SURFACE_STOPS = (
    (0.00, "#fffbe6"),
    (0.25, "#eef4e4"),
    (0.50, "#d7e7ee"),
    (0.75, "#adc5dc"),
    (1.00, "#7d98bb"),
)

SURFACE_SIZE = (900, 760)
CURVES_SIZE = (900, 720)
SURFACE_RESOLUTION = 320  # grid points per axis
CONTOUR_LEVELS = 14
LOG_SHADING_FRACTION = 0.35  # log colours when this much of the view is in the bottom 10%
FAR_FACTOR = 50.0  # path points farther than this many views away are pulled in to there


def run_color(index: int, explicit: str | None = None) -> str:
    """The colour of run ``index``: its own ``color`` if it has one, else the palette's."""
    if explicit:
        return explicit
    return RUN_COLORS[index % len(RUN_COLORS)]


def surface_colormap(stops: Sequence[tuple[float, str]] = SURFACE_STOPS) -> pg.ColorMap:
    return pg.ColorMap([p for p, _ in stops], [pg.mkColor(c) for _, c in stops])


def _font(points: float, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(points)
    font.setBold(bold)
    return font


# ---- Qt without a display ------------------------------------------------------------------

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


def _new_layout(size: tuple[int, int]) -> pg.GraphicsLayoutWidget:
    ensure_app()
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(BACKGROUND)
    widget.resize(*size)
    return widget


def _style_plot(plot: pg.PlotItem, x_label: str, y_label: str) -> None:
    for name, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(FOREGROUND, width=1))
        axis.setTextPen(pg.mkPen(FOREGROUND))
        axis.setTickFont(_font(10))
        axis.setLabel(label, color=FOREGROUND, size="12pt")
    for name in ("top", "right"):
        plot.showAxis(name)
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(FOREGROUND, width=1))
        axis.setStyle(showValues=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def _add_legend(plot: pg.PlotItem, offset=(-12, 12)) -> pg.LegendItem:
    legend = plot.addLegend(
        offset=offset,
        brush=pg.mkBrush(255, 255, 255, 225),
        pen=pg.mkPen(190, 190, 190),
        labelTextColor=FOREGROUND,
        labelTextSize="10pt",
        verSpacing=-4,
    )
    return legend


def _add_title(
    widget: pg.GraphicsLayoutWidget, title: str | None, subtitle: str | None, colspan: int
) -> int:
    """A title (and a smaller line under it) above the plots; the next free layout row."""
    if not title and not subtitle:
        return 0
    title, subtitle = escape(title or "", quote=False), escape(subtitle or "", quote=False)
    html = f"<span style='font-size:15pt; font-weight:600'>{title}</span>"
    if subtitle:
        html += f"<br><span style='font-size:10.5pt; color:#555555'>{subtitle}</span>"
    widget.addLabel(html, row=0, col=0, colspan=colspan, color=FOREGROUND, justify="center")
    return 1


# ---- what gets drawn -----------------------------------------------------------------------


def view_tuple(view) -> tuple[float, float, float, float]:
    """``(w1_min, w1_max, w2_min, w2_max)`` of a ``View`` or of any four numbers."""
    if hasattr(view, "w1_min"):
        view = (view.w1_min, view.w1_max, view.w2_min, view.w2_max)
    x0, x1, y0, y1 = (float(v) for v in view)
    return (x0, x1, y0, y1)


class Shading:
    """Loss → colour value: ``log10(loss − min + ε)`` when the loss spans a wide range
    (Rosenbrock's walls are thousands of times its valley: most of the view is in the bottom
    tenth of the range), the loss itself otherwise; what is not finite takes the top colour.
    Fixed once per surface, so that the app's view, re-evaluating the grid after a zoom,
    keeps its colours."""

    def __init__(self, z: np.ndarray):
        z = np.asarray(z, float)
        finite = z[np.isfinite(z)]
        self.log = False
        self.low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 1.0
        top = high - self.low
        self.eps = 1.0
        if finite.size and top > 0 and math.isfinite(top):
            # linear colours hide everything that happens at the bottom of a deep valley
            self.log = bool(np.mean(finite - self.low < 0.1 * top) >= LOG_SHADING_FRACTION)
            # ε: the loss difference below which colours stop changing, the floor of the few
            # lowest pixels (so that the colour range is spent on what the view shows)
            self.eps = max(float(np.percentile(finite - self.low, 1.0)), top * 1e-8, 1e-300)
        values = self(z)
        lo, hi = float(values.min()), float(values.max())
        self.levels = (lo, hi if hi > lo else lo + 1.0)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        finite = np.isfinite(z)
        if not finite.all():  # overflowed far out: the top colour
            z = np.where(finite, z, z[finite].max() if finite.any() else self.low)
        if not self.log:
            return z
        return np.log10(np.maximum(z - self.low, 0.0) + self.eps)


def shade_surface(z: np.ndarray) -> tuple[np.ndarray, bool]:
    """Finite values to colour a loss grid by (see ``Shading``), and whether they are
    logarithmic."""
    shading = Shading(z)
    return shading(z), shading.log


def _drawable_path(history, run: int) -> np.ndarray:
    """The run's finite positions up to its last finite point, shape (n, 2)."""
    last = history.last_finite(run)
    points = np.asarray(history.coords[: last + 1, run], float)
    keep = np.isfinite(points).all(axis=1)
    return points[keep]


def _fit_view(view, paths: Sequence[np.ndarray], grow: float = 1.0) -> tuple[float, ...]:
    """The view widened (by at most ``grow`` of its size on each side) to hold the paths."""
    x0, x1, y0, y1 = view
    if not paths or not any(len(p) for p in paths):
        return view
    points = np.concatenate([p for p in paths if len(p)])
    width, height = x1 - x0, y1 - y0
    lo = np.maximum(points.min(axis=0), (x0 - grow * width, y0 - grow * height))
    hi = np.minimum(points.max(axis=0), (x1 + grow * width, y1 + grow * height))
    nx0, ny0 = min(x0, lo[0]), min(y0, lo[1])
    nx1, ny1 = max(x1, hi[0]), max(y1, hi[1])
    # a little room around a path that had to be let in
    pad_x = 0.03 * (nx1 - nx0) if (nx0, nx1) != (x0, x1) else 0.0
    pad_y = 0.03 * (ny1 - ny0) if (ny0, ny1) != (y0, y1) else 0.0
    return (
        nx0 - pad_x * (nx0 < x0),
        nx1 + pad_x * (nx1 > x1),
        ny0 - pad_y * (ny0 < y0),
        ny1 + pad_y * (ny1 > y1),
    )


def _in_box(points: np.ndarray, box) -> np.ndarray:
    """Which of the points, shape (n, 2), lie in ``box = (x0, x1, y0, y1)`` (edges included)."""
    x0, x1, y0, y1 = box
    x, y = points[:, 0], points[:, 1]
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _inside(point, view, slack: float = 1e-9) -> bool:
    x0, x1, y0, y1 = view
    sx, sy = slack * (x1 - x0), slack * (y1 - y0)
    return bool(x0 - sx <= point[0] <= x1 + sx and y0 - sy <= point[1] <= y1 + sy)


def clip_polyline(points: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parts of a polyline inside ``box = (x0, x1, y0, y1)`` (Liang–Barsky, segment by
    segment): ``x``, ``y`` and pyqtgraph's ``connect`` array (point i joins point i + 1)."""
    x0, x1, y0, y1 = box
    xs: list[float] = []
    ys: list[float] = []
    joins: list[bool] = []
    points = np.asarray(points, float)
    if len(points) and _in_box(points, box).all():
        connect = np.ones(len(points), bool)
        connect[-1] = False
        return points[:, 0].copy(), points[:, 1].copy(), connect
    if len(points) == 1:
        if _inside(points[0], box):
            return points[:, 0].copy(), points[:, 1].copy(), np.zeros(1, bool)
        return np.zeros(0), np.zeros(0), np.zeros(0, bool)
    open_end = None  # the end of the last kept segment, if the next one may continue it
    for a, b in itertools.pairwise(points):
        d = b - a
        t0, t1 = 0.0, 1.0
        visible = True
        for p, q in ((-d[0], a[0] - x0), (d[0], x1 - a[0]), (-d[1], a[1] - y0), (d[1], y1 - a[1])):
            if p == 0:
                if q < 0:
                    visible = False
                    break
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                visible = False
                break
        if not visible:
            open_end = None
            continue
        start, end = a + t0 * d, a + t1 * d
        if open_end is not None and t0 == 0.0:
            joins[-1] = True  # continue the polyline
        else:
            if joins:
                joins[-1] = False
            xs.append(float(start[0]))
            ys.append(float(start[1]))
            joins.append(True)
        xs.append(float(end[0]))
        ys.append(float(end[1]))
        joins.append(False)
        open_end = end if t1 == 1.0 else None
    return np.asarray(xs), np.asarray(ys), np.asarray(joins, bool)


def _exit_point(points: np.ndarray, view) -> np.ndarray:
    """Where a diverging path is last seen: its last point if that is in the view, else
    where it crosses the edge of the view for good."""
    x0, x1, y0, y1 = view
    inside = _in_box(points, view)
    if inside[-1] or not inside.any():
        return points[-1]
    i = int(np.flatnonzero(inside)[-1])
    a, b = points[i], points[i + 1]
    # the largest t in [0, 1] that keeps a + t (b − a) inside the box
    t = 1.0
    for k, (low, high) in enumerate(((x0, x1), (y0, y1))):
        d = b[k] - a[k]
        if d > 0 and b[k] > high:
            t = min(t, (high - a[k]) / d)
        elif d < 0 and b[k] < low:
            t = min(t, (low - a[k]) / d)
    return a + t * (b - a)


def _quiet_corner(paths, minima, view) -> tuple[int, int]:
    """The legend's offset: the corner of the view that the fewest path points cross."""
    x0, x1, y0, y1 = view
    points = [p for p in paths if len(p)]
    points.append(np.asarray(minima, float).reshape(-1, 2))
    allpts = np.concatenate(points) if points else np.zeros((0, 2))
    u = (allpts[:, 0] - x0) / (x1 - x0)
    v = (allpts[:, 1] - y0) / (y1 - y0)
    corners = {  # offset: (in the right third?, in the top third?)
        (-12, 12): (u > 0.62) & (v > 0.68),
        (12, 12): (u < 0.38) & (v > 0.68),
        (-12, -12): (u > 0.62) & (v < 0.32),
        (12, -12): (u < 0.38) & (v < 0.32),
    }
    return min(corners, key=lambda offset: int(corners[offset].sum()))


def pull_in(points: np.ndarray, view) -> np.ndarray:
    """Points absurdly far outside the view (a run on its way to infinity) pulled in to a
    box ``FAR_FACTOR`` views wide, so that Qt never paints astronomically long lines."""
    x0, x1, y0, y1 = view
    w, h = x1 - x0, y1 - y0
    lo = (x0 - FAR_FACTOR * w, y0 - FAR_FACTOR * h)
    hi = (x1 + FAR_FACTOR * w, y1 + FAR_FACTOR * h)
    return np.clip(points, lo, hi)


def _run_styles(n: int, labels=None, colors=None, visible=None):
    labels = list(labels) if labels is not None else [f"run {i}" for i in range(n)]
    colors = [run_color(i, c) for i, c in enumerate(colors or [None] * n)]
    visible = list(visible) if visible is not None else [True] * n
    return labels, colors, visible


def _legend_label(history, run: int, label: str) -> str:
    if history.diverged_at[run] >= 0:
        return f"{label} (diverged at step {int(history.diverged_at[run])})"
    return label


def problem_subtitle(problem) -> str | None:
    """A line under the title: the surface's formula, or the regression's loss."""
    surface = getattr(problem, "surface_fn", None)
    if surface is not None and getattr(surface, "formula", ""):
        return f"{surface.name}: f(w1, w2) = {surface.formula}"
    if getattr(problem, "n_examples", 0):
        return f"L(w) = mean over {problem.n_examples} examples of (w1·x1 + w2·x2 − y)²"
    return None


def surface_figure(
    problem,
    history=None,
    *,
    labels: Sequence[str] | None = None,
    colors: Sequence[str | None] | None = None,
    visible: Sequence[bool] | None = None,
    view=None,
    title: str | None = None,
    subtitle: str | None = None,
    size: tuple[int, int] = SURFACE_SIZE,
    resolution: int = SURFACE_RESOLUTION,
) -> pg.GraphicsLayoutWidget:
    """The loss surface as a colour map with contour lines, each run's path in its colour
    (a circle where it starts, a dot where it ends, a cross where it diverged), the known
    minima as stars, and a colour bar.

    ``view`` is a ``View`` or ``(w1_min, w1_max, w2_min, w2_max)``; by default the problem's
    view, widened where a path leaves it. ``labels`` default to the history's."""
    n = history.n_runs if history is not None else 0
    if history is not None and labels is None:
        labels = history.labels
    labels, colors, visible = _run_styles(n, labels, colors, visible)
    paths = [_drawable_path(history, r) if visible[r] else np.zeros((0, 2)) for r in range(n)]
    if view is None:
        # diverged runs leave for infinity: they must not drag the view along
        settled = [p for r, p in enumerate(paths) if history.diverged_at[r] < 0]
        view = _fit_view(view_tuple(problem.default_view()), settled)
    else:
        view = view_tuple(view)
    x0, x1, y0, y1 = view

    widget = _new_layout(size)
    subtitle = subtitle if subtitle is not None else problem_subtitle(problem)
    top = _add_title(widget, title, subtitle, colspan=2)
    plot: pg.PlotItem = widget.addPlot(row=top, col=0)
    names = tuple(getattr(problem, "axis_names", ("w1", "w2")))
    _style_plot(plot, names[0], names[1])

    # the surface, sampled at the centres of the image's pixels, which fill the view exactly
    w1 = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    w2 = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    z = problem.surface(w1, w2)
    shading = Shading(z)
    shade, logarithmic, (lo, hi) = shading(z), shading.log, shading.levels
    cmap = surface_colormap()
    image = pg.ImageItem(shade, axisOrder="row-major")
    image.setLookupTable(cmap.getLookupTable(nPts=256))
    image.setLevels((lo, hi))
    image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
    image.setZValue(-100)
    plot.addItem(image)
    contour_pen = pg.mkPen(CONTOUR_COLOR, width=1)
    for level in np.linspace(lo, hi, CONTOUR_LEVELS + 2)[1:-1]:
        contour = pg.IsocurveItem(shade, float(level), pen=contour_pen, axisOrder="row-major")
        contour.setParentItem(image)
        # isocurve vertices are in sample units; the image's pixels are offset by half
        contour.setPos(0.5, 0.5)

    bar = pg.ColorBarItem(
        values=(lo, hi),
        colorMap=cmap,
        interactive=False,
        width=14,
    )
    bar.setImageItem(image)
    bar.axis.setTextPen(pg.mkPen(FOREGROUND))
    bar.axis.setPen(pg.mkPen(FOREGROUND))
    bar.axis.setTickFont(_font(9))
    bar.axis.setLabel("log₁₀(loss − min)" if logarithmic else "loss", color=FOREGROUND, size="11pt")
    widget.addItem(bar, row=top, col=1)

    legend = _add_legend(plot, offset=_quiet_corner(paths, problem.minima(), view))
    for run in range(n):
        if not visible[run] or len(paths[run]) == 0:
            continue
        color = pg.mkColor(colors[run])
        points = pull_in(paths[run], view)
        # clipped here rather than by the view box, so that an SVG (which keeps no clip)
        # never shows a path running off the plot
        x, y, connect = clip_polyline(points, view)
        line = pg.PlotDataItem(
            x, y, connect=_connect_arg(connect), pen=pg.mkPen(color, width=2.2), antialias=True
        )
        plot.addItem(line)
        legend.addItem(line, _legend_label(history, run, labels[run]))
        if _inside(points[0], view):
            start = pg.ScatterPlotItem(
                [points[0, 0]],
                [points[0, 1]],
                symbol="o",
                size=10,
                pen=pg.mkPen(color, width=2),
                brush=pg.mkBrush("w"),
            )
            plot.addItem(start)
        diverged = history.diverged_at[run] >= 0
        last = _exit_point(points, view) if diverged else points[-1]
        if _inside(last, view):
            end = pg.ScatterPlotItem(
                [last[0]],
                [last[1]],
                symbol="x" if diverged else "o",
                size=15 if diverged else 11,
                pen=pg.mkPen("w", width=1.2),
                brush=pg.mkBrush(color),
            )
            end.setZValue(10)
            plot.addItem(end)

    minima = np.asarray(problem.minima(), float).reshape(-1, 2)
    inside = np.isfinite(minima).all(axis=1) & _in_box(minima, view)
    if inside.any():
        stars = pg.ScatterPlotItem(
            minima[inside, 0],
            minima[inside, 1],
            symbol="star",
            size=18,
            pen=pg.mkPen("#3d3d3d", width=1.2),
            brush=pg.mkBrush(MINIMUM_COLOR),
        )
        stars.setZValue(5)
        plot.addItem(stars)
        legend.addItem(stars, "minimum" if inside.sum() == 1 else "minima")

    plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
    plot.disableAutoRange()
    return widget


def loss_offset(problem, history) -> float:
    """What to subtract from the loss before a log axis: 0 when every recorded loss is
    positive, else the lowest known value (the minima's, or the lowest recorded)."""
    finite = history.loss[: history.count][np.isfinite(history.loss[: history.count])]
    if finite.size == 0 or finite.min() > 0:
        return 0.0
    candidates = [float(finite.min())]
    if problem is not None:
        minima = np.asarray(problem.minima(), float).reshape(-1, 2)
        for w1, w2 in minima:
            value = float(np.asarray(problem.surface([w1], [w2])).ravel()[0])
            if math.isfinite(value):
                candidates.append(value)
    return min(candidates)


def curves_figure(
    history,
    problem=None,
    *,
    labels: Sequence[str] | None = None,
    colors: Sequence[str | None] | None = None,
    visible: Sequence[bool] | None = None,
    title: str | None = None,
    size: tuple[int, int] = CURVES_SIZE,
) -> pg.GraphicsLayoutWidget:
    """Loss against step on a log axis (above) and the learning rate against step (below),
    one colour per run, with the legend beside them. Where some loss is not positive (a
    surface that dips below zero) the loss minus the lowest known value is drawn instead,
    and the axis says so."""
    n = history.n_runs
    labels, colors, visible = _run_styles(n, labels or history.labels, colors, visible)
    offset = loss_offset(problem, history)

    widget = _new_layout(size)
    row = _add_title(widget, title, None, colspan=2)
    loss_plot: pg.PlotItem = widget.addPlot(row=row, col=0)
    lr_plot: pg.PlotItem = widget.addPlot(row=row + 1, col=0)
    loss_name = "loss" if offset == 0 else f"loss − min  (min = {offset:.4g})"
    _style_plot(loss_plot, "", loss_name)
    _style_plot(lr_plot, "step (updates)", "learning rate")
    loss_plot.setLogMode(x=False, y=True)
    for plot in (loss_plot, lr_plot):
        plot.showGrid(x=True, y=True, alpha=0.18)
        plot.getAxis("left").setWidth(72)  # both plots' y axes line up
    lr_plot.getAxis("left").enableAutoSIPrefix(False)
    lr_plot.setXLink(loss_plot)
    loss_plot.setPreferredHeight(size[1] * 0.55)
    lr_plot.setPreferredHeight(size[1] * 0.35)
    layout = widget.ci.layout
    layout.setRowStretchFactor(row, 3)
    layout.setRowStretchFactor(row + 1, 2)
    legend = pg.LegendItem(
        brush=pg.mkBrush(255, 255, 255, 0),
        pen=None,
        labelTextColor=FOREGROUND,
        labelTextSize="10.5pt",
        verSpacing=-2,
    )
    legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    widget.addItem(legend, row=row, col=1)
    layout.setAlignment(legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

    curves = []  # (run, steps, losses) with the losses a log axis can take
    rate_range = (math.inf, -math.inf)
    for run in range(n):
        if not visible[run]:
            continue
        pen = pg.mkPen(colors[run], width=2)
        rows = history.rows_of(run)
        step = np.asarray(history.step[:rows], float)
        loss = np.asarray(history.loss[:rows, run], float) - offset
        keep = np.isfinite(loss) & (loss > 0)
        if keep.any():
            curves.append((run, step[keep], loss[keep]))
        lr = np.asarray(history.lr[:rows, run], float)
        keep = np.isfinite(lr)
        if keep.any():
            item = lr_plot.plot(step[keep], lr[keep], pen=pen, antialias=True)
            _thin_out(item, int(keep.sum()))
            rate_range = (
                min(rate_range[0], float(lr[keep].min())),
                max(rate_range[1], float(lr[keep].max())),
            )

    last_step = max(float(history.step[max(history.count - 1, 0)]), 1.0)
    loss_plot.setXRange(0, last_step, padding=0.01)
    if curves:
        lowest = min(float(c[2].min()) for c in curves)
        highest = max(float(c[2].max()) for c in curves)
        first = max(float(c[2][0]) for c in curves)
        # below |min| × 10⁻¹² a difference is rounding noise, not progress; and a run racing
        # to infinity must not squash the others: the axis stops at 10³ × the start
        lowest = max(lowest, abs(offset) * 1e-12)
        ceiling = max(min(highest, first * 1e3), lowest * 10)
        low, high = math.log10(lowest), math.log10(ceiling)
        pad = 0.04 * (high - low)
        box = (0.0, last_step, low - pad, high + pad)
        loss_plot.setYRange(low - pad, high + pad, padding=0)
        loss_plot.getAxis("left").setTicks(log_ticks(low - pad, high + pad))
        for run, step, loss in curves:
            # clipped to the axes in log space: an SVG keeps no clip (see surface_figure)
            x, y, connect = clip_polyline(np.column_stack([step, np.log10(loss)]), box)
            item = loss_plot.plot(
                x,
                10.0**y,
                connect=_connect_arg(connect),
                pen=pg.mkPen(colors[run], width=2),
                antialias=True,
            )
            _thin_out(item, len(x))
            legend.addItem(item, _legend_label(history, run, labels[run]))
            if history.diverged_at[run] >= 0 and _inside((step[-1], np.log10(loss[-1])), box):
                loss_plot.plot(
                    [step[-1]],
                    [loss[-1]],
                    pen=None,
                    symbol="x",
                    symbolSize=14,
                    symbolPen=pg.mkPen("w", width=1),
                    symbolBrush=pg.mkBrush(colors[run]),
                )

    if _log_rates(history, visible):
        lr_plot.setLogMode(x=False, y=True)
        low, high = math.log10(rate_range[0]), math.log10(rate_range[1])
        pad = 0.06 * (high - low)
        lr_plot.setYRange(low - pad, high + pad, padding=0)
        lr_plot.getAxis("left").setTicks(log_ticks(low - pad, high + pad))
    elif math.isfinite(rate_range[1]):
        # rates are ≥ 0: the axis starts at 0, so that a flat line reads as a rate
        top_rate = max(rate_range[1], 1e-12)
        lr_plot.setYRange(-0.04 * top_rate, 1.08 * top_rate, padding=0)
    return widget


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade_text(exponent: int) -> str:
    if -3 <= exponent <= 3:
        return f"{10.0**exponent:g}"
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks for a log axis spanning ``10**low … 10**high`` (positions in log10): decades
    labelled, 2× and 5× too when the span is short, unlabelled minor ticks in between."""
    first, last = math.floor(low), math.ceil(high)
    span = high - low
    if span > 12:
        every = math.ceil(span / 8)
        major = [(float(e), _decade_text(e)) for e in range(first, last + 1) if e % every == 0]
        return [major, []]
    major, minor = [], []
    for e in range(first, last + 1):
        for m in range(1, 10):
            pos = e + math.log10(m)
            if not low <= pos <= high:
                continue
            if m == 1:
                major.append((pos, _decade_text(e)))
            elif span < 2.5 and m in (2, 5):
                major.append((pos, f"{m * 10.0**e:g}"))
            elif span < 6:
                minor.append((pos, ""))
    return [major, minor]


def _connect_arg(connect: np.ndarray):
    """pyqtgraph's ``connect``: "all" for one unbroken line (which may be thinned out)."""
    return "all" if len(connect) < 2 or connect[:-1].all() else connect


def _thin_out(item: pg.PlotDataItem, points: int) -> None:
    """Long curves are drawn from their peaks only: a few thousand points fill the width.
    (Not for broken lines: thinning would misalign pyqtgraph's ``connect`` array.)"""
    if points > 4000 and isinstance(item.opts.get("connect"), str):
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)


def _log_rates(history, visible) -> bool:
    """A log axis for the learning rates when the runs' rates differ by 10× or more (a
    comparison of optimizers), a linear one for the shapes of schedules."""
    peaks = []
    for run in range(history.n_runs):
        lr = history.lr[: history.rows_of(run), run]
        lr = lr[np.isfinite(lr)]
        if visible[run] and lr.size:
            if lr.min() <= 0:
                return False
            peaks.append(float(lr.max()))
    return bool(peaks) and max(peaks) >= 10 * min(peaks)


def run_styles_of(experiment) -> tuple[list[str], list[str], list[bool]]:
    """Labels, colours and visibility of an experiment's runs."""
    runs = experiment.runs
    labels = [r.display_label for r in runs]
    colors = [run_color(i, r.color) for i, r in enumerate(runs)]
    visible = [bool(r.visible) for r in runs]
    return labels, colors, visible


# ---- writing files -------------------------------------------------------------------------


def _settle(widget: pg.GraphicsLayoutWidget) -> None:
    """Lay the figure out at its size without putting a window on screen."""
    if not widget.isVisible():
        widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        widget.show()
    QApplication.processEvents()


def _scaled_pen(pen, factor: float) -> QPen:
    pen = QPen(pen)
    pen.setWidthF(max(pen.widthF(), 1.0) * factor)
    return pen


@contextmanager
def _thicker_lines(widget: pg.GraphicsLayoutWidget, factor: float):
    """Line widths × ``factor`` while the figure is painted, then as they were: pyqtgraph's
    pens are cosmetic (a width in device pixels), so a high-resolution export would
    otherwise draw hairlines."""
    if factor == 1:
        yield
        return
    restore = []
    for item in widget.scene().items():
        if isinstance(item, pg.PlotDataItem):
            pen = item.opts.get("pen")
            if pen is not None:
                pen = pg.mkPen(pen)
                if pen.style() != Qt.PenStyle.NoPen:
                    restore.append((item.setPen, pen))
                    item.setPen(_scaled_pen(pen, factor))
        elif isinstance(item, pg.PlotCurveItem) and not isinstance(
            item.parentItem(), pg.PlotDataItem
        ):
            pen = pg.mkPen(item.opts["pen"])
            restore.append((item.setPen, pen))
            item.setPen(_scaled_pen(pen, factor))
        elif isinstance(item, pg.IsocurveItem):
            pen = QPen(item.pen)
            restore.append((item.setPen, pen))
            item.setPen(_scaled_pen(pen, factor))
    try:
        yield
    finally:
        for set_pen, pen in reversed(restore):
            set_pen(pen)


def render_image(widget: pg.GraphicsLayoutWidget, scale: int = 1) -> QImage:
    """The figure as an image of ``scale`` × its on-screen size.

    Painted like a high-DPI screen would (a device pixel ratio of ``scale``), so that text,
    markers and the legend, which pyqtgraph draws at a fixed pixel size, grow with the rest;
    lines are widened to match."""
    _settle(widget)
    width, height = widget.width(), widget.height()
    image = QImage(width * scale, height * scale, QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(pg.mkColor(BACKGROUND))
    with _thicker_lines(widget, scale):
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            widget.render(painter, QRectF(0, 0, width, height), widget.viewport().rect())
        finally:
            painter.end()
    return image


def export_png(widget: pg.GraphicsLayoutWidget, path: str | os.PathLike, scale: int = 1) -> Path:
    """Write the figure as PNG at ``scale`` × its on-screen size (1, 2 or 3 for slides),
    atomically; an ``OSError`` if it can't be written."""
    path = Path(path)
    if scale not in (1, 2, 3):
        raise ValueError(f"scale must be 1, 2 or 3, got {scale!r}")
    image = render_image(widget, scale)
    with atomic_path(path) as tmp:
        if not image.save(tmp, "PNG"):
            raise OSError(f"cannot write {path} (disk full or not writable?)")
    return path


def export_svg(widget: pg.GraphicsLayoutWidget, path: str | os.PathLike) -> Path:
    """Write the figure as SVG: lines and text stay vectors, the surface is a bitmap.

    Painted through Qt's own SVG generator; pyqtgraph 0.14's ``SVGExporter`` fails on the
    path data that Qt 6.8+ writes (pyqtgraph issue #3485)."""
    path = Path(path)
    _settle(widget)
    width, height = widget.width(), widget.height()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRect(0, 0, width, height))
    generator.setResolution(widget.logicalDpiX())  # text sized as on screen
    generator.setTitle(path.stem)
    generator.setDescription("Descent Lab figure")
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(QRect(0, 0, width, height), pg.mkColor(BACKGROUND))
        widget.render(painter, QRectF(0, 0, width, height), widget.viewport().rect())
    finally:
        painter.end()
    data = bytes(buffer.data())
    buffer.close()
    if not data:
        raise OSError(f"cannot draw {path} as SVG")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def dispose(widget: pg.GraphicsLayoutWidget) -> None:
    """Close a figure built for a file and let Qt free it."""
    widget.close()
    widget.deleteLater()


def render_run_figures(built, history, out_dir: str | os.PathLike, scale: int = 2) -> list[Path]:
    """``surface.png`` and ``curves.png`` of a finished experiment, into ``out_dir``."""
    out_dir = Path(out_dir)
    experiment = built.experiment
    labels, colors, visible = run_styles_of(experiment)
    styles = {"labels": labels, "colors": colors, "visible": visible, "title": experiment.title}
    view = getattr(experiment.problem, "view", None)
    written = []
    for name, build in (
        ("surface", lambda: surface_figure(built.problem, history, view=view, **styles)),
        ("curves", lambda: curves_figure(history, built.problem, **styles)),
    ):
        widget = build()
        try:
            written.append(export_png(widget, out_dir / f"{name}.png", scale=scale))
        finally:
            dispose(widget)
    QApplication.processEvents()
    return written
