"""In the app, an edit of one run takes over the previous job's plane and slice when the
plane does not depend on the edited run (the worker hands the finished job's picture to the
edit's job), and the slice shown at the end is the one a fresh session of the edited file
computes."""

from __future__ import annotations

import numpy as np
import pytest

from gui import network_view
from tests.gui.test_network_reuse_app import NETWORK, open_file, settle


@pytest.fixture(autouse=True)
def quick_slices(monkeypatch):
    monkeypatch.setattr(network_view, "FINE_POINTS", 16)


def test_an_edit_off_the_plane_keeps_the_plane_and_ends_with_the_fresh_slice(qtbot, tmp_path):
    session = open_file(tmp_path, NETWORK.format(lr0=0.05), "four.toml")
    try:
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
        oracle_session = open_file(tmp_path, edited, "edited.toml")
        try:
            oracle_session.set_plane("random", (1,))
            oracle = settle(oracle_session)
            assert oracle.built.trainer.reused == {}
            assert s.surface.rect == pytest.approx(oracle.surface.rect, rel=1e-7, abs=1e-9)
            np.testing.assert_allclose(s.surface.z, oracle.surface.z, rtol=1e-7)
            np.testing.assert_allclose(
                s.network.path_coords, oracle.network.path_coords, rtol=1e-7, atol=1e-9
            )
        finally:
            assert oracle_session.shutdown()
    finally:
        assert session.shutdown()
