"""Peak memory of a long network training recorded as the app records it.

    python benchmarks/bench_memory.py [--steps N] [--runs R] [--eval-every K] [--no-tracemalloc]

8 runs (SGD, momentum, Adam, AdamW at two rates each) of the digits MLP 64-64-10 with batch
norm, float32, batch 32, 20,000 steps, every step recorded (``record_every = 1``), the full
splits evaluated every 20th row (``eval_every``, as the app asks), diagnostics on: what the
app's worker builds (``engine.experiment.build``) and advances chunk by chunk. Reported:

- the peak of Python/NumPy allocations during the build and the training (``tracemalloc``);
- the process's peak resident set (``ru_maxrss``: the interpreter and libraries included).

Goal (issue #7): ≤ 300 MB. The bound: the reservoir budget (128 MiB) + the history's rows ×
runs × fields (49 MiB here) + the step loop's pending states (16 MiB) + the data set, a
flush's temporaries and the interpreter; never steps × parameters (8 × 20,001 × 5,066 × 4
bytes = 3.1 GiB). Measured here (2 shared cores, load ≈ 18): tracemalloc 210 MiB, RSS
270 MiB (283 MB), 301 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import snapshots, training
from engine.experiment import build, load_experiment

GOAL_MB = 300
RUNS = [
    ("sgd", 'optimizer = "sgd"\nlr = 0.05'),
    ("sgd fast", 'optimizer = "sgd"\nlr = 0.2'),
    ("momentum", 'optimizer = "momentum"\nlr = 0.02\nmomentum = 0.9'),
    ("momentum fast", 'optimizer = "momentum"\nlr = 0.05\nmomentum = 0.9'),
    ("adam", 'optimizer = "adam"\nlr = 0.001'),
    ("adam fast", 'optimizer = "adam"\nlr = 0.005'),
    ("adamw", 'optimizer = "adamw"\nlr = 0.001\nweight_decay = 0.01'),
    ("adamw fast", 'optimizer = "adamw"\nlr = 0.005\nweight_decay = 0.01'),
]


def experiment_text(steps: int, runs: int) -> str:
    blocks = "\n".join(
        f'[[runs]]\nlabel = "{label}"\n{lines}\nbatch_size = 32\n'
        for label, lines in (RUNS * (runs // len(RUNS) + 1))[:runs]
    )
    return f"""
seed = 0
steps = {steps}
dtype = "float32"
record_every = 1

[problem]
kind = "mlp"
dataset = "digits"
hidden = [64]
activation = "relu"
normalize_features = true
validation_fraction = 0.2
batch_norm = true

{blocks}
"""


def history_bytes(h) -> int:
    arrays = [h.step, h.epoch, h.lr, h.loss, h.grad_norm, h.coords, h.diverged_at]
    arrays += [a for a in (h.grad, h.update, h.velocity, h.step_size) if a is not None]
    arrays += list(h.extra.values())
    for records in (h.layers, h.bn):
        if records is not None:
            arrays += list(records.arrays())
    return sum(a.nbytes for a in arrays)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=2_000, help="updates per advance")
    parser.add_argument("--no-tracemalloc", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory.toml"
        path.write_text(experiment_text(args.steps, args.runs), encoding="utf-8")
        experiment = load_experiment(path)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.no_tracemalloc:
            tracemalloc.start()
        started = time.perf_counter()
        built = build(experiment, base_dir=folder, eval_every=args.eval_every)
        trainer = built.trainer
        while not trainer.done:  # the app's worker: advance, publish, advance…
            trainer.advance(args.chunk)
        elapsed = time.perf_counter() - started
        peak = None
        if not args.no_tracemalloc:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    h, reservoir, problem = trainer.history, trainer.snapshots, built.problem
    hist = history_bytes(h) / 2**20
    bound = (snapshots.DEFAULT_BUDGET_BYTES + training.PENDING_BYTES) / 2**20 + hist
    print(
        f"{args.runs} runs × {args.steps:,} steps of the digits MLP 64-64-10 with batch norm "
        f"({problem.n_params:,} parameters, {problem.n_buffers} buffers), float32, batch 32, "
        f"record_every 1, eval_every {args.eval_every}: {elapsed:.0f} s"
    )
    print(
        f"reservoir: {reservoir.count} of {reservoir.offered:,} rows kept (stride "
        f"{reservoir.stride}), {reservoir.nbytes / 2**20:.1f} MiB of a "
        f"{snapshots.DEFAULT_BUDGET_BYTES / 2**20:.0f} MiB budget; history {hist:.1f} MiB"
    )
    if peak is not None:
        print(
            f"peak allocations (tracemalloc): {peak:.1f} MiB, of which the stated bound "
            f"(reservoir budget + history + pending states) {bound:.1f} MiB; the rest is the "
            "data set and a flush's temporaries"
        )
    print(
        f"peak resident set (ru_maxrss): {rss:.1f} MiB = {rss * 2**20 / 1e6:.0f} MB "
        f"({rss_before:.1f} MiB before building); goal ≤ {GOAL_MB} MB"
    )
    unbounded = args.runs * len(h.step) * (problem.n_params + problem.n_buffers) * 4 / 2**20
    print(f"(every row's state kept, as before: {unbounded:,.0f} MiB)")
    figure = rss if peak is None else max(peak, rss)
    return 0 if figure * 2**20 <= GOAL_MB * 1e6 else 1


if __name__ == "__main__":
    sys.exit(main())
