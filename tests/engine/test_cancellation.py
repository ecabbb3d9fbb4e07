"""A network's full-split evaluation (a recorded row's, inside ``Trainer.advance``) and the
decision-boundary grid stop when ``should_stop()`` says so: it is asked before every layer of
the forward and backward passes, so a stop is honoured within one layer's products, and a
computation that is not stopped gives the same bits as one that is never asked. A trainer
stopped half-way through recording is ``cancelled``: never ``done``, it can't go on and no
later trainer reuses its runs.

Work is counted in polls (each poll precedes exactly one layer's products), not seconds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.plane import Cancelled, decision_grid
from engine.problems.mlp import MLP
from engine.training import Trainer
from tests.engine.test_network_lockstep import SPECS, make_problem
from tests.engine.test_network_reuse import arrays


class Polls:
    """A ``should_stop`` that counts its calls and says stop at call ``stop_at`` (and after);
    never when None."""

    def __init__(self, stop_at: int | None = None):
        self.calls = 0
        self.stop_at = stop_at

    def __call__(self) -> bool:
        self.calls += 1
        return self.stop_at is not None and self.calls >= self.stop_at


def wide_model(hidden=(7, 5), batch_norm=True):
    model = MLP(4, list(hidden), 3, batch_norm=batch_norm, dtype=np.float64)
    rng = np.random.default_rng(3)
    params = np.stack([model.init_host(seed)[0] for seed in range(3)])
    buffers = np.abs(rng.standard_normal((3, model.n_buffers))) + 0.5
    x, y = rng.standard_normal((50, 4)), rng.integers(0, 3, 50)
    return model, params, buffers, x, y


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("max_elements", [1 << 22, 3 * 7 * 20])  # one chunk; three chunks
def test_an_evaluation_is_asked_before_every_layer_and_gives_the_same_bits(grad, max_elements):
    model, params, buffers, x, y = wide_model()
    polls = Polls()
    asked = model.evaluate(params, buffers, x, y, grad, max_elements, should_stop=polls)
    never = model.evaluate(params, buffers, x, y, grad, max_elements)
    layers = len(model.widths) - 1
    chunks = -(-len(y) // max(1, max_elements // (3 * max(model.widths))))
    # forward (and backward) of each chunk, one poll per layer: one layer's products apart
    assert polls.calls == chunks * layers * (2 if grad else 1)
    for field in ("loss", "accuracy", "grads"):
        a, b = getattr(asked, field), getattr(never, field)
        assert (a is None and b is None) or np.array_equal(a, b)


@pytest.mark.parametrize("stop_at", [1, 2, 3, 4, 6])
def test_an_evaluation_stops_at_the_first_poll_that_says_so(stop_at):
    model, params, buffers, x, y = wide_model()
    polls = Polls(stop_at)
    with pytest.raises(Cancelled):
        model.evaluate(params, buffers, x, y, True, should_stop=polls)
    assert polls.calls == stop_at  # no layer computed after the stop was asked for


@pytest.mark.parametrize("stop_at", [1, 3, 7])
def test_a_decision_grid_stops_at_the_first_poll_and_otherwise_is_unchanged(stop_at):
    model = MLP(2, [7, 5], 3, batch_norm=True, dtype=np.float64)
    params = np.stack([model.init_host(seed)[0] for seed in range(3)])
    buffers = np.abs(np.random.default_rng(4).standard_normal((3, model.n_buffers))) + 0.5
    rect, resolution, budget = (-1.0, 2.0, -0.5, 1.5), 12, 3 * 7 * 40  # 40 pixels a chunk
    polls = Polls()
    classes, confidence = decision_grid(model, params, buffers, rect, resolution, budget, polls)
    assert polls.calls == -(-(resolution**2) // 40) * 3  # every layer of every chunk
    # the oracle: every pixel's logits at once, softmax by hand
    xs = -1.0 + (np.arange(resolution) + 0.5) * 3.0 / resolution
    ys = -0.5 + (np.arange(resolution) + 0.5) * 2.0 / resolution
    gx, gy = np.meshgrid(xs, ys)
    logits = model.logits(params, buffers, np.stack([gx.ravel(), gy.ravel()], axis=1))
    top = logits.max(axis=2, keepdims=True)
    shape = (3, resolution, resolution)
    assert np.array_equal(classes, logits.argmax(axis=2).reshape(shape))
    assert np.array_equal(confidence, (1 / np.exp(logits - top).sum(axis=2)).reshape(shape))
    again = decision_grid(model, params, buffers, rect, resolution, budget)
    assert np.array_equal(again[0], classes)
    assert np.array_equal(again[1], confidence)
    polls = Polls(stop_at)
    with pytest.raises(Cancelled):
        decision_grid(model, params, buffers, rect, resolution, budget, polls)
    assert polls.calls == stop_at


STEPS = 12
SETTINGS = dict(seed=2, eval_every=2, record_every=1)


def test_a_trainer_asked_but_never_stopped_records_the_same_bits():
    polls = Polls()
    asked = Trainer(make_problem(), SPECS, STEPS, should_stop=polls, **SETTINGS)
    asked.run(chunk=5)
    never = Trainer(make_problem(), SPECS, STEPS, **SETTINGS)
    never.run(chunk=5)
    assert polls.calls > 0
    mine, theirs = arrays(asked), arrays(never)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert np.array_equal(mine[name], theirs[name], equal_nan=True), name
    assert np.array_equal(asked.final_state()[0], never.final_state()[0])


def polls_of_a_training() -> tuple[int, int, Trainer]:
    """Polls of the constructor (row 0's evaluation) and of the whole training, and the
    trainer."""
    polls = Polls()
    trainer = Trainer(make_problem(), SPECS, STEPS, should_stop=polls, **SETTINGS)
    at_start = polls.calls
    while not trainer.done:
        trainer.advance(2)
    return at_start, polls.calls, trainer


@pytest.mark.parametrize("where", ["row 0", "a middle row", "the last row"])
def test_a_trainer_stopped_in_an_evaluation_is_cancelled_never_done_and_never_reused(where):
    at_start, total, finished = polls_of_a_training()
    # rows 0, 2, 4, … 12 evaluated (eval_every 2), unit by unit: 9 polls each (three layers:
    # forward and backward of the training split, forward of the validation split)
    assert at_start % 9 == 0
    assert total == at_start * (STEPS // 2 + 1)
    stop_at = {"row 0": 2, "a middle row": (at_start + total) // 2, "the last row": total - 1}
    polls = Polls(stop_at[where])
    if where == "row 0":  # the constructor evaluates row 0
        with pytest.raises(Cancelled):
            Trainer(make_problem(), SPECS, STEPS, should_stop=polls, **SETTINGS)
        assert polls.calls == polls.stop_at
        return
    trainer = Trainer(make_problem(), SPECS, STEPS, should_stop=polls, **SETTINGS)
    with pytest.raises(Cancelled):  # noqa: PT012 (advanced until the stop)
        while True:
            trainer.advance(2)
    assert polls.calls == polls.stop_at  # stopped at the first poll that said so
    assert trainer.cancelled
    assert not trainer.done
    if where == "the last row":
        assert trainer.step == trainer.steps  # every update made, the rows half recorded
    with pytest.raises(RuntimeError, match="cancelled"):
        trainer.advance(2)
    # an edit's trainer copies no run from it (its rows are not all there)
    again = Trainer(make_problem(), SPECS, STEPS, reuse=trainer, **SETTINGS)
    assert again.reused == {}
    # (as it would from a finished one)
    control = Trainer(make_problem(), SPECS, STEPS, reuse=finished, **SETTINGS)
    assert len(control.reused) == len(SPECS)
