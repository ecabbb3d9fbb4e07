"""What a frame redraws: moving the playhead moves curves, not axes."""

from __future__ import annotations


def y_ranges(window):
    return {
        name: tuple(plot.vb.viewRange()[1])
        for name, plot in window.curves_view.plots.items()
        if name in ("loss", "grad")
    }


def test_moving_the_playhead_keeps_the_curves_axes(window):
    c = window.controller
    c.seek(c.total_steps)
    c.current_frame()
    at_end = y_ranges(window)
    for step in (10, c.total_steps // 3, c.total_steps // 2):
        c.seek(step)
        c.current_frame()
        assert y_ranges(window) == at_end
    # the revealed curves did change
    x, _ = window.curves_view.plots["loss"].listDataItems()[0].getData()
    assert x is not None
    assert x.max() <= c.total_steps // 2


def test_a_new_computation_changes_the_axes_to_its_history(window, qtbot):
    c = window.controller
    before = y_ranges(window)["loss"]
    index = next(i for i, r in enumerate(c.experiment.runs) if r.optimizer == "adam")
    c.update_run(index, lr=0.5)  # a wild Adam: much larger losses
    assert c.wait_until_computed(30)
    c.seek(c.total_steps)
    c.current_frame()
    assert y_ranges(window)["loss"] != before
