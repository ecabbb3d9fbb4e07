"""What the trainer asks of a problem: losses and gradients for R runs at once.

Parameters always carry the runs axis first: ``params`` has shape ``(R, P)``. A problem with
data splits its gradient in two parts so that the trainer can prepare a whole epoch of
minibatches in one vectorized call and then step cheaply:

- ``prepare(micro_batches)`` turns lists of example indices into whatever the problem needs
  to evaluate a minibatch gradient (for the linear model: the batch's second moments);
- ``batch_grad(params, prepared)`` is the gradient of the mean loss over that minibatch.

``loss_and_grad(params)`` is the full-data loss and gradient, used for the recorded rows and
evaluated on many parameter sets at once (every recorded step of every run).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from engine.backend import Backend


class Cancelled(Exception):
    """A computation stopped early because its ``should_stop()`` said so (the app's worker
    asks it to when the window closes or a newer job waits)."""


def stop_if_asked(should_stop) -> None:
    """Raise ``Cancelled`` when ``should_stop`` is given and ``should_stop()`` is true."""
    if should_stop is not None and should_stop():
        raise Cancelled("the computation was cancelled")


@dataclass(frozen=True)
class View:
    """The rectangle of parameter space a surface is drawn over."""

    w1_min: float
    w1_max: float
    w2_min: float
    w2_max: float


class Problem(ABC):
    """A loss over parameters, possibly defined by a data set."""

    #: number of parameters P
    n_params: int = 2
    #: number of training examples N; 0 for a function with no data
    n_examples: int = 0
    #: names of the two drawn coordinates
    axis_names: tuple[str, str] = ("w1", "w2")
    #: the parameters every run starts from unless a run says otherwise
    start: np.ndarray
    #: whether the problem carries per-run buffers beside the parameters (batch norm's
    #: running statistics): then the trainer calls ``initial_buffers``,
    #: ``batch_grad_buffers`` and ``evaluate_rows`` (see ``engine.problems.network``)
    carries_buffers: bool = False
    #: CSV columns a problem adds after ``w1,w2`` (``evaluate_rows`` gives their values)
    extra_columns: tuple[str, ...] = ()

    def __init__(self, backend: Backend):
        self.backend = backend
        self.xp = backend.xp

    # ---- training ------------------------------------------------------------------------
    def prepare(self, micro_batches: list[np.ndarray]) -> list[object]:
        """Per micro-batch data for ``batch_grad``; functions have no data and return Nones."""
        return [None] * len(micro_batches)

    @abstractmethod
    def batch_grad(self, params, prepared) -> object:
        """Gradient ``(R, P)`` of the mean loss over one prepared minibatch."""

    @abstractmethod
    def loss_and_grad(self, params) -> tuple[object, object]:
        """Full-data loss ``(M,)`` and gradient ``(M, P)`` at ``M`` parameter sets."""

    # ---- drawing -------------------------------------------------------------------------
    @abstractmethod
    def surface(self, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
        """Loss on the grid ``w2 × w1`` (shape ``(len(w2), len(w1))``), as NumPy."""

    @abstractmethod
    def default_view(self) -> View:
        """A rectangle that shows the interesting part of the surface."""

    def minima(self) -> np.ndarray:
        """Known global minima, shape ``(K, 2)`` (may be empty)."""
        return np.zeros((0, 2))

    def same_as(self, other: Problem) -> bool:
        """Whether ``other`` is the very same loss with the same start (so that a run's
        path would be the same on both)."""
        return False

    def coords(self, params) -> object:
        """The two drawn coordinates of parameter sets ``(M, P)``: the parameters themselves."""
        return params
