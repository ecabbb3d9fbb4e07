"""The headless runner's sample of rows for its figures keeps every run's path in shape
(``engine.records.RowSample`` over ``engine.thinning.PathThinner``)."""

from __future__ import annotations

import numpy as np

from engine.records import RowSample
from engine.thinning import PathThinner
from engine.training import History
from tests.oracles import polyline_deviation

BOX = (-1.0, 1.0, -1.0, 1.0)


def crawl_then_late_zigzag(n: int) -> np.ndarray:
    """A slow straight crawl, then, in its last 3000 steps, a zig-zag across a valley."""
    crawl = np.column_stack([np.linspace(-1, 0, n - 3000), np.zeros(n - 3000)])
    zig = np.column_stack([np.linspace(0, 0.5, 3000), 0.05 * (-1.0) ** np.arange(3000)])
    return np.concatenate([crawl, zig])


def late_spiral(n: int) -> np.ndarray:
    """Still for most of the run, then a tight spiral at the end."""
    k = np.arange(n)
    late = np.clip(k - (n - 4000), 0, None)
    angle = 0.3 * late
    r = 0.5 * np.exp(-late / 3000.0)
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def sampled(paths: np.ndarray, window: int = 500) -> History:
    """Feed a ``RowSample`` the rows of ``paths`` (rows, runs, 2) window by window, as the
    runner does, and return its history."""
    rows, runs, _ = paths.shape
    labels = [f"run {r}" for r in range(runs)]
    sample = RowSample(labels, BOX)
    for start in range(0, rows, window):
        stop = min(start + window, rows)
        h = History.empty(labels, np.arange(start, stop), diagnostics=False)
        h.coords[:] = paths[start:stop]
        h.loss[:] = 1.0
        h.count = stop - start
        sample.add(h, final=stop == rows)
    return sample.history()


def test_sampled_paths_keep_a_sharp_late_turn():
    n = 100_000
    paths = np.stack([crawl_then_late_zigzag(n), late_spiral(n)], axis=1)
    h = sampled(paths)
    rows = h.step[: h.count]
    assert rows[0] == 0
    assert rows[-1] == n - 1
    assert np.all(np.diff(rows) > 0)
    for run in range(2):
        # the sampled coordinates are the run's own, and within a thousandth of the view
        np.testing.assert_array_equal(h.coords[: h.count, run], paths[rows, run])
        assert polyline_deviation(paths[:, run], rows, BOX) < 1e-3
    assert h.count <= 20_000 + 3  # bounded: the runs' budgets and the pinned rows
    # what a regular stride (the same number of rows) did: a chord through the turns
    stride = np.unique(np.append(np.arange(0, n, n // h.count + 1), n - 1))
    assert max(polyline_deviation(paths[:, run], stride, BOX) for run in range(2)) > 1e-2


def test_a_bounded_thinner_keeps_the_shape_of_a_path_arriving_in_pieces():
    n = 100_000
    for path in (crawl_then_late_zigzag(n), late_spiral(n)):
        thinner = PathThinner(BOX, budget=6000, bounded=True)
        for chunk in np.array_split(path, 300):
            thinner.extend(chunk)
            assert len(thinner.indices()) <= 6000
        keep = thinner.indices()
        assert keep[0] == 0
        assert keep[-1] == n - 1
        assert polyline_deviation(path, keep, BOX) < 1e-3
