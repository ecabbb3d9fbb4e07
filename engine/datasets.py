"""Classification data for networks: the shipped digits, 2-D sets generated from the seed, a
CSV of numeric features; the train/validation split and feature normalization.

A data set is features ``x (N, D)`` (float64) and class indices ``y (N,)`` (int64, 0 … C−1).
Everything random is drawn from the experiment's seed, in the data stream of
``engine.backend``, so the same seed gives the same points, the same split, on any backend.

Generated sets (``GENERATORS``) are shuffled as they are made: in file order a minibatch then
holds a mix of classes, as it would from a real file, rather than a block of one class.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import resources
from engine.backend import STREAM_DATA, host_rng

# Keys inside the data stream: generating points and drawing the split never share numbers.
_KEY_GENERATE = 1
_KEY_SPLIT = 2

DIGITS_FILE = resources.RESOURCES / "datasets" / "digits.npz"


class DatasetError(ValueError):
    """A data set that can't be made or read, with the reason (one line)."""


@dataclass(frozen=True)
class Dataset:
    """Features and class indices, with the names of both."""

    name: str
    x: np.ndarray  # (N, D) float64
    y: np.ndarray  # (N,) int64 in 0 … C−1
    classes: tuple[str, ...]  # class c's name, e.g. the CSV's label value
    feature_names: tuple[str, ...]

    @property
    def n_examples(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        return self.x.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.classes)


# ---- the shipped digits ----------------------------------------------------------------------


def load_digits(path: str | os.PathLike = DIGITS_FILE) -> Dataset:
    """The 1,797 8×8 digits, each image flattened row by row into 64 features in 0 … 16."""
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    x = images.reshape(len(images), -1).astype(np.float64)
    names = tuple(f"pixel{r}{c}" for r in range(8) for c in range(8))
    return Dataset("digits", x, labels.astype(np.int64), tuple(str(d) for d in range(10)), names)


def digit_images(dataset: Dataset) -> np.ndarray:
    """The digits' features back as ``(N, 8, 8)`` images (for thumbnails)."""
    return dataset.x.reshape(-1, 8, 8)


# ---- generated 2-D sets ----------------------------------------------------------------------


def _class_sizes(samples: int, classes: int) -> np.ndarray:
    """As equal as can be: the first ``samples % classes`` classes get one more."""
    return samples // classes + (np.arange(classes) < samples % classes)


def _finish(
    name: str, rng: np.random.Generator, x: np.ndarray, y: np.ndarray, noise: float
) -> Dataset:
    """Add the Gaussian noise, shuffle the examples, name the classes."""
    x = x + noise * rng.standard_normal(x.shape)
    order = rng.permutation(len(y))
    classes = tuple(str(c) for c in range(int(y.max()) + 1))
    return Dataset(name, x[order], y[order].astype(np.int64), classes, ("x1", "x2"))


def make_moons(rng: np.random.Generator, samples: int, noise: float, classes: int = 2) -> Dataset:
    """Two interleaved half circles: class 0 on the upper arc of the unit circle, class 1 on
    the lower arc shifted to (1, 0.5)."""
    n0, n1 = _class_sizes(samples, 2)
    t0, t1 = rng.uniform(0, math.pi, n0), rng.uniform(0, math.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)])
    y = np.repeat([0, 1], [n0, n1])
    return _finish("moons", rng, np.vstack([upper, lower]), y, noise)


def make_circles(rng: np.random.Generator, samples: int, noise: float, classes: int = 2) -> Dataset:
    """Two concentric circles: class 0 of radius 1, class 1 of radius 0.5."""
    sizes = _class_sizes(samples, 2)
    radius = np.repeat([1.0, 0.5], sizes)
    t = rng.uniform(0, 2 * math.pi, samples)
    x = radius[:, None] * np.column_stack([np.cos(t), np.sin(t)])
    return _finish("circles", rng, x, np.repeat([0, 1], sizes), noise)


def make_spirals(rng: np.random.Generator, samples: int, noise: float, classes: int = 2) -> Dataset:
    """``classes`` interleaved arms, each 1.75 turns out from the origin to radius 1."""
    y = np.repeat(np.arange(classes), _class_sizes(samples, classes))
    t = rng.uniform(0, 1, samples)  # position along the arm: radius and angle grow with it
    angle = 2 * math.pi * y / classes + 3.5 * math.pi * t
    x = t[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    return _finish("spirals", rng, x, y, noise)


def make_xor(rng: np.random.Generator, samples: int, noise: float, classes: int = 2) -> Dataset:
    """Points in the four quadrants of [−1, 1]²; class 1 where the coordinates' signs differ.

    Each class gets the same number of points (half of them in each of its two quadrants);
    the labels are those of the points before the noise is added.
    """
    sizes = _class_sizes(samples, 2)
    y = np.repeat([0, 1], sizes)
    magnitude = rng.uniform(0.05, 1, (samples, 2))  # away from the axes: a clean label
    first_sign = rng.choice([-1.0, 1.0], samples)
    second_sign = np.where(y == 1, -first_sign, first_sign)
    x = magnitude * np.column_stack([first_sign, second_sign])
    return _finish("xor", rng, x, y, noise)


def make_blobs(rng: np.random.Generator, samples: int, noise: float, classes: int = 3) -> Dataset:
    """``classes`` Gaussian blobs of standard deviation ``noise``, centred on a circle of
    radius 2 (the noise is the blobs' spread: 0 puts each class on one point)."""
    y = np.repeat(np.arange(classes), _class_sizes(samples, classes))
    angle = 2 * math.pi * np.arange(classes) / classes
    centres = 2 * np.column_stack([np.cos(angle), np.sin(angle)])
    return _finish("blobs", rng, centres[y], y, noise)


@dataclass(frozen=True)
class Generator:
    """A generated set and its defaults; ``classes`` is None where the set fixes it (2)."""

    make: Callable[..., Dataset]
    samples: int
    noise: float
    classes: int | None = None


GENERATORS: dict[str, Generator] = {
    "moons": Generator(make_moons, 200, 0.1),
    "circles": Generator(make_circles, 200, 0.05),
    "spirals": Generator(make_spirals, 300, 0.05, classes=2),
    "xor": Generator(make_xor, 200, 0.05),
    "blobs": Generator(make_blobs, 300, 0.5, classes=3),
}
DATASETS = ("digits", *GENERATORS)


def generate(
    name: str,
    seed: int,
    samples: int | None = None,
    noise: float | None = None,
    classes: int | None = None,
) -> Dataset:
    """A generated set from the seed (``None``: the set's default for that setting)."""
    if name not in GENERATORS:
        raise DatasetError(
            f"unknown generated data set {name!r}; expected one of {', '.join(GENERATORS)}"
        )
    gen = GENERATORS[name]
    samples = gen.samples if samples is None else samples
    noise = gen.noise if noise is None else noise
    if gen.classes is None and classes not in (None, 2):
        raise DatasetError(f"{name} has two classes; classes can't be set to {classes!r}")
    classes = (gen.classes or 2) if classes is None else classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise DatasetError(f"classes must be an integer ≥ 2, got {classes!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2 * classes:
        raise DatasetError(
            f"samples must be an integer ≥ {2 * classes} (two per class), got {samples!r}"
        )
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise DatasetError(f"noise must be a number ≥ 0, got {noise!r}")
    if not math.isfinite(noise):
        raise DatasetError(f"noise must be a finite number ≥ 0, got {noise!r}")
    rng = host_rng(seed, STREAM_DATA, _KEY_GENERATE)
    return gen.make(rng, samples, float(noise), classes)


# ---- a CSV of numeric features and a label column --------------------------------------------


def _parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(
    path: str | os.PathLike, label_column: str = "label", raw_dtype: np.dtype | None = None
) -> Dataset:
    """A CSV with a header row: ``label_column`` holds the classes (their sorted distinct
    values: numerically when they are all numbers, else as text), every other column is a
    numeric feature. Blank lines are skipped. Bad cells are named by line and column.

    ``raw_dtype``: the features are computed with as they are (not normalized) in this
    dtype, so a value beyond its range (1e39 in float32) is a bad cell too."""
    path = Path(path)
    largest = math.inf if raw_dtype is None else float(np.finfo(raw_dtype).max)
    try:
        # utf-8-sig: spreadsheet programs start their "CSV UTF-8" with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except OSError as exc:
        raise DatasetError(f"cannot read data file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"data file {path} is not a UTF-8 CSV text file ({exc})") from None
    if not rows:
        raise DatasetError(
            f"data file {path} is empty; expected a header row naming the feature columns "
            f"and the label column {label_column!r}, then one row per example"
        )
    header = [h.strip() for h in rows[0][1]]
    if label_column not in header:
        raise DatasetError(
            f"data file {path} has no label column {label_column!r} "
            f"(found columns {', '.join(header)}); set label_column to the column of classes"
        )
    if header.count(label_column) > 1:
        raise DatasetError(f"data file {path} has two columns named {label_column!r}")
    label_at = header.index(label_column)
    feature_at = [j for j in range(len(header)) if j != label_at]
    if not feature_at:
        raise DatasetError(f"data file {path} has no feature column beside {label_column!r}")
    if len(rows) == 1:
        raise DatasetError(f"data file {path} has a header but no rows")
    features = np.empty((len(rows) - 1, len(feature_at)))
    labels = []
    for i, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DatasetError(
                f"data file {path}, line {line}: {len(row)} cells, but the header names "
                f"{len(header)} columns"
            )
        for k, j in enumerate(feature_at):
            cell = row[j].strip()
            value = _parse_number(cell)
            if value is None or not math.isfinite(value):
                what = "a finite number" if value is not None else "a number"
                raise DatasetError(
                    f"data file {path}, line {line}, column {j + 1} ({header[j]!r}): "
                    f"{cell!r} is not {what}"
                )
            if abs(value) > largest:
                raise DatasetError(
                    f"data file {path}, line {line}, column {j + 1} ({header[j]!r}): "
                    f"{cell!r} is beyond the range of {np.dtype(raw_dtype).name} "
                    f"(±{largest:.2g}), in which the features are used as they are; scale "
                    "the column down, or set normalize_features = true"
                )
            features[i, k] = value
        label = row[label_at].strip()
        if not label:
            raise DatasetError(
                f"data file {path}, line {line}, column {label_at + 1} ({label_column!r}): "
                "the label is empty"
            )
        labels.append(label)
    names, y = _classes(labels)
    if len(names) < 2:
        raise DatasetError(
            f"data file {path}: column {label_column!r} holds a single class ({names[0]!r}); "
            "a classifier needs at least two"
        )
    feature_names = tuple(header[j] for j in feature_at)
    return Dataset(path.stem, features, y, names, feature_names)


def _classes(labels: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted distinct labels and each example's index among them. Labels that are all
    numbers sort (and compare) as numbers: "2" before "10", "1" the same class as "1.0"."""
    numbers = [_parse_number(s) for s in labels]
    if all(v is not None and math.isfinite(v) for v in numbers):
        values, y = np.unique(np.array(numbers), return_inverse=True)
        names = tuple(f"{v:g}" for v in values)
    else:
        values, y = np.unique(np.array(labels), return_inverse=True)
        names = tuple(str(v) for v in values)
    return names, y.astype(np.int64)


# ---- choosing, splitting, normalizing --------------------------------------------------------


def load_dataset(
    name: str,
    seed: int = 0,
    *,
    samples: int | None = None,
    noise: float | None = None,
    classes: int | None = None,
    label_column: str = "label",
    base_dir: str | os.PathLike = ".",
    raw_dtype: np.dtype | None = None,
) -> Dataset:
    """``digits``, a generated set, or a CSV path (relative to ``base_dir``; ``raw_dtype``:
    see ``read_csv``)."""
    if name == "digits":
        return load_digits()
    if name in GENERATORS:
        return generate(name, seed, samples, noise, classes)
    if name.lower().endswith(".csv"):
        return read_csv(Path(base_dir) / name, label_column, raw_dtype)
    raise DatasetError(
        f"unknown data set {name!r}; expected {', '.join(DATASETS)} or a path to a .csv file"
    )


@dataclass(frozen=True)
class Split:
    """Training and validation examples (the validation part may be empty), and the indices
    of both into the data set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    # (x − mean) / std was applied with these training statistics (None: not normalized)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def has_validation(self) -> bool:
        return len(self.y_val) > 0


def split(dataset: Dataset, validation_fraction: float, seed: int) -> Split:
    """A validation part of ⌈fraction·N⌉ examples drawn from the seed; the rest trains.

    Both parts keep the data's order, so with ``validation_fraction = 0`` the training split
    is the data in file order (the contract's ``shuffle = false`` batches rely on it).
    """
    f = validation_fraction
    if isinstance(f, bool) or not isinstance(f, int | float) or not 0 <= f < 1:
        raise DatasetError(f"validation_fraction must be a number in [0, 1), got {f!r}")
    n = dataset.n_examples
    n_val = math.ceil(f * n)
    if n - n_val < 1:
        raise DatasetError(
            f"validation_fraction {f} leaves no training example of the {n}; expected less"
        )
    if n_val == 0:
        train, val = np.arange(n), np.arange(0)
    else:
        order = host_rng(seed, STREAM_DATA, _KEY_SPLIT).permutation(n)
        train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
    x, y = dataset.x, dataset.y
    return Split(x[train], y[train], x[val], y[val], train, val)


def normalize(parts: Split) -> Split:
    """Features to ``(x − mean) / std`` with the training split's statistics, on both parts.

    A feature constant over the training split (a digit's always-blank corner pixel) keeps
    std 1: it is only centred, not divided by zero.
    """
    x = parts.x_train
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = x.mean(axis=0), x.std(axis=0)
    overflowed = ~(np.isfinite(mean) & np.isfinite(std))
    if overflowed.any():
        # values near 1e155 and beyond: their squares overflow; the same statistics of the
        # column divided by its largest magnitude, scaled back (other columns as they were)
        scale = np.abs(x[:, overflowed]).max(axis=0)
        mean[overflowed] = scale * (x[:, overflowed] / scale).mean(axis=0)
        std[overflowed] = scale * (x[:, overflowed] / scale).std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return Split(
        (parts.x_train - mean) / std,
        parts.y_train,
        (parts.x_val - mean) / std,
        parts.y_val,
        parts.train_index,
        parts.val_index,
        mean,
        std,
    )
