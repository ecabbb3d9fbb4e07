"""Networks in the app's session: a digits MLP trains in the worker, its paths come projected
on a plane with their distances from it, the plane can be changed, and the start can't be
dragged (it is the network's weights)."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

from gui import network_view
from gui.document import NETWORK_START_REFUSAL
from gui.session import Session
from tests.gui.waiting import PATIENCE_S

DIGITS = """
title = "digits, small"
seed = 0
steps = 30
dtype = "float32"
record_every = 3

[problem]
kind = "mlp"
dataset = "digits"
hidden = [16]
validation_fraction = 0.2
batch_norm = true

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.05
batch_size = 64

[[runs]]
label = "momentum"
optimizer = "momentum"
lr = 0.05
momentum = 0.9
batch_size = 64
"""


@contextlib.contextmanager
def network_session(tmp_path, monkeypatch, text: str):
    """A session (timers off) on the experiment ``text``, written to a file and opened."""
    monkeypatch.setattr(network_view, "FINE_POINTS", 20)  # the tests' slices: quick
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    s = Session(start_timers=False)
    s.open(path)
    yield s
    assert s.shutdown()


@pytest.fixture
def session(qtbot, tmp_path, monkeypatch):
    with network_session(tmp_path, monkeypatch, DIGITS) as s:
        yield s


def settle(session, timeout=60.0):
    """Trained to the end, and the worker idle: the slice of the final plane is computed."""
    assert session.wait_until_computed(timeout)
    deadline = time.perf_counter() + timeout
    while session.busy and time.perf_counter() < deadline:
        session.wait_until_computed(1.0)
        time.sleep(0.01)
    assert not session.busy
    session.wait_until_computed(1.0)  # take what was published last
    return session.snapshot


def test_a_digits_network_trains_with_every_path_on_the_plane(session):
    assert session.is_network
    assert session.plane_kind == "trajectory"
    s = settle(session)
    assert s.error is None
    assert s.done
    picture = s.network
    assert picture is not None
    assert picture.plane_kind == "trajectory"
    assert np.isfinite(picture.path_coords).all()  # every run, every kept row
    assert picture.path_coords.shape[1] == 2
    assert np.isfinite(picture.path_distance).all()
    assert "batch norm in eval mode" in picture.plane_text
    assert np.isfinite(s.history.extra["accuracy"][: s.count]).all()
    surface = s.surface
    assert surface.axis_names == ("a", "b")
    assert surface.formula == picture.plane_text
    assert np.isfinite(surface.z).all()
    x0, x1, y0, y1 = surface.default_rect
    drawn = picture.path_coords.reshape(-1, 2)
    assert (x0 < drawn[:, 0]).all()
    assert (drawn[:, 0] < x1).all()
    assert (y0 < drawn[:, 1]).all()
    assert (drawn[:, 1] < y1).all()
    # today's surface view draws history.coords: the same points at the kept rows
    rows = np.searchsorted(s.history.step[: s.count], picture.path_steps)
    np.testing.assert_allclose(s.history.coords[rows], picture.path_coords, atol=1e-6)


def test_changing_the_plane_changes_the_coordinates_and_the_three_points_lie_in_it(session):
    before = settle(session).network
    assert session.set_plane("three_point", (1, 0)) is None
    assert session.plane_kind == "three_point"
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        s = settle(session)
        if s.network.plane_kind == "three_point":
            break
    after = s.network
    assert after.plane_kind == "three_point"
    assert "run 'momentum' (1, 0) and run 'sgd' (0, 1)" in after.plane_text
    assert s.surface.formula == after.plane_text
    assert not np.allclose(after.path_coords, before.path_coords)
    scale = np.nanmax(after.path_norm)
    # the start and both runs' final points lie in that plane; the paths between do not
    assert after.path_distance[0].max() < 1e-6 * scale
    assert after.path_distance[-1].max() < 1e-6 * scale
    assert after.path_distance[1:-1].max() > 1e-3 * scale
    np.testing.assert_allclose(after.path_coords[-1, 1], [1, 0], atol=1e-6)
    np.testing.assert_allclose(after.path_coords[-1, 0], [0, 1], atol=1e-6)


def test_a_bad_plane_is_refused_with_the_reason(session, qtbot):
    with qtbot.waitSignal(session.sig_message) as message:
        reason = session.set_plane("diagonal")
    assert "plane must be one of trajectory, random, three_point" in reason
    assert "diagonal" in message.args[0]
    assert "run numbers 0 to 1" in session.set_plane("random", (5,))
    assert session.plane_kind == "trajectory"


def test_dragging_the_start_of_a_network_is_refused_with_the_reason(session, qtbot):
    before = session.experiment
    with qtbot.waitSignal(session.sig_message) as message:
        reason = session.set_start(0.5, 0.5)
    assert "initial weights" in reason
    assert NETWORK_START_REFUSAL in message.args[0]
    assert session.experiment is before


MOONS = """
seed = 2
steps = 40
dtype = "float64"
record_every = 2

[problem]
kind = "mlp"
dataset = "moons"
samples = 120
hidden = [8]
validation_fraction = 0.25

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.3
batch_size = 16

[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.03
batch_size = 16
"""


def wait_for(session, condition, timeout=30.0):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        session.wait_until_computed(0.2)
        if condition(session.snapshot):
            return session.snapshot
    raise AssertionError("timed out")


def test_a_two_d_network_draws_boundaries_at_the_head_and_an_interpolation(
    qtbot, tmp_path, monkeypatch
):
    monkeypatch.setattr(network_view, "FINE_POINTS", 20)
    path = tmp_path / "moons.toml"
    path.write_text(MOONS, encoding="utf-8")
    session = Session(start_timers=False)
    try:
        session.open(path)
        s = settle(session)
        steps = s.built.trainer.snapshots.steps
        session.pause()
        for head in (11, 40, 0):
            session.seek(head)
            want = steps[network_view.state_at(steps, head)]
            s = wait_for(session, lambda s, w=want: s.network.boundary.step == w)
            boundary = s.network.boundary
            assert boundary.classes.shape[0] == 2
            assert np.isfinite(boundary.confidence).all()
            assert len(boundary.points) == len(boundary.labels) == 90
        assert s.network.interpolation.runs == (0, 1)  # the first two, unasked
        assert session.set_interpolation(1, 0) is None
        assert session.interpolation_runs == (1, 0)
        s = wait_for(session, lambda s: s.network.interpolation.runs == (1, 0))
        curves = s.network.interpolation.curves
        assert set(curves) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
        assert np.isfinite(curves["train_loss"]).all()
        assert "two different runs" in session.set_interpolation(1, 1)
    finally:
        assert session.shutdown()


def test_the_status_says_while_the_slice_is_computed(session, monkeypatch):
    settle(session)
    monkeypatch.setattr(network_view, "BAND_SECONDS", 1e-9)  # a row at a time: many reports
    monkeypatch.setattr(network_view, "DONE_BAND_SECONDS", 1e-9)  # (once trained too)
    step = network_view.SliceTask.step
    shown = threading.Event()  # the status has said that the slice is being refined

    def step_once_shown(task, *args):
        # the refined slice waits until the GUI has shown its progress: a loaded machine
        # kept the GUI thread away for a whole slice of 20 ms bands, and nothing was seen
        refining = task.progress_text().startswith("slice of the plane: refining")
        if refining and not shown.wait(PATIENCE_S):
            shown.set()  # never shown: the test fails, without waiting at every band
        return step(task, *args)

    monkeypatch.setattr(network_view.SliceTask, "step", step_once_shown)
    seen = []
    session.set_plane("random", (1,))
    deadline = time.perf_counter() + 2 * PATIENCE_S
    while time.perf_counter() < deadline:
        session.wait_until_computed(0.05)
        seen.append(session.stats()["progress"])
        if seen[-1].startswith("slice of the plane: "):
            shown.set()
        if not session.busy and session.snapshot.network.plane_kind == "random":
            break
    assert any(text.startswith("slice of the plane: ") for text in seen)
    session.wait_until_computed(1.0)  # the worker's last snapshot (published as it went idle)
    assert session.stats()["progress"] == ""  # done: nothing to say
