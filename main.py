"""Descent Lab: start the desktop app, or run an experiment headless.

python main.py [EXPERIMENT.toml]                     the desktop app
python main.py run EXPERIMENT.toml --out DIR         headless: CSV and figures
python main.py --self-test                           open, run, export, check; exit 0/1

Installed, ``descent-lab`` starts the app and ``descent-lab-run EXPERIMENT.toml --out DIR``
is the headless runner (``run_command``).
"""

from __future__ import annotations

import os
import sys

# The app computes in its own threads (the worker trains; a slice spreads over one thread
# per core), so BLAS's threads on top of them only compete for the same cores: on this
# project's 2-core machine an edit of a network's run took 1.7 s to answer with OpenBLAS's
# default threads and 1.05 s with one, and 3.1 against 1.4 s of CPU
# (tools/edit_latency.py). Set before NumPy loads; a user's own setting wins.
APP_BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def prefer_app_threads(environ=os.environ) -> None:
    """One BLAS thread for the app, unless the environment says how many (any of these
    variables: OpenBLAS reads its own before ``OMP_NUM_THREADS``, so setting it would
    override a user's ``OMP_NUM_THREADS``)."""
    if not any(name in environ for name in APP_BLAS_THREADS):
        environ.update(APP_BLAS_THREADS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        from engine.runner import main as run_main

        return run_main(argv[1:], render=_render_figures)
    prefer_app_threads()
    if "--self-test" in argv:
        from gui.selftest import main as self_test

        return self_test([a for a in argv if a != "--self-test"])
    from gui.app import main as app_main

    return app_main(argv)


def run_command(argv: list[str] | None = None) -> int:
    """The ``descent-lab-run`` console command: ``main.py run``'s arguments, without ``run``."""
    from engine.runner import main as run_main

    argv = sys.argv[1:] if argv is None else argv
    return run_main(argv, render=_render_figures, prog="descent-lab-run")


def _render_figures(built, history, out_dir) -> list:
    """Figures for the headless runner: drawn by the GUI's plotting code, offscreen.
    (The engine draws nothing itself: it must never import Qt.)"""
    from gui.figure_files import render_run_figures

    return render_run_figures(built, history, out_dir)


if __name__ == "__main__":
    sys.exit(main())
