"""MLP training speed against PyTorch eager and a hand-written NumPy loop, in the same run.

    python benchmarks/bench_mlp.py [--quick] [--seconds S]

The digits MLP 64-64-10 (ReLU), batch 32 over the 1,437 training images (a 20% validation
split held out), reshuffled every epoch, float32, one thread. Both sides step the same
minibatches: the epoch's rows are gathered once (as the trainer does), then each step is one
minibatch gradient and one optimizer update.

1. one run, SGD with momentum 0.9: engine steps/s against ``nn.Sequential`` + ``torch.optim.SGD``;
2. one run, Adam with batch norm after the hidden Linear, against the same in PyTorch;
3. 8 runs at once (SGD+momentum, a learning rate each): engine run-steps/s against PyTorch
   eager's single-model rate of case 1;
4. 256 runs at once, the same: run-steps/s (and the ratio to case 1's PyTorch rate).

For 1, 3 and 4 a second peer runs too: a hand-written batched NumPy loop (``BatchedNumPy``) that
knows only this network and this optimizer — per-layer contiguous arrays, activations kept
channels × examples, every update in place into buffers made once, the same minibatches, the
same start and rates (checked: one epoch of each from the same start agrees to float32
rounding). Its rate is what NumPy itself reaches on this machine at that moment, so the
engine's ratio to it says how much of the gap to a goal is the engine's.

The engine donates its arrays to the optimizer (``update(..., donate=True)``, as the trainer
does for the steps no record holds); for 3 and 4 the engine without donation (the plain,
allocating updates) is measured too. Goals (issue #7): ≥ 4× PyTorch eager for 1, ≥ 3× for 2,
≥ 10× for 3, ≥ 60,000 run-steps/s for 4. Each figure is the best of three bouts, the bouts
of a case's contenders taken in turn (this machine is shared: a change in its load then falls
on all of them), and the ratios compare figures of the same case.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One BLAS thread: for these small products a second one costs more than it gains.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from engine.datasets import load_digits, normalize, split
from engine.optim import make_optimizer
from engine.problems.mlp import MLP

BATCH, HIDDEN, LR = 32, 64, {"momentum": 0.01, "adam": 0.001}


def epoch_batches(x, y, epoch: int, take):
    """The epoch's minibatches (drop_last): rows gathered once in the epoch's order."""
    order = np.random.default_rng([0, epoch]).permutation(len(y))
    xs, ys = take(x, order), take(y, order)
    n = len(y) // BATCH
    return [(xs[j * BATCH : (j + 1) * BATCH], ys[j * BATCH : (j + 1) * BATCH]) for j in range(n)]


def timed_together(seconds: float, repeats: int, contenders) -> list[float]:
    """Steps per second of each of ``contenders`` (functions that step one epoch and return
    its steps): the best of ``repeats`` bouts of about ``seconds / repeats`` each, the
    contenders' bouts taken in turn, so that a change in the machine's load falls on all."""
    best = [0.0] * len(contenders)
    for _ in range(repeats):
        for i, step_epoch in enumerate(contenders):
            steps, epoch = 0, 0
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds / repeats:
                steps += step_epoch(epoch)
                epoch += 1
            best[i] = max(best[i], steps / elapsed)
    return best


def engine_stepper(parts, optimizer: str, batch_norm: bool, runs: int, donate: bool = True):
    """The engine's epoch stepper and a function returning its current parameters."""
    model = MLP(64, [HIDDEN], 10, "relu", batch_norm, dtype=np.float32)
    params, buffers = model.initial_state(seed=0, runs=runs)
    rates = [LR[optimizer] * (0.5 + r / max(runs - 1, 1)) for r in range(runs)]
    opt = make_optimizer(optimizer, [{"lr": lr} for lr in rates], dtype=np.float32)
    lr = np.asarray(rates, np.float32)[:, None] if runs > 1 else rates[0]
    state = opt.init(params)
    x, y = model.asarray(parts.x_train), parts.y_train
    holder = [params, buffers, state]

    def step_epoch(epoch):
        params, buffers, state = holder
        batches = epoch_batches(x, y, epoch, lambda a, i: a[i])
        for xb, yb in batches:
            _, grads, buffers = model.batch_grad(params, buffers, xb, yb)
            params, state = opt.update(grads, state, params, lr, donate=donate)
        holder[:] = params, buffers, state
        return len(batches)

    return step_epoch, lambda: holder[0]


class BatchedNumPy:
    """The peer: R runs of the 64-H-10 ReLU MLP with PyTorch's SGD+momentum, by hand.

    Parameters per layer, each contiguous over the runs — W1 (R, H, in), b1 (R, H), W2
    (R, C, H), b2 (R, C) — and the four of them back to back in one flat array (so are the
    gradients, the momentum and a scratch array): the update is a few passes over the whole
    of it, the rate (one per run) applied layer by layer. Activations are (R, H, B) and
    logits (R, C, B) (channels × examples: the softmax's sums and maxima over the classes
    run along the contiguous example axis). The first layer is (H, in) @ (in, B) batched over
    the runs against the minibatch transposed once (measured faster than one GEMM of all runs
    (R·H, in) @ (in, B)); every array is made once and written in place.
    """

    def __init__(self, model: MLP, params, rates, momentum=0.9):
        runs, n_in, hidden, classes = len(params), *model.widths
        dtype = params.dtype
        entries = [model.layout[f"linear{i}.{kind}"] for i in (0, 1) for kind in ("weight", "bias")]
        self.flat = np.empty((4, runs * model.n_params), dtype)  # θ, ∇, momentum, scratch
        self.layers, start = [], 0  # per layer: its views into the four flat arrays
        for e in entries:
            stop = start + runs * e.size
            self.layers.append([a[start:stop].reshape(runs, *e.shape) for a in self.flat])
            self.layers[-1][0][...] = params[:, e.offset : e.stop].reshape(runs, *e.shape)
            start = stop
        self.momentum, self.first = momentum, True
        lr = np.asarray(rates, dtype)
        self.rates = [lr.reshape((runs,) + (1,) * (len(e.shape))) for e in entries]
        self.shape = (runs, n_in, hidden)
        self.z1 = np.empty((runs, hidden, BATCH), dtype)
        self.zeros = np.zeros_like(self.z1)  # maximum against an array: NumPy's fast loop
        self.mask = np.empty(self.z1.shape, bool)
        self.da1 = np.empty_like(self.z1)
        self.z2 = np.empty((runs, classes, BATCH), dtype)
        self.ones = np.ones(BATCH, dtype)
        # flat offset of (run, class 0, example) in z2; + y·B picks each example's class
        self.rows = np.arange(runs)[:, None] * (classes * BATCH) + np.arange(BATCH)

    def step(self, xb, yb):
        """One minibatch: gradients (the mean cross-entropy's) and the momentum update."""
        (w1, g_w1, *_), (b1, g_b1, *_), (w2, g_w2, *_), (b2, g_b2, *_) = self.layers
        z1, z2, da1, n = self.z1, self.z2, self.da1, len(yb)
        np.matmul(w1, np.ascontiguousarray(xb.T), out=z1)  # batched: faster than one GEMM
        np.add(z1, b1[:, :, None], out=z1)
        np.maximum(z1, self.zeros, out=z1)
        np.matmul(w2, z1, out=z2)
        np.add(z2, b2[:, :, None], out=z2)
        np.subtract(z2, z2.max(axis=1)[:, None, :], out=z2)
        np.exp(z2, out=z2)
        total = z2.sum(axis=1)  # (R, B)
        picked = self.rows + yb * n
        loss = (np.log(total) - np.log(z2.reshape(-1)[picked])).mean(axis=1)
        total *= n
        np.divide(z2, total[:, None, :], out=z2)  # (softmax − one-hot) / B
        z2.reshape(-1)[picked] -= 1 / n
        np.matmul(z2, z1.transpose(0, 2, 1), out=g_w2)
        np.matmul(z2, self.ones, out=g_b2)
        np.matmul(w2.transpose(0, 2, 1), z2, out=da1)
        np.greater(z1, 0, out=self.mask)
        np.multiply(da1, self.mask, out=da1)
        np.matmul(da1, xb, out=g_w1)
        np.matmul(da1, self.ones, out=g_b1)
        theta, grad, buf, temp = self.flat
        if self.first:  # PyTorch: the first buffer is the gradient itself
            np.copyto(buf, grad)
        else:
            np.multiply(buf, self.momentum, out=buf)
            np.add(buf, grad, out=buf)
        for (_, _, layer_buf, layer_temp), lr in zip(self.layers, self.rates, strict=True):
            np.multiply(lr, layer_buf, out=layer_temp)
        np.subtract(theta, temp, out=theta)
        self.first = False
        return loss

    def engine_params(self):
        """The parameters as the engine's (R, P) rows."""
        return np.concatenate([layer[0].reshape(self.shape[0], -1) for layer in self.layers], 1)


def numpy_stepper(parts, runs: int):
    """The hand-written loop's epoch stepper on the engine's start, rates and minibatches,
    and a function returning its parameters as the engine's rows."""
    model = MLP(64, [HIDDEN], 10, "relu", False, dtype=np.float32)
    params, _ = model.initial_state(seed=0, runs=runs)
    rates = [LR["momentum"] * (0.5 + r / max(runs - 1, 1)) for r in range(runs)]
    peer = BatchedNumPy(model, params, rates)
    x, y = model.asarray(parts.x_train), parts.y_train

    def step_epoch(epoch):
        batches = epoch_batches(x, y, epoch, lambda a, i: a[i])
        for xb, yb in batches:
            peer.step(xb, yb)
        return len(batches)

    return step_epoch, peer.engine_params


def torch_stepper(torch, parts, optimizer: str, batch_norm: bool):
    """PyTorch eager's epoch stepper: one model, ``nn.Sequential`` and ``torch.optim``."""
    torch.manual_seed(0)
    layers = [torch.nn.Linear(64, HIDDEN)]
    if batch_norm:
        layers.append(torch.nn.BatchNorm1d(HIDDEN))
    net = torch.nn.Sequential(*layers, torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    if optimizer == "momentum":
        opt = torch.optim.SGD(net.parameters(), lr=LR["momentum"], momentum=0.9)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=LR["adam"])
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.tensor(parts.x_train, dtype=torch.float32)
    y = torch.tensor(parts.y_train)
    net.train()

    def step_epoch(epoch):
        batches = epoch_batches(x, y, epoch, lambda a, i: a[torch.from_numpy(i)])
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
        return len(batches)

    return step_epoch


def peer_difference(parts, runs: int) -> float:
    """The largest difference between the engine's and the peer's parameters after one epoch
    from the same start, relative to the start's largest: float32 rounding, or a bug."""
    engine_epoch, engine_params = engine_stepper(parts, "momentum", False, runs)
    peer_epoch, peer_params = numpy_stepper(parts, runs)
    engine_epoch(0)
    peer_epoch(0)
    start = MLP(64, [HIDDEN], 10, "relu", False).initial_state(seed=0, runs=1)[0]
    return float(np.abs(engine_params() - peer_params()).max() / np.abs(start).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fraction of a second per case")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case (default 3)")
    args = parser.parse_args(argv)
    seconds = 0.3 if args.quick else args.seconds
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("PyTorch is not installed: engine figures only (pip install torch==2.13.0)")
    parts = normalize(split(load_digits(), 0.2, seed=0))
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    # a shared machine's load changes absolute figures several-fold; the ratios less
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"digits MLP 64-{HIDDEN}-10, batch {BATCH}, {len(parts.y_train)} training images, "
        f"float32, 1 thread, OPENBLAS_CORETYPE={coretype}, load average {load:.1f} "
        f"on {os.cpu_count()} cores"
    )
    # (label, optimizer, batch norm, runs, goal: a ratio to torch eager, or run-steps/s)
    cases = [
        ("1 run, SGD+momentum", "momentum", False, 1, "4×"),
        ("1 run, Adam + batch norm", "adam", True, 1, "3×"),
        ("8 runs, SGD+momentum", "momentum", False, 8, "10×"),
        ("256 runs, SGD+momentum", "momentum", False, 256, "60k/s"),
    ]
    header = f"{'case':<26}{'engine':>10}{'torch eager':>13}{'ratio':>8}{'goal':>7}"
    print(f"{header}{'NumPy by hand':>15}{'ratio':>7}{'no donation':>13}")
    for label, optimizer, batch_norm, runs, goal in cases:
        engine_epoch, engine_params = engine_stepper(parts, optimizer, batch_norm, runs)
        contenders = [engine_epoch]
        if torch is not None:  # one model, the single-run rate the goals are ratios to
            contenders.append(torch_stepper(torch, parts, optimizer, batch_norm))
        by_hand = optimizer == "momentum"  # the hand-written loop knows SGD+momentum only
        if by_hand:
            contenders.append(numpy_stepper(parts, runs)[0])
        if runs > 1:  # the engine without donation (the plain updates)
            contenders.append(engine_stepper(parts, optimizer, batch_norm, runs, False)[0])
        rates = timed_together(seconds, 3, contenders)
        assert np.isfinite(engine_params()).all()
        ours = runs * rates.pop(0)
        line = f"{label:<26}{ours:>10,.0f}"
        if torch is not None:
            theirs = rates.pop(0)
            line += f"{theirs:>13,.0f}{ours / theirs:>7.1f}×{goal:>7}"
        else:
            line += f"{'':>27}"
        if by_hand:
            peer = runs * rates.pop(0)
            line += f"{peer:>15,.0f}{ours / peer:>6.2f}×"
        if runs > 1:
            line += f"{runs * rates.pop(0):>13,.0f}"
        print(line)
    print(
        "(steps/s for one run, run-steps/s for several; torch eager trains one model. After "
        "one epoch from the same start the engine's and the hand-written loop's parameters "
        f"differ by {peer_difference(parts, 8):.1e} of their scale: the same computation.)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
