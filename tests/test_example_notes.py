"""The examples' notes say what their plots show: each claim of a note (its ``description``)
and of the README's examples table is pinned here to the numbers of the run it describes.

Every example is run as ``main.py run X.toml --out DIR`` runs it, and the claims are checked
against ``trajectories.csv``. A claim is a fragment of the text and the check that makes it
true: change the numbers (an engine change, a new rate in the file) and the check fails;
change the text and the fragment is no longer found. Either way the note cannot go false
without a failing test. "What to try" claims (set normalize_features = true...) are checked
on a copy of the example changed as the note says.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from engine import datasets, runner
from engine.experiment import load_experiment
from resources import example_paths, experiments_dir, network_example_paths

ROOT = Path(__file__).resolve().parents[1]


NETWORK_COLUMNS = ("accuracy", "val_loss", "val_accuracy")


@dataclass
class Run:
    """One run's rows of trajectories.csv (the row of step k at index k: record_every = 1);
    a network's also its evaluation-mode accuracies and its final state from params.npz."""

    label: str
    step: np.ndarray
    epoch: np.ndarray
    lr: np.ndarray
    loss: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    accuracy: np.ndarray | None = None
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)  # PyTorch's names, no prefix

    def first_below(self, threshold: float) -> int | None:
        below = np.flatnonzero(self.loss < threshold)
        return int(self.step[below[0]]) if below.size else None

    def first_reaching(self, column: str, threshold: float) -> int | None:
        reached = np.flatnonzero(getattr(self, column) >= threshold)
        return int(self.step[reached[0]]) if reached.size else None

    def at(self, column: str, step: int) -> float:
        index = int(np.flatnonzero(self.step == step)[0])
        return float(getattr(self, column)[index])

    def last(self, column: str) -> float:
        return float(getattr(self, column)[-1])

    def tail_mean(self, n: int) -> float:
        return float(self.loss[-n:].mean())

    def step_length(self, k: int) -> float:
        return math.hypot(self.w1[k] - self.w1[k - 1], self.w2[k] - self.w2[k - 1])

    def trainable(self) -> dict[str, np.ndarray]:
        """The final weights the optimizer trains (batch norm's running statistics left out)."""
        return {k: v for k, v in self.params.items() if ".running_" not in k}


Runs = dict[str, Run]


def _number(text: str) -> float:
    return float(text) if text != "" else math.nan  # an empty cell: no validation split


def read_runs(csv_path: Path) -> Runs:
    """The runs of trajectories.csv by label, with params.npz beside it (a network's)."""
    columns: dict[str, dict[str, list[float]]] = {}
    index: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        names = ["step", "epoch", "lr", "loss", "w1", "w2"]
        names += [c for c in NETWORK_COLUMNS if c in (reader.fieldnames or ())]
        for row in reader:
            run = columns.setdefault(row["label"], {k: [] for k in names})
            index.setdefault(row["label"], int(row["run"]))
            for key, values in run.items():
                values.append(_number(row[key]))
    params_path = csv_path.with_name(runner.PARAMS_NAME)
    saved = dict(np.load(params_path)) if params_path.is_file() else {}
    runs = {}
    for label, values in columns.items():
        prefix = f"run{index[label]}."
        params = {k.removeprefix(prefix): v for k, v in saved.items() if k.startswith(prefix)}
        arrays = {k: np.array(v) for k, v in values.items()}
        runs[label] = Run(label, **arrays, params=params)
    return runs


def run_file(path: Path, out: Path) -> Runs:
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
    return read_runs(out / runner.CSV_NAME)


_cache: dict[str, Runs] = {}


@pytest.fixture(scope="module")
def runs_of(tmp_path_factory) -> Callable[[str], Runs]:
    """The runs of a shipped example, run once per module."""

    def get(name: str) -> Runs:
        if name not in _cache:
            out = tmp_path_factory.mktemp(name.removesuffix(".toml").replace("/", "-"))
            _cache[name] = run_file(experiments_dir() / name, out)
        return _cache[name]

    return get


def variant(
    tmp_path: Path,
    name: str,
    *,
    problem: dict | None = None,
    runs: list[dict],
    steps: int | None = None,
) -> Runs:
    """The example changed as a note suggests: other runs, some problem keys set."""
    data = tomllib.loads((experiments_dir() / name).read_text(encoding="utf-8"))
    data["problem"] = {**data["problem"], **(problem or {})}
    data["runs"] = runs
    if steps is not None:
        data["steps"] = steps
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / Path(name).name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return run_file(path, tmp_path / "out")


def words(text: str) -> str:
    return " ".join(text.split())


def description(name: str) -> str:
    return words(
        tomllib.loads((experiments_dir() / name).read_text(encoding="utf-8"))["description"]
    )


def readme_row(name: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^\| `{re.escape(name)}` \|(.*)$", readme, flags=re.M)
    assert match, f"the README's examples table has no row for {name}"
    return words(match.group(1))


def final(run: Run) -> float:
    return float(run.loss[-1])


def on_min(run: Run, minimum: float, rel: float = 1e-3) -> int:
    """First step whose loss is within ``rel`` of ``minimum``."""
    return int(run.step[np.argmax(run.loss <= minimum * (1 + rel))])


def plateau(run: Run, width: float) -> tuple[int, int]:
    """First and last step with |loss| < width."""
    near = run.step[np.abs(run.loss) < width]
    return int(near[0]), int(near[-1])


# ---- the claims, example by example -----------------------------------------------------------
# (fragment of the description, fragment of the README row, check(runs, tmp_path)); either
# fragment may be None where only the other text makes the claim


def _rosenbrock():
    n = "rosenbrock_momentum_vs_adam.toml"
    return n, [
        (
            "its loss is still 4.2 at step 600",
            "loss 4.2 at step 600",
            lambda r, t: round(final(r["sgd"]), 1) == 4.2 and r["sgd"].step[-1] == 600,
        ),
        (
            "reaches loss < 0.01 at step 416",
            None,
            lambda r, t: r["momentum"].first_below(0.01) == 416,
        ),
        (
            "its first step is 1.9× SGD's",
            None,
            lambda r, t: (
                r["nesterov"].step_length(1) / r["sgd"].step_length(1) == pytest.approx(1.9)
            ),
        ),
        (
            "the loss jumps from 12.5 to 281 at step 3",
            "loss 281 at step 3",
            lambda r, t: (
                round(r["nesterov"].at("loss", 0), 1) == 12.5
                and round(r["nesterov"].at("loss", 3)) == 281
                and r["nesterov"].at("loss", 3) == max(r["nesterov"].loss)
            ),
        ),
        ("loss < 0.01 at step 306", None, lambda r, t: r["nesterov"].first_below(0.01) == 306),
        (
            "the lowest loss at step 600 (0.0007; momentum 0.0018)",
            "then gets lowest",
            lambda r, t: (
                min(r, key=lambda k: final(r[k])) == "nesterov"
                and round(final(r["nesterov"]), 4) == 0.0007
                and round(final(r["momentum"]), 4) == 0.0018
            ),
        ),
        (
            "they are slower than momentum here",
            "slower than momentum",
            lambda r, t: final(r["momentum"]) < min(final(r["adam"]), final(r["rmsprop"])),
        ),
        (
            "Adam's loss falls below 1 at step 340, RMSProp's at step 499",
            None,
            lambda r, t: (r["adam"].first_below(1), r["rmsprop"].first_below(1)) == (340, 499),
        ),
        (
            "crawls along the floor",
            "SGD crawls",
            lambda r, t: final(r["sgd"]) == max(final(x) for x in r.values()),
        ),
    ]


def _saddle():
    n = "saddle_point.toml"
    return n, [
        (
            "its loss stays within 0.01 of 0 from step 144 to step 349",
            "from step 144 to 349",
            lambda r, t: (
                plateau(r["sgd"], 0.01) == (144, 349)
                and bool(np.all(np.abs(r["sgd"].loss[144:350]) < 0.01))
            ),
        ),
        ("falls below −0.5 only at step 461", None, lambda r, t: r["sgd"].first_below(-0.5) == 461),
        (
            "loss below −0.5 at step 93",
            "momentum leaves by step 93",
            lambda r, t: r["momentum 0.9"].first_below(-0.5) == 93,
        ),
        (
            "escapes first (step 25)",
            "Adam by step 25",
            lambda r, t: r["adam"].first_below(-0.5) == 25,
        ),
        (
            "where f = −1",
            None,
            lambda r, t: all(round(final(x), 3) == -1.0 for x in r.values() if x.label != "sgd"),
        ),
    ]


def _feature_scaling():
    n = "feature_scaling.toml"
    best = lambda r: min(final(x) for x in r.values())  # noqa: E731

    def zigzags(run: Run) -> bool:  # w2's steps alternate in sign
        steps = np.sign(np.diff(run.w2[:20]))
        return bool(np.all(steps[1:] == -steps[:-1]))

    def runs_away(r, t):
        away = variant(t, n, runs=[{"label": "a", "optimizer": "sgd", "lr": 0.01}])["a"]
        return final(away) > 1e4 * away.loss[0] and bool(np.all(np.diff(away.loss[50:]) > 0))

    def round_bowl(r, t):
        bowl = variant(
            t,
            n,
            problem={"normalize_features": True},
            runs=[{"label": "b", "optimizer": "sgd", "lr": 0.3}],
        )["b"]
        return (
            on_min(bowl, float(bowl.loss.min())) == 8 and round(float(bowl.loss.min()), 2) == 0.44
        )

    return n, [
        (
            "zig-zags across the valley",
            "zig-zags",
            lambda r, t: zigzags(r["sgd lr=0.0095"]) and not zigzags(r["sgd lr=0.002"]),
        ),
        (
            "gets to w1 = 1.90 (the minimum is at 1.975)",
            None,
            lambda r, t: (
                round(r["sgd lr=0.0095"].w1[-1], 2) == 1.90
                and round(r["adagrad lr=1"].w1[-1], 3) == 1.975
            ),
        ),
        (
            "slower still (w1 = 0.60)",
            "crawls",
            lambda r, t: (
                round(r["sgd lr=0.002"].w1[-1], 2) == 0.60
                and final(r["sgd lr=0.002"]) > final(r["sgd lr=0.0095"])
            ),
        ),
        ("lr = 0.01 already runs away", None, runs_away),
        (
            "Adagrad is at the minimum (loss 0.246) by step 15",
            "Adagrad reaches the minimum by step 15",
            lambda r, t: round(best(r), 3) == 0.246 and on_min(r["adagrad lr=1"], best(r)) == 15,
        ),
        (
            "gets there by step 125",
            "Adam by step 125",
            lambda r, t: on_min(r["adam lr=0.1"], best(r)) == 125,
        ),
        (
            "Adam overshoots along w1 first",
            None,
            lambda r, t: r["adam lr=0.1"].w1.max() > r["adam lr=0.1"].w1[-1] + 0.2,
        ),
        ("reaches its minimum in 8 steps", "SGD crosses in 8 steps", round_bowl),
    ]


def _adaptive():
    n = "adaptive_lr.toml"
    return n, [
        (
            None,
            "Adam are all below loss 0.01 by then",
            lambda r, t: all(final(x) < 0.01 for x in r.values() if x.label != "sgd"),
        ),
        (
            "it zig-zags across w2",
            "SGD zig-zags",
            lambda r, t: bool(np.all(np.sign(r["sgd"].w2[1:4]) == [-1, 1, -1])),
        ),
        (
            "its loss still 0.07 at step 100",
            "loss 0.07 at step 100",
            lambda r, t: (
                round(final(r["sgd"]), 2) == 0.07
                and final(r["sgd"]) == max(final(x) for x in r.values())
            ),
        ),
        (
            "PyTorch's reaches loss 2e-9 at step 100, the lecture's 0.008",
            None,
            lambda r, t: (
                f"{final(r['adagrad (pytorch)']):.0e}" == "2e-09"
                and round(final(r["adagrad (lecture)"]), 3) == 0.008
            ),
        ),
        (
            "takes a first step 3.2× the lecture's",
            None,
            lambda r, t: (
                round(
                    r["rmsprop (pytorch)"].step_length(1) / r["rmsprop (lecture)"].step_length(1), 1
                )
                == 3.2
            ),
        ),
        (
            "both fall below loss 1e-6 (steps 80 and 90)",
            None,
            lambda r, t: (
                (r["rmsprop (pytorch)"].first_below(1e-6), r["rmsprop (lecture)"].first_below(1e-6))
                == (80, 90)
            ),
        ),
        (
            "(w1 = 0.20 at step 50)",
            None,
            lambda r, t: round(r["adam"].at("w1", 50), 2) == 0.20 and r["adam"].w1[0] < 0,
        ),
        ("reaches loss < 0.01 at step 68", None, lambda r, t: r["adam"].first_below(0.01) == 68),
    ]


def _schedules():
    n = "lr_schedules.toml"

    def halves(r, t):
        half = variant(t, n, runs=[{"label": "h", "optimizer": "sgd", "lr": 0.05}])["h"]
        return round(half.tail_mean(100), 3) == 0.050

    return n, [
        ("loss < 0.01 at step 21", None, lambda r, t: r["constant"].first_below(0.01) == 21),
        (
            "its mean over the last 100 steps is 0.10",
            "mean loss 0.10 over the last 100 steps",
            lambda r, t: round(r["constant"].tail_mean(100), 2) == 0.10,
        ),
        ("that mean halves (0.050)", None, halves),
        (
            "step decay, ×0.1 every 100 updates, 0.0011",
            "step decay 0.0011",
            lambda r, t: round(r["step (×0.1 every 100)"].tail_mean(100), 4) == 0.0011,
        ),
        (
            "inverse_sqrt, the lecture's η/√(t+1), 0.013",
            "η/√(t+1) 0.013",
            lambda r, t: round(r["inverse_sqrt"].tail_mean(100), 3) == 0.013,
        ),
        (
            "warmup + cosine 0.033",
            "warmup + cosine 0.033",
            lambda r, t: round(r["warmup 50 + cosine"].tail_mean(100), 3) == 0.033,
        ),
        (
            "Warmup starts at a tenth of the rate and grows over the first 50 updates",
            None,
            lambda r, t: (
                # row k holds the rate update k used: updates 1 … 50 warm up, 51 has η
                r["warmup 50 + cosine"].lr[1] == pytest.approx(0.01)
                and bool(np.all(np.diff(r["warmup 50 + cosine"].lr[1:52]) > 0))
                and r["warmup 50 + cosine"].lr[51] == pytest.approx(0.1)
                and r["warmup 50 + cosine"].lr.max() == pytest.approx(0.1)
            ),
        ),
        ("down to zero at step 400", None, lambda r, t: r["warmup 50 + cosine"].lr[-1] < 1e-4),
    ]


def _batch_size():
    n = "batch_size.toml"
    full = "full batch (256)"

    def near_full(r, label):
        return math.hypot(r[label].w1[-1] - r[full].w1[-1], r[label].w2[-1] - r[full].w2[-1])

    return n, [
        (
            "it has seen less than one epoch (0.78)",
            None,
            lambda r, t: round(r["batch 1"].epoch[-1], 2) == 0.78,
        ),
        (
            "It ends at loss 1.05 and keeps jumping (up to 1.28 in the last 100 steps)",
            None,
            lambda r, t: (
                round(final(r["batch 1"]), 2) == 1.05
                and round(r["batch 1"].loss[-100:].max(), 2) == 1.28
            ),
        ),
        ("the full batch ends at 0.943", None, lambda r, t: round(final(r[full]), 3) == 0.943),
        (
            "Batches of 16 and 32 follow the full-batch path closely",
            None,
            lambda r, t: (
                max(near_full(r, "batch 16"), near_full(r, "batch 32"))
                < near_full(r, "batch 1") / 5
            ),
        ),
        (
            "their paths agree to 1e-12",
            "lands on batch 32's path (to 1e-12)",
            lambda r, t: (
                max(
                    np.abs(r["batch 32"].w1 - r["4 × 8, accumulated"].w1).max(),
                    np.abs(r["batch 32"].w2 - r["4 × 8, accumulated"].w2).max(),
                )
                < 1e-12
            ),
        ),
    ]


def _divergence():
    n = "divergence.toml"
    return n, [
        (
            "the loss is still 2.7 at step 400",
            None,
            lambda r, t: round(final(r["lr = 0.001"]), 1) == 2.7,
        ),
        (
            "the loss jumps from 24 to 125 at step 1, then 59 and 110",
            None,
            lambda r, t: [round(x) for x in r["lr = 0.0035"].loss[:4]] == [24, 125, 59, 110],
        ),
        (
            "to loss 0.054 at step 400",
            None,
            lambda r, t: round(final(r["lr = 0.0035"]), 3) == 0.054,
        ),
        (
            "(loss 24, 204, 8400, 4.8e9, …)",
            None,
            lambda r, t: (
                [f"{x:.2g}" for x in r["lr = 0.008"].loss[:4]]
                == ["24", "2e+02", "8.4e+03", "4.8e+09"]
            ),
        ),
        (
            "no longer a finite number at step 7",
            "the largest diverges at step 7",
            lambda r, t: (
                r["lr = 0.008"].step[-1] == 7
                and not math.isfinite(final(r["lr = 0.008"]))
                and bool(np.all(np.isfinite(r["lr = 0.008"].loss[:-1])))
            ),
        ),
    ]


CLAIMS = dict(
    f()
    for f in (
        _rosenbrock,
        _saddle,
        _feature_scaling,
        _adaptive,
        _schedules,
        _batch_size,
        _divergence,
    )
)


# ---- networks (resources/experiments/networks/): checks take get(name) -> that example's runs


def split_sizes(name: str) -> tuple[int, int]:
    """Training and validation examples of an example's data set, as the runner splits it."""
    experiment = load_experiment(experiments_dir() / name)
    problem = experiment.problem
    data = datasets.load_dataset(
        problem.dataset,
        experiment.seed,
        samples=problem.samples,
        noise=problem.noise,
        classes=problem.classes,
    )
    parts = datasets.split(data, problem.validation_fraction, experiment.seed)
    return len(parts.y_train), len(parts.y_val)


def max_abs_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    assert a
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def relative_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """‖a − b‖ / ‖a‖ over every array together."""
    assert a.keys() == b.keys()
    assert a
    return math.sqrt(sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)) / math.sqrt(
        sum(float((a[k] ** 2).sum()) for k in a)
    )


PLAIN = "networks/digits_plain.toml"
WITH_BN = "networks/digits_batch_norm.toml"
ACCUMULATION = "networks/accumulation.toml"
ACCUMULATION_BN = "networks/accumulation_batch_norm.toml"


def _digits_plain():
    n = PLAIN
    return n, [
        (
            "(1,437 training images, 360 held out)",
            None,
            lambda r, t, get: split_sizes(n) == (1437, 360),
        ),
        (
            "SGD: training loss 0.69 at step 100 and 0.20 at step 300 (accuracy 0.96, "
            "validation 0.96)",
            "SGD 0.20",
            lambda r, t, get: (
                round(r["sgd"].at("loss", 100), 2) == 0.69
                and round(final(r["sgd"]), 2) == 0.20
                and r["sgd"].step[-1] == 300
                and round(r["sgd"].last("accuracy"), 2) == 0.96
                and round(r["sgd"].last("val_accuracy"), 2) == 0.96
            ),
        ),
        (
            "Momentum: 0.061 at step 100 and 0.012 at step 300 (accuracy 1.00, validation 0.97)",
            "momentum 0.012",
            lambda r, t, get: (
                round(r["momentum"].at("loss", 100), 3) == 0.061
                and round(final(r["momentum"]), 3) == 0.012
                and round(r["momentum"].last("accuracy"), 2) == 1.00
                and round(r["momentum"].last("val_accuracy"), 2) == 0.97
            ),
        ),
    ]


def _digits_batch_norm():
    n = WITH_BN
    bn, bn_m = "sgd + BN", "momentum + BN"
    return n, [
        (
            "without batch norm (batch_norm = false in the run: the runs of digits_plain.toml, "
            "the same losses to float32 rounding)",
            None,
            lambda r, t, get: all(
                np.allclose(r[k].loss, get(PLAIN)[k].loss, rtol=1e-5, atol=0)
                and not np.array_equal(r[k].loss, r[k + " + BN"].loss)
                for k in ("sgd", "momentum")
            ),
        ),
        (
            "All four start from the same weights with the same loss (2.33)",
            None,
            lambda r, t, get: (
                round(r[bn].loss[0], 2) == 2.33
                and all(abs(r[k].loss[0] - r[bn].loss[0]) < 1e-4 for k in r)
                and all(r[k].params["linear0.weight"].shape == (64, 64) for k in r)
            ),
        ),
        (
            "SGD gains most: loss 0.435 at step 100 (0.690 without), 0.14 at step 300 (0.20 "
            "without), accuracy 0.98 (validation 0.97)",
            "SGD 0.14 (0.20 without)",
            lambda r, t, get: (
                round(r[bn].at("loss", 100), 3) == 0.435
                and round(r["sgd"].at("loss", 100), 3) == 0.690
                and round(final(r[bn]), 2) == 0.14
                and round(final(r["sgd"]), 2) == 0.20
                and round(r[bn].last("accuracy"), 2) == 0.98
                and round(r[bn].last("val_accuracy"), 2) == 0.97
            ),
        ),
        (
            "Momentum is ahead early (loss 0.26 at step 25, 0.40 without) but ends a little "
            "behind (0.019 at step 300, 0.012 without)",
            "momentum 0.019 (0.012 without)",
            lambda r, t, get: (
                round(r[bn_m].at("loss", 25), 2) == 0.26
                and round(r["momentum"].at("loss", 25), 2) == 0.40
                and round(final(r[bn_m]), 3) == 0.019
                and round(final(r["momentum"]), 3) == 0.012
            ),
        ),
    ]


def _moons():
    n = "networks/moons_optimizers.toml"

    def straight_line(r, t, get):
        line = variant(
            t,
            n,
            problem={"hidden": []},
            runs=[{"label": "line", "optimizer": "adam", "lr": 0.01, "batch_size": 32}],
            steps=1000,
        )["line"]
        sgd = r["sgd"]
        return all(
            round(run.last(column), 2) == value
            for run in (sgd, line)
            for column, value in (("loss", 0.21), ("accuracy", 0.92), ("val_accuracy", 0.84))
        )

    return n, [
        ("(300 for training, 100 held out)", None, lambda r, t, get: split_sizes(n) == (300, 100)),
        (
            "SGD (η = 0.1) ends at training loss 0.21 and accuracy 0.92 (validation 0.84): where "
            "the best straight line ends, since softmax regression (hidden = []) trained for "
            "1,000 steps gets the same 0.21, 0.92 and 0.84",
            "SGD stays at a straight line's accuracy (0.92)",
            straight_line,
        ),
        (
            "Momentum at the same rate (μ = 0.9) passes accuracy 0.95 at step 68, Adam (η = 0.01) "
            "at step 106",
            "momentum passes accuracy 0.95 at step 68, Adam at step 106",
            lambda r, t, get: (
                r["momentum"].first_reaching("accuracy", 0.95) == 68
                and r["adam"].first_reaching("accuracy", 0.95) == 106
                and r["sgd"].first_reaching("accuracy", 0.95) is None
            ),
        ),
        (
            "both end at accuracy 0.99 (validation 0.99), loss 0.012 and 0.014",
            None,
            lambda r, t, get: (
                all(
                    round(r[k].last("accuracy"), 2) == 0.99
                    and round(r[k].last("val_accuracy"), 2) == 0.99
                    for k in ("momentum", "adam")
                )
                and round(final(r["momentum"]), 3) == 0.012
                and round(final(r["adam"]), 3) == 0.014
            ),
        ),
    ]


LARGE, ACCUMULATED, SMALL = "batch 64", "4 × 16, accumulated", "batch 16"


def _accumulation():
    n = ACCUMULATION
    return n, [
        (
            "their losses agree to 1e-6 at every one of the 200 steps and their final weights to "
            "1e-6",
            "agree to 1e-6",
            lambda r, t, get: (
                r[LARGE].step[-1] == 200
                and len(r[LARGE].loss) == 201
                and float(np.abs(r[LARGE].loss - r[ACCUMULATED].loss).max()) < 1e-6
                and max_abs_difference(r[LARGE].params, r[ACCUMULATED].params) < 1e-6
            ),
        ),
        (
            "A batch of 16 alone is another path: loss 0.25 at step 200 against 0.022",
            None,
            lambda r, t, get: (
                round(final(r[SMALL]), 2) == 0.25 and round(final(r[LARGE]), 3) == 0.022
            ),
        ),
    ]


def _accumulation_batch_norm():
    n = ACCUMULATION_BN
    return n, [
        (
            "Their evaluation-mode losses differ by up to 0.175 (step 6: 1.47 accumulated, 1.65 "
            "batch 64) and end at 0.051 against 0.035",
            "differ by up to 0.175 in loss",
            lambda r, t, get: (
                round(float(np.abs(r[LARGE].loss - r[ACCUMULATED].loss).max()), 3) == 0.175
                and int(np.abs(r[LARGE].loss - r[ACCUMULATED].loss).argmax()) == 6
                and round(r[ACCUMULATED].at("loss", 6), 2) == 1.47
                and round(r[LARGE].at("loss", 6), 2) == 1.65
                and round(final(r[ACCUMULATED]), 3) == 0.051
                and round(final(r[LARGE]), 3) == 0.035
            ),
        ),
        (
            "the final weights differ by 15% of their norm (a batch of 16 alone: 51%)",
            None,
            lambda r, t, get: (
                round(relative_distance(r[LARGE].trainable(), r[ACCUMULATED].trainable()), 2)
                == 0.15
                and round(relative_distance(r[LARGE].trainable(), r[SMALL].trainable()), 2) == 0.51
            ),
        ),
        (
            "without batch norm (accumulation.toml) the two agree to 1e-6",
            None,
            lambda r, t, get: (
                float(
                    np.abs(
                        get(ACCUMULATION)[LARGE].loss - get(ACCUMULATION)[ACCUMULATED].loss
                    ).max()
                )
                < 1e-6
            ),
        ),
    ]


NETWORK_CLAIMS = dict(
    f()
    for f in (_digits_plain, _digits_batch_norm, _moons, _accumulation, _accumulation_batch_norm)
)


def test_every_example_has_its_notes_pinned():
    assert sorted(CLAIMS) == sorted(p.name for p in example_paths())
    assert sorted(NETWORK_CLAIMS) == sorted(
        p.relative_to(experiments_dir()).as_posix() for p in network_example_paths()
    )


@pytest.mark.parametrize("name", sorted(CLAIMS) + sorted(NETWORK_CLAIMS))
def test_the_notes_say_what_the_runs_show(name, runs_of, tmp_path):
    runs = runs_of(name)
    text, row = description(name), readme_row(name)
    if name in NETWORK_CLAIMS:  # a network's claims may compare it with another example
        claims = [(f, rf, partial(check, get=runs_of)) for f, rf, check in NETWORK_CLAIMS[name]]
    else:
        claims = CLAIMS[name]
    wrong = []
    for i, (fragment, readme_fragment, check) in enumerate(claims):
        if fragment is not None and fragment not in text:
            wrong.append(f"the note no longer says {fragment!r}")
        if readme_fragment is not None and readme_fragment not in row:
            wrong.append(f"the README row no longer says {readme_fragment!r}")
        if not check(runs, tmp_path / str(i)):
            wrong.append(f"false: {fragment!r}")
    assert wrong == []
