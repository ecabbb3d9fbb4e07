"""Closing the window while a wide network is being evaluated: the worker thread ends within
a bound, not after the engine call it is in (the coarse 16 × 16 slice of a 256-256 digits
MLP took 30 s on a loaded machine, and the window's 5 s wait gave up on it, leaving a
running QThread to abort the process at exit). The engine's parts that take seconds are
caught in the act (a spy on the call), then the window is closed."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QCoreApplication

import gui.network_view as nv
import gui.worker as worker_module
from engine.experiment import parse_experiment
from gui.worker import Job, WorkerThread
from tests.gui.waiting import PATIENCE_S

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
