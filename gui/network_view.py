"""What the app draws of a network, as plain data, and the worker-side logic that makes it.
No Qt here: everything runs on the worker thread (``gui.worker``) and is published in a
``Snapshot`` (``Snapshot.network``, ``Snapshot.surface``).

A network has thousands of parameters; the app draws them on a *plane* of weight space
(``engine.plane``): the trajectory plane of every run's recorded states (PCA), two random
filter-normalized directions around a run's current point, or the plane through the start and
two runs' current points. ``NetworkLive`` keeps one job's picture up to date while it trains:

- every recorded state the trainer keeps (``recorded_states``) is projected on the current
  plane as it arrives (``project_states``), with its distance from the plane;
- the plane itself is chosen again at a cadence (``replan_due``: when the recorded rows grew
  by a quarter, and once more when training is done), not at every step: a plane that moved
  every frame would make the paths swim;
- the loss over the plane (the *slice*) is computed coarse first, then refined, one band of
  grid rows at a time (``SliceTask``), so that the worker trains between bands and a newer
  request (another plane, a zoom) simply replaces the task: that is the cancellation.

The pure functions are what the tests check against independent oracles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import time
from dataclasses import dataclass

import numpy as np

from engine.plane import (
    Cancelled,
    Plane,
    decision_grid,
    default_workers,
    interpolation_losses,
    mlp_grid_loss,
    oriented_plane,
    random_plane,
    three_point_plane,
    trajectory_plane,
)
from gui.geometry import pixel_centres

PLANE_KINDS = ("trajectory", "random", "three_point")
PLANE_GROWTH = 1.25  # the trajectory plane is chosen again when the recorded rows grew by this
PLANE_POINTS = 256  # recorded states the plane is fitted to, at most (the SVD costs M²·P)
COARSE_POINTS = 16  # grid points per axis of the first, quick slice
FINE_POINTS = 72  # and of the refined one, at most:
FINE_SECONDS = 1.5  # fewer when the coarse one says that 72² would take longer than this
BAND_SECONDS = 0.01  # a band of grid rows lasts about this long (then the worker trains)
DONE_BAND_SECONDS = 0.05  # once training is done: nothing to train between bands, and each
# band sets up the first layer again (bands of one 72-point row cost 1.7× one whole call in
# CPU, of five rows 1.1×); a new job or request still waits for one band at most
UPSAMPLE = 3  # the drawn image has this many pixels per grid point per axis (bilinear)
MIN_REPLAN_S = 0.75  # the plane is chosen again at most this often while training (each new
# plane restarts the slice: at 0.3 s a 300-step digits run trained 2× slower than at 0.75 s)
MIN_PICTURE_S = 0.05  # and the kept rows projected at most this often
INTERPOLATION_POINTS = 61  # points along the line between two runs: t = −0.25, −0.225 … 1.25
INTERPOLATION_PIECE = 8  # points evaluated at a time (a stop is answered between pieces)
INTERPOLATION_RANGE = (-0.25, 1.25)  # a little beyond both solutions: is each a minimum?
BOUNDARY_RESOLUTION = 64  # pixels per axis of a decision-boundary grid
MIN_BOUNDARY_S = 0.05  # a boundary grid at most this often (it follows the playhead)
BOUNDARY_MARGIN = 0.1  # the boundary's rectangle extends this beyond the training points
# the widths over heights a boundary's rectangle may take (the panels' shapes, bounded: a
# panel squeezed to a sliver must not ask for a grid of the empty plane around the data)
BOUNDARY_ASPECTS = (0.25, 4.0)
EVAL_SHARE = 0.25  # of the training time spent on full-split evaluations, at most
MIN_EVALUATED = 100  # rows evaluated over a training, at least (when it has that many)
RECT_MARGIN = 0.15  # the slice extends this fraction of the paths' extent beyond them


# ---- what is published ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Boundary:
    """Predicted classes over the 2-D (normalized) feature space, every run, at one step."""

    rect: tuple[float, float, float, float]  # x0, x1, y0, y1 in normalized feature units
    step: int  # the recorded step shown (the nearest kept one at or before the playhead)
    classes: np.ndarray  # (R, res, res) predicted class; row j is y, column i is x
    confidence: np.ndarray  # (R, res, res) its probability
    points: np.ndarray  # (N, 2) normalized training features
    labels: np.ndarray  # (N,)


@dataclass(frozen=True, eq=False)
class Interpolation:
    """Loss (and accuracy) along the line between two runs' current points."""

    runs: tuple[int, int]  # snapshot columns
    t: np.ndarray  # (T,) 0 at the first run's point, 1 at the second's
    curves: dict  # name -> (T,) array: train_loss, train_accuracy, val_loss, val_accuracy


@dataclass(frozen=True, eq=False)
class NetworkPicture:
    """Every run's recorded states on the current plane (see the module's docstring)."""

    plane_kind: str  # "trajectory" | "random" | "three_point"
    plane_text: str  # one line for the UI: which plane, and batch norm's statistics
    path_steps: np.ndarray  # (K,) the recorded steps kept
    path_coords: np.ndarray  # (K, R, 2) their coordinates on the plane (NaN: the run has none)
    path_distance: np.ndarray  # (K, R) their distance from the plane
    path_norm: np.ndarray  # (K, R) ‖θ − origin‖, to judge the distance against
    boundary: Boundary | None = None
    interpolation: Interpolation | None = None
    # why there is no interpolation of the runs asked for ('' while there is, or is coming)
    interpolation_note: str = ""
    plane_serial: int = 0  # grows with every plane chosen (the coordinates change with it)

    def rows_to(self, head: float) -> int:
        """How many kept rows are revealed at the playhead: those with step ≤ head."""
        return int(np.searchsorted(self.path_steps, head, side="right"))


@dataclass(frozen=True)
class PlaneChoice:
    """The plane asked for: ``runs`` are snapshot columns (the random plane's centre run, the
    three-point plane's two runs); missing ones are filled with the first runs."""

    kind: str = "trajectory"
    runs: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in PLANE_KINDS:
            raise ValueError(
                f"plane kind must be one of {', '.join(PLANE_KINDS)}, not {self.kind!r}"
            )


# ---- the recorded states ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class States:
    """Recorded full states of every run: ``steps (K,)``, the parameters ``params
    (K, R, P)`` and buffers (``(K, R, Q)``, or None when the trainer keeps no buffers per
    state). Rows are read with ``take``: a picture projects only the rows it has not seen."""

    steps: np.ndarray
    params: np.ndarray
    buffers: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.steps)

    @property
    def n_runs(self) -> int:
        return self.params.shape[1]

    def take(self, rows) -> np.ndarray:
        """Parameters ``(len(rows), R, P)`` of kept rows ``rows``."""
        return self.params[np.asarray(rows, int)]


def recorded_states(trainer) -> States:
    """The trainer's recorded full states: its bounded reservoir (``trainer.snapshots``,
    ``engine.snapshots.Reservoir``; rows thinned by a stride that only ever doubles, so a
    step once kept is either still kept or gone, never changed)."""
    reservoir = trainer.snapshots
    if reservoir is None:
        return States(np.zeros(0, int), np.zeros((0, trainer.history.n_runs, 0)))
    steps, params, buffers = reservoir.view()
    return States(np.asarray(steps), params, buffers)


def eval_every_for(examples: int, batch: int, record_every: int, rows: int) -> int:
    """Rows between two full-split evaluations in the app: a full evaluation costs about
    ``examples / batch`` steps, so evaluating every k-th row keeps it under a quarter of the
    training time (``EVAL_SHARE``), but never fewer than ``MIN_EVALUATED`` evaluated rows
    over the whole training (the curves need points). 1: every row, as the headless runner."""
    per_row = max(batch, 1) * max(record_every, 1)
    cheap = math.ceil(examples / (EVAL_SHARE * per_row))
    enough = max(1, rows // MIN_EVALUATED)
    return max(1, min(cheap, enough))


# ---- planes and projections -------------------------------------------------------------------


def replan_due(planned_rows: int, rows: int, planned_done: bool, done: bool) -> bool:
    """Choose the plane again? When none was chosen yet (and there are two rows), when the
    recorded rows grew by ``PLANE_GROWTH`` since it was, or when training has just finished."""
    if rows < 2:
        return False
    if planned_rows == 0:
        return True
    if done and not planned_done:
        return True
    return rows >= max(planned_rows * PLANE_GROWTH, planned_rows + 1)


def spread(n: int, budget: int) -> np.ndarray:
    """At most ``budget`` indices of ``range(n)``, evenly spread, first and last included."""
    if n <= budget:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, budget)).astype(int))


def run_name(labels, col: int) -> str:
    return repr(labels[col]) if 0 <= col < len(labels) else f"#{col}"


def fingerprint(arrays) -> tuple:
    """Arrays (or None) as their shapes, dtypes and digests of their bytes: equal when the
    arrays hold the same values, and small whatever their size (what the picture keeps to
    tell whether what a plane or an interpolation was made from is unchanged)."""
    return tuple(
        None
        if a is None
        else (a.shape, a.dtype.str, hashlib.blake2b(np.ascontiguousarray(a)).digest())
        for a in arrays
    )


@dataclass(frozen=True, eq=False)
class PlaneInputs:
    """What a plane is made from: its kind, the experiment's seed and the arrays it is laid
    through (the trajectory plane: the states fitted and the shared start, if any; the
    random one: the centre run's point; the three-point one: the start and two points). Two
    equal inputs make the same plane: an edit that leaves them unchanged keeps the plane (and
    its slice and every projection on it) instead of computing them again."""

    kind: str
    seed: int
    arrays: tuple[np.ndarray | None, ...]

    def fingerprint(self) -> tuple:
        """The inputs without their arrays (``fingerprint``): a picture keeps this, not the
        states (up to the reservoir's size), to tell whether an edit left its plane's inputs
        unchanged."""
        return (self.kind, self.seed, fingerprint(self.arrays))

    def plane(self, model) -> Plane:
        if self.kind == "trajectory":
            points, origin = self.arrays
            return principal_plane(points, origin=origin)
        if self.kind == "random":
            return random_plane(model, self.arrays[0], self.seed)
        return three_point_plane(*self.arrays)


def plane_inputs(
    choice: PlaneChoice,
    model,
    states: States,
    current: np.ndarray,
    labels,
    seed: int,
    normalizes,
) -> tuple[PlaneInputs, str, int]:
    """What the plane ``choice`` asks for is made from (``PlaneInputs``), one line saying what
    it is, and the column whose batch norm running statistics the slice uses. ``current
    (R, P)``: every run's current point; ``normalizes`` (R,): which runs use batch norm
    (``Experiment.run_normalizes``). Raises ``ValueError`` (one line) when the plane
    can't be made (yet)."""
    finite_runs = [c for c in range(current.shape[0]) if np.isfinite(current[c]).all()]
    if not finite_runs:
        raise ValueError("every run has diverged: no point to lay a plane through")
    wanted = [c for c in choice.runs if c in finite_runs]
    picks = wanted + [c for c in finite_runs if c not in wanted]
    if choice.kind == "trajectory":
        rows = spread(states.count, max(2, PLANE_POINTS // max(states.n_runs, 1)))
        params = states.take(rows)
        finite = np.isfinite(params).all(axis=2)  # (K', R)
        points = params[finite]
        starts = params[0][finite[0]]
        # runs from one initialization: the plane goes through it, so every path starts at
        # (0, 0); otherwise through the states' mean
        origin = starts[0] if len(starts) and np.all(starts == starts[0]) else None
        arrays = (points, origin)
        col = picks[0]
        text = "trajectory plane of all runs (PCA)"
    elif choice.kind == "random":
        col = picks[0]
        arrays = (np.array(current[col]),)
        name = run_name(labels, col)
        text = f"random filter-normalized plane around the current point of run {name}"
    else:
        if len(picks) < 2:
            raise ValueError("a three-point plane needs two runs that have not diverged")
        i, j = picks[0], picks[1]
        start = states.take([0])[0, i] if states.count else current[i]
        arrays = (np.array(start), np.array(current[i]), np.array(current[j]))
        col = i
        text = (
            f"plane through the start (0, 0), run {run_name(labels, i)} (1, 0) and "
            f"run {run_name(labels, j)} (0, 1)"
        )
    if getattr(model, "batch_norm", False):
        if normalizes[col]:
            text += (
                "; batch norm in eval mode with the running statistics of run "
                f"{run_name(labels, col)}"
            )
        else:  # a run of a switchable network without batch norm: its network is drawn
            text += f"; the network without batch norm, as run {run_name(labels, col)} trains"
    return PlaneInputs(choice.kind, int(seed), arrays), text, col


def principal_plane(points, origin=None) -> Plane:
    """``engine.plane.trajectory_plane``'s plane (the top two principal directions of
    ``points (M, P)`` through their mean or ``origin``), computed from the ``M × M`` Gram
    matrix: for M of a few hundred states and P of thousands of weights it is ten times
    faster than the SVD of the points, and the same directions."""
    points = np.asarray(points, float)
    centre = points.mean(axis=0) if origin is None else np.asarray(origin, float)
    offsets = points - centre
    if offsets.shape[0] < 2:
        return trajectory_plane(points, origin=origin)  # its one-line refusal
    values, vectors = np.linalg.eigh(offsets @ offsets.T)  # ascending
    top = values[-1]
    # (s₂ > 1e-7·s₁: below that the Gram matrix's rounding, ~1e-16·λ₁, is all there is)
    if not values[-2] > 1e-14 * max(top, 1e-300):
        return trajectory_plane(points, origin=origin)  # less than a plane: its refusal
    d1 = offsets.T @ vectors[:, -1] / math.sqrt(values[-1])
    d2 = offsets.T @ vectors[:, -2] / math.sqrt(values[-2])
    coords = vectors[:, [-1, -2]] * np.sqrt(values[[-1, -2]])  # the points along d1, d2
    return oriented_plane(centre, d1, d2, coords)


def project_states(plane: Plane, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``params (K, R, P)`` on ``plane``: coordinates ``(K, R, 2)``, distance from the plane
    ``(K, R)`` and ‖θ − origin‖ ``(K, R)``; NaN for states that are not finite."""
    k, r, p = params.shape
    flat = np.asarray(params, float).reshape(k * r, p)
    finite = np.isfinite(flat).all(axis=1)
    coords = np.full((k * r, 2), np.nan)
    distance = np.full(k * r, np.nan)
    norm = np.full(k * r, np.nan)
    if finite.any():
        points = flat[finite]
        ab = plane.project(points)
        coords[finite] = ab
        offsets = points - plane.origin
        distance[finite] = np.linalg.norm(
            offsets - ab[:, :1] * plane.d1 - ab[:, 1:] * plane.d2, axis=1
        )
        norm[finite] = np.linalg.norm(offsets, axis=1)
    return coords.reshape(k, r, 2), distance.reshape(k, r), norm.reshape(k, r)


def fit_rect(coords: np.ndarray, margin: float = RECT_MARGIN) -> tuple[float, float, float, float]:
    """A rectangle around every finite point of ``coords (..., 2)`` (and the origin), with a
    margin; never degenerate."""
    pts = np.asarray(coords, float).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    pts = np.vstack([pts, np.zeros((1, 2))])
    low, high = pts.min(axis=0), pts.max(axis=0)
    span = high - low
    pad = np.maximum(span * margin, np.maximum(span.max() * 0.05, 1e-3))
    low, high = low - pad, high + pad
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def upsample(z: np.ndarray, factor: int) -> np.ndarray:
    """``z (n, m)`` sampled at pixel centres, resampled bilinearly at the pixel centres of a
    ``factor`` times finer grid over the same rectangle (edges held)."""
    if factor <= 1:
        return z
    n, m = z.shape
    src_a, src_b = (np.arange(m) + 0.5) / m, (np.arange(n) + 0.5) / n
    dst_a = (np.arange(m * factor) + 0.5) / (m * factor)
    dst_b = (np.arange(n * factor) + 0.5) / (n * factor)
    with np.errstate(all="ignore"):
        rows = np.stack([np.interp(dst_a, src_a, row) for row in z])
        return np.stack([np.interp(dst_b, src_b, col) for col in rows.T], axis=1)


def interpolate_coords(
    steps: np.ndarray, path_steps: np.ndarray, path_coords: np.ndarray
) -> np.ndarray:
    """Coordinates ``(len(steps), R, 2)`` at history rows ``steps`` from the kept rows'
    (linear in the step between two kept rows; a run's NaN rows stay out)."""
    r = path_coords.shape[1]
    out = np.full((len(steps), r, 2), np.nan)
    for col in range(r):
        ok = np.isfinite(path_coords[:, col]).all(axis=1)
        if not ok.any():
            continue
        xs = path_steps[ok]
        for d in range(2):
            out[:, col, d] = np.interp(steps, xs, path_coords[ok, col, d])
        out[steps > xs[-1], col] = np.nan  # past its last finite state: none
    return out


def boundary_rect(
    points: np.ndarray, aspect: float = 1.0, margin: float = BOUNDARY_MARGIN
) -> tuple:
    """``(x0, x1, y0, y1)``: the 2-D points' ``(N, 2)`` bounding box with a margin (a fraction
    of its larger half-side, the same on both axes), widened or heightened about its centre
    to ``aspect`` = width / height (bounded by ``BOUNDARY_ASPECTS``): a panel of that shape
    shows it whole at equal scales on both axes, without blank bands beside it. An aspect
    of 1 is the square the panels showed before they asked for their shape."""
    aspect = min(max(float(aspect), BOUNDARY_ASPECTS[0]), BOUNDARY_ASPECTS[1])
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    half = np.maximum((high - low) / 2, 1e-3)
    half = half + float(half.max()) * margin
    half_x, half_y = max(float(half[0]), half[1] * aspect), max(float(half[1]), half[0] / aspect)
    return (centre[0] - half_x, centre[0] + half_x, centre[1] - half_y, centre[1] + half_y)


def state_at(steps: np.ndarray, head: float) -> int:
    """The kept row shown at the playhead: the newest with step ≤ head (row 0 before)."""
    return max(int(np.searchsorted(steps, head, side="right")) - 1, 0)


def make_boundary(model, split, states: States, row: int, rect, should_stop=None) -> Boundary:
    """Every run's predicted class over ``rect`` at kept row ``row`` (evaluation mode, each run
    with its own running statistics of that row); a run without a finite state there shows
    no class (confidence 0). ``should_stop()``, when given, is asked between the grid's
    layers and chunks (a wide network's grid takes seconds on a loaded machine): true raises
    ``engine.plane.Cancelled``."""
    params = np.asarray(states.take([row])[0], float)  # (R, P)
    r = params.shape[0]
    if states.buffers is not None and states.buffers.shape[-1]:
        buffers = np.asarray(states.buffers[row], float)
    else:
        buffers = np.zeros((r, model.n_buffers))
    finite = np.isfinite(params).all(axis=1) & np.isfinite(buffers).all(axis=1)
    safe_params = np.where(finite[:, None], params, 0.0)
    safe_buffers = np.where(finite[:, None], buffers, 1.0)
    with np.errstate(all="ignore"):
        classes, confidence = decision_grid(
            model, safe_params, safe_buffers, rect, BOUNDARY_RESOLUTION, should_stop=should_stop
        )
    confidence = np.where(finite[:, None, None], confidence, 0.0)
    return Boundary(
        rect=tuple(float(v) for v in rect),
        step=int(states.steps[row]),
        classes=classes,
        confidence=confidence,
        points=np.asarray(split.x_train, float),
        labels=np.asarray(split.y_train),
    )


MIXED_NETWORKS = (
    "One of these runs trains with batch norm and the other without: two different "
    "networks, with no line of one network's weights between them. Choose two runs of "
    "one kind."
)


def make_interpolation(
    model, split, current, buffers, runs: tuple[int, int], should_stop=None
) -> Interpolation:
    """Loss and accuracy along the line from run ``i``'s current point to run ``j``'s
    (``engine.plane.interpolation_losses``), batch norm with the two runs' running statistics
    interpolated along the line, so that each end is that run's own loss. ``should_stop()``,
    when given, is asked between pieces of the line (a wide network's 61 points over every
    example take seconds): true raises ``engine.plane.Cancelled``."""
    i, j = runs
    t = np.linspace(*INTERPOLATION_RANGE, INTERPOLATION_POINTS)
    if buffers is None:
        first = second = np.zeros(model.n_buffers)
    else:
        first, second = buffers[i], buffers[j]
    pieces = []
    for start in range(0, len(t), INTERPOLATION_PIECE):
        if should_stop is not None and should_stop():
            raise Cancelled("the interpolation was cancelled")
        ts = t[start : start + INTERPOLATION_PIECE]  # each point is its own evaluation
        with np.errstate(all="ignore"):
            pieces.append(
                interpolation_losses(model, current[i], current[j], first, split, ts, second)
            )
    curves = {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
    return Interpolation(runs=(int(i), int(j)), t=t, curves=curves)


# ---- the slice, band by band ------------------------------------------------------------------


class SliceTask:
    """The loss over ``rect`` of ``plane``, coarse then fine, computed band by band: each
    ``step()`` evaluates a band of grid rows that takes about ``BAND_SECONDS`` (or the
    ``band_seconds`` given) and returns
    the finished grid (``(z, rect, fine)``) when one is complete, else None. ``done`` once
    the fine one is."""

    def __init__(
        self, model, plane, buffers, x, y, rect, *, coarse=True, fine_points=None, should_stop=None
    ):
        self.model, self.plane, self.buffers, self.x, self.y = model, plane, buffers, x, y
        # asked between the grid's blocks: true raises engine.plane.Cancelled (a closed
        # window's worker stops within a block, not after a wide network's whole band)
        self.should_stop = should_stop
        self.rect = tuple(float(v) for v in rect)
        fine = FINE_POINTS if fine_points is None else fine_points  # (read now: tests set it)
        self._passes = ([COARSE_POINTS] if coarse else []) + [fine]
        self._rows: list[np.ndarray] = []  # the current pass's bands of grid rows so far
        self._seconds = 0.0  # spent on the current pass
        self._per_point = math.nan  # seconds per grid point, as measured
        self.done = False
        self.key: tuple | None = None  # what the grid is of (``NetworkLive._slice_key``)

    def progress_text(self) -> str:
        if self.done:
            return ""
        points = self._passes[0]
        which = "preview" if len(self._passes) > 1 else "refining"
        return f"slice of the plane: {which} {points}×{points}, {100 * self._rows_done // points}%"

    @property
    def _rows_done(self) -> int:
        """Grid rows of the current pass computed so far."""
        return sum(len(band) for band in self._rows)

    def step(self, band_seconds: float = BAND_SECONDS):
        if self.done:
            return None
        points = self._passes[0]
        a, b = pixel_centres(self.rect, points)  # the surfaces' grid (``Surface.z``)
        start = self._rows_done
        band = 1
        if math.isfinite(self._per_point):
            band = max(1, int(band_seconds / (self._per_point * points)))
        b_band = b[start : start + band]
        began = time.perf_counter()
        with np.errstate(all="ignore"):
            loss, _ = mlp_grid_loss(
                self.model, self.plane, self.buffers, self.x, self.y, a, b_band,
                workers=default_workers(),  # the band's blocks on every core (same bits)
                should_stop=self.should_stop,
            )  # fmt: skip
        spent = time.perf_counter() - began
        self._seconds += spent
        self._per_point = spent / (points * len(b_band))
        self._rows.append(np.asarray(loss, float))
        if start + len(b_band) < points:
            return None
        z = np.concatenate(self._rows)
        self._rows = []
        self._passes.pop(0)
        if self._passes:  # the fine pass: as fine as FINE_SECONDS allow at this speed
            per_point = self._seconds / (points * points)
            affordable = int(math.sqrt(FINE_SECONDS / max(per_point, 1e-9)))
            self._passes[0] = max(points, min(self._passes[0], affordable))
        self._seconds = 0.0
        fine = not self._passes
        self.done = fine
        return z, self.rect, fine


# ---- one job's live picture --------------------------------------------------------------------

# shared by every job: the worker keys a slice by the problem's surface_key and this serial,
# and two jobs of the same problem (another optimizer, say) must never share a key
_plane_serials = itertools.count(1)


class NetworkLive:
    """One network job's picture, kept up to date on the worker thread (module docstring).

    ``built``: the engine's ``Built`` of a network experiment. ``previous``: the live picture
    of the finished job whose trainer ``built.trainer`` copied its unchanged runs from
    (``Trainer(reuse=...)``, an edit of one run): its plane, slice, projections and
    interpolation are taken over where what they were computed from is unchanged
    (``_adopt_previous``), so that an edit recomputes only what the edit changed."""

    def __init__(
        self,
        built,
        choice: PlaneChoice | None = None,
        clock=time.perf_counter,
        previous: NetworkLive | None = None,
        should_stop=None,
    ):
        self.built = built
        # the worker's "stop or a newer job": the slice and the interpolation ask it as they
        # go and raise engine.plane.Cancelled (this picture is then of no use)
        self.should_stop = should_stop
        self.trainer = built.trainer
        self.problem = built.problem
        self.model = built.problem.model
        self.labels = list(self.trainer.history.labels)
        self.choice = choice or PlaneChoice()
        self.clock = clock
        self.plane: Plane | None = None
        self.plane_text = ""
        self.plane_error = ""  # why there is no plane ('' when there is one, or none yet)
        self.buffers_col = 0
        self.plane_serial = 0
        self._planned_rows = 0
        self._planned_done = False
        self._planned_at = -math.inf
        self._force = False
        # projections of the kept rows on the current plane, by step
        self._projected: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.picture: NetworkPicture | None = None
        self._picture_key = None
        self._picture_at = -math.inf
        self.task: SliceTask | None = None
        self.grid: tuple[np.ndarray, tuple, bool] | None = None  # (z, rect, fine) latest
        self.default_rect: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
        # the history rows' coordinates on the plane (``history_view.coords``), filled up to
        # ``_filled`` from the kept rows' (``_fill_history_coords``)
        self._coords: np.ndarray | None = None
        self._filled = 0
        self.history_view = None
        # the decision boundary (2-D data sets) at the playhead, the interpolation's runs
        split = self.problem.split
        self.two_d = self.model.widths[0] == 2
        self.boundary_aspect = 1.0  # the panels' width / height (``set_boundary_aspect``)
        self.boundary_rect = boundary_rect(np.asarray(split.x_train, float)) if self.two_d else None
        self.head = 0.0
        self._boundary_step_shown: int | None = None
        self._boundary_at = -math.inf
        self.interpolation_runs: tuple[int, ...] = ()  # asked for (columns); () the first two
        self._interpolation_key = None
        self.boundary: Boundary | None = None
        self.interpolation: Interpolation | None = None
        self.interpolation_note = ""  # why there is none of the runs asked for
        # what the plane, the slice and the interpolation were computed from: the same
        # inputs again keep them (an edit that does not touch the runs they are made of)
        self._plane_inputs: tuple | None = None  # PlaneInputs.fingerprint of ``plane``
        self._grid_key: tuple | None = None  # (plane_serial, rect, buffers) of ``grid``
        self._interpolation_inputs: tuple | None = None  # fingerprint of its two runs' ends
        # the previous job's projections on the plane taken over, by step, and which of its
        # columns are this job's copied runs (``reused``: this job's column -> its column)
        self._inherited: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._inherit_cols: tuple[list[int], list[int]] = ([], [])
        self._previous = self._adoptable(previous)
        if self._previous is not None and previous._interpolation_inputs is not None:
            self.interpolation = previous.interpolation
            self._interpolation_inputs = previous._interpolation_inputs

    def _adoptable(self, previous: NetworkLive | None) -> NetworkLive | None:
        """``previous`` when this job copied runs from its trainer, else None."""
        reused = getattr(self.trainer, "reused", {})
        if previous is None or not reused or not previous.trainer.done:
            return None
        return previous

    def _adopt_previous(self) -> bool:
        """Take over the previous job's plane (its serial too: the same plane), slice and
        projections of the copied runs, when it was of the same kind; True when taken. While
        most runs are copied the plane is then held until training is done (an edit of one
        run trains for a moment; a plane chosen again meanwhile would restart the slice
        every time): the new run's path is drawn on the old plane, and the plane is chosen
        again once at the end, kept when its inputs are unchanged (``_replan``)."""
        previous, self._previous = self._previous, None
        if previous is None or previous.plane is None or previous.choice.kind != self.choice.kind:
            return False
        try:
            _, text, col = self._plane_inputs_now()
        except ValueError:
            return False
        self.plane, self._plane_inputs = previous.plane, previous._plane_inputs
        self.plane_serial, self.plane_text, self.buffers_col = previous.plane_serial, text, col
        self.grid, self._grid_key = previous.grid, previous._grid_key
        self.default_rect = previous.default_rect
        if not previous.slice_of_plane():
            self.grid = self._grid_key = None  # a slice of another plane is no slice of this
        if self.grid is None:  # its slice never came: this one's
            self.task = self._task(self.default_rect, coarse=True)
        reused = self.trainer.reused
        self._inherited = previous._projected
        self._inherit_cols = (list(reused), [reused[c] for c in reused])
        if 2 * len(reused) >= len(self.labels):
            self._planned_rows, self._planned_done = self.trainer.total_rows, False
        return True

    def slice_of_plane(self) -> bool:
        """Whether the grid held is a slice of the current plane (a picture an edit's job
        may take over, even with its refinement unfinished)."""
        return self.grid is not None and self._grid_key[0] == self.plane_serial

    def drop_slice_task(self) -> None:
        """Stop refining the slice (cancelled): the grid held stays."""
        self.task = None

    # ---- requests ------------------------------------------------------------------------
    def set_choice(self, choice: PlaneChoice) -> None:
        """Another plane: chosen at the next ``update``, whatever the cadence."""
        self.choice = choice
        self._force = True

    def set_head(self, head: float) -> None:
        """The playhead: the decision boundary follows it (``update``)."""
        self.head = float(head)

    def set_interpolation_runs(self, runs: tuple[int, ...]) -> None:
        """The interpolation between these two columns (computed at the next ``update``)."""
        self.interpolation_runs = tuple(runs)
        self._interpolation_key = None

    def set_boundary_aspect(self, aspect: float) -> None:
        """The boundary panels' shape (width / height): the grid is computed again over the
        training points' box widened to it (``boundary_rect``) at the next ``update``."""
        if not self.two_d or aspect == self.boundary_aspect:
            return
        self.boundary_aspect = aspect
        rect = boundary_rect(np.asarray(self.problem.split.x_train, float), aspect)
        if rect != self.boundary_rect:
            self.boundary_rect = rect
            self._boundary_step_shown = None  # the step shown, over the old rectangle

    def wants_boundary(self) -> bool:
        """A boundary grid for the playhead is due (and not throttled)."""
        if not self.two_d or self.trainer.snapshots is None:
            return False
        if self.clock() < self._boundary_at:
            return False
        step = self._boundary_step()
        return step is not None and step != self._boundary_step_shown

    def _boundary_step(self) -> int | None:
        """The kept step a boundary at the playhead shows (None: none kept yet). A kept
        step's state never changes, so the step alone says whether the boundary is new."""
        steps = self.trainer.snapshots.steps
        return int(steps[state_at(steps, self.head)]) if len(steps) else None

    def request_rect(self, rect) -> None:
        """The slice over ``rect`` (a zoom or pan), fine at once; replaces any task."""
        if self.plane is not None:
            self.task = self._task(rect, coarse=False)

    # ---- the worker's calls --------------------------------------------------------------
    def update(self) -> bool:
        """After a training chunk: choose the plane again when due, project the new kept
        rows; True when the picture changed."""
        t = self.trainer
        h = t.history
        adopted = self._previous is not None and self._adopt_previous()
        rows, done = h.count, t.done
        now = self.clock()
        due = self._force or replan_due(self._planned_rows, rows, self._planned_done, done)
        outcome = None
        if due and (self._force or done or now - self._planned_at >= MIN_REPLAN_S):
            self._force = False
            outcome = self._replan(rows, done, now)
        replanned = outcome == "new"
        changed = self._update_interpolation(replanned or done)
        changed = self._update_boundary() or changed
        # a new plane: its coordinates at once (the old plane's would be drawn on the new)
        refreshed = self._refresh_picture(force=changed or outcome is not None or adopted)
        if replanned:  # the new plane's slice, around the paths as it shows them
            self.default_rect = fit_rect(self.picture.path_coords)
            self.task = self._task(self.default_rect, coarse=True)
        elif outcome == "kept":  # the same plane: a slice only where the old one won't do
            self._slice_around(fit_rect(self.picture.path_coords))
        return refreshed

    def _slice_key(self, rect) -> tuple:
        return (self.plane_serial, tuple(float(v) for v in rect), self._slice_buffers())

    @staticmethod
    def _same_slice(a: tuple | None, b: tuple | None) -> bool:
        """Two slice keys (plane, rectangle, running statistics) give the same grid."""
        if a is None or b is None:
            return False
        return a[:2] == b[:2] and np.array_equal(a[2], b[2])

    def _slice_around(self, rect) -> None:
        """The slice over ``rect`` on the kept plane: none when the grid there (or the task
        computing it) is already of this plane, rectangle and running statistics; only the
        refined pass when just its preview is."""
        key = self._slice_key(rect)
        self.default_rect = tuple(rect)
        if self.task is not None and not self.task.done and self._same_slice(self.task.key, key):
            return
        same = self.grid is not None and self._same_slice(self._grid_key, key)
        if same and self.grid[2]:
            return
        self.task = self._task(rect, coarse=not same)

    def _update_interpolation(self, due: bool) -> bool:
        """The interpolation between the two runs' current points: when asked for, when the
        plane is chosen again (the same cadence) and when training is done."""
        r = len(self.labels)
        runs = tuple(c for c in self.interpolation_runs if 0 <= c < r)
        if len(runs) != 2 or runs[0] == runs[1]:
            runs = (0, 1) if r >= 2 else ()
        if not runs:
            return self._drop_interpolation()
        experiment = self.built.experiment
        mixed = experiment.run_normalizes(runs[0]) != experiment.run_normalizes(runs[1])
        note = MIXED_NETWORKS if mixed else ""
        changed, self.interpolation_note = note != self.interpolation_note, note
        if mixed:  # no line between the two networks: none, and the reason why
            self._interpolation_key = None
            return self._drop_interpolation() or changed
        key, old = (runs, self.trainer.step), self._interpolation_key
        if old is not None and old[0] == runs and (old == key or not due):
            return False  # the same runs: again at the plane's cadence only
        current, buffers = self.trainer.final_state()
        self._interpolation_key = key
        if not np.isfinite(current[list(runs)]).all():
            # no line between points that are not finite; nor may an earlier job's curves
            # (taken over with its picture) stand in for it
            return self._drop_interpolation()
        i, j = runs
        inputs = fingerprint(
            (current[i], current[j])
            + ((None, None) if buffers is None else (buffers[i], buffers[j]))
        )
        if inputs == self._interpolation_inputs:
            # the two runs' points are where they were (copied runs, a finished run): the
            # same curves, perhaps of other columns
            if self.interpolation.runs == runs:
                return False
            self.interpolation = dataclasses.replace(self.interpolation, runs=runs)
            return True
        self.interpolation = make_interpolation(
            self.model, self.problem.split, current, buffers, runs, self.should_stop
        )
        self._interpolation_inputs = inputs
        return True

    def _drop_interpolation(self) -> bool:
        """No interpolation (fewer than two runs, or one not finite); True if one was shown."""
        shown = self.interpolation is not None
        self.interpolation = self._interpolation_inputs = None
        return shown

    def _update_boundary(self) -> bool:
        if not self.wants_boundary():
            return False
        states = recorded_states(self.trainer)
        row = state_at(states.steps, self.head)
        self.boundary = make_boundary(
            self.model, self.problem.split, states, row, self.boundary_rect, self.should_stop
        )
        self._boundary_step_shown = int(states.steps[row])
        self._boundary_at = self.clock() + MIN_BOUNDARY_S
        return True

    def _replan(self, rows: int, done: bool, now: float) -> str | None:
        """Choose the plane again: "new" when there is a new one (``update`` then draws the
        paths on it and lays its slice around them), "kept" when it is made of the same
        inputs as the plane in use (kept, with its serial and projections), None when no
        plane can be made."""
        self._planned_rows, self._planned_done, self._planned_at = rows, done, now
        try:
            inputs, text, col = self._plane_inputs_now()
            fingerprint = inputs.fingerprint()
            kept = self.plane is not None and fingerprint == self._plane_inputs
            plane = self.plane if kept else inputs.plane(self.model)
        except ValueError as exc:
            self.plane_error = str(exc)
            return None
        self.plane_error = ""
        self.plane_text, self.buffers_col = text, col
        if kept:
            return "kept"
        self.plane, self._plane_inputs = plane, fingerprint
        self.plane_serial = next(_plane_serials)
        self._projected = {}
        self._inherited = {}
        self._picture_key = None
        self._coords = None
        return "new"

    def _plane_inputs_now(self) -> tuple[PlaneInputs, str, int]:
        """``plane_inputs`` of the choice at the trainer's states now (its ``ValueError``)."""
        experiment = self.built.experiment
        normalizes = [experiment.run_normalizes(i) for i in range(len(experiment.runs))]
        states, current = recorded_states(self.trainer), self.trainer.final_state()[0]
        return plane_inputs(
            self.choice, self.model, states, current, self.labels, experiment.seed, normalizes
        )

    def _slice_buffers(self) -> np.ndarray:
        """The running statistics the slice is evaluated with (``buffers_col``'s, or the
        start's while those are not finite): the slice drawn and its hover read-out share
        them, so that the read-out is the loss of the picture under the pointer."""
        _, buffers = self.trainer.final_state()
        if buffers is None or not np.isfinite(buffers[self.buffers_col]).all():
            return np.asarray(self.problem.start_buffers)
        return buffers[self.buffers_col]

    def _task(self, rect, *, coarse: bool) -> SliceTask:
        split, buffers = self.problem.split, self._slice_buffers()
        task = SliceTask(
            self.model, self.plane, buffers, split.x_train, split.y_train, rect, coarse=coarse,
            should_stop=self.should_stop,
        )  # fmt: skip
        task.key = self._slice_key(rect)
        return task

    def work(self, budget_s: float = 0.03) -> bool:
        """Advance the slice for about ``budget_s``; True when a grid was finished."""
        finished = False
        until = self.clock() + budget_s
        band = DONE_BAND_SECONDS if self.trainer.done else BAND_SECONDS
        while self.task is not None and not self.task.done:
            result = self.task.step(band)
            if result is not None:
                self.grid, self._grid_key = result, self.task.key
                finished = True
                if self.task.done:
                    self.task = None
                break  # publish each finished grid at once (the coarse one is the preview)
            if self.clock() >= until:
                break
        return finished

    @property
    def has_work(self) -> bool:
        return self.task is not None and not self.task.done

    @property
    def activity(self) -> str:
        """What is being computed besides the training, for the status bar ('' nothing)."""
        if self.has_work:
            return self.task.progress_text()
        return self.plane_error

    # ---- the picture ---------------------------------------------------------------------
    def _make_picture(self, states: States) -> NetworkPicture:
        plane = self.plane
        steps = np.asarray(states.steps, int)
        k, r = states.count, len(self.labels)
        coords = np.full((k, r, 2), np.nan)
        distance = np.full((k, r), np.nan)
        norm = np.full((k, r), np.nan)
        new = [i for i, s in enumerate(steps) if int(s) not in self._projected]
        mine, theirs = self._inherit_cols
        inherit = [i for i in new if int(steps[i]) in self._inherited] if mine else []
        if inherit:  # the copied runs' rows as the previous job projected them: the others'
            copied = set(mine)
            fresh = [c for c in range(r) if c not in copied]
            for i in inherit:
                old = self._inherited[int(steps[i])]
                row = tuple(np.full((r, *part.shape[1:]), np.nan) for part in old)
                for part, was in zip(row, old, strict=True):
                    part[mine] = was[theirs]
                self._projected[int(steps[i])] = row
            if fresh:
                c, d, n = project_states(plane, states.params[np.ix_(inherit, fresh)])
                for idx, i in enumerate(inherit):
                    row = self._projected[int(steps[i])]
                    row[0][fresh], row[1][fresh], row[2][fresh] = c[idx], d[idx], n[idx]
            new = [i for i in new if int(steps[i]) not in self._inherited]
        if new:
            c, d, n = project_states(plane, states.take(new))
            for idx, i in enumerate(new):
                self._projected[int(steps[i])] = (c[idx], d[idx], n[idx])
        for i, s in enumerate(steps):
            coords[i], distance[i], norm[i] = self._projected[int(s)]
        if len(self._projected) > 4 * max(k, 1):  # thinned away: forget them
            keep = {int(s) for s in steps}
            self._projected = {s: v for s, v in self._projected.items() if s in keep}
        self.picture = NetworkPicture(
            plane_kind=self.choice.kind,
            plane_text=self.plane_text,
            path_steps=steps,
            path_coords=coords,
            path_distance=distance,
            path_norm=norm,
            boundary=self.boundary,
            interpolation=self.interpolation,
            interpolation_note=self.interpolation_note,
            plane_serial=self.plane_serial,
        )
        return self.picture

    def _refresh_picture(self, force: bool = False) -> bool:
        if self.plane is None:
            return False
        h = self.trainer.history
        key = (self.plane_serial, h.count)
        if key == self._picture_key and not force:
            return False
        now = self.clock()
        throttled = self._picture_key is not None and not self.trainer.done
        if throttled and not force and now < self._picture_at:
            return False  # at most every MIN_PICTURE_S while training: frames are no faster
        self._picture_key, self._picture_at = key, now + MIN_PICTURE_S
        picture = self._make_picture(recorded_states(self.trainer))
        self._fill_history_coords(picture)
        return True

    def _fill_history_coords(self, picture: NetworkPicture) -> None:
        """The history rows' coordinates on the plane, for views that draw
        ``history.coords`` (rows between two kept states are interpolated). A new array
        for every plane: rows published once are never written again."""
        h = self.trainer.history
        if self._coords is None:
            self._coords = np.full(h.coords.shape, np.nan)
            self._filled = 0
            self.history_view = dataclasses.replace(h, coords=self._coords)
        if picture.path_steps.size == 0:
            return
        last = int(picture.path_steps[-1])
        end = int(np.searchsorted(h.step[: h.count], last, side="right"))
        if end > self._filled:
            rows = slice(self._filled, end)
            self._coords[rows] = interpolate_coords(
                h.step[rows], picture.path_steps, picture.path_coords
            )
            self._filled = end

    @property
    def filled_rows(self) -> int:
        """History rows whose coordinates are known (the rest are drawn once they are)."""
        return self._filled

    def value_at(self, a: float, b: float) -> float:
        """The slice's exact loss at (a, b) (the hover read-out)."""
        if self.plane is None:
            return math.nan
        split = self.problem.split
        loss, _ = mlp_grid_loss(
            self.model, self.plane, self._slice_buffers(), split.x_train, split.y_train, [a], [b]
        )
        return float(np.asarray(loss).ravel()[0])

    def start_point(self) -> tuple[float, float]:
        """Where the start lies on the plane."""
        if self.plane is None:
            return (0.0, 0.0)
        ab = self.plane.project(self.problem.start[None])[0]
        return float(ab[0]), float(ab[1])
