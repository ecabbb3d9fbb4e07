"""Figures for slides and for the headless runner: they render offscreen, are not blank,
use each run's colour, survive a diverged run, and never hand NaN or inf to pyqtgraph."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from engine.experiment import build, parse_experiment
from gui import figure_files, figures, geometry, palette

TWO_RUNS = {
    "title": "Figures test",
    "steps": 120,
    "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.5, 2.0]},
    "runs": [
        {"label": "momentum", "optimizer": "momentum", "lr": 0.001},
        {"label": "adam", "optimizer": "adam", "lr": 0.05, "color": "#00aa00"},
    ],
}

DIVERGING = {
    "title": "Too large",
    "steps": 60,
    "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.2, 1.0]},
    "runs": [
        {"label": "fine", "optimizer": "sgd", "lr": 0.001},
        {"label": "wild", "optimizer": "sgd", "lr": 0.01},
    ],
}

SADDLE = {  # losses below zero: the curves draw loss − min on the log axis
    "steps": 80,
    "problem": {"kind": "function", "name": "saddle"},
    "runs": [{"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "lr": 0.05}],
}

REGRESSION = {
    "steps": 60,
    "problem": {"kind": "linear_regression", "samples": 64, "feature_scales": [1.0, 5.0]},
    "runs": [
        {"label": "batch 8", "optimizer": "sgd", "lr": 0.01, "batch_size": 8},
        {"label": "hidden", "optimizer": "sgd", "lr": 0.01, "visible": False},
        {"label": "cosine", "optimizer": "adam", "lr": 0.1, "schedule": {"kind": "cosine"}},
    ],
}


def train(data):
    built = build(parse_experiment(data))
    return built, built.trainer.run()


@pytest.fixture
def finite_only(monkeypatch):
    """Fail if any non-finite number reaches the pyqtgraph items the figures use."""
    seen = []

    def check(value, where):
        if isinstance(value, list | tuple | np.ndarray) and len(value):
            try:
                arr = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                return
            seen.append(where)
            assert np.isfinite(arr).all(), f"non-finite values passed to {where}"

    def wrap(cls, name):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            for i, a in enumerate(args):
                check(a, f"{cls.__name__}.{name} arg {i}")
            for key in ("x", "y", "pos", "image"):
                if key in kwargs:
                    check(kwargs[key], f"{cls.__name__}.{name} {key}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    wrap(pg.PlotDataItem, "setData")
    wrap(pg.ScatterPlotItem, "setData")
    wrap(pg.ImageItem, "setImage")
    wrap(pg.PlotCurveItem, "setData")
    return seen


def load(path: Path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull(), path
    return image


def sample_colors(image: QImage, step: int = 7) -> np.ndarray:
    """RGB of a grid of pixels."""
    pixels = [
        QColor(image.pixel(x, y)).getRgb()[:3]
        for y in range(0, image.height(), step)
        for x in range(0, image.width(), step)
    ]
    return np.asarray(pixels, dtype=float)


def near(pixels: np.ndarray, color: str, tolerance: float = 40) -> int:
    target = np.asarray(QColor(color).getRgb()[:3], dtype=float)
    return int((np.abs(pixels - target).sum(axis=1) < tolerance).sum())


def assert_not_blank(path: Path) -> np.ndarray:
    pixels = sample_colors(load(path))
    assert pixels.std() > 5  # a blank image has 0
    assert len({tuple(p) for p in pixels}) > 20
    return pixels


# ---- the headless figures ------------------------------------------------------------------


def test_render_run_figures_writes_two_non_blank_pngs(tmp_path, finite_only):
    built, history = train(TWO_RUNS)
    written = figure_files.render_run_figures(built, history, tmp_path)
    assert [p.name for p in written] == ["surface.png", "curves.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "surface.png"]
    surface = assert_not_blank(tmp_path / "surface.png")
    curves = assert_not_blank(tmp_path / "curves.png")
    # each run in its colour: the palette's first, and the run's own "#00aa00"
    for pixels in (surface, curves):
        assert near(pixels, palette.RUN_COLORS[0]) > 5
        assert near(pixels, "#00aa00") > 5
    # the slide background is light
    corner = QColor(load(tmp_path / "curves.png").pixel(2, 2))
    assert corner.lightness() > 240
    assert finite_only  # the check did look at the data


def test_headless_figures_are_twice_the_widget_size(tmp_path):
    built, history = train(TWO_RUNS)
    figure_files.render_run_figures(built, history, tmp_path)
    image = load(tmp_path / "surface.png")
    assert (image.width(), image.height()) == tuple(2 * s for s in figures.SURFACE_SIZE)


def test_a_diverged_run_is_drawn_up_to_its_last_finite_point(tmp_path, finite_only):
    built, history = train(DIVERGING)
    assert history.diverged_at[1] > 0
    assert history.diverged_at[0] < 0
    figure_files.render_run_figures(built, history, tmp_path)
    assert_not_blank(tmp_path / "surface.png")
    assert_not_blank(tmp_path / "curves.png")


def test_losses_below_zero_and_hidden_runs(tmp_path, finite_only):
    for data in (SADDLE, REGRESSION):
        built, history = train(data)
        out = tmp_path / data["problem"]["kind"]
        out.mkdir()
        figure_files.render_run_figures(built, history, out)
        assert_not_blank(out / "surface.png")
        assert_not_blank(out / "curves.png")


def test_a_view_from_the_experiment_is_used(tmp_path):
    data = {**TWO_RUNS, "problem": {**TWO_RUNS["problem"], "view": [-2, 2, -1, 3]}}
    built, history = train(data)
    widget = figures.surface_figure(built.problem, history, view=data["problem"]["view"])
    plot = widget.ci.getItem(1, 0)
    (x0, x1), (y0, y1) = plot.vb.viewRange()
    assert (x0, x1, y0, y1) == pytest.approx((-2, 2, -1, 3))


# ---- the pieces the app reuses ---------------------------------------------------------------


def test_export_png_scales_and_export_svg_writes_vector(tmp_path):
    built, history = train(TWO_RUNS)
    widget = figures.curves_figure(history, built.problem, title="curves")
    one = figure_files.export_png(widget, tmp_path / "one.png", scale=1)
    three = figure_files.export_png(widget, tmp_path / "three.png", scale=3)
    a, b = load(one), load(three)
    assert (b.width(), b.height()) == (3 * a.width(), 3 * a.height())
    svg = figure_files.export_svg(widget, tmp_path / "curves.svg")
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text
    assert "</svg>" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.svg", "one.png", "three.png"]
    with pytest.raises(ValueError, match="scale"):
        figure_files.export_png(widget, tmp_path / "x.png", scale=5)


def test_export_to_a_missing_folder_raises_oserror(tmp_path):
    built, history = train(TWO_RUNS)
    widget = figures.surface_figure(built.problem, history)
    with pytest.raises(OSError):  # noqa: PT011 - which OSError depends on the platform
        figure_files.export_png(widget, tmp_path / "missing" / "s.png")


def test_surface_figure_without_runs(tmp_path):
    built, _ = train(TWO_RUNS)
    widget = figures.surface_figure(built.problem, None, title="just the surface")
    assert_not_blank(figure_files.export_png(widget, tmp_path / "s.png"))


def test_run_colors():
    assert len(set(palette.RUN_COLORS)) == len(palette.RUN_COLORS) >= 10
    assert palette.run_color(0) == palette.RUN_COLORS[0]
    assert palette.run_color(len(palette.RUN_COLORS) + 2) == palette.RUN_COLORS[2]
    assert palette.run_color(3, "#123456") == "#123456"
    assert all(QColor(c).isValid() for c in palette.RUN_COLORS)


def test_shading_is_finite_and_logarithmic_for_deep_valleys():
    w = np.linspace(-2, 2, 50)
    x, y = np.meshgrid(w, w)
    rosen = (1 - x) ** 2 + 100 * (y - x * x) ** 2
    shade, log = geometry.shade_surface(rosen)
    assert log
    assert np.isfinite(shade).all()
    shade, log = geometry.shade_surface(0.5 * (x * x + 4 * y * y))
    assert not log
    bad = rosen.copy()
    bad[0, 0], bad[1, 1], bad[2, 2] = np.nan, np.inf, -np.inf
    shade, _ = geometry.shade_surface(bad)
    assert np.isfinite(shade).all()
    flat, _ = geometry.shade_surface(np.ones((4, 4)))
    assert np.isfinite(flat).all()


def test_log_ticks_label_decades():
    major, _ = geometry.log_ticks(-3.2, 1.5)
    assert [text for _, text in major] == ["0.001", "0.01", "0.1", "1", "10"]
    major, _ = geometry.log_ticks(-20, 2)
    assert "10⁻¹⁵" in [text for _, text in major]
    major, _ = geometry.log_ticks(-2.1, -0.9)
    assert "0.02" in [text for _, text in major]


# ---- a network's curves: accuracy, and validation dashed --------------------------------------

MOONS = {
    "steps": 40,
    "record_every": 1,
    "problem": {"kind": "mlp", "dataset": "moons", "samples": 60, "hidden": [6]},
    "runs": [
        {"optimizer": "sgd", "lr": 0.3, "batch_size": 10},
        {"optimizer": "adam", "lr": 0.05, "batch_size": 10},
    ],
}


def dashed(item) -> bool:
    return item.opts["pen"].style() == Qt.PenStyle.DashLine


def drawn_where_finite(item, history, column, run):
    """The item's points are the column's finite rows of the run, at their steps."""
    values = column[: history.count, run]
    keep = np.isfinite(values)
    x, y = item.getData()
    np.testing.assert_array_equal(x, history.step[: history.count][keep])
    return y, values[keep]


def test_a_networks_curves_show_accuracy_and_validation_dashed():
    built, history = train(MOONS)
    widget = figures.curves_figure(history, built.problem)
    loss_plot, accuracy_plot, lr_plot = (widget.ci.getItem(r, 0) for r in range(3))
    assert "validation" in loss_plot.getAxis("left").labelText
    assert "accuracy" in accuracy_plot.getAxis("left").labelText
    assert lr_plot.getAxis("bottom").labelText.startswith("step")
    items = accuracy_plot.listDataItems()
    assert [dashed(i) for i in items] == [False, True, False, True]  # per run: train, val
    for run in range(2):
        pair = items[2 * run : 2 * run + 2]
        for item, name in zip(pair, ("accuracy", "val_accuracy"), strict=True):
            y, expected = drawn_where_finite(item, history, history.extra[name], run)
            np.testing.assert_allclose(y, expected)
    losses = loss_plot.listDataItems()
    assert [dashed(i) for i in losses] == [False, True, False, True]
    y, expected = drawn_where_finite(losses[1], history, history.extra["val_loss"], 0)
    np.testing.assert_allclose(10.0**y, expected)  # (a log plot's items hold log10 values)
    legend = [label.text for _, label in widget.ci.getItem(0, 1).items]
    assert len(legend) == 2  # one entry a run: its training curve
    widget.close()


def test_without_a_validation_split_nothing_is_dashed_or_said():
    data = {**MOONS, "problem": {**MOONS["problem"], "validation_fraction": 0.0}}
    built, history = train(data)
    widget = figures.curves_figure(history, built.problem)
    loss_plot, accuracy_plot = widget.ci.getItem(0, 0), widget.ci.getItem(1, 0)
    assert "validation" not in loss_plot.getAxis("left").labelText
    assert "validation" not in accuracy_plot.getAxis("left").labelText
    for plot in (loss_plot, accuracy_plot):
        assert len(plot.listDataItems()) == 2
        assert not any(dashed(i) for i in plot.listDataItems())
    widget.close()
