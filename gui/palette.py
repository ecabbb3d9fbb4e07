"""The colours every figure and view starts from: the runs' palette, the light slide
background, the minimum's star and the surface's colour map. ``gui/theme.py`` builds the
app's light and dark themes on these; exported figures always use them as they are."""

from __future__ import annotations

from collections.abc import Sequence

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
