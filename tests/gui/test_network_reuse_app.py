"""In the app, editing one run of a network experiment trains that run alone: the worker
copies the unchanged runs from the last finished job (rows, reservoir states, final state),
and the result is what opening the edited file afresh computes. The oracle is that fresh
session, which copies nothing; a spy on the batch gradient sees only the edited run."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import pytest

from engine.problems.network import MLPProblem
from gui import network_view
from gui.session import Session
from tests.gui.waiting import settle as wait_settled

NETWORK = """
title = "digits, four runs"
seed = 0
steps = 30
dtype = "float64"
record_every = 2

[problem]
kind = "mlp"
dataset = "digits"
hidden = [12]
validation_fraction = 0.2
batch_norm = true

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = {lr0}
batch_size = 64

[[runs]]
label = "momentum"
optimizer = "momentum"
lr = 0.05
momentum = 0.9
batch_size = 64

[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.01
batch_size = 32

[[runs]]
label = "sgd small batches"
optimizer = "sgd"
lr = 0.1
batch_size = 16
"""


@pytest.fixture(autouse=True)
def quick_slices(monkeypatch):
    monkeypatch.setattr(network_view, "FINE_POINTS", 16)


@pytest.fixture
def gradients(monkeypatch):
    """(problem id, runs) of every minibatch gradient the engine computes."""
    calls = []
    original = MLPProblem.batch_grad_buffers

    def counted(self, params, *args, **kwargs):
        calls.append((id(self), params.shape[0]))
        return original(self, params, *args, **kwargs)

    monkeypatch.setattr(MLPProblem, "batch_grad_buffers", counted)
    return calls


def open_file(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    session = Session(start_timers=False)
    session.open(path)
    return session


@contextmanager
def opened(tmp_path, text, name):
    """``open_file``'s session, shut down (and checked to have stopped) at the end."""
    session = open_file(tmp_path, text, name)
    try:
        yield session
    finally:
        assert session.shutdown()


def settle(session, timeout=120.0):
    s = wait_settled(session, timeout)
    assert s.error is None
    assert s.done
    return s


def recorded(trainer):
    h = trainer.history
    out = {"loss": h.loss, "lr": h.lr, "epoch": h.epoch, "grad_norm": h.grad_norm}
    out.update({f"extra.{k}": v for k, v in h.extra.items()})
    for records in (h.layers, h.bn):
        out.update({f"{type(records).__name__}.{i}": a for i, a in enumerate(records.arrays())})
    out["final"] = trainer.final_state()[0]
    out["reservoir"] = trainer.snapshots.params
    return out


def assert_same(trainer, oracle):
    mine, theirs = recorded(trainer), recorded(oracle)
    assert mine.keys() == theirs.keys()
    for name in mine:  # float64; runs batched otherwise and the worker's chunks timed
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_editing_one_run_trains_it_alone_and_equals_a_fresh_session(qtbot, tmp_path, gradients):
    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        first = settle(session)
        assert len({problem for problem, _ in gradients}) >= 1
        gradients.clear()
        assert session.update_run(0, lr=0.2) is None  # the run editor's slider
        s = settle(session)
        assert s.job_id == first.job_id + 1
        trainer = s.built.trainer
        assert trainer.reused == {1: 1, 2: 2, 3: 3}
        mine = [rows for problem, rows in gradients if problem == id(s.built.problem)]
        assert mine, "the edited run was trained"
        assert set(mine) == {1}  # one run's gradients: the edited one
        assert len(mine) == 30
        # the picture: every run's path on a plane chosen again from all their states
        picture = s.network
        assert picture is not None
        assert np.isfinite(picture.path_coords).all()
        with opened(tmp_path, NETWORK.format(lr0=0.2), "edited.toml") as oracle_session:
            oracle = settle(oracle_session)
            assert oracle.built.trainer.reused == {}
            assert_same(trainer, oracle.built.trainer)
            np.testing.assert_allclose(
                picture.path_coords, oracle.network.path_coords, rtol=1e-7, atol=1e-9
            )


def test_an_edit_while_the_last_edit_trains_copies_from_the_last_finished_job(
    qtbot, tmp_path, gradients
):
    """The job being trained when the next edit comes is not finished: nothing of it is
    proven, so the runs come from the job before it, which is."""
    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        first = settle(session)
        # a new job's first chunk is then 16 updates of its 30, whatever this machine's speed
        session.worker.chunk_seconds = 1e-9
        session.pause()
        session.seek(0)  # the worker computes what the playhead needs, then waits
        assert session.update_run(2, lr=0.02) is None
        assert session.wait_until_computed(60.0, to_end=False)
        unfinished = session.snapshot
        assert unfinished.job_id == first.job_id + 1
        assert not unfinished.built.trainer.done
        assert session.update_run(0, lr=0.2) is None
        s = settle(session)
        # both edits are relative to the first job: runs 1 and 3 come from it
        assert s.built.trainer.reused == {1: 1, 3: 3}
        with opened(
            tmp_path, NETWORK.format(lr0=0.2).replace("lr = 0.01", "lr = 0.02"), "both.toml"
        ) as oracle_session:
            assert_same(s.built.trainer, settle(oracle_session).built.trainer)


def test_a_job_abandoned_for_a_newer_one_keeps_the_source_for_it(
    qtbot, tmp_path, monkeypatch, gradients
):
    """A slider dragged: the job of a value passed over is dropped while it is built; the
    value the slider stops at still copies the unchanged runs."""
    from gui import worker as workers

    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        settle(session)
        building = []
        original = workers.build

        def slow_build(experiment, *args, **kwargs):
            building.append(experiment.runs[0].lr)
            if experiment.runs[0].lr == 0.1:  # the value passed over
                time.sleep(0.5)
            return original(experiment, *args, **kwargs)

        monkeypatch.setattr(workers, "build", slow_build)
        assert session.update_run(0, lr=0.1) is None
        deadline = time.perf_counter() + 30
        while 0.1 not in building and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert session.update_run(0, lr=0.2) is None  # while 0.1's job is being built
        s = settle(session)
        assert building == [0.1, 0.2]
        assert s.experiment.runs[0].lr == 0.2
        assert s.built.trainer.reused == {1: 1, 2: 2, 3: 3}


def test_a_network_job_evaluates_its_first_row_once(qtbot, tmp_path, monkeypatch):
    """The app's evaluation cadence needs the built data set, and a trainer evaluates its
    first row as it is made: the worker makes one trainer, with that cadence, not a first
    one at the runner's cadence and then another (a full-split evaluation of every run,
    seconds for a wide network, and the first thing a user waits for)."""
    rows_evaluated = []
    original = MLPProblem.evaluate_rows

    def counted(self, params, buffers, **kwargs):
        rows_evaluated.append(params.shape[0])
        return original(self, params, buffers, **kwargs)

    monkeypatch.setattr(MLPProblem, "evaluate_rows", counted)
    text = NETWORK.format(lr0=0.05).replace("steps = 30", "steps = 400")
    with opened(tmp_path, text, "four.toml") as session:
        s = settle(session)
        trainer = s.built.trainer
        assert trainer.eval_every > 1  # the app's cadence, not every row
        rows = np.arange(trainer.total_rows)
        due = (rows % trainer.eval_every == 0) | (trainer.history.step == trainer.steps)
        # (row, run) pairs evaluated: each due row of each of the 4 runs, once
        assert sum(rows_evaluated) == due.sum() * 4
