"""Small contracts of schedules, batching, the CSV and hyperparameter errors that the other
tests leave open (found by mutation testing): the edges of the valid ranges, shuffling through
``iterate_updates``, the CSV's line ends, and what a hyperparameter error carries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.backend import select_backend
from engine.batching import BatchConfig, iterate_updates
from engine.optim import HyperparameterError, make_optimizer
from engine.problems.functions import FunctionProblem, make_surface
from engine.records import write_trajectories_csv
from engine.schedules import Schedule
from engine.training import RunSpec, Trainer

try:
    import torch
except ImportError:
    torch = None


# ---- schedules: the edges of the valid ranges ---------------------------------------------------


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.torch
def test_cosine_over_a_single_step_is_allowed_and_oscillates_like_torch():
    schedule = Schedule(kind="cosine", total_steps=1, min_lr=0.01)
    ours = schedule.rates(0.1, 6)
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1, eta_min=0.01)
    theirs = []
    for _ in range(6):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(ours, [0.1, 0.01] * 3, rtol=1e-12)


def test_a_warmup_may_start_at_the_full_rate():
    """warmup_start_factor = 1 is the upper edge of (0, 1]: a warmup that changes nothing."""
    rates = Schedule(warmup_steps=4, warmup_start_factor=1.0).rates(0.5, 8)
    np.testing.assert_array_equal(rates, np.full(8, 0.5))


@pytest.mark.parametrize(
    "fields",
    [{"total_steps": 0}, {"warmup_start_factor": 0.0}, {"warmup_start_factor": 1.0000001}],
)
def test_just_outside_the_edges_is_refused(fields):
    with pytest.raises(ValueError, match=next(iter(fields))):
        Schedule(**fields)


# ---- batching ---------------------------------------------------------------------------------


def test_iterate_updates_shuffles_when_asked():
    n, b = 12, 4
    config = BatchConfig(batch_size=b, shuffle=True)
    updates = list(itertools.islice(iterate_updates(config, n, seed=5), 9))
    epochs = [np.concatenate([m[0] for _, m in updates[e * 3 : e * 3 + 3]]) for e in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(n))  # each epoch visits every example once
    assert not all(np.array_equal(order, np.arange(n)) for order in epochs)
    assert not np.array_equal(epochs[0], epochs[1])


# ---- the CSV ------------------------------------------------------------------------------------


def test_the_csv_has_unix_line_ends(tmp_path):
    backend = select_backend("numpy", "float64")
    problem = FunctionProblem(backend, make_surface("himmelblau"))
    history = Trainer(problem, [RunSpec('a, "quoted"', "sgd", lr=0.01)], 3).run()
    data = write_trajectories_csv(history, tmp_path / "t.csv").read_bytes()
    assert b"\r" not in data
    assert data.count(b"\n") == 1 + 4  # the header and one line per recorded row


# ---- hyperparameter errors ---------------------------------------------------------------------


def test_a_hyperparameter_error_names_the_key_and_says_what_is_wrong_apart():
    """The experiment loader builds its message from ``key`` and ``detail`` separately."""
    with pytest.raises(HyperparameterError) as caught:
        make_optimizer("sgd", {"lr": 0.1, "momentum": 1.5})
    error = caught.value
    assert error.key == "momentum"
    assert "1.5" in error.detail
    assert "momentum" not in error.detail
    assert str(error) == f"momentum {error.detail}"


@pytest.mark.parametrize(
    ("name", "hyper", "key", "words"),
    [
        ("sgd", {"nesterov_typo": 0.1}, "nesterov_typo", "does not apply"),
        ("adam", {"amsgrad": 1}, "amsgrad", "true or false"),
        ("adam", {"eps": float("nan")}, "eps", "finite"),
        ("nesterov", {"momentum": 0.0}, "momentum", "> 0"),
    ],
    ids=["unknown", "flag", "nan", "nesterov"],
)
def test_every_hyperparameter_error_says_what_is_expected(name, hyper, key, words):
    with pytest.raises(HyperparameterError) as caught:
        make_optimizer(name, {"lr": 0.1, **hyper})
    assert caught.value.key == key
    assert words in caught.value.detail
