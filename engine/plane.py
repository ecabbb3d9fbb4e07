"""Planes through weight space, and a network's loss over one.

A plane is a value: ``Plane(origin, d1, d2)`` holds the points ``origin + a·d1 + b·d2``.
``project`` gives the (a, b) of the nearest point of the plane (least squares, so the two
directions need not be orthogonal or of unit length) and ``distance`` how far a point lies off
it: a path far from the plane must not look as if it walked the drawn valley.

Three ways to choose one (issue #7):

- ``trajectory_plane``: the top two principal directions of the recorded points of every run
  (one shared plane), through their mean or a given origin;
- ``random_plane``: two random directions around a point, filter-normalized (Li et al. 2018):
  each row of each weight matrix (one output unit's incoming weights) scaled to the norm of
  that row of the point, biases and batch-norm parameters left still (direction 0);
- ``three_point_plane``: through three points (e.g. the start and two runs' solutions), which
  sit at (0, 0), (1, 0) and (0, 1).

``mlp_grid_loss`` evaluates an MLP over a grid of the plane. The first layer is linear in the
coordinates, ``X·W(a, b)ᵀ = X·W₀ᵀ + a·X·D₁ᵀ + b·X·D₂ᵀ``: three products shared by every grid
point (with batch norm folded in, a quadratic in (a, b)), after which a point costs only its
activation and the later layers. ``interpolation_losses`` gives the 1-D view between two
solutions (Goodfellow et al. 2015), ``decision_grid`` each run's decision regions over a 2-D
feature space. All of them evaluate in evaluation mode (batch norm with running statistics).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.backend import STREAM_INIT, host_rng

# (Cancelled is defined with the problems: a network's evaluation raises it too)
from engine.problems.base import Cancelled, stop_if_asked
from engine.problems.mlp import MLP


@dataclass(frozen=True)
class Plane:
    """``origin + a·d1 + b·d2`` for parameter vectors ``(P,)`` (host NumPy, float64)."""

    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray

    def __post_init__(self):
        gram = self.gram
        if not np.linalg.det(gram) > 1e-12 * gram[0, 0] * gram[1, 1]:
            raise ValueError("the plane's two directions are parallel (or one is zero)")

    @property
    def gram(self) -> np.ndarray:
        d = np.stack([self.d1, self.d2])
        return d @ d.T

    def lift(self, a, b) -> np.ndarray:
        """The points at coordinates ``a``, ``b`` (broadcast together): ``(..., P)``."""
        a = np.asarray(a, float)[..., None]
        b = np.asarray(b, float)[..., None]
        return self.origin + a * self.d1 + b * self.d2

    def project(self, points) -> np.ndarray:
        """Coordinates ``(M, 2)`` of the nearest plane point to each of ``points (M, P)``."""
        offsets = np.atleast_2d(np.asarray(points, float)) - self.origin
        rhs = offsets @ np.stack([self.d1, self.d2]).T
        return np.linalg.solve(self.gram, rhs.T).T

    def distance(self, points) -> np.ndarray:
        """How far each point ``(M, P)`` lies from the plane: ``(M,)``."""
        points = np.atleast_2d(np.asarray(points, float))
        ab = self.project(points)
        return np.linalg.norm(points - self.lift(ab[:, 0], ab[:, 1]), axis=1)


SIGN_TIE = 1e-6  # a third moment below this share of Σ|c|³ is symmetry, not a side


def oriented_plane(centre, d1, d2, coords) -> Plane:
    """The plane of principal directions ``d1``, ``d2`` with their signs fixed by the points
    they were fitted to (``coords (M, 2)``: their coordinates along d1 and d2): the points'
    third moment along each direction is positive, so the bulk of the paths' travel away
    from the centre reads as positive. A principal direction has no sign of its own (an SVD
    or eigensolver picks one): without a convention the app's plane, refitted as training
    goes on, mirrors back and forth, and differs from the runner's, fitted to other rows of
    the same paths. Where the paths are symmetric about the centre (the moment is rounding)
    the direction's largest component is made positive instead. Every fit of a trajectory
    plane ends here."""
    coords = np.asarray(coords, float)
    directions = [np.asarray(d1, float), np.asarray(d2, float)]
    for k in range(2):
        c = coords[:, k]
        # (scaled first: the cubes of a blowing-up path's coordinates would overflow)
        c = c / max(float(np.max(np.abs(c), initial=0.0)), 1e-300)
        moment = float(np.sum(c**3))
        if abs(moment) > SIGN_TIE * float(np.sum(np.abs(c) ** 3)):
            flip = moment < 0
        else:  # paths symmetric about the centre: rounding would pick; the direction decides
            d = directions[k]
            flip = d[int(np.argmax(np.abs(d)))] < 0
        if flip:
            directions[k] = -directions[k]
    return Plane(np.asarray(centre, float), directions[0], directions[1])


def trajectory_plane(points, origin=None) -> Plane:
    """The two principal directions (unit, orthogonal) of ``points (M, P)``: every recorded
    step of every run. Through their mean, or ``origin`` (e.g. a run's final point); signs
    as ``oriented_plane`` fixes them."""
    points = np.asarray(points, float)
    centre = points.mean(axis=0) if origin is None else np.asarray(origin, float)
    u, s, vt = np.linalg.svd(points - centre, full_matrices=False)
    if len(s) < 2 or not s[1] > 1e-12 * max(s[0], 1e-300):
        raise ValueError(
            "the recorded points span less than a plane (every path on one line?); "
            "choose a random or a three-point plane"
        )
    return oriented_plane(centre, vt[0], vt[1], u[:, :2] * s[:2])


def three_point_plane(p0, p1, p2) -> Plane:
    """The plane with ``p0`` at (0, 0), ``p1`` at (1, 0) and ``p2`` at (0, 1)."""
    p0 = np.asarray(p0, float)
    try:
        return Plane(p0, np.asarray(p1, float) - p0, np.asarray(p2, float) - p0)
    except ValueError:
        raise ValueError("the three points lie on one line: they span no plane") from None


def random_plane(model: MLP, centre, seed: int) -> Plane:
    """Two filter-normalized Gaussian directions around ``centre (P,)`` (Li et al. 2018)."""
    centre = np.asarray(centre, float)
    rng = host_rng(seed, STREAM_INIT, 1)  # not the initialization's own numbers
    directions = []
    for _ in range(2):
        d = np.zeros_like(centre)
        for e in model.layout.params:
            if not (e.name.startswith("linear") and e.name.endswith(".weight")):
                continue  # biases, γ and β stay: direction 0
            rows = centre[e.offset : e.stop].reshape(e.shape)
            draw = rng.standard_normal(e.shape)
            scale = np.linalg.norm(rows, axis=1, keepdims=True) / np.maximum(
                np.linalg.norm(draw, axis=1, keepdims=True), 1e-300
            )
            d[e.offset : e.stop] = (draw * scale).reshape(-1)
        directions.append(d)
    return Plane(centre, directions[0], directions[1])


LOG2_E = 1.4426950408889634  # logits in base-2 units: exp2 is about twice as fast as exp
LN_2 = 0.6931471805599453
# grid chunks: about 512 KB of float32 activations on the CPU, half a core's 1 MB L2 cache (the
# first layer's coefficients and the logits' tile need the rest: against 1 MB chunks, measured
# 0.44 s against 0.49 s median for the digits slice on one thread); on a GPU, large batches
HOST_CHUNK_ELEMENTS = 1 << 17
DEVICE_CHUNK_ELEMENTS = 1 << 25
CHUNK_POINTS = 8  # grid points a chunk aims at (examples are tiled to fit them)


def _example_tiles(n: int, widest: int, max_elements: int, tiled: bool) -> list[tuple[int, int]]:
    """The examples cut into tiles ``[(start, stop), …]`` of near-equal width: a chunk is
    ``CHUNK_POINTS`` grid points × one tile, its activations within ``max_elements``. Why:
    the first layer is a GEMM of inner size 3 whose cost is BLAS packing the shared
    coefficients, once a call; with a chunk of all examples only two digits points fit a
    core's L2, with a tile of a sixth of them (240 digits) eight do, and each packing serves
    four times as many points (measured: 0.50 → 0.41 s for the three layers of a 101 × 101
    slice)."""
    if not tiled:
        return [(0, n)]
    count = -(-n // max(1, max_elements // (CHUNK_POINTS * widest)))
    width = -(-n // count)
    return [(start, min(n, start + width)) for start in range(0, n, width)]


def default_workers() -> int:
    """Threads for a slice in the app: one per core, at most 4 (beyond that the blocks'
    Python overhead and the memory bus gain little)."""
    return max(1, min(os.cpu_count() or 1, 4))


def _pieces(model: MLP, vectors, name: str) -> np.ndarray:
    """The array ``name`` of each of ``vectors (K, P)``: ``(K, *shape)``, float64."""
    e = model.layout[name]
    return np.asarray(vectors, float)[:, e.offset : e.stop].reshape((len(vectors), *e.shape))


def _fold_batch_norm(model: MLP, layer: int, vectors, buffers):
    """Evaluation-mode batch norm after Linear ``layer`` as the per-channel affine map it is:
    ``γ·(z − μ)/√(σ² + ε) + β = s·(z − μ) + β`` with ``s = γ/√(σ² + ε)``. Returns ``s`` and
    ``β`` for each of ``vectors`` (the plane's origin and directions: both are linear in the
    plane's coordinates) and ``μ``."""
    lay = model.layout
    mean = buffers[lay[f"bn{layer}.running_mean"].offset : lay[f"bn{layer}.running_mean"].stop]
    var = buffers[lay[f"bn{layer}.running_var"].offset : lay[f"bn{layer}.running_var"].stop]
    scale = _pieces(model, vectors, f"bn{layer}.weight") / np.sqrt(var + model.bn_eps)
    return scale, _pieces(model, vectors, f"bn{layer}.bias"), mean


class _Activation:
    """An activation as ``post_scale·f(pre_scale·z) + post_shift`` with ``f`` computed in
    place; the scales and shift are folded into the neighbouring Linear layers (sigmoid is
    ``½ + ½·tanh(z/2)``, the model's own formula, at the cost of one tanh pass)."""

    def __init__(self, name: str, xp):
        self.name, self.xp = name, xp
        self.pre_scale, self.post_scale, self.post_shift = (
            (0.5, 0.5, 0.5) if name == "sigmoid" else (1.0, 1.0, 0.0)
        )

    def in_place(self, hidden):
        """A call without arguments that applies the activation in place to the
        activations ``hidden (G, width + 1, examples)`` but not to their last row of ones."""
        xp = self.xp
        if self.name == "relu":
            # over the whole contiguous buffer (ReLU keeps the ones), against an array of
            # zeros: a broadcast scalar takes NumPy's slow loop, a strided view a slower one
            zeros = xp.zeros(hidden.shape, hidden.dtype)
            return lambda: xp.maximum(hidden, zeros, out=hidden)
        z = hidden[:, :-1]
        return lambda: xp.tanh(z, out=z)


def _check_grid_inputs(model: MLP, vectors, buffers, x, y):
    """One-line errors for inputs that don't fit the network (before any work)."""
    if vectors.shape[1] != model.n_params:
        raise ValueError(
            f"the plane lives in {vectors.shape[1]} dimensions; the network has "
            f"{model.n_params} parameters"
        )
    if buffers.size != model.n_buffers:
        raise ValueError(
            f"buffers must hold the network's {model.n_buffers} running statistics, "
            f"got {buffers.size}"
        )
    if x.ndim != 2 or x.shape[1] != model.widths[0] or len(x) == 0:
        raise ValueError(
            f"x must be (examples, {model.widths[0]}) with at least one example, got {x.shape}"
        )
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one class per example ({len(x)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= model.widths[-1]:
        raise ValueError(f"y must be class indices in 0 … {model.widths[-1] - 1}")


def mlp_grid_loss(
    model: MLP,
    plane: Plane,
    buffers,
    x,
    y,
    a_values,
    b_values,
    max_elements: int | None = None,
    *,
    should_stop=None,
    dtype=None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation-mode loss and accuracy over the grid ``b_values × a_values`` of the plane
    (shapes ``(len(b), len(a))``, float64 on the host), batch norm using ``buffers (Q,)``: one
    run's running statistics for every grid point. Computed in the model's dtype, or in
    ``dtype`` when given (float32 draws a float64 network's slice about twice as fast; keep
    float64 for exact comparisons).

    How it is fast (a 101 × 101 digits slice, 64-64-10, is 10⁴ forward passes over 1,437
    images):

    - the first Linear (and the batch norm after it, an affine map per channel in evaluation
      mode) is a polynomial in (a, b) with shared coefficient arrays: ``X·W(a, b)ᵀ`` is
      ``Z₀ + a·Z₁ + b·Z₂`` (quadratic when γ lies along the plane), so a grid point's first
      layer is one row of a small GEMM, ``[1, a, b, …] @ (K, H·N)``;
    - activations are kept as ``(H, N)`` (channels × examples) per point, so a later layer
      is ``W (out, H) @ A (H, N)``, batched over the chunk's points, and the softmax's sums
      and maxima over classes run along the contiguous example axis; batch norm is folded
      into each point's weights, log₂e into the last layer (``exp2`` beats ``exp``);
    - grid points are taken in chunks of about ``CHUNK_POINTS`` points × a tile of the
      examples, whose hidden activations (points × tile × widest hidden layer) stay under
      ``max_elements`` (on NumPy the default keeps a chunk in a core's L2 cache; on a GPU it
      is far larger, one tile); each layer and the logits are written tile by tile, and the
      cross-entropy runs over blocks of several chunks' logits (all examples), so that the
      number of array calls per grid point stays small. ReLU runs over the whole contiguous
      activation buffer, its row of ones included (ReLU keeps them);
    - the examples are taken in class order, so each class's logits (the loss's l_y) are
      one slice of a block: no gather.

    - ``workers`` threads (NumPy only; a GPU takes the whole grid itself) share out the
      blocks, each with its own buffers: NumPy's ufuncs and BLAS release the GIL, so the
      blocks run on as many cores (the app runs BLAS on one thread, ``main.APP_BLAS_THREADS``:
      measured on 2 cores, a 101 × 101 slice took 0.57 s on one worker and 0.44 s on two;
      with OpenBLAS's own two threads beside the workers 0.63 s and 0.54 s). Every block
      is computed exactly as with one worker: the results are the same bits whatever
      ``workers`` is.

    Accuracy counts an example correct when its class's logit is the largest (a tie counts as
    correct, where ``argmax`` would take the first). ``should_stop()``, when given, is polled
    before every block (by every worker); when it returns true, the workers stop after the
    block they are in and ``Cancelled`` is raised.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer ≥ 1, got {workers!r}")
    xp = model.xp
    dtype = model.dtype if dtype is None else np.dtype(dtype)
    on_host = xp is np
    if max_elements is None:
        max_elements = HOST_CHUNK_ELEMENTS if on_host else DEVICE_CHUNK_ELEMENTS
    a_grid, b_grid = np.meshgrid(np.asarray(a_values, float), np.asarray(b_values, float))
    if a_grid.size == 0:
        return np.zeros(a_grid.shape), np.zeros(a_grid.shape)
    coords = np.stack([np.ones(a_grid.size), a_grid.reshape(-1), b_grid.reshape(-1)], axis=1)
    vectors = np.stack([plane.origin, plane.d1, plane.d2])  # (3, P): coefficients 1, a, b
    x_host = np.asarray(x.get() if hasattr(x, "get") else x, float)
    y_host = np.asarray(y.get() if hasattr(y, "get") else y)
    if buffers is None:  # a network without batch norm has no running statistics
        buffers = np.zeros(0)
    buffers = np.asarray(buffers.get() if hasattr(buffers, "get") else buffers, float)
    _check_grid_inputs(model, vectors, buffers, x_host, y_host)
    buffers = buffers.reshape(-1)
    if model.switchable and not model.normalizes(buffers):
        # a run without batch norm: its network is the one without, on the Linear pieces
        vectors = vectors[:, model.plain_columns()]
        model, buffers = model.without_batch_norm(), np.zeros(0)
    # the examples in class order: each class's logits are then one slice of the block
    order = np.argsort(y_host, kind="stable")
    x_host, y_host = x_host[order], y_host[order]
    class_bounds = np.searchsorted(y_host, np.arange(model.widths[-1] + 1)).tolist()
    n, layers = x_host.shape[0], len(model.widths) - 1
    activation = _Activation(model.activation, xp)

    # ---- the first layer: shared arrays, one per monomial of (a, b) ----------------------
    w0 = _pieces(model, vectors, "linear0.weight")  # (3, H, in)
    k, hidden, n_in = w0.shape
    z = (w0.reshape(k * hidden, n_in) @ x_host.T).reshape(k, hidden, -1)  # (3, H, N)
    z += _pieces(model, vectors, "linear0.bias")[..., None]
    monomials = {(0, 0): z[0], (1, 0): z[1], (0, 1): z[2]}  # powers of (a, b) → (H, N)
    if model.batch_norm and layers > 1:
        scale, shift, mean = _fold_batch_norm(model, 0, vectors, buffers)
        z_centred = z.copy()
        z_centred[0] -= mean[:, None]
        powers = ((0, 0), (1, 0), (0, 1))
        monomials = {}
        for i in range(3):
            beta = np.broadcast_to(shift[i][:, None], z[0].shape)  # β(a, b): a term per point
            monomials[powers[i]] = monomials.get(powers[i], 0) + beta
            for k in range(3):
                if not scale[i].any():
                    continue  # γ's direction is zero: no quadratic terms
                key = (powers[i][0] + powers[k][0], powers[i][1] + powers[k][1])
                monomials[key] = monomials.get(key, 0) + scale[i][:, None] * z_centred[k]
    # with no hidden layer the first Linear gives the logits: in base-2 units
    pre = activation.pre_scale if layers > 1 else LOG2_E
    keys = sorted(monomials)
    shared = xp.asarray(np.stack([pre * monomials[k] for k in keys]).reshape(len(keys), -1), dtype)
    powers = np.array(keys)  # (K, 2)
    first_coefficients = xp.asarray(
        coords[:, 1:2] ** powers[:, 0] * coords[:, 2:3] ** powers[:, 1], dtype
    )  # (M, K)

    # ---- later layers: each point's weights, batch norm and activation folded in ------
    later = []  # per layer: weights with the bias as last column (3, out, in + 1), and BN
    for i in range(1, layers):
        w = _pieces(model, vectors, f"linear{i}.weight")  # (3, out, in)
        b = _pieces(model, vectors, f"linear{i}.bias")
        # the previous activation's post-scale and shift: W·(s·f + t) = s·W·f + t·W·1;
        # the bias column meets a row of ones under the activations (no separate pass)
        augmented = np.concatenate(
            [w * activation.post_scale, (b + activation.post_shift * w.sum(axis=2))[..., None]],
            axis=2,
        )
        last = i == layers - 1
        bn = _fold_batch_norm(model, i, vectors, buffers) if model.batch_norm and not last else None
        factor = LOG2_E if last else activation.pre_scale
        if bn is None:  # linear in (a, b): a block's weights are one small product
            augmented = xp.asarray((factor * augmented).reshape(3, -1), dtype)
        later.append((augmented, bn, factor))
    grid_coords = xp.asarray(coords, dtype)

    def layer_weights(i, start, stop):
        """Weights ``(G, out, in + 1)`` of later layer ``i`` at grid points start … stop."""
        augmented, bn, factor = later[i - 1]
        if bn is None:
            weight = grid_coords[start:stop] @ augmented
            return weight.reshape(stop - start, model.widths[i + 1], model.widths[i] + 1)
        c = coords[start:stop]
        weight = np.einsum("gk,koi->goi", c, augmented)
        scale, shift, mean = bn
        s = c @ scale  # (G, out): γ(a, b)/√(σ² + ε)
        weight *= s[:, :, None]
        weight[:, :, -1] += c @ shift - s * mean
        return xp.asarray(weight * factor, dtype)

    # ---- chunks, example tiles and blocks ------------------------------------------------
    m_points = len(coords)
    widths = model.widths[1:-1]  # hidden
    classes = model.widths[-1]
    widest = max(widths, default=classes)
    # (a GPU takes all examples at once: tiles are for a CPU core's cache)
    tiles = _example_tiles(n, widest, max_elements, on_host and layers > 1)
    tile_width = tiles[0][1] - tiles[0][0]
    chunk = max(1, min(m_points, max_elements // (tile_width * widest)))
    if len(tiles) > 1:  # (the tiles' rounding leaves room for a few more: not the aim)
        chunk = min(chunk, CHUNK_POINTS)
    block = max(chunk, (2 * max_elements // (n * classes)) // chunk * chunk)
    block = min(block, -(-m_points // chunk) * chunk)
    # each tile's first-layer coefficients, contiguous: (K, H·tile width)
    shared = shared.reshape(len(keys), -1, n)
    tile_shared = [
        xp.ascontiguousarray(shared[:, :, e0:e1]).reshape(len(keys), -1) for e0, e1 in tiles
    ]
    losses = xp.empty(m_points, dtype)
    correct = xp.empty(m_points, dtype)
    safe = 64.0 if dtype.itemsize <= 4 else 512.0  # |log₂| range where Σ 2^l is exact enough

    class Scratch:
        """One worker's buffers, and views into them (made once per chunk and tile size)."""

        def __init__(self):
            self.logits = xp.empty((block, classes, n), dtype)
            self.picked = xp.empty((block, n), dtype)  # each example's true class's logit
            # per tile width, each hidden layer's activations (G, width + 1, examples): the
            # last row stays 1 (the bias)
            self.hidden = {}
            for e0, e1 in tiles:
                self.hidden.setdefault(
                    e1 - e0, [xp.ones((chunk, width + 1, e1 - e0), dtype) for width in widths]
                )
            self.views: dict[tuple[int, int], tuple] = {}

        def chunk_views(self, g, width):
            views = self.views.get((g, width))
            if views is None:
                hidden = [buffer[:g] for buffer in self.hidden[width]]
                first_out = hidden[0].reshape(g, -1)[:, : widths[0] * width]
                pre = [h[:, :-1] for h in hidden]  # where each hidden Linear writes, activates
                views = (first_out, hidden, pre, [activation.in_place(h) for h in hidden])
                self.views[(g, width)] = views
            return views

    def run_block(start, scratch):
        """Losses and correct counts of grid points start … start + block."""
        stop = min(m_points, start + block)
        logits = scratch.logits[: stop - start]
        weights = [layer_weights(i, start, stop) for i in range(1, layers)]
        for sub in range(0, stop - start, chunk):
            g = min(chunk, stop - start - sub)
            first = first_coefficients[start + sub : start + sub + g]
            if layers == 1:  # (one tile)
                xp.matmul(first, tile_shared[0], out=logits[sub : sub + g].reshape(g, -1))
                continue
            for (e0, e1), coefficients in zip(tiles, tile_shared, strict=True):
                first_out, hidden, pre, activate = scratch.chunk_views(g, e1 - e0)
                if on_host:  # straight into the strided views (BLAS takes their row stride)
                    xp.matmul(first, coefficients, out=first_out)
                else:
                    first_out[...] = xp.matmul(first, coefficients)
                activate[0]()
                for i in range(1, layers - 1):  # deeper hidden layers
                    if on_host:
                        xp.matmul(weights[i - 1][sub : sub + g], hidden[i - 1], out=pre[i])
                    else:
                        pre[i][...] = xp.matmul(weights[i - 1][sub : sub + g], hidden[i - 1])
                    activate[i]()
                out = logits[sub : sub + g, :, e0:e1]
                if on_host:
                    xp.matmul(weights[-1][sub : sub + g], hidden[-1], out=out)
                else:
                    out[...] = xp.matmul(weights[-1][sub : sub + g], hidden[-1])
        # cross-entropy in base 2: log₂ Σ 2^l − l_y, then × ln 2 (mean over the examples)
        top = logits.max(axis=1)  # (G, N)
        picked = scratch.picked[: stop - start]
        for c in range(classes):  # (slices of the class-ordered examples: no gather)
            e0, e1 = class_bounds[c], class_bounds[c + 1]
            if e1 > e0:
                picked[:, e0:e1] = logits[:, c, e0:e1]
        correct[start:stop] = xp.count_nonzero(picked == top, axis=1)
        # Σ 2^l neither overflows nor underflows while every example's largest logit stays
        # within ±safe: then no shift is needed (a pass saved); else the usual stable form,
        # log₂ Σ 2^(l − max) + max (asking costs a device sync on a GPU: always shift there)
        shift = not on_host or not -safe <= float(top.min()) <= float(top.max()) <= safe
        if shift:
            logits -= top[:, None, :]
        xp.exp2(logits, out=logits)
        total = logits.sum(axis=1)
        xp.log2(total, out=total)
        if shift:
            top -= picked
            losses[start:stop] = total.sum(axis=1) + top.sum(axis=1)
        else:
            losses[start:stop] = total.sum(axis=1) - picked.sum(axis=1)

    starts = range(0, m_points, block)
    workers = min(workers, len(starts)) if on_host else 1
    if workers == 1:
        scratch = Scratch()
        for start in starts:
            stop_if_asked(should_stop)
            run_block(start, scratch)
    else:
        stopped = threading.Event()
        # NumPy's error state (the caller's ``np.errstate``) is per thread: a worker starts
        # with the defaults, and would warn (or raise) where one worker's blocks stay quiet
        errors = np.geterr()

        def work(mine):  # every workers-th block: blocks are of one size, the shares even
            scratch = Scratch()
            with np.errstate(**errors):
                for start in mine:
                    if should_stop is not None and should_stop():
                        stopped.set()
                    if stopped.is_set():  # (another worker was told)
                        return
                    run_block(start, scratch)

        with ThreadPoolExecutor(workers, thread_name_prefix="grid") as pool:
            for done in [pool.submit(work, starts[w::workers]) for w in range(workers)]:
                done.result()  # (an error in a worker is raised here)
        if stopped.is_set():
            raise Cancelled("the grid computation was cancelled")

    shape = a_grid.shape
    to_host = (lambda v: v.get()) if hasattr(xp, "cuda") else np.asarray
    loss = to_host(losses).astype(float) * (LN_2 / n)
    accuracy = to_host(correct).astype(float) / n
    return loss.reshape(shape), accuracy.reshape(shape)


# ---- a line between two solutions, and decision regions ---------------------------------------


def interpolation_losses(
    model: MLP, p0, p1, buffers, splits, ts, buffers1=None
) -> dict[str, np.ndarray]:
    """Evaluation-mode loss and accuracy along the line ``(1 − t)·p0 + t·p1`` between two
    parameter vectors ``(P,)`` (Goodfellow et al. 2015): ``train_loss``, ``train_accuracy``
    and, when ``splits`` (an ``engine.datasets.Split``) has a validation part, ``val_loss``
    and ``val_accuracy``, each ``(len(ts),)`` float64. Batch norm uses ``buffers (Q,)``: one
    run's running statistics at every point; or, given the second run's ``buffers1``, the
    statistics interpolated too, ``(1 − s)·buffers + s·buffers1`` with ``s = clip(t, 0, 1)``,
    so that each end is exactly that run's own evaluation (with one run's statistics the
    other end is not: a batch-norm network evaluated with another run's running statistics
    can be far worse than itself) and beyond the ends the nearer run's are held (extended,
    a running variance could turn negative). Every point of the line is one run of a single
    ``model.evaluate`` (chunked over examples, so memory stays bounded)."""
    ts = np.asarray(ts, float).reshape(-1)
    p0, p1 = np.asarray(p0, float).reshape(-1), np.asarray(p1, float).reshape(-1)
    for name, p in (("p0", p0), ("p1", p1)):
        if p.shape != (model.n_params,):
            raise ValueError(
                f"{name} must hold the network's {model.n_params} parameters, got {p.size}"
            )
    points = (1 - ts)[:, None] * p0 + ts[:, None] * p1
    b0 = np.asarray(buffers, float).reshape(-1)
    if buffers1 is not None and model.normalizes(b0) != model.normalizes(buffers1):
        raise ValueError(
            "one run has batch norm and the other not: they are two different networks, "
            "and no line of one network's weights joins them"
        )
    if buffers1 is None:
        line_buffers = np.broadcast_to(b0, (len(ts), b0.size))
    else:
        b1 = np.asarray(buffers1, float).reshape(-1)
        if b1.shape != b0.shape:
            raise ValueError(f"buffers1 must hold {b0.size} running statistics, got {b1.size}")
        s = np.clip(ts, 0.0, 1.0)[:, None]
        line_buffers = (1 - s) * b0 + s * b1
    params, grid_buffers = model.stack(list(points), list(line_buffers))
    to_host = (lambda v: v.get()) if hasattr(model.xp, "cuda") else np.asarray
    out = {}
    parts = [("train", splits.x_train, splits.y_train)]
    if len(splits.y_val):
        parts.append(("val", splits.x_val, splits.y_val))
    for prefix, x, y in parts:
        result = model.evaluate(params, grid_buffers, model.asarray(x), model.xp.asarray(y))
        out[f"{prefix}_loss"] = to_host(result.loss).astype(float)
        out[f"{prefix}_accuracy"] = to_host(result.accuracy).astype(float)
    return out


def decision_grid(
    model: MLP,
    params,
    buffers,
    rect,
    resolution: int,
    max_elements: int = 1 << 21,
    should_stop=None,
):
    """Each run's predicted class and its softmax probability over a square of the 2-D
    (normalized) feature space: two ``(R, resolution, resolution)`` arrays (int64, float64).

    ``rect = (x0, x1, y0, y1)`` in normalized units; row ``j`` is y and column ``i`` is x, at
    pixel centres ``x0 + (i + ½)·(x1 − x0)/resolution`` (likewise y). Evaluation mode, each
    run with its own ``buffers`` row; pixels are taken in chunks whose activations (runs ×
    pixels × widest layer) stay under ``max_elements``. ``should_stop()``, when given, is
    asked before every layer of every chunk (``MLP.logits``): true raises ``Cancelled``.
    """
    if model.widths[0] != 2:
        raise ValueError(
            f"a decision grid needs 2 input features, the network has {model.widths[0]}"
        )
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be an integer ≥ 1, got {resolution!r}")
    x0, x1, y0, y1 = (float(v) for v in rect)
    xp = model.xp
    params = xp.asarray(params, model.dtype).reshape(-1, model.n_params)
    buffers = xp.asarray(buffers, model.dtype).reshape(len(params), model.n_buffers)
    step_x, step_y = (x1 - x0) / resolution, (y1 - y0) / resolution
    xs = x0 + (np.arange(resolution) + 0.5) * step_x
    ys = y0 + (np.arange(resolution) + 0.5) * step_y
    grid_x, grid_y = np.meshgrid(xs, ys)  # (res, res): row j is y
    pixels = np.stack([grid_x.reshape(-1), grid_y.reshape(-1)], axis=1)
    runs = len(params)
    chunk = max(1, max_elements // (runs * max(model.widths)))
    classes = np.empty((runs, len(pixels)), np.int64)
    confidence = np.empty((runs, len(pixels)))
    to_host = (lambda v: v.get()) if hasattr(xp, "cuda") else np.asarray
    for start in range(0, len(pixels), chunk):
        at = model.asarray(pixels[start : start + chunk])
        logits = model.logits(params, buffers, at, should_stop=should_stop)
        logits = to_host(logits).astype(float)  # (R, chunk, C)
        top = logits.max(axis=2, keepdims=True)
        # the winner's softmax probability: 1 / Σ exp(l − max)
        confidence[:, start : start + chunk] = 1 / np.exp(logits - top).sum(axis=2)
        classes[:, start : start + chunk] = logits.argmax(axis=2)
    shape = (runs, resolution, resolution)
    return classes.reshape(shape), confidence.reshape(shape)
