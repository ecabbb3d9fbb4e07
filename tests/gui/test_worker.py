"""The worker thread: latest job wins, demand and stop answered within 100 ms, clean exit."""

from __future__ import annotations

import math
import time

from engine.experiment import parse_experiment
from gui.worker import Job, WorkerThread


def experiment(steps=300, lr=0.001, record_every=1):
    return parse_experiment(
        {
            "steps": steps,
            "record_every": record_every,
            "problem": {"name": "rosenbrock"},
            "runs": [{"optimizer": "momentum", "lr": lr}, {"optimizer": "adam", "lr": 0.05}],
        }
    )


def wait_for(worker, predicate, timeout=10.0):
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


def test_demand_pauses_and_stop_answers_within_100_ms(qtbot):
    engine = WorkerThread(chunk_seconds=0.02)
    worker = engine.worker
    try:
        worker.set_demand(50)
        worker.submit(Job(1, experiment(steps=5_000_000, record_every=1000)))
        s = wait_for(worker, lambda s: s.computed_step >= 50)
        time.sleep(0.2)
        paused = worker.latest
        assert paused.computed_step < 100_000  # it waited at the demand
        assert not worker.busy
        worker.set_demand(math.inf)
        wait_for(worker, lambda s: s.computed_step > paused.computed_step)
        assert worker.busy
        started = time.perf_counter()
        worker.set_demand(0)
        time.sleep(0.12)
        s = worker.latest
        time.sleep(0.1)
        assert worker.latest.computed_step == s.computed_step  # it stopped computing
        assert time.perf_counter() - started < 1.0
        worker.set_demand(math.inf)
        time.sleep(0.05)
        started = time.perf_counter()
        assert engine.shutdown(timeout_ms=2000)
        assert time.perf_counter() - started < 0.1 + 0.05
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
