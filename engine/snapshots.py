"""A bounded reservoir of full training states, for the planes a network is drawn on.

A network's drawn plane (``engine.plane``) is chosen from the states its runs went through,
and the app projects those states on it. Keeping every recorded state costs rows × runs ×
parameters (8 runs × 20,000 rows of a 9,000-parameter MLP: 5.8 GB in float32), so only a
bounded selection is kept: ``Reservoir`` holds at most ``capacity`` rows, each every run's
parameters ``(R, P)`` and buffers ``(R, Q)``, in a fixed byte budget.

The retention rule, for rows offered in order 0, 1, …, n − 1 (row indices, not steps): with
the stride s a power of two, the reservoir holds the multiples of s below n − 1 and the
newest row n − 1, i.e. ⌈(n − 1)/s⌉ + 1 rows; when that would exceed the capacity the stride
doubles (every other kept row is dropped). So the kept rows stay evenly spread over the whole
training, row 0 and the newest are always there, and a row once dropped never comes back. The
rule only looks at how many rows were offered, so two trainers with the same capacity keep the
same rows (what lets a trainer reuse another's runs).
"""

from __future__ import annotations

import numpy as np

#: the default budget of a trainer's reservoir: about 440 rows of 8 runs of the digits MLP
DEFAULT_BUDGET_BYTES = 128 * 1024 * 1024
_INDEX_BYTES = 16  # per row: its step and its row index (int64 each)


class Reservoir:
    """At most ``capacity`` full states ``(steps, params (K, R, P), buffers (K, R, Q))``.

    ``capacity`` is the number of rows that fit in ``budget_bytes`` (arrays, steps and row
    indices counted), but never less than 2 (the start and the newest row): a budget too
    small for two rows holds two rows anyway. ``rows`` (the number of rows that will be
    offered, when known) caps the allocation, so a short training does not reserve the whole
    budget. Values are stored in ``dtype`` (a float32 problem's states are float32 already).
    """

    def __init__(
        self,
        runs: int,
        n_params: int,
        n_buffers: int = 0,
        *,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        dtype=np.float64,
        rows: int | None = None,
    ):
        if runs < 1 or n_params < 1 or n_buffers < 0:
            raise ValueError(
                f"a reservoir needs runs ≥ 1, n_params ≥ 1 and n_buffers ≥ 0, "
                f"got {runs}, {n_params}, {n_buffers}"
            )
        if budget_bytes < 0:
            raise ValueError(f"snapshot_budget_bytes must be ≥ 0, got {budget_bytes}")
        self.dtype = np.dtype(dtype)
        self.row_bytes = runs * (n_params + n_buffers) * self.dtype.itemsize + _INDEX_BYTES
        self.capacity = max(2, int(budget_bytes) // self.row_bytes)
        size = self.capacity if rows is None else max(1, min(self.capacity, int(rows)))
        # np.empty: pages are committed only as rows are written
        self._steps = np.empty(size, dtype=np.int64)
        self._rows = np.empty(size, dtype=np.int64)
        self._params = np.empty((size, runs, n_params), dtype=self.dtype)
        self._buffers = np.empty((size, runs, n_buffers), dtype=self.dtype)
        self.stride = 1
        self.offered = 0  # rows offered so far
        self.count = 0  # rows held

    # ---- reading -------------------------------------------------------------------------
    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self.count]

    @property
    def rows(self) -> np.ndarray:
        """Index of each held row among the rows offered."""
        return self._rows[: self.count]

    @property
    def params(self) -> np.ndarray:
        return self._params[: self.count]

    @property
    def buffers(self) -> np.ndarray:
        return self._buffers[: self.count]

    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps (K,), params (K, R, P), buffers (K, R, Q))`` of the ``count`` rows held."""
        return self.steps, self.params, self.buffers

    @property
    def complete(self) -> bool:
        """Every row offered is held (nothing was thinned away)."""
        return self.count == self.offered

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays the reservoir holds (allocated, whether written or not)."""
        arrays = (self._steps, self._rows, self._params, self._buffers)
        return sum(a.nbytes for a in arrays)

    # ---- writing -------------------------------------------------------------------------
    def stride_for(self, offered: int, start: int | None = None) -> int:
        """The stride once ``offered`` rows have been offered: the least power of two, at
        least the current one (or ``start``), that fits ⌈(offered − 1)/s⌉ + 1 rows in the
        capacity."""
        s = self.stride if start is None else start
        while -(-(offered - 1) // s) + 1 > self.capacity:
            s *= 2
        return s

    def keeps_same_rows(self, other: Reservoir, offered: int) -> bool:
        """Whether, once ``offered`` rows have been offered to each, this reservoir holds
        the rows ``other`` holds: the same final stride (the kept rows are its multiples
        and the newest row), whatever the two capacities."""
        return self.stride_for(offered, start=1) == other.stride_for(offered, start=1)

    def admit(self, steps) -> tuple[np.ndarray, np.ndarray]:
        """Offer the next ``len(steps)`` rows: thin the rows held to the rule's selection and
        reserve slots for the new rows that are in it. Returns ``(new, slots)``: which of the
        offered rows (0 … len(steps) − 1) are kept, and the slot each goes to; the caller
        fills ``store(slots, ...)`` (the new slots hold NaN until then)."""
        steps = np.asarray(steps, dtype=np.int64)
        t = len(steps)
        if t == 0:
            return np.zeros(0, int), np.zeros(0, int)
        n = self.offered + t
        s = self.stride_for(n)
        # the rows held that stay: multiples of the stride (all are below the newest row)
        stay = np.flatnonzero(self._rows[: self.count] % s == 0)
        k = len(stay)
        if k < self.count:  # compact in place, in order (a slot only moves down)
            self._steps[:k] = self._steps[stay]
            self._rows[:k] = self._rows[stay]
            for to, src in enumerate(stay.tolist()):
                if to != src:
                    self._params[to] = self._params[src]
                    self._buffers[to] = self._buffers[src]
        index = np.arange(self.offered, n)
        new = np.flatnonzero(((index % s == 0) & (index < n - 1)) | (index == n - 1))
        slots = np.arange(k, k + len(new))
        if slots.size and slots[-1] >= len(self._steps):
            raise AssertionError("reservoir rule exceeded its allocation")  # a bug, not input
        self._steps[slots] = steps[new]
        self._rows[slots] = index[new]
        self._params[slots] = np.nan
        self._buffers[slots] = np.nan
        self.count = k + len(new)
        self.offered = n
        self.stride = s
        return new, slots

    def store(self, slots, runs, params, buffers=None) -> None:
        """Fill the reserved ``slots`` of the runs ``runs`` (a slice or index array) with
        host ``params (len(slots), R_u, P)`` and ``buffers (len(slots), R_u, Q)``."""
        if isinstance(runs, slice):
            runs = np.arange(self._params.shape[1])[runs]
        where = np.ix_(np.asarray(slots), np.asarray(runs))
        self._params[where] = params
        if buffers is not None:
            self._buffers[where] = buffers

    def copy_run(self, run: int, other: Reservoir, other_run: int) -> None:
        """Take ``other``'s rows of run ``other_run`` as run ``run`` (both must hold the
        same rows: same capacity, same rows offered)."""
        if not np.array_equal(self.rows, other.rows):
            raise ValueError("the two reservoirs hold different rows")
        self._params[: self.count, run] = other.params[:, other_run]
        self._buffers[: self.count, run] = other.buffers[:, other_run]

    def copy_slots(self, slots, runs, other: Reservoir, other_runs) -> None:
        """Fill ``slots`` of the runs ``runs`` from the same rows of ``other`` (its runs
        ``other_runs``), where it holds them: a reused run's states as they are admitted
        (a finished reservoir with the same capacity holds every row this one will keep)."""
        slots = np.asarray(slots, dtype=int)
        if other.count == 0 or slots.size == 0:
            return
        rows = self._rows[slots]
        where = np.minimum(np.searchsorted(other.rows, rows), other.count - 1)
        hit = other.rows[where] == rows
        for run, theirs in zip(runs, other_runs, strict=True):
            self._params[slots[hit], run] = other.params[where[hit], theirs]
            self._buffers[slots[hit], run] = other.buffers[where[hit], theirs]

    def adopt_rows(self, other: Reservoir) -> None:
        """Hold the rows ``other`` holds (``keeps_same_rows``), every run's values NaN
        until ``copy_run`` fills them in."""
        if not self.keeps_same_rows(other, other.offered) or other.count > len(self._steps):
            raise ValueError("the two reservoirs keep different rows")
        k = other.count
        self._steps[:k] = other.steps
        self._rows[:k] = other.rows
        self._params[:k] = np.nan
        self._buffers[:k] = np.nan
        self.count, self.offered, self.stride = k, other.offered, other.stride
