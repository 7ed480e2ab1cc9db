"""Which OpenStreetMap ways are walked, and which ones blocks and facilities may attach to.

The tag rules shared by every network builder: the pyosmium file reader
(:func:`toolkit.osm_network.read_walk_network`), the osmnx path
(:func:`toolkit.network.network_from_osmnx` through
:func:`toolkit.osm.walkable_subgraph`) and downloads by place name
(:func:`toolkit.osm.graph_from_place`). Plain Python on tag dicts with no
imports from the rest of the toolkit: each builder depends on these rules,
none on another builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EDGE_TAGS", "NOT_WALKABLE", "WalkRules", "walk_reason"]

#: Highway values a pedestrian may not use.
NOT_WALKABLE = frozenset({"motorway", "motorway_link", "raceway", "bus_guideway", "construction",
                          "proposed", "abandoned", "platform", "corridor", "razed", "planned", "no"})

#: Way tags kept on the network's edges (values of merged ways joined with ';').
EDGE_TAGS = ("highway", "name", "lanes", "service", "footway", "sidewalk", "crossing", "tunnel", "bridge",
             "layer", "indoor", "location", "access", "foot", "covered")

_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})


@dataclass(frozen=True)
class WalkRules:
    """Which ways are walked and which ones points may attach to.

    Parameters
    ----------
    not_walkable : frozenset of str
        ``highway`` values nobody walks on (motorways and their links, raceways...).
    no_snap : tuple of str
        Ways that carry walks but that blocks and facilities are never attached
        to: underground, indoor and private ways. Each rule is ``key`` (any value
        but ``no``), ``key=value`` or ``key<number``.

    Examples
    --------
    >>> WalkRules().snappable({"highway": "footway", "tunnel": "yes"})
    False
    >>> WalkRules().snappable({"highway": "residential", "layer": "1"})
    True
    """

    not_walkable: frozenset[str] = NOT_WALKABLE
    no_snap: tuple[str, ...] = ("tunnel", "layer<0", "indoor=yes", "location=underground",
                                "access=private", "access=no", "foot=private")

    def snappable(self, tags: dict[str, str]) -> bool:
        """Whether a block or facility may be attached to a way with these tags."""
        for rule in self.no_snap:
            if "<" in rule:
                key, _, num = rule.partition("<")
                val = _number(tags.get(key))
                if val is not None and val < float(num):
                    return False
            elif "=" in rule:
                key, _, value = rule.partition("=")
                if value in str(tags.get(key, "")).split(";"):
                    return False
            elif tags.get(rule) not in (None, "no"):
                return False
        return True


def walk_reason(tags: dict[str, str], rules: WalkRules | None = None) -> str | None:
    """Why a highway way is not walkable, or None when it is.

    Examples
    --------
    >>> walk_reason({"highway": "motorway"})
    'motorway'
    >>> walk_reason({"highway": "residential", "foot": "no"})
    'foot=no'
    >>> walk_reason({"highway": "service", "access": "no", "foot": "yes"}) is None
    True
    """
    rules = rules or WalkRules()
    hw = tags.get("highway")
    if hw is None:
        return "no highway"
    if hw in rules.not_walkable:
        return hw
    foot = tags.get("foot")
    if foot == "no":
        return "foot=no"
    if tags.get("access") == "no" and foot not in _FOOT_ALLOWED:
        return "access=no"
    if tags.get("area") == "yes":
        # the outline of a plaza is not a path along it; osmnx drops these too
        return "area=yes"
    return None


_NOT_ROADS = frozenset({"construction", "proposed", "abandoned", "platform", "corridor", "razed", "planned", "no",
                        "bus_guideway", "raceway"})


def _at_grade_road(tags: dict[str, str]) -> bool:
    """A road on the ground: neither bridge, tunnel nor on another layer."""
    if tags.get("highway") in _NOT_ROADS or tags.get("area") == "yes":
        return False
    if tags.get("bridge") not in (None, "no") or tags.get("tunnel") not in (None, "no"):
        return False
    layer = _number(tags.get("layer"))
    return layer is None or layer == 0


def _number(v: Any) -> float | None:
    try:
        return float(str(v).split(";")[0])
    except (TypeError, ValueError):
        return None
