"""Recorded training written out: ``trajectories.csv``, the headless runner's table.

One row per run per recorded step, in the columns of the experiment contract
(``shared/EXPERIMENT_FORMAT.md``)::

    run,label,step,epoch,lr,loss,grad_norm,w1,w2

``run`` is the 0-based index of the run in the experiment file. A run that diverged stops at
the row where it diverged, whose ``loss`` (or ``w1``/``w2``) is ``nan`` or ``inf``. Floats are
written with ``repr``, so reading a value back gives exactly the float that was computed.

The file is written to a temporary name beside the target and renamed into place: a crash or
a full disk leaves either the previous file or none, never half a table.

For a long training the rows are streamed (``TrajectoryWriter``: rows written as they are
computed, memory independent of the steps) and the figures get a bounded selection of them
(``RowSample``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from engine.files import atomic_text
from engine.thinning import Box, PathThinner
from engine.training import History

COLUMNS = ("run", "label", "step", "epoch", "lr", "loss", "grad_norm", "w1", "w2")


def _number(value) -> str:
    """A float as the shortest text that reads back to the same float (``nan``, ``inf``)."""
    return repr(float(value))


def columns(history: History) -> tuple[str, ...]:
    """The header: the contract's columns, then the problem's own (a network's ``accuracy,
    val_loss,val_accuracy``)."""
    return COLUMNS + tuple(history.extra_columns)


def _extra_cells(history: History, rows, run: int) -> list[list[str]]:
    """Per row, the problem's own cells (empty where a column has no values, such as
    ``val_loss`` without a validation split)."""
    cells = []
    for name in history.extra_columns:
        values = history.extra.get(name)
        if values is None:
            cells.append([""] * len(rows))
        else:
            cells.append([repr(v) for v in values[rows, run].tolist()])
    return [list(row) for row in zip(*cells, strict=True)] if cells else [[] for _ in rows]


def trajectory_rows(history: History) -> Iterator[list[str]]:
    """The CSV rows (without the header) of every run, run after run."""
    for run in range(history.n_runs):
        extra = _extra_cells(history, np.arange(history.rows_of(run)), run)
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
                *extra[row],
            ]


def write_trajectories_csv(history: History, path: str | os.PathLike) -> Path:
    """Write the recorded rows of every run to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_text(path, newline="") as f:
        f.write(",".join(columns(history)) + "\n")
        for run, label in enumerate(history.labels):
            rows = history.rows_of(run)
            for first in range(0, rows, LINES_AT_ONCE):
                block = np.arange(first, min(first + LINES_AT_ONCE, rows))
                f.write(run_lines(run, label, history, block))
    return path


LINES_AT_ONCE = 1 << 16  # rows formatted into one string (bounded memory, few writes)


# ---- streaming -----------------------------------------------------------------------------


def _label_field(label: str) -> str:
    """The label as one CSV field (quoted when it holds a comma, a quote or a newline)."""
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow([label])
    return text.getvalue()


def run_lines(run: int, label: str, history: History, rows: np.ndarray) -> str:
    """The CSV lines of ``rows`` of one run, exactly as ``write_trajectories_csv`` writes
    them (``repr`` of Python floats), formatted column-wise: several times faster than a
    ``csv.writer`` row by row, which matters for ten million rows."""
    prefix = f"{run},{_label_field(label)},"
    columns = (
        history.epoch[rows, run].tolist(),
        history.lr[rows, run].tolist(),
        history.loss[rows, run].tolist(),
        history.grad_norm[rows, run].tolist(),
        history.coords[rows, run, 0].tolist(),
        history.coords[rows, run, 1].tolist(),
    )
    if history.extra_columns:  # a network's accuracy, val_loss, val_accuracy
        extra = ["," + ",".join(cells) for cells in _extra_cells(history, rows, run)]
    else:
        extra = [""] * len(rows)
    return "".join(
        f"{prefix}{k},{e!r},{lr!r},{loss!r},{g!r},{w1!r},{w2!r}{more}\n"
        for k, e, lr, loss, g, w1, w2, more in zip(
            history.step[rows].tolist(), *columns, extra, strict=True
        )
    )


def _rows_to_write(history: History, run: int) -> np.ndarray:
    """Rows of a (window of) history that belong in the CSV: up to the run's divergence."""
    steps = history.step[: history.count]
    diverged = history.diverged_at[run]
    return np.flatnonzero(steps <= diverged) if diverged >= 0 else np.arange(len(steps))


class TrajectoryWriter:
    """``trajectories.csv`` written while training runs: ``add(history)`` after every window
    of rows (a ``Trainer(window=True)``'s history), ``close()`` at the end.

    The file is run after run, as ``write_trajectories_csv`` writes it: run 0's rows go
    straight into it and the other runs' into spool files that ``close`` appends. It is
    written under a temporary name and renamed into place by ``close``; ``abort`` (or an
    error) leaves no file."""

    def __init__(
        self, path: str | os.PathLike, labels: list[str], extra_columns: tuple[str, ...] = ()
    ):
        """``extra_columns``: the problem's own columns after ``w1,w2`` (a network's), as
        the histories added will hold them."""
        self.path = Path(path)
        self.labels = labels
        self._stack = ExitStack()
        try:
            self._out = self._stack.enter_context(atomic_text(self.path, newline=""))
            self._out.write(",".join(COLUMNS + tuple(extra_columns)) + "\n")
            self._spools = (
                [self._out]
                + [
                    self._stack.enter_context(
                        tempfile.TemporaryFile(  # noqa: SIM115 (closed by the ExitStack)
                            "w+", encoding="utf-8", newline="", dir=self.path.parent
                        )
                    )
                    for _ in labels[1:]
                ]
            )
        except BaseException:
            self._stack.close()
            raise

    def add(self, history: History) -> None:
        for run, label in enumerate(self.labels):
            rows = _rows_to_write(history, run)
            if rows.size:
                self._spools[run].write(run_lines(run, label, history, rows))

    def close(self, progress: Callable[[float], None] | None = None) -> Path:
        """Append the spooled runs (``progress(fraction)`` between them) and put the file in
        place."""
        try:
            sizes = [spool.tell() for spool in self._spools[1:]]
            total, done = max(sum(sizes), 1), 0
            for spool in self._spools[1:]:
                spool.seek(0)
                while chunk := spool.read(1 << 22):
                    self._out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(min(done / total, 1.0))
        except BaseException:
            self.abort()
            raise
        self._stack.close()
        return self.path

    def abort(self) -> None:
        """Stop, leaving no file (and no temporary) behind."""
        try:
            with self._stack:
                raise _Aborted
        except _Aborted:
            pass


class _Aborted(Exception):
    """Raised inside the writer's contexts so that the atomic write discards its file."""


class RowSample:
    """A bounded selection of the rows of a long training, for the figures, that keeps each
    run's path in shape: per run, the rows that a ``PathThinner`` over its coordinates keeps
    (every one of the first ``early``, then one each time the path has travelled a small
    distance, so the sample is dense where a path turns; a regular stride would cut a late
    turn into a chord through places never visited), their union for all runs, and always
    the row where a run diverged and the last row. Each run's thinner keeps at most
    ``max(budget // runs, MIN_PER_RUN)`` points; the curves get the same rows.
    Its ``history()`` is a ``History`` like the trainer's (fewer rows, same meanings)."""

    FIELDS = ("epoch", "lr", "loss", "grad_norm", "coords")
    MIN_PER_RUN = 1_000

    def __init__(
        self, labels: list[str], box: Box, early: int = 5_000, budget: int = 20_000
    ) -> None:
        self.labels = labels
        per_run = max(budget // max(len(labels), 1), min(budget, self.MIN_PER_RUN))
        self.thinners = [PathThinner(box, per_run, early, bounded=True) for _ in labels]
        # a run's thinner sees its rows up to its first non-finite one, so that point i of
        # the thinner is row i of the run
        self._feeding = np.ones(len(labels), bool)
        self.seen = 0  # rows offered so far
        self._stored = 0
        self._limit = 2 * per_run * max(len(labels), 1)
        self._parts: list[dict[str, np.ndarray]] = []
        self.diverged_at = np.full(len(labels), -1)
        self.extra_columns: tuple[str, ...] = ()

    def add(self, history: History, final: bool = False) -> None:
        """Offer a window's rows; ``final``: the last window (its last row is kept)."""
        n = history.count
        if n == 0:  # a window without rows (record_every longer than the window)
            self.diverged_at = history.diverged_at.copy()
            return
        index = np.arange(self.seen, self.seen + n)
        steps = history.step[:n]
        pinned = np.isin(steps, history.diverged_at[history.diverged_at >= 0])
        if final:  # n > 0: an empty window returned above
            pinned[-1] = True
        for run, thinner in enumerate(self.thinners):
            if not self._feeding[run]:
                continue
            coords = history.coords[:n, run]
            finite = np.isfinite(coords).all(axis=1)
            if history.diverged_at[run] >= 0:  # nothing after the divergence row counts
                finite &= steps <= history.diverged_at[run]
            upto = n if finite.all() else int(np.argmin(finite))
            thinner.extend(coords[:upto])
            self._feeding[run] = upto == n
        self.diverged_at = history.diverged_at.copy()
        # rows no thinner keeps now are dropped at the next compaction: a bounded thinner
        # re-buckets only the points it keeps, so a row it has dropped never comes back
        part = {"index": index, "pinned": pinned, "step": steps}
        part.update({name: getattr(history, name)[:n].copy() for name in self.FIELDS})
        self.extra_columns = history.extra_columns
        # a network's evaluated columns (accuracy, validation), for its curves
        part.update({f"extra.{name}": v[:n].copy() for name, v in history.extra.items()})
        self._parts.append(part)
        self.seen += n
        self._stored += n
        if self._stored > self._limit:
            self._thin()

    def _merged(self) -> dict[str, np.ndarray]:
        kept = {name: np.concatenate([p[name] for p in self._parts]) for name in self._parts[0]}
        self._parts = [kept]
        return kept

    def _thin(self) -> None:
        kept = self._merged()
        selected = np.unique(np.concatenate([t.indices() for t in self.thinners]))
        keep = kept["pinned"] | np.isin(kept["index"], selected)
        kept = {name: values[keep] for name, values in kept.items()}
        self._parts = [kept]
        self._stored = len(kept["index"])
        # the union may hold up to runs × per-run points: compact again only past twice that
        self._limit = max(self._limit, 2 * self._stored)

    def history(self) -> History:
        self._thin()
        kept = self._merged()
        h = History.empty(self.labels, kept["step"], diagnostics=False)
        for name in self.FIELDS:
            getattr(h, name)[:] = kept[name]
        h.extra_columns = self.extra_columns
        h.extra = {k.removeprefix("extra."): v for k, v in kept.items() if k.startswith("extra.")}
        h.count = len(h.step)
        h.diverged_at = self.diverged_at.copy()
        return h


def replace_last_rows(path: str | os.PathLike, lines: dict[int, str]) -> None:
    """In a written ``trajectories.csv``, each run ``r``'s last row replaced by ``lines[r]``
    (one CSV line), atomically. The file is run after run (``TrajectoryWriter``), so a run's
    last row is the one before the next run's first, or the file's last: one pass, one line
    held back."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as f, atomic_text(path, newline="") as out:
        out.write(f.readline())  # the header
        held, held_run = None, None
        for line in f:
            run = int(line.partition(",")[0])
            if held is not None:
                out.write(lines.get(held_run, held) if run != held_run else held)
            held, held_run = line, run
        if held is not None:
            out.write(lines.get(held_run, held))
