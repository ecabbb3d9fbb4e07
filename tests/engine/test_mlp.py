"""The MLP against independent oracles: torch.nn in float64 (forward, every gradient, running
statistics, whole training trajectories with torch.optim), float64 finite differences, and
hand-computed values where PyTorch has no answer (a batch of one with batch norm)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.datasets import load_digits, normalize, split
from engine.optim import make_optimizer
from engine.problems.mlp import MLP, WeightsError

torch = pytest.importorskip("torch", reason="torch is the oracle for networks")
pytestmark = pytest.mark.torch

F64 = np.float64
ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


# ---- the oracle ----------------------------------------------------------------------------


def torch_net(model: MLP, params_row, buffers_row):
    """``nn.Sequential(Linear, [BatchNorm1d], activation, …, Linear)`` in float64 holding one
    run's arrays, loaded by the contract's names."""
    modules, names = [], {}
    last = len(model.widths) - 2
    for i, (fan_in, fan_out) in enumerate(zip(model.widths[:-1], model.widths[1:], strict=True)):
        linear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)
        modules.append(linear)
        names[f"linear{i}"] = linear
        if i < last:
            if model.batch_norm:
                bn = torch.nn.BatchNorm1d(
                    fan_out, momentum=model.bn_momentum, eps=model.bn_eps, dtype=torch.float64
                )
                modules.append(bn)
                names[f"bn{i}"] = bn
            modules.append(ACTIVATIONS[model.activation]())
    net = torch.nn.Sequential(*modules)
    with torch.no_grad():
        for name, value in model.weights_dict(params_row, buffers_row).items():
            module, attr = name.split(".")
            getattr(names[module], attr).copy_(torch.from_numpy(np.array(value, dtype=F64)))
    return net, names


def torch_grads(net):
    """Every parameter's gradient, flat, in ``named_parameters`` order (= our layout's)."""
    return np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])


def torch_buffers(names):
    parts = [
        np.concatenate([m.running_mean.numpy(), m.running_var.numpy()])
        for key, m in sorted(names.items())
        if key.startswith("bn")
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def cross_entropy(net, x, y):
    return torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))


def torch_eval(model: MLP, params_row, buffers_row, x, y):
    """One run's net in evaluation mode: (net, its logits on ``x``, the mean cross-entropy),
    the loss's gradients already in the net's ``.grad``."""
    net, _ = torch_net(model, params_row, buffers_row)
    net.eval()
    logits = net(torch.from_numpy(x))
    expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
    expected.backward()
    return net, logits, expected


def perturbed_state(model, runs, seed=0):
    """Runs that differ (so that mixing them up would show) and running statistics away from
    their initial 0 and 1."""
    rng = np.random.default_rng(seed)
    params, buffers = model.initial_state(seed=1, runs=runs)
    params = params + 0.3 * rng.standard_normal(params.shape)
    buffers = np.abs(buffers + 0.5 * rng.standard_normal(buffers.shape)) + 0.1
    return params, buffers


def data(n=24, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


# ---- layout and initialization -------------------------------------------------------------


def test_layout_has_the_contract_names_in_pytorch_order():
    model = MLP(5, [4, 3], 2, batch_norm=True)
    params = [(e.name, e.shape, e.offset) for e in model.layout.params]
    assert params == [
        ("linear0.weight", (4, 5), 0),
        ("linear0.bias", (4,), 20),
        ("bn0.weight", (4,), 24),
        ("bn0.bias", (4,), 28),
        ("linear1.weight", (3, 4), 32),
        ("linear1.bias", (3,), 44),
        ("bn1.weight", (3,), 47),
        ("bn1.bias", (3,), 50),
        ("linear2.weight", (2, 3), 53),
        ("linear2.bias", (2,), 59),
    ]
    buffers = [(e.name, e.offset) for e in model.layout.buffers]
    assert buffers == [
        ("bn0.running_mean", 0),
        ("bn0.running_var", 4),
        ("bn1.running_mean", 8),
        ("bn1.running_var", 11),
    ]
    net, _ = torch_net(model, *model.init_host(0))
    assert model.n_params == sum(p.numel() for p in net.parameters()) == 61
    assert model.n_buffers == 14
    flat = np.arange(2 * model.n_params, dtype=float).reshape(2, -1)
    assert model.layout.view(flat, "linear1.weight")[1, 2, 3] == model.n_params + 32 + 2 * 4 + 3


def test_softmax_regression_and_no_batch_norm_have_no_buffers():
    assert MLP(4, [], 3, batch_norm=True).layout.names == ("linear0.weight", "linear0.bias")
    assert MLP(4, [8], 3).n_buffers == 0


def test_initialization_is_pytorchs_default_drawn_from_the_seed():
    model = MLP(400, [300], 10, batch_norm=True)
    params, buffers = model.init_host(seed=7)
    w = model.layout.view(params[None], "linear0.weight")[0]
    b = model.layout.view(params[None], "linear0.bias")[0]
    reference = torch.nn.Linear(400, 300)  # kaiming_uniform(a=√5): U(±1/√in), bias too
    for ours, theirs in ((w, reference.weight), (b, reference.bias)):
        theirs = theirs.detach().numpy()
        assert np.abs(ours).max() <= 1 / 20
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.02)
        assert ours.std() == pytest.approx(theirs.std(), rel=0.1)
    assert np.abs(model.layout.view(params[None], "linear1.weight")).max() <= 1 / np.sqrt(300)
    assert np.array_equal(model.layout.view(params[None], "bn0.weight")[0], np.ones(300))
    assert np.array_equal(model.layout.view(params[None], "bn0.bias")[0], np.zeros(300))
    assert np.array_equal(buffers, np.r_[np.zeros(300), np.ones(300)])
    again, _ = model.init_host(seed=7)
    assert np.array_equal(again, params)
    assert not np.array_equal(model.init_host(seed=8)[0], params)
    stacked, _ = model.initial_state(seed=7, runs=3)
    assert stacked.dtype == np.float32
    assert np.array_equal(stacked[0], stacked[2])
    assert np.array_equal(stacked[1], params.astype(np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": [8, 0]}, r"hidden widths must be integers ≥ 1, got 0 at position 1"),
        ({"hidden": [2.5]}, r"hidden widths must be integers ≥ 1, got 2.5"),
        ({"activation": "gelu"}, r"activation must be one of relu, tanh, sigmoid, not 'gelu'"),
        ({"bn_momentum": 1.5}, r"bn_momentum must be a number in \[0, 1\], got 1.5"),
        ({"bn_momentum": -0.1}, r"bn_momentum must be a number in \[0, 1\]"),
        ({"bn_momentum": "0.1"}, r"bn_momentum must be a number in \[0, 1\], got '0.1'"),
        ({"bn_eps": 0.0}, r"bn_eps must be a number > 0"),
        ({"bn_eps": None}, r"bn_eps must be a number > 0, got None"),
        ({"n_classes": 1}, r"n_classes must be an integer ≥ 2"),
    ],
)
def test_bad_network_settings(kwargs, message):
    settings = {"n_inputs": 4, "hidden": [8], "n_classes": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        MLP(**settings)


# ---- forward and backward against torch.nn -------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_training_mode_loss_gradients_and_running_stats_equal_torch(activation, batch_norm):
    model = MLP(5, [7, 6], 3, activation, batch_norm, bn_momentum=0.3, dtype=F64)
    params, buffers = perturbed_state(model, runs=3)
    x, y = data()
    loss, grads, new_buffers = model.batch_grad(params, buffers, x, y)
    assert loss.shape == (3,)
    assert grads.shape == params.shape
    for r in range(3):
        net, names = torch_net(model, params[r], buffers[r])
        net.train()
        expected = cross_entropy(net, x, y)
        expected.backward()
        assert loss[r] == pytest.approx(expected.item(), rel=1e-12)
        np.testing.assert_allclose(grads[r], torch_grads(net), **TIGHT)
        np.testing.assert_allclose(new_buffers[r], torch_buffers(names), **TIGHT)
    if batch_norm:  # the step returns new buffers; the ones it was given are unchanged
        assert not np.allclose(new_buffers, buffers)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_evaluation_mode_uses_running_stats_like_torch(activation, batch_norm):
    model = MLP(5, [7, 6], 3, activation, batch_norm, dtype=F64)
    params, buffers = perturbed_state(model, runs=2, seed=4)
    x, y = data(n=40, seed=2)
    result = model.evaluate(params, buffers, x, y, grad=True)
    for r in range(2):
        net, logits, expected = torch_eval(model, params[r], buffers[r], x, y)
        assert result.loss[r] == pytest.approx(expected.item(), rel=1e-12)
        assert result.accuracy[r] == (logits.argmax(1).numpy() == y).mean()
        np.testing.assert_allclose(result.grads[r], torch_grads(net), **TIGHT)
        np.testing.assert_allclose(
            model.logits(params, buffers, x)[r], logits.detach().numpy(), **TIGHT
        )
    assert model.evaluate(params, buffers, x, y).grads is None


def test_evaluation_in_chunks_equals_torch_on_the_whole_split():
    model = MLP(5, [7], 3, "relu", batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=2, seed=8)
    x, y = data(n=53, seed=5)
    # 2 runs × 7 wide: at most 10 examples per chunk, the last one shorter
    chunked = model.evaluate(params, buffers, x, y, grad=True, max_elements=2 * 7 * 10)
    for r in range(2):
        net, logits, expected = torch_eval(model, params[r], buffers[r], x, y)
        assert chunked.loss[r] == pytest.approx(expected.item(), rel=1e-12)
        assert chunked.accuracy[r] == pytest.approx((logits.argmax(1).numpy() == y).mean())
        np.testing.assert_allclose(chunked.grads[r], torch_grads(net), **TIGHT)


def test_norms_of_every_array_of_every_run():
    model = MLP(5, [7, 4], 3, batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=3)
    norms = model.layout.norms(params)
    assert norms.shape == (3, len(model.layout.params))
    for k, entry in enumerate(model.layout.params):
        view = model.layout.view(params, entry.name).reshape(3, -1)
        np.testing.assert_allclose(norms[:, k], np.linalg.norm(view, axis=1), rtol=1e-14)
    running_var = model.layout.view(buffers, "bn1.running_var")
    np.testing.assert_allclose(
        model.layout.norms(buffers, trainable=False)[:, 3], np.linalg.norm(running_var, axis=1)
    )


def test_running_stats_follow_torch_over_several_batches():
    model = MLP(5, [6, 4], 3, "relu", batch_norm=True, bn_momentum=0.25, dtype=F64)
    params, buffers = perturbed_state(model, runs=1, seed=5)
    net, names = torch_net(model, params[0], buffers[0])
    net.train()
    x, y = data(n=60, seed=3)
    for j in range(6):
        xb, yb = x[j * 10 : (j + 1) * 10], y[j * 10 : (j + 1) * 10]
        _, _, buffers = model.batch_grad(params, buffers, xb, yb)
        with torch.no_grad():
            net(torch.from_numpy(xb))
    np.testing.assert_allclose(buffers[0], torch_buffers(names), **TIGHT)


def test_logits_in_training_mode_leave_the_running_stats_alone():
    model = MLP(5, [6], 3, batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=2)
    before = buffers.copy()
    x, _ = data()
    net, _ = torch_net(model, params[1], buffers[1])
    net.train()
    np.testing.assert_allclose(
        model.logits(params, buffers, x, train=True)[1],
        net(torch.from_numpy(x)).detach().numpy(),
        **TIGHT,
    )
    assert np.array_equal(buffers, before)


def test_a_batch_of_one_with_batch_norm_gives_beta_and_keeps_running():
    """PyTorch refuses B = 1 in training mode; here every normalized activation is 0, so the
    hidden layer outputs act(β), and the running variance is updated with σ² = 0."""
    model = MLP(3, [4], 2, "tanh", batch_norm=True, bn_momentum=0.1, dtype=F64)
    params, buffers = perturbed_state(model, runs=1)
    x, y = data(n=1, features=3, classes=2)
    loss, grads, new_buffers = model.batch_grad(params, buffers, x, y)
    view = model.layout.view
    beta = view(params, "bn0.bias")[0]
    w1, b1 = view(params, "linear1.weight")[0], view(params, "linear1.bias")[0]
    logits = w1 @ np.tanh(beta) + b1
    expected = np.log(np.exp(logits).sum()) - logits[y[0]]
    assert loss[0] == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(grads).all()
    z = view(params, "linear0.weight")[0] @ x[0] + view(params, "linear0.bias")[0]
    old = model.layout.view(buffers, "bn0.running_mean")[0]
    assert np.allclose(view(new_buffers, "bn0.running_mean")[0], 0.9 * old + 0.1 * z)
    old_var = view(buffers, "bn0.running_var")[0]
    assert np.allclose(view(new_buffers, "bn0.running_var")[0], 0.9 * old_var)


def test_a_batch_of_one_is_warned_about_only_with_batch_norm():
    assert "outputs β" in MLP(3, [4], 2, batch_norm=True).tiny_batch_warning(1)
    assert MLP(3, [4], 2, batch_norm=True).tiny_batch_warning(2) is None
    assert MLP(3, [4], 2).tiny_batch_warning(1) is None
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # the oracle refuses
        torch.nn.BatchNorm1d(4).train()(torch.zeros(1, 4))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_runs_together_equal_each_run_alone(batch_norm):
    model = MLP(5, [8, 6], 4, "relu", batch_norm, dtype=F64)
    params, buffers = perturbed_state(model, runs=5, seed=9)
    x, y = data(n=20, classes=4, seed=6)
    loss, grads, new_buffers = model.batch_grad(params, buffers, x, y)
    full = model.evaluate(params, buffers, x, y, grad=True)
    for r in range(5):
        alone = model.batch_grad(params[r : r + 1], buffers[r : r + 1], x, y)
        np.testing.assert_allclose(loss[r], alone[0][0], rtol=1e-13)
        np.testing.assert_allclose(grads[r], alone[1][0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(new_buffers[r], alone[2][0], rtol=1e-13)
        one = model.evaluate(params[r : r + 1], buffers[r : r + 1], x, y, grad=True)
        np.testing.assert_allclose(full.grads[r], one.grads[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("train", [True, False])
def test_gradients_equal_finite_differences(train):
    """Central differences of the float64 loss for every parameter; in training mode the
    batch statistics move with the parameters, and the gradient must include that."""
    model = MLP(3, [4], 3, "tanh", batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=1, seed=2)
    x, y = data(n=7, features=3)

    def loss_at(p):
        if train:
            return model.batch_grad(p[None], buffers, x, y)[0][0]
        return model.evaluate(p[None], buffers, x, y).loss[0]

    grads = (
        model.batch_grad(params, buffers, x, y)[1][0]
        if train
        else model.evaluate(params, buffers, x, y, grad=True).grads[0]
    )
    h = 1e-6
    numeric = np.empty(model.n_params)
    for k in range(model.n_params):
        step = np.zeros(model.n_params)
        step[k] = h
        numeric[k] = (loss_at(params[0] + step) - loss_at(params[0] - step)) / (2 * h)
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-9)


def test_float32_is_the_default_and_close_to_float64():
    x, y = data(n=32, features=64, classes=10)
    model32 = MLP(64, [64], 10, batch_norm=True)
    model64 = MLP(64, [64], 10, batch_norm=True, dtype=F64)
    p32, b32 = model32.initial_state(0, runs=2)
    p64, b64 = model64.initial_state(0, runs=2)
    loss32, grads32, buffers32 = model32.batch_grad(p32, b32, model32.asarray(x), y)
    loss64, grads64, _ = model64.batch_grad(p64, b64, x, y)
    assert grads32.dtype == loss32.dtype == buffers32.dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    np.testing.assert_allclose(grads32, grads64, rtol=1e-3, atol=1e-5)


def _train(model, optimizer, hyper, x, y, steps, batch=32):
    """Our model and optimizer stepping minibatches in data order; the final (P,) float64."""
    params, buffers = model.initial_state(seed=3, runs=1)
    opt = make_optimizer(optimizer, hyper, dtype=model.dtype)
    state = opt.init(params)
    xs = model.asarray(x)
    for k in range(steps):
        rows = slice(k * batch % (len(y) - batch), None)
        xb, yb = xs[rows][:batch], y[rows][:batch]
        _, grads, buffers = model.batch_grad(params, buffers, xb, yb)
        params, state = opt.update(grads, state, params, hyper["lr"])
    return np.asarray(params[0], F64)


def _train_torch(model, optimizer, hyper, x, y, steps, dtype, batch=32):
    """The same in PyTorch at ``dtype``, from our start: the final parameters, float64."""
    params, buffers = model.initial_state(seed=3, runs=1)
    net, _ = torch_net(model, np.asarray(params[0], F64), np.asarray(buffers[0], F64))
    net = net.to(dtype)
    net.train()
    opt = torch_optimizer(optimizer, net, hyper)
    xs, ys = torch.tensor(x, dtype=dtype), torch.tensor(y)
    for k in range(steps):
        start = k * batch % (len(y) - batch)
        opt.zero_grad()
        logits = net(xs[start : start + batch])
        torch.nn.functional.cross_entropy(logits, ys[start : start + batch]).backward()
        opt.step()
    return np.concatenate([p.detach().double().numpy().ravel() for p in net.parameters()])


@pytest.mark.parametrize(
    ("optimizer", "hyper", "batch_norm"),
    [("adam", {"lr": 0.001}, True), ("momentum", {"lr": 0.05}, True)],
)
def test_float32_training_is_as_close_to_float64_as_torchs_float32(optimizer, hyper, batch_norm):
    """100 updates of the digits MLP in float32 drift from float64 by rounding, and Adam on
    batch norm amplifies it (its steps divide by the gradients' own scale): about 1e-3 of the
    weights' scale for PyTorch as for us. Our float32 must stay within a small factor of
    PyTorch's own float32 drift, both measured against the float64 trajectory (a step that
    loses precision fails this: gradients or batch variances rounded to half precision did)."""
    x, y = digits_subset()
    model32 = MLP(64, [64], 10, "relu", batch_norm, dtype=np.float32)
    model64 = MLP(64, [64], 10, "relu", batch_norm, dtype=F64)
    truth = _train(model64, optimizer, hyper, x, y, 100)
    np.testing.assert_allclose(
        truth, _train_torch(model64, optimizer, hyper, x, y, 100, torch.float64), rtol=1e-8
    )
    scale = np.abs(truth).max()
    ours = np.abs(_train(model32, optimizer, hyper, x, y, 100) - truth).max() / scale
    theirs = (
        np.abs(_train_torch(model64, optimizer, hyper, x, y, 100, torch.float32) - truth).max()
        / scale
    )
    assert 0 < theirs < 1e-2
    assert ours < 3 * theirs, f"float32 drift {ours:.1e} against PyTorch's {theirs:.1e}"


# ---- training trajectories against torch.optim ---------------------------------------------


def digits_subset(n=320):
    parts = normalize(split(load_digits(), 0.0, seed=0))
    return parts.x_train[:n], parts.y_train[:n]


def torch_optimizer(name, net, hyper):
    if name == "momentum":
        return torch.optim.SGD(
            net.parameters(),
            lr=hyper["lr"],
            momentum=0.9,
            weight_decay=hyper.get("weight_decay", 0.0),
        )
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(net.parameters(), lr=hyper["lr"], weight_decay=hyper.get("weight_decay", 0.0))


@pytest.mark.parametrize(
    ("optimizer", "hyper", "batch_norm"),
    [
        ("momentum", {"lr": 0.05}, True),
        ("momentum", {"lr": 0.05, "weight_decay": 0.01}, False),
        ("adam", {"lr": 0.003}, True),
        ("adamw", {"lr": 0.003, "weight_decay": 0.1}, True),
    ],
)
def test_a_training_trajectory_equals_torch(optimizer, hyper, batch_norm, backend_name, xp):
    """20 updates, batch 16 in data order, our gradients and optimizer vs nn.Sequential and
    torch.optim stepping the same minibatches; compared after every update (on each array
    module: the CuPy run is the GPU path's, fused updates included)."""
    x, y = digits_subset()
    model = MLP(64, [16, 12], 10, "relu", batch_norm, xp=xp, dtype=F64)
    params, buffers = model.initial_state(seed=3, runs=1)
    net, names = torch_net(model, _host(params)[0], _host(buffers)[0])
    net.train()
    ours = make_optimizer(optimizer, hyper, xp=xp)
    theirs = torch_optimizer(optimizer, net, hyper)
    state = ours.init(params)
    first_loss = None
    # A Linear's bias before batch norm has gradient 0 in exact arithmetic: both sides hold
    # rounding noise there (1e-17), which Adam divides by its own root mean square; the
    # bias, and the running mean that holds it, then differ by ~1e-11.
    atol = 1e-10 if optimizer.startswith("adam") and batch_norm else 1e-12
    for step in range(20):
        xb, yb = x[step * 16 : (step + 1) * 16], y[step * 16 : (step + 1) * 16]
        loss, grads, buffers = model.batch_grad(params, buffers, xp.asarray(xb), xp.asarray(yb))
        params, state = ours.update(grads, state, params, hyper["lr"])
        theirs.zero_grad()
        expected = cross_entropy(net, xb, yb)
        expected.backward()
        theirs.step()
        loss = _host(loss)
        assert loss[0] == pytest.approx(expected.item(), rel=1e-10)
        first_loss = loss[0] if first_loss is None else first_loss
        flat = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
        np.testing.assert_allclose(_host(params)[0], flat, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(_host(buffers)[0], torch_buffers(names), rtol=1e-9, atol=atol)
    assert loss[0] < first_loss - 0.3  # it learned: the comparison is not of a frozen net


def _host(a):
    """A NumPy copy of a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_accumulation_with_batch_norm_is_torchs_not_the_large_batch(batch_norm):
    """k = 4 micro-batches of 8 per update: each normalizes with its own statistics and
    updates the running ones, as k forward/backward passes before one step do in PyTorch.
    Without batch norm that equals one batch of 32; with it, it does not."""
    x, y = digits_subset()
    model = MLP(64, [16], 10, "tanh", batch_norm, dtype=F64)
    params, buffers = model.initial_state(seed=0, runs=1)
    big_params, big_buffers = params.copy(), buffers.copy()
    net, names = torch_net(model, params[0], buffers[0])
    net.train()
    ours, theirs = make_optimizer("momentum", {"lr": 0.1}), None
    theirs = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    state, big_state = ours.init(params), ours.init(params)
    k, micro = 4, 8
    for update in range(5):
        rows = slice(update * k * micro, (update + 1) * k * micro)
        total = 0
        theirs.zero_grad()
        for j in range(k):
            xb = x[rows][j * micro : (j + 1) * micro]
            yb = y[rows][j * micro : (j + 1) * micro]
            _, grads, buffers = model.batch_grad(params, buffers, xb, yb)
            total = total + grads / k
            (cross_entropy(net, xb, yb) / k).backward()
        params, state = ours.update(total, state, params, 0.1)
        theirs.step()
        _, big_grads, big_buffers = model.batch_grad(big_params, big_buffers, x[rows], y[rows])
        big_params, big_state = ours.update(big_grads, big_state, big_params, 0.1)
    flat = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    np.testing.assert_allclose(params[0], flat, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(buffers[0], torch_buffers(names), rtol=1e-9, atol=1e-12)
    if batch_norm:
        assert np.abs(params - big_params).max() > 1e-3
    else:
        np.testing.assert_allclose(params, big_params, rtol=1e-10, atol=1e-12)


# ---- weights files -------------------------------------------------------------------------


def test_weights_round_trip_and_load_into_torch(tmp_path):
    model = MLP(5, [6], 3, batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=2)
    model.save_weights(tmp_path / "one.npz", params[1], buffers[1])
    loaded_params, loaded_buffers = model.load_weights(tmp_path / "one.npz")
    assert np.array_equal(loaded_params, params[1])
    assert np.array_equal(loaded_buffers, buffers[1])
    with np.load(tmp_path / "one.npz") as archive:
        assert sorted(archive.files) == sorted(model.layout.names)
        assert archive["linear0.weight"].shape == (6, 5)
    # a state_dict saved from torch under the contract's names loads, extras ignored
    _, names = torch_net(model, params[0], buffers[0])
    state = {
        f"{key}.{attr}": t.detach().numpy()
        for key, m in names.items()
        for attr, t in m.state_dict().items()
    }
    assert "bn0.num_batches_tracked" in state
    np.savez(tmp_path / "torch.npz", **state)
    from_torch, from_torch_buffers = model.load_weights(tmp_path / "torch.npz")
    assert np.array_equal(from_torch, params[0])
    assert np.array_equal(from_torch_buffers, buffers[0])


def test_params_for_every_run_are_prefixed(tmp_path):
    model = MLP(5, [6], 3, batch_norm=True, dtype=F64)
    params, buffers = perturbed_state(model, runs=2)
    model.save_weights(tmp_path / "params.npz", params, buffers, per_run=True)
    with np.load(tmp_path / "params.npz") as archive:
        assert sorted(archive.files) == sorted(
            f"run{r}.{name}" for r in range(2) for name in model.layout.names
        )
        assert np.array_equal(
            archive["run1.bn0.running_var"], model.layout.view(buffers, "bn0.running_var")[1]
        )


def test_bad_weights_files_name_the_array(tmp_path):
    model = MLP(5, [6], 3, batch_norm=True, dtype=F64)
    good = model.weights_dict(*model.init_host(0))
    cases = {
        "missing.npz": (
            {k: v for k, v in good.items() if k != "bn0.running_var"},
            r"lacks array 'bn0.running_var' of shape \(6,\)",
        ),
        "transposed.npz": (
            good | {"linear0.weight": good["linear0.weight"].T},
            r"array 'linear0.weight' has shape \(5, 6\); expected \(6, 5\) "
            r"\(out × in\)",
        ),
        "nan.npz": (
            good | {"linear1.bias": np.array([0.0, np.nan, 0.0])},
            r"array 'linear1.bias' holds values that are not finite",
        ),
        "negative_variance.npz": (
            good | {"bn0.running_var": np.array([1.0, 0.0, -0.5, 1.0, 1.0, 1.0])},
            r"array 'bn0.running_var' holds negative values; a variance is ≥ 0",
        ),
        "text.npz": (
            good | {"linear1.bias": np.array(["a", "b", "c"])},
            r"array 'linear1.bias' is <U1, not real numbers",
        ),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(WeightsError, match=message):
            model.load_weights(tmp_path / name)
    (tmp_path / "junk.npz").write_text("not an archive")
    with pytest.raises(WeightsError, match=r"junk\.npz is not an NPZ archive"):
        model.load_weights(tmp_path / "junk.npz")
    with pytest.raises(WeightsError, match="does not exist"):
        model.load_weights(tmp_path / "absent.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(WeightsError, match="is a single array"):
        model.load_weights(tmp_path / "single.npy")
