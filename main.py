"""Descent Lab: start the desktop app, or run an experiment headless.

python main.py [EXPERIMENT.toml]                     the desktop app
python main.py run EXPERIMENT.toml --out DIR         headless: CSV and figures
python main.py --self-test                           open, run, export, check; exit 0/1

Installed, ``descent-lab`` starts the app and ``descent-lab-run EXPERIMENT.toml --out DIR``
is the headless runner (``run_command``).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        from engine.runner import main as run_main

        return run_main(argv[1:], render=_render_figures)
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
