"""Many runs of a network trained in lockstep equal each run trained alone (the runs axis
is only batching), and a long training's memory stays bounded by the reservoir budget and
the flush size, not by steps × parameters."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine import training
from engine.backend import select_backend
from engine.batching import BatchConfig
from engine.datasets import Dataset, split
from engine.problems.mlp import MLP
from engine.problems.network import MLPProblem
from engine.training import RunSpec, Trainer


def make_problem(n=40, d=4, hidden=(6, 5), classes=3, seed=1, batch_norm=True):
    rng = np.random.default_rng(seed)
    data = Dataset(
        "data",
        rng.normal(size=(n, d)),
        rng.integers(0, classes, n),
        tuple(f"c{c}" for c in range(classes)),
        tuple(f"f{i}" for i in range(d)),
    )
    backend = select_backend("numpy", "float64")
    model = MLP(d, list(hidden), classes, batch_norm=batch_norm, bn_momentum=0.3, dtype=np.float64)
    start, buffers = model.init_host(seed)
    return MLPProblem(backend, model, split(data, 0.25, seed), start, buffers)


SPECS = [
    RunSpec("sgd", "sgd", lr=0.2, batch=BatchConfig(8, shuffle=True)),
    RunSpec("momentum", "momentum", lr=0.1, hyper={"momentum": 0.9}, batch=BatchConfig(8)),
    RunSpec("adam", "adam", lr=0.01, batch=BatchConfig(8)),
    RunSpec("adamw", "adamw", lr=0.02, hyper={"weight_decay": 0.1}, batch=BatchConfig(5)),
    RunSpec("accumulated", "sgd", lr=0.3, batch=BatchConfig(4, accumulation_steps=3)),
    RunSpec("whole", "sgd", lr=0.5),  # the whole training split each update
]


def recorded(h, run):
    out = {"loss": h.loss[:, run], "grad_norm": h.grad_norm[:, run], "lr": h.lr[:, run]}
    out["epoch"] = h.epoch[:, run]
    out.update({f"extra.{k}": v[:, run] for k, v in h.extra.items()})
    for name in ("weight_norm", "grad_norm", "update_ratio"):
        out[f"layers.{name}"] = getattr(h.layers, name)[:, run]
    for name in ("batch_mean", "batch_var", "running_mean", "running_var"):
        out[f"bn.{name}"] = getattr(h.bn, name)[:, run]
    return out


@pytest.mark.parametrize("record_every", [1, 3])
def test_runs_together_equal_each_alone(record_every):
    problem = make_problem()
    together = Trainer(problem, SPECS, 12, seed=4, record_every=record_every, eval_every=2)
    together.run(chunk=5)
    params, buffers = together.final_state()
    for r, spec in enumerate(SPECS):
        alone = Trainer(problem, [spec], 12, seed=4, record_every=record_every, eval_every=2)
        alone.run(chunk=7)
        mine, theirs = recorded(together.history, r), recorded(alone.history, 0)
        assert mine.keys() == theirs.keys()
        for name in mine:
            np.testing.assert_allclose(
                mine[name], theirs[name], rtol=1e-10, atol=1e-13, err_msg=f"{spec.label} {name}"
            )
        p, b = alone.final_state()
        np.testing.assert_allclose(params[r], p[0], rtol=1e-10, atol=1e-13, err_msg=spec.label)
        np.testing.assert_allclose(buffers[r], b[0], rtol=1e-10, atol=1e-13, err_msg=spec.label)


def test_memory_stays_bounded_over_ten_times_the_reservoirs_rows(monkeypatch):
    """400 rows of 4 runs × 835 parameters in one ``advance``: kept until the end, their
    states would take 21 MB; the reservoir holds 40 rows (≤ its budget) and the step loop
    flushes every 256 kB of pending states."""
    monkeypatch.setattr(training, "PENDING_BYTES", 256 << 10)
    problem = make_problem(n=64, d=20, hidden=(32,))
    assert problem.n_params == 835
    runs = [
        RunSpec(f"r{i}", "momentum", lr=0.05 * (i + 1), batch=BatchConfig(16)) for i in range(4)
    ]
    row_bytes = 4 * (835 + 64) * 8 + 16
    budget = 40 * row_bytes
    trainer = Trainer(problem, runs, 400, snapshot_budget_bytes=budget, diagnostics=False)
    assert trainer.snapshots.capacity == 40
    tracemalloc.start()
    try:
        trainer.advance(400)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert trainer.done
    assert trainer.snapshots.nbytes <= budget
    assert 20 <= trainer.snapshots.count <= 40
    assert trainer.snapshots.steps[-1] == 400
    assert peak < 6 << 20, f"peak {peak / 2**20:.1f} MiB while training"
    assert trainer.plane is not None


def test_a_reused_run_brings_its_states_into_the_reservoir():
    """The app's slider: one run of three changes, the other two are copied from the last
    trainer — with their reservoir rows (during training too), so the plane is of all."""
    problem = make_problem()
    budget = 7 * (3 * (problem.n_params + problem.n_buffers) * 8 + 16)  # 7 rows of 25
    first = Trainer(problem, SPECS[:3], 24, seed=2, snapshot_budget_bytes=budget)
    first.run()
    changed = [SPECS[0], RunSpec("other", "sgd", lr=0.05, batch=BatchConfig(8)), SPECS[2]]
    second = Trainer(problem, changed, 24, seed=2, snapshot_budget_bytes=budget, reuse=first)
    assert second.reused == {0: 0, 2: 2}
    second.advance(10)
    mine, theirs = second.snapshots, first.snapshots
    held = np.isin(mine.rows, theirs.rows)
    assert held.any()
    where = np.searchsorted(theirs.rows, mine.rows[held])
    for run in (0, 2):
        np.testing.assert_array_equal(mine.params[held, run], theirs.params[where, run])
    second.run()
    np.testing.assert_array_equal(mine.rows, theirs.rows)
    for run in (0, 2):
        np.testing.assert_array_equal(mine.params[:, run], theirs.params[:, run])
        np.testing.assert_array_equal(mine.buffers[:, run], theirs.buffers[:, run])
    assert np.isfinite(mine.params).all()
    # every run known: the same plane and coordinates without training
    again = Trainer(problem, SPECS[:3], 24, seed=2, snapshot_budget_bytes=budget, reuse=first)
    assert again.done
    np.testing.assert_array_equal(again.plane.d1, first.plane.d1)
    np.testing.assert_array_equal(again.history.coords, first.history.coords)


def test_the_same_network_built_twice_is_the_same_problem():
    assert make_problem().same_as(make_problem())
    assert not make_problem().same_as(make_problem(hidden=(6, 4)))
    assert not make_problem().same_as(make_problem(seed=2))  # other data and start
    assert not make_problem().same_as(make_problem(batch_norm=False))


def test_a_reused_runs_final_state_is_its_sources():
    problem = make_problem()
    first = Trainer(problem, SPECS[:2], 6, seed=2)
    first.run()
    second = Trainer(problem, [SPECS[1], SPECS[3]], 6, seed=2, reuse=first)
    second.run()
    assert second.reused == {0: 1}
    params, buffers = second.final_state()
    theirs = first.final_state()
    np.testing.assert_array_equal(params[0], theirs[0][1])
    np.testing.assert_array_equal(buffers[0], theirs[1][1])
    assert np.isfinite(params).all()


def test_the_plane_of_a_large_reservoir_is_the_top_two_principal_directions():
    """Past ``EXACT_PLANE_VALUES`` the plane comes from subspace iteration over blocks of
    states: the same plane as NumPy's SVD of them all (a trajectory-like spectrum)."""
    rng = np.random.default_rng(0)
    k, r, p = 60, 4, 1500
    t = np.linspace(0, 1, k)[:, None]
    scales = np.array([5.0, 2.0, 0.5, 0.2, 0.1])[:, None]
    basis = np.linalg.qr(rng.normal(size=(p, 5)))[0].T * scales  # 5 directions, decaying
    weights = rng.normal(size=(r, 5))
    curves = np.stack([t, np.sin(3 * t), t**2, np.cos(5 * t) - 1, t**3], axis=-1)[:, 0, :]
    params = np.einsum("kf,rf,fp->krp", curves, weights, basis) + 1e-4 * rng.normal(size=(k, r, p))
    params[0] = 0.0  # the runs' common start
    finite = np.ones((k, r), bool)
    plane = training._iterative_plane(params, finite, params[0, 0], seed=3)
    _, _, vt = np.linalg.svd(params.reshape(-1, p) - params[0, 0], full_matrices=False)
    exact = vt[:2].T @ vt[:2]  # projector on the exact plane
    mine = np.stack([plane.d1, plane.d2]).T
    mine = mine @ np.linalg.solve(mine.T @ mine, mine.T)
    np.testing.assert_allclose(mine, exact, atol=1e-8)
