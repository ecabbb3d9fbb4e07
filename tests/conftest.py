"""Shared pytest setup: the repository root is importable (``import engine``) without an
editable install, and the ``backend_name`` / ``xp`` fixtures run a test on every array
module: NumPy always; ``fake-cupy``, the engine's CuPy path on a strict NumPy stand-in
(``tests/fake_cupy.py``) always; real CuPy where a GPU answers (else skipped, with the
reason shown by ``-ra``).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.backend import Backend, _probe_cupy, select_backend  # noqa: E402  (after the path)
from tests import fake_cupy  # noqa: E402

# Probed once per session: importing CuPy and asking the driver takes a while.
_CUPY, _, _CUPY_MISSING = _probe_cupy()

FAKE_CUPY = "fake-cupy"
NEEDS_CUPY = pytest.mark.skipif(_CUPY is None, reason=f"CuPy backend: {_CUPY_MISSING}")
# The CuPy code paths: on the stand-in everywhere, on a GPU where there is one.
DEVICE_BACKENDS = [FAKE_CUPY, pytest.param("cupy", marks=NEEDS_CUPY)]
BACKENDS = ["numpy", *DEVICE_BACKENDS]


def backend_for(name: str, dtype: str = "float64") -> Backend:
    """The backend a test's ``backend_name`` stands for: ``select_backend``'s, or for
    ``fake-cupy`` a CuPy backend (``name == "cupy"``: every CuPy branch taken) whose array
    module is the stand-in."""
    if name == FAKE_CUPY:
        return Backend(fake_cupy, "cupy", np.dtype(dtype), "fake device")
    return select_backend(name, dtype)


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    """``"numpy"``, ``"fake-cupy"`` and ``"cupy"``: a test taking it runs once per array
    module (``backend_for`` gives its backend)."""
    return request.param


@pytest.fixture(params=DEVICE_BACKENDS)
def device_backend_name(request) -> str:
    """``"fake-cupy"`` and ``"cupy"``: a test comparing the CuPy path with NumPy."""
    return request.param


@pytest.fixture
def xp(backend_name):
    """The array module of ``backend_name`` (``numpy``, the stand-in or ``cupy``)."""
    return backend_for(backend_name).xp
