"""Closing the window while a wide network is being evaluated: the worker thread ends within
a bound, not after the engine call it is in (the coarse 16 × 16 slice of a 256-256 digits
MLP took 30 s on a loaded machine, and the window's 5 s wait gave up on it, leaving a
running QThread to abort the process at exit). The engine's parts that take seconds are
caught in the act (a spy on the call), then the window is closed."""

from __future__ import annotations

import math
import threading
import time
import tomllib

import pytest
from PySide6.QtCore import QCoreApplication

import gui.network_view as nv
import gui.worker as worker_module
from engine.experiment import parse_experiment
from engine.plane import Cancelled
from engine.problems.network import MLPProblem
from gui.worker import Job, WorkerThread
from tests.gui.waiting import PATIENCE_MS, PATIENCE_S

# the window's wait is 5 s; a stop is answered within a block of the grid (8 points) or a
# piece of the interpolation (8 points): well under a second even under the suite's load
CLOSE_BOUND_S = 2.5

WIDE = """
title = "a wide digits MLP"
seed = 0
steps = 2000
dtype = "float32"
record_every = 5

[problem]
kind = "mlp"
dataset = "digits"
hidden = [256, 256]
normalize_features = true
validation_fraction = 0.2
batch_norm = true

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.05
batch_size = 32

[[runs]]
label = "momentum"
optimizer = "momentum"
lr = 0.05
momentum = 0.9
batch_size = 32
"""


@pytest.mark.parametrize("call", ["mlp_grid_loss", "interpolation_losses"])
def test_closing_while_the_network_is_evaluated_ends_the_worker_promptly(
    qtbot, settings, tmp_path, monkeypatch, call
):
    from gui.main_window import MainWindow

    entered = threading.Event()
    real = getattr(nv, call)

    def spy(*args, **kwargs):
        entered.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(nv, call, spy)
    path = tmp_path / "wide.toml"
    path.write_text(WIDE)
    window = MainWindow(settings, interactive=False)
    qtbot.addWidget(window)
    window.show()
    assert window.open_path(path, ask=False)
    deadline = time.perf_counter() + 2 * PATIENCE_S
    while not entered.is_set():
        assert time.perf_counter() < deadline, f"{call} was never called"
        QCoreApplication.processEvents()
        time.sleep(0.005)
    began = time.perf_counter()
    window.close()
    took = time.perf_counter() - began
    thread = window.controller.thread
    running = thread.isRunning()
    thread.wait()  # (the rest of the suite needs the cores)
    assert not running, f"the worker was still in {call} after the window's wait"
    assert took < CLOSE_BOUND_S, f"closing took {took:.2f} s"


def test_a_worker_that_outlasts_the_wait_is_kept_until_it_ends(qtbot, monkeypatch):
    """A thread still running after ``shutdown``'s wait is neither dropped nor destroyed:
    ``wait_for_stopped_workers`` (the app calls it before exiting) waits for it."""
    building = threading.Event()

    def slow_build(*args, **kwargs):
        building.set()
        time.sleep(0.5)
        raise RuntimeError("never built")

    monkeypatch.setattr(worker_module, "build", slow_build)
    engine = WorkerThread()
    engine.worker.submit(Job(1, parse_experiment({"problem": {"name": "rosenbrock"}})))
    assert building.wait(PATIENCE_S)
    assert not engine.shutdown(timeout_ms=10)  # still in the build
    assert engine in worker_module._STILL_RUNNING
    worker_module.wait_for_stopped_workers()
    assert not engine.thread.isRunning()
    assert worker_module._STILL_RUNNING == []


MOONS = """
title = "moons"
seed = 0
steps = 400
dtype = "float32"

[problem]
kind = "mlp"
dataset = "moons"
samples = 200
hidden = [16, 16]
validation_fraction = 0.25

[[runs]]
label = "slow"
optimizer = "sgd"
lr = 0.05
batch_size = 16

[[runs]]
label = "fast"
optimizer = "sgd"
lr = 0.2
batch_size = 16
"""


def stop_inside(monkeypatch, owner, name, call: int, ask):
    """``owner.name`` (a function taking ``should_stop``) calls ``ask()`` at its ``call``-th
    call, as the GUI would (close the window, submit an edit), then goes on with a
    ``should_stop`` that counts its polls; returns the list that gets, of that call, how
    many polls it made and whether it raised ``Cancelled``."""
    real = getattr(owner, name)
    calls, outcome = [], []

    def spy(*args, should_stop=None, **kwargs):
        calls.append(1)
        if len(calls) != call:
            return real(*args, should_stop=should_stop, **kwargs)
        ask()
        polls = []

        def counted():
            polls.append(1)
            return should_stop is not None and should_stop()

        try:
            result = real(*args, should_stop=counted, **kwargs)
        except Cancelled:
            outcome.append((len(polls), True))
            raise
        outcome.append((len(polls), False))
        return result

    monkeypatch.setattr(owner, name, spy)
    return outcome


# the 2-16-16-2 network's evaluation polls 3 layers forward and backward on the training
# split and 3 forward on the validation split: a stop answered later than at the next layer
# would show as more than one poll
@pytest.mark.parametrize("what", ["evaluation", "boundary"])
@pytest.mark.parametrize("ask", ["close", "edit"])
def test_a_stop_inside_an_evaluation_or_a_boundary_is_answered_at_the_next_layer(
    qtbot, monkeypatch, what, ask
):
    """A recorded row's full-split evaluation (inside ``Trainer.advance``) and the decision
    boundary's grid stop at their next layer when the window closes or an edit waits; the
    job is dropped (its trainer is ``cancelled``: never done, never reused) and the edit's
    job runs to the end without an error."""
    failures = []
    real_failure = worker_module._engine_failure
    monkeypatch.setattr(
        worker_module, "_engine_failure", lambda exc: failures.append(exc) or real_failure(exc)
    )
    engine = WorkerThread()
    experiment = parse_experiment(tomllib.loads(MOONS))
    edit = Job(2, experiment)
    asks = {"close": engine.worker.stop, "edit": lambda: engine.worker.submit(edit)}
    if what == "evaluation":  # the first is row 0's, as the trainer is built
        outcome = stop_inside(monkeypatch, MLPProblem, "evaluate_rows", 2, asks[ask])
    else:
        outcome = stop_inside(monkeypatch, nv, "decision_grid", 1, asks[ask])
    try:
        engine.worker.submit(Job(1, experiment))
        deadline = time.perf_counter() + PATIENCE_S
        while not outcome:
            assert time.perf_counter() < deadline, f"no {what} was computed"
            time.sleep(0.005)
        assert outcome == [(1, True)]  # stopped at its first poll after the ask
        if ask == "close":
            assert engine.shutdown(timeout_ms=PATIENCE_MS)  # (quits the thread's event loop)
            assert failures == []  # a stop, not an engine failure
            return
        while not (engine.worker.latest is not None and engine.worker.latest.job_id == 2):
            assert time.perf_counter() < deadline, "the edit's job never showed"
            time.sleep(0.005)
        engine.worker.set_demand(math.inf)
        while not engine.worker.latest.done:
            assert time.perf_counter() < deadline, "the edit's job never finished"
            time.sleep(0.01)
        latest = engine.worker.latest
        assert latest.error is None
        assert failures == []
        assert latest.built.trainer.reused == {}  # nothing copied from the dropped job
    finally:
        engine.shutdown(timeout_ms=PATIENCE_MS)
