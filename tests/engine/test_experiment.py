"""Experiment files: validation, round trips, atomic saves and building the engine objects."""

from __future__ import annotations

import itertools
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

from engine.backend import select_backend
from engine.experiment import (
    MAX_HIDDEN_LAYERS,
    MAX_NETWORK_PARAMS,
    MAX_NETWORK_VALUES,
    MAX_STEP_ACTIVATIONS,
    MAX_WIDTH,
    Experiment,
    ExperimentError,
    build,
    check_network_size,
    experiment_warnings,
    load_experiment,
    parse_experiment,
    save_experiment,
    validate,
)
from engine.problems.mlp import parameter_count
from engine.problems.regression import DataError, read_data_csv

CONTRACT_EXAMPLE = """
title = "Momentum vs Adam on Rosenbrock"
seed = 0
steps = 300
backend = "auto"
dtype = "float64"
record_every = 1

[problem]
kind = "function"
name = "rosenbrock"
start = [-1.5, 2.0]
gradient_noise = 0.0

[[runs]]
label = "momentum"
optimizer = "momentum"
convention = "pytorch"
lr = 0.001
momentum = 0.9

[runs.schedule]
kind = "constant"
warmup_steps = 0
warmup_start_factor = 0.1
"""


def write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_contract_example_loads_and_runs(tmp_path):
    experiment = load_experiment(write(tmp_path, CONTRACT_EXAMPLE))
    assert experiment.title == "Momentum vs Adam on Rosenbrock"
    assert experiment.runs[0].momentum == 0.9
    history = build(experiment, backend=select_backend("numpy")).trainer.run()
    assert history.count == 301
    # row 0 is the start; Rosenbrock there by hand: (1 + 1.5)² + 100 (2 − 2.25)²
    np.testing.assert_allclose(history.coords[0, 0], [-1.5, 2.0])
    assert history.loss[0, 0] == pytest.approx(2.5**2 + 100 * 0.25**2)


def test_save_then_load_gives_the_same_experiment(tmp_path):
    experiment = parse_experiment(
        {
            "title": "round trip",
            "description": "two lines\nof text",
            "steps": 40,
            "problem": {
                "kind": "linear_regression",
                "samples": 64,
                "feature_scales": [1.0, 30.0],
                "normalize_features": True,
            },
            "runs": [
                {"optimizer": "adam", "lr": 0.05, "beta1": 0.8, "batch_size": 16},
                {
                    "label": "warm sgd",
                    "color": "#ff8800",
                    "optimizer": "sgd",
                    "lr": 0.01,
                    "accumulation_steps": 2,
                    "batch_size": 8,
                    "shuffle": False,
                    "schedule": {"kind": "cosine", "warmup_steps": 5, "min_lr": 1e-4},
                },
            ],
        }
    )
    path = tmp_path / "saved.toml"
    save_experiment(experiment, path)
    again = load_experiment(path)
    assert again == experiment
    assert again.to_toml() == experiment.to_toml()


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "keep.toml"
    path.write_text(CONTRACT_EXAMPLE, encoding="utf-8")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_experiment(Experiment(title="new"), path)
    assert path.read_text(encoding="utf-8") == CONTRACT_EXAMPLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.toml"]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"steps": 0}, "steps"),
        ({"runs": []}, "runs"),
        ({"runs": [{"lr": -1.0}]}, "runs[0].lr"),
        ({"runs": [{"optimizer": "adam", "momentum": 0.9}]}, "runs[0].momentum"),
        ({"runs": [{"optimizer": "nesterov", "momentum": 0.0}]}, "runs[0].momentum"),
        ({"runs": [{"color": "red"}]}, "runs[0].color"),
        ({"runs": [{"schedule": {"kind": "linear"}}]}, "runs[0].schedule.kind"),
        ({"problem": {"kind": "network"}}, "problem.kind"),
        ({"problem": {"kind": "mlp", "hidden": [0]}}, "problem.hidden[0]"),
        ({"problem": {"kind": "mlp", "bn_momentum": -0.1}}, "problem.bn_momentum"),
        ({"problem": {"kind": "mlp", "validation_fraction": 1}}, "problem.validation_fraction"),
        ({"problem": {"kind": "mlp", "activation": "gelu"}}, "problem.activation"),
        ({"problem": {"kind": "mlp", "dataset": "mnist"}}, "problem.dataset"),
        ({"problem": {"name": "sphere"}}, "problem.name"),
        ({"problem": {"kind": "linear_regression", "feature_scales": [1, 0]}}, "feature_scales"),
        ({"dtype": "float16"}, "dtype"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_values_name_the_key(data, key):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(data, source="bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml: ")
    assert key in message
    assert "\n" not in message


def test_batch_settings_are_checked_against_the_data():
    too_big = parse_experiment(
        {"problem": {"kind": "linear_regression", "samples": 10}, "runs": [{"batch_size": 11}]}
    )
    with pytest.raises(ExperimentError, match=r"runs\[0\]\.batch_size.*10 training examples"):
        build(too_big, backend=select_backend("numpy"))
    # a function has no examples: its minibatch settings do nothing (a warning when read)
    on_function = parse_experiment({"runs": [{"batch_size": 4, "accumulation_steps": 2}]})
    built = build(on_function, backend=select_backend("numpy"))
    assert (
        built.trainer.run().loss.tolist()
        == build(parse_experiment({"runs": [{}]}), backend=select_backend("numpy"))
        .trainer.run()
        .loss.tolist()
    )


def test_accumulation_without_batch_size_uses_the_whole_set_per_micro_batch():
    experiment = parse_experiment(
        {
            "steps": 5,
            "problem": {"kind": "linear_regression", "samples": 20},
            "runs": [{"lr": 0.01, "accumulation_steps": 2}, {"lr": 0.01}],
        }
    )
    history = build(experiment, backend=select_backend("numpy")).trainer.run()
    # one micro-batch (the whole set) per epoch: the same full-batch steps either way
    np.testing.assert_allclose(history.coords[:, 0], history.coords[:, 1], rtol=0, atol=1e-15)


def test_data_file_is_read_relative_to_the_experiment(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 2))
    y = x @ [3.0, -2.0]
    rows = "\n".join(f"{a:.17g},{b:.17g},{t:.17g}" for (a, b), t in zip(x, y, strict=True))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "points.csv").write_text("x1,x2,y\n" + rows + "\n", encoding="utf-8")
    path = write(
        tmp_path,
        '[problem]\nkind = "linear_regression"\ndata = "data/points.csv"\n'
        '[[runs]]\noptimizer = "sgd"\nlr = 0.1\n',
    )
    built = build(load_experiment(path), base_dir=path.parent, backend=select_backend("numpy"))
    assert built.problem.n_examples == 30
    np.testing.assert_allclose(built.problem.solution(), [3.0, -2.0], atol=1e-10)


def test_float32_experiments_compute_in_float32():
    experiment = parse_experiment({"dtype": "float32", "backend": "numpy", "steps": 20})
    built = build(experiment)
    assert built.backend.dtype == np.float32
    history = built.trainer.run()
    assert np.isfinite(history.loss[: history.count]).all()
    assert built.trainer._lanes[0].units[0].params.dtype == np.float32


def test_unreadable_and_malformed_files_are_experiment_errors(tmp_path):
    with pytest.raises(ExperimentError, match="cannot read"):
        load_experiment(tmp_path / "missing.toml")
    with pytest.raises(ExperimentError, match="TOML syntax"):
        load_experiment(write(tmp_path, "steps = = 3"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ExperimentError, match="UTF-8"):
        load_experiment(binary)


def test_validate_makes_builds_checks_without_training(tmp_path):
    experiment = parse_experiment(
        {"problem": {"kind": "linear_regression", "samples": 10}, "runs": [{"batch_size": 11}]}
    )
    with pytest.raises(ExperimentError, match=r"runs\[0\]\.batch_size"):
        validate(experiment, tmp_path, source="x.toml")
    missing = parse_experiment({"problem": {"kind": "linear_regression", "data": "gone.csv"}})
    with pytest.raises(ExperimentError, match=r"problem\.data"):
        validate(missing, tmp_path)
    validate(parse_experiment({}))  # a sound experiment passes


def test_recorded_gradient_is_the_full_data_gradient_at_each_row():
    experiment = parse_experiment(
        {
            "steps": 30,
            "problem": {"kind": "linear_regression", "samples": 50},
            "runs": [{"optimizer": "adam", "lr": 0.1, "batch_size": 8}],
        }
    )
    built = build(experiment, backend=select_backend("numpy"))
    history = built.trainer.run()
    x, y = built.problem.x, built.problem.y
    w = history.coords[:, 0]  # (rows, 2)
    direct = 2 * ((w @ x.T - y)[:, :, None] * x[None]).mean(axis=1)  # ∇ mean (w·x − y)²
    np.testing.assert_allclose(history.grad[:, 0], direct, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.grad_norm[:, 0], np.linalg.norm(direct, axis=1))


def test_warnings_name_a_warmup_that_never_ends_and_a_cosine_that_rises_again():
    def warnings_of(schedule, steps=100):
        experiment = parse_experiment({"steps": steps, "runs": [{}, {"schedule": schedule}]})
        return experiment_warnings(experiment)

    assert warnings_of({"kind": "cosine"}) == []
    assert warnings_of({"warmup_steps": 100}) == []  # ends with the training: no warning
    (warmup,) = warnings_of({"warmup_steps": 101})
    assert warmup.startswith("runs[1].schedule.warmup_steps: 101 is more than the 100 steps")
    (cosine,) = warnings_of({"kind": "cosine", "total_steps": 30, "warmup_steps": 20})
    assert cosine.startswith("runs[1].schedule.total_steps: 30 is less than the 80 updates")
    assert "CosineAnnealingLR" in cosine
    assert warnings_of({"kind": "cosine", "total_steps": 80, "warmup_steps": 20}) == []
    assert warnings_of({"kind": "step", "total_steps": 30}) == []  # total_steps: cosine only


def test_a_data_file_longer_than_the_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x1,x2,y\n" + "1,2,3\n" * 5, encoding="utf-8")
    x, _ = read_data_csv(path, max_rows=5)
    assert len(x) == 5
    with pytest.raises(DataError, match="more than 4 rows"):
        read_data_csv(path, max_rows=4)


def test_a_network_computes_in_the_files_dtype_float64_unless_it_says():
    """The contract's default dtype is float64 for every problem (a PyTorch comparison in
    float64 of a file that does not say must hold); float32 when the file says so."""
    net = parse_experiment({"problem": {"kind": "mlp", "dataset": "moons", "hidden": [4]}})
    assert net.dtype == "float64"
    assert build(net).trainer._lanes[0].units[0].params.dtype == np.float64
    fast = parse_experiment({"dtype": "float32", "problem": {"kind": "mlp", "dataset": "moons"}})
    assert build(fast).trainer._lanes[0].units[0].params.dtype == np.float32
    assert tomllib.loads(fast.to_toml())["dtype"] == "float32"


def test_a_batch_of_one_with_batch_norm_is_a_warning_not_a_refusal():
    data = {
        "problem": {"kind": "mlp", "dataset": "moons", "hidden": [4], "batch_norm": True},
        "runs": [{"batch_size": 1}, {"batch_size": 2}],
    }
    experiment = parse_experiment(data)
    (line,) = experiment_warnings(experiment)
    assert line.startswith("runs[0].batch_size: 1 with batch norm")
    history = build(experiment).trainer.run()
    assert np.isfinite(history.loss).all()  # trained, not crashed
    data["problem"]["batch_norm"] = False
    assert experiment_warnings(parse_experiment(data)) == []


def test_a_saved_file_reads_like_a_hand_written_one():
    # one [[runs]] table per run, short lists on one line, the notes as a multi-line string
    # (tomli_w alone writes short runs as an inline array, a start point over four lines
    # and the notes as one line of "\n" escapes); and it loads as the same experiment
    notes = 'Look at "the valley" \\ its floor;\nthen """ compare.\n\n\tTabbed.'
    experiment = parse_experiment(
        {
            "title": "t",
            "description": notes,
            "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.5, 2.0]},
            "runs": [
                {"optimizer": "sgd", "lr": 0.001},
                {"optimizer": "adam", "lr": 0.05, "schedule": {"kind": "step", "gamma": 0.5}},
            ],
        }
    )
    text = experiment.to_toml()
    lines = text.splitlines()
    assert lines.count("[[runs]]") == 2
    assert "[runs.schedule]" in lines
    assert "start = [-1.5, 2.0]" in lines
    assert 'description = """' in lines
    assert "runs = [" not in text
    again = parse_experiment(tomllib.loads(text))
    assert again == experiment
    assert again.description == notes


# ---- network size limits (README, "Limits") ------------------------------------------------


def _mlp(hidden, runs=1, **problem):
    return {
        "problem": {"kind": "mlp", "dataset": "moons", "hidden": hidden, **problem},
        "runs": [{"optimizer": "sgd"} for _ in range(runs)],
    }


def test_each_width_and_the_number_of_layers_have_a_limit():
    assert (MAX_WIDTH, MAX_HIDDEN_LAYERS) == (4096, 16)
    assert parse_experiment(_mlp([4096])).problem.hidden == [4096]
    assert len(parse_experiment(_mlp([8] * 16)).problem.hidden) == 16
    with pytest.raises(
        ExperimentError, match=r"problem\.hidden\[1\]: 4,097 units is more than the limit of 4,096"
    ):
        parse_experiment(_mlp([8, 4097]))
    with pytest.raises(ExperimentError, match=r"problem\.hidden: 17 hidden layers .* limit of 16"):
        parse_experiment(_mlp([8] * 17))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_parameter_count_equals_torchs(batch_norm):
    torch = pytest.importorskip("torch")
    widths = [7, 5, 3, 4]
    layers = []
    for fan_in, fan_out in itertools.pairwise(widths[:-1]):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if batch_norm:
            layers.append(torch.nn.BatchNorm1d(fan_out))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(widths[-2], widths[-1]))
    expected = sum(p.numel() for p in torch.nn.Sequential(*layers).parameters())
    assert parameter_count(widths, batch_norm) == expected


def test_the_size_limits_hold_at_their_edges():
    # hand counts: (7 + 1)·h weights and biases in, (h + 1)·2 out = 10·h + 2 parameters
    check_network_size([7, 999_999, 2], False, [1], "f.toml")  # 9,999,992
    with pytest.raises(ExperimentError, match=r"^f\.toml: problem\.hidden: 10,000,002 param"):
        check_network_size([7, 1_000_000, 2], False, [1], "f.toml")
    # 10·99,999 + 2 = 999,992 a run: 100 runs fit in 100,000,000, 101 do not
    check_network_size([7, 99_999, 2], False, [1] * 100, "f.toml")
    with pytest.raises(ExperimentError, match=r"^f\.toml: runs: 101 runs × 999,992 parameters"):
        check_network_size([7, 99_999, 2], False, [1] * 101, "f.toml")
    # one step: batches × (1,000 + 2) units; 99,800 × 1,002 = 99,999,600 fit, one more does not
    check_network_size([1, 1000, 2], False, [99_800], "f.toml")
    with pytest.raises(ExperimentError, match=r"^f\.toml: runs\[1\]\.batch_size: .*100,000,602"):
        check_network_size([1, 1000, 2], False, [1, 99_800], "f.toml")


def test_a_network_too_large_for_its_data_is_refused_before_its_weights_exist(tmp_path):
    # 3,000 features only the CSV tells: (3,000 + 1)·4,000 + (4,000 + 1)·2 = 12,012,002
    columns = [f"f{i}" for i in range(3000)]
    rows = [",".join([*columns, "label"])] + [
        ",".join(["0"] * 3000 + [str(k % 2)]) for k in range(4)
    ]
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n")
    experiment = parse_experiment(_mlp([4000], dataset="wide.csv", validation_fraction=0))
    with pytest.raises(ExperimentError, match=r"problem\.hidden: 12,012,002 parameters per run"):
        build(experiment, backend=select_backend("numpy"), base_dir=tmp_path)


def test_the_readme_states_the_network_limits():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    limits = readme.split("### Limits", 1)[1].split("###", 1)[0]
    for value in (
        MAX_WIDTH,
        MAX_HIDDEN_LAYERS,
        MAX_NETWORK_PARAMS,
        MAX_NETWORK_VALUES,
        MAX_STEP_ACTIVATIONS,
    ):
        assert f"{value:,}" in limits


def test_numpy_scalars_stand_for_their_values_and_nothing_else_is_converted():
    """Validation is strict (a TOML string is not a number); a NumPy scalar from a script or
    an editor's arithmetic is the number it holds."""
    import numpy as np

    from engine.experiment import ExperimentError, parse_experiment

    data = {
        "steps": np.int64(7),
        "problem": {"kind": "mlp", "dataset": "moons", "hidden": [np.int32(4)],
                    "batch_norm": np.bool_(True)},
        "runs": [{"optimizer": "sgd", "lr": np.float32(0.5), "batch_size": np.int64(8)}],
    }  # fmt: skip
    experiment = parse_experiment(data)
    assert experiment.steps == 7
    assert type(experiment.steps) is int
    assert experiment.problem.hidden == [4]
    assert experiment.problem.batch_norm is True
    assert experiment.runs[0].batch_size == 8
    # arrays and tuples are TOML's arrays
    data["problem"]["hidden"] = np.array([4, 2])
    assert parse_experiment(data).problem.hidden == [4, 2]
    data["problem"]["hidden"] = (3,)
    assert parse_experiment(data).problem.hidden == [3]
    function = parse_experiment({"problem": {"start": np.array([0.5, -1.0])}})
    assert function.problem.start == (0.5, -1.0)
    for bad in ({"steps": "7"}, {"steps": 7.0}, {"runs": [{"lr": "0.5"}]}):
        with pytest.raises(ExperimentError):
            parse_experiment(bad)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": "300"},
         'steps: expected a whole number, got "300" (write it without the quotes)'),
        ({"steps": "3e2"}, 'steps: expected a whole number, got "3e2"'),  # (unquoted: a float)
        ({"steps": 1e300}, "steps: expected a whole number, got 1e+300"),
        ({"steps": True}, "steps: expected a whole number, got true"),
        ({"runs": [{"lr": "nan"}]}, 'runs[0].lr: expected a number, got "nan"'),
        (
            {"problem": {"kind": "mlp", "batch_norm": "true"}},
            'problem.batch_norm: expected true or false, got "true" (write it without the quotes)',
        ),
        ({"problem": {"kind": "mlp", "batch_norm": "TRUE"}},  # (TOML's are lower case)
         'problem.batch_norm: expected true or false, got "TRUE"'),
        ({"title": 5}, "title: expected text in quotes, got 5"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_said_with_a_hint_only_where_it_helps(data, message):
    from engine.experiment import ExperimentError, parse_experiment

    with pytest.raises(ExperimentError) as caught:
        parse_experiment(data)
    assert str(caught.value) == f"<experiment>: {message}"
