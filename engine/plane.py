"""Planes through weight space, and a network's loss over one.

A plane is a value: ``Plane(origin, d1, d2)`` holds the points ``origin + a·d1 + b·d2``.
``project`` gives the (a, b) of the nearest point of the plane (least squares, so the two
directions need not be orthogonal or of unit length) and ``distance`` how far a point lies off
it: a path far from the plane must not look as if it walked the drawn valley.

Three ways to choose one (issue #7):

- ``trajectory_plane``: the top two principal directions of the recorded points of every run
  (one shared plane), through their mean or a given origin;
- ``random_plane``: two random directions around a point, filter-normalized (Li et al. 2018):
  each row of each weight matrix (one output unit's incoming weights) scaled to the norm of
  that row of the point, biases and batch-norm parameters left still (direction 0);
- ``three_point_plane``: through three points (e.g. the start and two runs' solutions), which
  sit at (0, 0), (1, 0) and (0, 1).

``mlp_grid_loss`` evaluates an MLP over a grid of the plane. The first layer is linear in the
coordinates, ``X·W(a, b)ᵀ = X·W₀ᵀ + a·X·D₁ᵀ + b·X·D₂ᵀ``: three products shared by every grid
point, after which a point costs only the later (narrower) layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.backend import STREAM_INIT, host_rng
from engine.problems.mlp import MLP


@dataclass(frozen=True)
class Plane:
    """``origin + a·d1 + b·d2`` for parameter vectors ``(P,)`` (host NumPy, float64)."""

    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray

    def __post_init__(self):
        gram = self.gram
        if not np.linalg.det(gram) > 1e-12 * gram[0, 0] * gram[1, 1]:
            raise ValueError("the plane's two directions are parallel (or one is zero)")

    @property
    def gram(self) -> np.ndarray:
        d = np.stack([self.d1, self.d2])
        return d @ d.T

    def lift(self, a, b) -> np.ndarray:
        """The points at coordinates ``a``, ``b`` (broadcast together): ``(..., P)``."""
        a = np.asarray(a, float)[..., None]
        b = np.asarray(b, float)[..., None]
        return self.origin + a * self.d1 + b * self.d2

    def project(self, points) -> np.ndarray:
        """Coordinates ``(M, 2)`` of the nearest plane point to each of ``points (M, P)``."""
        offsets = np.atleast_2d(np.asarray(points, float)) - self.origin
        rhs = offsets @ np.stack([self.d1, self.d2]).T
        return np.linalg.solve(self.gram, rhs.T).T

    def distance(self, points) -> np.ndarray:
        """How far each point ``(M, P)`` lies from the plane: ``(M,)``."""
        points = np.atleast_2d(np.asarray(points, float))
        ab = self.project(points)
        return np.linalg.norm(points - self.lift(ab[:, 0], ab[:, 1]), axis=1)


def trajectory_plane(points, origin=None) -> Plane:
    """The two principal directions (unit, orthogonal) of ``points (M, P)``: every recorded
    step of every run. Through their mean, or ``origin`` (e.g. a run's final point)."""
    points = np.asarray(points, float)
    centre = points.mean(axis=0) if origin is None else np.asarray(origin, float)
    _, s, vt = np.linalg.svd(points - centre, full_matrices=False)
    if len(s) < 2 or not s[1] > 1e-12 * max(s[0], 1e-300):
        raise ValueError(
            "the recorded points span less than a plane (every path on one line?); "
            "choose a random or a three-point plane"
        )
    return Plane(centre, vt[0], vt[1])


def three_point_plane(p0, p1, p2) -> Plane:
    """The plane with ``p0`` at (0, 0), ``p1`` at (1, 0) and ``p2`` at (0, 1)."""
    p0 = np.asarray(p0, float)
    try:
        return Plane(p0, np.asarray(p1, float) - p0, np.asarray(p2, float) - p0)
    except ValueError:
        raise ValueError("the three points lie on one line: they span no plane") from None


def random_plane(model: MLP, centre, seed: int) -> Plane:
    """Two filter-normalized Gaussian directions around ``centre (P,)`` (Li et al. 2018)."""
    centre = np.asarray(centre, float)
    rng = host_rng(seed, STREAM_INIT, 1)  # not the initialization's own numbers
    directions = []
    for _ in range(2):
        d = np.zeros_like(centre)
        for e in model.layout.params:
            if not (e.name.startswith("linear") and e.name.endswith(".weight")):
                continue  # biases, γ and β stay: direction 0
            rows = centre[e.offset : e.stop].reshape(e.shape)
            draw = rng.standard_normal(e.shape)
            scale = np.linalg.norm(rows, axis=1, keepdims=True) / np.maximum(
                np.linalg.norm(draw, axis=1, keepdims=True), 1e-300
            )
            d[e.offset : e.stop] = (draw * scale).reshape(-1)
        directions.append(d)
    return Plane(centre, directions[0], directions[1])


def mlp_grid_loss(
    model: MLP,
    plane: Plane,
    buffers,
    x,
    y,
    a_values,
    b_values,
    max_elements: int = 1 << 19,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation-mode loss and accuracy over the grid ``b_values × a_values`` of the plane
    (shapes ``(len(b), len(a))``), batch norm using ``buffers (Q,)``: one run's running
    statistics for every grid point.

    Grid points are taken in chunks whose activations (points × examples × widest hidden
    layer) stay under ``max_elements``: the default keeps a chunk in the CPU's cache, which
    matters more here than the number of chunks.
    """
    xp, dtype = model.xp, model.dtype
    a_grid, b_grid = np.meshgrid(np.asarray(a_values, float), np.asarray(b_values, float))
    a_flat, b_flat = a_grid.reshape(-1), b_grid.reshape(-1)
    first = model.layout.params[0], model.layout.params[1]  # linear0.weight, linear0.bias

    def first_layer_of(vector):
        w = xp.asarray(vector[first[0].offset : first[0].stop].reshape(first[0].shape), dtype)
        bias = xp.asarray(vector[first[1].offset : first[1].stop], dtype)
        return x @ w.T + bias  # (N, H)

    x = xp.asarray(x, dtype)
    y = xp.asarray(y)
    # (3, N·H): a grid point's first layer is [1, a, b] @ this, one small GEMM per chunk
    shared = xp.stack([first_layer_of(v) for v in (plane.origin, plane.d1, plane.d2)])
    hidden = shared.shape[2]
    shared = shared.reshape(3, -1)
    buffers = xp.asarray(np.asarray(buffers, float)[None], dtype)
    n, width = x.shape[0], max(model.widths[1:])
    chunk = max(1, max_elements // (n * width))
    losses, accuracies = [], []
    for start in range(0, len(a_flat), chunk):
        a = a_flat[start : start + chunk]
        b = b_flat[start : start + chunk]
        params = xp.asarray(plane.lift(a, b), dtype)  # (G, P): later layers need them all
        coefficients = xp.asarray(np.stack([np.ones_like(a), a, b], axis=1), dtype)
        z0 = (coefficients @ shared).reshape(len(a), n, hidden)  # (G, N, H)
        grid_buffers = xp.broadcast_to(buffers, (len(a), buffers.shape[1]))
        loss, accuracy = model.evaluate_first_layer(params, grid_buffers, z0, y)
        losses.append(loss)
        accuracies.append(accuracy)
    shape = a_grid.shape
    to_host = (lambda v: v.get()) if hasattr(xp, "cuda") else np.asarray
    return (
        to_host(xp.concatenate(losses)).reshape(shape),
        to_host(xp.concatenate(accuracies)).reshape(shape),
    )
