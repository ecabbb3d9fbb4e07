"""The README's "Bad network files" lines are what the runner prints: each file below is run
as the README says (from its folder), must exit 2, write nothing, and print exactly the line
the README quotes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine import runner

ROOT = Path(__file__).resolve().parents[1]
BASE = """steps = 5
[[runs]]
optimizer = "sgd"
[problem]
kind = "mlp"
"""
FILES = {
    "zero_width.toml": 'dataset = "moons"\nhidden = [0]\n',
    "activation.toml": 'dataset = "moons"\nactivation = "gelu"\n',
    "dataset.toml": 'dataset = "mnist"\n',
    "points.toml": 'dataset = "points.csv"\n',
    "weights.toml": 'dataset = "moons"\nhidden = [16]\ninit = "w.npz"\n',
    "weights_shape.toml": 'dataset = "moons"\nhidden = [16]\ninit = "w_shape.npz"\n',
    "valfrac.toml": 'dataset = "moons"\nvalidation_fraction = 1\n',
    "bnmom.toml": 'dataset = "moons"\nbatch_norm = true\nbn_momentum = 2\n',
}


def readme_lines() -> dict[str, str]:
    """The quoted lines of the README's "Bad network files", by file name."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Bad network files") :]
    block = re.search(r"```\n(.*?)```", section, flags=re.S)
    assert block, "the README's Bad network files section has no quoted output"
    return {line.split(":", 1)[0]: line for line in block.group(1).splitlines()}


def write_files(folder: Path) -> None:
    for name, problem in FILES.items():
        (folder / name).write_text(BASE + problem, encoding="utf-8")
    (folder / "points.csv").write_text("x1,x2,label\n1,2,a\n3,oops,b\n", encoding="utf-8")
    hidden = {"linear0.weight": np.zeros((16, 2)), "linear0.bias": np.zeros(16)}
    np.savez(folder / "w.npz", **hidden, **{"linear1.weight": np.zeros((2, 16))})
    np.savez(
        folder / "w_shape.npz",
        **{"linear0.weight": np.zeros((16, 3)), "linear0.bias": np.zeros(16)},
        **{"linear1.weight": np.zeros((2, 16)), "linear1.bias": np.zeros(2)},
    )


def test_the_readme_quotes_every_bad_file_below():
    assert sorted(readme_lines()) == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_bad_network_file_exits_2_with_the_readme_line_and_writes_nothing(
    name, tmp_path, monkeypatch, capsys
):
    write_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert runner.main([name, "--out", "out"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [readme_lines()[name]]
    assert captured.out == ""
    assert not (tmp_path / "out").exists()
