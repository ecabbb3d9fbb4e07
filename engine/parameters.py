"""Every setting an experiment has, declared once: the registry the rest is derived from.

An entry (``Parameter``) says everything the program knows about one setting: its key, type
and default (per optimizer where they differ), its constraint (``Bounds``: what the
validation messages say), its symbol and the formula shown as its tooltip, the slider that
edits it (range and scale), and where it applies (``where``: optimizers, conventions,
schedule kinds, problem kinds, surfaces). From it come

- ``engine.optim``: each optimizer's hyperparameters, defaults and validation;
- ``engine.schedules``: the ``Schedule`` fields, defaults and checks;
- ``engine.experiment``: the pydantic fields of runs and schedules, and which keys a saved
  file holds (``prune``: only what applies, so a saved file reads like a hand-written one);
- the app: the run editor's and problem panel's sliders and tooltips, the runs panel's
  summary, the curves' labels.

A new setting is one entry here. For example, a hyperparameter of Adam only::

    Parameter("amsgrad_floor", "AMSGrad floor", "v₀", "v̂ ≥ v₀", float,
              default=0.0, bounds=Bounds(0), where={"optimizer": ("adam",)},
              slider=Slider(1e-8, 1.0, "log", zero_at_min=True))

in ``OPTIMIZER_PARAMETERS`` is taken by ``make_optimizer("adam", ...)`` (and refused for
SGD with "does not apply to optimizer 'sgd'; it takes lr, …"), becomes an optional key of
``[[runs]]`` and a slider of the run editor shown for Adam runs
(``tests/engine/test_parameters.py`` does exactly this).

This module is a leaf: plain data that imports nothing but the standard library (NumPy
arrays pass through ``Bounds.holds`` untouched).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# ---- the pieces of an entry --------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """An interval, open or closed at each end; ``None``: unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def words(self) -> str:
        """What a value must be, as a validation message says it: "≥ 0", "in [0, 1)"."""
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            if self.low_open and not self.high_open:
                return f"> {lo:g} and ≤ {hi:g}"
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{lo:g}, {hi:g}{right}"
        if lo is not None:
            return f"{'>' if self.low_open else '≥'} {lo:g}"
        if hi is not None:
            return f"{'<' if self.high_open else '≤'} {hi:g}"
        return "a number"

    def holds(self, value):
        """Elementwise test (``value`` may be a NumPy array)."""
        ok = value == value  # NaN fails every bound
        if self.low is not None:
            ok = ok & ((value > self.low) if self.low_open else (value >= self.low))
        if self.high is not None:
            ok = ok & ((value < self.high) if self.high_open else (value <= self.high))
        return ok

    def pydantic(self) -> dict[str, float]:
        """The ``Field`` arguments that state the same constraint."""
        out: dict[str, float] = {}
        if self.low is not None:
            out["gt" if self.low_open else "ge"] = self.low
        if self.high is not None:
            out["lt" if self.high_open else "le"] = self.high
        return out


@dataclass(frozen=True)
class Slider:
    """How the app edits a number: the range and scale of its slider (typed entry takes any
    value). Scales: ``linear``; ``log`` for values spanning decades; ``log1m`` for values
    close to 1 where 1 − x matters (β₂ = 0.9, 0.99, 0.999 evenly spaced); ``int`` and
    ``intlog`` for whole numbers. ``zero_at_min``: the leftmost position is 0 ("off").
    ``decades``: a log slider spans this many decades around the value (the optimizer's
    default, or the current value when it lies outside), not the whole range: dragging must
    move a learning rate by a readable factor per pixel."""

    minimum: float
    maximum: float
    scale: str = "linear"
    zero_at_min: bool = False
    zero_text: str = "0"
    decades: float | None = None


@dataclass(frozen=True)
class Parameter:
    """One setting. ``default``, ``bounds`` and ``slider`` may be mappings from an optimizer
    (or schedule kind) to the value there, with ``"*"`` for the others."""

    key: str
    label: str  # the editor's row: "learning rate η"
    symbol: str  # in summaries and curve labels: "η"
    tip: str  # what it does, with the formula it enters
    type: type = float
    default: Any = None
    bounds: Bounds | Mapping[str, Bounds] = field(default_factory=Bounds)
    slider: Slider | Mapping[str, Slider] | None = None
    # where it applies: {"optimizer": (...), "convention": (...), "problem": (...),
    # "surface": (...), "schedule": (...)}; a context not named here does not restrict it
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # shown and saved only when this holds for its section (e.g. the warmup's start factor
    # once there is a warmup)
    active: Callable[[Mapping[str, Any]], bool] | None = None
    summary: bool = False  # shown in the runs panel's one-line summary
    nullable: bool = False  # None is a value ("auto")
    description: str = ""  # for the schema
    # editor hints for settings that are not numbers (the problem panel builds from them):
    # the values a text setting takes, each with its title in the editor's list ...
    choices: Mapping[str, str] = field(default_factory=dict)
    # ... and, when a file may be named instead, the file dialog's filter ("CSV (*.csv)")
    file_filter: str = ""
    # where the type and slider don't say: "list", whole numbers separated by commas in a
    # line edit (a tuple of any length); "text", a line edit
    editor: str = ""
    # a limit's messages (README, Limits): what the value counts and per what, so that a
    # value above it reads "5,000 units is more than the limit of 4,096 per layer"; ``items``:
    # what a list's entries are ("hidden layers") when the list has a limit of its own
    unit: str = ""
    per: str = ""
    items: str = ""

    def default_for(self, context: str = "*"):
        return _pick(self.default, context)

    def bounds_for(self, context: str = "*") -> Bounds:
        return _pick(self.bounds, context)

    def slider_for(self, context: str = "*") -> Slider | None:
        return _pick(self.slider, context)

    def applies(self, **context: str | None) -> bool:
        """Whether it applies where ``context`` says (keys absent from it are not asked)."""
        return all(
            value in self.where[name]
            for name, value in context.items()
            if name in self.where and value is not None
        )

    def check(self, value, context: str = "*") -> str | None:
        """What is wrong with ``value`` as a message ("must be ≥ 0, got -1"), or None."""
        if self.type is bool:
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if value is None:
            return None if self.nullable else "must be given"
        if self.type is int and (isinstance(value, bool) or value != int(value)):
            return f"must be a whole number, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        bounds = self.bounds_for(context)
        if not bounds.holds(value):
            return self.outside(value, bounds)
        return None

    def outside(self, value, bounds: Bounds) -> str:
        """The message for a number outside ``bounds``: "must be in [0, 1), got 1", or for
        a limit (a ``unit``), "5,000 units is more than the limit of 4,096 per layer" above
        it and "must be a whole number ≥ 1, got 0" below it."""
        whole = self.type is int or (self.type is tuple and self.editor == "list")
        above = bounds.high is not None and not (
            value < bounds.high if bounds.high_open else value <= bounds.high
        )
        if above and self.unit:
            per = f" {self.per}" if self.per else ""
            limit = _number(bounds.high)
            return f"{_number(value)} {self.unit} is more than the limit of {limit}{per}"
        if self.unit:  # below: the limit above is not what went wrong
            bounds = Bounds(bounds.low, None, bounds.low_open)
        return f"must be {'a whole number ' if whole else ''}{bounds.words}, got {_number(value)}"


def _number(value) -> str:
    """A value as a message shows it: whole numbers with thousands separators, others ``g``."""
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1e4
    ):
        return f"{int(value):,}"
    return f"{value:g}"


#: pydantic's constraint errors and the bound each states (``ctx`` holds its value)
_PYDANTIC_BOUNDS = {
    "greater_than": ("gt", lambda v: Bounds(v, low_open=True)),
    "greater_than_equal": ("ge", lambda v: Bounds(v)),
    "less_than": ("lt", lambda v: Bounds(None, v, high_open=True)),
    "less_than_equal": ("le", lambda v: Bounds(None, v)),
}


def constraint_message(key: str, error_type: str, value, ctx: Mapping[str, Any]) -> str | None:
    """The project's wording for a pydantic constraint error on setting ``key`` (the last
    name of its location: ``hidden`` for ``problem.hidden[0]``): the registry's bounds and
    limits, as ``Parameter.check`` says them, in place of "input should be less than or
    equal to 4096". None: not a constraint error (pydantic's message stands)."""
    p = REGISTRY.get(key)
    if error_type == "too_long":
        most, got = _number(ctx.get("max_length")), _number(ctx.get("actual_length"))
        if p is not None and p.items:
            return f"{got} {p.items} is more than the limit of {most}"
        return f"expected at most {most} values, got {got}"
    if error_type not in _PYDANTIC_BOUNDS or isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        return None
    name, make = _PYDANTIC_BOUNDS[error_type]
    bounds = p.bounds_for() if p is not None and isinstance(p.bounds, Bounds) else None
    if bounds is None or bounds.holds(value):  # the registry states another constraint
        bounds = make(ctx.get(name))
    return (p or Parameter(key, key, key, "")).outside(value, bounds)


def _pick(value, context: str):
    if isinstance(value, Mapping):
        return value.get(context, value.get("*"))
    return value


# ---- optimizers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerInfo:
    key: str
    title: str
    tip: str
    adaptive: bool  # divides by a per-parameter σ (the curves' η/σ plot)
    lecture_form: bool  # the lecture's formula differs from PyTorch's


OPTIMIZERS_INFO: dict[str, OptimizerInfo] = {
    o.key: o
    for o in (
        OptimizerInfo("sgd", "SGD", "Plain gradient descent: θ ← θ − η·g", False, False),
        OptimizerInfo(
            "momentum",
            "SGD + momentum",
            "Heavy-ball momentum. PyTorch: v ← μ·v + g, θ ← θ − η·v.\n"
            "Lecture: m ← λ·m − η·g, θ ← θ + m.",
            False,
            True,
        ),
        OptimizerInfo(
            "nesterov",
            "Nesterov momentum",
            "Nesterov momentum: the gradient step looks ahead along the momentum.\n"
            "PyTorch: v ← μ·v + g, θ ← θ − η·(g + μ·v).",
            False,
            True,
        ),
        OptimizerInfo(
            "adagrad",
            "Adagrad",
            "Adagrad: each parameter's rate is divided by the root of its past squared "
            "gradients.\nPyTorch: s ← s + g², θ ← θ − η·g/(√s + ε).\n"
            "Lecture: σ_t = √(mean of g₀² … g_t²), θ ← θ − η·g/(σ_t + ε).",
            True,
            True,
        ),
        OptimizerInfo(
            "rmsprop",
            "RMSProp",
            "RMSProp: like Adagrad with an exponential moving average, so old gradients "
            "fade.\nσ² ← α·σ² + (1 − α)·g², θ ← θ − η·g/(σ + ε).",
            True,
            True,
        ),
        OptimizerInfo(
            "adam",
            "Adam",
            "Adam = momentum + RMSProp, bias-corrected:\nm ← β₁m + (1 − β₁)g, "
            "v ← β₂v + (1 − β₂)g²,\nθ ← θ − η·m̂/(√v̂ + ε).",
            True,
            False,
        ),
        OptimizerInfo(
            "adamw",
            "AdamW",
            "AdamW: Adam with decoupled weight decay, θ ← θ·(1 − η·λ) before Adam's step.",
            True,
            False,
        ),
    )
}
OPTIMIZERS = tuple(OPTIMIZERS_INFO)
CONVENTIONS = ("pytorch", "lecture")
CONVENTION_TITLES = {"pytorch": "PyTorch", "lecture": "Lecture (ML 2021)"}

_SGD_FAMILY = ("sgd", "momentum", "nesterov")
_ADAMS = ("adam", "adamw")
_UNIT = Bounds(0, 1)

# Each optimizer's hyperparameters, in the order messages list them. Defaults are
# PyTorch's, except that `momentum` and `nesterov` default to momentum 0.9 (the names promise
# some momentum).
OPTIMIZER_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "lr",
        "learning rate η",
        "η",
        "Learning rate η, the size of each step: θ ← θ − η·(update direction).\n"
        "With a schedule, η is the base rate the schedule multiplies.\n"
        "Too large and the path oscillates or diverges; too small and it crawls.",
        default={"adagrad": 1e-2, "rmsprop": 1e-2, "*": 1e-3},
        bounds=Bounds(0),
        slider=Slider(1e-7, 100.0, "log", decades=3),
        summary=True,
    ),
    Parameter(
        "momentum",
        "momentum μ",
        "μ",
        "Momentum μ (the lecture's λ): how much of the previous movement is kept.\n"
        "PyTorch: v ← μ·v + g,  θ ← θ − η·v.\nLecture: m ← λ·m − η·g,  θ ← θ + m.\n"
        "0 is plain gradient descent; near 1 the path coasts past minima.",
        default={"momentum": 0.9, "nesterov": 0.9, "*": 0.0},
        # Nesterov without momentum is plain SGD under a misleading name
        bounds={"nesterov": Bounds(0, 1, low_open=True), "*": _UNIT},
        slider=Slider(0.0, 0.99),
        where={"optimizer": (*_SGD_FAMILY, "rmsprop")},
        summary=True,
    ),
    Parameter(
        "dampening",
        "dampening τ",
        "τ",
        "Dampening τ scales the new gradient in the momentum buffer: v ← μ·v + (1 − τ)·g.",
        default=0.0,
        bounds=_UNIT,
        slider=Slider(0.0, 1.0),
        # PyTorch's only: the lecture's m ← λm − ηg has none (it was accepted and ignored)
        where={"optimizer": ("sgd", "momentum"), "convention": ("pytorch",)},
    ),
    Parameter(
        "alpha",
        "smoothing α",
        "α",
        "Smoothing α of the squared-gradient average (RMSProp):\n"
        "σ² ← α·σ² + (1 − α)·g²,  θ ← θ − η·g/(σ + ε).\n"
        "Close to 1: a long memory; smaller: reacts fast to recent gradients.",
        default=0.99,
        bounds=Bounds(0, 1, high_open=True),
        slider=Slider(0.5, 0.9999, "log1m"),
        where={"optimizer": ("rmsprop",)},
        summary=True,
    ),
    Parameter(
        "beta1",
        "β₁ (momentum)",
        "β₁",
        "β₁, the momentum of Adam: m ← β₁·m + (1 − β₁)·g,\n"
        "bias-corrected as m̂ = m/(1 − β₁ᵗ).  θ ← θ − η·m̂/(√v̂ + ε).",
        default=0.9,
        bounds=Bounds(0, 1, high_open=True),
        slider=Slider(0.0, 0.99),
        where={"optimizer": _ADAMS},
        summary=True,
    ),
    Parameter(
        "beta2",
        "β₂ (scale memory)",
        "β₂",
        "β₂, the memory of the squared gradients: v ← β₂·v + (1 − β₂)·g²,\n"
        "bias-corrected as v̂ = v/(1 − β₂ᵗ).  θ ← θ − η·m̂/(√v̂ + ε).",
        default=0.999,
        bounds=Bounds(0, 1, high_open=True),
        slider=Slider(0.9, 0.99999, "log1m"),
        where={"optimizer": _ADAMS},
    ),
    Parameter(
        "eps",
        "ε",
        "ε",
        "ε in the denominator: θ ← θ − η·g/(σ + ε).\n"
        "Keeps the step finite where gradients vanish; a large ε turns an adaptive method\n"
        "back into plain gradient descent with rate η/ε.",
        default={"adagrad": 1e-10, "*": 1e-8},
        bounds=Bounds(0),
        slider=Slider(1e-12, 1.0, "log", zero_at_min=True),
        where={"optimizer": ("adagrad", "rmsprop", *_ADAMS)},
    ),
    Parameter(
        "weight_decay",
        "weight decay λ",
        "λ",
        "L2 weight decay λ, added to the gradient: g ← g + λ·θ (pulls θ towards 0).\n"
        "AdamW decouples it: θ ← θ·(1 − η·λ) before Adam's step. Leftmost: off.",
        default={"adamw": 1e-2, "*": 0.0},
        bounds=Bounds(0),
        slider=Slider(1e-6, 1.0, "log", zero_at_min=True, zero_text="off"),
    ),
    Parameter(
        "lr_decay",
        "rate decay",
        "lr_decay",
        "Adagrad's own decay: η_t = η / (1 + (t − 1)·lr_decay). Leftmost: off.\n"
        "PyTorch's Adagrad only: the lecture's form has none.",
        default=0.0,
        bounds=Bounds(0),
        slider=Slider(1e-6, 1.0, "log", zero_at_min=True, zero_text="off"),
        where={"optimizer": ("adagrad",), "convention": ("pytorch",)},
    ),
    Parameter(
        "initial_accumulator_value",
        "initial accumulator",
        "s₀",
        "Adagrad's s₀: the sum of squared gradients starts here, damping the first steps.\n"
        "s ← s + g²,  θ ← θ − η·g/(√s + ε). Leftmost: 0.",
        default=0.0,
        bounds=Bounds(0),
        slider=Slider(1e-4, 10.0, "log", zero_at_min=True),
        where={"optimizer": ("adagrad",)},
    ),
    Parameter(
        "centered",
        "centered",
        "centered",
        "Centered RMSProp: divide by the gradient's standard deviation,\n"
        "σ = √(v − ḡ²), instead of its root mean square.",
        type=bool,
        default=False,
        where={"optimizer": ("rmsprop",)},
    ),
    Parameter(
        "amsgrad",
        "amsgrad",
        "amsgrad",
        "AMSGrad: use the largest v seen so far, v̂ = max(v̂, v), so the per-parameter\n"
        "step size η/√v̂ never grows back.",
        type=bool,
        default=False,
        where={"optimizer": _ADAMS},
    ),
)


def optimizer_parameters(optimizer: str, convention: str | None = None) -> list[Parameter]:
    """The hyperparameters ``optimizer`` takes (under ``convention``, when given), in order."""
    return [
        p for p in OPTIMIZER_PARAMETERS if p.applies(optimizer=optimizer, convention=convention)
    ]


def optimizer_defaults(optimizer: str, convention: str | None = None) -> dict[str, Any]:
    return {p.key: p.default_for(optimizer) for p in optimizer_parameters(optimizer, convention)}


# ---- minibatches -------------------------------------------------------------------------------

_DATA = {"problem": ("linear_regression", "mlp")}  # problems with examples

BATCH_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "batch_size",
        "batch size B",
        "B",
        "Batch size B: each update uses g = (1/B)·Σ ∇ℓᵢ over B examples.\n"
        "Small B: noisy, cheap steps; large B: smooth, expensive ones.",
        type=int,
        default=None,
        nullable=True,
        bounds=Bounds(1),
        slider=Slider(1, 200, "intlog"),
        where=_DATA,
        summary=True,
        description="default: the whole training set",
    ),
    Parameter(
        "accumulation_steps",
        "accumulation k",
        "k",
        "Gradient accumulation: k micro-batches of B examples per update,\n"
        "g = Σⱼ (Bⱼ/ΣB)·gⱼ — the same as one batch k·B (without batch norm).",
        type=int,
        default=1,
        bounds=Bounds(1),
        slider=Slider(1, 32, "int"),
        where=_DATA,
    ),
    Parameter(
        "shuffle",
        "reshuffle every epoch",
        "shuffle",
        "Reshuffle the examples at the start of each epoch (off: the same order always)",
        type=bool,
        default=True,
        where=_DATA,
    ),
    Parameter(
        "drop_last",
        "drop the last short batch",
        "drop_last",
        "Skip the final minibatch of an epoch when it has fewer than B",
        type=bool,
        default=False,
        where=_DATA,
    ),
)


# ---- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleKind:
    key: str
    title: str
    formula: str  # η_k in terms of the base rate η


SCHEDULE_KINDS: dict[str, ScheduleKind] = {
    s.key: s
    for s in (
        ScheduleKind("constant", "constant", "η_k = η"),
        ScheduleKind("step", "step decay", "η_k = η·γ^⌊k / step_size⌋ (torch StepLR)"),
        ScheduleKind("exponential", "exponential decay", "η_k = η·γ^k (torch ExponentialLR)"),
        ScheduleKind(
            "cosine",
            "cosine annealing",
            "η_k = m + (η − m)·(1 + cos(π k / T))/2 (torch CosineAnnealingLR)",
        ),
        ScheduleKind("inverse_sqrt", "1/√(k + 1)", "η_k = η / √(k + 1), the lecture's decay"),
    )
}


def _when(words: str):
    """Marks a setting's ``active`` condition with the words that name it ("with a CSV data
    set"): a file that sets the setting where the condition fails gets a warning saying so
    (``engine.experiment.read_experiment``)."""

    def mark(condition):
        condition.words = words
        return condition

    return mark


@_when("with a warmup (warmup_steps > 0)")
def _warming(section: Mapping[str, Any]) -> bool:
    return (section.get("warmup_steps") or 0) > 0


SCHEDULE_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "step_size",
        "step size",
        "step_size",
        "step decay: η_k = η·γ^⌊k / step_size⌋",
        type=int,
        default=100,
        bounds=Bounds(1),
        slider=Slider(1, 5000, "intlog"),
        where={"schedule": ("step",)},
        description="step: updates between decays",
    ),
    Parameter(
        "gamma",
        "γ",
        "γ",
        "γ, the decay factor: step η_k = η·γ^⌊k / step_size⌋; exponential η_k = η·γ^k",
        default=0.1,
        bounds=Bounds(0, low_open=True),
        # a factor per decay is far from 1; a factor per update is close to it
        slider={"exponential": Slider(0.5, 0.9999, "log1m"), "*": Slider(0.001, 1.0, "log")},
        where={"schedule": ("step", "exponential")},
        description="step, exponential: decay factor",
    ),
    Parameter(
        "total_steps",
        "T",
        "T",
        "cosine: T, the updates to reach the lowest rate\n(auto: all the steps after the warmup)",
        type=int,
        default=None,
        nullable=True,
        bounds=Bounds(1),
        slider=Slider(1, 100000, "intlog", zero_at_min=True, zero_text="auto"),
        where={"schedule": ("cosine",)},
        description="cosine: updates to reach min_lr (default: steps − warmup)",
    ),
    Parameter(
        "min_lr",
        "lowest rate m",
        "m",
        "cosine: m, the lowest rate: η_k = m + (η − m)·(1 + cos(πk/T))/2",
        default=0.0,
        bounds=Bounds(0),
        slider=Slider(1e-7, 1.0, "log", zero_at_min=True),
        where={"schedule": ("cosine",)},
        description="cosine: the lowest rate",
    ),
    Parameter(
        "warmup_steps",
        "warmup W",
        "W",
        "Linear warmup over W updates: η_k = η·(s + (1 − s)·k/W) for k < W;\n"
        "the decay starts after it. Leftmost: no warmup.",
        type=int,
        default=0,
        bounds=Bounds(0),
        slider=Slider(1, 5000, "intlog", zero_at_min=True, zero_text="off"),
        description="linear warmup length (any kind)",
    ),
    Parameter(
        "warmup_start_factor",
        "warmup start s",
        "s",
        "s: warmup starts at s·η and rises linearly to η",
        default=0.1,
        bounds=Bounds(0, 1, low_open=True),
        slider=Slider(0.001, 1.0, "log"),
        active=_warming,
        description="warmup starts at this × lr",
    ),
)


def schedule_parameters(kind: str) -> list[Parameter]:
    return [p for p in SCHEDULE_PARAMETERS if p.applies(schedule=kind)]


# ---- the problem and the experiment --------------------------------------------------------------

PROBLEM_KINDS = {
    "function": "Function of two parameters",
    "linear_regression": "Linear regression on data",
    "mlp": "Network (MLP)",
}
GENERATED_DATASETS = ("moons", "circles", "spirals", "xor", "blobs")
# the generated sets whose number of classes can be set (engine.datasets.GENERATORS; a test
# checks the two agree: this module imports nothing)
CLASSED_DATASETS = ("spirals", "blobs")
_MLP = {"problem": ("mlp",)}


@_when("with generated data (not a data file)")
def _generated(section: Mapping[str, Any]) -> bool:
    if section.get("kind") == "mlp":
        return section.get("dataset") in GENERATED_DATASETS
    return section.get("data") is None


@_when("with spirals or blobs (the other sets fix their classes)")
def _classed(section: Mapping[str, Any]) -> bool:
    return section.get("dataset") in CLASSED_DATASETS


@_when("with a CSV data set")
def _csv(section: Mapping[str, Any]) -> bool:
    return str(section.get("dataset", "")).lower().endswith(".csv")


@_when("with batch_norm = true")
def _batch_norm(section: Mapping[str, Any]) -> bool:
    return bool(section.get("batch_norm"))


PROBLEM_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "condition",
        "condition κ",
        "κ",
        "Condition number κ of the bowl L = (x² + κ·y²)/2: the ratio of the\n"
        "curvatures. One learning rate can't suit both directions when κ is large.",
        default=20.0,
        bounds=Bounds(0, low_open=True),
        slider=Slider(1.0, 1000.0, "log"),
        where={"problem": ("function",), "surface": ("elongated_quadratic",)},
        description="elongated_quadratic: curvature ratio",
    ),
    Parameter(
        "dataset",
        "data set",
        "data",
        "digits (8×8, 1,797 images, 10 classes), a generated 2-D set (moons, circles,\n"
        "spirals, xor, blobs) or a CSV path relative to the experiment file",
        type=str,
        default="digits",
        where=_MLP,
        choices={
            "digits": "digits (8×8 images)",
            "moons": "two moons",
            "circles": "circles",
            "spirals": "spirals",
            "xor": "XOR",
            "blobs": "blobs",
        },
        file_filter="CSV (*.csv)",
    ),
    Parameter(
        "label_column",
        "label column",
        "label",
        "CSV only: the column of classes; every other column is a numeric feature",
        type=str,
        default="label",
        where=_MLP,
        active=_csv,
        editor="text",
    ),
    Parameter(
        "samples",
        "samples N",
        "N",
        "N, the number of generated examples",
        type=int,
        default={"mlp": None, "*": 200},  # a network's generated set: that set's own default
        bounds=Bounds(1, 1_000_000),  # a limit (README, Limits): memory and time
        slider=Slider(2, 5000, "intlog"),
        unit="samples",
        where={"problem": ("linear_regression", "mlp")},
        active=_generated,
    ),
    Parameter(
        "feature_scales",
        "scale of x",
        "s",
        "Spread of feature xᵢ: xᵢ ~ N(0, sᵢ²). Unequal scales stretch the loss\n"
        "surface into a narrow valley (the lecture's case for feature normalization).",
        type=tuple,
        default=(1.0, 1.0),
        bounds=Bounds(1e-8, 1e8),  # beyond, the loss's squares lose or overflow digits
        slider=Slider(0.01, 100.0, "log"),
        where={"problem": ("linear_regression",)},
        active=_generated,
    ),
    Parameter(
        "noise",
        "noise σ",
        "σ",
        "Label noise: y = w*·x + N(0, σ²); a network's generated set: the points' noise",
        default={"mlp": None, "*": 0.1},  # a network's generated set: that set's own default
        bounds=Bounds(0),
        slider=Slider(1e-3, 10.0, "log", zero_at_min=True),
        where={"problem": ("linear_regression", "mlp")},
        active=_generated,
    ),
    Parameter(
        "classes",
        "classes",
        "C",
        "Generated spirals and blobs: the number of classes (default: the set's own)",
        type=int,
        default=None,
        nullable=True,
        bounds=Bounds(2),
        slider=Slider(2, 10, "int"),
        where=_MLP,
        active=_classed,
    ),
    Parameter(
        "true_weights",
        "true weights",
        "w*",
        "The weights the generated labels come from: y = w*·x + noise",
        type=tuple,
        default=(2.0, -1.0),
        where={"problem": ("linear_regression",)},
        active=_generated,
    ),
    Parameter(
        "normalize_features",
        "normalize features",
        "normalize",
        "Feature normalization: x ← (x − mean) / std per column,\n"
        "which makes the loss surface round and one learning rate fit both weights.",
        type=bool,
        default={"mlp": True, "*": False},
        where={"problem": ("linear_regression", "mlp")},
    ),
    # ---- networks (kind = "mlp"), shared/EXPERIMENT_FORMAT.md "Networks" ----
    Parameter(
        "validation_fraction",
        "validation fraction",
        "f_val",
        "Share of the examples held out for validation, drawn from the seed (0: none)",
        default=0.2,
        bounds=Bounds(0, 1, high_open=True),
        slider=Slider(0.0, 0.9),
        where=_MLP,
    ),
    Parameter(
        "hidden",
        "hidden widths",
        "hidden",
        "Widths of the hidden layers, in order ([]: softmax regression)",
        type=tuple,
        default=(64,),
        bounds=Bounds(1, 4096),  # each width; a limit (README, Limits): memory
        where=_MLP,
        editor="list",
        unit="units",
        per="per layer",
        items="hidden layers",
    ),
    Parameter(
        "activation",
        "activation",
        "φ",
        "The activation after every hidden layer: relu, tanh or sigmoid",
        type=str,
        default="relu",
        where=_MLP,
        choices={"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid"},
    ),
    Parameter(
        "batch_norm",
        "batch norm",
        "BN",
        "A BatchNorm1d after each hidden Linear, before the activation:\n"
        "ŷ = γ·(z − μ_B)/√(σ²_B + ε) + β in training, running statistics in evaluation",
        type=bool,
        default=False,
        where=_MLP,
    ),
    Parameter(
        "bn_momentum",
        "BN momentum",
        "m",
        "PyTorch's meaning: running = (1 − m)·running + m·batch statistic",
        default=0.1,
        bounds=Bounds(0, 1),
        slider=Slider(1e-3, 1.0, "log", zero_at_min=True),
        where=_MLP,
        active=_batch_norm,
    ),
    Parameter(
        "bn_eps",
        "batch-norm ε",
        "ε",
        "ε in √(σ² + ε) of batch norm",
        default=1e-5,
        bounds=Bounds(0, low_open=True),
        where=_MLP,
        active=_batch_norm,
    ),
    Parameter(
        "init",
        "initial weights",
        "init",
        "An NPZ of initial weights with PyTorch's names and layouts (linear0.weight, …);\n"
        "default: PyTorch's nn.Linear initialization drawn from the seed",
        type=str,
        default=None,
        nullable=True,
        where=_MLP,
    ),
    Parameter(
        "gradient_noise",
        "gradient noise",
        "σ_g",
        "Gaussian noise added to every gradient, g ← ∇L + N(0, σ²·I):\n"
        "a stand-in for minibatch noise on a function. Leftmost: exact gradients.",
        default=0.0,
        bounds=Bounds(0),
        slider=Slider(1e-3, 100.0, "log", zero_at_min=True, zero_text="off"),
    ),
)

EXPERIMENT_PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "steps",
        "steps",
        "steps",
        "Optimizer updates per run",
        type=int,
        default=300,
        bounds=Bounds(1, 10_000_000),  # a limit (README, Limits)
        slider=Slider(10, 100_000, "intlog"),
        unit="steps",
    ),
    Parameter(
        "seed",
        "seed",
        "seed",
        "One seed for everything random: data, shuffling, gradient noise\n(any whole number ≥ 0)",
        type=int,
        default=0,
        bounds=Bounds(0),
    ),
)

REGISTRY: dict[str, Parameter] = {
    p.key: p
    for p in (
        *OPTIMIZER_PARAMETERS,
        *BATCH_PARAMETERS,
        *SCHEDULE_PARAMETERS,
        *PROBLEM_PARAMETERS,
        *EXPERIMENT_PARAMETERS,
    )
}


# ---- a saved file holds only what applies -----------------------------------------------------


def _keep(p: Parameter, section: Mapping[str, Any], **context) -> bool:
    """Whether ``section[p.key]`` belongs in a saved file: it applies there, and it is not
    a setting that is off by default left off (``gradient_noise = 0``, ``shuffle`` as is)."""
    if not p.applies(**context) or (p.active is not None and not p.active(section)):
        return False
    # a run's defaults differ by optimizer, a problem's by kind (a network normalizes)
    default = p.default_for(context.get("optimizer") or context.get("problem") or "*")
    off_by_default = default is not None and not isinstance(default, tuple) and not default
    return not ((off_by_default or p in BATCH_PARAMETERS) and section[p.key] == default)


def _prune_section(section: dict, parameters, **context) -> dict:
    by_key = {p.key: p for p in parameters}
    return {
        k: v for k, v in section.items() if k not in by_key or _keep(by_key[k], section, **context)
    }


def prune(data: dict[str, Any]) -> dict[str, Any]:
    """An experiment's JSON dump (``model_dump(mode="json", exclude_none=True)``) without the
    keys that do not apply — a function's ``condition`` unless it is the elongated bowl, a
    run's minibatch settings on a function, a schedule's fields of other kinds (the whole
    schedule when the rate is constant) — nor settings left at their default "off" or
    "as usual" (``gradient_noise = 0``, ``shuffle = true``, ``visible = true``). Reading the
    result gives the same experiment in everything that matters to it."""
    data = dict(data)
    problem = data.get("problem", {})
    kind = problem.get("kind", "function")
    data["problem"] = _prune_section(
        problem, PROBLEM_PARAMETERS, problem=kind, surface=problem.get("name")
    )
    runs = []
    for run in data.get("runs", []):
        optimizer, convention = run.get("optimizer"), run.get("convention")
        pruned = _prune_section(
            run,
            OPTIMIZER_PARAMETERS + BATCH_PARAMETERS,
            optimizer=optimizer,
            convention=convention,
            problem=kind,
        )
        if pruned.get("visible") is True:
            del pruned["visible"]
        if pruned.get("convention") == "pytorch":
            del pruned["convention"]
        # a run's batch norm switch says something only where it turns the network's off
        if pruned.get("batch_norm") is not False or kind != "mlp" or not problem.get("batch_norm"):
            pruned.pop("batch_norm", None)
        schedule = run.get("schedule", {})
        s_kind = schedule.get("kind", "constant")
        schedule = _prune_section(schedule, SCHEDULE_PARAMETERS, schedule=s_kind)
        pruned.pop("schedule", None)
        if set(schedule) - {"kind"} or s_kind != "constant":
            pruned["schedule"] = schedule
        runs.append(pruned)
    if "runs" in data:
        data["runs"] = runs
    return data
