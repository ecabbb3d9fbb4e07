"""The curves of a network (``kind = "mlp"``), drawn from ``frame.history`` alone.

Three tabs, so that the curves dock stays readable at 1366×768:

- **Loss** (and accuracy): per run, in evaluation mode (the full training split solid, the
  validation split dashed, both with the running statistics), or in training mode (the
  minibatch loss of each update, with the minibatch's statistics). Accuracy is only ever
  measured in evaluation mode, so its plot shows that in both modes.
- **Layers**: per-layer norms (of the minibatch gradient, the weights, or the update
  relative to the weights): every layer of the selected run, or one layer for every run.
- **Batch norm**: for a chosen batch-norm layer and channel of the selected run, each
  update's batch mean (noisy, thin) against the running mean that evaluation uses (smooth,
  thick), and the variances likewise: the lecture's moving average made visible.

Rows are revealed up to the playhead (``frame.rows``) and stop at a run's divergence
(``frame.finite_rows``). Evaluated columns hold NaN between evaluations (``eval_every``):
those rows are left out, so a curve joins its evaluated points rather than breaking into
dots. Long curves reach pyqtgraph peak-reduced, as ``curves_view`` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.geometry import grown_end
from gui.theme import LIGHT, Theme, run_color, set_pen, style_plot
from gui.widgets.curve_item import Curve
from gui.widgets.curves_view import _clear, _Extent, _set
from gui.widgets.log_axis import LogAxis, SpacedAxis
from gui.widgets.parameter_slider import format_value

EVAL, TRAIN = "eval", "train"
SOLID, DASH = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine
MODE_TEXT = {EVAL: "evaluation mode", TRAIN: "training mode"}
#: What each mode draws, on a line of its own under the switch (a wrapping label, so that
#: the switch does not make the curves dock wider than the 2-parameter curves need)
MODE_CAPTION = {
    EVAL: "full split, running statistics: train solid, validation dashed",
    TRAIN: "each update's minibatch, batch statistics",
}
NO_VALIDATION_CAPTION = "full training split, running statistics (no validation split)"
MODE_TIPS = {
    EVAL: (
        "Loss and accuracy on the whole training split (solid) and the validation split\n"
        "(dashed), in evaluation mode: batch norm uses its running statistics.\n"
        "Evaluated every few rows (eval_every); the points in between are joined."
    ),
    TRAIN: (
        "The loss of each update's minibatch, in training mode: batch norm normalizes\n"
        "with the minibatch's own statistics (noisy, and not what evaluation sees)."
    ),
}
#: What the gradients tab can show of each layer (history.layers' arrays)
LAYER_QUANTITIES = (
    ("grad_norm", "‖∇‖ (minibatch)", "gradient norm of the layer on the update's minibatch"),
    ("update_ratio", "‖Δw‖/‖w‖", "size of the update relative to the layer's weights"),
    ("weight_norm", "‖w‖", "norm of the layer's weights"),
)
#: Layers' colours when one run's layers are drawn together (not the runs' colours: they
#: would read as runs); dark to light along the network
LAYER_MAP = "viridis"
TAB_PLOTS = (("loss", "accuracy"), ("layers",), ("bn_mean", "bn_var"))  # by tab
READOUT_SUFFIX = {"loss": "train", "val_loss": "val", "accuracy": "train", "val_accuracy": "val"}
PLOTS = (  # name, axis title, log axis
    ("loss", "loss", True),
    ("accuracy", "accuracy (eval)", False),
    ("layers", "‖∇‖ (minibatch)", True),
    ("bn_mean", "mean", False),
    ("bn_var", "variance", False),
)


@dataclass(frozen=True)
class Drawn:
    """One curve: which history column of which run, and how it looks."""

    key: tuple  # names the data (for the curve's incremental reduction)
    x: np.ndarray
    y: np.ndarray
    rows: int
    all_rows: int  # the rows computed (the vertical range spans them, not only the revealed)
    color: str
    width: float
    style: Qt.PenStyle = Qt.PenStyle.SolidLine
    name: str = ""  # in the plot's legend (empty: none)
    label: str = ""  # in the hover read-out


def is_network(frame) -> bool:
    """The frame's history is a network's (the snapshot's experiment, which made it)."""
    return getattr(frame.snapshot.experiment.problem, "kind", None) == "mlp"


def has_validation(frame) -> bool:
    """The frame's experiment holds examples out (``validation_fraction`` > 0: the split
    takes ⌈fraction·N⌉ of them, at least one), so there are dashed validation curves."""
    fraction = getattr(frame.snapshot.experiment.problem, "validation_fraction", 0.0)
    return bool(fraction and fraction > 0)


class SteadyLabel(QLabel):
    """A wrapping label as tall, at its width, as the tallest of the texts it may show: the
    switch's caption wraps to two lines in one mode and one in the other in a narrow dock,
    and the plots under it jumped when the mode was switched."""

    def __init__(self, texts, parent: QWidget | None = None):
        super().__init__(texts[0], parent)
        self.setWordWrap(True)
        self.setAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
        )  # under the switch
        self.texts = tuple(texts)
        self._probe = QLabel()  # never shown: lays out each text at the asked width
        self._probe.setWordWrap(True)

    def heightForWidth(self, width: int) -> int:
        self._probe.setFont(self.font())
        self._probe.setContentsMargins(self.contentsMargins())
        heights = []
        for text in (*self.texts, self.text()):
            self._probe.setText(text)
            heights.append(self._probe.heightForWidth(width))
        return max(heights)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), self.heightForWidth(hint.width()))

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(hint.width(), max(hint.height(), self.heightForWidth(hint.width())))


def mode_caption(mode: str, validation: bool) -> str:
    """What the loss plot draws in ``mode``: no "validation dashed" without a validation
    split."""
    return MODE_CAPTION[mode] if mode == TRAIN or validation else NO_VALIDATION_CAPTION


def shown_run(frame) -> int | None:
    """The document's run whose details are drawn: the selected one, else the first
    visible run the snapshot has a column for; None when there is none."""
    runs = frame.experiment.runs
    candidates = [frame.selected_run, *range(len(runs))]
    for i in candidates:
        if 0 <= i < len(runs) and runs[i].visible and frame.column(i) is not None:
            return i
    return None


class NetworkCurves(QWidget):
    def __init__(self, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.theme = theme
        self.mode = EVAL
        self._frame = None
        self._x_mode = "step"
        self._x_key = None
        self._ranges: dict[str, tuple] = {}  # plot -> (curves' keys, their extent, span set)
        self._y_by_user: set[str] = set()
        self._legend_keys: dict[str, tuple] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self.items: dict[str, list] = {name: [] for name, _, _ in PLOTS}
        self.playheads: dict[str, pg.InfiniteLine] = {}
        self.drawn: dict[str, list[Drawn]] = {name: [] for name, _, _ in PLOTS}

        # the train/eval switch
        self.eval_button = QRadioButton(MODE_TEXT[EVAL])
        self.train_button = QRadioButton(MODE_TEXT[TRAIN])
        self.eval_button.setChecked(True)
        for mode, button in ((EVAL, self.eval_button), (TRAIN, self.train_button)):
            button.setToolTip(MODE_TIPS[mode])
        group = QButtonGroup(self)
        group.addButton(self.eval_button)
        group.addButton(self.train_button)
        self.train_button.toggled.connect(lambda on: self.set_mode(TRAIN if on else EVAL))

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._redraw)
        # loss & accuracy
        self.loss_widget = self._plots_widget(("loss", "accuracy"))
        self.tabs.addTab(self.loss_widget, "Loss")
        # gradients
        self.layer_choice = QComboBox()
        self.layer_choice.setToolTip(
            "Every layer of the selected run, or one layer for every run (in the runs' colours)"
        )
        self.quantity_choice = QComboBox()
        for key, label, tip in LAYER_QUANTITIES:
            self.quantity_choice.addItem(label, key)
            self.quantity_choice.setItemData(
                self.quantity_choice.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.layers_note = QLabel("")
        self.layers_stack, self.layers_widget = self._hideable(("layers",), self.layers_note)
        self.tabs.addTab(
            self._tab([self.layer_choice, self.quantity_choice], self.layers_stack), "Layers"
        )
        # batch norm
        self.bn_layer_choice = QComboBox()
        self.bn_layer_choice.setToolTip("The batch-norm layer")
        self.bn_channel_choice = QComboBox()
        self.bn_channel_choice.setToolTip("The channel (a hidden unit) whose statistics are drawn")
        self.bn_note = QLabel("")
        self.bn_stack, self.bn_widget = self._hideable(("bn_mean", "bn_var"), self.bn_note)
        self.tabs.addTab(
            self._tab([self.bn_layer_choice, self.bn_channel_choice], self.bn_stack), "Batch norm"
        )
        self.bn_caption = QLabel("")
        self.bn_caption.setWordWrap(True)
        self.bn_widget.layout().addWidget(self.bn_caption)
        for box in (
            self.layer_choice,
            self.quantity_choice,
            self.bn_layer_choice,
            self.bn_channel_choice,
        ):
            box.currentIndexChanged.connect(self._redraw)

        first = self.plots["loss"]
        for plot in self.plots.values():
            if plot is not first:
                plot.setXLink(first)
        self.bn_legend = self.plots["bn_mean"].addLegend(offset=(4, 4), labelTextSize="8pt")
        self.layers_legend = self.plots["layers"].addLegend(offset=(4, 4), labelTextSize="8pt")

        self.mode_caption = SteadyLabel((*MODE_CAPTION.values(), NO_VALIDATION_CAPTION))
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.eval_button)
        buttons.addWidget(self.train_button)
        buttons.addStretch(1)
        switch = QVBoxLayout()
        switch.setContentsMargins(4, 0, 4, 0)
        switch.setSpacing(0)
        switch.addLayout(buttons)
        switch.addWidget(self.mode_caption)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(switch)
        layout.addWidget(self.tabs, 1)
        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)
        self.readout.setToolTip("Values of every curve at the step under the mouse pointer")
        layout.addWidget(self.readout)
        self._hover = [
            pg.SignalProxy(w.scene().sigMouseMoved, rateLimit=30, slot=self._on_hover)
            for w in self.findChildren(pg.GraphicsLayoutWidget)
        ]
        self.apply_theme(theme)

    # ---- building ------------------------------------------------------------------------
    def _plots_widget(self, names) -> pg.GraphicsLayoutWidget:
        widget = pg.GraphicsLayoutWidget()
        for row, name in enumerate(names):
            title, log = next((t, lg) for n, t, lg in PLOTS if n == name)
            axes = {"left": LogAxis("left"), "bottom": SpacedAxis("bottom")}
            plot = widget.addPlot(row=row, col=0, axisItems=axes)
            plot.setMenuEnabled(False)
            plot.setLabel("left", title)
            plot.setLogMode(x=False, y=log)
            plot.getAxis("left").setWidth(62)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.hideButtons()
            plot.enableAutoRange(y=False)
            if name == "accuracy":
                plot.setYRange(0.0, 1.0)
            plot.vb.sigRangeChangedManually.connect(
                lambda mask, name=name: mask[1] and self._y_by_user.add(name)
            )
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setZValue(30)
            plot.addItem(line, ignoreBounds=True)
            self.playheads[name] = line
            self.plots[name] = plot
        plot.setLabel("bottom", "step (updates)")
        widget.setToolTip("Scroll to zoom, drag to pan. The vertical line is the playhead.")
        return widget

    def _hideable(self, names, note: QLabel) -> tuple[QStackedWidget, QWidget]:
        """Plots, or in their place a one-line reason why there is nothing to draw."""
        stack = QStackedWidget()
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self._plots_widget(names), 1)
        stack.addWidget(page)
        note.setWordWrap(True)
        note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        note.setContentsMargins(8, 8, 8, 8)
        stack.addWidget(note)
        return stack, page

    def _tab(self, choices, body) -> QWidget:
        tab = QWidget()
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 0)
        for box in choices:
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            row.addWidget(box)
        row.addStretch(1)
        column = QVBoxLayout(tab)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(row)
        column.addWidget(body, 1)
        return tab

    # ---- look ----------------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        for name, plot in self.plots.items():
            style_plot(plot, theme)
            self.playheads[name].setPen(
                pg.mkPen(theme.muted_text, width=1, style=Qt.PenStyle.DashLine)
            )
        for widget in self.findChildren(pg.GraphicsLayoutWidget):
            widget.setBackground(theme.plot_background)
        backdrop = QColor(theme.plot_background)
        backdrop.setAlpha(200)  # the legend over the curves, still readable
        for legend in (self.bn_legend, self.layers_legend):
            legend.setBrush(pg.mkBrush(backdrop))
            legend.setZValue(40)  # over the curves (and the playhead)
            legend.setLabelTextColor(theme.plot_foreground)
        self._legend_keys.clear()
        self._redraw()

    def set_mode(self, mode: str) -> None:
        """What the loss plot shows: ``"eval"`` (full splits, running statistics) or
        ``"train"`` (each update's minibatch loss)."""
        if mode not in MODE_TEXT:
            raise ValueError(f"curves mode must be one of {sorted(MODE_TEXT)}, got {mode!r}")
        self.mode = mode
        self._show_caption()
        button = self.train_button if mode == TRAIN else self.eval_button
        if not button.isChecked():
            button.setChecked(True)
        self._redraw()

    def _show_caption(self) -> None:
        validation = self._frame is None or has_validation(self._frame)
        text = mode_caption(self.mode, validation)
        if text != self.mode_caption.text():
            self.mode_caption.setText(text)

    def _redraw(self, *_args) -> None:
        if self._frame is not None:
            self.draw(self._frame, self._x_mode)

    # ---- drawing -------------------------------------------------------------------------
    def draw(self, frame, x_mode: str = "step") -> None:
        self._frame = frame
        if x_mode != self._x_mode:
            self._x_mode = x_mode
            for name in ("accuracy", "layers", "bn_var"):
                self.plots[name].setLabel(
                    "bottom",
                    "epoch" if x_mode == "epoch" else "step (updates)",
                    color=self.theme.plot_foreground,
                )
        h = frame.history
        self._show_caption()
        self._update_choices(h)
        self.drawn = {
            "loss": self._loss_curves(frame),
            "accuracy": self._accuracy_curves(frame),
            "layers": self._layer_curves(frame),
            "bn_mean": self._bn_curves(frame, "mean"),
            "bn_var": self._bn_curves(frame, "var"),
        }
        # only the open tab's curves reach pyqtgraph (a hidden tab's, at every frame, cost
        # as much as the shown one's); the others catch up when their tab is opened
        shown = TAB_PLOTS[self.tabs.currentIndex()]
        for name, log in ((n, lg) for n, _, lg in PLOTS if n in shown):
            self._show(name, self.drawn[name], log, frame)
        self._legends(shown)
        self._draw_playhead(frame)
        self._set_x_range(frame)

    def _x(self, h, col: int) -> np.ndarray:
        return h.epoch[:, col] if self._x_mode == "epoch" else h.step

    def _runs(self, frame):
        """(document run, column, colour, width) of every visible run with a column."""
        runs = frame.experiment.runs
        out = []
        for i, run in enumerate(runs):
            col = frame.column(i)
            if not run.visible or col is None or frame.history is None:
                continue
            width = 2.0 if i == frame.selected_run and len(runs) > 1 else 1.0
            out.append((i, col, run_color(i, run.color), width))
        return out

    def _curve(self, frame, i, col, column_name, values, color, width, style, name="", extra=()):
        h, s = frame.history, frame.snapshot
        label = name or frame.experiment.runs[i].display_label
        if column_name in READOUT_SUFFIX:
            label = f"{label} {READOUT_SUFFIX[column_name]}"
        return Drawn(
            key=(s.job_id, col, column_name, self._x_mode, *extra),
            x=self._x(h, col),
            y=values,
            rows=frame.finite_rows(i),
            all_rows=frame.finite_rows(i, s.count),
            color=color,
            width=width,
            style=style,
            name=name,
            label=label,
        )

    def _loss_curves(self, frame) -> list[Drawn]:
        h = frame.history
        out = []
        for i, col, color, width in self._runs(frame):
            if self.mode == TRAIN:
                batch = h.extra.get("batch_loss")
                if batch is not None:
                    out.append(
                        self._curve(frame, i, col, "batch_loss", batch[:, col], color, width, SOLID)
                    )
                continue
            out.append(self._curve(frame, i, col, "loss", h.loss[:, col], color, width, SOLID))
            val = h.extra.get("val_loss")
            if val is not None:
                out.append(self._curve(frame, i, col, "val_loss", val[:, col], color, width, DASH))
        return out

    def _accuracy_curves(self, frame) -> list[Drawn]:
        h = frame.history
        out = []
        for i, col, color, width in self._runs(frame):
            for name, style in (("accuracy", SOLID), ("val_accuracy", DASH)):
                values = h.extra.get(name)
                if values is not None:
                    y = values[:, col]
                    out.append(self._curve(frame, i, col, name, y, color, width, style))
        return out

    def _layer_curves(self, frame) -> list[Drawn]:
        h = frame.history
        layers = getattr(h, "layers", None) if h is not None else None
        quantity = self.quantity_choice.currentData() or "grad_norm"
        label = self.quantity_choice.currentText()
        if self.plots["layers"].getAxis("left").labelText != label:  # a new label lays out again
            self.plots["layers"].setLabel("left", label, color=self.theme.plot_foreground)
        if layers is None:
            self.layers_note.setText(
                "No per-layer records in this history (the engine records them for networks "
                "while training)."
                if h is not None
                else "Nothing computed yet."
            )
            self.layers_stack.setCurrentIndex(1)
            return []
        self.layers_stack.setCurrentIndex(0)
        values = getattr(layers, quantity)
        choice = self.layer_choice.currentData()
        out = []
        if choice is None or choice < 0:  # every layer of the shown run
            i = shown_run(frame)
            if i is None:
                return []
            col = frame.column(i)
            colors = layer_colors(len(layers.names))
            for k, layer in enumerate(layers.names):
                out.append(
                    self._curve(
                        frame, i, col, quantity, values[:, col, k], colors[k], 1.5, SOLID,
                        name=layer, extra=(k,),
                    )
                )  # fmt: skip
            return out
        for i, col, color, width in self._runs(frame):
            out.append(
                self._curve(frame, i, col, quantity, values[:, col, choice], color, width, SOLID,
                            extra=(choice,))
            )  # fmt: skip
        return out

    def _bn_curves(self, frame, stat: str) -> list[Drawn]:
        h = frame.history
        bn = getattr(h, "bn", None) if h is not None else None
        if bn is None:
            if h is None:
                reason = "Nothing computed yet."
            else:
                reason = "No batch norm in this network (batch_norm = false): nothing to show."
            self.bn_note.setText(reason)
            self.bn_stack.setCurrentIndex(1)
            return []
        self.bn_stack.setCurrentIndex(0)
        i = shown_run(frame)
        layer = max(self.bn_layer_choice.currentIndex(), 0)
        channel = max(self.bn_channel_choice.currentIndex(), 0)
        if i is None:
            self.bn_caption.setText("No visible run.")
            return []
        col = frame.column(i)
        run = frame.experiment.runs[i]
        # (the snapshot's experiment: the one the curves were trained from)
        if frame.snapshot.experiment.run_without_batch_norm(col):
            self.bn_note.setText(
                f"Run {run.display_label!r} trains without batch norm (batch_norm = false in "
                "the run): no statistics to show. Select a run with batch norm."
            )
            self.bn_stack.setCurrentIndex(1)
            return []
        color = run_color(i, run.color)
        pale = QColor(color)
        pale.setAlpha(130)  # the batch statistic thin and pale: the running one reads on it
        momentum = getattr(frame.snapshot.experiment.problem, "bn_momentum", None)
        momentum_text = f"momentum {momentum:g}" if isinstance(momentum, float) else "momentum"
        if stat == "mean":
            self.bn_caption.setText(
                bn_caption(run, bn.layers[layer], bn.channels[channel], momentum_text)
            )
        extra = (layer, channel)
        batch = getattr(bn, f"batch_{stat}")[:, col, layer, channel]
        running = getattr(bn, f"running_{stat}")[:, col, layer, channel]
        return [
            self._curve(frame, i, col, f"batch_{stat}", batch, pale.getRgb(),
                        1.0, SOLID, name="batch", extra=extra),
            self._curve(frame, i, col, f"running_{stat}", running, color, 2.5, SOLID,
                        name="running", extra=extra),
        ]  # fmt: skip

    def _update_choices(self, h) -> None:
        """The layer and channel lists follow the history (kept when they are the same)."""
        layers = getattr(h, "layers", None) if h is not None else None
        names = tuple(layers.names) if layers is not None else ()
        entries = [("all layers, selected run", -1)] + [
            (f"{name}, all runs", k) for k, name in enumerate(names)
        ]
        _refill(self.layer_choice, entries)
        bn = getattr(h, "bn", None) if h is not None else None
        _refill(self.bn_layer_choice, [(name, k) for k, name in enumerate(bn.layers)] if bn else [])
        _refill(
            self.bn_channel_choice,
            [(f"channel {c}", k) for k, c in enumerate(bn.channels)] if bn else [],
        )

    def _show(self, name: str, drawn: list[Drawn], log: bool, frame) -> None:
        pool = self.items[name]
        while len(pool) < len(drawn):
            item = Curve(antialias=False)
            item._drawn = ()
            self.plots[name].addItem(item)
            pool.append(item)
        for item, d in zip(pool, drawn, strict=False):
            set_pen(item, d.color, d.width, d.style)
            if d.rows:
                _set(item, d.key, d.rows, d.x, d.y, log, math.inf)
            else:
                _clear(item)
        for item in pool[len(drawn) :]:
            _clear(item)
        self._set_y_range(name, drawn, log, frame)

    def _set_y_range(self, name: str, drawn: list[Drawn], log: bool, frame) -> None:
        """A vertical range over every computed row of what is drawn (not only the revealed
        ones): moving the playhead moves the curves' ends, not the axes. Extended by the
        rows new since the last frame; a plot the user zoomed or panned keeps its range."""
        if name == "accuracy" or name in self._y_by_user:
            return
        keys = tuple(d.key for d in drawn)
        kept = self._ranges.get(name)
        if kept is None or kept[0] != keys:
            kept = (keys, _Extent() if log else _LinearExtent(), None)
        keys, extent, shown = kept
        for d in drawn:
            extent.add(d.key, d.y, d.all_rows, math.inf)
        span = extent.span()
        self._ranges[name] = (keys, extent, span)
        if span is None or span == shown:
            return
        lo, hi = span
        if hi <= lo:  # one value: a unit around it
            lo, hi = lo - 0.5, hi + 0.5
        self.plots[name].setYRange(lo, hi)

    def _legends(self, shown: tuple[str, ...]) -> None:
        """The legends of the open tab's plots (a hidden plot's curves may not exist yet)."""
        for name, legend in (("bn_mean", self.bn_legend), ("layers", self.layers_legend)):
            if name not in shown:
                continue
            entries = tuple((d.name, d.color) for d in self.drawn[name] if d.name)
            if self._legend_keys.get(name) == entries:
                continue
            self._legend_keys[name] = entries
            legend.clear()
            for item, d in zip(self.items[name], self.drawn[name], strict=False):
                if d.name:
                    legend.addItem(item, d.name)
            legend.setVisible(bool(entries))

    # ---- hover ---------------------------------------------------------------------------
    def _on_hover(self, event) -> None:
        pos = event[0]
        hovered = None
        for name, plot in self.plots.items():
            if plot.isVisible() and plot.sceneBoundingRect().contains(pos):
                hovered = name
        if hovered is None or self._frame is None:
            self.readout.setText(" ")
            return
        x = self.plots[hovered].vb.mapSceneToView(pos).x()
        self.readout.setText(self.readout_text(hovered, x))

    def readout_text(self, plot: str, x: float) -> str:
        """Every curve of ``plot`` at the drawn row nearest to ``x`` (a step, or an epoch)."""
        parts = []
        for d in self.drawn.get(plot, []):
            xs, ys = np.asarray(d.x[: d.rows], float), np.asarray(d.y[: d.rows], float)
            rows = np.flatnonzero(np.isfinite(ys) & np.isfinite(xs))
            if not len(rows):
                continue
            row = rows[np.argmin(np.abs(xs[rows] - x))]
            color = QColor(*d.color) if isinstance(d.color, tuple) else QColor(d.color)
            color.setAlpha(255)
            mark = "┄" if d.style == DASH else "●"
            parts.append(
                f"<span style='color:{color.name()}'>{mark}</span> "
                f"{escape(d.label, quote=False)} {format_value(float(ys[row]))}"
            )
        title = self.plots[plot].getAxis("left").labelText or plot
        where = f"epoch {x:.3g}" if self._x_mode == "epoch" else f"step {round(x)}"
        return f"<b>{escape(title, quote=False)}</b> at {where}: " + " &nbsp; ".join(parts)

    def _draw_playhead(self, frame) -> None:
        h = frame.history
        x = float(frame.head)
        if self._x_mode == "epoch":
            x = 0.0
            if h is not None and frame.rows:
                with np.errstate(all="ignore"):
                    last = h.epoch[frame.rows - 1]
                    x = float(np.nanmax(last)) if np.isfinite(last).any() else 0.0
        for line in self.playheads.values():
            line.setValue(x)

    def _set_x_range(self, frame) -> None:
        plot = self.plots["loss"]
        if self._x_mode == "step":
            s, total = frame.snapshot, frame.experiment.steps
            end = total
            if s.history is not None and s.count and not s.done:
                end = grown_end(float(s.history.step[s.count - 1]), total)
            if ("step", end) != self._x_key:
                self._x_key = ("step", end)
                plot.setXRange(0, end, padding=0.01)
        else:
            self._x_key = None
            plot.enableAutoRange(x=True)


def bn_caption(run, layer: str, channel: int, momentum_text: str) -> str:
    """What the batch-norm plots show, for ``run``; its batch size and accumulation say
    which minibatch the batch statistics are of."""
    text = (
        f"Run “{run.display_label}”, {layer} channel {channel}: each update's batch "
        f"statistic (thin) and the running average evaluation uses ({momentum_text}, thick)."
    )
    if getattr(run, "accumulation_steps", 1) > 1:
        text += (
            f" With {run.accumulation_steps} micro-batches per update, the batch statistic is "
            "the last micro-batch's: each normalizes with its own."
        )
    if getattr(run, "batch_size", None) == 1:
        text += (
            " Batch size 1: the batch mean is the example itself and the batch variance 0, "
            "so every activation is normalized to β."
        )
    return text


class _LinearExtent:
    """The lowest and highest finite value of some columns, extended by the rows new since
    the last call (``curves_view._Extent`` for a linear axis)."""

    def __init__(self):
        self.done: dict = {}
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, column_key, column, rows: int, ceiling: float = math.inf) -> None:
        start = self.done.get(column_key, 0)
        if rows <= start:
            return
        self.done[column_key] = rows
        values = np.asarray(column[start:rows], float)
        values = values[np.isfinite(values) & (values <= ceiling)]
        if values.size:
            self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))

    def span(self) -> tuple[float, float] | None:
        return None if self.lo > self.hi else (self.lo, self.hi)


def layer_colors(n: int) -> list[str]:
    """``n`` colours along the network, dark to light (not the runs' colours)."""
    cmap = pg.colormap.get(LAYER_MAP)
    points = [0.5] if n == 1 else np.linspace(0.0, 0.85, n)
    return [cmap.map(p, mode="qcolor").name() for p in points]


def _refill(box: QComboBox, entries: list[tuple[str, int]]) -> None:
    """Give ``box`` these (text, data) entries, keeping the choice when it still exists."""
    if [(box.itemText(k), box.itemData(k)) for k in range(box.count())] == entries:
        return
    chosen = box.currentData()
    box.blockSignals(True)
    box.clear()
    for text, data in entries:
        box.addItem(text, data)
    where = box.findData(chosen)
    box.setCurrentIndex(where if where >= 0 else 0)
    box.blockSignals(False)
    box.setEnabled(len(entries) > 1)
