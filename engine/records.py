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
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # mkstemp makes it private; a results table is not
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(trajectory_rows(history))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
