"""The name the widgets know the session by (``Controller``), kept while they move over.

The controller of old is now three parts: ``gui.document`` (the experiment and its edit
rules, Qt-free), ``gui.playhead`` (playback, Qt-free) and ``gui.session`` (the worker thread,
the latest snapshot and the timers).
"""

from __future__ import annotations

from gui.document import COSMETIC_RUN_KEYS, MAX_RECORDED_ROWS, default_experiment_data
from gui.document import simulation_key as simulation_key
from gui.playhead import SPEEDS, speed_index
from gui.session import FRAME_INTERVAL_MS, STALE_FRAMES_S, STATS_INTERVAL_MS, Session
from gui.snapshot import Frame

Controller = Session

__all__ = [
    "COSMETIC_RUN_KEYS",
    "FRAME_INTERVAL_MS",
    "MAX_RECORDED_ROWS",
    "SPEEDS",
    "STALE_FRAMES_S",
    "STATS_INTERVAL_MS",
    "Controller",
    "Frame",
    "default_experiment_data",
    "simulation_key",
    "speed_index",
]
