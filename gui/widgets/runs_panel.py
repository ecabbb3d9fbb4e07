"""The runs of the experiment: one row each with its colour and name, the optimizer's summary
under the name, and its status.

Tick to show or hide a run, double-click the swatch to recolour it, double-click the name to
rename it. The status column says how the run is doing at the playhead, and says so plainly
when a run has diverged ("diverged at step 37: lower the learning rate").
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from engine import parameters as registry
from engine.experiment import RunModel
from engine.parameters import OPTIMIZERS_INFO, SCHEDULE_KINDS
from gui.theme import run_color
from gui.widgets.parameter_slider import format_value

# the status (the live loss) beside the name, always in sight (at 1366 × 768 the status
# column was cut to "loss 0.0" for a loss of 0.0018); the optimizer's summary on a second
# line under the name, where the name column's width holds it (as a third column it went
# out of sight behind a sideways scroll bar at 1366 × 768: "SGD + momentum η=")
COL_NAME, COL_STATUS = range(2)
COL_SHOW = COL_NAME  # the tick box and the colour sit beside the name
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1  # the name cell's second line: the optimizer
# the list keeps room for this many runs, more scroll: five two-line rows leave the Problem
# panel below whole at 1366 × 768 in the app's 10 pt font (a network with batch norm)
MAX_ROWS_SHOWN = 5
# the status column is as wide as the losses it has shown read (at least STATUS_SAMPLE's
# width, at most STATUS_LONGEST's), growing only, for each experiment opened: a
# divergence's long status is elided (whole in its tooltip and the warning line), so the
# names keep their room, and they don't change width back and forth during playback
STATUS_SAMPLE = "0.000"
STATUS_LONGEST = "-0.0000e-10"
STATUS_PADDING = 12  # px: the cell's margins and a little air
MAX_TABLE_WIDTH = 330  # px the table may claim (the window must fit 1280 px); wider ones scroll
WARNING_TIP = (
    "A run diverges when its loss or parameters stop being finite numbers: its path\n"
    "ends at its last finite point (✕) and the other runs go on."
)


def divergence_text(step: int) -> str:
    return f"diverged at step {step}: lower the learning rate"


def run_summary(run: RunModel, without_batch_norm: bool = False) -> str:
    """One line: the update rule and the settings the registry marks for summaries, each as
    its symbol (``η=0.01 μ=0.5 B=32``): η always, the others where they differ from the
    optimizer's default (short enough to read in the table); ``without_batch_norm``: the run
    turns its network's batch norm off (``Experiment.run_without_batch_norm``)."""
    hyper = run.full_hyperparameters()
    parts = [OPTIMIZERS_INFO[run.optimizer].title]
    for p in registry.OPTIMIZER_PARAMETERS:
        shown = p.key == "lr" or hyper.get(p.key) != p.default_for(run.optimizer)
        if p.summary and p.key in hyper and shown:
            parts.append(f"{p.symbol}={format_value(float(hyper[p.key]))}")
    for p in registry.BATCH_PARAMETERS:
        value = getattr(run, p.key, None)
        if p.summary and value is not None:
            parts.append(f"{p.symbol}={value}")
    if run.schedule.kind != "constant" or run.schedule.warmup_steps:
        parts.append(SCHEDULE_KINDS[run.schedule.kind].title)
    if without_batch_norm:
        parts.append(f"no {registry.REGISTRY['batch_norm'].symbol}")
    return " ".join(parts)


class RunDelegate(QStyledItemDelegate):
    """The run's cell on two lines: its tick box, colour and name as any item's, and under
    the name the optimizer's summary (``SUMMARY_ROLE``), muted, elided only where the panel
    is too narrow for it (whole in the tooltip)."""

    def _style(self, option) -> QStyle:
        return option.widget.style() if option.widget is not None else QApplication.style()

    def _first_line(self, option, index) -> QStyleOptionViewItem:
        """The option of the cell's first line: the item as a one-line cell would draw it."""
        line = QStyleOptionViewItem(option)
        self.initStyleOption(line, index)
        height = super().sizeHint(option, index).height()
        line.rect = QRect(option.rect.x(), option.rect.y(), option.rect.width(), height)
        return line

    def _text_left(self, option, index) -> int:
        """Where the name's text starts (after the tick box and the swatch), from the cell's
        left edge: the summary starts there too."""
        line = self._first_line(option, index)
        style = self._style(option)
        text = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, line, option.widget)
        return text.left() - option.rect.left() + text_margin(style, option.widget)

    def summary_rect(self, option, index) -> QRect:
        """The second line's text rectangle, in the cell ``option.rect``."""
        line = self._first_line(option, index)  # kept: its rect lives as long as it does
        top = line.rect.bottom() + 1
        left = option.rect.left() + self._text_left(option, index)
        right = option.rect.right() - text_margin(self._style(option), option.widget)
        return QRect(left, top, max(right - left + 1, 0), option.rect.bottom() - top + 1)

    def shown_summary(self, option, index) -> str:
        """The summary as drawn in ``option.rect``: whole where it fits, else elided."""
        text = index.data(SUMMARY_ROLE) or ""
        width = self.summary_rect(option, index).width()
        return option.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, width)

    def sizeHint(self, option, index) -> QSize:
        hint = super().sizeHint(option, index)
        metrics = option.fontMetrics
        summary = index.data(SUMMARY_ROLE) or ""
        cell = QStyleOptionViewItem(option)
        cell.rect = QRect(0, 0, hint.width(), hint.height())
        margin = text_margin(self._style(option), option.widget)
        width = self._text_left(cell, index) + metrics.horizontalAdvance(summary) + margin
        return QSize(max(hint.width(), width), hint.height() + metrics.height())

    def paint(self, painter, option, index) -> None:
        style = self._style(option)
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        # the selection's (or the row's) background under both lines
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, cell, painter, cell.widget
        )
        style.drawControl(
            QStyle.ControlElement.CE_ItemViewItem,
            self._first_line(option, index),
            painter,
            cell.widget,
        )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        color = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        if not selected:
            color.setAlphaF(0.7)  # muted: the name is the row's title
        painter.save()
        painter.setPen(color)
        painter.setFont(option.font)
        painter.drawText(
            self.summary_rect(option, index),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self.shown_summary(option, index),
        )
        painter.restore()

    def editorEvent(self, event, model, option, index) -> bool:
        """Clicks on the tick box where it is drawn, on the first line (the style places
        it in the middle of the cell it is given: the two lines')."""
        return super().editorEvent(event, model, self._first_line(option, index), index)

    def updateEditorGeometry(self, editor, option, index) -> None:
        """The rename box over the name, not over the summary."""
        line = self._first_line(option, index)
        style = self._style(option)
        rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, line, option.widget)
        editor.setGeometry(rect)


def text_margin(style: QStyle, widget) -> int:
    """Pixels an item view's style leaves each side of a cell's text."""
    return style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1


def _swatch(color: str, hidden: bool) -> QIcon:
    pixmap = QPixmap(14, 14)
    c = QColor(color)
    if hidden:
        c.setAlpha(70)
    pixmap.fill(c)
    return QIcon(pixmap)


class RunsPanel(QWidget):
    sig_run_activated = Signal(int)

    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self._statuses: list[tuple[str, bool] | None] = []
        self._status_runs = -1  # the run count the status column was last fitted for
        self.error_color = "#c92a2a"

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["run", "loss"])  # (or how the run ended)
        self.delegate = RunDelegate(self.tree)
        self.tree.setItemDelegateForColumn(COL_NAME, self.delegate)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        header = self.tree.header()
        # every cell whole (fixed widths cut them: "sgd lr=0…"): the status as wide as a
        # loss reads (STATUS_SAMPLE), the run (name and summary) in the rest; only a panel
        # too narrow for a summary elides it
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.Fixed)
        header.setMinimumSectionSize(60)
        self.tree.setToolTip(
            "The runs: tick to show or hide, double-click the name to rename,\n"
            "select one to edit its settings; right-click for more.\n"
            "Under each name: its optimizer and the settings that differ from the defaults."
        )
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        # one line, elided, whole in its tooltip: a wrapped warning took the rows' room and
        # hid a run behind a scrollbar (the status column says it in full too)
        self.warnings = QLabel()
        self.warnings.setWordWrap(False)
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.warnings.setVisible(False)
        self._warning_text = ""
        self.warnings.setToolTip(WARNING_TIP)

        def button(text: str, tip: str, slot) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.clicked.connect(slot)
            return b

        self.add_button = QToolButton()
        self.add_button.setText("Add")
        self.add_button.setToolTip("Add a run with the chosen optimizer")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_button)
        for name, info in OPTIMIZERS_INFO.items():
            action = QAction(info.title, menu)
            action.triggered.connect(lambda _=False, n=name: self.controller.add_run(n))
            menu.addAction(action)
        self.add_button.setMenu(menu)
        self.duplicate_button = button(
            "Duplicate",
            "Copy the selected run (then change one setting to compare)",
            lambda: self.controller.duplicate_run(self.current()),
        )
        self.remove_button = button(
            "Remove", "Remove the selected run", lambda: self.controller.remove_run(self.current())
        )
        self.color_button = button("Colour…", "Choose the selected run's colour", self._recolor)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.add_button, self.duplicate_button, self.remove_button, self.color_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.warnings)
        layout.addLayout(buttons)

        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        controller.sig_experiment_changed.connect(lambda _s: self.refresh())
        controller.sig_selection_changed.connect(self._select_row)
        # text at 4 Hz (the plots take every frame); a new result at once
        self._status_frame = None
        self._status_later = qthrottled(
            self._update_status_now, timeout=250, leading=False, parent=self
        )
        controller.sig_frame.connect(self._on_frame)
        self.refresh()

    # ---- the rows ----------------------------------------------------------------------------
    def current(self) -> int:
        return self.controller.selected_run

    def refresh(self) -> None:
        experiment = self.controller.experiment
        runs = experiment.runs
        with QSignalBlocker(self.tree):
            while self.tree.topLevelItemCount() > len(runs):
                self.tree.takeTopLevelItem(self.tree.topLevelItemCount() - 1)
            while self.tree.topLevelItemCount() < len(runs):
                item = QTreeWidgetItem()
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsUserCheckable
                    | Qt.ItemFlag.ItemIsEditable
                )
                self.tree.addTopLevelItem(item)
            for i, run in enumerate(runs):
                item = self.tree.topLevelItem(i)
                color = run_color(i, run.color)
                item.setIcon(COL_SHOW, _swatch(color, not run.visible))
                item.setCheckState(
                    COL_SHOW, Qt.CheckState.Checked if run.visible else Qt.CheckState.Unchecked
                )
                item.setText(COL_NAME, run.display_label)
                summary = run_summary(run, experiment.run_without_batch_norm(i))
                item.setData(COL_NAME, SUMMARY_ROLE, summary)
                item.setToolTip(
                    COL_NAME,
                    f"{run.display_label}\n{summary}\n"
                    "Tick: show this run. Double-click the name to rename it.",
                )
            self._statuses = [None] * len(runs)  # the next frame writes every status
            self._fit_rows(len(runs))
            if len(runs) != self._status_runs:  # another experiment, or runs added/removed
                self._status_runs = len(runs)
                self._fit_status([])
            self._select_row(self.controller.selected_run)
        self.remove_button.setEnabled(len(runs) > 1)

    def _fit_rows(self, n: int) -> None:
        """Room for every run (up to ``MAX_ROWS_SHOWN``) whatever else the panel shows."""
        self.tree.updateGeometries()
        rows = max(1, min(n, MAX_ROWS_SHOWN))
        row = self.tree.sizeHintForRow(0) if self.tree.topLevelItemCount() else 0
        row = max(row, self.tree.fontMetrics().height() + 4)
        header = self.tree.header().sizeHint().height()
        frame = 2 * self.tree.frameWidth()  # (no sideways scroll bar: a long status elides)
        self.tree.setMinimumHeight(header + rows * row + frame)
        # and the width of its cells, up to a point (then it scrolls sideways)
        # (the status as a loss reads; a divergence's long status is in the warning line,
        # and a table that widened when a run diverged would shift the whole window)
        cells = self.tree.sizeHintForColumn(COL_NAME)  # the name and the summary
        status = self.tree.fontMetrics().horizontalAdvance(STATUS_LONGEST) + STATUS_PADDING
        scrollbar = self.tree.verticalScrollBar().sizeHint().width()
        self.tree.setMinimumWidth(min(cells + status + frame + scrollbar, MAX_TABLE_WIDTH))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide_warnings()

    def _elide_warnings(self) -> None:
        metrics = self.warnings.fontMetrics()
        width = max(self.warnings.width(), 40)
        self.warnings.setText(
            metrics.elidedText(self._warning_text, Qt.TextElideMode.ElideRight, width)
        )

    def _select_row(self, index: int) -> None:
        item = self.tree.topLevelItem(index)
        if item is not None and self.tree.currentItem() is not item:
            with QSignalBlocker(self.tree):
                self.tree.setCurrentItem(item)

    def status_text(self, run: int) -> str:
        item = self.tree.topLevelItem(run)
        return item.text(COL_STATUS) if item is not None else ""

    def _on_frame(self, frame) -> None:
        self._status_frame = frame
        if frame.new_data:
            self._status_later.cancel()
            self.update_status(frame)
        else:
            self._status_later()

    def _update_status_now(self) -> None:
        if self._status_frame is not None:
            self.update_status(self._status_frame)

    def _fit_status(self, texts: list[str]) -> None:
        """The status column as wide as the widest of ``texts`` (losses: not divergences),
        within STATUS_SAMPLE's and STATUS_LONGEST's widths; ``[]``: back to the narrowest."""
        metrics = self.tree.fontMetrics()
        low, high = (metrics.horizontalAdvance(t) for t in (STATUS_SAMPLE, STATUS_LONGEST))
        wanted = max([low, *(metrics.horizontalAdvance(t) for t in texts)])
        width = min(wanted, high) + STATUS_PADDING
        header = self.tree.header()
        if not texts or width > header.sectionSize(COL_STATUS):
            header.resizeSection(COL_STATUS, width)

    def update_status(self, frame) -> None:
        self._update_warnings(frame)
        for i in range(self.tree.topLevelItemCount()):
            text, bad = self._status_of(frame, i)
            if i < len(self._statuses) and self._statuses[i] == (text, bad):
                continue
            if i < len(self._statuses):
                self._statuses[i] = (text, bad)
            item = self.tree.topLevelItem(i)
            with QSignalBlocker(self.tree):
                item.setText(COL_STATUS, text)
                item.setForeground(
                    COL_STATUS, QBrush(QColor(self.error_color)) if bad else QBrush()
                )
                tip = text
                if bad:
                    tip += (
                        "\nIts loss or parameters stopped being finite numbers; the path ends"
                        "\nat its last finite point (✕). The other runs go on."
                    )
                item.setToolTip(COL_STATUS, tip)
        self._fit_status([text for text, bad in filter(None, self._statuses) if not bad])

    def _update_warnings(self, frame) -> None:
        s = frame.snapshot
        runs = frame.experiment.runs
        lines = []
        for i in range(len(runs) if s.history is not None else 0):
            at = frame.diverged_step(i)  # run i is the snapshot's column frame.column(i)
            if at >= 0:
                lines.append(f"⚠ {runs[i].display_label} {divergence_text(int(at))}")
        if len(lines) > 1:
            text = f"⚠ {len(lines)} runs diverged: lower their learning rates (see status)"
        else:
            text = lines[0] if lines else ""
        if text != self._warning_text:
            self._warning_text = text
            self.warnings.setToolTip("\n".join(lines) + "\n\n" + WARNING_TIP if lines else "")
            self.warnings.setStyleSheet(f"QLabel {{ color: {self.error_color}; }}")
            self.warnings.setVisible(bool(lines))
            self._elide_warnings()

    def _status_of(self, frame, i: int) -> tuple[str, bool]:
        s = frame.snapshot
        h = s.history
        col = frame.column(i)
        if s.error or h is None or col is None:
            return ("", False)
        at = frame.diverged_step(i)
        if at >= 0:
            return (divergence_text(at), True)
        rows = frame.finite_rows(i)
        if rows == 0:
            return ("…", False)
        loss = float(h.loss[rows - 1, col])
        if not math.isfinite(loss):
            return ("", False)
        return (format_value(loss), False)

    # ---- editing -----------------------------------------------------------------------------
    def _on_current_changed(self, current, _previous) -> None:
        if current is not None:
            self.controller.select_run(self.tree.indexOfTopLevelItem(current))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != COL_NAME:
            return
        index = self.tree.indexOfTopLevelItem(item)
        run = self.controller.experiment.runs[index]
        visible = item.checkState(COL_SHOW) == Qt.CheckState.Checked
        if visible != run.visible:
            self.controller.update_run(index, visible=visible)
        label = item.text(COL_NAME).strip()
        if label != run.display_label:
            if label:
                self.controller.update_run(index, label=label)
            else:
                self.refresh()

    def _on_double_click(self, item: QTreeWidgetItem, column: int) -> None:
        if column == COL_STATUS:
            self.sig_run_activated.emit(self.tree.indexOfTopLevelItem(item))

    def _on_context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        index = self.tree.indexOfTopLevelItem(item)
        self.controller.select_run(index)
        run = self.controller.experiment.runs[index]
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.tree.editItem(item, COL_NAME))
        menu.addAction("Colour…", self._recolor)
        menu.addAction(
            "Hide" if run.visible else "Show",
            lambda: self.controller.update_run(index, visible=not run.visible),
        )
        menu.addSeparator()
        menu.addAction("Duplicate", lambda: self.controller.duplicate_run(index))
        remove = menu.addAction("Remove", lambda: self.controller.remove_run(index))
        remove.setEnabled(len(self.controller.experiment.runs) > 1)
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def _recolor(self) -> None:
        index = self.current()
        run = self.controller.experiment.runs[index]
        color = QColorDialog.getColor(
            QColor(run_color(index, run.color)), self, f"Colour of {run.display_label}"
        )
        if color.isValid():
            self.set_color(index, color.name())

    def set_color(self, index: int, color: str) -> None:
        self.controller.update_run(index, color=color)
