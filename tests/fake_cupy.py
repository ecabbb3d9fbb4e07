"""A strict stand-in for CuPy, built on NumPy, so that the engine's CuPy code paths run in CI
where there is no GPU. Test code only: the engine never imports it (a test hands it to
``engine.backend.Backend`` as the array module of a ``"cupy"`` backend).

Its arrays (``ndarray``) wrap a NumPy array that the host may not touch, and refuse what
CuPy refuses:

- ``np.asarray(a)`` (and so ``np.savez``, ``np.testing``, any NumPy function without a
  CuPy twin) raises ``TypeError``: CuPy's ``__array__`` does. A copy comes to the host with
  ``a.get()`` only.
- A NumPy array as an operand of an operator or of one of this module's functions raises
  ``TypeError: Unsupported type <class 'numpy.ndarray'>``; Python and NumPy scalars are
  welcome, as in CuPy.
- ``float(a)`` / ``int(a)`` / ``bool(a)`` only for a 0-d array (CuPy reads the element
  back through NumPy, which deprecates it for more dimensions).
- Inside a fused kernel (``fuse``) no value is read back at all.

What CuPy does allow, this allows too (else the fake would report bugs that are not):

- NumPy functions and ufuncs called on device arrays run this module's twin (NEP 13/18:
  CuPy's ``__array_ufunc__``/``__array_function__``), returning device arrays.
- Host arrays and lists as *indices* (``a[idx]``, ``take``) and as the values of an
  advanced-index assignment are uploaded, as CuPy's indexing does; ``a[...] = host`` with a
  basic index is refused unless it is ``a[:] = host`` of the same shape and dtype (CuPy's
  ``fill`` refuses a non-scalar host array; ``[:]`` of an equal one is a host copy).
- ``asarray``/``array`` accept host data: that is the upload.

Where CuPy's results differ from NumPy's in a way the engine could lean on:

- Reductions and scalar indexing give 0-d device arrays, not NumPy scalars (CuPy never
  brings a number back on its own): ``a.sum()``, ``a[0, 1]``, ``count_nonzero(a)``.
- ``fuse`` runs the function as it is (the fake has no kernels); arguments are checked as
  a fused kernel's are (device arrays and scalars only).
- Type promotion is NumPy's (CuPy ≥ 13 follows NumPy's rules for these dtypes).

Not modelled: the GPU's own rounding (cuBLAS and reduction orders; the fake computes what
NumPy computes, so float64 results usually agree bit for bit where a GPU's agree to
rounding), streams and asynchrony, and memory. The module has a ``cuda`` attribute because
the engine tells CuPy from NumPy by it (``hasattr(xp, "cuda")``). Its functions ``sum``,
``max``, ``any``... shadow Python's builtins inside this file, hence ``builtins.any``.
"""

from __future__ import annotations

import builtins
import threading
import types
from typing import Any, NamedTuple

import numpy as np

IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)
_SCALARS = (int, float, complex, bool, np.generic)


def _words(text: str) -> list[str]:
    """Names written as one string (a list of them, one per line, would be 50 lines)."""
    return text.split()


def _unsupported(x) -> TypeError:
    return TypeError(f"Unsupported type {type(x)}")


def _operand(x):
    """An operand of a kernel: a device array's NumPy array, or a scalar; nothing else."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _SCALARS) or x is None:
        return x
    raise _unsupported(x)


def _argument(x):
    """An argument of a routine: device arrays unwrapped, also inside lists and tuples (of
    arrays to stack, of shapes, of axes); host arrays refused; the rest (strings, dtypes,
    numbers, None) as it is."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_argument(v) for v in x)
    return x


def _index(key):
    """An index: device arrays unwrapped, host arrays and lists uploaded (CuPy converts
    them with ``cupy.array``), slices, integers, None and Ellipsis as they are."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        return np.array(key)
    return key


def _is_advanced(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return builtins.any(isinstance(k, (ndarray, np.ndarray, list)) for k in keys)


def _wrap(result):
    """A NumPy result as CuPy returns it: on the device, numbers as 0-d arrays."""
    if isinstance(result, np.ndarray):
        return ndarray(result)
    if isinstance(result, (np.generic, int, float, bool)):
        return ndarray(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    return result


def _out(out):
    if out is None:
        return None
    if not isinstance(out, ndarray):
        raise _unsupported(out)
    return out._a


def _kernel(np_ufunc):
    """An elementwise kernel (a NumPy ufunc) over device arrays and scalars."""

    def kernel(*args, out=None, **kwargs):
        result = np_ufunc(*(_operand(a) for a in args), out=_out(out), **kwargs)
        return out if out is not None else _wrap(result)

    kernel.__name__ = np_ufunc.__name__
    return kernel


def _routine(np_function):
    """A routine (a NumPy function) over device arrays; ``out=`` must be a device array."""

    def routine(*args, out=None, **kwargs):
        args = tuple(_argument(a) for a in args)
        kwargs = {k: _argument(v) for k, v in kwargs.items()}
        if out is not None:
            kwargs["out"] = _out(out)
        result = np_function(*args, **kwargs)
        return out if out is not None else _wrap(result)

    routine.__name__ = np_function.__name__
    return routine


class Flags(NamedTuple):
    """CuPy's flags: these three only (no ``writeable``: a device array always is)."""

    c_contiguous: bool
    f_contiguous: bool
    owndata: bool


class ndarray:  # (CuPy's name)
    """An array on the fake device."""

    __slots__ = ("_a",)
    __array_priority__ = 100  # CuPy's: a NumPy operand on the left defers to us
    __hash__ = None

    def __init__(self, a: np.ndarray):
        assert isinstance(a, np.ndarray), type(a)
        self._a = a

    # ---- what CuPy refuses, and the one way to the host ----
    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    def get(self, stream=None) -> np.ndarray:
        """A NumPy copy on the host (CuPy's device-to-host transfer)."""
        _refuse_in_kernel()
        return np.array(self._a, copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        twin = globals().get(ufunc.__name__)
        if method != "__call__" or twin is None:
            return NotImplemented
        if "out" in kwargs:
            (kwargs["out"],) = kwargs["out"]
        return twin(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        twin = globals().get(func.__name__)
        if func.__module__ != "numpy" or not callable(twin):
            return NotImplemented  # NumPy then raises TypeError, as for CuPy
        return twin(*args, **kwargs)

    def _scalar(self, convert):
        _refuse_in_kernel()
        if self._a.ndim != 0:
            raise TypeError(
                f"only 0-d device arrays convert to a Python number (shape {self._a.shape})"
            )
        return convert(self._a)

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __bool__(self):
        return self._scalar(bool)

    def item(self):
        _refuse_in_kernel()
        if self._a.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __repr__(self):
        return f"fake_cupy.ndarray({self._a!r})"

    def __format__(self, spec):
        return format(self._a, spec)

    # ---- attributes ----
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: ndarray(self._a.T))

    @property
    def flags(self) -> Flags:
        f = self._a.flags
        return Flags(f.c_contiguous, f.f_contiguous, f.owndata)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    # ---- indexing ----
    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim and not _is_advanced(key):
            whole = key == slice(None) if isinstance(key, slice) else False
            if not (whole and value.shape == self.shape and value.dtype == self.dtype):
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        elif not isinstance(value, (np.ndarray, list)):
            value = _operand(value)
        self._a[_index(key)] = value

    # ---- methods: NumPy's, on the device ----
    def astype(self, dtype, copy=True):
        return ndarray(self._a.astype(dtype, copy=copy))

    def copy(self):
        return ndarray(self._a.copy())

    def fill(self, value):
        self._a.fill(_operand(value))

    def __getattr__(self, name):
        if name not in _METHODS:
            raise AttributeError(f"fake_cupy.ndarray has no attribute {name!r}")
        return _routine(getattr(self._a, name))


# Methods forwarded to NumPy's (arguments and results checked and wrapped as a routine's).
_METHODS = frozenset(
    _words(
        "reshape ravel flatten transpose swapaxes squeeze sum prod mean var std max min "
        "argmax argmin any all cumsum clip dot take repeat nonzero sort argsort view"
    )
)


def _operator(np_ufunc, reflected=False):
    kernel = _kernel(np_ufunc)
    if reflected:
        return lambda self, other: kernel(other, self)
    return lambda self, other: kernel(self, other)


def _inplace(np_ufunc):
    def op(self, other):
        np_ufunc(self._a, _operand(other), out=self._a)
        return self

    return op


_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "truediv": np.true_divide,
    "floordiv": np.floor_divide,
    "mod": np.remainder,
    "pow": np.power,
    "matmul": np.matmul,
    "and": np.bitwise_and,
    "or": np.bitwise_or,
    "xor": np.bitwise_xor,
}
for _name, _ufunc in _BINARY.items():
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
    setattr(ndarray, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(_ufunc))
for _name, _ufunc in {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}.items():
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
for _name, _ufunc in {
    "neg": np.negative,
    "pos": np.positive,
    "abs": np.absolute,
    "invert": np.invert,
}.items():
    setattr(ndarray, f"__{_name}__", _kernel(_ufunc))


# ---- the module's functions -----------------------------------------------------------------

_UFUNC_NAMES = _words(
    "add subtract multiply divide true_divide floor_divide remainder power negative positive "
    "absolute abs sign sqrt square exp expm1 log log1p log2 exp2 logaddexp logaddexp2 tanh "
    "sinh cosh sin cos tan arctan arctan2 maximum minimum fmax fmin greater greater_equal "
    "less less_equal equal not_equal logical_and logical_or logical_not isfinite isnan isinf "
    "floor ceil rint matmul reciprocal signbit copysign"
)
_ROUTINE_NAMES = _words(
    "einsum stack concatenate where clip sum prod mean var std max min amax amin argmax argmin "
    "any all count_nonzero cumsum dot outer tensordot transpose reshape ravel swapaxes moveaxis "
    "expand_dims squeeze broadcast_to broadcast_arrays zeros_like ones_like empty_like "
    "full_like sort argsort take_along_axis repeat tile diff nan_to_num "
    "copyto atleast_1d atleast_2d"
)
for _name in _UFUNC_NAMES:
    globals()[_name] = _kernel(getattr(np, _name))
for _name in _ROUTINE_NAMES:
    if hasattr(np, _name):
        globals()[_name] = _routine(getattr(np, _name))


def take(a, indices, axis=None, out=None):
    """``a.take``: host indices are uploaded (CuPy's ``take`` converts them)."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    result = np.take(a._a, _index(indices), axis=axis, out=_out(out))
    return out if out is not None else _wrap(result)


def _creation(np_function):
    """Shapes and values from the host, the array on the device."""

    def create(*args, **kwargs):
        return _wrap(np_function(*(_argument(a) for a in args), **kwargs))

    create.__name__ = np_function.__name__
    return create


empty, zeros, ones, full = (_creation(f) for f in (np.empty, np.zeros, np.ones, np.full))
arange, linspace, eye = (_creation(f) for f in (np.arange, np.linspace, np.eye))


def _upload(a, dtype):
    """Host data (arrays, numbers, nested lists, lists of 0-d device arrays) as a NumPy
    array, copied (the device has its own memory)."""
    if isinstance(a, (list, tuple)):
        a = [_upload(v, None) if isinstance(v, (list, tuple, ndarray)) else v for v in a]
    elif isinstance(a, ndarray):
        return a._a
    return np.array(a, dtype=dtype, copy=True)


def asarray(a, dtype=None, order=None):
    """``a`` on the device: the array itself when it is one already of that dtype."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else ndarray(a._a.astype(dtype))
    return ndarray(_upload(a, dtype))


def array(a, dtype=None, copy=True):
    if isinstance(a, ndarray):
        return ndarray(a._a.astype(dtype or a.dtype, copy=copy))
    return ndarray(_upload(a, dtype))


def ascontiguousarray(a, dtype=None):
    """CuPy's takes device arrays only."""
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    result = np.ascontiguousarray(a._a, dtype=dtype)
    return a if result is a._a else ndarray(result)


def asnumpy(a) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


_kernel_state = threading.local()  # inside a fused kernel (per thread: the app trains in one)


def _refuse_in_kernel() -> None:
    if getattr(_kernel_state, "inside", False):
        raise TypeError("a fused kernel cannot read an array's values (CuPy traces it once)")


def fuse(kernel_name: str | None = None):
    """CuPy's decorator: ``fuse(kernel_name=...)(fn)`` is one kernel. Here ``fn`` itself,
    with a fused kernel's checks: device arrays and scalars as arguments only, and no value
    read back inside (``bool``, ``float``, ``.get()``: CuPy traces the function once, on
    stand-ins that hold no values, so a branch on an array's values cannot be fused)."""

    def decorate(fn):
        def fused(*args):
            for a in args:
                _operand(a)
            _kernel_state.inside = True
            try:
                return fn(*args)
            finally:
                _kernel_state.inside = False

        fused.__name__ = kernel_name or fn.__name__
        return fused

    return decorate


class _Stream:
    def synchronize(self) -> None:
        """The fake device computes on the host, as soon as asked: nothing queued."""


cuda = types.SimpleNamespace(get_current_stream=_Stream)

# Types and constants are NumPy's own in CuPy too.
float16, float32, float64 = np.float16, np.float32, np.float64
int8, int32, int64, uint8, bool_ = np.int8, np.int32, np.int64, np.uint8, np.bool_
dtype, result_type, finfo, iinfo = np.dtype, np.result_type, np.finfo, np.iinfo
pi, e, inf, nan, newaxis = np.pi, np.e, np.inf, np.nan, np.newaxis


def __getattr__(name: str) -> Any:
    """A function the fake lacks fails loudly (the fake then has a gap to close), not by
    silently falling back to NumPy."""
    raise AttributeError(f"fake_cupy has no {name!r} (add it, wrapped, if CuPy has it)")
