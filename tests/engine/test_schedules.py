"""Closed-form schedules against torch.optim.lr_scheduler, stepped once after every update."""

from __future__ import annotations

import numpy as np
import pytest

from engine.schedules import Schedule

try:
    import torch
except ImportError:  # the comparisons with torch are skipped, the closed forms still run
    torch = None


def needs_torch(test):
    """Compares against torch.optim.lr_scheduler: marked ``torch``, skipped without it."""
    skip = pytest.mark.skipif(torch is None, reason="torch is not installed")
    return pytest.mark.torch(skip(test))


BASE_LR = 0.3


def torch_rates(make_scheduler, steps, base_lr=BASE_LR):
    """The rate each of ``steps`` updates uses: read before the update, then the optimizer
    steps and the scheduler steps once, as in a training loop."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    scheduler = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros_like(p)
        opt.step()
        scheduler.step()
    return np.array(rates)


def check(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def test_constant():
    check(Schedule().rates(BASE_LR, 50), np.full(50, BASE_LR))


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (7, 0.1), (30, 0.9), (5, 1.5)])
@needs_torch
def test_step_is_steplr(step_size, gamma):
    sched = Schedule(kind="step", step_size=step_size, gamma=gamma)
    theirs = torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 100)
    check(sched.rates(BASE_LR, 100), theirs)


@pytest.mark.parametrize("gamma", [0.99, 0.9, 0.5])
@needs_torch
def test_exponential_is_exponentiallr(gamma):
    sched = Schedule(kind="exponential", gamma=gamma)
    theirs = torch_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma), 100)
    check(sched.rates(BASE_LR, 100), theirs)


@pytest.mark.parametrize(("total", "min_lr"), [(100, 0.0), (37, 0.01), (10, 0.05)])
@needs_torch
def test_cosine_is_cosineannealinglr_also_past_t_max(total, min_lr):
    steps = 3 * total + 5  # past T_max the cosine comes back up, in torch as in the formula
    sched = Schedule(kind="cosine", total_steps=total, min_lr=min_lr)
    theirs = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=min_lr),
        steps,
    )
    ours = sched.rates(BASE_LR, steps)
    check(ours, theirs)
    assert ours[total] == pytest.approx(min_lr, abs=1e-15)
    assert ours[2 * total] == pytest.approx(BASE_LR, rel=1e-12)


def test_inverse_sqrt_closed_form():
    k = np.arange(200)
    np.testing.assert_allclose(
        Schedule(kind="inverse_sqrt").rates(BASE_LR, 200), BASE_LR / np.sqrt(k + 1), rtol=1e-15
    )


@pytest.mark.parametrize(("warmup", "start_factor"), [(1, 0.5), (10, 0.1), (25, 1.0 / 3)])
@needs_torch
def test_warmup_alone_is_linearlr(warmup, start_factor):
    sched = Schedule(warmup_steps=warmup, warmup_start_factor=start_factor)
    theirs = torch_rates(
        lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=start_factor, total_iters=warmup
        ),
        warmup + 30,
    )
    ours = sched.rates(BASE_LR, warmup + 30)
    check(ours, theirs)
    assert ours[0] == pytest.approx(start_factor * BASE_LR, rel=1e-15)
    np.testing.assert_allclose(ours[warmup:], BASE_LR, rtol=1e-15)


DECAYS = {
    "step": (
        {"step_size": 6, "gamma": 0.5},
        lambda o: torch.optim.lr_scheduler.StepLR(o, 6, 0.5),
    ),
    "exponential": (
        {"gamma": 0.95},
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.95),
    ),
    "cosine": (
        {"total_steps": 40, "min_lr": 0.02},
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=0.02),
    ),
    "constant": ({}, lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0)),
}


@pytest.mark.parametrize("kind", sorted(DECAYS))
@pytest.mark.parametrize("warmup", [1, 5, 13])
@needs_torch
def test_warmup_then_decay_counted_from_the_end_of_warmup(kind, warmup):
    fields, make_decay = DECAYS[kind]
    steps = 100
    sched = Schedule(kind=kind, warmup_steps=warmup, warmup_start_factor=0.2, **fields)
    ours = sched.rates(BASE_LR, steps)
    warm = torch_rates(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=warmup),
        warmup,
    )
    check(ours[:warmup], warm)
    # update k ≥ W uses the decay's rate after k − W scheduler steps
    decay = torch_rates(make_decay, steps - warmup)
    check(ours[warmup:], decay)


def test_warmup_then_inverse_sqrt():
    warmup, steps = 8, 60
    ours = Schedule(kind="inverse_sqrt", warmup_steps=warmup).rates(BASE_LR, steps)
    k = np.arange(warmup, steps)
    np.testing.assert_allclose(ours[warmup:], BASE_LR / np.sqrt(k - warmup + 1), rtol=1e-15)
    assert ours[warmup - 1] < BASE_LR


def test_rates_has_one_rate_per_update():
    for steps in (1, 2, 17):
        assert Schedule(kind="cosine", total_steps=5).rates(0.1, steps).shape == (steps,)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"kind": "linear"}, "kind"),
        ({"kind": "step", "step_size": 0}, "step_size"),
        ({"kind": "step", "gamma": 0.0}, "gamma"),
        ({"kind": "exponential", "gamma": -0.5}, "gamma"),
        ({"kind": "exponential", "gamma": float("nan")}, "gamma"),
        ({"kind": "cosine", "total_steps": 0}, "total_steps"),
        ({"kind": "cosine", "min_lr": -1e-3}, "min_lr"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_steps": 5, "warmup_start_factor": 0.0}, "warmup_start_factor"),
        ({"warmup_steps": 5, "warmup_start_factor": 1.5}, "warmup_start_factor"),
    ],
)
def test_invalid_fields_are_named(fields, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        Schedule(**fields)
