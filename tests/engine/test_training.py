"""The trainer: what each update sees, what each row records, and that runs are independent.

The oracles are the problem itself (losses at the recorded coordinates), the schedule's curve,
and single-run or differently batched trainings that must come out the same."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from engine.backend import select_backend
from engine.batching import BatchConfig, epoch_orders
from engine.problems.functions import FunctionProblem, make_surface
from engine.problems.regression import LinearRegressionProblem, generate_data
from engine.schedules import Schedule
from engine.training import History, RunSpec, Trainer

BACKEND = select_backend("numpy", "float64")


@pytest.fixture(scope="module")
def regression():
    x, y = generate_data(seed=0, samples=100, feature_scales=(1.0, 3.0), noise=0.5)
    return LinearRegressionProblem(BACKEND, x, y, start=(-1.0, 2.0))


def rosenbrock(start=(-1.5, 2.0)):
    return FunctionProblem(BACKEND, make_surface("rosenbrock"), start=start)


def train(problem, runs, steps, **kwargs) -> History:
    return Trainer(problem, runs, steps, **kwargs).run()


def run_coords(history: History, run: int) -> np.ndarray:
    return history.coords[: history.rows_of(run), run]


# ---- accumulation ------------------------------------------------------------------------


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 0.02), ("adam", 0.05)])
def test_accumulating_k_batches_equals_one_batch_k_times_larger(regression, optimizer, lr):
    # 100 rows, micro-batches of 10 in groups of 3: updates of 30, 30, 30 and 10 rows,
    # exactly the batches of size 30 (the last one short) in data order
    accumulated = RunSpec(
        "3×10",
        optimizer,
        lr=lr,
        batch=BatchConfig(batch_size=10, shuffle=False, accumulation_steps=3),
    )
    large = RunSpec("30", optimizer, lr=lr, batch=BatchConfig(batch_size=30, shuffle=False))
    a = train(regression, [accumulated], 50)
    b = train(regression, [large], 50)
    np.testing.assert_allclose(a.coords, b.coords, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.epoch, b.epoch, rtol=0, atol=1e-15)
    assert np.abs(a.coords[-1] - a.coords[0]).max() > 0.1  # it did train


def test_accumulated_update_is_the_gradient_of_the_union_of_its_micro_batches():
    # 23 rows, micro-batches of 5 in groups of 3: the updates of an epoch see rows 0–14
    # (5+5+5) and 15–22 (5+3). The short group's gradient is that of its 8 rows, not the
    # mean of a 5-row and a 3-row gradient; the oracle is the MSE gradient written out.
    x, y = generate_data(seed=3, samples=23, feature_scales=(1.0, 2.0), noise=0.3)
    problem = LinearRegressionProblem(BACKEND, x, y, start=(0.5, -0.5))
    lr = 0.05
    acc = RunSpec("5×3", "sgd", lr=lr, batch=BatchConfig(5, shuffle=False, accumulation_steps=3))
    large = RunSpec("15", "sgd", lr=lr, batch=BatchConfig(15, shuffle=False))
    h = train(problem, [acc, large], 6)
    w = np.array([0.5, -0.5])
    expected = [w]
    for k in range(6):
        rows = slice(0, 15) if k % 2 == 0 else slice(15, 23)
        xs, ys = x[rows], y[rows]
        w = w - lr * 2 * xs.T @ (xs @ w - ys) / len(ys)
        expected.append(w)
    np.testing.assert_allclose(h.coords[:, 0], np.array(expected), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(h.coords[:, 1], h.coords[:, 0], rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(h.epoch[:, 0], [0, 0.5, 1, 1.5, 2, 2.5, 3])


def test_accumulation_differs_from_the_micro_batch_alone(regression):
    base = {"optimizer": "sgd", "lr": 0.02}
    acc = RunSpec("acc", **base, batch=BatchConfig(10, shuffle=False, accumulation_steps=3))
    small = RunSpec("small", **base, batch=BatchConfig(10, shuffle=False))
    h = train(regression, [acc, small], 5)
    assert not np.allclose(h.coords[1:, 0], h.coords[1:, 1])


# ---- runs are independent ----------------------------------------------------------------


def mixed_runs():
    shuffled = BatchConfig(batch_size=16, shuffle=True)
    return [
        RunSpec("sgd", "sgd", lr=0.02, batch=shuffled),
        RunSpec("momentum", "momentum", lr=0.005, batch=shuffled),
        RunSpec("lecture", "momentum", convention="lecture", lr=0.005, batch=shuffled),
        RunSpec(
            "adam-cosine",
            "adam",
            lr=0.1,
            batch=BatchConfig(batch_size=7, shuffle=True, drop_last=True),
            schedule=Schedule(kind="cosine", total_steps=60, warmup_steps=5),
        ),
        RunSpec(
            "rmsprop-acc",
            "rmsprop",
            lr=0.01,
            hyper={"centered": True, "momentum": 0.5},
            batch=BatchConfig(batch_size=8, shuffle=True, accumulation_steps=2),
        ),
        RunSpec("adagrad-full", "adagrad", lr=0.5, start=(3.0, -3.0)),
        RunSpec("sgd-2", "sgd", lr=0.01, batch=shuffled, hyper={"momentum": 0.3}),
    ]


def test_each_run_moves_as_it_would_alone(regression):
    runs = mixed_runs()
    together = train(regression, runs, 60, seed=4)
    for r, spec in enumerate(runs):
        alone = train(regression, [spec], 60, seed=4)
        for field in ("coords", "loss", "lr", "epoch", "grad_norm"):
            np.testing.assert_allclose(
                getattr(together, field)[:, r],
                getattr(alone, field)[:, 0],
                rtol=1e-12,
                atol=1e-14,
                err_msg=f"{spec.label}: {field}",
            )
        assert together.labels[r] == spec.label


def test_same_seed_same_history_another_seed_another(regression):
    runs = mixed_runs()
    a = train(regression, runs, 40, seed=1)
    b = train(regression, runs, 40, seed=1)
    c = train(regression, runs, 40, seed=2)
    for field in ("coords", "loss", "lr", "epoch"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    shuffled = [i for i, r in enumerate(runs) if r.batch is not None and r.batch.shuffle]
    for i in shuffled:
        assert not np.allclose(a.coords[:, i], c.coords[:, i]), runs[i].label
    # the full-batch run sees all the data whatever the seed
    np.testing.assert_array_equal(a.coords[:, 5], c.coords[:, 5])


def test_chunking_does_not_change_the_history(regression):
    runs = mixed_runs()
    whole = Trainer(regression, runs, 45, seed=3, record_every=2).run(chunk=1000)
    trainer = Trainer(regression, runs, 45, seed=3, record_every=2)
    pieces = list(trainer.iterate(chunk=7))
    assert len(pieces) == 7
    assert trainer.done
    for field in ("coords", "loss", "lr", "epoch", "step"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(trainer.history, field))


# ---- what a row holds ----------------------------------------------------------------------


def test_rows_hold_full_data_loss_at_recorded_coords(regression):
    runs = mixed_runs()
    h = train(regression, runs, 30, seed=0)
    assert h.count == 31
    np.testing.assert_array_equal(h.step, np.arange(31))
    coords = h.coords.reshape(-1, 2)
    loss, grad = regression.loss_and_grad(coords)
    np.testing.assert_allclose(h.loss.ravel(), loss, rtol=1e-12)
    np.testing.assert_allclose(h.grad_norm.ravel(), np.linalg.norm(grad, axis=1), rtol=1e-12)
    # and a direct mean over the examples, sharing no code with the problem
    w = h.coords[17, 3]
    assert h.loss[17, 3] == pytest.approx(np.mean((regression.x @ w - regression.y) ** 2))


def test_row_zero_is_the_start(regression):
    runs = mixed_runs()
    h = train(regression, runs, 5)
    for r, spec in enumerate(runs):
        start = spec.start if spec.start is not None else regression.start
        np.testing.assert_array_equal(h.coords[0, r], start)
        w = np.asarray(start)
        assert h.loss[0, r] == pytest.approx(np.mean((regression.x @ w - regression.y) ** 2))
    assert h.step[0] == 0
    np.testing.assert_array_equal(h.epoch[0], 0.0)


def test_lr_column_is_the_schedule_shifted_by_one(regression):
    schedule = Schedule(kind="step", step_size=4, gamma=0.5, warmup_steps=3)
    spec = RunSpec("s", "sgd", lr=0.04, schedule=schedule, batch=BatchConfig(10))
    h = train(regression, [spec], 25)
    rates = schedule.rates(0.04, 25)
    assert h.lr[0, 0] == rates[0]  # row 0: the rate the first update will use
    np.testing.assert_array_equal(h.lr[1:, 0], rates)  # row k: the rate update k used
    # and it is the rate the update really used: for plain SGD, θ_k = θ_{k−1} − η·g
    assert len(set(rates)) > 3


def test_sgd_update_uses_the_recorded_rate_and_the_minibatch_gradient(regression):
    spec = RunSpec(
        "s",
        "sgd",
        lr=0.03,
        schedule=Schedule(kind="exponential", gamma=0.9),
        batch=BatchConfig(batch_size=30, shuffle=False),
    )
    h = train(regression, [spec], 8)
    x, y = regression.x, regression.y
    for k in range(1, 9):
        j = (k - 1) % 4  # updates per epoch: 30, 30, 30, 10 rows
        rows = slice(30 * j, min(30 * (j + 1), 100))
        w = h.coords[k - 1, 0]
        g = 2 / len(y[rows]) * x[rows].T @ (x[rows] @ w - y[rows])
        np.testing.assert_allclose(h.coords[k, 0], w - h.lr[k, 0] * g, rtol=1e-12)


def rosenbrock_grad(w: np.ndarray) -> np.ndarray:
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def test_recorded_update_velocity_and_step_size_are_the_hand_computed_steps():
    # PyTorch's momentum (v ← μv + g; θ ← θ − ηv) and Adagrad (s ← s + g²; θ ← θ − ηg/(√s + ε))
    # written out, with a rate that halves every update so that a row's rate matters
    schedule = Schedule(kind="exponential", gamma=0.5)
    runs = [
        RunSpec("momentum", "momentum", lr=1e-3, hyper={"momentum": 0.9}, schedule=schedule),
        RunSpec("adagrad", "adagrad", lr=0.1, schedule=schedule),
    ]
    steps = 4
    h = train(rosenbrock(), runs, steps)
    rates = 0.5 ** np.arange(steps)

    w, v = np.array([-1.5, 2.0]), np.zeros(2)
    for k in range(1, steps + 1):
        g, eta = rosenbrock_grad(w), 1e-3 * rates[k - 1]
        v = 0.9 * v + g
        new = w - eta * v
        np.testing.assert_allclose(h.coords[k, 0], new, rtol=1e-13)
        np.testing.assert_allclose(h.update[k, 0], new - w, rtol=1e-12)  # new − old
        np.testing.assert_allclose(h.velocity[k, 0], -eta * v, rtol=1e-12)
        np.testing.assert_allclose(h.step_size[k, 0], [eta, eta], rtol=1e-15)
        w = new

    w, s = np.array([-1.5, 2.0]), np.zeros(2)
    for k in range(1, steps + 1):
        g, eta = rosenbrock_grad(w), 0.1 * rates[k - 1]
        s = s + g * g
        new = w - eta * g / (np.sqrt(s) + 1e-10)
        np.testing.assert_allclose(h.coords[k, 1], new, rtol=1e-13)
        np.testing.assert_allclose(h.update[k, 1], new - w, rtol=1e-12)
        np.testing.assert_allclose(h.step_size[k, 1], eta / (np.sqrt(s) + 1e-10), rtol=1e-12)
        w = new
    assert np.isnan(h.velocity[1:, 1]).all()  # Adagrad has no momentum

    np.testing.assert_array_equal(h.update[0], 0.0)  # row 0: no update yet
    np.testing.assert_array_equal(h.velocity[0, 0], 0.0)
    assert np.isnan(h.step_size[0]).all()


def test_shuffled_sgd_visits_each_epoch_in_a_new_order(regression):
    """A plain loop over batching's epoch orders, with a direct minibatch gradient."""
    batch = BatchConfig(batch_size=16, shuffle=True)
    lr, seed, steps = 0.02, 6, 30  # 7 updates per epoch (6 of 16 rows, one of 4)
    h = train(regression, [RunSpec("s", "sgd", lr=lr, batch=batch)], steps, seed=seed)
    x, y = regression.x, regression.y
    w = np.array(regression.start)
    k = 0
    for order in itertools.islice(epoch_orders(100, True, seed), 5):
        for j in range(0, 100, 16):
            if k == steps:
                break
            rows = order[j : j + 16]
            w = w - lr * 2 / len(rows) * x[rows].T @ (x[rows] @ w - y[rows])
            k += 1
            np.testing.assert_allclose(h.coords[k, 0], w, rtol=1e-12, err_msg=f"step {k}")


@pytest.mark.parametrize(
    ("batch", "updates_per_epoch"),
    [
        (BatchConfig(batch_size=10), 10),
        (BatchConfig(batch_size=30), 4),
        (BatchConfig(batch_size=30, drop_last=True), 3),
        (BatchConfig(batch_size=10, accumulation_steps=3), 4),
        (BatchConfig(batch_size=100), 1),
    ],
)
def test_epoch_column_reaches_whole_epochs_exactly(regression, batch, updates_per_epoch):
    epochs = 4
    h = train(regression, [RunSpec("e", "sgd", lr=0.01, batch=batch)], epochs * 3 * 4)
    for e in range(1, epochs + 1):
        assert h.epoch[e * updates_per_epoch, 0] == e
    assert np.all(np.diff(h.epoch[:, 0]) > 0)
    np.testing.assert_allclose(h.epoch[:, 0], h.step / updates_per_epoch, rtol=1e-12)


def test_epoch_column_counts_updates_on_a_function():
    h = train(rosenbrock(), [RunSpec("f", "sgd", lr=1e-4)], 12)
    np.testing.assert_array_equal(h.epoch[:, 0], np.arange(13))


def test_record_every_records_multiples_and_the_last_step(regression):
    runs = mixed_runs()[:3]
    every = train(regression, runs, 23, seed=5)
    sparse = train(regression, runs, 23, seed=5, record_every=5)
    np.testing.assert_array_equal(sparse.step, [0, 5, 10, 15, 20, 23])
    assert sparse.count == 6
    for field in ("coords", "loss", "lr", "epoch"):
        np.testing.assert_allclose(
            getattr(sparse, field), getattr(every, field)[sparse.step], rtol=1e-14
        )
    exact = train(regression, runs, 20, record_every=5)
    np.testing.assert_array_equal(exact.step, [0, 5, 10, 15, 20])


# ---- divergence --------------------------------------------------------------------------


def test_divergence_is_a_result_not_a_crash():
    runs = [RunSpec("wild", "sgd", lr=1.0), RunSpec("sane", "sgd", lr=1e-4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a RuntimeWarning from overflow
        h = train(rosenbrock(), runs, 50)
    wild, sane = 0, 1
    at = h.diverged_at[wild]
    assert at >= 1
    assert h.diverged_at[sane] == -1
    rows = h.rows_of(wild)
    assert h.step[rows - 1] == at
    assert not np.isfinite(h.loss[rows - 1, wild])
    assert np.all(np.isfinite(h.loss[: rows - 1, wild]))
    assert np.all(np.isfinite(h.coords[: rows - 1, wild]))
    assert h.last_finite(wild) == rows - 2
    assert h.rows_of(sane) == h.count == 51
    assert np.all(np.isfinite(h.loss[:, sane]))
    assert h.last_finite(sane) == 50
    # the sane run is unaffected by its diverging neighbour
    alone = train(rosenbrock(), [runs[1]], 50)
    np.testing.assert_array_equal(h.coords[:, sane], alone.coords[:, 0])


def test_divergence_found_with_sparse_records_and_in_chunks():
    runs = [RunSpec("wild", "sgd", lr=1.0), RunSpec("sane", "adam", lr=0.01)]
    trainer = Trainer(rosenbrock(), runs, 200, record_every=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in trainer.iterate(chunk=3):
            pass
    h = trainer.history
    assert h.diverged_at[0] >= 1
    assert h.diverged_at[0] % 7 == 0 or h.diverged_at[0] == 200
    assert not np.isfinite(h.loss[h.rows_of(0) - 1, 0])
    assert h.diverged_at[1] == -1
    assert np.all(np.isfinite(h.loss[: h.count, 1]))


# ---- gradient noise ----------------------------------------------------------------------


def test_gradient_noise_changes_the_path_reproducibly():
    problem = FunctionProblem(BACKEND, make_surface("elongated_quadratic"))
    runs = [RunSpec("sgd", "sgd", lr=0.02), RunSpec("adam", "adam", lr=0.05)]
    clean = train(problem, runs, 80, seed=0)
    noisy = train(problem, runs, 80, seed=0, gradient_noise=0.5)
    again = train(problem, runs, 80, seed=0, gradient_noise=0.5)
    other = train(problem, runs, 80, seed=1, gradient_noise=0.5)
    assert not np.allclose(clean.coords[1:], noisy.coords[1:])
    np.testing.assert_array_equal(noisy.coords, again.coords)
    assert not np.allclose(noisy.coords[1:], other.coords[1:])
    np.testing.assert_array_equal(clean.coords[0], noisy.coords[0])
    # the noise is the same whatever the chunking
    trainer = Trainer(problem, runs, 80, seed=0, gradient_noise=0.5)
    for _ in trainer.iterate(chunk=9):
        pass
    np.testing.assert_array_equal(trainer.history.coords, noisy.coords)
    # and the recorded loss is still the exact function value (the noise is in the step)
    surface = make_surface("elongated_quadratic")
    c = noisy.coords[40, 1]
    assert noisy.loss[40, 1] == pytest.approx(surface.value(np, c[0], c[1]), rel=1e-14)


def test_gradient_noise_is_gaussian_fresh_every_step_and_shared_by_runs():
    """Recovered from plain SGD: n_k = (θ_k − θ_{k+1}) / η − ∇f(θ_k), over more steps
    than one block of pre-drawn noise."""
    surface = make_surface("elongated_quadratic")
    problem = FunctionProblem(BACKEND, surface, start=(1.0, 1.0))
    lr, std, steps = 1e-3, 0.5, 1500
    runs = [RunSpec("a", "sgd", lr=lr), RunSpec("b", "sgd", lr=lr, start=(-2.0, 0.5))]
    h = train(problem, runs, steps, seed=3, gradient_noise=std)
    noise = []
    for r in range(2):
        c = h.coords[:, r]
        gx, gy = surface.grad(np, c[:-1, 0], c[:-1, 1])
        noise.append((c[:-1] - c[1:]) / lr - np.stack([gx, gy], axis=1))
    np.testing.assert_allclose(noise[0], noise[1], atol=1e-9)  # the same draw for every run
    n = noise[0]
    assert np.std(n) == pytest.approx(std, rel=0.05)
    assert abs(np.mean(n)) < 0.05
    assert abs(np.corrcoef(n[:-1, 0], n[1:, 0])[0, 1]) < 0.1  # fresh each step
    assert not np.allclose(n[:400], n[1024 : 1024 + 400], atol=1e-3)  # and in every block


# ---- a large sweep -----------------------------------------------------------------------


def test_sweep_of_a_thousand_runs_matches_single_runs(regression):
    lrs = np.geomspace(1e-4, 3.0, 1000)  # above about 0.1 they diverge, the largest ones fast
    batch = BatchConfig(batch_size=16, shuffle=True)
    runs = [RunSpec(f"lr={lr:.3g}", "sgd", lr=float(lr), batch=batch) for lr in lrs]
    sweep = train(regression, runs, 150, seed=9)
    assert sweep.coords.shape == (151, 1000, 2)
    assert np.any(sweep.diverged_at >= 0)
    assert np.any(sweep.diverged_at < 0)
    for i in (0, 1, 437, 998, 999):
        alone = train(regression, [runs[i]], 150, seed=9)
        assert alone.diverged_at[0] == sweep.diverged_at[i]
        n = alone.rows_of(0)
        assert sweep.rows_of(i) == n
        np.testing.assert_allclose(
            sweep.coords[:n, i], alone.coords[:n, 0], rtol=1e-12, atol=1e-300
        )
        np.testing.assert_allclose(sweep.loss[:n, i], alone.loss[:n, 0], rtol=1e-12)


# ---- bad input ---------------------------------------------------------------------------


def test_bad_trainer_arguments_are_rejected(regression):
    run = RunSpec("r", "sgd", lr=0.01)
    with pytest.raises(ValueError, match="steps"):
        Trainer(regression, [run], 0)
    with pytest.raises(ValueError, match="record_every"):
        Trainer(regression, [run], 5, record_every=0)
    with pytest.raises(ValueError, match="gradient_noise"):
        Trainer(regression, [run], 5, gradient_noise=-1.0)
    with pytest.raises(ValueError, match="run"):
        Trainer(regression, [], 5)
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(regression, [RunSpec("big", batch=BatchConfig(batch_size=101))], 5)
    with pytest.raises(ValueError, match=r"'bad'.*\bmomentum\b"):
        Trainer(regression, [run, RunSpec("bad", "momentum", hyper={"momentum": 2.0})], 5)
    with pytest.raises(ValueError, match="start"):
        Trainer(regression, [RunSpec("s", start=(1.0, 2.0, 3.0))], 5)
    with pytest.raises(ValueError, match="batch"):
        Trainer(rosenbrock(), [RunSpec("f", batch=BatchConfig(batch_size=1))], 5)


def test_a_finished_trainer_is_reused_for_unchanged_runs_only():
    backend = select_backend("numpy")
    x, y = generate_data(3, 60, (1.0, 5.0))
    problem = LinearRegressionProblem(backend, x, y)
    runs = [
        RunSpec("a", "adam", lr=0.05, batch=BatchConfig(8)),
        RunSpec("b", "momentum", lr=0.01, batch=BatchConfig(16)),
        RunSpec("c", "rmsprop", convention="lecture", lr=0.01),
    ]
    first = Trainer(problem, runs, 80)
    first.run()
    changed = [runs[0], RunSpec("b", "momentum", lr=0.02, batch=BatchConfig(16)), runs[2]]
    renamed = RunSpec("renamed", "rmsprop", convention="lecture", lr=0.01)
    again = Trainer(
        LinearRegressionProblem(backend, x, y), [*changed[:2], renamed], 80, reuse=first
    )
    assert again.reused == {0: 0, 2: 2}  # the renamed run's path is the same path
    again.run()
    fresh = Trainer(problem, [*changed[:2], renamed], 80).run()
    for name in ("coords", "loss", "grad_norm", "lr", "epoch", "velocity", "step_size"):
        np.testing.assert_array_equal(getattr(again.history, name), getattr(fresh, name))
    # another problem, or other shared settings: nothing is reused
    other = LinearRegressionProblem(backend, x * 2, y)
    assert Trainer(other, runs, 80, reuse=first).reused == {}
    assert Trainer(problem, runs, 81, reuse=first).reused == {}
    assert Trainer(problem, runs, 80, seed=1, reuse=first).reused == {}
    # an unfinished trainer is not reused
    partial = Trainer(problem, runs, 80)
    partial.advance(10)
    assert Trainer(problem, runs, 80, reuse=partial).reused == {}


def test_when_every_run_is_known_nothing_is_trained():
    problem = FunctionProblem(select_backend("numpy"), make_surface("himmelblau"))
    runs = [RunSpec("a", "adam", lr=0.05), RunSpec("b", "sgd", lr=0.01)]
    first = Trainer(problem, runs, 40)
    first.run()
    again = Trainer(problem, runs[::-1], 40, reuse=first)
    assert again.done
    assert again.history.count == 41
    np.testing.assert_array_equal(again.history.coords[:, 0], first.history.coords[:, 1])


@pytest.mark.parametrize(("record_every", "chunk"), [(1, 7), (3, 10), (5, 4), (7, 1000)])
def test_a_windowed_trainer_yields_the_rows_of_the_whole_history(record_every, chunk):
    runs = [
        RunSpec("sgd", "sgd", lr=1e-3),
        RunSpec("wild", "sgd", lr=1e-2),
        RunSpec("adam", "adam", lr=0.05, schedule=Schedule(kind="cosine", total_steps=50)),
    ]
    whole = train(rosenbrock((-1.2, 1.0)), runs, 101, record_every=record_every)
    trainer = Trainer(rosenbrock((-1.2, 1.0)), runs, 101, record_every=record_every, window=True)
    windows = [trainer.history]
    while not trainer.done:
        trainer.advance(chunk)
        windows.append(trainer.history)
    assert all(w.count == len(w.step) for w in windows)
    np.testing.assert_array_equal(np.concatenate([w.step for w in windows]), whole.step)
    for name in ("epoch", "lr", "loss", "grad_norm", "coords", "update", "step_size"):
        joined = np.concatenate([getattr(w, name) for w in windows])
        np.testing.assert_array_equal(joined, getattr(whole, name), err_msg=name)
    assert whole.diverged_at[1] > 0
    np.testing.assert_array_equal(windows[-1].diverged_at, whole.diverged_at)


def test_rates_computed_block_by_block_are_the_schedule(regression, monkeypatch):
    # the trainer computes learning rates a block of updates at a time (memory bounded by
    # RATE_CELLS, not steps × runs); tiny blocks must give the very same rows
    from engine import training

    schedule = Schedule(kind="step", step_size=7, gamma=0.8, warmup_steps=5)
    runs = [RunSpec(f"r{i}", "sgd", lr=0.01 * (i + 1), schedule=schedule) for i in range(4)]
    runs.append(RunSpec("adam", "adam", lr=0.05, schedule=schedule))
    reference = train(regression, runs, 90)
    monkeypatch.setattr(training, "RATE_CELLS", 64)  # blocks of 16 updates
    blocked = Trainer(regression, runs, 90)
    assert blocked._lanes[0].units[0].block == 16
    h = blocked.run(chunk=13)
    for name in ("lr", "loss", "coords", "update", "step_size"):
        np.testing.assert_array_equal(getattr(h, name), getattr(reference, name), err_msg=name)
    np.testing.assert_array_equal(h.lr[1:, 0], schedule.rates(0.01, 90))
