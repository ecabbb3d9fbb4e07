"""The main window's middle: the surface alone for a 2-D problem; for a network, tabs for the
slice, the decision boundaries (2-D data sets only) and the interpolation."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from tests.gui.network_fakes import net_frame, picture, trained
from tests.gui.waiting import PATIENCE_MS


def visible_tabs(window) -> list[str]:
    tabs = window.views
    return [tabs.tabText(k) for k in range(tabs.count()) if tabs.isTabVisible(k)]


def test_network_tabs_come_and_go_with_the_problem(window):
    assert visible_tabs(window) == ["Surface"]
    assert not window.views.tabBar().isVisible()  # one view: no tab bar at all
    case = trained()
    net = picture(case)
    window._on_frame(net_frame(case, net))
    assert visible_tabs(window) == ["Surface", "Decision boundary", "Interpolation"]
    window.views.setCurrentWidget(window.boundary_view)
    # the digits: 64 features, no boundary to draw
    wide = SimpleNamespace(
        problem=SimpleNamespace(split=SimpleNamespace(x_train=np.zeros((5, 64))))
    )
    frame = net_frame(case, dataclasses.replace(net, boundary=None))
    frame = dataclasses.replace(frame, snapshot=dataclasses.replace(frame.snapshot, built=wide))
    window._on_frame(frame)
    assert visible_tabs(window) == ["Surface", "Interpolation"]
    assert window.views.currentWidget() is window.surface_view  # its tab went: back home
    window._on_frame(window.controller.current_frame())  # a 2-D problem again
    assert visible_tabs(window) == ["Surface"]


MOONS_FILE = """
title = "moons"
seed = 2
steps = 40

[problem]
kind = "mlp"
dataset = "moons"
samples = 200
hidden = [8]
batch_norm = true

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.1
batch_size = 16

[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.01
batch_size = 16
"""


def test_a_network_trained_in_the_app_draws_its_projected_paths(window, qtbot, tmp_path):
    path = tmp_path / "moons.toml"
    path.write_text(MOONS_FILE)
    assert window.open_path(path, ask=False)
    c = window.controller
    assert c.wait_until_computed(60)
    c.pause()
    c.seek(c.total_steps)
    frame = c.current_frame()
    network = frame.snapshot.network
    assert network is not None
    window.surface_view.draw(frame)
    rows = np.searchsorted(network.path_steps, frame.head, side="right")
    for run in range(2):
        col = frame.column(run)
        expected = network.path_coords[:rows, col]
        expected = expected[np.isfinite(expected).all(axis=1)]
        x, y = window.surface_view.path_data(run)
        np.testing.assert_allclose(np.column_stack([x, y]), expected)
    assert visible_tabs(window) == ["Surface", "Decision boundary", "Interpolation"]
    assert window.surface_view.plane_text.text() == network.plane_text
    # the chooser lays the slice on another plane through the session, and it comes back
    view = window.surface_view
    view.plane_chooser.choose("random", (1,))
    assert (c.plane_kind, c.plane_runs) == ("random", (1,))
    c.wait_until_computed(60)

    def random_plane_drawn():
        frame = c.current_frame()
        return frame is not None and frame.snapshot.network.plane_kind == "random"

    qtbot.waitUntil(random_plane_drawn, timeout=PATIENCE_MS)
    assert view.plane_chooser.kind() == "random"
