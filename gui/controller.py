"""The name the widgets know the session by (``Controller``), kept while they move over.

The controller of old is now three parts: ``gui.document`` (the experiment and its edit
rules, Qt-free), ``gui.playhead`` (playback, Qt-free) and ``gui.session`` (the worker thread,
the latest snapshot and the timers). Only what is still imported from here is re-exported.
"""

from __future__ import annotations

from gui.playhead import SPEEDS, speed_index
from gui.session import Session
from gui.snapshot import Frame

Controller = Session

__all__ = ["SPEEDS", "Controller", "Frame", "speed_index"]
