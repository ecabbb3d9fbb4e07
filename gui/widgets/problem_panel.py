"""What is being minimised: an analytic surface or the lecture's linear model on data, and
the settings every run shares (gradient noise, seed, number of steps).

The numeric settings' labels, tooltips and sliders, and when each is shown (``condition``
for the elongated bowl only, the data's settings for generated data), are the registry's
(``engine.parameters``)."""

from __future__ import annotations

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
from engine.parameters import PROBLEM_KINDS, REGISTRY, Parameter
from engine.problems.functions import SURFACES, make_surface
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
            "L = mean((w1·x1 + w2·x2 − y)²) over the examples, trained with minibatches."
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
        form.setVerticalSpacing(4)
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
        form.addRow(_tip_label(REGISTRY["steps"].label, self.steps), self.steps)
        form.addRow(_tip_label(REGISTRY["seed"].label, self.seed), self.seed)
        start_row = QHBoxLayout()
        start_row.setContentsMargins(0, 0, 0, 0)
        start_row.addWidget(self.start, 1)
        start_row.addWidget(self.reset_start)
        start_widget = QWidget()
        start_widget.setLayout(start_row)
        form.addRow("start", start_widget)
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
        controller.sig_experiment_changed.connect(lambda _s: self.refresh())
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
            self.form.setRowVisible(self.surface, function)
            self.form.setRowVisible(self._data_row, not function)
            section = p.model_dump()
            for key, widgets in self.controls.items():
                entry = self._entries[key]
                shown = key in section and entry.applies(
                    problem=p.kind, surface=section.get("name")
                )
                for i, widget in enumerate(widgets):
                    self.form.setRowVisible(widget, shown)
                    widget.setEnabled(entry.active is None or entry.active(section))
                    if not shown:
                        continue
                    value = section[key]
                    if isinstance(widget, QCheckBox):
                        widget.setChecked(bool(value))
                    else:
                        widget.setValue(value[i] if isinstance(value, list | tuple) else value)
            if function:
                self.surface.setCurrentIndex(self.surface.findData(p.name))
                self.reset_start.setEnabled(p.start is not None)
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

    def _controls_for(self, entry: Parameter) -> list[QWidget]:
        """The control(s) of a problem setting: a check box, a slider, or one slider per
        component of a tuple (``feature_scales``); none without a slider (``true_weights``)."""
        key = entry.key
        if entry.type is bool:
            box = QCheckBox(entry.label)
            box.setToolTip(entry.tip)
            box.toggled.connect(lambda on: self._problem(**{key: on}))
            return [box]
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

    def _show_start(self) -> None:
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
        if frame.new_data and self.controller.experiment.problem.start is None:
            self._show_start()

    # ---- changes -----------------------------------------------------------------------------
    def _problem(self, **changes) -> None:
        if not self._updating and self.controller.update_problem(**changes):
            self.refresh()

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
        if not path:
            return
        try:
            relative = Path(path).resolve().relative_to(self.controller.base_dir.resolve())
            value = str(relative)
        except ValueError:
            value = str(Path(path).resolve())
        self._problem(data=value)


def _tip_label(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setToolTip(widget.toolTip())
    return label
