"""Opening a network right after a 2-D problem: the first frames pair the new document (the
network) with the worker's last snapshot (the 2-D problem's) until the network's arrives.
The surface view draws such a frame without reading a start the network does not have."""

from __future__ import annotations

import dataclasses

from gui.theme import LIGHT
from gui.widgets.surface_view import SurfaceView
from tests.gui.network_fakes import trained
from tests.gui.test_drawing import BOWL, computed


def test_a_network_document_over_a_2d_snapshot_draws_without_error(qtbot):
    view = SurfaceView(None, LIGHT)
    qtbot.addWidget(view)
    old = computed(BOWL)
    view.draw(old)
    network = trained().experiment
    view.draw(dataclasses.replace(old, experiment=network))  # raised AttributeError: start
