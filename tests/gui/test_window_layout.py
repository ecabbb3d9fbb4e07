"""What a student sees of the window: the notes on opening, the examples by title, a
playback bar that stays legible, and docks that fit a 1280 × 720 screen."""

from __future__ import annotations

import tomllib

import pytest

import resources
from tests.gui.waiting import PATIENCE_MS


def _titles_on_disk() -> dict[str, str]:
    """file name -> its title, read here independently of the app."""
    folder = resources.experiments_dir()
    return {
        p.relative_to(folder).as_posix(): tomllib.loads(p.read_text(encoding="utf-8"))["title"]
        for p in [*resources.example_paths(), *resources.network_example_paths()]
    }


def _visible_in_window(widget, window) -> bool:
    """Shown, not behind another tab, and inside the window's rectangle."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return window.rect().contains(top_left)


# ---- notes -----------------------------------------------------------------------------------
def test_the_notes_are_seen_on_opening_an_example(window, qtbot):
    path = resources.experiments_dir() / "saddle_point.toml"
    description = tomllib.loads(path.read_text(encoding="utf-8"))["description"]
    assert window.open_example(path)
    panel = window.notes_panel
    assert _visible_in_window(panel.body, window)
    assert panel.title.text() == "Escaping a saddle point"
    first_words = " ".join(description.split()[:8])
    assert panel.plain_text().startswith(first_words)
    # at least three lines of text are open, not a one-line teaser
    assert panel.body.height() >= 3 * panel.body.fontMetrics().lineSpacing()


def test_collapsed_notes_open_again_for_the_next_experiment(window, qtbot):
    panel = window.notes_panel
    panel.toggle.click()
    assert panel.is_collapsed()
    assert not panel.body.isVisible()
    assert panel.title.isVisible()  # one line stays: the title and the arrow to reopen
    assert not window.notes_action.isChecked()
    window.notes_action.trigger()  # View → Experiment notes (N) reopens them
    assert _visible_in_window(panel.body, window)
    panel.set_collapsed(True)
    assert window.open_example(resources.experiments_dir() / "divergence.toml")
    assert _visible_in_window(panel.body, window)
    assert window.notes_action.isChecked()


def test_after_an_edit_the_notes_say_they_describe_the_file_as_opened(window, tmp_path):
    """An example's notes quote its numbers: once a rate is changed the plots are of
    another experiment, and the notes say so beside their title, through a save too;
    a name or a colour is no such change, an edit back to the value undoes it."""
    assert window.open_example(resources.experiments_dir() / "saddle_point.toml")
    panel, session = window.notes_panel, window.controller
    header_says = lambda: _visible_in_window(panel.edited, window)  # noqa: E731
    assert not header_says()
    lr = session.experiment.runs[0].lr
    assert session.update_run(0, label="renamed") is None
    assert not header_says()
    assert session.update_run(0, lr=lr * 2) is None
    assert header_says()
    assert "describe the file as it was" in panel.edited.text()
    session.save(tmp_path / "mine.toml")
    assert header_says()  # saved, the notes are still the example's
    assert session.update_run(0, lr=lr) is None
    assert not header_says()
    assert session.update_run(0, lr=lr * 2) is None
    assert window.open_example(resources.experiments_dir() / "divergence.toml")
    assert not header_says()


def test_an_experiment_without_a_description_says_how_to_add_one(window, tmp_path):
    path = tmp_path / "bare.toml"
    path.write_text('title = "bare"\n[[runs]]\noptimizer = "sgd"\n', encoding="utf-8")
    assert window.open_path(path, ask=False)
    assert "description" in window.notes_panel.plain_text()


# ---- examples menu ---------------------------------------------------------------------------
def test_open_example_lists_the_titles_and_opens_the_titled_file(window):
    titles = _titles_on_disk()
    actions = [a for a in window.examples_menu.actions() if not a.isSeparator()]
    assert sorted(a.text() for a in actions) == sorted(titles.values())
    # by title within each group: the 2-D problems, then the networks
    two_d = [t for name, t in titles.items() if "/" not in name]
    networks = [t for name, t in titles.items() if name.startswith("networks/")]
    assert networks, "the network examples are in the menu"
    expected = sorted(two_d, key=str.lower) + sorted(networks, key=str.lower)
    assert [a.text() for a in actions] == expected
    for action in actions:
        name = action.toolTip().removeprefix("Open the example ")
        assert titles[name] == action.text()  # the tooltip names the file the title is from
    wanted = next(a for a in actions if a.text() == titles["batch_size.toml"])
    wanted.trigger()
    assert window.controller.experiment.title == titles["batch_size.toml"]
    network = next(a for a in actions if a.text() == titles["networks/moons_optimizers.toml"])
    network.trigger()
    assert window.controller.experiment.problem.kind == "mlp"


# ---- playback bar ----------------------------------------------------------------------------
def _bar_alone(window, qtbot, width: int):
    bar = window.playback_bar
    bar.setParent(None)
    qtbot.addWidget(bar)
    bar.resize(width, bar.sizeHint().height())
    bar.show()
    bar.position.set_position(1_000_000, 1_000_000)
    bar.layout().activate()
    return bar


@pytest.mark.parametrize("width", [460, 560])
def test_a_million_steps_never_crowd_speed_in_a_narrow_bar(window, qtbot, width):
    bar = _bar_alone(window, qtbot, width)
    assert bar.width() == width  # the bar's minimum is not wider than that
    label, speed = bar.position, bar.speed_label
    text_width = label.fontMetrics().horizontalAdvance(label.text())
    assert text_width <= label.width()  # the text is not cut
    label_text_right = label.geometry().right()  # right-aligned: the text ends here
    assert speed.geometry().left() - label_text_right >= 8  # a visible gap before "speed"
    assert bar.speed.geometry().right() <= bar.width()  # the speed box is not pushed out
    assert bar.timeline.width() >= 60
    assert label.text() in ("1M / 1M", "step 1,000,000 / 1,000,000")


def test_a_wide_bar_shows_the_full_count_with_digit_groups(window, qtbot):
    bar = _bar_alone(window, qtbot, 900)
    assert bar.position.text() == "step 1,000,000 / 1,000,000"
    width_at_end = bar.position.width()
    bar.position.set_position(7, 1_000_000)  # the width is that of the widest count
    assert bar.position.text() == "step 7 / 1,000,000"
    assert bar.position.width() == width_at_end


def test_the_bar_reports_the_shown_step_of_the_default_example(window):
    total = window.controller.total_steps
    assert window.playback_bar.position.text().endswith(f"{total:,} / {total:,}")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (9_999, "9999"),
        (12_345, "12.3k"),
        (641_234, "641k"),
        (999_999, "1M"),
        (1_000_000, "1M"),
        (2_500_000, "2.5M"),
        (10_000_000, "10M"),
    ],
)
def test_compact_counts(n, text):
    from gui.widgets.playback_bar import compact_count

    assert compact_count(n) == text


# ---- window layout ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("area", "maximized"),
    [((0, 0, 1280, 720), True), ((0, 0, 1366, 768), True), ((0, 0, 1300, 740), True)],
)
def test_a_small_screen_gets_the_whole_screen(area, maximized):
    from gui.main_window import default_window_rect

    assert default_window_rect(*area) == (area, maximized)


def test_a_large_screen_gets_a_centred_window():
    from gui.main_window import default_window_rect

    (x, y, w, h), maximized = default_window_rect(0, 0, 1920, 1080)
    assert not maximized
    assert (w, h) == (1804, 993)
    assert x + w / 2 == pytest.approx(960, abs=1)
    assert y + h / 2 == pytest.approx(540, abs=1)


def _cut_off_children(scroll_area) -> list[str]:
    """Controls of a scrolled panel that reach past its viewport's right edge."""
    from PySide6.QtWidgets import QWidget

    viewport = scroll_area.viewport()
    panel = scroll_area.widget()
    cut = []
    for child in panel.findChildren(QWidget):
        if not child.isVisible() or child.width() == 0:
            continue
        right = child.mapTo(viewport, child.rect().topRight()).x()
        if right >= viewport.width():
            cut.append(f"{type(child).__name__} {child.toolTip()[:40]!r} ends at {right}")
    return cut


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768), (1920, 1080)])
def test_the_side_docks_show_every_field_uncut(window, qtbot, size):
    from PySide6.QtCore import Qt

    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0], timeout=PATIENCE_MS)
    window.reset_layout()
    qtbot.wait(10)
    for example in ("rosenbrock_momentum_vs_adam.toml", "batch_size.toml"):
        assert window.open_example(resources.experiments_dir() / example)
        assert window.controller.wait_until_computed(30)
        window.controller.current_frame()  # the views show this experiment (its formula...)
        qtbot.wait(20)
        # the window still fits the screen: no dock or header demands more than it has
        assert window.minimumSizeHint().width() <= size[0], example
        assert window.width() == size[0], example
        for name in ("run", "problem"):
            window.docks[name].raise_()
            qtbot.wait(10)
            assert _cut_off_children(window.docks[name].widget()) == [], (example, name)
    central = window.centralWidget().width()
    assert central >= 0.4 * size[0] - 1  # the surface keeps most of the room


@pytest.mark.parametrize(("height", "lines"), [(740, 6), (1000, 8)])
def test_long_notes_take_six_lines_or_eight_in_a_tall_window(qtbot, height, lines):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from gui.widgets.notes_panel import NotesPanel

    host = QWidget()
    qtbot.addWidget(host)
    panel = NotesPanel()
    QVBoxLayout(host).addWidget(panel)
    host.resize(500, height)
    host.show()
    panel.set_notes("t", " ".join(["a long note"] * 200))  # far more than 8 lines
    host.resize(520, height)  # a resize refits the height, as a window's does
    qtbot.wait(10)
    body = panel.body
    shown = body.viewport().height() / body.fontMetrics().lineSpacing()
    assert lines - 0.5 < shown < lines + 0.7
    assert body.verticalScrollBar().maximum() > 0  # the rest scrolls
