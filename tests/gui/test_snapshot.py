"""What the worker publishes, without Qt: the grid lookup of the hover read-out, and how a
frame pairs the document's runs with an older snapshot's columns."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from engine.experiment import parse_experiment
from gui.geometry import pixel_centres
from gui.snapshot import Frame, Snapshot, Surface


def plane_surface(rect=(-1.0, 3.0, 0.0, 2.0), n=8) -> Surface:
    w1, w2 = pixel_centres(rect, n)
    z = 2.0 * w1[None, :] - 3.0 * w2[:, None] + 0.5  # a plane: bilinear lookup is exact
    return Surface("k", 1, rect, z, rect, np.zeros((0, 2)), (), (0.0, 0.0))


def test_value_at_interpolates_the_grid_and_is_nan_outside():
    s = plane_surface()
    w1, w2 = pixel_centres(s.rect, 8)
    assert s.value_at(w1[3], w2[5]) == pytest.approx(s.z[5, 3])
    for x, y in ((0.1, 0.7), (1.234, 1.5), (2.6, 0.4)):  # between pixel centres
        assert s.value_at(x, y) == pytest.approx(2 * x - 3 * y + 0.5, abs=1e-12)
    assert math.isnan(s.value_at(3.5, 1.0))
    assert math.isnan(s.value_at(0.0, -0.1))


def frame_of(snapshot_ids, document_ids, labels, diverged=None, n=None):
    n = len(snapshot_ids) if n is None else n
    history = SimpleNamespace(n_runs=n, step=np.arange(11), labels=[f"old {i}" for i in range(n)])
    experiment = parse_experiment({"runs": [{"label": label} for label in labels]})
    snapshot = Snapshot(
        job_id=1,
        experiment=experiment,
        history=history,
        count=11,
        diverged_at=np.array(diverged if diverged is not None else [-1] * n),
        run_ids=tuple(snapshot_ids),
        schedules=tuple(np.full(11, float(i)) for i in range(n)),
    )
    return Frame(snapshot, experiment, 10, 11, False, 0, run_ids=tuple(document_ids))


def test_a_frame_pairs_runs_by_id_not_by_position():
    # the snapshot computed runs 3, 5, 7; since then 3 was removed and 9 inserted after 5
    frame = frame_of((3, 5, 7), (5, 9, 7), ["b", "new", "c"], diverged=[-1, 4, -1])
    assert [frame.column(i) for i in range(3)] == [1, None, 2]
    assert [frame.column_run(c) for c in range(3)] == [None, 0, 2]
    assert [r and r.label for r in frame.runs_by_column()] == [None, "b", "c"]
    assert frame.finite_rows(0) == 4  # run 5 diverged at step 4: rows before it
    assert frame.finite_rows(1) == 0  # not computed yet
    assert frame.finite_rows(2) == 11
    assert frame.diverged_step(0) == 4
    assert frame.diverged_shown(0)
    assert frame.diverged_step(1) == -1
    assert frame.schedule(0)[0] == 1.0  # column 1's
    assert frame.schedule(1) is None


def test_without_ids_columns_follow_positions():
    frame = frame_of((), (), ["a", "b"], n=2)
    assert [frame.column(i) for i in range(3)] == [0, 1, None]
