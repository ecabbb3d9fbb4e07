"""Panels and views in detail: tooltips everywhere, read-outs, epochs, problems, prompts."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QComboBox,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QTreeWidget,
)

from tests.gui.waiting import PATIENCE_MS


def test_every_control_has_a_tooltip(window):
    missing = []
    for kind in (QAbstractButton, QAbstractSlider, QComboBox, QLineEdit, QSpinBox, QTreeWidget):
        for widget in window.findChildren(kind):
            w, tip = widget, ""
            while w is not None and not tip:  # a control inside a composite shares its tip
                tip = w.toolTip()
                w = w.parentWidget() if w.parentWidget() is not window else None
            name = type(widget).__name__
            if (
                not tip
                and name not in ("QScrollBar",)
                and widget.objectName()
                not in (
                    "qt_spinbox_lineedit",
                    "qt_toolbar_ext_button",
                    "qt_tabwidget_tabbar",
                    "qt_dockwidget_closebutton",
                    "qt_dockwidget_floatbutton",
                    "qt_menubar_ext_button",
                    "ScrollLeftButton",
                    "ScrollRightButton",
                )
            ):
                missing.append(f"{name} {widget.objectName()!r} {getattr(widget, 'text', str)()}")
    assert not missing, missing
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            if not action.isSeparator() and action.menu() is None:
                assert action.toolTip(), action.text()


def test_curves_hover_readout_names_every_run(window):
    curves = window.curves_view
    text = curves.readout_text("loss", 100.0)
    assert "step 100" in text
    for run in window.controller.experiment.runs:
        assert run.display_label in text
    assert "learning rate" in curves.readout_text("lr", 0.0)


def test_surface_hover_readout_shows_the_loss(window, qtbot):
    view = window.surface_view
    point = view.viewbox.mapViewToScene(pg_point(1.0, 1.0))
    view._on_hover((point,))
    assert "w1 = 1" in view.readout.text()  # at once, interpolated in the grid ("L ≈")
    qtbot.waitUntil(lambda: "L = " in view.readout.text(), timeout=PATIENCE_MS)  # then exact
    assert float(view.readout.text().split("L = ")[1]) < 1e-6  # Rosenbrock's minimum


def pg_point(x, y):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_epoch_axis_on_a_regression_with_minibatches(window, qtbot):
    c = window.controller
    assert c.update_problem(kind="linear_regression", samples=64) is None
    assert c.update_run(0, batch_size=16) is None
    assert c.wait_until_computed(30)
    c.current_frame()
    assert c.error == ""
    window.curves_view.set_x_mode("epoch")
    x = window.curves_view.items["loss"][0].xData
    assert x[-1] == pytest.approx(c.total_steps * 16 / 64)  # four updates per epoch
    window.curves_view.set_x_mode("step")
    x = window.curves_view.items["loss"][0].xData
    assert x[-1] == c.total_steps
    assert window.run_editor.batch_box.isVisible()


def test_an_impossible_setting_shows_a_banner_and_keeps_the_window(window, qtbot):
    c = window.controller
    c.update_problem(kind="linear_regression", samples=20)
    c.update_run(0, batch_size=50)  # more than the data: the engine refuses at build time
    c.wait_until_computed(30)
    c.current_frame()
    assert "batch_size" in c.error
    assert window.banner.isVisible()
    c.update_run(0, batch_size=10)
    c.wait_until_computed(30)
    c.current_frame()
    assert c.error == ""
    assert not window.banner.isVisible()


@pytest.mark.parametrize(
    "name",
    ["rosenbrock", "beale", "himmelblau", "saddle", "elongated_quadratic", "rastrigin", "bumpy"],
)
def test_every_surface_draws_finite_paths(window, name):
    c = window.controller
    assert c.update_problem(name=name, start=None, view=None) is None
    assert c.wait_until_computed(30)
    c.current_frame()
    image = window.surface_view.image.image
    assert image is not None
    assert np.isfinite(image).all()
    assert image.std() > 0
    for i in range(len(c.experiment.runs)):
        x, y = window.surface_view.path_data(i)
        assert np.isfinite(x).all()
        assert np.isfinite(y).all()
    assert window.problem_panel.surface.currentData() == name


def test_condition_number_slider_applies_to_the_elongated_bowl(window):
    c = window.controller
    c.update_problem(name="elongated_quadratic", start=None)
    panel = window.problem_panel
    assert not panel.controls["condition"][0].isHidden()
    panel.controls["condition"][0].slider.setValue(2.0)  # log scale: 10^2
    assert c.experiment.problem.condition == pytest.approx(100.0)


def test_new_experiment_is_not_dirty_and_unsaved_changes_ask(window, monkeypatch):
    c = window.controller
    window.new_experiment()
    assert not c.dirty
    c.update_run(0, lr=0.01)
    assert c.dirty
    window.interactive = True
    asked = []

    def cancel(*args, **kwargs):
        asked.append(args)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    assert not window.maybe_save()
    window.new_experiment()
    assert c.experiment.runs[0].lr == 0.01  # cancelled: kept
    assert len(asked) == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    window.new_experiment()
    assert not c.dirty
    window.interactive = False


def test_a_relative_data_file_stays_reachable_after_save_as(window, tmp_path):
    c = window.controller
    folder = tmp_path / "course"
    folder.mkdir()
    rows = "\n".join(f"{i / 10},{i % 3},{i / 5 + 1}" for i in range(30))
    (folder / "points.csv").write_text("x1,x2,y\n" + rows + "\n", encoding="utf-8")
    experiment = folder / "fit.toml"
    experiment.write_text(
        'title = "fit"\n[problem]\nkind = "linear_regression"\ndata = "points.csv"\n'
        '[[runs]]\noptimizer = "sgd"\nlr = 0.01\n',
        encoding="utf-8",
    )
    assert window.open_path(experiment)
    assert c.wait_until_computed(30)
    assert c.error == ""
    elsewhere = tmp_path / "elsewhere" / "copy.toml"
    elsewhere.parent.mkdir()
    assert window.save_to(elsewhere)
    assert window.open_path(elsewhere)
    assert c.wait_until_computed(30)
    assert c.error == ""
    assert c.experiment.problem.data == "../course/points.csv"


def test_a_missing_data_file_is_a_broken_file(window, tmp_path):
    c = window.controller
    before = c.experiment
    path = tmp_path / "nodata.toml"
    path.write_text(
        '[problem]\nkind = "linear_regression"\ndata = "missing.csv"\n[[runs]]\nlr = 0.1\n',
        encoding="utf-8",
    )
    assert not window.open_path(path)
    assert "problem.data" in window.last_warning
    assert c.experiment is before


def test_theme_and_layout_are_remembered(qtbot, tmp_path):
    from gui.main_window import MainWindow
    from gui.settings import Settings

    settings = Settings(tmp_path / "prefs.ini")
    w = MainWindow(settings, interactive=False)
    qtbot.addWidget(w)
    w.set_theme("dark")
    w.docks["curves"].hide()
    w.close()
    again = MainWindow(Settings(tmp_path / "prefs.ini"), interactive=False)
    qtbot.addWidget(again)
    assert again.theme.name == "dark"
    assert again.docks["curves"].isHidden()
    again.set_theme("light")
    again.close()


def test_runs_panel_recolour_and_rename_reach_the_legend(window):
    c = window.controller
    window.runs_panel.set_color(0, "#00aa00")
    c.update_run(0, label="renamed")
    c.current_frame()
    labels = [label.text for _, label in window.surface_view.legend.items]
    assert any("renamed" in text for text in labels)
    pen = window.surface_view.paths[0].opts["pen"]
    assert pen.color().name() == "#00aa00"


def test_long_experiments_record_every_kth_step(window):
    c = window.controller
    messages = []
    c.sig_message.connect(messages.append)
    c.update_experiment(steps=1_000_000)
    assert c.experiment.record_every == 5
    assert any("record_every" in m for m in messages)
    c.update_experiment(steps=400)
    assert c.experiment.record_every == 1


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_runs_table_status_is_in_sight_on_a_small_screen(window, qtbot, size):
    """At 1366 × 768 the status column sat behind the sideways scrollbar, cut to "loss 0.0"
    for a loss of 0.0018: the live loss must be whole in sight; what scrolls away is the
    optimizer's summary (also shown in the run settings)."""
    from gui.widgets.runs_panel import COL_NAME, COL_STATUS

    window.resize(*size)
    qtbot.wait(100)
    tree = window.runs_panel.tree
    header = tree.header()
    viewport = tree.viewport().width()
    for column in (COL_NAME, COL_STATUS):
        left = header.sectionViewportPosition(column)
        assert left >= 0
        assert left + header.sectionSize(column) <= viewport, (column, viewport)
    # each status is the run's loss at the last step, as the engine computed it (the
    # status is redrawn by a throttle: wait for its trailing update on a loaded machine)
    history = window.controller.snapshot.history

    def statuses_are_final_losses():
        for i in range(tree.topLevelItemCount()):
            text = tree.topLevelItem(i).text(COL_STATUS)  # (under the header "loss")
            assert float(text) == pytest.approx(float(history.loss[-1, i]), rel=1e-3)

    window.controller.current_frame()
    qtbot.waitUntil(statuses_are_final_losses, timeout=PATIENCE_MS)
