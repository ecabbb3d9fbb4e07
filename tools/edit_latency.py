"""How long the app takes to answer an edit of one run of eight in a network experiment.

The runs of ``resources/experiments/networks/digits_batch_norm.toml`` (or the file given) at
four learning rates each make eight runs; the app's session trains them in its worker, then
one run's learning rate is changed, as the run editor's slider does, and the time from the
edit to the job's last update (and to the worker idle: the slice of the new plane drawn too)
is measured, a few edits in a row. Offscreen, no window. The CPU time the process spent
meanwhile (every thread: the worker's, the GUI's, BLAS's) says more than the wall time on
a loaded machine.

``--phases``: each edit's worker time by phase as well (training, choosing the plane,
projecting the states, the slice, the interpolation; the rest is the worker's own
bookkeeping and the GUI thread's), less sensitive to the machine's load than the total.

    QT_QPA_PLATFORM=offscreen python tools/edit_latency.py [experiment.toml] [--edits N]
        [--phases]
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT / "resources/experiments/networks/digits_batch_norm.toml"
RATES = (0.5, 1.0, 2.0, 4.0)  # times each run's own learning rate
# phase -> (module, class or None, function) timed by --phases
PHASES = {
    "training": ("engine.training", "Trainer", "advance"),
    "plane": ("gui.network_view", "NetworkLive", "_replan"),
    "projections": ("gui.network_view", None, "project_states"),
    "slice": ("gui.network_view", "SliceTask", "step"),
    "interpolation": ("gui.network_view", None, "make_interpolation"),
}


def time_phases() -> dict[str, float]:
    """Seconds spent in each of ``PHASES`` (on any thread) since the dict was cleared."""
    import importlib

    spent = dict.fromkeys(PHASES, 0.0)
    for phase, (module_name, class_name, name) in PHASES.items():
        module = importlib.import_module(module_name)
        owner = module if class_name is None else getattr(module, class_name)
        original = getattr(owner, name)

        def timed(*args, _original=original, _phase=phase, **kwargs):
            began = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_phase] += time.perf_counter() - began

        setattr(owner, name, timed)
    return spent


def eight_runs(text: str) -> str:
    """The file with each of its runs at four learning rates (its first two runs: eight)."""
    head, *runs = re.split(r"^\[\[runs\]\]\s*$", text, flags=re.M)
    out = [head.rstrip() + "\n"]
    for block in runs[:2]:
        lr = float(re.search(r"^lr\s*=\s*([0-9.eE+-]+)", block, flags=re.M).group(1))
        label = re.search(r'^label\s*=\s*"([^"]*)"', block, flags=re.M).group(1)
        for factor in RATES:
            body = re.sub(r"^lr\s*=.*$", f"lr = {lr * factor:g}", block, flags=re.M)
            body = re.sub(r"^label\s*=.*$", f'label = "{label} ×{factor:g}"', body, flags=re.M)
            out.append("\n[[runs]]\n" + body.strip() + "\n")
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default=str(DEFAULT))
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--phases", action="store_true", help="time each phase too")
    args = parser.parse_args()
    spent = time_phases() if args.phases else None

    from PySide6.QtWidgets import QApplication

    from gui.session import Session

    app = QApplication.instance() or QApplication([])  # noqa: F841 (kept alive)
    source = Path(args.experiment)
    path = Path(tempfile.mkdtemp(prefix="edit-latency-")) / source.name
    path.write_text(eight_runs(source.read_text(encoding="utf-8")), encoding="utf-8")
    session = Session(start_timers=False)

    def idle(timeout=300.0) -> None:
        deadline = time.perf_counter() + timeout
        assert session.wait_until_computed(timeout)
        while session.busy and time.perf_counter() < deadline:
            session.wait_until_computed(1.0)
            time.sleep(0.005)

    try:
        started = time.perf_counter()
        session.open(path)
        idle()
        first = time.perf_counter() - started
        runs = len(session.experiment.runs)
        print(
            f"{source.name}, {runs} runs, {session.experiment.steps} steps: "
            f"first job {first:.2f} s to idle"
        )
        done_s, idle_s = [], []
        for edit in range(args.edits):
            run = 3 if runs > 3 else 0
            lr = session.experiment.runs[run].lr * (1.1 if edit % 2 == 0 else 1 / 1.1)
            if spent is not None:
                spent.update(dict.fromkeys(spent, 0.0))
            t0, cpu0 = time.perf_counter(), time.process_time()
            assert session.update_run(run, lr=lr) is None
            assert session.wait_until_computed(300.0)
            t1 = time.perf_counter()
            idle()
            t2, cpu = time.perf_counter(), time.process_time() - cpu0
            trainer = session.snapshot.built.trainer
            reused = len(getattr(trainer, "reused", {}))
            done_s.append(t1 - t0)
            idle_s.append(t2 - t0)
            print(
                f"edit {edit + 1}: run {run} lr → {lr:.4g}: done {t1 - t0:.3f} s, "
                f"idle {t2 - t0:.3f} s (CPU {cpu:.3f} s, every thread), "
                f"runs copied {reused} of {runs}"
            )
            if spent is not None:
                parts = ", ".join(f"{k} {v:.3f}" for k, v in spent.items())
                print(f"  phases (s): {parts}, other {t2 - t0 - sum(spent.values()):.3f}")
        print(
            f"median: done {statistics.median(done_s):.3f} s, "
            f"idle {statistics.median(idle_s):.3f} s"
        )
        assert not math.isnan(statistics.median(done_s))
    finally:
        session.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
