"""Donated updates (``update(..., donate=True)``): in place where they can be, and bit for bit
the plain update's results everywhere (the plain update is the one compared with torch.optim
and with hand-computed steps in test_optim.py, so that comparison covers these too)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.optim import make_optimizer
from tests.engine.test_optim import (
    CASES,
    _Counted,
    _FusingNumPy,
    gradient_sequence,
    starts_for,
)

# every flag set of every optimizer: the torch cases, the lecture's forms, Nesterov's too
DONATION_CASES = [(name, hyper, "pytorch") for name, hyper, _, _ in CASES] + [
    ("momentum", {"momentum": 0.8}, "lecture"),
    ("momentum", {"momentum": 0.6, "weight_decay": 0.05}, "lecture"),
    ("nesterov", {}, "lecture"),
    ("nesterov", {"weight_decay": 0.1}, "lecture"),
    ("sgd", {}, "lecture"),
    ("adagrad", {}, "lecture"),
    ("rmsprop", {"alpha": 0.9}, "lecture"),
]
DONATION_IDS = [f"{n}-{c}-{'-'.join(sorted(h)) or 'defaults'}" for n, h, c in DONATION_CASES]
# the optimizers whose donated NumPy update runs in place (the others ignore donation)
IN_PLACE = {"sgd", "momentum", "nesterov", "adam", "adamw"}


def sweep(hyper, runs):
    """``runs`` runs of ``hyper`` whose rates and (where it has one) weight decay differ, so
    that they become (R, 1) arrays; one run keeps plain floats."""
    decay = hyper.get("weight_decay")
    return [
        {
            **hyper,
            "lr": 0.01 * (r + 1),
            **({} if decay is None else {"weight_decay": decay * (r + 1)}),
        }
        for r in range(runs)
    ]


def arrays_of(state):
    return [a for a in state if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("runs", [1, 3])
@pytest.mark.parametrize(("name", "hyper", "convention"), DONATION_CASES, ids=DONATION_IDS)
def test_a_donated_update_equals_the_plain_one_bit_for_bit(name, hyper, convention, runs, dtype):
    """Eight steps (the first step's own forms included) from the same start and gradients:
    every parameter and state array equal, and the donated update in place where it should
    be (the very arrays it was given come back), never touching the gradient."""
    hypers = sweep(hyper, runs)
    plain = make_optimizer(name, hypers, convention, dtype=dtype)
    donor = make_optimizer(name, hypers, convention, dtype=dtype)
    grads = gradient_sequence(steps=8, runs=runs, seed=7).astype(dtype)
    p_plain = starts_for(runs, seed=8).astype(dtype)
    p_donor = p_plain.copy()
    s_plain, s_donor = plain.init(p_plain), donor.init(p_donor)
    # a rate array in the parameters' dtype for a sweep, a Python float for one run
    lr = np.array([[h["lr"]] for h in hypers], dtype) if runs > 1 else hypers[0]["lr"]
    for k in range(8):
        g = grads[k].copy()
        given, given_state = p_donor, arrays_of(s_donor)
        p_plain, s_plain = plain.update(grads[k], s_plain, p_plain, lr)
        p_donor, s_donor = donor.update(g, s_donor, p_donor, lr, donate=True)
        np.testing.assert_array_equal(g, grads[k], err_msg=f"the gradient changed at {k}")
        assert p_donor.dtype == p_plain.dtype == dtype
        np.testing.assert_array_equal(p_donor, p_plain, err_msg=f"parameters at update {k}")
        for a, b in zip(s_donor, s_plain, strict=True):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b, err_msg=f"state at update {k}")
            else:
                assert a == b
        if name in IN_PLACE:
            assert p_donor is given, f"update {k} was not done in place"
            if k > 0:  # (an initial state may be fresh arrays of zeros: still its own)
                assert all(a is b for a, b in zip(arrays_of(s_donor), given_state, strict=True))


def test_donation_that_would_change_the_dtype_or_alias_falls_back_to_the_plain_update():
    """A float64 rate with float32 parameters promotes the plain update to float64: the
    donated one must not squeeze that into the float32 arrays; nor may it run in place when
    the state shares memory with the parameters. Then it is the plain update exactly, and
    what it was given is left as it was."""
    opt = make_optimizer("momentum", sweep({}, 2), dtype=np.float32)
    params = starts_for(2, seed=3).astype(np.float32)
    grads = gradient_sequence(steps=1, runs=2, seed=4)[0].astype(np.float32)
    state = opt.init(params)
    state = opt.update(grads, state, params.copy(), 0.1)[1]  # past the first step
    lr64 = np.array([[0.01], [0.02]])  # float64
    before = params.copy(), state.buf.copy()
    expected = opt.update(grads, state, params, lr64)
    got = opt.update(grads, state, params, lr64, donate=True)
    assert got[0].dtype == np.float64
    assert got[0] is not params
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(params, before[0])
    np.testing.assert_array_equal(state.buf, before[1])
    # the parameters' own array as the momentum buffer: no in-place update through it
    aliased = type(state)(params, state.t)
    expected = opt.update(grads, aliased, params.copy(), 0.1)
    got = opt.update(grads, aliased, params, 0.1, donate=True)
    assert got[0] is not params
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(params, before[0])
    # a buffer that is another array over the parameters' memory (a view, not the object)
    overlapping = type(state)(params[:], state.t)
    expected = opt.update(grads, overlapping, params.copy(), 0.1)
    got = opt.update(grads, overlapping, params, 0.1, donate=True)
    assert got[0] is not params
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(params, before[0])


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_donation_on_a_fusing_array_module_is_the_one_fused_kernel(name):
    """On CuPy a fused kernel returns new arrays: a donated update there is the plain one,
    one launch, the same bits, and the arrays given are left alone."""
    fusing = _FusingNumPy()
    fused = make_optimizer(name, sweep({}, 2), xp=fusing)
    plain = make_optimizer(name, sweep({}, 2))
    grads = gradient_sequence(steps=3, runs=2, seed=5)
    p_fused = fusing.asarray(starts_for(2, seed=6))
    p_plain = starts_for(2, seed=6)
    s_fused, s_plain = fused.init(p_fused), plain.init(p_plain)
    lr = np.array([[0.01], [0.02]])
    for k in range(3):
        given = np.array(p_fused)
        _Counted.stray, fusing.launches = 0, 0
        new, s_fused = fused.update(fusing.asarray(grads[k]), s_fused, p_fused, lr, donate=True)
        assert (fusing.launches, _Counted.stray) == (1, 0)
        np.testing.assert_array_equal(np.asarray(p_fused), given)
        p_fused = new
        p_plain, s_plain = plain.update(grads[k], s_plain, p_plain, lr)
        np.testing.assert_array_equal(np.asarray(p_fused), p_plain)


# ---- the trainer donates the steps no record holds ---------------------------------------


@pytest.mark.parametrize("record_every", [1, 2, 5])
def test_a_trainer_that_donates_records_what_one_that_never_does_records(record_every, monkeypatch):
    """The trainer's records keep each recorded step's old and new arrays: a donated update
    must never overwrite those. Networks of every optimizer trained with donation and with
    donation refused (the plain updates) record the same rows, bit for bit, and end in the
    same state; and where two updates in a row go unrecorded, updates were done in place."""
    from engine import optim
    from engine.training import Trainer
    from tests.engine.test_network_lockstep import SPECS, make_problem, recorded

    donated = []
    in_place = optim.Optimizer._donatable

    def counting(self, *args):
        donated.append(in_place(self, *args))
        return donated[-1]

    def train():
        trainer = Trainer(make_problem(), SPECS, 23, seed=4, record_every=record_every)
        trainer.run(chunk=7)  # several calls: each one's first step never donates
        return trainer

    monkeypatch.setattr(optim.Optimizer, "_donatable", counting)
    donating = train()
    monkeypatch.setattr(optim.Optimizer, "_donatable", lambda self, *args: False)
    plain = train()
    if record_every > 2:
        assert any(donated), "no update was done in place"
    else:  # every step, or the step before it, is recorded
        assert not donated, "an update whose arrays a record holds was donated"
    for run, spec in enumerate(SPECS):
        mine, theirs = recorded(donating.history, run), recorded(plain.history, run)
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name], f"{spec.label} {name}")
    for a, b in zip(donating.final_state(), plain.final_state(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(donating.snapshots.params, plain.snapshots.params)
    np.testing.assert_array_equal(donating.history.coords, plain.history.coords)


def test_a_finished_trainer_lets_go_of_the_donated_updates_scratch():
    """A donated update keeps two scratch arrays of the parameters' size between updates
    (up to 800 MB at the network limit, float32): a finished trainer, which the app keeps,
    must not hold them."""
    from engine.training import Trainer
    from tests.engine.test_network_lockstep import SPECS, make_problem

    trainer = Trainer(make_problem(), SPECS, 23, seed=4, record_every=5)
    optimizers = [unit.optimizer for lane in trainer._lanes for unit in lane.units]
    trainer.advance(12)  # unrecorded steps in a row: donated, in place
    assert any(opt._scratch for opt in optimizers), "no update was donated"
    trainer.run(chunk=7)
    assert trainer.done
    held = sum(a.nbytes for opt in optimizers for a in opt._scratch.values())
    assert held == 0, f"a finished trainer holds {held} bytes of scratch"
