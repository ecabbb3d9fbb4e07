"""Batch norm per run: a network with batch norm whose runs may turn it off (``batch_norm =
false`` in a run, the model's ``switchable`` layout). The oracles are the two networks the
switch chooses between, each on its own (with batch norm: the plain batch-norm MLP, which the
PyTorch tests pin; without: the MLP without batch norm on the Linear pieces), and PyTorch
itself end to end (tests/engine/test_contract_networks.py, "per-run")."""

from __future__ import annotations

import tomllib
from typing import NamedTuple

import numpy as np
import pytest

from engine import runner
from engine.experiment import ExperimentError, parse_experiment
from engine.plane import Plane, interpolation_losses, mlp_grid_loss
from engine.problems.mlp import MLP

torch = pytest.importorskip("torch", reason="PyTorch is an oracle here")


class Case(NamedTuple):
    switchable: MLP
    with_bn: MLP  # the network with batch norm, not switchable
    plain: MLP  # the network without
    params: np.ndarray  # one run's (P,), perturbed: γ, β away from 1, 0 too
    buffers: np.ndarray  # the batch-norm network's (Q,)
    cols: np.ndarray  # the plain network's parameters in the switchable one's
    p2: np.ndarray  # two runs with those weights: run 0 with batch norm, run 1 without
    b2: np.ndarray


def networks(activation="tanh") -> Case:
    kw = dict(activation=activation, dtype=np.float64)
    switchable = MLP(5, [7, 6], 3, batch_norm=True, switchable=True, **kw)
    with_bn = MLP(5, [7, 6], 3, batch_norm=True, **kw)
    params, buffers = with_bn.init_host(0)
    rng = np.random.default_rng(1)
    params = params + 0.3 * rng.normal(size=params.shape)
    buffers = np.abs(buffers + 0.2 * rng.normal(size=buffers.shape))
    stacked = np.stack([np.append(buffers, 0.0)] * 2)
    b2 = switchable.switched([True, False], stacked)
    plain, cols = switchable.without_batch_norm(), switchable.plain_columns()
    return Case(switchable, with_bn, plain, params, buffers, cols, np.stack([params] * 2), b2)


def examples(n: int, seed: int):
    """``n`` examples of the 5 features and 3 classes, and the generator that drew them."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.integers(0, 3, n), rng


def test_each_run_computes_its_own_network_exactly():
    switchable, with_bn, plain, params, buffers, cols, p2, b2 = networks()
    x, y, _ = examples(9, 2)
    stats = []
    loss, grads, new = switchable.batch_grad(p2, b2, x, y, stats=stats)
    l_bn, g_bn, new_bn = with_bn.batch_grad(params[None], buffers[None], x, y)
    l_pl, g_pl, _ = plain.batch_grad(params[cols][None], np.zeros((1, 0)), x, y)
    assert loss[0] == l_bn[0]
    assert loss[1] == l_pl[0]
    assert np.array_equal(grads[0], g_bn[0])
    assert np.array_equal(grads[1, cols], g_pl[0])
    assert not np.delete(grads[1], cols).any()  # γ and β of the run without: no gradient
    assert np.array_equal(new[0, :-1], new_bn[0])
    assert np.array_equal(new[1], b2[1])  # its running statistics stay as they were
    assert all(np.isnan(m[1]).all() and np.isfinite(m[0]).all() for m, _ in stats)
    for grad in (False, True):
        ev = switchable.evaluate(p2, b2, x, y, grad=grad)
        ev_bn = with_bn.evaluate(params[None], buffers[None], x, y, grad=grad)
        ev_pl = plain.evaluate(params[cols][None], np.zeros((1, 0)), x, y, grad=grad)
        assert ev.loss[0] == ev_bn.loss[0]
        assert ev.loss[1] == ev_pl.loss[0]
        if grad:
            assert np.array_equal(ev.grads[1, cols], ev_pl.grads[0])
    assert np.array_equal(
        switchable.logits(p2, b2, x)[1], plain.logits(params[cols][None], np.zeros((1, 0)), x)[0]
    )


def test_the_network_without_batch_norm_is_torchs():
    """The off switch against PyTorch's Sequential without batch norm (float64)."""
    switchable, *_, params, _, _, p2, b2 = networks("relu")
    x, y, _ = examples(8, 3)
    loss, grads, _ = switchable.batch_grad(p2, b2, x, y)
    view = switchable.layout.view
    layers = []
    for i in range(3):
        linear = torch.nn.Linear(*switchable.layout[f"linear{i}.weight"].shape[::-1]).double()
        linear.weight.data = torch.tensor(view(params, f"linear{i}.weight"))
        linear.bias.data = torch.tensor(view(params, f"linear{i}.bias"))
        layers += [linear, torch.nn.ReLU()] if i < 2 else [linear]
    net = torch.nn.Sequential(*layers)
    expected = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
    expected.backward()
    assert loss[1] == pytest.approx(expected.item(), rel=1e-13)
    for i in range(3):
        np.testing.assert_allclose(
            view(grads[1], f"linear{i}.weight"), net[2 * i].weight.grad.numpy(), rtol=1e-11
        )


def test_weights_files_hold_each_runs_own_network():
    switchable, *_, p2, b2 = networks()
    on, off = (switchable.weights_dict(p2[r], b2[r]) for r in (0, 1))
    assert sorted(off) == sorted(k for k in on if k.startswith("linear"))
    assert "bn0.running_var" in on
    assert not any("batch_norm.on" in k for k in on)
    assert switchable.normalizes(b2[0])
    assert not switchable.normalizes(b2[1])


def test_a_slice_and_a_line_of_a_run_without_batch_norm():
    switchable, _, plain, params, _, cols, _, b2 = networks()
    x, y, rng = examples(12, 4)
    plane = Plane(params, rng.normal(size=params.size), rng.normal(size=params.size))
    a = b = np.linspace(-0.5, 0.5, 3)
    off, _ = mlp_grid_loss(switchable, plane, b2[1], x, y, a, b)
    on, _ = mlp_grid_loss(switchable, plane, b2[0], x, y, a, b)
    sub = Plane(plane.origin[cols], plane.d1[cols], plane.d2[cols])
    np.testing.assert_allclose(off, mlp_grid_loss(plain, sub, None, x, y, a, b)[0], rtol=1e-12)
    # point by point: each grid value is its run's own evaluation there
    for j, bj in enumerate(b):
        for i, ai in enumerate(a):
            point = plane.lift(ai, bj)[None]
            for row, grid in ((0, on), (1, off)):
                loss = switchable.evaluate(point, b2[row : row + 1], x, y).loss[0]
                assert grid[j, i] == pytest.approx(loss, rel=1e-10)
    with pytest.raises(ValueError, match="two different networks"):
        interpolation_losses(switchable, params, params, b2[0], _split(x, y), [0.5], b2[1])


def _split(x, y):
    from engine.datasets import Split

    return Split(x, y, x[:0], y[:0], np.arange(len(y)), np.arange(0))


MIXED = """
seed = 0
steps = 4
[problem]
kind = "mlp"
dataset = "moons"
samples = 60
hidden = [8]
batch_norm = true
[[runs]]
label = "plain"
lr = 0.1
batch_size = 16
batch_norm = false
[[runs]]
label = "bn"
lr = 0.1
batch_size = 16
"""


def test_a_file_of_runs_with_and_without_batch_norm(tmp_path, capsys):
    path = tmp_path / "mixed.toml"
    path.write_text(MIXED, encoding="utf-8")
    assert runner.main([str(path), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    saved = np.load(tmp_path / "out" / "params.npz")
    assert not any(k.startswith("run0.bn") for k in saved.files)
    assert "run1.bn0.running_mean" in saved.files
    # the run without batch norm is the network without: the same file with batch_norm off
    plain = MIXED.replace("batch_norm = true", "batch_norm = false")
    (tmp_path / "plain.toml").write_text(plain, encoding="utf-8")
    assert runner.main([str(tmp_path / "plain.toml"), "--out", str(tmp_path / "p")]) == 0
    first = np.load(tmp_path / "p" / "params.npz")
    for name in ("linear0.weight", "linear1.bias"):
        np.testing.assert_allclose(saved[f"run0.{name}"], first[f"run0.{name}"], rtol=1e-12)
    assert not np.allclose(saved["run1.linear0.weight"], first["run1.linear0.weight"])


@pytest.mark.parametrize(
    ("problem", "run", "message"),
    [
        ('kind = "mlp"\nbatch_norm = false', "batch_norm = true", "true needs batch_norm = true"),
        ('name = "rosenbrock"', "batch_norm = false", 'applies to networks \\(kind = "mlp"\\)'),
    ],
)
def test_a_run_can_only_turn_a_networks_batch_norm_off(tmp_path, capsys, problem, run, message):
    path = tmp_path / "bad.toml"
    path.write_text(f"[problem]\n{problem}\n[[runs]]\n{run}\n", encoding="utf-8")
    assert runner.main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "runs[0].batch_norm" in err
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err)
    assert not (tmp_path / "out").exists()


def test_saving_keeps_the_switch_only_where_it_turns_batch_norm_off():
    data = {
        "problem": {"kind": "mlp", "batch_norm": True},
        "runs": [{"batch_norm": False}, {"batch_norm": True}, {}],
    }
    text = parse_experiment(data).to_toml()
    assert text.count("batch_norm = false") == 1
    assert "batch_norm = true" in text
    data["problem"]["batch_norm"] = False
    data["runs"][1] = {}
    assert "batch_norm = false" not in parse_experiment(data).to_toml().split("[[runs]]", 1)[1]
    with pytest.raises(ExperimentError, match=r"runs\[1\]\.batch_norm"):
        parse_experiment({**data, "runs": [{}, {"batch_norm": True}]})


def test_every_run_may_turn_batch_norm_off(tmp_path, capsys):
    """Then every run trains the network without it: the same as batch_norm = false."""
    off = MIXED.replace('label = "bn"', 'label = "bn"\nbatch_norm = false')
    plain = MIXED.replace("batch_norm = true", "batch_norm = false")
    for name, text in (("off", off), ("plain", plain)):
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
        assert runner.main([str(tmp_path / f"{name}.toml"), "--out", str(tmp_path / name)]) == 0
    a, b = (np.load(tmp_path / name / "params.npz") for name in ("off", "plain"))
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("problem", ["batch_norm = false", "batch_norm = true\nhidden = []"])
def test_a_switch_with_no_batch_norm_to_turn_off_is_a_warning(problem):
    from engine.experiment import experiment_warnings

    experiment = parse_experiment(
        tomllib.loads(f'[problem]\nkind = "mlp"\n{problem}\n[[runs]]\nbatch_norm = false\n')
    )
    warnings = experiment_warnings(experiment)
    assert warnings == [
        "runs[0].batch_norm: false has no effect here; the network has no batch norm to turn "
        "off ([problem] batch_norm = false, or hidden = [])"
    ]
    assert not experiment.batch_norm_per_run
