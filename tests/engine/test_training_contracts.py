"""Trainer contracts that the other trainer tests leave open (found by mutation testing):
which runs a finished trainer may lend its paths to, what ``advance`` returns, accumulation of
two micro-batches, a run that diverges at its very start, and where gradient noise comes from.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import STREAM_NOISE, host_rng, select_backend
from engine.batching import BatchConfig
from engine.problems.functions import FunctionProblem, make_surface
from engine.problems.regression import LinearRegressionProblem, generate_data
from engine.training import NOISE_BLOCK, RunSpec, Trainer

BACKEND = select_backend("numpy", "float64")


def quadratic(start=(-2.5, 2.0)):
    return FunctionProblem(BACKEND, make_surface("elongated_quadratic", 20.0), start=start)


# ---- reuse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        RunSpec("a", "momentum", lr=0.01, start=(1.0, 1.0)),  # another start
        RunSpec("a", "momentum", lr=0.01, start=(-1.0, 1.0), hyper={"momentum": 0.5}),
    ],
    ids=["start", "hyper"],
)
def test_a_run_changed_only_in_start_or_hyperparameters_is_trained_again(changed):
    base = RunSpec("a", "momentum", lr=0.01, start=(-1.0, 1.0))
    first = Trainer(quadratic(), [base], 30)
    first.run()
    again = Trainer(quadratic(), [changed], 30, reuse=first)
    assert again.reused == {}
    fresh = Trainer(quadratic(), [changed], 30).run()
    np.testing.assert_array_equal(again.run().coords, fresh.coords)
    assert not np.allclose(fresh.coords, first.history.coords)


def test_a_run_with_the_same_explicit_start_is_reused():
    run = RunSpec("a", "adam", lr=0.05, start=(1.0, -1.0), hyper={"beta1": 0.8})
    first = Trainer(quadratic(), [run], 20)
    first.run()
    renamed = RunSpec("b", "adam", lr=0.05, start=(1.0, -1.0), hyper={"beta1": 0.8})
    assert Trainer(quadratic(), [renamed], 20, reuse=first).reused == {0: 0}


# ---- advance ----------------------------------------------------------------------------------


def test_advance_returns_the_updates_done_and_does_none_when_asked_for_none():
    trainer = Trainer(quadratic(), [RunSpec("sgd", lr=0.01)], 15)
    assert trainer.advance(0) == 0
    assert trainer.advance(-3) == 0
    assert trainer.step == 0
    assert trainer.history.count == 1
    assert trainer.advance(10) == 10
    assert trainer.advance(10) == 5  # only 5 were left
    assert trainer.advance(10) == 0
    assert trainer.done
    assert trainer.history.count == 16


# ---- accumulation -------------------------------------------------------------------------------


def test_accumulating_two_micro_batches_equals_one_batch_twice_as_large():
    x, y = generate_data(seed=1, samples=40, feature_scales=(1.0, 2.0), noise=0.3)
    problem = LinearRegressionProblem(BACKEND, x, y, start=(-1.0, 2.0))
    acc = BatchConfig(batch_size=5, shuffle=False, accumulation_steps=2)
    runs = [
        RunSpec("2×5", "sgd", lr=0.05, batch=acc),
        RunSpec("10", "sgd", lr=0.05, batch=BatchConfig(batch_size=10, shuffle=False)),
    ]
    h = Trainer(problem, runs, 12).run()
    np.testing.assert_allclose(h.coords[:, 0], h.coords[:, 1], rtol=1e-13, atol=1e-14)
    assert np.abs(h.coords[-1, 0] - h.coords[0, 0]).max() > 0.1  # it did train


# ---- divergence at the start ---------------------------------------------------------------------


def test_a_run_whose_start_overflows_diverges_at_step_zero_and_stays_there():
    """Rosenbrock at x = 1e160: 100·x⁴ overflows, so the very first row is not finite."""
    problem = FunctionProblem(BACKEND, make_surface("rosenbrock"))
    runs = [RunSpec("far", "sgd", lr=1e-3, start=(1e160, 0.0)), RunSpec("near", "sgd", lr=1e-4)]
    trainer = Trainer(problem, runs, 12)
    for _ in trainer.iterate(chunk=4):
        pass
    h = trainer.history
    assert h.diverged_at.tolist() == [0, -1]
    assert h.rows_of(0) == 1
    assert h.last_finite(0) == 0
    assert h.rows_of(1) == h.count == 13
    assert h.last_finite(1) == 12


# ---- gradient noise ------------------------------------------------------------------------


def test_gradient_noise_is_the_noise_stream_of_the_seed_block_by_block():
    """Noise of update k: σ times row k mod B of block k // B of the seed's noise stream
    (its own stream: independent of the data and the shuffling), added to the gradient."""
    sigma, lr, steps, seed = 0.3, 0.01, NOISE_BLOCK + 6, 7
    h = Trainer(quadratic(), [RunSpec("sgd", lr=lr)], steps, seed=seed, gradient_noise=sigma).run()
    # SGD: update k = −η (∇L(θ_{k−1}) + noise_{k−1})
    noise = -h.update[1:, 0] / lr - h.grad[:-1, 0]
    expected = np.concatenate(
        [host_rng(seed, STREAM_NOISE, b).standard_normal((NOISE_BLOCK, 2)) for b in (0, 1)]
    )[:steps]
    np.testing.assert_allclose(noise, sigma * expected, rtol=1e-8, atol=1e-10)


# ---- what a trainer passes on to its optimizers ----------------------------------------


def test_a_single_update_is_a_valid_training():
    h = Trainer(quadratic(), [RunSpec("sgd", lr=0.01)], 1).run()
    assert h.step.tolist() == [0, 1]
    np.testing.assert_allclose(h.coords[1, 0], [-2.5 + 0.025, 2.0 - 0.4], rtol=1e-14)


def test_lecture_runs_take_the_lecture_formula():
    """The lecture's RMSProp starts from σ₀ = |g₀|, so its first update moves each parameter
    by η·g/(|g| + ε) ≈ η against the gradient's sign; PyTorch's (v₀ = 0, α = 0.99) by
    η/√(1 − α) = 10η. Both conventions in one trainer."""
    lr = 0.01
    runs = [
        RunSpec("lecture", "rmsprop", convention="lecture", lr=lr),
        RunSpec("pytorch", "rmsprop", lr=lr),
    ]
    h = Trainer(quadratic(), runs, 1).run()  # gradient at (−2.5, 2): (−2.5, 40)
    np.testing.assert_allclose(h.update[1, 0], [lr, -lr], rtol=1e-6)
    np.testing.assert_allclose(h.update[1, 1], [10 * lr, -10 * lr], rtol=1e-6)


def test_runs_that_differ_in_a_flag_are_trained_side_by_side():
    """amsgrad on and off are two optimizers: both in one trainer, each as it is alone."""
    runs = [
        RunSpec("plain", "adam", lr=0.1),
        RunSpec("amsgrad", "adam", lr=0.1, hyper={"amsgrad": True}),
        RunSpec("centered", "rmsprop", lr=0.01, hyper={"centered": True}),
    ]
    problem = FunctionProblem(BACKEND, make_surface("himmelblau"))
    together = Trainer(problem, runs, 40).run()
    for i, run in enumerate(runs):
        alone = Trainer(problem, [run], 40).run()
        np.testing.assert_array_equal(together.coords[:, i], alone.coords[:, 0])
    assert not np.allclose(together.coords[:, 0], together.coords[:, 1])


def test_a_float32_sweep_stays_in_float32():
    """Hyperparameters that differ between runs become arrays in the backend's dtype: a
    float32 sweep computes exactly what each of its float32 runs computes alone."""
    backend = select_backend("numpy", "float32")
    problem = FunctionProblem(backend, make_surface("himmelblau"))
    runs = [
        RunSpec("m=0.5", "momentum", lr=0.01, hyper={"momentum": 0.5}),
        RunSpec("m=0.9", "momentum", lr=0.01, hyper={"momentum": 0.9}),
    ]
    together = Trainer(problem, runs, 30).run()
    for i, run in enumerate(runs):
        alone = Trainer(problem, [run], 30).run()
        np.testing.assert_array_equal(together.coords[:, i], alone.coords[:, 0])
    in_64 = Trainer(FunctionProblem(BACKEND, make_surface("himmelblau")), runs[:1], 30).run()
    assert not np.array_equal(in_64.coords[:, 0], together.coords[:, 0])  # float32 it was
