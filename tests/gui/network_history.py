"""Networks' histories for the curves' tests, with the fields the trainer records for a
network (``engine.training``: the evaluated columns on a cadence, NaN in between, the
minibatch loss, ``LayerRecords`` and ``BNRecords``). Made here from a seed, with shapes and
cadences chosen to be awkward (three layers, channels 0, 1, 5), so that every drawn value
can be checked against these arrays: the oracle is the history, not the code that draws
it. ``test_network_curves`` also draws a real trainer's history."""

from __future__ import annotations

import numpy as np

from engine.experiment import parse_experiment
from engine.training import BNRecords, History, LayerRecords
from gui.snapshot import Frame, Snapshot


def network_experiment(runs: int = 2, batch_norm: bool = True, steps: int = 60):
    return parse_experiment(
        {
            "steps": steps,
            "problem": {
                "kind": "mlp",
                "dataset": "digits",
                "hidden": [16, 8],
                "batch_norm": batch_norm,
                "bn_momentum": 0.1,
            },
            "runs": [
                {"label": f"run{r}", "optimizer": "sgd", "lr": 0.01 * (r + 1), "batch_size": 32}
                for r in range(runs)
            ],
        }
    )


def network_history(
    steps: int = 60,
    runs: int = 2,
    eval_every: int = 4,
    batch_norm: bool = True,
    layers: bool = True,
    seed: int = 0,
) -> History:
    """A history of ``steps + 1`` rows (one per update) whose evaluated columns hold values
    every ``eval_every`` rows, on row 0 and the last row, NaN in between."""
    rng = np.random.default_rng(seed)
    rows = steps + 1
    h = History.empty([f"run{r}" for r in range(runs)], np.arange(rows))
    h.count = rows
    h.epoch[:] = np.arange(rows)[:, None] * 32 / 1437
    h.lr[:] = 0.01
    evaluated = np.zeros(rows, bool)
    evaluated[::eval_every] = True
    evaluated[-1] = True

    def eval_column(low, high):
        """Falling from ``high`` towards ``low`` (rising when ``low > high``), a little noisy,
        a different pace per run: what a screenshot of the curves should read like."""
        pace = np.arange(1, runs + 1) / max(steps, 1) * 6.0
        decay = np.exp(-np.arange(rows)[:, None] * pace[None, :])
        values = low + (high - low) * decay * rng.uniform(0.9, 1.1, (rows, runs))
        values[~evaluated] = np.nan
        return values

    h.loss[:] = eval_column(0.2, 2.3)
    h.grad_norm[:] = eval_column(0.1, 1.0)
    h.coords[:] = 0.0
    h.extra_columns = ("accuracy", "val_loss", "val_accuracy")
    h.extra = {
        "accuracy": eval_column(0.95, 0.1),
        "val_loss": eval_column(0.35, 2.4),
        "val_accuracy": eval_column(0.9, 0.1),
        "batch_loss": rng.uniform(0.3, 2.5, (rows, runs)),
    }
    h.extra["batch_loss"][0] = np.nan  # no update into row 0
    h.layers = None
    h.bn = None
    if layers:
        names = ("linear0", "linear1", "linear2")
        shape = (rows, runs, len(names))
        grad = rng.uniform(1e-3, 1.0, shape)
        grad[0] = np.nan
        h.layers = LayerRecords(
            names=names,
            weight_norm=rng.uniform(1.0, 5.0, shape),
            grad_norm=grad,
            update_ratio=rng.uniform(1e-4, 1e-2, shape),
        )
    if batch_norm:
        shape = (rows, runs, 2, 3)
        batch_mean = rng.normal(0.0, 1.0, shape)
        batch_var = rng.uniform(0.5, 2.0, shape)
        batch_mean[0] = batch_var[0] = np.nan
        running_mean = np.zeros(shape)
        running_var = np.ones(shape)
        for k in range(1, rows):  # PyTorch's running average (biased enough for a test)
            running_mean[k] = 0.9 * running_mean[k - 1] + 0.1 * batch_mean[k]
            running_var[k] = 0.9 * running_var[k - 1] + 0.1 * batch_var[k]
        h.bn = BNRecords(
            layers=("bn0", "bn1"),
            channels=(0, 1, 5),
            batch_mean=batch_mean,
            batch_var=batch_var,
            running_mean=running_mean,
            running_var=running_var,
        )
    return h


def network_frame(h: History, experiment=None, head=None, selected=0, count=None) -> Frame:
    experiment = experiment or network_experiment(h.n_runs, h.bn is not None, int(h.step[-1]))
    count = h.count if count is None else count
    head = int(h.step[count - 1]) if head is None else head
    snapshot = Snapshot(
        job_id=7,
        experiment=experiment,
        history=h,
        count=count,
        computed_step=int(h.step[count - 1]),
        diverged_at=np.asarray(h.diverged_at).copy(),
        done=count == h.count,
    )
    rows = int(np.searchsorted(h.step[:count], head, side="right"))
    return Frame(snapshot, experiment, head, rows, True, selected)
