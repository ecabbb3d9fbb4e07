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

from engine.parameters import PROBLEM_KINDS, REGISTRY
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
        self.condition = _slider("condition")
        # data
        self.samples = _slider("samples")
        scales = REGISTRY["feature_scales"]
        self.scale1 = ParameterSlider.for_parameter(scales)
        self.scale2 = ParameterSlider.for_parameter(scales)
        self.normalize = QCheckBox(REGISTRY["normalize_features"].label)
        self.normalize.setToolTip(REGISTRY["normalize_features"].tip)
        self.data_noise = _slider("noise")
        self.data_file = QLabel()
        self.data_file.setToolTip("Where the examples come from")
        self.load_data = QPushButton("CSV…")
        self.load_data.setToolTip("Use examples from a CSV file with columns x1,x2,y")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Generate the examples from the settings above")
        # shared
        self.gradient_noise = _slider("gradient_noise")
        # a line edit, not a QSpinBox: a seed may be any whole number ≥ 0 (a spin box stops
        # at 2³¹ − 1 and raised OverflowError on a larger one read from a file)
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"[0-9]{1,19}")))
        self.seed.setToolTip(REGISTRY["seed"].tip + "\nType a value and press Enter.")
        self.steps = _slider("steps")
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
        form.addRow(_tip_label(REGISTRY["condition"].label, self.condition), self.condition)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_file, 1)
        data_row.addWidget(self.load_data)
        data_row.addWidget(self.generate)
        self._data_row = QWidget()
        self._data_row.setLayout(data_row)
        data_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("examples", self._data_row)
        for key, widget in (
            ("samples", self.samples),
            ("x1", self.scale1),
            ("x2", self.scale2),
            ("noise", self.data_noise),
        ):
            text = f"scale of {key}" if key in ("x1", "x2") else REGISTRY[key].label
            form.addRow(_tip_label(text, widget), widget)
        form.addRow("", self.normalize)
        for key, widget in (("gradient_noise", self.gradient_noise), ("steps", self.steps)):
            form.addRow(_tip_label(REGISTRY[key].label, widget), widget)
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
        self.condition.sig_value_changed.connect(lambda v: self._problem(condition=v))
        self.samples.sig_value_changed.connect(lambda v: self._problem(samples=int(v)))
        self.scale1.sig_value_changed.connect(lambda v: self._scales(0, v))
        self.scale2.sig_value_changed.connect(lambda v: self._scales(1, v))
        self.normalize.toggled.connect(lambda on: self._problem(normalize_features=on))
        self.data_noise.sig_value_changed.connect(lambda v: self._problem(noise=v))
        self.load_data.clicked.connect(self._on_load_data)
        self.generate.clicked.connect(lambda: self._problem(data=None))
        self.gradient_noise.sig_value_changed.connect(lambda v: self._problem(gradient_noise=v))
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
            for key, widgets in self._registry_rows().items():
                entry = REGISTRY[key]
                shown = entry.applies(problem=p.kind, surface=getattr(p, "name", None))
                for widget in widgets:
                    self.form.setRowVisible(widget, shown)
                    widget.setEnabled(entry.active is None or entry.active(section))
            if function:
                self.surface.setCurrentIndex(self.surface.findData(p.name))
                self.condition.setValue(p.condition)
                self.reset_start.setEnabled(p.start is not None)
            else:
                generated = p.data is None
                self.data_file.setText("generated" if generated else Path(p.data).name)
                self.generate.setEnabled(not generated)
                self.samples.setValue(p.samples)
                self.scale1.setValue(p.feature_scales[0])
                self.scale2.setValue(p.feature_scales[1])
                self.data_noise.setValue(p.noise)
                self.normalize.setChecked(p.normalize_features)
                self.reset_start.setEnabled(tuple(p.start) != (0.0, 0.0))
            self.gradient_noise.setValue(p.gradient_noise)
            self.seed.setText(str(experiment.seed))
            self.steps.setValue(experiment.steps)
            self._show_start()
        finally:
            self._updating = False

    def _registry_rows(self) -> dict[str, tuple[QWidget, ...]]:
        return {
            "condition": (self.condition,),
            "samples": (self.samples,),
            "feature_scales": (self.scale1, self.scale2),
            "noise": (self.data_noise,),
            "normalize_features": (self.normalize,),
        }

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

    def _scales(self, index: int, value: float) -> None:
        scales = list(self.controller.experiment.problem.feature_scales)
        scales[index] = value
        self._problem(feature_scales=scales)

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


def _slider(key: str) -> ParameterSlider:
    return ParameterSlider.for_parameter(REGISTRY[key])


def _tip_label(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setToolTip(widget.toolTip())
    return label
