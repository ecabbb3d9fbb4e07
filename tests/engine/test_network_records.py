"""A network's per-row records (minibatch loss, per-layer norms, batch-norm statistics) and
the evaluation cadence, against PyTorch doing the same updates in float64: the oracle is
``torch.nn`` and ``torch.optim``, never the engine."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backend import select_backend
from engine.batching import BatchConfig
from engine.datasets import Dataset, split
from engine.problems.mlp import MLP
from engine.problems.network import MLPProblem
from engine.training import RunSpec, Trainer

torch = pytest.importorskip("torch")

N, D, HIDDEN, C = 32, 3, (5, 6), 3
STEPS = 6
MOMENTUM = 0.2

# label, engine spec pieces, the torch optimizer, micro-batch, accumulation
RUNS = [
    (
        "momentum",
        "momentum",
        dict(momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        8,
        1,
    ),
    ("adam", "adam", {}, lambda p: torch.optim.Adam(p, lr=0.01), 8, 1),
    (
        "accumulated",
        "sgd",
        dict(weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.2, weight_decay=0.01),
        4,
        2,
    ),
]
LR = {"momentum": 0.1, "adam": 0.01, "accumulated": 0.2}


def make_problem(batch_norm=True, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)) * [1.0, 3.0, 0.5] + [0.0, 1.0, -2.0]
    y = rng.integers(0, C, N)
    data = Dataset("data", x, y, tuple(f"c{c}" for c in range(C)), ("a", "b", "c"))
    parts = split(data, 0.0, 0)
    backend = select_backend("numpy", "float64")
    model = MLP(D, list(HIDDEN), C, batch_norm=batch_norm, bn_momentum=MOMENTUM, dtype=np.float64)
    start, buffers = model.init_host(seed)
    return MLPProblem(backend, model, parts, start, buffers)


def specs(runs=RUNS):
    return [
        RunSpec(
            label=label,
            optimizer=opt,
            lr=LR[label],
            hyper=hyper,
            batch=BatchConfig(batch, shuffle=False, accumulation_steps=k),
        )
        for label, opt, hyper, _, batch, k in runs
    ]


def torch_model(problem: MLPProblem):
    """The engine's start as an ``nn.Sequential`` (float64)."""
    model = problem.model
    layers, names = [], {}
    for i, (fan_in, fan_out) in enumerate(zip(model.widths, model.widths[1:], strict=False)):
        names[str(len(layers))] = f"linear{i}"
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(model.widths) - 2:
            if model.batch_norm:
                names[str(len(layers))] = f"bn{i}"
                layers.append(torch.nn.BatchNorm1d(fan_out, momentum=MOMENTUM))
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).double()
    arrays = model.weights_dict(problem.start, problem.start_buffers)
    state = {}
    for key in net.state_dict():
        layer, field = key.split(".", 1)
        if field == "num_batches_tracked":
            state[key] = torch.tensor(0)
        else:
            state[key] = torch.tensor(arrays[f"{names[layer]}.{field}"])
    net.load_state_dict(state)
    return net


def torch_records(problem, make_opt, batch, accumulation, steps=STEPS):
    """Per update: minibatch loss (size-weighted mean), per Linear ‖W‖ after, ‖∂L/∂W‖,
    ‖ΔW‖/‖W before‖, and per BatchNorm1d the last micro-batch's mean/biased var and the
    running mean/var after — PyTorch's own values (the batch statistics from a hook)."""
    net = torch_model(problem)
    opt = make_opt(net.parameters())
    x = torch.tensor(problem.split.x_train)
    y = torch.tensor(problem.split.y_train)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    bns = [m for m in net if isinstance(m, torch.nn.BatchNorm1d)]
    seen = {}
    for m in bns:
        m.register_forward_hook(
            lambda mod, inp, out: seen.__setitem__(
                mod, (inp[0].mean(0).detach(), inp[0].var(0, unbiased=False).detach())
            )
        )
    loss_fn = torch.nn.CrossEntropyLoss()
    per_epoch = N // batch
    micro = 0
    rows = []
    for _ in range(steps):
        net.train()
        opt.zero_grad()
        before = [m.weight.detach().clone() for m in linears]
        total = 0.0
        for _ in range(accumulation):
            j = micro % per_epoch
            micro += 1
            loss = loss_fn(net(x[j * batch : (j + 1) * batch]), y[j * batch : (j + 1) * batch])
            (loss / accumulation).backward()
            total += loss.item() / accumulation
        grads = [m.weight.grad.norm().item() for m in linears]
        opt.step()
        rows.append(
            dict(
                batch_loss=total,
                weight_norm=[m.weight.norm().item() for m in linears],
                grad_norm=grads,
                update_ratio=[
                    ((m.weight - b).norm() / b.norm()).item()
                    for m, b in zip(linears, before, strict=True)
                ],
                batch_mean=[seen[m][0][:4].numpy() for m in bns],
                batch_var=[seen[m][1][:4].numpy() for m in bns],
                running_mean=[m.running_mean[:4].numpy().copy() for m in bns],
                running_var=[m.running_var[:4].numpy().copy() for m in bns],
            )
        )
    return rows


@pytest.mark.parametrize("record_every", [1, 2])
def test_recorded_layers_and_batch_norm_statistics_equal_pytorch(record_every):
    problem = make_problem()
    trainer = Trainer(problem, specs(), STEPS, record_every=record_every)
    trainer.run(chunk=4)  # rows flushed across two chunks
    h = trainer.history
    assert h.layers.names == ("linear0", "linear1", "linear2")
    assert h.bn.layers == ("bn0", "bn1")
    assert h.bn.channels == (0, 1, 2, 3)
    for r, (label, _, _, make_opt, batch, k) in enumerate(RUNS):
        expected = torch_records(problem, make_opt, batch, k)
        for row, step in enumerate(h.step):
            if step == 0:
                assert np.isnan(h.extra["batch_loss"][0, r])
                assert np.isnan(h.layers.grad_norm[0, r]).all()
                assert np.isnan(h.bn.batch_mean[0, r]).all()
                np.testing.assert_allclose(h.bn.running_var[0, r], 1.0)
                continue
            want = expected[step - 1]
            got = dict(
                batch_loss=h.extra["batch_loss"][row, r],
                weight_norm=h.layers.weight_norm[row, r],
                grad_norm=h.layers.grad_norm[row, r],
                batch_mean=h.bn.batch_mean[row, r],
                batch_var=h.bn.batch_var[row, r],
                running_mean=h.bn.running_mean[row, r],
                running_var=h.bn.running_var[row, r],
            )
            for name, value in got.items():
                np.testing.assert_allclose(
                    value, np.asarray(want[name]), rtol=1e-7, atol=1e-9, err_msg=f"{label} {name}"
                )
            if record_every == 1:  # the update into the row (with a stride: several updates)
                np.testing.assert_allclose(
                    h.layers.update_ratio[row, r], want["update_ratio"], rtol=1e-7, err_msg=label
                )


def test_update_ratio_spans_the_update_into_the_row_only():
    """With record_every = 2 the ratio is of the last update, not of the two since the last
    row: ‖W_k − W_(k−1)‖/‖W_(k−1)‖, PyTorch's."""
    problem = make_problem()
    trainer = Trainer(problem, specs(RUNS[:1]), 4, record_every=2)
    trainer.run()
    expected = torch_records(problem, RUNS[0][3], 8, 1, steps=4)
    np.testing.assert_allclose(
        trainer.history.layers.update_ratio[1:, 0],
        [expected[1]["update_ratio"], expected[3]["update_ratio"]],
        rtol=1e-7,
    )


def test_evaluation_every_k_rows_holds_the_same_values_and_nan_between():
    problem = make_problem()
    every = Trainer(problem, specs(), 7)
    every.run()
    sparse = Trainer(problem, specs(), 7, eval_every=3)
    sparse.run(chunk=2)
    due = np.array([0, 3, 6, 7])  # every 3rd row, and the last
    others = np.setdiff1d(np.arange(8), due)
    for name in ("loss", "grad_norm"):
        a, b = getattr(every.history, name), getattr(sparse.history, name)
        np.testing.assert_allclose(b[due], a[due], rtol=1e-13)  # evaluated in other batches
        assert np.isnan(b[others]).all()
    for name in ("accuracy",):
        np.testing.assert_array_equal(
            sparse.history.extra[name][due], every.history.extra[name][due]
        )
        assert np.isnan(sparse.history.extra[name][others]).all()
    # what is not an evaluation is recorded at every row
    np.testing.assert_array_equal(
        sparse.history.extra["batch_loss"], every.history.extra["batch_loss"]
    )
    np.testing.assert_array_equal(sparse.history.layers.grad_norm, every.history.layers.grad_norm)
    assert (sparse.history.diverged_at == -1).all()


def test_eval_every_is_checked():
    with pytest.raises(ValueError, match="eval_every must be an integer ≥ 1, got 0"):
        Trainer(make_problem(), specs(), 3, eval_every=0)
