"""The headless ``run`` command: an experiment file in, a CSV and figures out.

    python main.py run EXPERIMENT.toml --out DIR [--no-plots] [--quiet]

What it promises (``shared/EXPERIMENT_FORMAT.md``):

- a bad file (TOML syntax, unknown key, value out of range, missing data...) prints one line
  naming the file, the key and what was expected, exits 2, and writes nothing: the file is
  read, validated and built into engine objects before DIR is even created;
- otherwise every run is trained, ``DIR/trajectories.csv`` is written, and (unless
  ``--no-plots``) ``surface.png`` and ``curves.png`` are drawn by the ``render`` callback;
- a diverged run is a result: one line says which run diverged at which step, exit stays 0;
- a directory that can't be written (permissions, a full disk) prints one line, exits 1.

The engine never imports Qt, so the figures come from the caller: ``main.py`` passes a
``render(built, history, out_dir)`` that uses the GUI's plotting code offscreen.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from engine.backend import Backend, run_with_fallback
from engine.experiment import (
    Built,
    ExperimentError,
    build,
    experiment_warnings,
    read_experiment,
)
from engine.records import (
    RowSample,
    TrajectoryWriter,
    replace_last_rows,
    run_lines,
    write_trajectories_csv,
)
from engine.training import History, Trainer

CSV_NAME = "trajectories.csv"
PARAMS_NAME = "params.npz"  # a network's final weights, every run (the contract's names)
PROGRESS_AFTER_S = 1.0  # a run shorter than this prints no progress at all
PROGRESS_EVERY_S = 0.5
CHUNK = 500  # updates between progress checks (results do not depend on it)

OUT_OF_MEMORY = (
    "out of memory; lower problem.samples, steps or the number of runs, or raise record_every"
)

Render = Callable[[Built, History, Path], Sequence[os.PathLike | str]]


class _UsageError(Exception):
    def __init__(self, status: int):
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that returns its exit status instead of leaving the interpreter, so that
    ``main`` can be called in-process (tests, a notebook) and still report 2 for bad usage."""

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            self._print_message(message, sys.stderr)
        raise _UsageError(status)


def make_parser(prog: str = "main.py run") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Train the runs of an experiment file without a display; write "
        f"{CSV_NAME} and the figures surface.png and curves.png into DIR.",
    )
    parser.add_argument("experiment", metavar="EXPERIMENT.toml", help="the experiment file")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (created if missing)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write the CSV only")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary lines")
    return parser


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _Progress:
    """``step 1200/5000 (24%)`` on stderr, only once a run has taken a second, and at most
    twice a second; rewritten in place on a terminal, one line per report elsewhere."""

    def __init__(self, stream: TextIO, enabled: bool):
        self.stream = stream
        self.enabled = enabled
        self.start = time.monotonic()
        self.last = -math.inf
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = False

    def __call__(self, step: int, steps: int) -> None:
        self._report(step >= steps, lambda: f"step {step}/{steps} ({100 * step // steps}%)")

    def writing(self, name: str, fraction: float) -> None:
        """``writing trajectories.csv (40%)``: appending the runs after training."""
        self._report(fraction >= 1, lambda: f"writing {name} ({int(100 * fraction)}%)")

    def pinpointing(self, step: int, steps: int) -> None:
        """``finding the steps where runs diverged: step 700/1000 (70%)`` (the replay)."""
        text = f"finding the steps where runs diverged: step {step}/{steps}"
        self._report(step >= steps, lambda: f"{text} ({100 * step // max(steps, 1)}%)")

    def _report(self, finished: bool, text: Callable[[], str]) -> None:
        """``text()`` shown once a run has taken a second, at most every PROGRESS_EVERY_S
        (the last report of a stage always)."""
        now = time.monotonic()
        if not self.enabled or now - self.start < PROGRESS_AFTER_S:
            return
        if now - self.last < PROGRESS_EVERY_S and not finished:
            return
        self._show(text(), now)

    def _show(self, text: str, now: float) -> None:
        self.last = now
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _final_losses(history: History) -> str:
    """``run 0 'sgd' 4.16, run 1 'adam' 0.0362 (best), run 2 'wild' diverged``: each run's
    final loss, numbered as in the CSV's ``run`` column (labels need not be unique)."""
    finals: dict[int, float] = {}
    for run in range(history.n_runs):
        if history.diverged_at[run] < 0:
            value = float(history.loss[history.last_finite(run), run])
            if math.isfinite(value):
                finals[run] = value
    best = min(finals, key=finals.__getitem__) if len(finals) > 1 else None
    parts = []
    for run, label in enumerate(history.labels):
        if run in finals:
            best_mark = " (best)" if run == best else ""
            parts.append(f"run {run} {label!r} {finals[run]:.4g}{best_mark}")
        else:
            parts.append(f"run {run} {label!r} diverged")
    return ", ".join(parts)


def main(
    argv: Sequence[str] | None = None, render: Render | None = None, prog: str = "main.py run"
) -> int:
    """Run ``run EXPERIMENT.toml --out DIR``'s arguments (without ``run``); return the exit
    status: 0 done (diverged runs included), 1 the output couldn't be written, 2 bad usage or
    a bad experiment file."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = make_parser(prog).parse_args(argv)
    except _UsageError as exc:
        return exc.status
    path = Path(args.experiment)
    out = Path(args.out)

    # Everything that can be wrong with the file is found here, before DIR exists.
    try:
        experiment, without_effect = read_experiment(path)
        # the experiment as this runner trains it (windowed rows), on a given backend or not
        build_on = functools.partial(
            build,
            experiment,
            base_dir=path.parent,
            source=str(path),
            diagnostics=False,
            window=True,
        )
        built = build_on()
    except ExperimentError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{path}: {OUT_OF_MEMORY}", file=sys.stderr)
        return 1
    for warning in without_effect + experiment_warnings(experiment, built.problem.n_examples):
        print(f"warning: {path}: {warning}")

    if out.exists() and not out.is_dir():
        print(
            f"{out}: is a file, not a folder (--out names the folder to write into)",
            file=sys.stderr,
        )
        return 1
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{out}: cannot create the output folder ({_os_reason(exc)})", file=sys.stderr)
        return 1
    if not os.access(out, os.W_OK):
        print(f"{out}: the output folder is not writable", file=sys.stderr)
        return 1

    progress = _Progress(sys.stderr, enabled=not args.quiet)

    def train(backend: Backend) -> History:
        nonlocal built
        if backend is not built.backend:  # the GPU failed: the same experiment on NumPy
            built = build_on(backend=backend)
        if built.problem.carries_buffers:  # a network: w1,w2 are known after training
            return _train_network_and_write(built, out, progress)
        return _train_and_write(built, out / CSV_NAME, progress)

    try:
        history, _ = run_with_fallback(
            train, built.backend, report=lambda line: print(f"warning: {path}: {line}")
        )
    except MemoryError:
        print(f"{path}: {OUT_OF_MEMORY}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{out / CSV_NAME}: cannot write ({_os_reason(exc)})", file=sys.stderr)
        return 1
    finally:
        progress.close()

    try:
        _pinpoint_divergences(built, history, out / CSV_NAME, progress)
    finally:
        progress.close()
    for run, label in enumerate(history.labels):
        if history.diverged_at[run] >= 0:
            print(f"run {run} {label!r} diverged at step {int(history.diverged_at[run])}")

    written: list[Path] = [out / CSV_NAME]
    if built.problem.carries_buffers:
        written.append(out / PARAMS_NAME)
    if not args.no_plots and render is not None:
        try:
            written.extend(Path(p) for p in render(built, history, out))
        except OSError as exc:
            print(f"{out}: cannot write the figures ({_os_reason(exc)})", file=sys.stderr)
            return 1
        except Exception as exc:  # a broken Qt install must not hide the CSV we wrote
            print(
                f"{out}: cannot draw the figures ({_one_line(exc) or type(exc).__name__}); "
                f"{CSV_NAME} was written, --no-plots skips the figures",
                file=sys.stderr,
            )
            return 1

    if not args.quiet:
        names = ", ".join(p.name for p in written)
        print(f"wrote {names} to {out}; final loss: {_final_losses(history)}")
    return 0


def _pinpoint_divergences(
    built: Built, history: History, csv_path: Path, progress: _Progress | None = None
) -> None:
    """The step each diverged run of a 2-parameter problem diverged at, where rows are
    recorded every ``record_every`` > 1 steps: divergence is judged on the recorded rows,
    so it was found at the first recorded row after it. The training is replayed (every
    run, as it was batched: the same arithmetic, bit for bit) up to the last such row with
    every step recorded, one window at a time; each diverged run's last CSV row becomes the
    row of the step it diverged at, as with ``record_every = 1``, and the history (the
    printed step) says that step. Where the CSV can't be written again (a full disk), a
    warning says so and the file stays as it was, complete. (A network's divergence is
    judged where its full splits are evaluated: left as it is.)"""
    trainer = built.trainer
    found = {int(r): int(history.diverged_at[r]) for r in np.flatnonzero(history.diverged_at >= 0)}
    if trainer.record_every == 1 or built.problem.carries_buffers or not found:
        return
    last = max(found.values())
    replay = Trainer(
        trainer.problem,
        trainer.runs,
        last,
        seed=trainer.seed,
        gradient_noise=trainer.gradient_noise,
        record_every=1,
        diagnostics=False,
        window=True,  # (one window of rows at a time: the memory of a long run stays small)
    )
    lines, exact = {}, {}
    while True:
        h = replay.history
        for run in [r for r in found if r not in lines]:
            at = int(h.diverged_at[run])
            if 0 <= at <= found[run]:  # found in this window: its row is here
                row = np.array([int(np.searchsorted(h.step[: h.count], at))])
                lines[run] = run_lines(run, history.labels[run], h, row)
                exact[run] = at
        if len(lines) == len(found) or replay.done:
            break
        replay.advance(CHUNK)
        if progress is not None:
            progress.pinpointing(replay.step, last)
    if not lines:
        return
    try:
        replace_last_rows(csv_path, lines)
    except OSError as exc:
        print(
            f"warning: {csv_path}: the rows of the steps where runs diverged could not be "
            f"written ({_os_reason(exc)}); a diverged run's last row is the first recorded "
            "row after its divergence",
            file=sys.stderr,
        )
        return
    for run, at in exact.items():
        history.diverged_at[run] = at


def _train_and_write(built: Built, csv_path: Path, progress: _Progress) -> History:
    """Train, streaming every row to ``csv_path`` as it is computed (memory does not grow
    with the steps: the trainer keeps one window of rows at a time), and return a bounded,
    shape-preserving selection of the rows for the figures (``RowSample``)."""
    steps = built.trainer.steps
    return _stream(
        built.trainer,
        csv_path,
        _figure_box(built),
        lambda step: progress(step, steps),
        writing=lambda done: progress.writing(CSV_NAME, done),
    )


def _train_network_and_write(built: Built, out: Path, progress: _Progress) -> History:
    """A network's ``w1,w2`` are coordinates on the trajectory plane of every run's states,
    known only once training is done, so its rows can't simply be streamed.

    When the trainer's reservoir of states (``engine.snapshots``) holds every recorded row,
    one pass: train, choose the plane from all the states, project them all, write.

    When it can't (a long training: its budget holds a few hundred rows of 8 runs of the
    digits MLP), keeping every row's parameters to project them later would cost rows ×
    runs × parameters — gigabytes. Instead the training is run TWICE: the first pass only
    fills the reservoir (evaluating nothing but the first and last rows) and the plane is
    chosen from its evenly spread rows; the second pass REPLAYS the training with that plane
    fixed, projecting each row as it is recorded and streaming it to the CSV. Training is
    deterministic from the seed (the same batches, the same arithmetic), so the replayed
    states are the first pass's — checked on the final states. Memory is then bounded by
    the reservoir budget plus one window of rows, whatever the steps: twice the training
    time is the price of an exact CSV in bounded memory. Then ``params.npz`` (every run's
    final state)."""
    trainer = built.trainer
    if trainer.snapshots is None or trainer.total_rows <= trainer.snapshots.capacity:
        single = trainer.fresh(window=False) if trainer.window else trainer
        history = single.run(CHUNK, progress=progress)
        write_trajectories_csv(history, out / CSV_NAME)
        write_params(single, built.problem, out / PARAMS_NAME)
        built.trainer = single
        return history

    steps = trainer.steps
    first = trainer.fresh(window=True, eval_every=trainer.total_rows)
    while not first.done:
        first.advance(CHUNK)
        progress(first.step, 2 * steps)
    # plane None: the states span less than a plane, coordinates 0 as in one pass
    replay = trainer.fresh(window=True, plane=first.plane)
    box = _figure_box(built)  # the first pass fitted the problem's view to its paths
    history = _stream(replay, out / CSV_NAME, box, lambda step: progress(steps + step, 2 * steps))
    if first.plane is not None:
        replay.problem.plane = first.plane
    mine, theirs = replay.final_state(), first.final_state()
    for a, b in zip(mine, theirs, strict=True):
        if a is not None and not np.array_equal(a, b, equal_nan=True):
            raise RuntimeError("the replayed training differs from the first pass (a bug)")
    write_params(replay, built.problem, out / PARAMS_NAME)
    built.trainer = replay
    return history


def _stream(
    trainer,
    csv_path: Path,
    box,
    progress: Callable[[int], None],
    writing: Callable[[float], None] | None = None,
) -> History:
    """Train a windowed trainer to the end, streaming its rows to the CSV (``progress(step)``
    after every chunk, ``writing(fraction)`` while the other runs' spooled rows are appended);
    return a bounded selection of them for the figures (``RowSample``)."""
    labels = trainer.history.labels
    writer = TrajectoryWriter(csv_path, labels, trainer.history.extra_columns)
    sample = RowSample(labels, box)
    try:
        writer.add(trainer.history)  # row 0
        sample.add(trainer.history, final=trainer.done)
        while not trainer.done:
            trainer.advance(CHUNK)
            writer.add(trainer.history)
            sample.add(trainer.history, final=trainer.done)
            progress(trainer.step)
        writer.close(progress=writing)
    except BaseException:
        writer.abort()
        raise
    return sample.history()


def write_params(trainer, problem, path: Path) -> Path:
    """``params.npz``: every run's final parameters and buffers, named ``run{r}.linear0.weight``
    … in PyTorch's layouts, written to a temporary name and renamed into place."""
    params, buffers = trainer.final_state()
    arrays = problem.weights(params, buffers)
    partial = path.with_name(path.name + ".partial.npz")
    try:
        np.savez(partial, **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _figure_box(built: Built) -> tuple[float, float, float, float]:
    """The view the figures start from (the file's, else the problem's): the paths are
    thinned to keep their shape at its scale."""
    view = getattr(built.experiment.problem, "view", None)
    if view is None:
        v = built.problem.default_view()
        view = (v.w1_min, v.w1_max, v.w2_min, v.w2_max)
    x0, x1, y0, y1 = (float(value) for value in view)
    return (x0, x1, y0, y1)


def _os_reason(exc: OSError) -> str:
    return _one_line(exc.strerror or exc)


if __name__ == "__main__":
    sys.exit(main())
