"""The layering of DESIGN.md, read from the source: the engine knows nothing of Qt, and only
``engine/backend.py`` imports CuPy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
ENGINE_FILES = sorted(ENGINE.rglob("*.py"))
GUI_MODULES = {"PySide6", "PySide2", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "gui"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports, wherever the import statement is
    (inside functions and ``try`` blocks too); relative imports stay inside the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])  # importlib.import_module("...")
    return names


def test_there_is_an_engine_to_check():
    assert (ENGINE / "backend.py") in ENGINE_FILES
    assert len(ENGINE_FILES) >= 5


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_never_imports_qt_or_the_gui(path):
    bad = imported_modules(path) & GUI_MODULES
    assert not bad, f"{path.relative_to(ENGINE.parent)} imports {', '.join(sorted(bad))}"


def test_only_the_backend_imports_cupy():
    importers = {
        str(p.relative_to(ENGINE.parent)) for p in ENGINE_FILES if "cupy" in imported_modules(p)
    }
    assert importers <= {"engine/backend.py"}, importers
    assert "cupy" in imported_modules(ENGINE / "backend.py")


def test_the_scanner_sees_nested_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def f():\n"
        "    try:\n"
        "        from PySide6.QtCore import QObject\n"
        "    except ImportError:\n"
        "        import pyqtgraph as pg\n"
        "    import cupy.cuda\n"
        "    importlib.import_module('superqt')\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == {"os", "PySide6", "pyqtgraph", "cupy", "superqt"}


GEOMETRY = ENGINE.parent / "gui" / "geometry.py"
STANDARD_LIBRARY = {"__future__", "collections", "itertools", "math", "typing", "dataclasses"}


THINNING = ENGINE / "thinning.py"  # the path thinning, shared by the runner and the views


def engine_modules_imported(path: Path) -> set[str]:
    """The ``engine.*`` modules a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "engine":
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "engine")
    return names


def test_the_drawing_math_is_numpy_only():
    """What the views and figures draw is computed without Qt (and, but for the NumPy-only
    path thinning it shares with the headless runner, without the engine), so that it can be
    unit-tested and reused by any front end."""
    extra = imported_modules(GEOMETRY) - STANDARD_LIBRARY - {"numpy", "engine"}
    assert not extra, f"gui/geometry.py imports {', '.join(sorted(extra))}"
    engine = engine_modules_imported(GEOMETRY) - {"engine.thinning"}
    assert not engine, f"gui/geometry.py imports {', '.join(sorted(engine))}"
    extra = imported_modules(THINNING) - STANDARD_LIBRARY - {"numpy"}
    assert not extra, f"engine/thinning.py imports {', '.join(sorted(extra))}"


GUI = ENGINE.parent / "gui"
QT_FREE_GUI = ("document.py", "playhead.py", "snapshot.py", "geometry.py", "network_view.py")


def gui_modules_imported(path: Path) -> set[str]:
    """The ``gui.*`` modules a file imports (``gui.document`` -> ``document.py``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "gui":
                names.add(f"{parts[1]}.py" if len(parts) > 1 else "__init__.py")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "gui" and len(parts) > 1:
                    names.add(f"{parts[1]}.py")
    return names


@pytest.mark.parametrize("name", QT_FREE_GUI)
def test_the_document_playhead_and_snapshots_are_qt_free(name):
    """The model side of the GUI (the experiment document, the playhead, what the worker
    publishes) runs and is tested without Qt: it imports no Qt, and of the GUI only other
    Qt-free modules."""
    path = GUI / name
    bad = imported_modules(path) & (GUI_MODULES - {"gui"})
    assert not bad, f"gui/{name} imports {', '.join(sorted(bad))}"
    outside = gui_modules_imported(path) - set(QT_FREE_GUI)
    assert not outside, f"gui/{name} imports gui modules that use Qt: {sorted(outside)}"
