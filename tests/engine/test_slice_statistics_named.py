"""A network with batch norm is drawn on its plane in evaluation mode with one run's
running statistics: the figure's subtitle says whose (the first run that stayed finite),
so that a slice is not read as every run's (acceptance review)."""

from __future__ import annotations

import numpy as np

from engine.experiment import build, parse_experiment


def trained(batch_norm: bool, first_lr: float):
    data = {
        "steps": 6,
        "problem": {
            "kind": "mlp",
            "dataset": "moons",
            "samples": 40,
            "hidden": [4],
            "batch_norm": batch_norm,
        },
        "runs": [
            {"optimizer": "sgd", "lr": first_lr, "batch_size": 10, "label": "first"},
            {"optimizer": "adam", "lr": 0.05, "batch_size": 10, "label": "second"},
        ],
    }
    built = build(parse_experiment(data))
    built.trainer.run()
    return built


def test_the_subtitle_names_the_run_whose_running_statistics_the_slice_uses():
    built = trained(batch_norm=True, first_lr=0.1)
    assert built.problem.subtitle.endswith(
        "batch norm with the running statistics of run 0 'first'"
    )
    final = built.trainer.final_state()[1]
    np.testing.assert_array_equal(built.problem.surface_buffers, final[0])


def test_a_diverged_first_run_leaves_it_to_the_next():
    built = trained(batch_norm=True, first_lr=1e300)
    assert built.trainer.history.diverged_at[0] >= 0
    assert built.problem.subtitle.endswith("running statistics of run 1 'second'")
    np.testing.assert_array_equal(built.problem.surface_buffers, built.trainer.final_state()[1][1])


def test_without_batch_norm_no_statistics_are_named():
    assert "batch norm" not in trained(batch_norm=False, first_lr=0.1).problem.subtitle
