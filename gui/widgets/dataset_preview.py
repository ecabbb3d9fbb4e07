"""A small picture of a network's data set under the problem panel's chooser: a grid of a few
digits, or the 2-D points coloured by class, with a one-line caption.

The data come from ``engine.datasets`` on the GUI thread: a lookup, these sets are small
(1,797 digits; a generated set is a few hundred points unless asked for more) and each is made
once per (data set, seed, samples, noise, classes) — dragging the noise slider back and forth
makes nothing twice. A set that can't be made (three points of moons, a bad CSV cell) shows
the engine's one-line reason in the caption instead.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from engine import datasets
from engine.datasets import Dataset, DatasetError
from gui.palette import CLASS_COLORS

MAX_DRAWN = 3000  # points in the scatter: the sets come shuffled, so the first N are a sample
THUMBNAIL_ROWS = 2
# the picture beside its caption, small: a network's panel must fit a 1366 × 768 screen
# beside the other views (two rows of five digits: each digit once)
CANVAS_WIDTH, CANVAS_HEIGHT = 116, 44  # (two rows of digits; the panel's height is scarce)


@functools.lru_cache(maxsize=32)
def _generated(name: str, seed: int, samples, noise, classes) -> Dataset:
    return datasets.generate(name, seed, samples, noise, classes)


@functools.lru_cache(maxsize=1)
def _digits() -> Dataset:
    return datasets.load_digits()


@functools.lru_cache(maxsize=8)
def _csv(path: str, modified_ns: int, label_column: str) -> Dataset:
    return datasets.read_csv(path, label_column)  # modified_ns: a rewritten file is read again


def preview_dataset(problem: Mapping, seed: int, base_dir: Path) -> Dataset:
    """The data set a network problem section (``problem.model_dump()``) names, made as the
    engine makes it; raises ``DatasetError`` with the engine's reason."""
    name = problem.get("dataset", "digits")
    if name == "digits":
        return _digits()
    if name in datasets.GENERATORS:
        return _generated(
            name, seed, problem.get("samples"), problem.get("noise"), problem.get("classes")
        )
    if name.lower().endswith(".csv"):
        path = (Path(base_dir) / name).resolve()
        try:
            modified = path.stat().st_mtime_ns
        except OSError as exc:
            raise DatasetError(f"cannot read data file {path}: {exc.strerror or exc}") from None
        return _csv(str(path), modified, problem.get("label_column", "label"))
    raise DatasetError(f"unknown data set {name!r}")


def csv_columns(path: Path) -> list[str]:
    """The column names in a CSV's header row ([] when it can't be read: the reader will
    say why)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                if any(cell.strip() for cell in row):
                    return [cell.strip() for cell in row]
    except (OSError, UnicodeDecodeError, csv.Error):
        pass
    return []


def class_color(c: int) -> QColor:
    """Class ``c``'s colour: the decision boundary's (one palette of classes, not the runs')."""
    return QColor(CLASS_COLORS[c % len(CLASS_COLORS)])


class _Canvas(QWidget):
    """Paints what ``DatasetPreview`` gives it: thumbnails, a scatter, or nothing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(CANVAS_WIDTH, CANVAS_HEIGHT)
        self.images: np.ndarray | None = None  # (K, 8, 8) in 0 … 1, ink = 1
        self.image_labels: np.ndarray | None = None
        self.groups: list[np.ndarray] = []  # per class: (n_c, 2) points to draw

    def thumbnail_count(self) -> int:
        """How many thumbnails fit: THUMBNAIL_ROWS rows of square cells across the width."""
        cell = (self.height() - 2) // THUMBNAIL_ROWS
        return THUMBNAIL_ROWS * max(1, (self.width() - 2) // cell)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        if self.images is not None:
            self._paint_thumbnails(painter, palette.base().color(), palette.text().color())
        elif self.groups:
            self._paint_scatter(painter)
        painter.end()

    def _paint_thumbnails(self, painter: QPainter, paper: QColor, ink: QColor) -> None:
        cell = (self.height() - 2) // THUMBNAIL_ROWS
        per_row = max(1, (self.width() - 2) // cell)
        paper_rgb = np.array([paper.red(), paper.green(), paper.blue()], float)
        ink_rgb = np.array([ink.red(), ink.green(), ink.blue()], float)
        for k, image in enumerate(self.images[: self.thumbnail_count()]):
            rgb = paper_rgb + image[..., None] * (ink_rgb - paper_rgb)  # (8, 8, 3)
            argb = np.empty((8, 8), np.uint32)
            r, g, b = (np.round(rgb[..., i]).astype(np.uint32) for i in range(3))
            argb[:] = 0xFF000000 | (r << 16) | (g << 8) | b
            picture = QImage(argb.tobytes(), 8, 8, 32, QImage.Format.Format_RGB32).copy()
            row, col = divmod(k, per_row)
            target = QRectF(1 + col * cell + 1, 1 + row * cell + 1, cell - 2, cell - 2)
            painter.drawImage(target, picture)  # no smoothing: the pixels of an 8×8 digit

    def _paint_scatter(self, painter: QPainter) -> None:
        every = np.vstack(self.groups)
        lo, hi = every.min(axis=0), every.max(axis=0)
        span = np.maximum(hi - lo, 1e-12)
        margin = 5.0
        width, height = self.width() - 2 * margin, self.height() - 2 * margin
        scale = min(width / span[0], height / span[1])  # equal aspect: circles stay round
        offset = np.array(
            [margin + (width - scale * span[0]) / 2, margin + (height - scale * span[1]) / 2]
        )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        dot = 3.0 if len(every) <= 150 else 2.0  # a few hundred dots in 50 px: smaller ones
        for c, points in enumerate(self.groups):
            pen = QPen(class_color(c), dot)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            x = offset[0] + scale * (points[:, 0] - lo[0])
            y = self.height() - (offset[1] + scale * (points[:, 1] - lo[1]))  # y up
            painter.drawPoints(QPolygonF([QPointF(a, b) for a, b in zip(x, y, strict=True)]))


class DatasetPreview(QWidget):
    """Thumbnails of the digits, the points of a 2-D set by class, or a summary of a CSV."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = _Canvas()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 0.9)  # a note beside the picture
        self.caption.setFont(font)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.canvas)
        layout.addWidget(self.caption, 1)
        self.setToolTip("The data set: a few of its images, or its points coloured by class")
        self.dataset: Dataset | None = None
        self.error = ""

    def show_problem(self, problem: Mapping, seed: int, base_dir: Path) -> None:
        """Look the problem's data set up (cached) and show it, or the reason it can't be."""
        try:
            self.show_dataset(preview_dataset(problem, seed, base_dir))
        except DatasetError as exc:
            self.show_error(str(exc))

    def show_dataset(self, dataset: Dataset) -> None:
        self.dataset, self.error = dataset, ""
        canvas = self.canvas
        canvas.images = canvas.image_labels = None
        canvas.groups = []
        n, d, k = dataset.n_examples, dataset.n_features, dataset.n_classes
        words = f"{dataset.name}: {n:,} examples, {d} features, {k} classes"
        if dataset.name == "digits" and d == 64:
            order = _round_robin(dataset.y, k)
            images = datasets.digit_images(dataset)[order]
            canvas.images = images / max(float(images.max()), 1.0)
            canvas.image_labels = dataset.y[order]
            words = f"digits: {n:,} images of 8×8 pixels, {k} classes"
        elif d == 2:
            drawn = dataset.x[:MAX_DRAWN], dataset.y[:MAX_DRAWN]
            canvas.groups = [drawn[0][drawn[1] == c] for c in range(k)]
            words = f"{dataset.name}: {n:,} points, {k} classes"
            if n > MAX_DRAWN:
                words += f" ({MAX_DRAWN:,} drawn)"
        self.canvas.setVisible(canvas.images is not None or bool(canvas.groups))
        self.caption.setStyleSheet("")
        self.caption.setText(words)
        self.caption.setToolTip(words)
        canvas.update()

    def show_error(self, message: str) -> None:
        self.dataset, self.error = None, message
        self.canvas.images = self.canvas.image_labels = None
        self.canvas.groups = []
        self.canvas.setVisible(False)
        self.caption.setStyleSheet("QLabel { color: #e03131; }")
        self.caption.setText(message)
        self.caption.setToolTip(message)

    def note(self, message: str) -> None:
        """A line under the picture, in red (a refused change: the picture is as it was)."""
        self.caption.setStyleSheet("QLabel { color: #e03131; }")
        self.caption.setText(message)
        self.caption.setToolTip(message)

    # ---- what is drawn (for tests and read-outs) ----------------------------------------------
    def points_per_class(self) -> tuple[int, ...]:
        """How many points the scatter draws in each class (empty: no scatter)."""
        return tuple(len(g) for g in self.canvas.groups)

    def thumbnail_labels(self) -> tuple[int, ...]:
        """The classes of the thumbnails that fit, in the order drawn (empty: none)."""
        if self.canvas.image_labels is None:
            return ()
        return tuple(int(c) for c in self.canvas.image_labels[: self.canvas.thumbnail_count()])


def _round_robin(y: np.ndarray, classes: int, per_class: int = 4) -> np.ndarray:
    """Indices of examples taking the classes in turn: the first of class 0, 1, …, then the
    second of each: a row of thumbnails shows every digit."""
    firsts = [np.flatnonzero(y == c)[:per_class] for c in range(classes)]
    order = []
    for i in range(per_class):
        order.extend(int(f[i]) for f in firsts if i < len(f))
    return np.array(order, dtype=np.int64)
