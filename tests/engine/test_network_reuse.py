"""Editing one run of a network experiment trains that run alone: ``Trainer(reuse=...)``
copies every run whose problem and spec are unchanged from the finished trainer before, with
its history rows (minibatch loss, evaluated rows, layer and batch-norm records), reservoir
states, buffers and final state; the plane is chosen again from the reservoir.

The oracle is a fresh trainer of the edited experiment, which copies nothing: its history
must be the reused trainer's — bitwise where each run is computed by the same arithmetic
(every run in a lane of its own, so the runs axis never batches differently), to float64
rounding where runs share a lane (BLAS blocks a lane's matrix products by its number of
runs). Only the edited run's gradients are computed (a spy on the batch gradient)."""

from __future__ import annotations

import dataclasses
import gc
import weakref

import numpy as np
import pytest

from engine.batching import BatchConfig
from engine.problems.network import MLPProblem
from engine.snapshots import Reservoir
from engine.training import RunSpec, Trainer
from tests.engine.test_network_lockstep import make_problem

# eight runs over three batch settings (lanes) and several optimizers (units); one diverges
SHARED = [
    RunSpec("sgd", "sgd", lr=0.2, batch=BatchConfig(8, shuffle=True)),
    RunSpec("sgd fast", "sgd", lr=0.4, batch=BatchConfig(8, shuffle=True)),
    RunSpec("momentum", "momentum", lr=0.1, hyper={"momentum": 0.9}, batch=BatchConfig(8)),
    RunSpec("adam", "adam", lr=0.01, batch=BatchConfig(8)),
    RunSpec("adamw", "adamw", lr=0.02, hyper={"weight_decay": 0.1}, batch=BatchConfig(5)),
    RunSpec("accumulated", "sgd", lr=0.3, batch=BatchConfig(4, accumulation_steps=3)),
    RunSpec("diverges", "sgd", lr=1e200, batch=BatchConfig(5)),  # |w|² overflows
    RunSpec("whole", "sgd", lr=0.5),  # the whole training split each update
]
# eight runs, each with a batch setting of its own: one run per lane
ALONE = [
    dataclasses.replace(spec, batch=BatchConfig(4 + i, shuffle=i % 2 == 0))
    for i, spec in enumerate(SHARED)
]
EDITED = 3
SETTINGS = dict(seed=2, eval_every=2, record_every=1)
STEPS = 18


def edited(specs, lr=0.004):
    out = list(specs)
    out[EDITED] = dataclasses.replace(out[EDITED], lr=lr)
    return out


def arrays(trainer: Trainer) -> dict[str, np.ndarray]:
    """Everything a trainer records and ends with, by name."""
    h = trainer.history
    out = {name: getattr(h, name) for name in ("step", "epoch", "lr", "loss", "grad_norm")}
    out.update(coords=h.coords, update=h.update, diverged_at=h.diverged_at)
    out.update({f"extra.{k}": v for k, v in h.extra.items()})
    for name in ("weight_norm", "grad_norm", "update_ratio"):
        out[f"layers.{name}"] = getattr(h.layers, name)
    for name in ("batch_mean", "batch_var", "running_mean", "running_var"):
        out[f"bn.{name}"] = getattr(h.bn, name)
    steps, params, buffers = trainer.snapshots.view()
    out.update({"reservoir.steps": steps, "reservoir.params": params})
    out["reservoir.buffers"] = buffers
    final_params, final_buffers = trainer.final_state()
    out.update({"final.params": final_params, "final.buffers": final_buffers})
    out.update({"plane.d1": trainer.plane.d1, "plane.d2": trainer.plane.d2})
    return out


def spy_gradients(monkeypatch, problem: MLPProblem) -> list[int]:
    """Runs (rows of parameters) of every minibatch gradient ``problem`` computes."""
    calls = []
    original = problem.batch_grad_buffers

    def counted(params, *args, **kwargs):
        calls.append(params.shape[0])
        return original(params, *args, **kwargs)

    monkeypatch.setattr(problem, "batch_grad_buffers", counted)
    return calls


@pytest.mark.parametrize(("specs", "exact"), [(ALONE, True), (SHARED, False)])
def test_a_reused_trainer_equals_a_fresh_one_and_trains_only_the_edited_run(
    monkeypatch, specs, exact
):
    first = Trainer(make_problem(), specs, STEPS, **SETTINGS)
    first.run(chunk=5)
    assert first.history.diverged_at[6] >= 0  # the diverging run did diverge
    # the app builds the problem again for every edit: an equal problem, not the same one
    problem = make_problem()
    calls = spy_gradients(monkeypatch, problem)
    second = Trainer(problem, edited(specs), STEPS, reuse=first, **SETTINGS)
    assert second.reused == {i: i for i in range(8) if i != EDITED}
    second.run(chunk=5)

    # only the edited run's gradients: as many calls, each of one run, as it alone needs
    alone_problem = make_problem()
    alone_calls = spy_gradients(monkeypatch, alone_problem)
    Trainer(alone_problem, [edited(specs)[EDITED]], STEPS, **SETTINGS).run(chunk=5)
    assert set(calls) == {1}
    assert len(calls) == len(alone_calls) == STEPS

    fresh = Trainer(make_problem(), edited(specs), STEPS, **SETTINGS)
    fresh.run(chunk=5)
    mine, theirs = arrays(second), arrays(fresh)
    assert mine.keys() == theirs.keys()
    for name in mine:
        if exact:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
        else:
            np.testing.assert_allclose(
                mine[name], theirs[name], rtol=1e-9, atol=1e-12, err_msg=name
            )
    assert second.coords_exact == fresh.coords_exact
    # the copied runs' rows are the source's own, bitwise, but for the coordinates, which
    # are on the new plane (of every run's states, the edited run's new path included)
    old = arrays(first)
    copied = [i for i in range(8) if i != EDITED]
    for name in mine:
        if name.startswith(("extra.", "layers.", "bn.")) or name in ("loss", "lr", "epoch"):
            np.testing.assert_array_equal(mine[name][:, copied], old[name][:, copied], name)
    np.testing.assert_array_equal(mine["final.params"][copied], old["final.params"][copied])
    np.testing.assert_array_equal(mine["final.buffers"][copied], old["final.buffers"][copied])
    assert not np.allclose(mine["plane.d1"], old["plane.d1"])  # chosen again


def test_an_unfinished_trainer_lends_nothing():
    """Its runs' ends are unknown: nothing of it is copied, not even the rows it has."""
    first = Trainer(make_problem(), SHARED, STEPS, **SETTINGS)
    first.advance(STEPS - 1)
    second = Trainer(make_problem(), edited(SHARED), STEPS, reuse=first, **SETTINGS)
    assert second.reused == {}
    assert np.isnan(second.history.loss[1:]).all()


def test_other_settings_or_another_network_lend_nothing():
    first = Trainer(make_problem(), SHARED, STEPS, **SETTINGS)
    first.run()
    other = dict(SETTINGS, eval_every=3)  # the app's cadence differs: other NaN rows
    assert Trainer(make_problem(), SHARED, STEPS, reuse=first, **other).reused == {}
    assert Trainer(make_problem(seed=5), SHARED, STEPS, reuse=first, **SETTINGS).reused == {}
    wider = make_problem(hidden=(6, 6))
    assert Trainer(wider, SHARED, STEPS, reuse=first, **SETTINGS).reused == {}
    plain = make_problem(batch_norm=False)
    assert Trainer(plain, SHARED, STEPS, reuse=first, **SETTINGS).reused == {}


def test_a_finished_trainer_lets_its_source_go():
    """An edit after an edit: each trainer was the source of the next; once one is done it
    keeps what it needs, and the one before can be freed (a reservoir each)."""
    first = Trainer(make_problem(), SHARED, STEPS, **SETTINGS)
    first.run()
    expected = first.final_state()
    source = weakref.ref(first)
    second = Trainer(make_problem(), edited(SHARED), STEPS, reuse=first, **SETTINGS)
    del first
    gc.collect()
    assert source() is not None  # while training, its reservoir rows are copied in
    second.run()
    gc.collect()
    assert source() is None
    params, buffers = second.final_state()
    copied = [i for i in range(8) if i != EDITED]
    np.testing.assert_array_equal(params[copied], expected[0][copied])
    np.testing.assert_array_equal(buffers[copied], expected[1][copied])
    assert np.isfinite(params[EDITED]).all()


def test_adding_a_run_copies_the_others():
    """The reservoirs of 8 and 9 runs have other capacities but both keep every row."""
    first = Trainer(make_problem(), SHARED, STEPS, **SETTINGS)
    first.run()
    added = RunSpec("new", "momentum", lr=0.05, hyper={"momentum": 0.5}, batch=BatchConfig(8))
    second = Trainer(make_problem(), [*SHARED, added], STEPS, reuse=first, **SETTINGS)
    assert second.snapshots.capacity != first.snapshots.capacity
    assert second.reused == {i: i for i in range(8)}
    second.run()
    fresh = Trainer(make_problem(), [*SHARED, added], STEPS, **SETTINGS)
    fresh.run()
    for name, mine in arrays(second).items():
        np.testing.assert_allclose(mine, arrays(fresh)[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # removing one: every run known, nothing trained, the plane of the seven
    fewer = Trainer(make_problem(), SHARED[1:], STEPS, reuse=first, **SETTINGS)
    assert fewer.done
    assert fewer.reused == {i: i + 1 for i in range(7)}
    fresh = Trainer(make_problem(), SHARED[1:], STEPS, **SETTINGS)
    fresh.run()
    for name, mine in arrays(fewer).items():
        np.testing.assert_allclose(mine, arrays(fresh)[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("capacities", [(5, 5), (5, 6), (5, 7), (9, 40), (40, 41), (3, 2)])
@pytest.mark.parametrize("offered", [1, 2, 9, 10, 17, 40])
def test_two_reservoirs_keep_the_same_rows_exactly_when_they_say_so(capacities, offered):
    """The oracle: the rows two reservoirs actually hold after the same rows were offered
    (in different chunks), against ``keeps_same_rows``."""
    held = []
    for capacity, chunk in zip(capacities, (3, 7), strict=True):
        r = Reservoir(1, 1, budget_bytes=capacity * (8 + 16))
        assert r.capacity == max(2, capacity)
        for at in range(0, offered, chunk):
            r.admit(np.arange(at, min(offered, at + chunk)))
        held.append(r)
    a, b = held
    assert a.keeps_same_rows(b, offered) == np.array_equal(a.rows, b.rows)


def test_a_diverged_run_leaves_the_plane_to_the_others():
    """A run whose weights reach 1e200 (finite; their squares are not) diverges at that
    row: that state is not one the plane is chosen from, or its SVD overflows and no run
    has a path. The oracle: the trajectory plane of the states before divergence."""
    from engine.plane import trajectory_plane

    trainer = Trainer(make_problem(), SHARED, STEPS, **SETTINGS)
    trainer.run()
    h = trainer.history
    assert h.diverged_at[6] == 1
    assert trainer.plane is not None
    steps, params, _ = trainer.snapshots.view()
    keep = np.isfinite(params).all(axis=2)
    keep[:, 6] &= steps < h.diverged_at[6]
    assert not keep[:, 6].all()
    expected = trajectory_plane(params[keep], origin=params[0, 0])
    for mine, theirs in ((trainer.plane.d1, expected.d1), (trainer.plane.d2, expected.d2)):
        np.testing.assert_allclose(abs(mine @ theirs), 1.0, rtol=1e-9)
    assert np.isfinite(h.coords[:, [0, 1, 2, 3, 4, 5, 7]]).all()
