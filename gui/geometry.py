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

# the path thinning lives in the engine (the headless runner thins too); re-exported here
from engine.thinning import Box, PathThinner, thin_path  # noqa: F401

LOG_SHADING_FRACTION = 0.35  # log colours when this much of the view is in the bottom 10%
FAR_FACTOR = 50.0  # path points farther than this many views away are pulled in to there
CONTOUR_LEVELS = 14


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
    return _marching_squares(values, level)[0]


def _marching_squares(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``contour_segments`` and, for each end of each segment, the grid edge it lies on
    (an id shared by the two cells beside the edge), shape (m, 2)."""
    z = np.asarray(values, float)
    if z.ndim != 2 or min(z.shape) < 2:
        return np.zeros((0, 2, 2)), np.zeros((0, 2), int)
    nr, nc = z.shape
    above = z >= level
    cross_h = above[:, :-1] != above[:, 1:]  # edge (r, c)–(r, c+1) crosses the level
    cross_v = above[:-1, :] != above[1:, :]  # edge (r, c)–(r+1, c)
    crossings = cross_h[:-1, :].astype(np.int8) + cross_h[1:, :] + cross_v[:, :-1] + cross_v[:, 1:]
    r, c = np.nonzero(crossings)  # only the cells the line passes through, from here on
    count = crossings[r, c]

    def along(p, q):  # where the level lies between the values p and q (0 … 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (level - p) / (q - p)

    z00, z01, z10, z11 = z[r, c], z[r, c + 1], z[r + 1, c], z[r + 1, c + 1]
    h_id = r * (nc - 1) + c
    v_id = nr * (nc - 1) + r * nc + c
    # the four edges of each cell: bottom, right, top, left, as (crosses?, x, y, id)
    edges = (
        (cross_h[r, c], c + along(z00, z01), r + 0.0, h_id),
        (cross_v[r, c + 1], c + 1.0, r + along(z01, z11), v_id + 1),
        (cross_h[r + 1, c], c + along(z10, z11), r + 1.0, h_id + (nc - 1)),
        (cross_v[r, c], c + 0.0, r + along(z00, z10), v_id),
    )
    pieces, ids = [], []

    def emit(mask, a, b):
        if mask.any():
            ea, eb = edges[a], edges[b]
            seg = np.empty((int(mask.sum()), 2, 2))
            seg[:, 0, 0], seg[:, 0, 1] = ea[1][mask], ea[2][mask]
            seg[:, 1, 0], seg[:, 1, 1] = eb[1][mask], eb[2][mask]
            pieces.append(seg)
            ids.append(np.column_stack([ea[3][mask], eb[3][mask]]))

    two = count == 2
    for a, b in itertools.combinations(range(4), 2):
        emit(two & edges[a][0] & edges[b][0], a, b)
    four = count == 4
    if four.any():
        centre = 0.25 * (z00 + z01 + z10 + z11) >= level
        joined = four & (centre == above[r, c])  # the bottom-left corner's side holds
        emit(joined, 0, 1)  # the centre: cut off the bottom-right and top-left corners
        emit(joined, 2, 3)
        emit(four & ~joined, 0, 3)  # else cut off the bottom-left and top-right ones
        emit(four & ~joined, 1, 2)
    if not pieces:
        return np.zeros((0, 2, 2)), np.zeros((0, 2), int)
    return np.concatenate(pieces), np.concatenate(ids)


def contour_lines(values: np.ndarray, level: float) -> list[np.ndarray]:
    """The contour ``values == level`` as polylines (arrays of (column, row) points in
    sample units): the marching-squares segments joined where they share a grid edge, so
    that a translucent pen is drawn once along a line, not darker at every joint."""
    segments, id_array = _marching_squares(values, level)
    ids = id_array.tolist()
    ends: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(ids):
        ends.setdefault(a, []).append(k)
        ends.setdefault(b, []).append(k)
    used = [False] * len(segments)

    def walk(k: int, edge: int) -> list[int]:
        """Edges met going on from segment ``k`` through its end on ``edge``."""
        path = []
        while True:
            nxt = [j for j in ends[edge] if not used[j]]
            if not nxt:
                return path
            k = nxt[0]
            used[k] = True
            a, b = ids[k]
            edge = b if a == edge else a
            path.append((k, edge))

    lines = []
    for k in range(len(segments)):
        if used[k]:
            continue
        used[k] = True
        a, b = ids[k]
        forward = walk(k, b)
        backward = walk(k, a)
        # the points, in order: back along ``backward``, the segment, on along ``forward``
        point = {a: segments[k][0], b: segments[k][1]}
        for j, _edge in forward + backward:
            ja, jb = ids[j]
            point[ja], point[jb] = segments[j][0], segments[j][1]
        order = [e for _, e in reversed(backward)] + [a, b] + [e for _, e in forward]
        lines.append(np.array([point[e] for e in order]))
    return lines


def contour_paths(
    values: np.ndarray, levels: Sequence[float], box: Box
) -> tuple[np.ndarray, np.ndarray]:
    """Every contour line of ``values`` (sampled at the pixel centres of an image that
    fills ``box``) at ``levels``, in data coordinates, as one array of points (n, 2) and
    pyqtgraph's ``connect`` (False at the last point of each line)."""
    z = np.asarray(values, float)
    lines = [line for level in levels for line in contour_lines(z, float(level))]
    if not lines:
        return np.zeros((0, 2)), np.zeros(0, bool)
    pts = np.concatenate(lines)
    connect = np.ones(len(pts), bool)
    connect[np.cumsum([len(line) for line in lines]) - 1] = False
    x0, x1, y0, y1 = box
    sx, sy = (x1 - x0) / z.shape[1], (y1 - y0) / z.shape[0]
    return np.column_stack([x0 + (pts[:, 0] + 0.5) * sx, y0 + (pts[:, 1] + 0.5) * sy]), connect


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


def last_seen(points: np.ndarray, box: Box, diverged: bool) -> np.ndarray:
    """Where a run's marker goes: its last point, or for a diverged run where it leaves the
    box for good (``exit_point``), so that its cross stays in sight on the edge. The live
    view and the figures both place it here."""
    points = np.asarray(points, float)
    return exit_point(points, box) if diverged else points[-1]


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


ARROW_KNEE_PIXELS = 2.0  # where the arrows' log compression sets in


def arrow_pixels(direction, px: float, py: float, cap: float) -> float:
    """How long to draw an arrow for a displacement ``direction`` (data units; ``px``,
    ``py``: the data size of one pixel): its length on screen, log-compressed, so that a
    displacement of ``cap`` pixels or more is drawn ``cap`` long, one of a few pixels is
    magnified (at most about 9× at the start of the curve) and a tiny one shrinks to
    nothing. 0 for a zero or non-finite vector: a converged run shows no arrow rather than
    a full-size one in a random direction."""
    d = np.asarray(direction, float)
    true = float(np.hypot(d[0] / px, d[1] / py))
    if not math.isfinite(true) or true <= 0:
        return 0.0
    knee = ARROW_KNEE_PIXELS
    return min(cap, cap * math.log1p(true / knee) / math.log1p(cap / knee))


def arrow_segments(origin, direction, px: float, py: float, length: float) -> list:
    """Segments (in pairs of points) of an arrow ``length`` pixels long from ``origin`` in
    ``direction`` (data units), drawn the same length whatever the axes' scales (``px``,
    ``py``: the data size of one pixel); the head is a third of it, at most 10 pixels.
    Nothing for a zero vector or a length under a pixel."""
    d = np.asarray(direction, float)
    screen = np.array([d[0] / px, d[1] / py])
    norm = float(np.hypot(*screen))
    if not math.isfinite(norm) or norm == 0 or not length >= 1.0:
        return []
    u = screen / norm
    tip_px = u * length
    o = np.asarray(origin, float)
    tip = o + tip_px * (px, py)
    segments = [o, tip]
    head = min(10.0, length / 3)
    for angle in (2.6, -2.6):  # the two strokes of the head, about 150° back from the tip
        c, s = math.cos(angle), math.sin(angle)
        back = np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]]) * head
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


def log_floor(smallest_positive: float) -> float:
    """Where a log axis draws values that are 0 (a loss that reaches its minimum exactly):
    a decade below the smallest positive value, so that the curve goes on along the bottom
    instead of stopping as if the run had."""
    return 10.0 ** log_floor_exponent(math.log10(smallest_positive))


# The lowest floor a log axis gets: a loss that halves its way to 0 passes through the
# subnormal floats (down to 5e-324), whose decade below would underflow to 0 and break the
# log axis; what lies below this floor is drawn on it.
LOWEST_LOG_FLOOR_EXPONENT = -300


def log_floor_exponent(lowest_log10: float) -> int:
    """``log_floor`` in log10 terms: the decade below the one ``lowest_log10`` is in, never
    below ``LOWEST_LOG_FLOOR_EXPONENT``."""
    return max(math.floor(lowest_log10) - 1, LOWEST_LOG_FLOOR_EXPONENT)


def nice_step(span: float, pixels: float, label_pixels: float) -> float:
    """A tick spacing of 1, 2 or 5 × 10ᵏ for a linear axis of ``span`` data units drawn
    ``pixels`` long, with room for labels ``label_pixels`` wide (gaps included): as many
    ticks as fit, never labels that run into each other."""
    if not (span > 0 and math.isfinite(span)) or pixels <= 0:
        return 1.0
    most = max(pixels / max(label_pixels, 1.0), 1.0)
    raw = span / most
    base = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * base >= raw:
            return m * base
    return 10.0 * base


def grown_end(done: float, total: float) -> float:
    """The end of an axis that spans what is computed so far (``done`` of ``total``):
    the next 1, 2 or 5 × 10ᵏ at or above ``done``, never beyond ``total``, so that the axis
    is laid out again only a few times while a long run is computed."""
    if done >= total or done <= 0:
        return float(total)
    base = 10.0 ** math.floor(math.log10(done))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * base >= done:
            return float(min(m * base, total))
    return float(total)


# ---- a slice's paths off the plane, and where a legend goes ---------------------------------

#: a path whose distance from the plane is at least this fraction of its distance from the
#: plane's origin is drawn dashed (in the app and the figures): it is not walking the drawn
#: surface, whatever its projection seems to do
FAR_OFF_PLANE = 0.5


#: a distance off the plane at most this fraction of the path's scale is rounding, and reads
#: (and is judged) as 0: the plane's own points (a three-point plane's runs, a random plane's
#: centre) come out at 1e-16 of it in float64, a real distance shows at 0.5% or more
ROUNDING_LEVEL = 1e-9


def path_scale(norms) -> float:
    """A path's scale: its farthest point's distance from the plane's origin (NaN: none)."""
    norms = np.asarray(norms, float)
    finite = norms[np.isfinite(norms)]
    return float(finite.max()) if len(finite) else math.nan


def off_plane_numbers(network, row: int, col: int, rows: int) -> tuple[float, float, float]:
    """Run column ``col``'s distance from the plane and from its origin at ``row`` of a
    network picture's paths (``path_distance``, ``path_norm``, ``(rows, R)``), and its path's
    scale over the first ``rows``: what ``off_plane_text`` and ``far_off_plane`` take (NaN
    where there is none)."""
    distances, norms = network.path_distance, network.path_norm
    if distances is None or norms is None:
        return math.nan, math.nan, math.nan
    distances, norms = np.asarray(distances), np.asarray(norms)
    if norms.ndim != 2 or col >= norms.shape[1] or row >= norms.shape[0]:
        return math.nan, math.nan, math.nan
    return float(distances[row, col]), float(norms[row, col]), path_scale(norms[:rows, col])


def off_plane_distance(distance: float, norm: float, scale: float = math.nan) -> float:
    """``distance`` as the legend says it and the dashing judges it: 0 where it is at the
    rounding level (``ROUNDING_LEVEL``) of the path's ``scale`` or of ``norm``, the point's
    own distance from the plane's origin (whichever is larger)."""
    reach = max((v for v in (norm, scale) if math.isfinite(v)), default=0.0)
    return 0.0 if distance <= ROUNDING_LEVEL * reach else float(distance)  # NaN stays


def far_off_plane(distance: float, norm: float, scale: float = math.nan) -> bool:
    """A point ``distance`` off the plane and ``norm`` from its origin is far off it: drawn
    dashed. Never at distance 0 (a random plane's own run, whose norm is 0 there too), so
    that a path the legend puts on the plane is drawn solid (False when unknown)."""
    distance = off_plane_distance(distance, norm, scale)
    return bool(distance > 0 and distance >= FAR_OFF_PLANE * norm)  # (False for NaN)


def off_plane_text(distance: float, norm: float, scale: float = math.nan) -> str:
    """How far a point lies off the drawn plane, against how far it is from the plane's
    origin (the start, or a random plane's run): "off-plane distance 0.8 (12% of ‖θ − origin‖)";
    "off-plane distance 0" at the rounding level (``off_plane_distance``)."""
    distance = off_plane_distance(distance, norm, scale)
    if not math.isfinite(distance):
        return ""
    text = f"off-plane distance {distance:.2g}"
    if math.isfinite(norm) and norm > 0:
        text += f" ({100 * distance / norm:.0f}% of ‖θ − origin‖)"
    return text


#: where a legend may sit in its plot, in the order preferred when two cover as much: the
#: four corners, then the middles of the four edges. Each is the anchor (0: left or top,
#: 1: right or bottom) of both the legend and the plot, as pyqtgraph's ``anchor`` takes it.
LEGEND_PLACES = (
    (1.0, 0.0), (0.0, 0.0), (1.0, 1.0), (0.0, 1.0),
    (0.5, 0.0), (0.5, 1.0), (0.0, 0.5), (1.0, 0.5),
)  # fmt: skip
MARK_WEIGHT = 1000  # a run's dot (its end) under the legend costs this many path points
# a legend stays where it is unless another place covers fewer marks, or less than this
# fraction of the points its own covers: two places that cover about as much would swap
# from frame to frame during playback (the legend jumping between corners)
LEGEND_KEEP = 0.5


def legend_rect(place, plot_size, legend_size, margin: float) -> tuple[float, float, float, float]:
    """The legend's rectangle ``(left, top, right, bottom)`` in the plot's pixels (y down)
    when anchored at ``place`` ``margin`` pixels in from the plot's edges."""
    (ax, ay), (w, h), (lw, lh) = place, plot_size, legend_size
    left = ax * (w - lw) + (margin if ax == 0 else -margin if ax == 1 else 0)
    top = ay * (h - lh) + (margin if ay == 0 else -margin if ay == 1 else 0)
    return left, top, left + lw, top + lh


def quiet_place(
    points, marks, plot_size, legend_size, margin: float = 10, pad: float = 8, current=None
):
    """Where a legend of ``legend_size`` pixels covers the least in a plot of ``plot_size``:
    ``points (n, 2)`` are the drawn path points, ``marks (m, 2)`` the runs' dots and other
    markers (each weighs ``MARK_WEIGHT`` points, so that no end is hidden while another
    place is free), both in the plot's pixels (y down); a point within ``pad`` pixels of the
    rectangle counts (a marker has a size). One of ``LEGEND_PLACES``. ``current``: where the
    legend is now, kept unless the best place is clearly better (``LEGEND_KEEP``)."""

    def covered(rect, pts) -> int:
        pts = np.asarray(pts, float).reshape(-1, 2)
        left, top, right, bottom = rect
        x, y = pts[:, 0], pts[:, 1]
        inside = (x >= left - pad) & (x <= right + pad) & (y >= top - pad) & (y <= bottom + pad)
        return int(np.count_nonzero(inside))

    def cost(place) -> tuple[int, int]:  # (marks, points) covered
        rect = legend_rect(place, plot_size, legend_size, margin)
        return covered(rect, marks), covered(rect, points)

    costs = [cost(place) for place in LEGEND_PLACES]
    totals = [MARK_WEIGHT * m + n for m, n in costs]
    best = int(np.argmin(totals))  # the first of the least covered
    if current in LEGEND_PLACES:
        marks_now, points_now = costs[LEGEND_PLACES.index(current)]
        marks_best, points_best = costs[best]
        if marks_best >= marks_now and points_best >= LEGEND_KEEP * points_now:
            return tuple(current)
    return LEGEND_PLACES[best]
