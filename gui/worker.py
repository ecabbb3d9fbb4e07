"""The engine off the GUI thread: a worker object living in a QThread.

The GUI hands it *jobs* (an experiment to simulate) and reads back *snapshots* (the history
so far). Both directions keep only the latest: a job submitted while another is computing
replaces it (a slider dragged across twenty values computes the last one, not twenty), and
the GUI's frame timer takes whatever snapshot is newest, never a queue of them. A job's
first and last snapshot are also announced (``sig_published``), so that the GUI draws a
new path as soon as it exists rather than at its next timer tick.

The worker computes in chunks sized to last about ``chunk_seconds``, so that a new job, a
pause or a stop is answered within one chunk (well under 100 ms). It computes up to the
*demand* the GUI sets (the step the display needs; unlimited while playing) and then waits.

Besides the history, a snapshot carries what the views draw and would otherwise compute on
the GUI thread: the loss surface over the view box (``Surface``; a zoomed view asks for a
new grid with ``request_surface``, answered between chunks, only the newest request kept)
and every run's whole learning-rate schedule.

Nothing here touches a widget or a pyqtgraph item: snapshots are plain data. A snapshot holds
the trainer's ``History`` itself, not a copy: rows below ``count`` are final and never written
again, so the GUI may read them while the worker fills later rows.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import traceback
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.backend import Backend, gpu_failure, numpy_fallback, select_backend
from engine.experiment import Built, ExperimentError, build, run_specs
from engine.plane import Cancelled
from engine.training import record_steps
from gui import snapshot as snapshots
from gui.figures import problem_subtitle
from gui.geometry import pixel_centres, view_tuple
from gui.network_view import UPSAMPLE, NetworkLive, PlaneChoice, eval_every_for, upsample
from gui.snapshot import MAX_SCHEDULE_STEPS, Job, Snapshot, Surface, surface_key

__all__ = ["Job", "Snapshot", "Surface", "TrainingWorker", "WorkerThread"]

FIRST_FRAME_WAIT = 0.08  # seconds a new job may compute before its first snapshot shows
SLICE_BUDGET_S = 0.03  # a network's slice is computed this long at a time when trained


class TrainingWorker(QObject):
    """Runs jobs; thread-safe ``submit``/``set_demand``/``stop``/``take_latest``."""

    sig_stopped = Signal()
    sig_published = Signal()  # a job's first snapshot, or its last
    sig_value = Signal(str, float, float, float)  # surface key, w1, w2, the loss there

    def __init__(self, chunk_seconds: float = 0.005, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: Job | None = None
        self._demand = math.inf
        self._stopping = False
        self._latest: Snapshot | None = None
        self._latest_job = -1
        self._fresh = False
        self._busy = False
        self._held_until = 0.0
        self._grid_request: tuple[str, tuple] | None = None
        self._value_request: tuple[str, float, float] | None = None
        self._surface: Surface | None = None  # the worker thread's alone
        self._schedules: tuple[np.ndarray, ...] = ()
        self._serial = 0
        self._job_key = ""  # surface_key of the current job (a network's slices carry it)
        # a network job's live picture (plane, projected paths, slice): the worker thread's
        self._live: NetworkLive | None = None
        # the newest finished job's live picture: an edit's job takes over what of it holds
        self._done_live: NetworkLive | None = None
        self._plane_choice: tuple[str, tuple[int, ...]] = ("trajectory", ())  # kind, run ids
        self._plane_request: tuple[str, tuple[int, ...]] | None = None
        self._interpolation_ids: tuple[int, ...] = ()  # the interpolation's runs, by id
        self._interpolation_request = False
        self._head = 0.0  # the GUI's playhead: a network's decision boundary follows it
        self._boundary_aspect = 1.0  # the GUI's boundary panels' width / height
        self._activity = ""  # the last published live.activity
        # why the GPU failed, by the job's source (file): its later jobs run on NumPy
        self._gpu_failures: dict[str, str] = {}
        self._gpu_error: str | None = None  # why the GPU failed in the slice (worker thread)
        self.chunk_seconds = chunk_seconds

    # ---- called from the GUI thread ----------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Start ``job`` as soon as the current chunk ends, dropping any job still waiting."""
        with self._cond:
            self._pending = job
            self._cond.notify_all()

    def set_demand(self, step: float) -> None:
        """Compute up to update ``step`` (``math.inf``: to the end) and then wait."""
        with self._cond:
            if step != self._demand:
                self._demand = step
                self._cond.notify_all()

    def request_surface(self, key: str, rect) -> None:
        """Compute the surface of the experiment with ``surface_key`` ``key`` over ``rect``
        (x0, x1, y0, y1) after the current chunk; a newer request replaces this one, and
        one for another problem than the current job's is ignored."""
        with self._cond:
            self._grid_request = (key, tuple(float(v) for v in rect))
            self._cond.notify_all()

    def request_value(self, key: str, w1: float, w2: float) -> None:
        """The exact loss at (w1, w2) on the surface ``key`` (the hover read-out), answered
        with ``sig_value`` after the current chunk; a newer request replaces this one."""
        with self._cond:
            self._value_request = (key, float(w1), float(w2))
            self._cond.notify_all()

    def request_plane(self, kind: str, run_ids: tuple[int, ...] = ()) -> None:
        """Lay the network's slice on another plane (``gui.network_view.PLANE_KINDS``)
        through the runs with these stable ids; kept for later jobs too. A newer request
        replaces this one (and the slice being computed for the old plane)."""
        with self._cond:
            self._plane_choice = (kind, tuple(run_ids))
            self._plane_request = self._plane_choice
            self._cond.notify_all()

    def request_interpolation(self, run_ids: tuple[int, ...]) -> None:
        """The network's interpolation between the runs with these two stable ids."""
        with self._cond:
            self._interpolation_ids = tuple(run_ids)
            self._interpolation_request = True
            self._cond.notify_all()

    def set_head(self, step: float) -> None:
        """The update the GUI shows: a network's decision boundary is drawn there."""
        with self._cond:
            if step != self._head:
                self._head = float(step)
                self._cond.notify_all()

    def set_boundary_aspect(self, aspect: float) -> None:
        """The shape (width / height) of the GUI's decision-boundary panels: a network's
        boundary is computed over a rectangle of that shape, which fills them."""
        with self._cond:
            if aspect != self._boundary_aspect:
                self._boundary_aspect = float(aspect)
                self._cond.notify_all()

    def _live_wants(self) -> bool:
        """The network's picture has work of its own (a slice, a boundary at the playhead).
        Called by the worker thread (its object), with the lock held."""
        live = self._live
        if live is None:
            return False
        live.set_head(self._head)
        live.set_boundary_aspect(self._boundary_aspect)
        return live.has_work or live.wants_boundary()

    def hold(self, seconds: float = 0.25) -> None:
        """Wait after the current chunk until ``release`` (at most ``seconds``): the GUI
        thread draws a frame meanwhile. Python runs one thread at a time, and a frame
        hands control between Qt and Python hundreds of times; each hand-over waits for
        the interpreter's switch interval while the worker computes, so frames drawn
        *beside* the training crawl at a few per second."""
        with self._cond:
            self._held_until = time.perf_counter() + seconds

    def release(self) -> None:
        with self._cond:
            self._held_until = 0.0
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()

    def take_latest(self) -> Snapshot | None:
        """The newest snapshot if it has not been taken yet, else None."""
        with self._cond:
            if not self._fresh:
                return None
            self._fresh = False
            return self._latest

    @property
    def latest(self) -> Snapshot | None:
        with self._cond:
            return self._latest

    @property
    def busy(self) -> bool:
        """A job is waiting or being computed below its demand."""
        with self._cond:
            return self._pending is not None or self._busy

    # ---- the thread's loop -------------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        job: Job | None = None
        built: Built | None = None
        rate = 0.0
        chunk = 64
        job_started = 0.0
        # the newest finished job: its runs are copied where a new job has them unchanged
        # (an unfinished one proves nothing about its runs' ends: the older finished one
        # stays the source until a newer one finishes)
        previous: Built | None = None
        while True:
            grid = None
            with self._cond:
                while (
                    not self._stopping
                    and self._pending is None
                    and self._grid_request is None
                    and self._value_request is None
                    and self._plane_request is None
                    and not self._interpolation_request
                    and (built is None or built.trainer.done or built.trainer.step >= self._demand)
                    and not self._live_wants()
                    and self._gpu_error is None
                ):
                    self._busy = False
                    # a boundary throttled for a few ms is looked at again soon
                    self._cond.wait(0.05 if self._live is not None else 0.25)
                if self._stopping:
                    break
                self._busy = True
                new_job = self._pending is not None
                if new_job:  # a grid request waits for the new job's surface
                    job, self._pending = self._pending, None
                    if built is not None and built.trainer.done:
                        previous = built
                    built = None
                else:
                    grid, self._grid_request = self._grid_request, None
                value, self._value_request = self._value_request, None
                plane, self._plane_request = self._plane_request, None
                interpolation = self._interpolation_request
                self._interpolation_request = False
                interpolation_ids = self._interpolation_ids
                demand = self._demand
            if self._gpu_error is not None:  # the GPU failed while the slice was drawn
                why, self._gpu_error = self._gpu_error, None
                if not new_job and built is not None:
                    built = self._restart_on_numpy(job, why)
                    job_started = time.perf_counter()
                    continue
            if value is not None and built is not None:
                self._answer_value(built, *value)
            if self._live is not None and not new_job and (plane is not None or interpolation):
                if plane is not None:
                    self._live.set_choice(_plane_choice(plane, job))
                if interpolation:
                    self._live.set_interpolation_runs(
                        _plane_choice(("", interpolation_ids), job).runs
                    )
                if self._live_step(job, built, rate, force=True):
                    continue
            if new_job:
                built = self._start(job, previous)
                if built is not None and not built.trainer.reused:
                    previous = None  # another problem: nothing to keep it for (a job
                    # abandoned for a newer one, or in error, keeps it for the next)
                    self._done_live = None  # nor its picture (a network's: its trainer)
                job_started = time.perf_counter()
                # a new job: answer its first frame quickly; a network's first chunk is one
                # step (a wide one's 16 steps took 5 s, and a close waited for them)
                network = job.experiment.problem.kind == "mlp"
                chunk = 1 if network else max(16, chunk // 4)
                if built is None:
                    continue
                # a job with every run copied (an edit that removed a run) is done as it is
                # built: its picture now, or the worker would wait idle without one
                done_at_once = self._live is not None and built.trainer.done
                if not (done_at_once and self._live_step(job, built, rate)):
                    self._maybe_publish(job, built, job_started, demand, rate)
                continue
            if grid is not None:
                if built is not None and self._regrid(built, *grid):
                    self._publish(job, built, rate=rate, announce=True)
                continue
            if built is None:
                continue
            if self._live is not None and (built.trainer.done or built.trainer.step >= demand):
                self._live_step(job, built, rate)  # nothing to train: the slice's turn
                continue
            self._wait_while_held()
            trainer = built.trainer
            started = time.perf_counter()
            try:
                done = trainer.advance(chunk)
            except Cancelled:
                # stopping, or a newer job waits: the loop takes which. The trainer is left
                # half recorded (``Trainer.cancelled``: never done), so this job is dropped;
                # no finished job's source can be it
                built = None
                continue
            except Exception as exc:  # an engine bug must not take the window down
                why = _gpu_why(built, exc)
                if why is None:
                    self._publish(job, None, error=_engine_failure(exc))
                    built = None
                else:  # a CuPy job on a GPU that failed: from its start on NumPy
                    built = self._restart_on_numpy(job, why)
                    job_started = time.perf_counter()
                continue
            elapsed = max(time.perf_counter() - started, 1e-6)
            rate = 0.7 * rate + 0.3 * (done / elapsed) if rate else done / elapsed
            # the next chunk lasts about chunk_seconds
            chunk = int(min(max(rate * self.chunk_seconds, 1), 1_000_000))
            if self._live is not None and self._live_step(job, built, rate):
                continue
            self._maybe_publish(job, built, job_started, demand, rate)
        with self._cond:
            self._busy = False
        self.sig_stopped.emit()

    def _live_step(self, job, built, rate: float, force: bool = False) -> bool:
        """A network's picture after a chunk: the plane (when due), the new rows projected,
        a band or two of the slice. Publishes and returns True when something changed."""
        live = self._live
        try:
            serial = live.plane_serial
            changed = live.update()
            if live.plane_serial != serial:
                # a new plane: its paths come with its coarse slice (~ 50 ms), never
                # drawn over the old plane's shading
                live.work(math.inf)
                self._surface = self._network_surface(job, built, live)
            # while training, the slice takes about as long as a chunk: half the time
            elif live.work(SLICE_BUDGET_S if built.trainer.done else self.chunk_seconds):
                self._surface = self._network_surface(job, built, live)
                changed = True
        except Cancelled:  # stopping, or a newer job waits: the loop sees which
            # a picture cancelled half-way (a new plane without its slice) is not taken over;
            # a finished job's whose slice of its plane is drawn is (only its refinement
            # stopped): the next edit, during a slider's drag the usual case, builds on it
            if built.trainer.done and live.slice_of_plane():
                live.drop_slice_task()
                self._done_live = live
            self._live = None
            return True
        except Exception as exc:  # a failed slice must not stop the training
            self._live = None
            why = _gpu_why(built, exc)
            if why is not None:
                # the loop builds the job again on NumPy; remembered now, for a newer job
                # already waiting makes that restart moot but is the file's next job
                self._gpu_failures[job.source] = why
                self._gpu_error = why
            else:
                self._publish(job, None, error=_engine_failure(exc))
            return True
        if changed or force or live.activity != self._activity:
            self._publish(job, built, rate=rate, announce=live.trainer.done or force or changed)
            return True
        return False

    def _network_surface(self, job, built, live: NetworkLive) -> Surface:
        z, rect, _fine = live.grid
        self._serial += 1
        return Surface(
            key=f"{self._job_key}#plane{live.plane_serial}",
            serial=self._serial,
            rect=tuple(rect),
            z=upsample(z, UPSAMPLE),
            default_rect=live.default_rect,
            minima=np.zeros((0, 2)),
            minima_loss=(),
            start=live.start_point(),
            formula=live.plane_text,
            axis_names=("a", "b"),
        )

    def _wait_while_held(self) -> None:
        with self._cond:
            while not self._stopping and self._pending is None:
                left = self._held_until - time.perf_counter()
                if left <= 0:
                    return
                self._cond.wait(left)

    def _maybe_publish(self, job, built, job_started: float, demand: float, rate: float):
        """Publish once the job has what the display asks for; a job that takes longer
        shows its progress. A half-computed path shown for one frame at every move of a
        slider would make the paths flicker."""
        trainer = built.trainer
        wanted = min(demand, trainer.steps)
        if trainer.step >= wanted or time.perf_counter() - job_started > FIRST_FRAME_WAIT:
            self._publish(job, built, rate=rate)

    def _start(
        self, job: Job, previous: Built | None = None, backend: Backend | None = None
    ) -> Built | None:
        """The job built and ready to train (None when it can't be, with the error
        published). On a GPU error from a CuPy build the job is built again on NumPy."""
        if self._live is not None and self._live.trainer.done:
            self._done_live = self._live
        self._live = None
        try:
            if backend is None:
                backend = self._backend_for(job)
            failed = job.source in self._gpu_failures
            if failed and previous is not None and previous.backend.name == "cupy":
                # its reused runs' final states would be read from a GPU that failed (a
                # dead device fails every call): this job trains them again
                previous = None
            try:
                return self._prepare(job, previous, backend)
            except Exception as exc:
                # ``backend`` None: build weighed the work and may have taken the GPU
                why = gpu_failure(exc) if backend is None or backend.name == "cupy" else None
                if why is None:
                    raise
                self._live = None
                return self._prepare(job, None, self._gpu_failed(job, why))
        except Cancelled:  # stopping, or a newer job waits (row 0's evaluation was stopped)
            return None
        except ExperimentError as exc:
            self._publish(job, None, error=str(exc))
            return None
        except Exception as exc:
            self._publish(job, None, error=_engine_failure(exc))
            return None

    def _backend_for(self, job: Job) -> Backend | None:
        """The backend the job asks for, where the app decides it: NumPy after the GPU
        failed for this file (its reason said again), and NumPy with the reason when the
        file insists on CuPy and there is none (the app has no backend setting: a file
        written on a GPU machine still opens). None: ``build`` weighs the work (``auto``
        with a GPU that answers)."""
        experiment = job.experiment
        if experiment.backend == "numpy":
            return None
        failed = self._gpu_failures.get(job.source)
        if failed is not None:
            return numpy_fallback(experiment.dtype, f"{failed} earlier for this file")
        try:
            backend = select_backend(experiment.backend, experiment.dtype)
        except RuntimeError as exc:  # 'cupy' asked for, and none can be used
            return numpy_fallback(experiment.dtype, str(exc))
        return None if backend.name == "cupy" and experiment.backend == "auto" else backend

    def _gpu_failed(self, job: Job, why: str) -> Backend:
        """Remember that the GPU failed for this file (its next jobs go to NumPy at once),
        and the NumPy backend that carries on, saying why."""
        self._gpu_failures[job.source] = why
        return numpy_fallback(job.experiment.dtype, f"{why}; running on NumPy instead")

    def _restart_on_numpy(self, job: Job, why: str) -> Built | None:
        """The job built again on NumPy after the GPU failed while it trained or drew
        (``why``): it carries on from its start, the status bar saying why (None, with the
        error published, when that failed too)."""
        restarted = self._start(job, None, self._gpu_failed(job, why))
        if restarted is not None:
            self._publish(job, restarted, announce=True)
        return restarted

    def _prepare(self, job: Job, previous: Built | None, backend: Backend | None) -> Built | None:
        network = job.experiment.problem.kind == "mlp"
        # a network evaluates its full splits at the app's cadence, which the built problem
        # gives (its data set's size); unchanged runs are copied from ``previous``; its plane
        # is the picture's (NetworkLive), not the trainer's own (see _publish)
        cadence = partial(_app_eval_every, job.experiment) if network else 1
        built = build(
            job.experiment,
            job.base_dir,
            backend=backend,
            source=job.source,
            reuse=previous,
            eval_every=cadence,
            should_stop=self._abandoned,
            own_plane=not network,
        )
        if self._abandoned():  # each phase may take a while for a long experiment
            return None
        self._schedules = _schedules(job.experiment)
        if self._abandoned():
            return None
        key = self._job_key = surface_key(job.experiment, job.base_dir)
        if network:
            # the slice is laid on a plane of the recorded states: it comes with them
            with self._cond:
                choice = self._plane_choice
                ids = self._interpolation_ids
                aspect = self._boundary_aspect
            # the finished job this one copies its unchanged runs from: its picture too
            earlier = self._done_live
            if earlier is None or previous is None or earlier.trainer is not previous.trainer:
                earlier = self._done_live = None
            self._live = NetworkLive(
                built, _plane_choice(choice, job), previous=earlier, should_stop=self._abandoned
            )
            self._live.set_interpolation_runs(_plane_choice(("", ids), job).runs)
            self._live.set_boundary_aspect(aspect)
            self._surface = None
        elif self._surface is None or self._surface.key != key:
            # a slider that changes a run keeps the surface (zoomed or not)
            spec = job.experiment.problem.view
            view = view_tuple(spec if spec is not None else built.problem.default_view())
            self._surface = self._grid(key, built, view, view)
        return built

    def _abandoned(self) -> bool:
        """Stopping, or a newer job waits: what is being prepared is of no use."""
        with self._cond:
            return self._stopping or self._pending is not None

    def _grid(self, key: str, built: Built, rect, default_rect) -> Surface:
        """The surface over ``rect``, with the problem's minima, start and formula."""
        problem = built.problem
        w1, w2 = pixel_centres(rect, snapshots.RESOLUTION)
        with np.errstate(all="ignore"):
            z = np.asarray(problem.surface(w1, w2), float)
        minima = np.asarray(problem.minima(), float).reshape(-1, 2)
        minima = minima[np.isfinite(minima).all(axis=1)]
        with np.errstate(all="ignore"):
            at_minima = [float(np.asarray(problem.surface([a], [b])).ravel()[0]) for a, b in minima]
        self._serial += 1
        return Surface(
            key=key,
            serial=self._serial,
            rect=tuple(rect),
            z=z,
            default_rect=tuple(default_rect),
            minima=minima,
            minima_loss=tuple(v for v in at_minima if math.isfinite(v)),
            start=(float(problem.start[0]), float(problem.start[1])),
            formula=problem_subtitle(problem) or "",
            axis_names=tuple(getattr(problem, "axis_names", ("w1", "w2"))),
        )

    def _answer_value(self, built: Built, key: str, w1: float, w2: float) -> None:
        if self._surface is None or self._surface.key != key:
            return  # asked about another problem's surface
        try:
            with np.errstate(all="ignore"):
                if self._live is not None:
                    loss = self._live.value_at(w1, w2)
                else:
                    loss = float(np.asarray(built.problem.surface([w1], [w2])).ravel()[0])
        except Exception:
            return
        self.sig_value.emit(key, w1, w2, loss)

    def _regrid(self, built: Built, key: str, rect) -> bool:
        """A grid over ``rect`` for the current surface; False when the request is stale."""
        old = self._surface
        if old is None or old.key != key or old.rect == rect:
            return False
        if self._live is not None:  # a network's slice: computed band by band (run)
            self._live.request_rect(rect)
            return False
        try:
            new = self._grid(key, built, rect, old.default_rect)
        except Exception:  # a zoom into a region the problem can't evaluate: keep the old
            return False
        self._surface = dataclasses.replace(new, start=old.start)
        return True

    def _publish(self, job, built, error=None, rate=0.0, announce=False) -> None:
        if built is None:
            snapshot = Snapshot(job.id, job.experiment, error=error, done=True, run_ids=job.run_ids)
        else:
            h = built.trainer.history
            count, network, activity = h.count, None, ""
            live = self._live
            if live is not None:
                activity = self._activity = live.activity
            if live is not None and live.history_view is not None:
                # rows whose coordinates on the plane are known (a few ms behind)
                h, count, network = live.history_view, live.filled_rows, live.picture
            elif built.trainer.done and (live is None or live.plane_error):
                # a finished network without a picture (no plane could be laid, or its
                # picture failed): its rows on the trainer's own plane, as the headless
                # runner draws them (what an exported CSV or figure then shows)
                built.trainer.finish_plane()
            snapshot = Snapshot(
                job_id=job.id,
                experiment=job.experiment,
                built=built,
                history=h,
                count=count,
                computed_step=built.trainer.step,
                diverged_at=h.diverged_at.copy(),
                done=built.trainer.done,
                steps_per_second=rate,
                backend=built.backend.describe(),
                run_ids=job.run_ids,
                surface=self._surface,
                schedules=self._schedules,
                network=network,
                activity=activity,
            )
        with self._cond:
            # a job replaced meanwhile: its results are of no interest any more
            if self._pending is not None and not self._stopping and error is None:
                return
            first = job.id != self._latest_job
            self._latest, self._latest_job = snapshot, job.id
            self._fresh = True
        if first or snapshot.done or announce:
            self.sig_published.emit()


def _app_eval_every(experiment, problem, specs) -> int:
    """A network trained in the app evaluates its full splits every k-th row only
    (``eval_every_for``): a step stays cheap; the curves skip the rows in between."""
    batches = [
        spec.batch.batch_size * spec.batch.accumulation_steps for spec in specs if spec.batch
    ]
    batch = min(batches) if len(batches) == len(specs) else problem.n_examples
    examples = problem.n_examples + len(problem.split.y_val)
    rows = len(record_steps(experiment.steps, experiment.record_every))
    return eval_every_for(examples, batch, experiment.record_every, rows)


def _plane_choice(choice: tuple[str, tuple[int, ...]], job: Job) -> PlaneChoice:
    """The plane asked for (runs by stable id) as the job's snapshot columns (kind '': just
    the columns, for the interpolation)."""
    kind, ids = choice
    columns = {run_id: col for col, run_id in enumerate(job.run_ids)}
    if not job.run_ids:
        columns = {i: i for i in range(len(job.experiment.runs))}
    return PlaneChoice(kind or "trajectory", tuple(columns[i] for i in ids if i in columns))


def _schedules(experiment) -> tuple[np.ndarray, ...]:
    """Every run's whole learning-rate schedule (schedules are closed-form), known before
    training; row k holds the rate of the update into row k (row 0: the first update's)."""
    if experiment.steps > MAX_SCHEDULE_STEPS:
        return ()
    out = []
    for spec in run_specs(experiment):
        rates = np.asarray(spec.rates(experiment.steps), float)
        out.append(np.concatenate([rates[:1], rates]))
    return tuple(out)


def _gpu_why(built: Built, exc: Exception) -> str | None:
    """Why the GPU failed, when ``exc`` is a GPU error of a job on CuPy; None otherwise (an
    error on NumPy, or any other error, is the engine's failure, reported as such)."""
    return gpu_failure(exc) if built.backend.name == "cupy" else None


def _engine_failure(exc: Exception) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
    return f"the engine failed: {type(exc).__name__}: {exc}{at}"


class WorkerThread:
    """A ``TrainingWorker`` moved into its own ``QThread``, started and stopped together."""

    def __init__(self, chunk_seconds: float = 0.005):
        self.thread = QThread()
        self.thread.setObjectName("descent-lab-engine")
        self.worker = TrainingWorker(chunk_seconds)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.sig_stopped.connect(self.thread.quit)
        self.thread.start()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the worker and wait for its thread; True when it has ended. A thread still
        in an engine call after ``timeout_ms`` is kept (``wait_for_stopped_workers``): a
        QThread destroyed while it runs aborts the process."""
        if not self.thread.isRunning():
            return True
        self.worker.stop()
        self.thread.quit()
        if self.thread.wait(timeout_ms):
            return True
        _STILL_RUNNING.append(self)
        return False


# stopped workers whose thread had not ended when their window closed (see shutdown)
_STILL_RUNNING: list[WorkerThread] = []


def wait_for_stopped_workers() -> None:
    """Wait until every stopped worker's thread has ended (the app calls this before it
    exits: each was told to stop and ends after the engine call it is in)."""
    while _STILL_RUNNING:
        _STILL_RUNNING.pop().thread.wait()
