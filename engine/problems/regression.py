"""The lecture's two-parameter model on data: y ≈ w1·x1 + w2·x2, mean squared error.

The loss over any set of examples S is a quadratic in w,

    L_S(w) = mean_S (w·x − y)² = wᵀ A_S w − 2 b_Sᵀ w + c_S,
    A_S = mean_S x xᵀ,  b_S = mean_S y x,  c_S = mean_S y²,   ∇L_S(w) = 2 (A_S w − b_S),

so a minibatch is fully described by its (A, b, c): an epoch's minibatches are prepared in
one vectorized call, a step costs a 2×2 product whatever the batch size, and the surface on
a grid is exact in closed form rather than evaluated example by example.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np

from engine.backend import STREAM_DATA, Backend, host_rng
from engine.problems.base import Problem, View


class DataError(ValueError):
    """A data file that can't be used, with the reason."""


def generate_data(
    seed: int,
    samples: int,
    feature_scales=(1.0, 1.0),
    noise: float = 0.1,
    true_weights=(2.0, -1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``x_j ~ N(0, scale_j²)`` and targets ``y = w*·x + N(0, noise²)``."""
    rng = host_rng(seed, STREAM_DATA)
    x = rng.standard_normal((samples, 2)) * np.asarray(feature_scales, float)
    y = x @ np.asarray(true_weights, float) + noise * rng.standard_normal(samples)
    return x, y


def read_data_csv(path: Path, max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV with a header naming the columns ``x1,x2,y`` (other columns are ignored);
    more than ``max_rows`` lines of examples is an error (found without reading them all)."""
    try:
        # utf-8-sig: spreadsheet programs start their "CSV UTF-8" with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as f:
            limit = None if max_rows is None else max_rows + 2  # the header, one too many
            rows = list(itertools.islice(csv.reader(f), limit))
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"data file {path} is not a UTF-8 CSV text file ({exc})") from None
    if not rows:
        raise DataError(f"data file {path} is empty; expected a header x1,x2,y and rows")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("x1", "x2", "y") if c not in header]
    if missing:
        raise DataError(
            f"data file {path} lacks column(s) {', '.join(missing)}; "
            f"expected a header with x1,x2,y (found {','.join(header)})"
        )
    if limit is not None and len(rows) == limit:
        raise DataError(f"data file {path} has more than {max_rows:,} rows of examples")
    cols = [header.index(c) for c in ("x1", "x2", "y")]
    parsed = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing one is common) hold no example
        try:
            parsed.append([float(row[c]) for c in cols])
        except (ValueError, IndexError):
            raise DataError(
                f"data file {path}, line {i}: expected three numbers x1,x2,y, got {row}"
            ) from None
    values = np.array(parsed, dtype=float).reshape(-1, 3)
    if len(values) == 0:
        raise DataError(f"data file {path} has a header but no rows")
    if not np.isfinite(values).all():
        raise DataError(f"data file {path} holds values that are not finite numbers")
    return values[:, :2], values[:, 2]


def normalize(x: np.ndarray) -> np.ndarray:
    """Feature normalization: each column to mean 0 and standard deviation 1."""
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, b, c) of the quadratic loss over the examples of each leading-axis batch.

    ``x`` is ``(..., B, 2)`` and ``y`` is ``(..., B)``; returns ``A (..., 2, 2)``,
    ``b (..., 2)`` and ``c (...)``.
    """
    n = x.shape[-2]
    a = np.einsum("...bi,...bj->...ij", x, x) / n
    b = np.einsum("...bi,...b->...i", x, y) / n
    c = np.einsum("...b,...b->...", y, y) / n
    return a, b, c


# Columns of the per-example products that make A = [[x1², x1x2], [x1x2, x2²]], row-major.
_A_ENTRIES = np.array([0, 1, 1, 2])


class LinearRegressionProblem(Problem):
    """Mean squared error of ``w1·x1 + w2·x2`` (no bias, no ½) over the training examples."""

    def __init__(self, backend: Backend, x: np.ndarray, y: np.ndarray, start=(0.0, 0.0)):
        super().__init__(backend)
        self.x = np.asarray(x, float)
        self.y = np.asarray(y, float)
        self.n_examples = len(self.y)
        self.start = np.asarray(start, float)
        x1, x2, t = self.x[:, 0], self.x[:, 1], self.y
        # per example: x1², x1·x2, x2², y·x1, y·x2 — a batch's moments are their means
        self._products = np.stack([x1 * x1, x1 * x2, x2 * x2, t * x1, t * x2], axis=1)
        a, b, c = moments(self.x, self.y)
        self.a, self.b, self.c = a, b, float(c)
        self._a = backend.asarray(a)
        self._b = backend.asarray(b)

    # ---- training ------------------------------------------------------------------------
    def prepare(self, micro_batches):
        """The (2A, 2b) of every micro-batch of an epoch, all in a few vectorized calls:
        per-example products summed over each micro-batch's run of rows."""
        sizes = np.array([len(mb) for mb in micro_batches])
        starts = np.zeros_like(sizes)
        np.cumsum(sizes[:-1], out=starts[1:])
        sums = np.add.reduceat(self._products[np.concatenate(micro_batches)], starts, axis=0)
        # ∇L = 2(Aw − b): the factor 2 is folded in here, not at every step
        sums *= (2.0 / sizes)[:, None]
        a2 = self.backend.asarray(sums.take(_A_ENTRIES, axis=1).reshape(-1, 2, 2))
        return list(zip(a2, self.backend.asarray(sums[:, 3:]), strict=True))

    def same_as(self, other) -> bool:
        return (
            isinstance(other, LinearRegressionProblem)
            and np.array_equal(other.x, self.x)
            and np.array_equal(other.y, self.y)
            and np.array_equal(other.start, self.start)
        )

    def batch_grad(self, params, prepared):
        a2, b2 = prepared
        return params @ a2 - b2  # A is symmetric: (A w)ᵀ = wᵀ A

    def loss_and_grad(self, params):
        aw = params @ self._a
        loss = (aw * params).sum(axis=1) - 2 * (params @ self._b) + self.c
        return loss, 2 * (aw - self._b)

    # ---- drawing -------------------------------------------------------------------------
    def solution(self) -> np.ndarray:
        """The least-squares weights: A w = b."""
        return np.linalg.lstsq(self.a, self.b, rcond=None)[0]

    def surface(self, w1, w2):
        w1 = np.asarray(w1, float)[None, :]
        w2 = np.asarray(w2, float)[:, None]
        a, b = self.a, self.b
        return (
            a[0, 0] * w1 * w1
            + 2 * a[0, 1] * w1 * w2
            + a[1, 1] * w2 * w2
            - 2 * (b[0] * w1 + b[1] * w2)
            + self.c
        )

    def default_view(self) -> View:
        """Centred on the solution, wide enough to hold the start, with the aspect each
        axis needs: a direction of high curvature gets a narrow range."""
        w_star = self.solution()
        span = np.abs(self.start - w_star) * 1.3
        # at least the distance over which the loss rises by the loss at the start
        rise = max(float(self.surface([self.start[0]], [self.start[1]])[0, 0]), 1e-12)
        span = np.maximum(span, np.sqrt(rise / np.maximum(np.diag(self.a), 1e-12)) * 0.2)
        span = np.maximum(span, 1e-6)
        return View(
            w_star[0] - span[0], w_star[0] + span[0], w_star[1] - span[1], w_star[1] + span[1]
        )

    def minima(self) -> np.ndarray:
        return self.solution()[None, :]
