"""Curves against the update count (or epochs): loss, learning rate, gradient norm, and the
per-parameter step size η/σ of adaptive optimizers.

The learning-rate plot shows every run's whole schedule (schedules are closed-form: the
worker publishes them with a job's first snapshot), before any training. The other curves grow
with the playhead. Loss, gradient norm and step size use log axes; the learning rate does
when the runs' rates differ tenfold or more. Hovering shows every run's value at that step.
"""

from __future__ import annotations

import math
import time
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from engine.parameters import OPTIMIZERS_INFO, REGISTRY
from gui.figures import loss_offset
from gui.geometry import block_extremes, grown_end, log_floor_exponent
from gui.theme import LIGHT, Theme, run_color, set_pen, style_plot
from gui.widgets.curve_item import Curve
from gui.widgets.log_axis import LogAxis, SpacedAxis
from gui.widgets.parameter_slider import format_value

ADAPTIVE = tuple(key for key, info in OPTIMIZERS_INFO.items() if info.adaptive)
MAX_CURVE_POINTS = 4000  # longer curves reach pyqtgraph as the peaks of as many buckets
CEILING = 1e4  # values above CEILING × the largest start are drawn at it (diverging runs)

PLOTS = (
    ("loss", "loss", True),
    ("lr", REGISTRY["lr"].label, False),
    ("grad", "gradient norm ‖∇L‖", True),
    ("step", f"step size {REGISTRY['lr'].symbol}/σ  (─ w1, ┄ w2)", True),
)
Y_FROM_HISTORY = ("loss", "grad", "step")  # vertical ranges set from the computed history
# a valid rate may be near the largest float (lr = 1e308 diverges at once); pyqtgraph's
# range arithmetic (padding, 1.08 × top) overflows on it, so the curve is drawn up to this
LR_CEILING = 1e300
#: The vertical axes' titles: short enough for a plot a hundred pixels high (the read-out
#: and the tooltips say the rest: solid w1, dashed w2)
AXIS_TITLES = {
    "loss": "loss",
    "lr": REGISTRY["lr"].label,
    "grad": "‖∇L‖",
    "step": f"step size {REGISTRY['lr'].symbol}/σ",
}


class CurvesView(QWidget):
    def __init__(self, controller=None, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.theme = theme
        self.x_mode = "step"
        self._frame = None
        self._schedule_key = None
        self._lr_top = None
        self._x_key = None
        self._schedules: list[np.ndarray] = []
        self._schedule_steps = np.zeros(0)
        self._offset = 0.0
        self._offset_job = None
        self._lr_log = False
        self._extents: dict[str, _Extent] = {}
        self._extents_key = None
        self._floors: dict[str, float] = {}  # where a plot draws values of 0 (log10)
        self._y_ranges: dict[str, tuple[float, float]] = {}
        self._y_by_user: set[str] = set()

        self.layout_widget = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.items: dict[str, list] = {name: [] for name, _, _ in PLOTS}
        self.items["step2"] = []
        self.playheads: dict[str, pg.InfiniteLine] = {}
        self.hover_lines: dict[str, pg.InfiniteLine] = {}
        first = None
        for row, (name, _label, log) in enumerate(PLOTS):
            axes = {"left": LogAxis("left"), "bottom": SpacedAxis("bottom")}
            plot = self.layout_widget.addPlot(row=row, col=0, axisItems=axes)
            plot.setMenuEnabled(False)
            plot.setLabel("left", AXIS_TITLES[name])
            plot.setLogMode(x=False, y=log)
            plot.getAxis("left").setWidth(62)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.hideButtons()
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setZValue(30)
            plot.addItem(line, ignoreBounds=True)
            self.playheads[name] = line
            hover = pg.InfiniteLine(angle=90, movable=False)
            hover.setVisible(False)
            plot.addItem(hover, ignoreBounds=True)
            self.hover_lines[name] = hover
            self.plots[name] = plot
            if name in Y_FROM_HISTORY:
                plot.enableAutoRange(y=False)
                plot.vb.sigRangeChangedManually.connect(
                    lambda mask, name=name: mask[1] and self._y_by_user.add(name)
                )
        self.plots["step"].setLabel("bottom", "step (updates)")
        self._step_shown = True
        # frames arriving while the last one's drawing cost is not yet "paid" are
        # skipped, and the newest is drawn when it is (see draw)
        self._throttled_draw = qthrottled(self._draw_newest, timeout=0, leading=True, parent=self)

        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)
        self.readout.setToolTip("Values of every run at the step under the mouse pointer")
        self.by_step = QRadioButton("vs step")
        self.by_epoch = QRadioButton("vs epoch")
        self.by_step.setChecked(True)
        self.by_step.setToolTip("Horizontal axis: optimizer updates k")
        self.by_epoch.setToolTip(
            "Horizontal axis: epochs, passes over the training set\n"
            "(a function has no data: one update is one epoch)"
        )
        group = QButtonGroup(self)
        group.addButton(self.by_step)
        group.addButton(self.by_epoch)
        self.by_epoch.toggled.connect(lambda on: self.set_x_mode("epoch" if on else "step"))
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 0)
        top.addWidget(self.by_step)
        top.addWidget(self.by_epoch)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        # a network's curves (gui.widgets.network_curves) take the place of these plots
        self.network = None  # made at the first network frame
        self.pages = QStackedWidget()
        self.pages.addWidget(self.layout_widget)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.readout)
        self.layout_widget.setToolTip(
            "Scroll to zoom, drag to pan (all plots share the horizontal axis).\n"
            "Loss and ‖∇L‖ use log axes; a value of exactly 0 is drawn along the bottom.\n"
            "Step size η/σ: solid w1, dashed w2. The vertical line is the playhead."
        )
        self._hover = pg.SignalProxy(
            self.layout_widget.scene().sigMouseMoved, rateLimit=30, slot=self._on_hover
        )
        self.apply_theme(theme)
        if controller is not None:
            controller.sig_frame.connect(self.draw)

    # ---- look --------------------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.layout_widget.setBackground(theme.plot_background)
        for name, plot in self.plots.items():
            style_plot(plot, theme)
            self.playheads[name].setPen(
                pg.mkPen(theme.muted_text, width=1, style=Qt.PenStyle.DashLine)
            )
            self.hover_lines[name].setPen(pg.mkPen(theme.highlight, width=1))
        if self.network is not None:
            self.network.apply_theme(theme)
        if self._frame is not None:
            self._draw(self._frame)

    def set_x_mode(self, mode: str) -> None:
        self.x_mode = mode
        last = self.plots["step"] if self._step_shown else self.plots["grad"]
        last.setLabel(
            "bottom",
            "epoch" if mode == "epoch" else "step (updates)",
            color=self.theme.plot_foreground,
        )
        if self.by_epoch.isChecked() != (mode == "epoch"):
            self.by_epoch.setChecked(mode == "epoch")
        if self._frame is not None:
            self._draw(self._frame)

    # ---- data --------------------------------------------------------------------------------
    def _items(self, kind: str, n: int, plot: str) -> list:
        pool = self.items[kind]
        while len(pool) < n:
            # a bare curve: _set hands it finite, reduced and (on a log axis) log10 data,
            # which a PlotDataItem would check, map and downsample again at every frame
            item = Curve(antialias=False)
            item._drawn = ()  # not None: the first _clear clears
            self.plots[plot].addItem(item)
            pool.append(item)
        return pool

    def _update_schedules(self, frame) -> None:
        """Every run's whole learning-rate schedule, as the worker computed it."""
        s = frame.snapshot
        if s.job_id == self._schedule_key:
            return
        self._schedule_key = s.job_id
        self._schedules = list(s.schedules)  # by column
        self._schedule_steps = np.arange(s.experiment.steps + 1, dtype=float)
        peaks = [float(r.max()) for r in self._schedules if r.size and np.isfinite(r).all()]
        positive = all(r.size and r.min() > 0 for r in self._schedules)
        self._lr_log = bool(peaks) and positive and max(peaks) >= 10 * min(peaks)
        self.plots["lr"].setLogMode(x=False, y=self._lr_log)
        self._lr_top = None

    def draw(self, frame) -> None:
        """Draw ``frame``; when drawing is slow (curves of a long history) frames are
        skipped so that the curves take at most a quarter of the time, and the last one
        is always drawn."""
        self._frame = frame
        if frame.new_data:  # a new result: at once
            self._throttled_draw.cancel()
            self._draw_newest()
            return
        self._throttled_draw()
        if self._throttled_draw.timeout() == 0:  # drawing is cheap: every frame, now
            self._throttled_draw.flush()

    def _draw_newest(self) -> None:
        if self._frame is None:
            return
        started = time.perf_counter()
        self._draw(self._frame)
        cost = time.perf_counter() - started
        # at most one frame per 4 × its cost: the curves take at most a quarter of the time
        self._throttled_draw.setTimeout(int(4000 * cost) if cost > 0.008 else 0)

    def _draw(self, frame) -> None:
        if self._draw_network(frame):
            return
        s = frame.snapshot
        experiment = frame.experiment
        self._update_schedules(frame)
        h = s.history
        runs = experiment.runs
        n = len(runs)  # run i is column frame.column(i) of the history (None: not yet)
        if (
            h is not None
            and s.built is not None
            and (frame.new_data or self._offset_job != s.job_id)
        ):
            if self._offset_job != s.job_id or s.done:
                with np.errstate(all="ignore"):
                    # the minima's losses come with the worker's surface: no engine call
                    # on the GUI thread
                    self._offset = loss_offset(None, h) if s.count else 0.0
                    if self._offset and s.surface is not None:
                        self._offset = min(self._offset, *s.surface.minima_loss)
                self._offset_job = s.job_id
            self.plots["loss"].setLabel(
                "left",
                "loss" if self._offset == 0 else "loss − min",
                color=self.theme.plot_foreground,
            )
        epoch = self.x_mode == "epoch"
        loss_items = self._items("loss", len(runs), "loss")
        lr_items = self._items("lr", len(runs), "lr")
        grad_items = self._items("grad", len(runs), "grad")
        step1 = self._items("step", len(runs), "step")
        step2 = self._items("step2", len(runs), "step")
        any_adaptive = False
        ceiling = self._ceiling(h, s.count, h.n_runs) if h is not None else math.inf
        self._set_y_ranges(frame, n, ceiling)  # first: it finds where zeros are drawn
        loss_floor, grad_floor = self._floors.get("loss"), self._floors.get("grad")
        for i in range(max(len(loss_items), len(runs))):
            run = runs[i] if i < len(runs) else None
            items = (loss_items[i], lr_items[i], grad_items[i], step1[i], step2[i])
            if run is None or not run.visible:
                for item in items:
                    _clear(item)
                continue
            color = run_color(i, run.color)
            width = 2.0 if i == frame.selected_run and len(runs) > 1 else 1.0
            for item in items[:4]:
                set_pen(item, color, width)
            set_pen(items[4], color, width, Qt.PenStyle.DashLine)
            rows = frame.finite_rows(i) if h is not None else 0
            col = frame.column(i)
            source = (s.job_id, col, epoch, self._offset, ceiling, loss_floor, grad_floor)
            if rows:
                x = h.epoch[:, col] if epoch else h.step
                off = self._offset
                loss, grad = h.loss[:, col], h.grad_norm[:, col]
                _set(loss_items[i], source, rows, x, loss, True, ceiling, off, loss_floor)
                _set(grad_items[i], source, rows, x, grad, True, ceiling, 0.0, grad_floor)
                adaptive = run.optimizer in ADAPTIVE and h.step_size is not None
                any_adaptive |= adaptive
                if adaptive:
                    _set(step1[i], source, rows, x, h.step_size[:, col, 0], True, math.inf)
                    _set(step2[i], source, rows, x, h.step_size[:, col, 1], True, math.inf)
                else:
                    _clear(step1[i])
                    _clear(step2[i])
            else:
                for item in (loss_items[i], grad_items[i], step1[i], step2[i]):
                    _clear(item)
                any_adaptive |= run.optimizer in ADAPTIVE
            # the learning rate: the whole schedule in step mode, the recorded rows by epoch
            rates = frame.schedule(i)
            if not epoch and rates is not None:
                schedule = (self._schedule_key, col, self._lr_log)
                _set(
                    lr_items[i],
                    schedule,
                    len(rates),
                    self._schedule_steps,
                    rates,
                    self._lr_log,
                    LR_CEILING,
                )
            elif rows:
                x, lr = h.epoch[:, col], h.lr[:, col]
                _set(lr_items[i], source, rows, x, lr, self._lr_log, LR_CEILING)
            else:
                _clear(lr_items[i])
        self._show_step_plot(any_adaptive)
        self._set_lr_range()
        self._draw_playhead(frame)
        self._set_x_range(frame)

    def _draw_network(self, frame) -> bool:
        """A network's frame goes to the network curves (True); any other shows these."""
        # imported here: network_curves draws with this module's helpers
        from gui.widgets.network_curves import NetworkCurves, is_network

        if not is_network(frame):
            self.pages.setCurrentIndex(0)
            self.readout.setVisible(True)
            return False
        if self.network is None:
            self.network = NetworkCurves(self.theme)
            self.pages.addWidget(self.network)
        self.pages.setCurrentWidget(self.network)
        self.readout.setVisible(False)
        self.network.draw(frame, self.x_mode)
        return True

    def _ceiling(self, h, count: int, n: int) -> float:
        """Diverging runs climb without end: draw them up to 10⁴ × the largest start."""
        if not count or n == 0:
            return math.inf
        first = np.abs(np.concatenate([h.loss[0, :n], h.grad_norm[0, :n]]))
        first = first[np.isfinite(first)]
        return float(first.max()) * CEILING if first.size and first.max() > 0 else math.inf

    def _show_step_plot(self, shown: bool) -> None:
        """The η/σ plot only when some run has one (an adaptive optimizer)."""
        if shown == self._step_shown:
            return
        self._step_shown = shown
        layout = self.layout_widget.ci
        step, grad = self.plots["step"], self.plots["grad"]
        if shown:
            layout.addItem(step, row=3, col=0)
            step.show()
        else:
            layout.removeItem(step)
            step.hide()
        x_label = "epoch" if self.x_mode == "epoch" else "step (updates)"
        (step if shown else grad).setLabel("bottom", x_label, color=self.theme.plot_foreground)
        (grad if shown else step).setLabel("bottom", "")

    def _set_y_ranges(self, frame, n: int, ceiling: float) -> None:
        """Loss, gradient norm and step size: vertical axes that span every computed row,
        not only those revealed so far, so that moving the playhead changes the curves
        and the playhead line but not the axes (autoranging over the revealed rows laid
        out the log ticks, repainted axes and grids and ranged over every curve again at
        every frame: more than the curves cost). A plot the user zoomed or panned keeps
        the range chosen."""
        s = frame.snapshot
        h = s.history
        if h is None or not s.count:
            return
        runs = frame.experiment.runs
        # by column of the history (document run i is column frame.column(i))
        shown = {frame.column(i): i for i in range(n) if runs[i].visible}
        shown = {col: i for col, i in shown.items() if col is not None}
        adaptive = ()
        if h.step_size is not None:
            adaptive = tuple(c for c, i in shown.items() if runs[i].optimizer in ADAPTIVE)
        source = (s.job_id, self._offset, ceiling, tuple(shown), adaptive)
        if (source, s.count) == self._extents_key:
            return
        if self._extents_key is None or self._extents_key[0] != source:
            self._extents = {name: _Extent() for name in Y_FROM_HISTORY}
        self._extents_key = (source, s.count)
        loss, grad, step = (self._extents[name] for name in Y_FROM_HISTORY)
        for col, i in shown.items():
            rows = frame.finite_rows(i, s.count)
            loss.add(col, h.loss[:, col], rows, ceiling, self._offset)
            grad.add(col, h.grad_norm[:, col], rows, ceiling)
            if col in adaptive:
                step.add((col, 0), h.step_size[:, col, 0], rows, math.inf)
                step.add((col, 1), h.step_size[:, col, 1], rows, math.inf)
        floors = {name: e.floor() for name, e in self._extents.items()}
        self._floors = {name: f for name, f in floors.items() if f is not None}
        for name, extent in self._extents.items():
            span = extent.span()
            if span is None or name in self._y_by_user or span == self._y_ranges.get(name):
                continue
            self._y_ranges[name] = span
            self.plots[name].setYRange(*span)

    def _set_lr_range(self) -> None:
        """A linear rate axis from 0 (constant rates would otherwise fill it with noise)."""
        plot = self.plots["lr"]
        if self._lr_log:
            plot.enableAutoRange(y=True)
            return
        top = 0.0
        for item in self.items["lr"]:
            y = item.getData()[1]
            if y is not None and len(y):
                top = max(top, float(np.max(y)))
        if top > 0 and top != self._lr_top:
            self._lr_top = top
            plot.setYRange(0, top * 1.08, padding=0)

    def _draw_playhead(self, frame) -> None:
        h = frame.history
        x = float(frame.head)
        if self.x_mode == "epoch":
            x = float(np.nanmax(h.epoch[frame.rows - 1])) if h is not None and frame.rows else 0.0
            if not math.isfinite(x):
                x = 0.0
        for line in self.playheads.values():
            line.setValue(x)

    def _set_x_range(self, frame) -> None:
        """By step: from 0 to what is computed (rounded up, so that a long experiment's
        axis grows a few times rather than at every snapshot), the whole experiment once
        it is; before any training, the whole schedule. By epoch: what is drawn."""
        plot = self.plots["loss"]
        if self.x_mode == "step":
            s, total = frame.snapshot, frame.experiment.steps
            end = total
            if s.history is not None and s.count and not s.done:
                end = grown_end(float(s.history.step[s.count - 1]), total)
            key = ("step", end)
            if key != self._x_key:
                self._x_key = key
                plot.setXRange(0, end, padding=0.01)
        else:
            self._x_key = None
            plot.enableAutoRange(x=True)

    # ---- hover -------------------------------------------------------------------------------
    def _on_hover(self, event) -> None:
        pos = event[0]
        frame = self._frame
        hovered = None
        for name, plot in self.plots.items():
            if plot.sceneBoundingRect().contains(pos):
                hovered = name
        for line in self.hover_lines.values():
            line.setVisible(hovered is not None)
        if hovered is None or frame is None or frame.history is None:
            self.readout.setText(" ")
            return
        x = self.plots[hovered].vb.mapSceneToView(pos).x()
        for line in self.hover_lines.values():
            line.setValue(x)
        self.readout.setText(self.readout_text(hovered, x))

    def readout_text(self, plot: str, x: float) -> str:
        frame = self._frame
        h = frame.history
        runs = frame.experiment.runs
        parts = []
        label = next(lbl for name, lbl, _ in PLOTS if name == plot)
        for i, run in enumerate(runs):
            col = frame.column(i)
            if not run.visible or col is None:
                continue
            rows = frame.finite_rows(i)
            rates = frame.schedule(i)
            if plot == "lr" and self.x_mode == "step" and rates is not None:
                value = rates[int(np.clip(round(x), 0, len(rates) - 1))]
            elif rows:
                xs = h.epoch[:rows, col] if self.x_mode == "epoch" else h.step[:rows]
                row = int(np.clip(np.searchsorted(xs, x), 0, rows - 1))
                value = {
                    "loss": h.loss[row, col],
                    "lr": h.lr[row, col],
                    "grad": h.grad_norm[row, col],
                    "step": h.step_size[row, col, 0] if h.step_size is not None else math.nan,
                }[plot]
                if plot == "step" and run.optimizer not in ADAPTIVE:
                    continue
            else:
                continue
            color = run_color(i, run.color)
            text = format_value(float(value)) if math.isfinite(value) else "—"
            if plot == "step" and h.step_size is not None and rows:
                text += f" / {format_value(float(h.step_size[row, col, 1]))}"
            name = escape(run.display_label, quote=False)
            parts.append(f"<span style='color:{color}'>●</span> {name} {text}")
        where_text = f"epoch {x:.3g}" if self.x_mode == "epoch" else f"step {round(x)}"
        return f"<b>{label}</b> at {where_text}: " + " &nbsp; ".join(parts)


def _set(item, source, rows: int, x, y, log: bool, ceiling: float, offset: float = 0.0, floor=None):
    """Draw rows ``[:rows]`` of the columns ``x``, ``y`` (less ``offset``) on ``item``.

    Only finite (and, on a log axis, positive, as their log10) points reach pyqtgraph,
    values above ``ceiling`` are drawn at it, values of 0 on a log axis at ``floor`` (a
    log10; None: not drawn), and a long curve is drawn from the lowest and highest
    point of each of about 2000 buckets of rows (what pyqtgraph's 'peak' downsampling
    would draw). The buckets are kept between frames and only the rows new since the last
    frame are reduced: a frame costs the same for a history of millions of rows as for
    one of thousands. ``source`` names the data; another source starts afresh."""
    source = (source, floor)
    state = getattr(item, "_peaks", None)
    k = 1
    if rows > MAX_CURVE_POINTS:
        k = 2 ** math.ceil(math.log2(rows / (MAX_CURVE_POINTS / 2)))
    if state is None or state.source != (source, log) or state.k != k or rows < state.rows:
        state = _Peaks((source, log), k)
        item._peaks = state
    elif rows == state.rows and item._drawn is not None:
        return
    state.rows = rows
    full = rows // k
    if full > state.done:
        a, b = state.done * k, full * k
        xs = np.asarray(x[a:b], float)
        ys = _clean(np.asarray(y[a:b], float) - offset, log, ceiling, floor)
        if k > 1:
            xs = np.repeat(xs[::k], 2)
            ys = block_extremes(ys, k)
        keep = ~np.isnan(ys)
        state.x.append(xs[keep])
        state.y.append(ys[keep])
        state.done = full
    tail_x = np.asarray(x[full * k : rows], float)
    tail_y = _clean(np.asarray(y[full * k : rows], float) - offset, log, ceiling, floor)
    keep = ~np.isnan(tail_y)
    if len(state.x) > 1:  # one array for the next frame's concatenation
        state.x, state.y = [np.concatenate(state.x)], [np.concatenate(state.y)]
    item._drawn = True
    item.setData(np.concatenate([*state.x, tail_x[keep]]), np.concatenate([*state.y, tail_y[keep]]))


class _Extent:
    """The lowest and highest log10 of the drawable values of some columns (as ``_set``
    draws them on a log axis), extended by the rows new since the last call."""

    def __init__(self):
        self.done: dict = {}  # rows seen, by column
        self.lo = math.inf
        self.hi = -math.inf
        self.zero = False  # some value is 0 (or below: rounding under an offset)

    def add(self, column_key, column, rows: int, ceiling: float, offset: float = 0.0) -> None:
        start = self.done.get(column_key, 0)
        if rows <= start:
            return
        self.done[column_key] = rows
        values = np.asarray(column[start:rows], float) - offset
        self.zero |= bool((values <= 0).any())
        y = _clean(values, True, ceiling)
        lo, hi = float(np.fmin.reduce(y)), float(np.fmax.reduce(y))
        if not math.isnan(lo):
            self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)

    def floor(self) -> float | None:
        """Where values of 0 are drawn (log10): a decade below the lowest positive one;
        None when there is none."""
        if not self.zero or self.lo > self.hi:
            return None
        return float(log_floor_exponent(self.lo))

    def span(self) -> tuple[float, float] | None:
        if self.lo > self.hi:
            return None
        floor = self.floor()
        return (self.lo if floor is None else floor, self.hi)


class _Peaks:
    """What ``_set`` keeps of a curve between frames."""

    def __init__(self, source, k: int):
        self.source = source
        self.k = k  # rows per bucket (1: every row)
        self.done = 0  # buckets reduced
        self.rows = -1
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []


def _clean(y: np.ndarray, log: bool, ceiling: float, floor: float | None = None) -> np.ndarray:
    """NaN where a value can't be drawn; capped at ``ceiling``; on a log axis, log10 (a
    plot in log mode maps a PlotDataItem's data, not a bare curve's), with values ≤ 0 at
    ``floor`` (a log10) when there is one, and so are the (subnormal) values below it."""
    valid = ((y > 0) & (y < math.inf)) if log else np.isfinite(y)
    zero = (y <= 0) if (log and floor is not None) else None
    y = np.where(valid, y, np.nan)
    if math.isfinite(ceiling):
        y = np.minimum(y, ceiling)
    if not log:
        return y
    y = np.log10(y)
    if zero is not None:
        y[zero] = floor
        y = np.maximum(y, floor)
    return y


def _clear(item) -> None:
    if getattr(item, "_drawn", None) is not None:
        item._drawn = None
        item._peaks = None
        item.setData([], [])
