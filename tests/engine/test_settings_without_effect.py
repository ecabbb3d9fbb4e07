"""A setting that applies to its kind but has no effect where it stands — ``bn_momentum``
without batch norm, ``label_column`` or ``samples`` on the digits, a warmup's start factor
without a warmup — is said as a warning line naming the key, not ignored in silence and not
refused: the format's own template (shared/EXPERIMENT_FORMAT.md, "Networks") lists such
keys at their defaults, so a file written from it must run, and say nothing."""

from __future__ import annotations

import pytest

from engine import runner
from engine.experiment import read_experiment

# the contract's template for a network, verbatim but for init (its keys at their defaults:
# label_column on the digits, bn_momentum and bn_eps without batch norm)
TEMPLATE = """
steps = 3

[problem]
kind = "mlp"
dataset = "digits"
label_column = "label"
normalize_features = true
validation_fraction = 0.2
hidden = [8]
activation = "relu"
batch_norm = false
bn_momentum = 0.1
bn_eps = 1e-5

[[runs]]
optimizer = "sgd"
lr = 0.1
batch_size = 32
"""


def experiment_file(tmp_path, problem: str, schedule: str = "") -> str:
    text = f"""
steps = 3

[problem]
kind = "mlp"
hidden = [4]
{problem}

[[runs]]
optimizer = "sgd"
lr = 0.1
batch_size = 8
{schedule}
"""
    path = tmp_path / "e.toml"
    path.write_text(text)
    return path


def test_the_contracts_template_reads_without_a_warning(tmp_path):
    path = tmp_path / "template.toml"
    path.write_text(TEMPLATE)
    assert read_experiment(path)[1] == []


@pytest.mark.parametrize(
    ("problem", "key", "condition"),
    [
        ('dataset = "digits"\nsamples = 100', "problem.samples: 100", "with generated data"),
        ('dataset = "digits"\nnoise = 0.3', "problem.noise: 0.3", "with generated data"),
        ('dataset = "digits"\nclasses = 3', "problem.classes: 3", "with spirals or blobs"),
        ('dataset = "moons"\nlabel_column = "y"', "problem.label_column: 'y'", "with a CSV"),
        ('dataset = "moons"\nbn_momentum = 0.5', "problem.bn_momentum: 0.5", "with batch_norm"),
        ('dataset = "moons"\nbn_eps = 0.001', "problem.bn_eps: 0.001", "with batch_norm"),
    ],
)
def test_a_network_setting_without_effect_is_a_warning_naming_its_key(
    tmp_path, problem, key, condition
):
    (line,) = read_experiment(experiment_file(tmp_path, problem))[1]
    assert line.startswith(f"{key} has no effect here; it applies only {condition}")


def test_the_same_settings_where_they_apply_say_nothing(tmp_path):
    where_they_apply = [
        'dataset = "moons"\nsamples = 100\nnoise = 0.3',
        'dataset = "blobs"\nclasses = 4',
        'dataset = "moons"\nbatch_norm = true\nbn_momentum = 0.5\nbn_eps = 0.001',
    ]
    for problem in where_they_apply:
        assert read_experiment(experiment_file(tmp_path, problem))[1] == []


def test_a_warmups_start_factor_without_a_warmup_is_said_and_with_one_is_not(tmp_path):
    schedule = "[runs.schedule]\nkind = 'constant'\nwarmup_start_factor = 0.5"
    (line,) = read_experiment(experiment_file(tmp_path, 'dataset = "moons"', schedule))[1]
    assert line.startswith("runs[0].schedule.warmup_start_factor: 0.5 has no effect here")
    with_warmup = schedule + "\nwarmup_steps = 2"
    assert read_experiment(experiment_file(tmp_path, 'dataset = "moons"', with_warmup))[1] == []


def test_the_runner_prints_the_warning_and_trains(tmp_path, capsys):
    path = experiment_file(tmp_path, 'dataset = "moons"\nbn_momentum = 0.5')
    code = runner.main([str(path), "--out", str(tmp_path / "out"), "--no-plots"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"warning: {path}: problem.bn_momentum: 0.5 has no effect here" in printed
    assert (tmp_path / "out" / "trajectories.csv").exists()


def test_weights_the_network_has_no_place_for_are_a_warning(tmp_path):
    """An ``init`` archive written for batch norm, read by a file without it: its bn arrays
    would be ignored in silence. A converted state_dict's num_batches_tracked beside batch
    norm is not worth a word; the arrays the network has are all there (no error)."""
    import numpy as np

    from engine.problems.mlp import MLP

    model = MLP(2, [4], 2, batch_norm=True)
    arrays = model.weights_dict(*model.init_host(0))
    arrays["bn0.num_batches_tracked"] = np.array(3)
    np.savez(tmp_path / "w.npz", **arrays)
    init = 'dataset = "moons"\ninit = "w.npz"'
    _, lines = read_experiment(experiment_file(tmp_path, init))
    assert lines == [
        "problem.init: w.npz holds arrays this network has no place for (batch_norm = false): "
        "bn0.weight, bn0.bias, bn0.running_mean, bn0.running_var, bn0.num_batches_tracked"
    ]
    _, lines = read_experiment(experiment_file(tmp_path, init + "\nbatch_norm = true"))
    assert lines == []
