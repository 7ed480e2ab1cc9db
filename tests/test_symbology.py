"""One colour, one meaning (#13 item 7): the symbols drawn together over the blocks never share a colour.

Riverside gaps were drawn in the red of pedestrian-hostile roads and protected compounds in the purple
of protected roads; a reader could not tell them apart. The colours are compared with a perceptual
distance (redmean RGB) computed here, independently of toolkit.palette.distance.
"""

from __future__ import annotations

import itertools

from toolkit import palette

MIN_DISTANCE = 100  # redmean units: well beyond "the same red" (about 20) and two purples (about 60)


def _redmean(a: str, b: str) -> float:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    r = (ca[0] + cb[0]) / 2
    d = [x - y for x, y in zip(ca, cb, strict=True)]
    return ((2 + r / 256) * d[0] ** 2 + 4 * d[1] ** 2 + (2 + (255 - r) / 256) * d[2] ** 2) ** 0.5


def test_overlay_symbols_are_pairwise_distinct():
    close = [(a, b, round(_redmean(x, y))) for (a, x), (b, y) in
             itertools.combinations(palette.OVERLAY_SYMBOLS.items(), 2) if _redmean(x, y) < MIN_DISTANCE]
    assert close == []


def test_every_overlay_symbol_of_the_map_and_styles_is_declared():
    declared = set(palette.OVERLAY_SYMBOLS.values())
    for c in (palette.PROTECTED_ROAD, palette.HOSTILE_ROAD, palette.BANK_ACCESS, palette.BANK_GAP,
              palette.WATERFRONT_ACCESS, palette.LISTED_BUILDING, *palette.ZONE_COLOURS.values()):
        assert c in declared


def test_distance_agrees_with_an_independent_computation():
    for a, b in itertools.combinations(list(palette.OVERLAY_SYMBOLS.values())[:6], 2):
        assert abs(palette.distance(a, b) - _redmean(a, b)) < 1e-9
