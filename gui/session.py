"""The session: the document, the playhead and the worker thread, tied to Qt's clock.

Views never edit the experiment themselves: they call the session, which applies the edit
to the ``Document`` (the engine's own rules decide) and — when the change matters to the
simulation, not for a colour or a name — hands the new experiment to the worker at once
(the worker keeps only the newest job: a slider dragged across twenty values is never
twenty jobs in a queue). A frame timer (60 Hz) takes the newest snapshot, moves the
``Playhead`` and emits one ``Frame`` that every view draws; the worker's first and last
snapshot of a job are drawn as soon as they are published. A slower timer emits the numbers
shown as text (steps/s, frames/s, progress).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from engine.experiment import Experiment, parse_experiment
from gui.document import Change, Document, default_experiment_data, simulation_key
from gui.network_view import PLANE_KINDS
from gui.playhead import SPEEDS, Playhead, speed_index
from gui.snapshot import Frame, Job, Snapshot
from gui.worker import WorkerThread

__all__ = [
    "SPEEDS",
    "Frame",
    "Session",
    "default_experiment_data",
    "engine_message",
    "progress_text",
    "simulation_key",
    "speed_index",
]

FRAME_INTERVAL_MS = 16  # ~60 frames/s at most; a frame is drawn only when something changed
STATS_INTERVAL_MS = 250  # text read-outs
STALE_FRAMES_S = 0.1  # longest wait for a new job's paths before the old ones are drawn


def progress_text(computed: int, total: int, *, computing: bool, waiting: bool) -> str:
    """The status bar's words for how far the computation is ('' when it is complete).
    ``waiting``: the worker has computed what the paused playhead needs and waits; without
    saying so, "training 641/1,000,000" at 0 % CPU looks like a hang."""
    if computed >= total:
        return ""
    if waiting:
        return f"computed {computed:,} of {total:,} — waiting for the playhead (paused)"
    if computing:
        return f"training {computed:,}/{total:,}"
    return ""


#: the longest reason an engine message quotes: a longer one (a workload's counts) is left to
#: the engine label's tooltip, so that the message fits beside the status bar's labels at 1366
#: pixels early in a run (when the progress and the slice's activity are shown too)
ENGINE_GIST_CHARS = 36  # (in the app's 10 pt font)
NOT_USED = "CuPy not used: "


def engine_message(backend: str) -> str:
    """The status bar's line when the engine's choice is news (``Backend.describe``'s text):
    the library and the gist of why, "Engine: NumPy, not CuPy — CuPy is not installed". The
    engine label beside it shows the library, its tooltip the whole reason; the whole text
    ran past the bar's labels at 1366 pixels."""
    library, _, why = backend.partition(" — ")
    name = library.split(" (")[0]
    if why.startswith(NOT_USED):
        # the cause itself ("backend 'cupy' was asked for but cannot be used: <cause>"),
        # its first clause (no install hint, exception text or counts' explanation)
        cause = why.removeprefix(NOT_USED).rpartition("cannot be used: ")[2]
        head, why = f"Engine: {name}, not CuPy", _first_clause(cause)
    else:
        head, why = f"Engine: {library.split(',')[0]}", why.split(" (")[0]  # "auto: …"
    if not why:
        return head
    if len(why) > ENGINE_GIST_CHARS:
        return f"{head} — hover “{library}” for why"
    return f"{head} — {why}"


def _first_clause(reason: str) -> str:
    """ "the GPU failed (OutOfMemoryError: Out of memory …); running on NumPy instead" →
    "the GPU failed (OutOfMemoryError)": an exception keeps its class, which names the
    failure; else the text up to its first parenthesis, comma, semicolon or colon."""
    failure = re.match(r"(.+?) \((\w+): ", reason)
    if failure:
        return f"{failure[1]} ({failure[2]})"
    return re.split(r" \(|, |; |: ", reason)[0]


def _with_activity(progress: str, activity: str) -> str:
    """The training's progress and what else is computed (a network's slice), in one line."""
    return " · ".join(part for part in (progress, activity) if part)


class Session(QObject):
    sig_experiment_changed = Signal(bool)  # True: runs added/removed/reordered, problem kind
    sig_document_changed = Signal()  # path or unsaved state
    sig_selection_changed = Signal(int)
    sig_frame = Signal(object)  # Frame
    sig_playing_changed = Signal(bool)
    sig_speed_changed = Signal(float)
    sig_stats = Signal(dict)
    sig_message = Signal(str)  # a transient status-bar message
    sig_error = Signal(str)  # the current experiment can't be simulated ('' when it can)
    sig_value = Signal(str, float, float, float)  # surface key, w1, w2: the exact loss there

    def __init__(self, parent=None, *, start_timers: bool = True):
        super().__init__(parent)
        self._engine = WorkerThread()
        self.worker = self._engine.worker
        self.document = Document()
        self.playhead = Playhead(self.document.experiment.steps)
        self.selected_run = 0
        self.snapshot: Snapshot | None = None
        self._job_id = 0
        # each job's folder (a CSV data set's path is relative to it), until a newer job's
        # snapshot came: the snapshot's data are the document's only from the same folder
        self._job_dirs: dict[int, Path] = {}
        self._submitted_key: str | None = None
        self._error = ""
        self._last_frame_key = None
        self._last_frame_at = 0.0
        self._waiting_since = 0.0  # for the paths of a job not yet published
        self._next_frame_at = 0.0
        self._in_tick = False
        self._frames = 0
        self._fps = 0.0
        self._fps_since = time.perf_counter()
        self._closed = False
        self._plane: tuple[str, tuple[int, ...]] = ("trajectory", ())  # kind, run ids
        self._interpolation: tuple[int, ...] = ()  # run ids
        self._backend_gist = ""  # the backend and its reason last said, numbers aside

        self.worker.sig_published.connect(self._on_published)  # queued: another thread
        self.worker.sig_value.connect(self.sig_value)
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(FRAME_INTERVAL_MS)
        self._frame_timer.timeout.connect(self.tick)
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self._emit_stats)
        if start_timers:
            self._frame_timer.start()
            self._stats_timer.start()

    # ---- the document (a facade: the views call these) ---------------------------------------
    @property
    def experiment(self) -> Experiment:
        return self.document.experiment

    @property
    def path(self) -> Path | None:
        return self.document.path

    @path.setter
    def path(self, value) -> None:
        self.document.path = Path(value) if value else None

    @property
    def dirty(self) -> bool:
        return self.document.dirty

    @property
    def notes_describe_it(self) -> bool:
        """Whether the notes still describe the experiment (``Document.notes_describe_it``)."""
        return self.document.notes_describe_it

    @property
    def file_warnings(self) -> list[str]:
        """What the file as read says to no effect, until the document is edited or saved."""
        return [] if self.document.dirty else self.document.file_warnings

    @property
    def base_dir(self) -> Path:
        return self.document.base_dir

    @property
    def source(self) -> str:
        return self.document.source

    @property
    def total_steps(self) -> int:
        return self.document.experiment.steps

    def set_experiment(
        self,
        experiment: Experiment,
        path: Path | None,
        *,
        saved: bool,
        base_dir: Path | None = None,
    ) -> None:
        """Replace the document (New, Open, an example): playback restarts from step 0."""
        self.document.replace(experiment, path, saved=saved, base_dir=base_dir)
        self._restart()

    def _restart(self) -> None:
        self.selected_run = 0
        if self._plane != ("trajectory", ()):  # another experiment: its runs' own plane
            self._plane = ("trajectory", ())
            self.worker.request_plane(*self._plane)
        self.playhead.total = self.total_steps
        self.playhead.seek(0)
        self._submitted_key = None  # a file opened again may have new data beside it
        self._submit()
        self.sig_experiment_changed.emit(True)
        self.sig_selection_changed.emit(0)
        self.sig_document_changed.emit()
        self.play()

    def new_experiment(self) -> None:
        self.set_experiment(parse_experiment(default_experiment_data()), None, saved=True)

    def open(self, path: str | Path, *, as_copy: bool = False) -> None:
        """Load ``path``; on an ``ExperimentError`` the current experiment is kept."""
        self.document.load(path, as_copy=as_copy)
        self._restart()

    def save(self, path: str | Path | None = None) -> Path:
        saved = self.document.save(path)
        self.sig_document_changed.emit()
        return saved

    def _take_change(self, change: Change | str) -> str | None:
        """Act on an edit of the document: None, or the reason it was refused."""
        if isinstance(change, str):
            self.sig_message.emit(f"Not applied — {change}")
            return change
        if change.message:
            self.sig_message.emit(change.message)
        self.playhead.total = self.total_steps
        self.playhead.seek(self.playhead.position)
        if change.simulation:
            self._submit()
        else:
            self._last_frame_key = None  # colours, names: redraw now
        self.sig_experiment_changed.emit(change.structural)
        self.sig_document_changed.emit()
        return None

    def update_experiment(self, **changes) -> str | None:
        return self._take_change(self.document.update_experiment(**changes))

    def update_problem(self, **changes) -> str | None:
        return self._take_change(self.document.update_problem(**changes))

    def set_start(self, w1: float, w2: float) -> str | None:
        """Where every run without a start of its own begins (dragged on the surface)."""
        return self._take_change(self.document.set_start(w1, w2))

    def update_run(self, index: int, **changes) -> str | None:
        return self._take_change(self.document.update_run(index, **changes))

    def add_run(self, optimizer: str = "sgd") -> int:
        if self._take_change(self.document.add_run(optimizer)) is None:
            self.select_run(len(self.experiment.runs) - 1)
        return self.selected_run

    def duplicate_run(self, index: int) -> int:
        if self._take_change(self.document.duplicate_run(index)) is None:
            self.select_run(index + 1)
        return self.selected_run

    def remove_run(self, index: int) -> bool:
        change = self.document.remove_run(index)
        if isinstance(change, str):
            self.sig_message.emit(change)
            return False
        self._take_change(change)
        self.select_run(min(self.selected_run, len(self.experiment.runs) - 1))
        return True

    def select_run(self, index: int) -> None:
        index = max(0, min(index, len(self.experiment.runs) - 1))
        if index != self.selected_run:
            self.selected_run = index
            self._last_frame_key = None
        self.sig_selection_changed.emit(index)

    # ---- simulation --------------------------------------------------------------------------
    def _submit(self) -> None:
        if self._closed:
            return
        key = self.document.simulation_key
        if key == self._submitted_key and self.snapshot is not None:
            return
        self._submitted_key = key
        if self.snapshot is None or self.snapshot.job_id == self._job_id:
            self._waiting_since = time.perf_counter()
        self._job_id += 1
        doc = self.document
        self._job_dirs[self._job_id] = doc.base_dir
        self.worker.submit(Job(self._job_id, doc.experiment, doc.base_dir, doc.source, doc.run_ids))
        self._update_demand()

    def resimulate(self) -> None:
        """Compute again even if nothing changed (e.g. a data file changed on disk)."""
        self._submitted_key = None
        self._submit()

    def request_surface(self, key: str, rect) -> None:
        """Ask the worker for the surface over ``rect`` (a zoomed or panned view)."""
        if not self._closed:
            self.worker.request_surface(key, rect)

    # ---- a network's plane -------------------------------------------------------------------
    @property
    def is_network(self) -> bool:
        """The experiment trains a network: its surface is a slice on a plane of weights."""
        return self.experiment.problem.kind == "mlp"

    @property
    def plane_kind(self) -> str:
        return self._plane[0]

    @property
    def plane_runs(self) -> tuple[int, ...]:
        """The document's runs the plane goes through (those that still exist)."""
        ids = self.document.run_ids
        return tuple(ids.index(i) for i in self._plane[1] if i in ids)

    def set_plane(self, kind: str, runs=()) -> str | None:
        """Lay a network's slice on another plane: ``"trajectory"`` (PCA of every run's
        path), ``"random"`` (around run ``runs[0]``'s current point) or ``"three_point"``
        (the start and runs ``runs[0]``, ``runs[1]``); None, or why it was refused."""
        reason = None
        n = len(self.experiment.runs)
        if kind not in PLANE_KINDS:
            reason = f"plane must be one of {', '.join(PLANE_KINDS)}, not {kind!r}"
        elif any(not 0 <= int(r) < n for r in runs):
            reason = f"plane runs must be run numbers 0 to {n - 1}, got {list(runs)}"
        elif kind == "three_point" and n < 2:
            reason = "a three-point plane goes through two runs' points: add a run"
        if reason is not None:
            self.sig_message.emit(f"Not applied — {reason}")
            return reason
        ids = tuple(self.document.run_ids[int(r)] for r in runs)
        self._plane = (kind, ids)
        if not self._closed:
            self.worker.request_plane(kind, ids)
        return None

    def set_interpolation(self, i: int, j: int) -> str | None:
        """A network's interpolation view between runs ``i`` and ``j`` (document runs): the
        loss along the line between their current points. None, or why it was refused."""
        n = len(self.experiment.runs)
        if not (0 <= int(i) < n and 0 <= int(j) < n) or int(i) == int(j):
            reason = f"interpolation needs two different runs of 0 to {n - 1}, got {i} and {j}"
            self.sig_message.emit(f"Not applied — {reason}")
            return reason
        ids = (self.document.run_ids[int(i)], self.document.run_ids[int(j)])
        self._interpolation = ids
        if not self._closed:
            self.worker.request_interpolation(ids)
        return None

    def set_boundary_aspect(self, aspect: float) -> None:
        """The decision-boundary panels' width / height: the worker computes the boundary
        over a rectangle of that shape (``gui.network_view.boundary_rect``)."""
        if not self._closed:
            self.worker.set_boundary_aspect(aspect)

    @property
    def interpolation_runs(self) -> tuple[int, ...]:
        """The document's two runs of the interpolation asked for (() : the first two)."""
        ids = self.document.run_ids
        return tuple(ids.index(i) for i in self._interpolation if i in ids)

    def request_value(self, key: str, w1: float, w2: float) -> None:
        """Ask the worker for the exact loss at (w1, w2): ``sig_value`` answers."""
        if not self._closed:
            self.worker.request_value(key, w1, w2)

    @property
    def busy(self) -> bool:
        """Jobs are waiting, or the newest snapshot is not of the newest job."""
        return self.worker.busy or self.snapshot is None or self.snapshot.job_id != self._job_id

    @property
    def error(self) -> str:
        return self._error

    # ---- playback ----------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.playhead.playing

    @property
    def head(self) -> float:
        return self.playhead.position

    @property
    def speed(self) -> float:
        return self.playhead.speed

    def _frontier(self) -> int:
        s = self.snapshot
        if s is None or s.history is None or s.count == 0:
            return 0
        return int(s.history.step[s.count - 1])

    def play(self) -> None:
        was = self.playhead.playing
        self.playhead.play()
        self._playing_changed(was)

    def pause(self) -> None:
        was = self.playhead.playing
        self.playhead.pause()
        self._playing_changed(was)

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def _playing_changed(self, was: bool) -> None:
        self._update_demand()
        if was != self.playhead.playing:
            self.sig_playing_changed.emit(self.playhead.playing)

    def step_forward(self) -> None:
        """Pause, and show one more recorded update."""
        was = self.playhead.playing
        s = self.snapshot
        steps = s.history.step if s is not None and s.history is not None else None
        self.playhead.step_forward(steps, self._frontier())
        self._playing_changed(was)
        self._last_frame_key = None

    def reset(self) -> None:
        """Back to step 0, paused."""
        self.pause()
        self.seek(0)

    def seek(self, step: float) -> None:
        self.playhead.seek(step)
        self._update_demand()
        self._last_frame_key = None

    def set_speed(self, steps_per_second: float) -> None:
        self.playhead.speed = float(steps_per_second)
        self.sig_speed_changed.emit(self.playhead.speed)

    def shown_head(self) -> int:
        """The update drawn: the playhead, but never past what has been computed."""
        return self.playhead.shown(self._frontier())

    def _update_demand(self) -> None:
        self.worker.set_demand(self.playhead.demand())

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
        fresh = self.worker.take_latest()
        if fresh is not None:
            self._take(fresh)
        s = self.snapshot
        finished = s is not None and s.done and s.job_id == self._job_id
        if self.playhead.advance(self._frontier(), finished):
            self._playing_changed(True)
        if s is None:
            return None
        head = self.shown_head()
        if s.network is not None or self.is_network:
            self.worker.set_head(head)  # the decision boundary is drawn where the head is
        surface = s.surface.serial if s.surface is not None else 0
        doc = self.document
        network = id(s.network) if s.network is not None else 0  # a boundary, interpolation
        key = (s.job_id, s.count, surface, network, head, doc.revision, self.selected_run)
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
        frame = Frame(
            s,
            doc.experiment,
            head,
            rows,
            fresh is not None,
            self.selected_run,
            run_ids=doc.run_ids,
            revision=doc.revision,
        )
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
        for job_id in [k for k in self._job_dirs if k < snapshot.job_id]:
            del self._job_dirs[job_id]
        error = snapshot.error or ""
        if snapshot.job_id == self._job_id and error != self._error:
            self._error = error
            self.sig_error.emit(error)
        if snapshot.job_id == self._job_id:
            self._announce_backend(snapshot.backend)

    def _announce_backend(self, backend: str) -> None:
        """Say in the status bar which array library computes and why, when that changes:
        the permanent label shows the library alone, and a fallback (no CuPy for a file
        that asks for it, a GPU that failed, ``auto`` keeping to the CPU) must be read
        without hovering. The counts of an ``auto`` reason (runs × parameters) changing
        alone are not news."""
        if not backend or " — " not in backend:
            return
        gist = re.sub(r"\d[\d,]*", "#", backend)
        if gist != self._backend_gist:
            self._backend_gist = gist
            self.sig_message.emit(engine_message(backend))

    def current_frame(self) -> Frame | None:
        """The frame the views show now (forcing one even if nothing changed)."""
        self._last_frame_key = None
        return self.tick()

    def stats(self) -> dict:
        """The numbers the status bar shows."""
        s = self.snapshot
        current = s is not None and s.job_id == self._job_id
        computed = s.computed_step if s else 0
        computing = bool(current and not s.done)
        # computed what the playhead needs, and waiting for it to move on
        waiting = computing and not self.playing and not self.worker.busy
        return {
            "backend": s.backend if s else "",
            "steps_per_second": s.steps_per_second if s else 0.0,
            "runs": len(s.experiment.runs) if s else 0,
            "frames_per_second": self._fps,
            "computed": computed,
            "total": self.total_steps,
            "busy": computing and not waiting,
            "waiting": waiting,
            "progress": _with_activity(
                progress_text(computed, self.total_steps, computing=computing, waiting=waiting),
                s.activity if current else "",
            ),
            "activity": s.activity if current else "",
        }

    def _emit_stats(self) -> None:
        now = time.perf_counter()
        self._fps = self._frames / max(now - self._fps_since, 1e-6)
        self._frames, self._fps_since = 0, now
        self.sig_stats.emit(self.stats())

    # ---- waiting (tests, the self-test, exports) ---------------------------------------------
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
    def training_examples(self) -> int | None:
        """The size of the document's training split as the worker read it (the newest
        snapshot's, while that was built from the document's data: the same problem, seed
        and folder); None until then. The data are read in the worker, never here."""
        s, experiment = self.snapshot, self.document.experiment
        if s is None or s.built is None:
            return None
        same_data = (
            s.experiment.problem == experiment.problem
            and s.experiment.seed == experiment.seed
            and self._job_dirs.get(s.job_id) == self.document.base_dir
        )
        return s.built.problem.n_examples if same_data else None

    def shutdown(self) -> bool:
        """Stop the timers and the worker thread; True when the thread has ended."""
        self._closed = True
        for timer in (self._frame_timer, self._stats_timer):
            timer.stop()
        return self._engine.shutdown()

    @property
    def thread(self):
        return self._engine.thread
