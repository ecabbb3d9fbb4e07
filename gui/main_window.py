"""The main window: the surface in the middle, the experiment's settings on the left, the
curves on the right, the playback bar below; menus, shortcuts and the status bar.

For a network the middle is three tabs: the surface (a slice of weight space with the paths
projected on it), the decision boundaries of every run (2-D data sets only) and the loss
along the line between two runs' solutions. A 2-D problem has the surface alone (no tab bar).
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

from PySide6.QtCore import QEvent, QSignalBlocker, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import resources
from engine.experiment import ExperimentError, experiment_warnings
from engine.records import COLUMNS
from gui import exporting
from gui.controller import SPEEDS, Controller, speed_index
from gui.settings import Settings
from gui.theme import Theme, apply_theme, theme_named
from gui.widgets.boundary_view import BoundaryView
from gui.widgets.curves_view import CurvesView
from gui.widgets.interpolation_view import InterpolationView
from gui.widgets.notes_panel import NotesPanel
from gui.widgets.playback_bar import PlaybackBar
from gui.widgets.problem_panel import ProblemPanel
from gui.widgets.run_editor import RunEditor
from gui.widgets.runs_panel import RunsPanel
from gui.widgets.surface_view import SurfaceView

APP_NAME = "Descent Lab"
EXPERIMENT_FILTER = "Experiments (*.toml);;All files (*)"
FIGURE_NAMES = {
    "surface": "Surface",
    "curves": "Curves",
    "boundary": "Decision boundary",
    "interpolation": "Interpolation",
}
LAYOUT_VERSION = 3  # bump when the docks change: an older saved layout is then ignored


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, *, interactive: bool = True):
        super().__init__()
        # interactive=False (tests, self-test): no modal dialogs; warnings are kept in
        # ``last_warning`` and questions about unsaved changes answer "discard"
        self.interactive = interactive
        self.last_warning = ""
        self.settings = settings or Settings()
        self.theme: Theme = theme_named(self.settings.theme)
        self.controller = Controller(self)
        c = self.controller
        app = QApplication.instance()
        if app is not None:  # however the app ends, the engine thread ends first
            app.aboutToQuit.connect(c.shutdown)
        c.set_speed(self.settings.speed)

        self.surface_view = SurfaceView(c, self.theme)
        self.curves_view = CurvesView(c, self.theme)
        self.runs_panel = RunsPanel(c)
        self.run_editor = RunEditor(c)
        self.problem_panel = ProblemPanel(c)
        self.playback_bar = PlaybackBar(c)
        # owned by the window while out of the tabs (hidden: a loose child would show)
        self.boundary_view = BoundaryView(c, self.theme, self)
        self.interpolation_view = InterpolationView(c, self.theme, self)
        self.boundary_view.hide()
        self.interpolation_view.hide()
        # a network's three views share the middle; a 2-D problem shows the surface alone
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.setTabBarAutoHide(True)
        self.views.addTab(self.surface_view, "Surface")
        self.views.setTabToolTip(0, "The loss over a plane of weight space, every path on it")
        self._network_tabs = (False, False)
        self.runs_panel.error_color = self.theme.error

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setToolTip("Why the experiment can't be simulated as it stands")
        # what is valid but probably not meant (batch norm on batches of one, a warmup
        # longer than the training...): the runner's "warning:" lines, said while they hold
        self.caution = QLabel()
        self.caution.setWordWrap(True)
        self.caution.setVisible(False)
        self.caution.setToolTip("Valid, and simulated as it stands, but probably not meant")
        # a file that could not be opened, said until another experiment is opened: the
        # experiment shown in its place (the default one, at start-up) must not pass for it
        self.not_opened: tuple[Path, str] | None = None
        self.not_opened_banner = QLabel()
        self.not_opened_banner.setWordWrap(True)
        self.not_opened_banner.setVisible(False)
        self.not_opened_banner.setToolTip(
            "This file was not opened: the experiment shown is another one.\n"
            "Fix the file and open it again (File ▸ Open)."
        )
        # the notes say what to look at: above the plots, open on every experiment opened
        self.notes_panel = NotesPanel()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.not_opened_banner)
        layout.addWidget(self.banner)
        layout.addWidget(self.caution)
        layout.addWidget(self.notes_panel)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.playback_bar)
        self.setCentralWidget(central)

        self.docks: dict[str, QDockWidget] = {}
        # left: the runs above, and below them the selected run's settings, with the problem
        # on a further tab (the settings change most)
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        self._add_dock("runs", "Runs", self.runs_panel, left)
        self._add_dock("run", "Run settings", _scrolled(self.run_editor), left)
        self._add_dock("problem", "Problem", _scrolled(self.problem_panel), left)
        self.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)
        self.tabifyDockWidget(self.docks["run"], self.docks["problem"])
        self.docks["run"].raise_()
        self._add_dock("curves", "Curves", self.curves_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._build_status_bar()
        self._build_menus()
        self._apply_theme(self.theme)
        self.surface_view.set_show_arrows(self.settings.show_arrows)
        self.surface_view.arrows_box.toggled.connect(self._on_arrows)

        c.sig_document_changed.connect(self._update_title)
        c.sig_error.connect(self._on_engine_error)
        c.sig_message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        c.sig_stats.connect(self._on_stats)
        c.sig_frame.connect(self._on_frame)
        self.surface_view.sig_refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.sig_speed_changed.connect(self._on_speed)

        self._default_geometry()
        self._default_state = self.saveState(LAYOUT_VERSION)
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        # the docks' default widths are set once the window is shown: before that, the dock
        # layout has no size and resizeDocks is forgotten (the docks then opened at their
        # minimum, the run settings cut off at the right)
        self._size_docks_on_show = state is None or not self.restoreState(state, LAYOUT_VERSION)
        self._update_title()

    # ---- layout ------------------------------------------------------------------------------
    def _add_dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _default_geometry(self) -> None:
        """Most of the screen: the surface wants room."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(1500, 940)
            return
        area = screen.availableGeometry()
        rect, maximized = default_window_rect(area.x(), area.y(), area.width(), area.height())
        self.resize(rect[2], rect[3])
        self.move(rect[0], rect[1])
        if maximized:
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._size_docks_on_show:
            self._size_docks_on_show = False
            self._default_sizes()

    def _default_sizes(self) -> None:
        """The side docks as wide as their controls need (the run settings' fields must not
        be cut off), a little wider on a large screen; the surface takes the rest."""
        width, height = self.width(), self.height()
        runs_height = max(150, min(240, height // 3))
        self.resizeDocks(
            [self.docks["runs"], self.docks["run"]],
            [runs_height, max(200, height - runs_height)],
            Qt.Orientation.Vertical,
        )
        left, right = default_dock_widths(width, self._left_dock_needs())
        self.resizeDocks([self.docks["runs"]], [left], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["curves"]], [right], Qt.Orientation.Horizontal)

    def _left_dock_needs(self) -> int:
        """The width at which the run settings and the problem show every field uncut: their
        widest minimum, a vertical scroll bar and the dock's frame."""
        scroll_bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        widest = max(
            self.run_editor.minimumSizeHint().width(),
            self.problem_panel.minimumSizeHint().width(),
            self.runs_panel.minimumSizeHint().width(),
        )
        return widest + scroll_bar + 12

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.backend_label = QLabel()
        self.backend_label.setToolTip("The array library and device the engine computes with")
        self.rate_label = QLabel()
        self.rate_label.setToolTip("Training speed: optimizer updates per second (all runs)")
        self.fps_label = QLabel()
        self.fps_label.setToolTip("Redraws per second of the plots")
        for label in (self.backend_label, self.rate_label, self.fps_label):
            label.setContentsMargins(10, 0, 10, 0)
            bar.addPermanentWidget(label)

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text.replace("&", "").rstrip("…"))
        action.setStatusTip(action.toolTip())
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work whichever dock has the focus
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.setToolTipsVisible(True)
        self._action(
            file,
            "&New",
            self.new_experiment,
            QKeySequence.StandardKey.New,
            "A new experiment (momentum vs Adam on Rosenbrock)",
        )
        self._action(
            file,
            "&Open…",
            self.open_dialog,
            QKeySequence.StandardKey.Open,
            "Open an experiment file (TOML)",
        )
        self.examples_menu = file.addMenu("Open &example")
        self.examples_menu.setToolTipsVisible(True)
        # the 2-D problems, then the networks under a separator of their own
        groups = (resources.example_paths(), resources.network_example_paths())
        for group, paths in enumerate(groups):
            if group and paths:
                self.examples_menu.addSection("Networks")
            for title, path in example_titles(paths):
                action = QAction(title, self)
                name = path.relative_to(resources.experiments_dir()).as_posix()
                action.setToolTip(f"Open the example {name}")
                action.triggered.connect(lambda _=False, p=path: self.open_example(p))
                self.examples_menu.addAction(action)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.setToolTipsVisible(True)
        self._fill_recent_menu()
        file.addSeparator()
        self._action(
            file,
            "&Save",
            self.save,
            QKeySequence.StandardKey.Save,
            "Save the experiment (the same TOML the command line runs)",
        )
        self._action(
            file,
            "Save &as…",
            self.save_as,
            QKeySequence.StandardKey.SaveAs,
            "Save the experiment under a new name",
        )
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit, "Close the window")

        export = bar.addMenu("&Export")
        export.setToolTipsVisible(True)
        self._action(
            export,
            "&Figure…",
            lambda: self.export_figure_dialog(self.shown_figure()),
            "Ctrl+E",
            "The view shown (the surface with the paths, or a network's decision boundaries or\n"
            "interpolation) as PNG (2×) or SVG, on a light background",
        )
        self.network_export_actions: list[tuple[str, QAction]] = []
        for which, png_tip, svg_tip in (
            (
                "surface",
                "The surface figure at {}× its size (light background)",
                "The surface figure as SVG (vector paths and text)",
            ),
            (
                "curves",
                "Loss and learning rate against step at {}× (light background)",
                "Loss and learning rate against step as SVG",
            ),
            (
                "boundary",
                "A network's decision boundaries, runs side by side, at {}× (2-D data sets)",
                "A network's decision boundaries as SVG (2-D data sets)",
            ),
            (
                "interpolation",
                "A network's loss between two runs' solutions at {}×",
                "A network's loss between two runs' solutions as SVG",
            ),
        ):
            actions = [
                self._action(
                    export,
                    f"{FIGURE_NAMES[which]} as PNG {scale}×…",
                    lambda _=False, w=which, s=scale: self.export_figure_dialog(w, s, "png"),
                    tip=png_tip.format(scale),
                )
                for scale in (1, 2, 3)
            ]
            actions.append(
                self._action(
                    export,
                    f"{FIGURE_NAMES[which]} as SVG…",
                    lambda _=False, w=which: self.export_figure_dialog(w, 1, "svg"),
                    tip=svg_tip,
                )
            )
            if which in ("boundary", "interpolation"):
                for action in actions:
                    action.setEnabled(False)  # until a network's views are there
                    self.network_export_actions.append((which, action))
            export.addSeparator()
        self._action(
            export,
            "Trajectories as &CSV…",
            self.export_csv_dialog,
            tip=f"{','.join(COLUMNS)} for every recorded step",
        )
        self._action(
            export,
            "Animation as &GIF…",
            lambda: self.export_animation_dialog("gif"),
            tip="The paths growing step by step, as an animated GIF",
        )
        mp4 = self._action(
            export,
            "Animation as &MP4…",
            lambda: self.export_animation_dialog("mp4"),
            tip="The animation as MP4 video",
        )
        if not exporting.mp4_available():
            mp4.setEnabled(False)
            mp4.setToolTip("MP4 needs ffmpeg: pip install imageio-ffmpeg")

        play = bar.addMenu("&Playback")
        play.setToolTipsVisible(True)
        self._action(
            play,
            "Play / pause",
            self.controller.toggle_play,
            Qt.Key.Key_Space,
            "Play or pause the animation",
        )
        self._action(
            play, "Step", self.controller.step_forward, Qt.Key.Key_Right, "Show one more update"
        )
        self._action(play, "Reset", self.controller.reset, Qt.Key.Key_R, "Back to step 0")
        self._action(
            play,
            "Faster",
            lambda: self._change_speed(+1),
            "Ctrl+Up",
            "Show more updates per second",
        )
        self._action(
            play,
            "Slower",
            lambda: self._change_speed(-1),
            "Ctrl+Down",
            "Show fewer updates per second",
        )

        view = bar.addMenu("&View")
        view.setToolTipsVisible(True)
        themes = QActionGroup(self)
        self.theme_actions = {}
        for name, text in (("light", "&Light theme"), ("dark", "&Dark theme")):
            action = QAction(text, self, checkable=True)
            action.setToolTip(f"Use the {name} theme (exports stay light)")
            action.setChecked(name == self.theme.name)
            action.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            themes.addAction(action)
            view.addAction(action)
            self.theme_actions[name] = action
        view.addSeparator()
        self.arrows_action = QAction("Gradient and update &arrows", self, checkable=True)
        self.arrows_action.setToolTip("Show −∇L and the update direction at each current point")
        self.arrows_action.setShortcut(QKeySequence("A"))
        self.arrows_action.setChecked(self.settings.show_arrows)
        self.arrows_action.toggled.connect(self.surface_view.set_show_arrows)
        view.addAction(self.arrows_action)
        self.addAction(self.arrows_action)
        self._action(
            view, "&Fit surface", self.surface_view.fit, "F", "Show the problem's usual view"
        )
        self.notes_action = QAction("Experiment &notes", self, checkable=True)
        self.notes_action.setToolTip("Show or hide the notes above the plots")
        self.notes_action.setShortcut(QKeySequence("N"))
        self.notes_action.setChecked(not self.notes_panel.is_collapsed())
        self.notes_action.toggled.connect(lambda on: self.notes_panel.set_collapsed(not on))
        self.notes_panel.sig_collapsed.connect(self._on_notes_collapsed)
        view.addAction(self.notes_action)
        self.addAction(self.notes_action)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        self._action(view, "Reset &layout", self.reset_layout, tip="Docks back where they were")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Shortcuts", self.show_shortcuts, tip="Keyboard shortcuts")
        self._action(help_menu, "&About Descent Lab", self.show_about, tip="About Descent Lab")

    # ---- theme -------------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        self.theme = theme_named(name)
        self.settings.theme = self.theme.name
        self._apply_theme(self.theme)
        action = self.theme_actions.get(self.theme.name)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def _apply_theme(self, theme: Theme) -> None:
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, theme)
        self.surface_view.apply_theme(theme)
        self.boundary_view.apply_theme(theme)
        self.interpolation_view.apply_theme(theme)
        self.curves_view.apply_theme(theme)
        self.runs_panel.error_color = theme.error
        self.runs_panel.refresh()
        self.banner.setStyleSheet(
            f"QLabel {{ background: {theme.error}; color: white; padding: 6px 10px; }}"
        )
        self.not_opened_banner.setStyleSheet(
            f"QLabel {{ background: {theme.error}; color: white; padding: 6px 10px;"
            " font-weight: 600; }"
        )
        self.caution.setStyleSheet(
            f"QLabel {{ border-bottom: 2px solid {theme.error}; padding: 4px 10px; }}"
        )

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self._default_sizes()

    def _on_arrows(self, on: bool) -> None:
        self.settings.show_arrows = on
        with QSignalBlocker(self.arrows_action):
            self.arrows_action.setChecked(on)

    def _change_speed(self, direction: int) -> None:
        # by ratio: the nearest by difference to "instant" (infinite) was always the first
        index = speed_index(self.controller.speed) + direction
        self.controller.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, index))])

    def _on_speed(self, speed: float) -> None:
        self.settings.speed = speed

    def _on_notes_collapsed(self, collapsed: bool) -> None:
        with QSignalBlocker(self.notes_action):
            self.notes_action.setChecked(not collapsed)

    def _on_frame(self, frame) -> None:
        if frame.new_data:  # perhaps the data's warnings (the worker has read the data)
            self._update_caution()
        network = getattr(frame.snapshot, "network", None)
        is_network = network is not None or bool(getattr(self.controller, "is_network", False))
        self._show_network_tabs(is_network, is_network and _two_features(frame, network))

    def _show_network_tabs(self, network: bool, two_d: bool) -> None:
        """The boundary tab for a network on a 2-D data set, the interpolation tab for any
        network; back to the surface when the tab shown goes."""
        key = (network, two_d)
        if key == self._network_tabs:
            return
        self._network_tabs = key
        # tabs added and removed rather than hidden: the tab bar hides itself when one is left
        current = self.views.currentWidget()
        while self.views.count() > 1:
            self.views.removeTab(1)
        for on, widget, title, tip in (
            (
                two_d,
                self.boundary_view,
                "Decision boundary",
                "Each run's predicted classes over the 2-D feature plane, at the playhead",
            ),
            (
                network,
                self.interpolation_view,
                "Interpolation",
                "The loss along the straight line between two runs' final weights",
            ),
        ):
            if on:
                self.views.setTabToolTip(self.views.addTab(widget, title), tip)
        index = self.views.indexOf(current)
        self.views.setCurrentIndex(max(index, 0))
        for which, action in self.network_export_actions:
            action.setEnabled(two_d if which == "boundary" else network)

    def shown_figure(self) -> str:
        """The figure of the view in the middle now."""
        widget = self.views.currentWidget()
        if widget is self.boundary_view:
            return "boundary"
        if widget is self.interpolation_view:
            return "interpolation"
        return "surface"

    # ---- status ------------------------------------------------------------------------------
    def _on_stats(self, stats: dict) -> None:
        backend = stats["backend"] or ""
        self.backend_label.setText(backend.split(" — ")[0])
        self.backend_label.setToolTip(
            "The array library and device the engine computes with"
            + (f"\n{backend}" if backend else "")
        )
        rate = stats["steps_per_second"]
        text = f"{rate:,.0f} steps/s × {stats['runs']} runs" if rate else ""
        if stats["progress"]:  # training, or waiting for a paused playhead (say which)
            text = stats["progress"] + (f" · {text}" if text and stats["busy"] else "")
        self.rate_label.setText(text)
        self.fps_label.setText(f"{stats['frames_per_second']:.0f} frames/s")

    def _on_engine_error(self, message: str) -> None:
        self.banner.setText(f"⚠ This setting can't be simulated: {message}" if message else "")
        self.banner.setVisible(bool(message))

    def _update_notes(self) -> None:
        c = self.controller
        experiment = c.experiment
        self.notes_panel.set_notes(experiment.title, experiment.description)
        self.notes_panel.set_edited(not c.notes_describe_it)

    def _update_caution(self) -> None:
        """The runner's warning lines for the document as it stands (one engine function),
        those that depend on the data once the worker has read them (a lookup here)."""
        c = self.controller
        warnings = c.file_warnings + experiment_warnings(c.experiment, c.training_examples())
        text = "\n".join(f"⚠ {line}" for line in warnings)
        if text != self.caution.text():
            self.caution.setText(text)
        self.caution.setVisible(bool(warnings))

    def _update_title(self) -> None:
        self._update_notes()
        self._update_caution()
        c = self.controller
        name = c.path.name if c.path else "untitled"
        failed = f"⚠ {self.not_opened[0].name} NOT OPENED — " if self.not_opened else ""
        self.setWindowTitle(f"{failed}{c.experiment.title} — {name}[*] — {APP_NAME}")
        self.setWindowModified(c.dirty)

    # ---- files -------------------------------------------------------------------------------
    def _warn(self, title: str, text: str, status: str | None = None) -> None:
        self.last_warning = text
        self.statusBar().showMessage(text if status is None else status, 10000)
        if self.interactive:
            QMessageBox.warning(self, title, text)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        if not self.controller.dirty:
            return True
        if not self.interactive:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to “{self.controller.experiment.title}”?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_experiment(self) -> None:
        if self.maybe_save():
            self._set_not_opened(None)
            self.controller.new_experiment()

    def _set_not_opened(self, failure: tuple[Path, str] | None, replaced: bool = False) -> None:
        """Say (``failure`` = (path, message)) or stop saying that a file was not opened, in
        the window's title and a banner above the plots; ``replaced``: the default
        experiment is shown in its place (at start-up), else the one shown before stays."""
        self.not_opened = failure
        if failure is None:
            self.not_opened_banner.setVisible(False)
        else:
            path, message = failure
            shown = self.controller.experiment.title
            instead = (
                f"Shown instead: the default experiment “{shown}”."
                if replaced
                else f"The experiment shown is still “{shown}”."
            )
            self.not_opened_banner.setText(f"⚠ {path} was NOT opened: {message}. {instead}")
            self.not_opened_banner.setVisible(True)
        self._update_title()

    def open_default(self) -> None:
        path = resources.default_experiment()
        if path.is_file():
            self.open_example(path)
        else:
            self.controller.set_experiment(self.controller.experiment, None, saved=True)

    def open_example(self, path: Path) -> bool:
        """An example opens as a new, unsaved experiment (Save asks where)."""
        if not self.maybe_save():
            return False
        try:
            self.controller.open(path, as_copy=True)  # never overwrite the shipped example
        except ExperimentError as exc:
            self._warn("Cannot open the example", str(exc))
            return False
        self._set_not_opened(None)
        return True

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open experiment", self.settings.last_dir, EXPERIMENT_FILTER
        )
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path: str | Path, *, ask: bool = True, fallback: bool = False) -> bool:
        """Open ``path``; a broken file is reported (naming the key at fault) and the
        current experiment stays, or with ``fallback`` (at start-up, when there is none yet)
        the default one opens in its place, then the report comes, so that what is behind
        the message is what stays. Either way the title and a banner say the file was not
        opened until another experiment is."""
        if ask and not self.maybe_save():
            return False
        try:
            self.controller.open(path)
        except ExperimentError as exc:
            if fallback:
                self.open_default()
            message = str(exc)
            for named in (str(path), str(Path(path).resolve())):  # the banner names it once
                message = message.removeprefix(f"{named}: ")
            self._set_not_opened((Path(path), message), fallback)
            shown = self.controller.experiment.title
            instead = (
                f"The default experiment “{shown}” is shown instead."
                if fallback
                else f"The experiment shown is still “{shown}”."
            )
            self._warn(
                "Cannot open the experiment",
                f"{Path(path).name} was not opened:\n\n{exc}\n\n{instead}",
                status=f"⚠ Not opened: {exc}",
            )
            return False
        self._set_not_opened(None)
        self.settings.last_dir = str(Path(path).resolve().parent)
        self.settings.add_recent_file(path)
        self._fill_recent_menu()
        self.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def save(self) -> bool:
        if self.controller.path is None:
            return self.save_as()
        return self.save_to(self.controller.path)

    def save_as(self) -> bool:
        start = Path(self.settings.last_dir) / _file_name(self.controller.experiment.title)
        path, _ = QFileDialog.getSaveFileName(
            self, "Save experiment", str(start), EXPERIMENT_FILTER
        )
        if not path:
            return False
        if not path.lower().endswith(".toml"):
            path += ".toml"
        return self.save_to(path)

    def save_to(self, path: str | Path) -> bool:
        try:
            saved = self.controller.save(path)
        except OSError as exc:
            self._warn("Cannot save", f"{path}: {exc.strerror or exc}")
            return False
        self.settings.last_dir = str(saved.parent)
        self.settings.add_recent_file(saved)
        self._fill_recent_menu()
        self.statusBar().showMessage(f"Saved {saved}", 4000)
        return True

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            action = QAction(Path(path).name, self)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
            self.recent_menu.addAction(action)
        if files:
            self.recent_menu.addSeparator()
            clear = QAction("Clear the list", self)
            clear.setToolTip("Forget the recently opened files")
            clear.triggered.connect(self._clear_recent)
            self.recent_menu.addAction(clear)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._fill_recent_menu()

    # ---- export ------------------------------------------------------------------------------
    def current_frame(self):
        frame = self.controller.current_frame()
        if frame is None:
            frame = self.surface_view._frame
        return frame

    def _export_target(self, title: str, suffix: str, kind: str) -> Path | None:
        stem = _file_name(self.controller.experiment.title, suffix="")
        start = Path(self.settings.last_dir) / f"{stem}{'_' + kind if kind else ''}.{suffix}"
        filters = {
            "png": "PNG image (*.png)",
            "svg": "SVG drawing (*.svg)",
            "csv": "CSV table (*.csv)",
            "gif": "Animated GIF (*.gif)",
            "mp4": "MP4 video (*.mp4)",
        }
        path, _ = QFileDialog.getSaveFileName(self, title, str(start), filters[suffix])
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != f".{suffix}":
            path = path.with_name(path.name + f".{suffix}")
        self.settings.last_dir = str(path.parent)
        return path

    def export_figure_dialog(self, which: str, scale: int = 2, suffix: str | None = None) -> None:
        if suffix is None:
            path, chosen = QFileDialog.getSaveFileName(
                self,
                "Export figure",
                str(
                    Path(self.settings.last_dir)
                    / _file_name(self.controller.experiment.title, suffix=f"_{which}.png")
                ),
                "PNG image, 2× (*.png);;SVG drawing (*.svg)",
            )
            if not path:
                return
            path = Path(path)
            if path.suffix.lower() not in (".png", ".svg"):
                path = path.with_name(path.name + (".svg" if "SVG" in chosen else ".png"))
            self.settings.last_dir = str(path.parent)
        else:
            path = self._export_target("Export figure", suffix, which)
            if path is None:
                return
        self.export_figure(which, path, scale)

    def export_figure(self, which: str, path: str | Path, scale: int = 2) -> bool:
        frame = self.current_frame()
        view = None
        if which == "surface":
            (x0, x1), (y0, y1) = self.surface_view.viewbox.viewRange()
            view = (x0, x1, y0, y1)
        try:
            exporting.export_figure(frame, which, path, scale, view=view)
        except (OSError, ValueError) as exc:
            self._warn("Cannot export", f"{path}: {exc}")
            return False
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    def export_csv_dialog(self) -> None:
        path = self._export_target("Export trajectories", "csv", "trajectories")
        if path is not None:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> bool:
        if not self.controller.wait_until_computed(60):
            self.statusBar().showMessage("Exporting what has been computed so far", 5000)
        try:
            exporting.export_csv(self.current_frame(), path)
        except (OSError, ValueError) as exc:
            self._warn("Cannot export", f"{path}: {exc}")
            return False
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    def export_animation_dialog(self, suffix: str) -> None:
        path = self._export_target("Export animation", suffix, "animation")
        if path is not None:
            self.export_animation(path)

    def export_animation(self, path: str | Path, frames: int = exporting.GIF_FRAMES) -> bool:
        self.controller.wait_until_computed(60)
        (x0, x1), (y0, y1) = self.surface_view.viewbox.viewRange()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        started = time.perf_counter()
        try:
            exporting.export_animation(
                self.current_frame(), path, frames, view=((x0, x1), (y0, y1))
            )
        except (OSError, ValueError, RuntimeError) as exc:
            self._warn("Cannot export", f"{path}: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.statusBar().showMessage(
            f"Exported {path} ({time.perf_counter() - started:.1f} s)", 5000
        )
        return True

    # ---- help --------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Shortcuts",
            "Space  play / pause\n→  one more update\nR  back to step 0\n"
            "Ctrl+↑ / Ctrl+↓  faster / slower\nA  gradient and update arrows\n"
            "F  fit the surface\nN  the experiment's notes\n"
            "Ctrl+S  save\nCtrl+E  export the figure\n\n" + self.surface_view.start_hint(),
        )

    def show_about(self) -> None:
        backend = self.controller.snapshot.backend if self.controller.snapshot else ""
        QMessageBox.about(
            self,
            "About Descent Lab",
            "<b>Descent Lab</b><br>A desktop laboratory for the mechanics of training:"
            " minibatches, momentum, adaptive learning rates and schedules.<br><br>"
            f"Engine: {backend}",
        )

    # ---- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState(LAYOUT_VERSION))
        self.settings.sync()
        self.controller.shutdown()
        event.accept()

    def wait_for_engine(self, timeout: float = 30.0) -> bool:
        return self.controller.wait_until_computed(timeout)


def default_window_rect(x: int, y: int, width: int, height: int):
    """((x, y, width, height), maximized) of a first start on a screen area: on a screen up to
    1600 × 900 (1280 × 720, 1366 × 768...) all of it, maximized, and also sized to it where
    nothing maximizes (Xvfb without a window manager); on a larger one 94 % × 92 %, centred."""
    if width <= 1600 or height <= 900:
        return (x, y, width, height), True
    w, h = int(width * 0.94), int(height * 0.92)
    return (x + (width - w) // 2, y + (height - h) // 2, w, h), False


def default_dock_widths(window_width: int, left_needs: int) -> tuple[int, int]:
    """(left, right) dock widths: the left at least what its controls need, both about a
    quarter of the window, and the surface between them at least 40 % of it."""
    left = max(left_needs, min(440, int(window_width * 0.26)))
    right = max(300, min(480, int(window_width * 0.24)))
    spare = int(window_width * 0.6) - left  # what the two docks may take together
    return left, max(240, min(right, spare))


def example_titles(paths: list[Path]) -> list[tuple[str, Path]]:
    """(title, path) of each of the shipped examples ``paths``, by title: a menu of what they
    are about rather than of file names. Only the ``title`` is read here; a file that cannot
    be read is listed by its name and reports its error when opened."""
    titled = []
    for path in paths:
        try:
            title = str(tomllib.loads(path.read_text(encoding="utf-8")).get("title", ""))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            title = ""
        titled.append((title.strip() or path.stem.replace("_", " "), path))
    return sorted(titled, key=lambda item: item[0].lower())


class FittedScrollArea(QScrollArea):
    """Scrolls vertically only, and is never narrower than its panel's widest row: a dock
    that holds it cannot be dragged or squeezed so narrow that fields are cut off at the
    right, and it widens when the panel grows (a run with minibatch settings)."""

    def __init__(self, widget: QWidget):
        super().__init__()
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        widget.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        width = self.widget().minimumSizeHint().width() + bar + 2
        return QSize(max(hint.width(), width), hint.height())

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the panel's minimum may have changed: tell the dock
        return super().eventFilter(watched, event)


def _two_features(frame, network) -> bool:
    """The network's data set has two features (a boundary over them can be drawn)."""
    if network is not None and getattr(network, "boundary", None) is not None:
        return True
    built = frame.snapshot.built
    split = getattr(getattr(built, "problem", None), "split", None)
    x = getattr(split, "x_train", None)
    return x is not None and getattr(x, "ndim", 0) == 2 and x.shape[1] == 2


def _scrolled(widget: QWidget) -> QScrollArea:
    return FittedScrollArea(widget)


def _file_name(title: str, suffix: str = ".toml") -> str:
    stem = "".join(ch if ch.isalnum() else "_" for ch in title.lower()).strip("_")
    while "__" in stem:
        stem = stem.replace("__", "_")
    return (stem or "experiment") + suffix
