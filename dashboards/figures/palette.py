"""Colours and icons that read the same for everyone.

Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), always paired
with an icon and a word, so status never rests on colour alone; they keep their contrast on
both the light and the dark theme.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class StatusStyle:
    colour: str
    icon: str  # a plain glyph that survives CSV export and screen readers
    material: str  # Streamlit's Material icon, for st.metric/st.badge
    word: str


STATUS: dict[str, StatusStyle] = {
    "ok": StatusStyle("#009E73", "✔", ":material/check_circle:", "OK"),
    "warning": StatusStyle("#E69F00", "▲", ":material/warning:", "Warning"),
    "breach": StatusStyle("#D55E00", "✖", ":material/error:", "Breach"),
    "no-data": StatusStyle("#8C8C8C", "?", ":material/help:", "No data"),
}

#: Status order on the scorecard: the worst first.
STATUS_ORDER = ("breach", "warning", "no-data", "ok")

BLUE = "#0072B2"
SKY = "#56B4E9"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
GREY = "#8C8C8C"

#: Series colours for categories (services, queues), in a fixed order: seven that stay apart for
#: every reader. A chart never draws more series than these (:func:`dashboards.figures.ops.top_series`
#: folds the rest into one "other" series, in :data:`OTHER`), so no two series share a colour.
SERIES = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW)
#: The colour of the "other" series, which holds every series past the first :data:`MAX_SERIES`.
OTHER = GREY
MAX_SERIES = len(SERIES)

#: Error-rate scale for edges: 0 -> blue, 5% -> orange, >= 20% -> vermillion.
ERROR_SCALE = ((0.0, BLUE), (0.05, ORANGE), (0.2, VERMILLION))


def style(status: str) -> StatusStyle:
    return STATUS.get(status, STATUS["no-data"])


def series_colour(index: int) -> str:
    """The colour of the ``index``-th series; past :data:`MAX_SERIES` the grey of "other"."""
    return SERIES[index] if 0 <= index < len(SERIES) else OTHER


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def error_colour(rate: float) -> str:
    """Interpolate the error scale: an edge's colour says how much of its traffic fails."""
    stops = ERROR_SCALE
    if rate <= stops[0][0]:
        return stops[0][1]
    for (x0, c0), (x1, c1) in itertools.pairwise(stops):
        if rate <= x1:
            f = (rate - x0) / (x1 - x0)
            a, b = _rgb(c0), _rgb(c1)
            return "#{:02X}{:02X}{:02X}".format(*(round(p + (q - p) * f) for p, q in zip(a, b, strict=True)))
    return stops[-1][1]
