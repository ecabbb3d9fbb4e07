"""Figures of a network's own views, for the Export menu: the decision boundaries of every
run side by side, and the loss along the line between two runs' solutions. Light
background whatever the theme, as every figure; drawn from the frame's ``NetworkPicture``
(what the worker computed), by the same panel code as the live views
(``gui.widgets.boundary_view.BoundaryPanel``) and the same colours (``gui.palette``).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from gui.figures import _add_title, _new_layout, _style_plot
from gui.palette import FOREGROUND, class_rgb, run_color
from gui.widgets.boundary_view import BoundaryPanel, accuracy_at, network_of, title_text
from gui.widgets.interpolation_view import (
    ACCURACY_CURVES,
    LOSS_CURVES,
    document_pair,
    finite_xy,
)

PANEL_SIZE = 360  # pixels a side of one run's boundary panel (square; others as large)
MAX_COLUMNS = 4
INTERPOLATION_SIZE = (900, 680)


def boundary_figure(frame, title: str | None = None) -> pg.GraphicsLayoutWidget:
    """Every visible run's decision boundary at the step the frame shows, side by side."""
    network = network_of(frame)
    boundary = None if network is None else network.boundary
    if boundary is None:
        raise ValueError("no decision boundary to export: a network on a 2-D data set has one")
    runs = frame.experiment.runs
    shown = [
        (i, col)
        for i, run in enumerate(runs)
        if run.visible and (col := frame.column(i)) is not None and col < boundary.classes.shape[0]
    ]
    if not shown:
        raise ValueError("no decision boundary to export: every run is hidden")
    cols = min(len(shown), MAX_COLUMNS)
    rows = math.ceil(len(shown) / cols)
    x0, x1, y0, y1 = boundary.rect
    # the panels take the rectangle's shape (the live panels' shape, which it was widened
    # to): a square panel would frame a wide rectangle between blank bands
    stretch = math.sqrt((x1 - x0) / (y1 - y0))
    width, height = round(PANEL_SIZE * stretch), round(PANEL_SIZE / stretch)
    widget = _new_layout((cols * width + 30, rows * (height + 24) + 80))
    top = _add_title(
        widget,
        title,
        f"decision boundaries at step {int(boundary.step):,}: colour = predicted class,"
        " stronger where the network is surer; dots = training points",
        colspan=cols,
    )
    labels = np.asarray(boundary.labels, int)
    n_classes = max(int(labels.max(initial=0)), int(boundary.classes.max(initial=0))) + 1
    brushes = tuple(pg.mkBrush(*rgb) for rgb in class_rgb(n_classes))
    edge = pg.mkPen("#ffffff", width=0.8)
    for k, (i, col) in enumerate(shown):
        panel = BoundaryPanel()
        _style_plot(panel.plot, "x₁", "x₂")
        panel.show(boundary, col, n_classes)
        panel.show_points(boundary.points, boundary.labels, brushes, edge)
        accuracy, val, at = accuracy_at(frame, col, boundary.step)
        color = run_color(i, runs[i].color)
        text = title_text(runs[i].display_label, color, int(boundary.step), accuracy, val, at)
        panel.set_title(text, FOREGROUND)
        panel.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        widget.addItem(panel.plot, row=top + k // cols, col=k % cols)
    return widget


def interpolation_figure(frame, title: str | None = None) -> pg.GraphicsLayoutWidget:
    """Training and validation loss (above) and accuracy (below) along
    θ = (1 − t)·θ_A + t·θ_B, the two runs marked at t = 0 and t = 1."""
    network = network_of(frame)
    interpolation = None if network is None else network.interpolation
    if interpolation is None:
        raise ValueError("no interpolation to export: it is drawn for networks")
    runs = frame.experiment.runs
    i, j = document_pair(frame, interpolation.runs)

    def name(run: int) -> str:
        return runs[run].display_label if 0 <= run < len(runs) else f"run {run + 1}"

    widget = _new_layout(INTERPOLATION_SIZE)
    top = _add_title(
        widget, title, f"the straight line from {name(i)} (t = 0) to {name(j)} (t = 1)", 1
    )
    loss = widget.addPlot(row=top, col=0)
    accuracy = widget.addPlot(row=top + 1, col=0)
    accuracy.setXLink(loss)
    widget.ci.layout.setRowStretchFactor(top, 3)
    widget.ci.layout.setRowStretchFactor(top + 1, 2)
    _style_plot(loss, "", "loss (evaluation mode)")
    _style_plot(accuracy, "t   (θ = (1 − t)·θ_A + t·θ_B)", "accuracy")
    for plot in (loss, accuracy):
        plot.getAxis("left").enableAutoSIPrefix(False)  # not "accuracy (x0.001)"
    legend = loss.addLegend(
        offset=(-12, 12),
        brush=pg.mkBrush(255, 255, 255, 225),
        pen=pg.mkPen(190, 190, 190),
        labelTextColor=FOREGROUND,
        labelTextSize="10pt",
    )
    for plot, specs in ((loss, LOSS_CURVES), (accuracy, ACCURACY_CURVES)):
        for key, label, dashed in specs:
            values = interpolation.curves.get(key)
            if values is None:
                continue
            style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
            item = pg.PlotDataItem(
                *finite_xy(interpolation.t, values),
                pen=pg.mkPen(FOREGROUND, width=2.2, style=style),
                antialias=True,
            )
            plot.addItem(item)
            if plot is loss:
                legend.addItem(item, label)
    for run, t in ((i, 0.0), (j, 1.0)):
        color = run_color(run, runs[run].color) if 0 <= run < len(runs) else FOREGROUND
        for plot in (loss, accuracy):
            line = pg.InfiniteLine(
                pos=t, angle=90, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DotLine)
            )
            plot.addItem(line)
        text = pg.TextItem(
            html=f"<span style='color:{color}; font-weight:600'>{name(run)}</span>",
            anchor=(0.5, 1.0),
        )
        top_loss = np.nanmax(np.asarray(interpolation.curves.get("train_loss", [0.0]), float))
        text.setPos(t, float(top_loss) if np.isfinite(top_loss) else 0.0)
        loss.addItem(text, ignoreBounds=True)
    return widget
