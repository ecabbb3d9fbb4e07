"""``python main.py --self-test``: open the main window offscreen, run every shipped example
for a few dozen steps, export PNG, SVG, CSV and GIF of each into a temporary folder, check
that every file is there and no image is blank. One summary line; exit status 0 or 1.

It checks what a packaged build most often gets wrong (a missing Qt plugin, resources left
out of the bundle, an exporter that can't write) without a display or a user.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

STEPS = 40
GIF_FRAMES = 8


def _image_is_blank(path: Path) -> bool:
    """Blank: one flat colour (or unreadable)."""
    import imageio.v3 as iio
    import numpy as np

    try:
        pixels = np.asarray(iio.imread(path, index=None))
    except Exception:
        return True
    if pixels.ndim < 2 or pixels.size == 0:
        return True
    rgb = pixels[..., :3] if pixels.shape[-1] in (3, 4) else pixels
    return float(rgb.std()) < 1.0


def _check_csv(path: Path, runs: int) -> str | None:
    from engine.records import COLUMNS

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0][: len(COLUMNS)]) != COLUMNS:
        return f"{path.name}: unexpected header {rows[:1]}"
    seen = {r[0] for r in rows[1:]}
    if len(seen) != runs:
        return f"{path.name}: rows for {len(seen)} runs, expected {runs}"
    return None


def _quiet_offscreen_warnings() -> None:
    """Qt's offscreen platform warns at every window it lays out; nothing to act on."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def run_checks(out_dir: Path, log=print) -> list[str]:
    """Every example, exported; the problems found (empty: all well)."""
    import resources
    from gui.app import create_app
    from gui.main_window import MainWindow
    from gui.settings import Settings

    app = create_app()
    _quiet_offscreen_warnings()
    problems: list[str] = []
    settings = Settings(out_dir / "settings.ini")
    window = MainWindow(settings, interactive=False)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    examples = resources.example_paths()
    if not examples:
        problems.append("no example experiments found (resources/experiments/*.toml)")
    try:
        for path in examples:
            name = path.stem
            if not window.open_example(path):
                problems.append(f"{name}: cannot open: {window.last_warning}")
                continue
            c = window.controller
            c.update_experiment(steps=min(c.experiment.steps, STEPS))
            if not c.wait_until_computed(60):
                problems.append(f"{name}: the engine did not finish {STEPS} steps in 60 s")
                continue
            if c.error:
                problems.append(f"{name}: {c.error}")
                continue
            c.pause()
            c.seek(c.total_steps)
            c.current_frame()
            app.processEvents()
            drawn = [
                window.surface_view.path_data(i)[0].size for i in range(len(c.experiment.runs))
            ]
            if not any(drawn):
                problems.append(f"{name}: no path was drawn")
            folder = out_dir / name
            folder.mkdir()
            files = {
                "png": folder / "surface.png",
                "svg": folder / "surface.svg",
                "csv": folder / "trajectories.csv",
                "gif": folder / "animation.gif",
            }
            ok = (
                window.export_figure("surface", files["png"], scale=1)
                and window.export_figure("surface", files["svg"])
                and window.export_csv(files["csv"])
                and window.export_animation(files["gif"], frames=GIF_FRAMES)
            )
            if not ok:
                problems.append(f"{name}: export failed: {window.last_warning}")
                continue
            for kind, file in files.items():
                if not file.is_file() or file.stat().st_size == 0:
                    problems.append(f"{name}: {file.name} was not written")
                elif kind in ("png", "gif") and _image_is_blank(file):
                    problems.append(f"{name}: {file.name} is blank")
                elif kind == "svg" and b"<svg" not in file.read_bytes()[:4000]:
                    problems.append(f"{name}: {file.name} is not SVG")
                elif kind == "csv":
                    problem = _check_csv(file, len(c.experiment.runs))
                    if problem:
                        problems.append(f"{name}: {problem}")
            log(
                f"  {name}: ok"
                if not any(p.startswith(name) for p in problems)
                else f"  {name}: FAILED"
            )
    finally:
        window.close()
        if window.controller.thread.isRunning():
            problems.append("the engine thread was still running after the window closed")
        window.deleteLater()
        app.processEvents()
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    verbose = "-v" in argv or "--verbose" in argv
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # never needs (or shows on) a display
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="descent-lab-selftest-") as tmp:
            log = print if verbose else (lambda *_: None)
            problems = run_checks(Path(tmp), log)
            count = len(list(Path(tmp).rglob("*.*"))) - 1  # less settings.ini
    except Exception as exc:  # the self-test reports, it does not crash
        import traceback

        traceback.print_exc()
        problems, count = [f"{type(exc).__name__}: {exc}"], 0
    seconds = time.perf_counter() - started
    if problems:
        print(f"self-test FAILED ({seconds:.1f} s): " + "; ".join(problems), file=sys.stderr)
        return 1
    import resources

    examples = len(resources.example_paths())
    print(
        f"self-test passed: {examples} examples opened, run and exported ({count} files "
        f"checked) in {seconds:.1f} s"
    )
    return 0
