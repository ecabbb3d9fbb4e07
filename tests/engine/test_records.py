"""trajectories.csv: the rows of every run, exact floats, diverged runs cut at divergence,
and an atomic write that never leaves half a file or a temporary behind."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from engine import records
from engine.backend import select_backend
from engine.problems.functions import FunctionProblem, make_surface
from engine.records import COLUMNS, write_trajectories_csv
from engine.training import RunSpec, Trainer


def history(steps=30, record_every=1, lrs=(0.001, 0.01)):
    backend = select_backend("numpy", "float64")
    problem = FunctionProblem(backend, make_surface("rosenbrock"), start=(-1.2, 1.0))
    runs = [RunSpec(label=f"sgd lr={lr:g}", optimizer="sgd", lr=lr) for lr in lrs]
    return Trainer(problem, runs, steps, record_every=record_every).run()


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_header_and_rows_follow_the_history(tmp_path):
    h = history(lrs=(0.001, 0.002))
    path = write_trajectories_csv(h, tmp_path / "t.csv")
    rows = read(path)
    assert tuple(rows[0]) == COLUMNS
    body = rows[1:]
    assert len(body) == 2 * 31
    for line in body:
        run, step = int(line[0]), int(line[2])
        assert line[1] == h.labels[run]
        row = list(h.step).index(step)
        # every float reads back to exactly the recorded value
        assert float(line[5]) == h.loss[row, run]
        assert float(line[7]) == h.coords[row, run, 0]
        assert float(line[8]) == h.coords[row, run, 1]
        assert float(line[4]) == h.lr[row, run]


def test_a_diverged_run_ends_at_its_divergence_row(tmp_path):
    h = history(lrs=(0.001, 0.01))
    assert h.diverged_at[1] > 0
    rows = read(write_trajectories_csv(h, tmp_path / "t.csv"))[1:]
    wild = [r for r in rows if r[0] == "1"]
    assert len(wild) == h.rows_of(1)
    assert int(wild[-1][2]) == h.diverged_at[1]
    last = [float(v) for v in wild[-1][5:]]
    assert not all(math.isfinite(v) for v in last)
    assert wild[-1][5] in ("nan", "inf")
    assert all(math.isfinite(float(r[5])) for r in wild[:-1])


def test_record_every_rows(tmp_path):
    h = history(steps=10, record_every=4, lrs=(0.001,))
    rows = read(write_trajectories_csv(h, tmp_path / "t.csv"))[1:]
    assert [int(r[2]) for r in rows] == [0, 4, 8, 10]


def test_labels_with_commas_and_quotes_survive(tmp_path):
    h = history(steps=3, lrs=(0.001,))
    h.labels[0] = 'sgd, "fast"'
    rows = read(write_trajectories_csv(h, tmp_path / "t.csv"))[1:]
    assert {r[1] for r in rows} == {'sgd, "fast"'}


def test_the_write_is_atomic(tmp_path, monkeypatch):
    h = history(steps=3, lrs=(0.001,))
    target = tmp_path / "t.csv"
    target.write_text("old contents")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_trajectories_csv(h, target)
    assert target.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_no_temporary_files_are_left(tmp_path):
    write_trajectories_csv(history(steps=3), tmp_path / "t.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    assert np.isfinite([float(r[5]) for r in read(tmp_path / "t.csv")[1:]]).all()
