"""A trajectory plane's directions have a sign fixed by the paths (their third moment along
each is positive), whichever of the three fits computes it: the runner's SVD
(``trajectory_plane``), its subspace iteration for large models (``_iterative_plane``) and
the app's Gram-matrix fit (``principal_plane``). Without it the app's plane mirrored back
and forth while training went on, and the app's picture was the mirror image of the
runner's ``surface.png`` and of the CSV's ``w1, w2`` (acceptance review)."""

from __future__ import annotations

import numpy as np

from engine.plane import oriented_plane, trajectory_plane
from engine.training import _iterative_plane
from gui.network_view import principal_plane


def paths(seed: int, runs: int = 3, steps: int = 40, p: int = 30) -> np.ndarray:
    """``(steps, runs, p)`` states: runs leaving a common start along curved paths, each
    going further one way than the other along every principal direction."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((p, 3)))[0].T
    t = np.linspace(0, 1, steps)[:, None]
    states = []
    for r in range(runs):
        a = 3.0 * t * (1 + 0.3 * r)
        b = np.sin(np.pi * t * (1 + r)) * (1.5 - r) + 0.4 * t
        c = 0.01 * rng.standard_normal((steps, 1))
        states.append(a * basis[0] + b * basis[1] + c * basis[2])
    return np.stack(states, axis=1)


def third_moments(plane, points) -> np.ndarray:
    return np.sum(plane.project(points) ** 3, axis=0)


def test_every_fit_gives_the_same_signed_directions_with_the_paths_positive():
    states = paths(seed=1)
    points = states.reshape(-1, states.shape[2])
    origin = states[0, 0]
    svd = trajectory_plane(points, origin=origin)
    gram = principal_plane(points, origin=origin)
    finite = np.ones(states.shape[:2], bool)
    iterative = _iterative_plane(states, finite, origin, seed=0)
    for plane in (svd, gram, iterative):
        assert (third_moments(plane, points) > 0).all()
        np.testing.assert_allclose(plane.d1, svd.d1, atol=1e-9)
        np.testing.assert_allclose(plane.d2, svd.d2, atol=1e-9)


def test_mirrored_paths_get_mirrored_directions():
    """Paths reflected through their start are the same picture: each direction turns
    round with them, and every point keeps its coordinates' magnitudes, mirrored."""
    states = paths(seed=2)
    points = states.reshape(-1, states.shape[2])
    origin = states[0, 0]
    mirrored = 2 * origin - points
    plane = trajectory_plane(points, origin=origin)
    theirs = trajectory_plane(mirrored, origin=origin)
    np.testing.assert_allclose(theirs.d1, -plane.d1, atol=1e-12)
    np.testing.assert_allclose(theirs.d2, -plane.d2, atol=1e-12)
    np.testing.assert_allclose(theirs.project(mirrored), plane.project(points), atol=1e-9)


def test_a_plane_fitted_to_every_other_state_keeps_the_signs():
    """The app fits at most a few hundred of the recorded states, the runner all of them:
    the final points have the same signs on both (the review's mirror image)."""
    states = paths(seed=3, steps=81)
    origin = states[0, 0]
    every = trajectory_plane(states.reshape(-1, states.shape[2]), origin=origin)
    some = principal_plane(states[::2].reshape(-1, states.shape[2]), origin=origin)
    finals = states[-1]
    np.testing.assert_array_equal(np.sign(every.project(finals)), np.sign(some.project(finals)))


def test_paths_symmetric_about_the_centre_get_one_sign_from_every_fit():
    """A path and its mirror image through the centre have no third moment (its rounding
    would pick the sign): then each direction's largest component is positive, in every
    fit alike (the review found the three fits disagreeing in 186 of 200 such cases)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        a, b = rng.standard_normal(30), rng.standard_normal(30)
        t = np.linspace(0, 1, 20)[:, None]
        run = t * a + t**2 * b
        points = np.vstack([run, -run])  # (their mean, the centre, is 0)
        svd = trajectory_plane(points)
        gram = principal_plane(points)
        states = points.reshape(2, 20, 30).transpose(1, 0, 2)
        iterative = _iterative_plane(states, np.ones((20, 2), bool), None, seed=0)
        for plane in (svd, gram, iterative):
            for d in (plane.d1, plane.d2):
                assert d[np.argmax(np.abs(d))] > 0
            np.testing.assert_allclose(plane.d1, svd.d1, atol=1e-8)
            np.testing.assert_allclose(plane.d2, svd.d2, atol=1e-8)


def test_huge_coordinates_are_oriented_without_overflow():
    """The coordinates of a blowing-up path (finite, 1e200) would overflow when cubed."""
    d1, d2 = np.eye(3)[0], np.eye(3)[1]
    coords = np.array([[1e200, -1e200], [2e200, -3e200], [-1e199, 1e199]])
    with np.errstate(all="raise"):
        plane = oriented_plane(np.zeros(3), d1, d2, coords)
    np.testing.assert_array_equal(plane.d1, d1)  # most of the travel is positive along d1
    np.testing.assert_array_equal(plane.d2, -d2)  # and negative along d2: turned round
