"""Choosing the array module: NumPy always works; CuPy only where a GPU answers."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from engine import backend as backend_module
from engine.backend import host_rng, select_backend


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


def test_cupy_and_numpy_agree_where_a_gpu_exists():
    from engine.experiment import build, parse_experiment

    gpu = select_backend("auto")
    if gpu.name != "cupy":
        pytest.skip(f"no GPU here: {gpu.fallback_reason}")
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
