"""Recorded training written out: ``trajectories.csv``, the headless runner's table.

One row per run per recorded step, in the columns of the experiment contract
(``shared/EXPERIMENT_FORMAT.md``)::

    run,label,step,epoch,lr,loss,grad_norm,w1,w2

``run`` is the 0-based index of the run in the experiment file. A run that diverged stops at
the row where it diverged, whose ``loss`` (or ``w1``/``w2``) is ``nan`` or ``inf``. Floats are
written with ``repr``, so reading a value back gives exactly the float that was computed.

The file is written to a temporary name beside the target and renamed into place: a crash or
a full disk leaves either the previous file or none, never half a table.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from engine.files import atomic_text
from engine.training import History

COLUMNS = ("run", "label", "step", "epoch", "lr", "loss", "grad_norm", "w1", "w2")


def _number(value) -> str:
    """A float as the shortest text that reads back to the same float (``nan``, ``inf``)."""
    return repr(float(value))


def trajectory_rows(history: History) -> Iterator[list[str]]:
    """The CSV rows (without the header) of every run, run after run."""
    for run in range(history.n_runs):
        label = history.labels[run]
        for row in range(history.rows_of(run)):
            yield [
                str(run),
                label,
                str(int(history.step[row])),
                _number(history.epoch[row, run]),
                _number(history.lr[row, run]),
                _number(history.loss[row, run]),
                _number(history.grad_norm[row, run]),
                _number(history.coords[row, run, 0]),
                _number(history.coords[row, run, 1]),
            ]


def write_trajectories_csv(history: History, path: str | os.PathLike) -> Path:
    """Write the recorded rows of every run to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_text(path, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(trajectory_rows(history))
    return path
