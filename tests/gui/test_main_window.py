"""The main window as a student meets it: open, drag a slider, play, diverge, save, export."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from engine.experiment import load_experiment
from tests.gui.waiting import PATIENCE_MS


def settle(window, qtbot, timeout=30.0):
    """Let the worker finish the newest job and draw it."""
    assert window.controller.wait_until_computed(timeout)
    window.controller.current_frame()


def run_index(window, optimizer: str) -> int:
    for i, run in enumerate(window.controller.experiment.runs):
        if run.optimizer == optimizer:
            return i
    raise AssertionError(f"no {optimizer} run in the default experiment")


def test_window_opens_with_the_default_experiment_drawn(qtbot, window):
    c = window.controller
    assert window.isVisible()
    assert c.experiment.title in window.windowTitle()
    assert c.error == ""
    assert len(c.experiment.runs) >= 2
    frame = c.current_frame()
    h = c.snapshot.history
    for i in range(len(c.experiment.runs)):
        x, y = window.surface_view.path_data(i)
        # every recorded position of the run, up to the playhead (at the end): the engine's
        rows = frame.finite_rows(i)
        assert rows == h.count > 1
        np.testing.assert_array_equal(x, h.coords[:rows, frame.column(i), 0])
        np.testing.assert_array_equal(y, h.coords[:rows, frame.column(i), 1])
    # the status bar is refreshed by a slow timer: on a fast machine its first tick may not
    # have come yet
    label = window.backend_label
    qtbot.waitUntil(lambda: "NumPy" in label.text() or "CuPy" in label.text(), timeout=PATIENCE_MS)


def test_default_experiment_is_playing_on_startup(qtbot, settings):
    from gui.main_window import MainWindow

    w = MainWindow(settings, interactive=False)
    qtbot.addWidget(w)
    w.show()
    w.open_default()
    assert w.controller.playing
    qtbot.waitUntil(lambda: w.controller.shown_head() > 0, timeout=PATIENCE_MS)
    w.close()


def test_moving_a_slider_changes_the_drawn_path(window, qtbot):
    c = window.controller
    index = run_index(window, "momentum")
    c.select_run(index)
    slider = window.run_editor.sliders["momentum"]
    assert slider.isVisible()
    others = [i for i in range(len(c.experiment.runs)) if i != index]
    before = {
        i: [a.copy() for a in window.surface_view.path_data(i)]
        for i in range(len(c.experiment.runs))
    }
    slider.slider.setValue(0.5)  # as if dragged: the slider's own signal
    assert c.experiment.runs[index].momentum == pytest.approx(0.5)
    settle(window, qtbot)
    after_x, _after_y = window.surface_view.path_data(index)
    assert after_x.size > 1
    before_x = before[index][0]
    assert before_x.shape != after_x.shape or not np.allclose(before_x, after_x)
    # only that run changed: the others are drawn exactly as before, and were not
    # computed again (the worker copied them from the previous job)
    for i in others:
        x, y = window.surface_view.path_data(i)
        np.testing.assert_array_equal(x, before[i][0])
        np.testing.assert_array_equal(y, before[i][1])
    assert sorted(c.snapshot.built.trainer.reused) == others


def test_only_the_chosen_optimizers_hyperparameters_are_shown(window):
    c = window.controller
    editor = window.run_editor
    index = run_index(window, "adam")
    c.select_run(index)
    assert editor.sliders["beta2"].isVisible()
    assert not editor.sliders["momentum"].isVisible()
    c.update_run(index, optimizer="sgd")
    assert not editor.sliders["beta2"].isVisible()
    assert editor.sliders["momentum"].isVisible()


def test_typed_entry_beyond_the_slider_and_a_refused_value(window):
    c = window.controller
    index = run_index(window, "momentum")
    c.select_run(index)
    lr = window.run_editor.sliders["lr"]
    lr.edit.setText("20")
    lr.edit.editingFinished.emit()
    assert c.experiment.runs[index].lr == 20
    momentum = window.run_editor.sliders["momentum"]
    momentum.edit.setText("1.5")  # the engine wants [0, 1]
    momentum.edit.editingFinished.emit()
    assert c.experiment.runs[index].momentum != 1.5
    assert "momentum" in window.statusBar().currentMessage()


def test_play_step_and_reset(window, qtbot):
    c = window.controller
    c.reset()
    c.current_frame()
    assert c.shown_head() == 0
    assert not c.playing
    c.step_forward()
    c.current_frame()
    assert c.shown_head() == 1
    assert window.playback_bar.timeline.value() == 1
    c.set_speed(1000)
    c.play()
    assert c.playing
    qtbot.waitUntil(lambda: c.shown_head() > 20, timeout=PATIENCE_MS)
    c.pause()
    head = c.shown_head()
    qtbot.wait(100)
    assert c.shown_head() == head
    window.playback_bar.timeline.setValue(100)  # scrubbing
    c.current_frame()
    assert c.shown_head() == 100
    c.reset()
    assert c.shown_head() == 0


def test_shortcuts_drive_playback(window, qtbot):
    from PySide6.QtCore import Qt

    c = window.controller
    c.reset()
    window.surface_view.plot_widget.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert c.head == 1
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.playing
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not c.playing
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert c.head == 0


def test_a_diverging_run_is_flagged_and_never_drawn_as_nan(window, qtbot):
    c = window.controller
    index = run_index(window, "momentum")
    assert c.update_run(index, lr=5.0) is None
    settle(window, qtbot)
    status = window.runs_panel.status_text(index)
    assert "diverged at step" in status
    assert "lower the learning rate" in status
    at = int(status.split("diverged at step ")[1].split(":")[0])
    assert at >= 1
    x, y = window.surface_view.path_data(index)
    assert x.size >= 1
    assert np.isfinite(x).all()
    assert np.isfinite(y).all()
    for item in window.curves_view.items["loss"]:
        data = item.getData()[1]
        assert data is None or np.isfinite(data).all()
    # the others go on
    other = next(i for i in range(len(c.experiment.runs)) if i != index)
    assert "diverged" not in window.runs_panel.status_text(other)


def test_dragging_the_start_resimulates(window, qtbot):
    c = window.controller
    view = window.surface_view
    x_before = view.path_data(0)[0][0]
    view.start.setPos(0.5, 2.5)  # what a drag does, step by step
    assert c.experiment.problem.start == pytest.approx((0.5, 2.5))
    settle(window, qtbot)
    x, y = view.path_data(0)
    assert x[0] == pytest.approx(0.5)
    assert y[0] == pytest.approx(2.5)
    assert x[0] != x_before


def test_runs_panel_add_duplicate_rename_recolour_hide_remove(window, qtbot):
    c = window.controller
    n = len(c.experiment.runs)
    c.add_run("rmsprop")
    assert len(c.experiment.runs) == n + 1
    assert c.selected_run == n
    c.duplicate_run(n)
    assert len(c.experiment.runs) == n + 2
    assert c.experiment.runs[n + 1].optimizer == "rmsprop"
    assert c.experiment.runs[n + 1].display_label != c.experiment.runs[n].display_label
    item = window.runs_panel.tree.topLevelItem(n)
    item.setText(0, "my run")
    assert c.experiment.runs[n].label == "my run"
    window.runs_panel.set_color(n, "#123456")
    assert c.experiment.runs[n].color == "#123456"
    from PySide6.QtCore import Qt

    item.setCheckState(0, Qt.CheckState.Unchecked)
    assert c.experiment.runs[n].visible is False
    settle(window, qtbot)
    assert window.surface_view.path_data(n)[0].size == 0  # hidden
    c.remove_run(n)
    c.remove_run(n)
    assert len(c.experiment.runs) == n
    settle(window, qtbot)


def test_the_learning_rate_schedule_is_drawn_before_training(window, qtbot):
    c = window.controller
    c.reset()
    index = run_index(window, "momentum")
    c.update_run(index, schedule={"kind": "cosine", "warmup_steps": 20})
    c.current_frame()
    item = window.curves_view.items["lr"][index]
    # the whole schedule, while the playhead is at 0
    qtbot.waitUntil(lambda: item.yData[0] < item.yData[25], timeout=PATIENCE_MS)
    assert len(item.xData) == c.total_steps + 1
    assert item.yData[-1] < item.yData[25]


def test_open_and_save_round_trip(window, tmp_path):
    c = window.controller
    index = run_index(window, "momentum")
    c.update_run(index, momentum=0.75, label="heavy ball")
    assert c.dirty
    path = tmp_path / "mine.toml"
    assert window.save_to(path)
    assert not c.dirty
    assert "mine.toml" in window.windowTitle()
    saved = load_experiment(path)
    assert saved == c.experiment
    c.update_run(index, momentum=0.5)
    assert window.open_path(path)
    assert c.experiment.runs[index].momentum == 0.75
    assert c.experiment.runs[index].label == "heavy ball"
    assert str(path.resolve()) in window.settings.recent_files()


def test_a_broken_file_is_reported_and_the_current_experiment_kept(window, tmp_path):
    c = window.controller
    before = c.experiment
    broken = tmp_path / "broken.toml"
    broken.write_text('title = "x"\n[[runs]]\noptimizer = "adam"\nlr = -1\n', encoding="utf-8")
    assert not window.open_path(broken)
    assert "runs[0].lr" in window.last_warning
    assert c.experiment is before
    not_toml = tmp_path / "garbage.toml"
    not_toml.write_text("this is = = not toml", encoding="utf-8")
    assert not window.open_path(not_toml)
    assert "TOML" in window.last_warning
    assert c.experiment is before


def _not_blank(path) -> bool:
    import imageio.v3 as iio

    pixels = np.asarray(iio.imread(path, index=None))
    return pixels.size > 0 and float(pixels[..., :3].std()) > 1.0


def test_exports_write_non_blank_files(window, tmp_path):
    png = tmp_path / "surface.png"
    assert window.export_figure("surface", png, scale=2)
    assert _not_blank(png)
    from PySide6.QtGui import QImage

    assert QImage(str(png)).width() > 1000  # 2×
    curves = tmp_path / "curves.png"
    assert window.export_figure("curves", curves, scale=1)
    assert _not_blank(curves)
    svg = tmp_path / "surface.svg"
    assert window.export_figure("surface", svg)
    assert b"<svg" in svg.read_bytes()[:4000]
    gif = tmp_path / "animation.gif"
    assert window.export_animation(gif, frames=6)
    assert _not_blank(gif)
    csv = tmp_path / "trajectories.csv"
    assert window.export_csv(csv)
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("run,label,step,epoch,lr,loss,grad_norm,w1,w2")
    assert len(lines) > len(window.controller.experiment.runs)


def test_exported_figures_are_light_in_the_dark_theme(window, tmp_path):
    from PySide6.QtGui import QColor, QImage

    window.set_theme("dark")
    assert window.settings.theme == "dark"
    png = tmp_path / "dark.png"
    assert window.export_figure("surface", png, scale=1)
    corner = QColor(QImage(str(png)).pixel(3, 3))
    assert corner.lightness() > 200
    window.set_theme("light")


def test_closing_during_training_leaves_no_thread(qtbot, settings):
    from gui.main_window import MainWindow

    w = MainWindow(settings, interactive=False)
    qtbot.addWidget(w)
    w.show()
    w.open_default()
    c = w.controller
    c.update_experiment(steps=2_000_000, record_every=1000)
    c.play()

    def training():
        s = c.snapshot
        return s is not None and s.experiment.steps == 2_000_000 and s.computed_step > 0

    qtbot.waitUntil(training, timeout=PATIENCE_MS)
    assert not c.snapshot.done
    started = time.perf_counter()
    w.close()
    assert time.perf_counter() - started < 2.0
    assert not c.thread.isRunning()


def test_steps_per_second_and_frames_in_the_status_bar(window, qtbot):
    window.controller._emit_stats()
    assert "frames/s" in window.fps_label.text()
    assert math.isfinite(window.controller._fps)
