"""A network's curves, read back from the plot items and checked against the history's own
arrays: which column of which run is drawn, revealed up to the playhead, with the rows
the engine did not evaluate (NaN) left out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.experiment import build, parse_experiment
from gui.palette import RUN_COLORS
from gui.theme import DARK, LIGHT
from gui.widgets.curves_view import MAX_CURVE_POINTS, CurvesView
from gui.widgets.network_curves import layer_colors, mode_caption
from gui.widgets.parameter_slider import format_value
from tests.gui.network_history import network_experiment, network_frame, network_history
from tests.gui.test_drawing import BOWL, computed, offscreen
from tests.gui.waiting import PATIENCE_MS

SOLID, DASH = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine


@pytest.fixture
def curves(qtbot):
    return offscreen(qtbot, CurvesView(None, LIGHT), (430, 700))


def drawn(view, plot: str) -> list[tuple[str, Qt.PenStyle, np.ndarray, np.ndarray]]:
    """(colour, pen style, x, y) of every curve with data on ``plot`` of the network page."""
    out = []
    for item in view.plots[plot].listDataItems():
        x, y = item.xData, item.yData
        if x is None or not len(x):
            continue
        pen = item.opts["pen"]
        out.append((pen.color().name(), pen.style(), np.asarray(x), np.asarray(y)))
    return sorted(out, key=lambda c: (c[0], c[1] == DASH))


def expected(h, column: np.ndarray, rows: int, log: bool, x=None):
    """The oracle: the first ``rows`` rows of ``column``, those that hold a value."""
    x = h.step if x is None else x
    y = np.asarray(column[:rows], float)
    keep = np.isfinite(y)
    return np.asarray(x[:rows], float)[keep], (np.log10(y[keep]) if log else y[keep])


def assert_curve(curve, x, y):
    assert np.array_equal(curve[2], x)
    np.testing.assert_allclose(curve[3], y, rtol=1e-12)


def test_eval_mode_draws_train_solid_and_validation_dashed_per_run_up_to_the_head(curves):
    h = network_history(steps=60, runs=2, eval_every=4)
    frame = network_frame(h, head=37)
    curves.draw(frame)
    assert curves.pages.currentWidget() is curves.network
    rows = 38  # steps 0..37
    loss = drawn(curves.network, "loss")
    assert [(c, s) for c, s, _, _ in loss] == [
        (RUN_COLORS[0], SOLID),
        (RUN_COLORS[0], DASH),
        (RUN_COLORS[1], SOLID),
        (RUN_COLORS[1], DASH),
    ]
    for run in (0, 1):
        train, val = loss[2 * run], loss[2 * run + 1]
        assert_curve(train, *expected(h, h.loss[:, run], rows, True))
        assert_curve(val, *expected(h, h.extra["val_loss"][:, run], rows, True))
        # the cadence's NaN rows are left out, not drawn: 0, 4, ..., 36
        assert len(train[2]) == 10
    accuracy = drawn(curves.network, "accuracy")
    for run in (0, 1):
        train, val = accuracy[2 * run], accuracy[2 * run + 1]
        assert_curve(train, *expected(h, h.extra["accuracy"][:, run], rows, False))
        assert_curve(val, *expected(h, h.extra["val_accuracy"][:, run], rows, False))


def test_the_switch_draws_the_minibatch_loss_in_training_mode_and_back(curves):
    h = network_history(steps=40, runs=2, eval_every=5)
    curves.draw(network_frame(h))
    net = curves.network
    net.train_button.setChecked(True)  # as a user would
    assert net.mode == "train"
    loss = drawn(net, "loss")
    assert [(c, s) for c, s, _, _ in loss] == [(RUN_COLORS[0], SOLID), (RUN_COLORS[1], SOLID)]
    for run in (0, 1):
        # row 0 has no update: its NaN is left out, every other row drawn
        x, y = expected(h, h.extra["batch_loss"][:, run], 41, True)
        assert len(x) == 40
        assert_curve(loss[run], x, y)
    net.eval_button.setChecked(True)
    assert net.mode == "eval"
    loss = drawn(net, "loss")
    assert len(loss) == 4
    assert_curve(loss[0], *expected(h, h.loss[:, 0], 41, True))


def test_curves_follow_the_document_runs_columns(curves):
    """A snapshot whose columns are in another order than the document's runs (a run was
    moved since it was computed): each run's curve is its own column, in its colour."""
    h = network_history(steps=20, runs=2, eval_every=2)
    frame = network_frame(h)
    snapshot = dataclasses.replace(frame.snapshot, run_ids=(11, 10))
    frame = dataclasses.replace(frame, snapshot=snapshot, run_ids=(10, 11))
    curves.draw(frame)
    loss = drawn(curves.network, "loss")
    # document run 0 (colour 0) is column 1
    assert_curve(loss[0], *expected(h, h.loss[:, 1], 21, True))
    assert_curve(loss[2], *expected(h, h.loss[:, 0], 21, True))


def test_by_epoch_the_horizontal_axis_is_the_runs_epochs(curves):
    h = network_history(steps=30, runs=2, eval_every=3)
    h.epoch[:, 1] *= 2  # a run at another batch size
    curves.draw(network_frame(h))
    curves.set_x_mode("epoch")
    loss = drawn(curves.network, "loss")
    assert_curve(loss[2], *expected(h, h.loss[:, 1], 31, True, x=h.epoch[:, 1]))


def test_layers_of_the_selected_run_or_one_layer_of_every_run(curves):
    h = network_history(steps=30, runs=3, eval_every=3)
    frame = network_frame(h, head=20, selected=2)
    curves.draw(frame)
    net = curves.network
    assert drawn(net, "layers") == []  # a hidden tab is not drawn...
    net.tabs.setCurrentIndex(1)  # ...until it is opened
    g = h.layers.grad_norm
    colors = layer_colors(3)
    curves_drawn = {c: (x, y) for c, _, x, y in drawn(net, "layers")}
    assert len(curves_drawn) == 3
    for k in range(3):  # every layer of run 2
        x, y = expected(h, g[:, 2, k], 21, True)
        assert len(x) == 20  # row 0 has no gradient
        assert_curve((None, None, *curves_drawn[colors[k]]), x, y)
    net.layer_choice.setCurrentIndex(net.layer_choice.findData(1))  # linear1, every run
    layer1 = drawn(net, "layers")
    assert [c for c, _, _, _ in layer1] == sorted(RUN_COLORS[:3])
    for run in range(3):
        curve = next(c for c in layer1 if c[0] == RUN_COLORS[run])
        assert_curve(curve, *expected(h, g[:, run, 1], 21, True))
    net.quantity_choice.setCurrentIndex(net.quantity_choice.findData("update_ratio"))
    ratio = next(c for c in drawn(net, "layers") if c[0] == RUN_COLORS[0])
    assert_curve(ratio, *expected(h, h.layers.update_ratio[:, 0, 1], 21, True))


def test_batch_norm_shows_the_chosen_channels_batch_and_running_statistics(curves):
    h = network_history(steps=50, runs=2, eval_every=5)
    curves.draw(network_frame(h, head=30, selected=1))
    net = curves.network
    net.tabs.setCurrentIndex(2)  # opened after the first frame: its legend is made then
    assert net.bn_stack.currentIndex() == 0
    assert [label.text for _, label in net.bn_legend.items] == ["batch", "running"]
    net.bn_layer_choice.setCurrentIndex(1)
    net.bn_channel_choice.setCurrentIndex(2)  # channel 5, third recorded
    assert net.bn_channel_choice.currentText() == "channel 5"
    for plot, stat in (("bn_mean", "mean"), ("bn_var", "var")):
        batch, running = (
            getattr(h.bn, f"{kind}_{stat}")[:, 1, 1, 2] for kind in ("batch", "running")
        )
        curves_drawn = drawn(net, plot)
        assert len(curves_drawn) == 2
        thick = max(net.items[plot][:2], key=lambda item: item.opts["pen"].widthF())
        thin = next(item for item in net.items[plot][:2] if item is not thick)
        x, y = expected(h, batch, 31, False)
        assert len(x) == 30  # row 0: no minibatch yet
        assert_curve((None, None, thin.xData, thin.yData), x, y)
        x, y = expected(h, running, 31, False)
        assert_curve((None, None, thick.xData, thick.yData), x, y)
        assert thick.opts["pen"].color().name() == RUN_COLORS[1]
    assert "bn1 channel 5" in net.bn_caption.text()
    assert "run1" in net.bn_caption.text()


def test_without_batch_norm_the_statistics_give_way_to_a_reason(curves):
    h = network_history(steps=20, runs=2, batch_norm=False)
    curves.draw(network_frame(h))
    net = curves.network
    net.tabs.setCurrentIndex(2)
    QApplication.processEvents()
    assert net.bn_stack.currentIndex() == 1
    assert "no batch norm" in net.bn_note.text().lower()
    assert not net.bn_widget.isVisible()
    assert drawn(net, "bn_mean") == []
    assert drawn(net, "bn_var") == []


def test_a_two_parameter_frame_after_a_network_shows_the_usual_curves(curves):
    curves.draw(network_frame(network_history(steps=20, runs=2)))
    assert curves.pages.currentWidget() is curves.network
    frame = computed(BOWL)
    curves.draw(frame)
    assert curves.pages.currentWidget() is curves.layout_widget
    h = frame.history
    y = curves.items["loss"][1].yData  # sgd: column 1, loss over the whole bowl's 4 rows
    np.testing.assert_allclose(y, np.log10(h.loss[:4, 1]), rtol=1e-12)


def test_the_read_out_gives_every_curve_at_the_nearest_drawn_row(curves):
    h = network_history(steps=60, runs=2, eval_every=4)
    curves.draw(network_frame(h, head=37))
    net = curves.network
    text = net.readout_text("loss", 21.4)  # evaluated rows 0, 4, ..., 36: row 20 is nearest
    assert "step 21" in text
    for run in (0, 1):
        assert f"run{run} train {format_value(h.loss[20, run])}" in text
        assert f"run{run} val {format_value(h.extra['val_loss'][20, run])}" in text
    past = net.readout_text("accuracy", 55)  # past the head: the last revealed evaluation
    assert f"run1 val {format_value(h.extra['val_accuracy'][36, 1])}" in past
    net.set_mode("train")
    text = net.readout_text("loss", 21.4)
    assert f"run0 {format_value(h.extra['batch_loss'][21, 0])}" in text


def test_a_network_before_any_row_is_computed_draws_nothing_and_says_so(curves):
    frame = network_frame(network_history(steps=20, runs=2))
    snapshot = dataclasses.replace(frame.snapshot, history=None, count=0)
    curves.draw(dataclasses.replace(frame, snapshot=snapshot, rows=0))
    net = curves.network
    for plot in net.plots:
        assert drawn(net, plot) == []
    assert net.bn_stack.currentIndex() == 1
    assert "nothing computed yet" in net.bn_note.text().lower()


def test_a_trained_networks_history_is_drawn_as_recorded(curves):
    """The trainer's own records (digits, batch norm, evaluated every 4th row): what the
    curves draw is what it recorded, channel by channel."""
    data = {
        "seed": 0,
        "steps": 24,
        "dtype": "float32",
        "problem": {"kind": "mlp", "dataset": "digits", "hidden": [8, 6], "batch_norm": True},
        "runs": [
            {"label": "sgd", "optimizer": "sgd", "lr": 0.1, "batch_size": 16},
            {"label": "adam", "optimizer": "adam", "lr": 0.01, "batch_size": 16},
        ],
    }
    experiment = parse_experiment(data)
    trainer = build(experiment).trainer.fresh(eval_every=4)
    h = trainer.run()
    assert h.layers is not None
    assert h.bn is not None
    frame = network_frame(h, experiment, head=18, selected=1)
    curves.draw(frame)
    net = curves.network
    loss = drawn(net, "loss")
    x, y = expected(h, h.extra["val_loss"][:, 1], 19, True)
    assert len(x) == 5  # rows 0, 4, ..., 16
    assert_curve(loss[3], x, y)
    net.set_mode("train")
    assert_curve(drawn(net, "loss")[1], *expected(h, h.extra["batch_loss"][:, 1], 19, True))
    net.tabs.setCurrentIndex(2)
    net.bn_layer_choice.setCurrentIndex(1)
    net.bn_channel_choice.setCurrentIndex(net.bn_channel_choice.count() - 1)
    layer, channel = 1, len(h.bn.channels) - 1
    thick = max(net.items["bn_var"][:2], key=lambda item: item.opts["pen"].widthF())
    running = h.bn.running_var[:, 1, layer, channel]
    assert_curve((None, None, thick.xData, thick.yData), *expected(h, running, 19, False))


def test_vertical_ranges_span_every_computed_row_not_only_the_revealed(curves):
    h = network_history(steps=60, runs=2, eval_every=4)
    curves.draw(network_frame(h, head=8, selected=0))
    net = curves.network
    QApplication.processEvents()
    low, high = net.plots["loss"].vb.viewRange()[1]
    every = np.concatenate([h.loss.ravel(), h.extra["val_loss"].ravel()])
    every = np.log10(every[np.isfinite(every)])
    assert low <= every.min() < every.max() <= high
    assert net.plots["accuracy"].vb.viewRange()[1][0] <= 0.0
    assert net.plots["accuracy"].vb.viewRange()[1][1] >= 1.0
    net.tabs.setCurrentIndex(2)
    low, high = net.plots["bn_mean"].vb.viewRange()[1]
    channel = np.concatenate([h.bn.batch_mean[1:, 0, 0, 0], h.bn.running_mean[:, 0, 0, 0]])
    assert low <= channel.min() < channel.max() <= high


def test_a_long_history_is_drawn_within_the_budget_keeping_its_extremes(curves):
    h = network_history(steps=12_000, runs=1, eval_every=3)
    curves.draw(network_frame(h, head=10_000))
    net = curves.network
    for mode, column in (("eval", h.loss[:, 0]), ("train", h.extra["batch_loss"][:, 0])):
        net.set_mode(mode)
        (_, _, x, y), *_ = drawn(net, "loss")
        assert len(x) <= MAX_CURVE_POINTS + 2
        revealed = column[:10_001]
        assert y.max() == pytest.approx(np.log10(np.nanmax(revealed)), rel=1e-12)
        assert y.min() == pytest.approx(np.log10(np.nanmin(revealed)), rel=1e-12)
        assert x.max() <= 10_000


def test_a_theme_change_restyles_the_network_curves_and_keeps_them(curves):
    h = network_history(steps=30, runs=2, eval_every=3)
    curves.draw(network_frame(h))
    before = drawn(curves.network, "loss")
    curves.apply_theme(DARK)
    net = curves.network
    for widget in net.findChildren(pg.GraphicsLayoutWidget):
        assert widget.backgroundBrush().color().name() == pg.mkColor(DARK.plot_background).name()
    assert net.bn_legend.opts["labelTextColor"].name() == pg.mkColor(DARK.plot_foreground).name()
    after = drawn(net, "loss")
    assert len(after) == len(before) == 4
    for a, b in zip(after, before, strict=True):
        assert_curve(a, b[2], b[3])


def test_the_batch_norm_caption_says_which_minibatch_the_batch_statistic_is_of(curves):
    h = network_history(steps=20, runs=2)
    experiment = network_experiment(2, True, 20)
    runs = [
        experiment.runs[0].model_copy(update={"batch_size": 1}),
        experiment.runs[1].model_copy(update={"accumulation_steps": 4}),
    ]
    experiment = experiment.model_copy(update={"runs": runs})
    curves.draw(network_frame(h, experiment, selected=0))
    net = curves.network
    net.tabs.setCurrentIndex(2)
    assert "Batch size 1" in net.bn_caption.text()
    assert "micro-batch" not in net.bn_caption.text()
    curves.draw(network_frame(h, experiment, selected=1))
    assert "4 micro-batches per update" in net.bn_caption.text()
    assert "Batch size 1" not in net.bn_caption.text()


TINY_NETWORK = """
seed = 0
steps = 12
[problem]
kind = "mlp"
dataset = "digits"
hidden = [8]
batch_norm = true
[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.1
batch_size = 32
[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.01
batch_size = 32
"""


def test_the_window_trains_a_network_and_its_curves_draw_the_sessions_history(
    qtbot, settings, tmp_path
):
    from gui.main_window import MainWindow

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_NETWORK, encoding="utf-8")
    window = MainWindow(settings, interactive=False)
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.open_path(path, ask=False)
        assert window.controller.wait_until_computed(120)
        window.controller.pause()
        window.controller.seek(6)
        frame = window.controller.current_frame()
        view = window.curves_view
        assert view.pages.currentWidget() is view.network
        h = frame.history
        assert frame.rows == 7

        def drawn_up_to_the_head():
            loss = drawn(view.network, "loss")
            for run in (0, 1):
                col = frame.column(run)
                assert_curve(loss[2 * run], *expected(h, h.loss[:, col], frame.rows, True))
                val = h.extra["val_loss"][:, col]
                assert_curve(loss[2 * run + 1], *expected(h, val, frame.rows, True))

        # a frame that is no new result is drawn on the throttle's trailing edge when the
        # last draws were slow (a loaded machine): then the curves still show the end
        qtbot.waitUntil(drawn_up_to_the_head, timeout=PATIENCE_MS)
    finally:
        window.controller.path = None
        window.close()


def test_the_caption_says_validation_dashed_only_with_a_validation_split(curves):
    """validation_fraction = 0: the trainer records no validation loss, no dashed curve is
    drawn, and the caption over the curves must not promise one."""
    data = {
        "seed": 0,
        "steps": 12,
        "problem": {
            "kind": "mlp",
            "dataset": "moons",
            "samples": 60,
            "hidden": [4],
            "validation_fraction": 0.0,
        },
        "runs": [{"label": "sgd", "optimizer": "sgd", "lr": 0.1, "batch_size": 16}],
    }
    experiment = parse_experiment(data)
    h = build(experiment).trainer.fresh(eval_every=4).run()
    curves.draw(network_frame(h, experiment))
    net = curves.network
    assert [style for _, style, _, _ in drawn(net, "loss")] == [SOLID]
    assert "validation" not in net.mode_caption.text().replace("no validation split", "")
    assert "dashed" not in net.mode_caption.text()
    net.set_mode("train")
    assert net.mode_caption.text() == "each update's minibatch, batch statistics"
    net.set_mode("eval")
    assert "dashed" not in net.mode_caption.text()
    # with a validation split (the default's) the dashed curves are there, and said
    h = network_history(steps=20, runs=1)
    curves.draw(network_frame(h))
    assert DASH in [style for _, style, _, _ in drawn(net, "loss")]
    assert net.mode_caption.text().endswith("train solid, validation dashed")


def wrapped_height(label, text: str) -> int:
    """The oracle: ``text`` word-wrapped at the label's width, by the font's metrics."""
    width = label.contentsRect().width()
    flags = int(Qt.TextFlag.TextWordWrap)
    return label.fontMetrics().boundingRect(0, 0, width, 10_000, flags, text).height()


def test_switching_the_mode_keeps_the_plots_where_they_are(qtbot):
    """At the curves dock's width at 1366 × 768 the evaluation caption wraps to two lines
    and the training one does not: the header is as tall in both modes (the plots jumped)."""
    view = offscreen(qtbot, CurvesView(None, LIGHT), (330, 700))
    view.draw(network_frame(network_history(steps=20, runs=1)))
    net = view.network
    QApplication.processEvents()
    eval_text, train_text = (mode_caption(m, True) for m in ("eval", "train"))
    lines = net.mode_caption.fontMetrics().lineSpacing()
    # the premise: the two captions take different numbers of lines at this width
    assert (
        wrapped_height(net.mode_caption, eval_text)
        > wrapped_height(net.mode_caption, train_text) + lines // 2
    )
    tops, heights = [], []
    for mode in ("eval", "train", "eval"):
        net.set_mode(mode)
        QApplication.processEvents()
        assert net.mode_caption.height() >= wrapped_height(net.mode_caption, eval_text)
        tops.append(net.tabs.mapTo(view, net.tabs.rect().topLeft()).y())
        heights.append(net.tabs.height())
    assert len(set(tops)) == 1, tops
    assert len(set(heights)) == 1, heights
