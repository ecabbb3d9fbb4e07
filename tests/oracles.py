"""Independent computations that several test files check drawing against."""

from __future__ import annotations

import itertools

import numpy as np


def polyline_deviation(points: np.ndarray, keep, box) -> float:
    """The farthest any point of the full path ``points`` lies from the segment of the
    kept polyline (its rows ``keep``) that replaces it, in views of ``box``
    (``(x0, x1, y0, y1)``), by brute force."""
    x0, x1, y0, y1 = box
    p = (np.asarray(points, float) - (x0, y0)) / (x1 - x0, y1 - y0)
    worst = 0.0
    for a, b in itertools.pairwise(keep):
        if b - a < 2:
            continue
        u, v, q = p[a], p[b], p[a + 1 : b]
        d = v - u
        t = np.clip(((q - u) @ d) / max(float(d @ d), 1e-300), 0.0, 1.0)
        worst = max(worst, float(np.hypot(*(q - (u + t[:, None] * d)).T).max()))
    return worst
