"""Files shipped with Descent Lab: example experiments (and, later, lessons, data, icons).

Paths are found relative to this file, which holds in a source checkout, an installed wheel
(``package-data``) and a PyInstaller bundle that keeps the ``resources`` folder beside the
code (``--add-data resources:resources``).
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent


def experiments_dir() -> Path:
    """The folder of example experiments."""
    return RESOURCES / "experiments"


def example_paths() -> list[Path]:
    """The example experiment files, sorted by name."""
    folder = experiments_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.toml") if p.is_file())


def default_experiment() -> Path:
    """The experiment the app opens when it is given none."""
    return experiments_dir() / "rosenbrock_momentum_vs_adam.toml"


def network_example_paths() -> list[Path]:
    """The example networks (``kind = "mlp"``), sorted by name. They sit in a subfolder:
    ``example_paths`` lists what the app's example menu opens."""
    folder = experiments_dir() / "networks"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.toml") if p.is_file())
