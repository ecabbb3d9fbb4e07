"""The headless runner's surface.png of a network marks the paths far off the plane as the
app does: dashed, with each path's off-plane distance in the legend. The distances are
checked against a least-squares residual computed here from the final weights and the
plane's directions (not ``Plane.distance``), the threshold against its definition."""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from gui.figure_files import dispose, run_figure_widgets
from gui.geometry import FAR_OFF_PLANE
from tests.gui.moons_example import trained_moons


def the_plot(widget) -> pg.PlotItem:
    """The figure's plot (not its colour bar, which is a PlotItem too)."""
    items = widget.scene().items()
    return next(i for i in items if isinstance(i, pg.PlotItem) and i.legend is not None)


def residuals(built) -> list[tuple[float, float]]:
    """Each run's final state: its distance from the plane (the residual of the least-squares
    fit by the plane's two directions) and from the plane's origin."""
    plane = built.problem.plane
    directions = np.column_stack([plane.d1, plane.d2])
    params, _ = built.trainer.final_state()
    out = []
    for theta in params:
        offset = theta - plane.origin
        ab, *_ = np.linalg.lstsq(directions, offset, rcond=None)
        out.append((float(np.linalg.norm(offset - directions @ ab)), float(np.linalg.norm(offset))))
    return out


@pytest.fixture(scope="module")
def surface_figure_items(qapp):
    experiment, built, history = trained_moons()
    figures = dict(run_figure_widgets(built, history))
    widget = figures["surface"]()
    plot = the_plot(widget)
    lines = [
        i for i in plot.listDataItems() if isinstance(i, pg.PlotDataItem) and i.xData is not None
    ]
    lines = [i for i in lines if len(i.xData) > 1]  # the paths (the markers are scatters)
    legend = plot.legend
    texts = [label.text for _, label in legend.items]
    yield experiment, built, lines, texts
    dispose(widget)


def test_each_path_far_off_the_plane_is_dashed(surface_figure_items):
    experiment, built, lines, _ = surface_figure_items
    expected = [distance >= FAR_OFF_PLANE * norm for distance, norm in residuals(built)]
    assert len(lines) == len(experiment.runs)
    # the example has both: SGD's path leaves the plane, momentum's and Adam's stay near it
    assert True in expected
    assert False in expected
    styles = [line.opts["pen"].style() for line in lines]
    assert styles == [Qt.PenStyle.DashLine if far else Qt.PenStyle.SolidLine for far in expected]


def test_the_legend_gives_each_paths_off_plane_distance(surface_figure_items):
    experiment, built, _, texts = surface_figure_items
    runs = [t for t in texts if "off-plane" in t]
    assert len(runs) == len(experiment.runs)
    for run, text, (distance, norm) in zip(experiment.runs, runs, residuals(built), strict=True):
        assert text.startswith(run.display_label)
        match = re.search(r"off-plane distance ([0-9.e+-]+) \((\d+)% of ‖θ − origin‖\)", text)
        assert match is not None, text
        assert float(match.group(1)) == pytest.approx(distance, rel=0.06)  # (two digits)
        assert int(match.group(2)) == round(100 * distance / norm)


def test_a_2d_problems_figure_is_drawn_solid_and_says_nothing_of_a_plane(qapp):
    from engine.experiment import build, parse_experiment

    experiment = parse_experiment(
        {"steps": 20, "problem": {"kind": "function", "name": "rosenbrock"},
         "runs": [{"optimizer": "sgd", "lr": 0.001}]}
    )  # fmt: skip
    built = build(experiment)
    history = built.trainer.run()
    widget = dict(run_figure_widgets(built, history))["surface"]()
    try:
        plot = the_plot(widget)
        pens = [i.opts["pen"] for i in plot.listDataItems() if isinstance(i, pg.PlotDataItem)]
        assert pens
        assert all(pg.mkPen(p).style() != Qt.PenStyle.DashLine for p in pens)
        assert not any("off-plane" in label.text for _, label in plot.legend.items)
    finally:
        dispose(widget)


def test_the_apps_slice_export_dashes_the_paths_far_off_the_plane_at_the_playhead(qtbot):
    """The Export menu's slice: the same rule, at each path's last point up to the playhead."""
    import dataclasses

    from gui import exporting
    from tests.gui.network_fakes import net_frame, picture, trained

    case = trained()
    net = picture(case, boundary=False, interpolation=False)
    head = 10
    row = int(np.searchsorted(net.path_steps, head, side="right")) - 1
    distance = net.path_distance.copy()
    distance[row] = net.path_norm[row] * np.array([0.49, 0.5, 2.0])  # at the playhead
    distance[row + 1 :] = 0.0  # later rows (not revealed) on the plane: they must not count
    net = dataclasses.replace(net, path_distance=distance)
    widget = exporting.surface_figure(net_frame(case, net, head=head))
    try:
        plot = the_plot(widget)
        lines = [i for i in plot.listDataItems() if isinstance(i, pg.PlotDataItem)]
        lines = [i for i in lines if i.xData is not None and len(i.xData) > 1]
        styles = [line.opts["pen"].style() for line in lines]
        solid, dashed = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine
        assert styles == [solid, dashed, dashed]  # 0.49 < 0.5 ≤ 0.5 ≤ 2: FAR_OFF_PLANE
    finally:
        dispose(widget)


def test_a_final_point_at_the_planes_origin_is_judged_by_its_paths_scale(qapp, monkeypatch):
    """A plane laid through a run's final point (to rounding, 1e-12 off it): that point's
    distance and its norm are both rounding, and only the path's scale (its farthest kept
    state from the origin) tells that the distance is nothing. The legend says 0 and the
    path is drawn solid, as in the app (``geometry.off_plane_distance``)."""
    from engine.plane import Plane

    experiment, built, history = trained_moons()
    plane = built.problem.plane
    final = np.asarray(built.trainer.final_state()[0][0], float)
    rng = np.random.default_rng(3)
    basis, _ = np.linalg.qr(np.column_stack([plane.d1, plane.d2, rng.standard_normal(final.size)]))
    off = basis[:, 2]  # a unit vector off the plane
    monkeypatch.setattr(built.problem, "plane", Plane(final + 1e-12 * off, plane.d1, plane.d2))
    widget = dict(run_figure_widgets(built, history))["surface"]()
    try:
        plot = the_plot(widget)
        first = next(t for _, label in plot.legend.items if "off-plane" in (t := label.text))
        assert first.startswith(experiment.runs[0].display_label)
        assert re.search(r"off-plane distance 0\b", first), first
        lines = [i for i in plot.listDataItems() if isinstance(i, pg.PlotDataItem)]
        lines = [i for i in lines if i.xData is not None and len(i.xData) > 1]
        assert lines[0].opts["pen"].style() == Qt.PenStyle.SolidLine
    finally:
        dispose(widget)
