"""Choosing the array module: NumPy always works; CuPy only where a GPU answers."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from engine import backend as backend_module
from engine.backend import Backend, Workload, host_rng, run_with_fallback, select_backend
from tests import fake_cupy
from tests.conftest import backend_for


def test_numpy_backend_is_what_was_asked_for():
    b = select_backend("numpy", "float32")
    assert b.xp is np
    assert b.dtype == np.float32
    assert b.asarray([1, 2]).dtype == np.float32
    assert b.fallback_reason is None
    assert "NumPy" in b.describe()


def test_auto_without_cupy_falls_back_to_numpy_and_says_why(monkeypatch):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    b = select_backend("auto")
    assert b.name == "numpy"
    assert "not installed" in b.fallback_reason
    assert "CuPy not used" in b.describe()
    with pytest.raises(RuntimeError, match=r"cupy.*not installed"):
        select_backend("cupy")


def test_a_cupy_that_imports_but_has_no_device_is_not_used(monkeypatch):
    monkeypatch.setattr(backend_module, "_probe_cupy", lambda: (None, "", "no CUDA device found"))
    assert select_backend("auto").fallback_reason == "no CUDA device found"


@pytest.mark.parametrize(("request_", "dtype"), [("gpu", "float64"), ("numpy", "float16")])
def test_unknown_choices_are_rejected(request_, dtype):
    with pytest.raises(ValueError, match=r"backend|dtype"):
        select_backend(request_, dtype)


def test_streams_are_reproducible_and_independent():
    a = host_rng(7, 1, 3).standard_normal(5)
    np.testing.assert_array_equal(a, host_rng(7, 1, 3).standard_normal(5))
    assert not np.allclose(a, host_rng(7, 1, 4).standard_normal(5))
    assert not np.allclose(a, host_rng(7, 2, 3).standard_normal(5))
    assert not np.allclose(a, host_rng(8, 1, 3).standard_normal(5))


def test_cupy_and_numpy_agree(device_backend_name):
    from engine.experiment import build, parse_experiment

    gpu = backend_for(device_backend_name)
    experiment = parse_experiment(
        {
            "steps": 100,
            "problem": {"kind": "linear_regression", "samples": 128},
            "runs": [
                {"optimizer": "adam", "lr": 0.05, "batch_size": 16},
                {"optimizer": "momentum", "lr": 0.01, "batch_size": 32},
            ],
        }
    )
    on_gpu = build(experiment, backend=gpu).trainer.run()
    on_cpu = build(experiment, backend=select_backend("numpy")).trainer.run()
    np.testing.assert_allclose(on_gpu.coords, on_cpu.coords, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(on_gpu.loss, on_cpu.loss, rtol=1e-9, atol=1e-12)


# ---- auto: the GPU only where it pays ------------------------------------------------------


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CuPy that imports and answers (the stand-in in its place): the choice is tested."""
    monkeypatch.setattr(backend_module, "_probe_cupy", lambda: (fake_cupy, "Fake GPU", None))


def test_auto_takes_the_gpu_only_from_the_threshold_on(fake_gpu):
    params = 4810  # the digits MLP 64-64-10
    runs_at_threshold = -(-backend_module.GPU_MIN_ELEMENTS // params)  # 55
    small = select_backend("auto", "float32", workload=Workload(runs_at_threshold - 1, params))
    assert small.name == "numpy"
    assert "below 262,144" in small.fallback_reason
    assert "CuPy not used: 54 runs × 4,810 parameters" in small.describe()
    large = select_backend("auto", "float32", workload=Workload(runs_at_threshold, params))
    assert large.name == "cupy"
    assert large.dtype == np.float32
    assert "Fake GPU" in large.describe()
    assert "auto: 55 runs × 4,810 parameters = 264,550 values per step" in large.describe()
    edge = select_backend("auto", workload=Workload(1, backend_module.GPU_MIN_ELEMENTS))
    assert edge.name == "cupy"  # the threshold itself pays


def test_auto_takes_the_gpu_for_a_large_slice_and_without_a_workload(fake_gpu):
    few_runs = Workload(runs=2, params=4810, grid_points=401 * 401)
    assert select_backend("auto", workload=few_runs).name == "cupy"
    assert "slice of 160,801 points" in select_backend("auto", workload=few_runs).describe()
    small_slice = Workload(runs=2, params=4810, grid_points=101 * 101)
    assert select_backend("auto", workload=small_slice).name == "numpy"
    assert "a GPU answered" in select_backend("auto").describe()
    assert "asked for" in select_backend("cupy").describe()


def test_build_weighs_the_experiment_before_taking_the_gpu(fake_gpu):
    from engine.experiment import build, parse_experiment

    def experiment(runs):
        return parse_experiment(
            {
                "steps": 3,
                "backend": "auto",
                "problem": {"kind": "linear_regression", "samples": 16},
                "runs": [{"optimizer": "sgd", "lr": 0.01 * (r + 1)} for r in range(runs)],
            }
        )

    two = build(experiment(2)).backend
    assert two.name == "numpy"
    assert "2 runs × 2 parameters = 4 values per step is below" in two.describe()


# ---- a GPU failure during a run falls back to NumPy ------------------------------------------


class FakeOutOfMemory(Exception):
    """Stands for cupy.cuda.memory.OutOfMemoryError (judged by its module, as CuPy's are)."""


FakeOutOfMemory.__module__ = "cupy.cuda.memory"


class FakeCompileError(RuntimeError):
    pass


FakeCompileError.__module__ = "cupy.cuda.compiler"


def failing_on_gpu(error):
    """A run that fails on any 'cupy' backend and returns its backend's name on NumPy."""
    calls = []

    def work(backend):
        calls.append(backend.name)
        if backend.name == "cupy":
            raise error
        return f"trained on {backend.name}"

    return work, calls


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (FakeOutOfMemory("Out of memory allocating 4,294,967,296 bytes"), "OutOfMemory"),
        (FakeCompileError("nvrtc: error: identifier\n'x' is undefined\n\n1 error"), "x' is"),
    ],
)
def test_a_gpu_error_runs_again_on_numpy_with_one_line(error, words):
    gpu = Backend(np, "cupy", np.dtype(np.float32), "Fake GPU")  # a fake failing backend
    work, calls = failing_on_gpu(error)
    lines = []
    result, used = run_with_fallback(work, gpu, report=lines.append)
    assert result == "trained on numpy"
    assert calls == ["cupy", "numpy"]
    assert used.name == "numpy"
    assert used.dtype == np.float32  # the same experiment, on the CPU
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "the GPU failed" in lines[0]
    assert words in lines[0]
    assert "running on NumPy instead" in lines[0]
    assert "CuPy not used: the GPU failed" in used.describe()


def test_other_errors_are_not_taken_for_gpu_failures():
    gpu = Backend(np, "cupy", np.dtype(np.float64), "Fake GPU")
    work, calls = failing_on_gpu(ValueError("run 'a': lr must be > 0"))
    with pytest.raises(ValueError, match="lr must be"):
        run_with_fallback(work, gpu, report=pytest.fail)
    assert calls == ["cupy"]  # a bug in the experiment is not retried on the CPU

    def numpy_fails(backend):
        raise FakeOutOfMemory("out of memory")

    with pytest.raises(FakeOutOfMemory):  # nothing to fall back to from NumPy
        run_with_fallback(numpy_fails, select_backend("numpy"), report=pytest.fail)
    assert run_with_fallback(lambda b: 7, gpu, report=pytest.fail) == (7, gpu)


def test_fuse_is_the_function_itself_on_numpy():
    def kernel(a, b):
        return a * b + 1

    assert backend_module.fuse(kernel, np) is kernel
    assert select_backend("numpy").fuse(kernel) is kernel


def test_the_run_command_falls_back_to_numpy_when_the_gpu_fails(tmp_path, monkeypatch, capsys):
    """``main.py run`` on a (fake) GPU that runs out of memory mid-training: one warning line,
    the experiment trained again on NumPy, the CSV written, exit 0."""
    import dataclasses

    from engine import runner

    path = tmp_path / "exp.toml"
    path.write_text(
        'steps = 20\nbackend = "auto"\n[problem]\nkind = "linear_regression"\nsamples = 32\n'
        '[[runs]]\noptimizer = "adam"\nlr = 0.05\n',
        encoding="utf-8",
    )
    real_build, real_train = runner.build, runner._train_and_write
    gpu = Backend(np, "cupy", np.dtype(np.float64), "Fake GPU")

    def build_on_fake_gpu(experiment, **kwargs):
        built = real_build(experiment, **kwargs)
        return built if "backend" in kwargs else dataclasses.replace(built, backend=gpu)

    def train(built, csv_path, progress):
        if built.backend.name == "cupy":
            raise FakeOutOfMemory("Out of memory allocating 512 bytes")
        return real_train(built, csv_path, progress)

    monkeypatch.setattr(runner, "build", build_on_fake_gpu)
    monkeypatch.setattr(runner, "_train_and_write", train)
    status = runner.main([str(path), "--out", str(tmp_path / "out"), "--no-plots", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0
    warnings = [line for line in out.splitlines() if "GPU failed" in line]
    assert len(warnings) == 1
    assert "Out of memory allocating 512 bytes" in warnings[0]
    assert "running on NumPy instead" in warnings[0]
    rows = (tmp_path / "out" / "trajectories.csv").read_text().splitlines()
    assert len(rows) == 1 + 21  # the header, row 0 and every update


def test_fuse_hands_the_fused_kernel_scalars_of_the_arrays_dtype():
    """On a module that fuses, Python numbers reach the kernel as the arrays' dtype (CuPy
    would otherwise be free to promote a float32 update to float64)."""
    seen = []

    class Fusing:
        def fuse(self, kernel_name=None):
            assert kernel_name == "kernel"
            return lambda fn: fn

    def kernel(a, lr, t, flag):
        seen.append((type(lr), type(t), type(flag)))
        return a * lr + t

    fused = backend_module.fuse(kernel, Fusing())
    assert fused is not kernel
    out = fused(np.ones(3, np.float32), 0.5, 3, True)
    assert seen == [(np.float32, np.float32, bool)]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [3.5, 3.5, 3.5])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_network_trains_alike_on_cupy_and_numpy(dtype, device_backend_name):
    """The digits MLP with batch norm, three optimizers, minibatches: the GPU path (fused
    updates, device data) against NumPy, loss rows and final weights and running stats."""
    from engine.experiment import build, parse_experiment

    gpu = backend_for(device_backend_name, dtype)
    experiment = parse_experiment(
        {
            "steps": 40,
            "dtype": dtype,
            "problem": {"kind": "mlp", "dataset": "digits", "hidden": [32], "batch_norm": True},
            "runs": [
                {"optimizer": "momentum", "lr": 0.05, "batch_size": 32},
                {"optimizer": "adam", "lr": 0.003, "batch_size": 32},
                {"optimizer": "adamw", "lr": 0.003, "weight_decay": 0.1, "batch_size": 16},
            ],
        }
    )
    tol = {"rtol": 1e-9, "atol": 1e-10} if dtype == "float64" else {"rtol": 2e-3, "atol": 2e-4}
    on_gpu = build(experiment, backend=gpu).trainer
    on_cpu = build(experiment, backend=select_backend("numpy", dtype)).trainer
    gpu_history, cpu_history = on_gpu.run(), on_cpu.run()
    np.testing.assert_allclose(gpu_history.loss, cpu_history.loss, **tol)
    # In float32 the Adam runs' weights are compared through their losses only: a bias before
    # batch norm, and a weight of an input constant within the batch, has a gradient that is
    # rounding noise, which Adam divides by its own root mean square, so it walks by up to
    # lr per step where the noise sends it. Two right float32 computations (the fused update
    # with float32 scalars against NumPy's, a GPU's summation order) part there by 1e-2
    # after 40 steps; the loss does not see those coordinates. Momentum has no such walk.
    runs = slice(None) if dtype == "float64" else slice(0, 1)
    for gpu_part, cpu_part in zip(on_gpu.final_state(), on_cpu.final_state(), strict=True):
        assert gpu_part.dtype == cpu_part.dtype
        np.testing.assert_allclose(gpu_part[runs], cpu_part[runs], **tol)


RUNNER_FILES = {
    "network": """
steps = 30
record_every = 3
[problem]
kind = "mlp"
dataset = "moons"
samples = 120
hidden = [8, 6]
batch_norm = true
validation_fraction = 0.25
[[runs]]
optimizer = "momentum"
lr = 0.1
batch_size = 16
[[runs]]
optimizer = "adam"
lr = 0.01
batch_size = 16
accumulation_steps = 2
""",
    "function": """
steps = 60
[problem]
name = "rosenbrock"
[[runs]]
optimizer = "nesterov"
lr = 0.001
[[runs]]
optimizer = "rmsprop"
lr = 0.01
[runs.schedule]
kind = "cosine"
warmup_steps = 10
""",
}


@pytest.mark.parametrize("kind", RUNNER_FILES)
def test_the_runner_writes_on_cupy_what_it_writes_on_numpy(
    tmp_path, monkeypatch, kind, device_backend_name
):
    """``main.py run`` of a file that asks for CuPy, end to end (build, train, the rows and
    the weights written): the same numbers as the file asking for NumPy."""
    import csv

    from engine import runner

    if device_backend_name == "fake-cupy":
        monkeypatch.setattr(backend_module, "_probe_cupy", lambda: (fake_cupy, "fake", None))
    modules = []  # the array module each file was trained with

    def build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        modules.append(built.backend.xp)
        return built

    real_build = runner.build
    monkeypatch.setattr(runner, "build", build)
    rows, params = {}, {}
    for name in ("numpy", "cupy"):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'backend = "{name}"\n' + RUNNER_FILES[kind], encoding="utf-8")
        out = tmp_path / name
        assert runner.main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 0
        with open(out / "trajectories.csv", newline="", encoding="utf-8") as f:
            rows[name] = list(csv.reader(f))
        if (out / "params.npz").exists():
            with np.load(out / "params.npz") as saved:
                params[name] = {key: saved[key] for key in saved.files}
    assert modules[0] is np
    assert modules[1] is not np
    assert modules[1] is backend_for(device_backend_name).xp
    header, *cpu = rows["numpy"]
    assert rows["cupy"][0] == header
    assert len(rows["cupy"]) == len(rows["numpy"]) > 10
    numbers = [i for i, column in enumerate(header) if column != "label"]
    cpu_numbers = np.array([[float(r[i]) for i in numbers] for r in cpu])
    gpu_numbers = np.array([[float(r[i]) for i in numbers] for r in rows["cupy"][1:]])
    np.testing.assert_allclose(gpu_numbers, cpu_numbers, rtol=1e-9, atol=1e-12)
    assert (kind == "network") == bool(params)
    for key, value in params.get("numpy", {}).items():
        np.testing.assert_allclose(params["cupy"][key], value, rtol=1e-9, atol=1e-12)
