"""Hovering over a slice near a path's point names the run, the step and how far off the plane
its weights were there; the distances are worked out by hand from weights chosen here."""

from __future__ import annotations

import numpy as np
import pytest

from engine.plane import Plane
from gui.network_view import project_states
from gui.theme import LIGHT
from gui.widgets.surface_view import SurfaceView
from tests.gui.hovering import hover
from tests.gui.network_fakes import net_frame, picture, trained
from tests.gui.test_drawing import offscreen

STEPS = np.arange(0, 31, 2)  # a reservoir row every other step: row 10 is step 20


def weights() -> np.ndarray:
    """(K, R, 3) weights: run r at row k is (0.1·k, r − 1, 0.05·k·r) — the plane is the
    first two axes through 0, so the third coordinate is the distance off it — except run 2
    ('momentum') at row 10: (1, 2, 2), at distance 2 from the plane and 3 from the origin."""
    k = np.arange(len(STEPS), dtype=float)[:, None]
    r = np.arange(3, dtype=float)[None, :]
    theta = np.stack(np.broadcast_arrays(0.1 * k, r - 1, 0.05 * k * r), axis=2)
    theta[10, 2] = (1.0, 2.0, 2.0)
    return theta


@pytest.fixture(scope="module")
def case():
    return trained()


@pytest.fixture
def hovered(qtbot, case):
    """The view showing the picture, and a function that moves the pointer to (a, b) and
    returns the read-out's text."""
    plane = Plane(np.zeros(3), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    coords, distance, norm = project_states(plane, weights())
    net = picture(case, path_steps=STEPS, coords=coords, boundary=False, interpolation=False)
    import dataclasses

    net = dataclasses.replace(net, path_distance=distance, path_norm=norm)
    view = offscreen(qtbot, SurfaceView(None, LIGHT), (700, 600))

    def at(a: float, b: float, head: int = 30) -> str:
        view.draw(net_frame(case, net, head=head))
        view.viewbox.setRange(xRange=(-0.5, 2.0), yRange=(-1.5, 2.5), padding=0)
        return hover(qtbot, view, a, b)

    return view, at


def test_near_a_path_point_the_readout_names_run_step_and_off_plane_distance(hovered):
    view, at = hovered
    px, py = view.viewbox.viewPixelSize()
    text = at(1.0 + 3 * px, 2.0 - 2 * py)  # a few pixels from momentum's point at step 20
    lines = text.split("\n")
    assert lines[0].startswith("a = ")  # the loss at (a, b), as before
    # by hand: (1, 2, 2) lies 2 off the plane (its third coordinate), 3 = √(1 + 4 + 4) from
    # the origin: 2/3 = 67%
    assert lines[1] == "momentum, step 20: off-plane distance 2 (67% of ‖θ − origin‖)"


def test_another_runs_point_gives_its_own_numbers(hovered):
    _, at = hovered
    # sgd (run 0) at row 4 (step 8): (0.4, −1, 0): on the plane, 0.4² + 1 = 1.16 from origin
    assert at(0.4, -1.0).split("\n")[1] == "sgd, step 8: off-plane distance 0 (0% of ‖θ − origin‖)"
    # adam (run 1) at row 6 (step 12): (0.6, 0, 0.3): 0.3 off, √(0.36 + 0.09) = 0.6708 → 45%
    assert at(0.6, 0.0).split("\n")[1] == (
        "adam, step 12: off-plane distance 0.3 (45% of ‖θ − origin‖)"
    )


def test_away_from_the_paths_only_the_loss_is_shown(hovered):
    _, at = hovered
    assert "\n" not in at(1.8, -1.3)


def test_a_point_beyond_the_playhead_is_not_named(hovered):
    _, at = hovered
    # the playhead at step 18: momentum's point at step 20 is not drawn yet
    assert "step 20" not in at(1.0, 2.0, head=18)
