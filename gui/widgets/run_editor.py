"""The settings of the selected run: optimizer, hyperparameters, minibatches, schedule.

Every control comes from the registry (``engine.parameters``): its label, the formula in
its tooltip, its slider's range and scale, and when it is shown (only what the run's
optimizer takes in its convention; only the schedule fields of its kind). A change goes to
the controller at once (the path follows the slider while it is dragged); a value the
engine refuses is marked on its control and the run keeps its previous value.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine import parameters as registry
from engine.experiment import RunModel
from engine.parameters import (
    CONVENTION_TITLES,
    OPTIMIZERS_INFO,
    SCHEDULE_KINDS,
    Parameter,
)
from gui.theme import run_color
from gui.widgets.parameter_slider import ParameterSlider, guard_wheel


class RunEditor(QWidget):
    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self._index = 0
        self._updating = False
        self._shown_n = 0  # the N the batch controls were set for

        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setToolTip("The run these settings belong to (select another in Runs)")

        # optimizer
        self.optimizer = QComboBox()
        for name, info in OPTIMIZERS_INFO.items():
            self.optimizer.addItem(info.title, name)
            self.optimizer.setItemData(
                self.optimizer.count() - 1, info.tip, Qt.ItemDataRole.ToolTipRole
            )
        self.optimizer.setToolTip("The update rule of this run")
        self.convention = QComboBox()
        for key, title in CONVENTION_TITLES.items():
            self.convention.addItem(title, key)
        self.convention.setToolTip(
            "Where the lecture's formula and torch.optim differ:\n"
            "momentum  lecture m ← λm − ηg, θ ← θ + m;  PyTorch v ← μv + g, θ ← θ − ηv\n"
            "Adagrad   lecture: root mean square of past gradients; PyTorch: root of their sum\n"
            "RMSProp   lecture σ₀ = |g₀|; PyTorch v₀ = 0"
        )
        self.sliders: dict[str, ParameterSlider] = {}
        self.flags: dict[str, QCheckBox] = {}

        optimizer_box = QGroupBox("Optimizer")
        self.form = QFormLayout(optimizer_box)
        _tidy(self.form)
        self.form.addRow("update rule", self.optimizer)
        self.form.addRow("convention", self.convention)
        # read from the module, not imported: an entry added to the registry shows up here
        self._hyper: tuple[Parameter, ...] = registry.OPTIMIZER_PARAMETERS
        for p in self._hyper:
            if p.type is bool:
                box = QCheckBox(p.label)
                box.setToolTip(p.tip)
                box.toggled.connect(lambda on, k=p.key: self._on_hyper(k, on))
                self.flags[p.key] = box
                self.form.addRow("", box)
                continue
            slider = ParameterSlider.for_parameter(p)
            slider.sig_value_changed.connect(lambda v, k=p.key: self._on_hyper(k, v))
            self.sliders[p.key] = slider
            self.form.addRow(_label(p.label, p.tip), slider)

        # minibatches
        self.batch_box = QGroupBox("Minibatches")
        self.batch_box.setToolTip("How the training examples are split into minibatches")
        batch_form = QFormLayout(self.batch_box)
        _tidy(batch_form)
        self.full_batch = QCheckBox("full batch (B = N)")
        self.full_batch.setToolTip(
            "Every update uses the gradient of all N examples: no minibatch noise.\n"
            "Untick to choose a batch size B."
        )
        batch_form.addRow("", self.full_batch)
        self.batch_controls: dict[str, QWidget] = {}
        for p in registry.BATCH_PARAMETERS:
            if p.type is bool:
                box = QCheckBox(p.label)
                box.setToolTip(p.tip)
                box.toggled.connect(lambda on, k=p.key: self._change(**{k: on}))
                batch_form.addRow("", box)
                self.batch_controls[p.key] = box
            else:
                slider = ParameterSlider.for_parameter(p)
                batch_form.addRow(_label(p.label, p.tip), slider)
                self.batch_controls[p.key] = slider
        self.batch_size = self.batch_controls["batch_size"]
        self.accumulation = self.batch_controls["accumulation_steps"]
        self.shuffle = self.batch_controls["shuffle"]
        self.drop_last = self.batch_controls["drop_last"]
        # a network with batch norm: this run may train without it (compared on one plane)
        bn = registry.REGISTRY["batch_norm"]
        self.batch_norm = QCheckBox(f"{bn.label} in this run")
        self.batch_norm.setToolTip(
            bn.tip + "\nUntick to train this run on the same network without batch norm\n"
            "(the other runs keep it): the two on one set of curves and one plane."
        )
        self.batch_norm.toggled.connect(lambda on: self._change(batch_norm=None if on else False))
        batch_form.addRow("", self.batch_norm)
        self.batch_form = batch_form

        # schedule
        schedule_box = QGroupBox("Learning-rate schedule")
        schedule_box.setToolTip("How η changes with the update index k (see the lr curve)")
        sform = QFormLayout(schedule_box)
        _tidy(sform)
        self.schedule_kind = QComboBox()
        for kind, info in SCHEDULE_KINDS.items():
            self.schedule_kind.addItem(info.title, kind)
            self.schedule_kind.setItemData(
                self.schedule_kind.count() - 1, info.formula, Qt.ItemDataRole.ToolTipRole
            )
        self.schedule_kind.setToolTip(
            "\n".join(f"{k}: {info.formula}" for k, info in SCHEDULE_KINDS.items())
        )
        sform.addRow("kind", self.schedule_kind)
        self.schedule_sliders: dict[str, ParameterSlider] = {}
        for p in registry.SCHEDULE_PARAMETERS:
            slider = ParameterSlider.for_parameter(p)
            slider.sig_value_changed.connect(lambda v, p=p: self._on_schedule_field(p, v))
            sform.addRow(_label(p.label, p.tip), slider)
            self.schedule_sliders[p.key] = slider
        self.schedule_form = sform

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        layout.addLayout(top)
        layout.addWidget(optimizer_box)
        layout.addWidget(self.batch_box)
        layout.addWidget(schedule_box)
        layout.addStretch(1)

        guard_wheel(self.optimizer, self.convention, self.schedule_kind)
        # wiring
        self.optimizer.currentIndexChanged.connect(self._on_optimizer)
        self.convention.currentIndexChanged.connect(
            lambda: self._change(convention=self.convention.currentData())
        )
        self.full_batch.toggled.connect(self._on_full_batch)
        self.batch_size.sig_value_changed.connect(lambda v: self._change(batch_size=int(v)))
        self.accumulation.sig_value_changed.connect(
            lambda v: self._change(accumulation_steps=int(v))
        )
        self.schedule_kind.currentIndexChanged.connect(
            lambda: self._schedule(kind=self.schedule_kind.currentData())
        )
        controller.sig_experiment_changed.connect(lambda _structural: self.refresh())
        controller.sig_selection_changed.connect(self._on_selection)
        controller.sig_frame.connect(self._on_frame)
        self._on_selection(controller.selected_run)

    # ---- showing a run -----------------------------------------------------------------------
    @property
    def run(self) -> RunModel:
        return self.controller.experiment.runs[self._index]

    def _on_selection(self, index: int) -> None:
        self._index = index
        self.refresh()

    def refresh(self) -> None:
        runs = self.controller.experiment.runs
        self._index = min(self._index, len(runs) - 1)
        run = self.run
        self._updating = True
        try:
            color = run_color(self._index, run.color)
            self.header.setText(
                f"<span style='color:{color}; font-size:16px'>●</span> "
                f"<b>{escape(run.display_label, quote=False)}</b>"
                f" &nbsp;<span style='color:gray'>run {self._index + 1} of {len(runs)}</span>"
            )
            _set_combo(self.optimizer, run.optimizer)
            _set_combo(self.convention, run.convention)
            info = OPTIMIZERS_INFO[run.optimizer]
            self.convention.setEnabled(info.lecture_form or run.optimizer == "sgd")
            hyper = run.full_hyperparameters()
            for p in self._hyper:
                shown = p.applies(optimizer=run.optimizer, convention=run.convention)
                control = self.flags[p.key] if p.type is bool else self.sliders[p.key]
                self.form.setRowVisible(control, shown)
                if not shown:
                    continue
                if p.type is bool:
                    control.setChecked(bool(hyper[p.key]))
                else:
                    control.set_spec(p.slider_for(run.optimizer), p.default_for(run.optimizer))
                    control.setValue(float(hyper[p.key]))
            self._refresh_batches(run)
            self._refresh_schedule(run)
        finally:
            self._updating = False

    def _refresh_batches(self, run: RunModel) -> None:
        problem = self.controller.experiment.problem
        has_data = problem.kind != "function"
        self.batch_box.setVisible(has_data)
        if not has_data:
            return
        n = self._examples()
        self._shown_n = n
        self.batch_size.set_range(1, max(n, 2))
        full = run.batch_size is None
        self.full_batch.setChecked(full)
        self.batch_size.setEnabled(not full)
        self.batch_size.setValue(run.batch_size or n)
        self.accumulation.setValue(run.accumulation_steps)
        self.shuffle.setChecked(run.shuffle)
        self.drop_last.setChecked(run.drop_last)
        self.shuffle.setEnabled(not full or run.accumulation_steps > 1)
        self.batch_form.setRowVisible(self.batch_norm, self.controller.experiment.has_batch_norm)
        self.batch_norm.setChecked(run.batch_norm is not False)

    def _examples(self) -> int:
        """N, the training examples of the current experiment's problem: generated data
        has ``samples``; a CSV's count is known from a snapshot of this very problem (one
        of the previous experiment gave a stale N: B = 256 shown with N = 200)."""
        problem = self.controller.experiment.problem
        network = problem.kind == "mlp"  # its split's size is known from a snapshot only
        if getattr(problem, "data", None) is None and not network:
            return getattr(problem, "samples", 200)
        snapshot = self.controller.snapshot
        if (
            snapshot is not None
            and snapshot.built is not None
            and snapshot.experiment.problem == problem
            and snapshot.built.problem.n_examples
        ):
            return snapshot.built.problem.n_examples
        return getattr(problem, "samples", None) or 200  # until that snapshot comes (_on_frame)

    def _on_frame(self, frame) -> None:
        # a CSV's N arrives with the first snapshot of its problem
        if (
            frame.new_data
            and self.controller.experiment.problem.kind != "function"
            and self._examples() != self._shown_n
        ):
            self._updating = True
            try:
                self._refresh_batches(self.run)
            finally:
                self._updating = False

    def _refresh_schedule(self, run: RunModel) -> None:
        s = run.schedule
        _set_combo(self.schedule_kind, s.kind)
        fields = s.model_dump()
        for p in registry.SCHEDULE_PARAMETERS:
            slider = self.schedule_sliders[p.key]
            shown = p.applies(schedule=s.kind) and (p.active is None or p.active(fields))
            self.schedule_form.setRowVisible(slider, shown)
            slider.set_spec(p.slider_for(s.kind))
            value = fields[p.key]
            slider.setValue(0 if value is None else value)

    # ---- changes -----------------------------------------------------------------------------
    def _change(self, **changes) -> str | None:
        if self._updating:
            return None
        error = self.controller.update_run(self._index, **changes)
        if error:
            self.refresh()  # back to the run's value
        return error

    def _on_hyper(self, key: str, value) -> None:
        error = self._change(**{key: value})
        if error and key in self.sliders:
            self.sliders[key].show_error(error)

    def _on_optimizer(self) -> None:
        name = self.optimizer.currentData()
        if self._updating or name == self.run.optimizer:
            return
        changes = {"optimizer": name}
        # the new rule's usual rate: Adam at SGD's rate on Rosenbrock crawls, and vice versa
        lr = registry.REGISTRY["lr"]
        if self.run.lr is None or self.run.lr == lr.default_for(self.run.optimizer):
            changes["lr"] = lr.default_for(name)
        self._change(**changes)

    def _on_full_batch(self, full: bool) -> None:
        if self._updating:
            return
        n = self._examples()
        self._change(batch_size=None if full else max(1, min(32, n)))

    def _schedule(self, **changes) -> None:
        self._change(schedule=changes)

    def _on_schedule_field(self, p: Parameter, value: float) -> None:
        if p.type is int:
            value = int(value)
        if p.nullable and not value:  # the leftmost position: "auto"
            value = None
        self._schedule(**{p.key: value})


def _tidy(form: QFormLayout) -> None:
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    # in a narrow dock (a 1280 × 720 screen) a label goes above its field instead of
    # pushing the field out of sight at the right
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setHorizontalSpacing(8)
    form.setVerticalSpacing(4)


def _label(text: str, tip: str) -> QLabel:
    label = QLabel(text)
    label.setToolTip(tip)
    return label


def _set_combo(combo: QComboBox, data) -> None:
    index = combo.findData(data)
    if index >= 0 and index != combo.currentIndex():
        combo.setCurrentIndex(index)
