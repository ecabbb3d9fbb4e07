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


# 13 examples, no validation split: all 13 train (the contract: validation_fraction = 0 keeps
# the file's rows), so batches of 4 leave a last batch of 13 − 3·4 = 1 each epoch
LAST_BATCH_OF_ONE = """
title = "a last batch of one"
seed = 0
steps = 5

[problem]
kind = "mlp"
dataset = "data.csv"
label_column = "label"
validation_fraction = 0.0
hidden = [3]
batch_norm = true

[[runs]]
label = "fours"
optimizer = "sgd"
lr = 0.1
batch_size = 4
"""
# written out: the oracle is this text, not the function that makes it
LAST_BATCH_LINE = (
    "runs[0].batch_size: 4 leaves a last batch of one example of the 13 training examples "
    "each epoch; with batch norm it outputs β whatever the input (PyTorch refuses such a "
    "batch in training); drop_last = true skips it"
)


def last_batch_case(folder):
    rows = ["x1,x2,label"] + [f"{0.1 * i:.1f},{(-1) ** i * 0.5},{i % 2}" for i in range(13)]
    (folder / "data.csv").write_text("\n".join(rows) + "\n")
    path = folder / "last_batch.toml"
    path.write_text(LAST_BATCH_OF_ONE)
    return path


def test_the_runner_warns_about_a_last_batch_of_one(tmp_path, capsys):
    from engine.runner import main

    path = last_batch_case(tmp_path)
    assert main([str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    printed = capsys.readouterr()
    warned = [line for line in (printed.out + printed.err).splitlines() if "warning" in line]
    assert warned == [f"warning: {path}: {LAST_BATCH_LINE}"]


def test_the_app_says_the_last_batch_of_one_once_the_data_are_read(window, qtbot, tmp_path):
    """The same file in the app: the line the runner prints, above the plots, after the
    worker has read the data (the 13 examples are known only then), gone when an edit makes
    it untrue, back when it holds again."""
    path = last_batch_case(tmp_path)
    assert window.open_path(path, ask=False)
    assert window.controller.wait_until_computed(PATIENCE_MS / 1000)
    qtbot.waitUntil(lambda: window.caution.text() == f"⚠ {LAST_BATCH_LINE}", timeout=PATIENCE_MS)
    assert window.caution.isVisibleTo(window)
    assert window.controller.update_run(0, batch_size=5) is None  # 13 = 2·5 + 3
    qtbot.waitUntil(lambda: not window.caution.isVisibleTo(window), timeout=PATIENCE_MS)
    assert window.controller.update_run(0, batch_size=6) is None  # 13 = 2·6 + 1
    expected = f"⚠ {LAST_BATCH_LINE.replace('size: 4', 'size: 6')}"
    qtbot.waitUntil(lambda: window.caution.text() == expected, timeout=PATIENCE_MS)
    assert window.caution.isVisibleTo(window)


BN_MOMENTUM_WITHOUT_BATCH_NORM = """
title = "bn_momentum without batch norm"
seed = 0
steps = 5

[problem]
kind = "mlp"
dataset = "moons"
samples = 40
hidden = [4]
bn_momentum = 0.5

[[runs]]
label = "one"
optimizer = "sgd"
lr = 0.1
batch_size = 8
"""


def test_a_file_setting_without_effect_is_said_until_the_document_is_edited(window, tmp_path):
    """The runner's line for a setting the file gives to no effect shows above the plots
    too; the Problem panel hides such a setting and a save leaves it out, so once the
    document is edited it is no longer said."""
    path = tmp_path / "bn.toml"
    path.write_text(BN_MOMENTUM_WITHOUT_BATCH_NORM)
    assert window.open_path(path, ask=False)
    assert window.caution.text() == (
        "⚠ problem.bn_momentum: 0.5 has no effect here; it applies only with batch_norm = true"
    )
    assert window.caution.isVisibleTo(window)
    assert window.controller.update_run(0, lr=0.2) is None
    assert not window.caution.isVisibleTo(window)
    assert window.controller.wait_until_computed(PATIENCE_MS / 1000)


def test_a_saved_file_no_longer_says_what_the_file_read_said(window, tmp_path):
    """Saving writes the document as it stands (a setting with no effect is left out), so
    the lines about the file read go: after an edit and a save (the edit turned batch norm
    on: the old line would now be false), and after Save As straight after opening (review)."""
    path = tmp_path / "bn.toml"
    path.write_text(BN_MOMENTUM_WITHOUT_BATCH_NORM)
    assert window.open_path(path, ask=False)
    assert window.caution.isVisibleTo(window)
    window.controller.save(tmp_path / "copy.toml")  # Save As, unedited
    assert not window.caution.isVisibleTo(window)
    assert window.open_path(path, ask=False)
    assert window.controller.update_problem(batch_norm=True) is None
    window.controller.save()
    assert not window.caution.isVisibleTo(window)
    assert window.controller.wait_until_computed(PATIENCE_MS / 1000)
