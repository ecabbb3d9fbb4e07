"""The interpolation view draws the worker's curves along t as they are (finite points only),
marks the two runs at t = 0 and t = 1, and asks the session for the pair the user picks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gui.theme import LIGHT
from gui.widgets.interpolation_view import COMPUTING, NO_NETWORK, TWO_RUNS, InterpolationView
from tests.gui.network_fakes import net_frame, picture, trained
from tests.gui.test_drawing import offscreen


class FakeSession:
    def __init__(self):
        self.pairs = []

    def set_interpolation(self, i, j):
        self.pairs.append((i, j))


@pytest.fixture(scope="module")
def case():
    return trained()


@pytest.fixture
def view(qtbot):
    v = offscreen(qtbot, InterpolationView(None, LIGHT), (700, 500))
    v.controller = FakeSession()
    return v


def test_the_curves_are_the_workers_arrays_along_t(view, case):
    net = picture(case)
    curves = dict(net.interpolation.curves)
    curves["val_loss"] = curves["val_loss"].copy()
    curves["val_loss"][4] = np.inf  # a point that overflowed is left out, not drawn at ∞
    net = dataclasses.replace(
        net, interpolation=dataclasses.replace(net.interpolation, curves=curves)
    )
    view.draw(net_frame(case, net))
    t = net.interpolation.t
    for key in ("train_loss", "train_accuracy", "val_accuracy"):
        x, y = view.curve_data(key)
        np.testing.assert_array_equal(x, t)
        np.testing.assert_array_equal(y, curves[key])
    x, y = view.curve_data("val_loss")
    keep = np.arange(len(t)) != 4
    np.testing.assert_array_equal(x, t[keep])
    np.testing.assert_array_equal(y, curves["val_loss"][keep])
    assert [text.toPlainText() for text in view.end_labels] == ["sgd", "adam"]


def test_a_split_without_validation_draws_only_training(view, case):
    net = picture(case)
    curves = {k: v for k, v in net.interpolation.curves.items() if k.startswith("train")}
    net = dataclasses.replace(
        net, interpolation=dataclasses.replace(net.interpolation, curves=curves)
    )
    view.draw(net_frame(case, net))
    assert not view.curves["val_loss"].isVisible()
    assert view.curve_data("val_loss")[0].size == 0
    assert view.curves["train_loss"].isVisible()


def test_the_choosers_ask_the_session_for_two_different_runs(view, case):
    view.draw(net_frame(case, picture(case)))
    assert view.chosen() == (0, 1)  # the pair the worker computed
    view.choose(2, 0)
    assert view.controller.pairs == [(2, 0)]
    view.draw(net_frame(case, picture(case)))  # the worker has not got there yet
    assert view.chosen() == (2, 0)  # the choice stays
    view.choose(1, 1)
    assert view.controller.pairs == [(2, 0)]  # not asked: one run is no line
    assert view.message.text() == TWO_RUNS


def test_without_a_picture_it_says_why(view, case):
    net = picture(case)
    view.draw(net_frame(case, dataclasses.replace(net, interpolation=None)))
    assert view.stack.currentWidget() is view.placeholder
    assert view.placeholder.text() == COMPUTING
    view.draw(net_frame(case, None))
    assert view.placeholder.text() == NO_NETWORK
