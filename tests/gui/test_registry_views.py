"""The views derived from the registry (``engine.parameters``), and the bugs a new user hit in
them: a sensitive learning-rate slider, large seeds, a stale batch box, cut-off fields and
labels, a warning that hid a run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyle, QStyleOptionSlider, QWidget

from engine import parameters
from engine.parameters import REGISTRY, Bounds, Parameter, Slider
from tests.gui.waiting import PATIENCE_MS

EXAMPLES = Path(__file__).parents[2] / "resources" / "experiments"


def _drag(slider, pixels: int) -> None:
    """Press the handle, move it ``pixels`` to the right one pixel at a time, release."""
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(
        QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, slider
    )
    c = handle.center()
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    for dx in range(1, pixels + 1):
        QTest.mouseMove(slider, QPoint(c.x() + dx, c.y()))
    end = QPoint(c.x() + pixels, c.y())
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_learning_rate_slider_moves_by_a_readable_factor(qtbot):
    """35 px moved η from 0.001 to 0.046 (46×): the slider spanned 6 decades. Now it spans
    3 decades around the optimizer's default; typing still takes any valid value."""
    from gui.widgets.parameter_slider import ParameterSlider

    slider = ParameterSlider.for_parameter(REGISTRY["lr"], "sgd")
    qtbot.addWidget(slider)
    slider.resize(260, 30)  # about the field's width in the run editor at 1280 × 720
    slider.show()
    slider.setValue(0.001)
    values = []
    slider.sig_value_changed.connect(values.append)
    _drag(slider.slider, 35)
    assert values
    assert 1.5 < values[-1] / 0.001 < 5  # a few ×, not 46×
    # the window: 3 decades, the default inside it
    lo, hi = 10**slider._u_min, 10**slider._u_max
    assert hi / lo == pytest.approx(1e3)
    assert lo < 0.001 < hi
    # typed: far outside the window, accepted, and the window moves to show it
    slider.edit.setText("50")
    slider.edit.editingFinished.emit()
    assert values[-1] == 50.0
    assert 10**slider._u_min < 50 < 10**slider._u_max


def test_a_new_registry_entry_gets_a_slider(qtbot, monkeypatch):
    """The docstring's example: one entry, and the run editor shows it for Adam only."""
    from gui.controller import Controller
    from gui.widgets.run_editor import RunEditor

    floor = Parameter(
        "amsgrad_floor",
        "AMSGrad floor v₀",
        "v₀",
        "v̂ ≥ v₀",
        default=0.0,
        bounds=Bounds(0),
        where={"optimizer": ("adam",)},
        slider=Slider(1e-8, 1.0, "log", zero_at_min=True),
    )
    monkeypatch.setattr(
        parameters, "OPTIMIZER_PARAMETERS", (*parameters.OPTIMIZER_PARAMETERS, floor)
    )
    controller = Controller(start_timers=False)
    editor = RunEditor(controller)
    qtbot.addWidget(editor)
    editor.show()
    try:
        runs = controller.experiment.runs
        adam = next(i for i, r in enumerate(runs) if r.optimizer == "adam")
        other = next(i for i, r in enumerate(runs) if r.optimizer != "adam")
        controller.select_run(adam)
        assert editor.sliders["amsgrad_floor"].isVisible()
        assert editor.sliders["amsgrad_floor"].toolTip() == "v̂ ≥ v₀"
        controller.select_run(other)
        assert not editor.sliders["amsgrad_floor"].isVisible()
    finally:
        controller.shutdown()


def test_lecture_adagrad_hides_lr_decay(window):
    c = window.controller
    assert c.update_run(0, optimizer="adagrad", lr_decay=0.1) is None
    editor = window.run_editor
    assert editor.sliders["lr_decay"].isVisible()
    # switching to the lecture's form drops the key it lacks instead of refusing the change
    assert c.update_run(0, convention="lecture") is None
    assert c.experiment.runs[0].lr_decay is None
    assert not editor.sliders["lr_decay"].isVisible()


def test_a_large_seed_is_shown_and_kept(window, tmp_path):
    """A seed ≥ 2³¹ is valid headless; the Problem panel raised OverflowError on it and then
    showed the previous experiment's steps and seed."""
    path = tmp_path / "big_seed.toml"
    seed = 2**40 + 3
    path.write_text(
        f'seed = {seed}\nsteps = 123\n[problem]\nname = "himmelblau"\n[[runs]]\noptimizer = "sgd"\n'
    )
    window.controller.open(path)
    panel = window.problem_panel
    assert panel.seed.text() == str(seed)
    assert panel.steps.value() == 123
    assert not panel.controls["condition"][0].isVisible()  # the elongated bowl's only
    panel.seed.setText(str(2**33))
    panel.seed.editingFinished.emit()
    assert window.controller.experiment.seed == 2**33


def test_the_batch_box_follows_the_data_size(window):
    """Open "batch size" (N = 256) then "feature scaling" (N = 200): the full-batch box
    showed B = 256."""
    c = window.controller
    c.open(EXAMPLES / "batch_size.toml", as_copy=True)
    assert c.wait_until_computed(30)
    c.open(EXAMPLES / "feature_scaling.toml", as_copy=True)
    editor = window.run_editor
    assert c.experiment.runs[0].batch_size is None  # full batch
    assert editor.batch_size.value() == 200
    assert 10**editor.batch_size._u_max == pytest.approx(200)


def _cut_off(panel: QWidget) -> list[str]:
    """The visible controls whose right edge lies beyond the scroll area's viewport."""
    viewport = panel.parentWidget()
    cut = []
    for child in panel.findChildren(QWidget):
        if child.isVisible():
            right = child.mapTo(viewport, child.rect().topRight()).x()
            if right > viewport.width():
                cut.append(f"{type(child).__name__} at {right} > {viewport.width()}")
    return cut


def test_settings_fit_a_1280_by_720_screen(window, qtbot):
    """At 1366 × 768 the run settings' fields were cut off at the right."""
    window.controller.open(EXAMPLES / "feature_scaling.toml", as_copy=True)
    window.resize(1280, 720)
    qtbot.wait(50)
    assert window.run_editor.batch_box.isVisible()
    assert _cut_off(window.run_editor) == []
    window.docks["problem"].raise_()
    qtbot.wait(50)
    assert window.problem_panel.controls["samples"][0].isVisible()
    assert _cut_off(window.problem_panel) == []


@pytest.mark.parametrize(
    "example", ["rosenbrock_momentum_vs_adam.toml", "networks/moons_optimizers.toml"]
)
def test_runs_table_shows_each_optimizer_whole_at_1366(window, qtbot, example):
    """At 1366 × 768 the optimizer column ran past the table's right edge ("SGD +
    momentum η=", "Nesterov momentu"), to be scrolled sideways to: each run's summary is
    drawn whole, in sight, under its name, with every run and its status in sight too."""
    from gui.widgets.runs_panel import COL_NAME, COL_STATUS, run_summary

    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366, timeout=PATIENCE_MS)
    window.reset_layout()  # the docks at their start-up widths for this screen
    assert window.open_example(EXAMPLES / example)
    qtbot.wait(50)
    tree = window.runs_panel.tree
    header = tree.header()
    viewport = tree.viewport()
    metrics = tree.fontMetrics()
    # what a cell puts before its text, at least: the tick box and the colour swatch
    style = tree.style()
    icon = tree.iconSize().width()  # -1: the style's small icon size
    icon = icon if icon > 0 else style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
    before_text = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + icon
    assert tree.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways to
    for column in (COL_NAME, COL_STATUS):
        assert header.sectionViewportPosition(column) >= 0
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= viewport.width(), column
    delegate = tree.itemDelegateForColumn(COL_NAME)
    for i, run in enumerate(window.controller.experiment.runs):
        summary = run_summary(run)
        width = metrics.horizontalAdvance(summary)
        index = tree.indexFromItem(tree.topLevelItem(i), COL_NAME)
        cell = tree.visualRect(index)
        assert cell.bottom() <= viewport.height(), run.display_label  # the row in sight
        assert header.sectionSize(COL_NAME) >= before_text + width, summary
        option = _cell_option(tree, index)
        assert delegate._text_left(option, index) >= before_text  # (after box and swatch)
        assert delegate.shown_summary(option, index) == summary  # not elided
        line = delegate.summary_rect(option, index)
        assert line.height() >= metrics.height()  # a line of its own, under the name
        assert line.top() >= cell.top() + metrics.height()
        assert line.width() >= width
        assert line.right() <= viewport.width()


def _cell_option(tree, index):
    """The option the view paints a cell with: its rectangle, and the icons' size (without
    it the swatch takes no room and the text seems to start 20 px further left)."""
    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    option.initFrom(tree)
    option.rect = tree.visualRect(index)
    option.widget = tree
    icon = tree.iconSize().width()  # -1: the style's small icon size
    icon = icon if icon > 0 else tree.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
    option.decorationSize = QSize(icon, icon)
    option.showDecorationSelected = True
    return option


def test_a_diverged_runs_long_status_leaves_every_name_whole(window, qtbot):
    """The status column took the width of its longest text ("diverged at step 4: lower
    the learning rate"), and every name and summary shrank to "s…": it keeps the width a
    loss reads in, the divergence elided there (whole in its tooltip), the names whole."""
    from gui.widgets.runs_panel import COL_NAME, COL_STATUS

    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366, timeout=PATIENCE_MS)
    window.reset_layout()
    c, tree = window.controller, window.runs_panel.tree
    header, metrics = tree.header(), tree.fontMetrics()
    status_width = header.sectionSize(COL_STATUS)
    assert c.update_run(1, lr=10.0) is None
    qtbot.waitUntil(
        lambda: window.runs_panel.status_text(1).startswith("diverged"), timeout=PATIENCE_MS
    )
    qtbot.wait(50)
    status = window.runs_panel.status_text(1)
    assert metrics.horizontalAdvance(status) > status_width  # (too long for its column)
    assert header.sectionSize(COL_STATUS) == status_width  # unchanged
    assert status in tree.topLevelItem(1).toolTip(COL_STATUS)
    assert tree.horizontalScrollBar().maximum() == 0
    delegate = tree.itemDelegateForColumn(COL_NAME)
    for i, run in enumerate(c.experiment.runs):
        index = tree.indexFromItem(tree.topLevelItem(i), COL_NAME)
        option = _cell_option(tree, index)
        name = delegate._first_line(option, index)
        text = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemText, name, tree)
        assert text.width() >= metrics.horizontalAdvance(run.display_label), run.display_label
        assert "…" not in delegate.shown_summary(option, index), run.display_label


def test_the_tick_box_answers_where_it_is_drawn(window, qtbot):
    """The box is drawn on the name's line; clicks were tested against a box centred on the
    two-line cell (its top half did nothing, the summary under it toggled the run)."""
    from gui.widgets.runs_panel import COL_NAME

    tree = window.runs_panel.tree
    c = window.controller
    index = tree.indexFromItem(tree.topLevelItem(0), COL_NAME)
    delegate = tree.itemDelegateForColumn(COL_NAME)
    line = delegate._first_line(_cell_option(tree, index), index)
    box = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, line, tree)
    assert box.bottom() < delegate.summary_rect(_cell_option(tree, index), index).top()
    viewport = tree.viewport()
    assert c.experiment.runs[0].visible
    QTest.mouseClick(
        viewport, Qt.MouseButton.LeftButton, pos=QPoint(box.center().x(), box.top() + 1)
    )
    qtbot.waitUntil(lambda: not c.experiment.runs[0].visible, timeout=PATIENCE_MS)
    below = QPoint(box.center().x(), box.bottom() + 6)  # the summary's line, under the box
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=below)
    qtbot.wait(100)
    assert not c.experiment.runs[0].visible  # not toggled back
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=box.center())
    qtbot.waitUntil(lambda: c.experiment.runs[0].visible, timeout=PATIENCE_MS)


def test_runs_table_shows_whole_labels_and_every_run(window, qtbot):
    """Names and summaries were cut ("sgd lr=0…"); a two-line warning shrank the list so
    that a run hid behind a scrollbar."""
    c = window.controller
    c.open(EXAMPLES / "feature_scaling.toml", as_copy=True)
    window.resize(1280, 720)
    panel = window.runs_panel
    tree = panel.tree
    header = tree.header()
    metrics = tree.fontMetrics()
    assert c.wait_until_computed(30)
    c.current_frame()  # this experiment's statuses (the status column fits its losses)
    qtbot.wait(50)
    for column in (0, 1):  # what the widest cell needs: check box, swatch and text
        assert header.sectionSize(column) >= tree.sizeHintForColumn(column)
    # two runs diverge: both warned about, every run still in sight
    assert c.update_run(0, lr=10.0) is None
    assert c.update_run(1, lr=10.0) is None
    assert c.wait_until_computed(30)
    c.seek(c.total_steps)
    c.current_frame()
    qtbot.wait(50)
    runs = c.experiment.runs
    assert runs[0].display_label in panel.warnings.toolTip()
    assert runs[1].display_label in panel.warnings.toolTip()
    assert panel.warnings.isVisible()
    assert panel.warnings.height() < 2 * metrics.height() + 4  # one line
    last = tree.topLevelItem(tree.topLevelItemCount() - 1)
    assert tree.visualItemRect(last).bottom() <= tree.viewport().height()


def test_every_example_fits_a_1280_pixel_screen(window, qtbot):
    """The runs table claims the width of its cells, up to a point: with long names (the
    batch-size example) it made the window wider than the screen."""
    for path in sorted(EXAMPLES.glob("*.toml")):
        window.controller.open(path, as_copy=True)
        qtbot.wait(20)
        assert window.minimumSizeHint().width() <= 1280, path.name
