"""The loss along the straight line between two runs' solutions (Goodfellow et al. 2015,
Keskar et al. 2017): θ(t) = (1 − t)·θ_A + t·θ_B, t = 0 at run A's final weights and 1 at run
B's, in evaluation mode. A bump between them is a barrier the line crosses; none means the
two solutions lie in one basin (along this line). Train and validation loss above, accuracy
below, from ``frame.snapshot.network.interpolation`` (computed by the worker); the two runs
are chosen here and asked of the session (``session.set_interpolation(i, j)``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from gui.theme import LIGHT, Theme, run_color, set_pen, style_plot

NO_NETWORK = "The interpolation between two runs' solutions is drawn for networks."
COMPUTING = "Computing the loss along the line between the two runs…"
TWO_RUNS = "Choose two different runs: the line goes from one's final weights to the other's."
#: (key of the worker's curves, legend label, dashed)
LOSS_CURVES = (("train_loss", "training", False), ("val_loss", "validation", True))
ACCURACY_CURVES = (("train_accuracy", "training", False), ("val_accuracy", "validation", True))


def network_of(frame):
    return None if frame is None else getattr(frame.snapshot, "network", None)


def document_pair(frame, columns) -> tuple[int, int]:
    """The document's runs of the snapshot's ``columns`` (-1: a run removed since)."""
    runs = [frame.column_run(int(col)) for col in columns]
    return tuple(-1 if run is None else run for run in runs)


def finite_xy(t, values) -> tuple[np.ndarray, np.ndarray]:
    t, values = np.asarray(t, float), np.asarray(values, float)
    keep = np.isfinite(t) & np.isfinite(values)
    return t[keep], values[keep]


class InterpolationView(QWidget):
    sig_runs_chosen = Signal(int, int)

    def __init__(self, controller=None, theme: Theme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.theme = theme
        self._frame = None
        self._shown = None  # the Interpolation drawn now
        self._labels: tuple[str, ...] = ()
        self._asked: tuple[int, int] | None = None  # a pair asked for, until it is drawn
        self.run_boxes = (QComboBox(), QComboBox())
        tips = ("t = 0: this run's final weights", "t = 1: this run's final weights")
        for box, tip in zip(self.run_boxes, tips, strict=True):
            box.setToolTip(tip)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.activated.connect(self._on_choice)
        self.message = QLabel("")
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 4, 0)
        header.addWidget(QLabel("From"))
        header.addWidget(self.run_boxes[0])
        header.addWidget(QLabel("(t = 0) to"))
        header.addWidget(self.run_boxes[1])
        header.addWidget(QLabel("(t = 1)"))
        header.addWidget(self.message, 1)
        # the key in words: a legend on the plot sat on the runs' names at t = 0 and t = 1
        self.key = QLabel("solid: training · dashed: validation")
        self.key.setToolTip(
            "Both in evaluation mode; batch norm with the two runs' running statistics "
            "interpolated along the line (each end is that run's own loss)"
        )
        header.addWidget(self.key)

        self.graphics = pg.GraphicsLayoutWidget()
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.accuracy_plot = self.graphics.addPlot(row=1, col=0)
        self.accuracy_plot.setXLink(self.loss_plot)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for plot, specs in ((self.loss_plot, LOSS_CURVES), (self.accuracy_plot, ACCURACY_CURVES)):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            for key, _, _ in specs:
                item = pg.PlotDataItem(antialias=True)
                plot.addItem(item)
                self.curves[key] = item
        self.ends = [pg.InfiniteLine(angle=90, movable=False) for _ in range(2)]
        for line, t in zip(self.ends, (0.0, 1.0), strict=True):
            line.setPos(t)
            self.loss_plot.addItem(line)
        self.end_labels = [pg.TextItem(anchor=(0.5, 0)) for _ in range(2)]
        for text in self.end_labels:
            self.loss_plot.addItem(text, ignoreBounds=True)
        self.loss_plot.setLabel("left", "loss (evaluation mode)")
        self.accuracy_plot.setLabel("left", "accuracy")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)  # not "accuracy (x0.001)"
        self.accuracy_plot.setLabel("bottom", "t   (θ = (1 − t)·θ_A + t·θ_B)")
        self.loss_plot.setToolTip(
            "The loss at evenly spaced points of the line between the two runs' final\n"
            "weights, batch norm in evaluation mode. A bump between t = 0 and t = 1 is a\n"
            "barrier between the two solutions; a flat line, one basin along this line."
        )

        self.placeholder = QLabel(NO_NETWORK)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QWidget()
        self.stack = QStackedLayout(body)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.graphics)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(body, 1)
        self.apply_theme(theme)
        if controller is not None:
            controller.sig_frame.connect(self.draw)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.graphics.setBackground(theme.plot_background)
        for plot in (self.loss_plot, self.accuracy_plot):
            style_plot(plot, theme)
        for line in self.ends:
            line.setPen(pg.mkPen(theme.muted_text, width=1, style=Qt.PenStyle.DotLine))
        self.placeholder.setStyleSheet(f"color: {theme.muted_text};")
        self.message.setStyleSheet(f"color: {theme.muted_text};")
        self.key.setStyleSheet(f"color: {theme.muted_text};")
        self._shown = None
        if self._frame is not None:
            self.draw(self._frame)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._frame is not None:
            self.draw(self._frame)

    # ---- choosing the runs -------------------------------------------------------------------
    def chosen(self) -> tuple[int, int]:
        return (max(self.run_boxes[0].currentIndex(), 0), max(self.run_boxes[1].currentIndex(), 0))

    def choose(self, i: int, j: int) -> None:
        """Pick runs ``i`` and ``j`` as a user would."""
        for box, run in zip(self.run_boxes, (i, j), strict=True):
            box.setCurrentIndex(run)
        self._on_choice()

    def _on_choice(self, *_) -> None:
        i, j = self.chosen()
        if i == j:
            self.message.setText(TWO_RUNS)
            return
        self.message.setText("")
        self._asked = (i, j)
        self.sig_runs_chosen.emit(i, j)
        set_interpolation = getattr(self.controller, "set_interpolation", None)
        if set_interpolation is not None:
            set_interpolation(i, j)

    def _set_runs(self, labels: tuple[str, ...], runs) -> None:
        """The document's runs in the choosers, showing the pair the worker computed (or the
        one asked for, while the worker computes it)."""
        if self._asked is not None:
            if tuple(runs) == self._asked:
                self._asked = None
            else:
                runs = self._asked
        for box, run in zip(self.run_boxes, runs, strict=True):
            with QSignalBlocker(box):
                if labels != self._labels:
                    box.clear()
                    box.addItems(list(labels))
                if 0 <= run < len(labels) and self.message.text() != TWO_RUNS:
                    box.setCurrentIndex(run)
        self._labels = labels

    # ---- drawing -----------------------------------------------------------------------------
    def draw(self, frame) -> None:
        self._frame = frame
        if not self.isVisible():
            return
        network = network_of(frame)
        interpolation = None if network is None else network.interpolation
        runs = frame.experiment.runs
        labels = tuple(r.display_label for r in runs)
        pair = (0, 1) if interpolation is None else document_pair(frame, interpolation.runs)
        self._set_runs(labels, pair)
        if interpolation is None:
            note = getattr(network, "interpolation_note", "")
            self.placeholder.setText(NO_NETWORK if network is None else note or COMPUTING)
            self.stack.setCurrentWidget(self.placeholder)
            return
        self.stack.setCurrentWidget(self.graphics)
        key = (id(interpolation), labels, tuple((r.color, r.visible) for r in runs))
        if key == self._shown:
            return
        self._shown = key
        fg = self.theme.plot_foreground
        for specs in (LOSS_CURVES, ACCURACY_CURVES):
            for key_name, _, dashed in specs:
                item = self.curves[key_name]
                values = interpolation.curves.get(key_name)
                if values is None:
                    item.setData([], [])
                    item.setVisible(False)
                    continue
                style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
                set_pen(item, fg, 2.0, style)
                item.setData(*finite_xy(interpolation.t, values))
                item.setVisible(True)
        i, j = pair
        for text, run, t in zip(self.end_labels, (i, j), (0.0, 1.0), strict=True):
            if 0 <= run < len(runs):
                color = run_color(run, runs[run].color)
                text.setHtml(f"<span style='color:{color}; font-weight:600'>{labels[run]}</span>")
            else:
                text.setHtml("")
            top = np.nanmax(interpolation.curves.get("train_loss", [np.nan]))
            text.setPos(t, float(top) if np.isfinite(top) else 0.0)
        for line, run in zip(self.ends, (i, j), strict=True):
            color = run_color(run, runs[run].color) if 0 <= run < len(runs) else fg
            line.setPen(pg.mkPen(color, width=1.5, style=Qt.PenStyle.DotLine))

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """What the curve ``key`` draws now (tests compare it)."""
        item = self.curves[key]
        x, y = item.getData()
        return (np.zeros(0) if x is None else np.asarray(x)), (
            np.zeros(0) if y is None else np.asarray(y)
        )
