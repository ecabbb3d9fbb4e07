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

KINDS = ("constant", "step", "exponential", "cosine", "inverse_sqrt")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; ``min_lr`` is absolute, like torch's ``eta_min``."""

    kind: str = "constant"
    step_size: int = 100
    gamma: float = 0.1
    total_steps: int = 1000
    min_lr: float = 0.0
    warmup_steps: int = 0
    warmup_start_factor: float = 0.1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.step_size < 1:
            raise ValueError(f"step_size must be a whole number ≥ 1, got {self.step_size}")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be ≥ 1, got {self.total_steps}")
        if self.min_lr < 0:
            raise ValueError(f"min_lr must be ≥ 0, got {self.min_lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be ≥ 0, got {self.warmup_steps}")
        if not 0 < self.warmup_start_factor <= 1:
            raise ValueError(
                f"warmup_start_factor must be > 0 and ≤ 1, got {self.warmup_start_factor}"
            )

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
        k = np.arange(steps, dtype=float)
        w = self.warmup_steps
        if w == 0:
            return self.decay(k, base_lr)
        s = self.warmup_start_factor
        warm = base_lr * (s + (1 - s) * np.minimum(k, w) / w)
        # the decay is only read where k ≥ W; clipping keeps it off negative k (√ of < 0)
        return np.where(k < w, warm, self.decay(np.maximum(k - w, 0), base_lr))
