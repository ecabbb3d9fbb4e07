"""`python main.py run` on a network, end to end, against PyTorch doing the same (float64).

The experiment file has a CSV data set and an `init` weights file written from a PyTorch
model; the runner's `trajectories.csv` (loss, accuracy, grad_norm, val_loss) and `params.npz`
are compared with `nn.Sequential(Linear, BatchNorm1d, ReLU, Linear)`, `CrossEntropyLoss`
and `torch.optim` stepping the same batches: the oracle is PyTorch, never the engine.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from engine import runner
from engine.datasets import Dataset, split

torch = pytest.importorskip("torch")

N, D, H, C = 32, 3, 5, 3  # 32 and a validation quarter: batches of 8 and 4 divide both
STEPS = 7

# label, optimizer settings as TOML lines, the torch optimizer, micro-batch, accumulation
RUNS = [
    (
        "momentum",
        'optimizer = "momentum"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 0.001',
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.001),
        8,
        1,
    ),
    (
        "adam",
        'optimizer = "adam"\nlr = 0.01',
        lambda p: torch.optim.Adam(p, lr=0.01),
        8,
        1,
    ),
    (
        "adamw",
        'optimizer = "adamw"\nlr = 0.01\nweight_decay = 0.1',
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
        8,
        1,
    ),
    (
        "accumulated",
        'optimizer = "sgd"\nlr = 0.2\nweight_decay = 0.01',
        lambda p: torch.optim.SGD(p, lr=0.2, weight_decay=0.01),
        4,
        2,
    ),
]

# PyTorch's state_dict names of the Sequential -> the contract's names
NAMES = {"0": "linear0", "1": "bn0", "3": "linear1"}


def torch_model(batch_norm: bool):
    torch.manual_seed(3)
    layers = [torch.nn.Linear(D, H)]
    if batch_norm:
        layers.append(torch.nn.BatchNorm1d(H, momentum=0.2, eps=1e-4))
    else:
        layers.append(torch.nn.Identity())
    layers += [torch.nn.ReLU(), torch.nn.Linear(H, C)]
    return torch.nn.Sequential(*layers).double()


def contract_state(model) -> dict[str, np.ndarray]:
    out = {}
    for name, value in model.state_dict().items():
        layer, field = name.split(".", 1)
        if field == "num_batches_tracked":
            continue
        out[f"{NAMES[layer]}.{field}"] = value.detach().numpy().copy()
    return out


def make_data(rng):
    x = rng.normal(size=(N, D)) * [1.0, 3.0, 0.5] + [0.0, 1.0, -2.0]
    y = rng.integers(0, C, N)
    return x, y


def write_files(tmp_path, x, y, model, batch_norm, validation_fraction, normalize):
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["f1", "f2", "f3", "class"])
        for row, label in zip(x, y, strict=True):
            writer.writerow([repr(float(v)) for v in row] + [f"c{label}"])
    np.savez(tmp_path / "init.npz", **contract_state(model))
    runs = "\n".join(
        f'[[runs]]\nlabel = "{label}"\n{lines}\nbatch_size = {b}\nshuffle = false\n'
        f"accumulation_steps = {k}\n"
        for label, lines, _, b, k in RUNS
    )
    text = f"""
steps = {STEPS}
seed = 5
dtype = "float64"

[problem]
kind = "mlp"
dataset = "data.csv"
label_column = "class"
normalize_features = {str(normalize).lower()}
validation_fraction = {validation_fraction}
hidden = [{H}]
activation = "relu"
batch_norm = {str(batch_norm).lower()}
bn_momentum = 0.2
bn_eps = 1e-4
init = "init.npz"

{runs}
"""
    path = tmp_path / "net.toml"
    path.write_text(text, encoding="utf-8")
    return path


def torch_trajectory(model, make_opt, x, y, x_val, y_val, batch, accumulation):
    """Rows after 0 … STEPS updates: eval-mode loss, accuracy, grad norm, val loss/accuracy;
    and the final state. Batches in data order, wrapping at the end of an epoch."""
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = make_opt(model.parameters())
    xt, yt = torch.tensor(x), torch.tensor(y)
    xv, yv = torch.tensor(x_val), torch.tensor(y_val)
    rows = []

    def record():
        model.eval()
        model.zero_grad()
        logits = model(xt)
        loss = loss_fn(logits, yt)
        loss.backward()
        norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
        accuracy = (logits.argmax(1) == yt).double().mean()
        row = [loss.item(), accuracy.item(), norm.item()]
        if len(y_val):
            with torch.no_grad():
                val_logits = model(xv)
                row += [loss_fn(val_logits, yv).item()]
                row += [(val_logits.argmax(1) == yv).double().mean().item()]
        model.zero_grad()
        rows.append(row)

    record()
    per_epoch = len(y) // batch
    micro = 0
    for _ in range(STEPS):
        model.train()
        opt.zero_grad()
        for _ in range(accumulation):
            j = micro % per_epoch
            micro += 1
            xb, yb = xt[j * batch : (j + 1) * batch], yt[j * batch : (j + 1) * batch]
            (loss_fn(model(xb), yb) / accumulation).backward()
        opt.step()
        record()
    return np.array(rows), contract_state(model)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("batch_norm", "validation_fraction", "normalize"),
    [(True, 0.0, False), (False, 0.0, False), (True, 0.25, True)],
    ids=["batch-norm", "no-batch-norm", "batch-norm-validation-normalized"],
)
def test_runner_matches_pytorch(tmp_path, batch_norm, validation_fraction, normalize):
    x, y = make_data(np.random.default_rng(11))
    model = torch_model(batch_norm)
    path = write_files(tmp_path, x, y, model, batch_norm, validation_fraction, normalize)
    out = tmp_path / "out"
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0

    # the oracle's data: the runner's split (drawn from the seed) of the file's examples,
    # normalized by hand with the training part's mean and (population) std
    data = Dataset("data", x, y, tuple(f"c{c}" for c in range(C)), ("f1", "f2", "f3"))
    parts = split(data, validation_fraction, 5)
    x_train, y_train, x_val, y_val = parts.x_train, parts.y_train, parts.x_val, parts.y_val
    if validation_fraction == 0:
        np.testing.assert_array_equal(x_train, x)  # file order: the batches are rows j·B…
    if normalize:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std

    rows = read_rows(out / "trajectories.csv")
    assert list(rows[0]) == [
        *["run", "label", "step", "epoch", "lr", "loss", "grad_norm", "w1", "w2"],
        "accuracy",
        "val_loss",
        "val_accuracy",
    ]
    weights = np.load(out / "params.npz")
    for r, (label, _, make_opt, batch, k) in enumerate(RUNS):
        expected, final = torch_trajectory(
            torch_model(batch_norm), make_opt, x_train, y_train, x_val, y_val, batch, k
        )
        mine = [row for row in rows if row["run"] == str(r)]
        assert [int(row["step"]) for row in mine] == list(range(STEPS + 1))
        got = np.array([[float(row[c]) for c in ("loss", "accuracy", "grad_norm")] for row in mine])
        np.testing.assert_allclose(got, expected[:, :3], rtol=1e-9, atol=1e-12, err_msg=label)
        if validation_fraction:
            val = np.array([[float(row["val_loss"]), float(row["val_accuracy"])] for row in mine])
            np.testing.assert_allclose(val, expected[:, 3:], rtol=1e-9, err_msg=label)
        else:
            assert all(row["val_loss"] == row["val_accuracy"] == "" for row in mine)
        assert {
            n.removeprefix(f"run{r}.") for n in weights.files if n.startswith(f"run{r}.")
        } == set(final)
        for name, value in final.items():
            np.testing.assert_allclose(
                weights[f"run{r}.{name}"], value, rtol=1e-8, atol=1e-10, err_msg=f"{label} {name}"
            )


def test_accumulation_with_batch_norm_is_not_the_large_batch(tmp_path):
    """Without batch norm, k micro-batches of B equal one batch of k·B (to rounding); with
    batch norm each micro-batch normalizes with its own statistics, so they differ."""
    x, y = make_data(np.random.default_rng(2))
    finals = {}
    for batch_norm in (False, True):
        for batch, k in ((4, 2), (8, 1)):
            folder = tmp_path / f"{batch_norm}-{batch}"
            folder.mkdir()
            path = write_files(folder, x, y, torch_model(batch_norm), batch_norm, 0.0, False)
            text = path.read_text(encoding="utf-8")
            head, _, _ = text.partition("[[runs]]")
            path.write_text(
                head + f'[[runs]]\noptimizer = "sgd"\nlr = 0.5\nbatch_size = {batch}\n'
                f"shuffle = false\naccumulation_steps = {k}\n",
                encoding="utf-8",
            )
            out = folder / "out"
            assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
            finals[batch_norm, batch] = np.load(out / "params.npz")["run0.linear0.weight"]
    np.testing.assert_allclose(finals[False, 4], finals[False, 8], rtol=1e-12)
    assert np.abs(finals[True, 4] - finals[True, 8]).max() > 1e-4


def test_w1_w2_are_the_states_on_the_trajectory_plane(tmp_path):
    """Row 0 is the common start, the plane's origin (0, 0); the last row is the final
    state of params.npz projected on the plane (least squares, by hand)."""
    from engine.experiment import build, load_experiment

    x, y = make_data(np.random.default_rng(4))
    path = write_files(tmp_path, x, y, torch_model(True), True, 0.0, False)
    out = tmp_path / "out"
    assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
    rows = read_rows(out / "trajectories.csv")
    built = build(load_experiment(path), base_dir=tmp_path)
    built.trainer.run()
    plane = built.trainer.plane
    d = np.stack([plane.d1, plane.d2])
    weights = np.load(out / "params.npz")
    layout = built.problem.model.layout
    for r in range(len(RUNS)):
        mine = [row for row in rows if row["run"] == str(r)]
        assert (float(mine[0]["w1"]), float(mine[0]["w2"])) == (0.0, 0.0)
        final = np.concatenate([weights[f"run{r}.{e.name}"].ravel() for e in layout.params])
        ab = np.linalg.lstsq(d.T, final - plane.origin, rcond=None)[0]
        got = [float(mine[-1]["w1"]), float(mine[-1]["w2"])]
        np.testing.assert_allclose(got, ab, rtol=1e-7, atol=1e-10)


def test_the_drawn_surface_is_the_loss_on_the_plane(tmp_path):
    """A fine grid is evaluated coarsely and interpolated: its corners (points of both grids)
    are the evaluation-mode loss of the lifted parameters, with the surface's buffers."""
    from engine.experiment import build, load_experiment

    x, y = make_data(np.random.default_rng(4))
    path = write_files(tmp_path, x, y, torch_model(True), True, 0.0, False)
    built = build(load_experiment(path), base_dir=tmp_path)
    built.trainer.run()
    problem = built.problem
    w1, w2 = np.linspace(-1.0, 2.0, 60), np.linspace(-0.5, 0.7, 70)
    z = problem.surface(w1, w2)
    assert z.shape == (70, 60)
    model, plane = problem.model, problem.plane
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        params = plane.lift(w1[j], w2[i])[None]
        exact = model.evaluate(params, problem.surface_buffers[None], x, y).loss[0]
        np.testing.assert_allclose(z[i, j], exact, rtol=1e-10)


def test_every_run_diverging_at_its_start_leaves_the_plane_unchosen_and_says_no_more(
    tmp_path, capsys
):
    """Weights of 1e300 overflow the very first loss: no run has a usable state, so no
    plane is laid (the coordinates stay 0) and nothing but the runner's own lines is said
    (the plane fit over no states warned "Mean of empty slice" and divided 0 by 0)."""
    import warnings

    from engine.problems.mlp import MLP

    model = MLP(2, [3], 2)
    arrays = model.weights_dict(*model.init_host(0))
    arrays["linear0.weight"] = np.full((3, 2), 1e300)
    np.savez(tmp_path / "w.npz", **arrays)
    (tmp_path / "e.toml").write_text(
        'steps = 3\n[problem]\nkind = "mlp"\ndataset = "moons"\nhidden = [3]\n'
        'init = "w.npz"\n[[runs]]\noptimizer = "sgd"\nlr = 0.1\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = runner.main([str(tmp_path / "e.toml"), "--out", str(tmp_path / "out")],
                             render=lambda *a: [])  # fmt: skip
    assert status == 0
    assert "diverged at step 0" in capsys.readouterr().out
    rows = read_rows(tmp_path / "out" / "trajectories.csv")
    assert {(float(r["w1"]), float(r["w2"])) for r in rows} == {(0.0, 0.0)}
