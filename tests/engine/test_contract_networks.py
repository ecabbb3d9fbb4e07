"""The network path of `python main.py run` read against EXPERIMENT_FORMAT.md ("Networks"),
end to end, with PyTorch as the oracle (float64).

Each test writes a small experiment file (a CSV data set, often an `init` weights file made
from a PyTorch model), runs the command line's entry in process and compares what it wrote
(`trajectories.csv`, `params.npz`, the printed lines) with PyTorch doing what the contract
says: `nn.Sequential(Linear, [BatchNorm1d], activation, …, Linear)`, `CrossEntropyLoss`,
`torch.optim` and `torch.optim.lr_scheduler`, batches in data order (`shuffle = false`,
`validation_fraction = 0`: batch j is rows j·B … (j+1)·B − 1, the last one short unless
`drop_last`). Rows are evaluated in evaluation mode on the whole training split.

What tests/engine/test_network_runner.py already compares (Adam/AdamW/momentum with a
validation split and normalization) is not repeated; these add every optimizer of the
contract, schedules, batch sizes that do not divide the data, accumulation with a short
last micro-batch, the default initialization, numeric CSV classes, batches of one with batch
norm, `record_every`, and a diverging run beside a healthy one.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from engine import runner

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests")

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
HYPER_KEYS = (
    "lr", "momentum", "dampening", "weight_decay", "amsgrad", "alpha", "centered", "lr_decay",
    "initial_accumulator_value", "eps",
)  # fmt: skip


# ---- the oracle: PyTorch doing what the contract says ------------------------------------------


def torch_model(n_in, hidden, n_out, activation="relu", batch_norm=False, momentum=0.1, seed=0):
    """The contract's Sequential and the contract's name of each of its modules."""
    torch.manual_seed(seed)
    widths = [n_in, *hidden, n_out]
    layers, names = [], []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        names.append(f"linear{i}")
        if i < len(hidden):
            if batch_norm:
                layers.append(torch.nn.BatchNorm1d(widths[i + 1], momentum=momentum))
                names.append(f"bn{i}")
            layers.append(getattr(torch.nn, ACTIVATIONS[activation])())
            names.append(None)
    return torch.nn.Sequential(*layers).double(), names


def contract_state(model, names) -> dict[str, np.ndarray]:
    """The model's state under the contract's names (`linear0.weight`, `bn0.running_var`…)."""
    out = {}
    for key, value in model.state_dict().items():
        index, field = key.split(".", 1)
        if field != "num_batches_tracked":
            out[f"{names[int(index)]}.{field}"] = value.detach().numpy().copy()
    return out


def load_contract_state(model, names, arrays) -> None:
    state = model.state_dict()
    for key in state:
        index, field = key.split(".", 1)
        if field != "num_batches_tracked":
            state[key] = torch.tensor(arrays[f"{names[int(index)]}.{field}"])
    model.load_state_dict(state)


def torch_optimizer(name, params, hyper):
    hyper = dict(hyper)
    if name in ("momentum", "nesterov"):
        hyper.setdefault("momentum", 0.9)  # the contract's default for these two
        return torch.optim.SGD(params, nesterov=name == "nesterov", **hyper)
    classes = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
    }
    return classes[name](params, **hyper)


def torch_rates(base, steps, schedule) -> list[float]:
    """The rate of update k = 0 … steps−1: LinearLR for the warmup, then the decay scheduler
    counted from the end of the warmup, each stepped once after every update."""
    schedule = dict(schedule)
    kind = schedule.pop("kind", "constant")
    warmup = schedule.pop("warmup_steps", 0)
    start = schedule.pop("warmup_start_factor", 0.1)
    p = torch.nn.Parameter(torch.zeros(1))
    warm_opt, decay_opt = torch.optim.SGD([p], lr=base), torch.optim.SGD([p], lr=base)
    warm = warmup and torch.optim.lr_scheduler.LinearLR(warm_opt, start, total_iters=warmup)
    decay = {
        "step": lambda: torch.optim.lr_scheduler.StepLR(decay_opt, **schedule),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(decay_opt, **schedule),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(
            decay_opt, T_max=schedule["total_steps"], eta_min=schedule.get("min_lr", 0.0)
        ),
    }.get(kind, lambda: None)()
    rates = []
    for k in range(steps):
        if k < warmup:
            rates.append(warm_opt.param_groups[0]["lr"])
            warm_opt.step()
            warm.step()
        elif kind == "inverse_sqrt":
            rates.append(base / math.sqrt(k - warmup + 1))
        else:
            rates.append(decay_opt.param_groups[0]["lr"])
            decay_opt.step()
            if decay is not None:
                decay.step()
    return rates


def torch_rows(model, x, y, steps, run, record_every=1):
    """Train as the contract says; the rows (step, lr, loss, accuracy, grad_norm) of the
    recorded states, in evaluation mode on the whole training split."""
    opt_name = run.get("optimizer", "sgd")
    hyper = {k: run[k] for k in HYPER_KEYS if k in run}
    opt = torch_optimizer(opt_name, model.parameters(), hyper)
    base = opt.param_groups[0]["lr"]
    rates = torch_rates(base, steps, run.get("schedule", {}))
    xt, yt = torch.tensor(x), torch.tensor(y)
    n, b, k = len(y), run.get("batch_size", len(y)), run.get("accumulation_steps", 1)
    micro = [(j * b, min((j + 1) * b, n)) for j in range(-(-n // b))]
    if run.get("drop_last", False) and n % b:
        micro = micro[:-1]
    updates = [micro[i : i + k] for i in range(0, len(micro), k)]  # an epoch's updates
    loss_fn = torch.nn.CrossEntropyLoss()
    rows = []

    def record(step):
        model.eval()
        model.zero_grad()
        logits = model(xt)
        loss = loss_fn(logits, yt)
        loss.backward()
        norm = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
        accuracy = float((logits.argmax(1) == yt).double().mean())
        rows.append((step, rates[max(step - 1, 0)], loss.item(), accuracy, norm))

    record(0)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = rates[step]
        model.train()
        opt.zero_grad()
        update = updates[step % len(updates)]
        total = sum(stop - start for start, stop in update)
        for start, stop in update:  # each micro-batch weighted by its share of the update
            loss = loss_fn(model(xt[start:stop]), yt[start:stop])
            (loss * (stop - start) / total).backward()
        opt.step()
        if (step + 1) % record_every == 0 or step + 1 == steps:
            record(step + 1)
    return np.array(rows)


# ---- files and the runner ----------------------------------------------------------------------


def toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_experiment(folder, top: dict, problem: dict, runs: list[dict]):
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()] + ["[problem]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in problem.items()]
    for run in runs:
        lines.append("[[runs]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in run.items() if k != "schedule"]
        if "schedule" in run:
            lines.append("[runs.schedule]")
            lines += [f"{k} = {toml_value(v)}" for k, v in run["schedule"].items()]
    path = folder / "experiment.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_data(path, x, labels, label_column="label", label_first=False):
    features = [f"f{j}" for j in range(x.shape[1])]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([label_column, *features] if label_first else [*features, label_column])
        for row, label in zip(x, labels, strict=True):
            cells = [repr(float(v)) for v in row]
            writer.writerow([str(label), *cells] if label_first else [*cells, str(label)])


def net_problem(**settings) -> dict:
    """A network on data.csv in file order (no validation split), unnormalized unless
    said: the oracle's batches are then the file's rows."""
    base = dict(kind="mlp", dataset="data.csv", normalize_features=False, validation_fraction=0.0)
    return base | settings


def run_cli(path, out, capsys):
    code = runner.main([str(path), "--out", str(out), "--no-plots"])
    return code, capsys.readouterr().out


def rows_of(out, run: int) -> list[dict]:
    with open(out / "trajectories.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["run"] == str(run)]


def as_array(rows, columns=("step", "lr", "loss", "accuracy", "grad_norm")) -> np.ndarray:
    return np.array([[float(row[c]) for c in columns] for row in rows])


def data(n, d, classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    return x, rng.integers(0, classes, n)


# ---- the tests ---------------------------------------------------------------------------------

N, D, C, HIDDEN = 30, 4, 3, [6, 5]
STEPS = 9
# batch sizes 7, 8, 10, 4 do not all divide the 30 examples: short last batches, drop_last,
# and 4 × 3 accumulated (micro-batches 4,4,4 | 4,4,4 | 4,2: the last update 6 examples)
RUNS = [
    dict(label="sgd", optimizer="sgd", lr=0.1, weight_decay=0.01, batch_size=7),
    dict(label="momentum", optimizer="momentum", lr=0.05, dampening=0.1, batch_size=8),
    dict(label="nesterov", optimizer="nesterov", lr=0.05, momentum=0.8, weight_decay=0.02),
    dict(label="adam", optimizer="adam", lr=0.01, weight_decay=0.01, amsgrad=True, batch_size=8,
         drop_last=True),
    dict(label="adamw", optimizer="adamw", lr=0.01, batch_size=6, accumulation_steps=2),
    dict(label="rmsprop", optimizer="rmsprop", lr=0.01, alpha=0.9, momentum=0.5, centered=True,
         weight_decay=0.01, batch_size=10),
    dict(label="adagrad", optimizer="adagrad", lr=0.1, lr_decay=0.01, weight_decay=0.01,
         initial_accumulator_value=0.1, batch_size=10),
    dict(label="warmup+cosine", optimizer="sgd", lr=0.2, batch_size=5, schedule=dict(
        kind="cosine", total_steps=4, min_lr=0.01, warmup_steps=3, warmup_start_factor=0.25)),
    dict(label="step", optimizer="momentum", lr=0.1, batch_size=5,
         schedule=dict(kind="step", step_size=3, gamma=0.5)),
    dict(label="warmup+exponential", optimizer="adam", lr=0.02, batch_size=5,
         schedule=dict(kind="exponential", gamma=0.9, warmup_steps=2)),
    dict(label="inverse_sqrt", optimizer="sgd", lr=0.2, batch_size=5,
         schedule=dict(kind="inverse_sqrt")),
    dict(label="defaults", optimizer="rmsprop"),
    dict(label="accumulated", optimizer="sgd", lr=0.3, batch_size=4, accumulation_steps=3),
]  # fmt: skip


@pytest.mark.parametrize(
    "batch_norm", [False, True, "per run"], ids=["plain", "batch-norm", "per-run"]
)
def test_every_optimizer_and_schedule_equals_torch(tmp_path, capsys, batch_norm):
    """13 runs in one file: rows (lr, eval-mode loss, accuracy, full-split gradient norm)
    and params.npz (names, shapes, values) equal PyTorch's, weight decay on every
    parameter, γ and β included; with batch norm, each micro-batch normalizes itself and
    updates the running statistics (bn_momentum = 0.3: running = 0.7·running + 0.3·batch).
    "per run": the network has batch norm and every other run turns it off
    (`batch_norm = false`, this project's addition to the format): those runs equal
    PyTorch's network without batch norm from the same Linear weights, the others the one
    with it, all trained together."""
    x, y = data(N, D, C, seed=0)
    write_data(tmp_path / "data.csv", x, y)
    model, names = torch_model(D, HIDDEN, C, "tanh", bool(batch_norm), momentum=0.3, seed=1)
    np.savez(tmp_path / "init.npz", **contract_state(model, names))
    problem = net_problem(hidden=HIDDEN, activation="tanh", batch_norm=bool(batch_norm),
                          bn_momentum=0.3, init="init.npz")  # fmt: skip
    runs = [dict(run, shuffle=False) for run in RUNS]
    normalizes = [bool(batch_norm)] * len(runs)
    if batch_norm == "per run":
        normalizes = [r % 2 == 1 for r in range(len(runs))]
        pairs = zip(runs, normalizes, strict=True)
        runs = [run if on else dict(run, batch_norm=False) for run, on in pairs]
    path = write_experiment(tmp_path, dict(seed=3, steps=STEPS, dtype="float64"), problem, runs)
    code, _ = run_cli(path, tmp_path / "out", capsys)
    assert code == 0
    saved = np.load(tmp_path / "out" / "params.npz")
    expected_names = set()
    for r, run in enumerate(runs):
        model, names = torch_model(D, HIDDEN, C, "tanh", normalizes[r], momentum=0.3, seed=1)
        expected = torch_rows(model, x, y, STEPS, run)
        got = as_array(rows_of(tmp_path / "out", r))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=run["label"])
        for name, value in contract_state(model, names).items():
            mine = saved[f"run{r}.{name}"]
            assert mine.shape == value.shape, name
            assert mine.dtype == np.float64, name
            # atol: a bias before batch norm gets a gradient of rounding noise only
            np.testing.assert_allclose(mine, value, rtol=1e-8, atol=1e-9, err_msg=name)
            expected_names.add(f"run{r}.{name}")
    assert set(saved.files) == expected_names  # nothing else (no num_batches_tracked)


def test_default_initialization_is_pytorchs_the_same_for_every_run(tmp_path, capsys):
    """Without `init`: every Linear's weight and bias uniform in ±1/√fan_in (nn.Linear's
    default), batch norm's γ = 1, β = 0, running mean 0 and variance 1 (bn_momentum = 0
    keeps them), the same start for every run and a new one for another seed; a run that
    trains from it follows PyTorch loaded with those weights."""
    n_in, hidden = 40, [30]
    x, y = data(50, n_in, 2, seed=5)
    write_data(tmp_path / "data.csv", x, y)
    problem = net_problem(hidden=hidden, batch_norm=True, bn_momentum=0.0)
    runs = [dict(optimizer="sgd", lr=0.0), dict(optimizer="adam", lr=0.0)]
    starts = []
    for seed in (0, 1):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        write_data(folder / "data.csv", x, y)
        path = write_experiment(folder, dict(seed=seed, steps=1), problem, runs)
        assert run_cli(path, folder / "out", capsys)[0] == 0
        starts.append(dict(np.load(folder / "out" / "params.npz")))
    first = starts[0]
    for name, value in first.items():
        assert name.startswith("run0.") or np.array_equal(value, first["run0." + name[5:]]), name
    assert not np.array_equal(first["run0.linear0.weight"], starts[1]["run0.linear0.weight"])
    for i, fan_in in enumerate((n_in, hidden[0])):
        for field in ("weight", "bias"):
            values = first[f"run0.linear{i}.{field}"]
            bound = 1 / math.sqrt(fan_in)
            assert np.abs(values).max() <= bound
            if values.size < 30:
                continue
            # spread over the whole interval (the seed fixes the draws: no flakiness)
            assert np.abs(values).max() > 0.8 * bound
            assert abs(np.abs(values).mean() / bound - 0.5) < 0.15  # |U(−b, b)| / b: mean ½
            if values.size >= 60:  # uniform: std bound/√3
                assert abs(values.std() / (bound / math.sqrt(3)) - 1) < 0.1
    np.testing.assert_array_equal(first["run0.bn0.weight"], 1.0)
    np.testing.assert_array_equal(first["run0.bn0.bias"], 0.0)
    np.testing.assert_array_equal(first["run0.bn0.running_mean"], 0.0)
    np.testing.assert_array_equal(first["run0.bn0.running_var"], 1.0)

    # the same start, trained: momentum 0.9 at lr 0.1 in batches of 16 (the last one 2)
    model, names = torch_model(n_in, hidden, 2, batch_norm=True, momentum=0.0)
    load_contract_state(model, names, {k[5:]: v for k, v in first.items() if k[:5] == "run0."})
    run = dict(optimizer="momentum", lr=0.1, batch_size=16, shuffle=False)
    path = write_experiment(tmp_path, dict(seed=0, steps=6), problem, [run])
    assert run_cli(path, tmp_path / "out", capsys)[0] == 0
    got = as_array(rows_of(tmp_path / "out", 0))
    np.testing.assert_allclose(got, torch_rows(model, x, y, 6, run), rtol=1e-9, atol=1e-12)


def test_csv_classes_sort_as_numbers_and_features_keep_the_file_order(tmp_path, capsys):
    """Labels 2, 3, 10 in the first column: classes are their sorted values (numerically,
    so 10 is class 2: the last Linear's third row), the other columns are the features in
    file order; normalized with the training split's mean and standard deviation."""
    x, y = data(24, 3, 3, seed=7)
    labels = np.array([2, 3, 10])[y]
    write_data(tmp_path / "data.csv", x, labels, label_column="digit", label_first=True)
    model, names = torch_model(3, [4], 3, "sigmoid", seed=2)
    np.savez(tmp_path / "init.npz", **contract_state(model, names))
    problem = net_problem(label_column="digit", normalize_features=True, hidden=[4],
                          activation="sigmoid", init="init.npz")  # fmt: skip
    run = dict(optimizer="sgd", lr=0.5, batch_size=5, shuffle=False)
    path = write_experiment(tmp_path, dict(steps=5), problem, [run])
    assert run_cli(path, tmp_path / "out", capsys)[0] == 0
    normalized = (x - x.mean(axis=0)) / x.std(axis=0)
    expected = torch_rows(model, normalized, y, 5, run)
    np.testing.assert_allclose(
        as_array(rows_of(tmp_path / "out", 0)), expected, rtol=1e-9, atol=1e-12
    )


def bn_by_hand(z, gamma, beta, eps=1e-5):
    """Training-mode batch norm written out (PyTorch's BatchNorm1d refuses a batch of one)."""
    mean = z.mean(0)
    var = ((z - mean) ** 2).mean(0)
    return gamma * (z - mean) / torch.sqrt(var + eps) + beta, mean


def test_a_batch_of_one_with_batch_norm_is_warned_about_and_trained(tmp_path, capsys):
    """batch_size = 1 with batch norm runs (exit 0) with a warning line naming the key, and
    so does a batch size that leaves a last batch of one (11 of 12 examples; not with
    drop_last): such a batch outputs β in every hidden unit, so only β and the last layer
    learn from it; every row stays finite, no run is reported diverged. The parameters and
    running mean equal the training written out in PyTorch (the running variance of one
    example is the runner's choice: the contract's unbiased variance is 0/0 there)."""
    x, y = data(12, 3, 2, seed=9)
    write_data(tmp_path / "data.csv", x, y)
    model, names = torch_model(3, [4], 2, batch_norm=True, seed=4)
    init = contract_state(model, names)
    np.savez(tmp_path / "init.npz", **init)
    problem = net_problem(hidden=[4], batch_norm=True, init="init.npz")
    runs = [
        dict(optimizer="sgd", lr=0.1, batch_size=b, shuffle=False, drop_last=drop)
        for b, drop in ((1, False), (11, False), (11, True))
    ]
    path = write_experiment(tmp_path, dict(steps=5), problem, runs)
    code, printed = run_cli(path, tmp_path / "out", capsys)
    assert code == 0
    warned = [line for line in printed.splitlines() if line.startswith("warning:")]
    assert [w.split(": ")[2] for w in warned] == ["runs[0].batch_size", "runs[1].batch_size"]
    assert "leaves a last batch of one example of the 12" in warned[1]
    assert "diverged" not in printed
    saved = np.load(tmp_path / "out" / "params.npz")
    xt, yt = torch.tensor(x), torch.tensor(y)
    for r, run in enumerate(runs):
        assert np.isfinite(as_array(rows_of(tmp_path / "out", r))).all()
        b = run["batch_size"]
        batches = [
            (j * b, min((j + 1) * b, 12))
            for j in range(12 // b if run["drop_last"] else -(-12 // b))
        ]
        p = {k: torch.tensor(v, requires_grad="running" not in k) for k, v in init.items()}
        trained = [v for v in p.values() if v.requires_grad]
        running_mean = p["bn0.running_mean"].clone()
        for step in range(5):
            start, stop = batches[step % len(batches)]
            z = xt[start:stop] @ p["linear0.weight"].T + p["linear0.bias"]
            h, mean = bn_by_hand(z, p["bn0.weight"], p["bn0.bias"])
            logits = torch.relu(h) @ p["linear1.weight"].T + p["linear1.bias"]
            loss = torch.nn.functional.cross_entropy(logits, yt[start:stop])
            with torch.no_grad():
                for v, g in zip(trained, torch.autograd.grad(loss, trained), strict=True):
                    v -= 0.1 * g
                running_mean = 0.9 * running_mean + 0.1 * mean
        for name, value in p.items():
            if "running" not in name:
                np.testing.assert_allclose(saved[f"run{r}.{name}"], value.detach(), rtol=1e-10)
        np.testing.assert_allclose(saved[f"run{r}.bn0.running_mean"], running_mean, rtol=1e-10)
        assert np.isfinite(saved[f"run{r}.bn0.running_var"]).all()


def test_rows_every_record_every_updates_and_the_last(tmp_path, capsys):
    """record_every = 3 over 10 updates: rows 0, 3, 6, 9 and 10, each the state after that
    many updates (PyTorch's), lr the rate of the update into the row."""
    x, y = data(20, 2, 2, seed=3)
    write_data(tmp_path / "data.csv", x, y)
    model, names = torch_model(2, [3], 2, batch_norm=True, seed=6)
    np.savez(tmp_path / "init.npz", **contract_state(model, names))
    problem = net_problem(hidden=[3], batch_norm=True, init="init.npz")
    run = dict(optimizer="nesterov", lr=0.1, batch_size=6, shuffle=False,
               schedule=dict(kind="exponential", gamma=0.8, warmup_steps=4))  # fmt: skip
    path = write_experiment(tmp_path, dict(steps=10, record_every=3), problem, [run])
    assert run_cli(path, tmp_path / "out", capsys)[0] == 0
    expected = torch_rows(model, x, y, 10, run, record_every=3)
    assert list(expected[:, 0]) == [0, 3, 6, 9, 10]
    np.testing.assert_allclose(
        as_array(rows_of(tmp_path / "out", 0)), expected, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("replayed", [False, True], ids=["one-pass", "replayed"])
def test_a_diverging_run_stops_and_leaves_the_others_plane_alone(
    tmp_path, capsys, monkeypatch, replayed
):
    """A run whose rate jumps to 5e299 at its second update diverges at step 2: the runner
    says so, its last row (step 2) has a non-finite loss, exit 0. The healthy run beside it
    keeps its rows (PyTorch's) and its coordinates on the plane: the same as in a file of
    its own (up to each axis' sign), not zeros (a diverged state's huge but finite
    parameters once took the plane).
    Also when the reservoir of states is thinned (to rows 0, 2, 4) and the training
    replayed."""
    from engine import snapshots

    x, y = data(20, 2, 2, seed=1)
    model, names = torch_model(2, [3], 2, seed=8)
    n_params = sum(p.numel() for p in model.parameters())
    healthy = dict(label="healthy", optimizer="sgd", lr=0.1)
    # the rate of update k is 1e300·(1e-318 + k/2): 1e-18 (the state stays at the start, so
    # it adds nothing to the plane about it), then 5e299
    schedule = dict(kind="constant", warmup_steps=2, warmup_start_factor=1e-318)
    wild = dict(label="wild", optimizer="sgd", lr=1e300, schedule=schedule)
    problem = net_problem(hidden=[3], init="init.npz")
    streamed = []
    if replayed:  # _stream writes the replayed rows; the one pass writes them all at the end
        real_stream = runner._stream
        monkeypatch.setattr(
            runner, "_stream", lambda *a, **k: streamed.append(1) or real_stream(*a, **k)
        )
    coords = {}
    for case, runs in (("both", [wild, healthy]),
                       ("alone", [healthy])):  # fmt: skip
        if replayed:  # a reservoir of 3 rows of the 5
            row_bytes = len(runs) * n_params * 8 + 16
            monkeypatch.setattr(snapshots, "DEFAULT_BUDGET_BYTES", 3 * row_bytes)
        folder = tmp_path / case
        folder.mkdir()
        write_data(folder / "data.csv", x, y)
        np.savez(folder / "init.npz", **contract_state(model, names))
        path = write_experiment(folder, dict(steps=4), problem, runs)
        code, printed = run_cli(path, folder / "out", capsys)
        assert code == 0
        mine = rows_of(folder / "out", len(runs) - 1)
        coords[case] = as_array(mine, ("w1", "w2"))
        if case == "both":
            assert "run 0 'wild' diverged at step 2" in printed
            wild = rows_of(folder / "out", 0)
            assert [row["step"] for row in wild] == ["0", "1", "2"]
            assert not math.isfinite(float(wild[-1]["loss"]))
            fresh, _ = torch_model(2, [3], 2, seed=8)
            expected = torch_rows(fresh, x, y, 4, healthy)
            np.testing.assert_allclose(as_array(mine), expected, rtol=1e-9, atol=1e-12)
    assert len(streamed) == (2 if replayed else 0)
    assert np.abs(coords["alone"]).max() > 1e-3  # the path does move on its plane
    np.testing.assert_allclose(np.abs(coords["both"]), np.abs(coords["alone"]), atol=1e-9)


def test_float32_follows_torch_in_float32(tmp_path, capsys):
    """dtype = "float32": the same training as PyTorch's float32 model, to float32's
    rounding (rows and final weights within 1e-4 relative after 8 updates)."""
    x, y = data(30, 4, 3, seed=12)
    write_data(tmp_path / "data.csv", x, y)
    model, names = torch_model(4, [8], 3, "relu", batch_norm=True, seed=5)
    np.savez(tmp_path / "init.npz", **contract_state(model, names))
    problem = net_problem(hidden=[8], batch_norm=True, init="init.npz")
    run = dict(optimizer="momentum", lr=0.1, weight_decay=0.01, batch_size=8, shuffle=False)
    path = write_experiment(tmp_path, dict(steps=8, dtype="float32"), problem, [run])
    assert run_cli(path, tmp_path / "out", capsys)[0] == 0
    model = model.float()
    expected = torch_rows(model, x.astype(np.float32), y, 8, run)
    got = as_array(rows_of(tmp_path / "out", 0))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    saved = np.load(tmp_path / "out" / "params.npz")
    for name, value in contract_state(model, names).items():
        np.testing.assert_allclose(saved[f"run0.{name}"], value, rtol=1e-4, atol=1e-6)
