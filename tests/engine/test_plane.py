"""Planes through weight space: projections against points built on the plane (and off it by a
known distance), the three constructions, and the grid of losses against point-by-point
evaluation of the lifted parameters."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from engine.datasets import Dataset, split
from engine.plane import (
    CHUNK_POINTS,
    Cancelled,
    Plane,
    _example_tiles,
    decision_grid,
    interpolation_losses,
    mlp_grid_loss,
    random_plane,
    three_point_plane,
    trajectory_plane,
)
from engine.problems.mlp import MLP
from tests.conftest import backend_for

P = 40


def skew_plane(seed=0):
    rng = np.random.default_rng(seed)
    d1 = rng.standard_normal(P)
    d2 = 0.5 * d1 + rng.standard_normal(P)  # neither orthogonal nor of unit length
    return Plane(rng.standard_normal(P), d1, 3 * d2), rng


def off_plane(plane, rng, length):
    """A vector orthogonal to both directions, of the given length."""
    v = rng.standard_normal(P)
    basis, _ = np.linalg.qr(np.stack([plane.d1, plane.d2]).T)
    v -= basis @ (basis.T @ v)
    return v * (length / np.linalg.norm(v))


def test_projection_recovers_a_path_in_the_plane():
    plane, rng = skew_plane()
    coords = rng.uniform(-2, 2, (25, 2))
    path = plane.lift(coords[:, 0], coords[:, 1])
    np.testing.assert_allclose(plane.project(path), coords, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(plane.distance(path), 0, atol=1e-10)


def test_distance_of_a_point_off_the_plane():
    plane, rng = skew_plane(1)
    point = plane.lift(0.3, -1.2) + off_plane(plane, rng, 2.5)
    np.testing.assert_allclose(plane.project(point), [[0.3, -1.2]], rtol=1e-10)
    assert plane.distance(point)[0] == pytest.approx(2.5, rel=1e-10)


def test_parallel_directions_are_no_plane():
    with pytest.raises(ValueError, match="parallel"):
        Plane(np.zeros(3), np.array([1.0, 2, 3]), np.array([-2.0, -4, -6]))
    with pytest.raises(ValueError, match="lie on one line"):
        three_point_plane(np.zeros(3), np.ones(3), 2 * np.ones(3))


def test_trajectory_plane_holds_paths_that_span_a_plane():
    plane, rng = skew_plane(2)
    coords = rng.standard_normal((60, 2)) * [3.0, 0.5]
    points = plane.lift(coords[:, 0], coords[:, 1])
    pca = trajectory_plane(points)
    np.testing.assert_allclose(pca.distance(points), 0, atol=1e-9)
    np.testing.assert_allclose(pca.gram, np.eye(2), atol=1e-12)  # orthonormal directions
    np.testing.assert_allclose(pca.origin, points.mean(axis=0))
    # the first direction is the one of largest spread: its coordinates vary the most
    spread = pca.project(points).std(axis=0)
    assert spread[0] > spread[1]
    anchored = trajectory_plane(points, origin=points[-1])
    np.testing.assert_allclose(anchored.project(points[-1:]), [[0, 0]], atol=1e-12)
    line = np.outer(np.linspace(0, 1, 10), np.ones(P))
    with pytest.raises(ValueError, match="span less than a plane"):
        trajectory_plane(line)


def test_three_point_plane_puts_the_points_at_the_unit_corners():
    rng = np.random.default_rng(3)
    p0, p1, p2 = rng.standard_normal((3, P))
    plane = three_point_plane(p0, p1, p2)
    np.testing.assert_allclose(
        plane.project(np.stack([p0, p1, p2])), [[0, 0], [1, 0], [0, 1]], atol=1e-12
    )


def test_random_directions_are_filter_normalized():
    model = MLP(6, [5, 4], 3, batch_norm=True, dtype=np.float64)
    centre = model.init_host(0)[0] + 0.1
    plane = random_plane(model, centre, seed=4)
    for direction in (plane.d1, plane.d2):
        for e in model.layout.params:
            piece = direction[e.offset : e.stop].reshape(e.shape)
            if e.name.endswith(".weight") and e.name.startswith("linear"):
                rows = centre[e.offset : e.stop].reshape(e.shape)
                np.testing.assert_allclose(
                    np.linalg.norm(piece, axis=1), np.linalg.norm(rows, axis=1), rtol=1e-12
                )
            else:
                assert not piece.any(), e.name
    assert not np.allclose(plane.d1, plane.d2)
    np.testing.assert_array_equal(random_plane(model, centre, seed=4).d1, plane.d1)
    assert not np.allclose(random_plane(model, centre, seed=5).d1, plane.d1)


def evaluate_point_by_point(model, plane, buffers, x, y, a_values, b_values):
    """The oracle: ``model.evaluate`` (itself checked against PyTorch) at every lifted point."""
    loss = np.empty((len(b_values), len(a_values)))
    accuracy = np.empty_like(loss)
    for i, b in enumerate(b_values):
        lifted = plane.lift(a_values, np.full_like(a_values, b))
        expected = model.evaluate(lifted, np.tile(buffers, (len(a_values), 1)), x, y)
        loss[i], accuracy[i] = expected.loss, expected.accuracy
    return loss, accuracy


def network_and_data(hidden, activation, batch_norm, seed=5):
    model = MLP(4, hidden, 3, activation, batch_norm=batch_norm, dtype=np.float64)
    rng = np.random.default_rng(seed)
    params, buffers = model.init_host(1)
    # running statistics away from 0 and 1, so that a missing fold would show
    buffers = np.abs(buffers + 0.3 * rng.standard_normal(buffers.shape)) + 0.1
    x, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    return model, params, buffers, x, y, rng


GRID = np.linspace(-1, 2, 5), np.linspace(-0.5, 1.5, 4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("hidden", [[7, 5], [6], []])
def test_grid_losses_equal_point_by_point_evaluation(hidden, batch_norm, activation):
    """A plane along every parameter (γ and β too: batch norm's fold is then quadratic in
    (a, b)), with running statistics for batch norm, float64."""
    model, params, buffers, x, y, rng = network_and_data(hidden, activation, batch_norm)
    others = params + 0.4 * rng.standard_normal((2, params.size))
    plane = three_point_plane(params, others[0], others[1])
    a_values, b_values = GRID
    # a budget of 3 grid points per chunk: several blocks of chunks, the last ones shorter
    loss, accuracy = mlp_grid_loss(
        model, plane, buffers, x, y, a_values, b_values, max_elements=3 * 30 * 7
    )
    assert loss.shape == accuracy.shape == (4, 5)
    expected_loss, expected_accuracy = evaluate_point_by_point(
        model, plane, buffers, x, y, a_values, b_values
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-11)
    np.testing.assert_array_equal(accuracy, expected_accuracy)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("hidden", [[7, 5], [6]])
def test_examples_cut_in_tiles_the_last_one_shorter_give_the_same_grid(
    hidden, batch_norm, activation
):
    """A chunk is a few grid points × a tile of the examples (the first layer's shared
    coefficients packed once for several points): 31 examples in tiles of 8, 8, 8 and 7,
    every layer and the logits written tile by tile; the oracle point by point (float64)."""
    model, params, buffers, _, _, rng = network_and_data(hidden, activation, batch_norm)
    x, y = rng.standard_normal((31, 4)), rng.integers(0, 3, 31)
    others = params + 0.4 * rng.standard_normal((2, params.size))
    plane = three_point_plane(params, others[0], others[1])
    budget = CHUNK_POINTS * 7 * 8  # 8 points × 8 examples × the widest layer (7)
    tiles = _example_tiles(31, 7, budget, True)
    assert [stop - start for start, stop in tiles] == [8, 8, 8, 7]
    a_values, b_values = np.linspace(-1, 2, 6), np.linspace(-0.5, 1.5, 5)
    loss, accuracy = mlp_grid_loss(
        model, plane, buffers, x, y, a_values, b_values, max_elements=budget
    )
    expected = evaluate_point_by_point(model, plane, buffers, x, y, a_values, b_values)
    np.testing.assert_allclose(loss, expected[0], rtol=1e-11)
    np.testing.assert_array_equal(accuracy, expected[1])


@pytest.mark.parametrize("hidden", [[6], []])
def test_examples_taken_in_class_order_with_a_class_absent_give_the_same_grid(hidden):
    """The grid reorders the examples by class (each class's logits one slice): examples
    in any order, one class with none, and the last class's examples first; the oracle
    point by point on the examples as given (float64)."""
    model, params, buffers, _, _, rng = network_and_data(hidden, "tanh", True)
    x = rng.standard_normal((17, 4))
    y = np.array([2, 0, 2, 2, 0, 0, 2, 0, 2, 2, 0, 0, 0, 2, 2, 0, 2])  # no class 1
    others = params + 0.4 * rng.standard_normal((2, params.size))
    plane = three_point_plane(params, others[0], others[1])
    loss, accuracy = mlp_grid_loss(model, plane, buffers, x, y, *GRID, max_elements=4 * 17 * 6)
    expected = evaluate_point_by_point(model, plane, buffers, x, y, *GRID)
    np.testing.assert_allclose(loss, expected[0], rtol=1e-11)
    np.testing.assert_array_equal(accuracy, expected[1])
    assert accuracy.max() > 0  # right and wrong examples: real counts
    assert accuracy.min() < 1


@pytest.mark.parametrize("batch_norm", [True, False])
def test_grid_on_a_random_plane_equals_point_by_point_evaluation(batch_norm, backend_name):
    """A filter-normalized plane leaves γ and β still (the linear fold), default chunks, on
    every array module (the oracle on NumPy)."""
    model, params, buffers, x, y, _ = network_and_data([8, 6], "relu", batch_norm, seed=6)
    plane = random_plane(model, params, seed=2)
    a_values, b_values = np.linspace(-1, 1, 7), np.linspace(-1, 1, 6)
    xp = backend_for(backend_name).xp
    on_device = MLP(4, [8, 6], 3, "relu", batch_norm=batch_norm, xp=xp, dtype=np.float64)
    loss, accuracy = mlp_grid_loss(on_device, plane, buffers, xp.asarray(x), y, a_values, b_values)
    assert isinstance(loss, np.ndarray)
    expected = evaluate_point_by_point(model, plane, buffers, x, y, a_values, b_values)
    np.testing.assert_allclose(loss, expected[0], rtol=1e-11)
    np.testing.assert_array_equal(accuracy, expected[1])


def test_a_float32_model_draws_the_float64_grid_to_float32_rounding():
    model, params, buffers, x, y, rng = network_and_data([7], "relu", True)
    plane = three_point_plane(params, *(params + 0.3 * rng.standard_normal((2, params.size))))
    model32 = MLP(4, [7], 3, "relu", batch_norm=True, dtype=np.float32)
    loss64, _ = mlp_grid_loss(model, plane, buffers, x, y, *GRID)
    loss32, _ = mlp_grid_loss(model32, plane, buffers, x, y, *GRID)
    assert loss32.dtype == np.float64  # host float64 whatever the model computes in
    np.testing.assert_allclose(loss32, loss64, rtol=2e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_far_points_with_huge_logits_stay_finite_and_exact(dtype):
    """Far along the plane the logits reach thousands (2^l overflows): the stable form."""
    model, params, buffers, x, y, rng = network_and_data([7], "relu", False)
    plane = three_point_plane(params, *(params + rng.standard_normal((2, params.size))))
    a_values = np.array([0.0, 30.0, 3000.0])  # ordinary, large, huge logits
    b_values = np.array([0.0, -2000.0])
    model = MLP(4, [7], 3, "relu", dtype=dtype)
    loss, accuracy = mlp_grid_loss(model, plane, buffers, x, y, a_values, b_values)
    assert np.isfinite(loss).all()
    expected = evaluate_point_by_point(model, plane, buffers, x, y, a_values, b_values)
    np.testing.assert_allclose(loss, expected[0], rtol=1e-5 if dtype == np.float32 else 1e-11)
    np.testing.assert_array_equal(accuracy, expected[1])
    assert loss.max() > 100  # the huge logits were there


def test_a_float64_network_drawn_in_float32_is_the_float32_networks_grid():
    model, params, buffers, x, y, rng = network_and_data([7], "tanh", True)
    plane = three_point_plane(params, *(params + 0.3 * rng.standard_normal((2, params.size))))
    model32 = MLP(4, [7], 3, "tanh", batch_norm=True, dtype=np.float32)
    drawn = mlp_grid_loss(model, plane, buffers, x, y, *GRID, dtype=np.float32)
    np.testing.assert_array_equal(drawn[0], mlp_grid_loss(model32, plane, buffers, x, y, *GRID)[0])
    exact = mlp_grid_loss(model, plane, buffers, x, y, *GRID)[0]
    assert not np.array_equal(drawn[0], exact)  # float32 rounding shows, it is not float64
    np.testing.assert_allclose(drawn[0], exact, rtol=2e-5)


def test_an_empty_grid_and_inputs_that_do_not_fit():
    model, params, buffers, x, y, rng = network_and_data([7], "relu", True)
    plane = three_point_plane(params, *(params + rng.standard_normal((2, params.size))))
    loss, accuracy = mlp_grid_loss(model, plane, buffers, x, y, [], [0.0, 1.0])
    assert loss.shape == accuracy.shape == (2, 0)
    cases = [
        ((buffers[:-1], x, y), "buffers must hold the network's 14 running statistics"),
        ((buffers, x[:, :3], y), r"x must be \(examples, 4\)"),
        ((buffers, x, y[:-1]), "y must hold one class per example"),
        ((buffers, x, y + 3), "class indices in 0 … 2"),
    ]
    for (bad_buffers, bad_x, bad_y), message in cases:
        with pytest.raises(ValueError, match=message):
            mlp_grid_loss(model, plane, bad_buffers, bad_x, bad_y, *GRID)
    small = three_point_plane(np.zeros(5), np.eye(5)[0], np.eye(5)[1])
    with pytest.raises(ValueError, match="the plane lives in 5 dimensions"):
        mlp_grid_loss(model, small, buffers, x, y, *GRID)


def test_a_grid_is_cancelled_between_blocks():
    model, params, buffers, x, y, rng = network_and_data([7], "relu", False)
    plane = three_point_plane(params, *(params + rng.standard_normal((2, params.size))))
    polls = []

    def stop_on_third():
        polls.append(1)
        return len(polls) == 3

    with pytest.raises(Cancelled):
        mlp_grid_loss(
            model, plane, buffers, x, y, *GRID, max_elements=30 * 7, should_stop=stop_on_third
        )
    assert len(polls) == 3
    polls.clear()
    loss, _ = mlp_grid_loss(
        model, plane, buffers, x, y, *GRID, max_elements=30 * 7, should_stop=lambda: polls.append(1)
    )
    assert np.isfinite(loss).all()
    assert len(polls) > 1  # polled once per block, several blocks here


@pytest.mark.parametrize("workers", [2, 3, 16])
@pytest.mark.parametrize(
    ("hidden", "batch_norm", "dtype"),
    [([7, 5], True, np.float64), ([6], False, np.float32), ([], False, np.float64)],
)
def test_workers_share_out_the_blocks_and_give_the_same_bits(hidden, batch_norm, dtype, workers):
    """Threads take the blocks (here eight, the last one short; 16 workers: more
    than blocks), each with its own buffers: the grid is workers=1's exactly, and that one
    is the point-by-point oracle's."""
    model, params, buffers, x, y, rng = network_and_data(hidden, "relu", batch_norm)
    others = params + 0.4 * rng.standard_normal((2, params.size))
    plane = three_point_plane(params, others[0], others[1])
    a_values, b_values = np.linspace(-1, 2, 9), np.linspace(-0.5, 1.5, 7)
    budget = {"max_elements": 2 * 30 * 7, "dtype": dtype}  # 2 points a chunk, small blocks
    one = mlp_grid_loss(model, plane, buffers, x, y, a_values, b_values, **budget)
    many = mlp_grid_loss(model, plane, buffers, x, y, a_values, b_values, workers=workers, **budget)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)
    expected = evaluate_point_by_point(model, plane, buffers, x, y, a_values, b_values)
    np.testing.assert_allclose(one[0], expected[0], rtol=1e-11 if dtype == np.float64 else 1e-4)


def test_workers_keep_the_callers_numpy_error_state():
    """The app draws a slice under ``np.errstate(all="ignore")`` (far out a float32 grid
    overflows to inf and NaN). NumPy's error state is per thread: the workers must take the
    caller's, or they warn where one worker is quiet (here, with RuntimeWarning an error in
    the tests' settings, the grid raised)."""
    model, params, buffers, x, y, rng = network_and_data([7], "relu", False)
    plane = three_point_plane(params, *(params + rng.standard_normal((2, params.size))))
    model = MLP(4, [7], 3, "relu", dtype=np.float32)
    a_values, b_values = np.linspace(-1, 2, 9), np.array([0.0, 1e19])  # row 1 overflows
    budget = {"max_elements": 2 * 30 * 7}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(all="ignore"):
            one = mlp_grid_loss(model, plane, buffers, x, y, a_values, b_values, **budget)
            many = mlp_grid_loss(
                model, plane, buffers, x, y, a_values, b_values, workers=2, **budget
            )
    assert not np.isfinite(one[0][1]).any()  # the overflow was there
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


def test_workers_stop_promptly_when_cancelled_and_bad_counts_are_refused():
    """Each worker polls before each of its blocks: once ``should_stop()`` says so, every
    worker stops at its next poll, so at most one more block each is begun."""
    model, params, buffers, x, y, rng = network_and_data([7], "relu", False)
    plane = three_point_plane(params, *(params + rng.standard_normal((2, params.size))))
    a_values, b_values = np.linspace(-1, 2, 20), np.linspace(-0.5, 1.5, 20)  # 400 points
    polls = []
    lock = threading.Lock()

    def stop_on_fifth():
        with lock:
            polls.append(1)
            return len(polls) >= 5

    with pytest.raises(Cancelled):
        mlp_grid_loss(
            model, plane, buffers, x, y, a_values, b_values, max_elements=30 * 7,
            should_stop=stop_on_fifth, workers=3,
        )  # fmt: skip
    assert 5 <= len(polls) <= 5 + 2, len(polls)  # of 400 one-point blocks
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be an integer ≥ 1"):
            mlp_grid_loss(model, plane, buffers, x, y, *GRID, workers=bad)


# ---- interpolation and decision regions ------------------------------------------------------


def torch_loss_and_accuracy(model, params, buffers, x, y):
    """The oracle: ``nn.Sequential`` in evaluation mode holding one run's arrays (float64)."""
    torch = pytest.importorskip("torch", reason="torch is the oracle for networks")
    modules, names = [], {}
    activations = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    for i, (fan_in, fan_out) in enumerate(zip(model.widths[:-1], model.widths[1:], strict=True)):
        names[f"linear{i}"] = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
        modules.append(names[f"linear{i}"])
        if i < len(model.widths) - 2:
            if model.batch_norm:
                names[f"bn{i}"] = torch.nn.BatchNorm1d(
                    fan_out, eps=model.bn_eps, dtype=torch.float64
                )
                modules.append(names[f"bn{i}"])
            modules.append(activations[model.activation]())
    net = torch.nn.Sequential(*modules).eval()
    with torch.no_grad():
        for name, value in model.weights_dict(params, buffers).items():
            module, attr = name.split(".")
            getattr(names[module], attr).copy_(torch.from_numpy(np.array(value, dtype=float)))
        logits = net(torch.from_numpy(np.asarray(x, float)))
        target = torch.from_numpy(np.asarray(y))
        loss = torch.nn.functional.cross_entropy(logits, target).item()
        accuracy = (logits.argmax(dim=1) == target).double().mean().item()
    return loss, accuracy


def small_split(validation_fraction, seed=7):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    data = Dataset(
        name="random", x=x, y=y, feature_names=("a", "b", "c", "d"), classes=("0", "1", "2")
    )
    return split(data, validation_fraction, seed=seed)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_interpolation_ends_and_middle_are_the_models_evaluation(batch_norm):
    model, params, buffers, _, _, rng = network_and_data([6], "relu", batch_norm)
    p1 = params + 0.5 * rng.standard_normal(params.size)
    parts = small_split(0.25)
    ts = np.array([0.0, 0.3, 1.0])
    curves = interpolation_losses(model, params, p1, buffers, parts, ts)
    assert sorted(curves) == ["train_accuracy", "train_loss", "val_accuracy", "val_loss"]
    for k, point in enumerate([params, 0.7 * params + 0.3 * p1, p1]):
        for prefix, x, y in (
            ("train", parts.x_train, parts.y_train),
            ("val", parts.x_val, parts.y_val),
        ):
            loss, accuracy = torch_loss_and_accuracy(model, point, buffers, x, y)
            assert curves[f"{prefix}_loss"][k] == pytest.approx(loss, rel=1e-12)
            assert curves[f"{prefix}_accuracy"][k] == pytest.approx(accuracy, abs=1e-15)
    without = interpolation_losses(model, params, p1, buffers, small_split(0.0), ts)
    assert sorted(without) == ["train_accuracy", "train_loss"]
    with pytest.raises(ValueError, match="p1 must hold the network's"):
        interpolation_losses(model, params, p1[:-1], buffers, parts, ts)


def test_interpolation_with_both_runs_statistics_ends_at_each_runs_own_loss():
    """Batch norm: with the second run's running statistics given, they are interpolated
    along the line (held beyond the ends), so t = 1 is run B's own evaluation, which run A's
    statistics would not give."""
    model, params, buffers, _, _, rng = network_and_data([6], "relu", True)
    p1 = params + 0.5 * rng.standard_normal(params.size)
    b1 = buffers.copy()
    mean = model.layout["bn0.running_mean"]
    var = model.layout["bn0.running_var"]
    b1[mean.offset : mean.stop] += 1.5
    b1[var.offset : var.stop] *= 4.0
    parts = small_split(0.0)
    ts = np.array([-0.25, 0.0, 0.5, 1.0, 1.25])
    curves = interpolation_losses(model, params, p1, buffers, parts, ts, b1)
    x, y = parts.x_train, parts.y_train
    expected = [
        (params * 1.25 - 0.25 * p1, buffers),
        (params, buffers),
        (0.5 * (params + p1), 0.5 * (buffers + b1)),
        (p1, b1),
        (1.25 * p1 - 0.25 * params, b1),
    ]
    for k, (point, stats) in enumerate(expected):
        loss, _ = torch_loss_and_accuracy(model, point, stats, x, y)
        assert curves["train_loss"][k] == pytest.approx(loss, rel=1e-12)
    one_run = interpolation_losses(model, params, p1, buffers, parts, ts)
    assert one_run["train_loss"][3] != pytest.approx(curves["train_loss"][3], rel=1e-6)
    with pytest.raises(ValueError, match="buffers1 must hold"):
        interpolation_losses(model, params, p1, buffers, parts, ts, b1[:-1])


def test_decision_grid_is_the_argmax_at_pixel_centres():
    """Softmax regression with hand-set weights: run 0 says class 1 where x > 0.3, run 1 where
    y > 0.5; the winner's probability is the logistic function of the margin."""
    model = MLP(2, [], 2, dtype=np.float64)
    params = np.zeros((2, model.n_params))
    weight = model.layout.view(params, "linear0.weight")  # (R, 2 classes, 2 features)
    bias = model.layout.view(params, "linear0.bias")
    weight[0, 1, 0], bias[0, 0] = 1.0, 0.3  # l1 − l0 = x − 0.3
    weight[1, 1, 1], bias[1, 0] = 1.0, 0.5  # l1 − l0 = y − 0.5
    classes, confidence = decision_grid(model, params, np.zeros((2, 0)), (-1, 1, -2, 2), 10)
    assert classes.shape == confidence.shape == (2, 10, 10)
    xs = -1 + (np.arange(10) + 0.5) * 0.2  # pixel centres: column i is x
    ys = -2 + (np.arange(10) + 0.5) * 0.4  # row j is y
    np.testing.assert_array_equal(classes[0], np.tile(xs > 0.3, (10, 1)))
    np.testing.assert_array_equal(classes[1], np.tile((ys > 0.5)[:, None], (1, 10)))
    np.testing.assert_allclose(confidence[0], np.tile(1 / (1 + np.exp(-abs(xs - 0.3))), (10, 1)))
    np.testing.assert_allclose(
        confidence[1], np.tile(1 / (1 + np.exp(-abs(ys - 0.5)))[:, None], (1, 10))
    )


def test_decision_grid_equals_each_runs_logits_point_by_point():
    model = MLP(2, [5], 3, "tanh", batch_norm=True, dtype=np.float64)
    rng = np.random.default_rng(8)
    params = model.init_host(0)[0] + 0.5 * rng.standard_normal((3, model.n_params))
    buffers = np.abs(rng.standard_normal((3, model.n_buffers))) + 0.2
    rect, res = (-2.0, 1.0, -0.5, 1.5), 7
    # chunks of a few pixels: the last one shorter
    classes, confidence = decision_grid(model, params, buffers, rect, res, max_elements=3 * 5 * 4)
    for r in range(3):
        for j in range(res):
            for i in range(res):
                point = [[rect[0] + (i + 0.5) * 3 / res, rect[2] + (j + 0.5) * 2 / res]]
                logits = model.logits(params[r : r + 1], buffers[r : r + 1], np.array(point))[0, 0]
                assert classes[r, j, i] == np.argmax(logits)
                p = np.exp(logits - logits.max())
                assert confidence[r, j, i] == pytest.approx(p.max() / p.sum(), rel=1e-12)
    with pytest.raises(ValueError, match="2 input features"):
        decision_grid(MLP(3, [], 2), np.zeros((1, 8)), np.zeros((1, 0)), rect, res)
    with pytest.raises(ValueError, match="resolution must be an integer"):
        decision_grid(model, params, buffers, rect, 0)
