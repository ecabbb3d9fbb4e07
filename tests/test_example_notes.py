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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from engine import runner
from resources import example_paths, experiments_dir

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """One run's rows of trajectories.csv (the row of step k at index k: record_every = 1)."""

    label: str
    step: np.ndarray
    epoch: np.ndarray
    lr: np.ndarray
    loss: np.ndarray
    w1: np.ndarray
    w2: np.ndarray

    def first_below(self, threshold: float) -> int | None:
        below = np.flatnonzero(self.loss < threshold)
        return int(self.step[below[0]]) if below.size else None

    def at(self, column: str, step: int) -> float:
        index = int(np.flatnonzero(self.step == step)[0])
        return float(getattr(self, column)[index])

    def tail_mean(self, n: int) -> float:
        return float(self.loss[-n:].mean())

    def step_length(self, k: int) -> float:
        return math.hypot(self.w1[k] - self.w1[k - 1], self.w2[k] - self.w2[k - 1])


Runs = dict[str, Run]


def read_runs(csv_path: Path) -> Runs:
    columns: dict[str, dict[str, list[float]]] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            run = columns.setdefault(
                row["label"], {k: [] for k in ("step", "epoch", "lr", "loss", "w1", "w2")}
            )
            for key, values in run.items():
                values.append(float(row[key]))
    return {
        label: Run(label, **{k: np.array(v) for k, v in values.items()})
        for label, values in columns.items()
    }


def run_file(path: Path, out: Path) -> Runs:
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
    return read_runs(out / runner.CSV_NAME)


_cache: dict[str, Runs] = {}


@pytest.fixture(scope="module")
def runs_of(tmp_path_factory) -> Callable[[str], Runs]:
    """The runs of a shipped example, run once per module."""

    def get(name: str) -> Runs:
        if name not in _cache:
            out = tmp_path_factory.mktemp(name.removesuffix(".toml"))
            _cache[name] = run_file(experiments_dir() / name, out)
        return _cache[name]

    return get


def variant(tmp_path: Path, name: str, *, problem: dict | None = None, runs: list[dict]) -> Runs:
    """The example changed as a note suggests: other runs, some problem keys set."""
    data = tomllib.loads((experiments_dir() / name).read_text(encoding="utf-8"))
    data["problem"] = {**data["problem"], **(problem or {})}
    data["runs"] = runs
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
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


def test_every_example_has_its_notes_pinned():
    assert sorted(CLAIMS) == sorted(p.name for p in example_paths())


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_the_notes_say_what_the_runs_show(name, runs_of, tmp_path):
    runs = runs_of(name)
    text, row = description(name), readme_row(name)
    wrong = []
    for i, (fragment, readme_fragment, check) in enumerate(CLAIMS[name]):
        if fragment is not None and fragment not in text:
            wrong.append(f"the note no longer says {fragment!r}")
        if readme_fragment is not None and readme_fragment not in row:
            wrong.append(f"the README row no longer says {readme_fragment!r}")
        if not check(runs, tmp_path / str(i)):
            wrong.append(f"false: {fragment!r}")
    assert wrong == []
