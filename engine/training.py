"""Minibatch training of R runs in lockstep, recorded for drawing and for the CSV.

The runs are arranged in two nested groupings (a run keeps its index in the history):

- a *lane* is the set of runs that share a batch setting (size, shuffling, drop_last,
  accumulation): they see the same minibatches, so one gradient call serves them all;
- a *unit* is the set of runs in a lane that share an optimizer (and convention and flags):
  one vectorized ``update`` moves them all, on its block of the lane's gradient.

The step loop only computes minibatch gradients and updates; of a recorded step it keeps
references to the (immutable) parameters before and after, and the new state. Everything
recorded — full data loss and gradient norm, effective step sizes, momentum — is then
computed in bulk for a whole chunk of steps and brought to the host once. Divergence is
found there too: a run whose loss or parameters stop being finite is marked at that row; the
others go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backend import STREAM_NOISE, Backend, host_rng
from engine.batching import BatchConfig, epoch_orders, split_epoch
from engine.optim import FLAGS, Optimizer, make_optimizer
from engine.problems.base import Problem
from engine.schedules import Schedule

PREPARE_AHEAD = 256  # micro-batches prepared at once (whole epochs, at least one)
PREPARE_EXAMPLES = 1 << 20  # and examples: 256 epochs of a large set would fill the memory
NOISE_BLOCK = 1024  # steps of gradient noise drawn at once (keyed by block: chunk-independent)
RATE_CELLS = 1 << 18  # learning rates (steps × runs) computed at once: memory bounded by this,
# not by steps × runs (10 M steps of 1,000 runs would be 80 GB of rates)


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

    def rates_at(self, k: np.ndarray) -> np.ndarray:
        return self.schedule.rates_at(self.lr, k)

    def path_key(self) -> tuple:
        """Everything that decides the run's path (not its label), hashable."""
        start = None if self.start is None else tuple(self.start)
        hyper = tuple(sorted(self.hyper.items()))
        return (self.optimizer, self.convention, self.lr, hyper, self.batch, self.schedule, start)


def record_steps(steps: int, record_every: int) -> np.ndarray:
    """Steps that get a row: 0, every ``record_every``-th, and the last."""
    rows = np.arange(0, steps + 1, record_every)
    return rows if rows[-1] == steps else np.append(rows, steps)


_PER_RUN_FIELDS = (
    "epoch",
    "lr",
    "loss",
    "grad_norm",
    "coords",
    "grad",
    "update",
    "velocity",
    "step_size",
)


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
    # What the GUI draws besides (None when the trainer was made with diagnostics=False):
    grad: np.ndarray | None  # (rows, R, 2) the full-data gradient (NaN for a network)
    update: np.ndarray | None  # (rows, R, 2) the last update's displacement
    velocity: np.ndarray | None  # (rows, R, 2) momentum in parameter units (NaN: none)
    step_size: np.ndarray | None  # (rows, R, 2) per-parameter η/σ of the last update (NaN row 0)
    diverged_at: np.ndarray  # (R,) step where the run diverged, −1 if it has not
    count: int = 0
    # a problem's own columns after w1,w2 (a network's accuracy, val_loss, val_accuracy), in
    # order; ``extra`` holds the (rows, R) values of those it computes (a column without
    # values, such as val_loss without a validation split, is written as empty cells)
    extra_columns: tuple[str, ...] = ()
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, labels: Sequence[str], steps: np.ndarray, diagnostics: bool = True) -> History:
        rows, r = len(steps), len(labels)

        def nan(*shape):
            return np.full(shape, np.nan)

        def maybe(*shape):
            return nan(*shape) if diagnostics else None

        return cls(
            labels=list(labels),
            step=steps.copy(),
            epoch=nan(rows, r),
            lr=nan(rows, r),
            loss=nan(rows, r),
            grad_norm=nan(rows, r),
            coords=nan(rows, r, 2),
            grad=maybe(rows, r, 2),
            update=maybe(rows, r, 2),
            velocity=maybe(rows, r, 2),
            step_size=maybe(rows, r, 2),
            diverged_at=np.full(r, -1),
        )

    @property
    def n_runs(self) -> int:
        return len(self.labels)

    def copy_run(self, run: int, other: History, other_run: int) -> None:
        """Take every row of ``other``'s run ``other_run`` as this history's run ``run``."""
        for name in _PER_RUN_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None:
                mine[:, run] = theirs[:, other_run]
        self.diverged_at[run] = other.diverged_at[other_run]

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

    def __init__(
        self,
        runs: list[int],
        optimizer: Optimizer,
        params,
        specs: list[RunSpec],
        backend: Backend,
    ):
        self.runs = runs  # indices into the user's run list
        # the same as an index into the history's runs axis: a slice when contiguous
        contiguous = runs == list(range(runs[0], runs[0] + len(runs)))
        self.cols = slice(runs[0], runs[0] + len(runs)) if contiguous else np.array(runs)
        # this unit's rows of its lane's gradient; None when it is the lane's only unit
        self.lane_rows: slice | None = None
        self.optimizer = optimizer
        self.update = optimizer.update
        self.params = params
        self.state = optimizer.init(params)
        self.specs = specs
        self.backend = backend
        # the rates of one block of updates [rates_from, rates_from + block)
        self.block = max(16, min(4096, RATE_CELLS // len(runs)))
        self.rates_from = -1
        self.lr_host: np.ndarray = np.zeros((0, len(runs)))  # (block, R_u) NumPy
        self.lr_table: Any = []
        self.load_rates(0)
        # (old params, new params, state, epoch, rates) per recorded step
        self.records: list[tuple] = []
        # a problem that carries buffers (batch norm's running statistics): this unit's
        # (R_u, Q) buffers, and their value at each recorded step (beside ``records``)
        self.buffers = None
        self.buffer_records: list = []

    def load_rates(self, k: int) -> int:
        """Make the block of rates that holds update k current; return its first update."""
        first = k - k % self.block
        if first != self.rates_from:
            ks = np.arange(first, first + self.block)
            rates = np.stack([spec.rates_at(ks) for spec in self.specs], axis=1)
            self.rates_from, self.lr_host = first, rates
            # the rate of each update as the optimizer takes it: (R_u, 1) on the device, or
            # a plain float when every run of the unit has the same schedule (scalar
            # arithmetic is what a single run needs, cheaper than a 1-element array's)
            if np.all(rates == rates[:, :1]):
                self.lr_table = rates[:, 0].tolist()
            else:
                self.lr_table = self.backend.asarray(rates[:, :, None])
        return first


class _Lane:
    """Runs that share a batch setting, and where they are in their epochs."""

    def __init__(self, config: BatchConfig | None, units: list[_Unit]):
        self.config = config
        self.units = units
        if len(units) > 1:
            offset = 0
            for unit in units:
                unit.lane_rows = slice(offset, offset + len(unit.runs))
                offset += len(unit.runs)
        self.epoch = 0  # epochs started
        # this epoch's updates: (prepared micro-batches, their weights or None), see _weights
        self.updates: list[tuple[list[object], list[float] | None]] = []
        self.position = 0  # updates done in this epoch
        self.steps_done = 0
        self._orders = None
        self._ahead: deque[list] = deque()  # epochs prepared (as ``updates``), not yet started

    @property
    def epoch_done(self) -> float:
        """Epochs completed after the latest update (no data: one per update)."""
        if self.config is None:
            return float(self.steps_done)
        return self.epoch - 1 + self.position / len(self.updates)

    def gradient(self, problem: Problem, seed: int):
        """The minibatch gradient of the next update at the lane's parameters: the mean of
        its micro-batches' gradients weighted by their sizes (gradient accumulation), i.e.
        the gradient of the mean loss over the union of the micro-batches."""
        params = self.units[0].params
        if len(self.units) > 1:
            params = problem.xp.concatenate([u.params for u in self.units])
        if self.config is None:
            self.steps_done += 1
            return problem.batch_grad(params, None)
        if self.position == len(self.updates):
            self._start_epoch(problem, seed)
        micro, weights = self.updates[self.position]
        self.position += 1
        if problem.carries_buffers:
            return self._gradient_with_buffers(problem, params, micro, weights)
        grads = problem.batch_grad(params, micro[0])
        if len(micro) > 1:
            if weights is None:  # micro-batches of one size: their plain mean
                for prepared in micro[1:]:
                    grads = grads + problem.batch_grad(params, prepared)
                grads = grads / len(micro)
            else:
                grads = grads * weights[0]
                for prepared, weight in zip(micro[1:], weights[1:], strict=True):
                    grads = grads + weight * problem.batch_grad(params, prepared)
        return grads

    def _gradient_with_buffers(self, problem: Problem, params, micro, weights):
        """As ``gradient``, for a problem with buffers: each micro-batch runs in training
        mode from the buffers the previous one left (batch norm: its own batch statistics,
        and one update of the running ones each, as k forward/backward passes before one
        ``optimizer.step()`` in PyTorch); the units keep the buffers after the last."""
        units = self.units
        xp = problem.xp
        buffers = (
            units[0].buffers if len(units) == 1 else xp.concatenate([u.buffers for u in units])
        )
        grads, buffers = problem.batch_grad_buffers(params, buffers, micro[0])
        if len(micro) > 1:
            shares = weights if weights is not None else [1 / len(micro)] * len(micro)
            grads = grads * shares[0]
            for prepared, share in zip(micro[1:], shares[1:], strict=True):
                g, buffers = problem.batch_grad_buffers(params, buffers, prepared)
                grads = grads + share * g
        if len(units) == 1:
            units[0].buffers = buffers
        else:
            for unit in units:
                unit.buffers = buffers[unit.lane_rows]
        return grads

    def _start_epoch(self, problem: Problem, seed: int) -> None:
        self.epoch += 1
        self.position = 0
        if self.updates and not self.config.shuffle:
            return  # the same order every epoch: what was prepared still holds
        if not self._ahead:
            self._prepare_ahead(problem, seed)
        self.updates = self._ahead.popleft()

    def _prepare_ahead(self, problem: Problem, seed: int) -> None:
        """Prepare the minibatches of the next few epochs in one call: on a small data set
        an epoch is a handful of updates, and one vectorized call beats many small ones."""
        n = problem.n_examples
        if self._orders is None:
            self._orders = epoch_orders(n, self.config.shuffle, seed)
        per_epoch = self.config.micro_batches_per_epoch(n)
        # unshuffled, every epoch is the first one again: one is all there is to prepare
        ahead = 1
        if self.config.shuffle:  # and a bounded number of examples (a large set: one epoch)
            ahead = max(1, min(PREPARE_AHEAD // per_epoch, PREPARE_EXAMPLES // n))
        epochs = [split_epoch(self.config, next(self._orders)) for _ in range(ahead)]
        prepared = iter(problem.prepare([mb for ups in epochs for up in ups for mb in up]))
        for updates in epochs:
            self._ahead.append(
                [([next(prepared) for _ in update], _weights(update)) for update in updates]
            )


def _weights(update: list[np.ndarray]) -> list[float] | None:
    """How much each micro-batch's (mean) gradient counts in the update: its share of the
    update's examples, so that the update is the gradient of the mean loss over their union
    (a short last micro-batch counts less). None when all have one size: the plain mean.

    That is what makes accumulation equal one batch ``accumulation_steps`` times larger even
    when an epoch ends on a short micro-batch (23 rows, micro-batch 5, k = 3: updates of
    5+5+5 and 5+3 rows, exactly the batches of 15 and 8). For full micro-batches the two
    definitions ("mean over the micro-batches", EXPERIMENT_FORMAT.md) are the same."""
    sizes = [len(mb) for mb in update]
    if len(set(sizes)) <= 1:
        return None
    total = sum(sizes)
    return [n / total for n in sizes]


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
        diagnostics: bool = True,
        reuse: Trainer | None = None,
        window: bool = False,
    ):
        """``diagnostics=False`` records only what the CSV holds (no update, velocity or
        step size): less memory and time for sweeps of thousands of runs.

        ``reuse``: a finished trainer, perhaps of the same problem (``Problem.same_as``).
        Runs never interact — a run's path depends only on the problem, the shared settings
        and its own spec — so every run whose spec (label aside) and shared settings match
        one of its runs is copied from it instead of trained again. That is what makes a
        slider that changes one run of eight answer in the time of one.

        ``window=True``: the history holds only the rows recorded by the latest ``advance``
        (the first one: row 0), so that memory does not grow with the steps; the caller
        takes each window's rows as they come (the headless runner streams them to the CSV).
        ``diverged_at`` is shared by every window.
        """
        if window and reuse is not None:
            raise ValueError("a windowed trainer keeps no history to reuse runs from")
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
        self.diagnostics = diagnostics
        self.window = window
        rows = np.zeros(1, dtype=int) if window else record_steps(steps, record_every)
        self.history = History.empty([r.label for r in runs], rows, diagnostics)
        self.reused = self._copy_known_runs(reuse)  # run index -> the reused trainer's run
        self._lanes = self._build_lanes([i for i in range(len(runs)) if i not in self.reused])
        if not self._lanes:
            self.step = steps  # every run was known
            self.history.count = len(self.history.step)
        self._noise_block = (-1, None)
        # a problem with more than two parameters is drawn on a plane chosen from every
        # recorded state (see _finish_plane): those states are kept, host-side
        self.plane = None
        self._snapshots = None
        if problem.n_params != 2 and not self.window:
            rows = len(self.history.step)
            self._snapshots = np.full((rows, len(self.runs), problem.n_params), np.nan)
        if problem.extra_columns:
            self.history.extra_columns = tuple(problem.extra_columns)
        for lane in self._lanes:
            for unit in lane.units:
                if problem.carries_buffers:
                    unit.buffers = problem.initial_buffers(len(unit.runs))
                    unit.buffer_records.append(unit.buffers)
                unit.records.append((unit.params, unit.params, unit.state, 0, unit.lr_host[0]))
        self._flush()

    # ---- setup ---------------------------------------------------------------------------
    def _copy_known_runs(self, other: Trainer | None) -> dict[int, int]:
        if other is None or not other.done:
            return {}
        shared = ("steps", "seed", "gradient_noise", "record_every", "diagnostics")
        if any(getattr(self, k) != getattr(other, k) for k in shared):
            return {}
        if other.backend.dtype != self.backend.dtype or not self.problem.same_as(other.problem):
            return {}
        known = {spec.path_key(): j for j, spec in enumerate(other.runs)}
        reused = {}
        for i, spec in enumerate(self.runs):
            j = known.get(spec.path_key())
            if j is not None:
                self.history.copy_run(i, other.history, j)
                reused[i] = j
        return reused

    def _build_lanes(self, members: list[int]) -> list[_Lane]:
        n = self.problem.n_examples
        lanes: dict[Any, list[int]] = {}
        for i in members:
            run = self.runs[i]
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
                flags = tuple(bool(run.hyper.get(f, False)) for f in FLAGS)
                units.setdefault((run.optimizer, run.convention, flags), []).append(i)
            built = []
            for (name, convention, _), idx in units.items():
                try:
                    opt = make_optimizer(
                        name,
                        [{"lr": self.runs[i].lr, **self.runs[i].hyper} for i in idx],
                        convention,
                        xp=self.backend.xp,
                        dtype=self.backend.dtype,
                    )
                except ValueError as exc:
                    raise ValueError(f"run {self.runs[idx[0]].label!r}: {exc}") from None
                starts = np.array([self._start_of(self.runs[i]) for i in idx])
                specs = [self.runs[i] for i in idx]
                built.append(_Unit(idx, opt, self.backend.asarray(starts), specs, self.backend))
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
        problem, seed = self.problem, self.seed
        record_every, steps = self.record_every, self.steps
        noise = self._noise if self.gradient_noise else None
        units = [unit for lane in self._lanes for unit in lane.units]
        block = min((unit.block for unit in units), default=end)
        if self.window:
            self._start_window(end)
        start = self.step
        with np.errstate(all="ignore"):
            while start < end:
                # one block of rates at a time (every unit's block is a multiple of this one)
                stop = min(end, start - start % block + block)
                for unit in units:
                    unit.base = unit.load_rates(start)
                for k in range(start, stop):
                    record = (k + 1) % record_every == 0 or k + 1 == steps
                    for lane in self._lanes:
                        grads = lane.gradient(problem, seed)
                        if noise is not None:
                            grads = grads + noise(k)
                        for unit in lane.units:
                            g = grads if unit.lane_rows is None else grads[unit.lane_rows]
                            old = unit.params
                            i = k - unit.base
                            unit.params, unit.state = unit.update(
                                g, unit.state, old, unit.lr_table[i]
                            )
                            if record:
                                unit.records.append(
                                    (old, unit.params, unit.state, lane.epoch_done, unit.lr_host[i])
                                )
                                if unit.buffers is not None:
                                    unit.buffer_records.append(unit.buffers)
                start = stop
        done = end - self.step
        self.step = end
        self._flush()
        return done

    def _start_window(self, end: int) -> None:
        """A fresh history for the rows of updates (step, end]: multiples of record_every,
        and the last step."""
        every = self.record_every
        first = self.step - self.step % every + every
        rows = np.arange(first, end + 1, every)
        if end == self.steps and (rows.size == 0 or rows[-1] != end):
            rows = np.append(rows, end)
        old = self.history
        self.history = History.empty(old.labels, rows, self.diagnostics)
        self.history.diverged_at = old.diverged_at

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
                    olds, news, states, epochs, rates = zip(*unit.records, strict=True)
                    new = xp.stack(news)  # (T, R_u, P)
                    t, r_u, p = new.shape
                    if self.problem.carries_buffers:
                        buffers = xp.stack(unit.buffer_records).reshape(t * r_u, -1)
                        unit.buffer_records.clear()
                        loss, grad, extra = self.problem.evaluate_rows(
                            new.reshape(t * r_u, p), buffers
                        )
                        for name, values in extra.items():
                            column = h.extra.setdefault(name, np.full(h.loss.shape, np.nan))
                            column[rows, unit.cols] = to_host(values).reshape(t, r_u)
                    else:
                        loss, grad = self.problem.loss_and_grad(new.reshape(t * r_u, p))
                    if self._snapshots is not None:
                        self._snapshots[rows, unit.cols] = to_host(new)
                    grad_norm = xp.sqrt(xp.einsum("ij,ij->i", grad, grad)).reshape(t, r_u)
                    lr = np.stack(rates)  # the rate of the update into the row (row 0: the first's)
                    cols = unit.cols
                    coords = to_host(self.problem.coords(new.reshape(-1, p))).reshape(t, r_u, 2)
                    h.coords[rows, cols] = coords
                    h.loss[rows, cols] = to_host(loss).reshape(t, r_u)
                    h.grad_norm[rows, cols] = to_host(grad_norm)
                    h.lr[rows, cols] = lr
                    h.epoch[rows, cols] = np.asarray(epochs, float)[:, None]
                    if self.diagnostics:
                        if p == 2:
                            h.grad[rows, cols] = to_host(grad).reshape(t, r_u, 2)
                        self._flush_diagnostics(unit, rows, olds, states, new, coords, lr)
                    unit.records.clear()
        h.count = first + n_new
        self._mark_divergence(first, h.count)
        if self._snapshots is not None and self.done and self.plane is None:
            self._finish_plane()

    def _finish_plane(self) -> None:
        """The drawn coordinates of a larger model: every recorded state of every run
        projected on the top two principal directions of all of them (the trajectory plane,
        ``engine.plane.trajectory_plane``), through the runs' common start when they share
        one (so that the start sits at (0, 0)), else through the states' mean."""
        from engine.plane import trajectory_plane

        h, snapshots = self.history, self._snapshots
        finite = np.isfinite(snapshots).all(axis=2)  # (rows, R): a diverged run's tail is not
        points = snapshots[finite]
        starts = snapshots[0][finite[0]]
        origin = starts[0] if len(starts) and np.all(starts == starts[0]) else None
        try:
            self.plane = trajectory_plane(points, origin=origin)
        except ValueError:
            return  # every path on one line (or a single point): the coordinates stay 0
        coords = np.full((*finite.shape, 2), np.nan)
        coords[finite] = self.plane.project(points)
        for run in range(h.n_runs):
            rows = h.rows_of(run)
            h.coords[:rows, run] = coords[:rows, run]
        problem = self.problem
        problem.plane = self.plane
        if hasattr(problem, "view"):  # the drawn rectangle: every path, with a margin
            from engine.problems.base import View

            drawn = coords[finite]
            low, high = drawn.min(axis=0), drawn.max(axis=0)
            margin = np.maximum((high - low) * 0.15, 1e-3)
            problem.view = View(
                low[0] - margin[0], high[0] + margin[0], low[1] - margin[1], high[1] + margin[1]
            )
        if problem.carries_buffers:
            buffers = self.final_state()[1]
            finite_runs = np.isfinite(buffers).all(axis=1)
            if finite_runs.any():
                problem.surface_buffers = buffers[int(np.argmax(finite_runs))]

    def final_state(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Every run's parameters ``(R, P)`` and buffers ``(R, Q)`` (None without buffers)
        after the last update, host NumPy, rows in run order."""
        to_host = self.backend.to_host
        params = np.full((len(self.runs), self.problem.n_params), np.nan)
        buffers = None
        if self.problem.carries_buffers:
            buffers = np.full((len(self.runs), self.problem.n_buffers), np.nan)
        for lane in self._lanes:
            for unit in lane.units:
                params[unit.cols] = to_host(unit.params)
                if buffers is not None:
                    buffers[unit.cols] = to_host(unit.buffers)
        return params, buffers

    def _flush_diagnostics(self, unit, rows, olds, states, new, coords, lr) -> None:
        """Update vectors, momentum and effective step sizes of a chunk's recorded rows."""
        h, xp, to_host = self.history, self.backend.xp, self.backend.to_host
        t, r_u, p = new.shape
        cols = unit.cols
        old_coords = self.problem.coords(xp.stack(olds).reshape(-1, p))
        h.update[rows, cols] = coords - to_host(old_coords).reshape(t, r_u, 2)
        if p != 2:
            return  # per-parameter quantities of a network have no place on the plane
        state = _stack_states(xp, states)
        lr_dev = self.backend.asarray(lr[:, :, None])
        velocity = unit.optimizer.velocity(state, lr_dev)
        if velocity is not None:
            h.velocity[rows, cols] = to_host(velocity + new * 0)
        h.step_size[rows, cols] = to_host(unit.optimizer.step_size(state, lr_dev) + new * 0)
        if h.step[rows.start] == 0:  # row 0 (a windowed history starts every window at 0)
            h.step_size[0, cols] = np.nan  # no gradient seen yet
            h.velocity[0, cols] = np.nan if velocity is None else 0.0

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
