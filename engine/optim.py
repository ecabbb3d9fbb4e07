"""Optimizers as pure functions over the runs axis.

An optimizer is a frozen record of hyperparameters with two pure functions,

    init(params) -> state
    update(grads, state, params, lr) -> (new_params, new_state)

where every array carries the runs axis first: ``params`` and ``grads`` are ``(R, P)``,
hyperparameters are ``(R, 1)`` so that a sweep is just longer arrays (or plain floats when
every run shares the value), and ``lr`` is the ``(R, 1)`` rate of this update, or a float
when all runs share it (the schedule is applied outside). Nothing is mutated, unless the
caller donates its arrays (below).

Two conventions where the lecture and PyTorch differ (``convention="lecture"`` or
``"pytorch"``); where nothing differs the two are the same code:

- momentum: lecture ``m₀ = 0, m ← λm − ηg, θ ← θ + m``; PyTorch ``v ← μv + g, θ ← θ − ηv``.
  Equal while η is constant (then m = −ηv); a schedule tells them apart.
- Adagrad: lecture divides by the root *mean* square of past gradients, PyTorch by the root
  of their *sum* (so its steps shrink like 1/√t even for constant gradients).
- RMSProp: lecture starts from ``σ₀ = |g₀|``, PyTorch from ``v₀ = 0`` (a tiny first σ and a
  large first step).

Each optimizer also says what the GUI draws: ``velocity`` (its momentum, in parameter units)
and ``step_size`` (the per-parameter rate η/σ actually applied to the gradient or momentum).

Each update is ONE elementwise kernel: a pure function of arrays and scalars, chosen by the
optimizer's flags (momentum or not, weight decay, the first step...), built once per flag set
and handed to ``engine.backend.fuse``. On CuPy that is one fused launch per step instead of a
dozen; on NumPy the kernel is called as it is, so both backends compute the same expressions
and the torch comparisons of the NumPy path test the GPU's math too.

Donation (``update(..., donate=True)``): the caller promises that nothing else holds the
parameters or the state's arrays (the gradient is only read), so the update may write its
results into them. On NumPy, SGD (with or without momentum, either convention) and Adam(W)
then run as sequences of in-place ufuncs, the same operations on the same operands in the same
order as their kernels (bit for bit: tested), with a scratch array kept by the optimizer: for
many runs that halves the update's time (no fresh arrays of the parameters' size to fill).
Where the results' dtype would not be the parameters' own (a float64 rate with float32
parameters promotes), where arrays overlap, for the other optimizers and on CuPy (a fused
kernel returns new arrays) donation is ignored: the plain update runs, equally correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from engine import parameters
from engine.backend import fuse
from engine.parameters import (
    CONVENTIONS,
    OPTIMIZERS,
    OPTIMIZERS_INFO,
    optimizer_defaults,
    optimizer_parameters,
)

# Each optimizer's hyperparameters and their defaults (under either convention), from the
# registry (``engine.parameters``): PyTorch's, except that `momentum` and `nesterov` default
# to momentum 0.9 (the names promise some momentum).
DEFAULTS: dict[str, dict[str, float | bool]] = {n: optimizer_defaults(n) for n in OPTIMIZERS}

# The lecture's forms only exist for these; elsewhere "lecture" is PyTorch's formula.
LECTURE_FORMS = tuple(name for name, info in OPTIMIZERS_INFO.items() if info.lecture_form)

FLAGS = tuple(p.key for p in parameters.OPTIMIZER_PARAMETERS if p.type is bool)


class HyperparameterError(ValueError):
    """A hyperparameter that is out of range or does not apply; ``key`` names it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key} {message}")
        self.key = key
        self.detail = message


def _defaults(name: str, convention: str | None = None) -> dict[str, float | bool]:
    """The hyperparameters optimizer ``name`` takes (under ``convention``, when given),
    with their defaults: read from the registry on every call, so that an entry added to
    it is taken at once."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return optimizer_defaults(name, convention)


def check_hyperparameters(
    name: str, values: Mapping[str, Any], convention: str | None = None
) -> dict[str, Any]:
    """The full hyperparameter set of one run (or of many: values may be arrays), defaults
    filled in, or a ``HyperparameterError`` naming the hyperparameter and what it must be.
    With a ``convention``, a hyperparameter its formula lacks (the lecture's Adagrad has no
    ``lr_decay``) is refused too."""
    allowed = _defaults(name, convention)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        key = unknown[0]
        where = f"optimizer {name!r}"
        if key in _defaults(name):  # the optimizer has it, but not in this convention
            where += f" with convention {convention!r}"
        raise HyperparameterError(key, f"does not apply to {where}; it takes {', '.join(allowed)}")
    merged = {**allowed, **values}
    for p in optimizer_parameters(name, convention):
        value = merged[p.key]
        if p.type is bool:
            if not isinstance(value, bool | np.bool_):
                raise HyperparameterError(p.key, f"must be true or false, got {value!r}")
            continue
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise HyperparameterError(p.key, f"must be a finite number, got {value!r}")
        bounds = p.bounds_for(name)
        ok = bounds.holds(arr)
        if not np.all(ok):
            bad = arr[~ok].ravel()[0] if arr.ndim else float(arr)
            suffix = f" for {name}" if bounds != p.bounds_for() else ""
            raise HyperparameterError(p.key, f"must be {bounds.words}{suffix}, got {bad:g}")
    return merged


# ---- states ----------------------------------------------------------------------------


class MomentumState(NamedTuple):
    buf: Any  # PyTorch: v (gradient units); lecture: m (parameter units)
    t: int


class AdagradState(NamedTuple):
    sum_sq: Any
    t: int


class RMSPropState(NamedTuple):
    square_avg: Any
    grad_avg: Any  # centered only, else None
    buf: Any  # momentum only, else None
    t: int


class AdamState(NamedTuple):
    m: Any
    v: Any
    v_max: Any  # amsgrad only, else None
    t: int


def _at_least_one(t):
    """max(t, 1) for a step count that is an int, or an array of them (bulk diagnostics)."""
    return t + (t == 0)


# ---- optimizers ------------------------------------------------------------------------


class Optimizer:
    """Hyperparameters (each ``(R, 1)``, or a float all runs share; read as attributes) and
    the two pure functions.

    The object never changes after construction; the state lives outside it.
    """

    name: ClassVar[str]

    def __init__(self, convention: str, hyper: dict[str, Any], xp=np):
        self.convention = convention
        for key, value in hyper.items():
            setattr(self, key, value)
        # Decided once on the host, so the step loop never asks the device a question.
        self.decays = bool(np.any(_host(hyper.get("weight_decay", 0.0)) > 0))
        self.has_momentum = bool(np.any(_host(hyper.get("momentum", 0.0)) > 0))
        self.xp = xp
        self._kernels: dict[tuple, Any] = {}
        self._scratch: dict[tuple, np.ndarray] = {}  # donated updates' temporaries

    def _kernel(self, build, *flags):
        """The update kernel ``build(*flags)``, fused for the backend, made once per flags."""
        key = (build, *flags)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = self._kernels[key] = fuse(build(*flags), self.xp)
        return kernel

    def __repr__(self) -> str:
        return f"{type(self).__name__}(convention={self.convention!r})"

    def init(self, params):
        raise NotImplementedError

    def update(self, grads, state, params, lr, donate: bool = False):
        """``(new_params, new_state)``; with ``donate`` (the caller holds no other reference
        to ``params`` or the state's arrays) they may be ``params`` and the state's arrays,
        overwritten (see the module's note)."""
        raise NotImplementedError

    def _donatable(self, params, grads, arrays, scalars) -> bool:
        """Whether a donated update may run in place: NumPy arrays of one shape whose
        results keep ``params``'s dtype (NumPy's promotion of every operand, Python floats
        weak), none of them overlapping another (an initial state may share one array of
        zeros between its fields)."""
        if self.xp is not np or type(params) is not np.ndarray or grads.shape != params.shape:
            return False
        if not params.flags.writeable:
            return False
        for a in arrays:
            if type(a) is not np.ndarray or a.shape != params.shape or not a.flags.writeable:
                return False
        if np.result_type(params, grads, *arrays, *scalars) != params.dtype:
            return False
        targets = (params, *arrays)
        if len({id(a) for a in (*targets, grads)}) == len(targets) + 1 and all(
            a.flags.owndata for a in (*targets, grads)
        ):
            return True  # distinct arrays that each own their memory: none overlaps another
        return not any(
            np.may_share_memory(a, b)
            for i, a in enumerate(targets)
            for b in (*targets[i + 1 :], grads)
        )

    def _temp(self, like, slot: int):
        """Scratch array ``slot`` shaped like ``like``, kept between updates (never returned)."""
        key = (slot, like.shape, like.dtype)
        temp = self._scratch.get(key)
        if temp is None:
            temp = self._scratch[key] = np.empty_like(like)
        return temp

    def release_scratch(self) -> None:
        """Let go of the donated updates' scratch arrays (two of the parameters' size): a
        finished trainer does no more updates, and the app keeps finished trainers."""
        self._scratch.clear()

    def velocity(self, state, lr):
        """The momentum in parameter units, or None for optimizers without one."""
        return None

    def step_size(self, state, lr):
        """Per-parameter rate applied this step: η for plain methods, η/σ for adaptive ones."""
        return lr + 0 * state.t

    @property
    def _wd(self):
        """The weight decay a kernel takes (0.0 where the optimizer has none)."""
        return getattr(self, "weight_decay", 0.0)


# ---- the kernels: elementwise, pure, one per flag set ---------------------------------------
# Each ``_k_*`` builds the update of one optimizer for fixed flags (closed over, so that a
# branch never looks at array values: a fused kernel is traced once). Their arguments are the
# arrays (R, P), the hyperparameters ((R, 1) arrays or floats) and host scalars of the step.


def _absent_as_zero(array):
    """A state array the flags leave out, passed as 0.0 (a kernel takes no None)."""
    return 0.0 if array is None else array


def _decay(decays: bool, g, wd, p):
    """L2 weight decay folded into the gradient (PyTorch's ``weight_decay``)."""
    return g + wd * p if decays else g


def _k_sgd(decays: bool):
    def sgd_update(p, g, lr, wd):
        return p - lr * _decay(decays, g, wd, p)

    return sgd_update


def _k_momentum_first(decays: bool, nesterov: bool):
    """PyTorch's first momentum step: the buffer is the gradient itself."""

    def momentum_first_update(p, g, lr, mu, wd):
        g = _decay(decays, g, wd, p)
        d = g + mu * g if nesterov else g
        return p - lr * d, g * 1  # (× 1: a kernel returns new arrays, never an argument)

    return momentum_first_update


def _k_momentum(decays: bool, nesterov: bool, damped: bool):
    """PyTorch: v ← μv + (1 − τ)g; θ ← θ − η(g + μv) (Nesterov) or θ − ηv."""

    def momentum_update(p, g, buf, lr, mu, undamped, wd):
        g = _decay(decays, g, wd, p)
        buf = mu * buf + (undamped * g if damped else g)
        d = g + mu * buf if nesterov else buf
        return p - lr * d, buf

    return momentum_update


def _k_momentum_lecture(decays: bool, nesterov: bool):
    """The lecture: m ← λm − ηg; θ ← θ + m (Nesterov: θ + λm − ηg)."""

    def momentum_lecture_update(p, g, m, lr, mu, wd):
        g = _decay(decays, g, wd, p)
        m = mu * m - lr * g
        step = mu * m - lr * g if nesterov else m
        return p + step, m

    return momentum_lecture_update


def _adagrad_rate(lecture: bool, sum_sq, t, lr, lr_decay, eps):
    """Adagrad's per-parameter rate after t ≥ 1 steps (the lecture: η / RMS of the past
    gradients; PyTorch: η_t / √Σg² with η_t = η / (1 + (t − 1)·lr_decay))."""
    if lecture:
        return lr / ((sum_sq / t) ** 0.5 + eps)
    return lr / (1 + (t - 1) * lr_decay) / (sum_sq**0.5 + eps)


def _k_adagrad(decays: bool, lecture: bool):
    def adagrad_update(p, g, sum_sq, t, lr, lr_decay, eps, wd):
        g = _decay(decays, g, wd, p)
        sum_sq = sum_sq + g * g
        return p - _adagrad_rate(lecture, sum_sq, t, lr, lr_decay, eps) * g, sum_sq

    return adagrad_update


def _rmsprop_denominator(square_avg, grad_avg, eps):
    var = square_avg if grad_avg is None else square_avg - grad_avg * grad_avg
    return var**0.5 + eps


def _k_rmsprop(decays: bool, first_is_square: bool, centered: bool, with_momentum: bool):
    """One RMSProp update; the outputs are (θ, v[, ḡ][, b]) by the flags."""

    def rmsprop_update(p, g, square_avg, grad_avg, buf, lr, alpha, momentum, eps, wd):
        g = _decay(decays, g, wd, p)
        # the lecture starts from σ₀ = |g₀|, PyTorch from v₀ = 0
        square_avg = g * g if first_is_square else alpha * square_avg + (1 - alpha) * (g * g)
        grad_avg = alpha * grad_avg + (1 - alpha) * g if centered else None
        scaled = g / _rmsprop_denominator(square_avg, grad_avg, eps)
        if with_momentum:
            buf = momentum * buf + scaled
            scaled = buf
        out = (p - lr * scaled, square_avg)
        return out + ((grad_avg,) if centered else ()) + ((buf,) if with_momentum else ())

    return rmsprop_update


def _adam_scalars(t, lr, beta1, beta2, eps):
    """The bias corrections folded into two scalars (or (R, 1) arrays): ``η√(1 − β₂ᵗ)/(1 −
    β₁ᵗ)`` and ``ε√(1 − β₂ᵗ)``."""
    root_bc2 = (1 - beta2**t) ** 0.5
    return lr * root_bc2 / (1 - beta1**t), eps * root_bc2


def _adam_rate(v, t, lr, beta1, beta2, eps):
    """η/(1 − β₁ᵗ) / (√v/√(1 − β₂ᵗ) + ε), with the bias corrections moved into the scalars:
    two array operations fewer on every step."""
    numerator, eps_term = _adam_scalars(t, lr, beta1, beta2, eps)
    return numerator / (v**0.5 + eps_term)


def _k_adam(decays: bool, amsgrad: bool, decoupled: bool, xp):
    """Adam (AdamW with ``decoupled``: θ(1 − ηλ) first, the raw gradient); the outputs are
    (θ, m, v[, v_max])."""

    def adam_update(p, g, m, v, v_max, t, lr, beta1, beta2, eps, wd):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = _decay(decays, g, wd, p)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * (g * g)
        if amsgrad:
            v_max = xp.maximum(v_max, v)
        rate = _adam_rate(v_max if amsgrad else v, t, lr, beta1, beta2, eps)
        return (p - rate * m, m, v) + ((v_max,) if amsgrad else ())

    return adam_update


# ---- the same updates in place (NumPy, donated arrays) ---------------------------------------
# Each ``_ip_*`` mirrors the kernel above it operation for operation (same ufunc, same operands:
# ``a * b`` and ``b * a`` round alike), writing into the donated parameters and state and into
# the optimizer's scratch arrays ``s0``, ``s1``; the tests hold them to the kernels bit for bit.


def _ip_decay(decays: bool, g, wd, p, s0):
    """``_decay`` into ``s0`` (the gradient itself, untouched, when nothing decays)."""
    if not decays:
        return g
    np.multiply(wd, p, out=s0)
    return np.add(g, s0, out=s0)


def _ip_sgd(decays, p, g, lr, wd, s0, s1):
    g = _ip_decay(decays, g, wd, p, s0)
    np.subtract(p, np.multiply(lr, g, out=s1), out=p)


def _ip_momentum_first(decays, nesterov, p, g, buf, lr, mu, wd, s0):
    if decays:  # the buffer is the decayed gradient
        np.add(g, np.multiply(wd, p, out=buf), out=buf)
    else:
        np.copyto(buf, g)
    d = np.add(buf, np.multiply(mu, buf, out=s0), out=s0) if nesterov else buf
    np.subtract(p, np.multiply(lr, d, out=s0), out=p)


def _ip_momentum(decays, nesterov, damped, p, g, buf, lr, mu, undamped, wd, s0, s1):
    g = _ip_decay(decays, g, wd, p, s0)
    np.multiply(mu, buf, out=buf)
    np.add(buf, np.multiply(undamped, g, out=s1) if damped else g, out=buf)
    d = np.add(g, np.multiply(mu, buf, out=s1), out=s1) if nesterov else buf
    np.subtract(p, np.multiply(lr, d, out=s1), out=p)


def _ip_momentum_lecture(decays, nesterov, p, g, m, lr, mu, wd, s0, s1):
    g = _ip_decay(decays, g, wd, p, s0)
    lr_g = np.multiply(lr, g, out=s1)
    np.subtract(np.multiply(mu, m, out=m), lr_g, out=m)
    if nesterov:  # θ + (λm − ηg): s0 is free once ηg is in s1
        np.add(p, np.subtract(np.multiply(mu, m, out=s0), lr_g, out=s0), out=p)
    else:
        np.add(p, m, out=p)


def _ip_adam(decays, amsgrad, decoupled, p, g, m, v, v_max, t, lr, beta1, beta2, eps, wd, s0, s1):
    if decoupled:
        np.multiply(p, 1 - lr * wd, out=p)
    else:
        g = _ip_decay(decays, g, wd, p, s0)
    np.add(np.multiply(beta1, m, out=m), np.multiply(1 - beta1, g, out=s1), out=m)
    g2 = np.multiply(1 - beta2, np.multiply(g, g, out=s1), out=s1)
    np.add(np.multiply(beta2, v, out=v), g2, out=v)
    if amsgrad:
        np.maximum(v_max, v, out=v_max)
    numerator, eps_term = _adam_scalars(t, lr, beta1, beta2, eps)
    root = s0
    np.copyto(root, v_max if amsgrad else v)
    root **= 0.5  # NumPy's ``v**0.5`` (its sqrt fast path), in place
    rate = np.divide(numerator, np.add(root, eps_term, out=root), out=root)
    np.subtract(p, np.multiply(rate, m, out=rate), out=p)


class SGD(Optimizer):
    """SGD with optional (heavy-ball or Nesterov) momentum.

    PyTorch:  g ← g + λ_wd θ;  v ← g (first step) or μv + (1 − τ)g;
              d ← g + μv (Nesterov) or v;  θ ← θ − ηd
    Lecture:  m ← λm − ηg;  θ ← θ + m            (Nesterov: θ ← θ + λm − ηg)
    """

    name = "sgd"
    nesterov: ClassVar[bool] = False

    def __init__(self, convention, hyper, xp=np):
        super().__init__(convention, hyper, xp)
        # 1 − τ, where a run without momentum has no buffer for dampening to scale; kept in
        # a sweep's dtype (float × bool array is float64: a float32 sweep would go float64)
        momentum = hyper["momentum"]
        undamped = 1 - hyper.get("dampening", 0.0) * (momentum > 0)
        self._undamped = undamped.astype(momentum.dtype) if hasattr(momentum, "dtype") else undamped
        # (1 − τ)·g is skipped where every run has τ = 0: ×1.0 is exact, and costs a pass
        self._damped = bool(np.any(_host(self._undamped) != 1))

    def init(self, params):
        return MomentumState(buf=params * 0, t=0)

    def update(self, grads, state, params, lr, donate: bool = False):
        decays, nesterov = self.decays, self.nesterov
        if donate and self._update_in_place(grads, state, params, lr):
            return params, MomentumState(state.buf, state.t + 1) if self.has_momentum else state
        if not self.has_momentum:  # plain gradient descent, the same in both conventions
            return self._kernel(_k_sgd, decays)(params, grads, lr, self._wd), state
        mu, wd = self.momentum, self._wd
        if self.convention == "lecture":
            kernel = self._kernel(_k_momentum_lecture, decays, nesterov)
            new, m = kernel(params, grads, state.buf, lr, mu, wd)
            return new, MomentumState(m, state.t + 1)
        # PyTorch: the first step takes the gradient itself as the buffer; with momentum 0
        # there is no buffer at all, which dampening must not scale.
        if state.t == 0:
            kernel = self._kernel(_k_momentum_first, decays, nesterov)
            new, buf = kernel(params, grads, lr, mu, wd)
        else:
            kernel = self._kernel(_k_momentum, decays, nesterov, self._damped)
            new, buf = kernel(params, grads, state.buf, lr, mu, self._undamped, wd)
        return new, MomentumState(buf, state.t + 1)

    def _update_in_place(self, grads, state, params, lr) -> bool:
        """The donated update, done in place when it can be (see ``_donatable``)."""
        decays, nesterov, wd = self.decays, self.nesterov, self._wd
        if not self.has_momentum:  # the buffer is not touched (nor returned anew)
            if not self._donatable(params, grads, (), (lr, wd)):
                return False
            _ip_sgd(decays, params, grads, lr, wd, self._temp(params, 0), self._temp(params, 1))
            return True
        mu, buf = self.momentum, state.buf
        if not self._donatable(params, grads, (buf,), (lr, mu, wd, self._undamped)):
            return False
        s0, s1 = self._temp(params, 0), self._temp(params, 1)
        if self.convention == "lecture":
            _ip_momentum_lecture(decays, nesterov, params, grads, buf, lr, mu, wd, s0, s1)
        elif state.t == 0:
            _ip_momentum_first(decays, nesterov, params, grads, buf, lr, mu, wd, s0)
        else:
            damped, undamped = self._damped, self._undamped
            _ip_momentum(decays, nesterov, damped, params, grads, buf, lr, mu, undamped, wd, s0, s1)
        return True

    def velocity(self, state, lr):
        if not self.has_momentum:
            return None
        if self.convention == "lecture":
            return state.buf
        return -lr * state.buf


class Momentum(SGD):
    name = "momentum"


class Nesterov(SGD):
    name = "nesterov"
    nesterov = True


class Adagrad(Optimizer):
    """Adagrad.

    PyTorch:  η_t = η / (1 + (t − 1)·lr_decay);  s ← s + g²;  θ ← θ − η_t g / (√s + ε)
    Lecture:  σ_t = √(mean of g₀² … g_t²);        θ ← θ − η g / (σ_t + ε)   (no lr_decay)
    """

    name = "adagrad"

    def init(self, params):
        return AdagradState(params * 0 + self.initial_accumulator_value, 0)

    def update(self, grads, state, params, lr, donate: bool = False):  # donation: ignored
        lecture = self.convention == "lecture"
        kernel = self._kernel(_k_adagrad, self.decays, lecture)
        t = state.t + 1
        new, sum_sq = kernel(params, grads, state.sum_sq, t, lr, self._lr_decay, self.eps, self._wd)
        return new, AdagradState(sum_sq, t)

    @property
    def _lr_decay(self):
        return getattr(self, "lr_decay", 0.0)  # the lecture's form has none

    def step_size(self, state, lr):
        lecture = self.convention == "lecture"
        t = _at_least_one(state.t)
        return _adagrad_rate(lecture, state.sum_sq, t, lr, self._lr_decay, self.eps)


class RMSProp(Optimizer):
    """RMSProp.

    PyTorch:  v ← αv + (1 − α)g²  (v₀ = 0);  σ = √v  (centered: √(v − ḡ²));
              θ ← θ − η g / (σ + ε), or with momentum b ← μb + g/(σ + ε), θ ← θ − ηb
    Lecture:  σ₀ = |g₀|;  σ_t = √(α σ²_{t−1} + (1 − α) g_t²);  θ ← θ − η g / (σ_t + ε)
    """

    name = "rmsprop"

    def init(self, params):
        zeros = params * 0
        return RMSPropState(
            zeros,
            zeros if self.centered else None,
            zeros if self.has_momentum else None,
            0,
        )

    def update(self, grads, state, params, lr, donate: bool = False):  # donation: ignored
        centered, with_momentum = state.grad_avg is not None, state.buf is not None
        first_is_square = self.convention == "lecture" and state.t == 0
        kernel = self._kernel(_k_rmsprop, self.decays, first_is_square, centered, with_momentum)
        new, square_avg, *rest = kernel(
            params,
            grads,
            state.square_avg,
            _absent_as_zero(state.grad_avg),
            _absent_as_zero(state.buf),
            lr,
            self.alpha,
            getattr(self, "momentum", 0.0),
            self.eps,
            self._wd,
        )
        grad_avg = rest.pop(0) if centered else None
        buf = rest.pop(0) if with_momentum else None
        return new, RMSPropState(square_avg, grad_avg, buf, state.t + 1)

    def step_size(self, state, lr):
        return lr / _rmsprop_denominator(state.square_avg, state.grad_avg, self.eps)

    def velocity(self, state, lr):
        return None if state.buf is None else -lr * state.buf


class Adam(Optimizer):
    """Adam (momentum + RMSProp, with bias correction), as in PyTorch:

    g ← g + λ_wd θ;  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)        (amsgrad: v → max of all v)
    """

    name = "adam"

    def init(self, params):
        # three arrays, not one shared: a donated update writes into each of them
        return AdamState(params * 0, params * 0, params * 0 if self.amsgrad else None, 0)

    decoupled: ClassVar[bool] = False

    def update(self, grads, state, params, lr, donate: bool = False):
        amsgrad = state.v_max is not None
        t = state.t + 1
        if donate:
            arrays = (state.m, state.v) + ((state.v_max,) if amsgrad else ())
            hyper = (lr, self.beta1, self.beta2, self.eps, self._wd)
            if self._donatable(params, grads, arrays, hyper):
                s0, s1 = self._temp(params, 0), self._temp(params, 1)
                _ip_adam(
                    self.decays, amsgrad, self.decoupled, params, grads, *arrays[:2],
                    state.v_max, t, *hyper, s0, s1,
                )  # fmt: skip
                return params, AdamState(state.m, state.v, state.v_max, t)
        kernel = self._kernel(_k_adam, self.decays, amsgrad, self.decoupled, self.xp)
        new, m, v, *rest = kernel(
            params, grads, state.m, state.v, _absent_as_zero(state.v_max), t, lr,
            self.beta1, self.beta2, self.eps, self._wd,
        )  # fmt: skip
        return new, AdamState(m, v, rest[0] if amsgrad else None, t)

    def step_size(self, state, lr):
        v = state.v if state.v_max is None else state.v_max
        t = _at_least_one(state.t)
        return _adam_rate(v, t, lr, self.beta1, self.beta2, self.eps)

    def velocity(self, state, lr):
        return -lr * state.m / (1 - self.beta1 ** _at_least_one(state.t))


class AdamW(Adam):
    """AdamW: decoupled weight decay, θ ← θ(1 − ηλ) before Adam's step on the raw gradient."""

    name = "adamw"
    decoupled = True


def _host(value) -> np.ndarray:
    """A NumPy view of a hyperparameter that may live on the GPU."""
    return value.get() if hasattr(value, "get") else np.asarray(value)


_CLASSES: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSProp, Adam, AdamW)
}


def make_optimizer(
    name: str,
    hyperparameters: list[Mapping[str, Any]] | Mapping[str, Any],
    convention: str = "pytorch",
    xp=np,
    dtype=np.float64,
) -> Optimizer:
    """One optimizer for R runs, from each run's hyperparameters (defaults filled in).

    Flags (``centered``, ``amsgrad``) must agree across the runs of one optimizer; the
    trainer groups runs so that they do.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be 'pytorch' or 'lecture', not {convention!r}")
    runs = [hyperparameters] if isinstance(hyperparameters, Mapping) else list(hyperparameters)
    defaults = _defaults(name)
    # Every run's values side by side, checked once as arrays (a sweep has thousands).
    columns: dict[str, Any] = {}
    for key in set().union(*runs):
        values = [run.get(key, defaults.get(key)) for run in runs]
        if key in FLAGS:
            if len(set(values)) > 1:
                raise ValueError(f"runs of one {name} group must agree on {key}")
            columns[key] = values[0]
        else:
            columns[key] = values
    checked = check_hyperparameters(name, columns, convention)
    hyper: dict[str, Any] = {}
    for key, value in checked.items():
        if key in FLAGS:
            hyper[key] = bool(value)
        elif key != "lr":
            values = np.broadcast_to(np.asarray(value, dtype=float), (len(runs),))
            # A value all runs share is kept as a Python float: scalar arithmetic is what a
            # single run or a learning-rate sweep needs, and it is several times cheaper.
            if np.all(values == values[0]):
                hyper[key] = float(values[0])
            else:
                hyper[key] = xp.asarray(values[:, None], dtype=dtype)
    return _CLASSES[name](convention=convention, hyper=hyper, xp=xp)
