"""Optimizers against independent oracles: torch.optim (same gradients fed to both, float64)
for the PyTorch convention, and hand-computed steps for the lecture's conventions."""

from __future__ import annotations

import numpy as np
import pytest

from engine.optim import make_optimizer

try:
    import torch
except ImportError:  # the torch comparisons are skipped, the hand-computed ones still run
    torch = None


def needs_torch(test):
    """Compares against torch.optim: marked ``torch``, skipped without it."""
    skip = pytest.mark.skipif(torch is None, reason="torch is not installed")
    return pytest.mark.torch(skip(test))


STEPS = 60
N_PARAMS = 3
RTOL, ATOL = 1e-11, 1e-12


# ---- drivers -----------------------------------------------------------------------------


def gradient_sequence(steps=STEPS, runs=1, n_params=N_PARAMS, seed=0):
    """A fixed sequence of gradients (steps, runs, P): biased so that momentum builds up,
    with magnitudes that rise and fall so that amsgrad's maximum matters."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0.0, 1.0, size=(steps, 1, 1)))
    return (rng.normal(0.3, 1.0, size=(steps, runs, n_params))) * scale


def starts_for(runs=1, n_params=N_PARAMS, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.0, size=(runs, n_params))


# A fixed positive definite matrix: gradients of ½θᵀAθ − bᵀθ, computed by each side from
# its own parameters (the coupled dynamics of real training).
_Q = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 0.2]])
_B = np.array([1.0, -2.0, 0.5])


def quadratic_grad(theta):
    return theta @ _Q - _B


def host(a):
    """A NumPy copy of a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def run_engine(name, hypers, grads, lrs, convention="pytorch", starts=None, grad_fn=None, xp=np):
    """Trajectory (steps + 1, R, P) of the engine's optimizer, its final state and itself.

    ``grads`` is (steps, R, P) or None with ``grad_fn(params)``; ``lrs`` is (steps, R).
    With ``xp`` (CuPy) the optimizer runs on the device and the trajectory comes back."""
    opt = make_optimizer(name, hypers, convention, xp=xp)
    params = xp.asarray(starts_for(len(hypers)) if starts is None else starts)
    state = opt.init(params)
    path = [host(params)]
    for k in range(len(lrs)):
        g = grad_fn(host(params)) if grads is None else grads[k]
        params, state = opt.update(xp.asarray(g), state, params, xp.asarray(lrs[k][:, None]))
        path.append(host(params))
    return np.stack(path), state, opt


def run_torch(factory, start, grads, lrs, grad_fn=None):
    """Trajectory (steps + 1, P) of a torch optimizer given the same gradients by hand."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = factory([p])
    path = [p.detach().numpy().copy()]
    for k in range(len(lrs)):
        opt.param_groups[0]["lr"] = float(lrs[k])
        theta = p.detach().numpy()
        g = grad_fn(theta) if grads is None else grads[k]
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.stack(path), opt, p


# (engine optimizer, its hyperparameters, torch optimizer, its keyword arguments); the rate
# goes separately. `momentum` and `nesterov` default to momentum 0.9, torch's SGD to 0.
CASES = [
    ("sgd", {}, "SGD", {}),
    ("sgd", {"weight_decay": 0.1}, "SGD", {"weight_decay": 0.1}),
    (
        "sgd",
        {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
        "SGD",
        {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    ),
    ("momentum", {}, "SGD", {"momentum": 0.9}),
    (
        "momentum",
        {"momentum": 0.5, "dampening": 0.5, "weight_decay": 0.05},
        "SGD",
        {"momentum": 0.5, "dampening": 0.5, "weight_decay": 0.05},
    ),
    ("nesterov", {}, "SGD", {"momentum": 0.9, "nesterov": True}),
    (
        "nesterov",
        {"momentum": 0.7, "weight_decay": 0.1},
        "SGD",
        {"momentum": 0.7, "weight_decay": 0.1, "nesterov": True},
    ),
    ("adagrad", {}, "Adagrad", {}),
    (
        "adagrad",
        {"lr_decay": 0.05, "initial_accumulator_value": 0.3, "weight_decay": 0.02, "eps": 1e-6},
        "Adagrad",
        {"lr_decay": 0.05, "initial_accumulator_value": 0.3, "weight_decay": 0.02, "eps": 1e-6},
    ),
    ("rmsprop", {}, "RMSprop", {}),
    ("rmsprop", {"centered": True, "alpha": 0.9}, "RMSprop", {"centered": True, "alpha": 0.9}),
    (
        "rmsprop",
        {"momentum": 0.8, "weight_decay": 0.05},
        "RMSprop",
        {"momentum": 0.8, "weight_decay": 0.05},
    ),
    (
        "rmsprop",
        {"alpha": 0.95, "centered": True, "momentum": 0.5, "weight_decay": 0.01, "eps": 1e-6},
        "RMSprop",
        {"alpha": 0.95, "centered": True, "momentum": 0.5, "weight_decay": 0.01, "eps": 1e-6},
    ),
    ("adam", {}, "Adam", {}),
    (
        "adam",
        {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1, "amsgrad": True},
        "Adam",
        {"betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True},
    ),
    ("adamw", {}, "AdamW", {}),
    (
        "adamw",
        {"beta1": 0.5, "beta2": 0.9, "eps": 1e-6, "weight_decay": 0.3, "amsgrad": True},
        "AdamW",
        {"betas": (0.5, 0.9), "eps": 1e-6, "weight_decay": 0.3, "amsgrad": True},
    ),
]
CASE_IDS = [f"{c[0]}-{'-'.join(sorted(c[1])) or 'defaults'}" for c in CASES]
BASE_LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.1, "rmsprop": 0.01}


def torch_factory(torch_name, kwargs, lr):
    cls = getattr(torch.optim, torch_name)
    return lambda params: cls(params, lr=lr, **kwargs)


# ---- PyTorch convention against torch.optim ------------------------------------------------


@pytest.mark.parametrize("source", ["sequence", "quadratic"])
@pytest.mark.parametrize(("name", "hyper", "torch_name", "torch_kwargs"), CASES, ids=CASE_IDS)
@needs_torch
def test_pytorch_convention_matches_torch(
    name, hyper, torch_name, torch_kwargs, source, backend_name, xp
):
    lr = BASE_LR.get(name, 0.01)
    lrs = np.full((STEPS, 1), lr)
    start = starts_for(1)
    grads = gradient_sequence() if source == "sequence" else None
    grad_fn = None if grads is not None else quadratic_grad
    ours, _, _ = run_engine(
        name, [{"lr": lr, **hyper}], grads, lrs, starts=start, grad_fn=grad_fn, xp=xp
    )
    theirs, _, _ = run_torch(
        torch_factory(torch_name, torch_kwargs, lr),
        start[0],
        None if grads is None else grads[:, 0],
        lrs[:, 0],
        grad_fn=grad_fn,
    )
    np.testing.assert_allclose(ours[:, 0], theirs, rtol=RTOL, atol=ATOL)
    # the parameters really moved (a test that passes on a frozen optimizer proves nothing)
    assert np.abs(theirs[-1] - theirs[0]).max() > 1e-3


@pytest.mark.parametrize(("name", "hyper", "torch_name", "torch_kwargs"), CASES, ids=CASE_IDS)
@needs_torch
def test_pytorch_convention_follows_a_schedule_like_torch(name, hyper, torch_name, torch_kwargs):
    """A rate that changes every step (set on torch's param group before each step)."""
    lr = BASE_LR.get(name, 0.01)
    k = np.arange(STEPS)
    lrs = (lr * (0.2 + 0.8 * np.abs(np.sin(0.3 * k))))[:, None]
    grads = gradient_sequence(seed=5)
    start = starts_for(1, seed=6)
    ours, _, _ = run_engine(name, [{"lr": lr, **hyper}], grads, lrs, starts=start)
    theirs, _, _ = run_torch(
        torch_factory(torch_name, torch_kwargs, lr), start[0], grads[:, 0], lrs[:, 0]
    )
    np.testing.assert_allclose(ours[:, 0], theirs, rtol=RTOL, atol=ATOL)


# A sweep: one optimizer, several runs with different hyperparameters (flags shared).
SWEEPS = [
    (
        "sgd",
        [
            {"lr": 0.05},
            {"lr": 0.01, "momentum": 0.9, "dampening": 0.5},
            {"lr": 0.03, "momentum": 0.3, "weight_decay": 0.2},
            {"lr": 0.02, "dampening": 0.7},  # dampening without momentum: no effect
        ],
        "SGD",
        lambda h: {
            "momentum": h.get("momentum", 0.0),
            "dampening": h.get("dampening", 0.0),
            "weight_decay": h.get("weight_decay", 0.0),
        },
    ),
    (
        "nesterov",
        [{"lr": 0.02}, {"lr": 0.01, "momentum": 0.5}, {"lr": 0.005, "weight_decay": 0.3}],
        "SGD",
        lambda h: {
            "momentum": h.get("momentum", 0.9),
            "weight_decay": h.get("weight_decay", 0.0),
            "nesterov": True,
        },
    ),
    (
        "adagrad",
        [
            {"lr": 0.1},
            {"lr": 0.3, "lr_decay": 0.1, "eps": 1e-3},
            {"lr": 0.05, "initial_accumulator_value": 1.0, "weight_decay": 0.1},
        ],
        "Adagrad",
        lambda h: {k: v for k, v in h.items() if k != "lr"},
    ),
    (
        "rmsprop",
        [
            {"lr": 0.01, "centered": True},
            {"lr": 0.003, "alpha": 0.5, "momentum": 0.9, "centered": True},
            {"lr": 0.02, "eps": 1e-3, "weight_decay": 0.1, "centered": True},
        ],
        "RMSprop",
        lambda h: {k: v for k, v in h.items() if k != "lr"},
    ),
    (
        "adam",
        [
            {"lr": 0.01},
            {"lr": 0.1, "beta1": 0.0, "beta2": 0.5},
            {"lr": 0.001, "beta1": 0.99, "eps": 1e-3, "weight_decay": 0.5},
        ],
        "Adam",
        lambda h: {
            "betas": (h.get("beta1", 0.9), h.get("beta2", 0.999)),
            "eps": h.get("eps", 1e-8),
            "weight_decay": h.get("weight_decay", 0.0),
        },
    ),
    (
        "adamw",
        [
            {"lr": 0.01, "amsgrad": True},
            {"lr": 0.05, "weight_decay": 0.0, "amsgrad": True},
            {"lr": 0.02, "beta2": 0.9, "weight_decay": 1.0, "amsgrad": True},
        ],
        "AdamW",
        lambda h: {
            "betas": (h.get("beta1", 0.9), h.get("beta2", 0.999)),
            "weight_decay": h.get("weight_decay", 0.01),
            "amsgrad": True,
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "hypers", "torch_name", "to_torch"), SWEEPS, ids=[s[0] for s in SWEEPS]
)
@needs_torch
def test_sweep_matches_torch_run_by_run(name, hypers, torch_name, to_torch, backend_name, xp):
    runs = len(hypers)
    grads = gradient_sequence(runs=runs, seed=11)
    starts = starts_for(runs, seed=12)
    base = np.array([h["lr"] for h in hypers])
    lrs = np.tile(base, (STEPS, 1))
    ours, _, _ = run_engine(name, hypers, grads, lrs, starts=starts, xp=xp)
    for r, h in enumerate(hypers):
        theirs, _, _ = run_torch(
            torch_factory(torch_name, to_torch(h), h["lr"]), starts[r], grads[:, r], lrs[:, r]
        )
        np.testing.assert_allclose(ours[:, r], theirs, rtol=RTOL, atol=ATOL, err_msg=f"run {r}")


def test_runs_of_a_sweep_do_not_interact():
    """Each run of a sweep moves exactly as it would alone."""
    hypers = [{"lr": 0.01}, {"lr": 0.1, "beta1": 0.5}, {"lr": 0.001, "weight_decay": 0.2}]
    grads = gradient_sequence(runs=3, seed=3)
    starts = starts_for(3, seed=4)
    lrs = np.tile([h["lr"] for h in hypers], (STEPS, 1))
    together, _, _ = run_engine("adam", hypers, grads, lrs, starts=starts)
    for r, h in enumerate(hypers):
        alone, _, _ = run_engine(
            "adam", [h], grads[:, r : r + 1], lrs[:, r : r + 1], starts=starts[r : r + 1]
        )
        np.testing.assert_allclose(together[:, r], alone[:, 0], rtol=1e-14, atol=0)


# ---- diagnostics -------------------------------------------------------------------------


@pytest.mark.parametrize("amsgrad", [False, True])
@needs_torch
def test_adam_step_size_from_torch_state(amsgrad):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-8
    hyper = {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "amsgrad": amsgrad}
    grads = gradient_sequence(steps=17, seed=8)
    start = starts_for(1, seed=9)
    lrs = np.full((17, 1), lr)
    _, state, opt = run_engine("adam", [hyper], grads, lrs, starts=start)
    _, topt, p = run_torch(
        lambda ps: torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad),
        start[0],
        grads[:, 0],
        lrs[:, 0],
    )
    tstate = topt.state[p]
    t = int(tstate["step"])
    assert t == 17
    v = tstate["max_exp_avg_sq" if amsgrad else "exp_avg_sq"].numpy()
    expected = lr / (1 - b1**t) / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    np.testing.assert_allclose(opt.step_size(state, np.array([[lr]]))[0], expected, rtol=1e-12)
    # and the momentum the GUI draws is torch's exp_avg, bias-corrected, in parameter units
    m = tstate["exp_avg"].numpy()
    np.testing.assert_allclose(
        opt.velocity(state, np.array([[lr]]))[0], -lr * m / (1 - b1**t), rtol=1e-12
    )


# ---- the lecture's conventions, by hand ----------------------------------------------------

THETA0 = np.array([[1.0, -2.0]])
G0 = np.array([[0.5, -1.0]])
G1 = np.array([[2.0, 0.25]])


def two_steps(name, hyper, convention, lrs=(0.1, 0.1)):
    opt = make_optimizer(name, hyper, convention, xp=np)
    state = opt.init(THETA0)
    theta1, state = opt.update(G0, state, THETA0, np.array([[lrs[0]]]))
    theta2, state = opt.update(G1, state, theta1, np.array([[lrs[1]]]))
    return theta1, theta2


def test_lecture_momentum_by_hand():
    eta, lam = 0.1, 0.9
    theta1, theta2 = two_steps("momentum", {"lr": eta, "momentum": lam}, "lecture")
    m1 = -eta * G0  # m0 = 0
    m2 = lam * m1 - eta * G1
    np.testing.assert_allclose(theta1, THETA0 + m1, rtol=1e-15)
    np.testing.assert_allclose(theta2, THETA0 + m1 + m2, rtol=1e-15)
    np.testing.assert_allclose(theta2, [[0.705, -1.835]], rtol=1e-14)


def test_lecture_adagrad_uses_root_mean_square_by_hand():
    eta, eps = 0.1, 1e-10
    theta1, theta2 = two_steps("adagrad", {"lr": eta}, "lecture")
    sigma0 = np.sqrt(G0**2 / 1)
    sigma1 = np.sqrt((G0**2 + G1**2) / 2)
    np.testing.assert_allclose(theta1, THETA0 - eta * G0 / (sigma0 + eps), rtol=1e-15)
    np.testing.assert_allclose(theta2, theta1 - eta * G1 / (sigma1 + eps), rtol=1e-15)
    # PyTorch divides by the root of the *sum*: the same first step, a smaller second one
    p1, p2 = two_steps("adagrad", {"lr": eta}, "pytorch")
    np.testing.assert_allclose(p1, theta1, rtol=1e-15)
    np.testing.assert_allclose(p2, theta1 - eta * G1 / (np.sqrt(G0**2 + G1**2) + eps), rtol=1e-15)
    assert not np.allclose(p2, theta2)


def test_lecture_rmsprop_starts_from_the_first_gradient_by_hand():
    eta, alpha, eps = 0.1, 0.9, 1e-8
    theta1, theta2 = two_steps("rmsprop", {"lr": eta, "alpha": alpha}, "lecture")
    # σ0 = |g0|: the first step is η·sign(g0)·|g0|/(|g0| + ε), about η in size
    np.testing.assert_allclose(
        theta1, THETA0 - eta * np.sign(G0) * np.abs(G0) / (np.abs(G0) + eps), rtol=1e-15
    )
    sigma1 = np.sqrt(alpha * G0**2 + (1 - alpha) * G1**2)
    np.testing.assert_allclose(theta2, theta1 - eta * G1 / (sigma1 + eps), rtol=1e-15)
    # PyTorch starts from v0 = 0: σ = √(1 − α)·|g0|, a first step 1/√(1 − α) times larger
    p1, _ = two_steps("rmsprop", {"lr": eta, "alpha": alpha}, "pytorch")
    np.testing.assert_allclose(
        p1, THETA0 - eta * G0 / (np.sqrt((1 - alpha) * G0**2) + eps), rtol=1e-15
    )


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_lecture_momentum_equals_pytorch_while_lr_is_constant(name):
    grads = gradient_sequence(runs=2, seed=21)
    starts = starts_for(2, seed=22)
    hypers = [{"lr": 0.02, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.6}]
    lrs = np.tile([0.02, 0.05], (STEPS, 1))
    lecture, _, _ = run_engine(name, hypers, grads, lrs, "lecture", starts=starts)
    pytorch, _, _ = run_engine(name, hypers, grads, lrs, "pytorch", starts=starts)
    np.testing.assert_allclose(lecture, pytorch, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_conventions_differ_under_a_schedule(name):
    """m = λm − ηg carries old rates in m; v = μv + g applies today's rate to all of v."""
    grads = gradient_sequence(seed=23)
    starts = starts_for(1, seed=24)
    lrs = (0.05 * 0.9 ** np.arange(STEPS))[:, None]
    hyper = [{"lr": 0.05, "momentum": 0.9}]
    lecture, _, _ = run_engine(name, hyper, grads, lrs, "lecture", starts=starts)
    pytorch, _, _ = run_engine(name, hyper, grads, lrs, "pytorch", starts=starts)
    # the first update is the same (m1 = −η0 g0 = −η0 v1), the second already differs
    np.testing.assert_allclose(lecture[1], pytorch[1], rtol=1e-14)
    assert np.abs(lecture[2] - pytorch[2]).max() > 1e-4
    assert np.abs(lecture[-1] - pytorch[-1]).max() > 1e-2
    if torch is not None:  # the PyTorch convention is the one torch follows
        theirs, _, _ = run_torch(
            lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=name == "nesterov"),
            starts[0],
            grads[:, 0],
            lrs[:, 0],
        )
        np.testing.assert_allclose(pytorch[:, 0], theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("convention", ["pytorch", "lecture"])
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_conventions_agree_where_the_lecture_has_no_form_of_its_own(name, convention):
    grads = gradient_sequence(seed=31)
    lrs = np.full((STEPS, 1), 0.01)
    ours, _, _ = run_engine(name, [{"lr": 0.01}], grads, lrs, convention, starts=starts_for(1))
    ref, _, _ = run_engine(name, [{"lr": 0.01}], grads, lrs, "pytorch", starts=starts_for(1))
    np.testing.assert_array_equal(ours, ref)


# ---- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hyper", "key"),
    [
        ("sgd", {"lr": -0.1}, "lr"),
        ("adam", {"lr": float("nan")}, "lr"),
        ("momentum", {"momentum": 1.5}, "momentum"),
        ("sgd", {"momentum": -0.1}, "momentum"),
        ("sgd", {"momentum": 0.5, "dampening": 1.5}, "dampening"),
        ("sgd", {"weight_decay": -1e-3}, "weight_decay"),
        ("adam", {"beta1": 1.0}, "beta1"),
        ("adamw", {"beta2": 1.0}, "beta2"),
        ("adam", {"beta1": -0.1}, "beta1"),
        ("rmsprop", {"alpha": 1.0}, "alpha"),
        ("adam", {"eps": -1e-8}, "eps"),
        ("rmsprop", {"eps": -1.0}, "eps"),
        ("adagrad", {"lr_decay": -0.1}, "lr_decay"),
        ("adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        ("nesterov", {"momentum": 0.0}, "momentum"),
        ("sgd", {"beta1": 0.9}, "beta1"),
        ("adam", {"momentum": 0.9}, "momentum"),
        ("nesterov", {"dampening": 0.1}, "dampening"),
        ("adam", {"amsgrad": 1}, "amsgrad"),
        ("adamw", {"amsgrad": "yes"}, "amsgrad"),
        ("rmsprop", {"centered": None}, "centered"),
    ],
)
@pytest.mark.parametrize("position", ["alone", "in-a-sweep"])
def test_invalid_hyperparameter_is_named(name, hyper, key, position):
    runs = [hyper] if position == "alone" else [{"lr": 0.1, **hyper}, {"lr": 0.1}, hyper]
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        make_optimizer(name, runs, "pytorch", xp=np)


def test_unknown_optimizer_and_convention_are_named():
    with pytest.raises(ValueError, match="adamax"):
        make_optimizer("adamax", [{}])
    with pytest.raises(ValueError, match="convention"):
        make_optimizer("sgd", [{}], "keras")


def test_runs_of_one_optimizer_must_agree_on_flags():
    with pytest.raises(ValueError, match="amsgrad"):
        make_optimizer("adam", [{"amsgrad": True}, {"amsgrad": False}])


def test_update_does_not_mutate_its_inputs():
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"):
        opt = make_optimizer(name, [{"lr": 0.1}, {"lr": 0.2}], xp=np)
        params = starts_for(2, n_params=2)
        state = opt.init(params)
        state_copy = [None if a is None else np.copy(a) for a in state]
        grads = gradient_sequence(steps=1, runs=2, n_params=2)[0]
        params_copy, grads_copy = params.copy(), grads.copy()
        opt.update(grads, state, params, np.array([[0.1], [0.2]]))
        np.testing.assert_array_equal(params, params_copy)
        np.testing.assert_array_equal(grads, grads_copy)
        for a, b in zip(state, state_copy, strict=True):
            if a is not None:
                np.testing.assert_array_equal(a, b)


# ---- one kernel per update (the fused GPU path, checked with a fusing stand-in for CuPy) ----


class _Counted(np.ndarray):
    """An array that counts the elementwise operations done on it outside a fused kernel:
    each would be a kernel launch of its own on the GPU."""

    stray = 0
    inside = False

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if not _Counted.inside:
            _Counted.stray += 1
        plain = [np.asarray(a) if isinstance(a, _Counted) else a for a in inputs]
        result = getattr(ufunc, method)(*plain, **kwargs)
        return result.view(_Counted) if isinstance(result, np.ndarray) else result


class _FusingNumPy:
    """NumPy dressed as an array module that fuses (as CuPy does): ``fuse`` wraps the
    kernel so that its launches are counted and its elementwise work is not stray."""

    def __init__(self):
        self.launches = 0

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype).view(_Counted)

    def fuse(self, kernel_name=None):
        def decorate(fn):
            def launch(*args):
                self.launches += 1
                _Counted.inside = True
                try:
                    return fn(*args)
                finally:
                    _Counted.inside = False

            return launch

        return decorate


FUSION_CASES = [(name, hyper, "pytorch") for name, hyper, _, _ in CASES] + [
    ("momentum", {"momentum": 0.8}, "lecture"),
    ("nesterov", {"weight_decay": 0.1}, "lecture"),
    ("adagrad", {}, "lecture"),
    ("rmsprop", {"alpha": 0.9}, "lecture"),
]


@pytest.mark.parametrize("runs", [1, 3])
@pytest.mark.parametrize(("name", "hyper", "convention"), FUSION_CASES)
def test_an_update_is_one_fused_kernel_with_numpys_results(name, hyper, convention, runs):
    """On an array module that fuses, every update (the first included) is exactly one
    kernel launch and nothing elementwise happens outside it; and its results are the NumPy
    path's, bit for bit (the NumPy path is the one compared with torch above)."""
    fusing = _FusingNumPy()
    # a sweep: the runs' rates and (where it has one) weight decay differ, as (R, 1) arrays
    hypers = [
        {
            **hyper,
            "lr": 0.01 * (r + 1),
            **({"weight_decay": 0.1 * r} if "weight_decay" in hyper else {}),
        }
        for r in range(runs)
    ]
    fused = make_optimizer(name, hypers, convention, xp=fusing)
    plain = make_optimizer(name, hypers, convention, xp=np)
    grads = gradient_sequence(steps=6, runs=runs, seed=41)
    p_fused = fusing.asarray(starts_for(runs, seed=42))
    p_plain = starts_for(runs, seed=42)
    s_fused, s_plain = fused.init(p_fused), plain.init(p_plain)
    lr = np.array([[h["lr"]] for h in hypers]) if runs > 1 else hypers[0]["lr"]
    lr_fused = fusing.asarray(lr) if runs > 1 else lr
    for k in range(6):
        _Counted.stray, fusing.launches = 0, 0
        p_fused, s_fused = fused.update(fusing.asarray(grads[k]), s_fused, p_fused, lr_fused)
        assert (fusing.launches, _Counted.stray) == (1, 0), f"update {k}"
        p_plain, s_plain = plain.update(grads[k], s_plain, p_plain, lr)
        np.testing.assert_array_equal(np.asarray(p_fused), p_plain)
        for a, b in zip(s_fused, s_plain, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
