"""The GPU against this machine's CPU, measured in the same run (needs CuPy and a GPU).

    python benchmarks/bench_gpu.py [--quick] [--seconds S]

1. training, the digits MLP 64-64-10 (ReLU), batch 32, SGD+momentum (a learning rate per
   run), float32: run-steps/s of 8, 256 and 1024 runs at once on CuPy and on NumPy (one BLAS
   thread, as bench_mlp.py), and their ratio. Data are uploaded once; each epoch's rows are
   gathered on the device; the clock stops after the device has finished.
2. a 401 × 401 slice of that MLP's loss over the 1,437 training images (a random
   filter-normalized plane, engine.plane.mlp_grid_loss) on CuPy and on NumPy, the ratio, and
   the largest difference between the two grids (the same numbers to float32 tolerance).

Goal (issue #7): the slice ≥ 50× this CPU. Nothing here runs in CI (tools/gpu_check.sh runs
it on a machine with a GPU). Exit status 1, with the reason, where CuPy can't be used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from engine.backend import Backend, select_backend
from engine.datasets import load_digits, normalize, split
from engine.optim import make_optimizer
from engine.plane import mlp_grid_loss, random_plane
from engine.problems.mlp import MLP

BATCH, HIDDEN, LR = 32, 64, 0.01
RUNS = (8, 256, 1024)
GRID = 401
# A chunk of grid points on the GPU: large enough that launches don't dominate, small enough
# for any card (≈ 2¹⁶ activations per point × 2¹⁰ points × 4 bytes ≈ 0.3 GB per temporary).
GPU_GRID_ELEMENTS = 1 << 26


def training_rate(backend: Backend, parts, runs: int, seconds: float) -> float:
    """Run-steps/s of ``runs`` SGD+momentum runs at once on ``backend``."""
    xp = backend.xp
    model = MLP(64, [HIDDEN], 10, "relu", False, xp=xp, dtype=np.float32)
    params, buffers = model.initial_state(seed=0, runs=runs)
    rates = [LR * (0.5 + r / max(runs - 1, 1)) for r in range(runs)]
    opt = make_optimizer("momentum", [{"lr": lr} for lr in rates], xp=xp, dtype=np.float32)
    lr = xp.asarray(np.asarray(rates, np.float32)[:, None])
    state = opt.init(params)
    x, y = model.asarray(parts.x_train), xp.asarray(parts.y_train)  # uploaded once
    n_batches = len(parts.y_train) // BATCH

    def epoch(k, params, state):
        order = xp.asarray(np.random.default_rng([0, k]).permutation(len(parts.y_train)))
        xs, ys = x[order], y[order]
        for j in range(n_batches):
            rows = slice(j * BATCH, (j + 1) * BATCH)
            _, grads, _ = model.batch_grad(params, buffers, xs[rows], ys[rows])
            params, state = opt.update(grads, state, params, lr)
        return params, state

    params, state = epoch(0, params, state)  # warm-up: kernels compiled, memory pooled
    backend.synchronize()
    steps, k = 0, 1
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        params, state = epoch(k, params, state)
        steps += n_batches
        k += 1
    backend.synchronize()
    elapsed = time.perf_counter() - start
    assert np.isfinite(backend.to_host(params)).all()
    return runs * steps / elapsed


def slice_time(backend: Backend, parts, grid: int) -> tuple[float, np.ndarray]:
    """Seconds for a ``grid × grid`` slice on ``backend``, and the loss grid (host)."""
    model = MLP(64, [HIDDEN], 10, "relu", False, xp=backend.xp, dtype=np.float32)
    centre, buffers = model.init_host(seed=0)
    plane = random_plane(model, centre, seed=0)
    values = np.linspace(-1.0, 1.0, grid)
    extra = {"max_elements": GPU_GRID_ELEMENTS} if backend.name == "cupy" else {}

    def run(points):
        return mlp_grid_loss(
            model, plane, buffers, parts.x_train, parts.y_train, points, points, **extra
        )

    run(values[:: max(1, grid // 16)])  # warm-up (kernels, memory pool)
    backend.synchronize()
    start = time.perf_counter()
    loss, _ = run(values)
    backend.synchronize()
    return time.perf_counter() - start, loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short bouts, a 101×101 slice")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case (default 3)")
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else args.seconds
    grid = 101 if args.quick else GRID
    try:
        gpu = select_backend("cupy", "float32")
    except RuntimeError as exc:
        print(f"bench_gpu: {exc}")
        return 1
    cpu = select_backend("numpy", "float32")
    parts = normalize(split(load_digits(), 0.2, seed=0))
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    print(
        f"{gpu.describe()} against NumPy on this machine's CPU (1 BLAS thread, "
        f"OPENBLAS_CORETYPE={coretype}); digits MLP 64-{HIDDEN}-10, batch {BATCH}, float32"
    )
    print(f"{'case':<34}{'CuPy':>14}{'NumPy':>14}{'ratio':>9}")
    for runs in RUNS:
        on_gpu = training_rate(gpu, parts, runs, seconds)
        on_cpu = training_rate(cpu, parts, runs, seconds)
        label = f"{runs} runs, SGD+momentum"
        print(f"{label:<34}{on_gpu:>14,.0f}{on_cpu:>14,.0f}{on_gpu / on_cpu:>8.1f}×   run-steps/s")
    gpu_s, gpu_loss = slice_time(gpu, parts, grid)
    cpu_s, cpu_loss = slice_time(cpu, parts, grid)
    label = f"{grid}×{grid} slice, 1,437 images"
    print(f"{label:<34}{gpu_s:>13.3f}s{cpu_s:>13.3f}s{cpu_s / gpu_s:>8.1f}×   (goal ≥ 50×)")
    worst = float(np.max(np.abs(gpu_loss - cpu_loss) / np.maximum(np.abs(cpu_loss), 1.0)))
    print(f"largest difference of the slice's losses, CuPy vs NumPy: {worst:.1e} (relative)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
