"""One symbology: the colours and ramps of the web map, the QGIS styles and the static maps.

:mod:`toolkit.outputs.webmap` (Leaflet) and :mod:`toolkit.outputs.styles` (QGIS QML / SLD, and through it the static
report maps) both draw from here, so a class has the same colour in the browser, in QGIS and in the PDF.
The names of what is drawn come from the glossary (:mod:`toolkit.labels`, ``data/labels.toml``).

Examples
--------
>>> ramp(RAMP_COVERAGE, 3)
['#d7191c', '#ffffbf', '#1a9641']
>>> category_colour("transit") in CATEGORY_PALETTE
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: share / count of categories within reach: red (none) to green (all)
RAMP_COVERAGE = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
#: walkability index: red (least walkable) to green
RAMP_WALK = ["#d7191c", "#ffffbf", "#1a9641"]
#: severity of underserved blocks, residents in underserved blocks
RAMP_REDS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]
#: blocks by heritage class
HERITAGE_COLOURS = {"core": "#8c2d04", "buffer": "#fdae6b", "none": "#f7f7f7"}
#: heritage protection zones by kind (outlines on the map, fill and outline in QGIS)
ZONE_COLOURS = {"style_area": "#b15928", "compound": "#8e0152"}
#: one colour per facility category, by its place in data/categories.toml (see :func:`category_colour`)
CATEGORY_PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
                    "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494"]
#: a block or class without a value
NO_DATA = "#cccccc"
#: polygon outlines
OUTLINE = "#555555"
#: a within-reach layer: beyond / within
WITHIN_NO, WITHIN_YES = "#d7191c", "#1a9641"
#: protected roads (never widen, teal) and pedestrian-hostile roads (red)
PROTECTED_ROAD, HOSTILE_ROAD = "#01665e", "#e31a1c"
#: listed buildings
LISTED_BUILDING = "#8c2d04"
#: the waterfront bank: runs with public access / gaps (magenta: not the red of hostile roads); access points
BANK_ACCESS, BANK_GAP, WATERFRONT_ACCESS = "#1a9641", "#e7298a", "#1f78b4"
#: candidate sites: (fill, outline) of a selected hub and of any other candidate
SITE_SELECTED, SITE_CANDIDATE = ("#fdd0a2", "#000000"), ("#9e9ac8", "#54278f")

#: the colours drawn over the block layers at the same time (lines, outlines, points): each means one thing,
#: so tests/test_symbology.py keeps them apart (see :func:`distance`)
OVERLAY_SYMBOLS = {"protected_road": PROTECTED_ROAD, "hostile_road": HOSTILE_ROAD, "bank_access": BANK_ACCESS,
                   "bank_gap": BANK_GAP, "waterfront_access": WATERFRONT_ACCESS, "listed_building": LISTED_BUILDING,
                   "zone_style_area": ZONE_COLOURS["style_area"], "zone_compound": ZONE_COLOURS["compound"],
                   "site_selected": SITE_SELECTED[1], "site_candidate": SITE_CANDIDATE[1], "outline": OUTLINE}


def distance(a: str, b: str) -> float:
    """A rough perceptual distance of two colours (the "redmean" weighted RGB distance, 0 to about 765).

    Examples
    --------
    >>> distance("#000000", "#000000")
    0.0
    >>> round(distance("#d7191c", "#e31a1c"))  # the bank-gap and hostile-road reds of an earlier palette
    20
    """
    (r1, g1, b1), (r2, g2, b2) = rgb(a), rgb(b)
    rm = (r1 + r2) / 2
    return float(((2 + rm / 256) * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2 + (2 + (255 - rm) / 256) * (b1 - b2) ** 2)
                 ** 0.5)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``(r, g, b)`` of ``"#rrggbb"``."""
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(min(max(float(c), 0.0), 255.0)):02x}" for c in rgb)


def ramp(colours: Sequence[str], n: int) -> list[str]:
    """``n`` colours evenly spaced along the piecewise-linear ramp through ``colours``.

    Parameters
    ----------
    colours : sequence of str
        The ramp's stops, ``"#rrggbb"``, first to last.
    n : int
        Number of colours wanted (one per class); 1 gives the last stop, 0 or less none.

    Returns
    -------
    list of str

    Examples
    --------
    >>> ramp(["#000000", "#ffffff"], 3)
    ['#000000', '#808080', '#ffffff']
    """
    if n <= 0:
        return []
    if n == 1:
        return [colours[-1]]
    stops = np.array([rgb(c) for c in colours], dtype=float)
    pos = np.linspace(0, 1, len(colours))
    return [_hex([np.interp(t, pos, stops[:, k]) for k in range(3)]) for t in np.linspace(0, 1, n)]


def category_colour(category: str) -> str:
    """A stable colour per facility category (by its place in data/categories.toml)."""
    from .standards import categories

    names = list(categories())
    i = names.index(category) if category in names else len(names) + sum(map(ord, category))
    return CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)]


__all__ = ["BANK_ACCESS", "BANK_GAP", "CATEGORY_PALETTE", "HERITAGE_COLOURS", "HOSTILE_ROAD", "LISTED_BUILDING",
           "NO_DATA", "OUTLINE", "OVERLAY_SYMBOLS", "PROTECTED_ROAD", "RAMP_COVERAGE", "RAMP_REDS", "RAMP_WALK",
           "SITE_CANDIDATE", "SITE_SELECTED", "WATERFRONT_ACCESS", "WITHIN_NO", "WITHIN_YES", "ZONE_COLOURS",
           "category_colour", "distance", "ramp", "rgb"]
