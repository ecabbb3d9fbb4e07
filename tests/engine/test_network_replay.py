"""`run` on a network whose reservoir of states must thin (a long training): the plane is
chosen from the reservoir's rows and the training is replayed, so that every CSV row's
w1,w2 is still that row's state projected on the plane. The oracle: PyTorch's states at
every step, the reservoir's rule written out (``test_snapshots.oracle_kept``) and NumPy's
SVD of the kept states — never the engine."""

from __future__ import annotations

import numpy as np
import pytest

from engine import runner, snapshots
from tests.engine.test_network_runner import RUNS, make_data, read_rows, torch_model, write_files
from tests.engine.test_snapshots import oracle_kept

torch = pytest.importorskip("torch")

STEPS = 40
CAPACITY = 9  # rows the reservoir may hold: 41 recorded rows thin twice
NAMES = {"0": "linear0", "1": "bn0", "3": "linear1"}
ORDER = (
    "linear0.weight",
    "linear0.bias",
    "bn0.weight",
    "bn0.bias",
    "linear1.weight",
    "linear1.bias",
)


def torch_states(model, make_opt, x, y, batch, accumulation):
    """Every step's parameters as the contract's flat vector, and the eval-mode loss."""
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = make_opt(model.parameters())
    xt, yt = torch.tensor(x), torch.tensor(y)
    named = dict(model.named_parameters())

    def flat():
        parts = {}
        for key, value in named.items():
            layer, field = key.split(".", 1)
            parts[f"{NAMES[layer]}.{field}"] = value.detach().numpy().ravel().copy()
        return np.concatenate([parts[name] for name in ORDER])

    def loss():
        model.eval()
        with torch.no_grad():
            return loss_fn(model(xt), yt).item()

    states, losses = [flat()], [loss()]
    per_epoch = len(y) // batch
    micro = 0
    for _ in range(STEPS):
        model.train()
        opt.zero_grad()
        for _ in range(accumulation):
            j = micro % per_epoch
            micro += 1
            sl = slice(j * batch, (j + 1) * batch)
            (loss_fn(model(xt[sl]), yt[sl]) / accumulation).backward()
        opt.step()
        states.append(flat())
        losses.append(loss())
    return np.array(states), np.array(losses)


def test_a_thinned_reservoir_still_gives_every_row_its_projection(tmp_path, monkeypatch):
    x, y = make_data(np.random.default_rng(7))
    path = write_files(tmp_path, x, y, torch_model(True), True, 0.0, False)
    text = path.read_text(encoding="utf-8").replace("steps = 7", f"steps = {STEPS}")
    path.write_text(text, encoding="utf-8")
    runs, p, q = len(RUNS), 48, 10  # 3·5 + 5 + 5 + 5 + 5·3 + 3 parameters, 2·5 buffers
    monkeypatch.setattr(snapshots, "DEFAULT_BUDGET_BYTES", CAPACITY * (runs * (p + q) * 8 + 16))
    out = tmp_path / "out"
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0

    states, losses = [], []
    for _, _, make_opt, batch, k in RUNS:
        s, loss = torch_states(torch_model(True), make_opt, x, y, batch, k)
        states.append(s)
        losses.append(loss)
    states = np.stack(states, axis=1)  # (rows, R, P)
    assert states.shape == (STEPS + 1, runs, p)
    kept = oracle_kept(STEPS + 1, CAPACITY)
    assert len(kept) < STEPS + 1  # the reservoir did thin
    origin = states[0, 0]
    _, _, vt = np.linalg.svd(states[kept].reshape(-1, p) - origin, full_matrices=False)
    expected = (states - origin) @ vt[:2].T  # (rows, R, 2), the plane's basis orthonormal

    rows = read_rows(out / "trajectories.csv")
    got = np.full((STEPS + 1, runs, 2), np.nan)
    got_loss = np.full((STEPS + 1, runs), np.nan)
    for row in rows:
        r, k = int(row["run"]), int(row["step"])
        got[k, r] = float(row["w1"]), float(row["w2"])
        got_loss[k, r] = float(row["loss"])
    assert len(rows) == runs * (STEPS + 1)
    np.testing.assert_allclose(got_loss, np.stack(losses, axis=1), rtol=1e-9)
    for axis in (0, 1):  # each direction's sign is the SVD's choice
        sign = np.sign(np.sum(got[..., axis] * expected[..., axis]))
        np.testing.assert_allclose(got[..., axis], sign * expected[..., axis], rtol=1e-6, atol=1e-9)
    weights = np.load(out / "params.npz")
    for r in range(runs):
        final = np.concatenate([weights[f"run{r}.{name}"].ravel() for name in ORDER])
        np.testing.assert_allclose(final, states[-1, r], rtol=1e-8, atol=1e-10)
