"""The worker thread: latest job wins, demand and stop answered within one chunk, clean exit."""

from __future__ import annotations

import math
import time

from engine.experiment import parse_experiment
from gui.worker import Job, WorkerThread
from tests.gui.waiting import PATIENCE_MS, PATIENCE_S


def experiment(steps=300, lr=0.001, record_every=1):
    return parse_experiment(
        {
            "steps": steps,
            "record_every": record_every,
            "problem": {"name": "rosenbrock"},
            "runs": [{"optimizer": "momentum", "lr": lr}, {"optimizer": "adam", "lr": 0.05}],
        }
    )


def wait_for(worker, predicate, timeout=PATIENCE_S):
    deadline = time.perf_counter() + timeout
    latest = None
    while time.perf_counter() < deadline:
        snapshot = worker.take_latest()
        if snapshot is not None:
            latest = snapshot
            if predicate(latest):
                return latest
        time.sleep(0.002)
    raise AssertionError(f"timed out; last snapshot {latest}")


def test_the_latest_job_wins_and_finishes(qtbot):
    engine = WorkerThread()
    try:
        for job_id in range(1, 21):  # a slider dragged across twenty values
            engine.worker.submit(Job(job_id, experiment(lr=0.0001 * job_id)))
        last = wait_for(engine.worker, lambda s: s.job_id == 20 and s.done)
        assert last.history.count == 301
        assert last.error is None
    finally:
        assert engine.shutdown()


def wait_until(condition, timeout=PATIENCE_S):
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.002)


def one_chunk(worker, snapshot) -> int:
    """The steps of the chunk the worker computes after publishing ``snapshot``: sized to
    last ``chunk_seconds`` at the rate it reports (``TrainingWorker.run``)."""
    return int(min(max(snapshot.steps_per_second * worker.chunk_seconds, 1), 1_000_000))


def test_demand_pauses_and_stop_answers_within_one_chunk(qtbot):
    """A new demand, and a stop, are answered at the end of the chunk being computed (20 ms
    here, on an idle machine). Counted in steps, not seconds: a loaded machine stretches
    any wall-clock bound (a chunk ran for over 120 ms at a load of 20)."""
    engine = WorkerThread(chunk_seconds=0.02)
    worker = engine.worker
    try:
        worker.set_demand(50)
        worker.submit(Job(1, experiment(steps=5_000_000, record_every=1000)))
        wait_for(worker, lambda s: s.computed_step >= 50)
        wait_until(lambda: not worker.busy)  # it waits at the demand
        paused = worker.latest
        assert paused.computed_step < 100_000
        worker.set_demand(math.inf)
        wait_for(worker, lambda s: s.computed_step > paused.computed_step)
        assert worker.busy
        # the worker's lock: no chunk ends between reading its last snapshot and the demand
        with worker._cond:
            before = worker.latest
            worker.set_demand(0)
        wait_until(lambda: not worker.busy)
        stopped = worker.latest
        assert stopped.computed_step - before.computed_step <= one_chunk(worker, before)
        time.sleep(0.1)
        assert worker.latest.computed_step == stopped.computed_step  # it stopped computing
        worker.set_demand(math.inf)
        wait_for(worker, lambda s: s.computed_step > stopped.computed_step)
        with worker._cond:
            before = worker.latest
            worker.stop()
        assert engine.shutdown(timeout_ms=PATIENCE_MS)
        assert worker.latest.computed_step - before.computed_step <= one_chunk(worker, before)
    finally:
        engine.shutdown()
    assert not engine.thread.isRunning()


def test_a_bad_experiment_is_reported_not_raised(qtbot):
    engine = WorkerThread()
    try:
        bad = parse_experiment(
            {"problem": {"kind": "linear_regression", "samples": 10}, "runs": [{"batch_size": 50}]}
        )
        engine.worker.submit(Job(1, bad))
        s = wait_for(engine.worker, lambda s: s.job_id == 1)
        assert s.error
        assert "batch_size" in s.error
        assert s.history is None
        engine.worker.submit(Job(2, experiment()))
        wait_for(engine.worker, lambda s: s.job_id == 2 and s.done)
    finally:
        engine.shutdown()


def test_the_worker_publishes_the_surface_and_the_schedules(qtbot):
    import numpy as np

    from engine.experiment import build, run_specs
    from gui import snapshot as snapshots
    from gui.geometry import pixel_centres, view_tuple

    e = parse_experiment(
        {
            "steps": 120,
            "problem": {"name": "himmelblau"},
            "runs": [
                {"optimizer": "adam", "lr": 0.05, "schedule": {"kind": "cosine"}},
                {"optimizer": "sgd", "lr": 0.001, "schedule": {"kind": "step", "step_size": 30}},
            ],
        }
    )
    problem = build(e).problem  # the oracle: the engine's own function, here
    engine = WorkerThread()
    try:
        engine.worker.submit(Job(1, e, run_ids=(7, 9)))
        s = wait_for(engine.worker, lambda s: s.job_id == 1 and s.done)
        assert s.run_ids == (7, 9)
        surface = s.surface
        rect = view_tuple(problem.default_view())
        assert surface.rect == rect
        assert surface.default_rect == rect
        w1, w2 = pixel_centres(rect, snapshots.RESOLUTION)
        np.testing.assert_array_equal(surface.z, problem.surface(w1, w2))
        np.testing.assert_array_equal(surface.minima, problem.minima())
        at_minima = [float(problem.surface([a], [b])[0, 0]) for a, b in problem.minima()]
        assert surface.minima_loss == tuple(at_minima)
        assert max(at_minima) < 1e-10  # Himmelblau's four zeros
        assert surface.start == tuple(problem.start)
        assert "x" in surface.formula or "w" in surface.formula
        for rates, spec in zip(s.schedules, run_specs(e), strict=True):
            expected = np.asarray(spec.rates(e.steps), float)
            np.testing.assert_array_equal(rates[1:], expected)
            assert rates[0] == expected[0]  # row 0 holds the first update's rate
        # a zoomed view: computed over the new rectangle; a request for another key ignored
        zoom = (0.0, 1.0, 1.0, 3.0)
        engine.worker.request_surface(surface.key, zoom)
        s2 = wait_for(engine.worker, lambda s: s.surface.serial > surface.serial)
        assert s2.surface.rect == zoom
        assert s2.surface.default_rect == rect
        np.testing.assert_array_equal(
            s2.surface.z, problem.surface(*pixel_centres(zoom, snapshots.RESOLUTION))
        )
        engine.worker.request_surface("another problem", (5.0, 6.0, 5.0, 6.0))
        time.sleep(0.2)
        assert engine.worker.latest.surface.rect == zoom  # the stale request did nothing
        # the exact value at a point (the hover read-out)
        values = []
        engine.worker.sig_value.connect(lambda *args: values.append(args))
        engine.worker.request_value(surface.key, 3.0, 2.0)
        qtbot.waitUntil(lambda: bool(values), timeout=PATIENCE_MS)
        key, x, y, loss = values[-1]
        assert (key, x, y) == (surface.key, 3.0, 2.0)
        assert loss == 0.0  # (3, 2) is a minimum of Himmelblau's, exactly
    finally:
        engine.shutdown()
