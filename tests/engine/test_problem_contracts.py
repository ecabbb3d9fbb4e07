"""Problem contracts that the other problem tests leave open (found by mutation testing):
known values, the elongated bowl's default and formula, when two problems are the same, the
generated data's noise, the regression's default view in closed form, and the base class's
defaults. Oracles: hand-computed values and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import select_backend
from engine.problems.base import Problem, View
from engine.problems.functions import ElongatedQuadratic, FunctionProblem, make_surface
from engine.problems.regression import LinearRegressionProblem, generate_data

BACKEND = select_backend("numpy", "float64")


def value(name, x, y, **kwargs):
    problem = FunctionProblem(BACKEND, make_surface(name, **kwargs))
    return float(problem.loss_and_grad(np.array([[x, y]], float))[0][0])


# ---- surfaces ---------------------------------------------------------------------------------


def test_rastrigin_is_zero_at_its_minimum_and_known_elsewhere():
    assert value("rastrigin", 0.0, 0.0) == pytest.approx(0.0, abs=1e-12)
    # 20 + 0.25 − 10 cos π + 1 − 10 cos 2π = 20 + 0.25 + 10 + 1 − 10
    assert value("rastrigin", 0.5, 1.0) == pytest.approx(21.25, rel=1e-12)


def test_elongated_quadratic_defaults_to_condition_20_and_says_so():
    assert value("elongated_quadratic", 1.0, 1.0) == 10.5  # (1 + 20) / 2
    assert make_surface("elongated_quadratic").formula == "(x² + 20·y²) / 2"
    assert ElongatedQuadratic().condition == 20.0
    assert ElongatedQuadratic(2.5).formula == "(x² + 2.5·y²) / 2"


def test_a_function_problem_starts_where_it_is_told():
    problem = FunctionProblem(BACKEND, make_surface("beale"), start=(0.25, -0.5))
    np.testing.assert_array_equal(problem.start, [0.25, -0.5])
    assert FunctionProblem(BACKEND, make_surface("beale")).start.tolist() == [1.0, 1.5]


def test_function_problems_are_the_same_only_when_surface_condition_and_start_agree():
    def make(name="elongated_quadratic", condition=20.0, start=(1.0, 1.0)):
        return FunctionProblem(BACKEND, make_surface(name, condition), start=start)

    base = make()
    assert base.same_as(make())
    assert not base.same_as(make(start=(1.0, 2.0)))
    assert not base.same_as(make(condition=5.0))
    assert not base.same_as(make(name="rosenbrock"))  # another surface, the same start
    x, y = generate_data(0, 10)
    assert not base.same_as(LinearRegressionProblem(BACKEND, x, y, start=(1.0, 1.0)))


def test_the_base_problem_has_no_minima_no_data_and_is_never_the_same():
    class Bowl(Problem):
        start = np.zeros(2)

        def batch_grad(self, params, prepared):
            return 2 * params

        def loss_and_grad(self, params):
            return (params**2).sum(axis=1), 2 * params

        def surface(self, w1, w2):
            return np.add.outer(np.asarray(w2) ** 2, np.asarray(w1) ** 2)

        def default_view(self):
            return View(-1, 1, -1, 1)

    bowl = Bowl(BACKEND)
    assert bowl.minima().shape == (0, 2)
    assert bowl.prepare([np.arange(3), np.arange(2)]) == [None, None]
    assert not bowl.same_as(Bowl(BACKEND))
    params = np.array([[1.0, 2.0]])
    assert bowl.coords(params) is params


# ---- generated data ------------------------------------------------------------------------


def test_generated_targets_carry_fresh_noise_of_the_default_size():
    x, y = generate_data(seed=4, samples=20_000)
    residual = y - x @ [2.0, -1.0]
    assert np.std(residual) == pytest.approx(0.1, rel=0.02)  # the default noise is 0.1
    assert abs(np.mean(residual)) < 0.005
    assert len(np.unique(residual)) == len(residual)  # every example has its own draw
    assert np.all(np.isfinite(x))
    assert x.dtype == np.float64


# ---- the regression's default view ------------------------------------------------------------


def expected_view(x, y, start):
    """Centred on the least-squares weights w*; half-widths max(1.3·|start − w*|,
    0.2·√(L(start) / A_jj), 1e-6): room for the start, and the distance over which the
    loss rises by its value at the start (L(start) floored at 1e-12, A_jj at 1e-12)."""
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]
    rise = max(np.mean((x @ np.asarray(start) - y) ** 2), 1e-12)
    a_jj = np.maximum(np.mean(x * x, axis=0), 1e-12)
    span = np.maximum(np.abs(np.asarray(start) - w_star) * 1.3, 0.2 * np.sqrt(rise / a_jj))
    span = np.maximum(span, 1e-6)
    return w_star - span, w_star + span


@pytest.mark.parametrize(
    ("case", "scales", "noise", "start"),
    [
        ("start far away", (1.0, 3.0), 0.5, (-4.0, 6.0)),
        ("start at the solution", (1.0, 0.01), 0.5, None),  # the loss rise sets both widths
        ("exact fit at the solution", (0.5, 2.0), 0.0, None),  # only the floors are left
    ],
)
def test_regression_default_view_in_closed_form(case, scales, noise, start):
    x, y = generate_data(seed=2, samples=200, feature_scales=scales, noise=noise)
    if start is None:
        start = tuple(np.linalg.lstsq(x, y, rcond=None)[0])
    view = LinearRegressionProblem(BACKEND, x, y, start=start).default_view()
    low, high = expected_view(x, y, start)
    got = np.array([[view.w1_min, view.w2_min], [view.w1_max, view.w2_max]])
    np.testing.assert_allclose(got, [low, high], rtol=1e-9, atol=1e-12)
