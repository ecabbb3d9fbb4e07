"""A network's picture (gui.network_view), Qt-free: the plane's cadence, the rows revealed up
to the playhead, projections against numpy.linalg.lstsq, the slice against point-by-point
evaluation, and one small network trained with its live picture."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.experiment import build, parse_experiment
from engine.plane import Plane
from gui import network_view as nv
from gui.geometry import pixel_centres


def test_the_plane_is_chosen_again_when_the_rows_grew_by_a_quarter_and_at_the_end():
    assert not nv.replan_due(0, 1, False, False)  # one row: no plane yet
    assert nv.replan_due(0, 2, False, False)  # the first one
    assert not nv.replan_due(100, 124, False, False)
    assert nv.replan_due(100, 125, False, False)
    assert nv.replan_due(2, 3, False, False)  # small counts: one more row is enough
    assert nv.replan_due(100, 101, False, True)  # training just finished
    assert not nv.replan_due(101, 101, True, True)  # and was planned for


def test_rows_revealed_up_to_the_head():
    picture = nv.NetworkPicture(
        "trajectory", "", np.array([0, 5, 10, 20]), np.zeros((4, 1, 2)), np.zeros((4, 1)),
        np.zeros((4, 1)),
    )  # fmt: skip
    assert [picture.rows_to(h) for h in (0, 4, 5, 9.5, 19, 20, 1e9)] == [1, 1, 2, 2, 3, 4, 4]


def lstsq_projection(origin, d1, d2, points):
    """The oracle: least squares of (points − origin) on the two directions."""
    basis = np.stack([d1, d2], axis=1)  # (P, 2)
    ab, *_ = np.linalg.lstsq(basis, (points - origin).T, rcond=None)
    residual = points - origin - (basis @ ab).T
    return ab.T, np.linalg.norm(residual, axis=1)


def test_projected_states_equal_an_independent_least_squares_projection():
    rng = np.random.default_rng(3)
    p = 40
    plane = Plane(rng.normal(size=p), rng.normal(size=p), rng.normal(size=p))  # not orthogonal
    params = rng.normal(size=(6, 3, p))
    params[4, 1] = np.nan  # a diverged run's row
    coords, distance, norm = nv.project_states(plane, params)
    flat = params.reshape(-1, p)
    ok = np.isfinite(flat).all(axis=1)
    want_ab, want_distance = lstsq_projection(plane.origin, plane.d1, plane.d2, flat[ok])
    np.testing.assert_allclose(coords.reshape(-1, 2)[ok], want_ab, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(distance.reshape(-1)[ok], want_distance, rtol=1e-9)
    np.testing.assert_allclose(
        norm.reshape(-1)[ok], np.linalg.norm(flat[ok] - plane.origin, axis=1), rtol=1e-12
    )
    assert np.isnan(coords[4, 1]).all()
    assert np.isnan(distance[4, 1])


def test_a_path_in_the_plane_is_recovered_at_distance_zero():
    rng = np.random.default_rng(4)
    origin, d1, d2 = rng.normal(size=(3, 25))
    ab = np.cumsum(rng.normal(size=(30, 2)), axis=0)
    path = origin + ab[:, :1] * d1 + ab[:, 1:] * d2
    coords, distance, _ = nv.project_states(Plane(origin, d1, d2), path[:, None, :])
    np.testing.assert_allclose(coords[:, 0], ab, atol=1e-9)
    assert distance.max() < 1e-9 * np.linalg.norm(path, axis=1).max()


def test_the_principal_plane_spans_the_top_two_singular_directions():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(50, 30)) * np.linspace(5, 0.1, 30)
    origin = points[0]
    plane = nv.principal_plane(points, origin=origin)
    _, _, vt = np.linalg.svd(points - origin, full_matrices=False)
    basis = np.stack([plane.d1, plane.d2])
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-9)  # orthonormal
    np.testing.assert_allclose(basis.T @ basis, vt[:2].T @ vt[:2], atol=1e-8)  # same span
    with pytest.raises(ValueError, match="less than a plane"):
        nv.principal_plane(np.outer(np.arange(5.0), np.ones(4)), origin=np.zeros(4))


def test_interpolated_coordinates_are_exact_on_a_straight_path():
    steps = np.array([0, 10, 30])
    coords = np.stack([steps * 0.1, steps * -2.0], axis=1)[:, None, :]
    out = nv.interpolate_coords(np.arange(31), steps, coords)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(31) * 0.1)
    np.testing.assert_allclose(out[:, 0, 1], np.arange(31) * -2.0)


TWO_RUNS = [
    {"label": "sgd", "optimizer": "sgd", "lr": 0.3, "batch_size": 16},
    {"label": "adam", "optimizer": "adam", "lr": 0.03, "batch_size": 16},
]


def small_network(runs=TWO_RUNS, **problem) -> object:
    data = {
        "seed": 1,
        "steps": 24,
        "dtype": "float64",
        "record_every": 2,
        "problem": {"kind": "mlp", "dataset": "moons", "samples": 80, "hidden": [6],
                    "validation_fraction": 0.25, **problem},
        "runs": runs,
    }  # fmt: skip
    return build(parse_experiment(data))


def test_the_slice_equals_point_by_point_evaluation(monkeypatch):
    built = small_network(batch_norm=True)
    built.trainer.run(8)
    model, split = built.problem.model, built.problem.split
    params, buffers = built.trainer.final_state()
    plane = Plane(params[0], params[1] - params[0], built.problem.start - params[0])
    monkeypatch.setattr(nv, "COARSE_POINTS", 5)
    task = nv.SliceTask(model, plane, buffers[1], split.x_train, split.y_train, (-1, 2, -0.5, 1.5),
                        fine_points=7)  # fmt: skip
    grids = []
    while not task.done:
        result = task.step()
        if result is not None:
            grids.append(result)
    assert [z.shape for z, _, _ in grids] == [(5, 5), (7, 7)]
    z, rect, fine = grids[-1]
    assert fine
    a, b = pixel_centres(rect, 7)
    for j in (0, 3, 6):
        for i in (0, 2, 6):
            point = plane.lift(a[i], b[j])[None]
            want = model.evaluate(point, buffers[1][None], split.x_train, split.y_train).loss
            np.testing.assert_allclose(z[j, i], float(want[0]), rtol=1e-9)


def train_with_picture(built, choice=None, previous=None) -> nv.NetworkLive:
    """``built`` trained to the end as the worker does it: its live picture updated after
    every chunk of three updates, the slice finished at the end."""
    live = nv.NetworkLive(built, choice, previous=previous)
    while not built.trainer.done:
        built.trainer.advance(3)
        live.update()
        live.work(0.0)
    live.update()
    while live.has_work:
        live.work(1.0)
    return live


def trained_live(choice=None, **problem):
    built = small_network(**problem)
    return built, train_with_picture(built, choice)


def test_a_trained_network_has_every_recorded_state_on_the_trajectory_plane(monkeypatch):
    monkeypatch.setattr(nv, "FINE_POINTS", 8)
    built, live = trained_live(batch_norm=True)
    picture = live.picture
    h = built.trainer.history
    assert picture.plane_kind == "trajectory"
    assert "batch norm in eval mode with the running statistics of run 'sgd'" in picture.plane_text
    np.testing.assert_array_equal(picture.path_steps, h.step[: h.count])
    assert np.isfinite(picture.path_coords).all()
    # the independent projection of every recorded state on the published plane
    steps, states, _ = built.trainer.snapshots.view()
    np.testing.assert_array_equal(steps, picture.path_steps)
    p = states.shape[2]
    want, _ = lstsq_projection(live.plane.origin, live.plane.d1, live.plane.d2,
                               states.reshape(-1, p))  # fmt: skip
    np.testing.assert_allclose(picture.path_coords.reshape(-1, 2), want, atol=1e-8)
    np.testing.assert_allclose(live.history_view.coords[: h.count], picture.path_coords, atol=1e-8)
    assert live.filled_rows == h.count
    np.testing.assert_allclose(picture.path_coords[0], 0.0, atol=1e-9)  # the shared start
    z, rect, fine = live.grid
    assert fine
    assert np.isfinite(z).all()
    x0, x1, y0, y1 = rect
    coords = picture.path_coords.reshape(-1, 2)
    assert x0 < coords[:, 0].min()
    assert coords[:, 0].max() < x1
    assert y0 < coords[:, 1].min()
    assert coords[:, 1].max() < y1


def test_the_three_point_plane_holds_the_start_and_both_runs_current_points():
    _built, live = trained_live(nv.PlaneChoice("three_point", (1, 0)))
    picture = live.picture
    assert "run 'adam' (1, 0) and run 'sgd' (0, 1)" in picture.plane_text
    np.testing.assert_allclose(picture.path_coords[-1, 1], [1.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(picture.path_coords[-1, 0], [0.0, 1.0], atol=1e-8)
    scale = np.nanmax(picture.path_norm)
    assert picture.path_distance[0].max() < 1e-9 * scale  # the start
    assert picture.path_distance[-1].max() < 1e-9 * scale  # and the two points
    assert picture.path_distance[1:-1].max() > 1e-4 * scale  # the paths between are not


def test_changing_the_plane_changes_the_coordinates():
    _built, live = trained_live()
    before = live.picture.path_coords.copy()
    live.set_choice(nv.PlaneChoice("random", (1,)))
    assert live.update()
    after = live.picture
    assert after.plane_kind == "random"
    assert "around the current point of run 'adam'" in after.plane_text
    assert np.isfinite(after.path_coords).all()
    assert not np.allclose(after.path_coords, before)
    np.testing.assert_allclose(after.path_coords[-1, 1], 0.0, atol=1e-9)  # its centre


def test_the_app_evaluates_the_full_splits_every_kth_row_of_a_long_training_only():
    # digits, batch 32, record_every 5: an evaluation costs 1797/160 recorded rows' steps
    assert nv.eval_every_for(1797, 32, 5, 61) == 1  # 300 steps: every row (curves need them)
    assert nv.eval_every_for(1797, 32, 5, 4001) == 40  # 20,000 steps: 100 rows evaluated
    assert nv.eval_every_for(1797, 32, 5, 100_001) == 45  # ≤ a quarter of the time
    assert nv.eval_every_for(1437, 1437, 1, 10_000) == 4  # full batch: ~as dear as a step


def test_the_boundary_shows_the_newest_kept_state_at_or_before_the_head():
    steps = np.array([0, 4, 8, 12])
    assert [nv.state_at(steps, h) for h in (0, 3.9, 4, 11, 12, 99)] == [0, 0, 1, 2, 3, 3]


def softmax_oracle(model, params, buffers, pixels):
    logits = np.asarray(model.logits(params[None], buffers[None], pixels))[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_a_boundary_is_each_runs_prediction_at_the_pixel_centres(monkeypatch):
    monkeypatch.setattr(nv, "BOUNDARY_RESOLUTION", 9)
    built, live = trained_live(batch_norm=True)
    states = nv.recorded_states(built.trainer)
    row = 5
    rect = live.boundary_rect
    boundary = nv.make_boundary(built.problem.model, built.problem.split, states, row, rect)
    assert boundary.step == states.steps[row]
    assert boundary.classes.shape == (2, 9, 9)
    xs, ys = pixel_centres(rect, 9)  # pixel centres; row j is y
    pixels = np.array([(x, y) for y in ys for x in xs])
    for col in range(2):
        p = softmax_oracle(
            built.problem.model, states.take([row])[0, col], states.buffers[row, col], pixels
        )
        np.testing.assert_array_equal(boundary.classes[col].reshape(-1), p.argmax(axis=1))
        np.testing.assert_allclose(boundary.confidence[col].reshape(-1), p.max(axis=1), rtol=1e-9)
    points = np.asarray(built.problem.split.x_train)
    x0, x1, y0, y1 = rect
    assert x0 < points[:, 0].min()
    assert points[:, 0].max() < x1
    assert y0 < points[:, 1].min()
    assert points[:, 1].max() < y1


def test_the_live_boundary_follows_the_head():
    built, live = trained_live()
    live.clock = itertools.count(1e9, 1.0).__next__  # a second between calls: no throttle
    steps = built.trainer.snapshots.steps
    for head in (7, 13, 0, 24):  # (trained with the head at 0: its boundary is there)
        live.set_head(head)
        assert live.wants_boundary()
        live.update()
        assert live.picture.boundary.step == steps[nv.state_at(steps, head)]
        assert not live.wants_boundary()


def test_the_interpolation_runs_from_one_runs_point_to_the_others():
    built, live = trained_live()
    live.set_interpolation_runs((1, 0))
    assert live.update()
    inter = live.picture.interpolation
    assert inter.runs == (1, 0)
    current, buffers = built.trainer.final_state()
    model, split = built.problem.model, built.problem.split
    for t, point in ((0.0, current[1]), (1.0, current[0])):
        k = int(np.argmin(abs(inter.t - t)))
        assert inter.t[k] == pytest.approx(t)
        want = model.evaluate(point[None], buffers[1][None], split.x_val, split.y_val).loss
        np.testing.assert_allclose(inter.curves["val_loss"][k], float(want[0]), rtol=1e-9)
    assert inter.t[0] < 0
    assert inter.t[-1] > 1


def test_the_slice_says_how_far_it_is():
    _built, live = trained_live()
    live.set_choice(nv.PlaneChoice("random", (0,)))
    live.update()  # a new plane: a new slice task, not started
    assert live.activity.startswith("slice of the plane: preview 16×16, 0%")
    while live.has_work:
        live.work(0.0)
        assert live.activity == "" or "slice of the plane" in live.activity
    assert live.activity == ""


def test_a_new_plane_builds_its_picture_once_and_lays_the_slice_around_it(monkeypatch):
    """Choosing the plane again used to build the picture twice (once for the slice's
    rectangle, once to publish it): once now, and the slice fits the picture published."""
    monkeypatch.setattr(nv, "FINE_POINTS", 8)
    _built, live = trained_live()
    built_pictures = []
    picture_class = nv.NetworkPicture

    def counting_picture(*args, **kwargs):
        built_pictures.append(picture_class(*args, **kwargs))
        return built_pictures[-1]

    monkeypatch.setattr(nv, "NetworkPicture", counting_picture)
    live.set_choice(nv.PlaneChoice("random", (0,)))
    assert live.update()
    assert len(built_pictures) == 1
    assert live.picture is built_pictures[0]
    assert live.default_rect == nv.fit_rect(live.picture.path_coords)
    assert live.task.rect == live.default_rect


def test_the_hover_value_is_the_slices_even_when_the_running_statistics_are_not(monkeypatch):
    """The slice falls back to the start's batch norm statistics while the run's are not
    finite; the hover read-out used the run's own (NaN) and read no value at all."""
    monkeypatch.setattr(nv, "FINE_POINTS", 5)
    _built, live = trained_live(batch_norm=True)
    params, buffers = live.trainer.final_state()
    broken = np.array(buffers, float)
    broken[live.buffers_col] = np.nan
    monkeypatch.setattr(live.trainer, "final_state", lambda: (params, broken))
    live.request_rect((-1.0, 1.0, -0.5, 0.5))  # a zoom: the slice again, with these
    while live.has_work:
        live.work(1.0)
    z, rect, fine = live.grid
    assert fine
    assert np.isfinite(z).all()
    a, b = pixel_centres(rect, 5)
    for j, i in ((0, 0), (2, 3), (4, 1)):
        assert live.value_at(a[i], b[j]) == pytest.approx(z[j, i], rel=1e-12)
