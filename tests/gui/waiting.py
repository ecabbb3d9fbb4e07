"""How long a GUI test waits for what the app does later on purpose: a throttled or trailing
redraw, the worker's answer to a request, a job computed in the worker thread.

On an idle machine each of these takes milliseconds; on a loaded CI machine (two cores, a
load of 15 to 20) a frame can take a second, and the throttles stretch with it (the curves
wait four times a draw's cost before the next). Tests wait for the exact condition they
assert, never a fixed time, and give up only after ``PATIENCE_MS``: long enough that a
loaded machine never reaches it, short enough that a broken behaviour fails in seconds.
"""

import time

PATIENCE_MS = 30_000
PATIENCE_S = PATIENCE_MS / 1000


def draw_what_is_held_back(window) -> None:
    """The views draw now the frame their throttles hold back, and the throttles stop: the
    window shows the session's last frame, and the next frame is drawn at once.

    On a loaded machine a draw costs more than the curves' 8 ms budget, so the frame after
    it waits for the throttle's trailing edge; a test that read the curves (or the runs'
    status) right after ``current_frame()`` read the frame before."""
    for throttle in (window.curves_view._throttled_draw, window.runs_panel._status_later):
        throttle.flush(restart_timer=False)


def settle(session, timeout: float = 60.0):
    """Trained to the end and the worker idle; the last snapshot taken."""
    assert session.wait_until_computed(timeout)
    deadline = time.perf_counter() + timeout
    while session.busy and time.perf_counter() < deadline:
        session.wait_until_computed(1.0)
        time.sleep(0.01)
    session.wait_until_computed(1.0)
    return session.snapshot
