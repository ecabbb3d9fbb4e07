"""Problems against oracles that share no code with them: float64 central finite
differences, direct sums over the examples, numpy's least squares."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.backend import select_backend
from engine.problems.functions import (
    SURFACES,
    ElongatedQuadratic,
    FunctionProblem,
    make_surface,
)
from engine.problems.regression import (
    DataError,
    LinearRegressionProblem,
    generate_data,
    read_data_csv,
)

BACKEND = select_backend("numpy", "float64")

# every registered surface, plus the elongated bowl with a condition of its own
SURFACE_CASES = [pytest.param(cls(), id=name) for name, cls in SURFACES.items()] + [
    pytest.param(ElongatedQuadratic(condition=3.7), id="elongated_quadratic-3.7")
]


def central_difference(f, x, y, h=1e-6):
    """(∂f/∂x, ∂f/∂y) by float64 central differences."""
    return (f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)


def points_in_view(surface, n, seed=0):
    rng = np.random.default_rng(seed)
    v = surface.view
    return rng.uniform(v.w1_min, v.w1_max, n), rng.uniform(v.w2_min, v.w2_max, n)


# ---- analytic surfaces -------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACE_CASES)
def test_surface_gradient_matches_finite_differences(surface):
    x, y = points_in_view(surface, 500)
    gx, gy = surface.grad(np, x, y)
    fx, fy = central_difference(lambda a, b: surface.value(np, a, b), x, y)
    # the error of a central difference is O(h²·f''') plus rounding O(ε·|f| / h)
    scale = 1e-6 * (1 + np.abs(surface.value(np, x, y)))
    assert np.all(np.abs(gx - fx) <= scale + 1e-6 * np.abs(fx)), "∂f/∂x"
    assert np.all(np.abs(gy - fy) <= scale + 1e-6 * np.abs(fy)), "∂f/∂y"


@pytest.mark.parametrize("surface", SURFACE_CASES)
def test_listed_minima_are_stationary_and_lower_than_around(surface):
    minima = np.array(surface.minima, float).reshape(-1, 2)
    assert len(minima) >= 1
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for mx, my in minima:
        gx, gy = surface.grad(np, np.float64(mx), np.float64(my))
        assert np.hypot(gx, gy) < 1e-4, f"gradient at listed minimum ({mx}, {my})"
        here = surface.value(np, mx, my)
        for radius in (1e-3, 1e-2, 1e-1):
            around = surface.value(np, mx + radius * np.cos(angles), my + radius * np.sin(angles))
            assert np.all(around > here), f"a point {radius} from ({mx}, {my}) is lower"


@pytest.mark.parametrize("surface", SURFACE_CASES)
def test_listed_minima_are_global_over_the_view(surface):
    v = surface.view
    w1 = np.linspace(v.w1_min, v.w1_max, 801)
    w2 = np.linspace(v.w2_min, v.w2_max, 801)
    problem = FunctionProblem(BACKEND, surface)
    lowest_listed = min(surface.value(np, mx, my) for mx, my in surface.minima)
    assert problem.surface(w1, w2).min() >= lowest_listed - 1e-9


@pytest.mark.parametrize("surface", SURFACE_CASES)
def test_function_problem_grid_and_loss_equal_pointwise_values(surface):
    problem = FunctionProblem(BACKEND, surface)
    v = problem.default_view()
    w1 = np.linspace(v.w1_min, v.w1_max, 23)
    w2 = np.linspace(v.w2_min, v.w2_max, 17)  # not square: rows are w2, columns w1
    grid = problem.surface(w1, w2)
    assert grid.shape == (17, 23)
    for i in (0, 5, 16):
        for j in (0, 11, 22):
            assert grid[i, j] == pytest.approx(surface.value(np, w1[j], w2[i]), rel=1e-14)
    x, y = points_in_view(surface, 40, seed=3)
    params = np.stack([x, y], axis=1)
    loss, grad = problem.loss_and_grad(params)
    assert loss.shape == (40,)
    assert grad.shape == (40, 2)
    for m in (0, 17, 39):
        assert loss[m] == pytest.approx(surface.value(np, x[m], y[m]), rel=1e-14)
        np.testing.assert_allclose(grad[m], surface.grad(np, x[m], y[m]), rtol=1e-14)
    np.testing.assert_allclose(problem.batch_grad(params, None), grad, rtol=1e-14)
    np.testing.assert_array_equal(problem.minima(), np.array(surface.minima).reshape(-1, 2))


def test_make_surface():
    assert make_surface("elongated_quadratic", condition=7.0).condition == 7.0
    for name in SURFACES:
        assert make_surface(name).name == name
    with pytest.raises(ValueError, match="no_such_surface"):
        make_surface("no_such_surface")


def test_rosenbrock_and_elongated_quadratic_known_values():
    assert SURFACES["rosenbrock"]().value(np, 0.0, 0.0) == 1.0
    assert SURFACES["rosenbrock"]().value(np, -1.0, 2.0) == 4 + 100
    eq = ElongatedQuadratic(condition=10.0)
    assert eq.value(np, 1.0, 1.0) == pytest.approx(5.5)
    assert eq.grad(np, 1.0, 1.0) == (1.0, 10.0)


# ---- linear regression -------------------------------------------------------------------


@pytest.fixture
def data():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(53, 2)) * [1.5, 0.4] + [0.3, -1.0]
    y = x @ [2.0, -3.0] + 0.5 * rng.normal(size=53)
    return x, y


def direct_loss(x, y, w):
    return np.mean((x @ w - y) ** 2)


def test_loss_and_grad_vs_direct_mean_and_finite_differences(data):
    x, y = data
    problem = LinearRegressionProblem(BACKEND, x, y)
    rng = np.random.default_rng(0)
    params = rng.normal(scale=3.0, size=(9, 2))
    loss, grad = problem.loss_and_grad(params)
    h = 1e-6
    for m, w in enumerate(params):
        assert loss[m] == pytest.approx(direct_loss(x, y, w), rel=1e-12)
        fd = [
            (direct_loss(x, y, w + h * e) - direct_loss(x, y, w - h * e)) / (2 * h)
            for e in np.eye(2)
        ]
        np.testing.assert_allclose(grad[m], fd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(grad[m], 2 / len(y) * x.T @ (x @ w - y), rtol=1e-12)


def test_batch_grad_vs_direct_minibatch_gradient(data):
    x, y = data
    problem = LinearRegressionProblem(BACKEND, x, y)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(y))
    batches = [order[:1], order[1:8], order[8:40], order[40:]]  # sizes 1, 7, 32, 13
    prepared = problem.prepare(batches)
    assert len(prepared) == len(batches)
    params = rng.normal(size=(5, 2))
    for idx, prep in zip(batches, prepared, strict=True):
        got = problem.batch_grad(params, prep)
        xb, yb = x[idx], y[idx]
        for m, w in enumerate(params):
            expected = 2 / len(idx) * xb.T @ (xb @ w - yb)
            np.testing.assert_allclose(got[m], expected, rtol=1e-12, atol=1e-12)
    # one batch alone is prepared the same as within an epoch
    for idx, prep in zip(batches, prepared, strict=True):
        alone = problem.prepare([idx])[0]
        np.testing.assert_allclose(
            problem.batch_grad(params, alone), problem.batch_grad(params, prep), rtol=1e-14
        )


def test_surface_closed_form_vs_per_point(data):
    x, y = data
    problem = LinearRegressionProblem(BACKEND, x, y)
    w1 = np.linspace(-5, 5, 13)
    w2 = np.linspace(-2, 8, 7)
    grid = problem.surface(w1, w2)
    assert grid.shape == (7, 13)
    for i, b in enumerate(w2):
        for j, a in enumerate(w1):
            assert grid[i, j] == pytest.approx(direct_loss(x, y, np.array([a, b])), rel=1e-12)


def test_solution_is_least_squares(data):
    x, y = data
    problem = LinearRegressionProblem(BACKEND, x, y)
    expected = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(problem.solution(), expected, rtol=1e-10)
    np.testing.assert_allclose(problem.minima(), expected[None, :], rtol=1e-10)
    _, grad = problem.loss_and_grad(expected[None, :])
    np.testing.assert_allclose(grad, 0, atol=1e-10)
    v = problem.default_view()
    assert v.w1_min < expected[0] < v.w1_max
    assert v.w2_min < expected[1] < v.w2_max


def test_generate_data_feature_scales_and_weights():
    x, y = generate_data(seed=3, samples=20000, feature_scales=(1.0, 100.0), noise=0.1)
    assert x.shape == (20000, 2)
    assert y.shape == (20000,)
    np.testing.assert_allclose(x.std(axis=0), [1.0, 100.0], rtol=0.03)
    np.testing.assert_allclose(np.linalg.lstsq(x, y, rcond=None)[0], [2.0, -1.0], atol=0.01)
    x2, y2 = generate_data(seed=3, samples=20000, feature_scales=(1.0, 100.0), noise=0.1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = generate_data(seed=4, samples=20000, feature_scales=(1.0, 100.0), noise=0.1)
    assert not np.array_equal(x, x3)


def test_read_data_csv_reads_named_columns_in_any_order(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("y,note,x2,x1\n1.5,a,2,3\n-1,b,0.5,-4e-1\n", encoding="utf-8")
    x, y = read_data_csv(path)
    np.testing.assert_array_equal(x, [[3.0, 2.0], [-0.4, 0.5]])
    np.testing.assert_array_equal(y, [1.5, -1.0])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x1,y\n1,2\n", "x2"),  # a missing column is named
        ("x1,x2,y\n1,2,3\n4,five,6\n", "line 3"),  # not a number: the line is named
        ("x1,x2,y\n1,2\n", "line 2"),  # a short row
        ("x1,x2,y\n1,2,nan\n", "finite"),
        ("", "empty"),
        ("x1,x2,y\n", "no rows"),
    ],
    ids=["missing-column", "not-a-number", "short-row", "nan", "empty", "header-only"],
)
def test_read_data_csv_errors_name_the_file(tmp_path, text, words):
    path = tmp_path / "bad data.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        read_data_csv(path)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_data_csv_takes_a_byte_order_mark_and_blank_lines(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffx1,x2,y\r\n1,2,3\r\n\r\n4,5,6\r\n\r\n".encode())
    x, y = read_data_csv(path)
    np.testing.assert_array_equal(x, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(y, [3.0, 6.0])


def test_read_data_csv_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("x1,x2,y\n1,2,3 \u00b0C\n".encode("latin-1"))
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_data_csv(path)


def test_read_data_csv_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_data_csv(path)
