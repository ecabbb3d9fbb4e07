"""The registry's network entries: their editor hints agree with the engine, and a saved
network file reads back as the same experiment."""

from __future__ import annotations

import tomllib

import pytest

from engine import datasets, parameters
from engine.experiment import MLPProblemModel, parse_experiment
from engine.problems.mlp import ACTIVATIONS


def test_the_editor_hints_agree_with_the_engine():
    registry = parameters.REGISTRY
    assert tuple(registry["activation"].choices) == ACTIVATIONS
    assert tuple(registry["dataset"].choices) == datasets.DATASETS
    assert tuple(datasets.GENERATORS) == parameters.GENERATED_DATASETS
    settable = tuple(name for name, g in datasets.GENERATORS.items() if g.classes is not None)
    assert settable == parameters.CLASSED_DATASETS
    assert "mlp" in parameters.PROBLEM_KINDS


@pytest.mark.parametrize(
    "problem",
    [
        {"normalize_features": False},  # the network's default is true: false must be saved
        {"dataset": "blobs", "classes": 4, "samples": 90, "noise": 0.0},
        {"batch_norm": True, "bn_momentum": 0.0, "hidden": [], "activation": "sigmoid"},
        {"dataset": "data.csv", "label_column": "kind", "validation_fraction": 0.0},
    ],
)
def test_a_saved_network_reads_back_the_same(problem):
    experiment = parse_experiment(
        {"problem": {"kind": "mlp", **problem}, "runs": [{"optimizer": "sgd", "lr": 0.1}]}
    )
    again = parse_experiment(tomllib.loads(experiment.to_toml()))
    assert again.problem == experiment.problem
    assert isinstance(again.problem, MLPProblemModel)


def test_a_saved_network_holds_only_what_applies():
    """The batch-norm settings without batch norm, the label column without a CSV and the
    generated sets' settings on the digits say nothing: a saved file leaves them out."""
    experiment = parse_experiment(
        {"problem": {"kind": "mlp", "samples": 50}, "runs": [{"optimizer": "sgd", "lr": 0.1}]}
    )
    saved = tomllib.loads(experiment.to_toml())["problem"]
    for key in ("bn_momentum", "bn_eps", "label_column", "samples", "classes"):
        assert key not in saved
