"""The document (an ``Experiment``), the worker that simulates it, and the playhead.

Views never edit the experiment themselves: they call the controller, which validates the
change with the engine's own rules (``parse_experiment``), keeps the new experiment, and —
when the change matters to the simulation, not for a colour or a name — hands it to the
worker at once (the worker keeps only the newest job: a slider dragged across twenty values
is never twenty jobs in a queue). A frame timer (60 Hz) takes the newest snapshot, moves the
playhead and emits one ``Frame`` that every view draws; the worker's first and last
snapshot of a job are drawn as soon as they are published. A slower timer emits the numbers
shown as text (steps/s, frames/s).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from engine.experiment import (
    Experiment,
    ExperimentError,
    load_experiment,
    parse_experiment,
    save_experiment,
    validate,
)
from engine.parameters import (
    BATCH_PARAMETERS,
    OPTIMIZER_PARAMETERS,
    REGISTRY,
    optimizer_parameters,
)
from gui.worker import Job, Snapshot, WorkerThread

FRAME_INTERVAL_MS = 16  # ~60 frames/s at most; a frame is drawn only when something changed
STATS_INTERVAL_MS = 250  # text read-outs
STALE_FRAMES_S = 0.1  # longest wait for a new job's paths before the old ones are drawn
SPEEDS = (5.0, 15.0, 30.0, 60.0, 120.0, 250.0, 500.0, 1000.0, 5000.0, math.inf)
COSMETIC_RUN_KEYS = ("label", "color", "visible")
MAX_RECORDED_ROWS = 200_000  # per run; longer experiments record every k-th step


def default_experiment_data() -> dict:
    """Used when the shipped default example can't be read: momentum vs Adam on Rosenbrock."""
    return {
        "title": "Momentum vs Adam on Rosenbrock",
        "steps": 300,
        "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.5, 2.0]},
        "runs": [
            {"label": "momentum", "optimizer": "momentum", "lr": 0.001, "momentum": 0.9},
            {"label": "adam", "optimizer": "adam", "lr": 0.05},
        ],
    }


def speed_index(speed: float) -> int:
    """The entry of ``SPEEDS`` nearest to ``speed``, by ratio ("instant" is infinite)."""

    def log(value: float) -> float:
        return math.log(value if math.isfinite(value) else 1e9)

    return min(range(len(SPEEDS)), key=lambda i: abs(log(SPEEDS[i]) - log(speed)))


def simulation_key(experiment: Experiment) -> str:
    """Everything that changes what the engine computes (not names, colours, visibility)."""
    data = experiment.model_dump(mode="json", exclude={"title", "description"})
    for run in data["runs"]:
        for key in COSMETIC_RUN_KEYS:
            run.pop(key, None)
    return json.dumps(data, sort_keys=True)


@dataclass(frozen=True)
class Frame:
    """What the views draw: the newest snapshot, revealed up to the playhead."""

    snapshot: Snapshot
    experiment: Experiment  # the document now: labels, colours, visibility
    head: int  # the update shown
    rows: int  # history rows revealed (<= snapshot.count)
    new_data: bool  # the snapshot changed since the previous frame
    selected_run: int

    @property
    def history(self):
        return self.snapshot.history

    def finite_rows(self, run: int, rows: int | None = None) -> int:
        """Rows of ``run`` to draw: revealed (or the first ``rows``), and before its
        divergence."""
        h = self.snapshot.history
        if h is None or run >= h.n_runs:
            return 0
        rows = self.rows if rows is None else rows
        at = self.snapshot.diverged_at[run] if run < len(self.snapshot.diverged_at) else -1
        if at >= 0:
            rows = min(rows, int(np.searchsorted(h.step[: self.snapshot.count], at)))
        return max(rows, 0)

    def diverged_shown(self, run: int) -> bool:
        """The run has diverged at or before the playhead."""
        at = self.snapshot.diverged_at
        return run < len(at) and 0 <= at[run] <= self.head


class Controller(QObject):
    sig_experiment_changed = Signal(bool)  # True: runs added/removed/reordered, problem kind
    sig_document_changed = Signal()  # path or unsaved state
    sig_selection_changed = Signal(int)
    sig_frame = Signal(object)  # Frame
    sig_playing_changed = Signal(bool)
    sig_speed_changed = Signal(float)
    sig_stats = Signal(dict)
    sig_message = Signal(str)  # a transient status-bar message
    sig_error = Signal(str)  # the current experiment can't be simulated ('' when it can)

    def __init__(self, parent=None, *, start_timers: bool = True):
        super().__init__(parent)
        self._engine = WorkerThread()
        self.worker = self._engine.worker
        self.experiment: Experiment = parse_experiment(default_experiment_data())
        self.path: Path | None = None
        self._base_dir: Path | None = None
        self._raised_record_every = False
        self._saved_toml = self.experiment.to_toml()
        self.selected_run = 0
        self.snapshot: Snapshot | None = None
        self._job_id = 0
        self._submitted_key: str | None = None
        self._error = ""
        # playback
        self.playing = False
        self.head = 0.0
        self.speed = 60.0
        self._last_tick = time.perf_counter()
        self._last_frame_key = None
        self._last_frame_at = 0.0
        self._waiting_since = 0.0  # for the paths of a job not yet published
        self._next_frame_at = 0.0
        self._in_tick = False
        self._frames = 0
        self._fps = 0.0
        self._fps_since = time.perf_counter()
        self._closed = False

        self.worker.sig_published.connect(self._on_published)  # queued: another thread
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(FRAME_INTERVAL_MS)
        self._frame_timer.timeout.connect(self.tick)
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self._emit_stats)
        if start_timers:
            self._frame_timer.start()
            self._stats_timer.start()

    # ---- the document ------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.experiment.to_toml() != self._saved_toml

    @property
    def base_dir(self) -> Path:
        """Where a data file named relative to the experiment is found."""
        if self._base_dir is not None:
            return self._base_dir
        return self.path.parent if self.path else Path.cwd()

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<new experiment>"

    @property
    def total_steps(self) -> int:
        return self.experiment.steps

    def set_experiment(
        self,
        experiment: Experiment,
        path: Path | None,
        *,
        saved: bool,
        base_dir: Path | None = None,
    ) -> None:
        """Replace the document (New, Open, an example): playback restarts from step 0."""
        self.experiment = experiment
        self.path = Path(path) if path else None
        self._base_dir = Path(base_dir) if base_dir else None
        self._raised_record_every = False
        if saved:
            self._saved_toml = experiment.to_toml()
        self.selected_run = 0
        self.head = 0.0
        self._submitted_key = None  # a file opened again may have new data beside it
        self._submit()
        self.sig_experiment_changed.emit(True)
        self.sig_selection_changed.emit(0)
        self.sig_document_changed.emit()
        self.play()

    def new_experiment(self) -> None:
        self.set_experiment(parse_experiment(default_experiment_data()), None, saved=True)

    def open(self, path: str | Path, *, as_copy: bool = False) -> None:
        """Load ``path``; on an ``ExperimentError`` the current experiment is kept.
        ``as_copy`` (the shipped examples): unnamed, so Save asks where, never overwriting
        the original; its data files are still found beside it."""
        path = Path(path).resolve()
        experiment = load_experiment(path)
        # a missing data file or a batch larger than the data is a broken file too: say so
        # now (an ExperimentError naming the key), not later in a banner
        validate(experiment, path.parent, source=str(path))
        self.set_experiment(experiment, None if as_copy else path, saved=True, base_dir=path.parent)

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path).resolve() if path else self.path
        if target is None:
            raise ValueError("no file name: use save(path)")
        self._keep_data_reachable(target.parent)
        save_experiment(self.experiment, target)
        self.path = target
        self._base_dir = target.parent
        self._saved_toml = self.experiment.to_toml()
        self.sig_document_changed.emit()
        return self.path

    def _keep_data_reachable(self, folder: Path) -> None:
        """A data file named relative to the old folder, renamed relative to the new one."""
        data = getattr(self.experiment.problem, "data", None)
        if not data or Path(data).is_absolute() or folder == self.base_dir.resolve():
            return
        source = (self.base_dir / data).resolve()
        try:
            moved = os.path.relpath(source, folder)
        except ValueError:  # another drive (Windows): keep it absolute
            moved = str(source)
        problem = self.experiment.problem.model_copy(update={"data": Path(moved).as_posix()})
        self.experiment = self.experiment.model_copy(update={"problem": problem})

    def _apply(self, data: dict, *, structural: bool = False) -> str | None:
        """Validate ``data`` as the new experiment; None, or the reason it was refused."""
        try:
            experiment = parse_experiment(data, source="this setting")
        except ExperimentError as exc:
            message = str(exc).removeprefix("this setting: ")
            self.sig_message.emit(f"Not applied — {message}")
            return message
        old_key = simulation_key(self.experiment)
        self.experiment = experiment
        if simulation_key(experiment) != old_key:
            self._submit()
        else:
            self._last_frame_key = None  # colours, names: redraw now
        self.sig_experiment_changed.emit(structural)
        self.sig_document_changed.emit()
        return None

    def _data(self) -> dict:
        return self.experiment.model_dump(mode="json")

    # settings of the whole experiment
    def update_experiment(self, **changes) -> str | None:
        data = self._data()
        data.update(changes)
        if "steps" in changes and "record_every" not in changes:
            # a history the size of memory helps nobody: record every k-th step instead
            # (and back to every step when the app raised it and it is no longer needed)
            steps = int(changes["steps"])
            every = max(1, math.ceil(steps / MAX_RECORDED_ROWS))
            current = data.get("record_every", 1)
            if every > current or (self._raised_record_every and every < current):
                data["record_every"] = every
                self._raised_record_every = every > 1
                if every > 1:
                    self.sig_message.emit(
                        f"{steps:,} steps: every {every}th step is recorded and drawn "
                        "(record_every), to keep the history in memory"
                    )
        return self._apply(data)

    def update_problem(self, **changes) -> str | None:
        data = self._data()
        problem = data["problem"]
        structural = "kind" in changes and changes["kind"] != problem["kind"]
        if structural:
            problem = {"kind": changes["kind"]}
            for run in data["runs"]:  # batches belong to data; a function has none
                for p in BATCH_PARAMETERS:
                    if not p.applies(problem=changes["kind"]):
                        run[p.key] = p.default_for()
        problem.update(changes)
        data["problem"] = problem
        return self._apply(data, structural=structural)

    def set_start(self, w1: float, w2: float) -> str | None:
        """Where every run without a start of its own begins (dragged on the surface)."""
        return self.update_problem(start=[float(w1), float(w2)])

    # runs
    def update_run(self, index: int, **changes) -> str | None:
        data = self._data()
        run = data["runs"][index]
        optimizer = changes.get("optimizer", run["optimizer"])
        convention = changes.get("convention", run["convention"])
        if (optimizer, convention) != (run["optimizer"], run["convention"]):
            # keep only what the new rule takes (the registry says which): the lecture's
            # Adagrad has no lr_decay, Adam no momentum
            takes = {p.key for p in optimizer_parameters(optimizer, convention)}
            for key in _ALL_HYPERPARAMETERS - takes:
                run[key] = None
        if "schedule" in changes:
            changes = {**changes, "schedule": {**run["schedule"], **changes["schedule"]}}
        run.update(changes)
        return self._apply(data)

    def add_run(self, optimizer: str = "sgd") -> int:
        data = self._data()
        lr = REGISTRY["lr"].default_for(optimizer)
        data["runs"].append(
            {"label": self._free_label(optimizer), "optimizer": optimizer, "lr": lr}
        )
        if self._apply(data, structural=True) is None:
            self.select_run(len(self.experiment.runs) - 1)
        return self.selected_run

    def duplicate_run(self, index: int) -> int:
        data = self._data()
        run = copy.deepcopy(data["runs"][index])
        run["label"] = self._free_label(run.get("label") or run["optimizer"])
        run["color"] = None
        data["runs"].insert(index + 1, run)
        if self._apply(data, structural=True) is None:
            self.select_run(index + 1)
        return self.selected_run

    def remove_run(self, index: int) -> bool:
        if len(self.experiment.runs) <= 1:
            self.sig_message.emit("An experiment needs at least one run")
            return False
        data = self._data()
        del data["runs"][index]
        if self._apply(data, structural=True) is not None:
            return False
        self.select_run(min(self.selected_run, len(self.experiment.runs) - 1))
        return True

    def select_run(self, index: int) -> None:
        index = max(0, min(index, len(self.experiment.runs) - 1))
        if index != self.selected_run:
            self.selected_run = index
            self._last_frame_key = None
        self.sig_selection_changed.emit(index)

    def _free_label(self, base: str) -> str:
        taken = {r.display_label for r in self.experiment.runs}
        if base not in taken:
            return base
        n = 2
        while f"{base} {n}" in taken:
            n += 1
        return f"{base} {n}"

    # ---- simulation ----------------------------------------------------------------------------
    def _submit(self) -> None:
        if self._closed:
            return
        key = simulation_key(self.experiment)
        if key == self._submitted_key and self.snapshot is not None:
            return
        self._submitted_key = key
        if self.snapshot is None or self.snapshot.job_id == self._job_id:
            self._waiting_since = time.perf_counter()
        self._job_id += 1
        self.worker.submit(Job(self._job_id, self.experiment, self.base_dir, self.source))
        self._update_demand()

    def resimulate(self) -> None:
        """Compute again even if nothing changed (e.g. a data file changed on disk)."""
        self._submitted_key = None
        self._submit()

    @property
    def busy(self) -> bool:
        """Jobs are waiting, or the newest snapshot is not of the newest job."""
        return self.worker.busy or self.snapshot is None or self.snapshot.job_id != self._job_id

    @property
    def error(self) -> str:
        return self._error

    # ---- playback --------------------------------------------------------------------------------
    def _frontier(self) -> int:
        s = self.snapshot
        if s is None or s.history is None or s.count == 0:
            return 0
        return int(s.history.step[s.count - 1])

    def play(self) -> None:
        if self.head >= self.total_steps:
            self.head = 0.0
        self._set_playing(True)

    def pause(self) -> None:
        self._set_playing(False)

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def _set_playing(self, playing: bool) -> None:
        self._last_tick = time.perf_counter()
        changed = playing != self.playing
        self.playing = playing
        self._update_demand()
        if changed:
            self.sig_playing_changed.emit(playing)

    def step_forward(self) -> None:
        """Pause, and show one more recorded update."""
        self.pause()
        s = self.snapshot
        shown = self.shown_head()
        if s is not None and s.history is not None:
            steps = s.history.step
            nxt = int(np.searchsorted(steps, shown, side="right"))
            target = int(steps[nxt]) if nxt < len(steps) else self.total_steps
        else:
            target = shown + 1
        self.seek(min(target, self.total_steps))

    def reset(self) -> None:
        """Back to step 0, paused."""
        self.pause()
        self.seek(0)

    def seek(self, step: float) -> None:
        self.head = float(max(0, min(step, self.total_steps)))
        self._update_demand()
        self._last_frame_key = None

    def set_speed(self, steps_per_second: float) -> None:
        self.speed = float(steps_per_second)
        self.sig_speed_changed.emit(self.speed)

    def shown_head(self) -> int:
        """The update drawn: the playhead, but never past what has been computed."""
        return int(min(self.head, self._frontier(), self.total_steps))

    def _update_demand(self) -> None:
        # playing: compute to the end; paused: what the playhead shows (a slider change
        # while paused recomputes just that much)
        self.worker.set_demand(math.inf if self.playing else math.ceil(self.head))

    # ---- the frame timer ---------------------------------------------------------------------
    def _on_published(self) -> None:
        """A new job's first snapshot, or a job's last: drawn now, not at the next tick."""
        if not self._in_tick and not self._closed:
            self.tick()

    def tick(self) -> Frame | None:
        """Take the newest snapshot, move the playhead, emit a frame if anything changed."""
        self._in_tick = True  # a frame sends posted events: no frame inside a frame
        try:
            return self._tick()
        finally:
            self._in_tick = False

    def _tick(self) -> Frame | None:
        now = time.perf_counter()
        dt, self._last_tick = now - self._last_tick, now
        fresh = self.worker.take_latest()
        if fresh is not None:
            self._take(fresh)
        s = self.snapshot
        if s is None:
            return None
        if self.playing:
            frontier = self._frontier()
            if math.isinf(self.speed):
                self.head = float(max(self.head, frontier))
            else:
                # never run ahead of the computation: wait for it at the frontier
                self.head = min(self.head + self.speed * min(dt, 0.25), max(self.head, frontier))
            if self.head >= self.total_steps and s.done and s.job_id == self._job_id:
                self.head = float(self.total_steps)
                self._set_playing(False)
        head = self.shown_head()
        key = (s.job_id, s.count, head, id(self.experiment), self.selected_run)
        if key == self._last_frame_key:
            return None
        if (
            s.job_id != self._job_id
            and self._last_frame_key is not None
            and now - max(self._waiting_since, self._last_frame_at) < STALE_FRAMES_S
        ):
            # a newer job is computing: its paths (and the learning-rate curves of the
            # experiment it computes) come with its first snapshot in a few milliseconds;
            # a frame of the old paths meanwhile would only take the worker's time
            return None
        training = not s.done
        if training and now < self._next_frame_at and self._last_frame_key is not None:
            return None  # the worker's turn (see below)
        self._last_frame_key = key
        self._last_frame_at = now
        rows = 0
        if s.history is not None and s.count:
            rows = int(np.searchsorted(s.history.step[: s.count], head, side="right"))
        frame = Frame(s, self.experiment, head, rows, fresh is not None, self.selected_run)
        if training:
            self.worker.hold()
        try:
            self.sig_frame.emit(frame)
            if training:
                # paint now, while the worker waits (see TrainingWorker.hold)
                for _ in range(3):
                    QCoreApplication.sendPostedEvents()
        finally:
            if training:
                self.worker.release()
                # while training, frames take at most 40 % of the time: the rest is the
                # worker's, which waits while a frame is drawn
                cost = time.perf_counter() - now
                self._next_frame_at = now + 2.5 * cost
        self._frames += 1
        return frame

    def _take(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        error = snapshot.error or ""
        if snapshot.job_id == self._job_id and error != self._error:
            self._error = error
            self.sig_error.emit(error)

    def current_frame(self) -> Frame | None:
        """The frame the views show now (forcing one even if nothing changed)."""
        self._last_frame_key = None
        return self.tick()

    def _emit_stats(self) -> None:
        now = time.perf_counter()
        self._fps = self._frames / max(now - self._fps_since, 1e-6)
        self._frames, self._fps_since = 0, now
        s = self.snapshot
        self.sig_stats.emit(
            {
                "backend": s.backend if s else "",
                "steps_per_second": s.steps_per_second if s else 0.0,
                "runs": len(s.experiment.runs) if s else 0,
                "frames_per_second": self._fps,
                "computed": s.computed_step if s else 0,
                "total": self.total_steps,
                "busy": bool(s and not s.done and s.job_id == self._job_id),
            }
        )

    # ---- waiting (tests, the self-test, exports) ------------------------------------------------
    def wait_until_computed(self, timeout: float = 30.0, *, to_end: bool = True) -> bool:
        """Process events until the newest job's snapshot is here (and, with ``to_end``,
        finished). Never call this from a slot that a frame timer drives."""
        if to_end:
            self.worker.set_demand(math.inf)
        deadline = time.perf_counter() + timeout
        try:
            while time.perf_counter() < deadline:
                QCoreApplication.processEvents()
                self.tick()
                s = self.snapshot
                if s is not None and s.job_id == self._job_id and (s.done or not to_end):
                    return True
                time.sleep(0.002)
            return False
        finally:
            self._update_demand()

    # ---- closing -----------------------------------------------------------------------------
    def shutdown(self) -> bool:
        """Stop the timers and the worker thread; True when the thread has ended."""
        self._closed = True
        for timer in (self._frame_timer, self._stats_timer):
            timer.stop()
        return self._engine.shutdown()

    @property
    def thread(self):
        return self._engine.thread


_ALL_HYPERPARAMETERS = {p.key for p in OPTIMIZER_PARAMETERS} - {"lr"}
