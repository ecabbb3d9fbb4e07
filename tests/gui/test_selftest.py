"""``python main.py --self-test`` passes on the shipped examples."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_self_test_returns_0(qapp, capsys):
    import resources
    from gui.selftest import main

    assert main(["-v"]) == 0
    out = capsys.readouterr().out
    assert "self-test passed" in out
    for path in resources.network_example_paths():  # opened in the window, and headless
        assert f"  networks-{path.stem}: ok\n" in out
        assert f"  headless-{path.stem}: ok\n" in out


def test_the_network_part_runs_an_example_headless_and_checks_its_files(
    qapp, tmp_path, monkeypatch
):
    import resources
    from gui import selftest

    moons = resources.experiments_dir() / "networks" / "moons_optimizers.toml"
    monkeypatch.setattr(resources, "network_example_paths", lambda: [moons])
    lines = []
    assert selftest.check_network_runs(tmp_path, lines.append) == []
    assert lines == ["  headless-moons_optimizers: ok"]
    out = tmp_path / "headless-moons_optimizers" / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png",
        "params.npz",
        "surface.png",
        "trajectories.csv",
    ]
    rows = (out / "trajectories.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 3 * (selftest.STEPS + 1)  # 3 runs, shortened to STEPS steps


def test_the_network_part_reports_a_network_the_runner_refuses(qapp, tmp_path, monkeypatch):
    import resources
    from gui import selftest

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'steps = 5\n[problem]\nkind = "mlp"\ndataset = "moons"\nhidden = [0]\n'
        '[[runs]]\noptimizer = "sgd"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(resources, "network_example_paths", lambda: [bad])
    out = tmp_path / "out"
    out.mkdir()
    (problem,) = selftest.check_network_runs(out)
    assert problem.startswith("headless-bad: the runner exited with status 2: ")
    assert "problem.hidden" in problem  # the runner's own reason, naming the key


def test_a_shortened_copy_keeps_its_relative_files(tmp_path):
    import tomllib

    from gui.selftest import STEPS, _shortened_copy

    source = tmp_path / "src"
    source.mkdir()
    original = source / "net.toml"
    original.write_text(
        'steps = 500\n[problem]\nkind = "mlp"\ndataset = "data/points.csv"\ninit = "w.npz"\n',
        encoding="utf-8",
    )
    (tmp_path / "copy").mkdir()
    copy = tomllib.loads(_shortened_copy(original, tmp_path / "copy").read_text("utf-8"))
    assert copy["steps"] == STEPS
    assert copy["problem"]["dataset"] == str(source / "data" / "points.csv")
    assert copy["problem"]["init"] == str(source / "w.npz")
