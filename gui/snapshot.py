"""What crosses from the worker to the views, as plain data. No Qt here.

- ``Job``: an experiment to simulate (with its runs' stable ids, see ``gui.document``).
- ``Surface``: the loss over a grid of the current view box, the minima, the start and the
  formula: all the surface view draws, computed by the worker, never on the GUI thread.
- ``Snapshot``: what the worker has computed of one job at one moment (the history so far,
  the surface, every run's whole learning-rate schedule).
- ``Frame``: a snapshot revealed up to the playhead, paired with the document as it is now
  (labels, colours, visibility). Run ``i`` of the document is column ``frame.column(i)`` of
  the snapshot, which is not ``i`` while a snapshot computed before a run was removed or
  inserted is still shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.experiment import Built, Experiment
from engine.training import History
from gui.geometry import grid_value
from gui.network_view import NetworkPicture

RESOLUTION = 220  # grid points per axis of the shaded surface
MAX_SCHEDULE_STEPS = 2_000_000  # longer schedules are drawn from the recorded rows only


@dataclass(frozen=True)
class Job:
    id: int
    experiment: Experiment
    base_dir: Path = Path(".")
    source: str = "<experiment>"
    run_ids: tuple[int, ...] = ()  # one per run of ``experiment`` (empty: 0, 1, 2...)


def surface_key(experiment: Experiment, base_dir=None) -> str:
    """What the shaded surface depends on: the problem without its start and noise (and
    the seed and folder, which make or find the data)."""
    problem = experiment.problem.model_dump(mode="json", exclude={"start", "gradient_noise"})
    extra = [] if problem["kind"] == "function" else [experiment.seed, str(base_dir)]
    return json.dumps([problem, *extra], sort_keys=True)


@dataclass(frozen=True, eq=False)
class Surface:
    """The loss over ``rect``: ``z[j, i]`` at the centre of pixel (i, j) of a grid that
    fills ``rect`` (``gui.geometry.pixel_centres``)."""

    key: str  # ``surface_key`` of the experiment it belongs to
    serial: int  # grows with every grid the worker computes
    rect: tuple[float, float, float, float]
    z: np.ndarray
    default_rect: tuple[float, float, float, float]  # the problem's usual view
    minima: np.ndarray  # (k, 2), finite
    minima_loss: tuple[float, ...]  # the loss at each of ``minima`` (finite ones)
    start: tuple[float, float]  # the problem's own start
    formula: str = ""
    axis_names: tuple[str, str] = ("w1", "w2")

    def value_at(self, x: float, y: float) -> float:
        """The loss at (x, y), interpolated between the grid's points (a lookup: the
        engine is not called); NaN outside the grid."""
        with np.errstate(all="ignore"):  # a grid may hold inf far out
            return grid_value(self.z, self.rect, x, y)


@dataclass(frozen=True)
class Snapshot:
    """What the worker has computed for one job, at one moment."""

    job_id: int
    experiment: Experiment
    built: Built | None = None
    history: History | None = None
    count: int = 0  # rows of ``history`` that are final
    computed_step: int = 0  # updates done so far
    diverged_at: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    done: bool = False
    error: str | None = None
    steps_per_second: float = 0.0
    backend: str = ""
    run_ids: tuple[int, ...] = ()  # the job's: one per column of ``history``
    surface: Surface | None = None
    # every run's whole learning-rate schedule, by column: row k holds the rate of the
    # update into row k (row 0: the first update's); empty when too long to draw
    schedules: tuple[np.ndarray, ...] = ()
    # a network's paths on the current plane, its decision boundary and interpolation
    # (``gui.network_view.NetworkPicture``); None for a problem of two parameters
    network: NetworkPicture | None = None
    # what the worker computes besides the training ('' nothing): the slice's progress
    activity: str = ""


@dataclass(frozen=True)
class Frame:
    """What the views draw: the newest snapshot, revealed up to the playhead."""

    snapshot: Snapshot
    experiment: Experiment  # the document now: labels, colours, visibility
    head: int  # the update shown
    rows: int  # history rows revealed (<= snapshot.count)
    new_data: bool  # the snapshot changed since the previous frame
    selected_run: int
    run_ids: tuple[int, ...] = ()  # the document's, one per run of ``experiment``
    revision: int = 0  # the document's

    @property
    def history(self):
        return self.snapshot.history

    @property
    def surface(self) -> Surface | None:
        return self.snapshot.surface

    @cached_property
    def _columns(self) -> dict[int, int]:
        """Document run -> snapshot column, for the runs the snapshot has."""
        h = self.snapshot.history
        if h is None:
            return {}
        ids = self.snapshot.run_ids
        if not ids or not self.run_ids:  # no ids on either side: the same order
            return {i: i for i in range(h.n_runs)}
        where = {run_id: col for col, run_id in enumerate(ids[: h.n_runs])}
        return {i: where[r] for i, r in enumerate(self.run_ids) if r in where}

    def column(self, run: int) -> int | None:
        """The snapshot's column of the document's run ``run``; None when the snapshot
        has none (a run added since, or no history)."""
        return self._columns.get(run)

    @cached_property
    def _runs_of_columns(self) -> dict[int, int]:
        return {col: i for i, col in self._columns.items()}

    def column_run(self, col: int) -> int | None:
        """The document's run whose column ``col`` is (None: removed since)."""
        return self._runs_of_columns.get(col)

    def runs_by_column(self) -> list:
        """The document's run (a ``RunModel``) of each column of the snapshot's history,
        None for a column whose run has been removed since: what a figure of the history
        labels and colours its columns with."""
        h = self.snapshot.history
        if h is None:
            return []
        runs = self.experiment.runs
        return [None if (i := self.column_run(col)) is None else runs[i] for col in range(h.n_runs)]

    def finite_rows(self, run: int, rows: int | None = None) -> int:
        """Rows of the document's ``run`` to draw: revealed (or the first ``rows``), and
        before its divergence; 0 when the snapshot has no column for it."""
        if self.column(run) is None:
            return 0
        rows = self.rows if rows is None else rows
        at = self.diverged_step(run)
        if at >= 0:
            steps = self.snapshot.history.step[: self.snapshot.count]
            rows = min(rows, int(np.searchsorted(steps, at)))
        return max(rows, 0)

    def diverged_step(self, run: int) -> int:
        """The step at which the document's ``run`` diverged, -1 when it has not (or the
        snapshot has no column for it)."""
        col = self.column(run)
        at = self.snapshot.diverged_at
        return int(at[col]) if col is not None and col < len(at) else -1

    def diverged_shown(self, run: int) -> bool:
        """The run has diverged at or before the playhead."""
        return 0 <= self.diverged_step(run) <= self.head

    def schedule(self, run: int) -> np.ndarray | None:
        """The whole learning-rate schedule of the document's ``run`` (None: unknown)."""
        col = self.column(run)
        s = self.snapshot.schedules
        return s[col] if col is not None and col < len(s) else None
