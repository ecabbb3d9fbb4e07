"""The decision-boundary view: each run's panel shows exactly the worker's predicted classes
(read back from the image's colours), as opaque as the prediction is confident, the training
points in their classes' colours, and a title with the run's label and its accuracy at the
step drawn (from the recorded rows); it follows the boundary the playhead brings."""

from __future__ import annotations

import dataclasses
import math
import time
import tomllib

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.experiment import build, parse_experiment
from gui.network_view import boundary_rect
from gui.palette import CLASS_COLORS, REGION_ALPHA
from gui.theme import LIGHT
from gui.widgets.boundary_view import COMPUTING, NO_BOUNDARY, BoundaryView, grid_columns
from tests.gui.network_fakes import net_frame, picture, trained
from tests.gui.test_drawing import offscreen
from tests.gui.waiting import PATIENCE_S


@pytest.fixture(scope="module")
def case():
    return trained()


@pytest.fixture
def view(qtbot):
    v = offscreen(qtbot, BoundaryView(None, LIGHT), (900, 420))
    return v


def hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[k : k + 2], 16) for k in (1, 3, 5))


def decoded_classes(rgba: np.ndarray) -> np.ndarray:
    """Which class each pixel's colour is (-1: none of the palette's)."""
    out = np.full(rgba.shape[:2], -1)
    for k, color in enumerate(CLASS_COLORS):
        out[(rgba[..., :3] == hex_rgb(color)).all(axis=2)] = k
    return out


def test_each_panel_shows_its_runs_predicted_classes(view, case):
    net = picture(case)
    view.draw(net_frame(case, net))
    b = net.boundary
    assert len(view.panels) == 3
    for run in range(3):
        panel = view.panel_of(run)
        rgba = panel.image.image
        np.testing.assert_array_equal(decoded_classes(rgba), b.classes[run])
        # the image fills the boundary's rectangle, row 0 at the bottom (y0)
        rect = panel.image.mapRectToParent(panel.image.boundingRect())
        x0, x1, y0, y1 = b.rect
        assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx(
            (x0, x1, y0, y1)
        )
        # surer predictions are more opaque: alpha = low + (high − low)·(p − ½)/(1 − ½)
        low, high = REGION_ALPHA
        expected = low + (high - low) * (b.confidence[run] - 0.5) / 0.5
        np.testing.assert_allclose(rgba[..., 3] / 255, expected, atol=1 / 255)


def test_the_training_points_are_drawn_in_their_classes_colours(view, case):
    net = picture(case)
    view.draw(net_frame(case, net))
    b = net.boundary
    data = view.panel_of(1).points.data
    np.testing.assert_array_equal(np.column_stack([data["x"], data["y"]]), b.points)
    colors = [brush.color().getRgb()[:3] for brush in data["brush"]]
    np.testing.assert_array_equal(colors, [hex_rgb(CLASS_COLORS[k]) for k in b.labels])


def test_titles_carry_the_label_and_the_accuracy_at_the_step_drawn(view, case):
    h = case.history
    net = picture(case)
    step = 12
    net = dataclasses.replace(net, boundary=dataclasses.replace(net.boundary, step=step))
    view.draw(net_frame(case, net, head=14))
    row = int(np.flatnonzero(h.step == step)[0])
    for run, label in enumerate(("sgd", "adam", "momentum")):
        title = view.panel_of(run).title
        assert label in title
        assert f"step {step}" in title
        assert f"accuracy {h.extra['accuracy'][row, run]:.1%}" in title
        assert f"validation {h.extra['val_accuracy'][row, run]:.1%}" in title


def test_the_panels_follow_the_boundary_the_playhead_brings(view, case):
    net = picture(case)
    view.draw(net_frame(case, net, head=10))
    later = dataclasses.replace(
        net.boundary, step=20, classes=1 - net.boundary.classes, confidence=net.boundary.confidence
    )
    view.draw(net_frame(case, dataclasses.replace(net, boundary=later), head=20))
    np.testing.assert_array_equal(decoded_classes(view.panel_of(2).image.image), later.classes[2])
    assert "step 20" in view.panel_of(2).title


def test_hidden_runs_get_no_panel_and_no_boundary_says_why(view, case):
    net = picture(case)
    experiment = case.experiment.model_copy(deep=True)
    experiment.runs[1].visible = False
    view.draw(net_frame(case, net, experiment=experiment))
    assert [p.run for p in view.panels] == [0, 2]
    view.draw(net_frame(case, dataclasses.replace(net, boundary=None)))
    assert view.stack.currentWidget() is view.placeholder
    assert view.placeholder.text() == COMPUTING
    view.draw(net_frame(case, None))
    assert view.placeholder.text() == NO_BOUNDARY


@pytest.mark.parametrize(
    ("n", "width", "height", "cols"),
    [(1, 900, 400, 1), (3, 900, 300, 3), (4, 600, 600, 2), (4, 1200, 300, 4), (6, 600, 400, 3)],
)
def test_panels_are_laid_out_as_large_as_they_fit(n, width, height, cols):
    assert grid_columns(n, width, height) == cols
    best = min(width / cols, height / math.ceil(n / cols))
    for other in range(1, n + 1):  # brute force: no other column count does better
        assert min(width / other, height / math.ceil(n / other)) <= best + 1e-9


@pytest.mark.parametrize("size", [(300, 760), (900, 300), (640, 500)])
def test_every_panel_frames_the_whole_grid(qtbot, case, size):
    v = BoundaryView(None, LIGHT)
    qtbot.addWidget(v)
    v.resize(*size)
    v.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    v.show()
    QApplication.processEvents()
    net = picture(case)
    for _ in range(2):  # a second frame, after the layout has settled, keeps the framing
        v.draw(net_frame(case, net))
        QApplication.processEvents()
    x0, x1, y0, y1 = net.boundary.rect
    for panel in v.panels:
        (vx0, vx1), (vy0, vy1) = panel.plot.getViewBox().viewRange()
        assert vx0 <= x0
        assert vy0 <= y0
        assert vx1 >= x1
        assert vy1 >= y1
        # and not much more: the grid fills the panel along one axis at least
        assert min((x1 - x0) / (vx1 - vx0), (y1 - y0) / (vy1 - vy0)) > 0.3
        assert max((x1 - x0) / (vx1 - vx0), (y1 - y0) / (vy1 - vy0)) > 0.9


MOONS = """
title = "moons, three runs"
seed = 0
steps = 40
[problem]
kind = "mlp"
dataset = "moons"
samples = 120
hidden = [8]
[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.1
[[runs]]
label = "momentum"
optimizer = "momentum"
lr = 0.1
[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.01
"""


@pytest.mark.parametrize("aspect", [0.5, 1.0, 1.6])
def test_the_boundary_rectangle_holds_the_points_at_the_panels_shape(aspect):
    points = np.random.default_rng(1).normal(size=(40, 2)) * [3.0, 1.0] + [1.0, -2.0]
    x0, x1, y0, y1 = boundary_rect(points, aspect)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(aspect)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * (high - low).max() / 2  # the margin, of the box's larger half-side
    assert x0 <= low[0] - pad + 1e-12
    assert x1 >= high[0] + pad - 1e-12
    assert y0 <= low[1] - pad + 1e-12
    assert y1 >= high[1] + pad - 1e-12
    assert (x0 + x1) / 2 == pytest.approx((low[0] + high[0]) / 2)  # centred on the data
    assert (y0 + y1) / 2 == pytest.approx((low[1] + high[1]) / 2)
    # and no larger than it must be: one axis is the padded box's own
    assert min(x1 - x0 - (high[0] - low[0]), y1 - y0 - (high[1] - low[1])) == pytest.approx(2 * pad)


def test_in_the_app_the_regions_fill_wide_panels_around_the_data(window, tmp_path):
    """At 1366 × 768 three runs' panels are wider than tall: the regions fill each panel at
    equal scales on both axes (a square grid left blank bands on both sides), and the
    training points, from a build of the file of its own, lie inside them."""
    path = tmp_path / "moons.toml"
    path.write_text(MOONS)
    window.resize(1366, 768)
    assert window.open_path(path, ask=False)
    window.controller.play()
    view = window.boundary_view

    def filled() -> bool:
        window.controller.current_frame()
        window.views.setCurrentWidget(view)  # its tab is there once the network's frame is
        if len(view.panels) != 3 or view.panel_aspect() is None:
            return False
        image = view.panels[0].image
        rect = image.mapRectToParent(image.boundingRect())
        return rect.width() > 0 and rect.width() / rect.height() == pytest.approx(
            view.panel_aspect(), rel=0.03
        )

    qtbot_wait(filled)
    aspect = view.panel_aspect()
    assert aspect > 1.15  # the premise: the panels are wider than tall
    x = np.asarray(build(parse_experiment(tomllib.loads(MOONS))).problem.split.x_train, float)
    low, high = x.min(axis=0), x.max(axis=0)
    for panel in view.panels:
        vb = panel.plot.getViewBox()
        (vx0, vx1), (vy0, vy1) = vb.viewRange()
        rect = panel.image.mapRectToParent(panel.image.boundingRect())
        # the data inside the regions, the regions over (nearly) the whole panel
        assert rect.left() < low[0]
        assert rect.right() > high[0]
        assert rect.top() < low[1]
        assert rect.bottom() > high[1]
        assert rect.width() / (vx1 - vx0) > 0.95
        assert rect.height() / (vy1 - vy0) > 0.95
        # equal scales: as many pixels per unit across as up
        px, py = vb.viewPixelSize()
        assert px == pytest.approx(py, rel=0.01)
        np.testing.assert_allclose(
            np.column_stack([panel.points.data["x"], panel.points.data["y"]]), x
        )


def qtbot_wait(condition) -> None:
    deadline = time.perf_counter() + PATIENCE_S
    while not condition():
        assert time.perf_counter() < deadline, "the regions never took the panels' shape"
        QApplication.processEvents()
        time.sleep(0.02)
