"""The drawing math, without Qt: what the surface view, the exported figures and the GIF
draw is computed here, once, and handed to pyqtgraph as plain arrays.

Everything takes and returns NumPy arrays in data coordinates (a box is
``(x0, x1, y0, y1)``): clipping a path to the view, where a diverged path leaves it, pulling
far points in, thinning long paths and decimating long curves without losing their shape,
arrows, fitting a view to the paths, the surface's colour values and contour lines, and the
ticks of log axes. ``tests/test_architecture.py`` keeps this module free of Qt.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

LOG_SHADING_FRACTION = 0.35  # log colours when this much of the view is in the bottom 10%
FAR_FACTOR = 50.0  # path points farther than this many views away are pulled in to there
CONTOUR_LEVELS = 14

Box = tuple[float, float, float, float]


def view_tuple(view) -> Box:
    """``(w1_min, w1_max, w2_min, w2_max)`` of a ``View`` or of any four numbers."""
    if hasattr(view, "w1_min"):
        view = (view.w1_min, view.w1_max, view.w2_min, view.w2_max)
    x0, x1, y0, y1 = (float(v) for v in view)
    return (x0, x1, y0, y1)


# ---- the surface ---------------------------------------------------------------------------


class Shading:
    """Loss → colour value: ``log10(loss − min + ε)`` when the loss spans a wide range
    (Rosenbrock's walls are thousands of times its valley: most of the view is in the bottom
    tenth of the range), the loss itself otherwise; what is not finite takes the top colour.
    Fixed once per surface, so that the app's view, re-evaluating the grid after a zoom,
    keeps its colours."""

    def __init__(self, z: np.ndarray):
        z = np.asarray(z, float)
        finite = z[np.isfinite(z)]
        self.log = False
        self.low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 1.0
        top = high - self.low
        self.eps = 1.0
        if finite.size and top > 0 and math.isfinite(top):
            # linear colours hide everything that happens at the bottom of a deep valley
            self.log = bool(np.mean(finite - self.low < 0.1 * top) >= LOG_SHADING_FRACTION)
            # ε: the loss difference below which colours stop changing, the floor of the few
            # lowest pixels (so that the colour range is spent on what the view shows)
            self.eps = max(float(np.percentile(finite - self.low, 1.0)), top * 1e-8, 1e-300)
        values = self(z)
        lo, hi = float(values.min()), float(values.max())
        self.levels = (lo, hi if hi > lo else lo + 1.0)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        finite = np.isfinite(z)
        if not finite.all():  # overflowed far out: the top colour
            z = np.where(finite, z, z[finite].max() if finite.any() else self.low)
        if not self.log:
            return z
        return np.log10(np.maximum(z - self.low, 0.0) + self.eps)

    def contour_levels(self, count: int = CONTOUR_LEVELS) -> np.ndarray:
        """``count`` evenly spaced colour values strictly inside the colour range."""
        lo, hi = self.levels
        return np.linspace(lo, hi, count + 2)[1:-1]


def shade_surface(z: np.ndarray) -> tuple[np.ndarray, bool]:
    """Finite values to colour a loss grid by (see ``Shading``), and whether they are
    logarithmic."""
    shading = Shading(z)
    return shading(z), shading.log


def pixel_centres(box: Box, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``w1`` and ``w2`` of the centres of a ``resolution``² image that fills ``box``."""
    x0, x1, y0, y1 = box
    w1 = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    w2 = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    return w1, w2


def contour_segments(values: np.ndarray, level: float) -> np.ndarray:
    """The contour line ``values == level`` by marching squares, as segments of shape
    (m, 2, 2): ``[k, end, (column, row)]`` in sample units (sample (r, c) is at (c, r)),
    linearly interpolated along the cells' edges. A saddle cell (four crossings) is split
    by the value at its centre."""
    z = np.asarray(values, float)
    if z.ndim != 2 or min(z.shape) < 2:
        return np.zeros((0, 2, 2))
    above = z >= level
    with np.errstate(divide="ignore", invalid="ignore"):
        # crossings along horizontal edges (r, c)–(r, c+1) and vertical ones (r, c)–(r+1, c)
        th = (level - z[:, :-1]) / (z[:, 1:] - z[:, :-1])
        tv = (level - z[:-1, :]) / (z[1:, :] - z[:-1, :])
    cross_h = above[:, :-1] != above[:, 1:]
    cross_v = above[:-1, :] != above[1:, :]
    rows, cols = np.mgrid[0 : z.shape[0] - 1, 0 : z.shape[1] - 1]
    # the four edges of cell (r, c): bottom, right, top, left, each as (crosses?, x, y)
    edges = (
        (cross_h[:-1, :], cols + th[:-1, :], rows),
        (cross_v[:, 1:], cols + 1.0, rows + tv[:, 1:]),
        (cross_h[1:, :], cols + th[1:, :], rows + 1.0),
        (cross_v[:, :-1], cols + 0.0, rows + tv[:, :-1]),
    )
    count = sum(e[0].astype(int) for e in edges)
    pieces = []

    def emit(mask, a, b):
        if mask.any():
            ea, eb = edges[a], edges[b]
            seg = np.empty((int(mask.sum()), 2, 2))
            seg[:, 0, 0], seg[:, 0, 1] = ea[1][mask], ea[2][mask]
            seg[:, 1, 0], seg[:, 1, 1] = eb[1][mask], eb[2][mask]
            pieces.append(seg)

    two = count == 2
    for a, b in itertools.combinations(range(4), 2):
        emit(two & edges[a][0] & edges[b][0], a, b)
    four = count == 4
    if four.any():
        centre = 0.25 * (z[:-1, :-1] + z[:-1, 1:] + z[1:, :-1] + z[1:, 1:]) >= level
        joined = four & (centre == above[:-1, :-1])  # the bottom-left corner's side holds
        emit(joined, 0, 1)  # the centre: cut off the bottom-right and top-left corners
        emit(joined, 2, 3)
        emit(four & ~joined, 0, 3)  # else cut off the bottom-left and top-right ones
        emit(four & ~joined, 1, 2)
    return np.concatenate(pieces) if pieces else np.zeros((0, 2, 2))


def contour_pairs(values: np.ndarray, levels: Sequence[float], box: Box) -> np.ndarray:
    """Every contour segment of ``values`` (sampled at the pixel centres of an image that
    fills ``box``) at ``levels``, as points in data coordinates in pairs (segment k joins
    rows 2k and 2k + 1), shape (2m, 2): pyqtgraph's ``connect="pairs"``."""
    z = np.asarray(values, float)
    x0, x1, y0, y1 = box
    sx, sy = (x1 - x0) / z.shape[1], (y1 - y0) / z.shape[0]
    segments = [contour_segments(z, float(level)) for level in levels]
    pts = np.concatenate(segments).reshape(-1, 2) if segments else np.zeros((0, 2))
    return np.column_stack([x0 + (pts[:, 0] + 0.5) * sx, y0 + (pts[:, 1] + 0.5) * sy])


def grid_value(values: np.ndarray, box: Box, x: float, y: float) -> float:
    """The loss at ``(x, y)`` interpolated (bilinearly) from a grid sampled at the pixel
    centres of an image filling ``box``; NaN outside the box. A lookup, not a computation:
    the hover read-out uses it."""
    z = np.asarray(values, float)
    x0, x1, y0, y1 = box
    if not (x0 <= x <= x1 and y0 <= y <= y1) or z.ndim != 2:
        return math.nan
    u = (x - x0) / (x1 - x0) * z.shape[1] - 0.5
    v = (y - y0) / (y1 - y0) * z.shape[0] - 0.5
    c = min(max(u, 0.0), z.shape[1] - 1.0)
    r = min(max(v, 0.0), z.shape[0] - 1.0)
    c0, r0 = min(int(c), z.shape[1] - 2), min(int(r), z.shape[0] - 2)
    if c0 < 0 or r0 < 0:  # a grid of one row or column
        return float(z[round(r), round(c)])
    fc, fr = c - c0, r - r0
    top = z[r0 + 1, c0] * (1 - fc) + z[r0 + 1, c0 + 1] * fc
    bottom = z[r0, c0] * (1 - fc) + z[r0, c0 + 1] * fc
    return float(bottom * (1 - fr) + top * fr)


# ---- paths ---------------------------------------------------------------------------------


def finite_path(coords: np.ndarray) -> np.ndarray:
    """The rows of a path, shape (n, 2), that are finite."""
    points = np.asarray(coords, float).reshape(-1, 2)
    return points[np.isfinite(points).all(axis=1)]


def fit_view(view: Box, paths: Sequence[np.ndarray], grow: float = 1.0) -> Box:
    """The view widened (by at most ``grow`` of its size on each side) to hold the paths."""
    x0, x1, y0, y1 = view
    if not paths or not any(len(p) for p in paths):
        return view
    points = np.concatenate([p for p in paths if len(p)])
    width, height = x1 - x0, y1 - y0
    lo = np.maximum(points.min(axis=0), (x0 - grow * width, y0 - grow * height))
    hi = np.minimum(points.max(axis=0), (x1 + grow * width, y1 + grow * height))
    nx0, ny0 = min(x0, lo[0]), min(y0, lo[1])
    nx1, ny1 = max(x1, hi[0]), max(y1, hi[1])
    # a little room around a path that had to be let in
    pad_x = 0.03 * (nx1 - nx0) if (nx0, nx1) != (x0, x1) else 0.0
    pad_y = 0.03 * (ny1 - ny0) if (ny0, ny1) != (y0, y1) else 0.0
    return (
        float(nx0 - pad_x * (nx0 < x0)),
        float(nx1 + pad_x * (nx1 > x1)),
        float(ny0 - pad_y * (ny0 < y0)),
        float(ny1 + pad_y * (ny1 > y1)),
    )


def in_box(points: np.ndarray, box: Box) -> np.ndarray:
    """Which of the points, shape (n, 2), lie in ``box = (x0, x1, y0, y1)`` (edges included)."""
    x0, x1, y0, y1 = box
    x, y = points[:, 0], points[:, 1]
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def inside(point, box: Box, slack: float = 1e-9) -> bool:
    """The point lies in the box (give or take ``slack`` of its size)."""
    x0, x1, y0, y1 = box
    sx, sy = slack * (x1 - x0), slack * (y1 - y0)
    return bool(x0 - sx <= point[0] <= x1 + sx and y0 - sy <= point[1] <= y1 + sy)


def clip_polyline(points: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parts of a polyline inside ``box = (x0, x1, y0, y1)`` (Liang–Barsky, segment by
    segment): ``x``, ``y`` and pyqtgraph's ``connect`` array (point i joins point i + 1).
    A path that stays inside comes back whole; one that leaves and comes back is one line
    per visit, each ending (and starting again) exactly on the edge."""
    x0, x1, y0, y1 = box
    xs: list[float] = []
    ys: list[float] = []
    joins: list[bool] = []
    points = np.asarray(points, float)
    if len(points) and in_box(points, box).all():
        connect = np.ones(len(points), bool)
        connect[-1] = False
        return points[:, 0].copy(), points[:, 1].copy(), connect
    if len(points) == 1:
        if inside(points[0], box):
            return points[:, 0].copy(), points[:, 1].copy(), np.zeros(1, bool)
        return np.zeros(0), np.zeros(0), np.zeros(0, bool)
    open_end = None  # the end of the last kept segment, if the next one may continue it
    for a, b in itertools.pairwise(points):
        d = b - a
        t0, t1 = 0.0, 1.0
        visible = True
        for p, q in ((-d[0], a[0] - x0), (d[0], x1 - a[0]), (-d[1], a[1] - y0), (d[1], y1 - a[1])):
            if p == 0:
                if q < 0:
                    visible = False
                    break
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                visible = False
                break
        if not visible:
            open_end = None
            continue
        start, end = a + t0 * d, a + t1 * d
        if open_end is not None and t0 == 0.0:
            joins[-1] = True  # continue the polyline
        else:
            if joins:
                joins[-1] = False
            xs.append(float(start[0]))
            ys.append(float(start[1]))
            joins.append(True)
        xs.append(float(end[0]))
        ys.append(float(end[1]))
        joins.append(False)
        open_end = end if t1 == 1.0 else None
    return np.asarray(xs), np.asarray(ys), np.asarray(joins, bool)


def exit_point(points: np.ndarray, box: Box) -> np.ndarray:
    """Where a diverging path is last seen: its last point if that is in the box, else
    where it crosses the edge of the box for good (its last point if it never was in)."""
    x0, x1, y0, y1 = box
    points = np.asarray(points, float)
    inside_ = in_box(points, box)
    if inside_[-1] or not inside_.any():
        return points[-1]
    i = int(np.flatnonzero(inside_)[-1])
    a, b = points[i], points[i + 1]
    # the largest t in [0, 1] that keeps a + t (b − a) inside the box
    t = 1.0
    for k, (low, high) in enumerate(((x0, x1), (y0, y1))):
        d = b[k] - a[k]
        if d > 0 and b[k] > high:
            t = min(t, (high - a[k]) / d)
        elif d < 0 and b[k] < low:
            t = min(t, (low - a[k]) / d)
    return a + t * (b - a)


def pull_in(points: np.ndarray, view: Box) -> np.ndarray:
    """Points absurdly far outside the view (a run on its way to infinity) pulled in to a
    box ``FAR_FACTOR`` views wide, so that Qt never paints astronomically long lines."""
    x0, x1, y0, y1 = view
    w, h = x1 - x0, y1 - y0
    lo = (x0 - FAR_FACTOR * w, y0 - FAR_FACTOR * h)
    hi = (x1 + FAR_FACTOR * w, y1 + FAR_FACTOR * h)
    return np.clip(points, lo, hi)


def quiet_corner(paths, minima, view: Box) -> tuple[int, int]:
    """The legend's offset: the corner of the view that the fewest path points cross."""
    x0, x1, y0, y1 = view
    points = [p for p in paths if len(p)]
    points.append(np.asarray(minima, float).reshape(-1, 2))
    allpts = np.concatenate(points) if points else np.zeros((0, 2))
    u = (allpts[:, 0] - x0) / (x1 - x0)
    v = (allpts[:, 1] - y0) / (y1 - y0)
    corners = {  # offset: (in the right third?, in the top third?)
        (-12, 12): (u > 0.62) & (v > 0.68),
        (12, 12): (u < 0.38) & (v > 0.68),
        (-12, -12): (u > 0.62) & (v < 0.32),
        (12, -12): (u < 0.38) & (v < 0.32),
    }
    return min(corners, key=lambda offset: int(corners[offset].sum()))


def arrow_segments(origin, direction, px: float, py: float, length: float) -> list:
    """Segments (in pairs of points) of an arrow ``length`` pixels long from ``origin`` in
    ``direction`` (data units), drawn the same length whatever the axes' scales (``px``,
    ``py``: the data size of one pixel)."""
    d = np.asarray(direction, float)
    screen = np.array([d[0] / px, d[1] / py])
    norm = float(np.hypot(*screen))
    if not math.isfinite(norm) or norm == 0:
        return []
    u = screen / norm
    tip_px = u * length
    o = np.asarray(origin, float)
    tip = o + tip_px * (px, py)
    segments = [o, tip]
    for angle in (2.6, -2.6):  # the two strokes of the head, about 150° back from the tip
        c, s = math.cos(angle), math.sin(angle)
        back = np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]]) * 10
        segments.extend([tip, tip + back * (px, py)])
    return segments


# ---- curves --------------------------------------------------------------------------------


def block_extremes(y: np.ndarray, k: int) -> np.ndarray:
    """Each block of ``k`` values reduced to its lowest and highest (NaN ignored), in that
    order: what a peak-decimated curve draws, so that no spike or dip is lost. ``len(y)``
    must be a multiple of ``k``."""
    blocks = np.asarray(y, float).reshape(-1, k)
    out = np.empty(2 * len(blocks))
    out[0::2] = np.fmin.reduce(blocks, axis=1)
    out[1::2] = np.fmax.reduce(blocks, axis=1)
    return out


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def decade_text(exponent: int) -> str:
    if -3 <= exponent <= 3:
        return f"{10.0**exponent:g}"
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks for a log axis spanning ``10**low … 10**high`` (positions in log10): decades
    labelled, 2× and 5× too when the span is short, unlabelled minor ticks in between."""
    first, last = math.floor(low), math.ceil(high)
    span = high - low
    if span > 12:
        every = math.ceil(span / 8)
        major = [(float(e), decade_text(e)) for e in range(first, last + 1) if e % every == 0]
        return [major, []]
    major, minor = [], []
    for e in range(first, last + 1):
        for m in range(1, 10):
            pos = e + math.log10(m)
            if not low <= pos <= high:
                continue
            if m == 1:
                major.append((pos, decade_text(e)))
            elif span < 2.5 and m in (2, 5):
                major.append((pos, f"{m * 10.0**e:g}"))
            elif span < 6:
                minor.append((pos, ""))
    return [major, minor]
