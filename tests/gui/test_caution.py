"""What is valid but probably not meant (the runner's "warning:" lines) is said in the app
too, above the plots, for as long as it holds: batch norm on batches of one outputs β
whatever the input (issue #7: allowed and shown, with a warning line)."""

from __future__ import annotations

from tests.gui.waiting import PATIENCE_MS

BATCHES_OF_ONE = """
title = "batch norm on batches of one"
seed = 0
steps = 5

[problem]
kind = "mlp"
dataset = "moons"
samples = 40
hidden = [4]
batch_norm = true

[[runs]]
label = "one"
optimizer = "sgd"
lr = 0.1
batch_size = 1
"""


def test_batch_norm_on_batches_of_one_is_said_above_the_plots_while_it_holds(window, tmp_path):
    assert not window.caution.isVisibleTo(window)  # the default example: nothing to say
    path = tmp_path / "ones.toml"
    path.write_text(BATCHES_OF_ONE)
    assert window.open_path(path, ask=False)
    text = window.caution.text()
    # the line the runner prints (engine.experiment.experiment_warnings), written out here
    assert text == (
        "⚠ runs[0].batch_size: 1 with batch norm: each example is normalized by its own "
        "statistics (mean itself, variance 0), so every hidden layer outputs β whatever the "
        "input; PyTorch refuses such a batch in training"
    )
    assert window.caution.isVisibleTo(window)
    assert window.controller.update_run(0, batch_size=2) is None
    assert not window.caution.isVisibleTo(window)  # no longer true: no longer said
    assert window.controller.update_run(0, batch_size=1) is None
    assert window.caution.isVisibleTo(window)
    assert window.controller.wait_until_computed(PATIENCE_MS / 1000)  # trained all the same
