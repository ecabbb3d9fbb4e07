"""The headless runner against the contract of shared/EXPERIMENT_FORMAT.md: what it writes,
what the CSV's numbers mean (checked against formulas written out here, not the engine's),
divergence as a result, and bad files refused with one line, status 2 and nothing written."""

from __future__ import annotations

import csv
import errno
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import runner
from resources import example_paths

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "bad_experiments"
COLUMNS = ["run", "label", "step", "epoch", "lr", "loss", "grad_norm", "w1", "w2"]


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def rows_of(rows: list[dict[str, str]], run: int) -> list[dict[str, str]]:
    return [r for r in rows if int(r["run"]) == run]


def rosenbrock(x: float, y: float) -> float:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad_norm(x: float, y: float) -> float:
    gx = -2 * (1 - x) - 400 * x * (y - x * x)
    gy = 200 * (y - x * x)
    return math.hypot(gx, gy)


ROSENBROCK = """
title = "two runs"
steps = 20
record_every = {record_every}

[problem]
kind = "function"
name = "rosenbrock"
start = [-1.5, 2.0]

[[runs]]
label = "sgd"
optimizer = "sgd"
lr = 0.001

[[runs]]
label = "adam"
optimizer = "adam"
lr = 0.05
"""


# ---- what gets written ---------------------------------------------------------------------


def test_csv_has_the_contract_columns_and_one_row_per_step(tmp_path, capsys):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots"]) == 0
    header, rows = read_csv(out / "trajectories.csv")
    assert header == COLUMNS
    assert len(rows) == 2 * 21
    for run, label in enumerate(["sgd", "adam"]):
        mine = rows_of(rows, run)
        assert [int(r["step"]) for r in mine] == list(range(21))
        assert {r["label"] for r in mine} == {label}
    assert "trajectories.csv" in capsys.readouterr().out


def test_record_every_keeps_row_zero_every_kth_and_the_last(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=7))
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    _, rows = read_csv(out / "trajectories.csv")
    for run in (0, 1):
        assert [int(r["step"]) for r in rows_of(rows, run)] == [0, 7, 14, 20]


def test_row_zero_is_the_start_and_loss_is_the_function_value(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    _, rows = read_csv(out / "trajectories.csv")
    for run in (0, 1):
        first = rows_of(rows, run)[0]
        assert (float(first["w1"]), float(first["w2"])) == (-1.5, 2.0)
        assert float(first["loss"]) == pytest.approx(12.5)
        assert float(first["epoch"]) == 0.0
    for row in rows:
        x, y = float(row["w1"]), float(row["w2"])
        assert float(row["loss"]) == pytest.approx(rosenbrock(x, y), rel=1e-12, abs=1e-14)
        assert float(row["grad_norm"]) == pytest.approx(
            rosenbrock_grad_norm(x, y), rel=1e-10, abs=1e-12
        )


def test_first_sgd_step_is_the_gradient_step_by_hand(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    _, rows = read_csv(out / "trajectories.csv")
    x, y = -1.5, 2.0
    gx = -2 * (1 - x) - 400 * x * (y - x * x)
    gy = 200 * (y - x * x)
    step1 = rows_of(rows, 0)[1]
    assert float(step1["w1"]) == pytest.approx(x - 0.001 * gx, rel=1e-14)
    assert float(step1["w2"]) == pytest.approx(y - 0.001 * gy, rel=1e-14)


def test_floats_are_written_exactly(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    # repr-exact: as many digits as the float needs to read back the same, never "%.6g"
    _, rows = read_csv(out / "trajectories.csv")
    for row in rows:
        for column in ("epoch", "lr", "loss", "grad_norm", "w1", "w2"):
            assert repr(float(row[column])) == row[column]


def test_regression_loss_is_the_mean_squared_error_over_the_data(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2)) * [1.0, 3.0]
    y = x @ [1.5, -0.5] + 0.1 * rng.normal(size=40)
    with open(tmp_path / "points.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "y"])
        writer.writerows(
            [[repr(float(v)) for v in (a, b, c)] for (a, b), c in zip(x, y, strict=True)]
        )
    exp = write(
        tmp_path,
        """
steps = 12
[problem]
kind = "linear_regression"
data = "points.csv"
start = [0.5, 0.5]
[[runs]]
label = "minibatch"
optimizer = "momentum"
lr = 0.01
batch_size = 8
shuffle = true
[[runs]]
label = "full"
optimizer = "sgd"
lr = 0.02
""",
    )
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    _, rows = read_csv(out / "trajectories.csv")
    assert len(rows) == 2 * 13
    for row in rows:
        w = np.array([float(row["w1"]), float(row["w2"])])
        residual = x @ w - y
        assert float(row["loss"]) == pytest.approx(np.mean(residual**2), rel=1e-10)
        grad = 2 * x.T @ residual / len(y)
        assert float(row["grad_norm"]) == pytest.approx(np.linalg.norm(grad), rel=1e-9)
    # batch 8 of 40 examples: 5 updates per epoch
    epochs = [float(r["epoch"]) for r in rows_of(rows, 0)]
    assert epochs[5] == pytest.approx(1.0)
    assert epochs[12] == pytest.approx(12 / 5)
    assert [float(r["epoch"]) for r in rows_of(rows, 1)] == list(range(13))


def test_lr_column_is_the_rate_of_the_update_into_the_row(tmp_path):
    exp = write(
        tmp_path,
        """
steps = 14
[problem]
kind = "function"
name = "elongated_quadratic"
[[runs]]
label = "step"
optimizer = "sgd"
lr = 0.1
[runs.schedule]
kind = "step"
step_size = 5
gamma = 0.5
[[runs]]
label = "warmup"
optimizer = "sgd"
lr = 0.2
[runs.schedule]
warmup_steps = 4
warmup_start_factor = 0.25
""",
    )
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    _, rows = read_csv(out / "trajectories.csv")

    def step_rate(j):
        return 0.1 * 0.5 ** (j // 5)

    def warmup_rate(j):
        return 0.2 * (0.25 + 0.75 * min(j, 4) / 4)

    for run, rate in ((0, step_rate), (1, warmup_rate)):
        for row in rows_of(rows, run):
            k = int(row["step"])
            # row k holds the state after update k, made with the rate of update index k−1;
            # row 0 shows the rate the first update will use
            assert float(row["lr"]) == pytest.approx(rate(max(k - 1, 0)), rel=1e-12)


# ---- divergence ------------------------------------------------------------------------------

DIVERGING = """
steps = 50
[problem]
kind = "function"
name = "rosenbrock"
start = [-1.2, 1.0]
[[runs]]
label = "fine"
optimizer = "sgd"
lr = 0.001
[[runs]]
label = "sgd lr=0.01"
optimizer = "sgd"
lr = 0.01
"""


def test_a_diverged_run_stops_at_a_non_finite_row_and_is_reported(tmp_path, capsys):
    exp = write(tmp_path, DIVERGING)
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots"]) == 0
    captured = capsys.readouterr()
    _, rows = read_csv(out / "trajectories.csv")
    fine, wild = rows_of(rows, 0), rows_of(rows, 1)
    assert len(fine) == 51
    assert all(math.isfinite(float(r["loss"])) for r in fine)
    last = wild[-1]
    assert not math.isfinite(float(last["loss"])) or not all(
        math.isfinite(float(last[c])) for c in ("w1", "w2")
    )
    assert all(math.isfinite(float(r["loss"])) for r in wild[:-1])
    step = int(last["step"])
    assert 0 < step < 50
    assert f"run 1 'sgd lr=0.01' diverged at step {step}" in captured.out
    assert "fine" in captured.out  # the summary still lists every run


def test_a_diverged_run_still_gets_figures(tmp_path):
    exp = write(tmp_path, DIVERGING)
    out = tmp_path / "out"
    calls = []

    def render(built, history, out_dir):
        calls.append((built.experiment.title, history.diverged_at.tolist(), Path(out_dir)))
        (Path(out_dir) / "surface.png").write_bytes(b"png")
        return [Path(out_dir) / "surface.png"]

    assert runner.main([str(exp), "--out", str(out), "--quiet"], render=render) == 0
    assert len(calls) == 1
    assert calls[0][1][0] == -1
    assert calls[0][1][1] > 0
    assert calls[0][2] == out


@pytest.mark.parametrize(
    ("optimizer", "lr", "problem"),
    [
        ("sgd", "1e308", 'kind = "function"\nname = "rosenbrock"'),
        ("adam", "1.7976931348623157e308", 'kind = "function"\nname = "rosenbrock"'),
        ("sgd", "1e308", 'kind = "linear_regression"\nsamples = 20'),
    ],
)
def test_a_run_with_the_largest_finite_rate_diverges_and_gets_figures(
    tmp_path, capsys, monkeypatch, optimizer, lr, problem
):
    # a finite rate is a valid file whatever its size: the run diverges (a result), and the
    # figures' axes must not overflow on a rate of 1e308 (1.08 × 1e308 = inf)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    import main

    text = f"steps = 20\n[problem]\n{problem}\n[[runs]]\noptimizer = '{optimizer}'\nlr = {lr}\n"
    exp = write(tmp_path, text)
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out)], render=main._render_figures) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"run 0 '{optimizer}' diverged at step 1" in captured.out
    for name in ("surface.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


STREAMED = """
title = "streamed"
steps = 400
record_every = 3

[problem]
kind = "function"
name = "rosenbrock"
start = [-1.2, 1.0]

[[runs]]
label = "fine, slow"
optimizer = "sgd"
lr = 0.001

[[runs]]
label = "wild"
optimizer = "sgd"
lr = 0.01

[[runs]]
optimizer = "adam"
lr = 0.05
[runs.schedule]
kind = "cosine"
"""


def test_the_streamed_csv_is_the_table_of_the_whole_history(tmp_path, monkeypatch):
    # rows written window by window (many windows: a small chunk) make the very file that
    # the whole history makes at once, a diverged run cut at its divergence included
    from engine.experiment import build, parse_experiment
    from engine.records import write_trajectories_csv
    from engine.training import Trainer

    monkeypatch.setattr(runner, "CHUNK", 7)
    exp = write(tmp_path, STREAMED)
    out = tmp_path / "out"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    built = build(parse_experiment(__import__("tomllib").loads(STREAMED)), diagnostics=False)
    assert isinstance(built.trainer, Trainer)
    whole = built.trainer.run()
    assert whole.diverged_at[1] > 0
    expected = write_trajectories_csv(whole, tmp_path / "expected.csv")
    assert (out / "trajectories.csv").read_bytes() == expected.read_bytes()


def test_the_figures_get_a_bounded_selection_of_rows(tmp_path, monkeypatch):
    # the runner keeps a bounded sample for the figures (not every row): each run's
    # shape-keeping selection (the early rows, then rows by distance travelled; see
    # tests/engine/test_thinning.py), the divergence row and the last row
    from functools import partial

    from engine.records import RowSample

    monkeypatch.setattr(runner, "CHUNK", 50)
    monkeypatch.setattr(runner, "RowSample", partial(RowSample, early=20, budget=40))
    text = STREAMED.replace("steps = 400\nrecord_every = 3", "steps = 3000\nrecord_every = 1")
    exp = write(tmp_path, text)
    seen = []

    def render(built, history, out_dir):
        seen.append(history)
        return []

    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--quiet"], render=render) == 0
    (h,) = seen
    steps = h.step[: h.count]
    assert h.count <= 3 * (40 + 1) + 2  # three runs' thinned paths, the pinned rows
    assert h.count < 3001
    np.testing.assert_array_equal(steps[:20], np.arange(20))
    assert np.all(np.diff(steps) > 0)
    assert steps[-1] == 3000
    assert 0 < h.diverged_at[1] < 20
    assert h.rows_of(1) == h.diverged_at[1] + 1
    _, rows = read_csv(tmp_path / "o" / "trajectories.csv")
    assert len(rows_of(rows, 0)) == 3001  # the CSV has every row


def test_progress_continues_while_the_csv_is_put_together(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)
    exp = write(tmp_path, STREAMED)
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "writing trajectories.csv (100%)" in err
    assert any(line.startswith("step 400/400") for line in err)
    # (a run of the file diverges between recorded rows: the replay that finds its step
    # says so after the CSV is written)
    assert err[-1].startswith("finding the steps where runs diverged: ")
    assert err[-1].endswith("(100%)")


# ---- options -------------------------------------------------------------------------------


def test_no_plots_writes_no_png_and_never_calls_render(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "out"

    def render(*args):
        raise AssertionError("render must not be called with --no-plots")

    assert runner.main([str(exp), "--out", str(out), "--no-plots"], render=render) == 0
    assert sorted(p.name for p in out.iterdir()) == ["trajectories.csv"]


def test_quiet_prints_nothing_on_success(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_progress_lines_go_to_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(runner, "CHUNK", 5)
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "step 20/20 (100%)" in err
    assert "step 5/20 (25%)" in err


def test_output_folder_is_created_with_parents(tmp_path):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    out = tmp_path / "a" / "b" / "c"
    assert runner.main([str(exp), "--out", str(out), "--no-plots", "--quiet"]) == 0
    assert (out / "trajectories.csv").is_file()


# ---- refusals ------------------------------------------------------------------------------

# (file, what the one line must name: the key, or what is wrong where there is no key)
BAD_FILES = [
    ("toml_syntax.toml", "TOML syntax"),
    ("unknown_top_key.toml", "stpes"),
    ("unknown_run_key.toml", "runs[0].learning_rate"),
    ("negative_lr.toml", "runs[0].lr"),
    ("lr_string.toml", "runs[0].lr"),
    ("lr_quoted.toml", "runs[0].lr"),
    ("steps_decimal.toml", "steps"),
    ("mlp_batch_norm_yes.toml", "problem.batch_norm"),
    ("steps_zero.toml", "steps"),
    ("unknown_optimizer.toml", "runs[0].optimizer"),
    ("unknown_function.toml", "problem.name"),
    ("kind_unknown.toml", "problem.kind"),
    ("condition_on_himmelblau.toml", "problem.condition"),
    ("schedule_field_of_another_kind.toml", "runs[0].schedule.step_size"),
    ("mlp_zero_width.toml", "problem.hidden[1]"),
    (
        "mlp_width_too_large.toml",
        "problem.hidden[0]: 100,000 units is more than the limit of 4,096",
    ),
    ("mlp_too_many_layers.toml", "problem.hidden: 17 hidden layers is more than the limit of 16"),
    ("mlp_too_many_parameters.toml", "problem.hidden: at least 16,797,698 parameters"),
    ("mlp_csv_too_many_parameters.toml", "problem.hidden: 12,012,002 parameters per run"),
    ("mlp_runs_times_parameters.toml", "runs: 24 runs × at least 4,204,546 parameters"),
    ("mlp_step_activations.toml", "runs[0].batch_size: a step of all runs holds 179,232,000"),
    ("mlp_unknown_activation.toml", "problem.activation"),
    ("mlp_unknown_dataset.toml", "problem.dataset"),
    ("mlp_bad_cell.toml", "line 3, column 2"),
    ("mlp_init_missing_array.toml", "'linear1.bias'"),
    ("mlp_init_wrong_shape.toml", "'linear0.weight'"),
    ("mlp_validation_fraction_one.toml", "problem.validation_fraction"),
    ("mlp_bn_momentum.toml", "problem.bn_momentum"),
    ("mlp_batch_too_large.toml", "runs[0].batch_size"),
    ("beta1_on_sgd.toml", "runs[0].beta1"),
    ("beta2_one.toml", "runs[0].beta2"),
    ("batch_too_large.toml", "runs[0].batch_size"),
    ("missing_data_file.toml", "problem.data"),
    ("data_missing_column.toml", "problem.data"),
    ("warmup_start_factor_zero.toml", "runs[0].schedule.warmup_start_factor"),
    ("momentum_too_large.toml", "runs[0].momentum"),
    ("nesterov_zero_momentum.toml", "runs[0].momentum"),
    ("no_runs.toml", "runs"),
    ("unknown_schedule_kind.toml", "runs[0].schedule.kind"),
    ("bad_color.toml", "runs[0].color"),
    ("start_three_values.toml", "problem.start"),
    ("bad_dtype.toml", "dtype"),
    ("negative_feature_scale.toml", "problem.feature_scales"),
    ("not_utf8.toml", "UTF-8"),
    ("view_inverted.toml", "problem.view"),
    ("view_zero_size.toml", "problem.view"),
    ("start_nan.toml", "problem.start"),
    ("run_start_inf.toml", "runs[0].start"),
    ("condition_inf.toml", "problem.condition"),
    ("feature_scales_extreme.toml", "problem.feature_scales"),
    ("samples_too_many.toml", "problem.samples"),
    ("true_weights_overflow.toml", "problem.true_weights"),
    ("data_values_overflow.toml", "problem.data"),
    ("too_many_rows.toml", "steps"),
    ("empty.toml", "runs"),
]


def test_every_bad_file_is_in_the_table():
    assert sorted(p.name for p in BAD.glob("*.toml")) == sorted(name for name, _ in BAD_FILES)


@pytest.mark.parametrize(("name", "key"), BAD_FILES, ids=[name for name, _ in BAD_FILES])
def test_a_bad_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, name, key):
    out = tmp_path / "out"
    calls = []
    status = runner.main([str(BAD / name), "--out", str(out)], render=lambda *a: calls.append(a))
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert name in lines[0]
    assert key in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not out.exists()
    assert calls == []


def test_a_missing_experiment_file_exits_2(tmp_path, capsys):
    out = tmp_path / "out"
    assert runner.main([str(tmp_path / "nope.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "nope.toml" in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "argv", [[], ["exp.toml"], ["--out", "x"], ["exp.toml", "--out", "x", "--bogus"]]
)
def test_usage_errors_exit_2(argv, capsys):
    assert runner.main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert runner.main(["--help"]) == 0
    assert "--no-plots" in capsys.readouterr().out


def test_an_output_path_that_is_a_file_exits_1_with_one_line(tmp_path, capsys):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert runner.main([str(exp), "--out", str(blocker / "out"), "--no-plots"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "file.txt" in err[0]


def test_an_output_path_that_is_a_file_says_so(tmp_path, capsys):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    blocker = tmp_path / "results.csv"
    blocker.write_text("not a folder")
    assert runner.main([str(exp), "--out", str(blocker), "--no-plots"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "results.csv: is a file" in err[0]
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("where", ["build", "training"])
def test_running_out_of_memory_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, where):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 14.9 GiB for an array with shape (1000000000, 2)")

    if where == "build":
        monkeypatch.setattr(runner, "build", no_memory)
    else:
        from engine.training import Trainer

        monkeypatch.setattr(Trainer, "advance", no_memory)
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "out of memory" in err[0]
    assert "exp.toml" in err[0]


def test_duplicate_labels_are_told_apart_by_their_run_number(tmp_path, capsys):
    text = ROSENBROCK.format(record_every=1).replace('label = "adam"', 'label = "sgd"')
    exp = write(tmp_path, text)
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "run 0 'sgd' " in summary
    assert "run 1 'sgd' " in summary
    assert summary.index("run 0 'sgd'") < summary.index("run 1 'sgd'")


def test_a_warmup_longer_than_the_training_is_a_warning_not_an_error(tmp_path, capsys):
    text = ROSENBROCK.format(record_every=1) + (
        '\n[runs.schedule]\nkind = "cosine"\ntotal_steps = 5\nwarmup_steps = 30\n'
    )
    exp = write(tmp_path, text)
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("warning:")]
    assert len(warnings) == 1, out
    assert "runs[1].schedule.warmup_steps" in warnings[0]
    assert "30" in warnings[0]
    assert "20 steps" in warnings[0]


def test_a_full_disk_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    def full(self, history):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runner.TrajectoryWriter, "add", full)
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))
    assert runner.main([str(exp), "--out", str(tmp_path / "o"), "--no-plots"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "trajectories.csv" in err[0]
    assert os.strerror(errno.ENOSPC) in err[0]
    assert list((tmp_path / "o").iterdir()) == []  # no half-written table, no temporary


def test_figures_that_cannot_be_written_exit_1(tmp_path, capsys):
    exp = write(tmp_path, ROSENBROCK.format(record_every=1))

    def render(built, history, out_dir):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    assert runner.main([str(exp), "--out", str(tmp_path / "o")], render=render) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "figures" in err[0]
    assert (tmp_path / "o" / "trajectories.csv").is_file()


# ---- the shipped examples ------------------------------------------------------------------


def test_there_are_examples():
    names = [p.name for p in example_paths()]
    assert len(names) >= 5
    assert "rosenbrock_momentum_vs_adam.toml" in names


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_every_example_runs(path, tmp_path, capsys):
    out = tmp_path / "out"
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
    header, rows = read_csv(out / "trajectories.csv")
    assert header == COLUMNS
    assert rows
    text = path.read_text(encoding="utf-8")
    assert "title" in text
    assert "description" in text
    diverged = "diverged" in capsys.readouterr().out
    assert diverged == (path.stem == "divergence")


def test_the_runner_as_a_command(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    example = ROOT / "resources" / "experiments" / "saddle_point.toml"
    done = subprocess.run(
        [sys.executable, "main.py", "run", str(example), "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("trajectories.csv", "surface.png", "curves.png"):
        assert (out / name).is_file()
    for name in ("surface.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "surface.png" in done.stdout

    bad = subprocess.run(
        [sys.executable, "main.py", "run", str(BAD / "negative_lr.toml"), "--out", str(out / "x")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.splitlines()) == 1
    assert not (out / "x").exists()


def test_the_contracts_template_runs_and_says_its_batch_size_does_nothing_on_a_function(
    tmp_path, capsys
):
    """The format's own template (tests/contract_template.toml, the "File" block of
    shared/EXPERIMENT_FORMAT.md verbatim) is a Rosenbrock file with ``batch_size = 32``:
    it must run. A function has no examples to batch, so the setting is a warning line and
    the run is the one without it, row for row; a non-default ``shuffle`` or accumulation is
    said too."""
    template = (ROOT / "tests" / "contract_template.toml").read_text(encoding="utf-8")
    assert "batch_size = 32" in template
    assert 'name = "rosenbrock"' in template
    path = write(tmp_path, template, "template.toml")
    assert runner.main([str(path), "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "runs[0].batch_size: 32 has no effect on a function" in warnings[0]
    plain = "\n".join(
        line for line in template.splitlines()
        if not line.startswith(("batch_size", "shuffle", "drop_last", "accumulation_steps"))
    )  # fmt: skip
    plain_path = write(tmp_path, plain, "plain.toml")
    assert runner.main([str(plain_path), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    assert "warning" not in capsys.readouterr().out
    assert read_csv(tmp_path / "a" / "trajectories.csv") == read_csv(
        tmp_path / "b" / "trajectories.csv"
    )
    more = template.replace("shuffle = true", "shuffle = false").replace(
        "accumulation_steps = 1", "accumulation_steps = 4"
    )
    path = write(tmp_path, more, "more.toml")
    assert runner.main([str(path), "--out", str(tmp_path / "c"), "--no-plots"]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning")]
    assert [w.split(": ")[2] for w in said] == [
        "runs[0].batch_size", "runs[0].accumulation_steps", "runs[0].shuffle"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "problem",
    [
        '[problem]\nkind = "function"\nname = "rosenbrock"\nstart = [-1.5, 2.0]\n',
        '[problem]\nkind = "linear_regression"\nsamples = 40\nfeature_scales = [1.0, 3.0]\n',
    ],
    ids=["rosenbrock", "regression"],
)
def test_a_divergence_between_recorded_rows_is_said_at_its_step(tmp_path, capsys, problem):
    """With record_every = 10 a divergence was found at the next recorded row: "diverged at
    step 10", a row of NaN there, where the loss overflowed at step 7. The runs' rows are
    those of record_every = 1 at the recorded steps, and a diverged run's last row is its
    row at the step it diverged at (the oracle: the same file with every step recorded)."""
    runs = (
        '[[runs]]\noptimizer = "sgd"\nlr = 0.001\n{batch}'
        '[[runs]]\nlabel = "wild"\noptimizer = "sgd"\nlr = {wild}\n{batch}'
        '[[runs]]\noptimizer = "adam"\nlr = 0.05\n{batch}'
    )
    regression = "regression" in problem
    runs = runs.format(wild=1e5 if regression else 0.01,
                       batch="batch_size = 8\n" if regression else "")  # fmt: skip
    text = f"steps = 60\n{problem}{runs}"
    every = write(tmp_path, text, "every.toml")
    sparse = write(tmp_path, "record_every = 10\n" + text, "sparse.toml")
    assert runner.main([str(every), "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    said_every = capsys.readouterr().out
    assert runner.main([str(sparse), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    said_sparse = capsys.readouterr().out
    _, all_rows = read_csv(tmp_path / "a" / "trajectories.csv")
    _, rows = read_csv(tmp_path / "b" / "trajectories.csv")
    diverged = [line for line in said_every.splitlines() if "diverged at step" in line]
    assert len(diverged) == 1
    assert "'wild'" in diverged[0]
    assert diverged[0] in said_sparse  # the same step said
    at = int(diverged[0].rsplit(" ", 1)[1])
    assert at % 10 != 0  # (between two recorded rows)
    for run in ("0", "1", "2"):
        mine = [r for r in rows if r["run"] == run]
        theirs = [r for r in all_rows if r["run"] == run]
        last = int(theirs[-1]["step"])
        wanted = [r for r in theirs if int(r["step"]) % 10 == 0 or int(r["step"]) == last]
        assert mine == wanted, run
    wild = [r for r in rows if r["run"] == "1"]
    assert int(wild[-1]["step"]) == at
    assert not math.isfinite(float(wild[-1]["loss"]))


def _regression_pair(tmp_path, record_every):
    """Two full-batch runs in one lane (their gradients one batched product, whose rounding
    depends on the runs in it); the second diverges at step 174."""
    text = (
        f"steps = 300\nrecord_every = {record_every}\n"
        '[problem]\nkind = "linear_regression"\nsamples = 57\nfeature_scales = [1, 10]\n'
        '[[runs]]\nlabel = "small"\nlr = 0.001\n[[runs]]\nlabel = "big"\nlr = 0.045\n'
    )
    return write(tmp_path, text, f"pair{record_every}.toml")


def test_the_row_a_divergence_is_said_at_is_the_batched_runs_own(tmp_path, capsys):
    """The replay trains every run as it was batched: a run replayed alone differed from
    the batched one in its last digits (w1 3.308254998415888e+151 against ...893e+151)."""
    for k in (1, 10):
        out = tmp_path / f"o{k}"
        assert runner.main([str(_regression_pair(tmp_path, k)), "--out", str(out),
                            "--no-plots"]) == 0  # fmt: skip
        assert "run 1 'big' diverged at step 174" in capsys.readouterr().out
    every = read_csv(tmp_path / "o1" / "trajectories.csv")[1]
    sparse = read_csv(tmp_path / "o10" / "trajectories.csv")[1]
    assert [r for r in sparse if r["run"] == "1"][-1] == [r for r in every if r["run"] == "1"][-1]
    assert [r for r in sparse if r["run"] == "1"][-1]["step"] == "174"


def test_a_full_disk_leaves_the_csv_whole_and_says_so(tmp_path, capsys, monkeypatch):
    """Writing the CSV again for the divergence's row needs room for a second copy: where
    there is none, a warning says so, the file stays as written (complete), the step said
    is the recorded row's, and the exit status stays 0."""
    from engine import records

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "replace_last_rows", full)
    out = tmp_path / "o"
    assert runner.main([str(_regression_pair(tmp_path, 10)), "--out", str(out),
                        "--no-plots"]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert "run 1 'big' diverged at step 180" in said.out
    assert "could not be written (No space left on device)" in said.err
    rows = read_csv(out / "trajectories.csv")[1]
    assert [r["step"] for r in rows if r["run"] == "1"][-1] == "180"
    assert records.replace_last_rows is not full  # (only the runner's name was patched)


def test_a_runs_label_is_one_line(tmp_path, capsys):
    path = write(tmp_path, '[[runs]]\nlabel = "two\\nlines"\noptimizer = "sgd"\n')
    assert runner.main([str(path), "--out", str(tmp_path / "o")]) == 2
    assert "runs[0].label: a run's label is one line (no line breaks)" in capsys.readouterr().err
