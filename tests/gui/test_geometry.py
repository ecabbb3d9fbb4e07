"""The Qt-free drawing math (``gui.geometry``) against hand computations and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gui import geometry
from tests.oracles import polyline_deviation

BOX = (0.0, 10.0, 0.0, 10.0)


# ---- clipping and exit points --------------------------------------------------------------


def test_a_path_inside_the_box_comes_back_whole():
    points = np.array([[1.0, 1.0], [2.0, 5.0], [9.0, 9.0]])
    x, y, connect = geometry.clip_polyline(points, BOX)
    assert np.array_equal(np.column_stack([x, y]), points)
    assert connect.tolist() == [True, True, False]


def test_a_path_that_leaves_is_one_polyline_ending_on_the_edge():
    # (2, 2) → (6, 4) → (8, 8) → (14, 11): leaves through x = 10 at t = 1/3 of the last leg,
    # i.e. at (10, 9); a later point far out adds nothing
    points = np.array([[2.0, 2.0], [6.0, 4.0], [8.0, 8.0], [14.0, 11.0], [30.0, 40.0]])
    x, y, connect = geometry.clip_polyline(points, BOX)
    drawn = np.column_stack([x, y])
    assert drawn == pytest.approx(np.array([[2, 2], [6, 4], [8, 8], [10, 9]]))
    assert connect.tolist() == [True, True, True, False]  # one unbroken line


def test_a_path_that_comes_back_is_one_line_per_visit():
    # in, out through y = 10 at (5, 10), back in through y = 10 at (7, 10), then inside
    points = np.array([[5.0, 6.0], [5.0, 14.0], [7.0, 14.0], [7.0, 6.0], [8.0, 5.0]])
    x, y, connect = geometry.clip_polyline(points, BOX)
    drawn = np.column_stack([x, y])
    assert drawn == pytest.approx(np.array([[5, 6], [5, 10], [7, 10], [7, 6], [8, 5]]))
    assert connect.tolist() == [True, False, True, True, False]


def test_the_exit_point_is_where_the_path_crosses_the_edge_for_good():
    points = np.array([[5.0, 5.0], [9.0, 7.0], [13.0, 9.0], [500.0, 900.0]])
    # the last inside point (9, 7) to (13, 9) crosses x = 10 at t = 1/4: (10, 7.5)
    assert geometry.exit_point(points, BOX) == pytest.approx([10.0, 7.5])
    # a path whose last point is inside ends there; one never inside ends at its last point
    assert geometry.exit_point(points[:2], BOX) == pytest.approx([9.0, 7.0])
    far = np.array([[20.0, 20.0], [30.0, 30.0]])
    assert geometry.exit_point(far, BOX) == pytest.approx([30.0, 30.0])


def test_far_points_are_pulled_in_to_fifty_views():
    points = np.array([[1e300, -1e300], [5.0, 5.0]])
    pulled = geometry.pull_in(points, BOX)
    assert pulled[0] == pytest.approx([10 + 50 * 10, 0 - 50 * 10])
    assert pulled[1] == pytest.approx([5, 5])


# ---- the surface ---------------------------------------------------------------------------


def test_contours_of_a_plane_are_straight_lines_at_the_level():
    rows, cols = np.mgrid[0:6, 0:9]
    z = 2.0 * cols + 0.0 * rows  # the level 4.5 is at column 2.25 on every row
    seg = geometry.contour_segments(z, 4.5)
    assert seg.shape == (5, 2, 2)  # one segment per row of cells
    assert seg[:, :, 0] == pytest.approx(np.full((5, 2), 2.25))
    assert sorted(seg[:, :, 1].ravel()) == pytest.approx(sorted([0, 1, 1, 2, 2, 3, 3, 4, 4, 5]))


def test_contours_of_a_bowl_lie_on_the_circle():
    n = 81
    c = np.arange(n) - 40.0
    z = c[None, :] ** 2 + c[:, None] ** 2
    # r = 30.5 passes through no sample (a sample on the level gives zero-length pieces)
    seg = geometry.contour_segments(z, 30.5**2).reshape(-1, 2) - 40.0
    radius = np.hypot(seg[:, 0], seg[:, 1])
    # linear interpolation of r² along an edge: within a fraction of a sample of r = 30.5
    assert radius == pytest.approx(np.full_like(radius, 30.5), abs=0.02)
    assert len(seg) > 2 * 180  # all the way round
    # the circle is closed: every end point is shared by exactly two segments
    _, counts = np.unique(np.round(seg, 9), axis=0, return_counts=True)
    assert set(counts.tolist()) == {2}
    assert geometry.contour_segments(z, -1.0).shape == (0, 2, 2)


def test_a_saddle_cell_is_split_by_its_centre():
    z = np.array([[1.0, 0.0], [0.0, 1.0]])  # high corners bottom-left and top-right
    high_centre = geometry.contour_segments(z, 0.4)  # centre 0.5 ≥ 0.4: high corners joined
    low_centre = geometry.contour_segments(z, 0.6)
    assert len(high_centre) == len(low_centre) == 2

    def cut_corners(segments):
        return sorted(tuple(np.round(s.mean(axis=0))) for s in segments)

    # each segment cuts off one corner: the low ones (1, 0), (0, 1) when the centre is high
    assert cut_corners(high_centre) == [(0.0, 1.0), (1.0, 0.0)]
    assert cut_corners(low_centre) == [(0.0, 0.0), (1.0, 1.0)]


def test_contour_lines_are_joined_and_in_data_coordinates_at_pixel_centres():
    box = (-1.0, 1.0, 10.0, 14.0)
    w1, w2 = geometry.pixel_centres(box, 8)
    assert w1[0] == pytest.approx(-1 + 0.125)
    assert w2[-1] == pytest.approx(14 - 0.25)
    z = np.broadcast_to(w1[None, :], (8, 8))  # z = w1: the contour z = 0.3 is w1 = 0.3
    points, connect = geometry.contour_paths(z, [0.3], box)
    assert points[:, 0] == pytest.approx(np.full(len(points), 0.3))
    assert sorted(points[:, 1]) == pytest.approx(list(w2))  # one point per row, in order
    assert connect.tolist() == [True] * 7 + [False]  # one line, not seven segments
    # a bowl's contour is one closed line
    c = np.arange(81) - 40.0
    lines = geometry.contour_lines(c[None, :] ** 2 + c[:, None] ** 2, 30.5**2)
    assert len(lines) == 1
    assert lines[0][0] == pytest.approx(lines[0][-1])
    assert np.hypot(*(lines[0] - 40.0).T) == pytest.approx(np.full(len(lines[0]), 30.5), abs=0.02)


def test_grid_value_interpolates_a_plane_exactly():
    box = (-2.0, 2.0, 0.0, 1.0)
    w1, w2 = geometry.pixel_centres(box, 16)
    z = 3.0 + 2.0 * w1[None, :] - 5.0 * w2[:, None]
    for x, y in ((0.1, 0.3), (-1.0, 0.77), (1.5, 0.5)):
        assert geometry.grid_value(z, box, x, y) == pytest.approx(3 + 2 * x - 5 * y)
    assert math.isnan(geometry.grid_value(z, box, 3.0, 0.5))


def test_shading_levels_hold_the_contours():
    z = np.linspace(0, 1, 100).reshape(10, 10)
    shading = geometry.Shading(z)
    levels = shading.contour_levels(4)
    assert levels == pytest.approx([0.2, 0.4, 0.6, 0.8])


# ---- curves --------------------------------------------------------------------------------


def test_block_extremes_keep_each_blocks_lowest_and_highest():
    rng = np.random.default_rng(3)
    y = rng.normal(size=64)
    y[5] = np.nan
    out = geometry.block_extremes(y, 8)
    for b in range(8):
        block = y[8 * b : 8 * b + 8]
        assert out[2 * b] == np.nanmin(block)
        assert out[2 * b + 1] == np.nanmax(block)


# ---- thinning long paths -------------------------------------------------------------------


def stride_thinning(n: int, budget: int) -> np.ndarray:
    """What the app did before: every k-th point and the last."""
    k = math.ceil(n / budget)
    return np.unique(np.append(np.arange(0, n, k), n - 1))


def converging_spiral(n: int = 100_000) -> np.ndarray:
    """Big turning steps first (some 60 turns), then ever smaller ones: a momentum run
    circling in to its minimum."""
    k = np.arange(n)
    angle = np.cumsum(0.2 * np.exp(-k / 2000.0))
    r = np.exp(-k / 30000.0)
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def zigzag_then_crawl(n: int = 100_000) -> np.ndarray:
    """3000 zig-zag steps across a valley, then a slow straight crawl along it."""
    zig = np.column_stack([np.linspace(-1, 0, 3000), 0.05 * (-1.0) ** np.arange(3000)])
    crawl = np.column_stack([np.linspace(0, 1, n - 3000), np.zeros(n - 3000)])
    return np.concatenate([zig, crawl])


@pytest.mark.parametrize("path", [converging_spiral, zigzag_then_crawl], ids=lambda f: f.__name__)
def test_thinned_paths_keep_their_shape(path):
    box = (-1.0, 1.0, -1.0, 1.0)
    points = path()
    keep = geometry.thin_path(points, box, budget=6000)
    assert keep[0] == 0
    assert keep[-1] == len(points) - 1
    assert np.all(np.diff(keep) > 0)
    assert len(keep) <= 6000 + 1
    # within a thousandth of the view (under a pixel) of the full path
    assert polyline_deviation(points, keep, box) < 1e-3
    # what every-k-th-point thinning did: chords across the turns
    assert polyline_deviation(points, stride_thinning(len(points), 6000), box) > 1e-2


def test_short_paths_are_not_thinned_and_the_budget_holds_for_long_wild_ones():
    box = (0.0, 1.0, 0.0, 1.0)
    assert geometry.thin_path(np.zeros((50, 2)), box).tolist() == list(range(50))
    rng = np.random.default_rng(0)
    wild = rng.uniform(-1e6, 1e6, size=(200_000, 2))  # far outside: measured clamped
    keep = geometry.thin_path(wild, box, budget=5000)
    assert len(keep) <= 5001


def test_a_diverged_run_is_last_seen_on_the_edge():
    box = (0.0, 10.0, 0.0, 10.0)
    points = np.array([[5.0, 5.0], [5.0, 8.0], [5.0, 510.0]])
    assert geometry.last_seen(points, box, diverged=True) == pytest.approx([5.0, 10.0])
    assert geometry.last_seen(points, box, diverged=False) == pytest.approx([5.0, 510.0])


# ---- arrows, log floors, ticks -------------------------------------------------------------


def test_arrow_length_grows_with_the_vector_and_is_capped():
    px = py = 0.01  # data units per pixel
    lengths = [geometry.arrow_pixels((d, 0.0), px, py, cap=60) for d in (1e-6, 0.01, 0.1, 1, 100)]
    assert lengths[0] < 0.01  # a run at rest: no visible arrow
    assert all(a < b for a, b in itertools.pairwise(lengths[:-1]))
    assert lengths[3] == pytest.approx(60)
    assert lengths[4] == pytest.approx(60)
    # short ones magnified (a pixel's displacement drawn a few pixels long), never 10×
    assert 1 < geometry.arrow_pixels((0.01, 0.0), px, py, cap=60) < 10
    assert geometry.arrow_pixels((0.0, 0.0), px, py, cap=60) == 0
    assert geometry.arrow_pixels((np.nan, 1.0), px, py, cap=60) == 0
    assert geometry.arrow_segments((0, 0), (1, 0), px, py, 0.5) == []
    seg = np.array(geometry.arrow_segments((1.0, 2.0), (0.0, -3.0), px, py, 40))
    assert seg[0] == pytest.approx([1.0, 2.0])
    assert seg[1] == pytest.approx([1.0, 2.0 - 40 * py])  # 40 pixels along the vector


def test_a_log_floor_is_a_decade_below_the_smallest_value():
    assert geometry.log_floor(3e-7) == pytest.approx(1e-8)
    assert geometry.log_floor(1.0) == pytest.approx(0.1)


def test_tick_spacing_leaves_room_for_the_labels():
    for span, pixels, label in ((200, 100, 34), (200, 150, 34), (1e6, 300, 70), (3.0, 500, 30)):
        step = geometry.nice_step(span, pixels, label)
        assert span / step * label <= pixels  # no two labels overlap
        assert span / (step / 2.5) * label > pixels  # and not needlessly few
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 9) in (1, 2, 5)


def test_an_axis_grows_in_round_steps_up_to_the_total():
    assert geometry.grown_end(641, 1_000_000) == 1000
    assert geometry.grown_end(1200, 1_000_000) == 2000
    assert geometry.grown_end(3205, 1_000_000) == 5000
    assert geometry.grown_end(700_000, 1_000_000) == 1_000_000
    assert geometry.grown_end(900, 800) == 800


def test_a_growing_path_is_thinned_as_if_at_once():
    box = (-1.0, 1.0, -1.0, 1.0)
    points = converging_spiral(60_000)
    thinner = geometry.PathThinner(box, budget=6000)
    for chunk in np.array_split(points, 250):  # snapshots arriving
        thinner.extend(chunk)
        assert len(thinner.indices()) <= 6000
    assert np.array_equal(thinner.indices(), geometry.thin_path(points, box, budget=6000))
    assert polyline_deviation(points, thinner.indices(), box) < 1e-3


def test_a_rounding_level_distance_off_the_plane_reads_and_is_judged_as_zero():
    text, far = geometry.off_plane_text, geometry.far_off_plane
    # a three-point plane's own run: 2.7e-16 of a norm of 1.3 is float64's rounding
    assert text(2.7e-16, 1.3) == "off-plane distance 0 (0% of ‖θ − origin‖)"
    # near the plane's origin the point's own norm is no scale: the path's is
    assert text(3e-17, 0.0) == "off-plane distance 3e-17"
    assert text(3e-17, 0.0, scale=2.0) == "off-plane distance 0"
    assert text(math.nan, 1.0, scale=2.0) == ""
    # a small real distance keeps its number (0.5% of the norm)
    assert text(0.01, 2.0, scale=2.0) == "off-plane distance 0.01 (0% of ‖θ − origin‖)"
    # a random plane's own run at its centre: 0 off and 0 from the origin is on the plane
    assert not far(0.0, 0.0)
    assert not far(2.7e-16, 1e-16, scale=1.3)
    assert far(0.5, 1.0)
    assert not far(0.49, 1.0)
    assert not far(math.nan, 1.0)


@pytest.mark.parametrize("scale", [math.nan, 1.0, 1e3])
def test_a_path_is_dashed_only_where_the_legend_gives_it_a_distance(scale):
    # one judgement: dashed implies the legend's number is not 0
    values = (0.0, 1e-300, 1e-16, 1e-12, 1e-9, 1e-6, 0.3, 0.5, 1.0, 7.0)
    for distance, norm in itertools.product(values, values):
        if geometry.far_off_plane(distance, norm, scale):
            number = geometry.off_plane_text(distance, norm, scale).split()[2]
            assert float(number) > 0, (distance, norm, scale)
