"""The playhead: which update the views show, and how it moves. No Qt here.

The position is a float (it advances by ``speed × elapsed`` between frames) but never runs
ahead of the *frontier*, the last update computed so far: while playing it waits there for
the worker. The clock is injected, so that tests drive it by hand.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

SPEEDS = (5.0, 15.0, 30.0, 60.0, 120.0, 250.0, 500.0, 1000.0, 5000.0, math.inf)
MAX_TICK_S = 0.25  # a stalled frame moves the playhead at most this long's worth


def speed_index(speed: float) -> int:
    """The entry of ``SPEEDS`` nearest to ``speed``, by ratio ("instant" is infinite)."""

    def log(value: float) -> float:
        return math.log(value if math.isfinite(value) else 1e9)

    return min(range(len(SPEEDS)), key=lambda i: abs(log(SPEEDS[i]) - log(speed)))


class Playhead:
    def __init__(
        self, total: int = 0, speed: float = 60.0, clock: Callable[[], float] = time.perf_counter
    ):
        self.total = int(total)  # the experiment's updates
        self.position = 0.0
        self.speed = float(speed)  # updates per second (math.inf: jump to the frontier)
        self.playing = False
        self._clock = clock
        self._last = clock()

    # ---- commands ----------------------------------------------------------------------------
    def play(self) -> None:
        """Play; from step 0 again when at the end."""
        if self.position >= self.total:
            self.position = 0.0
        self._last = self._clock()
        self.playing = True

    def pause(self) -> None:
        self._last = self._clock()
        self.playing = False

    def seek(self, step: float) -> None:
        self.position = float(max(0, min(step, self.total)))

    def reset(self) -> None:
        """Back to step 0, paused."""
        self.pause()
        self.seek(0)

    def step_forward(self, recorded_steps: Sequence[int] | np.ndarray | None, frontier: int):
        """Pause, and show the next recorded update after the one shown (the next update
        when nothing is recorded yet)."""
        self.pause()
        shown = self.shown(frontier)
        if recorded_steps is not None and len(recorded_steps):
            steps = np.asarray(recorded_steps)
            nxt = int(np.searchsorted(steps, shown, side="right"))
            target = int(steps[nxt]) if nxt < len(steps) else self.total
        else:
            target = shown + 1
        self.seek(min(target, self.total))

    # ---- time --------------------------------------------------------------------------------
    def advance(self, frontier: int, finished: bool) -> bool:
        """Move by the time elapsed since the last call (when playing), never past the
        ``frontier``; at the end of a ``finished`` computation, stop. True when it stopped."""
        now = self._clock()
        dt, self._last = now - self._last, now
        if not self.playing:
            return False
        if math.isinf(self.speed):
            self.position = float(max(self.position, frontier))
        else:
            # never run ahead of the computation: wait for it at the frontier
            moved = self.position + self.speed * min(max(dt, 0.0), MAX_TICK_S)
            self.position = min(moved, max(self.position, frontier))
        if self.position >= self.total and finished:
            self.position = float(self.total)
            self.playing = False
            return True
        return False

    # ---- reading -----------------------------------------------------------------------------
    def shown(self, frontier: int) -> int:
        """The update drawn: the position, but never past what has been computed."""
        return int(min(self.position, frontier, self.total))

    def demand(self) -> float:
        """How far the worker should compute: to the end while playing, else to what the
        playhead shows (a slider change while paused recomputes just that much)."""
        return math.inf if self.playing else math.ceil(self.position)

    def waiting(self, frontier: int) -> bool:
        """Playing, but held at the frontier: the computation is behind."""
        return self.playing and frontier < self.total and self.position >= frontier
