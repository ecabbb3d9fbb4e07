"""The playhead, without Qt, on a clock the test moves by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui.playhead import MAX_TICK_S, SPEEDS, Playhead, speed_index


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_playing_moves_speed_times_elapsed_and_waits_at_the_frontier(clock):
    p = Playhead(total=1000, speed=60.0, clock=clock)
    p.play()
    clock.now += 0.1
    assert not p.advance(frontier=1000, finished=False)
    assert p.position == pytest.approx(6.0)
    clock.now += 0.1
    p.advance(frontier=8, finished=False)
    assert p.position == pytest.approx(8.0)  # not 12: the computation is at 8
    assert p.waiting(frontier=8)
    clock.now += 0.1
    p.advance(frontier=8, finished=False)
    assert p.position == pytest.approx(8.0)
    clock.now += 0.1
    p.advance(frontier=1000, finished=False)
    assert p.position == pytest.approx(14.0)
    assert not p.waiting(frontier=1000)


def test_a_stalled_frame_moves_at_most_max_tick(clock):
    p = Playhead(total=10_000, speed=100.0, clock=clock)
    p.play()
    clock.now += 5.0
    p.advance(frontier=10_000, finished=False)
    assert p.position == pytest.approx(100.0 * MAX_TICK_S)


def test_it_stops_at_the_end_of_a_finished_computation(clock):
    p = Playhead(total=50, speed=1000.0, clock=clock)
    p.play()
    clock.now += 0.2
    assert not p.advance(frontier=50, finished=False)  # at the end, but not finished
    assert p.playing
    clock.now += 0.01
    assert p.advance(frontier=50, finished=True)
    assert not p.playing
    assert p.position == 50
    p.play()  # from the start again
    assert p.position == 0
    assert p.playing


def test_instant_speed_jumps_to_the_frontier(clock):
    p = Playhead(total=500, speed=math.inf, clock=clock)
    p.play()
    clock.now += 0.001
    p.advance(frontier=321, finished=False)
    assert p.position == 321


def test_paused_it_does_not_move_and_demands_what_it_shows(clock):
    p = Playhead(total=500, clock=clock)
    p.seek(41.3)
    clock.now += 10
    p.advance(frontier=500, finished=True)
    assert p.position == pytest.approx(41.3)
    assert p.demand() == 42
    p.play()
    assert p.demand() == math.inf
    p.seek(-5)
    assert p.position == 0
    p.seek(10**9)
    assert p.position == 500


def test_step_forward_goes_to_the_next_recorded_update_and_pauses(clock):
    p = Playhead(total=100, clock=clock)
    p.play()
    recorded = np.array([0, 10, 20, 30])
    p.step_forward(recorded, frontier=30)
    assert not p.playing
    assert p.position == 10
    p.step_forward(recorded, frontier=30)
    assert p.position == 20
    p.seek(30)
    p.step_forward(recorded, frontier=30)
    assert p.position == 100  # past the last recorded row: the end
    p.reset()
    p.step_forward(None, frontier=0)
    assert p.position == 1


def test_shown_is_never_past_the_frontier_or_the_end(clock):
    p = Playhead(total=100, clock=clock)
    p.seek(80)
    assert p.shown(frontier=30) == 30
    assert p.shown(frontier=1000) == 80


def test_speed_index_is_by_ratio():
    assert SPEEDS[speed_index(60)] == 60
    assert SPEEDS[speed_index(70)] == 60
    assert SPEEDS[speed_index(math.inf)] == math.inf
    assert SPEEDS[speed_index(4000)] == 5000
