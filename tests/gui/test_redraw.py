"""What a frame redraws: moving the playhead moves curves, not axes."""

from __future__ import annotations

import time

from tests.gui.waiting import PATIENCE_MS


def y_ranges(window):
    return {
        name: tuple(plot.vb.viewRange()[1])
        for name, plot in window.curves_view.plots.items()
        if name in ("loss", "grad")
    }


def test_moving_the_playhead_keeps_the_curves_axes(window, qtbot):
    c = window.controller
    c.seek(c.total_steps)
    c.current_frame()
    at_end = y_ranges(window)
    for step in (10, c.total_steps // 3, c.total_steps // 2):
        c.seek(step)
        c.current_frame()
        assert y_ranges(window) == at_end
    # the revealed curves did change: up to the playhead (at once, or on the trailing edge
    # of the throttle when a draw is slow on a loaded machine)
    item = window.curves_view.plots["loss"].listDataItems()[0]
    qtbot.waitUntil(lambda: item.getData()[0].max() == c.total_steps // 2, timeout=PATIENCE_MS)


def test_a_new_computation_changes_the_axes_to_its_history(window, qtbot):
    c = window.controller
    before = y_ranges(window)["loss"]
    index = next(i for i, r in enumerate(c.experiment.runs) if r.optimizer == "adam")
    c.update_run(index, lr=0.5)  # a wild Adam: much larger losses
    assert c.wait_until_computed(30)
    c.seek(c.total_steps)
    c.current_frame()
    assert y_ranges(window)["loss"] != before


def test_slow_curves_skip_a_burst_of_frames_and_draw_the_newest(window, qtbot, monkeypatch):
    c = window.controller
    curves = window.curves_view
    drawn = []
    draw = curves._draw

    def slow_draw(frame):
        time.sleep(0.03)  # a long history: 30 ms a frame
        drawn.append(frame.head)
        draw(frame)

    # nothing pending and no throttle running, however slow the fixture's last real draw
    # was (a loaded machine makes it slow: its timeout outlasted a fixed wait, and the
    # draw at 10 below was deferred)
    throttle = curves._throttled_draw
    throttle.cancel()
    throttle.flush(restart_timer=False)
    throttle.setTimeout(0)
    monkeypatch.setattr(curves, "_draw", slow_draw)
    c.seek(10)
    c.current_frame()  # drawn at once; the next frames wait 4 x 30 ms
    assert drawn == [10]
    for step in (20, 30, 40):
        c.seek(step)
        c.current_frame()
    assert drawn == [10]
    qtbot.waitUntil(lambda: drawn == [10, 40], timeout=PATIENCE_MS)  # the newest, not 20 or 30
    qtbot.wait(300)
    assert drawn == [10, 40]


def test_a_rate_near_the_largest_float_draws_without_overflow(window, qtbot, tmp_path):
    # lr = 1e308 is a valid file (the run diverges at once); the rate axis must not overflow
    # (1.08 × 1e308 = inf made pyqtgraph raise "Cannot set range [-inf, inf]" on every paint)
    import math

    path = tmp_path / "huge.toml"
    path.write_text(
        'steps = 30\n[problem]\nkind = "function"\nname = "rosenbrock"\n'
        '[[runs]]\noptimizer = "sgd"\nlr = 1e308\n',
        encoding="utf-8",
    )
    assert window.open_path(path)
    c = window.controller
    assert c.wait_until_computed(30)
    c.pause()
    c.seek(c.total_steps)
    c.current_frame()
    window.repaint()

    def lr_range():
        return window.curves_view.plots["lr"].vb.viewRange()[1]

    qtbot.waitUntil(lambda: lr_range()[1] > 1e299, timeout=PATIENCE_MS)  # the throttled draw
    low, high = lr_range()
    assert math.isfinite(low)
    assert math.isfinite(high)
