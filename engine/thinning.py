"""Thinning a long path so that it keeps its shape: which of its points to draw.

One definition for everything that draws a path: the app's surface view and exported figures
(through ``gui.geometry``, which re-exports it) and the headless runner's bounded sample of
rows for its figures (``engine.records.RowSample``). NumPy only, no Qt.
"""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]  # (x0, x1, y0, y1) in data coordinates


def thin_path(
    points: np.ndarray, box: Box, budget: int = 6000, early: int = 400, tolerance: float = 1e-3
) -> np.ndarray:
    """Indices of at most ``budget`` points of a long path (shape (n, 2)) that keep its
    shape (see ``PathThinner``, which does this for a path that grows)."""
    thinner = PathThinner(box, budget, early, tolerance)
    thinner.extend(points)
    return thinner.indices()


class PathThinner:
    """Which points of a long path to draw so that it keeps its shape: the first
    ``early`` points (where paths turn most), then one point each time the path has
    travelled ``step`` (in views: ``box``'s width and height) since the last one kept, and
    the last point. Every dropped point lies within ``step`` of the thinned polyline (it is
    within that arc length of the kept point before it), so a path is dense where it turns
    or oscillates and sparse where it crawls. A path of at most ``budget`` points is kept
    whole; beyond, ``step`` starts at ``tolerance`` and grows by half whenever more than
    ``budget`` points would be kept. Distances are measured with
    the points clamped to the box widened by a view on each side: what happens far outside
    costs nothing.

    Incremental: ``extend`` with the rows new since the last call costs time in proportion
    to them (a re-bucketing of everything, when the step grows, is rare), so a history of
    millions of rows growing at every snapshot is thinned at the cost of its new rows.

    ``bounded``: memory independent of the path's length (the headless runner's millions of
    streamed rows). The distance travelled is then kept only at the kept points, and a
    growing step re-buckets those alone: a point dropped at a step is within the sum of the
    steps it was dropped at (under three times the last) of a kept one, and the selection
    depends a little on how the path arrived in pieces. Unbounded (the app, whose history is
    in memory anyway), the selection is exactly that of the whole path at once."""

    GROWTH = 1.5

    def __init__(
        self,
        box: Box,
        budget: int = 6000,
        early: int = 400,
        tolerance: float = 1e-3,
        bounded: bool = False,
    ):
        x0, x1, y0, y1 = box
        self.origin = np.array([x0, y0], float)
        self.size = np.array([x1 - x0, y1 - y0], float)
        self.budget = max(int(budget), 4)
        self.early = min(int(early), self.budget // 2)
        self.tolerance = float(tolerance)
        self.bounded = bool(bounded)
        self.step = 0.0  # every point, while they fit in the budget
        self.n = 0
        self._travelled = np.zeros(0)  # of every point (unbounded only)
        self._total = 0.0  # travelled up to the last point
        self._base = 0.0  # travelled up to the last early point
        self._last = None  # the last point, scaled
        self._kept = np.zeros(0, int)  # beyond the early points
        self._kept_t = np.zeros(0)  # travelled up to each of them
        self._bucket = -1.0  # of the last point

    def extend(self, points: np.ndarray) -> None:
        points = np.asarray(points, float).reshape(-1, 2)
        if not len(points):
            return
        scaled = np.clip((points - self.origin) / self.size, -1.0, 2.0)
        joined = scaled if self._last is None else np.vstack([self._last, scaled])
        d = np.hypot(*np.diff(joined, axis=0).T)
        if self._last is None:
            d = np.concatenate([[0.0], d])
        travelled = self._total + np.cumsum(d)
        if not self.bounded:
            self._travelled = np.concatenate([self._travelled, travelled])
        self._total = float(travelled[-1])
        self._last = scaled[-1]
        first = self.n
        self.n += len(points)
        if self.early and first < self.early <= self.n:
            self._base = float(travelled[self.early - 1 - first])
        start = max(first, self.early)
        self._append(*self._changes(np.arange(start, self.n), travelled[start - first :]))
        while len(self._kept) + self.early + 1 > self.budget:
            self.step = self.tolerance if self.step == 0 else self.step * self.GROWTH
            self._bucket = -1.0
            if self.bounded:
                candidates, t = self._kept, self._kept_t
            else:
                candidates, t = np.arange(self.early, self.n), self._travelled[self.early :]
            self._kept, self._kept_t = self._changes(candidates, t)

    def _append(self, kept: np.ndarray, t: np.ndarray) -> None:
        self._kept = np.concatenate([self._kept, kept])
        self._kept_t = np.concatenate([self._kept_t, t])

    def _changes(self, index: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Those of the points ``index`` (travelled ``t``) where the path enters a new
        ``step`` of distance."""
        if not len(index) or self.step == 0:
            return index, t
        bucket = np.floor((t - self._base) / self.step)
        change = np.flatnonzero(np.diff(bucket, prepend=self._bucket) != 0)
        self._bucket = float(bucket[-1])
        return index[change], t[change]

    def indices(self) -> np.ndarray:
        """The points to draw, in order, the first and last included."""
        if self.n == 0:
            return np.zeros(0, int)
        early = np.arange(min(self.early, self.n))
        return np.unique(np.concatenate([early, self._kept, [self.n - 1]]))
