"""Minibatch training of R runs in lockstep, recorded for drawing and for the CSV.

The runs are arranged in two nested groupings (a run keeps its index in the history):

- a *lane* is the set of runs that share a batch setting (size, shuffling, drop_last,
  accumulation): they see the same minibatches, so one gradient call serves them all;
- a *unit* is the set of runs in a lane that share an optimizer (and convention and flags):
  one vectorized ``update`` moves them all, on its block of the lane's gradient.

The step loop only computes minibatch gradients and updates; of a recorded step it keeps
references to the (immutable) parameters before and after, and the new state. Everything
recorded — full data loss and gradient norm, effective step sizes, momentum — is then
computed in bulk for a whole chunk of steps and brought to the host once (a chunk is cut
short once its kept states pass ``PENDING_BYTES``). Divergence is found there too: a run
whose loss or parameters stop being finite is marked at that row; the others go on.

A network records what is drawn, per row: the minibatch loss, per-layer weight and gradient
norms and update ratios, batch norm's batch and running statistics of a few channels, and
(every ``eval_every`` rows) the full-split evaluation; its full states go to a bounded
reservoir (``engine.snapshots``) from which its drawn plane is chosen. Memory is rows × runs
× a few dozen numbers, plus the reservoir's budget, plus the pending states: never
steps × parameters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from engine import snapshots
from engine.backend import STREAM_NOISE, Backend, host_rng
from engine.batching import BatchConfig, epoch_orders, split_epoch
from engine.optim import FLAGS, Optimizer, make_optimizer
from engine.problems.base import Cancelled, Problem
from engine.schedules import Schedule
from engine.snapshots import Reservoir

PREPARE_AHEAD = 256  # micro-batches prepared at once (whole epochs, at least one)
PREPARE_EXAMPLES = 1 << 20  # and examples: 256 epochs of a large set would fill the memory
NOISE_BLOCK = 1024  # steps of gradient noise drawn at once (keyed by block: chunk-independent)
PENDING_BYTES = 16 << 20  # states kept by the step loop before a flush (bounded memory)
EXACT_PLANE_VALUES = 1 << 20  # states × parameters up to which the plane is an exact SVD
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
    # False: a network's run without the problem's batch norm (its switch, engine.problems.mlp)
    batch_norm: bool = True

    def rates(self, steps: int) -> np.ndarray:
        return self.schedule.rates(self.lr, steps)

    def rates_at(self, k: np.ndarray) -> np.ndarray:
        return self.schedule.rates_at(self.lr, k)

    def path_key(self) -> tuple:
        """Everything that decides the run's path (not its label), hashable."""
        start = None if self.start is None else tuple(self.start)
        hyper = tuple(sorted(self.hyper.items()))
        return (
            self.optimizer, self.convention, self.lr, hyper, self.batch, self.schedule, start,
            self.batch_norm,
        )  # fmt: skip


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
class LayerRecords:
    """Per Linear layer of a network, per row and run: ``(rows, R, L)`` float64, NaN where not
    recorded. ``weight_norm``: ‖W‖ (Frobenius, the weight matrix, bias aside) after the
    update into the row; ``grad_norm``: ‖∂L/∂W‖ of the minibatch gradient of that update
    (the accumulated one with accumulation; NaN at row 0); ``update_ratio``: ‖ΔW‖/‖W‖ of the
    update, W before it (NaN at row 0)."""

    names: tuple[str, ...]
    weight_norm: np.ndarray
    grad_norm: np.ndarray
    update_ratio: np.ndarray

    @classmethod
    def empty(cls, names: tuple[str, ...], rows: int, runs: int) -> LayerRecords:
        shape = (rows, runs, len(names))
        return cls(names, *(np.full(shape, np.nan) for _ in range(3)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.weight_norm, self.grad_norm, self.update_ratio


@dataclass
class BNRecords:
    """Batch norm's statistics of the first ``channels`` of every batch-norm layer, per row
    and run: ``(rows, R, n_layers, n_channels)`` float64. ``batch_mean``, ``batch_var``: the
    minibatch's (biased variance) in the update into the row — with accumulation, the LAST
    micro-batch's (each micro-batch normalizes with its own); NaN at row 0.
    ``running_mean``, ``running_var``: the buffers after the update (row 0: the start's)."""

    layers: tuple[str, ...]
    channels: tuple[int, ...]
    batch_mean: np.ndarray
    batch_var: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray

    @classmethod
    def empty(cls, layers, channels, rows: int, runs: int) -> BNRecords:
        shape = (rows, runs, len(layers), len(channels))
        return cls(tuple(layers), tuple(channels), *(np.full(shape, np.nan) for _ in range(4)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.batch_mean, self.batch_var, self.running_mean, self.running_var


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
    # a network's per-layer and batch-norm records (None for other problems, or no batch norm)
    layers: LayerRecords | None = None
    bn: BNRecords | None = None

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
        for name, theirs in other.extra.items():
            mine = self.extra.setdefault(name, np.full(self.loss.shape, np.nan))
            mine[:, run] = theirs[:, other_run]
        for records in ("layers", "bn"):
            mine, theirs = getattr(self, records), getattr(other, records)
            if mine is not None and theirs is not None:
                for a, b in zip(mine.arrays(), theirs.arrays(), strict=True):
                    a[:, run] = b[:, other_run]
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


class _Record(NamedTuple):
    """What the step loop keeps of a recorded step (references, no copies)."""

    old: Any  # (R_u, P) parameters before the update
    new: Any  # (R_u, P) after it
    state: Any  # the optimizer state after it (None where no diagnostics need it)
    epoch: float
    rate: np.ndarray  # (R_u,) the update's rates
    grad: Any  # a network's minibatch gradient (R_u, P) of the update (None at row 0)
    batch: tuple | None  # a network's lane's (minibatch loss, batch statistics), see _Lane


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
        # per recorded step since the last flush
        self.records: list[_Record] = []
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
        # of the latest update asked to ``record`` (a network's): (minibatch loss (R_lane,),
        # batch statistics: per batch-norm layer (mean, var) (R_lane, H))
        self.recorded: tuple | None = None

    @property
    def epoch_done(self) -> float:
        """Epochs completed after the latest update (no data: one per update)."""
        if self.config is None:
            return float(self.steps_done)
        return self.epoch - 1 + self.position / len(self.updates)

    def gradient(self, problem: Problem, seed: int, record: bool = False):
        """The minibatch gradient of the next update at the lane's parameters: the mean of
        its micro-batches' gradients weighted by their sizes (gradient accumulation), i.e.
        the gradient of the mean loss over the union of the micro-batches. ``record`` (a
        network's recorded step): also keep the update's minibatch loss and batch
        statistics in ``recorded``."""
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
            return self._gradient_with_buffers(problem, params, micro, weights, record)
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

    def _gradient_with_buffers(self, problem: Problem, params, micro, weights, record):
        """As ``gradient``, for a problem with buffers: each micro-batch runs in training
        mode from the buffers the previous one left (batch norm: its own batch statistics,
        and one update of the running ones each, as k forward/backward passes before one
        ``optimizer.step()`` in PyTorch); the units keep the buffers after the last.

        Recorded with accumulation: the minibatch loss is the micro-batches' losses weighted
        by their sizes (the mean loss over their union, as the gradient is), and the batch
        statistics are the last micro-batch's (each normalizes with its own: there is no
        single batch statistic of the update)."""
        units = self.units
        xp = problem.xp
        buffers = (
            units[0].buffers if len(units) == 1 else xp.concatenate([u.buffers for u in units])
        )
        info = {} if record else None
        grads, buffers = problem.batch_grad_buffers(params, buffers, micro[0], info)
        loss = None if info is None else info["loss"]
        if len(micro) > 1:
            shares = weights if weights is not None else [1 / len(micro)] * len(micro)
            grads = grads * shares[0]
            if info is not None:
                loss = loss * shares[0]
            for prepared, share in zip(micro[1:], shares[1:], strict=True):
                g, buffers = problem.batch_grad_buffers(params, buffers, prepared, info)
                grads = grads + share * g
                if info is not None:
                    loss = loss + share * info["loss"]
        if info is not None:
            self.recorded = (loss, info["bn"])
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
        eval_every: int = 1,
        snapshot_budget_bytes: int | None = None,
        plane=None,
        should_stop=None,
        own_plane: bool = True,
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

        A network (a problem with buffers): ``eval_every=k`` evaluates the full splits
        (``loss``, ``grad_norm``, accuracy, validation) only at every k-th row, row 0 and
        the last row (NaN in between); everything else is recorded at every row.

        A problem with more than two parameters is drawn on a plane of weight space chosen
        from the states its runs went through: ``snapshots``, a bounded reservoir of them
        (``engine.snapshots``, at most ``snapshot_budget_bytes``, default
        ``engine.snapshots.DEFAULT_BUDGET_BYTES``, 128 MiB), gives the plane at the
        end (``plane``, and ``history.coords`` filled in; exactly the projections when the
        reservoir kept every row, see ``coords_exact``). ``plane``: a plane fixed in
        advance instead (no reservoir): every row is projected on it as it is recorded (the
        runner's replay of a long training). ``own_plane=False``: no plane is chosen at the
        end (the app lays its own on the reservoir's states, and ``history.coords`` stays
        0) until ``finish_plane()`` is called; the reservoir is completed all the same.

        ``should_stop``: asked during a network's full-split evaluations (``MLP.evaluate``;
        a wide network's takes seconds on a loaded machine); when true they raise
        ``Cancelled``, from the constructor (row 0) or from ``advance``. A cancelled trainer
        has rows half recorded: it is ``cancelled``, never ``done`` (nothing may reuse its
        runs) and refuses to ``advance`` (the app's worker drops its job).
        """
        if window and reuse is not None:
            raise ValueError("a windowed trainer keeps no history to reuse runs from")
        if not runs:
            raise ValueError("an experiment needs at least one run")
        if steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {steps}")
        if record_every < 1:
            raise ValueError(f"record_every must be ≥ 1, got {record_every}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise ValueError(f"eval_every must be an integer ≥ 1, got {eval_every!r}")
        if gradient_noise < 0:
            raise ValueError(f"gradient_noise must be ≥ 0, got {gradient_noise}")
        self.problem = problem
        self.backend: Backend = problem.backend
        self.runs = list(runs)
        self.steps = steps
        self.seed = seed
        self.gradient_noise = gradient_noise
        self.record_every = record_every
        self.eval_every = eval_every
        self.should_stop = should_stop
        self.cancelled = False
        self.own_plane = own_plane
        if snapshot_budget_bytes is None:  # looked up now: a test may lower it
            snapshot_budget_bytes = snapshots.DEFAULT_BUDGET_BYTES
        self.snapshot_budget_bytes = snapshot_budget_bytes
        self.step = 0
        self.diagnostics = diagnostics
        self.window = window
        self.total_rows = len(record_steps(steps, record_every))
        self._rows_flushed = 0  # rows recorded so far, over every window
        rows = np.zeros(1, dtype=int) if window else record_steps(steps, record_every)
        self.history = self._new_history([r.label for r in runs], rows)
        # a problem with more than two parameters is drawn on a plane: a fixed one, or one
        # chosen at the end from a bounded reservoir of the recorded states
        self.plane = plane
        self._fixed_plane = plane is not None
        self._bounds: list[np.ndarray] = []  # with a fixed plane: min and max of the coords
        self.coords_exact = problem.n_params == 2
        self.snapshots: Reservoir | None = None
        if problem.n_params != 2 and plane is None:
            self.snapshots = Reservoir(
                len(self.runs),
                problem.n_params,
                getattr(problem, "n_buffers", 0) if problem.carries_buffers else 0,
                budget_bytes=snapshot_budget_bytes,
                dtype=self.backend.dtype,
                rows=self.total_rows,
            )
        self._reuse_source: Trainer | None = None
        # the reused runs' final parameters and buffers, once the source is let go
        self._reused_final: tuple[np.ndarray, np.ndarray | None] | None = None
        self.reused = self._copy_known_runs(reuse)  # run index -> the reused trainer's run
        self._lanes = self._build_lanes([i for i in range(len(runs)) if i not in self.reused])
        if not self._lanes:
            self.step = steps  # every run was known
            self.history.count = len(self.history.step)
            self._rows_flushed = self.history.count
            if self.snapshots is not None:
                self.snapshots.adopt_rows(reuse.snapshots)
        self._noise_block = (-1, None)
        self._extra_names: tuple[str, ...] = ()  # the evaluated columns (learned at row 0)
        self._flush_rows = max(1, PENDING_BYTES // max(self._pending_row_bytes(), 1))
        for lane in self._lanes:
            for unit in lane.units:
                if problem.carries_buffers:
                    unit.buffers = problem.initial_buffers([s.batch_norm for s in unit.specs])
                    unit.buffer_records.append(unit.buffers)
                unit.records.append(
                    _Record(unit.params, unit.params, unit.state, 0, unit.lr_host[0], None, None)
                )
        self._flush()

    def fresh(self, **changes) -> Trainer:
        """A new trainer of the same problem, runs and settings (none of its progress), with
        ``changes`` to the keyword settings (``window``, ``eval_every``, ``plane``…)."""
        settings = dict(
            seed=self.seed,
            gradient_noise=self.gradient_noise,
            record_every=self.record_every,
            diagnostics=self.diagnostics,
            window=self.window,
            eval_every=self.eval_every,
            snapshot_budget_bytes=self.snapshot_budget_bytes,
        )
        settings.update(changes)
        return Trainer(self.problem, self.runs, self.steps, **settings)

    # ---- setup ---------------------------------------------------------------------------
    def _new_history(self, labels: Sequence[str], rows: np.ndarray) -> History:
        problem = self.problem
        h = History.empty(labels, rows, self.diagnostics)
        if problem.extra_columns:
            h.extra_columns = tuple(problem.extra_columns)
        if problem.carries_buffers and hasattr(problem, "linear_layers"):
            names = tuple(name for name, _ in problem.linear_layers)
            h.layers = LayerRecords.empty(names, len(rows), len(labels))
            if problem.bn_layers:
                h.bn = BNRecords.empty(
                    problem.bn_layers, problem.bn_channels(), len(rows), len(labels)
                )
        return h

    def _pending_row_bytes(self) -> int:
        """Bytes the step loop keeps per recorded row until the flush: the new parameters,
        the gradient, the old parameters (shared with the previous row's new ones when
        every step is recorded), the buffers, and the optimizer state where diagnostics
        need it (two-parameter problems)."""
        p = self.problem.n_params
        per_run = 2 * p + (p if self.record_every > 1 else 0)
        per_run += getattr(self.problem, "n_buffers", 0)
        if p == 2:
            per_run += 4 * p
        return per_run * len(self.runs) * np.dtype(self.backend.dtype).itemsize

    def _copy_known_runs(self, other: Trainer | None) -> dict[int, int]:
        if other is None or not other.done:
            return {}
        shared = ("steps", "seed", "gradient_noise", "record_every", "diagnostics", "eval_every")
        if any(getattr(self, k) != getattr(other, k) for k in shared):
            return {}
        if other.backend.dtype != self.backend.dtype or not self.problem.same_as(other.problem):
            return {}
        if self.snapshots is not None:
            # a reused run's states are taken from the other's reservoir: it must end up
            # holding the rows this one will (the rule depends only on the capacity and the
            # rows offered; two capacities that both hold every row agree, whatever the
            # number of runs, so adding or removing a run still copies the others)
            theirs = other.snapshots
            if theirs is None or self._fixed_plane or other._fixed_plane:
                return {}
            if not self.snapshots.keeps_same_rows(theirs, self.total_rows):
                return {}
        known = {spec.path_key(): j for j, spec in enumerate(other.runs)}
        reused = {}
        for i, spec in enumerate(self.runs):
            j = known.get(spec.path_key())
            if j is not None:
                self.history.copy_run(i, other.history, j)
                reused[i] = j
        if reused:
            self._reuse_source = other
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
        return self.step >= self.steps and not self.cancelled

    def advance(self, max_steps: int) -> int:
        """Do up to ``max_steps`` more updates and record them; return how many were done."""
        if self.cancelled:
            raise RuntimeError("a cancelled trainer can't go on: its last rows are half recorded")
        end = min(self.steps, self.step + max(int(max_steps), 0))
        problem, seed = self.problem, self.seed
        record_every, steps = self.record_every, self.steps
        noise = self._noise if self.gradient_noise else None
        units = [unit for lane in self._lanes for unit in lane.units]
        block = min((unit.block for unit in units), default=end)
        # a network's recorded step keeps its loss, gradient and batch statistics; the
        # optimizer state only where the diagnostics use it (two parameters)
        network = problem.carries_buffers
        keep_state = problem.n_params == 2
        flush_rows, pending = self._flush_rows, 0
        if self.window:
            self._start_window(end)
        start = self.step
        # an update may overwrite the arrays it replaces (donate) only where no record holds
        # them (a record keeps the step's old and new arrays) and they were made in this call
        recorded_before = True
        with np.errstate(all="ignore"):
            while start < end:
                # one block of rates at a time (every unit's block is a multiple of this one)
                stop = min(end, start - start % block + block)
                for unit in units:
                    unit.base = unit.load_rates(start)
                for k in range(start, stop):
                    record = (k + 1) % record_every == 0 or k + 1 == steps
                    donate, recorded_before = not (record or recorded_before), record
                    for lane in self._lanes:
                        grads = lane.gradient(problem, seed, record and network)
                        if noise is not None:
                            grads = grads + noise(k)
                        for unit in lane.units:
                            g = grads if unit.lane_rows is None else grads[unit.lane_rows]
                            old = unit.params
                            i = k - unit.base
                            unit.params, unit.state = unit.update(
                                g, unit.state, old, unit.lr_table[i], donate
                            )
                            if record:
                                unit.records.append(
                                    _Record(
                                        old,
                                        unit.params,
                                        unit.state if keep_state else None,
                                        lane.epoch_done,
                                        unit.lr_host[i],
                                        g if network else None,
                                        lane.recorded if network else None,
                                    )
                                )
                                if unit.buffers is not None:
                                    unit.buffer_records.append(unit.buffers)
                    if record:
                        pending += 1
                        if pending >= flush_rows:  # memory bounded by the pending rows
                            self._flush()
                            pending = 0
                start = stop
        done = end - self.step
        self.step = end
        self._flush()
        if self.done:
            for unit in units:
                unit.optimizer.release_scratch()
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
        self.history = self._new_history(old.labels, rows)
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
        units = [unit for lane in self._lanes for unit in lane.units]
        n_new = len(units[0].records) if units else 0
        rows = slice(first, first + n_new)
        finite = np.ones((n_new, h.n_runs), bool)  # a network's: parameters and losses
        kept = slots = None
        if self.snapshots is not None and n_new:
            kept, slots = self.snapshots.admit(h.step[rows])
        if kept is not None and len(kept) and self._reuse_source is not None:
            # a reused run's states come from the trainer it was copied from
            mine = list(self.reused)
            theirs = [self.reused[i] for i in mine]
            self.snapshots.copy_slots(slots, mine, self._reuse_source.snapshots, theirs)
        with np.errstate(all="ignore"), self._cancelling():
            for unit in units:
                records = unit.records
                if not records:
                    continue
                new = xp.stack([r.new for r in records])  # (T, R_u, P)
                t, r_u, p = new.shape
                cols = unit.cols
                buffers = None
                if self.problem.carries_buffers:
                    buffers = xp.stack(unit.buffer_records)  # (T, R_u, Q)
                    unit.buffer_records.clear()
                    finite[:, cols] = self._flush_network(unit, rows, records, new, buffers)
                else:
                    loss, grad = self.problem.loss_and_grad(new.reshape(t * r_u, p))
                    grad_norm = xp.sqrt(xp.einsum("ij,ij->i", grad, grad)).reshape(t, r_u)
                    h.loss[rows, cols] = to_host(loss).reshape(t, r_u)
                    h.grad_norm[rows, cols] = to_host(grad_norm)
                    if self.diagnostics and p == 2:
                        h.grad[rows, cols] = to_host(grad).reshape(t, r_u, 2)
                if kept is not None and len(kept):
                    self.snapshots.store(
                        slots,
                        cols,
                        to_host(new[kept]),
                        None if buffers is None else to_host(buffers[kept]),
                    )
                lr = np.stack([r.rate for r in records])  # the rate of the update into the row
                coords = self._coords(new.reshape(-1, p)).reshape(t, r_u, 2)
                h.coords[rows, cols] = coords
                h.lr[rows, cols] = lr
                h.epoch[rows, cols] = np.asarray([r.epoch for r in records], float)[:, None]
                if self.diagnostics:
                    self._flush_diagnostics(unit, rows, records, new, coords, lr)
                records.clear()
        h.count = first + n_new
        self._rows_flushed += n_new
        self._mark_divergence(first, h.count, finite)
        if self.done and self.problem.n_params != 2 and not self._plane_done:
            self._plane_done = True
            if self._fixed_plane:
                self._finish_fixed_plane()
            else:
                self._copy_reused_states()
                if self.own_plane:
                    self.finish_plane()
        if self.done:
            self._release_source()

    @contextmanager
    def _cancelling(self):
        """A ``Cancelled`` raised inside leaves this trainer ``cancelled`` (see ``__init__``)."""
        try:
            yield
        except Cancelled:
            self.cancelled = True
            raise

    def _release_source(self) -> None:
        """Keep the reused runs' final states and let go of the trainer they were copied
        from (its rows are in this history and reservoir by now): else every edit in the
        app would keep all the earlier trainers alive, each the source of the next."""
        source = self._reuse_source
        if source is None:
            return
        self._reused_final = self._reused_states()
        self._reuse_source = None

    def _reused_states(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The final parameters ``(len(reused), P)`` and buffers of the reused runs, in the
        order of ``reused``."""
        if self._reuse_source is None:
            return self._reused_final
        params, buffers = self._reuse_source.final_state()
        theirs = list(self.reused.values())
        return params[theirs], None if buffers is None else buffers[theirs]

    _plane_done = False  # the end's plane work done (fixed plane, or reservoir completed)
    _plane_chosen = False  # finish_plane done

    def _coords(self, params):
        """The drawn coordinates of states ``(M, P)``: the problem's, or their projection on
        the fixed plane (host ``(M, 2)``)."""
        if self._fixed_plane:
            coords = self.plane.project(self.backend.to_host(params))
            if len(coords):
                finite = np.isfinite(coords).all(axis=1)
                if finite.any():
                    self._bounds += [coords[finite].min(axis=0), coords[finite].max(axis=0)]
                    self._bounds = [np.min(self._bounds, axis=0), np.max(self._bounds, axis=0)]
            return coords
        return self.backend.to_host(self.problem.coords(params))

    def _flush_network(self, unit, rows, records, new, buffers) -> np.ndarray:
        """A network's rows of one unit: the full-split evaluation at the rows it is due
        (``eval_every``), the minibatch loss, per-layer norms and batch-norm statistics;
        returns which (row, run) are finite (parameters and losses)."""
        h, problem = self.history, self.problem
        xp, to_host = self.backend.xp, self.backend.to_host
        t, r_u, p = new.shape
        cols = unit.cols
        index = np.arange(h.n_runs)[cols]
        steps = h.step[rows]
        order = self._rows_flushed + np.arange(t)  # rows over every window
        due = np.flatnonzero((order % self.eval_every == 0) | (steps == self.steps))
        for name in self._extra_names:
            h.extra.setdefault(name, np.full(h.loss.shape, np.nan))
        finite = np.isfinite(to_host(xp.einsum("trp,trp->tr", new, new)))
        if due.size:
            at = np.ix_(rows.start + due, index)
            loss, grad, extra = problem.evaluate_rows(
                new[due].reshape(-1, p),
                buffers[due].reshape(len(due) * r_u, -1),
                should_stop=self.should_stop,
            )
            loss = to_host(loss).reshape(len(due), r_u)
            h.loss[at] = loss
            grad_norm = xp.sqrt(xp.einsum("ij,ij->i", grad, grad))
            h.grad_norm[at] = to_host(grad_norm).reshape(len(due), r_u)
            finite[due] &= np.isfinite(loss)
            if not self._extra_names:
                self._extra_names = tuple(extra)
            for name, values in extra.items():
                column = h.extra.setdefault(name, np.full(h.loss.shape, np.nan))
                column[at] = to_host(values).reshape(len(due), r_u)
        # the minibatch's loss and statistics of the update into each row (none at row 0)
        nan = float("nan")
        lane_rows = unit.lane_rows
        updated = [j for j, r in enumerate(records) if r.batch is not None]
        batch_loss = h.extra.setdefault("batch_loss", np.full(h.loss.shape, np.nan))
        if updated:
            at = np.ix_(rows.start + np.array(updated), index)
            losses = xp.stack([records[j].batch[0] for j in updated])  # (T', R_lane)
            if lane_rows is not None:
                losses = losses[:, lane_rows]
            batch_loss[at] = to_host(losses)
            finite[updated] &= np.isfinite(batch_loss[at])
        layers = h.layers
        if layers is not None:
            olds = xp.stack([r.old for r in records])
            grads = [r.grad for r in records]
            zero = None
            if any(g is None for g in grads):  # row 0: no update yet
                zero = xp.zeros_like(new[0])
                grads = [zero if g is None else g for g in grads]
            grads = xp.stack(grads)
            for layer, (_, w) in enumerate(problem.linear_layers):
                norm = xp.sqrt(xp.einsum("trp,trp->tr", new[..., w], new[..., w]))
                before = xp.sqrt(xp.einsum("trp,trp->tr", olds[..., w], olds[..., w]))
                step = new[..., w] - olds[..., w]
                moved = xp.sqrt(xp.einsum("trp,trp->tr", step, step))
                gnorm = xp.sqrt(xp.einsum("trp,trp->tr", grads[..., w], grads[..., w]))
                layers.weight_norm[rows, cols, layer] = to_host(norm)
                layers.grad_norm[rows, cols, layer] = to_host(gnorm)
                layers.update_ratio[rows, cols, layer] = to_host(moved / before)
            if zero is not None:
                first_rows = [rows.start + j for j, r in enumerate(records) if r.grad is None]
                layers.grad_norm[np.ix_(first_rows, index)] = nan
                layers.update_ratio[np.ix_(first_rows, index)] = nan
        bn = h.bn
        if bn is not None:
            c = len(bn.channels)
            for field, values in (("mean", bn.running_mean), ("var", bn.running_var)):
                values[rows, cols] = to_host(buffers[..., problem.running_index(field)])
            if updated:
                at = np.ix_(rows.start + np.array(updated), index)
                for part, values in ((0, bn.batch_mean), (1, bn.batch_var)):
                    stacked = xp.stack(
                        [
                            xp.stack([stats[part][:, :c] for stats in records[j].batch[1]], axis=1)
                            for j in updated
                        ]
                    )  # (T', R_lane, layers, channels)
                    if lane_rows is not None:
                        stacked = stacked[:, lane_rows]
                    values[at] = to_host(stacked)
        return finite

    def _choose_plane(self):
        """The trajectory plane of the reservoir's states (every run's; through the runs'
        common start when they share one, so that it sits at (0, 0), else their mean), or
        None when they span less than a plane."""
        from engine.plane import trajectory_plane

        steps, params, _ = self.snapshots.view()
        finite = self._usable_rows(steps, params)  # (K, R): a diverged run's tail is not
        if finite.sum() < 3:
            return None  # fewer than three states span no plane (every run diverged at once)
        starts = params[0][finite[0]]
        origin = starts[0] if len(starts) and np.all(starts == starts[0]) else None
        try:
            if finite.sum() * params.shape[2] <= EXACT_PLANE_VALUES:
                return trajectory_plane(params[finite], origin=origin)
            return _iterative_plane(params, finite, origin, self.seed)
        except ValueError:
            return None  # every path on one line (or a single point)

    def _copy_reused_states(self) -> None:
        """The reused runs' states into the reservoir, from the trainer they were copied
        from (once training is done; the rows it kept are the rows this one keeps)."""
        if self._reuse_source is not None:
            theirs = self._reuse_source.snapshots
            for i, j in self.reused.items():
                self.snapshots.copy_run(i, theirs, j)

    def finish_plane(self) -> None:
        """The drawn coordinates of a larger model, once training is done (at its end, or
        when asked after ``own_plane=False``; once): the trajectory plane of the reservoir's
        states (``_choose_plane``), every recorded row projected on it when the reservoir
        kept them all (``coords_exact``); after thinning, the rows it kept are projected and
        the rows between follow straight lines between them (the headless runner replays
        the training to project every row instead)."""
        if not self.done or self.snapshots is None or self._plane_chosen:
            return
        self._plane_chosen = True
        plane = self._choose_plane()
        if plane is None:
            return  # the coordinates stay 0
        self.plane = plane
        h, (steps, params, _) = self.history, self.snapshots.view()
        finite = self._usable_rows(steps, params)
        coords = _project_rows(plane, params, finite)
        if not self.window:
            self.coords_exact = self.snapshots.complete
            rows = np.searchsorted(h.step, steps)
            # written into a new array that replaces the old in one assignment: a snapshot
            # published earlier shares this history, and a reader of it on another thread
            # (an export) sees either the old coordinates or the new, never half of each
            drawn_coords = h.coords.copy()
            for run in range(h.n_runs):
                upto = h.rows_of(run)
                if self.coords_exact:
                    drawn_coords[:upto, run] = coords[:upto, run]
                    continue
                ok = finite[:, run]
                for axis in (0, 1):
                    drawn_coords[:upto, run, axis] = np.interp(
                        h.step[:upto], h.step[rows[ok]], coords[ok, run, axis]
                    )
            h.coords = drawn_coords
        drawn = coords[finite]
        self._set_drawing(drawn.min(axis=0), drawn.max(axis=0))

    def _usable_rows(self, steps, params) -> np.ndarray:
        """Which of the reservoir's states ``(K, R)`` the plane is chosen from and drawn:
        finite ones before their run diverged. The state a run diverges at may still be
        finite (weights of 1e200, whose squares overflow): one such state would make the
        plane's SVD overflow and every run's path vanish with it."""
        diverged = self.history.diverged_at
        late = (diverged >= 0) & (np.asarray(steps)[:, None] >= diverged)
        return _finite_rows(params) & ~late

    def _finish_fixed_plane(self) -> None:
        if self._bounds:
            self._set_drawing(*self._bounds)

    def _set_drawing(self, low, high) -> None:
        """The problem's plane, drawn rectangle (every path, with a margin) and the running
        statistics batch norm uses on it (the first finite run's final ones)."""
        problem = self.problem
        problem.plane = self.plane
        if hasattr(problem, "view"):
            from engine.problems.base import View

            margin = np.maximum((high - low) * 0.15, 1e-3)
            problem.view = View(
                low[0] - margin[0], high[0] + margin[0], low[1] - margin[1], high[1] + margin[1]
            )
        if problem.carries_buffers:
            buffers = self.final_state()[1]
            finite_runs = np.isfinite(buffers).all(axis=1)
            if finite_runs.any():
                run = int(np.argmax(finite_runs))
                problem.surface_buffers = buffers[run]
                problem.surface_buffers_of = f"run {run} '{self.history.labels[run]}'"

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
        if self.reused:  # copied runs: the source's
            their_params, their_buffers = self._reused_states()
            mine = list(self.reused)
            params[mine] = their_params
            if buffers is not None:
                buffers[mine] = their_buffers
        return params, buffers

    def _flush_diagnostics(self, unit, rows, records, new, coords, lr) -> None:
        """Update vectors, momentum and effective step sizes of a chunk's recorded rows."""
        h, xp, to_host = self.history, self.backend.xp, self.backend.to_host
        t, r_u, p = new.shape
        cols = unit.cols
        old_coords = self._coords(xp.stack([r.old for r in records]).reshape(-1, p))
        h.update[rows, cols] = coords - old_coords.reshape(t, r_u, 2)
        if p != 2:
            return  # per-parameter quantities of a network have no place on the plane
        state = _stack_states(xp, [r.state for r in records])
        lr_dev = self.backend.asarray(lr[:, :, None])
        velocity = unit.optimizer.velocity(state, lr_dev)
        if velocity is not None:
            h.velocity[rows, cols] = to_host(velocity + new * 0)
        h.step_size[rows, cols] = to_host(unit.optimizer.step_size(state, lr_dev) + new * 0)
        if h.step[rows.start] == 0:  # row 0 (a windowed history starts every window at 0)
            h.step_size[0, cols] = np.nan  # no gradient seen yet
            h.velocity[0, cols] = np.nan if velocity is None else 0.0

    def _mark_divergence(self, first: int, end: int, finite_rows: np.ndarray) -> None:
        """A run diverges at its first row whose state or loss is not finite: the drawn
        coordinates and full-split loss; a network's parameters and minibatch loss (its
        full-split loss only where evaluated)."""
        h = self.history
        finite = np.isfinite(h.coords[first:end]).all(axis=2) & finite_rows
        if not self.problem.carries_buffers:
            finite &= np.isfinite(h.loss[first:end])
        for run in np.flatnonzero((h.diverged_at < 0) & ~finite.all(axis=0)):
            row = first + int(np.argmin(finite[:, run]))
            h.diverged_at[run] = h.step[row]


def _finite_rows(params) -> np.ndarray:
    """Which of the reservoir's states ``(K, R, P)`` are finite: ``(K, R)`` (row by row, no
    temporary the size of the reservoir)."""
    return np.array([np.isfinite(row).all(axis=1) for row in params], bool).reshape(
        params.shape[:2]
    )


def _project_rows(plane, params, finite) -> np.ndarray:
    """The coordinates ``(K, R, 2)`` of the reservoir's states on ``plane`` (NaN where not
    finite), a block of states at a time: float64 copies of them all would double the
    reservoir's memory."""
    k, r, p = params.shape
    coords = np.full((k, r, 2), np.nan)
    block = max(1, (1 << 19) // (r * p))
    for at in range(0, k, block):
        rows = params[at : at + block]
        ok = finite[at : at + block]
        coords[at : at + block][ok] = plane.project(rows[ok])
    return coords


def _iterative_plane(params, finite, origin, seed: int, rank: int = 6, iterations: int = 12):
    """The top two principal directions of the finite states ``params[finite]`` about
    ``origin`` (their mean when None), by subspace iteration over blocks of states: memory
    of a block and a few ``(P, rank)`` bases, never a copy of them all (an SVD of 3,500 ×
    9,000 states would take 500 MB and a minute here). Converges as (σ₇/σ₂)^(2·iterations);
    the directions are then exact to float tolerance for a trajectory's spectrum."""
    from engine.plane import oriented_plane

    points = np.flatnonzero(finite.reshape(-1))
    flat = params.reshape(-1, params.shape[2])
    centre = (
        np.mean([flat[i].astype(float) for i in points], axis=0)
        if origin is None
        else np.asarray(origin, float)
    )
    block = max(1, (1 << 19) // params.shape[2])

    def blocks():
        for at in range(0, len(points), block):
            yield flat[points[at : at + block]].astype(float) - centre

    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((params.shape[2], rank)))[0]
    for _ in range(iterations):
        product = np.zeros_like(basis)
        for x in blocks():
            product += x.T @ (x @ basis)
        basis = np.linalg.qr(product)[0]
    projected = np.concatenate([x @ basis for x in blocks()])  # (M, rank)
    _, s, vt = np.linalg.svd(projected, full_matrices=False)
    if len(s) < 2 or not s[1] > 1e-12 * max(s[0], 1e-300):
        raise ValueError("the recorded points span less than a plane")
    directions = basis @ vt[:2].T
    coords = projected @ vt[:2].T  # the points along the two directions
    return oriented_plane(centre, directions[:, 0], directions[:, 1], coords)


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
