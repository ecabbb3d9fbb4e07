"""Which examples each update sees: epochs, shuffling, minibatches, accumulation.

An epoch is one pass over the training set in an order that is reshuffled every epoch (or
kept, with ``shuffle=False``). The order is cut into micro-batches of ``batch_size`` rows
(the last one shorter, or dropped with ``drop_last``), and every ``accumulation_steps``
consecutive micro-batches make one update; the last update of an epoch may have fewer.

The order of epoch e depends only on the seed and e (it is the e-th permutation drawn from
the seed's shuffling stream), so runs that share a batch setting see the very same
minibatches: comparing optimizers compares optimizers, not luck.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.backend import STREAM_SHUFFLE, host_rng


@dataclass(frozen=True)
class BatchConfig:
    batch_size: int
    shuffle: bool = True
    drop_last: bool = False
    accumulation_steps: int = 1

    def validate(self, n_examples: int) -> None:
        if not 1 <= self.batch_size <= n_examples:
            raise ValueError(
                f"batch_size must be between 1 and the {n_examples} training examples, "
                f"got {self.batch_size}"
            )
        if self.accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be ≥ 1, got {self.accumulation_steps}")

    def micro_batches_per_epoch(self, n_examples: int) -> int:
        full, rest = divmod(n_examples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def updates_per_epoch(self, n_examples: int) -> int:
        return -(-self.micro_batches_per_epoch(n_examples) // self.accumulation_steps)


def epoch_orders(n_examples: int, shuffle: bool, seed: int) -> Iterator[np.ndarray]:
    """The order in which each epoch visits the examples, epoch after epoch: the e-th
    permutation drawn from the seed's shuffling stream (or data order, unshuffled)."""
    rng = host_rng(seed, STREAM_SHUFFLE)
    while True:
        yield rng.permutation(n_examples) if shuffle else np.arange(n_examples)


def split_epoch(config: BatchConfig, order: np.ndarray) -> list[list[np.ndarray]]:
    """The updates of one epoch, each a list of micro-batches (arrays of example indices)."""
    n_examples = len(order)
    b = config.batch_size
    count = config.micro_batches_per_epoch(n_examples)
    micro = [order[j * b : (j + 1) * b] for j in range(count)]
    k = config.accumulation_steps
    return [micro[i : i + k] for i in range(0, count, k)]


def iterate_updates(
    config: BatchConfig, n_examples: int, seed: int
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Endless ``(epoch, micro_batches)``, one per update."""
    for epoch, order in enumerate(epoch_orders(n_examples, config.shuffle, seed)):
        for micro in split_epoch(config, order):
            yield epoch, micro
