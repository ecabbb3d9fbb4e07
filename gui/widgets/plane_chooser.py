"""Which plane of weight space a network's surface view slices: the chooser above it.

Three planes (issue #7, ``engine.plane``): the top two principal directions of every run's
recorded trajectory (one shared plane); two random filter-normalized directions around one
run's final point (Li et al. 2018); the plane through the start and two runs' solutions. The
chooser only says what the user picked (``sig_chosen(kind, runs)``); the session computes.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)

#: (kind, what the menu says, its tooltip, how many runs it needs); an entry reads whole in
#: the menu, and the run choosers follow it once chosen ("… around a run: [sgd]")
PLANES = (
    (
        "trajectory",
        "trajectory PCA (all runs)",
        "The top two principal directions of every run's recorded weights: one plane all\n"
        "paths are projected on, through the start.",
        0,
    ),
    (
        "random",
        "random, filter-normalized, around a run:",
        "Two random directions around a run's final weights, each row of each weight matrix\n"
        "scaled to that row's norm (Li et al. 2018); biases and batch-norm parameters stay.",
        1,
    ),
    (
        "three_point",
        "through the start and two runs:",
        "The plane through the initial weights (0, 0) and two runs' final weights\n"
        "(at (1, 0) and (0, 1)).",
        2,
    ),
)
RUNS_NEEDED = {kind: needed for kind, _, _, needed in PLANES}


class CurrentWidthCombo(QComboBox):
    """A combo box as wide as its current entry, its menu as wide as the widest: the kinds'
    entries differ by a third in length, and the three-point plane's two run choosers need
    the width the longest entry would take (the header is full at 1366 pixels)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.currentIndexChanged.connect(self.updateGeometry)

    def sizeHint(self) -> QSize:
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        text = QSize(self.fontMetrics().horizontalAdvance(self.currentText()), 0)
        size = self.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, option, text, self)
        return QSize(size.width() + 2, super().sizeHint().height())  # (2 px of air)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def showPopup(self) -> None:
        view = self.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 2 * view.frameWidth() + 8)
        super().showPopup()


class PlaneChooser(QWidget):
    """A plane kind and, where it needs them, one or two runs (document indices)."""

    sig_chosen = Signal(str, tuple)  # kind, runs

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind_box = CurrentWidthCombo()
        for kind, text, tip, _ in PLANES:
            self.kind_box.addItem(text, kind)
            self.kind_box.setItemData(self.kind_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.kind_box.setToolTip("The plane of weight space the surface is the loss over")
        self.run_boxes = (QComboBox(), QComboBox())
        self.and_label = QLabel("and")
        # with batch norm the trajectory plane names a run too: whose network (with its
        # running statistics, or without batch norm) the slice is the loss of
        self.of_label = QLabel("loss of")
        self.of_label.setToolTip(
            "The run whose network the slice is the loss of: batch norm in evaluation mode\n"
            "with its running statistics, or the network without batch norm for a run\n"
            "that trains without it"
        )
        self._batch_norm = False
        for box in self.run_boxes:
            box.setToolTip("The run whose final weights the plane goes through")
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        label = QLabel("Plane:")
        label.setToolTip(self.kind_box.toolTip())
        layout.addWidget(label)
        layout.addWidget(self.kind_box)
        layout.addWidget(self.of_label)
        layout.addWidget(self.run_boxes[0])
        layout.addWidget(self.and_label)
        layout.addWidget(self.run_boxes[1])
        self._labels: tuple[str, ...] = ()
        self.set_runs(("run 1", "run 2"))
        self.run_boxes[1].setCurrentIndex(1)
        self._show_run_boxes()
        self.kind_box.activated.connect(self._on_user_choice)
        for box in self.run_boxes:
            box.activated.connect(self._on_user_choice)

    # ---- state -----------------------------------------------------------------------------
    def kind(self) -> str:
        return str(self.kind_box.currentData())

    def runs(self) -> tuple[int, ...]:
        """The runs the chosen kind needs (document indices), in order."""
        return tuple(max(box.currentIndex(), 0) for box in self.run_boxes[: self._needed()])

    def _needed(self) -> int:
        """Run choosers the chosen kind shows (``set_batch_norm``: the trajectory's one)."""
        kind = self.kind()
        return 1 if kind == "trajectory" and self._batch_norm else RUNS_NEEDED[kind]

    def set_batch_norm(self, on: bool) -> None:
        """The network has batch norm: the trajectory plane then names the run whose network
        and running statistics its slice is the loss of (the other planes' first run)."""
        if on != self._batch_norm:
            self._batch_norm = on
            self._show_run_boxes()

    def set_runs(self, labels) -> None:
        """The document's run labels (kept selections stay where they can)."""
        labels = tuple(labels)
        if labels == self._labels:
            return
        self._labels = labels
        for k, box in enumerate(self.run_boxes):
            with QSignalBlocker(box):
                current = box.currentIndex()
                box.clear()
                box.addItems(list(labels))
                if 0 <= current < len(labels):
                    box.setCurrentIndex(current)
                elif labels:
                    box.setCurrentIndex(min(k, len(labels) - 1))
        # a three-point plane needs two different runs
        self.kind_box.model().item(2).setEnabled(len(labels) >= 2)

    def show_kind(self, kind: str, runs: tuple[int, ...] = ()) -> None:
        """Show the plane the session has, and the runs it goes through when known
        (without asking for it again)."""
        index = self.kind_box.findData(kind)
        if index >= 0 and index != self.kind_box.currentIndex():
            with QSignalBlocker(self.kind_box):
                self.kind_box.setCurrentIndex(index)
            self._show_run_boxes()
        for box, run in zip(self.run_boxes, runs, strict=False):
            if 0 <= run < box.count() and run != box.currentIndex():
                with QSignalBlocker(box):
                    box.setCurrentIndex(run)

    def _show_run_boxes(self) -> None:
        self.kind_box.updateGeometry()  # as wide as the kind's entry (signals may be blocked)
        needed = self._needed()
        statistics = needed == 1 and self.kind() == "trajectory"
        self.of_label.setVisible(statistics)
        self.run_boxes[0].setToolTip(
            self.of_label.toolTip()
            if statistics
            else "The run whose final weights the plane goes through"
        )
        self.run_boxes[0].setVisible(needed >= 1)
        self.and_label.setVisible(needed >= 2)
        self.run_boxes[1].setVisible(needed >= 2)

    def _on_user_choice(self, *_):
        self._show_run_boxes()
        self.sig_chosen.emit(self.kind(), self.runs())

    def choose(self, kind: str, runs: tuple[int, ...] = ()) -> None:
        """Pick ``kind`` (and its runs) as a user would, emitting ``sig_chosen``."""
        index = self.kind_box.findData(kind)
        if index < 0:
            raise ValueError(f"plane kind: {kind!r} is not one of {[p[0] for p in PLANES]}")
        self.kind_box.setCurrentIndex(index)
        for box, run in zip(self.run_boxes, runs, strict=False):
            box.setCurrentIndex(run)
        self._on_user_choice()
