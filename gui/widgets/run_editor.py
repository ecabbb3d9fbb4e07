"""The settings of the selected run: optimizer, hyperparameters, minibatches, schedule.

Only what the chosen optimizer takes is shown (``engine.optim.DEFAULTS``); every control's
tooltip gives the formula its value enters. A change goes to the controller at once (the
path follows the slider while it is dragged); a value the engine refuses is marked on its
control and the run keeps its previous value.
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

from engine.experiment import RunModel
from engine.optim import DEFAULTS, LECTURE_FORMS, OPTIMIZERS
from gui.theme import run_color
from gui.widgets.parameter_slider import ParameterSlider, guard_wheel

OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "nesterov": "Nesterov momentum",
    "adagrad": "Adagrad",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
}

OPTIMIZER_TIPS = {
    "sgd": "Plain gradient descent: θ ← θ − η·g",
    "momentum": "Heavy-ball momentum. PyTorch: v ← μ·v + g, θ ← θ − η·v.\n"
    "Lecture: m ← λ·m − η·g, θ ← θ + m.",
    "nesterov": "Nesterov momentum: the gradient step looks ahead along the momentum.\n"
    "PyTorch: v ← μ·v + g, θ ← θ − η·(g + μ·v).",
    "adagrad": "Adagrad: each parameter's rate is divided by the root of its past squared "
    "gradients.\nPyTorch: s ← s + g², θ ← θ − η·g/(√s + ε).\n"
    "Lecture: σ_t = √(mean of g₀² … g_t²), θ ← θ − η·g/(σ_t + ε).",
    "rmsprop": "RMSProp: like Adagrad with an exponential moving average, so old gradients "
    "fade.\nσ² ← α·σ² + (1 − α)·g², θ ← θ − η·g/(σ + ε).",
    "adam": "Adam = momentum + RMSProp, bias-corrected:\nm ← β₁m + (1 − β₁)g, "
    "v ← β₂v + (1 − β₂)g²,\nθ ← θ − η·m̂/(√v̂ + ε).",
    "adamw": "AdamW: Adam with decoupled weight decay, θ ← θ·(1 − η·λ) before Adam's step.",
}

# key: (label, minimum, maximum, scale, zero_at_min, tooltip)
HYPERPARAMETERS = {
    "lr": (
        "learning rate η",
        1e-5,
        10.0,
        "log",
        False,
        "Learning rate η, the size of each step: θ ← θ − η·(update direction).\n"
        "With a schedule, η is the base rate the schedule multiplies.\n"
        "Too large and the path oscillates or diverges; too small and it crawls.",
    ),
    "momentum": (
        "momentum μ",
        0.0,
        0.99,
        "linear",
        False,
        "Momentum μ (the lecture's λ): how much of the previous movement is kept.\n"
        "PyTorch: v ← μ·v + g,  θ ← θ − η·v.\nLecture: m ← λ·m − η·g,  θ ← θ + m.\n"
        "0 is plain gradient descent; near 1 the path coasts past minima.",
    ),
    "dampening": (
        "dampening τ",
        0.0,
        1.0,
        "linear",
        False,
        "Dampening τ scales the new gradient in the momentum buffer: v ← μ·v + (1 − τ)·g.",
    ),
    "alpha": (
        "smoothing α",
        0.5,
        0.9999,
        "log1m",
        False,
        "Smoothing α of the squared-gradient average (RMSProp):\n"
        "σ² ← α·σ² + (1 − α)·g²,  θ ← θ − η·g/(σ + ε).\n"
        "Close to 1: a long memory; smaller: reacts fast to recent gradients.",
    ),
    "beta1": (
        "β₁ (momentum)",
        0.0,
        0.99,
        "linear",
        False,
        "β₁, the momentum of Adam: m ← β₁·m + (1 − β₁)·g,\n"
        "bias-corrected as m̂ = m/(1 − β₁ᵗ).  θ ← θ − η·m̂/(√v̂ + ε).",
    ),
    "beta2": (
        "β₂ (scale memory)",
        0.9,
        0.99999,
        "log1m",
        False,
        "β₂, the memory of the squared gradients: v ← β₂·v + (1 − β₂)·g²,\n"
        "bias-corrected as v̂ = v/(1 − β₂ᵗ).  θ ← θ − η·m̂/(√v̂ + ε).",
    ),
    "eps": (
        "ε",
        1e-12,
        1.0,
        "log",
        True,
        "ε in the denominator: θ ← θ − η·g/(σ + ε).\n"
        "Keeps the step finite where gradients vanish; a large ε turns an adaptive method\n"
        "back into plain gradient descent with rate η/ε.",
    ),
    "weight_decay": (
        "weight decay λ",
        1e-6,
        1.0,
        "log",
        True,
        "L2 weight decay λ, added to the gradient: g ← g + λ·θ (pulls θ towards 0).\n"
        "AdamW decouples it: θ ← θ·(1 − η·λ) before Adam's step. Leftmost: off.",
    ),
    "lr_decay": (
        "rate decay",
        1e-6,
        1.0,
        "log",
        True,
        "Adagrad's own decay: η_t = η / (1 + (t − 1)·lr_decay). Leftmost: off.",
    ),
    "initial_accumulator_value": (
        "initial accumulator",
        1e-4,
        10.0,
        "log",
        True,
        "Adagrad's s₀: the sum of squared gradients starts here, damping the first steps.\n"
        "s ← s + g²,  θ ← θ − η·g/(√s + ε). Leftmost: 0.",
    ),
}

FLAG_TIPS = {
    "centered": "Centered RMSProp: divide by the gradient's standard deviation,\n"
    "σ = √(v − ḡ²), instead of its root mean square.",
    "amsgrad": "AMSGrad: use the largest v seen so far, v̂ = max(v̂, v), so the per-parameter\n"
    "step size η/√v̂ never grows back.",
}

SCHEDULE_NAMES = {
    "constant": "constant",
    "step": "step decay",
    "exponential": "exponential decay",
    "cosine": "cosine annealing",
    "inverse_sqrt": "1/√(k + 1)",
}

SCHEDULE_TIPS = {
    "constant": "η_k = η",
    "step": "η_k = η·γ^⌊k / step_size⌋ (torch StepLR)",
    "exponential": "η_k = η·γ^k (torch ExponentialLR)",
    "cosine": "η_k = m + (η − m)·(1 + cos(π k / T))/2 (torch CosineAnnealingLR)",
    "inverse_sqrt": "η_k = η / √(k + 1), the lecture's decay",
}


class RunEditor(QWidget):
    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self._index = 0
        self._updating = False

        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setToolTip("The run these settings belong to (select another in Runs)")

        # optimizer
        self.optimizer = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_NAMES[name], name)
            self.optimizer.setItemData(
                self.optimizer.count() - 1, OPTIMIZER_TIPS[name], Qt.ItemDataRole.ToolTipRole
            )
        self.optimizer.setToolTip("The update rule of this run")
        self.convention = QComboBox()
        self.convention.addItem("PyTorch", "pytorch")
        self.convention.addItem("Lecture (ML 2021)", "lecture")
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
        for key, (label, lo, hi, scale, zero, tip) in HYPERPARAMETERS.items():
            slider = ParameterSlider(
                lo,
                hi,
                scale=scale,
                zero_at_min=zero,
                zero_text="off" if key in ("weight_decay", "lr_decay") else "0",
                tooltip=tip,
            )
            slider.sig_value_changed.connect(lambda v, k=key: self._on_hyper(k, v))
            self.sliders[key] = slider
            self.form.addRow(_label(label, tip), slider)
        for key, tip in FLAG_TIPS.items():
            box = QCheckBox(key)
            box.setToolTip(tip)
            box.toggled.connect(lambda on, k=key: self._on_hyper(k, on))
            self.flags[key] = box
            self.form.addRow("", box)

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
        self.batch_size = ParameterSlider(
            1,
            200,
            scale="intlog",
            tooltip="Batch size B: each update uses g = (1/B)·Σ ∇ℓᵢ over B examples.\n"
            "Small B: noisy, cheap steps; large B: smooth, expensive ones.",
        )
        self.shuffle = QCheckBox("reshuffle every epoch")
        self.shuffle.setToolTip(
            "Reshuffle the examples at the start of each epoch (off: the same order always)"
        )
        self.drop_last = QCheckBox("drop the last short batch")
        self.drop_last.setToolTip("Skip the final minibatch of an epoch when it has fewer than B")
        self.accumulation = ParameterSlider(
            1,
            32,
            scale="int",
            tooltip="Gradient accumulation: k micro-batches of B examples per update,\n"
            "g = (1/k)·Σⱼ gⱼ — the same as one batch k·B (without batch norm).",
        )
        batch_form.addRow("", self.full_batch)
        batch_form.addRow(_label("batch size B", self.batch_size.toolTip()), self.batch_size)
        batch_form.addRow(_label("accumulation k", self.accumulation.toolTip()), self.accumulation)
        batch_form.addRow("", self.shuffle)
        batch_form.addRow("", self.drop_last)
        self.batch_form = batch_form

        # schedule
        schedule_box = QGroupBox("Learning-rate schedule")
        schedule_box.setToolTip("How η changes with the update index k (see the lr curve)")
        sform = QFormLayout(schedule_box)
        _tidy(sform)
        self.schedule_kind = QComboBox()
        for kind, name in SCHEDULE_NAMES.items():
            self.schedule_kind.addItem(name, kind)
            self.schedule_kind.setItemData(
                self.schedule_kind.count() - 1, SCHEDULE_TIPS[kind], Qt.ItemDataRole.ToolTipRole
            )
        self.schedule_kind.setToolTip("\n".join(f"{k}: {t}" for k, t in SCHEDULE_TIPS.items()))
        self.step_size = ParameterSlider(
            1, 5000, scale="intlog", tooltip="step decay: η_k = η·γ^⌊k / step_size⌋"
        )
        self.gamma_step = ParameterSlider(
            0.001, 1.0, scale="log", tooltip="γ, the factor of each decay: η_k = η·γ^⌊k / s⌋"
        )
        self.gamma_exp = ParameterSlider(
            0.5, 0.9999, scale="log1m", tooltip="γ, the factor per update: η_k = η·γ^k"
        )
        self.total_steps = ParameterSlider(
            1,
            100000,
            scale="intlog",
            zero_at_min=True,
            zero_text="auto",
            tooltip="cosine: T, the updates to reach the lowest rate\n"
            "(auto: all the steps after the warmup)",
        )
        self.min_lr = ParameterSlider(
            1e-7,
            1.0,
            scale="log",
            zero_at_min=True,
            tooltip="cosine: m, the lowest rate: η_k = m + (η − m)·(1 + cos(πk/T))/2",
        )
        self.warmup = ParameterSlider(
            1,
            5000,
            scale="intlog",
            zero_at_min=True,
            zero_text="off",
            tooltip="Linear warmup over W updates: η_k = η·(s + (1 − s)·k/W) for k < W;\n"
            "the decay starts after it. Leftmost: no warmup.",
        )
        self.warmup_factor = ParameterSlider(
            0.001, 1.0, scale="log", tooltip="s: warmup starts at s·η and rises linearly to η"
        )
        sform.addRow("kind", self.schedule_kind)
        self._schedule_rows = {
            "step_size": self.step_size,
            "gamma_step": self.gamma_step,
            "gamma_exp": self.gamma_exp,
            "total_steps": self.total_steps,
            "min_lr": self.min_lr,
        }
        for name, label in (
            ("step_size", "step size"),
            ("gamma_step", "γ"),
            ("gamma_exp", "γ"),
            ("total_steps", "T"),
            ("min_lr", "lowest rate m"),
        ):
            widget = self._schedule_rows[name]
            sform.addRow(_label(label, widget.toolTip()), widget)
        sform.addRow(_label("warmup W", self.warmup.toolTip()), self.warmup)
        sform.addRow(_label("warmup start s", self.warmup_factor.toolTip()), self.warmup_factor)
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
        self.shuffle.toggled.connect(lambda on: self._change(shuffle=on))
        self.drop_last.toggled.connect(lambda on: self._change(drop_last=on))
        self.schedule_kind.currentIndexChanged.connect(
            lambda: self._schedule(kind=self.schedule_kind.currentData())
        )
        self.step_size.sig_value_changed.connect(lambda v: self._schedule(step_size=int(v)))
        self.gamma_step.sig_value_changed.connect(lambda v: self._schedule(gamma=v))
        self.gamma_exp.sig_value_changed.connect(lambda v: self._schedule(gamma=v))
        self.total_steps.sig_value_changed.connect(
            lambda v: self._schedule(total_steps=int(v) or None)
        )
        self.min_lr.sig_value_changed.connect(lambda v: self._schedule(min_lr=v))
        self.warmup.sig_value_changed.connect(lambda v: self._schedule(warmup_steps=int(v)))
        self.warmup_factor.sig_value_changed.connect(
            lambda v: self._schedule(warmup_start_factor=v)
        )
        controller.sig_experiment_changed.connect(lambda _structural: self.refresh())
        controller.sig_selection_changed.connect(self._on_selection)
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
            lecture = run.optimizer in (*LECTURE_FORMS, "sgd")
            self.convention.setEnabled(lecture)
            hyper = run.full_hyperparameters()
            takes = DEFAULTS[run.optimizer]
            for key, slider in self.sliders.items():
                shown = key in takes
                self.form.setRowVisible(slider, shown)
                if shown:
                    slider.setValue(float(hyper[key]))
            for key, box in self.flags.items():
                shown = key in takes
                self.form.setRowVisible(box, shown)
                if shown:
                    box.setChecked(bool(hyper[key]))
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
        self.batch_size.set_range(1, max(n, 2))
        full = run.batch_size is None
        self.full_batch.setChecked(full)
        self.batch_size.setEnabled(not full)
        self.batch_size.setValue(run.batch_size or n)
        self.accumulation.setValue(run.accumulation_steps)
        self.shuffle.setChecked(run.shuffle)
        self.drop_last.setChecked(run.drop_last)
        self.shuffle.setEnabled(not full or run.accumulation_steps > 1)

    def _examples(self) -> int:
        snapshot = self.controller.snapshot
        if snapshot is not None and snapshot.built is not None:
            n = snapshot.built.problem.n_examples
            if n:
                return n
        return getattr(self.controller.experiment.problem, "samples", 200)

    def _refresh_schedule(self, run: RunModel) -> None:
        s = run.schedule
        _set_combo(self.schedule_kind, s.kind)
        visible = {
            "step_size": s.kind == "step",
            "gamma_step": s.kind == "step",
            "gamma_exp": s.kind == "exponential",
            "total_steps": s.kind == "cosine",
            "min_lr": s.kind == "cosine",
        }
        for name, widget in self._schedule_rows.items():
            self.schedule_form.setRowVisible(widget, visible[name])
        self.step_size.setValue(s.step_size)
        self.gamma_step.setValue(s.gamma)
        self.gamma_exp.setValue(s.gamma)
        self.total_steps.setValue(s.total_steps or 0)
        self.min_lr.setValue(s.min_lr)
        self.warmup.setValue(s.warmup_steps)
        self.warmup_factor.setValue(s.warmup_start_factor)
        self.schedule_form.setRowVisible(self.warmup_factor, s.warmup_steps > 0)

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
        if self.run.lr is None or self.run.lr == DEFAULTS[self.run.optimizer]["lr"]:
            changes["lr"] = DEFAULTS[name]["lr"]
        self._change(**changes)

    def _on_full_batch(self, full: bool) -> None:
        if self._updating:
            return
        n = self._examples()
        self._change(batch_size=None if full else max(1, min(32, n)))

    def _schedule(self, **changes) -> None:
        self._change(schedule=changes)


def _tidy(form: QFormLayout) -> None:
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
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
