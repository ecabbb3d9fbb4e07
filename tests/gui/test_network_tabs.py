"""The main window's middle: the surface alone for a 2-D problem; for a network, tabs for the
slice, the decision boundaries (2-D data sets only) and the interpolation."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from tests.gui.network_fakes import net_frame, picture, trained


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
