"""The two-moons example (SGD vs momentum vs Adam) trained to the end once per test process:
the legend and figure tests look at what it draws."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from engine.experiment import build, parse_experiment

MOONS_EXAMPLE = Path(__file__).parents[2] / "resources/experiments/networks/moons_optimizers.toml"


@functools.cache
def trained_moons():
    """``(experiment, built, history)`` of the example, trained as the headless runner does
    (the trainer's plane set at the end)."""
    with open(MOONS_EXAMPLE, "rb") as f:
        experiment = parse_experiment(tomllib.load(f))
    built = build(experiment)
    history = built.trainer.run()
    return experiment, built, history
