"""``python main.py --self-test``: open the main window offscreen, run every shipped example
for a few dozen steps, export PNG, SVG, CSV and GIF of each into a temporary folder, check
that every file is there and no image is blank; the example networks
(``resources/experiments/networks/``) too, and each of them also through the headless runner,
checking its ``trajectories.csv``, ``params.npz`` and figures. One summary line; exit status 0 or 1.

It checks what a packaged build most often gets wrong (a missing Qt plugin, resources left
out of the bundle, an exporter that can't write) without a display or a user.
"""

from __future__ import annotations

import contextlib
import csv
import io
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


NETWORK_COLUMNS = ("accuracy", "val_loss", "val_accuracy")  # the contract's extra columns


def _shortened_copy(path: Path, folder: Path) -> Path:
    """The example with ``steps`` capped at STEPS, written into ``folder``; its relative file
    references (a CSV data set, ``init`` weights) made absolute, so they still resolve."""
    import tomllib

    import tomli_w

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["steps"] = min(int(data.get("steps", STEPS)), STEPS)
    problem = data.get("problem", {})
    for key in ("dataset", "init", "data"):
        value = problem.get(key)
        if isinstance(value, str) and value.lower().endswith((".csv", ".npz")):
            problem[key] = str((path.parent / value).resolve())
    copy = folder / path.name
    copy.write_text(tomli_w.dumps(data), encoding="utf-8")
    return copy


def check_network_runs(out_dir: Path, log=print) -> list[str]:
    """Every example network through the headless runner (``main.py run``, figures
    included), STEPS steps each; the problems found (empty: all well)."""
    import numpy as np

    import resources
    from engine import runner
    from engine.records import COLUMNS
    from gui.figure_files import render_run_figures

    problems: list[str] = []
    for path in resources.network_example_paths():
        name = f"headless-{path.stem}"
        folder = out_dir / name
        folder.mkdir()
        copy = _shortened_copy(path, folder)
        out = folder / "out"
        said = io.StringIO()  # the runner's own one-line reason, for the report
        with contextlib.redirect_stderr(said):
            status = runner.main(
                [str(copy), "--out", str(out), "--quiet"], render=render_run_figures
            )
        found: list[str] = []
        if status != 0:
            reason = said.getvalue().strip().splitlines()[-1:] or ["no message"]
            found.append(f"{name}: the runner exited with status {status}: {reason[0]}")
        else:
            runs = _run_count(copy)
            csv_file = out / runner.CSV_NAME
            with open(csv_file, newline="", encoding="utf-8") as f:
                header = tuple(next(csv.reader(f), ()))
            if header != COLUMNS + NETWORK_COLUMNS:
                found.append(f"{name}: {csv_file.name}: unexpected header {list(header)}")
            problem = _check_csv(csv_file, runs)
            if problem:
                found.append(f"{name}: {problem}")
            params_file = out / runner.PARAMS_NAME
            try:
                with np.load(params_file) as arrays:
                    missing = [
                        r for r in range(runs) if f"run{r}.linear0.weight" not in arrays.files
                    ]
            except (OSError, ValueError) as exc:
                missing, found = [], [*found, f"{name}: {params_file.name}: {exc}"]
            if missing:
                found.append(f"{name}: {params_file.name} has no weights of runs {missing}")
            for figure in ("surface.png", "curves.png"):
                file = out / figure
                if not file.is_file() or file.stat().st_size == 0:
                    found.append(f"{name}: {figure} was not written")
                elif _image_is_blank(file):
                    found.append(f"{name}: {figure} is blank")
        problems.extend(found)
        log(f"  {name}: FAILED" if found else f"  {name}: ok")
    if not resources.network_example_paths():
        problems.append("no example networks found (resources/experiments/networks/*.toml)")
    return problems


def _run_count(path: Path) -> int:
    import tomllib

    return len(tomllib.loads(path.read_text(encoding="utf-8")).get("runs", []))


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
    # the example networks too (their folder's name says so): the app trains them
    networks = resources.network_example_paths()
    named = [(p.stem, p, 60) for p in examples] + [(f"networks-{p.stem}", p, 180) for p in networks]
    try:
        for name, path, seconds in named:
            if not window.open_example(path):
                problems.append(f"{name}: cannot open: {window.last_warning}")
                continue
            c = window.controller
            c.update_experiment(steps=min(c.experiment.steps, STEPS))
            if not c.wait_until_computed(seconds):
                problems.append(f"{name}: the engine did not finish {STEPS} steps in {seconds} s")
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
                if not any(p.startswith(f"{name}: ") for p in problems)
                else f"  {name}: FAILED"
            )
        problems.extend(check_network_runs(out_dir, log))
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
            # the files checked: less settings.ini and the shortened copies of the networks
            count = sum(p.suffix not in (".ini", ".toml") for p in Path(tmp).rglob("*.*"))
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
    networks = len(resources.network_example_paths())
    print(
        f"self-test passed: {examples} examples and {networks} example networks opened, run "
        f"and exported, the networks also run headless ({count} files checked) in "
        f"{seconds:.1f} s"
    )
    return 0
