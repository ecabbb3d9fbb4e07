"""The app lays a network's plane itself (``NetworkLive``), so its trainer does not choose one
of its own at the end of training (``Trainer(own_plane=False)``): ``_choose_plane`` is never
called for it, and the picture is what it was, the plane of the reservoir's states with every
kept state projected on it. The oracle is a headless build of the same file (the runner's
trainer, which does choose its plane), its reservoir laid on the app's kind of plane by hand.
A finished network without a picture of its own (no plane could be laid) still shows its rows
on the trainer's plane, as before: the trainer chooses it then, and only then."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from engine.experiment import build, parse_experiment
from engine.training import Trainer
from gui import network_view
from gui.network_view import PlaneChoice, plane_inputs, project_states, recorded_states
from tests.gui.test_network_reuse_app import (  # quick_slices: autouse, coarse fine slices
    NETWORK,
    opened,
    quick_slices,  # noqa: F401
    settle,
)


@pytest.fixture
def planes_chosen(monkeypatch):
    """Every trainer that chose its own plane (a spy on ``Trainer._choose_plane``)."""
    chosen = []
    original = Trainer._choose_plane

    def spy(self):
        chosen.append(self)
        return original(self)

    monkeypatch.setattr(Trainer, "_choose_plane", spy)
    return chosen


def headless(text: str, eval_every: int) -> Trainer:
    """The file's trainer as the headless runner builds it (at the app's cadence), trained."""
    built = build(parse_experiment(tomllib.loads(text)), eval_every=eval_every)
    built.trainer.run()
    return built.trainer


def expected_paths(oracle: Trainer, seed: int) -> np.ndarray:
    """The reservoir's states on the trajectory plane, as the app lays it."""
    states = recorded_states(oracle)
    inputs, _, _ = plane_inputs(
        PlaneChoice(),
        oracle.problem.model,
        states,
        oracle.final_state()[0],
        oracle.history.labels,
        seed,
        [True] * len(oracle.history.labels),
    )
    return project_states(inputs.plane(oracle.problem.model), states.params)[0]


def test_the_apps_trainer_chooses_no_plane_and_the_picture_is_unchanged(
    qtbot, tmp_path, planes_chosen
):
    first_text = NETWORK.format(lr0=0.05)
    edited_text = NETWORK.format(lr0=0.2)
    three_text = edited_text[: edited_text.rindex("[[runs]]")]  # the last run removed
    with opened(tmp_path, first_text, "four.toml") as session:
        first = settle(session)
        assert session.update_run(0, lr=0.2) is None  # an edit: three runs copied
        edited = settle(session)
        assert session.remove_run(3)  # every run copied: nothing trained
        three = settle(session)
        jobs = ((first, first_text, 0.0), (edited, edited_text, 1e-9), (three, three_text, 1e-9))
        trainers = [s.built.trainer for s, _, _ in jobs]
        assert len(trainers[1].reused) == 3
        assert len(trainers[2].reused) == 3
        assert trainers[2].step == trainers[2].steps  # done as it was built
        assert planes_chosen == []  # no job's trainer chose a plane of its own
        for s, text, tolerance in jobs:
            trainer = s.built.trainer
            oracle = headless(text, trainer.eval_every)
            assert planes_chosen[-1] is oracle  # (the headless one does)
            assert s.network is not None
            # the same kept states (the copied runs' included) and the same paths on the plane
            np.testing.assert_array_equal(trainer.snapshots.steps, oracle.snapshots.steps)
            np.testing.assert_allclose(
                trainer.snapshots.params, oracle.snapshots.params, rtol=tolerance, atol=0
            )
            np.testing.assert_allclose(
                s.network.path_coords,
                expected_paths(oracle, s.experiment.seed),
                rtol=tolerance,
                atol=1e-12 if tolerance else 0,
            )
    assert all(t.plane is None for t in trainers)


def test_a_finished_network_without_a_picture_shows_its_rows_on_the_trainers_plane(
    qtbot, tmp_path, planes_chosen, monkeypatch
):
    def no_plane(*args, **kwargs):
        raise ValueError("no plane here")

    monkeypatch.setattr(network_view, "plane_inputs", no_plane)
    text = NETWORK.format(lr0=0.05)
    with opened(tmp_path, text, "four.toml") as session:
        s = settle(session)
        trainer = s.built.trainer
        assert s.network is None
        assert planes_chosen == [trainer]  # chosen once, when it was published without one
        oracle = headless(text, trainer.eval_every)
        np.testing.assert_array_equal(s.history.coords, oracle.history.coords)
        assert np.isfinite(s.history.coords).all()


def test_a_late_plane_replaces_the_coordinates_an_earlier_snapshot_holds_instead_of_writing_them(
    qtbot,
):
    """The worker chooses a finished network's plane on its own thread (the fallback above),
    while a snapshot published earlier, which shares the trainer's history, may be exported
    on another: the coordinates it read stay as they were, and the new ones arrive whole."""
    text = NETWORK.format(lr0=0.05)
    built = build(parse_experiment(tomllib.loads(text)), own_plane=False)
    built.trainer.run()
    history = built.trainer.history
    held = history.coords  # what an earlier snapshot's reader holds
    before = held.copy()
    built.trainer.finish_plane()
    np.testing.assert_array_equal(held, before)  # untouched
    assert not before.any()  # (no plane had been chosen: every coordinate 0)
    oracle = headless(text, built.trainer.eval_every)
    np.testing.assert_array_equal(history.coords, oracle.history.coords)
    assert history.coords.any()
