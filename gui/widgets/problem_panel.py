"""What is being minimised: an analytic surface, the lecture's linear model on data, or a
network (MLP) on a data set, and the settings every run shares (gradient noise, seed, number
of steps).

Every setting's editor, label and tooltip, and when it is shown (``condition`` for the
elongated bowl only, the data's settings for generated data, the batch-norm momentum with
batch norm), are the registry's (``engine.parameters``): a check box for a switch, a list for
a setting with ``choices`` (and a file dialog where a file may be named), a slider for a
number, a line edit for a ``list`` or ``text`` setting. A network's data set is previewed
under its chooser (``gui.widgets.dataset_preview``)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import parameters as registry
from engine.datasets import GENERATORS, DatasetError
from engine.parameters import PROBLEM_KINDS, REGISTRY, Parameter
from engine.problems.functions import SURFACES, make_surface
from gui.widgets.dataset_preview import DatasetPreview, csv_columns, preview_dataset
from gui.widgets.parameter_slider import ParameterSlider, guard_wheel

SURFACE_NAMES = {
    "rosenbrock": "Rosenbrock (curved valley)",
    "beale": "Beale (flat plateaus)",
    "himmelblau": "Himmelblau (four minima)",
    "saddle": "Saddle point",
    "elongated_quadratic": "Elongated bowl (ill-conditioned)",
    "rastrigin": "Rastrigin (many local minima)",
    "bumpy": "Bumpy bowl (local minima)",
}

KINDS = PROBLEM_KINDS
ERROR_STYLE = "QLineEdit { border: 1px solid #e03131; }"
# a network's data settings: changing one makes another data set, which is looked up (the
# preview's cache) before the change is taken, so that an impossible set is refused here
# with the engine's reason instead of failing in the worker
_DATA_KEYS = ("dataset", "samples", "noise", "classes", "label_column")


def parse_widths(text: str) -> list[int]:
    """ "64, 64" → [64, 64]; "" → [] (no hidden layer); ValueError with a one-line message
    naming the bad entry otherwise."""
    body = text.strip().removeprefix("[").removesuffix("]")
    parts = [part for part in re.split(r"[,;\s]+", body) if part]
    for part in parts:
        if not part.isdigit() or int(part) < 1:
            raise ValueError(
                f"hidden widths: {part!r} is not a whole number ≥ 1; expected widths "
                "separated by commas, e.g. 64, 64 (empty: no hidden layer)"
            )
    return [int(part) for part in parts]


class ProblemPanel(QWidget):
    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self._updating = False

        self.title = QLineEdit()
        self.title.setToolTip("The experiment's title (saved in the file, shown on figures)")
        self.kind = QComboBox()
        for kind, name in KINDS.items():
            self.kind.addItem(name, kind)
        self.kind.setToolTip(
            "Function: an analytic loss surface L(w1, w2), exact gradients.\n"
            "Linear regression: the lecture's model y = w1·x1 + w2·x2 with loss\n"
            "L = mean((w1·x1 + w2·x2 − y)²) over the examples, trained with minibatches.\n"
            "Network: a multilayer perceptron (optionally with batch norm) classifying a\n"
            "data set, softmax cross-entropy; its loss is drawn over a plane of weight space."
        )
        self.surface = QComboBox()
        for name in SURFACES:
            self.surface.addItem(SURFACE_NAMES.get(name, name), name)
            formula = make_surface(name).formula
            self.surface.setItemData(
                self.surface.count() - 1, f"L(x, y) = {formula}", Qt.ItemDataRole.ToolTipRole
            )
        self.surface.setToolTip("The loss surface the runs descend")
        self.data_file = QLabel()
        self.data_file.setToolTip("Where the examples come from")
        self.load_data = QPushButton("CSV…")
        self.load_data.setToolTip("Use examples from a CSV file with columns x1,x2,y")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Generate the examples from the settings above")
        # shared
        # a line edit, not a QSpinBox: a seed may be any whole number ≥ 0 (a spin box stops
        # at 2³¹ − 1 and raised OverflowError on a larger one read from a file)
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"[0-9]{1,19}")))
        self.seed.setToolTip(REGISTRY["seed"].tip + "\nType a value and press Enter.")
        self.steps = ParameterSlider.for_parameter(REGISTRY["steps"])
        self.start = QLabel()
        self.start.setToolTip("Drag the ✛ on the surface to move the start of every run")
        self.reset_start = QPushButton("Default")
        self.reset_start.setToolTip("Back to the surface's usual start")

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # see run_editor
        form.setVerticalSpacing(2)  # a network's panel fits 1366 × 768 without scrolling
        form.addRow("title", self.title)
        form.addRow("problem", self.kind)
        form.addRow("surface", self.surface)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_file, 1)
        data_row.addWidget(self.load_data)
        data_row.addWidget(self.generate)
        self._data_row = QWidget()
        self._data_row.setLayout(data_row)
        data_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("examples", self._data_row)
        # the problem's settings, one control (or one per component) for each registry entry
        # with a slider or a check box, in the registry's order
        self.controls: dict[str, list[QWidget]] = {}
        # a line edit's refusal, under it ("hidden widths: 'x' is not a whole number …")
        self.messages: dict[str, QLabel] = {}
        self.preview = DatasetPreview()
        self._entries = {entry.key: entry for entry in registry.PROBLEM_PARAMETERS}
        for entry in self._entries.values():
            widgets = self._controls_for(entry)
            if widgets:
                self.controls[entry.key] = widgets
                for i, widget in enumerate(widgets):
                    text = entry.label + (f"{i + 1}" if len(widgets) > 1 else "")
                    if isinstance(widget, QCheckBox):
                        form.addRow("", widget)
                    else:
                        form.addRow(_tip_label(text, widget), widget)
                if entry.key == "dataset":
                    form.addRow(self.preview)
                if isinstance(widgets[0], QLineEdit):
                    message = QLabel()
                    message.setWordWrap(True)
                    message.setStyleSheet("QLabel { color: #e03131; }")
                    message.setVisible(False)
                    self.messages[entry.key] = message
                    form.addRow("", message)
        form.addRow(_tip_label(REGISTRY["steps"].label, self.steps), self.steps)
        form.addRow(_tip_label(REGISTRY["seed"].label, self.seed), self.seed)
        start_row = QHBoxLayout()
        start_row.setContentsMargins(0, 0, 0, 0)
        start_row.addWidget(self.start, 1)
        start_row.addWidget(self.reset_start)
        start_widget = QWidget()
        start_widget.setLayout(start_row)
        form.addRow("start", start_widget)
        self._start_row = start_widget
        self.form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addStretch(1)

        guard_wheel(self.kind, self.surface)
        self.title.editingFinished.connect(self._on_title)
        self.kind.currentIndexChanged.connect(lambda: self._problem(kind=self.kind.currentData()))
        self.surface.currentIndexChanged.connect(self._on_surface)
        self.load_data.clicked.connect(self._on_load_data)
        self.generate.clicked.connect(lambda: self._problem(data=None))
        self.seed.editingFinished.connect(self._on_seed)
        self.steps.sig_value_changed.connect(self._on_steps)
        self.reset_start.clicked.connect(self._on_reset_start)
        controller.sig_experiment_changed.connect(self._on_experiment_changed)
        controller.sig_frame.connect(self._on_frame)
        self.refresh()

    def refresh(self) -> None:
        experiment = self.controller.experiment
        p = experiment.problem
        self._updating = True
        try:
            if not self.title.hasFocus():
                self.title.setText(experiment.title)
                self.title.setCursorPosition(0)
            self.kind.setCurrentIndex(self.kind.findData(p.kind))
            function = p.kind == "function"
            network = p.kind == "mlp"
            self.form.setRowVisible(self.surface, function)
            self.form.setRowVisible(self._data_row, p.kind == "linear_regression")
            self.form.setRowVisible(self._start_row, not network)  # a network has no start
            self.form.setRowVisible(self.preview, network)
            section = p.model_dump()
            for key, widgets in self.controls.items():
                entry = self._entries[key]
                shown = key in section and entry.applies(
                    problem=p.kind, surface=section.get("name")
                )
                active = entry.active is None or entry.active(section)
                # a network's settings depend on its data set and on batch norm: rows that
                # do not apply are hidden there (greyed, five rows for the digits would crowd
                # the panel); elsewhere they are greyed, as before (the Generate button)
                if network:
                    shown = shown and active
                for i, widget in enumerate(widgets):
                    self.form.setRowVisible(widget, shown)
                    widget.setEnabled(active)
                    if shown:
                        self._show_value(entry, widget, section, i)
                message = self.messages.get(key)
                if message is not None:
                    self.form.setRowVisible(message, shown and bool(message.text()))
            if function:
                self.surface.setCurrentIndex(self.surface.findData(p.name))
                self.reset_start.setEnabled(p.start is not None)
            elif network:
                self.preview.show_problem(section, experiment.seed, self.controller.base_dir)
            else:
                generated = p.data is None
                self.data_file.setText("generated" if generated else Path(p.data).name)
                self.generate.setEnabled(not generated)
                self.reset_start.setEnabled(tuple(p.start) != (0.0, 0.0))
            self.seed.setText(str(experiment.seed))
            self.steps.setValue(experiment.steps)
            self._show_start()
        finally:
            self._updating = False

    def _show_value(self, entry: Parameter, widget: QWidget, section: dict, i: int) -> None:
        value = section[entry.key]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            self._show_choice(widget, entry, value)
        elif isinstance(widget, QLineEdit):
            text = ", ".join(str(v) for v in value) if entry.editor == "list" else str(value)
            if not widget.hasFocus() and not self.messages[entry.key].text():
                widget.setText(text)
        else:
            if value is None:  # "the set's own": show what that is
                value = _own_default(entry.key, section)
            if value is not None:
                widget.setValue(value[i] if isinstance(value, list | tuple) else value)

    def _show_choice(self, combo: QComboBox, entry: Parameter, value) -> None:
        index = combo.findData(value)
        if index < 0 and entry.file_filter:
            # a file: the item before "file…" holds it, named by the file's name
            index = combo.count() - 2
            combo.setItemText(index, Path(str(value)).name)
            combo.setItemData(index, value)
            combo.setItemData(index, str(value), Qt.ItemDataRole.ToolTipRole)
        if entry.file_filter:
            view = combo.view()
            view.setRowHidden(combo.count() - 2, combo.itemData(combo.count() - 2) is None)
        combo.setCurrentIndex(index)

    def _controls_for(self, entry: Parameter) -> list[QWidget]:
        """The control(s) of a problem setting: a check box, a list of choices, a line edit,
        a slider, or one slider per component of a tuple (``feature_scales``); none without
        any of them (``true_weights``)."""
        key = entry.key
        if entry.type is bool:
            box = QCheckBox(entry.label)
            box.setToolTip(entry.tip)
            box.toggled.connect(lambda on: self._problem(**{key: on}))
            return [box]
        if entry.choices:
            return [self._choice_box(entry)]
        if entry.editor in ("list", "text"):
            edit = QLineEdit()
            edit.setToolTip(entry.tip + "\nType and press Enter.")
            edit.editingFinished.connect(lambda: self._on_text(entry, edit))
            return [edit]
        if entry.slider_for() is None:
            return []
        if entry.type is tuple:
            sliders = [ParameterSlider.for_parameter(entry) for _ in entry.default_for()]
            for i, slider in enumerate(sliders):
                slider.sig_value_changed.connect(lambda v, i=i: self._component(key, i, v))
            return sliders
        slider = ParameterSlider.for_parameter(entry)
        convert = int if entry.type is int else float
        slider.sig_value_changed.connect(lambda v: self._problem(**{key: convert(v)}))
        return [slider]

    def _choice_box(self, entry: Parameter) -> QComboBox:
        combo = QComboBox()
        combo.setToolTip(entry.tip)
        for value, title in entry.choices.items():
            combo.addItem(title, value)
        if entry.file_filter:
            combo.addItem("", None)  # the file in use, once there is one
            combo.addItem(f"{entry.file_filter.split(' (')[0]} file…", _CHOOSE_FILE)
            combo.setItemData(
                combo.count() - 1, "Choose a file on disk", Qt.ItemDataRole.ToolTipRole
            )
        guard_wheel(combo)
        combo.activated.connect(lambda _i: self._on_choice(entry, combo))
        return combo

    def _on_experiment_changed(self, structural: bool) -> None:
        if structural:  # another file, another kind: an old refusal is no longer news
            for key in self.messages:
                self._clear_message(key)
        self.refresh()

    def _show_start(self) -> None:
        if self.controller.experiment.problem.kind == "mlp":
            return
        start = self.controller.experiment.problem.start
        if start is None:
            s = self.controller.snapshot
            if s is not None and s.built is not None:
                start = s.built.problem.start
        if start is None:
            self.start.setText("the surface's usual start")
        else:
            self.start.setText(f"({start[0]:.3g}, {start[1]:.3g})")

    def _on_frame(self, frame) -> None:
        problem = self.controller.experiment.problem
        if frame.new_data and getattr(problem, "start", True) is None:
            self._show_start()

    # ---- changes -----------------------------------------------------------------------------
    def _problem(self, **changes) -> str | None:
        """Apply ``changes``: None, or the reason they were refused (the panel then shows the
        document's values again)."""
        if self._updating:
            return None
        reason = self._check_data(changes)
        if reason is not None:
            self.controller.sig_message.emit(f"Not applied — {reason}")
        else:
            reason = self.controller.update_problem(**changes)
        if reason:
            self.refresh()
            if self.controller.experiment.problem.kind == "mlp":
                self.preview.note(f"Not applied — {reason}")
        return reason

    def _check_data(self, changes: dict) -> str | None:
        """A network's new data set, looked up before the change is taken: why it can't be
        made (samples fewer than two per class, a CSV without the label column), or None."""
        problem = self.controller.experiment.problem
        if changes.get("kind", problem.kind) != "mlp" or "kind" in changes:
            return None
        if not any(key in changes for key in _DATA_KEYS):
            return None
        section = {**problem.model_dump(), **changes}
        try:
            preview_dataset(section, self.controller.experiment.seed, self.controller.base_dir)
        except DatasetError as exc:
            return str(exc)
        return None

    def _on_choice(self, entry: Parameter, combo: QComboBox) -> None:
        value = combo.currentData()
        if value == _CHOOSE_FILE:
            value = self._choose_file(entry)
            if value is None:  # cancelled: show the setting as it is
                self.refresh()
                return
        current = getattr(self.controller.experiment.problem, entry.key)
        if value == current:
            return
        changes = {entry.key: value}
        if entry.key == "dataset":
            # each data set has its own sensible size, noise and classes (moons' noise 0.1
            # would smear blobs of spread 0.5 into one; blobs' 4 classes refuse moons)
            changes.update(samples=None, noise=None, classes=None)
            changes.update(self._label_column_for(value))
        self._problem(**changes)

    def _label_column_for(self, dataset: str) -> dict:
        """A CSV without the label column named so far: its last column is taken (and the
        status bar says so), else the file would be refused before its label column can be
        set (that row shows once a CSV is in use)."""
        if not dataset.lower().endswith(".csv"):
            return {}
        columns = csv_columns(self.controller.base_dir / dataset)
        current = self.controller.experiment.problem.label_column
        if not columns or current in columns:
            return {}
        self.controller.sig_message.emit(
            f"{Path(dataset).name} has no column {current!r}: its last column, "
            f"{columns[-1]!r}, holds the classes (label column)"
        )
        return {"label_column": columns[-1]}

    def _choose_file(self, entry: Parameter) -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            self, entry.label, str(self.controller.base_dir), entry.file_filter
        )
        return self._relative(path) if path else None

    def _on_text(self, entry: Parameter, edit: QLineEdit) -> None:
        if self._updating:
            return
        key = entry.key
        text = edit.text()
        if entry.editor == "list":
            try:
                value = parse_widths(text)
            except ValueError as exc:
                self._refuse_text(key, str(exc))
                return
        else:
            value = text.strip()
            if not value:
                self._refuse_text(key, f"{entry.label}: must not be empty")
                return
        current = getattr(self.controller.experiment.problem, key)
        if value == (list(current) if isinstance(current, tuple) else current):
            self._clear_message(key)
            return
        reason = self._problem(**{key: value})
        if reason:
            edit.setText(text)  # the refresh showed the document's value: keep what was typed
            self._refuse_text(key, reason)
        else:
            self._clear_message(key)
            self.refresh()

    def _refuse_text(self, key: str, message: str) -> None:
        """Keep the typed text, mark it and say under it why nothing changed."""
        edit, label = self.controls[key][0], self.messages[key]
        label.setText(f"Not applied — {message}")
        edit.setStyleSheet(ERROR_STYLE)
        edit.setToolTip(f"Not applied: {message}\n\n{self._entries[key].tip}")
        self.form.setRowVisible(label, True)
        self.controller.sig_message.emit(f"Not applied — {message}")

    def _clear_message(self, key: str) -> None:
        edit, label = self.controls[key][0], self.messages[key]
        label.setText("")
        edit.setStyleSheet("")
        edit.setToolTip(self._entries[key].tip + "\nType and press Enter.")
        self.form.setRowVisible(label, False)

    def _component(self, key: str, index: int, value: float) -> None:
        values = list(getattr(self.controller.experiment.problem, key))
        values[index] = value
        self._problem(**{key: values})

    def _on_surface(self) -> None:
        name = self.surface.currentData()
        if self._updating or name == getattr(self.controller.experiment.problem, "name", None):
            return
        # each surface has its own sensible start and view
        self._problem(name=name, start=None, view=None)

    def _on_title(self) -> None:
        text = self.title.text().strip() or "Untitled experiment"
        if text != self.controller.experiment.title:
            self.controller.update_experiment(title=text)

    def _on_seed(self) -> None:
        text = self.seed.text().strip()
        if self._updating or not text or int(text) == self.controller.experiment.seed:
            return
        if self.controller.update_experiment(seed=int(text)):
            self.refresh()

    def _on_steps(self, value: float) -> None:
        if not self._updating and self.controller.update_experiment(steps=int(value)):
            self.refresh()

    def _on_reset_start(self) -> None:
        default = None if self.controller.experiment.problem.kind == "function" else [0.0, 0.0]
        self._problem(start=default)

    def _on_load_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Examples (CSV with columns x1,x2,y)",
            str(self.controller.base_dir),
            "CSV (*.csv)",
        )
        if path:
            self._problem(data=self._relative(path))

    def _relative(self, path: str) -> str:
        """A chosen file, relative to the experiment's folder when it lies inside it."""
        try:
            return Path(path).resolve().relative_to(self.controller.base_dir.resolve()).as_posix()
        except ValueError:
            return str(Path(path).resolve())


_CHOOSE_FILE = "\0choose a file"  # the chooser's last item: opens the file dialog


def _own_default(key: str, section: dict):
    """What ``None`` means for a generated network data set's samples, noise or classes:
    that set's own default (``engine.datasets.GENERATORS``)."""
    generator = GENERATORS.get(section.get("dataset")) if section.get("kind") == "mlp" else None
    if generator is None:
        return None
    if key == "classes":
        return generator.classes or 2
    return getattr(generator, key, None)


def _tip_label(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setToolTip(widget.toolTip())
    return label
