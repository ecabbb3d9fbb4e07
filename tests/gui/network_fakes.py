"""Network frames for the views' tests: a real MLP trained by the engine, with a network
picture built here (INTERFACES.md, "appnet delivers") from numbers the test chooses, so that
what a view draws can be checked against them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from engine.experiment import build, parse_experiment
from gui.snapshot import Frame, Snapshot, Surface

MOONS = {
    "steps": 30,
    "seed": 3,
    "problem": {"kind": "mlp", "dataset": "moons", "hidden": [8], "samples": 200},
    "runs": [
        {"label": "sgd", "optimizer": "sgd", "lr": 0.1, "batch_size": 16},
        {"label": "adam", "optimizer": "adam", "lr": 0.01, "batch_size": 16},
        {"label": "momentum", "optimizer": "momentum", "lr": 0.05, "batch_size": 16},
    ],
}


@dataclass(frozen=True)
class FakeBoundary:
    rect: tuple[float, float, float, float]
    step: int
    classes: np.ndarray
    confidence: np.ndarray
    points: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class FakeInterpolation:
    runs: tuple[int, int]
    t: np.ndarray
    curves: dict


@dataclass(frozen=True)
class FakeNetworkPicture:
    plane_kind: str
    plane_text: str
    path_steps: np.ndarray
    path_coords: np.ndarray
    path_distance: np.ndarray
    path_norm: np.ndarray
    boundary: FakeBoundary | None = None
    interpolation: FakeInterpolation | None = None


# the real classes where the app has them (gui.network_view), the doubles above until then
try:
    from gui.network_view import Boundary, Interpolation, NetworkPicture
except ImportError:
    Boundary, Interpolation, NetworkPicture = FakeBoundary, FakeInterpolation, FakeNetworkPicture

if "network" in {f.name for f in fields(Snapshot)}:
    NetSnapshot = Snapshot
else:

    @dataclass(frozen=True)
    class NetSnapshot(Snapshot):
        network: object = None


@dataclass
class NetCase:
    """An experiment trained to the end and the parts of its picture."""

    experiment: object
    built: object
    history: object
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))


def trained(data: dict = MOONS) -> NetCase:
    experiment = parse_experiment(data)
    built = build(experiment)
    return NetCase(experiment, built, built.trainer.run())


def spiral_paths(steps: np.ndarray, runs: int) -> np.ndarray:
    """(K, R, 2): run r spirals out from (0, 0) at its own rate."""
    k = np.asarray(steps, float)
    out = np.zeros((len(k), runs, 2))
    for r in range(runs):
        radius = (r + 1) * 0.1 * np.sqrt(k)
        angle = 0.2 * k + r
        out[:, r] = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return out


def picture(case: NetCase, *, path_steps=None, coords=None, boundary=True, interpolation=True):
    h = case.history
    runs = h.n_runs
    steps = np.asarray(h.step[: h.count]) if path_steps is None else np.asarray(path_steps)
    coords = spiral_paths(steps, runs) if coords is None else coords
    rng = case.rng
    norm = np.linalg.norm(coords, axis=2) + 1.0
    distance = norm * rng.uniform(0.01, 0.5, size=norm.shape)
    split = case.built.problem.split
    res = 24
    b = None
    if boundary:
        b = Boundary(
            rect=(-2.5, 2.5, -2.0, 2.0),
            step=int(steps[-1]),
            classes=rng.integers(0, 2, size=(runs, res, res)),
            confidence=rng.uniform(0.5, 1.0, size=(runs, res, res)),
            points=np.asarray(split.x_train, float),
            labels=np.asarray(split.y_train, int),
        )
    interp = None
    if interpolation:
        t = np.linspace(-0.25, 1.25, 31)
        interp = Interpolation(
            runs=(0, 1),
            t=t,
            curves={
                "train_loss": 0.3 + (t - 0.5) ** 2,
                "train_accuracy": 0.9 - 0.1 * (t - 0.5) ** 2,
                "val_loss": 0.35 + 1.1 * (t - 0.5) ** 2,
                "val_accuracy": 0.88 - 0.1 * (t - 0.5) ** 2,
            },
        )
    return NetworkPicture(
        plane_kind="trajectory",
        plane_text="trajectory plane of all runs (PCA), batch norm in eval mode with run "
        "'sgd''s running statistics",
        path_steps=steps,
        path_coords=coords,
        path_distance=distance,
        path_norm=norm,
        boundary=b,
        interpolation=interp,
    )


def slice_surface(key: str = "net", rect=(-3.0, 3.0, -3.0, 3.0), text: str = "") -> Surface:
    res = 40
    x = np.linspace(rect[0], rect[1], res)
    y = np.linspace(rect[2], rect[3], res)
    z = 0.5 + 0.1 * (x[None, :] ** 2 + 2 * y[:, None] ** 2)
    return Surface(
        key=key,
        serial=1,
        rect=rect,
        z=z,
        default_rect=rect,
        minima=np.zeros((0, 2)),
        minima_loss=(),
        start=(0.0, 0.0),
        formula=text,
        axis_names=("a", "b"),
    )


def net_frame(case: NetCase, network, head: int | None = None, experiment=None) -> Frame:
    h = case.history
    count = h.count
    head = int(h.step[count - 1]) if head is None else head
    snapshot = NetSnapshot(
        job_id=1,
        experiment=case.experiment,
        built=case.built,
        history=h,
        count=count,
        computed_step=int(h.step[count - 1]),
        diverged_at=np.asarray(h.diverged_at).copy(),
        done=True,
        surface=slice_surface(text=network.plane_text if network is not None else ""),
        network=network,
    )
    rows = int(np.searchsorted(h.step[:count], head, side="right"))
    return Frame(snapshot, experiment or case.experiment, head, rows, True, -1)
