"""What the package declares: console commands that do what they say, dependencies that the
code uses, and a CI script that runs the README's checks."""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# distribution name -> the module it is imported as
IMPORT_NAMES = {"PySide6-Essentials": "PySide6", "tomli-w": "tomli_w"}


def _entry_point(value: str):
    module, _, attr = value.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_descent_lab_run_runs_an_experiment_file(tmp_path, monkeypatch, capsys):
    command = _entry_point(PYPROJECT["project"]["scripts"]["descent-lab-run"])
    experiment = ROOT / "resources" / "experiments" / "saddle_point.toml"
    out = tmp_path / "out"
    # as the installed console script calls it: no arguments, sys.argv holds the command line
    argv = ["descent-lab-run", str(experiment), "--out", str(out), "--no-plots"]
    monkeypatch.setattr(sys, "argv", argv)
    assert command() == 0
    assert (out / "trajectories.csv").is_file()
    assert "wrote trajectories.csv" in capsys.readouterr().out


def test_descent_lab_run_usage_names_the_command(capsys):
    command = _entry_point(PYPROJECT["project"]["scripts"]["descent-lab-run"])
    assert command(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: descent-lab-run ")


def _imported_modules() -> set[str]:
    found = set()
    for path in ROOT.rglob("*.py"):
        if ".git" in path.parts or "build" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", text, re.M))
    return found


def test_every_dependency_is_imported_somewhere():
    imported = _imported_modules()
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0]
        module = IMPORT_NAMES.get(name, name)
        assert module in imported, f"{name} is a dependency that nothing imports"


def test_ci_runs_the_readme_test_command_and_ruff():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = 'python -m pip install -e ".[dev]" && python -m pytest'
    assert f"\n{test_command}\n" in readme
    commands = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert test_command in commands
    assert any("ruff check ." in line for line in commands)
    assert any("ruff format --check ." in line for line in commands)
