"""Analytic loss surfaces of two parameters, with their exact gradients.

Each surface is a small class with ``value`` and ``grad`` written against the array module
``xp`` (NumPy or CuPy), a view that shows its interesting part, and its known minima. The
formulas are the textbook ones; the tests check every gradient against float64 finite
differences.
"""

from __future__ import annotations

import math

import numpy as np

from engine.backend import Backend
from engine.problems.base import Problem, View


class Surface:
    """One analytic function f(x, y) of the two parameters."""

    name: str = ""
    formula: str = ""
    view: View = View(-2, 2, -2, 2)
    default_start: tuple[float, float] = (-1.5, 1.5)
    minima: tuple[tuple[float, float], ...] = ()

    def value(self, xp, x, y):
        raise NotImplementedError

    def grad(self, xp, x, y):
        raise NotImplementedError


class Rosenbrock(Surface):
    name = "rosenbrock"
    formula = "(1 − x)² + 100 (y − x²)²"
    view = View(-2.0, 2.0, -1.0, 3.0)
    default_start = (-1.5, 2.0)
    minima = ((1.0, 1.0),)

    def value(self, xp, x, y):
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(self, xp, x, y):
        r = y - x * x
        return -2 * (1 - x) - 400 * x * r, 200 * r


class Beale(Surface):
    name = "beale"
    formula = "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²"
    view = View(-4.5, 4.5, -4.5, 4.5)
    default_start = (1.0, 1.5)
    minima = ((3.0, 0.5),)

    def value(self, xp, x, y):
        a = 1.5 - x + x * y
        b = 2.25 - x + x * y * y
        c = 2.625 - x + x * y**3
        return a * a + b * b + c * c

    def grad(self, xp, x, y):
        a = 1.5 - x + x * y
        b = 2.25 - x + x * y * y
        c = 2.625 - x + x * y**3
        gx = 2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y**3 - 1)
        gy = 2 * a * x + 4 * b * x * y + 6 * c * x * y * y
        return gx, gy


class Himmelblau(Surface):
    name = "himmelblau"
    formula = "(x² + y − 11)² + (x + y² − 7)²"
    view = View(-5.0, 5.0, -5.0, 5.0)
    default_start = (-0.5, -0.5)
    minima = (
        (3.0, 2.0),
        (-2.805118, 3.131312),
        (-3.779310, -3.283186),
        (3.584428, -1.848126),
    )

    def value(self, xp, x, y):
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(self, xp, x, y):
        a = x * x + y - 11
        b = x + y * y - 7
        return 4 * x * a + 2 * b, 2 * a + 4 * y * b


class Saddle(Surface):
    """A saddle at the origin between two valleys: gradient descent started on the ridge
    line y = 0 stalls there, any push off it rolls down to y = ±√2."""

    name = "saddle"
    formula = "x² − y² + y⁴/4"
    view = View(-2.0, 2.0, -2.5, 2.5)
    default_start = (-1.8, 0.02)
    minima = ((0.0, math.sqrt(2.0)), (0.0, -math.sqrt(2.0)))

    def value(self, xp, x, y):
        return x * x - y * y + 0.25 * y**4

    def grad(self, xp, x, y):
        return 2 * x, -2 * y + y**3


class ElongatedQuadratic(Surface):
    """A bowl whose curvature along y is ``condition`` times that along x: the error
    surface of the lecture's unnormalized features, where one learning rate can't fit both."""

    name = "elongated_quadratic"
    view = View(-3.0, 3.0, -3.0, 3.0)
    default_start = (-2.5, 2.0)
    minima = ((0.0, 0.0),)

    def __init__(self, condition: float = 20.0):
        self.condition = float(condition)
        self.formula = f"(x² + {self.condition:g}·y²) / 2"

    def value(self, xp, x, y):
        return 0.5 * (x * x + self.condition * y * y)

    def grad(self, xp, x, y):
        return x, self.condition * y


class Rastrigin(Surface):
    name = "rastrigin"
    formula = "20 + x² − 10 cos 2πx + y² − 10 cos 2πy"
    view = View(-5.12, 5.12, -5.12, 5.12)
    default_start = (-2.7, 3.3)
    minima = ((0.0, 0.0),)

    def value(self, xp, x, y):
        tau = 2 * math.pi
        return 20 + x * x - 10 * xp.cos(tau * x) + y * y - 10 * xp.cos(tau * y)

    def grad(self, xp, x, y):
        tau = 2 * math.pi
        return 2 * x + 10 * tau * xp.sin(tau * x), 2 * y + 10 * tau * xp.sin(tau * y)


class Bumpy(Surface):
    """A wide bowl with Gaussian dents: several local minima of different depths, the
    deepest at about (1.43, 0.95). Where a path ends depends on the optimizer and the start."""

    name = "bumpy"
    formula = "0.1(x² + y²) − Σ aᵢ exp(−|p − cᵢ|² / 2sᵢ²)"
    view = View(-4.0, 4.0, -4.0, 4.0)
    default_start = (-3.2, -2.8)
    # (cx, cy, depth, width)
    BUMPS = (
        (1.5, 1.0, 2.0, 0.7),
        (-1.8, 1.6, 1.4, 0.6),
        (-1.0, -1.8, 1.2, 0.5),
        (2.2, -2.0, 1.0, 0.55),
        (0.0, 0.0, 0.6, 0.4),
    )
    minima = ((1.429314, 0.952876),)  # the deepest dent's centre, pulled in by the bowl

    def value(self, xp, x, y):
        total = 0.1 * (x * x + y * y)
        for cx, cy, depth, width in self.BUMPS:
            total = total - depth * xp.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
        return total

    def grad(self, xp, x, y):
        gx, gy = 0.2 * x, 0.2 * y
        for cx, cy, depth, width in self.BUMPS:
            e = depth * xp.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2)) / width**2
            gx = gx + e * (x - cx)
            gy = gy + e * (y - cy)
        return gx, gy


SURFACES: dict[str, type[Surface]] = {
    cls.name: cls
    for cls in (Rosenbrock, Beale, Himmelblau, Saddle, ElongatedQuadratic, Rastrigin, Bumpy)
}


def make_surface(name: str, condition: float = 20.0) -> Surface:
    if name not in SURFACES:
        raise ValueError(f"unknown function {name!r}; expected one of {', '.join(SURFACES)}")
    if name == "elongated_quadratic":
        return ElongatedQuadratic(condition)
    return SURFACES[name]()


class FunctionProblem(Problem):
    """An analytic surface as a training problem: no data, every gradient is exact."""

    def __init__(self, backend: Backend, surface: Surface, start=None):
        super().__init__(backend)
        self.surface_fn = surface
        self.start = np.asarray(surface.default_start if start is None else start, float)

    def same_as(self, other) -> bool:
        return (
            isinstance(other, FunctionProblem)
            and type(other.surface_fn) is type(self.surface_fn)
            and vars(other.surface_fn) == vars(self.surface_fn)  # e.g. the condition number
            and np.array_equal(other.start, self.start)
        )

    def batch_grad(self, params, prepared):
        gx, gy = self.surface_fn.grad(self.xp, params[:, 0], params[:, 1])
        return self.xp.stack([gx, gy], axis=1)

    def loss_and_grad(self, params):
        value = self.surface_fn.value(self.xp, params[:, 0], params[:, 1])
        return value, self.batch_grad(params, None)

    def surface(self, w1, w2):
        x, y = np.meshgrid(np.asarray(w1, float), np.asarray(w2, float))
        return self.surface_fn.value(np, x, y)

    def default_view(self) -> View:
        return self.surface_fn.view

    def minima(self) -> np.ndarray:
        return np.array(self.surface_fn.minima, float).reshape(-1, 2)
