"""The surface view on a network's slice: what it draws is the picture's projected reservoir
rows revealed up to the playhead (checked against the arrays themselves and the brute-force
deviation oracle), each path's distance from the plane, the plane chooser, and a start that
refuses to be dragged, saying why."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.experiment import parse_experiment
from gui.document import Document
from gui.main_window import MainWindow
from gui.theme import LIGHT
from gui.widgets.plane_chooser import RUNS_NEEDED
from gui.widgets.surface_view import (
    MAX_PATH_POINTS,
    NETWORK_START_REFUSAL,
    NO_PICTURE_YET,
    SurfaceView,
)
from tests.gui.network_fakes import MOONS, net_frame, picture, spiral_paths, trained
from tests.gui.test_drawing import BOWL, computed, offscreen
from tests.oracles import polyline_deviation


class FakeSession:
    """Records what the view asks of the session."""

    def __init__(self):
        self.planes = []
        self.starts = []
        self.plane_runs = ()

    def set_plane(self, kind, runs=()):
        self.planes.append((kind, tuple(runs)))

    def set_start(self, w1, w2):
        self.starts.append((w1, w2))

    def request_surface(self, key, rect):
        pass

    def request_value(self, key, w1, w2):
        pass


@pytest.fixture(scope="module")
def case():
    return trained()


@pytest.fixture
def view(qtbot):
    v = offscreen(qtbot, SurfaceView(None, LIGHT), (760, 620))
    v.controller = FakeSession()
    return v


def drawn(view, run):
    x, y = view.path_data(run)
    return np.column_stack([x, y])


def head_points(view) -> np.ndarray:
    data = view.heads.data
    return np.column_stack([data["x"], data["y"]])


def test_each_path_is_its_projected_rows_up_to_the_head(view, case):
    steps = np.arange(0, 31, 2)  # a reservoir row every other step
    coords = spiral_paths(steps, 3)
    coords[3:5, 1] = np.nan  # run 1 has no state at those rows
    coords[8:, 1] = np.nan  # nor from row 8: its head is at its last state, row 7
    net = picture(case, path_steps=steps, coords=coords)
    head = 18  # reveals steps 0 … 18: rows 0 … 9 (a reservoir step: the row is shown)
    view.draw(net_frame(case, net, head=head))
    revealed = steps <= head
    for run in range(3):
        rows = coords[revealed, run]
        expected = rows[np.isfinite(rows).all(axis=1)]
        np.testing.assert_array_equal(drawn(view, run), expected)
    # the dots sit at each run's last revealed state it has
    np.testing.assert_array_equal(head_points(view), [coords[9, 0], coords[7, 1], coords[9, 2]])
    # the start is where the initial weights project, whichever run's row 0
    assert (view.start.pos().x(), view.start.pos().y()) == pytest.approx(tuple(coords[0, 0]))
    assert not view.arrows_box.isEnabled()  # no 2-D gradient on a slice


def test_a_long_reservoir_is_thinned_as_a_path_is_and_keeps_its_shape(view, case):
    steps = np.arange(40_000)
    coords = np.zeros((len(steps), 3, 2))
    k = steps.astype(float)
    angle = np.cumsum(0.2 * np.exp(-k / 2000.0))
    radius = 2.5 * np.exp(-k / 30000.0)
    coords[:, :] = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])[:, None]
    net = picture(case, path_steps=steps, coords=coords, boundary=False, interpolation=False)
    frame = net_frame(case, net, head=int(steps[-1]))
    view.draw(frame)
    points = drawn(view, 0)
    assert len(points) <= MAX_PATH_POINTS + 1
    full = coords[:, 0]
    index = np.flatnonzero(np.isin(full[:, 0], points[:, 0]))
    assert len(index) == len(points)
    assert (index[0], index[-1]) == (0, len(full) - 1)
    assert polyline_deviation(full, index, view._default_rect) < 1e-3
    # half-way: the revealed rows only, ending at the head's row
    view.draw(net_frame(case, net, head=20_000))
    points = drawn(view, 0)
    assert tuple(points[-1]) == pytest.approx(tuple(full[20_000]))
    assert np.isin(points[:, 0], full[:20_001, 0]).all()


def test_a_new_plane_redraws_the_paths_from_the_new_projection(view, case):
    net = picture(case)
    view.draw(net_frame(case, net))
    moved = picture(case, coords=net.path_coords * 0.5 + 0.25)  # same steps, another plane
    view.draw(net_frame(case, moved))
    for run in range(3):
        np.testing.assert_array_equal(drawn(view, run), moved.path_coords[:, run])


def legend_texts(view) -> list[str]:
    return [label.text for _, label in view.legend.items]


def test_the_legend_says_how_far_each_path_lies_off_the_plane_at_the_head(view, case):
    net = picture(case)
    head = 12
    view.draw(net_frame(case, net, head=head))
    row = int(np.searchsorted(net.path_steps, head, side="right")) - 1
    texts = legend_texts(view)
    assert len(texts) == 3
    for run, text in enumerate(texts):
        d, norm = net.path_distance[row, run], net.path_norm[row, run]
        match = re.search(r"off-plane distance ([0-9.e+-]+) \((\d+)% of ‖θ − origin‖\)", text)
        assert match is not None, text
        assert float(match.group(1)) == pytest.approx(d, rel=0.06)
        assert int(match.group(2)) == round(100 * d / norm)
    assert texts[0].startswith("sgd")


def test_a_path_far_off_the_plane_is_dashed(view, case):
    net = picture(case)
    row = len(net.path_steps) - 1
    distance = net.path_distance.copy()
    distance[row] = net.path_norm[row] * np.array([0.49, 0.5, 2.0])  # at the head
    view.draw(net_frame(case, dataclasses.replace(net, path_distance=distance)))
    styles = [view.paths[run].opts["pen"].style() for run in range(3)]
    solid, dashed = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine
    assert styles == [solid, dashed, dashed]


def test_a_path_the_legend_puts_on_the_plane_is_drawn_solid(view, case):
    # a random plane around sgd's point: sgd lies on it at the head, distance and norm 0;
    # a three-point plane's run lies on it up to rounding (2.7e-16 of a norm of 1.3). The
    # legend says 0 for both and draws both solid; a run 60% of its norm off is dashed.
    net = picture(case)
    row = len(net.path_steps) - 1
    distance, norm = net.path_distance.copy(), net.path_norm.copy()
    distance[row], norm[row] = (0.0, 2.7e-16, 0.6), (0.0, 1.3, 1.0)
    view.draw(net_frame(case, dataclasses.replace(net, path_distance=distance, path_norm=norm)))
    texts = legend_texts(view)
    assert texts[0].endswith("sgd  · off-plane distance 0")
    assert texts[1].endswith("adam  · off-plane distance 0 (0% of ‖θ − origin‖)")
    assert texts[2].endswith("momentum  · off-plane distance 0.6 (60% of ‖θ − origin‖)")
    styles = [view.paths[run].opts["pen"].style() for run in range(3)]
    assert styles == [Qt.PenStyle.SolidLine, Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine]


def test_plane_coordinates_are_labelled_as_they_are(view, case):
    """Axis values are the plane's own, at every scale: no "(x0.001)" on the axis."""
    view.draw(computed(BOWL))  # a 2-D problem first, zoomed in
    view.viewbox.setRange(xRange=(-0.2, 0.2), yRange=(-0.2, 0.2), padding=0)
    net = picture(case)
    frame = net_frame(case, net)
    # the picture before its slice: the view is still the old one when the mode changes
    view.draw(
        dataclasses.replace(frame, snapshot=dataclasses.replace(frame.snapshot, surface=None))
    )
    view.draw(frame)
    for rect in ((-0.003, 0.003), (-3000.0, 3000.0), (-1.5, 1.5)):
        view.viewbox.setRange(xRange=rect, yRange=rect, padding=0)
        for name in ("bottom", "left"):
            axis = view.plot.getAxis(name)
            assert (axis.autoSIPrefixScale, axis.labelUnitPrefix) == (1.0, "")


def test_the_plane_text_is_shown_and_the_chooser_asks_the_session(view, case):
    net = picture(case)
    view.draw(net_frame(case, net))
    assert view.plane_text.isVisible()
    assert view.plane_text.text() == net.plane_text
    assert "eval mode" in view.plane_text.text()
    assert view.plane_chooser.isVisible()
    assert view.plane_chooser.kind() == "trajectory"
    view.plane_chooser.choose("random", (2,))
    view.plane_chooser.choose("three_point", (0, 2))
    view.plane_chooser.choose("trajectory")
    assert view.controller.planes == [("random", (2,)), ("three_point", (0, 2)), ("trajectory", ())]


def _send(widget, kind, pos: QPoint, buttons) -> None:
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), Qt.MouseButton.LeftButton,
        buttons, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def drag(view, start: QPoint, end: QPoint) -> None:
    """A left-button drag across the plot, as the mouse makes it."""
    viewport = view.plot_widget.viewport()
    left = Qt.MouseButton.LeftButton
    _send(viewport, QMouseEvent.Type.MouseButtonPress, start, left)
    for k in range(1, 11):
        p = start + (end - start) * (k / 10)
        _send(viewport, QMouseEvent.Type.MouseMove, p, left)
    _send(viewport, QMouseEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def start_on_screen(view) -> QPoint:
    scene = view.viewbox.mapViewToScene(view.start.pos())
    return view.plot_widget.mapFromScene(scene)


def test_dragging_a_networks_start_is_refused_with_the_reason_on_the_plot(view, case):
    net = picture(case)
    view.draw(net_frame(case, net))
    before = (view.start.pos().x(), view.start.pos().y())
    refusals = []
    view.sig_refused.connect(refusals.append)
    p = start_on_screen(view)
    drag(view, p, p + QPoint(80, -60))
    assert view.controller.starts == []
    assert (view.start.pos().x(), view.start.pos().y()) == before
    assert refusals == [NETWORK_START_REFUSAL]
    assert view.notice.isVisible()
    assert NETWORK_START_REFUSAL in view.notice.text()


def test_the_refusal_is_the_documents_and_names_what_exists_to_do_instead():
    # the view and the document refuse with one text; it says why (the initial weights)
    # and points at controls that exist: the seed (Problem panel), the file's init, the
    # plane chooser ("Plane:" above the plot). The old text sent the user to an "init in
    # the problem panel" that the panel does not have.
    assert Document(parse_experiment(MOONS)).set_start(0.5, 0.5) == NETWORK_START_REFUSAL
    text = NETWORK_START_REFUSAL
    assert "initial weights" in text
    assert "seed (Problem)" in text
    assert "the file's init" in text
    assert "Plane" in text
    assert "init in the problem panel" not in text.lower()


def test_the_refusal_does_not_hide_the_hover_readout(view, case):
    view.draw(net_frame(case, picture(case)))
    # the legend along the bottom edge puts the read-out at the top left, where the
    # refusal is shown: it moves under the refusal while that shows, and back after
    view._legend_place = (1.0, 1.0)
    view.set_readout("a = 1   b = 2   L ≈ 0.3\nsgd, step 10: off-plane distance 0.1")
    home = view.readout.geometry()
    view.refuse(NETWORK_START_REFUSAL)
    assert view.notice.isVisible()
    # on as few lines as the plot's width allows (adjustSize made a column of three)
    margins = view.notice.contentsMargins()
    text_height = view.notice.height() - margins.top() - margins.bottom()
    assert text_height < 2 * view.notice.fontMetrics().lineSpacing(), text_height
    assert view.readout.isVisible()
    assert not view.readout.geometry().intersects(view.notice.geometry())
    view.set_readout("a = 2   b = 1   L ≈ 0.4")  # the pointer moves on: still clear of it
    assert not view.readout.geometry().intersects(view.notice.geometry())
    view.set_readout("a = 1   b = 2   L ≈ 0.3\nsgd, step 10: off-plane distance 0.1")
    view._notice_timer.timeout.emit()  # the refusal's seconds are over
    assert not view.notice.isVisible()
    assert view.readout.geometry() == home


def test_on_a_slice_the_tooltips_and_the_shortcuts_say_the_start_stays(view, case, monkeypatch):
    shown = []
    monkeypatch.setattr(
        "gui.main_window.QMessageBox.information", lambda _p, _t, text: shown.append(text)
    )
    window = type("Window", (), {"surface_view": view})()
    view.draw(net_frame(case, picture(case)))
    MainWindow.show_shortcuts(window)
    for text in (view.plot_widget.toolTip(), view.start.toolTip(), shown[-1]):
        assert "can't be dragged" in text
        assert "move the start" not in text
        assert "to move where" not in text
    view.draw(computed(BOWL))  # a 2-D problem: the ✛ drags again, and every text says so
    MainWindow.show_shortcuts(window)
    for text in (view.plot_widget.toolTip(), view.start.toolTip(), shown[-1]):
        assert "Drag the ✛" in text or "drag the ✛" in text
        assert "can't be dragged" not in text


def test_a_2d_problems_start_still_drags(view):
    view.draw(computed(BOWL))
    assert not view.plane_chooser.isVisible()
    p = start_on_screen(view)
    drag(view, p, p + QPoint(80, -60))
    assert view.controller.starts  # the drag moved the start
    assert not view.notice.isVisible()


def test_the_chooser_shows_the_plane_the_session_has(view, case):
    view.controller.plane_runs = (2,)
    net = dataclasses.replace(picture(case), plane_kind="random")
    view.draw(net_frame(case, net))
    assert (view.plane_chooser.kind(), view.plane_chooser.runs()) == ("random", (2,))
    assert view.plane_chooser.run_boxes[0].isVisible()
    assert not view.plane_chooser.run_boxes[1].isVisible()
    assert view.controller.planes == []  # showing it asks for nothing


def test_a_network_before_its_first_picture_draws_no_path(view, case):
    view.draw(net_frame(case, None))  # the history's coords are placeholders (zeros)
    assert all(drawn(view, run).size == 0 for run in range(3))
    assert len(head_points(view)) == 0
    assert view.plane_chooser.isVisible()
    assert view.plane_text.text() == NO_PICTURE_YET
    net = picture(case)
    view.draw(net_frame(case, net))
    np.testing.assert_array_equal(drawn(view, 0), net.path_coords[:, 0])


def test_each_plane_entry_reads_whole_and_the_header_fits_at_1366(view, case):
    # "random, filter-normalized, around" and "through the start and" read as cut off:
    # each entry ends in what it needs (a run, two runs), the closed box shows the whole
    # chosen entry, and with its run choosers the header still fits the surface's width
    # at 1366 pixels (660 there, in the app's 10 pt font, the tests' too),
    # the kind box as wide as its chosen entry
    chooser = view.plane_chooser
    box = chooser.kind_box
    entries = {box.itemData(i): box.itemText(i) for i in range(box.count())}
    assert entries["random"].endswith("a run:")
    assert entries["three_point"].endswith("two runs:")
    view.resize(660, 620)
    for kind, runs in (("random", (1,)), ("three_point", (0, 2)), ("trajectory", ())):
        net = dataclasses.replace(picture(case), plane_kind=kind)
        view.controller.plane_runs = runs
        view.draw(net_frame(case, net))
        QApplication.processEvents()
        assert chooser.kind() == kind
        text = box.fontMetrics().horizontalAdvance(entries[kind])
        assert box.width() >= text + 20, kind  # the entry and the arrow
        assert chooser.width() >= chooser.sizeHint().width(), kind  # not squeezed
        right = chooser.mapTo(view, chooser.rect().topRight()).x()
        assert right < view.arrows_box.mapTo(view, view.arrows_box.rect().topLeft()).x(), kind
        shown = chooser.run_boxes[RUNS_NEEDED[kind] - 1] if RUNS_NEEDED[kind] else box
        assert shown.mapTo(view, shown.rect().topRight()).x() <= right
    box.showPopup()  # the menu shows every entry whole, the widest included
    widest = max(box.fontMetrics().horizontalAdvance(t) for t in entries.values())
    assert box.view().width() >= widest
    box.hidePopup()
