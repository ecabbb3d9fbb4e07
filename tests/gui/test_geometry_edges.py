"""Edges of the Qt-free drawing math that the other geometry tests leave open (found by
mutation testing): boxes away from the origin, every side a path can leave or enter by,
single points, edges included, a second visit after a long first one, and the arrows' heads
on axes of different scales. Oracles: hand-computed points and the arrows' screen geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui import geometry

BOX = (2.0, 12.0, -3.0, 7.0)  # away from the origin: x0 and y0 count


def clipped(points, box=BOX):
    x, y, connect = geometry.clip_polyline(np.asarray(points, float), box)
    assert connect.dtype == bool
    return np.column_stack([x, y]), connect.tolist()


# ---- in the box, edges included -------------------------------------------------------------


def test_points_on_the_edges_are_in_the_box():
    edges = np.array([[2.0, 0.0], [12.0, 0.0], [5.0, -3.0], [5.0, 7.0], [2.0, 7.0]])
    assert geometry.in_box(edges, BOX).all()
    just_out = np.array([[1.999, 0.0], [12.001, 0.0], [5.0, -3.001], [5.0, 7.001]])
    assert not geometry.in_box(just_out, BOX).any()


# ---- clipping ---------------------------------------------------------------------------------


def test_a_single_point_is_drawn_only_inside():
    drawn, connect = clipped([[4.0, 5.0]])
    assert drawn.tolist() == [[4.0, 5.0]]
    assert connect == [False]
    # within the rounding slack (1e-9 of the box) of the edge: still drawn, where it is
    drawn, connect = clipped([[12.0 + 1e-9, 4.0]])
    assert drawn.tolist() == [[12.0 + 1e-9, 4.0]]
    assert connect == [False]
    drawn, connect = clipped([[50.0, 5.0]])
    assert drawn.shape == (0, 2)
    assert connect == []


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # leaves through the left edge x = 2: (4, 1) → (0, 3) crosses at t = 1/2
        ([[6.0, 0.0], [4.0, 1.0], [0.0, 3.0]], [[6, 0], [4, 1], [2, 2]]),
        # leaves through the bottom edge y = −3: (5, −1) → (7, −5) crosses at t = 1/2
        ([[5.0, 3.0], [5.0, -1.0], [7.0, -5.0]], [[5, 3], [5, -1], [6, -3]]),
        # enters through the left edge: (−2, 0) → (6, 4) crosses x = 2 at t = 1/2
        ([[-2.0, 0.0], [6.0, 4.0], [8.0, 4.0]], [[2, 2], [6, 4], [8, 4]]),
        # enters through the bottom edge: (4, −7) → (6, 1) crosses y = −3 at t = 1/2
        ([[4.0, -7.0], [6.0, 1.0]], [[5, -3], [6, 1]]),
        # a step of less than one unit out through the right edge
        ([[11.0, 0.0], [11.6, 0.0], [12.4, 0.0]], [[11, 0], [11.6, 0], [12, 0]]),
    ],
    ids=["out-left", "out-bottom", "in-left", "in-bottom", "short-step"],
)
def test_a_path_is_cut_exactly_on_the_edge_it_crosses(points, expected):
    drawn, connect = clipped(points)
    assert drawn == pytest.approx(np.array(expected, float))
    assert connect == [True] * (len(expected) - 1) + [False]  # one polyline


def test_a_path_along_an_edge_is_drawn_and_one_beside_it_is_not():
    drawn, connect = clipped([[3.0, 7.0], [9.0, 7.0], [20.0, 7.0]])  # along the top edge
    assert drawn == pytest.approx(np.array([[3, 7], [9, 7], [12, 7]], float))
    assert connect == [True, True, False]
    drawn, connect = clipped([[3.0, 8.0], [9.0, 8.0]])  # parallel to it, just above
    assert drawn.shape == (0, 2)
    assert connect == []


def test_a_second_visit_after_a_long_first_one_leaves_the_first_one_whole():
    points = [[3, 1], [4, 2], [5, 3], [5, 15], [8, 15], [8, 5], [9, 4]]
    drawn, connect = clipped(np.array(points, float))
    expected = [[3, 1], [4, 2], [5, 3], [5, 7], [8, 7], [8, 5], [9, 4]]
    assert drawn == pytest.approx(np.array(expected, float))
    assert connect == [True, True, True, False, True, True, False]


# ---- exit points ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # several points inside, then out through the left edge while rising
        ([[8.0, 0.0], [6.0, 1.0], [4.0, 2.0], [0.0, 4.0], [-50.0, 9.0]], [2.0, 3.0]),
        # out through the bottom while moving left: the x limit must not cut it short
        ([[6.0, 4.0], [5.0, 0.0], [3.0, -6.0], [3.0, -60.0]], [4.0, -3.0]),
        # out through the top before the right edge: the earlier crossing counts
        ([[8.0, 5.0], [12.0, 9.0], [40.0, 30.0]], [10.0, 7.0]),
        # a short step (less than one unit) out through the right edge
        ([[11.6, 0.0], [12.4, 0.0], [90.0, 0.0]], [12.0, 0.0]),
    ],
    ids=["left", "bottom", "top-first", "short-step"],
)
def test_the_exit_point_on_every_side(points, expected):
    points = np.array(points, float)
    assert geometry.exit_point(points, BOX) == pytest.approx(expected)


def test_a_path_that_ends_inside_is_last_seen_at_its_last_point():
    points = np.array([[3.0, 0.0], [40.0, 0.0], [5.0, 1.0]])
    assert geometry.exit_point(points, BOX).tolist() == [5.0, 1.0]


def test_far_points_are_pulled_in_to_fifty_views_of_each_axis():
    box = (2.0, 4.0, -10.0, 10.0)  # 2 wide, 20 high
    points = np.array([[1e300, 1e300], [-1e300, -1e300], [3.0, 0.0]])
    pulled = geometry.pull_in(points, box)
    assert pulled.tolist() == [[4.0 + 100.0, 10.0 + 1000.0], [2.0 - 100.0, -10.0 - 1000.0], [3, 0]]


# ---- arrows -----------------------------------------------------------------------------------


def test_arrow_pixels_measure_the_vector_on_screen():
    """(0, 1) with pixels 0.01 wide and 0.1 high is 10 pixels long on screen."""
    cap, knee = 60.0, geometry.ARROW_KNEE_PIXELS
    expected = cap * math.log1p(10 / knee) / math.log1p(cap / knee)
    assert geometry.arrow_pixels((0.0, 1.0), 0.01, 0.1, cap) == pytest.approx(expected)
    assert geometry.arrow_pixels((1.0, 0.0), 0.01, 0.1, cap) == pytest.approx(60.0)  # 100 px


@pytest.mark.parametrize(("length", "head"), [(40.0, 10.0), (12.0, 4.0), (1.0, 1.0 / 3)])
def test_arrow_shaft_and_head_in_screen_pixels(length, head):
    """On axes of different scales: the shaft ``length`` pixels along the vector's screen
    direction, two head strokes of min(10, length/3) pixels from the tip, 2.6 rad either
    side of the shaft."""
    px, py = 0.01, 0.1
    origin = np.array([1.0, 2.0])
    segments = np.array(geometry.arrow_segments(origin, (0.03, 0.4), px, py, length))
    assert segments.shape == (6, 2)
    screen = (segments - origin) / (px, py)  # in pixels from the origin
    u = np.array([3.0, 4.0]) / 5.0  # (0.03/0.01, 0.4/0.1) = (3, 4) pixels
    assert screen[0] == pytest.approx([0.0, 0.0])
    assert screen[1] == pytest.approx(u * length)
    sides = []
    for start, end in (screen[2:4], screen[4:6]):
        assert start == pytest.approx(u * length)  # each stroke starts at the tip
        stroke = end - start
        assert np.hypot(*stroke) == pytest.approx(head)
        assert np.dot(stroke, u) / head == pytest.approx(math.cos(2.6))
        sides.append(np.sign(u[0] * stroke[1] - u[1] * stroke[0]))
    assert sorted(sides) == [-1.0, 1.0]  # one stroke on each side of the shaft


def test_an_arrow_of_one_screen_pixel_direction_is_drawn_and_nothing_for_no_vector():
    px = py = 0.01
    assert len(geometry.arrow_segments((0, 0), (0.01, 0.0), px, py, 20)) == 6  # norm 1 px
    assert geometry.arrow_segments((0, 0), (0.0, 0.0), px, py, 20) == []
    assert geometry.arrow_segments((0, 0), (np.inf, 0.0), px, py, 20) == []
    assert geometry.arrow_segments((0, 0), (1.0, 0.0), px, py, 0.99) == []
