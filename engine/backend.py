"""The array module the engine computes with: NumPy, or CuPy when a GPU answers.

This is the only module that imports CuPy. Everything else receives ``backend.xp`` and
writes array code that runs on either.

Random numbers are drawn on the host with NumPy's generator, keyed by what they are for
(data, shuffling, noise, initialisation) and by position (epoch, block of steps). The same
experiment therefore gives the same numbers on NumPy and CuPy, and a run's numbers do not
depend on which other runs share the computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Literal, TypeVar

import numpy as np

T = TypeVar("T")

BackendName = Literal["auto", "numpy", "cupy"]
DTypeName = Literal["float32", "float64"]

# Streams of random numbers, one per purpose: the first entry of every seed sequence.
STREAM_DATA = 0
STREAM_SHUFFLE = 1
STREAM_NOISE = 2
STREAM_INIT = 3

# Where ``auto`` takes the GPU. A training step is some 40-60 array calls whatever its size.
# On CuPy each is a kernel launch of ~5-10 µs of host time, so a GPU step costs ≥ 0.3-0.5 ms
# however few the runs; on NumPy a call costs 0.3-1.4 µs and a step's time grows with
# runs × parameters (measured on this project's 2-core CPU: ≈ 4 ns per element per step, 256
# runs of the 4,810-parameter digits MLP ≈ 5 ms). The two meet near 10⁵ elements; 2¹⁸ leaves
# a margin for the frames copied down to be drawn. A slice of 101 × 101 points takes ≤ 0.5 s
# on the CPU (interactive already); from 201 × 201 (four times the work) the GPU pays.
# Estimates from launch costs, not GPU measurements: tools/gpu_check.sh measures the ratios.
GPU_MIN_ELEMENTS = 1 << 18  # runs × parameters per step (262,144 ≈ 55 digits-MLP runs)
GPU_MIN_GRID_POINTS = 201 * 201  # points of a loss-landscape slice


@dataclass(frozen=True)
class Workload:
    """What a computation asks of the array module, for ``select_backend("auto")``."""

    runs: int = 1
    params: int = 2  # per run
    grid_points: int = 0  # of a loss-landscape slice; 0 when there is none

    def gpu_pays(self) -> tuple[bool, str]:
        """Whether CuPy is worth its launch costs here, and the reason in words."""
        elements = self.runs * self.params
        if elements >= GPU_MIN_ELEMENTS:
            return True, (
                f"{self.runs} runs × {self.params:,} parameters = {elements:,} values per "
                f"step (≥ {GPU_MIN_ELEMENTS:,}: the GPU pays)"
            )
        if self.grid_points >= GPU_MIN_GRID_POINTS:
            return True, (
                f"a slice of {self.grid_points:,} points (≥ {GPU_MIN_GRID_POINTS:,}: the GPU pays)"
            )
        return False, (
            f"{self.runs} run{'s' * (self.runs != 1)} × {self.params:,} parameters = "
            f"{elements:,} values per step is below {GPU_MIN_ELEMENTS:,}, where kernel "
            "launches cost more than the CPU's work"
        )


@dataclass(frozen=True)
class Backend:
    """Which array module and dtype the engine uses, and why."""

    xp: ModuleType
    name: Literal["numpy", "cupy"]
    dtype: np.dtype
    device: str
    # Why CuPy is not in use when ``auto`` was asked for (shown in the status bar).
    fallback_reason: str | None = None

    def asarray(self, a) -> object:
        """An array on the device, in the engine's dtype."""
        return self.xp.asarray(a, dtype=self.dtype)

    def to_host(self, a) -> np.ndarray:
        """A NumPy copy of a device array (a no-op view for NumPy)."""
        if self.name == "cupy":
            return a.get()
        return np.asarray(a)

    # Why this module was chosen when ``auto`` picked it for the workload (status bar).
    choice_reason: str | None = None

    def synchronize(self) -> None:
        """Wait for the device's queued work (a timing needs it; NumPy has none)."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def describe(self) -> str:
        text = f"{'CuPy' if self.name == 'cupy' else 'NumPy'} ({self.device}), {self.dtype.name}"
        if self.fallback_reason:
            text += f" — CuPy not used: {self.fallback_reason}"
        elif self.choice_reason:
            text += f" — {self.choice_reason}"
        return text

    def fuse(self, fn: Callable) -> Callable:
        """``fn`` as one kernel on this backend (see ``fuse``)."""
        return fuse(fn, self.xp)


def fuse(fn: Callable, xp: ModuleType = np) -> Callable:
    """An elementwise function of arrays and scalars as ONE kernel launch where the array
    module can fuse (CuPy: ``cupy.fuse``), and ``fn`` itself on NumPy.

    ``fn`` must be pure elementwise arithmetic (operators and ufuncs, broadcasting allowed)
    whose Python-level branches depend only on what it closes over, never on array values:
    then the fused kernel and the plain function compute the same expressions, so the math
    is tested on NumPy. Python numbers passed to the fused kernel (rates, the step count)
    are cast to the dtype of the first array argument: typed scalars leave no doubt about
    the promotion, so a float32 update stays float32 on the GPU, as NumPy's weak Python
    scalars keep it on the CPU (scalar-only subexpressions are then float32 too).
    """
    if xp is np or not hasattr(xp, "fuse"):
        return fn
    fused = xp.fuse(kernel_name=getattr(fn, "__name__", "fused"))(fn)

    def call(*args):
        dtype = next((a.dtype for a in args if hasattr(a, "dtype") and a.ndim), None)
        if dtype is not None:
            args = tuple(dtype.type(a) if type(a) in (float, int) else a for a in args)
        return fused(*args)

    call.__name__ = getattr(fn, "__name__", "fused")
    call.__wrapped__ = fn
    return call


def host_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    """A NumPy generator for one purpose (``stream``) and position (``key``)."""
    return np.random.default_rng([int(seed), stream, *(int(k) for k in key)])


def _probe_cupy() -> tuple[ModuleType | None, str, str | None]:
    """CuPy and the device name, or None and the reason it cannot be used."""
    try:
        import cupy
    except ImportError:
        return None, "", "CuPy is not installed (pip install 'descent-lab[gpu]')"
    except Exception as exc:  # a broken CUDA install raises all sorts of things
        return None, "", f"CuPy failed to import: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return None, "", "no CUDA device found"
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        cupy.zeros(1).sum()  # a device that lists but cannot compute is no device
    except Exception as exc:
        return None, "", f"no usable CUDA device ({exc})"
    return cupy, name, None


def select_backend(
    request: BackendName = "auto", dtype: DTypeName = "float64", workload: Workload | None = None
) -> Backend:
    """Choose the array module once.

    ``auto`` takes CuPy only when it imports, a device answers and, given a ``workload``,
    the work is large enough to pay for kernel launches (``Workload.gpu_pays``); else NumPy
    with the reason kept (``describe`` says it). Without a workload, a GPU that answers is
    taken. ``cupy`` insists and raises ``RuntimeError`` with the reason when it can't.
    """
    if request not in ("auto", "numpy", "cupy"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'cupy', not {request!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', not {dtype!r}")
    np_dtype = np.dtype(dtype)
    if request == "numpy":
        return Backend(np, "numpy", np_dtype, "CPU")
    cupy, device, reason = _probe_cupy()
    if cupy is None:
        if request == "cupy":
            raise RuntimeError(f"backend 'cupy' was asked for but cannot be used: {reason}")
        return Backend(np, "numpy", np_dtype, "CPU", fallback_reason=reason)
    if request == "cupy":
        return Backend(cupy, "cupy", np_dtype, device, choice_reason="asked for")
    if workload is None:
        return Backend(cupy, "cupy", np_dtype, device, choice_reason="auto: a GPU answered")
    pays, why = workload.gpu_pays()
    if pays:
        return Backend(cupy, "cupy", np_dtype, device, choice_reason=f"auto: {why}")
    return Backend(np, "numpy", np_dtype, "CPU", fallback_reason=why)


def is_gpu_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from CuPy or CUDA (a kernel that fails to compile, GPU memory
    exhausted, a runtime or driver error), judged by the module of its class or a base."""
    return any(
        (cls.__module__ or "").split(".")[0] in ("cupy", "cupy_backends", "cupyx")
        for cls in type(exc).__mro__
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def gpu_failure(exc: BaseException) -> str | None:
    """Why the GPU failed, in words for the status bar or a warning line, when ``exc`` is a
    GPU error (``is_gpu_error``); None for any other error."""
    if not is_gpu_error(exc):
        return None
    return f"the GPU failed ({type(exc).__name__}: {_one_line(exc)})"


def numpy_fallback(dtype, why: str) -> Backend:
    """The NumPy backend that replaces CuPy, with the reason ``describe`` shows."""
    return Backend(np, "numpy", np.dtype(dtype), "CPU", fallback_reason=why)


def run_with_fallback(
    work: Callable[[Backend], T], backend: Backend, report: Callable[[str], None] = print
) -> tuple[T, Backend]:
    """``work(backend)``, and the backend it ran on. Where a CuPy backend fails with a GPU
    error (``is_gpu_error``: a failed kernel compile, out of GPU memory...), ``work`` runs
    again from the start on NumPy, after one line to ``report``; the NumPy backend returned
    says why in ``describe``. Any other error, or one on NumPy, is raised as it is.

    ``work`` must build what it needs on the backend it is given (data, parameters,
    optimizer), so that nothing of the failed GPU attempt is reused.
    """
    try:
        return work(backend), backend
    except Exception as exc:
        why = gpu_failure(exc) if backend.name == "cupy" else None
        if why is None:
            raise
    report(f"{why}; running on NumPy instead")
    fallback = numpy_fallback(backend.dtype, why)
    return work(fallback), fallback
