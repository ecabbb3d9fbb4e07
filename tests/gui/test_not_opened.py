"""A file that could not be opened never passes for the experiment shown in its place: at
start-up (``python main.py bad.toml``) the default experiment opens first, then the message
comes, and the title and a banner say which file was NOT opened until another one is."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

import resources
from engine.experiment import load_experiment

BAD = Path(__file__).parents[1] / "bad_experiments" / "mlp_width_too_large.toml"
# the one line the runner prints for it (tests/engine/test_parameters.py checks it by hand)
MESSAGE = "problem.hidden[0]: 100,000 units is more than the limit of 4,096 per layer"


@pytest.fixture
def started(qtbot, settings, monkeypatch):
    """``gui.app.main([BAD])`` up to its event loop: the window, and what the window showed
    when the warning came (its title, banner and experiment)."""
    import gui.app as app_module
    from gui.main_window import MainWindow

    windows, warnings = [], []
    opened = MainWindow.open_path

    def spy(self, *args, **kwargs):
        windows.append(self)
        return opened(self, *args, **kwargs)

    def warning(parent, title, text):
        w = windows[-1]
        shown = (w.windowTitle(), w.not_opened_banner.text(), w.controller.experiment.title)
        status = w.statusBar().currentMessage()  # (later replaced by the engine's news)
        warnings.append((title, text, shown, w.not_opened_banner.isVisibleTo(w), status))

    monkeypatch.setattr(MainWindow, "open_path", spy)
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    discard = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: discard))
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    monkeypatch.setattr("gui.settings.Settings", lambda: settings)
    interrupt = signal.getsignal(signal.SIGINT)
    assert app_module.main([str(BAD)]) == 0
    # once its loop has ended, main leaves Ctrl+C as it found it (it used to leave a handler
    # that closes this window: in a test session, Ctrl+C no longer stopped pytest)
    assert signal.getsignal(signal.SIGINT) is interrupt
    window = windows[-1]
    qtbot.addWidget(window)
    yield window, warnings
    window.controller.path = None
    window.close()


def test_a_bad_file_at_start_up_is_said_not_opened_behind_its_message(started):
    window, warnings = started
    default = load_experiment(resources.default_experiment())
    assert window.controller.experiment.title == default.title
    assert len(warnings) == 1
    title, text, (window_title, banner, shown), banner_visible, status = warnings[0]
    # the message keeps the runner's line, says the file was not opened and what is shown
    assert title == "Cannot open the experiment"
    assert MESSAGE in text
    assert text.startswith(f"{BAD.name} was not opened")
    assert f"The default experiment “{default.title}” is shown instead." in text
    # behind it, already: the fallback, and a title and banner that say so
    assert shown == default.title
    assert window_title.startswith(f"⚠ {BAD.name} NOT OPENED — {default.title} — untitled")
    assert banner_visible
    assert banner.startswith(f"⚠ {BAD} was NOT opened: {MESSAGE}")
    assert banner.count(str(BAD.name)) == 1  # the path once, not again inside the message
    assert f"Shown instead: the default experiment “{default.title}”." in banner
    assert status.startswith("⚠ Not opened: ")
    assert MESSAGE in status


def test_the_notice_stays_until_another_experiment_is_opened(started, tmp_path):
    window, _ = started
    assert "NOT OPENED" in window.windowTitle()
    good = tmp_path / "good.toml"
    good.write_text(resources.default_experiment().read_text(encoding="utf-8"), encoding="utf-8")
    assert window.open_path(good, ask=False)
    assert "NOT OPENED" not in window.windowTitle()
    assert not window.not_opened_banner.isVisibleTo(window)


def test_a_bad_file_opened_later_says_the_shown_experiment_stays(window):
    before = window.controller.experiment
    assert not window.open_path(BAD, ask=False)
    assert window.controller.experiment is before
    assert window.windowTitle().startswith(f"⚠ {BAD.name} NOT OPENED — {before.title}")
    assert window.not_opened_banner.isVisibleTo(window)
    assert f"The experiment shown is still “{before.title}”." in window.not_opened_banner.text()
    assert MESSAGE in window.last_warning
