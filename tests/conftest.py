"""Shared pytest setup: the repository root is importable (``import engine``) without an
editable install, and the ``backend_name`` / ``xp`` fixtures run a test on every array
module: NumPy always, CuPy where a GPU answers (else skipped, with the reason shown by ``-ra``).
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.backend import _probe_cupy, select_backend  # noqa: E402  (after the path)

# Probed once per session: importing CuPy and asking the driver takes a while.
_CUPY, _, _CUPY_MISSING = _probe_cupy()

BACKENDS = [
    "numpy",
    pytest.param(
        "cupy",
        marks=pytest.mark.skipif(_CUPY is None, reason=f"CuPy backend: {_CUPY_MISSING}"),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    """``"numpy"`` and ``"cupy"``: a test taking it runs once per array module."""
    return request.param


@pytest.fixture
def xp(backend_name):
    """The array module of ``backend_name`` (``numpy`` or ``cupy``)."""
    return select_backend(backend_name, "float64").xp
