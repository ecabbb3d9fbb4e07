"""An edit of one run of a network experiment takes over the previous job's picture
(``NetworkLive(previous=...)``) and recomputes only what the edit changed: the plane when its
inputs changed, the slice when its plane, rectangle or running statistics did, the
interpolation when one of its two runs moved, the projections of the edited run alone. The
oracle is a fresh picture of the edited experiment, computed without any previous job, and
numpy.linalg.lstsq for the projections."""

from __future__ import annotations

import numpy as np
import pytest

from gui import network_view as nv
from tests.gui.test_network_view import lstsq_projection, small_network
from tests.gui.test_network_view import train_with_picture as trained

RUNS = [
    {"label": "sgd", "optimizer": "sgd", "lr": 0.3, "batch_size": 16},
    {"label": "adam", "optimizer": "adam", "lr": 0.03, "batch_size": 16},
    {"label": "momentum", "optimizer": "momentum", "lr": 0.1, "momentum": 0.9, "batch_size": 16},
]


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    monkeypatch.setattr(nv, "FINE_POINTS", 8)
    monkeypatch.setattr(nv, "COARSE_POINTS", 4)


def network(runs, reuse=None):
    built = small_network(runs, batch_norm=True)
    if reuse is not None:  # as the app's worker does: the unchanged runs copied
        built.trainer = built.trainer.fresh(reuse=reuse.trainer)
    return built


def edited(index, **changes):
    runs = [dict(run) for run in RUNS]
    runs[index].update(changes)
    return runs


class Spy:
    """Counts the calls of a function of ``gui.network_view`` (and their arguments)."""

    def __init__(self, monkeypatch, name):
        self.calls = []
        original = getattr(nv, name)

        def spy(*args, **kwargs):
            self.calls.append(args)
            return original(*args, **kwargs)

        monkeypatch.setattr(nv, name, spy)


def assert_same_picture(live, oracle):
    mine, theirs = live.picture, oracle.picture
    assert mine.plane_text == theirs.plane_text
    for a, b in ((live.plane.origin, oracle.plane.origin), (live.plane.d1, oracle.plane.d1),
                 (live.plane.d2, oracle.plane.d2)):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(mine.path_steps, theirs.path_steps)
    for name in ("path_coords", "path_distance", "path_norm"):
        np.testing.assert_allclose(
            getattr(mine, name), getattr(theirs, name), rtol=1e-7, atol=1e-9, err_msg=name
        )
    z, rect, fine = live.grid
    z_oracle, rect_oracle, fine_oracle = oracle.grid
    assert fine
    assert fine_oracle
    np.testing.assert_allclose(rect, rect_oracle, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(z, z_oracle, rtol=1e-7)
    assert live.default_rect == pytest.approx(oracle.default_rect, rel=1e-7, abs=1e-9)
    assert mine.interpolation.runs == theirs.interpolation.runs
    for name, curve in theirs.interpolation.curves.items():
        np.testing.assert_allclose(mine.interpolation.curves[name], curve, rtol=1e-7, err_msg=name)
    # and the coordinates are the projections of the edited trainer's own states
    _, states, _ = live.trainer.snapshots.view()
    want, _ = lstsq_projection(
        live.plane.origin, live.plane.d1, live.plane.d2, states.reshape(-1, states.shape[2])
    )
    np.testing.assert_allclose(mine.path_coords.reshape(-1, 2), want, atol=1e-8)


CHOICES = [
    nv.PlaneChoice(),
    nv.PlaneChoice("random", (0,)),
    nv.PlaneChoice("three_point", (1, 0)),
    nv.PlaneChoice("random", (2,)),  # around the edited run: a new plane
]


@pytest.mark.parametrize("choice", CHOICES, ids=lambda c: f"{c.kind}{c.runs}")
def test_the_picture_after_an_edit_equals_a_fresh_one(choice):
    first = network(RUNS)
    before = trained(first, choice)
    runs = edited(2, lr=0.2)
    after = network(runs, reuse=first)
    assert after.trainer.reused == {0: 0, 1: 1}
    live = trained(after, choice, previous=before)
    oracle = trained(network(runs), choice)
    assert_same_picture(live, oracle)


def test_an_edit_that_leaves_the_plane_and_the_paths_extent_recomputes_no_slice(monkeypatch):
    """The edited run stays at the start (learning rate 0; its momentum edited): the random
    plane around run 0 and the paths' rectangle are as they were: no plane, slice or
    interpolation is computed again, and only the edited run's states are projected."""
    runs = edited(2, lr=0.0)
    first = network(runs)
    choice = nv.PlaneChoice("random", (0,))
    before = trained(first, choice)
    edit = edited(2, lr=0.0, momentum=0.5)
    oracle = trained(network(edit), choice)  # before the spies: it computes everything
    grid_losses = Spy(monkeypatch, "mlp_grid_loss")
    planes = Spy(monkeypatch, "random_plane")
    projections = Spy(monkeypatch, "project_states")
    interpolations = Spy(monkeypatch, "make_interpolation")
    after = network(edit, reuse=first)
    live = trained(after, choice, previous=before)
    assert grid_losses.calls == []
    assert planes.calls == []
    assert interpolations.calls == []
    assert projections.calls, "the edited run's states are projected"
    assert {args[1].shape[1] for args in projections.calls} == {1}  # that run's alone
    assert live.plane_serial == before.plane_serial
    assert live.grid is before.grid
    assert_same_picture(live, oracle)


def test_an_edit_of_an_interpolated_run_interpolates_again_once(monkeypatch):
    first = network(RUNS)
    before = trained(first)
    interpolations = Spy(monkeypatch, "make_interpolation")
    runs = edited(0, lr=0.5)
    after = network(runs, reuse=first)
    live = trained(after, previous=before)
    assert after.trainer.reused == {1: 1, 2: 2}
    assert len(interpolations.calls) >= 1  # the edited run 0 moved: at the plane's cadence
    oracle = trained(network(runs))
    for name, curve in oracle.picture.interpolation.curves.items():
        np.testing.assert_allclose(live.picture.interpolation.curves[name], curve, rtol=1e-7)


@pytest.mark.parametrize("edit", ["diverge", "one run left"])
def test_an_edit_that_leaves_no_interpolation_shows_none_not_the_old_one(edit):
    """The earlier job's interpolation is taken over with its picture; where the edited
    job has none (one of its two runs diverged, or fewer than two runs remain) the picture
    must have none either, as a fresh one (review: it kept the old job's curves)."""
    first = network(RUNS)
    before = trained(first)
    assert before.picture.interpolation is not None
    runs = edited(1, lr=1e300) if edit == "diverge" else RUNS[:1]
    live = trained(network(runs, reuse=first), previous=before)
    assert trained(network(runs)).picture.interpolation is None  # the oracle: afresh
    assert live.picture.interpolation is None


def test_a_picture_keeps_a_fingerprint_of_its_planes_inputs_not_the_states():
    """The trajectory plane is fitted to up to the reservoir's states; the picture (the
    current job's and the finished one kept for an edit) must not hold a copy of them just
    to tell whether an edit changed them (review: it held the whole array)."""
    import pickle

    live = trained(network(RUNS))
    assert live.plane is not None
    states = nv.recorded_states(live.trainer)
    assert states.take([0]).nbytes * states.count > 10_000  # what a copy would weigh
    assert len(pickle.dumps(live._plane_inputs)) < 1_000


def test_while_one_run_of_many_trains_again_the_plane_is_held_until_the_end(monkeypatch):
    """An edit copying most runs draws the edited run on the previous plane and chooses the
    plane once, when its training is done (a plane chosen at every growth of the rows
    restarted the slice each time: most of an edit's time)."""
    first = network(RUNS)
    before = trained(first)
    after = network(edited(2, lr=0.2), reuse=first)
    live = nv.NetworkLive(after, previous=before)
    live.clock = iter(np.arange(0.0, 1e6, 10.0)).__next__  # no throttle: only the rule
    serials = []
    while not after.trainer.done:
        after.trainer.advance(3)
        live.update()
        serials.append(live.plane_serial)
    assert set(serials[:-1]) == {before.plane_serial}  # the old plane while it trains
    live.update()
    assert live.plane_serial != before.plane_serial  # its own at the end
    assert live.task is not None
    assert live.task.rect == live.default_rect


def test_once_training_is_done_the_slice_is_computed_in_longer_bands(monkeypatch):
    """Each band sets up the plane's first layer again: a band of one grid row costs 1.7×
    its share of a whole grid. With nothing left to train the bands last DONE_BAND_SECONDS."""
    built = network(RUNS)
    live = trained(built, nv.PlaneChoice("random", (0,)))
    bands = []
    step = nv.SliceTask.step

    def spy(task, *args):
        bands.append(args)
        return step(task, *args)

    monkeypatch.setattr(nv.SliceTask, "step", spy)
    live.request_rect((-1.0, 1.0, -1.0, 1.0))
    while live.has_work:
        live.work(1.0)
    assert bands
    assert set(bands) == {(nv.DONE_BAND_SECONDS,)}
    # and a band of that length holds as many rows as it has time for: the whole pass here
    task = nv.SliceTask(built.problem.model, live.plane, live._slice_buffers(),
                        built.problem.split.x_train, built.problem.split.y_train,
                        (-1.0, 1.0, -1.0, 1.0), coarse=False, fine_points=6)  # fmt: skip
    assert task.step(1e9) is None  # one row: its cost per point is not known yet
    z, _rect, fine = task.step(1e9)  # then the other five at once
    assert fine
    assert z.shape == (6, 6)
