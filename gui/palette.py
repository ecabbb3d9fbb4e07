"""The colours every figure and view starts from: the runs' palette, the light slide
background, the minimum's star and the surface's colour map. ``gui/theme.py`` builds the
app's light and dark themes on these; exported figures always use them as they are."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

#: Run colours: distinguishable, saturated enough to read over the pale surface, and in an
#: order where neighbours differ in hue and lightness (after Tableau 10 and Okabe–Ito).
RUN_COLORS: tuple[str, ...] = (
    "#1f6fd1",  # blue
    "#e0362c",  # red
    "#1a9a4b",  # green
    "#f28e1c",  # orange
    "#8a4fc7",  # purple
    "#11a3b8",  # teal
    "#d4479b",  # magenta
    "#8c5a2b",  # brown
    "#3d3d3d",  # near black
    "#a59a00",  # olive
)

BACKGROUND = "#ffffff"
FOREGROUND = "#262626"  # axes, ticks, titles
CONTOUR_COLOR = (70, 84, 102, 110)  # grey-blue, translucent: the paths stay in front
MINIMUM_COLOR = "#ffd400"
MINIMUM_EDGE = "#3d3d3d"

#: The surface's colour map: pale cream at the bottom of the loss to a soft slate blue at
#: the top, so that the saturated run colours stand out everywhere.
SURFACE_STOPS = (
    (0.00, "#fffbe6"),
    (0.25, "#eef4e4"),
    (0.50, "#d7e7ee"),
    (0.75, "#adc5dc"),
    (1.00, "#7d98bb"),
)


def run_color(index: int, explicit: str | None = None) -> str:
    """The colour of run ``index``: its own ``color`` if it has one, else the palette's."""
    if explicit:
        return explicit
    return RUN_COLORS[index % len(RUN_COLORS)]


def surface_colormap(stops: Sequence[tuple[float, str]] = SURFACE_STOPS) -> pg.ColorMap:
    return pg.ColorMap([p for p, _ in stops], [pg.mkColor(c) for _, c in stops])


#: Class colours of a decision boundary (Okabe–Ito, colour-blind safe): the regions take them
#: translucent by confidence, the training points opaque. Not the run colours: a panel is one
#: run, its colours are the classes.
CLASS_COLORS: tuple[str, ...] = (
    "#0072b2",  # blue
    "#e69f00",  # orange
    "#009e73",  # green
    "#cc79a7",  # pink
    "#56b4e9",  # sky
    "#d55e00",  # vermilion
    "#f0e442",  # yellow
    "#7f7f7f",  # grey
    "#9467bd",  # purple
    "#8c564b",  # brown
)
REGION_ALPHA = (0.12, 0.62)  # a region's opacity at chance confidence (1/K) and at certainty


def class_rgb(n: int) -> np.ndarray:
    """(n, 3) uint8 colours of classes 0 … n − 1 (the palette repeats beyond ten)."""
    rgb = [pg.mkColor(CLASS_COLORS[k % len(CLASS_COLORS)]).getRgb()[:3] for k in range(n)]
    return np.asarray(rgb, np.uint8).reshape(n, 3)


def region_alpha(confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """Opacity (0 … 1) of a region pixel whose predicted class has probability
    ``confidence``: faint where the network hesitates (1/K: chance), strong where it is sure."""
    chance = 1.0 / max(n_classes, 2)
    sure = np.clip((np.asarray(confidence, float) - chance) / (1.0 - chance), 0.0, 1.0)
    low, high = REGION_ALPHA
    return low + (high - low) * np.nan_to_num(sure, nan=0.0)


def region_image(classes: np.ndarray, confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """``(res, res, 4)`` uint8 RGBA of predicted ``classes`` (row j is y, column i is x):
    each pixel its class's colour, as opaque as the prediction is confident."""
    classes = np.asarray(classes)
    rgb = class_rgb(max(int(n_classes), int(classes.max(initial=0)) + 1))
    out = np.empty((*classes.shape, 4), np.uint8)
    out[..., :3] = rgb[classes]
    out[..., 3] = np.round(255 * region_alpha(confidence, n_classes)).astype(np.uint8)
    return out
