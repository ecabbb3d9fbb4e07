"""What the Export menu writes: figures (PNG at 1×/2×/3×, SVG) on a light background
whatever the theme, the trajectories as CSV, and the animation as GIF (or MP4 when ffmpeg is
available). Figures are drawn by ``gui.figures`` and written by ``gui.figure_files``, the
same code as the headless runner's; the animation films the app's own surface view,
offscreen, in the light theme. All three draw the surface through ``gui.surface_layer``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from engine.files import atomic_path
from engine.records import write_trajectories_csv
from engine.training import History
from gui import figure_files, figures, network_figures
from gui.controller import Frame
from gui.geometry import far_off_plane, off_plane_numbers, off_plane_text
from gui.palette import MINIMUM_COLOR, MINIMUM_EDGE, RUN_COLORS
from gui.theme import LIGHT

GIF_SIZE = (760, 640)
GIF_FRAMES = 72
GIF_FRAME_MS = 60


def _history(frame: Frame, count: int, diverged_at: np.ndarray) -> History | None:
    """The snapshot's history cut to ``count`` rows, with the runs' current names (a rename
    doesn't re-simulate)."""
    h = frame.snapshot.history
    if h is None:
        return None
    # by column: a run removed since the snapshot keeps the label it was computed with
    labels = [
        r.display_label if r is not None else h.labels[col]
        for col, r in enumerate(frame.runs_by_column())
    ]
    return dataclasses.replace(h, labels=labels, count=count, diverged_at=diverged_at)


def history_at(frame: Frame) -> History | None:
    """The history as shown: rows up to the playhead, divergence only where it is shown."""
    at = np.asarray(frame.snapshot.diverged_at).copy()
    at[at > frame.head] = -1
    return _history(frame, max(frame.rows, 1), at)


def history_computed(frame: Frame) -> History | None:
    """Everything computed so far (for the CSV)."""
    s = frame.snapshot
    return _history(frame, s.count, np.asarray(s.diverged_at).copy())


def _styles(frame: Frame, n: int):
    """Labels, colours and visibility of the history's first ``n`` columns: each its run's
    in the document (a column is not the document's run of that index while an older
    snapshot is shown); a column whose run was removed since is hidden."""
    labels, colors, visible = figures.run_styles_of(frame.experiment)
    out = ([], [], [])
    h = frame.snapshot.history
    for col in range(n):
        i = frame.column_run(col)
        if i is None:
            out[0].append(h.labels[col] if h is not None and col < len(h.labels) else "")
            out[1].append(colors[col] if col < len(colors) else "#808080")
            out[2].append(False)
        else:
            out[0].append(labels[i])
            out[1].append(colors[i])
            out[2].append(visible[i])
    return out


def surface_figure(frame: Frame, view=None):
    h = history_at(frame)
    labels, colors, visible = _styles(frame, h.n_runs)
    network = getattr(frame.snapshot, "network", None)
    if network is not None:
        return _slice_figure(frame, network, h, labels, colors, visible, view)
    if view is None:
        view = frame.experiment.problem.view
    return figures.surface_figure(
        frame.snapshot.built.problem,
        h,
        labels=labels,
        colors=colors,
        visible=visible,
        view=view,
        title=frame.experiment.title,
    )


def slice_paths(network, rows: int, n: int) -> list[np.ndarray]:
    """Each history column's first ``rows`` projected reservoir rows (those up to the
    playhead), as drawn live."""
    coords = np.asarray(network.path_coords)
    return [coords[:rows, col] if col < coords.shape[1] else np.zeros((0, 2)) for col in range(n)]


def _slice_figure(frame: Frame, network, h, labels, colors, visible, view):
    """A network's slice as the app shows it: the worker's loss over the plane (not
    recomputed here, on the GUI thread) and the projected paths up to the playhead."""
    surface = frame.snapshot.surface
    if surface is None:
        raise ValueError("nothing to export yet: the slice is still being computed")
    # each path's distance from the plane at the playhead, as the live legend says it
    rows = network.rows_to(frame.head)
    labels = list(labels)
    dashed = []
    for col in range(len(labels)):
        numbers = off_plane_at(network, rows, col)
        far = off_plane_text(*numbers)
        if far:
            labels[col] = f"{labels[col]} · {far}"
        dashed.append(far_off_plane(*numbers))
    return figures.surface_figure(
        frame.snapshot.built.problem,
        h,
        labels=labels,
        colors=colors,
        visible=visible,
        view=view,
        title=frame.experiment.title,
        subtitle=network.plane_text,
        grid=(surface.z, surface.rect),
        paths=slice_paths(network, rows, h.n_runs),
        dashed=dashed,  # far off the plane, as the live view draws them
    )


def off_plane_at(network, rows: int, col: int) -> tuple[float, float, float]:
    """Column ``col``'s off-plane numbers (``geometry.off_plane_numbers``) at its last
    finite row among the first ``rows`` (NaNs: none)."""
    coords = np.asarray(network.path_coords)
    if col >= coords.shape[1] or rows == 0:
        return math.nan, math.nan, math.nan
    finite = np.flatnonzero(np.isfinite(coords[:rows, col]).all(axis=1))
    if len(finite) == 0:
        return math.nan, math.nan, math.nan
    return off_plane_numbers(network, int(finite[-1]), col, rows)


FIGURES = ("surface", "curves", "boundary", "interpolation")


def figure_widget(frame: Frame, which: str, view=None):
    """The figure ``which`` (one of ``FIGURES``) of the frame, laid out for a file."""
    if which == "surface":
        return surface_figure(frame, view)
    if which == "curves":
        return curves_figure(frame)
    if which == "boundary":
        return network_figures.boundary_figure(frame, frame.experiment.title)
    if which == "interpolation":
        return network_figures.interpolation_figure(frame, frame.experiment.title)
    raise ValueError(f"figure: {which!r} is not one of {', '.join(FIGURES)}")


def curves_figure(frame: Frame):
    h = history_at(frame)
    labels, colors, visible = _styles(frame, h.n_runs)
    return figures.curves_figure(
        h,
        frame.snapshot.built.problem,
        labels=labels,
        colors=colors,
        visible=visible,
        title=frame.experiment.title,
    )


def export_figure(frame: Frame, which: str, path: str | os.PathLike, scale: int = 2, view=None):
    """Write the figure ``which`` (the surface, the curves, a network's decision boundaries
    or its interpolation) as PNG or SVG (by suffix)."""
    path = Path(path)
    if frame.snapshot.built is None or frame.snapshot.history is None:
        raise ValueError("nothing to export yet: the experiment has not been simulated")
    widget = figure_widget(frame, which, view)
    try:
        if path.suffix.lower() == ".svg":
            return figure_files.export_svg(widget, path)
        return figure_files.export_png(widget, path, scale=scale)
    finally:
        figure_files.dispose(widget)


def export_csv(frame: Frame, path: str | os.PathLike) -> Path:
    h = history_computed(frame)
    if h is None:
        raise ValueError("nothing to export yet: the experiment has not been simulated")
    return write_trajectories_csv(h, path)


def mp4_available() -> bool:
    """imageio writes MP4 through its ffmpeg plugin, which ``imageio-ffmpeg`` provides
    (with an ffmpeg binary of its own)."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def _grab(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return data[:, : w * 3].reshape(h, w, 3).copy()


def animation_frames(frame: Frame, count: int = GIF_FRAMES, size=GIF_SIZE, view=None):
    """Images of the surface view at ``count`` playheads from step 0 to the last computed."""
    from gui.widgets.surface_view import SurfaceView

    s = frame.snapshot
    h = s.history
    if h is None or s.built is None:
        raise ValueError("nothing to export yet: the experiment has not been simulated")
    last = int(h.step[s.count - 1])
    heads = np.unique(np.linspace(0, last, max(count, 2)).round().astype(int))
    view_widget = SurfaceView(None, LIGHT)
    view_widget.arrows_box.hide()
    view_widget.fit_button.hide()
    view_widget.resize(*size)
    view_widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    view_widget.show()
    images = []
    try:
        for head in heads:
            rows = int(np.searchsorted(h.step[: s.count], head, side="right"))
            f = dataclasses.replace(frame, head=int(head), rows=rows, new_data=True)
            view_widget.draw(f)
            if view is not None and head == heads[0]:
                (x0, x1), (y0, y1) = view
                view_widget.viewbox.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            view_widget.formula.setText(f"{frame.experiment.title} — step {int(head)}")
            # a network's slice: the title and step where the plane chooser is (no use in a
            # film), the plane's text under it as in the app
            view_widget.plane_chooser.hide()
            view_widget.formula.show()
            QApplication.processEvents()
            images.append(_grab(view_widget))
    finally:
        view_widget.close()
        view_widget.deleteLater()
    return images


def export_animation(
    frame: Frame, path: str | os.PathLike, count: int = GIF_FRAMES, view=None
) -> Path:
    """Write the animation as GIF (or MP4, by suffix), atomically."""
    import imageio.v3 as iio

    path = Path(path)
    frame = dataclasses.replace(frame, selected_run=-1)  # no run drawn thicker in a figure
    images = animation_frames(frame, count, view=view)
    images += [images[-1]] * 12  # rest on the result before looping
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".mp4":
            iio.imwrite(tmp, np.stack(images), fps=1000 / GIF_FRAME_MS, macro_block_size=8)
        else:
            _labels, colors, _ = _styles(frame, frame.snapshot.history.n_runs)
            markers = [
                MINIMUM_COLOR,
                MINIMUM_EDGE,
                "#ffffff",
                "#000000",
                LIGHT.plot_foreground,
            ]
            _write_gif(images, tmp, [*colors, *RUN_COLORS, *markers])
    return path


def _write_gif(images: list[np.ndarray], path: str, exact: list[str]) -> None:
    """One palette for every frame: the run colours (and markers) exactly, the rest from the
    last frame, where every path is drawn. Pillow's own choice, per frame or from the
    first, spends every entry on the surface's gradient and turns the paths muddy."""
    from PIL import Image

    exact_rgb = list(dict.fromkeys(tuple(pg_color(c)) for c in exact))[:64]
    shades = Image.fromarray(images[-1]).quantize(
        colors=256 - len(exact_rgb), method=Image.Quantize.MEDIANCUT
    )
    flat = [v for rgb in exact_rgb for v in rgb] + shades.getpalette()[: 3 * (256 - len(exact_rgb))]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + [0] * (768 - len(flat)))
    frames = [
        Image.fromarray(im).quantize(palette=palette, dither=Image.Dither.NONE) for im in images
    ]
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=GIF_FRAME_MS,
        loop=0,
        optimize=False,
    )


def pg_color(color: str) -> tuple[int, int, int]:
    c = QColor(color)
    return (c.red(), c.green(), c.blue())
