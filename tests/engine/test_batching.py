"""Which examples each update sees: shuffling, data order, drop_last, accumulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.batching import BatchConfig, epoch_orders, iterate_updates, split_epoch


def first_epochs(n, shuffle, seed, epochs=5):
    return [o.copy() for o in itertools.islice(epoch_orders(n, shuffle, seed), epochs)]


def test_shuffled_epochs_are_permutations_that_differ():
    orders = first_epochs(50, shuffle=True, seed=7)
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(50))
    for a, b in itertools.combinations(orders, 2):
        assert not np.array_equal(a, b)
    assert not np.array_equal(orders[0], np.arange(50))


def test_shuffle_is_reproducible_and_depends_on_the_seed():
    a = first_epochs(50, shuffle=True, seed=7)
    b = first_epochs(50, shuffle=True, seed=7)
    c = first_epochs(50, shuffle=True, seed=8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert all(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_without_shuffle_batch_j_is_rows_jb_to_next():
    n, b = 23, 5
    config = BatchConfig(batch_size=b, shuffle=False)
    updates = list(itertools.islice(iterate_updates(config, n, seed=3), 15))
    per_epoch = 5  # 4 full batches and one of 3
    assert [e for e, _ in updates] == [0] * 5 + [1] * 5 + [2] * 5
    for u, (_, micro) in enumerate(updates):
        assert len(micro) == 1
        j = u % per_epoch
        np.testing.assert_array_equal(micro[0], np.arange(j * b, min((j + 1) * b, n)))


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last_drops_the_short_batch(shuffle):
    n, b = 23, 5
    keep = split_epoch(BatchConfig(b, shuffle=shuffle), np.arange(n))
    drop = split_epoch(BatchConfig(b, shuffle=shuffle, drop_last=True), np.arange(n))
    assert [len(u[0]) for u in keep] == [5, 5, 5, 5, 3]
    assert [len(u[0]) for u in drop] == [5, 5, 5, 5]
    assert BatchConfig(b, drop_last=True).updates_per_epoch(n) == 4
    assert BatchConfig(b).updates_per_epoch(n) == 5
    # with a size that divides N nothing is dropped
    assert len(split_epoch(BatchConfig(5, drop_last=True), np.arange(25))) == 5
    # with shuffling, each epoch drops different examples but never repeats one
    config = BatchConfig(b, shuffle=True, drop_last=True)
    seen = [
        np.concatenate(micro) for _, micro in itertools.islice(iterate_updates(config, n, 0), 4)
    ]
    epoch = np.concatenate(seen)
    assert len(epoch) == 20
    assert len(np.unique(epoch)) == 20


def test_accumulation_groups_consecutive_micro_batches():
    n, b, k = 23, 3, 3  # 8 micro-batches (7 of 3, one of 2): updates of 3, 3 and 2
    order = np.random.default_rng(0).permutation(n)
    updates = split_epoch(BatchConfig(b, accumulation_steps=k), order)
    assert [len(u) for u in updates] == [3, 3, 2]
    flat = [mb for u in updates for mb in u]
    for j, mb in enumerate(flat):
        np.testing.assert_array_equal(mb, order[j * b : (j + 1) * b])
    assert BatchConfig(b, accumulation_steps=k).updates_per_epoch(n) == 3
    assert BatchConfig(b, accumulation_steps=k).micro_batches_per_epoch(n) == 8


def test_accumulation_without_shuffle_follows_the_data_order():
    config = BatchConfig(batch_size=4, shuffle=False, accumulation_steps=2)
    updates = list(itertools.islice(iterate_updates(config, 20, seed=0), 6))
    # 5 micro-batches per epoch: updates of 2, 2 and 1, then the next epoch starts again
    assert [e for e, _ in updates] == [0, 0, 0, 1, 1, 1]
    assert [len(m) for _, m in updates] == [2, 2, 1, 2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(updates[1][1]), np.arange(8, 16))
    np.testing.assert_array_equal(np.concatenate(updates[2][1]), np.arange(16, 20))
    np.testing.assert_array_equal(np.concatenate(updates[3][1]), np.arange(0, 8))


def test_each_epoch_visits_every_example_once():
    config = BatchConfig(batch_size=7, shuffle=True, accumulation_steps=2)
    per_epoch = config.updates_per_epoch(30)
    updates = list(itertools.islice(iterate_updates(config, 30, seed=5), 3 * per_epoch))
    for e in range(3):
        rows = np.concatenate([np.concatenate(m) for ep, m in updates if ep == e])
        np.testing.assert_array_equal(np.sort(rows), np.arange(30))


@pytest.mark.parametrize("batch_size", [0, -1, 11])
def test_validate_rejects_batch_size_out_of_range(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        BatchConfig(batch_size=batch_size).validate(10)


def test_validate_accepts_the_extremes_and_rejects_no_accumulation():
    BatchConfig(batch_size=1).validate(10)
    BatchConfig(batch_size=10).validate(10)
    with pytest.raises(ValueError, match="accumulation_steps"):
        BatchConfig(batch_size=2, accumulation_steps=0).validate(10)
