"""GUI tests run offscreen, with preferences in a throw-away INI file."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault(
    "DESCENT_LAB_SETTINGS", str(Path(tempfile.mkdtemp(prefix="descent-lab-tests-")) / "s.ini")
)

import pytest

from tests.gui.waiting import PATIENCE_MS, draw_what_is_held_back


@pytest.fixture(scope="session")
def qapp(qapp_args):
    """pytest-qt's application, made as the app makes it (``gui.app.create_app``: its
    10 pt font), so that what a layout test measures is what a user sees."""
    from gui.app import create_app

    return create_app(qapp_args)


@pytest.fixture
def settings(tmp_path):
    from gui.settings import Settings

    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings):
    """The main window with the default example, computed to the end and paused there."""
    from gui.main_window import MainWindow

    w = MainWindow(settings, interactive=False)
    qtbot.addWidget(w)
    w.show()
    w.open_default()
    assert w.controller.wait_until_computed(30)
    w.controller.pause()
    w.controller.seek(w.controller.total_steps)
    w.controller.current_frame()
    draw_what_is_held_back(w)  # every view shows the end, whatever the machine's load
    yield w
    w.controller.path = None
    w.close()
    # the worker ends after what it is computing: a network's build or coarse slice can
    # outlast the session's 5 s wait on a loaded machine (seen at a load of 20)
    qtbot.waitUntil(lambda: not w.controller.thread.isRunning(), timeout=PATIENCE_MS)


@pytest.fixture
def session(qtbot):
    """A session with the default experiment, its timers off (the tests drive it)."""
    from gui.session import Session

    s = Session(start_timers=False)
    yield s
    s.shutdown()


@pytest.fixture
def panel(qtbot, session):
    """The problem panel on ``session``, shown at a sidebar's size."""
    from gui.widgets.problem_panel import ProblemPanel

    p = ProblemPanel(session)
    qtbot.addWidget(p)
    p.resize(380, 760)
    p.show()
    return p
