"""The registry (``engine.parameters``): what is derived from it, what it refuses, what a
saved file holds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch

from engine import parameters
from engine.experiment import (
    Experiment,
    ExperimentError,
    FunctionProblemModel,
    MLPProblemModel,
    RegressionProblemModel,
    load_experiment,
    make_run_model,
    parse_experiment,
)
from engine.optim import DEFAULTS, HyperparameterError, check_hyperparameters
from engine.parameters import Bounds, Parameter, Slider

EXAMPLES = sorted((Path(__file__).parents[2] / "resources" / "experiments").glob("*.toml"))

TORCH = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
RENAMED = {"beta1": ("betas", 0), "beta2": ("betas", 1)}


@pytest.mark.parametrize("name", list(TORCH))
def test_defaults_are_torch_defaults(name):
    """The oracle: torch.optim's own defaults (momentum 0.9 for "momentum"/"nesterov" is the
    only documented difference, checked below)."""
    torch_defaults = TORCH[name]([torch.zeros(1, requires_grad=True)]).defaults
    for key, value in DEFAULTS[name].items():
        if key in RENAMED:
            group, i = RENAMED[key]
            assert value == torch_defaults[group][i], key
        else:
            assert value == torch_defaults[key], key
    assert DEFAULTS["momentum"]["momentum"] == DEFAULTS["nesterov"]["momentum"] == 0.9


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_lecture_momentum_refuses_dampening(optimizer):
    """The lecture's m ← λm − ηg has no dampening: given, it was accepted and ignored (the
    same rows with and without it)."""
    run = {"optimizer": optimizer, "convention": "lecture", "momentum": 0.5, "dampening": 0.3}
    with pytest.raises(ExperimentError) as info:
        parse_experiment({"runs": [run]})
    assert (
        f"runs[0].dampening: does not apply to optimizer {optimizer!r} with convention "
        "'lecture'; it takes lr, momentum, weight_decay"
    ) in str(info.value)
    parse_experiment({"runs": [{**run, "convention": "pytorch"}]})  # PyTorch's takes it


def test_lecture_adagrad_refuses_lr_decay():
    """The lecture's Adagrad has no lr_decay: given, it was accepted and ignored."""
    data = {"runs": [{"optimizer": "adagrad", "convention": "lecture", "lr_decay": 0.1}]}
    with pytest.raises(ExperimentError) as info:
        parse_experiment(data)
    message = str(info.value)
    assert "runs[0].lr_decay: does not apply to optimizer 'adagrad' with convention" in message
    assert "it takes lr, eps, weight_decay, initial_accumulator_value" in message
    # PyTorch's takes it, and the lecture's takes everything else
    parse_experiment({"runs": [{**data["runs"][0], "convention": "pytorch"}]})
    parse_experiment({"runs": [{"optimizer": "adagrad", "convention": "lecture", "eps": 1e-3}]})


def test_messages_name_the_key_and_what_it_takes():
    with pytest.raises(
        ExperimentError,
        match=r"^<experiment>: runs\[0\]\.beta1: does not apply to "
        r"optimizer 'sgd'; it takes lr, momentum, dampening, weight_decay$",
    ):
        parse_experiment({"runs": [{"optimizer": "sgd", "beta1": 0.9}]})
    with pytest.raises(
        HyperparameterError, match=r"^momentum must be > 0 and ≤ 1 for nesterov, got 0$"
    ):
        check_hyperparameters("nesterov", {"momentum": 0.0})
    with pytest.raises(HyperparameterError, match=r"^beta2 must be in \[0, 1\), got 1$"):
        check_hyperparameters("adam", {"beta2": 1.0})


def test_bounds_words_and_tests():
    assert Bounds(0, 1, low_open=True).words == "> 0 and ≤ 1"
    assert Bounds(0, 1, high_open=True).words == "in [0, 1)"
    assert Bounds(1).words == "≥ 1"
    b = Bounds(0, 1, high_open=True)
    assert [bool(b.holds(v)) for v in (-1e-9, 0.0, 0.5, 1.0, float("nan"))] == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_a_new_entry_is_taken_by_validation_and_schema(monkeypatch):
    """Adding one entry is all a new hyperparameter needs (the docstring's example)."""
    floor = Parameter(
        "amsgrad_floor",
        "AMSGrad floor",
        "v₀",
        "v̂ ≥ v₀",
        default=0.0,
        bounds=Bounds(0),
        where={"optimizer": ("adam",)},
        slider=Slider(1e-8, 1.0, "log", zero_at_min=True),
    )
    extended = (*parameters.OPTIMIZER_PARAMETERS, floor)
    monkeypatch.setattr(parameters, "OPTIMIZER_PARAMETERS", extended)
    # validation: taken by Adam with its default and its range, refused elsewhere by name
    assert check_hyperparameters("adam", {})["amsgrad_floor"] == 0.0
    with pytest.raises(HyperparameterError, match=r"^amsgrad_floor must be ≥ 0, got -1$"):
        check_hyperparameters("adam", {"amsgrad_floor": -1.0})
    # the schema: a key of [[runs]]
    model = make_run_model(extended)
    run = model.model_validate({"optimizer": "adam", "amsgrad_floor": 0.5})
    assert run.full_hyperparameters()["amsgrad_floor"] == 0.5
    sgd = model.model_validate({"optimizer": "sgd", "amsgrad_floor": 0.5})
    with pytest.raises(
        HyperparameterError, match="amsgrad_floor does not apply to optimizer 'sgd'"
    ):
        sgd.full_hyperparameters()


# ---- saved files -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_saved_then_loaded_is_the_same_experiment(path):
    original = load_experiment(path)
    # as the file reads, and as the app holds it (every field dumped, then validated again)
    for experiment in (original, parse_experiment(original.model_dump(mode="json"))):
        again = parse_experiment(tomllib.loads(experiment.to_toml()))
        assert again.model_dump() == original.model_dump()


def _as_the_app_saves(data: dict) -> str:
    """The app edits a full dump of the experiment, every default written out."""
    return parse_experiment(parse_experiment(data).model_dump(mode="json")).to_toml()


def test_a_saved_file_holds_only_what_applies():
    text = _as_the_app_saves(
        {
            "problem": {"kind": "function", "name": "himmelblau"},
            "runs": [
                {"optimizer": "sgd", "lr": 0.01},
                {"optimizer": "adam", "schedule": {"kind": "cosine", "min_lr": 1e-4}},
            ],
        }
    )
    data = tomllib.loads(text)
    assert "condition" not in data["problem"]
    assert "gradient_noise" not in data["problem"]
    sgd, adam = data["runs"]
    assert sgd == {"optimizer": "sgd", "lr": 0.01}  # no shuffle, no schedule, no visible
    assert adam["schedule"] == {"kind": "cosine", "min_lr": 1e-4}  # no step_size, gamma
    # what does apply stays, even at a default that is not "off"
    bowl = tomllib.loads(
        _as_the_app_saves(
            {
                "problem": {"name": "elongated_quadratic"},
                "runs": [{"optimizer": "momentum", "momentum": 0.0}],
            }
        )
    )
    assert bowl["problem"]["condition"] == 20.0
    assert bowl["runs"][0]["momentum"] == 0.0  # momentum's default is 0.9


def test_a_saved_regression_keeps_its_batches():
    text = _as_the_app_saves(
        {
            "problem": {"kind": "linear_regression", "samples": 50},
            "runs": [{"batch_size": 8, "shuffle": False, "schedule": {"warmup_steps": 5}}],
        }
    )
    run = tomllib.loads(text)["runs"][0]
    assert run["batch_size"] == 8
    assert run["shuffle"] is False
    assert run["schedule"] == {"kind": "constant", "warmup_steps": 5, "warmup_start_factor": 0.1}


# ---- the problem's and the experiment's settings -----------------------------------------------

MODELS = {
    "function": FunctionProblemModel,
    "linear_regression": RegressionProblemModel,
    "mlp": MLPProblemModel,
}


def _settings():
    for p in parameters.PROBLEM_PARAMETERS:
        for kind in p.where.get("problem", tuple(MODELS)):
            yield pytest.param(p, kind, id=f"{kind}.{p.key}")
    for p in parameters.EXPERIMENT_PARAMETERS:
        yield pytest.param(p, None, id=p.key)


@pytest.mark.parametrize(("entry", "kind"), list(_settings()))
def test_schema_agrees_with_the_registry(entry, kind):
    """The problem models are written out in experiment.py; the registry the panel and the
    saved files read must say the same default and refuse what the schema refuses."""
    model = Experiment if kind is None else MODELS[kind]
    default = model.model_fields[entry.key].default
    expected = entry.default_for(kind or "*")
    assert (tuple(default) if isinstance(default, list) else default) == expected
    bounds = entry.bounds_for()
    if bounds.low is None:
        return
    bad = bounds.low if bounds.low_open else bounds.low - 1
    if entry.type is tuple:
        bad = [bad, *entry.default_for(kind or "*")[1:]]
    data = {entry.key: bad} if kind is None else {"problem": {"kind": kind, entry.key: bad}}
    with pytest.raises(ExperimentError, match=rf"\b{entry.key}\b"):
        parse_experiment(data)


def test_readme_documents_every_registry_key():
    """The README's key table is the one place a user reads them: a new entry needs a row."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    keys = [*parameters.REGISTRY, *parameters.SCHEDULE_KINDS, *parameters.OPTIMIZERS]
    assert [k for k in keys if f"`{k}`" not in readme] == []


# ---- range and limit errors read as the project's other messages --------------------------

# (file in tests/bad_experiments, the one line after "FILE: ", written out by hand from the
# file's values and the limits in README's "Limits")
RANGE_MESSAGES = [
    (
        "mlp_width_too_large.toml",  # hidden = [100000, 100000]
        "problem.hidden[0]: 100,000 units is more than the limit of 4,096 per layer (and 1 more)",
    ),
    (
        "mlp_too_many_layers.toml",  # 17 widths of 8
        "problem.hidden: 17 hidden layers is more than the limit of 16",
    ),
    ("mlp_zero_width.toml", "problem.hidden[1]: must be a whole number ≥ 1, got 0"),
    ("mlp_bn_momentum.toml", "problem.bn_momentum: must be in [0, 1], got 1.5"),
    ("mlp_validation_fraction_one.toml", "problem.validation_fraction: must be in [0, 1), got 1"),
    (
        "samples_too_many.toml",  # samples = 1000000000
        "problem.samples: 1,000,000,000 samples is more than the limit of 1,000,000",
    ),
    ("steps_zero.toml", "steps: must be a whole number ≥ 1, got 0"),
    (
        "warmup_start_factor_zero.toml",
        "runs[0].schedule.warmup_start_factor: must be > 0 and ≤ 1, got 0",
    ),
    ("start_three_values.toml", "problem.start: expected at most 2 values, got 3"),
    # a value of the wrong type is refused, not converted
    ("lr_quoted.toml", 'runs[0].lr: expected a number, got "0.1" (write it without the quotes)'),
    (
        "steps_decimal.toml",
        "steps: expected a whole number, got 300.0 (write 300)",
    ),
    ("mlp_batch_norm_yes.toml", 'problem.batch_norm: expected true or false, got "yes"'),
]


@pytest.mark.parametrize(("name", "expected"), RANGE_MESSAGES)
def test_range_errors_say_what_was_wrong_and_what_is_expected(name, expected):
    from engine.experiment import ExperimentError, load_experiment

    path = Path(__file__).parents[1] / "bad_experiments" / name
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    message = str(caught.value)
    assert message == f"{path}: {expected}"
    assert "input should" not in message  # pydantic's wording is gone


def test_a_width_just_over_the_limit_names_its_layer():
    from engine.experiment import ExperimentError, parse_experiment

    data = {"problem": {"kind": "mlp", "dataset": "moons", "hidden": [8, 4097]}, "runs": [{}]}
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(data)
    assert str(caught.value) == (
        "<experiment>: problem.hidden[1]: 4,097 units is more than the limit of 4,096 per layer"
    )
