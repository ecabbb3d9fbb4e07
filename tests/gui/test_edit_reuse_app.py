"""In the app, an edit of one run takes over the previous job's plane and slice when the
plane does not depend on the edited run (the worker hands the finished job's picture to the
edit's job), and the slice shown at the end is the one a fresh session of the edited file
computes."""

from __future__ import annotations

import gc
import shutil
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from gui import network_view
from tests.gui.test_network_reuse_app import NETWORK, opened, settle


@pytest.fixture(autouse=True)
def quick_slices(monkeypatch):
    monkeypatch.setattr(network_view, "FINE_POINTS", 16)


def test_an_edit_off_the_plane_keeps_the_plane_and_ends_with_the_fresh_slice(qtbot, tmp_path):
    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        assert session.set_plane("random", (1,)) is None  # around run 1, which stays
        first = settle(session)
        assert first.network.plane_kind == "random"
        assert session.update_run(3, lr=0.3) is None
        s = settle(session)
        assert s.built.trainer.reused == {0: 0, 1: 1, 2: 2}
        assert s.network.plane_serial == first.network.plane_serial  # the plane kept
        edited = NETWORK.format(lr0=0.05).replace(
            "lr = 0.1\nbatch_size = 16", "lr = 0.3\nbatch_size = 16"
        )
        assert edited != NETWORK.format(lr0=0.05)
        with opened(tmp_path, edited, "edited.toml") as oracle_session:
            oracle_session.set_plane("random", (1,))
            oracle = settle(oracle_session)
            assert oracle.built.trainer.reused == {}
            assert s.surface.rect == pytest.approx(oracle.surface.rect, rel=1e-7, abs=1e-9)
            np.testing.assert_allclose(s.surface.z, oracle.surface.z, rtol=1e-7)
            np.testing.assert_allclose(
                s.network.path_coords, oracle.network.path_coords, rtol=1e-7, atol=1e-9
            )


def test_an_edit_during_the_last_slices_refinement_still_takes_over_the_picture(
    qtbot, tmp_path, monkeypatch
):
    """During a slider's drag the next edit usually comes while the finished job refines its
    slice; the refinement is cancelled, but the picture (its plane and a slice of it) must
    still pass to the next job (review: it was dropped, and the next job chose its plane and
    computed its slice again)."""

    in_refinement = threading.Event()
    slow = {"on": False}
    original_step = network_view.SliceTask.step

    def step(self, *args, **kwargs):
        if slow["on"] and len(self._passes) == 1:  # the refining pass
            in_refinement.set()
            time.sleep(0.3)
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(network_view.SliceTask, "step", step)
    adopted = []
    original_adopt = network_view.NetworkLive._adopt_previous

    def adopt(self):
        taken = original_adopt(self)
        adopted.append(taken)
        return taken

    monkeypatch.setattr(network_view.NetworkLive, "_adopt_previous", adopt)
    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        settle(session)
        slow["on"] = True
        assert session.update_run(0, lr=0.1) is None  # B
        assert in_refinement.wait(60), "B's slice never reached its refinement"
        adopted.clear()
        assert session.update_run(0, lr=0.2) is None  # C, while B refines
        s = settle(session)
        assert s.built.trainer.reused == {1: 1, 2: 2, 3: 3}
        assert adopted[:1] == [True]


def test_a_network_job_is_let_go_once_the_app_shows_another_problem(qtbot, tmp_path):
    """The finished network job's picture is kept for an edit to take over; once a job of
    another problem is shown (one that copies nothing from it) the network's trainer, its
    history and reservoir of states, must be freed (review: the worker held it)."""

    with opened(tmp_path, NETWORK.format(lr0=0.05), "four.toml") as session:
        trainer = weakref.ref(settle(session).built.trainer)
        examples = Path(__file__).resolve().parents[2] / "resources" / "experiments"
        shutil.copy(examples / "saddle_point.toml", tmp_path / "saddle.toml")
        session.open(tmp_path / "saddle.toml")
        assert type(settle(session).built.problem).__name__ == "FunctionProblem"
        for _ in range(3):
            gc.collect()
        assert trainer() is None
