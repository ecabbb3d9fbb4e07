"""Experiment files: TOML in, a validated typed description out (and back to TOML).

The keys and meanings are the contract of ``shared/EXPERIMENT_FORMAT.md``; the README lists
every key. Validation is strict — an unknown key, a value of the wrong type or out of range,
a hyperparameter the optimizer does not take, a batch larger than the data, a missing data
file — and the first problem is reported as one line naming the file, the key and what was
expected (``ExperimentError``).

``build(experiment)`` turns a description into the engine objects that run it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from engine import parameters
from engine.backend import Backend, BackendName, DTypeName, Workload, select_backend
from engine.batching import BatchConfig
from engine.datasets import DATASETS, DatasetError, load_dataset, normalize, split
from engine.files import atomic_text
from engine.optim import (
    CONVENTIONS,
    FLAGS,
    OPTIMIZERS,
    HyperparameterError,
    check_hyperparameters,
)
from engine.parameters import (
    BATCH_PARAMETERS,
    OPTIMIZER_PARAMETERS,
    PROBLEM_PARAMETERS,
    SCHEDULE_PARAMETERS,
    Parameter,
    prune,
)
from engine.problems.base import Problem
from engine.problems.functions import SURFACES, FunctionProblem, make_surface
from engine.problems.mlp import ACTIVATIONS, MLP, WeightsError, array_names, parameter_count
from engine.problems.network import MLPProblem
from engine.problems.regression import (
    DataError,
    LinearRegressionProblem,
    generate_data,
    read_data_csv,
)
from engine.problems.regression import normalize as normalize_columns
from engine.schedules import KINDS, Schedule
from engine.training import RunSpec, Trainer

# The engine's own lists, so that a new optimizer, convention, schedule or surface is one
# edit; pydantic reports a wrong value with every allowed one.
OptimizerName = Literal[OPTIMIZERS]  # type: ignore[valid-type]
ConventionName = Literal[CONVENTIONS]  # type: ignore[valid-type]
ScheduleKind = Literal[KINDS]  # type: ignore[valid-type]
SurfaceName = Literal[tuple(SURFACES)]  # type: ignore[valid-type]

Pair = tuple[float, float]
# TOML reads `nan` and `inf` as floats: a start, view or weight must be an actual number
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _tuple_from_array(value):
    """TOML has arrays, not tuples: an array stands for the tuple it spells (strict
    validation takes only tuples as they are)."""
    return tuple(value) if isinstance(value, list) else value


FinitePair = Annotated[tuple[Finite, Finite], BeforeValidator(_tuple_from_array)]
ViewBox = Annotated[tuple[Finite, Finite, Finite, Finite], BeforeValidator(_tuple_from_array)]

# Limits that keep a file within what one machine holds (see the README, "Limits"); those of
# a single setting are its registry entry's bounds.
MAX_STEPS = int(parameters.REGISTRY["steps"].bounds_for().high)
MAX_SAMPLES = int(parameters.REGISTRY["samples"].bounds_for().high)  # or rows of a data file
FEATURE_SCALE_RANGE = (
    parameters.REGISTRY["feature_scales"].bounds_for().low,
    parameters.REGISTRY["feature_scales"].bounds_for().high,
)
MAX_RECORDED_ROWS = 20_000_000  # recorded rows × runs: the CSV (~100 bytes a row) and memory
# a network's size: each hidden width (its registry bound), the number of hidden layers, the
# parameters of one run (80 MB in float64), those of all runs together (one (R, P) array is
# 800 MB in float64, and a step holds a few: parameters, gradient, optimizer state) and the
# activations one step holds (runs × batch × units of every layer after the input)
MAX_WIDTH = int(parameters.REGISTRY["hidden"].bounds_for().high)
MAX_HIDDEN_LAYERS = 16
MAX_NETWORK_PARAMS = 10_000_000
MAX_NETWORK_VALUES = 100_000_000  # parameters × runs
MAX_STEP_ACTIVATIONS = 100_000_000  # runs × batch × units


class ExperimentError(ValueError):
    """A file that can't be run: one line with the file, the key and what was expected."""


class _Strict(BaseModel):
    # strict: a value of the wrong type is refused, not converted ("0.1" for a rate, "yes"
    # for a switch, 2.5 for a count; an integer still stands for a float, as in TOML)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


def registry_field(p: Parameter) -> tuple[Any, Any]:
    """A pydantic field (annotation, ``Field``) with the registry's default and constraint."""
    annotation = p.type | None if p.nullable else p.type
    extra: dict[str, Any] = {"allow_inf_nan": False} if p.type is float else {}
    return annotation, Field(
        p.default_for(), description=p.description or p.label, **p.bounds_for().pydantic(), **extra
    )


def hyperparameter_field(p: Parameter) -> tuple[Any, Any]:
    """A run's optimizer setting: optional, since its default and range depend on the
    optimizer; ``check_hyperparameters`` validates it and names what the optimizer takes."""
    return p.type | None, Field(None, description=p.label)


class _Schedule(_Strict):
    kind: ScheduleKind = "constant"

    def to_schedule(self, steps: int) -> Schedule:
        total = self.total_steps or max(steps - self.warmup_steps, 1)
        return Schedule(**{**self.model_dump(), "total_steps": total})


# The fields come from the registry (``engine.parameters``): one entry is one key.
ScheduleModel = create_model(
    "ScheduleModel",
    __base__=_Schedule,
    **{p.key: registry_field(p) for p in SCHEDULE_PARAMETERS},
)


class _Run(_Strict):
    label: str | None = None
    color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    visible: bool = True
    optimizer: OptimizerName = "sgd"
    convention: ConventionName = "pytorch"
    # Optimizer hyperparameters and minibatch settings come from the registry (below)
    schedule: ScheduleModel = Field(default_factory=ScheduleModel)  # type: ignore[valid-type]
    start: FinitePair | None = None
    # a network's run: false trains it without the problem's batch norm (the two compared on
    # one set of curves and one plane); None: as the problem says (see ``check_batch_norm``)
    batch_norm: bool | None = Field(None, description=parameters.REGISTRY["batch_norm"].label)

    @field_validator("label")
    @classmethod
    def _one_line(cls, label: str | None) -> str | None:
        # a label is a CSV field, a legend entry and a table row: one line
        if label is not None and ("\n" in label or "\r" in label):
            raise ValueError("a run's label is one line (no line breaks)")
        return label

    def hyperparameters(self) -> dict[str, Any]:
        """The optimizer settings given in the file (defaults are the optimizer's)."""
        given = ((p.key, getattr(self, p.key, None)) for p in parameters.OPTIMIZER_PARAMETERS)
        return {k: v for k, v in given if v is not None}

    def full_hyperparameters(self) -> dict[str, Any]:
        """Every setting of the optimizer, defaults filled in (``lr`` included); a setting
        the optimizer does not take, in this convention, is a ``HyperparameterError``."""
        return check_hyperparameters(self.optimizer, self.hyperparameters(), self.convention)

    @property
    def display_label(self) -> str:
        return self.label or self.optimizer


def make_run_model(
    optimizer_parameters: tuple[Parameter, ...] = OPTIMIZER_PARAMETERS,
    batch_parameters: tuple[Parameter, ...] = BATCH_PARAMETERS,
) -> type[_Run]:
    """The ``[[runs]]`` schema: one optional key per registry entry."""
    return create_model(
        "RunModel",
        __base__=_Run,
        **{p.key: hyperparameter_field(p) for p in optimizer_parameters},
        **{p.key: registry_field(p) for p in batch_parameters},
    )


RunModel = make_run_model()


def _check_view(v: ViewBox) -> ViewBox:
    """[w1_min, w1_max, w2_min, w2_max]: each axis from a lower to a higher value, over a
    width a float can hold (a width of 0 draws nothing, an inverted one loses the paths)."""
    for axis, (low, high) in (("w1", v[:2]), ("w2", v[2:])):
        if not low < high:
            raise ValueError(
                f"expected [w1_min, w1_max, w2_min, w2_max] with {axis}_min < {axis}_max"
            )
        if not math.isfinite(high - low):
            raise ValueError(f"the {axis} range is too wide for a float")
    return v


# a problem's view, checked wherever one is given
CheckedView = Annotated[ViewBox, AfterValidator(_check_view)]


class FunctionProblemModel(_Strict):
    kind: Literal["function"] = "function"
    name: SurfaceName = "rosenbrock"
    start: FinitePair | None = None
    gradient_noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    condition: float = Field(
        20.0, gt=0, allow_inf_nan=False, description="elongated_quadratic: curvature ratio"
    )
    view: CheckedView | None = None


class RegressionProblemModel(_Strict):
    kind: Literal["linear_regression"] = "linear_regression"
    data: str | None = Field(None, description="CSV with columns x1,x2,y (else generated)")
    samples: int = Field(200, ge=1, le=MAX_SAMPLES)
    feature_scales: FinitePair = (1.0, 1.0)
    noise: float = Field(0.1, ge=0, allow_inf_nan=False)
    true_weights: FinitePair = (2.0, -1.0)
    normalize_features: bool = False
    start: FinitePair = (0.0, 0.0)
    gradient_noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    view: CheckedView | None = None

    @field_validator("feature_scales")
    @classmethod
    def _positive_scales(cls, v: Pair) -> Pair:
        if min(v) <= 0:
            raise ValueError("feature scales must be > 0")
        low, high = FEATURE_SCALE_RANGE
        if not all(low <= s <= high for s in v):
            raise ValueError(f"feature scales must be between {low:g} and {high:g}")
        return v


def _mlp_default(key: str) -> Any:
    """A network setting's default, as the registry declares it for networks."""
    return parameters.REGISTRY[key].default_for("mlp")


ActivationName = Literal[ACTIVATIONS]  # type: ignore[valid-type]


class MLPProblemModel(_Strict):
    """A network on a data set (``shared/EXPERIMENT_FORMAT.md``, "Networks")."""

    kind: Literal["mlp"] = "mlp"
    dataset: str = Field(_mlp_default("dataset"), min_length=1)
    label_column: str = _mlp_default("label_column")
    normalize_features: bool = _mlp_default("normalize_features")
    validation_fraction: float = Field(
        _mlp_default("validation_fraction"), ge=0, lt=1, allow_inf_nan=False
    )
    # pydantic copies a mutable default for every model
    hidden: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(
        list(_mlp_default("hidden")), max_length=MAX_HIDDEN_LAYERS
    )
    activation: ActivationName = _mlp_default("activation")
    batch_norm: bool = _mlp_default("batch_norm")
    bn_momentum: float = Field(_mlp_default("bn_momentum"), ge=0, le=1, allow_inf_nan=False)
    bn_eps: float = Field(_mlp_default("bn_eps"), gt=0, allow_inf_nan=False)
    init: str | None = None
    samples: int | None = Field(None, ge=1, le=MAX_SAMPLES)
    noise: float | None = Field(None, ge=0, allow_inf_nan=False)
    classes: int | None = Field(None, ge=2)
    gradient_noise: float = Field(0.0, ge=0, allow_inf_nan=False)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASETS and not v.lower().endswith(".csv"):
            raise ValueError(f"expected {', '.join(DATASETS)} or a path to a .csv file")
        return v


ProblemModel = Annotated[
    FunctionProblemModel | RegressionProblemModel | MLPProblemModel, Field(discriminator="kind")
]


class Experiment(_Strict):
    title: str = "Untitled experiment"
    description: str = ""
    seed: int = Field(0, ge=0)
    steps: int = Field(300, ge=1, le=MAX_STEPS)
    backend: BackendName = "auto"
    # float64 for every problem, networks too: the contract's default, and what a comparison
    # with PyTorch in float64 expects of a file that does not say (a network is faster in
    # float32: the network examples and the app's new networks say dtype = "float32")
    dtype: DTypeName = "float64"
    record_every: int = Field(1, ge=1)
    problem: ProblemModel = Field(default_factory=FunctionProblemModel)
    runs: list[RunModel] = Field(default_factory=lambda: [RunModel()], min_length=1)

    @property
    def has_batch_norm(self) -> bool:
        """A network with batch norm (``[problem] batch_norm = true`` and a hidden layer)."""
        spec = self.problem
        return isinstance(spec, MLPProblemModel) and spec.batch_norm and bool(spec.hidden)

    def run_normalizes(self, i: int) -> bool:
        """Whether run ``i`` trains with batch norm."""
        return self.has_batch_norm and self.runs[i].batch_norm is not False

    def run_without_batch_norm(self, i: int) -> bool:
        """Run ``i`` turns the network's batch norm off (``batch_norm = false`` where the
        network has it; elsewhere the key says nothing)."""
        return self.has_batch_norm and self.runs[i].batch_norm is False

    @property
    def batch_norm_per_run(self) -> bool:
        """Some run turns the network's batch norm off (a switchable network; every run may)."""
        return any(self.run_without_batch_norm(i) for i in range(len(self.runs)))

    def to_toml(self) -> str:
        # only what applies (no condition on Himmelblau, no schedule fields of other kinds):
        # a saved file reads like a hand-written one and loads as the same experiment
        data = prune(self.model_dump(mode="json", exclude_none=True))
        if not data["description"]:
            del data["description"]
        return _toml_document(data)


# ---- TOML as a person writes it -------------------------------------------------------------
# tomli_w decides the layout by line length: short runs become an inline array, a start
# point four lines, the notes one line of "\n" escapes. A saved experiment should read like
# the examples: a table per section, one [[runs]] table per run, short lists on one line,
# the description as a multi-line string.


def _toml_value(value: Any) -> str:
    if isinstance(value, list | tuple) and not any(isinstance(v, dict | list) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}, multiline_strings=True)[len("v = ") :].rstrip("\n")


def _toml_tables(data: dict, name: str = "", array: bool = False) -> list[str]:
    """``data`` as TOML blocks: its own keys under its header, then its sub-tables."""
    lines = [f"[[{name}]]" if array else f"[{name}]"] if name else []
    tables: list[tuple[str, dict, bool]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.extend((key, table, True) for table in value)
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    blocks = ["\n".join(lines)] if lines else []
    for key, table, is_array in tables:
        blocks.extend(_toml_tables(table, f"{name}.{key}" if name else key, is_array))
    return blocks


def _toml_document(data: dict) -> str:
    return "\n\n".join(_toml_tables(data)) + "\n"


# ---- reading and writing ------------------------------------------------------------------


NO_RUNS = 'no run to train; an experiment needs at least one [[runs]] table (optimizer = "sgd"...)'


def _key(loc: tuple) -> str:
    """('runs', 0, 'lr') -> 'runs[0].lr'; the union tag pydantic inserts is dropped."""
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif i > 0 and loc[i - 1] == "problem" and part in ("function", "linear_regression", "mlp"):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


# a value of the wrong type (validation is strict: nothing is converted), in words
TYPE_WORDS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text in quotes",
}


def _as_toml(value) -> str:
    """A value as the file spells it: true, "text", 0.1."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _type_message(kind: str, got) -> str:
    """'expected a number, got "0.1" (write it without the quotes)'; the hint only where
    following it gives a value of the type."""
    text = f"expected {TYPE_WORDS[kind]}, got {_as_toml(got)}"
    if isinstance(got, str) and kind != "string_type":
        try:  # what TOML reads the text as, unquoted
            meant = tomllib.loads(f"v = {got}")["v"] if "\n" not in got else None
        except tomllib.TOMLDecodeError:
            meant = None
        wanted = {"bool_type": (bool,), "int_type": (int,), "float_type": (int, float)}[kind]
        fits = isinstance(meant, wanted) and (kind == "bool_type" or not isinstance(meant, bool))
        if fits and (isinstance(meant, bool) or math.isfinite(meant)):
            text += " (write it without the quotes)"
    elif kind == "int_type" and isinstance(got, float) and got.is_integer() and abs(got) < 1e15:
        text += f" (write {int(got)})"
    return text


def _describe(error: dict) -> str:
    key = _key(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return f"{key}.kind: expected 'function', 'linear_regression' or 'mlp', got {tag!r}"
    if error["type"] == "too_short" and error["loc"] == ("runs",):
        return f"{key}: {NO_RUNS}"
    got = error.get("input")
    if error["type"] in TYPE_WORDS:
        return f"{key}: {_type_message(error['type'], got)}"
    names = [part for part in error["loc"] if isinstance(part, str)]
    # a bound or a limit in the project's words, from the registry (engine.parameters)
    ours = parameters.constraint_message(
        names[-1] if names else "", error["type"], got, error.get("ctx") or {}
    )
    if ours is not None:
        return f"{key}: {ours}"
    shown = "" if isinstance(got, dict | list | tuple) else f" (got {got!r})"
    msg = error["msg"].removeprefix("Value error, ")  # our own validators' messages
    return f"{key}: {msg[0].lower()}{msg[1:]}{shown}"


def recorded_rows(steps: int, record_every: int) -> int:
    """How many rows a run records: step 0, every ``record_every``-th, and the last."""
    return steps // record_every + 1 + (1 if steps % record_every else 0)


def _plain(value):
    """NumPy scalars as the Python values they hold, NumPy arrays and tuples as lists (TOML's
    arrays), through dicts and lists: validation is strict, and ``np.int64(32)`` from a script
    or an editor's arithmetic is a whole number, ``hidden = (8, 4)`` a list."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):  # (a tuple is an array, as in TOML)
        return [_plain(v) for v in value]
    return value


def parse_experiment(data: dict, source: str = "<experiment>") -> Experiment:
    """Validate a dict (from TOML, the GUI or a script) into an ``Experiment``."""
    data = _plain(data)
    problem = data.get("problem")
    if isinstance(problem, dict) and "kind" not in problem:
        data = {**data, "problem": {"kind": "function", **problem}}
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ExperimentError(f"{source}: {_describe(errors[0])}{more}") from None
    for i, run in enumerate(experiment.runs):
        try:
            run.full_hyperparameters()
        except HyperparameterError as exc:
            raise ExperimentError(f"{source}: runs[{i}].{exc.key}: {exc.detail}") from None
    check_batch_norm(experiment, source)
    rows = recorded_rows(experiment.steps, experiment.record_every)
    runs = len(experiment.runs)
    if rows * runs > MAX_RECORDED_ROWS:
        raise ExperimentError(
            f"{source}: steps: {runs:,} run(s) × {rows:,} recorded rows is more than the "
            f"{MAX_RECORDED_ROWS:,} rows an experiment may record; raise record_every or "
            "lower steps"
        )
    spec = experiment.problem
    if isinstance(spec, MLPProblemModel):
        # before the data is read: every data set has at least one feature and two classes,
        # and a run without batch_size at least one example, so this never refuses a file
        # the check with the data (build_network) accepts, and the app refuses a width at once
        batches = [run.batch_size or 1 for run in experiment.runs]
        check_network_size([1, *spec.hidden, 2], spec.batch_norm, batches, source, exact=False)
    return experiment


def check_batch_norm(experiment: Experiment, source: str) -> None:
    """A run's ``batch_norm`` turns the network's batch norm off: a run can't add batch norm
    to a network that has none (its settings live in [problem]). (On another problem a run's
    ``batch_norm = false`` has no effect: a file saying it is refused, see
    ``_refuse_keys_that_do_not_apply``; the app's edits may leave it, and saving drops it.)"""
    spec = experiment.problem
    for i, run in enumerate(experiment.runs):
        if run.batch_norm and isinstance(spec, MLPProblemModel) and not spec.batch_norm:
            raise ExperimentError(
                f"{source}: runs[{i}].batch_norm: true needs batch_norm = true in [problem]; "
                "a run can only turn the network's batch norm off (batch_norm = false)"
            )


def check_network_size(
    widths: list[int], batch_norm: bool, batches: list[int], source: str, exact: bool = True
) -> None:
    """Refuse a network too large for one machine (README, "Limits"): ``widths`` are the
    layers' (inputs, hidden…, classes), ``batches`` each run's (micro-)batch size;
    ``exact=False``: lower bounds of them, and the message says "at least"."""
    n_params = parameter_count(widths, batch_norm)
    least = "" if exact else "at least "
    if n_params > MAX_NETWORK_PARAMS:
        raise ExperimentError(
            f"{source}: problem.hidden: {least}{n_params:,} parameters per run is more than the "
            f"{MAX_NETWORK_PARAMS:,} a network may have; use fewer or narrower hidden layers"
        )
    runs = len(batches)
    if n_params * runs > MAX_NETWORK_VALUES:
        raise ExperimentError(
            f"{source}: runs: {runs} runs × {least}{n_params:,} parameters is more than the "
            f"{MAX_NETWORK_VALUES:,} parameters all runs together may have; use fewer runs "
            "or a smaller network"
        )
    units = sum(widths[1:])
    activations = sum(batches) * units
    if activations > MAX_STEP_ACTIVATIONS:
        largest = max(range(runs), key=batches.__getitem__)
        raise ExperimentError(
            f"{source}: runs[{largest}].batch_size: a step of all runs holds {least}"
            f"{activations:,} activations (batch sizes {sum(batches):,} in all × {units:,} "
            f"units), more than the {MAX_STEP_ACTIVATIONS:,} allowed; use smaller batches, "
            "fewer runs or narrower layers"
        )


def experiment_warnings(experiment: Experiment, training_examples: int | None = None) -> list[str]:
    """What is valid but probably not meant, one line each: the ONE list the runner prints
    ("warning: FILE: ...") and the app shows above the plots while it holds.

    From the file alone: batch norm on batches of one, a warmup longer than the training, a
    cosine that ends before it. ``training_examples`` (the training split's size, known once
    the data are read: ``Built.problem.n_examples``) adds what depends on the data too: with
    batch norm, a batch size that leaves a last batch of one example each epoch."""
    found = []
    steps = experiment.steps
    if experiment.has_batch_norm:  # (no hidden layer: no batch norm)
        n = training_examples
        for i, run in enumerate(experiment.runs):
            if not experiment.run_normalizes(i):
                continue
            b = run.batch_size
            if b == 1:
                found.append(
                    f"runs[{i}].batch_size: 1 with batch norm: each example is normalized by "
                    "its own statistics (mean itself, variance 0), so every hidden layer "
                    "outputs β whatever the input; PyTorch refuses such a batch in training"
                )
            elif n is not None and b is not None and b > 1 and n % b == 1 and not run.drop_last:
                # that batch normalizes every activation to β, as batch_size = 1 does, once
                # an epoch
                found.append(
                    f"runs[{i}].batch_size: {b} leaves a last batch of one example of the {n} "
                    "training examples each epoch; with batch norm it outputs β whatever the "
                    "input (PyTorch refuses such a batch in training); drop_last = true skips it"
                )
    for i, run in enumerate(experiment.runs):
        if run.batch_norm is False and not experiment.has_batch_norm:
            found.append(
                f"runs[{i}].batch_norm: false has no effect here; the network has no batch "
                "norm to turn off ([problem] batch_norm = false, or hidden = [])"
            )
        schedule = run.schedule
        key = f"runs[{i}].schedule"
        if schedule.warmup_steps > steps:
            found.append(
                f"{key}.warmup_steps: {schedule.warmup_steps} is more than the {steps} steps, "
                "so the warmup never ends and the rate never reaches lr"
            )
        decay_steps = steps - schedule.warmup_steps
        if (
            schedule.kind == "cosine"
            and schedule.total_steps is not None
            and schedule.total_steps < decay_steps
        ):
            found.append(
                f"{key}.total_steps: {schedule.total_steps} is less than the {decay_steps} "
                "updates after the warmup, so the rate rises again after reaching min_lr "
                "(as CosineAnnealingLR does)"
            )
    return found


def _settings_without_effect(data: dict, experiment: Experiment) -> list[str]:
    """The file's settings that apply to their kind but have no effect where they stand (an
    ``active`` condition fails: ``bn_momentum`` without batch norm, ``label_column`` on a
    generated set), given a value other than the default: a warning line each. Not refused
    as a key that does not apply is: the format's own template lists such keys with their
    defaults, so a file written from it carries them. (The app's editors hide these
    settings and a saved file leaves them out: only a file read says them.)"""
    problem = experiment.problem.model_dump()
    sections = [("problem", data.get("problem"), problem, PROBLEM_PARAMETERS, "problem")]
    for i, run in enumerate(data.get("runs") or []):
        given = run.get("schedule") if isinstance(run, dict) else None
        schedule = experiment.runs[i].schedule.model_dump()
        sections.append((f"runs[{i}].schedule", given, schedule, SCHEDULE_PARAMETERS, "schedule"))
    found = []
    for where, given, section, entries, context in sections:
        if not isinstance(given, dict):
            continue
        kind = section["kind"]
        for p in entries:
            if p.active is None or p.key not in given or not p.applies(**{context: kind}):
                continue
            value = section[p.key]
            value = tuple(value) if isinstance(value, list) else value
            if p.active(section) or value == p.default_for(kind):
                continue
            found.append(
                f"{where}.{p.key}: {value!r} has no effect here; it applies only {p.active.words}"
            )
    found += _minibatch_settings_on_a_function(data, experiment)
    return found


def _minibatch_settings_on_a_function(data: dict, experiment: Experiment) -> list[str]:
    """A function has no examples to take minibatches of: ``batch_size``, ``shuffle``,
    ``drop_last`` and ``accumulation_steps`` have no effect there. The format's own template
    is a Rosenbrock file with ``batch_size = 32``, so they are a warning line each (given
    another value than the default), not a refusal."""
    if experiment.problem.kind != "function":
        return []
    found = []
    for i, run in enumerate(data.get("runs") or []):
        for p in BATCH_PARAMETERS:
            if not isinstance(run, dict) or p.key not in run or p.applies(problem="function"):
                continue
            value = getattr(experiment.runs[i], p.key)
            if value != p.default_for():
                found.append(
                    f"runs[{i}].{p.key}: {value!r} has no effect on a function, which has no "
                    "examples to take minibatches of (problem.gradient_noise mimics their noise)"
                )
    return found


def _unused_weight_arrays(experiment: Experiment, base_dir: Path) -> list[str]:
    """The arrays of a network's ``init`` archive that it has no place for (``bn0.weight``
    with ``batch_norm = false``, ``linear2.weight`` of a deeper network): a warning line, as
    they are ignored. PyTorch's ``num_batches_tracked`` beside batch norm is ignored without
    a word: a converted ``state_dict`` carries it, and the contract has no use for it."""
    spec = experiment.problem
    if not isinstance(spec, MLPProblemModel) or spec.init is None:
        return []
    try:
        archive = np.load(base_dir / spec.init, allow_pickle=False)
    except Exception:
        return []  # (building the network says what is wrong with the file)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        return []
    with archive:
        names = archive.files
    known = set(array_names(len(spec.hidden), spec.batch_norm))
    unused = [
        name
        for name in names
        if name not in known and not (spec.batch_norm and name.endswith(".num_batches_tracked"))
    ]
    if not unused:
        return []
    shown = ", ".join(unused[:6]) + (f" and {len(unused) - 6} more" if len(unused) > 6 else "")
    bn = not spec.batch_norm and any(n.startswith("bn") for n in unused)
    why = " (batch_norm = false)" if bn else ""
    return [f"problem.init: {spec.init} holds arrays this network has no place for{why}: {shown}"]


def _refuse_keys_that_do_not_apply(data: dict, experiment: Experiment, source: str) -> None:
    """A key the file gives where it does not apply — ``step_size`` on a cosine schedule,
    ``condition`` on Himmelblau — is refused, as a hyperparameter the optimizer does not
    take is: the file would say something the experiment silently ignores. (Only the
    file's own keys: a model dump holds every field, and ``prune`` keeps saved files clean.)"""
    problem = experiment.problem
    given = data.get("problem") if isinstance(data.get("problem"), dict) else {}
    problem_entries = {p.key: p for p in PROBLEM_PARAMETERS}
    schedule_entries = {p.key: p for p in SCHEDULE_PARAMETERS}
    for key in given:
        entry = problem_entries.get(key)
        surface = getattr(problem, "name", None)
        if entry is not None and not entry.applies(problem=problem.kind, surface=surface):
            where = entry.where.get("surface")
            words = f"the {' / '.join(where)} surface" if where else "this problem kind"
            raise ExperimentError(f"{source}: problem.{key}: applies to {words} only")
    for i, run in enumerate(data.get("runs") or []):
        if isinstance(run, dict) and "batch_norm" in run and problem.kind != "mlp":
            raise ExperimentError(
                f'{source}: runs[{i}].batch_norm: applies to networks (kind = "mlp") only'
            )
        schedule = run.get("schedule") if isinstance(run, dict) else None
        if not isinstance(schedule, dict):
            continue
        kind = experiment.runs[i].schedule.kind
        for key in schedule:
            entry = schedule_entries.get(key)
            if entry is not None and not entry.applies(schedule=kind):
                takes = ", ".join(p.key for p in parameters.schedule_parameters(kind))
                raise ExperimentError(
                    f"{source}: runs[{i}].schedule.{key}: does not apply to schedule "
                    f"{kind!r}; it takes {takes}"
                )


def load_experiment(path: str | os.PathLike) -> Experiment:
    """Read and validate an experiment file (everything but the data, see ``build``)."""
    return read_experiment(path)[0]


def read_experiment(path: str | os.PathLike) -> tuple[Experiment, list[str]]:
    """``load_experiment``, and the warning lines of what the file says to no effect (a
    setting whose condition fails where it stands, ``bn_momentum`` without batch norm)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ExperimentError(f"{path}: not a text file (expected UTF-8 TOML)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: TOML syntax error: {exc}") from None
    experiment = parse_experiment(data, source=str(path))
    _refuse_keys_that_do_not_apply(data, experiment, str(path))
    if "runs" not in data:
        # A file must say what to train: without [[runs]] (an empty file included) it is as
        # bad as `runs = []`, rather than silently one default run. (A dict given to
        # parse_experiment, the programmatic API, still gets the default run.)
        raise ExperimentError(f"{path}: runs: {NO_RUNS}")
    warnings = _settings_without_effect(data, experiment)
    return experiment, warnings + _unused_weight_arrays(experiment, path.parent)


def save_experiment(experiment: Experiment, path: str | os.PathLike) -> None:
    """Write atomically: a temporary file beside the target, then a rename, so a crash or a
    full disk never leaves a half-written experiment (the old file stays as it was)."""
    text = experiment.to_toml()
    with atomic_text(path) as f:
        f.write(text)


# ---- building the engine objects -----------------------------------------------------------


@dataclass
class Built:
    """What ``build`` makes of an experiment."""

    experiment: Experiment
    backend: Backend
    problem: Problem
    trainer: Trainer


def build_problem(
    experiment: Experiment,
    backend: Backend,
    base_dir: str | os.PathLike = ".",
    source: str = "<experiment>",
) -> Problem:
    spec = experiment.problem
    if isinstance(spec, FunctionProblemModel):
        return FunctionProblem(backend, make_surface(spec.name, spec.condition), start=spec.start)
    if isinstance(spec, MLPProblemModel):
        return build_network(experiment, spec, backend, base_dir, source)
    with np.errstate(all="ignore"):  # overflow is found below, not warned about
        if spec.data is not None:
            data_path = Path(base_dir) / spec.data
            try:
                x, y = read_data_csv(data_path, max_rows=MAX_SAMPLES)
            except DataError as exc:
                raise ExperimentError(f"{source}: problem.data: {exc}") from None
        else:
            x, y = generate_data(
                experiment.seed, spec.samples, spec.feature_scales, spec.noise, spec.true_weights
            )
        if spec.normalize_features:
            x = normalize_columns(x)
        problem = LinearRegressionProblem(backend, x, y, start=spec.start)
        # The loss is built from the examples' squares and products: a value near 1e155 squares
        # to inf (and LAPACK floods stderr solving for the minimum); in float32 the limit is
        # 1e19. Such data is a bad file, not a run that "diverges at step 0".
        moments = np.concatenate([problem.a.ravel(), problem.b, [problem.c]])
        if not np.isfinite(moments.astype(backend.dtype)).all():
            keys = "problem.data" if spec.data is not None else "problem.true_weights, noise"
            raise ExperimentError(
                f"{source}: {keys}: the data's squares are not finite {np.dtype(backend.dtype)} "
                "numbers (values too large); scale the data down"
            )
    return problem


def build_network(
    experiment: Experiment, spec: MLPProblemModel, backend: Backend, base_dir, source: str
) -> MLPProblem:
    """Data → split → normalization (training statistics) → the MLP and its start."""
    base_dir = Path(base_dir)
    try:
        data = load_dataset(
            spec.dataset,
            experiment.seed,
            samples=spec.samples,
            noise=spec.noise,
            classes=spec.classes,
            label_column=spec.label_column,
            base_dir=base_dir,
            raw_dtype=None if spec.normalize_features else backend.dtype,
        )
    except DatasetError as exc:
        key = "problem.dataset"
        text = str(exc)
        for setting in ("samples", "noise", "classes"):
            if text.startswith(setting) or f"; {setting} " in text:
                key = f"problem.{setting}"
        if "label column" in text:
            key = "problem.label_column"
        raise ExperimentError(f"{source}: {key}: {exc}") from None
    if len(data.y) > MAX_SAMPLES:
        raise ExperimentError(
            f"{source}: problem.dataset: more than {MAX_SAMPLES:,} examples ({len(data.y):,})"
        )
    try:
        parts = split(data, spec.validation_fraction, experiment.seed)
    except DatasetError as exc:
        raise ExperimentError(f"{source}: problem.validation_fraction: {exc}") from None
    if spec.normalize_features:
        parts = normalize(parts)
    try:
        model = MLP(
            data.n_features,
            spec.hidden,
            data.n_classes,
            activation=spec.activation,
            batch_norm=spec.batch_norm,
            bn_momentum=spec.bn_momentum,
            bn_eps=spec.bn_eps,
            xp=backend.xp,
            dtype=backend.dtype,
            switchable=experiment.batch_norm_per_run,
        )
    except ValueError as exc:
        raise ExperimentError(f"{source}: problem: {exc}") from None
    # before any (R, P) array exists; a run without batch_size trains on the whole split
    n_train = len(parts.y_train)
    batches = [min(run.batch_size or n_train, n_train) for run in experiment.runs]
    check_network_size(model.widths, model.batch_norm, batches, source)
    if spec.init is not None:
        try:
            start, buffers = model.load_weights(base_dir / spec.init)
        except WeightsError as exc:
            raise ExperimentError(f"{source}: problem.init: {exc}") from None
    else:
        start, buffers = model.init_host(experiment.seed)
    return MLPProblem(backend, model, parts, start, buffers)


def run_specs(experiment: Experiment) -> list[RunSpec]:
    specs = []
    for i, run in enumerate(experiment.runs):
        hyper = run.full_hyperparameters()
        batch = None
        if run.batch_size is not None or run.accumulation_steps > 1:
            batch = BatchConfig(
                batch_size=run.batch_size or -1,  # -1: the whole set, filled in by build
                shuffle=run.shuffle,
                drop_last=run.drop_last,
                accumulation_steps=run.accumulation_steps,
            )
        specs.append(
            RunSpec(
                label=run.display_label,
                optimizer=run.optimizer,
                convention=run.convention,
                lr=hyper.pop("lr"),
                hyper={k: v for k, v in hyper.items() if k not in FLAGS or v},
                batch=batch,
                schedule=run.schedule.to_schedule(experiment.steps),
                start=run.start,
                batch_norm=not experiment.run_without_batch_norm(i),
            )
        )
    return specs


def _problem_and_runs(
    experiment: Experiment, backend: Backend, base_dir, source: str
) -> tuple[Problem, list[RunSpec]]:
    """The problem and run specifications, after every check that needs the data."""
    problem = build_problem(experiment, backend, base_dir, source)
    specs = run_specs(experiment)
    n = problem.n_examples
    for i, (run, spec) in enumerate(zip(experiment.runs, specs, strict=True)):
        if n == 0:  # a function: minibatch settings have no effect (a warning when read)
            specs[i] = dataclasses.replace(spec, batch=None)
        elif spec.batch is not None and spec.batch.batch_size == -1:
            whole = dataclasses.replace(spec.batch, batch_size=n)
            specs[i] = dataclasses.replace(spec, batch=whole)
        elif run.batch_size is not None and run.batch_size > n:
            raise ExperimentError(
                f"{source}: runs[{i}].batch_size: must be at most the {n} training examples "
                f"(got {run.batch_size})"
            )
    return problem, specs


def validate(
    experiment: Experiment, base_dir: str | os.PathLike = ".", source: str = "<experiment>"
) -> None:
    """Every check ``build`` makes (data file, batch sizes against the data), without
    training anything: what the app runs when a file is opened."""
    _problem_and_runs(experiment, select_backend("numpy", experiment.dtype), base_dir, source)


def build(
    experiment: Experiment,
    base_dir: str | os.PathLike = ".",
    backend: Backend | None = None,
    source: str = "<experiment>",
    diagnostics: bool = True,
    reuse: Built | None = None,
    window: bool = False,
    eval_every: int | Callable[[Problem, list[RunSpec]], int] = 1,
    should_stop=None,
    own_plane: bool = True,
) -> Built:
    """The backend, problem and trainer of an experiment, or an ``ExperimentError``.

    ``diagnostics=False`` records only what the CSV holds, ``window=True`` only the latest
    rows, ``eval_every`` a network's full-split evaluation cadence (see ``Trainer``; the
    CSV needs 1), or a function of the built problem and runs that gives it (the app's
    cadence depends on the data set's size: known once built, and the trainer evaluates
    its first row as it is made, so it is made once, with it). ``reuse``: an
    earlier build whose finished runs are copied where they would be computed again (the
    same problem, shared settings and run; see ``Trainer``). ``should_stop``: the trainer's
    (a network's evaluations stop when it says so, raising ``engine.plane.Cancelled``);
    ``own_plane=False``: the trainer leaves choosing a network's drawn plane to the caller
    (see ``Trainer``)."""
    if backend is None:
        try:
            backend = select_backend(experiment.backend, experiment.dtype)
        except RuntimeError as exc:
            raise ExperimentError(f"{source}: backend: {exc}") from None
        if experiment.backend == "auto" and backend.name == "cupy":
            # a GPU answered: weigh the work (built on NumPy) to take it only where it pays
            numpy = select_backend("numpy", experiment.dtype)
            problem, specs = _problem_and_runs(experiment, numpy, base_dir, source)
            workload = Workload(runs=len(specs), params=problem.n_params)
            backend = select_backend("auto", experiment.dtype, workload=workload)
    problem, specs = _problem_and_runs(experiment, backend, base_dir, source)
    if callable(eval_every):
        eval_every = eval_every(problem, specs)
    try:
        trainer = Trainer(
            problem,
            specs,
            experiment.steps,
            seed=experiment.seed,
            gradient_noise=experiment.problem.gradient_noise,
            record_every=experiment.record_every,
            diagnostics=diagnostics,
            reuse=None if reuse is None else reuse.trainer,
            # a network's drawn plane comes from a bounded reservoir of its states
            # (engine.snapshots); the runner replays a long training to project every row
            window=window,
            eval_every=eval_every,
            should_stop=should_stop,
            own_plane=own_plane,
        )
    except ValueError as exc:
        raise ExperimentError(f"{source}: {exc}") from None
    return Built(experiment, backend, problem, trainer)
