"""The session: frames pair each run of the document with its own column of the snapshot,
the GUI thread never evaluates the surface, and the status says why nothing is computing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from engine.experiment import parse_experiment
from engine.problems.functions import FunctionProblem
from engine.problems.regression import LinearRegressionProblem
from gui.session import progress_text
from tests.gui.waiting import PATIENCE_MS


def settle(window):
    assert window.controller.wait_until_computed(30)
    return window.controller.current_frame()


def legend_labels(view) -> list[str]:
    return [label.text for _sample, label in view.legend.items]


def test_removing_a_run_while_an_older_snapshot_is_shown_keeps_paths_with_their_runs(
    window, qtbot, monkeypatch
):
    c = window.controller
    old = c.snapshot
    runs = [r.display_label for r in c.experiment.runs]
    assert len(runs) >= 2
    before = {i: window.surface_view.path_data(i) for i in range(len(runs))}
    loss_before = [item.getData()[1].copy() for item in window.curves_view.items["loss"]]
    window.runs_panel.update_status(c.current_frame())
    status_before = [window.runs_panel.status_text(i) for i in range(len(runs))]
    # the new job's snapshot never comes: the views must draw the old one with the new
    # document (what they do for a moment after every removal, longer for a slow job)
    monkeypatch.setattr(c.worker, "submit", lambda job: None)
    c.remove_run(0)
    frame = c.current_frame()
    assert frame.snapshot is old
    for i in range(len(runs) - 1):  # document run i is the old run i + 1
        x, y = window.surface_view.path_data(i)
        np.testing.assert_array_equal(x, before[i + 1][0])
        np.testing.assert_array_equal(y, before[i + 1][1])
    panel = window.runs_panel
    qtbot.waitUntil(
        lambda: [panel.status_text(i) for i in range(len(runs) - 1)] == status_before[1:],
        timeout=PATIENCE_MS,
    )
    assert frame.column(0) == 1
    assert not window.surface_view.paths[len(runs) - 1].isVisible()
    assert [t for t in legend_labels(window.surface_view) if t != "minimum"] == runs[1:]
    items = window.curves_view.items["loss"]
    qtbot.waitUntil(
        lambda: np.array_equal(items[0].getData()[1], loss_before[1]), timeout=PATIENCE_MS
    )


@pytest.fixture
def surface_calls(monkeypatch):
    """Which thread evaluates a problem's surface: True for each call on the GUI thread."""
    calls: list[bool] = []
    for cls in (FunctionProblem, LinearRegressionProblem):
        original = cls.surface

        def spy(self, w1, w2, original=original):
            calls.append(threading.current_thread() is threading.main_thread())
            return original(self, w1, w2)

        monkeypatch.setattr(cls, "surface", spy)
    return calls


def hover(view, x: float, y: float) -> str:
    view._on_hover((view.viewbox.mapViewToScene(QPointF(x, y)),))
    return view.readout.text()


def test_the_gui_thread_never_evaluates_the_surface(window, qtbot, surface_calls):
    c = window.controller
    view = window.surface_view
    c.update_problem(name="himmelblau", start=None, view=None)  # a new surface
    settle(window)
    for x, y in ((0.1, 0.2), (1.0, -1.0), (2.5, 2.5)):
        assert "L ≈" in hover(view, x, y)
    qtbot.waitUntil(lambda: "L = " in view.readout.text(), timeout=PATIENCE_MS)
    serial = c.snapshot.surface.serial
    (x0, x1), (y0, y1) = view.viewbox.viewRange()
    view.viewbox.setRange(xRange=(x0 / 4, x1 / 4), yRange=(y0 / 4, y1 / 4), padding=0)
    qtbot.waitUntil(
        lambda: c.current_frame() and c.snapshot.surface.serial > serial, timeout=PATIENCE_MS
    )
    assert view._grid_rect == pytest.approx(c.snapshot.surface.rect)
    c.update_problem(kind="linear_regression", samples=64)
    settle(window)
    hover(view, 0.5, 0.5)
    assert surface_calls, "the worker computes the surfaces"
    assert not any(surface_calls), "the GUI thread called Problem.surface"


def read_value(text: str, sign: str) -> float:
    return float(text.split(f"L {sign} ")[1].replace(",", ""))


def assert_hover_reads_the_surface(c, view, qtbot, x: float, y: float) -> None:
    """At once, interpolated in the worker's grid; then the worker's exact value."""
    text = hover(view, x, y)
    problem = c.snapshot.built.problem
    expected = float(problem.surface(np.array([x]), np.array([y]))[0, 0])
    assert read_value(text, "≈") == pytest.approx(expected, rel=0.02, abs=1e-3)
    qtbot.waitUntil(lambda: "L = " in view.readout.text(), timeout=PATIENCE_MS)
    assert read_value(view.readout.text(), "=") == pytest.approx(expected, rel=1e-3)


def test_the_hover_readout_belongs_to_the_surface_shown(window, qtbot):
    c = window.controller
    view = window.surface_view
    x, y = 0.3, 0.7
    assert_hover_reads_the_surface(c, view, qtbot, x, y)
    # another experiment: the old surface's value is not left standing
    c.set_experiment(
        parse_experiment({"problem": {"kind": "linear_regression", "samples": 50}, "runs": [{}]}),
        None,
        saved=True,
    )
    settle(window)
    assert view.readout.text() == ""
    x0, x1, y0, y1 = c.snapshot.surface.default_rect
    x, y = x0 + 0.3 * (x1 - x0), y0 + 0.6 * (y1 - y0)
    assert_hover_reads_the_surface(c, view, qtbot, x, y)


def test_progress_text():
    assert progress_text(641, 1_000_000, computing=True, waiting=False) == (
        "training 641/1,000,000"
    )
    waiting = progress_text(641, 1_000_000, computing=True, waiting=True)
    assert "641 of 1,000,000" in waiting
    assert "waiting for the playhead" in waiting
    assert progress_text(300, 300, computing=False, waiting=False) == ""


def test_a_paused_long_experiment_says_it_waits_for_the_playhead(window, qtbot):
    c = window.controller
    c.reset()
    c.seek(100)
    c.update_experiment(steps=1_000_000)
    qtbot.waitUntil(
        lambda: (
            c.snapshot is not None
            and c.snapshot.experiment.steps == 1_000_000
            and c.snapshot.computed_step >= 100
            and not c.worker.busy
        ),
        timeout=PATIENCE_MS,
    )
    c._emit_stats()
    text = window.rate_label.text()
    assert "waiting for the playhead" in text
    assert "training" not in text
    c.play()
    qtbot.waitUntil(lambda: c.worker.busy, timeout=PATIENCE_MS)
    c._emit_stats()
    assert window.rate_label.text().startswith("training ")


def test_a_figure_of_an_older_snapshot_labels_each_path_with_its_own_run(window, monkeypatch):
    from gui import exporting

    c = window.controller
    labels = [r.display_label for r in c.experiment.runs]
    c.update_run(1, color="#123456")  # cosmetic: the same snapshot
    monkeypatch.setattr(c.worker, "submit", lambda job: None)  # the new job never comes
    c.remove_run(0)
    frame = c.current_frame()
    assert frame.snapshot.history.n_runs == len(labels)
    names, colors, visible = exporting._styles(frame, len(labels))
    assert names == labels  # column k is still the old run k
    assert visible == [False] + [True] * (len(labels) - 1)  # the removed run is not drawn
    assert colors[1] == "#123456"
    assert exporting.history_at(frame).labels == labels
