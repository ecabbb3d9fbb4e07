"""Publication figures of a finished experiment: the loss surface with every path, and the
loss and learning-rate curves. Drawn with pyqtgraph on a light background, for slides.

The same code serves the headless runner (``python main.py run ... --out DIR`` writes
``surface.png`` and ``curves.png`` through ``gui.figure_files.render_run_figures``,
offscreen) and the app's "export figure" command (``surface_figure``/``curves_figure`` build
a widget, ``gui.figure_files`` writes it). The surface is drawn by ``gui.surface_layer``, as
in the live view; what is drawn where comes from ``gui.geometry``, as in the live view.

Nothing that is not finite ever reaches pyqtgraph: the surface is shaded from finite values,
a diverged run is drawn up to its last finite point (a cross marks where it was last seen),
and the log-scaled loss axis only receives positive values. Lines are clipped to the axes
before they are handed over, so exported SVGs (which keep no clipping) look like the PNGs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QSizePolicy

from gui.geometry import (
    Shading,
    clip_polyline,
    finite_path,
    fit_view,
    in_box,
    inside,
    last_seen,
    log_floor,
    log_ticks,
    pixel_centres,
    pull_in,
    quiet_corner,
    thin_path,
    view_tuple,
)
from gui.offscreen import ensure_app
from gui.palette import (
    BACKGROUND,
    CONTOUR_COLOR,
    FOREGROUND,
    MINIMUM_COLOR,
    MINIMUM_EDGE,
    run_color,
    surface_colormap,
)
from gui.surface_layer import SurfaceLayer

SURFACE_SIZE = (900, 760)
CURVES_SIZE = (900, 720)
SURFACE_RESOLUTION = 320  # grid points per axis
FIGURE_PATH_POINTS = 20_000  # longer paths are thinned, keeping their shape


def _font(points: float, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(points)
    font.setBold(bold)
    return font


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


def _drawable_path(history, run: int) -> np.ndarray:
    """The run's finite positions up to its last finite point, shape (n, 2)."""
    return finite_path(history.coords[: history.last_finite(run) + 1, run])


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
    """A line under the title: the surface's formula, the regression's loss, or the
    problem's own (a network's plane)."""
    own = getattr(problem, "subtitle", None)  # a network says what its plane shows
    if isinstance(own, str):
        return own
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
    grid=None,
    paths: Sequence[np.ndarray] | None = None,
    dashed: Sequence[bool] | None = None,
) -> pg.GraphicsLayoutWidget:
    """The loss surface as a colour map with contour lines, each run's path in its colour
    (a circle where it starts, a dot where it ends, a cross where it diverged), the known
    minima as stars, and a colour bar.

    ``view`` is a ``View`` or ``(w1_min, w1_max, w2_min, w2_max)``; by default the problem's
    view, widened where a path leaves it. ``labels`` default to the history's.

    The app's export of a network's slice passes what it shows: ``grid`` = ``(z, rect)``, the
    worker's loss over the plane (drawn, not recomputed), and ``paths``, each run's projected
    rows up to the playhead, in place of the history's coordinates. ``dashed``: the runs drawn
    dashed, those far off the plane (``gui.geometry.far_off_plane``), as the app draws them."""
    n = history.n_runs if history is not None else 0
    if history is not None and labels is None:
        labels = history.labels
    labels, colors, visible = _run_styles(n, labels, colors, visible)
    if paths is None:
        paths = [_drawable_path(history, r) if visible[r] else np.zeros((0, 2)) for r in range(n)]
    else:
        paths = [finite_path(p) if visible[r] else np.zeros((0, 2)) for r, p in enumerate(paths)]
    if view is None and grid is not None:
        view = view_tuple(grid[1])
    if view is None:
        # diverged runs leave for infinity: they must not drag the view along
        settled = [p for r, p in enumerate(paths) if history.diverged_at[r] < 0]
        view = fit_view(view_tuple(problem.default_view()), settled)
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
    if grid is not None:
        z, grid_box = np.asarray(grid[0], float), view_tuple(grid[1])
    else:
        z, grid_box = problem.surface(*pixel_centres(view, resolution)), view
    shading = Shading(z)
    logarithmic, (lo, hi) = shading.log, shading.levels
    cmap = surface_colormap()
    layer = SurfaceLayer(plot)
    layer.set_look(cmap, CONTOUR_COLOR)
    layer.show(z, grid_box, shading)
    image = layer.image

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

    legend = _add_legend(plot, offset=quiet_corner(paths, problem.minima(), view))
    for run in range(n):
        if not visible[run] or len(paths[run]) == 0:
            continue
        color = pg.mkColor(colors[run])
        points = pull_in(paths[run], view)
        # clipped here rather than by the view box, so that an SVG (which keeps no clip)
        # never shows a path running off the plot; a long path thinned as in the app
        x, y, connect = clip_polyline(points[thin_path(points, view, FIGURE_PATH_POINTS)], view)
        far = dashed is not None and run < len(dashed) and bool(dashed[run])
        style = Qt.PenStyle.DashLine if far else Qt.PenStyle.SolidLine
        line = pg.PlotDataItem(
            x,
            y,
            connect=_connect_arg(connect),
            pen=pg.mkPen(color, width=2.2, style=style),
            antialias=True,
        )
        plot.addItem(line)
        legend.addItem(line, _legend_label(history, run, labels[run]))
        if inside(points[0], view):
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
        last = last_seen(points, view, diverged)
        if inside(last, view):
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
    shown = np.isfinite(minima).all(axis=1) & in_box(minima, view)
    if shown.any():
        stars = pg.ScatterPlotItem(
            minima[shown, 0],
            minima[shown, 1],
            symbol="star",
            size=18,
            pen=pg.mkPen(MINIMUM_EDGE, width=1.2),
            brush=pg.mkBrush(MINIMUM_COLOR),
        )
        stars.setZValue(12)  # above the runs' dots: a run that found one hides nothing
        plot.addItem(stars)
        legend.addItem(stars, "minimum" if shown.sum() == 1 else "minima")

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
    and the axis says so. A network's figure (a history with an ``accuracy`` column) has an
    accuracy plot between the two, and the validation loss and accuracy dashed beside the
    training ones, where there is a validation split (both evaluated on the rows the
    trainer evaluates, in evaluation mode: the CSV's loss, accuracy, val_loss,
    val_accuracy)."""
    n = history.n_runs
    labels, colors, visible = _run_styles(n, labels or history.labels, colors, visible)
    offset = loss_offset(problem, history)
    network = "accuracy" in history.extra
    validation = network and _has_values(history, "val_loss")

    widget = _new_layout(size)
    row = _add_title(widget, title, None, colspan=2)
    loss_plot: pg.PlotItem = widget.addPlot(row=row, col=0)
    accuracy_plot = widget.addPlot(row=row + 1, col=0) if network else None
    lr_row = row + (2 if network else 1)
    lr_plot: pg.PlotItem = widget.addPlot(row=lr_row, col=0)
    loss_name = "loss" if offset == 0 else f"loss − min  (min = {offset:.4g})"
    if validation:
        loss_name += " (dashed: validation)"
    _style_plot(loss_plot, "", loss_name)
    _style_plot(lr_plot, "step (updates)", "learning rate")
    loss_plot.setLogMode(x=False, y=True)
    plots = [p for p in (loss_plot, accuracy_plot, lr_plot) if p is not None]
    for plot in plots:
        plot.showGrid(x=True, y=True, alpha=0.18)
        plot.getAxis("left").setWidth(72)  # the plots' y axes line up
        plot.getAxis("left").enableAutoSIPrefix(False)  # "loss (x1e+15)" mislabels decades
    lr_plot.setXLink(loss_plot)
    layout = widget.ci.layout
    if accuracy_plot is not None:
        _style_plot(accuracy_plot, "", "accuracy" + (" (dashed: validation)" if validation else ""))
        accuracy_plot.setXLink(loss_plot)
        accuracy_plot.setYRange(-0.02, 1.02, padding=0)
        ticks = [(v, f"{v:g}") for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
        accuracy_plot.getAxis("left").setTicks([ticks, []])
        loss_plot.setPreferredHeight(size[1] * 0.42)
        accuracy_plot.setPreferredHeight(size[1] * 0.28)
        lr_plot.setPreferredHeight(size[1] * 0.2)
        for r, stretch in ((row, 4), (row + 1, 3), (lr_row, 2)):
            layout.setRowStretchFactor(r, stretch)
    else:
        loss_plot.setPreferredHeight(size[1] * 0.55)
        lr_plot.setPreferredHeight(size[1] * 0.35)
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
        keep = np.isfinite(loss)
        if keep.any():
            curves.append((run, step[keep], loss[keep], False))
        if validation:
            val_loss = np.asarray(history.extra["val_loss"][:rows, run], float) - offset
            keep = np.isfinite(val_loss)
            if keep.any():
                curves.append((run, step[keep], val_loss[keep], True))
        if accuracy_plot is not None:
            for name, dashed in (("accuracy", False), ("val_accuracy", True)):
                if name not in history.extra:
                    continue
                values = np.asarray(history.extra[name][:rows, run], float)
                keep = np.isfinite(values)
                if keep.any():
                    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
                    item = accuracy_plot.plot(
                        step[keep],
                        values[keep],
                        pen=pg.mkPen(colors[run], width=2, style=style),
                        antialias=True,
                    )
                    _thin_out(item, int(keep.sum()))
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
        positive = np.concatenate([c[2][c[2] > 0] for c in curves])
        reaches_zero = any((c[2] <= 0).any() for c in curves)
        lowest = float(positive.min()) if positive.size else 1.0
        if reaches_zero:  # a loss of exactly 0 goes on along the floor, a decade below
            lowest = log_floor(lowest)
        # below |min| × 10⁻¹² a difference is rounding noise, not progress: the floor (and
        # what is below it is drawn on it, inside the plot); a run racing to infinity must
        # not squash the others: the axis stops at 10³ × the start
        lowest = max(lowest, abs(offset) * 1e-12)
        highest = float(positive.max()) if positive.size else lowest
        first = max(max(float(c[2][0]), lowest) for c in curves)
        ceiling = max(min(highest, first * 1e3), lowest * 10)
        low, high = math.log10(lowest), math.log10(ceiling)
        pad = 0.04 * (high - low)
        box = (0.0, last_step, low - pad, high + pad)
        loss_plot.setYRange(low - pad, high + pad, padding=0)
        loss_plot.getAxis("left").setTicks(log_ticks(low - pad, high + pad))
        for run, step, loss, dashed in curves:
            loss = np.maximum(loss, lowest)
            # clipped to the axes in log space: an SVG keeps no clip (see surface_figure)
            x, y, connect = clip_polyline(np.column_stack([step, np.log10(loss)]), box)
            style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
            item = loss_plot.plot(
                x,
                10.0**y,
                connect=_connect_arg(connect),
                pen=pg.mkPen(colors[run], width=2, style=style),
                antialias=True,
            )
            _thin_out(item, len(x))
            if dashed:
                continue  # (the run's training curve names it in the legend)
            legend.addItem(item, _legend_label(history, run, labels[run]))
            if history.diverged_at[run] >= 0 and inside((step[-1], np.log10(loss[-1])), box):
                loss_plot.plot(
                    [step[-1]],
                    [loss[-1]],
                    pen=None,
                    symbol="x",
                    symbolSize=14,
                    symbolPen=pg.mkPen("w", width=1),
                    symbolBrush=pg.mkBrush(colors[run]),
                )

    # a rate near the largest float (lr = 1e308 is a valid file, it diverges) overflows a
    # linear axis's arithmetic (1.08 × 1e308 = inf): it gets the log axis
    if _log_rates(history, visible) or rate_range[1] > HUGE_RATE:
        lr_plot.setLogMode(x=False, y=True)
        low, high = math.log10(rate_range[0]), math.log10(rate_range[1])
        pad = 0.06 * (high - low) or 0.5
        lr_plot.setYRange(low - pad, high + pad, padding=0)
        lr_plot.getAxis("left").setTicks(log_ticks(low - pad, high + pad))
    elif math.isfinite(rate_range[1]):
        # rates are ≥ 0: the axis starts at 0, so that a flat line reads as a rate
        top_rate = max(rate_range[1], 1e-12)
        lr_plot.setYRange(-0.04 * top_rate, 1.08 * top_rate, padding=0)
    return widget


HUGE_RATE = 1e300  # beyond this a linear rate axis can't be laid out (see curves_figure)


def _has_values(history, name: str) -> bool:
    """Whether the history's column ``name`` holds any value (val_loss without a
    validation split is all NaN)."""
    values = history.extra.get(name)
    return values is not None and bool(np.isfinite(values[: history.count]).any())


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
