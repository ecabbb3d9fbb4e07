"""Learning-rate schedules as closed-form functions of the update index k = 0, 1, 2, …

A schedule gives the rate of every update at once (``Schedule.rates``), so the complete curve
is known (and plotted) before training starts. Below, each as the factor that multiplies the
base rate η (m = min_lr / η, T = total_steps, s = warmup_start_factor, W = warmup_steps),
equal to the ``torch.optim.lr_scheduler`` named beside it, stepped once after every update:

    constant      1
    step          γ^⌊k / step_size⌋                          StepLR
    exponential   γ^k                                        ExponentialLR
    cosine        m + (1 − m)(1 + cos(π k / T)) / 2          CosineAnnealingLR(T, eta_min=m·η)
    inverse_sqrt  1 / √(k + 1)                               (the lecture's η/√(t+1))
    warmup        s + (1 − s) · min(k, W) / W                LinearLR(s, total_iters=W)

With warmup and a decay together, the decay is counted from the end of the warmup:
factor(k) = warmup(k) for k < W, decay(k − W) after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.parameters import REGISTRY, SCHEDULE_KINDS, SCHEDULE_PARAMETERS

KINDS = tuple(SCHEDULE_KINDS)


def _default(key: str):
    return REGISTRY[key].default_for()


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; ``min_lr`` is absolute, like torch's ``eta_min``. The fields,
    their defaults and constraints are the registry's (``engine.parameters``)."""

    kind: str = "constant"
    step_size: int = _default("step_size")
    gamma: float = _default("gamma")
    total_steps: int = 1000  # the file's "auto" (None) is resolved by ScheduleModel
    min_lr: float = _default("min_lr")
    warmup_steps: int = _default("warmup_steps")
    warmup_start_factor: float = _default("warmup_start_factor")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        for p in SCHEDULE_PARAMETERS:
            value = getattr(self, p.key)
            problem = "must be given" if value is None else p.check(value)
            if problem:
                raise ValueError(f"{p.key} {problem}")

    def decay(self, k: np.ndarray, base_lr: float) -> np.ndarray:
        """The rate at update k of the decay alone (no warmup)."""
        k = np.asarray(k, dtype=float)
        if self.kind == "constant":
            return np.full_like(k, base_lr)
        if self.kind == "step":
            return base_lr * self.gamma ** np.floor(k / self.step_size)
        if self.kind == "exponential":
            return base_lr * self.gamma**k
        if self.kind == "cosine":
            return (
                self.min_lr
                + (base_lr - self.min_lr) * (1 + np.cos(math.pi * k / self.total_steps)) / 2
            )
        return base_lr / np.sqrt(k + 1)  # inverse_sqrt

    def rates(self, base_lr: float, steps: int) -> np.ndarray:
        """The learning rate of updates 0 … steps − 1."""
        return self.rates_at(base_lr, np.arange(steps))

    def rates_at(self, base_lr: float, k: np.ndarray) -> np.ndarray:
        """The learning rate of updates ``k`` (any indices ≥ 0: a block of a long run)."""
        k = np.asarray(k, dtype=float)
        w = self.warmup_steps
        if w == 0:
            return self.decay(k, base_lr)
        s = self.warmup_start_factor
        warm = base_lr * (s + (1 - s) * np.minimum(k, w) / w)
        # the decay is only read where k ≥ W; clipping keeps it off negative k (√ of < 0)
        return np.where(k < w, warm, self.decay(np.maximum(k - w, 0), base_lr))
