"""GUI speed: frames per second of the animation and latency of a slider drag.

    python benchmarks/bench_gui.py [--quick] [--size 1800x1000] [--profile]

The main window runs offscreen (QT_QPA_PLATFORM=offscreen: Qt paints into memory with its
raster engine, as on a desktop without OpenGL) at about the size it takes on a full-HD screen,
with 8 runs (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw and the lecture's
momentum) on Rosenbrock, 500 steps, the shaded surface on a 256×256 grid
(``gui.snapshot.RESOLUTION``, set before the window is built).

1. Animation. Playing at 120 updates/s (every frame at 60 Hz advances the playhead) in the
   app's own event loop for about 3 s: frames the controller emitted, and paints of the
   surface and of the curves, per second. Then the cost of drawing one frame, paused, one
   frame at a time at moving playheads: every view's frame handler (all 8 paths, markers and
   curves updated), then the paint that the frame causes; and the frame rate that cost allows.
2. Slider latency. The momentum slider of one run set as if dragged, to 20 distinct values,
   each at a random moment relative to the frame timer: the time until the surface's path
   item holds the new path (checked against the engine's own result), and until it has been
   painted, split into the UI's handling of the change, the time until the job reaches the
   worker (the UI handling goes on beside the engine once it has), the worker waking up, the
   engine (build and compute), the pick-up of the result by the GUI thread, the views' frame
   handlers and the paint. The GUI thread waits in Qt's event loop, as in the app (a
   Python loop polling ``processEvents`` would hold the interpreter lock the worker needs);
   the times come from hooks that record ``perf_counter`` and change nothing that is drawn.

Peer, in the same run: the engine alone on the same experiment (build + ``Trainer.run``),
the floor under the latency. Goals: ≥ 60 frames/s; ≤ 50 ms from a slider move to the path.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread: faster for tiny problems
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyqtgraph
import PySide6
from pyqtgraph.widgets.GraphicsView import GraphicsView
from PySide6.QtCore import QEventLoop, QSignalBlocker, Qt, QTimer

from engine.experiment import build, parse_experiment

FPS_GOAL = 60.0
LATENCY_GOAL_MS = 50.0
GRID = 256
STEPS = 500
SPEED = 120.0  # updates/s: above 60, so every frame at 60 Hz moves the playhead
SLIDER_RUN = 1  # the momentum run (PyTorch convention)

RUNS = [
    {"label": "sgd", "optimizer": "sgd", "lr": 0.001},
    {"label": "momentum", "optimizer": "momentum", "lr": 0.001, "momentum": 0.9},
    {"label": "nesterov", "optimizer": "nesterov", "lr": 0.001, "momentum": 0.9},
    {"label": "adagrad", "optimizer": "adagrad", "lr": 0.5},
    {"label": "rmsprop", "optimizer": "rmsprop", "lr": 0.01},
    {"label": "adam", "optimizer": "adam", "lr": 0.05},
    {"label": "adamw", "optimizer": "adamw", "lr": 0.05},
    {
        "label": "momentum (lecture)",
        "optimizer": "momentum",
        "convention": "lecture",
        "lr": 0.001,
        "momentum": 0.9,
    },
]


def experiment_data(momentum: float | None = None) -> dict:
    runs = [dict(r) for r in RUNS]
    if momentum is not None:
        runs[SLIDER_RUN]["momentum"] = momentum
    return {
        "title": "GUI benchmark: 8 optimizers on Rosenbrock",
        "steps": STEPS,
        "backend": "numpy",
        "dtype": "float64",
        "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.5, 2.0]},
        "runs": runs,
    }


# ---- hooks: when views paint (installed before any window exists) ----------------------------


class PaintLog:
    """Start and end of every paint of a pyqtgraph view (the surface, the curves)."""

    def __init__(self):
        self.paints: dict[int, list[tuple[float, float]]] = {}
        self.on_paint = None  # called with (view id, start, end) after each paint

    def install(self) -> None:
        original = GraphicsView.paintEvent
        log = self

        def paintEvent(view, event):
            start = time.perf_counter()
            result = original(view, event)
            end = time.perf_counter()
            log.paints.setdefault(id(view), []).append((start, end))
            if log.on_paint is not None:
                log.on_paint(id(view), start, end)
            return result

        GraphicsView.paintEvent = paintEvent

    def count(self, view) -> int:
        return len(self.paints.get(id(view), ()))

    def seconds(self, view, since: int = 0) -> float:
        return sum(b - a for a, b in self.paints.get(id(view), ())[since:])


PAINTS = PaintLog()


def run_event_loop(seconds: float, loop: QEventLoop | None = None) -> None:
    """What the app does between user actions: Qt's event loop, for ``seconds`` at most."""
    loop = loop or QEventLoop()
    QTimer.singleShot(max(int(seconds * 1000), 0), loop.quit)
    loop.exec()


# ---- the window --------------------------------------------------------------------------------


def make_window(size: tuple[int, int], settings_dir: str):
    import gui.snapshot as snapshot
    from gui.app import create_app

    app = create_app()
    default_resolution = snapshot.RESOLUTION
    snapshot.RESOLUTION = GRID
    from gui.main_window import MainWindow
    from gui.settings import Settings

    window = MainWindow(Settings(Path(settings_dir) / "settings.ini"), interactive=False)
    # a small (offscreen: 800 × 800) screen opens the window maximized, which would
    # override the size asked for
    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(*size)
    window.show()
    window.resize(*size)
    c = window.controller
    c.set_experiment(parse_experiment(experiment_data()), None, saved=True)
    if not c.wait_until_computed(60):
        raise RuntimeError("the experiment was not computed within 60 s")
    c.pause()
    c.seek(c.total_steps)
    c.current_frame()
    run_event_loop(0.3)
    shape = window.surface_view.image.image.shape
    if shape != (GRID, GRID):
        raise RuntimeError(f"the surface is {shape}, not {GRID}×{GRID}")
    if c.snapshot.count != STEPS + 1 or (c.snapshot.diverged_at >= 0).any():
        raise RuntimeError("the benchmark experiment should run 500 finite steps in every run")
    return app, window, default_resolution


# ---- 1. animation ------------------------------------------------------------------------------


def measure_playback(window, seconds: float) -> dict:
    """Frames and paints per second while playing, in the app's own event loop."""
    c = window.controller
    surface, curves = window.surface_view.plot_widget, window.curves_view.layout_widget
    frames, stats = [], []
    on_frame = lambda frame: frames.append((time.perf_counter(), frame.head))  # noqa: E731
    on_stats = lambda s: stats.append(s["frames_per_second"])  # noqa: E731
    c.sig_frame.connect(on_frame)
    c.sig_stats.connect(on_stats)
    c.set_speed(SPEED)
    c.seek(0)
    run_event_loop(0.1)
    surface_before, curves_before = PAINTS.count(surface), PAINTS.count(curves)
    frames.clear()
    stats.clear()
    start = time.perf_counter()
    c.play()
    run_event_loop(seconds)
    wall = time.perf_counter() - start
    c.pause()
    c.sig_frame.disconnect(on_frame)
    c.sig_stats.disconnect(on_stats)
    heads = [h for _, h in frames]
    moved = sum(1 for a, b in itertools.pairwise(heads) if b > a)
    gaps = np.diff([t for t, _ in frames]) * 1e3 if len(frames) > 1 else np.zeros(1)
    return {
        "wall": wall,
        "frames": len(frames) / wall,
        "surface_paints": (PAINTS.count(surface) - surface_before) / wall,
        "curves_paints": (PAINTS.count(curves) - curves_before) / wall,
        "moved": moved / max(len(frames) - 1, 1),
        "head": heads[-1] if heads else 0,
        "gap_median": float(np.median(gaps)),
        "gap_max": float(np.max(gaps)),
        "app_fps": statistics.median(stats[1:]) if len(stats) > 1 else math.nan,
    }


def measure_draw_cost(app, window, n_frames: int, profile: bool) -> dict:
    """One frame at a time, paused: every view's handler, then the paint it causes."""
    c = window.controller
    surface_widget = window.surface_view.plot_widget
    curves_widget = window.curves_view.layout_widget
    heads = np.linspace(100, STEPS, n_frames).round().astype(int)

    def frames():
        handlers = events = 0.0
        for head in heads:
            c.seek(int(head))
            t0 = time.perf_counter()
            c.current_frame()  # emits the frame to every view
            t1 = time.perf_counter()
            app.processEvents()  # the paint the frame causes (and nothing else is pending)
            t2 = time.perf_counter()
            handlers += t1 - t0
            events += t2 - t1
        return handlers / len(heads), events / len(heads)

    frames()  # warm up
    s0, c0 = PAINTS.count(surface_widget), PAINTS.count(curves_widget)
    handlers, events = frames()
    surface_paint = PAINTS.seconds(surface_widget, s0) / len(heads)
    curves_paint = PAINTS.seconds(curves_widget, c0) / len(heads)
    surface_paints = (PAINTS.count(surface_widget) - s0) / len(heads)
    curves_paints = (PAINTS.count(curves_widget) - c0) / len(heads)

    # each view's handler on its own: the same frames, emitted to nobody and handed to the
    # views one by one (the curves unthrottled: the work of a frame they draw)
    views = window.surface_view, window.curves_view
    others = window.runs_panel._on_frame, window.problem_panel._on_frame
    others += (window.playback_bar._on_frame,)
    surface_draw = curves_draw = other_draw = 0.0
    for head in heads:
        c.seek(int(head))
        with QSignalBlocker(c):
            frame = c.current_frame()
        t0 = time.perf_counter()
        views[0].draw(frame)
        t1 = time.perf_counter()
        views[1]._draw(frame)
        t2 = time.perf_counter()
        for handler in others:
            handler(frame)
        t3 = time.perf_counter()
        app.processEvents()
        surface_draw += t1 - t0
        curves_draw += t2 - t1
        other_draw += t3 - t2

    result = {
        "total": handlers + events,
        "handlers": handlers,
        "events": events,
        "surface_draw": surface_draw / len(heads),
        "curves_draw": curves_draw / len(heads),
        "other_draw": other_draw / len(heads),
        "surface_paint": surface_paint,
        "curves_paint": curves_paint,
        "surface_paints": surface_paints,
        "curves_paints": curves_paints,
    }
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        frames()
        profiler.disable()
        result["profile"] = profiler
    return result


# ---- 2. slider latency -------------------------------------------------------------------------


def expected_path(momentum: float) -> np.ndarray:
    built = build(parse_experiment(experiment_data(momentum)))
    history = built.trainer.run()
    return np.asarray(history.coords[:, SLIDER_RUN], float).copy()


class LatencyProbe:
    """Timestamps of one slider change on its way through the app (hooks only observe)."""

    def __init__(self, window):
        self.window = window
        c = window.controller
        self.c = c
        self.worker = c.worker
        self.loop: QEventLoop | None = None
        self.expected: np.ndarray | None = None
        self.reset()
        worker = self.worker
        submit, start = worker.submit, worker._start
        publish, take = worker._publish, worker.take_latest

        def timed_submit(job):  # the controller hands the job over
            self.submitted, self.job = time.perf_counter(), job.id
            return submit(job)

        def timed_start(job, *args):  # the worker thread picks the job up and builds it
            self.t["picked"].append((job.id, time.perf_counter()))
            return start(job, *args)

        def timed_publish(job, built, error=None, rate=0.0):
            result = publish(job, built, error=error, rate=rate)
            done = built is not None and built.trainer.step >= min(worker._demand, STEPS)
            self.t["published"].append((job.id, done, time.perf_counter()))
            return result

        def timed_take():
            snapshot = take()
            if snapshot is not None:
                self.t["taken"].append((snapshot.job_id, time.perf_counter()))
            return snapshot

        worker.submit, worker._start = timed_submit, timed_start
        worker._publish, worker.take_latest = timed_publish, timed_take
        c.sig_frame.connect(self._on_frame)  # connected last: runs after every view drew
        PAINTS.on_paint = self._on_paint

    def reset(self) -> None:
        self.t = {"picked": [], "published": [], "taken": []}
        self.submitted = self.data = self.painted = None
        self.job = None
        self.frames_before = 0  # frames drawn after the change, before the new path

    def _on_frame(self, frame) -> None:
        if self.expected is None or self.data is not None:
            return
        self.frames_before += 1
        x, y = self.window.surface_view.path_data(SLIDER_RUN)
        e = self.expected
        same = x.shape == e[:, 0].shape and y.shape == e[:, 1].shape
        if same and np.allclose(np.stack([x, y], axis=1), e, rtol=1e-12, atol=1e-12):
            self.data = time.perf_counter()
            self.frames_before -= 1

    def _on_paint(self, view_id: int, start: float, end: float) -> None:
        surface = id(self.window.surface_view.plot_widget)
        if view_id != surface or self.data is None or self.painted is not None:
            return
        if start >= self.data:  # a paint that began after the new path was set
            self.painted = end
            if self.loop is not None:
                self.loop.quit()

    def change(self, slider, value: float, timeout: float = 10.0) -> dict:
        self.reset()
        self.expected = expected_path(value)
        self.loop = QEventLoop()
        t0 = time.perf_counter()
        slider.slider.setValue(value)  # as if dragged: the slider's own signal
        t_ui = time.perf_counter()
        run_event_loop(timeout, self.loop)
        self.loop = None
        self.expected = None
        run = self.c.experiment.runs[SLIDER_RUN]
        if run.momentum != value:
            raise RuntimeError(f"the slider set momentum {run.momentum}, not {value}")
        if self.painted is None:
            raise RuntimeError(f"the new path was not drawn within {timeout} s")

        def first(key, job, done=None):
            for item in self.t[key]:
                if item[0] == job and (done is None or item[1] == done):
                    return item[-1]
            return math.nan

        job = self.job
        picked = first("picked", job)
        published = first("published", job, done=True)
        # the first take of the job's final snapshot (hooks in two threads may log a few
        # microseconds out of order: no part is negative)
        taken = min((t for j, t in self.t["taken"] if j == job and t >= picked), default=math.nan)
        ready = max(taken, published)
        ms = lambda a, b: max(b - a, 0.0) * 1e3  # noqa: E731
        return {
            "to_data": ms(t0, self.data),
            "to_paint": ms(t0, self.painted),
            "ui": ms(t0, t_ui),
            "handover": ms(t0, self.submitted),
            "wake": ms(self.submitted, picked),
            "engine": ms(picked, published),
            "pickup": ms(published, taken),
            "handlers": ms(ready, self.data),
            "paint": ms(self.data, self.painted),
            "jobs": len({j for j, _ in self.t["picked"]}),
            "frames_before": self.frames_before,
        }


def measure_latency(window, n_changes: int, seed: int = 0) -> list[dict]:
    c = window.controller
    c.select_run(SLIDER_RUN)
    slider = window.run_editor.sliders["momentum"]
    if not slider.isVisible():
        raise RuntimeError("the momentum slider is not shown for the selected run")
    probe = LatencyProbe(window)
    rng = np.random.default_rng(seed)
    values = np.round(np.linspace(0.50, 0.88, n_changes), 3)
    results = []
    run_event_loop(0.2)
    for value in values:
        run_event_loop(rng.uniform(0.03, 0.08))  # a random phase against the frame timer
        results.append(probe.change(slider, float(value)))
    return results


# ---- the engine alone --------------------------------------------------------------------------


def measure_engine(repeats: int) -> float:
    experiment = parse_experiment(experiment_data())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        build(experiment).trainer.run()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---- report ------------------------------------------------------------------------------------


def row(name: str, value: str = "", goal: str = "", ratio: str = "") -> None:
    print(f"{name:<46}{value:>16}{goal:>9}{ratio:>9}")


def median_max(results: list[dict], key: str) -> str:
    values = [r[key] for r in results]
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


def report(app, window, default_resolution, engine, repeats, playback, cost, latencies) -> None:
    surface = window.surface_view.plot_widget
    print(
        f"Python {sys.version.split()[0]}, PySide6 {PySide6.__version__}, pyqtgraph "
        f"{pyqtgraph.__version__}, {os.cpu_count()} CPUs, Qt platform {app.platformName()}"
    )
    print(
        f"window {window.width()}×{window.height()} (surface plot {surface.width()}×"
        f"{surface.height()}); surface grid {GRID}×{GRID} (the benchmark sets "
        f"gui.snapshot.RESOLUTION from {default_resolution} to {GRID})"
    )
    labels = ", ".join(r["label"] for r in RUNS)
    print(f"{len(RUNS)} runs ({labels}) on Rosenbrock, {STEPS} steps, NumPy float64")
    print(f"peer: the engine alone, build + run: {engine * 1e3:.1f} ms (best of {repeats})\n")

    row("1. animation", "value", "goal", "ratio")
    fps = playback["frames"]
    row(
        f"frames/s playing at {SPEED:.0f} updates/s, {playback['wall']:.1f} s",
        f"{fps:.1f}",
        f"≥ {FPS_GOAL:.0f}",
        f"{fps / FPS_GOAL:.2f}×",
    )
    row(
        "  surface / curves paints per second",
        f"{playback['surface_paints']:.1f} / {playback['curves_paints']:.1f}",
    )
    row("  frames that moved the playhead", f"{playback['moved']:.0%}")
    row(
        "  frame interval, median / max (ms)",
        f"{playback['gap_median']:.1f} / {playback['gap_max']:.1f}",
    )
    row("  the app's own frames/s read-out (median)", f"{playback['app_fps']:.1f}")
    total = cost["total"]
    row(
        "draw cost of one frame (ms)",
        f"{total * 1e3:.1f}",
        f"≤ {1e3 / FPS_GOAL:.1f}",
        f"{total * FPS_GOAL:.2f}×",
    )
    row("  frame handlers, all views", f"{cost['handlers'] * 1e3:.1f}")
    row(
        "    surface / curves / other views",
        f"{cost['surface_draw'] * 1e3:.1f} / {cost['curves_draw'] * 1e3:.1f} / "
        f"{cost['other_draw'] * 1e3:.1f}",
    )
    row("  paint and other events", f"{cost['events'] * 1e3:.1f}")
    row(
        "    surface / curves paint",
        f"{cost['surface_paint'] * 1e3:.1f} / {cost['curves_paint'] * 1e3:.1f}",
    )
    row(
        "    paints per frame: surface / curves",
        f"{cost['surface_paints']:.1f} / {cost['curves_paints']:.1f}",
    )
    row(
        "frames/s the draw cost allows",
        f"{1 / total:.1f}",
        f"≥ {FPS_GOAL:.0f}",
        f"{1 / total / FPS_GOAL:.2f}×",
    )

    print()
    row(f"2. slider → path, {len(latencies)} changes (ms)", "median / max", "goal", "ratio")
    goal = f"≤ {LATENCY_GOAL_MS:.0f}"
    for key, name in (
        ("to_data", "until the path item holds the new path"),
        ("to_paint", "until it is painted"),
    ):
        med = statistics.median(r[key] for r in latencies)
        row(name, median_max(latencies, key), goal, f"{med / LATENCY_GOAL_MS:.2f}×")
    for key, name in (
        ("ui", "UI handling of the change"),
        ("handover", "until the job reaches the worker"),
        ("wake", "worker picks the job up"),
        ("engine", f"engine: build + {STEPS} steps, in the worker"),
        ("pickup", "until the GUI thread takes the result"),
        ("handlers", "frame handlers, all views"),
        ("paint", "paint of the surface"),
    ):
        row(f"  {name}", median_max(latencies, key))
    before = [r["frames_before"] for r in latencies]
    row("  frames of the old paths drawn meanwhile", f"{min(before)}–{max(before)}")
    jobs = [r["jobs"] for r in latencies]
    row("  jobs the worker started per change", f"{min(jobs)}–{max(jobs)}")
    row(
        "peer: the engine alone (best)",
        f"{engine * 1e3:.1f}",
        goal,
        f"{engine * 1e3 / LATENCY_GOAL_MS:.2f}×",
    )
    print("ratio: measured / goal (frames/s: ≥ 1 meets it; times: ≤ 1 meets it)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements (a smoke test)")
    parser.add_argument("--size", default="1800x1000", help="window size WxH (default 1800x1000)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the draw-cost frames")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    seconds, n_frames, n_changes, repeats = (1.0, 20, 5, 3) if args.quick else (3.0, 60, 20, 7)

    PAINTS.install()
    with tempfile.TemporaryDirectory(prefix="descent-lab-bench-") as settings_dir:
        app, window, default_resolution = make_window(size, settings_dir)
        try:
            engine = measure_engine(repeats)
            playback = measure_playback(window, seconds)
            cost = measure_draw_cost(app, window, n_frames, args.profile)
            latencies = measure_latency(window, n_changes)
            report(app, window, default_resolution, engine, repeats, playback, cost, latencies)
        finally:
            window.controller.path = None
            window.close()
    if args.profile:
        print("\ncProfile of the draw-cost frames (handlers and paint), top 30 by cumulative time:")
        pstats.Stats(cost["profile"]).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
