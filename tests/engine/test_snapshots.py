"""The reservoir of full states: its retention rule against a literal simulation of it, its
byte bound, and the states it hands back."""

from __future__ import annotations

import numpy as np
import pytest

from engine.snapshots import Reservoir


def oracle_kept(offered: int, capacity: int) -> list[int]:
    """The rule as the docs state it, one row at a time: append the new row (the previous
    newest goes if it is not on the stride); while over capacity, double the stride and drop
    every kept row that is not on it, except the newest."""
    kept: list[int] = []
    stride = 1
    for row in range(offered):
        if kept and kept[-1] % stride != 0:
            kept.pop()
        kept.append(row)
        while len(kept) > capacity:
            stride *= 2
            kept = [r for r in kept if r % stride == 0 or r == row]
    return kept


def row_values(rows, runs, p):
    """A state that names its row: value = row + run/100 + parameter/10⁴."""
    rows = np.asarray(rows, float)[:, None, None]
    return rows + np.arange(runs)[None, :, None] / 100 + np.arange(p)[None, None, :] / 1e4


def offer(res: Reservoir, first: int, t: int, runs: int, p: int, q: int):
    rows = np.arange(first, first + t)
    new, slots = res.admit(rows * 10)  # steps: every 10th update recorded
    values = row_values(rows[new], runs, p)
    res.store(slots, slice(None), values, values[..., :q] * -1)


@pytest.mark.parametrize("capacity", [2, 3, 5, 8, 13])
@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_kept_rows_follow_the_rule_for_any_chunking(capacity, chunk):
    runs, p, q = 2, 3, 1
    row_bytes = runs * (p + q) * 8 + 16
    res = Reservoir(runs, p, q, budget_bytes=capacity * row_bytes, rows=None)
    assert res.capacity == capacity
    offered = 0
    while offered < 200:
        t = min(chunk, 200 - offered)
        offer(res, offered, t, runs, p, q)
        offered += t
        expected = oracle_kept(offered, capacity)
        assert res.rows.tolist() == expected, offered
        np.testing.assert_array_equal(res.steps, np.array(expected) * 10)
        np.testing.assert_array_equal(res.params, row_values(expected, runs, p))
        np.testing.assert_array_equal(res.buffers, -row_values(expected, runs, p)[..., :q])
        assert res.nbytes <= capacity * row_bytes
        assert res.complete == (len(expected) == offered)


def test_kept_rows_are_evenly_spread_and_bounded_after_ten_times_the_capacity():
    runs, p, q = 4, 50, 10
    budget = 1 << 16
    res = Reservoir(runs, p, q, budget_bytes=budget, dtype=np.float32)
    capacity = res.capacity
    assert capacity == budget // (runs * (p + q) * 4 + 16)
    for first in range(0, 10 * capacity, 37):
        offer(res, first, min(37, 10 * capacity - first), runs, p, q)
        assert res.nbytes <= budget
    rows = res.rows
    assert rows[0] == 0
    assert rows[-1] == 10 * capacity - 1
    assert capacity // 2 <= res.count <= capacity
    gaps = np.diff(rows[:-1])
    assert np.all(gaps == gaps[0])  # one stride between all but the newest
    assert res.params.dtype == np.float32


def test_a_short_training_allocates_only_its_rows_and_keeps_them_all():
    res = Reservoir(3, 1000, budget_bytes=1 << 30, rows=5)
    assert res.nbytes == 5 * (3 * 1000 * 8 + 16)
    offer(res, 0, 5, 3, 1000, 0)
    assert res.complete
    assert res.rows.tolist() == [0, 1, 2, 3, 4]


def test_a_budget_below_two_rows_still_holds_the_start_and_the_newest():
    res = Reservoir(2, 10, budget_bytes=1)
    assert res.capacity == 2
    offer(res, 0, 9, 2, 10, 0)
    assert res.rows.tolist() == [0, 8]


def test_store_into_some_runs_and_copy_a_run():
    a = Reservoir(3, 2, 1, budget_bytes=10_000, rows=4)
    _new, slots = a.admit([0, 1, 2, 3])
    a.store(slots, np.array([0, 2]), np.ones((4, 2, 2)), np.zeros((4, 2, 1)))
    assert np.isnan(a.params[:, 1]).all()
    assert (a.params[:, [0, 2]] == 1).all()
    b = Reservoir(3, 2, 1, budget_bytes=10_000, rows=4)
    b.admit([0, 1, 2, 3])
    b.copy_run(1, a, 2)
    np.testing.assert_array_equal(b.params[:, 1], a.params[:, 2])
    assert np.isnan(b.params[:, 0]).all()


def test_bad_sizes_are_refused_with_the_value():
    with pytest.raises(ValueError, match="snapshot_budget_bytes must be ≥ 0, got -1"):
        Reservoir(1, 1, budget_bytes=-1)
