"""The slice's legend never hides where the paths end: checked in scene coordinates, the
legend's drawn rectangle against each run's last revealed point mapped by the view box
(not by the placement code), for the two-moons example and for paths ending in each corner."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from gui import network_view as nv
from gui.theme import LIGHT
from gui.widgets.surface_view import SurfaceView
from tests.gui.hovering import hover
from tests.gui.moons_example import trained_moons
from tests.gui.network_fakes import NetCase, net_frame, picture, slice_surface, trained
from tests.gui.test_drawing import offscreen

MARKER_PIXELS = 6  # a dot's radius: an end this close to the legend is under its edge


def ends(network, head) -> np.ndarray:
    """Each run's last revealed finite point, from the picture's arrays."""
    rows = int(np.searchsorted(network.path_steps, head, side="right"))
    out = []
    for run in range(network.path_coords.shape[1]):
        coords = network.path_coords[:rows, run]
        finite = coords[np.isfinite(coords).all(axis=1)]
        out.append(finite[-1])
    return np.array(out)


def covered_ends(view, points) -> list:
    """The points (view coordinates) the legend's scene rectangle covers, with a margin."""
    QApplication.processEvents()
    rect = view.legend.sceneBoundingRect().adjusted(
        -MARKER_PIXELS, -MARKER_PIXELS, MARKER_PIXELS, MARKER_PIXELS
    )
    assert rect.width() > 50
    assert rect.height() > 20
    hidden = []
    for x, y in points:
        scene = view.viewbox.mapViewToScene(QPointF(float(x), float(y)))
        if rect.contains(scene):
            hidden.append((float(x), float(y)))
    return hidden


def with_surface(frame, rect):
    """The frame with a slice surface over ``rect`` (the view is fitted to it)."""
    import dataclasses

    snapshot = dataclasses.replace(frame.snapshot, surface=slice_surface(rect=rect))
    return dataclasses.replace(frame, snapshot=snapshot)


@pytest.fixture(scope="module")
def moons():
    """The two-moons example trained to the end and its picture on the trajectory plane,
    as the worker makes it."""
    experiment, built, history = trained_moons()
    live = nv.NetworkLive(built)
    live.update()
    assert live.picture is not None
    return NetCase(experiment, built, history), live.picture, live.default_rect


@pytest.mark.parametrize("size", [(660, 540), (940, 720)])  # the app at 1366×768, 1920×1080
def test_the_legend_hides_no_path_end_of_the_moons_example(qtbot, moons, size):
    case, network, rect = moons
    view = offscreen(qtbot, SurfaceView(None, LIGHT), size)
    head = int(network.path_steps[-1])
    for at in (head, head // 3):  # at the end, and a third of the way
        view.draw(with_surface(net_frame(case, network, head=at), rect))
        assert covered_ends(view, ends(network, at)) == []


@pytest.fixture(scope="module")
def case():
    return trained()


CORNERS = [(2.6, 2.6), (-2.6, 2.6), (2.6, -2.6), (-2.6, -2.6)]


def straight_paths(steps, targets) -> np.ndarray:
    """(K, R, 2): run r walks straight from (0, 0) to ``targets[r]``."""
    t = np.linspace(0.0, 1.0, len(steps))[:, None, None]
    return t * np.asarray(targets, float)[None]


@pytest.mark.parametrize("corner", CORNERS)
def test_paths_ending_in_any_corner_keep_their_ends_visible(qtbot, case, corner):
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps = np.arange(31)
    cx, cy = corner
    targets = [(cx, cy), (cx * 0.85, cy), (cx, cy * 0.85)]  # all three end in that corner
    net = picture(case, path_steps=steps, coords=straight_paths(steps, targets))
    view.draw(with_surface(net_frame(case, net), (-3.0, 3.0, -3.0, 3.0)))
    assert covered_ends(view, ends(net, 30)) == []


def test_with_three_corners_taken_the_legend_goes_to_the_fourth(qtbot, case):
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps = np.arange(31)
    net = picture(case, path_steps=steps, coords=straight_paths(steps, CORNERS[:3]))
    view.draw(with_surface(net_frame(case, net), (-3.0, 3.0, -3.0, 3.0)))
    assert covered_ends(view, ends(net, 30)) == []
    # the free corner is the bottom left: the legend's rectangle lies in that quadrant
    rect = view.legend.sceneBoundingRect()
    centre = view.viewbox.mapSceneToView(rect.center())
    assert centre.x() < 0
    assert centre.y() < 0


def test_the_legend_moves_when_the_view_does(qtbot, case):
    """Zoomed so that the ends sit where the legend was: it moves off them."""
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps = np.arange(31)
    net = picture(case, path_steps=steps, coords=straight_paths(steps, [(-2.6, -2.6)] * 3))
    view.draw(with_surface(net_frame(case, net), (-3.0, 3.0, -3.0, 3.0)))
    assert covered_ends(view, ends(net, 30)) == []
    # pan so that the ends lie in the top-right corner of the view
    view.viewbox.setRange(xRange=(-5.0, -2.4), yRange=(-5.0, -2.4), padding=0)
    assert covered_ends(view, ends(net, 30)) == []


def test_the_readout_keeps_clear_of_a_legend_along_the_bottom(qtbot, case):
    """Paths that fill the top send the legend to the bottom: the loss read-out (two lines
    near a path's point) moves to the top-left corner rather than run into it."""
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps = np.arange(31)
    targets = [(2.6, 2.6), (-2.6, 2.6), (0.0, 2.6)]
    net = picture(case, path_steps=steps, coords=straight_paths(steps, targets))
    view.draw(with_surface(net_frame(case, net), (-3.0, 3.0, -3.0, 3.0)))
    legend = view.plot_widget.mapFromScene(view.legend.sceneBoundingRect()).boundingRect()
    plot = view.plot_widget.mapFromScene(view.viewbox.sceneBoundingRect()).boundingRect()
    assert legend.center().y() > plot.center().y()  # the legend went to the bottom
    # the pointer moved there as a user would (tests/gui/hovering.py: why it waits for the
    # layout first, which once made this test fail after gui.app.main had run)
    assert "\n" in hover(qtbot, view, -2.6, 2.6)
    assert not view.readout.geometry().intersects(legend)


def test_the_legend_is_placed_from_a_sample_that_keeps_every_end(qtbot, case, monkeypatch):
    """Placed on every frame, the legend looks at a sample of the paths' points (each
    path's end among them), not all of them: with a sample of 10 of each path's 31 points
    it still keeps off the three corners taken."""
    import gui.widgets.surface_view as sv

    seen = []
    place = sv.quiet_place

    def spy(points, *args, **kwargs):
        seen.append(len(points))
        return place(points, *args, **kwargs)

    monkeypatch.setattr(sv, "quiet_place", spy)
    monkeypatch.setattr(sv, "LEGEND_SAMPLE_POINTS", 30)
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps = np.arange(31)
    net = picture(case, path_steps=steps, coords=straight_paths(steps, CORNERS[:3]))
    view.draw(with_surface(net_frame(case, net), (-3.0, 3.0, -3.0, 3.0)))
    assert covered_ends(view, ends(net, 30)) == []
    assert seen
    assert max(seen) <= 3 * (10 + 1)  # of 93 drawn: every 4th point and each end
    centre = view.viewbox.mapSceneToView(view.legend.sceneBoundingRect().center())
    assert centre.x() < 0
    assert centre.y() < 0
