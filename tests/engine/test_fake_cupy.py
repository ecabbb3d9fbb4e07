"""The CuPy stand-in (``tests/fake_cupy.py``) refuses what CuPy refuses: were it to pass
host arrays through, the ``fake-cupy`` runs of the backend tests would be NumPy runs again
and prove nothing about the GPU path."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests import fake_cupy as cp
from tests.conftest import FAKE_CUPY, backend_for

HOST = np.arange(6.0).reshape(2, 3)


@pytest.fixture
def device():
    return cp.asarray(HOST)


@pytest.mark.parametrize(
    "to_host",
    [np.asarray, np.array, np.ascontiguousarray, lambda a: np.testing.assert_allclose(a, HOST)],
    ids=["asarray", "array", "ascontiguousarray", "testing"],
)
def test_a_device_array_never_becomes_a_host_array_implicitly(device, to_host):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        to_host(device)


@pytest.mark.parametrize(
    "mix",
    [
        lambda d: d + HOST,
        lambda d: HOST * d,
        lambda d: d @ HOST.T,
        lambda d: cp.matmul(d, HOST.T),
        lambda d: cp.maximum(d, HOST),
        lambda d: cp.einsum("ij,ij->i", d, HOST),
        lambda d: cp.stack([d, HOST]),
        lambda d: cp.concatenate([HOST, d]),
        lambda d: cp.ascontiguousarray(HOST),
        lambda d: np.add(HOST, d),
        lambda d: d + np.asarray(2.0),  # a 0-d host array is an array, not a scalar
    ],
)
def test_host_arrays_are_refused_as_operands(device, mix):
    with pytest.raises(TypeError, match=re.escape("Unsupported type <class 'numpy.ndarray'>")):
        mix(device)


def test_in_place_mixing_is_refused_both_ways(device):
    host = HOST.copy()
    with pytest.raises(TypeError):
        host += device
    with pytest.raises(TypeError):
        device += HOST
    with pytest.raises(TypeError):
        cp.multiply(device, 2.0, out=host)
    np.testing.assert_array_equal(host, HOST)  # nothing written before the refusal


def test_only_0d_arrays_read_back_as_numbers(device):
    for convert in (float, int, bool):
        with pytest.raises(TypeError, match="0-d"):
            convert(device)
        with pytest.raises(TypeError, match="0-d"):
            convert(device[0])
    total = device.sum()  # a reduction stays on the device, as CuPy's does
    assert type(total) is cp.ndarray
    assert total.shape == ()
    assert float(total) == 15.0
    assert type(device[1, 2]) is cp.ndarray  # so does one element


def test_a_fused_kernel_refuses_host_arrays(device):
    kernel = cp.fuse(kernel_name="axpy")(lambda a, x, y: a * x + y)
    assert kernel.__name__ == "axpy"
    np.testing.assert_array_equal(kernel(2.0, device, device).get(), 3 * HOST)
    with pytest.raises(TypeError):
        kernel(2.0, device, HOST)
    branching = cp.fuse(kernel_name="branching")(lambda x: x if (x > 0).all() else -x)
    with pytest.raises(TypeError, match="fused kernel cannot read"):
        branching(device)  # CuPy traces once, without values
    assert float(device.max()) == 5.0  # outside a kernel, reading back is allowed


def test_scalars_are_welcome_and_transfers_copy(device):
    result = np.float32(2) * device + 1 - np.int64(3)  # NumPy scalars, Python numbers
    assert type(result) is cp.ndarray
    host = result.get()
    assert type(host) is np.ndarray
    np.testing.assert_array_equal(host, 2 * HOST - 2)
    host[0, 0] = 99.0  # .get() is a copy, as a device-to-host transfer is
    assert float(result[0, 0]) == -2.0
    source = HOST.copy()
    uploaded = cp.asarray(source)
    source[0, 0] = 99.0  # so is the upload
    assert float(uploaded[0, 0]) == 0.0


def test_numpy_functions_run_on_the_device_as_cupys_do(device):
    """NEP 13/18 dispatch, which CuPy implements: not a host round trip."""
    assert type(np.exp(device)) is cp.ndarray
    assert type(np.concatenate([device, device])) is cp.ndarray
    with pytest.raises(TypeError):
        np.linalg.norm(device)  # no twin here: refused, never computed on the host


def test_host_indices_are_uploaded_and_host_values_only_where_cupy_takes_them(device):
    np.testing.assert_array_equal(device[np.array([1, 0])].get(), HOST[[1, 0]])
    np.testing.assert_array_equal(cp.take(device, [2, 0], axis=1).get(), HOST[:, [2, 0]])
    device[np.array([0])] = np.ones((1, 3))  # advanced index: the value is uploaded
    device[:] = HOST  # the whole array from an equal host array: a host copy
    with pytest.raises(ValueError, match=r"non-scalar numpy\.ndarray"):
        device[0] = np.ones(3)  # CuPy's fill refuses it
    np.testing.assert_array_equal(device.get(), HOST)


def test_the_fake_backend_is_a_cupy_backend_on_the_stand_in():
    backend = backend_for(FAKE_CUPY, "float32")
    assert backend.name == "cupy"  # every `name == "cupy"` branch of the engine is taken
    assert backend.xp is cp
    on_device = backend.asarray([1, 2])
    assert type(on_device) is cp.ndarray
    assert on_device.dtype == np.float32
    assert type(backend.to_host(on_device)) is np.ndarray

    def double(a):
        return a * 2

    fused = backend.fuse(double)
    assert fused is not double  # through the stand-in's fuse, as on CuPy
    assert type(fused(on_device)) is cp.ndarray
    with pytest.raises(AttributeError, match="fake_cupy has no"):
        backend.xp.some_function_cupy_lacks  # noqa: B018
