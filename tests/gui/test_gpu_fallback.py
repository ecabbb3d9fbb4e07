"""The app's engine on a GPU that fails: a CuPy job that hits a GPU error (out of memory, a
kernel that fails to compile) while it is built, trained or its slice drawn is built again on
NumPy and carries on from its start, and the status bar says why; a file that insists on
CuPy where there is none trains on NumPy with the reason, and ``auto`` names its reason.

There is no GPU here: a fake one is the strict CuPy stand-in (``_probe_cupy`` answers with
``tests/fake_cupy.py``, whose arrays refuse to be taken for NumPy's), and its errors are
exceptions whose class lives in a ``cupy`` module, as CuPy's do.
The oracle is the same file run with ``backend = "numpy"``: the numbers must be the same."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMainWindow

from engine import backend as backends
from engine.backend import Backend
from engine.problems.functions import FunctionProblem
from engine.problems.network import MLPProblem
from gui import network_view
from gui.main_window import MainWindow
from gui.network_view import NetworkLive
from gui.session import Session, engine_message
from tests import fake_cupy
from tests.gui.waiting import PATIENCE_MS, settle


class FakeOutOfMemory(Exception):
    """Stands for cupy.cuda.memory.OutOfMemoryError (judged by its module, as CuPy's are)."""


FakeOutOfMemory.__module__ = "cupy.cuda.memory"


class FakeCompileError(RuntimeError):
    """Stands for cupy.cuda.compiler.CompileException."""


FakeCompileError.__module__ = "cupy.cuda.compiler"

OOM = "Out of memory allocating 4,294,967,296 bytes (allocated so far: 0 bytes)."

ROSENBROCK = """
title = "rosenbrock"
seed = 3
steps = 400
backend = "{backend}"

[problem]
name = "rosenbrock"

[[runs]]
optimizer = "momentum"
lr = 0.001

[[runs]]
optimizer = "adam"
lr = 0.05
"""

NETWORK = """
title = "a small network"
seed = 1
steps = 24
backend = "{backend}"
dtype = "float32"
record_every = 2

[problem]
kind = "mlp"
dataset = "moons"
samples = 120
hidden = [8]
validation_fraction = 0.25
batch_norm = true

[[runs]]
optimizer = "sgd"
lr = 0.1
batch_size = 16

[[runs]]
optimizer = "adam"
lr = 0.01
batch_size = 16
"""


@pytest.fixture
def fake_gpu(monkeypatch):
    """A 'GPU' that answers: the strict CuPy stand-in (``tests/fake_cupy.py``)."""
    monkeypatch.setattr(backends, "_probe_cupy", lambda: (fake_cupy, "Fake GPU", None))


def fail_on_gpu(monkeypatch, cls, method, error, after=0):
    """``cls.method`` raises ``error`` on a 'cupy' backend from its ``after``-th call on;
    returns the list of the backends' names it was called with."""
    original = getattr(cls, method)
    calls = []

    def failing(self, *args, **kwargs):
        name = (self.built.backend if isinstance(self, NetworkLive) else self.backend).name
        calls.append(name)
        if name == "cupy" and len(calls) > after:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, failing)
    return calls


def open_file(tmp_path, text, name="experiment.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    session = Session(start_timers=False)
    messages = []
    session.sig_message.connect(messages.append)
    session.open(path)
    return session, messages


def recorded(history):
    """Every array of a history that the views draw, by name (networks' extras too)."""
    out = {"step": history.step, "loss": history.loss, "grad_norm": history.grad_norm}
    out.update(lr=history.lr, epoch=history.epoch, diverged_at=history.diverged_at)
    out.update({f"extra.{k}": v for k, v in history.extra.items()})
    for records in (history.layers, history.bn):
        if records is not None:
            out.update({f"records.{i}": a for i, a in enumerate(records.arrays())})
    return out


def numpy_oracle(tmp_path, text):
    """The same experiment in the app on NumPy, as it would run without a GPU at all."""
    session, _ = open_file(tmp_path, text.format(backend="numpy"), "oracle.toml")
    try:
        s = settle(session)
        assert s.error is None
        assert s.done
        return recorded(s.built.trainer.history), s.built.trainer.final_state()
    finally:
        assert session.shutdown()


def assert_same_numbers(snapshot, oracle, exact=True):
    """The same numbers as the NumPy run: bitwise for a function's elementwise arithmetic;
    to float32 rounding for a network, whose evaluation BLAS blocks by the rows flushed
    together, and the worker's chunks are timed (a NumPy run twice differs by an ulp too)."""
    history, final = oracle

    def same(a, b, name):
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7, err_msg=name)

    mine = recorded(snapshot.built.trainer.history)
    assert mine.keys() == history.keys()
    for name in mine:
        same(mine[name], history[name], name)
    for a, b in zip(snapshot.built.trainer.final_state(), final, strict=True):
        if a is not None:
            same(a, b, "final state")


def assert_says_the_gpu_failed(session, messages, words):
    s = session.snapshot
    assert s.error is None
    assert s.done
    assert s.built.backend.name == "numpy"
    assert s.backend.startswith("NumPy (CPU)")
    assert "CuPy not used: the GPU failed" in s.backend
    assert words in s.backend
    assert "running on NumPy instead" in s.backend
    assert session.stats()["backend"] == s.backend
    said = [m for m in messages if "the GPU failed" in m]
    assert said, messages
    # the gist: the failure and the exception's class (its text is the label's tooltip's)
    assert re.fullmatch(r"Engine: NumPy, not CuPy — the GPU failed \(Fake\w+\)", said[-1])
    assert "\n" not in said[-1]
    assert "Traceback" not in said[-1]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (FakeOutOfMemory(OOM), "OutOfMemory"),
        (FakeCompileError("nvrtc: error: identifier\n'x' is undefined\n\n1 error"), "x' is"),
    ],
)
def test_a_gpu_error_while_training_carries_on_on_numpy_from_the_start(
    qtbot, tmp_path, monkeypatch, fake_gpu, error, words
):
    oracle = numpy_oracle(tmp_path, ROSENBROCK)
    # the GPU fails after 50 gradients: mid-training, not at the first step
    calls = fail_on_gpu(monkeypatch, FunctionProblem, "batch_grad", error, after=50)
    session, messages = open_file(tmp_path, ROSENBROCK.format(backend="cupy"))
    try:
        settle(session)
        assert calls.count("cupy") == 51  # it did start on the 'GPU'
        assert "numpy" in calls
        assert_says_the_gpu_failed(session, messages, words)
        assert_same_numbers(session.snapshot, oracle)
    finally:
        assert session.shutdown()


@pytest.mark.parametrize(
    ("where", "method", "after"),
    [
        ("building the network", "__init__", 0),
        ("a training step", "batch_grad_buffers", 5),
        ("an evaluation", "evaluate_rows", 2),  # 2 at the build (row 0s)
        ("the slice", "update", 0),
    ],
)
def test_a_network_whose_gpu_runs_out_of_memory_finishes_on_numpy(
    qtbot, tmp_path, monkeypatch, fake_gpu, where, method, after
):
    monkeypatch.setattr(network_view, "FINE_POINTS", 16)  # quick slices
    oracle = numpy_oracle(tmp_path, NETWORK)
    cls = NetworkLive if method == "update" else MLPProblem
    if method == "__init__":  # the build: uploading the data runs out of GPU memory
        original = MLPProblem.__init__
        calls = []

        def failing(self, backend, *args):
            calls.append(backend.name)
            if backend.name == "cupy":
                raise FakeOutOfMemory(OOM)
            original(self, backend, *args)

        monkeypatch.setattr(MLPProblem, "__init__", failing)
    else:
        calls = fail_on_gpu(monkeypatch, cls, method, FakeOutOfMemory(OOM), after=after)
    session, messages = open_file(tmp_path, NETWORK.format(backend="cupy"))
    try:
        settle(session)
        assert {"cupy", "numpy"} <= set(calls), where
        assert_says_the_gpu_failed(session, messages, "OutOfMemory")
        assert session.snapshot.network is not None  # the slice is drawn on NumPy
        assert_same_numbers(session.snapshot, oracle, exact=False)
    finally:
        assert session.shutdown()


def test_after_a_gpu_failure_the_files_next_jobs_go_to_numpy_at_once(
    qtbot, tmp_path, monkeypatch, fake_gpu
):
    calls = fail_on_gpu(monkeypatch, FunctionProblem, "batch_grad", FakeOutOfMemory(OOM), 10)
    session, _messages = open_file(tmp_path, ROSENBROCK.format(backend="cupy"))
    try:
        settle(session)
        tried = calls.count("cupy")
        assert session.update_run(0, lr=0.002) is None  # a slider moved
        s = settle(session)
        assert s.job_id == 2
        assert s.error is None
        assert s.done
        assert calls.count("cupy") == tried  # not tried on the failing GPU again
        assert "the GPU failed (FakeOutOfMemory" in s.backend
        assert "earlier for this file" in s.backend
    finally:
        assert session.shutdown()


@pytest.mark.parametrize("backend", ["numpy", "cupy"])
def test_other_failures_are_reported_as_today(qtbot, tmp_path, monkeypatch, fake_gpu, backend):
    """A 'GPU' error on NumPy is no GPU failure, and a bug on the GPU is no GPU failure:
    both are the engine's failure, shown as an error, not retried."""
    error = FakeOutOfMemory(OOM) if backend == "numpy" else ValueError("a bug in the engine")
    original = FunctionProblem.batch_grad
    calls = []

    def failing(self, *args):
        calls.append(self.backend.name)
        if len(calls) > 20:
            raise error
        return original(self, *args)

    monkeypatch.setattr(FunctionProblem, "batch_grad", failing)
    session, messages = open_file(tmp_path, ROSENBROCK.format(backend=backend))
    try:
        settle(session)
        s = session.snapshot
        assert s.error.startswith("the engine failed: ")
        assert type(error).__name__ in s.error
        assert s.history is None
        assert set(calls) == {backend}  # not retried on NumPy
        assert not any("failed" in m for m in messages)  # no GPU failure said
    finally:
        assert session.shutdown()


def test_a_file_that_asks_for_cupy_without_cupy_trains_on_numpy_and_says_why(qtbot, tmp_path):
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed here: the message is for machines without it")
    oracle = numpy_oracle(tmp_path, ROSENBROCK)
    session, messages = open_file(tmp_path, ROSENBROCK.format(backend="cupy"))
    try:
        s = settle(session)
        assert s.error is None
        assert s.done
        assert s.backend.startswith("NumPy (CPU), float64 — CuPy not used: ")
        assert "backend 'cupy' was asked for but cannot be used: CuPy is not installed" in (
            s.backend
        )
        said = [m for m in messages if "CuPy" in m]
        assert said == ["Engine: NumPy, not CuPy — CuPy is not installed"]
        assert "Traceback" not in said[0]
        assert "\n" not in said[0]
        assert_same_numbers(s, oracle)
    finally:
        assert session.shutdown()


def test_the_main_windows_status_bar_shows_the_reason(qtbot, tmp_path, settings):
    from gui.main_window import MainWindow

    path = tmp_path / "gpu.toml"
    path.write_text(ROSENBROCK.format(backend="cupy"), encoding="utf-8")
    window = MainWindow(settings, interactive=False)
    qtbot.addWidget(window)
    window.show()
    shown = []  # every message (a loaded machine may outlast a message's seconds)
    window.statusBar().messageChanged.connect(shown.append)
    try:
        assert window.open_path(path, ask=False)
        assert window.controller.wait_until_computed(30)
        said = [m for m in shown if m.startswith("Engine: ")]
        assert said == ["Engine: NumPy, not CuPy — CuPy is not installed"]
        # the permanent label names the library; its tooltip keeps the whole reason (both
        # set by the status bar's next refresh, on a timer: waited for)
        whole = "was asked for but cannot be used: CuPy is not installed (pip install"
        qtbot.waitUntil(lambda: whole in window.backend_label.toolTip(), timeout=PATIENCE_MS)
        assert window.backend_label.text() == "NumPy (CPU), float64"
    finally:
        window.controller.path = None
        window.close()


def test_auto_names_its_reason_in_the_status_bar(qtbot, tmp_path, monkeypatch, fake_gpu):
    # a GPU answers, but two runs of two parameters do not pay for kernel launches
    session, messages = open_file(tmp_path, ROSENBROCK.format(backend="auto"))
    try:
        s = settle(session)
        assert s.built.backend.name == "numpy"
        reason = "2 runs × 2 parameters = 4 values per step is below 262,144"
        assert reason in s.backend
        # too long for the status bar beside its labels: the label's tooltip has it
        assert messages[-1] == "Engine: NumPy, not CuPy — hover “NumPy (CPU), float64” for why"
        # where the work pays, auto takes the GPU, and says why
        monkeypatch.setattr(backends, "GPU_MIN_ELEMENTS", 4)
        session.resimulate()
        s = settle(session)
        assert s.built.backend.name == "cupy"
        assert s.backend.startswith("CuPy (Fake GPU), float64 — auto: 2 runs × 2 parameters")
        assert messages[-1] == "Engine: CuPy (Fake GPU) — hover “CuPy (Fake GPU), float64” for why"
    finally:
        assert session.shutdown()


def test_auto_without_cupy_says_so(qtbot, tmp_path):
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed here")
    session, messages = open_file(tmp_path, ROSENBROCK.format(backend="auto"))
    try:
        s = settle(session)
        assert s.backend == (
            "NumPy (CPU), float64 — CuPy not used: CuPy is not installed "
            "(pip install 'descent-lab[gpu]')"
        )
        assert messages[-1] == "Engine: NumPy, not CuPy — CuPy is not installed"
        # said once: the next job on the same engine is no news
        assert session.update_run(0, lr=0.002) is None
        settle(session)
        assert sum("CuPy" in m for m in messages) == 1
    finally:
        assert session.shutdown()


def test_a_gpu_failure_in_the_slice_while_a_newer_job_waits_still_sends_that_job_to_numpy(
    qtbot, tmp_path, monkeypatch, fake_gpu
):
    """A slider moved while the network's slice is drawn: the GPU fails in the slice with the
    next job already waiting. That job is the file's next: it goes to NumPy at once, not to
    the GPU that just failed (the failure was dropped with the restart it no longer needs)."""
    from engine.experiment import load_experiment
    from gui import worker as workers
    from gui.worker import Job, WorkerThread

    monkeypatch.setattr(network_view, "FINE_POINTS", 16)
    path = tmp_path / "net.toml"
    path.write_text(NETWORK.format(backend="cupy"), encoding="utf-8")
    first = load_experiment(path)
    path.write_text(NETWORK.format(backend="cupy").replace("lr = 0.1", "lr = 0.2"), "utf-8")
    second = load_experiment(path)
    source = str(path)
    built_on = []  # the backend each job was built with, as the worker chose it
    original_build = workers.build

    def recording_build(experiment, *args, backend=None, **kwargs):
        built_on.append(None if backend is None else backend.name)
        return original_build(experiment, *args, backend=backend, **kwargs)

    monkeypatch.setattr(workers, "build", recording_build)
    engine = WorkerThread()
    worker = engine.worker
    original_update = NetworkLive.update

    def failing_update(self):
        if self.built.backend.name == "cupy":
            if not built_on[1:]:  # the first failure: the next job is waiting already
                worker.submit(Job(2, second, tmp_path, source))
            raise FakeOutOfMemory(OOM)
        return original_update(self)

    monkeypatch.setattr(NetworkLive, "update", failing_update)
    try:
        worker.submit(Job(1, first, tmp_path, source))
        deadline = time.perf_counter() + 60
        s = None
        while time.perf_counter() < deadline and not (s and s.job_id == 2 and s.done):
            s = worker.latest
            time.sleep(0.01)
        assert s is not None
        assert s.job_id == 2
        assert s.done
        assert s.error is None
        assert built_on[:2] == ["cupy", "numpy"]  # job 2: NumPy from its first build
        assert s.built.backend.name == "numpy"
        assert "the GPU failed (FakeOutOfMemory" in s.backend
        assert "earlier for this file" in s.backend
    finally:
        assert engine.shutdown()


class FakeIllegalAddress(RuntimeError):
    """Stands for cupy_backends.cuda.api.runtime.CUDARuntimeError (an illegal address: the
    device is unusable from then on, every later call fails too)."""


FakeIllegalAddress.__module__ = "cupy_backends.cuda.api.runtime"


def test_a_job_after_a_gpu_failure_copies_nothing_from_a_job_on_that_gpu(
    qtbot, tmp_path, monkeypatch, fake_gpu
):
    """The GPU dies while an edit trains, and the next edit comes before that one, restarted
    on NumPy, has finished: the newest finished job is the one before, on the GPU. The next
    edit (on NumPy) must not copy its runs from it: their final states are read from the
    dead device at the end, and the job failed with the GPU's error."""
    from engine.experiment import load_experiment
    from gui.worker import Job, WorkerThread

    def experiment(lr):
        path = tmp_path / f"{lr}.toml"
        text = ROSENBROCK.format(backend="cupy").replace("lr = 0.001", f"lr = {lr}")
        path.write_text(text, encoding="utf-8")
        return load_experiment(path)

    source = str(tmp_path / "experiment.toml")  # one file, edited: every job has its source
    jobs = [Job(k + 1, experiment(lr), tmp_path, source) for k, lr in enumerate((1e-3, 2e-3, 3e-3))]
    dead = []  # the GPU died
    original_grad, original_to_host = FunctionProblem.batch_grad, Backend.to_host

    def batch_grad(self, *args):
        if self.backend.name == "cupy" and armed:
            if not dead:
                dead.append(True)
                worker.submit(jobs[2])  # the next edit, while this one restarts
            raise FakeIllegalAddress("cudaErrorIllegalAddress: an illegal memory access")
        return original_grad(self, *args)

    def to_host(self, a):
        if self.name == "cupy" and dead:
            raise FakeIllegalAddress("cudaErrorIllegalAddress: an illegal memory access")
        return original_to_host(self, a)

    monkeypatch.setattr(FunctionProblem, "batch_grad", batch_grad)
    monkeypatch.setattr(Backend, "to_host", to_host)
    armed = False
    engine = WorkerThread()
    worker = engine.worker

    def finished(job_id):
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            s = worker.latest
            if s is not None and s.job_id == job_id and s.done:
                return s
            time.sleep(0.01)
        raise AssertionError(f"job {job_id} did not finish; last {worker.latest}")

    try:
        worker.submit(jobs[0])
        assert finished(1).built.backend.name == "cupy"
        armed = True
        worker.submit(jobs[1])
        s = finished(3)
        assert dead
        assert s.error is None, s.error
        assert s.built.backend.name == "numpy"
        assert s.built.trainer.reused == {}  # adam's run trained again, on NumPy
        assert "the GPU failed (FakeIllegalAddress" in s.backend
    finally:
        assert engine.shutdown()


def test_each_engine_message_fits_beside_the_status_bars_labels_at_1366(qtbot):
    """Early in a run the bar holds the library, the progress with the slice's activity and
    the frame rate; the engine's message must fit in what is left at 1366 pixels (the whole
    reason, "… CuPy is not installed (pip install 'des", ran under the labels)."""
    window = QMainWindow()
    qtbot.addWidget(window)
    MainWindow._build_status_bar(window)
    window.backend_label.setText("NumPy (CPU), float32")
    window.rate_label.setText(
        "training 88,000/300,000 · slice of the plane: refining 32×32, 18% · 843 steps/s × 2 runs"
    )
    window.fps_label.setText("16 frames/s")
    window.resize(1366, 768)
    window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    window.show()
    QApplication.processEvents()
    bar = window.statusBar()
    labels = (window.backend_label, window.rate_label, window.fps_label)
    room = min(label.geometry().left() for label in labels) - 8  # the message's margins
    reasons = [
        "CuPy is not installed (pip install 'descent-lab[gpu]')",
        "backend 'cupy' was asked for but cannot be used: CuPy is not installed "
        "(pip install 'descent-lab[gpu]')",
        "CuPy failed to import: libcudart.so.12: cannot open shared object file",
        "no usable CUDA device (CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device)",
        f"{backends.gpu_failure(FakeOutOfMemory(OOM))}; running on NumPy instead",
        backends.Workload(runs=256, params=12_345_678).gpu_pays()[1],
        backends.Workload(runs=3, params=1_234).gpu_pays()[1],
    ]
    texts = [backends.numpy_fallback("float32", why).describe() for why in reasons]
    cupy = Backend(np, "cupy", np.dtype("float32"), "NVIDIA H200 NVL", choice_reason="asked for")
    texts.append(cupy.describe())
    for backend in texts:
        message = engine_message(backend)
        assert bar.fontMetrics().horizontalAdvance(message) <= room, (message, room)
