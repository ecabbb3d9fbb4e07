"""A network on a data set as the trainer's ``Problem``: an ``MLP`` over a train/validation split.

The trainer's contract for problems (``engine.problems.base``) is widened here by *buffers*:
batch norm's running statistics, one ``(R, Q)`` array beside the ``(R, P)`` parameters. The
minibatch gradient runs in training mode and returns the updated buffers
(``batch_grad_buffers``); the optimizer only ever sees the parameters. Recorded rows are
evaluated in evaluation mode (``evaluate_rows``): loss, gradient and accuracy on the whole
training split, loss and accuracy on the validation split.

The two drawn coordinates of a network are its position on a plane of weight space chosen
after training (the trajectory plane of every run, ``engine.plane``); during training
``coords`` is a placeholder of zeros and the trainer fills the real ones in at the end.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.datasets import Split
from engine.problems.base import Problem, View
from engine.problems.mlp import MLP

#: the extra CSV columns of a network's rows, in order
EXTRA_COLUMNS = ("accuracy", "val_loss", "val_accuracy")


class MLPProblem(Problem):
    """Cross-entropy of an MLP over the training split of ``split``."""

    carries_buffers = True
    extra_columns = EXTRA_COLUMNS

    def __init__(
        self, backend: Backend, model: MLP, split: Split, start: np.ndarray, buffers: np.ndarray
    ):
        super().__init__(backend)
        self.model = model
        self.split = split
        self.n_params = model.n_params
        self.n_buffers = model.n_buffers
        self.n_examples = len(split.y_train)
        self.start = np.asarray(start, float)
        self.start_buffers = np.asarray(buffers, float)
        self.axis_names = ("a", "b")
        xp = self.xp
        self._x = model.asarray(split.x_train)
        self._y = xp.asarray(split.y_train)
        self._x_val = model.asarray(split.x_val)
        self._y_val = xp.asarray(split.y_val)
        self.plane = None  # set by the trainer once every path is known
        # the running statistics batch norm uses on the drawn plane (the trainer sets the
        # first run's final ones)
        self.surface_buffers = self.start_buffers
        self.surface_buffers_of: str | None = None  # whose they are ("run 0 'sgd'"), said
        self.view = View(-1.0, 1.0, -1.0, 1.0)  # the trainer fits it to the projected paths

    def same_as(self, other: Problem) -> bool:
        """The same network, data split and start (so a run's path is the same on both):
        what lets the app reuse the unchanged runs of an edited experiment."""
        if other is self:
            return True
        if not isinstance(other, MLPProblem) or other.xp is not self.xp:
            return False
        a, b = self.model, other.model
        settings = (
            "widths", "activation", "batch_norm", "switchable", "bn_momentum", "bn_eps", "dtype"
        )  # fmt: skip
        if any(getattr(a, key) != getattr(b, key) for key in settings):
            return False
        mine = (self.split.x_train, self.split.y_train, self.split.x_val, self.split.y_val)
        theirs = (other.split.x_train, other.split.y_train, other.split.x_val, other.split.y_val)
        pairs = [*zip(mine, theirs, strict=True)]
        pairs += [(self.start, other.start), (self.start_buffers, other.start_buffers)]
        return all(x.shape == y.shape and np.array_equal(x, y) for x, y in pairs)

    # ---- training ------------------------------------------------------------------------
    def prepare(self, micro_batches):
        """Each micro-batch as its examples' indices on the device (gathered at the step, so
        a prepared epoch costs indices, not copies of the features)."""
        xp = self.xp
        return [xp.asarray(np.asarray(mb, dtype=np.int64)) for mb in micro_batches]

    def batch_grad_buffers(self, params, buffers, prepared, record: dict | None = None):
        """Training mode on one micro-batch: ``(grads (R, P), new buffers (R, Q))``.
        ``record`` (a recorded step's): gets ``"loss"``, the minibatch loss ``(R,)``, and
        ``"bn"``, per batch-norm layer the batch's ``(mean, biased var)`` ``(R, H)``."""
        x = self.xp.take(self._x, prepared, axis=0)
        y = self.xp.take(self._y, prepared)
        stats = None if record is None else []
        loss, grads, new_buffers = self.model.batch_grad(params, buffers, x, y, stats=stats)
        if record is not None:
            record["loss"] = loss
            record["bn"] = stats
        return grads, new_buffers

    def batch_grad(self, params, prepared):
        buffers = self._start_buffers_for(params.shape[0])
        return self.batch_grad_buffers(params, buffers, prepared)[0]

    def _start_buffers_for(self, runs: int):
        """The start's buffers for ``runs`` runs that all use the network's batch norm."""
        return self.initial_buffers([True] * runs)

    def initial_buffers(self, normalizes):
        """Every run's buffers at the start, ``(R, Q)`` on the device, from each run's
        ``RunSpec.batch_norm`` ``(R,)`` (a switchable network's switch; else all true)."""
        runs = len(normalizes)
        start = np.broadcast_to(self.start_buffers, (runs, self.n_buffers))
        return self.xp.asarray(self.model.switched(normalizes, start), dtype=self.model.dtype)

    def loss_and_grad(self, params):
        """Evaluation mode at the start's running statistics (for callers without buffers)."""
        result = self.model.evaluate(
            params, self._start_buffers_for(params.shape[0]), self._x, self._y, grad=True
        )
        return result.loss, result.grads

    #: activations (states × examples × widest layer) evaluated at once by ``evaluate_rows``:
    #: a dozen arrays of this size live during a backward pass (4 MB each in float32)
    EVAL_ELEMENTS = 1 << 20

    def evaluate_rows(self, params, buffers, should_stop=None):
        """Evaluation mode at ``M`` states ``(M, P)``, ``(M, Q)``: the training split's loss
        ``(M,)`` and gradient ``(M, P)``, and the extra columns (``(M,)`` each; the validation
        ones only when there is a validation split). ``should_stop``: see ``MLP.evaluate``
        (true raises ``Cancelled``)."""
        params = self.xp.asarray(params, dtype=self.model.dtype)
        buffers = self.xp.asarray(buffers, dtype=self.model.dtype)
        chunk, model = self.EVAL_ELEMENTS, self.model
        train = model.evaluate(params, buffers, self._x, self._y, True, chunk, should_stop)
        extra = {"accuracy": train.accuracy}
        if self.split.has_validation:
            val = model.evaluate(
                params, buffers, self._x_val, self._y_val, False, chunk, should_stop
            )
            extra["val_loss"] = val.loss
            extra["val_accuracy"] = val.accuracy
        return train.loss, train.grads, extra

    # ---- per-layer records -----------------------------------------------------------------
    @property
    def linear_layers(self) -> tuple[tuple[str, slice], ...]:
        """``(name, slice of the flat parameters)`` of every Linear layer's weight matrix."""
        return tuple(
            (e.name.removesuffix(".weight"), slice(e.offset, e.stop))
            for e in self.model.layout.params
            if e.name.startswith("linear") and e.name.endswith(".weight")
        )

    @property
    def bn_layers(self) -> tuple[str, ...]:
        """The batch-norm layers' names, in order (``bn0``, …); empty without batch norm."""
        return tuple(
            e.name.removesuffix(".running_mean")
            for e in self.model.layout.buffers
            if e.name.endswith(".running_mean")
        )

    #: batch-norm channels recorded per layer (the first ones)
    RECORDED_CHANNELS = 4

    def bn_channels(self) -> tuple[int, ...]:
        """The channels recorded of every batch-norm layer: the first ≤ 4 of the narrowest."""
        layers = self.bn_layers
        if not layers:
            return ()
        width = min(self.model.layout[f"{name}.running_mean"].size for name in layers)
        return tuple(range(min(self.RECORDED_CHANNELS, width)))

    def running_index(self, field: str) -> np.ndarray:
        """Where the recorded channels' running ``field`` ("mean" or "var") sit in the
        buffers: ``(n_bn_layers, n_channels)`` indices."""
        channels = np.array(self.bn_channels(), dtype=int)
        return np.array(
            [
                self.model.layout[f"{name}.running_{field}"].offset + channels
                for name in self.bn_layers
            ],
            dtype=int,
        ).reshape(len(self.bn_layers), len(channels))

    # ---- drawing -------------------------------------------------------------------------
    def coords(self, params):
        """Zeros while training (finite, so that divergence is judged by the loss); the
        trainer projects every recorded state on the trajectory plane at the end."""
        return self.xp.zeros((params.shape[0], 2), dtype=params.dtype)

    #: grid points per axis the loss is evaluated at; a finer grid asked for is interpolated
    #: (a point costs the later layers over every training example: 101 × 101 of them over
    #: the digits take under a second with the shared first layer, 320 × 320 ten times that)
    SURFACE_POINTS = 101

    def surface(self, w1, w2):
        """The evaluation-mode training loss over the plane (the trajectory plane once the
        trainer has set it), batch norm with ``surface_buffers``: evaluated on a grid of at
        most ``SURFACE_POINTS`` per axis spanning the same range, interpolated bilinearly."""
        from engine.plane import mlp_grid_loss  # plane imports the MLP: no cycle at import

        w1, w2 = np.asarray(w1, float), np.asarray(w2, float)
        if self.plane is None:
            return np.full((len(w2), len(w1)), np.nan)
        a = _coarse(w1, self.SURFACE_POINTS)
        b = _coarse(w2, self.SURFACE_POINTS)
        loss, _ = mlp_grid_loss(
            self.model, self.plane, self.surface_buffers, self.split.x_train,
            self.split.y_train, a, b,
        )  # fmt: skip
        loss = np.asarray(loss, float)
        if len(a) == len(w1) and len(b) == len(w2):
            return loss
        # bilinear: along a for every coarse row, then along b for every fine column
        rows = np.stack([np.interp(w1, a, row) for row in loss])  # (len(b), len(w1))
        return np.stack([np.interp(w2, b, col) for col in rows.T], axis=1)

    def default_view(self) -> View:
        return self.view

    @property
    def subtitle(self) -> str:
        """What the drawn surface is (figures put it under the title)."""
        widths = "-".join(str(w) for w in self.model.widths)
        text = f"MLP {widths}: training loss (eval mode) on the runs' trajectory plane"
        if self.model.batch_norm and self.surface_buffers_of:
            if self.model.normalizes(self.surface_buffers):
                text += f"; batch norm with the running statistics of {self.surface_buffers_of}"
            else:
                text += f"; the network without batch norm, as {self.surface_buffers_of} trains"
        return text

    def weights(self, params, buffers) -> dict[str, np.ndarray]:
        """Every run's arrays named as ``params.npz`` holds them: ``run{r}.linear0.weight``…
        (PyTorch layouts), from host ``(R, P)`` and ``(R, Q)``."""
        out: dict[str, np.ndarray] = {}
        for r in range(len(params)):
            out.update(self.model.weights_dict(params[r], buffers[r], prefix=f"run{r}."))
        return out


def _coarse(values: np.ndarray, points: int) -> np.ndarray:
    """``values`` itself when short enough, else ``points`` evenly spaced over its range."""
    if len(values) <= points:
        return values
    return np.linspace(values.min(), values.max(), points)
