"""Figures to files: PNG (at 1×, 2× or 3× for slides), SVG, and the headless runner's
``surface.png`` and ``curves.png``. Figures are laid out offscreen, without a window ever
appearing (``gui.offscreen`` picks Qt's offscreen platform when there is no display)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPen
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication

from engine.files import atomic_path
from gui.figures import curves_figure, run_styles_of, surface_figure
from gui.geometry import far_off_plane, off_plane_text, path_scale
from gui.network_view import project_states
from gui.palette import BACKGROUND


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


def run_figure_widgets(built, history) -> list[tuple[str, object]]:
    """The headless runner's figures, as ``(name, build)`` pairs: ``build()`` lays out the
    figure's widget (``surface``: the loss surface or a network's slice with every path;
    ``curves``)."""
    experiment = built.experiment
    labels, colors, visible = run_styles_of(experiment)
    styles = {"labels": labels, "colors": colors, "visible": visible, "title": experiment.title}
    view = getattr(experiment.problem, "view", None)
    # a network's slice: each path's distance from the plane in the legend, and the paths
    # far off it dashed, as the app draws them
    off_plane = final_off_plane(built)
    slice_labels, dashed = list(labels), None
    if off_plane is not None:
        dashed = [far_off_plane(*numbers) for numbers in off_plane]
        for run, numbers in enumerate(off_plane[: len(slice_labels)]):
            text = off_plane_text(*numbers)
            if text:
                slice_labels[run] += f" · {text}"
    surface_styles = {**styles, "labels": slice_labels, "dashed": dashed}
    return [
        ("surface", lambda: surface_figure(built.problem, history, view=view, **surface_styles)),
        ("curves", lambda: curves_figure(history, built.problem, **styles)),
    ]


def render_run_figures(built, history, out_dir: str | os.PathLike, scale: int = 2) -> list[Path]:
    """``surface.png`` and ``curves.png`` of a finished experiment, into ``out_dir``."""
    out_dir = Path(out_dir)
    written = []
    for name, build in run_figure_widgets(built, history):
        widget = build()
        try:
            written.append(export_png(widget, out_dir / f"{name}.png", scale=scale))
        finally:
            dispose(widget)
    QApplication.processEvents()
    return written


def final_off_plane(built) -> list[tuple[float, float, float]] | None:
    """Each run's final state's distance from the plane a network's surface is drawn on, its
    distance from the plane's origin, and its path's scale (``geometry.path_scale`` over the
    states the trainer kept and the final one), what ``off_plane_text`` and ``far_off_plane``
    take, as the app judges them (NaN for a run that diverged); None for a problem that is
    not a slice (or a network whose states spanned less than a plane)."""
    plane = getattr(built.problem, "plane", None)
    trainer = getattr(built, "trainer", None)
    if plane is None or trainer is None:
        return None
    final, _ = trainer.final_state()
    _, distance, norm = project_states(plane, np.asarray(final)[None])  # (1, R)
    if trainer.snapshots is not None:  # (projected as they are: no copy of the reservoir)
        norm = np.concatenate([project_states(plane, trainer.snapshots.view()[1])[2], norm])
    return [
        (float(distance[0, run]), float(norm[-1, run]), path_scale(norm[:, run]))
        for run in range(norm.shape[1])
    ]
