"""Minibatch training of R runs in lockstep, recorded for drawing and for the CSV.

The runs are arranged in two nested groupings, each a contiguous block of the runs axis:

- a *lane* is the set of runs that share a batch setting (size, shuffling, drop_last,
  accumulation): they see the same minibatches, so one gradient call serves them all;
- a *unit* is the set of runs in a lane that share an optimizer (and convention and flags):
  one vectorized ``update`` moves them all.

The step loop only computes minibatch gradients and updates; it keeps references to the
(new, immutable) parameter and state arrays of recorded steps. Everything recorded — full
data loss and gradient norm, effective step sizes, momentum — is then computed in bulk for a
whole chunk of steps and brought to the host once. Divergence is found there too: a run whose
loss or parameters stop being finite is marked at that row; the others go on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backend import STREAM_NOISE, Backend, host_rng
from engine.batching import BatchConfig, epoch_orders, split_epoch
from engine.optim import Optimizer, make_optimizer
from engine.problems.base import Problem
from engine.schedules import Schedule

NOISE_BLOCK = 1024  # steps of gradient noise drawn at once (keyed by block: chunk-independent)


@dataclass(frozen=True)
class RunSpec:
    """One run: an optimizer with its hyperparameters, a batch setting and a schedule."""

    label: str
    optimizer: str = "sgd"
    convention: str = "pytorch"
    lr: float = 1e-3
    hyper: dict[str, Any] = field(default_factory=dict)  # the optimizer's other settings
    batch: BatchConfig | None = None  # None: the whole training set (or no data)
    schedule: Schedule = field(default_factory=Schedule)
    start: tuple[float, ...] | None = None  # None: the problem's start

    def rates(self, steps: int) -> np.ndarray:
        return self.schedule.rates(self.lr, steps)


def record_steps(steps: int, record_every: int) -> np.ndarray:
    """Steps that get a row: 0, every ``record_every``-th, and the last."""
    rows = np.arange(0, steps + 1, record_every)
    return rows if rows[-1] == steps else np.append(rows, steps)


@dataclass
class History:
    """Recorded rows, host-side and preallocated; rows ``[:count]`` are final.

    Arrays are indexed ``[row, run]`` (and ``[..., 2]`` for the two drawn coordinates).
    """

    labels: list[str]
    step: np.ndarray  # (rows,) update count of each row
    epoch: np.ndarray  # (rows, R) epochs completed (fraction of the epoch's updates)
    lr: np.ndarray  # (rows, R) rate the update into this row used (row 0: the first update's)
    loss: np.ndarray  # (rows, R) full-data loss
    grad_norm: np.ndarray  # (rows, R) norm of the full-data gradient
    coords: np.ndarray  # (rows, R, 2) the parameters (or plane coordinates)
    update: np.ndarray  # (rows, R, 2) the last update's displacement
    velocity: np.ndarray  # (rows, R, 2) momentum in parameter units (NaN: none)
    step_size: np.ndarray  # (rows, R, 2) per-parameter η/σ of the last update (NaN row 0)
    diverged_at: np.ndarray  # (R,) step where the run diverged, −1 if it has not
    count: int = 0

    @classmethod
    def empty(cls, labels: Sequence[str], steps: np.ndarray) -> History:
        rows, r = len(steps), len(labels)

        def nan(*shape):
            return np.full(shape, np.nan)

        return cls(
            labels=list(labels),
            step=steps.copy(),
            epoch=nan(rows, r),
            lr=nan(rows, r),
            loss=nan(rows, r),
            grad_norm=nan(rows, r),
            coords=nan(rows, r, 2),
            update=nan(rows, r, 2),
            velocity=nan(rows, r, 2),
            step_size=nan(rows, r, 2),
            diverged_at=np.full(r, -1),
        )

    @property
    def n_runs(self) -> int:
        return len(self.labels)

    def rows_of(self, run: int) -> int:
        """How many rows run ``run`` has: all recorded ones, or up to its divergence."""
        if self.diverged_at[run] < 0:
            return self.count
        return int(np.searchsorted(self.step, self.diverged_at[run])) + 1

    def last_finite(self, run: int) -> int:
        """Row of the run's last finite state (its current position when drawn)."""
        rows = self.rows_of(run)
        return rows - 1 if self.diverged_at[run] < 0 else max(rows - 2, 0)


class _Unit:
    """Runs of one lane that share an optimizer."""

    def __init__(self, runs: list[int], optimizer: Optimizer, params, lr_table):
        self.runs = runs  # indices into the user's run list
        self.optimizer = optimizer
        self.params = params
        self.state = optimizer.init(params)
        self.lr_host = lr_table  # (steps, R_u) NumPy
        self.lr_table = None  # the same on the device, (steps, R_u, 1)
        self.records: list[tuple] = []  # (old params, new params, state, lr) per recorded step


class _Lane:
    """Runs that share a batch setting, and where they are in their epochs."""

    def __init__(self, config: BatchConfig | None, units: list[_Unit]):
        self.config = config
        self.units = units
        self.epoch = 0
        self.updates: list[list[object]] = []
        self.position = 0
        self.epoch_done = 0.0  # epochs completed after the latest update
        self._orders = None

    def next_update(self, problem: Problem, seed: int) -> list[object]:
        """The prepared micro-batches of the next update."""
        if self.config is None:
            self.epoch_done += 1.0  # no data: every update is a pass over everything
            return [None]
        if self.position == len(self.updates):
            self._start_epoch(problem, seed)
        update = self.updates[self.position]
        self.position += 1
        self.epoch_done = self.epoch - 1 + self.position / len(self.updates)
        return update

    def _start_epoch(self, problem: Problem, seed: int) -> None:
        self.epoch += 1
        self.position = 0
        if self.updates and not self.config.shuffle:
            return  # the same order every epoch: what was prepared still holds
        if self._orders is None:
            self._orders = epoch_orders(problem.n_examples, self.config.shuffle, seed)
        updates = split_epoch(self.config, next(self._orders))
        flat = [mb for update in updates for mb in update]
        prepared = problem.prepare(flat)
        it = iter(prepared)
        self.updates = [[next(it) for _ in update] for update in updates]

    def params(self, xp):
        if len(self.units) == 1:
            return self.units[0].params
        return xp.concatenate([u.params for u in self.units])


class Trainer:
    """Trains R runs on one problem for ``steps`` updates, recording as it goes.

    ``advance(n)`` does up to n more updates; ``iterate(chunk)`` is a generator that yields the
    history after each chunk (what a GUI worker runs); ``run()`` does everything.
    """

    def __init__(
        self,
        problem: Problem,
        runs: Sequence[RunSpec],
        steps: int,
        *,
        seed: int = 0,
        gradient_noise: float = 0.0,
        record_every: int = 1,
    ):
        if not runs:
            raise ValueError("an experiment needs at least one run")
        if steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {steps}")
        if record_every < 1:
            raise ValueError(f"record_every must be ≥ 1, got {record_every}")
        if gradient_noise < 0:
            raise ValueError(f"gradient_noise must be ≥ 0, got {gradient_noise}")
        self.problem = problem
        self.backend: Backend = problem.backend
        self.runs = list(runs)
        self.steps = steps
        self.seed = seed
        self.gradient_noise = gradient_noise
        self.record_every = record_every
        self.step = 0
        self.history = History.empty([r.label for r in runs], record_steps(steps, record_every))
        self._lanes = self._build_lanes()
        self._noise_block = (-1, None)
        for lane in self._lanes:
            for unit in lane.units:
                unit.records.append((unit.params, unit.params, unit.state, 0))
        self._flush()

    # ---- setup ---------------------------------------------------------------------------
    def _build_lanes(self) -> list[_Lane]:
        xp, b = self.backend.xp, self.backend
        n = self.problem.n_examples
        lanes: dict[Any, list[int]] = {}
        for i, run in enumerate(self.runs):
            config = run.batch
            if n == 0:
                if config is not None:
                    raise ValueError(
                        f"run {run.label!r}: batch settings need a problem with data; "
                        "use gradient_noise to mimic minibatch noise on a function"
                    )
            elif config is None:
                config = BatchConfig(batch_size=n, shuffle=False)
            if config is not None:
                config.validate(n)
            lanes.setdefault(config, []).append(i)
        result = []
        for config, members in lanes.items():
            units: dict[Any, list[int]] = {}
            for i in members:
                run = self.runs[i]
                flags = tuple(bool(run.hyper.get(f, False)) for f in ("centered", "amsgrad"))
                units.setdefault((run.optimizer, run.convention, flags), []).append(i)
            built = []
            for (name, convention, _), idx in units.items():
                try:
                    opt = make_optimizer(
                        name,
                        [{"lr": self.runs[i].lr, **self.runs[i].hyper} for i in idx],
                        convention,
                        xp=xp,
                        dtype=b.dtype,
                    )
                except ValueError as exc:
                    raise ValueError(f"run {self.runs[idx[0]].label!r}: {exc}") from None
                starts = np.array([self._start_of(self.runs[i]) for i in idx])
                rates = np.stack([self.runs[i].rates(self.steps) for i in idx], axis=1)
                unit = _Unit(idx, opt, b.asarray(starts), rates)
                unit.lr_table = b.asarray(rates[:, :, None])
                built.append(unit)
            result.append(_Lane(config, built))
        return result

    def _start_of(self, run: RunSpec) -> np.ndarray:
        start = self.problem.start if run.start is None else np.asarray(run.start, float)
        if start.shape != (self.problem.n_params,):
            raise ValueError(
                f"run {run.label!r}: start must have {self.problem.n_params} values, "
                f"got {list(np.ravel(start))}"
            )
        return start

    def _noise(self, k: int):
        block, index = divmod(k, NOISE_BLOCK)
        if self._noise_block[0] != block:
            rng = host_rng(self.seed, STREAM_NOISE, block)
            draws = rng.standard_normal((NOISE_BLOCK, self.problem.n_params))
            self._noise_block = (block, self.backend.asarray(draws * self.gradient_noise))
        return self._noise_block[1][index]

    # ---- stepping ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def advance(self, max_steps: int) -> int:
        """Do up to ``max_steps`` more updates and record them; return how many were done."""
        end = min(self.steps, self.step + max(int(max_steps), 0))
        xp, problem, seed = self.backend.xp, self.problem, self.seed
        record_every, steps = self.record_every, self.steps
        with np.errstate(all="ignore"):
            for k in range(self.step, end):
                record = (k + 1) % record_every == 0 or k + 1 == steps
                for lane in self._lanes:
                    micro = lane.next_update(problem, seed)
                    params = lane.params(xp)
                    grads = problem.batch_grad(params, micro[0])
                    if len(micro) > 1:
                        for prepared in micro[1:]:
                            grads = grads + problem.batch_grad(params, prepared)
                        grads = grads / len(micro)
                    if self.gradient_noise:
                        grads = grads + self._noise(k)
                    offset = 0
                    for unit in lane.units:
                        g = grads
                        if len(lane.units) > 1:
                            g = grads[offset : offset + len(unit.runs)]
                            offset += len(unit.runs)
                        old = unit.params
                        unit.params, unit.state = unit.optimizer.update(
                            g, unit.state, old, unit.lr_table[k]
                        )
                        if record:
                            unit.records.append((old, unit.params, unit.state, lane.epoch_done))
        done = end - self.step
        self.step = end
        self._flush()
        return done

    def iterate(self, chunk: int = 50) -> Iterator[History]:
        """Yield the history after every ``chunk`` updates, until done."""
        while not self.done:
            self.advance(chunk)
            yield self.history

    def run(self, chunk: int = 1000, progress=None) -> History:
        """Train to the end; ``progress(step, steps)`` is called after every chunk."""
        for _ in self.iterate(chunk):
            if progress is not None:
                progress(self.step, self.steps)
        return self.history

    # ---- recording -----------------------------------------------------------------------
    def _flush(self) -> None:
        """Turn the references kept by the step loop into history rows, in bulk."""
        h = self.history
        first = h.count
        xp, to_host = self.backend.xp, self.backend.to_host
        n_new = 0
        with np.errstate(all="ignore"):
            for lane in self._lanes:
                for unit in lane.units:
                    n_new = len(unit.records)
                    if n_new == 0:
                        continue
                    rows = slice(first, first + n_new)
                    olds, news, states, epochs = zip(*unit.records, strict=True)
                    new = xp.stack(news)  # (T, R_u, P)
                    t, r_u, p = new.shape
                    loss, grad = self.problem.loss_and_grad(new.reshape(t * r_u, p))
                    grad_norm = xp.sqrt((grad * grad).sum(axis=1)).reshape(t, r_u)
                    state = _stack_states(xp, states)
                    k = h.step[rows]
                    lr = unit.lr_host[np.maximum(k - 1, 0)]  # row 0: the first update's
                    lr_dev = self.backend.asarray(lr[:, :, None])
                    velocity = unit.optimizer.velocity(state, lr_dev)
                    step_size = unit.optimizer.step_size(state, lr_dev)
                    cols = unit.runs
                    h.coords[rows, cols] = to_host(self.problem.coords(new.reshape(-1, p))).reshape(
                        t, r_u, 2
                    )
                    h.update[rows, cols] = h.coords[rows, cols] - to_host(
                        self.problem.coords(xp.stack(olds).reshape(-1, p))
                    ).reshape(t, r_u, 2)
                    h.loss[rows, cols] = to_host(loss).reshape(t, r_u)
                    h.grad_norm[rows, cols] = to_host(grad_norm)
                    h.lr[rows, cols] = lr
                    h.epoch[rows, cols] = np.asarray(epochs, float)[:, None]
                    if velocity is not None and p == 2:
                        h.velocity[rows, cols] = to_host(velocity + new * 0)
                    if p == 2:
                        h.step_size[rows, cols] = to_host(step_size + new * 0)
                    if first == 0:
                        h.step_size[0, cols] = np.nan  # no gradient seen yet
                        h.velocity[0, cols] = np.where(velocity is None, np.nan, 0.0)
                    unit.records.clear()
        h.count = first + n_new
        self._mark_divergence(first, h.count)

    def _mark_divergence(self, first: int, end: int) -> None:
        h = self.history
        finite = np.isfinite(h.loss[first:end]) & np.isfinite(h.coords[first:end]).all(axis=2)
        for run in np.flatnonzero((h.diverged_at < 0) & ~finite.all(axis=0)):
            row = first + int(np.argmin(finite[:, run]))
            h.diverged_at[run] = h.step[row]


def _stack_states(xp, states: Sequence[tuple]) -> tuple:
    """Optimizer states of several steps as one state whose arrays have a leading steps axis
    and whose step count ``t`` is a ``(T, 1, 1)`` array, for the bulk diagnostics."""
    first = states[0]
    fields = {}
    for name in first._fields:
        values = [getattr(s, name) for s in states]
        if name == "t":
            fields[name] = xp.asarray(np.asarray(values, dtype=float)[:, None, None])
        elif values[0] is None:
            fields[name] = None
        else:
            fields[name] = xp.stack(values)
    return type(first)(**fields)
