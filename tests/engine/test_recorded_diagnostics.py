"""What the trainer records for the GUI to draw besides the path: the update vector, the
momentum (velocity) and the per-parameter step size of every recorded row.

The oracles are independent of the engine's optimizers: ``torch.optim`` driven with gradients
that torch's autograd computes from its own copy of the surface (its states give velocity and
step size by the formulas the GUI documents), the recorded path itself (an update vector is
the displacement between the parameters before and after the update), and hand-computed steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import select_backend
from engine.problems.functions import FunctionProblem, make_surface
from engine.schedules import Schedule
from engine.training import History, RunSpec, Trainer

try:
    import torch
except ImportError:
    torch = None

BACKEND = select_backend("numpy", "float64")
STEPS = 24
START = (-0.5, -0.5)
# a rate that halves every 5 updates: velocity and step size must use the rate of the very
# update that led into their row, not the first or the next one
SCHEDULE = Schedule(kind="step", step_size=5, gamma=0.5)


def himmelblau():
    return FunctionProblem(BACKEND, make_surface("himmelblau"), start=START)


def torch_himmelblau(p):
    x, y = p[0], p[1]
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def train(runs, steps=STEPS, **kwargs):
    return Trainer(himmelblau(), runs, steps, **kwargs).run()


# ---- the update vector ---------------------------------------------------------------------


def test_update_is_new_minus_old_by_hand():
    """SGD on (x² + 20y²)/2 from (−2.5, 2) with η = 0.01: the first update moves by
    −η·(x, 20y) = (0.025, −0.4), the second by −η·(x₁, 20y₁) at x₁ = −2.475, y₁ = 1.6."""
    problem = FunctionProblem(BACKEND, make_surface("elongated_quadratic", 20.0))
    h = Trainer(problem, [RunSpec("sgd", "sgd", lr=0.01)], 2).run()
    np.testing.assert_allclose(h.update[0, 0], [0.0, 0.0], atol=0)
    np.testing.assert_allclose(h.update[1, 0], [0.025, -0.4], rtol=1e-14)
    np.testing.assert_allclose(h.update[2, 0], [0.02475, -0.32], rtol=1e-14)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_update_is_the_displacement_of_the_last_update(optimizer):
    runs = [RunSpec(optimizer, optimizer, lr=0.01, schedule=SCHEDULE)]
    dense = train(runs)
    np.testing.assert_array_equal(dense.update[1:, 0], np.diff(dense.coords[:, 0], axis=0))
    assert np.abs(dense.update[1:]).min() > 0  # every update moved both parameters
    # sparse records: still the last update's displacement, not the way since the last row
    sparse = train(runs, record_every=5)
    rows = sparse.step[1:]
    np.testing.assert_array_equal(sparse.update[1:, 0], dense.update[rows, 0])


# ---- velocity and step size against torch.optim ---------------------------------------------

# (engine optimizer, its hyperparameters, torch optimizer, its keyword arguments, rate)
CASES = [
    ("sgd", {}, "SGD", {}, 0.01),
    ("momentum", {"momentum": 0.8}, "SGD", {"momentum": 0.8}, 0.005),
    ("nesterov", {"momentum": 0.8}, "SGD", {"momentum": 0.8, "nesterov": True}, 0.005),
    ("adagrad", {"lr_decay": 0.1}, "Adagrad", {"lr_decay": 0.1}, 0.5),
    ("rmsprop", {}, "RMSprop", {}, 0.01),
    (
        "rmsprop",
        {"momentum": 0.5, "centered": True},
        "RMSprop",
        {"momentum": 0.5, "centered": True},
        0.01,
    ),
    ("adam", {"amsgrad": True}, "Adam", {"amsgrad": True}, 0.1),
    ("adamw", {"weight_decay": 0.1}, "AdamW", {"weight_decay": 0.1}, 0.1),
]
CASE_IDS = [f"{c[0]}-{'-'.join(sorted(c[1])) or 'plain'}" for c in CASES]


def torch_diagnostics(torch_name, kwargs, rates):
    """Path, velocity and step size of a torch optimizer on Himmelblau, one row per update
    (row 0: the start, NaN diagnostics), from torch's own state after each step."""
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, torch_name)([p], lr=float(rates[0]), **kwargs)
    group = opt.param_groups[0]
    path = [p.detach().numpy().copy()]
    velocity, step_size = [np.full(2, np.nan)], [np.full(2, np.nan)]
    for k, lr in enumerate(rates, start=1):
        group["lr"] = float(lr)
        opt.zero_grad()
        torch_himmelblau(p).backward()
        opt.step()
        path.append(p.detach().numpy().copy())
        s = {key: v.detach().numpy() for key, v in opt.state[p].items() if torch.is_tensor(v)}
        velocity.append(_velocity(torch_name, kwargs, group, s, lr, k))
        step_size.append(_step_size(torch_name, kwargs, group, s, lr, k))
    return np.array(path), np.array(velocity), np.array(step_size)


def _velocity(torch_name, kwargs, group, s, lr, k):
    """The momentum in parameter units: −η·buffer; Adam's bias-corrected −η·m/(1 − β₁ᵏ)."""
    if torch_name in ("Adam", "AdamW"):
        return -lr * s["exp_avg"] / (1 - group["betas"][0] ** k)
    if kwargs.get("momentum", 0) > 0:
        return -lr * s["momentum_buffer"]
    return np.full(2, np.nan)  # no momentum, nothing to draw


def _step_size(torch_name, kwargs, group, s, lr, k):
    """The per-parameter rate applied to the gradient (or to Adam's m): η, η_k/(√Σg² + ε),
    η/(√v + ε) (centered: √(v − ḡ²)), η/(1 − β₁ᵏ)/(√(v̂/(1 − β₂ᵏ)) + ε)."""
    eps = group.get("eps", 0.0)
    if torch_name == "SGD":
        return np.full(2, lr)
    if torch_name == "Adagrad":
        return lr / (1 + (k - 1) * group["lr_decay"]) / (np.sqrt(s["sum"]) + eps)
    if torch_name == "RMSprop":
        var = s["square_avg"] - (s["grad_avg"] ** 2 if kwargs.get("centered") else 0)
        return lr / (np.sqrt(var) + eps)
    b1, b2 = group["betas"]
    v = s["max_exp_avg_sq"] if group["amsgrad"] else s["exp_avg_sq"]
    return lr / (1 - b1**k) / (np.sqrt(v / (1 - b2**k)) + eps)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.torch
@pytest.mark.parametrize(("name", "hyper", "torch_name", "torch_kwargs", "lr"), CASES, ids=CASE_IDS)
def test_velocity_and_step_size_match_torch_state(name, hyper, torch_name, torch_kwargs, lr):
    run = RunSpec(name, name, lr=lr, hyper=hyper, schedule=SCHEDULE)
    h = train([run])
    path, velocity, step_size = torch_diagnostics(torch_name, torch_kwargs, run.rates(STEPS))
    np.testing.assert_allclose(h.coords[:, 0], path, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.velocity[1:, 0], velocity[1:], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h.step_size[:, 0], step_size, rtol=1e-10, atol=1e-14)
    # row 0: a zero arrow where there is momentum (none built up yet), NaN (nothing to
    # draw) where the optimizer has none
    has_momentum = np.isfinite(velocity[1]).all()
    np.testing.assert_array_equal(h.velocity[0, 0], [0.0, 0.0] if has_momentum else [np.nan] * 2)


# ---- velocity and step size against the path itself ------------------------------------------


@pytest.mark.parametrize("convention", ["pytorch", "lecture"])
def test_heavy_ball_velocity_is_the_update(convention):
    """Heavy-ball momentum moves by its velocity: lecture θ ← θ + m, PyTorch θ ← θ − ηv."""
    run = RunSpec("m", "momentum", convention=convention, lr=0.005, schedule=SCHEDULE)
    h = train([run])
    np.testing.assert_allclose(h.velocity[1:, 0], h.update[1:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(h.velocity[0, 0], [0.0, 0.0])
    assert np.abs(h.velocity[1:]).min() > 0
    # momentum is applied at the plain rate: the step size is the rate of the update
    np.testing.assert_array_equal(h.step_size[1:, 0], np.repeat(h.lr[1:, 0, None], 2, axis=1))


@pytest.mark.parametrize(
    ("name", "convention", "lr"),
    [
        ("sgd", "pytorch", 0.01),
        ("adagrad", "pytorch", 0.5),
        ("adagrad", "lecture", 0.1),
        ("rmsprop", "pytorch", 0.01),
        ("rmsprop", "lecture", 0.01),
    ],
)
def test_step_size_times_the_gradient_is_the_update(name, convention, lr):
    """Without momentum, update k is −(step size of row k) · (gradient at row k − 1): the
    recorded full-data gradient is exactly the one a function problem's update used."""
    h = train([RunSpec(name, name, convention=convention, lr=lr, schedule=SCHEDULE)])
    np.testing.assert_allclose(
        h.update[1:, 0], -h.step_size[1:, 0] * h.grad[:-1, 0], rtol=1e-12, atol=1e-15
    )
    assert np.all(np.isnan(h.step_size[0, 0]))  # no gradient seen yet
    assert np.all(np.isnan(h.velocity[:, 0]))  # no momentum: nothing to draw, ever


def test_plain_sgd_step_size_is_the_rate_of_the_update():
    h = train([RunSpec("sgd", "sgd", lr=0.01, schedule=SCHEDULE)])
    np.testing.assert_array_equal(h.step_size[1:, 0, 0], h.lr[1:, 0])
    np.testing.assert_array_equal(h.step_size[1:, 0, 1], h.lr[1:, 0])
    assert h.lr[5, 0] == 0.01
    assert h.lr[6, 0] == 0.005


def test_row_zero_is_final_before_the_first_update():
    """The GUI draws the history while it grows: right after construction, row 0 already
    says "no step size yet" and "no momentum yet"."""
    runs = [RunSpec("sgd", "sgd", lr=0.01), RunSpec("momentum", "momentum", lr=0.01)]
    h = Trainer(himmelblau(), runs, 10).history
    assert h.count == 1
    assert np.all(np.isnan(h.step_size[0]))
    assert np.all(np.isnan(h.velocity[0, 0]))
    np.testing.assert_array_equal(h.velocity[0, 1], [0.0, 0.0])
    np.testing.assert_array_equal(h.update[0], np.zeros((2, 2)))


def test_diagnostics_of_mixed_runs_are_each_runs_own():
    """Runs of two optimizers interleaved (one unit's runs are not contiguous) and chunked:
    each run's arrows are the ones it has when trained alone in one go."""
    runs = [
        RunSpec("adam", "adam", lr=0.1),
        RunSpec("momentum", "momentum", lr=0.005, schedule=SCHEDULE),
        RunSpec("adam-slow", "adam", lr=0.02),
        RunSpec("rmsprop", "rmsprop", lr=0.01, hyper={"momentum": 0.5}),
    ]
    trainer = Trainer(himmelblau(), runs, STEPS)
    for _ in trainer.iterate(chunk=5):
        pass
    together = trainer.history
    for i, run in enumerate(runs):
        alone = train([run])
        for name in ("update", "velocity", "step_size", "grad"):
            np.testing.assert_array_equal(getattr(together, name)[:, i], getattr(alone, name)[:, 0])


def test_diagnostics_are_recorded_by_default_and_only_then():
    runs = [RunSpec("momentum", "momentum", lr=0.005)]
    with_them = Trainer(himmelblau(), runs, 3).run()
    assert with_them.velocity is not None
    assert np.isfinite(with_them.velocity).all()
    assert History.empty(["a"], np.arange(3)).velocity is not None
    without = Trainer(himmelblau(), runs, 3, diagnostics=False).run()
    for name in ("update", "velocity", "step_size", "grad"):
        assert getattr(without, name) is None
    np.testing.assert_array_equal(without.coords, with_them.coords)
