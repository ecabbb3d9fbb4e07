"""A multilayer perceptron for R runs at once, with hand-written backward passes.

The model is PyTorch's ``nn.Sequential(Linear, [BatchNorm1d], activation, …, Linear)`` with
``CrossEntropyLoss`` (mean over the batch). Each run's parameters are one row of a flat
``(R, P)`` array, so every optimizer, schedule and sweep works on networks unchanged; batch
norm's running statistics are *buffers*, a second ``(R, Q)`` array that the forward pass in
training mode updates and the optimizer never sees. A ``Layout`` names the pieces of both
(PyTorch's names and shapes: ``linear{i}.weight`` is out × in) and gives per-layer views.

Speed comes from the runs axis. Every run sees the same minibatch ``X``, so each layer is
one batched product over the runs, ``W (R, out, in) @ A (R, in, B)``, the first against the
shared ``Xᵀ (in, B)``; the weights are views of the ``(R, P)`` rows (BLAS's batched products
take the runs' stride P as it is) and the weight gradients are written straight into the
gradients' rows. Activations are channels-major, ``(R, H, B)``: no operand is transposed, and
the sums and maxima over the batch or the classes run along the contiguous example axis.
There is no Python loop over runs, and the number of array calls per step does not grow with
R (small-model steps are bound by calls, not FLOPs).

Batch norm (train mode) over the batch axis of ``z`` (R, H, B), per run and channel:

    μ = mean z,  σ² = mean (z − μ)²  (biased),  ẑ = (z − μ)/√(σ² + ε),  y = γẑ + β
    running_mean ← (1 − m)·running_mean + m·μ
    running_var  ← (1 − m)·running_var  + m·σ²·B/(B − 1)   (unbiased; B = 1: σ² itself, 0)

and its backward, with g = ∂L/∂y:  ∂γ = Σ g ẑ,  ∂β = Σ g,
``∂z = γ/√(σ² + ε) · (g − ∂β/B − ẑ·∂γ/B)``. Evaluation mode uses the running statistics, which
makes batch norm a per-channel affine map. With B = 1 every ẑ is 0: each activation is β
(PyTorch refuses that batch; here it is allowed, for the lesson, and the caller warns).

Batch norm per run (``switchable``): an experiment may train some runs of a batch-norm
network without it (``batch_norm = false`` in a run), to compare the two on the same curves
and plane. Every run then has the batch-norm layout, and one more buffer, ``batch_norm.on``
(1 or 0): a run whose switch is 0 skips every normalization (its layer output is z itself,
its γ and β get no gradient and its running statistics stay as they started). The switch is
a buffer because buffers go wherever a run's state goes (an evaluation, a slice, a decision
boundary); it is never written to a weights file, nor are a switched-off run's batch-norm
arrays. A network without the switch computes exactly what it did before it existed.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine.backend import STREAM_INIT, host_rng
from engine.problems.base import stop_if_asked

ACTIVATIONS = ("relu", "tanh", "sigmoid")


class WeightsError(ValueError):
    """A weights file that doesn't fit the network, naming the array (one line)."""


# ---- the layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One named array: where it lives in the flat parameters (trainable) or buffers."""

    name: str
    shape: tuple[int, ...]
    offset: int
    trainable: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    """Names, shapes and offsets of a network's parameters (in PyTorch's ``named_parameters``
    order) and buffers; ``view`` gives an array's ``(R, *shape)`` view of a flat ``(R, ·)``."""

    entries: tuple[Entry, ...]

    @property
    def params(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.trainable)

    @property
    def buffers(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if not e.trainable)

    @property
    def n_params(self) -> int:
        return sum(e.size for e in self.params)

    @property
    def n_buffers(self) -> int:
        return sum(e.size for e in self.buffers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    def __getitem__(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def norms(self, flat, trainable: bool = True):
        """The L2 norm of every parameter array (or buffer) of every run: ``(R, entries)``,
        columns in the order of ``params`` (or ``buffers``); one reduction for all of them."""
        entries = self.params if trainable else self.buffers
        starts = np.array([e.offset for e in entries])
        return np.sqrt(np.add.reduceat(np.square(np.asarray(flat)), starts, axis=-1))

    def view(self, flat, name: str):
        """The array ``name`` of every run: ``(R, *shape)``, a view of ``flat`` (R, P or Q)."""
        e = self[name]
        return flat[..., e.offset : e.stop].reshape((*flat.shape[:-1], *e.shape))


#: the buffer that says whether a run of a switchable network normalizes (1) or not (0)
SWITCH = "batch_norm.on"


def _build_layout(widths: list[int], batch_norm: bool, switchable: bool = False) -> Layout:
    entries = []
    p = q = 0
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        linear = ((f"linear{i}.weight", (fan_out, fan_in)), (f"linear{i}.bias", (fan_out,)))
        for name, shape in linear:
            entries.append(Entry(name, shape, p, True))
            p += math.prod(shape)
        if batch_norm and i < len(widths) - 2:
            for name in (f"bn{i}.weight", f"bn{i}.bias"):
                entries.append(Entry(name, (fan_out,), p, True))
                p += fan_out
            for name in (f"bn{i}.running_mean", f"bn{i}.running_var"):
                entries.append(Entry(name, (fan_out,), q, False))
                q += fan_out
    if batch_norm and switchable and len(widths) > 2:
        entries.append(Entry(SWITCH, (1,), q, False))
    return Layout(tuple(entries))


def array_names(hidden_layers: int, batch_norm: bool) -> tuple[str, ...]:
    """The names of a network's arrays in a weights file (they depend on its depth and batch
    norm only): ``linear0.weight``, ``linear0.bias``, ``bn0.weight``, …"""
    return _build_layout([1] * (hidden_layers + 2), batch_norm).names


def parameter_count(widths: list[int], batch_norm: bool = False) -> int:
    """The trainable parameters of a network of ``widths`` = (inputs, hidden…, classes),
    counted from its layout (no array is made)."""
    return _build_layout(list(widths), batch_norm and len(widths) > 2).n_params


# ---- results ---------------------------------------------------------------------------------


class Evaluation(NamedTuple):
    """Full-split results in evaluation mode, one value per run (``grads`` when asked)."""

    loss: object  # (R,)
    accuracy: object  # (R,)
    grads: object  # (R, P) or None


class _Layer(NamedTuple):
    """Offsets of one Linear (+ BatchNorm) block, precomputed: a step slices, never looks up."""

    fan_in: int
    fan_out: int
    w: slice
    b: slice
    gamma: slice | None
    beta: slice | None
    running_mean: slice | None
    running_var: slice | None


# ReLU's arrays of zeros are kept for activations up to this size (4 MB in float32)
ZEROS_CACHED = 1 << 20


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---- the model -------------------------------------------------------------------------------


class MLP:
    """``in → hidden[0] → … → classes`` with an activation (and optional batch norm) after
    every hidden Linear; the arrays it is given carry the runs axis first."""

    def __init__(
        self,
        n_inputs: int,
        hidden: list[int] | tuple[int, ...],
        n_classes: int,
        activation: str = "relu",
        batch_norm: bool = False,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        xp=np,
        dtype=np.float32,
        switchable: bool = False,
    ):
        """``switchable``: batch norm can be off for some runs (``SWITCH``, in the module's
        docstring); only with ``batch_norm``."""
        for key, value, least in (("n_inputs", n_inputs, 1), ("n_classes", n_classes, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{key} must be an integer ≥ {least}, got {value!r}")
        hidden = list(hidden)
        for i, width in enumerate(hidden):
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ValueError(
                    f"hidden widths must be integers ≥ 1, got {width!r} at position {i}"
                )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}"
            )
        if not _is_number(bn_momentum) or not 0 <= bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be a number in [0, 1], got {bn_momentum!r}")
        if not _is_number(bn_eps) or not bn_eps > 0:
            raise ValueError(f"bn_eps must be a number > 0, got {bn_eps!r}")
        self.widths = [n_inputs, *hidden, n_classes]
        self.hidden = hidden
        self.activation = activation
        self.batch_norm = bool(batch_norm) and bool(hidden)
        self.bn_momentum = float(bn_momentum)
        self.bn_eps = float(bn_eps)
        self.xp = xp
        self.dtype = np.dtype(dtype)
        self.switchable = self.batch_norm and bool(switchable)
        self.layout = _build_layout(self.widths, self.batch_norm, self.switchable)
        self._switch = None
        self._plain: MLP | None = None  # ``without_batch_norm``'s, made once
        if self.switchable:
            e = self.layout[SWITCH]
            self._switch = slice(e.offset, e.stop)
        self.n_params = self.layout.n_params
        self.n_buffers = self.layout.n_buffers
        self._layers = [self._layer(i) for i in range(len(self.widths) - 1)]
        self._ones_cache: dict[int, object] = {}
        self._zeros_cache: dict[tuple, np.ndarray] = {}
        self._rows_cache: dict[tuple[int, int, int], object] = {}

    def _layer(self, i: int) -> _Layer:
        lay = self.layout

        def at(name):
            if name not in lay.names:
                return None
            e = lay[name]
            return slice(e.offset, e.stop)

        return _Layer(
            self.widths[i],
            self.widths[i + 1],
            at(f"linear{i}.weight"),
            at(f"linear{i}.bias"),
            at(f"bn{i}.weight"),
            at(f"bn{i}.bias"),
            at(f"bn{i}.running_mean"),
            at(f"bn{i}.running_var"),
        )

    def tiny_batch_warning(self, batch_size: int) -> str | None:
        """The warning line for a batch of one with batch norm (allowed, and worth seeing),
        or None when the batch is fine."""
        if not self.batch_norm or batch_size > 1:
            return None
        return (
            "batch_size 1 with batch norm: each example is normalized by its own statistics "
            "(mean = itself, variance 0), so every hidden layer outputs β whatever the input; "
            "PyTorch refuses such a batch in training mode"
        )

    # ---- initial state -------------------------------------------------------------------
    def init_host(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """One run's initial ``(P,)`` parameters and ``(Q,)`` buffers, float64 on the host.

        PyTorch's default ``nn.Linear`` initialization: kaiming-uniform with a = √5 for the
        weight, which is U(−1/√in, 1/√in), and the same bound for the bias; drawn from the
        seed's initialization stream layer by layer, weight then bias. Batch norm starts at
        γ = 1, β = 0, running mean 0 and running variance 1 (and switched on).
        """
        rng = host_rng(seed, STREAM_INIT)
        params = np.empty(self.n_params)
        buffers = np.empty(self.n_buffers)
        for e in self.layout.entries:
            if e.name.startswith("linear"):
                bound = 1 / math.sqrt(e.shape[-1] if e.name.endswith("weight") else self._fan_in(e))
                params[e.offset : e.stop] = rng.uniform(-bound, bound, e.size)
            else:
                target = params if e.trainable else buffers
                on = e.name == SWITCH
                fill = 1.0 if on or e.name.endswith((".weight", ".running_var")) else 0.0
                target[e.offset : e.stop] = fill
        return params, buffers

    def _fan_in(self, bias: Entry) -> int:
        return self.layout[bias.name.replace(".bias", ".weight")].shape[1]

    def initial_state(self, seed: int, runs: int):
        """``(R, P)`` parameters and ``(R, Q)`` buffers on the device: the same start for
        every run, so that runs compare optimizers, not initializations."""
        params, buffers = self.init_host(seed)
        return self.stack([params] * runs, [buffers] * runs)

    def stack(self, params: list[np.ndarray], buffers: list[np.ndarray]):
        """Per-run host vectors to the device arrays a step takes."""
        xp = self.xp
        p = xp.asarray(np.stack(params).reshape(len(params), self.n_params), dtype=self.dtype)
        b = xp.asarray(np.stack(buffers).reshape(len(buffers), self.n_buffers), dtype=self.dtype)
        return p, b

    def asarray(self, a):
        """Features for a step or an evaluation: on the device, in the model's dtype."""
        return self.xp.asarray(a, dtype=self.dtype)

    # ---- forward and backward ------------------------------------------------------------
    def batch_grad(self, params, buffers, x, y, stats: list | None = None):
        """Training mode on one minibatch: ``(loss (R,), grads (R, P), new_buffers (R, Q))``.

        ``x`` is ``(B, in)`` in the model's dtype, shared by all runs; ``y`` is ``(B,)`` class
        indices in 0 … classes − 1 (not checked here, on every step: the data set's are).
        The loss is the mean cross-entropy over the batch; batch norm normalizes with the
        batch's statistics and the returned buffers hold the updated running ones.
        ``stats``: a list that gets, per batch-norm layer, the batch's ``(mean, biased var)``,
        each ``(R, H)`` (what a recorded step keeps; references, no copies).
        """
        new_buffers = buffers.copy() if self.batch_norm else buffers
        logits, cache = self._forward(params, buffers, x, True, new_buffers, stats=stats)
        loss, dz = self._cross_entropy(logits, y, want_grad=True)
        return loss, self._backward(params, x, cache, dz, True), new_buffers

    def evaluate(
        self,
        params,
        buffers,
        x,
        y,
        grad: bool = False,
        max_elements: int = 1 << 22,
        should_stop=None,
    ) -> Evaluation:
        """Evaluation mode (running statistics) on a whole split: loss, accuracy and, with
        ``grad``, the gradient of the mean loss, for every run.

        In evaluation mode every example is independent of the others, so the split is taken
        in chunks of examples whose activations (runs × examples × widest layer) stay under
        ``max_elements``, and the chunks' means are combined weighted by their sizes: the
        memory is bounded whatever the number of runs or examples.

        ``should_stop()``, when given, is asked before every layer of the forward and the
        backward pass (a wide network's evaluation takes seconds on a loaded machine; one
        chunk is often the whole split): true raises ``Cancelled``. The products are the
        same either way, so the results are too.
        """
        xp = self.xp
        n = x.shape[0]
        chunk = max(1, max_elements // (params.shape[0] * max(self.widths)))
        if chunk >= n:
            return self._evaluate_chunk(params, buffers, x, y, grad, should_stop)
        parts = [
            (
                min(n, start + chunk) - start,
                self._evaluate_chunk(
                    params,
                    buffers,
                    x[start : start + chunk],
                    y[start : start + chunk],
                    grad,
                    should_stop,
                ),
            )
            for start in range(0, n, chunk)
        ]
        loss = sum(part.loss * (size / n) for size, part in parts)
        accuracy = sum(part.accuracy * (size / n) for size, part in parts)
        grads = sum(part.grads * (size / n) for size, part in parts) if grad else None
        return Evaluation(xp.asarray(loss), xp.asarray(accuracy), grads)

    def _evaluate_chunk(self, params, buffers, x, y, grad, should_stop=None):
        xp = self.xp
        logits, cache = self._forward(
            params, buffers, x, train=False, new_buffers=None, should_stop=should_stop
        )
        loss, dz = self._cross_entropy(logits, y, want_grad=grad)
        accuracy = (xp.argmax(logits, axis=1) == y).mean(axis=1)
        grads = None
        if grad:
            grads = self._backward(params, x, cache, dz, train=False, should_stop=should_stop)
        return Evaluation(loss, accuracy, grads)

    def logits(self, params, buffers, x, train: bool = False, should_stop=None):
        """The network's outputs ``(R, B, classes)`` (evaluation mode unless ``train``; in
        training mode the running statistics are not updated). ``should_stop``: as in
        ``evaluate``, asked before every layer."""
        scratch = buffers.copy() if train and self.batch_norm else None
        logits = self._forward(
            params, buffers, x, train=train, new_buffers=scratch, should_stop=should_stop
        )[0]
        return logits.transpose(0, 2, 1)

    # Inside, every activation is CHANNELS-MAJOR, (R, H, B): a layer is then W (R, H', H) @
    # a (R, H, B) with neither operand transposed, and the sums, maxima and normalizations
    # over the batch or the classes run along the contiguous example axis (NumPy reduces a
    # short last axis, such as the 10 classes of (R, B, C), several times slower).
    #
    # Sums over the batch or the classes are matrix-vector products with a vector of ones:
    # for these small shapes BLAS is several times faster than a reduction along an axis,
    # on either backend.
    def _ones(self, n: int):
        ones = self._ones_cache.get(n)
        if ones is None:
            ones = self._ones_cache[n] = self.xp.ones(n, dtype=self.dtype)
        return ones

    def _sum_over_batch(self, a):
        """Σ over the batch axis: (R, H, B) → (R, H)."""
        return self.xp.matmul(a, self._ones(a.shape[2]))

    def _flat_rows(self, runs: int, classes: int, batch: int):
        """Flat offset of (run, class 0, example) in a contiguous ``(R, C, B)`` array:
        + y·B then picks each example's class with one flat gather (faster than two fancy
        indices)."""
        key = (runs, classes, batch)
        rows = self._rows_cache.get(key)
        if rows is None:
            xp = self.xp
            rows = xp.arange(runs)[:, None] * (classes * batch) + xp.arange(batch)
            self._rows_cache[key] = rows
        return rows

    def _weight(self, params, layer: _Layer):
        """Every run's weight of ``layer``, ``(R, out, in)``: a view with the runs' stride P
        (BLAS's batched products take it as it is, no copy)."""
        return params[:, layer.w].reshape(params.shape[0], layer.fan_out, layer.fan_in)

    def _forward(self, params, buffers, x, train, new_buffers, stats=None, should_stop=None):
        """Logits ``(R, C, B)`` and what the backward pass needs (per hidden layer its
        activations ``(R, H, B)`` and batch norm's), layer by layer (``stats``: see
        ``batch_grad``; ``should_stop``: see ``evaluate``)."""
        xp = self.xp
        last = len(self._layers) - 1
        cache = []
        # the minibatch as (in, B), contiguous: the first product's operand for every run,
        # made once (a transposed view would cost BLAS as much again as the product)
        a = xp.ascontiguousarray(x.T)
        # a switchable network's runs that normalize: (R, 1, 1) booleans
        on = None if self._switch is None else buffers[:, self._switch, None] > 0.5
        for i, layer in enumerate(self._layers):
            if should_stop is not None:  # (a training step has none: not even this call)
                stop_if_asked(should_stop)
            # (out, in) @ (in, B) batched over the runs; the first layer's operand is shared.
            # Batched, not one GEMM of all runs' first layers (R·out, in) @ (in, B): in the
            # (R, P) rows the runs' weights are not one matrix, and that GEMM first copied
            # them (at 256 runs of the digits MLP 1.0 ms a step, against 0.6 ms batched)
            z = xp.matmul(self._weight(params, layer), a)
            z += params[:, layer.b, None]
            if i == last:
                return z, cache
            bn = None
            if self.batch_norm:
                z, bn = self._batch_norm(params, buffers, z, layer, train, new_buffers, stats, on)
            a = self._activate(z)
            cache.append((a, bn))
        raise AssertionError("unreachable: the last layer returns")

    def _batch_norm(self, params, buffers, z, layer, train, new_buffers, stats=None, on=None):
        """Batch norm of ``z`` and what its backward pass needs; ``on`` (a switchable
        network's, ``(R, 1, 1)``): the runs that normalize; the others get ``z`` back."""
        xp = self.xp
        if train:
            per_example = 1 / z.shape[2]
            mean = self._sum_over_batch(z) * per_example
            centred = z - mean[:, :, None]
            var = self._sum_over_batch(centred * centred) * per_example
            if stats is not None:  # (a run without batch norm has no batch statistics)
                stats.append((mean, var) if on is None else _where_on(xp, on, mean, var))
            m = self.bn_momentum
            # B/(B − 1) makes the running variance unbiased; a batch of one has σ² = 0
            unbiased = 1 / (1 - per_example) if per_example < 1 else 1.0
            rm, rv = layer.running_mean, layer.running_var
            new_mean = buffers[:, rm] * (1 - m) + mean * m
            new_var = buffers[:, rv] * (1 - m) + var * (m * unbiased)
            if on is not None:  # the others' running statistics stay as they are
                new_mean = xp.where(on[:, :, 0], new_mean, buffers[:, rm])
                new_var = xp.where(on[:, :, 0], new_var, buffers[:, rv])
            new_buffers[:, rm] = new_mean
            new_buffers[:, rv] = new_var
        else:
            centred = z - buffers[:, layer.running_mean, None]
            var = buffers[:, layer.running_var]
        inv_std = (1 / xp.sqrt(var + self.bn_eps))[:, :, None]
        z_hat = centred * inv_std
        gamma = params[:, layer.gamma, None]
        scale = gamma * inv_std
        out = z_hat * gamma + params[:, layer.beta, None]
        if on is not None:
            out = xp.where(on, out, z)
        return out, (z_hat, scale, on)

    def _activate(self, z):
        """The activation of ``z``, written into ``z`` (a fresh array of the layer's: nothing
        else holds it, and a pass that allocates costs more)."""
        xp = self.xp
        if self.activation == "relu":
            if xp is np and z.size <= ZEROS_CACHED:  # a training step's activations
                # against zeros laid out as z: NumPy's fast loop (against a scalar it takes a
                # slow one, 2.5× the time); the same function (clip(z, 0, ∞), as fast, would
                # keep −0.0)
                key = (z.shape, z.strides, z.dtype)
                zeros = self._zeros_cache.get(key)
                if zeros is None:
                    zeros = self._zeros_cache[key] = np.zeros_like(z)
                return np.maximum(z, zeros, out=z)
            return xp.maximum(z, 0, out=z)
        if self.activation == "tanh":
            return xp.tanh(z, out=z)
        # σ(z) = (1 + tanh(z/2))/2: the same function, with no exp to overflow
        z *= 0.5
        xp.tanh(z, out=z)
        z *= 0.5
        z += 0.5
        return z

    def _activation_grad(self, a, da):
        """∂L/∂z from ∂L/∂a (a fresh array, scaled in place), with the activation's output a."""
        if self.activation == "relu":
            da *= a > 0
        elif self.activation == "tanh":
            da *= 1 - a * a
        else:
            da *= a * (1 - a)
        return da

    def _cross_entropy(self, logits, y, want_grad):
        """Mean softmax cross-entropy per run of logits ``(R, C, B)`` and, with
        ``want_grad``, ∂loss/∂logits (the same layout)."""
        xp = self.xp
        runs, classes, batch = logits.shape
        top = logits.max(axis=1)  # (R, B): the stable shift
        e = logits - top[:, None, :]
        xp.exp(e, out=e)
        total = xp.matmul(self._ones(classes), e)  # (R, B)
        picked = self._flat_rows(runs, classes, batch) + y * batch
        # −log softmax(z)_y = log Σ e + top − z_y, averaged over the batch
        per_example = xp.log(total)  # (then in place: a small array's temporary costs a call)
        per_example += top
        per_example -= logits.reshape(-1)[picked]  # (indexing: faster than ``take``)
        loss = xp.matmul(per_example, self._ones(batch)) * (1 / batch)
        if not want_grad:
            return loss, None
        total *= batch
        e /= total[:, None, :]  # (softmax − one-hot) / B, in place: e is ours
        e.reshape(-1)[picked] -= 1 / batch
        return loss, e

    def _backward(self, params, x, cache, dz, train, should_stop=None):
        """Gradients ``(R, P)`` from ∂loss/∂logits ``(R, C, B)``, last layer to first
        (``should_stop``: see ``evaluate``)."""
        xp = self.xp
        grads = xp.empty_like(params)
        for i in range(len(self._layers) - 1, -1, -1):
            if should_stop is not None:
                stop_if_asked(should_stop)
            layer = self._layers[i]
            runs = params.shape[0]
            # Σ over the batch, and dz (out, B) @ aᵀ (B, in) batched over the runs, written
            # straight into the gradients' rows (measured faster, for the first layer, than
            # one GEMM of all runs (R·out, B) @ (B, in) followed by the copy into the rows)
            xp.matmul(dz, self._ones(dz.shape[2]), out=grads[:, layer.b])
            gw = grads[:, layer.w].reshape(runs, layer.fan_out, layer.fan_in)
            if i == 0:
                xp.matmul(dz, x, out=gw)
                break
            a, bn = cache[i - 1]
            xp.matmul(dz, a.transpose(0, 2, 1), out=gw)
            da = xp.matmul(self._weight(params, layer).transpose(0, 2, 1), dz)
            dz = self._activation_grad(a, da)
            if bn is not None:
                dz = self._batch_norm_grad(grads, dz, bn, self._layers[i - 1], train)
        return grads

    def _batch_norm_grad(self, grads, dy, bn, layer, train):
        z_hat, scale, on = bn  # scale = γ/√(σ² + ε), batch or running σ²
        xp = self.xp
        if on is not None:  # a run without batch norm: ∂z = ∂y, no gradient for γ, β
            passed = dy.copy()
            dz = self._batch_norm_grad(grads, dy, (z_hat, scale, None), layer, train)
            for piece in (layer.gamma, layer.beta):
                grads[:, piece] = xp.where(on[:, :, 0], grads[:, piece], 0)
            return xp.where(on, dz, passed)
        ones = self._ones(dy.shape[2])
        d_beta = xp.matmul(dy, ones, out=grads[:, layer.beta])
        d_gamma = xp.matmul(dy * z_hat, ones, out=grads[:, layer.gamma])
        if not train:  # running statistics are constants: an affine map per channel
            return dy * scale
        per_example = 1 / dy.shape[2]
        dy -= (d_beta * per_example)[:, :, None]
        dy -= z_hat * (d_gamma * per_example)[:, :, None]
        dy *= scale
        return dy

    # ---- batch norm per run ---------------------------------------------------------------
    def normalizes(self, buffers) -> bool:
        """Whether the run of host ``buffers (Q,)`` uses batch norm."""
        if not self.batch_norm:
            return False
        return self._switch is None or bool(np.asarray(buffers)[self._switch][0] > 0.5)

    def switched(self, normalizes, buffers) -> np.ndarray:
        """Host buffers ``(R, Q)`` (a copy) with each run's switch set from ``normalizes``
        ``(R,)`` booleans. A network that is not switchable takes only all-true."""
        buffers = np.array(buffers, float)
        if self._switch is not None:
            buffers[:, self._switch] = np.asarray(normalizes, float)[:, None]
        elif self.batch_norm and not all(normalizes):
            raise ValueError("batch norm is off for some runs: the network must be switchable")
        return buffers

    def without_batch_norm(self) -> MLP:
        """The same network without batch norm (what a switched-off run computes; made once,
        as a slice asks for it band after band)."""
        if self._plain is None:
            self._plain = MLP(
                self.widths[0], self.hidden, self.widths[-1], self.activation,
                xp=self.xp, dtype=self.dtype,
            )  # fmt: skip
        return self._plain

    def plain_columns(self) -> np.ndarray:
        """Where ``without_batch_norm()``'s parameters sit in this network's ``(P,)``."""
        return np.concatenate(
            [np.arange(e.offset, e.stop) for e in self.layout.params if e.name.startswith("linear")]
        )

    # ---- weights files -------------------------------------------------------------------
    def load_weights(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """One run's ``(P,)`` parameters and ``(Q,)`` buffers (float64) from an NPZ archive
        with the contract's names and PyTorch's shapes. Other arrays in it are ignored (a
        converted ``state_dict`` may hold ``num_batches_tracked``)."""
        path = Path(path)
        try:
            archive = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise WeightsError(f"weights file {path} does not exist") from None
        except OSError as exc:
            raise WeightsError(f"cannot read weights file {path}: {exc}") from None
        except (ValueError, zipfile.BadZipFile, EOFError):
            raise WeightsError(f"weights file {path} is not an NPZ archive (numpy.savez)") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise WeightsError(f"weights file {path} is a single array, not an NPZ archive")
        params = np.empty(self.n_params)
        buffers = np.empty(self.n_buffers)
        with archive:
            for e in self.layout.entries:
                if e.name == SWITCH:  # not a weights file's: every run starts switched on
                    buffers[e.offset : e.stop] = 1.0
                    continue
                if e.name not in archive.files:
                    raise WeightsError(
                        f"weights file {path} lacks array {e.name!r} of shape {e.shape}"
                    )
                try:
                    value = archive[e.name]
                except ValueError:
                    raise WeightsError(
                        f"weights file {path}: array {e.name!r} is not numeric"
                    ) from None
                if value.shape != e.shape:
                    raise WeightsError(
                        f"weights file {path}: array {e.name!r} has shape {value.shape}; "
                        f"expected {e.shape}" + (" (out × in)" if len(e.shape) == 2 else "")
                    )
                if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
                    raise WeightsError(
                        f"weights file {path}: array {e.name!r} is {value.dtype}, not real numbers"
                    )
                if not np.isfinite(value).all():
                    raise WeightsError(
                        f"weights file {path}: array {e.name!r} holds values that are not finite"
                    )
                if e.name.endswith(".running_var") and (value < 0).any():
                    raise WeightsError(
                        f"weights file {path}: array {e.name!r} holds negative values; "
                        "a variance is ≥ 0"
                    )
                target = params if e.trainable else buffers
                target[e.offset : e.stop] = value.reshape(-1)
        return params, buffers

    def weights_dict(self, params, buffers, prefix: str = "") -> dict[str, np.ndarray]:
        """One run's ``(P,)`` and ``(Q,)`` arrays by name (host NumPy, float64 kept as is);
        a run with batch norm switched off has no ``bn`` arrays (it is the network without)."""
        out = {}
        normalizes = self.normalizes(buffers)
        for e in self.layout.entries:
            if e.name == SWITCH or (e.name.startswith("bn") and not normalizes):
                continue
            flat = np.asarray(params if e.trainable else buffers)
            out[prefix + e.name] = flat[e.offset : e.stop].reshape(e.shape)
        return out

    def save_weights(self, path: str | os.PathLike, params, buffers, per_run: bool = False):
        """An NPZ archive of one run's arrays (``(P,)``, ``(Q,)``), or with ``per_run`` of
        every run's ``(R, P)``, ``(R, Q)`` with names prefixed ``run{r}.``."""
        if per_run:
            arrays = {}
            for r in range(len(params)):
                arrays.update(self.weights_dict(params[r], buffers[r], prefix=f"run{r}."))
        else:
            arrays = self.weights_dict(params, buffers)
        np.savez(path, **arrays)


def _where_on(xp, on, mean, var):
    """Batch statistics ``(R, H)`` with NaN for the runs that do not normalize."""
    rows = on[:, :, 0]
    return xp.where(rows, mean, xp.nan), xp.where(rows, var, xp.nan)
