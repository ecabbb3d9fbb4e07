"""Figures of a network's views, read back from their plot items: the boundary panels show
the worker's classes, the interpolation its curves, the exported slice the worker's grid and
the projected rows up to the playhead; and they are written as files."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pyqtgraph as pg
import pytest

from gui import exporting, network_figures
from tests.gui.network_fakes import net_frame, picture, trained
from tests.gui.test_boundary_view import decoded_classes


@pytest.fixture(scope="module")
def case():
    return trained()


def items(widget, kind):
    return [item for item in widget.scene().items() if type(item) is kind]


def test_the_boundary_figure_shows_each_visible_runs_classes(qtbot, case):
    net = picture(case)
    experiment = case.experiment.model_copy(deep=True)
    experiment.runs[0].visible = False
    widget = network_figures.boundary_figure(net_frame(case, net, experiment=experiment), "t")
    images = sorted(items(widget, pg.ImageItem), key=lambda im: im.mapToScene(0, 0).x())
    assert len(images) == 2
    for image, run in zip(images, (1, 2), strict=True):
        np.testing.assert_array_equal(decoded_classes(image.image), net.boundary.classes[run])
    widget.close()


def test_the_interpolation_figure_draws_the_workers_curves(qtbot, case):
    net = picture(case)
    widget = network_figures.interpolation_figure(net_frame(case, net), "t")
    drawn = {}
    for item in items(widget, pg.PlotDataItem):
        x, y = item.getData()
        drawn[tuple(np.round(y[:3], 12))] = (x, y)
    t = net.interpolation.t
    for values in net.interpolation.curves.values():
        x, y = drawn[tuple(np.round(values[:3], 12))]
        np.testing.assert_array_equal(x, t)
        np.testing.assert_array_equal(y, values)
    widget.close()


def test_the_exported_slice_is_the_workers_grid_and_the_revealed_paths(qtbot, case):
    net = picture(case)
    head = 10
    frame = net_frame(case, net, head=head)
    widget = exporting.surface_figure(frame)
    rows = int(np.searchsorted(net.path_steps, head, side="right"))
    lines = [item for item in items(widget, pg.PlotDataItem) if item.getData()[0] is not None]
    drawn = [np.column_stack(item.getData()) for item in lines]
    for run in range(3):
        expected = net.path_coords[:rows, run]
        assert any(d.shape == expected.shape and np.allclose(d, expected) for d in drawn), run
    (image,) = items(widget, pg.ImageItem)
    assert image.image.shape == frame.snapshot.surface.z.shape  # drawn, not recomputed
    widget.close()


@pytest.mark.parametrize("which", ["boundary", "interpolation", "surface"])
def test_network_figures_are_written(qtbot, case, tmp_path, which):
    frame = net_frame(case, picture(case))
    png = exporting.export_figure(frame, which, tmp_path / f"{which}.png", scale=1)
    svg = exporting.export_figure(frame, which, tmp_path / f"{which}.svg")
    assert png.stat().st_size > 5_000
    text = svg.read_text()
    assert text.count("<path") + text.count("<polyline") > 50  # lines stay vectors


def test_no_boundary_to_export_says_why(case, tmp_path):
    net = dataclasses.replace(picture(case), boundary=None)
    with pytest.raises(ValueError, match="2-D data set"):
        exporting.export_figure(net_frame(case, net), "boundary", tmp_path / "b.png")


def test_the_animation_of_a_slice_films_the_paths_growing(qtbot, case):
    frame = net_frame(case, picture(case))
    images = exporting.animation_frames(frame, count=3, size=(420, 360))
    assert len(images) == 3
    changed = [np.abs(a.astype(int) - b.astype(int)).sum() for a, b in itertools.pairwise(images)]
    assert all(c > 0 for c in changed)  # the paths grow from frame to frame
