"""Engine speed against PyTorch eager, measured in the same run.

    python benchmarks/bench_engine.py [--quick]

1. The lecture's 2-parameter regression (200 examples, batch 32, reshuffled every epoch, and
   full batch): steps per second of the engine and of an idiomatic PyTorch eager loop (CPU,
   1 thread) doing the same job — minibatch step, the parameters kept at every step and the
   full-data loss of every kept step (computed in bulk at the end by both).
2. A sweep of 4096 runs of SGD on Rosenbrock, one learning rate each: run-steps per second of
   the engine, and of PyTorch with the 4096 parameter pairs in one tensor.

Goals (issue #2): ≥ 20× PyTorch on the 2-parameter problems; ≥ 1 million run-steps/s for
the sweep. Timings are the best of a few repeats, to keep other load out of the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread: faster for tiny problems
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from engine.backend import select_backend
from engine.batching import BatchConfig
from engine.problems.functions import FunctionProblem, make_surface
from engine.problems.regression import LinearRegressionProblem, generate_data
from engine.training import RunSpec, Trainer

SAMPLES, BATCH = 200, 32
LR = {"sgd": 0.01, "momentum": 0.01, "adam": 0.05}


def best_of(repeats: int, fn) -> float:
    """Smallest wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---- the engine -----------------------------------------------------------------------------


def engine_regression(x, y, optimizer: str, batch: int | None, steps: int) -> float:
    backend = select_backend("numpy", "float64")
    problem = LinearRegressionProblem(backend, x, y)
    config = None if batch is None else BatchConfig(batch, shuffle=True)
    run = RunSpec("bench", optimizer, lr=LR[optimizer], batch=config)
    return best_of(3, lambda: Trainer(problem, [run], steps, diagnostics=False).run())


def engine_sweep(runs: int, steps: int) -> float:
    backend = select_backend("numpy", "float64")
    problem = FunctionProblem(backend, make_surface("rosenbrock"), start=[-1.5, 2.0])
    rates = np.geomspace(1e-5, 1e-3, runs)
    specs = [RunSpec(f"lr={lr:.2e}", "sgd", lr=float(lr)) for lr in rates]
    return best_of(3, lambda: Trainer(problem, specs, steps, diagnostics=False).run())


# ---- PyTorch eager ---------------------------------------------------------------------------


def torch_regression(torch, x, y, optimizer: str, batch: int | None, steps: int) -> float:
    xt, yt = torch.tensor(x), torch.tensor(y)
    n = len(yt)

    def job():
        w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        opt = {
            "sgd": lambda: torch.optim.SGD([w], lr=LR["sgd"]),
            "momentum": lambda: torch.optim.SGD([w], lr=LR["momentum"], momentum=0.9),
            "adam": lambda: torch.optim.Adam([w], lr=LR["adam"]),
        }[optimizer]()
        gen = torch.Generator().manual_seed(0)
        kept = [w.detach().clone()]
        size = n if batch is None else batch
        while len(kept) <= steps:
            order = torch.randperm(n, generator=gen) if batch is not None else torch.arange(n)
            for start in range(0, n, size):
                idx = order[start : start + size]
                opt.zero_grad()
                loss = ((xt[idx] @ w - yt[idx]) ** 2).mean()
                loss.backward()
                opt.step()
                kept.append(w.detach().clone())
                if len(kept) > steps:
                    break
        with torch.no_grad():  # full-data loss of every kept step, in bulk
            ws = torch.stack(kept)
            ((ws @ xt.T - yt) ** 2).mean(dim=1)

    return best_of(3, job)


def torch_sweep(torch, runs: int, steps: int) -> float:
    rates = torch.tensor(np.geomspace(1e-5, 1e-3, runs))[:, None]

    def job():
        w = torch.tensor([[-1.5, 2.0]], dtype=torch.float64).repeat(runs, 1).requires_grad_()
        kept = [w.detach().clone()]
        for _ in range(steps):
            x, y = w[:, 0], w[:, 1]
            loss = ((1 - x) ** 2 + 100 * (y - x * x) ** 2).sum()
            (grad,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                w -= rates * grad
            kept.append(w.detach().clone())
        with torch.no_grad():
            ws = torch.stack(kept)
            (1 - ws[..., 0]) ** 2 + 100 * (ws[..., 1] - ws[..., 0] ** 2) ** 2

    return best_of(3, job)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    args = parser.parse_args(argv)
    steps = 500 if args.quick else 5000
    sweep_runs, sweep_steps = (512, 50) if args.quick else (4096, 300)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("PyTorch is not installed: engine figures only (pip install torch==2.13.0)")

    x, y = generate_data(0, SAMPLES, feature_scales=(1.0, 10.0), noise=0.1)
    print(f"2-parameter regression, {SAMPLES} examples, {steps} steps, float64, 1 thread")
    print(f"{'case':<26}{'engine steps/s':>16}{'torch steps/s':>16}{'ratio':>9}")
    ratios = []
    for optimizer in ("sgd", "momentum", "adam"):
        for batch in (BATCH, None):
            case = f"{optimizer}, batch {batch or 'full'}"
            ours = steps / engine_regression(x, y, optimizer, batch, steps)
            if torch is None:
                print(f"{case:<26}{ours:>16,.0f}")
                continue
            theirs = steps / torch_regression(torch, x, y, optimizer, batch, steps)
            ratios.append(ours / theirs)
            print(f"{case:<26}{ours:>16,.0f}{theirs:>16,.0f}{ours / theirs:>8.1f}×")
    if ratios:
        print(f"geometric mean ratio: {np.exp(np.mean(np.log(ratios))):.1f}× (goal ≥ 20×)")

    print(f"\nsweep: {sweep_runs} SGD runs on Rosenbrock, {sweep_steps} steps each")
    ours = sweep_runs * sweep_steps / engine_sweep(sweep_runs, sweep_steps)
    line = f"engine {ours / 1e6:.2f} M run-steps/s (goal ≥ 1 M)"
    if torch is not None:
        theirs = sweep_runs * sweep_steps / torch_sweep(torch, sweep_runs, sweep_steps)
        line += f"; torch {theirs / 1e6:.2f} M run-steps/s; ratio {ours / theirs:.1f}×"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
