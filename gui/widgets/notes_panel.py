"""The experiment's notes (its ``title`` and ``description``) above the plots.

They say what to look at, so they are open when an experiment opens; the header's arrow
collapses them to one line (the title) for more room, and the next experiment opened shows
its notes again. Long notes scroll inside a few lines instead of taking the surface's room.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

NO_DESCRIPTION = (
    'This experiment has no description. Add one as description = """…""" at the top of its file.'
)
EDITED = "Edited since it was opened: these notes describe the file as it was."
EDITED_TIP = (
    "The notes quote the numbers of the experiment as it was opened; a setting changed since "
    "(a rate, a batch size…), so the plots show another experiment. Undo the change, or "
    "open the file again, to see what the notes describe."
)
MAX_LINES = 6  # taller notes scroll: the surface keeps its room on a 768-pixel screen
MAX_LINES_TALL = 8  # in a window 900 px tall or more


def notes_html(description: str) -> str:
    """Paragraphs of the description (a blank line separates two), lines joined."""
    text = description.strip() or NO_DESCRIPTION
    return "".join(f"<p>{escape(' '.join(p.split()), quote=False)}</p>" for p in text.split("\n\n"))


class NotesPanel(QFrame):
    sig_collapsed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("notes_panel")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self._html = ""
        self._expanded = True

        self.toggle = QToolButton()
        self.toggle.setAutoRaise(True)
        self.toggle.setText("Notes")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setToolTip("Show or hide the experiment's notes (N)")
        self.toggle.clicked.connect(lambda: self.set_collapsed(self._expanded))
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip("The experiment's title")
        # after an edit, the notes' numbers are of another experiment: said above them
        self._edited = False
        self.edited = QLabel(EDITED)
        self.edited.setTextFormat(Qt.TextFormat.PlainText)
        self.edited.setToolTip(EDITED_TIP)
        self.edited.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        font = self.edited.font()
        font.setItalic(True)
        self.edited.setFont(font)
        self.edited.setWordWrap(True)
        self.edited.setVisible(False)
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 8, 0)
        header.setSpacing(4)
        header.addWidget(self.toggle)
        header.addWidget(self.title, 1)

        self.body = QTextBrowser()
        self.body.setObjectName("notes_body")
        self.body.setOpenExternalLinks(True)
        self.body.setFrameShape(QFrame.Shape.NoFrame)
        self.body.setToolTip("What this experiment shows and what to try (its description)")
        self.body.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.body.document().setDocumentMargin(2)
        self.body.document().documentLayout().documentSizeChanged.connect(self._fit_height)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Plain)
        line.setForegroundRole(QPalette.ColorRole.Mid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        body_row = QHBoxLayout()
        body_row.setContentsMargins(26, 0, 8, 4)  # under the title, past the arrow
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.edited)
        column.addWidget(self.body)
        body_row.addLayout(column)
        layout.addLayout(body_row)
        layout.addWidget(line)
        self._show_expanded()

    # ---- content -----------------------------------------------------------------------------
    def set_notes(self, title: str, description: str) -> None:
        """Show an experiment's notes; new notes open even where the old ones were collapsed
        (a student who opens another example is to read what it is about)."""
        html = notes_html(description)
        self.title.setText(title)
        if html != self._html:
            self._html = html
            self.body.setHtml(html)
            self.set_collapsed(False)
        self._fit_height()

    def set_edited(self, edited: bool) -> None:
        """Say (or stop saying) that the experiment was edited since its notes were written."""
        self._edited = edited
        self._show_expanded()

    def plain_text(self) -> str:
        return self.body.toPlainText()

    # ---- collapsing --------------------------------------------------------------------------
    def is_collapsed(self) -> bool:
        return not self._expanded

    def set_collapsed(self, collapsed: bool) -> None:
        if self._expanded == (not collapsed):
            return
        self._expanded = not collapsed
        self._show_expanded()
        self.sig_collapsed.emit(collapsed)

    def _show_expanded(self) -> None:
        arrow = Qt.ArrowType.DownArrow if self._expanded else Qt.ArrowType.RightArrow
        self.toggle.setArrowType(arrow)
        self.body.setVisible(self._expanded)
        self.edited.setVisible(self._expanded and self._edited)

    # ---- height ------------------------------------------------------------------------------
    def _fit_height(self, *_args) -> None:
        """As tall as the text, up to MAX_LINES lines (MAX_LINES_TALL in a tall window)."""
        document = self.body.document()  # laid out at the viewport's width by the browser
        line = self.body.fontMetrics().lineSpacing()
        lines = MAX_LINES_TALL if self.window().height() >= 900 else MAX_LINES
        margins = 2 * int(document.documentMargin()) + 2
        content = int(document.size().height()) + 2
        height = max(line + margins, min(content, lines * line + margins))
        if self.body.height() != height:
            self.body.setFixedHeight(height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()
