"""MLP training speed against PyTorch eager, measured in the same run.

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

Goals (issue #7): ≥ 4× PyTorch eager for 1, ≥ 3× for 2, ≥ 10× for 3, ≥ 60,000 run-steps/s for
4. Each figure is the best of a few repeats (this machine is shared), and the ratios compare
figures of the same run.
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


def timed(seconds: float, repeats: int, step_epoch) -> float:
    """Steps per second: the best of ``repeats`` bouts of about ``seconds / repeats``."""
    best = 0.0
    for _ in range(repeats):
        steps, epoch = 0, 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / repeats:
            steps += step_epoch(epoch)
            epoch += 1
        best = max(best, steps / elapsed)
    return best


def engine_rate(parts, optimizer: str, batch_norm: bool, runs: int, seconds: float) -> float:
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
            params, state = opt.update(grads, state, params, lr)
        holder[:] = params, buffers, state
        return len(batches)

    rate = timed(seconds, 3, step_epoch)
    assert np.isfinite(holder[0]).all()
    return rate


def torch_rate(torch, parts, optimizer: str, batch_norm: bool, seconds: float) -> float:
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

    return timed(seconds, 3, step_epoch)


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
    torch_rates = {}
    print(f"{'case':<28}{'engine':>14}{'torch eager':>14}{'ratio':>9}{'goal':>8}")
    for label, optimizer, batch_norm, runs, goal in cases:
        ours = runs * engine_rate(parts, optimizer, batch_norm, runs, seconds)
        key = (optimizer, batch_norm)
        if torch is None:
            print(f"{label:<28}{ours:>14,.0f}")
            continue
        if key not in torch_rates:
            torch_rates[key] = torch_rate(torch, parts, optimizer, batch_norm, seconds)
        theirs = torch_rates[key]
        unit = "run-steps/s" if runs > 1 else "steps/s"
        print(
            f"{label:<28}{ours:>14,.0f}{theirs:>14,.0f}{ours / theirs:>8.1f}×{goal:>8}"
            f"   ({unit}; torch: one model)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
