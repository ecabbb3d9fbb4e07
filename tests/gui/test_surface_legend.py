"""The slice's legend never hides where the paths end: checked in scene coordinates, the
legend's drawn rectangle against each run's last revealed point mapped by the view box
(not by the placement code), for the two-moons example and for paths ending in each corner."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from gui import geometry
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


# where a legend may sit, as path positions on the (-3, 3)² view, near its edges
PLACES = {
    "top right": (2.8, 2.8), "top left": (-2.8, 2.8), "bottom right": (2.8, -2.8),
    "bottom left": (-2.8, -2.8), "top": (0.0, 2.8), "bottom": (0.0, -2.8),
    "left": (-2.8, 0.0), "right": (2.8, 0.0),
}  # fmt: skip
CROWD = 60  # rows in which run 1 fills every place but the top corners, 10 points each


def playback_paths(extra=()) -> tuple[np.ndarray, np.ndarray]:
    """(steps, coords (K, 3, 2)): run 1 first puts 10 points in every place but the two top
    corners and goes to the centre; then run 0 goes from the centre to the top right and
    back, then to the top left and back, twice each: after every second row the two top
    corners hold as many points or one more or one fewer, and every end is at the centre.
    ``extra``: places run 0 then visits once each, back at the centre after them."""
    others = [p for name, p in PLACES.items() if not name.startswith("top ")]
    run1 = [others[k % len(others)] for k in range(CROWD)]
    run0 = [(0.0, 0.0)] * CROWD
    for corner in ("top right", "top left") * 2:
        run0 += [PLACES[corner], (0.0, 0.0)]
    # (a little apart: the drawn path keeps one of points that coincide)
    run0 += [np.add(PLACES[name], (0.0, -0.05 * i)) for i, name in enumerate(extra)]
    run0 += [(0.0, 0.0)]
    k = len(run0)
    run1 += [(0.0, 0.0)] * (k - CROWD)
    coords = np.stack([run0, run1, [(0.0, 0.0)] * k], axis=1).astype(float)
    return np.arange(k), coords


def legend_quadrant(view) -> tuple[bool, bool]:
    """(right, top): where the legend's drawn rectangle lies, in view coordinates."""
    QApplication.processEvents()
    centre = view.viewbox.mapSceneToView(view.legend.sceneBoundingRect().center())
    return centre.x() > 0, centre.y() > 0


def play(view, case, steps, coords, heads) -> list:
    net = picture(case, path_steps=steps, coords=coords)
    places = []
    for head in heads:
        view.draw(with_surface(net_frame(case, net, head=head), (-3.0, 3.0, -3.0, 3.0)))
        places.append(legend_quadrant(view))
    return places


def test_during_playback_the_legend_stays_between_two_nearly_equal_corners(qtbot, case):
    """Frame by frame the two top corners alternate in covering one point fewer: the legend
    picks one and stays there (it used to jump to whichever covered fewer, every frame)."""
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (660, 540))
    steps, coords = playback_paths()
    heads = range(CROWD + 1, CROWD + 9, 2)  # each corner visited and left: the ends centred
    places = play(view, case, steps, coords, heads)
    assert all(top for _, top in places)  # a top corner: the other places are crowded
    assert len(set(places)) == 1, places


def corner_points(counts: dict, plot=(600, 400)) -> np.ndarray:
    """``counts[place]`` points (pixels, y down) in a small square at that corner of the
    plot: inside a 100×50 legend placed there with the default margin."""
    w, h = plot
    centres = {(1.0, 0.0): (w - 40, 30), (0.0, 0.0): (40, 30), (1.0, 1.0): (w - 40, h - 30),
               (0.0, 1.0): (40, h - 30)}  # fmt: skip
    out = [np.add(centres[place], (i % 5, i // 5)) for place, n in counts.items() for i in range(n)]
    return np.array(out, float).reshape(-1, 2)


def test_the_legend_keeps_its_corner_unless_another_is_clearly_better():
    plot, legend = (600, 400), (100, 50)
    tr, tl, br, bl = (1.0, 0.0), (0.0, 0.0), (1.0, 1.0), (0.0, 1.0)
    crowded = {br: 30, bl: 30}  # the bottom corners and the edges' middles: out of the race
    no_marks = np.zeros((0, 2))

    def place(counts, current, marks=no_marks):
        points = corner_points({**crowded, **counts}, plot)
        w, h = plot
        middles = [(w / 2, 30), (w / 2, h - 30), (40, h / 2), (w - 40, h / 2)]
        points = np.vstack([points, np.repeat(middles, 30, axis=0)])
        return geometry.quiet_place(points, marks, plot, legend, current=current)

    assert place({tr: 5, tl: 4}, None) == tl  # no current place: the least covered
    assert place({tr: 5, tl: 4}, tr) == tr  # nearly equal: it stays
    assert place({tr: 5, tl: 3}, tr) == tr  # 3 is not under half of 5
    assert place({tr: 5, tl: 2}, tr) == tl  # 2 is: clearly better
    assert place({tr: 1, tl: 0}, tr) == tl  # a free corner is always better
    assert place({tr: 0, tl: 0}, tl) == tl  # (and a tie keeps the current one)
    # a run's dot under the legend: it moves to a place that hides none, however full
    marks = corner_points({tr: 1})
    assert place({tr: 2, tl: 6}, tr, marks) == tl
