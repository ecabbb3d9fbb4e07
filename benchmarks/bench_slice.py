"""A loss-landscape slice of the digits MLP against PyTorch point by point, in the same run.

    python benchmarks/bench_slice.py [--quick] [--points 101] [--repeats 3] [--batch-norm]

The MLP 64-64-10 (ReLU) on the 1,437 training images of the digits (a 20% validation split
held out, features normalized), float32, one thread. The plane: two filter-normalized random
directions (Li et al. 2018) around the initial weights, coordinates in [−1, 1]² on a
``points × points`` grid. Both sides compute the evaluation-mode mean cross-entropy and the
accuracy at every grid point:

- engine: ``engine.plane.mlp_grid_loss`` (the first layer shared across the grid), once on
  one thread and once with ``workers`` threads sharing out its blocks (one per core, at most
  4, as the app runs it; BLAS single-threaded in each; the same bits either way, checked);
- PyTorch 2.x eager: ``nn.Sequential`` in eval mode under ``no_grad``, the lifted parameters
  ``origin + a·d1 + b·d2`` copied into it (``vector_to_parameters``) point after point.

Goal (issue #7): the 101 × 101 slice in ≤ 0.5 s, ≥ 9× the point-by-point loop (the ratio is
of the one-thread figures: PyTorch runs on one thread too). Each figure is
the best of ``--repeats`` (this machine is shared by several processes: the process CPU time
is printed beside the wall time, and the ratio is given for both). The BLAS thread count is
set to 1 through the environment before NumPy is imported (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS; threadpoolctl is not installed); PyTorch through
``torch.set_num_threads(1)``. OPENBLAS_CORETYPE is printed as found (unset: OpenBLAS picks its
kernel for the CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One BLAS thread, set before NumPy loads OpenBLAS (threadpoolctl is not installed here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from engine.datasets import load_digits, normalize, split
from engine.plane import default_workers, mlp_grid_loss, random_plane
from engine.problems.mlp import MLP

HIDDEN = 64


def best_of(repeats: int, job):
    """(best wall seconds, best process CPU seconds, the last result) of ``repeats`` runs."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = job()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, result


def torch_point_by_point(torch, model, plane, buffers, parts, a_values, b_values):
    """PyTorch eager, one forward pass over the training images per grid point."""
    layers = [torch.nn.Linear(64, HIDDEN)]
    if model.batch_norm:
        layers.append(torch.nn.BatchNorm1d(HIDDEN))
    net = torch.nn.Sequential(*layers, torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10)).eval()
    if model.batch_norm:
        bn = net[1]
        bn.running_mean.copy_(torch.tensor(model.layout.view(buffers, "bn0.running_mean")))
        bn.running_var.copy_(torch.tensor(model.layout.view(buffers, "bn0.running_var")))
    x = torch.tensor(parts.x_train, dtype=torch.float32)
    y = torch.tensor(parts.y_train)
    origin, d1, d2 = (
        torch.tensor(v, dtype=torch.float32) for v in (plane.origin, plane.d1, plane.d2)
    )
    loss = np.empty((len(b_values), len(a_values)))
    accuracy = np.empty_like(loss)
    with torch.no_grad():
        for i, b in enumerate(b_values):
            for j, a in enumerate(a_values):
                torch.nn.utils.vector_to_parameters(origin + a * d1 + b * d2, net.parameters())
                logits = net(x)
                loss[i, j] = torch.nn.functional.cross_entropy(logits, y).item()
                accuracy[i, j] = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 21 × 21 grid, one repeat")
    parser.add_argument("--points", type=int, default=101, help="grid points per axis")
    parser.add_argument("--repeats", type=int, default=3, help="best of (default 3)")
    parser.add_argument("--batch-norm", action="store_true", help="batch norm after the Linear")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="threads of the all-cores figure"
    )
    args = parser.parse_args(argv)
    points, repeats = (21, 1) if args.quick else (args.points, args.repeats)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("PyTorch is not installed: engine figures only (pip install torch==2.13.0)")

    parts = normalize(split(load_digits(), 0.2, seed=0))
    model = MLP(64, [HIDDEN], 10, "relu", args.batch_norm, dtype=np.float32)
    params, buffers = model.init_host(seed=0)
    if model.batch_norm:  # running statistics that are not the identity map
        rng = np.random.default_rng(1)
        buffers = np.abs(buffers + 0.3 * rng.standard_normal(buffers.shape)) + 0.2
    plane = random_plane(model, params, seed=0)
    a_values = b_values = np.linspace(-1, 1, points)
    x = model.asarray(parts.x_train)

    def ours(workers=1):
        return mlp_grid_loss(
            model, plane, buffers, x, parts.y_train, a_values, b_values, workers=workers
        )

    threads = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(
        f"digits MLP 64-{HIDDEN}-10 (ReLU{', batch norm' if model.batch_norm else ''}), "
        f"{len(parts.y_train)} training images, {points} × {points} grid, float32; "
        f"threads {threads} (environment, before NumPy), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, "
        f"torch threads {torch.get_num_threads() if torch else '-'}; best of {repeats}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    wall, cpu, (loss, accuracy) = best_of(repeats, ours)
    print(f"{'engine, 1 thread':<34}{wall:>8.3f} s wall{cpu:>8.3f} s CPU")
    # float32 as the app draws it, against the same engine in float64 (one run, untimed)
    exact_loss, exact_accuracy = mlp_grid_loss(
        model, plane, buffers, x, parts.y_train, a_values, b_values, dtype=np.float64
    )
    print(
        f"{'float32 against float64':<34}largest relative loss difference "
        f"{np.abs(loss / exact_loss - 1).max():.1e}, accuracy differs at "
        f"{np.count_nonzero(accuracy != exact_accuracy)} of {accuracy.size} points (ties)"
    )
    workers = args.workers
    w_wall, w_cpu, (w_loss, w_accuracy) = best_of(repeats, lambda: ours(workers))
    same = np.array_equal(w_loss, loss) and np.array_equal(w_accuracy, accuracy)
    print(
        f"{f'engine, {workers} threads':<34}{w_wall:>8.3f} s wall{w_cpu:>8.3f} s CPU"
        f"   ({os.cpu_count()} cores; {'the same bits' if same else 'DIFFERENT RESULTS'}"
        f" as 1 thread; speed-up {wall / w_wall:.2f}×)"
    )
    if torch is None:
        return 0
    t_wall, t_cpu, (t_loss, t_accuracy) = best_of(
        repeats,
        lambda: torch_point_by_point(torch, model, plane, buffers, parts, a_values, b_values),
    )
    print(f"{'PyTorch eager, point by point':<34}{t_wall:>8.3f} s wall{t_cpu:>8.3f} s CPU")
    print(
        f"{'ratio, 1 thread each':<34}{t_wall / wall:>8.1f} × wall{t_cpu / cpu:>7.1f} × CPU"
        f"   (goal ≥ 9×)"
    )
    if points == 101:  # the goal's grid
        print(
            f"{'goal ≤ 0.5 s':<34}{wall:>8.3f} s on 1 thread, {w_wall:.3f} s on {workers} "
            f"threads ({'met' if min(wall, w_wall) <= 0.5 else 'not met'}"
            f"{' only with threads' if w_wall <= 0.5 < wall else ''})"
        )
    # the same numbers, or the comparison means nothing
    print(
        f"largest difference: loss {np.abs(loss - t_loss).max():.2e}, "
        f"accuracy {np.abs(accuracy - t_accuracy).max():.2e} (float32 rounding, ties)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
