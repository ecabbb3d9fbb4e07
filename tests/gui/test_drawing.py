"""What the live views and the figures draw, read back from their plot items and checked
against the engine's own states, hand-computed steps and ``gui.geometry``'s oracles."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from engine.experiment import build, parse_experiment
from engine.training import History
from gui import figures, geometry
from gui.snapshot import Frame, Snapshot, Surface, surface_key
from gui.theme import LIGHT
from gui.widgets import curves_view
from gui.widgets.curve_item import Curve
from gui.widgets.curves_view import CurvesView
from gui.widgets.surface_view import ARROW_PIXELS, MAX_PATH_POINTS, SurfaceView
from tests.oracles import polyline_deviation

START = (2.0, 1.0)
BOWL = {  # f = (x² + y²)/2: ∇f = w, so every step can be worked out by hand
    "steps": 3,
    "problem": {
        "kind": "function",
        "name": "elongated_quadratic",
        "condition": 1.0,
        "start": list(START),
    },
    "runs": [
        {"label": "momentum", "optimizer": "momentum", "lr": 0.1, "momentum": 0.9},
        {"label": "sgd", "optimizer": "sgd", "lr": 0.1},
    ],
}

DIVERGING = {
    "steps": 60,
    "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.2, 1.0]},
    "runs": [
        {"label": "fine", "optimizer": "sgd", "lr": 0.001},
        {"label": "wild", "optimizer": "sgd", "lr": 0.01},
    ],
}

EXACT_ZERO = {  # SGD with η = 1 on (x² + y²)/2 lands on the minimum at step 1: loss 0
    "steps": 10,
    "problem": {"kind": "function", "name": "elongated_quadratic", "condition": 1.0},
    "runs": [{"optimizer": "sgd", "lr": 1.0}, {"optimizer": "sgd", "lr": 0.5}],
}


def computed(data: dict, head: int | None = None) -> Frame:
    """A frame of an experiment computed to the end, shown at ``head`` (default: the end)."""
    experiment = parse_experiment(data)
    built = build(experiment)
    return frame_of(experiment, built, built.trainer.run(), head)


def surface_of(experiment, built) -> Surface:
    """The surface the worker would publish with the experiment (a coarse grid)."""
    problem = built.problem
    spec = experiment.problem.view
    view = geometry.view_tuple(spec if spec is not None else problem.default_view())
    z = np.asarray(problem.surface(*geometry.pixel_centres(view, 64)), float)
    minima = np.asarray(problem.minima(), float).reshape(-1, 2)
    return Surface(
        key=surface_key(experiment),
        serial=1,
        rect=view,
        z=z,
        default_rect=view,
        minima=minima,
        minima_loss=tuple(float(problem.surface([a], [b]).ravel()[0]) for a, b in minima),
        start=(float(problem.start[0]), float(problem.start[1])),
        formula=figures.problem_subtitle(problem) or "",
        axis_names=tuple(getattr(problem, "axis_names", ("w1", "w2"))),
    )


def frame_of(experiment, built, h: History, head=None, done=True, count=None) -> Frame:
    count = h.count if count is None else count
    head = int(h.step[count - 1]) if head is None else head
    snapshot = Snapshot(
        job_id=1,
        experiment=experiment,
        built=built,
        history=h,
        count=count,
        computed_step=int(h.step[count - 1]),
        diverged_at=np.asarray(h.diverged_at).copy(),
        done=done,
        surface=surface_of(experiment, built),
    )
    rows = int(np.searchsorted(h.step[:count], head, side="right"))
    return Frame(snapshot, experiment, head, rows, True, -1)


def offscreen(qtbot, widget, size):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.show()
    QApplication.processEvents()
    return widget


@pytest.fixture
def surface(qtbot):
    return offscreen(qtbot, SurfaceView(None, LIGHT), (700, 600))


@pytest.fixture
def curves(qtbot):
    return offscreen(qtbot, CurvesView(None, LIGHT), (420, 700))


def points_of(item) -> np.ndarray:
    x, y = item.xData, item.yData
    return np.column_stack([x, y]) if x is not None else np.zeros((0, 2))


# ---- arrows --------------------------------------------------------------------------------


def test_arrows_are_the_engines_momentum_update_and_gradient_step(surface):
    frame = computed(BOWL, head=2)
    surface.set_show_arrows(True)
    surface.draw(frame)
    w0 = np.array(START)
    # by hand (PyTorch's momentum, ∇f = w): b₁ = w₀, w₁ = 0.9 w₀; b₂ = 0.9 b₁ + w₁ = 1.8 w₀,
    # w₂ = w₁ − 0.1 b₂ = 0.72 w₀; the momentum in parameter units is −η b₂ = −0.18 w₀.
    # SGD: w₂ = 0.81 w₀, its last update w₂ − w₁ = −0.09 w₀
    h = frame.history
    cases = [(0, 0.72 * w0, -0.18 * w0, h.velocity), (1, 0.81 * w0, -0.09 * w0, h.update)]
    px, py = surface.viewbox.viewPixelSize()
    lengths = []
    for run, position, motion, recorded in cases:
        assert h.coords[2, run] == pytest.approx(position)
        assert recorded[2, run] == pytest.approx(motion)  # the engine agrees with the hand
        assert surface.update_arrows[run].isVisible()
        arrow = points_of(surface.update_arrows[run])
        assert arrow[0] == pytest.approx(position)  # from where the run is
        drawn = arrow[1] - arrow[0]
        # along the motion, not against it: a positive multiple of it
        scale = drawn @ motion / (motion @ motion)
        assert scale > 0
        assert drawn == pytest.approx(scale * motion, rel=1e-6, abs=1e-12)
        length = math.hypot(drawn[0] / px, drawn[1] / py)
        assert length == pytest.approx(geometry.arrow_pixels(motion, px, py, ARROW_PIXELS))
        lengths.append(length)
    assert lengths[0] > lengths[1]  # twice the displacement: a longer arrow
    # the thin arrows: −η∇L = −0.1 w₂ from each current position (momentum's first)
    grad = points_of(surface.gradient_arrows)
    assert grad[0] == pytest.approx(0.72 * w0)
    step = grad[1] - grad[0]
    assert step @ (-w0) > 0
    assert step[0] * w0[1] == pytest.approx(step[1] * w0[0])  # parallel to w₀


def test_a_run_at_rest_shows_no_arrow(surface):
    frame = computed({**BOWL, "steps": 600})
    surface.set_show_arrows(True)
    surface.draw(frame)
    assert np.abs(frame.history.velocity[-1, 0]).max() < 1e-12  # converged
    assert not any(item.isVisible() for item in surface.update_arrows)
    assert len(points_of(surface.gradient_arrows)) == 0


# ---- a diverged run ------------------------------------------------------------------------


def test_a_diverged_runs_cross_sits_on_the_edge_where_the_figure_puts_it(surface):
    frame = computed(DIVERGING)
    h = frame.history
    assert h.diverged_at[1] > 0
    surface.draw(frame)
    view = surface._default_rect
    crosses = np.column_stack(surface.crosses.getData())
    assert len(crosses) == 1
    # independent: the full path, pulled in, leaves the view for good at its edge
    path = geometry.finite_path(h.coords[: h.last_finite(1) + 1, 1])
    expected = geometry.exit_point(geometry.pull_in(path, view), view)
    assert crosses[0] == pytest.approx(expected)
    x0, x1, y0, y1 = view
    assert x0 <= crosses[0][0] <= x1
    assert y0 <= crosses[0][1] <= y1
    on_edge = np.isclose(crosses[0], [x0, y0]) | np.isclose(crosses[0], [x1, y1])
    assert on_edge.any()
    # the exported figure, in the same view, marks the same point
    widget = figures.surface_figure(frame.snapshot.built.problem, h, view=view)
    marks = [
        item
        for item in widget.scene().items()
        if isinstance(item, pg.ScatterPlotItem) and item.opts["symbol"] == "x"
    ]
    assert len(marks) == 1
    x, y = marks[0].getData()
    assert (x[0], y[0]) == pytest.approx(tuple(expected))
    widget.close()


def test_a_clipped_path_is_one_polyline_ending_where_it_leaves(qtbot):
    # a run that leaves the view once, on its way to infinity
    experiment = parse_experiment(BOWL)
    built = build(experiment)
    h = History.empty(["away"], np.arange(6))
    h.coords[:, 0] = [[0, 0], [0.5, 0.25], [1, 0.75], [3, 2.75], [1e6, 1e6], [np.inf, np.inf]]
    h.diverged_at[0] = 5
    h.count = 6
    view = (-1.5, 1.5, -1.5, 1.5)
    widget = figures.surface_figure(built.problem, h, view=view)
    lines = [item for item in widget.scene().items() if isinstance(item, pg.PlotDataItem)]
    assert len(lines) == 1
    assert isinstance(lines[0].opts["connect"], str)  # one unbroken line, not segments
    assert lines[0].opts["connect"] == "all"
    x, y = lines[0].getData()
    # by hand: (1, 0.75) → (3, 2.75) leaves through x = 1.5 at (1.5, 1.25)
    drawn = np.column_stack([x, y])
    assert drawn == pytest.approx(np.array([[0, 0], [0.5, 0.25], [1, 0.75], [1.5, 1.25]]))
    marks = [
        item
        for item in widget.scene().items()
        if isinstance(item, pg.ScatterPlotItem) and item.opts["symbol"] == "x"
    ]
    assert np.column_stack(marks[0].getData()) == pytest.approx(np.array([[1.5, 1.25]]))
    widget.close()


# ---- long paths ----------------------------------------------------------------------------


def spiral_history(n: int) -> tuple:
    """A synthetic history of one run circling in to (0, 0) in ``n`` rows."""
    experiment = parse_experiment(
        {
            "steps": n - 1,
            "problem": {"kind": "function", "name": "elongated_quadratic", "condition": 1.0},
            "runs": [{"optimizer": "sgd", "lr": 0.1}],
        }
    )
    built = build(parse_experiment({**experiment.model_dump(mode="json"), "steps": 2}))
    h = History.empty(["spiral"], np.arange(n))
    k = np.arange(n)
    angle = np.cumsum(0.2 * np.exp(-k / 2000.0))
    r = 2.5 * np.exp(-k / 30000.0)
    h.coords[:, 0] = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    h.loss[:, 0] = 0.5 * r**2
    h.grad_norm[:, 0] = r
    h.lr[:, 0] = 0.1
    h.step_size[:, 0] = 0.1
    h.count = n
    return experiment, built, h


def test_a_long_path_keeps_its_shape_in_the_view(surface):
    experiment, built, h = spiral_history(100_000)
    surface.draw(frame_of(experiment, built, h))
    x, y = surface.path_data(0)
    assert len(x) <= MAX_PATH_POINTS + 1
    full = h.coords[:, 0]
    index = np.flatnonzero(np.isin(full[:, 0], x))
    assert len(index) == len(x)
    assert index[0] == 0
    assert index[-1] == len(full) - 1
    x0, x1, y0, y1 = surface._default_rect
    # every row within a thousandth of the view (under a pixel) of the drawn line
    assert polyline_deviation(full, index, (x0, x1, y0, y1)) < 1e-3
    # half-way through the playhead: the revealed part only, ending where the run is
    surface.draw(frame_of(experiment, built, h, head=50_000))
    x, y = surface.path_data(0)
    assert (x[-1], y[-1]) == pytest.approx(tuple(full[50_000]))


# ---- curves --------------------------------------------------------------------------------


def test_decimated_curves_keep_each_blocks_lowest_and_highest(qtbot):
    rng = np.random.default_rng(1)
    rows = 50_000
    y = np.exp(rng.normal(size=rows) * 3)  # spikes up and down on a log axis
    x = np.arange(rows, dtype=float)
    item = Curve()
    curves_view._set(item, "test", rows, x, y, True, math.inf)
    drawn_x, drawn_y = item.getData()
    assert len(drawn_x) <= curves_view.MAX_CURVE_POINTS + 2
    k = item._peaks.k
    assert k > 1
    logs = np.log10(y)
    blocks = logs[: rows // k * k].reshape(-1, k)
    assert drawn_y[0 : 2 * len(blocks) : 2] == pytest.approx(blocks.min(axis=1))
    assert drawn_y[1 : 2 * len(blocks) : 2] == pytest.approx(blocks.max(axis=1))
    # the extremes of the whole curve are drawn, whatever the bucketing
    assert drawn_y.max() == pytest.approx(logs.max())
    assert drawn_y.min() == pytest.approx(logs.min())


def test_a_loss_of_exactly_zero_is_drawn_along_the_bottom(curves):
    frame = computed(EXACT_ZERO)
    h = frame.history
    assert (h.loss[1:, 0] == 0).all()
    curves.draw(frame)
    x, y = curves.items["loss"][0].getData()
    assert len(x) == h.count  # every step, not only the first
    smallest = math.log10(h.loss[:, 1][h.loss[:, 1] > 0].min())
    assert (y[1:] < smallest).all()  # below every positive value: along the floor
    low, _ = curves.plots["loss"].vb.viewRange()[1]
    assert low <= y[1:].min()  # and inside the plot
    # the figure too
    widget = figures.curves_figure(h, frame.snapshot.built.problem)
    loss_plot = widget.ci.getItem(0, 0)
    fx, fy = loss_plot.listDataItems()[0].getData()
    assert len(fx) == h.count
    ylow, _ = loss_plot.vb.viewRange()[1]
    assert (fy >= ylow).all()  # (a log plot's items hold log10 values)
    widget.close()


def test_every_figure_curve_stays_inside_its_plot():
    # the saddle goes below zero: loss − min, which falls under the rounding floor
    frame = computed(
        {
            "steps": 600,
            "problem": {"kind": "function", "name": "saddle"},
            "runs": [
                {"optimizer": "sgd", "lr": 0.01},
                {"optimizer": "momentum", "lr": 0.01, "momentum": 0.9},
                {"optimizer": "adam", "lr": 0.05},
            ],
        }
    )
    h = frame.history
    widget = figures.curves_figure(h, frame.snapshot.built.problem)
    # every step of every run is drawn, the ones under the floor along it: no curve runs
    # out of the bottom of the plot and stops
    loss_items = widget.ci.getItem(0, 0).listDataItems()
    assert len(loss_items) == 3
    for item in loss_items:
        assert len(item.getData()[0]) == h.count
    for plot in (widget.ci.getItem(0, 0), widget.ci.getItem(1, 0)):
        (x0, x1), (y0, y1) = plot.vb.viewRange()
        for item in plot.listDataItems():
            x, y = item.getData()  # as drawn: log10 values on a log axis
            assert (y >= y0 - 1e-9).all()
            assert (y <= y1 + 1e-9).all()
            assert (x >= x0).all()
            assert (x <= x1).all()
    widget.close()


def test_the_curves_span_what_is_computed(curves):
    experiment = parse_experiment({**EXACT_ZERO, "steps": 1_000_000})
    built = build(parse_experiment({**EXACT_ZERO, "steps": 3200}))
    h = built.trainer.run()  # the first 3200 updates of the long experiment
    curves.draw(frame_of(experiment, built, h, done=False, count=641))
    (x0, x1), _ = curves.plots["loss"].vb.viewRange()
    assert x1 == pytest.approx(1000, rel=0.05)  # step 640 computed: 0 … 1000, not 10⁶
    assert x0 <= 0
    curves.draw(frame_of(experiment, built, h, done=True))
    (x0, x1), _ = curves.plots["loss"].vb.viewRange()
    assert x1 == pytest.approx(1_000_000, rel=0.05)  # done: the whole experiment


def test_step_axis_labels_leave_room_for_each_other(curves):
    curves.resize(230, 700)
    curves.draw(computed({**EXACT_ZERO, "steps": 200}))
    QApplication.processEvents()
    shown = "step" if curves._step_shown else "grad"
    axis = curves.plots[shown].getAxis("bottom")
    width = axis.geometry().width()
    assert 0 < width < 200
    (major, _), _ = axis.tickSpacing(0, 200, width)
    metrics = axis.fontMetrics() if hasattr(axis, "fontMetrics") else None
    from PySide6.QtGui import QFont, QFontMetrics

    metrics = QFontMetrics(axis.style.get("tickFont") or QFont())
    label = metrics.horizontalAdvance("200")
    assert width * major / 200 >= label + 8  # each label has its room and a gap


# ---- z-order and the read-out ----------------------------------------------------------------


def test_minimum_stars_are_drawn_above_the_runs_dots(surface):
    assert surface.minima.zValue() > surface.heads.zValue()
    assert surface.minima.zValue() > surface.crosses.zValue()


def test_the_readout_is_cleared_on_another_surface_and_stays_off_the_formula(surface):
    surface.draw(computed(BOWL))
    surface._on_hover((surface.viewbox.mapViewToScene(QPointF(1.0, 1.0)),))
    assert "L ≈ 1" in surface.readout.text()  # (1 + 1)/2, from the grid
    regression = {
        "steps": 5,
        "problem": {"kind": "linear_regression", "samples": 64, "feature_scales": [1.0, 5.0]},
        "runs": [{"optimizer": "sgd", "lr": 0.01}],
    }
    surface.draw(computed(regression))
    assert not surface.readout.isVisible()
    assert surface.readout.text() == ""
    # on the regression, its long formula and the read-out do not overlap
    surface.resize(420, 500)
    QApplication.processEvents()
    (x0, x1), (y0, y1) = surface.viewbox.viewRange()
    middle = QPointF((x0 + x1) / 2, (y0 + y1) / 2)
    surface._on_hover((surface.viewbox.mapViewToScene(middle),))
    QApplication.processEvents()
    assert surface.readout.isVisible()
    readout = surface.readout.geometry().translated(surface.plot_widget.pos())
    assert not readout.intersects(surface.formula.geometry())
    assert surface.rect().contains(readout)
    assert surface.formula.text().startswith("L(w)")


def test_a_loss_that_halves_through_the_subnormals_to_zero_stays_on_the_floor(curves):
    # lr 0.5 on a round bowl halves the loss at every step: it passes through the subnormal
    # floats (down to 5e-324) before it is exactly 0; a decade below those underflows to 0
    frame = computed(
        {
            "steps": 1200,
            "problem": {
                "kind": "function",
                "name": "elongated_quadratic",
                "condition": 1,
                "start": [1.0, 1.0],
            },
            "runs": [{"optimizer": "sgd", "lr": 0.5}],
        }
    )
    h = frame.history
    loss = h.loss[: h.count, 0]
    assert loss[-1] == 0
    assert ((loss > 0) & (loss < 1e-308)).any()
    curves.draw(frame)
    x, y = curves.items["loss"][0].getData()
    assert len(x) == h.count
    assert np.isfinite(y).all()
    low, high = curves.plots["loss"].vb.viewRange()[1]
    assert low <= y.min()
    assert y.max() <= high
    widget = figures.curves_figure(h, frame.snapshot.built.problem)
    loss_plot = widget.ci.getItem(0, 0)
    fx, fy = loss_plot.listDataItems()[0].getData()
    assert len(fx) == h.count
    assert np.isfinite(fy).all()
    ylow, yhigh = loss_plot.vb.viewRange()[1]
    assert (fy >= ylow - 1e-9).all()
    assert (fy <= yhigh + 1e-9).all()
    # decades are labelled as decades, not rescaled by an SI prefix ("loss (x1e+15)")
    assert "x1e" not in loss_plot.getAxis("left").labelString()
    widget.close()
