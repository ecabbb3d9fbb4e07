"""Softmax regression (``hidden = []``): the first layer is the output layer, so its logits
come straight from the runs' shared first-layer product. Gradients against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from engine.problems.mlp import MLP

torch = pytest.importorskip("torch", reason="torch is the oracle for networks")


@pytest.mark.parametrize("runs", [1, 3])
def test_softmax_regression_gradients_equal_pytorchs(runs):
    model = MLP(3, [], 4, xp=np, dtype=np.float64)
    start, buffers = model.init_host(0)
    rng = np.random.default_rng(1)
    params = np.stack([start + 0.1 * r * rng.standard_normal(start.shape) for r in range(runs)])
    buffers = np.zeros((runs, 0)) if buffers is None else np.stack([buffers] * runs)
    x = rng.standard_normal((7, 3))
    y = rng.integers(0, 4, 7)

    loss, grads = model.batch_grad(params, buffers, x, y)[:2]

    for r in range(runs):
        weights = model.weights_dict(params[r], buffers[r])
        w = torch.tensor(weights["linear0.weight"], requires_grad=True)
        b = torch.tensor(weights["linear0.bias"], requires_grad=True)
        expected = torch.nn.functional.cross_entropy(torch.tensor(x) @ w.T + b, torch.tensor(y))
        expected.backward()
        assert loss[r] == pytest.approx(expected.item(), rel=1e-12)
        got = model.weights_dict(grads[r], buffers[r])
        np.testing.assert_allclose(got["linear0.weight"], w.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["linear0.bias"], b.grad.numpy(), rtol=1e-10, atol=1e-12)
