"""Nested zone levels: several zonings at once, each rolled up, with overlaps, gaps and nesting reported.

A study rolls its blocks up to ``[zones]`` (a layer or a grid) and to each of
``[[zones.levels]]``: 街道, 居委, a management grid (网格), user layers with
parent ids, and life-circle units grown from the blocks
(:mod:`toolkit.lifecircle`). A block belongs to the zone holding its
representative point (the rule of :func:`toolkit.underserved.roll_up`). For
each level the run records how many blocks and residents fall in no zone (a
gap) or in several (an overlap: counted in the first listed), and, when the
level declares a ``parent``, each zone that crosses its parent's boundary and
each block whose zone's parent is not the parent zone it lies in.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .io import DataWarning
from .underserved import assign_blocks, grid_zones, roll_up, zone_integrity

__all__ = ["ZoneLevel", "level_memberships", "membership_counts", "nesting", "study_levels", "zone_levels"]

#: A child zone counts as crossing its parent when less than this share of its area lies inside it.
NEST_TOLERANCE = 0.01


@dataclass
class ZoneLevel:
    """One zone level (``[[zones.levels]]``, checked by :mod:`toolkit.config`)."""

    name: str
    source: Any = None
    grid_m: float | None = None
    life_circle: bool = False
    population: list[float] | None = None
    id_field: str = "zone_id"
    parent: str | None = None
    parent_field: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZoneLevel:
        """From a study's ``zone_levels`` entry."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def membership_counts(n_zones: np.ndarray, population: np.ndarray) -> dict[str, Any]:
    """Blocks and residents in no zone and in several, as counts and shares.

    Examples
    --------
    >>> membership_counts(np.array([0, 1, 2, 1]), np.array([10.0, 20.0, 30.0, 40.0]))["residents_in_several_share"]
    0.3
    """
    pop = np.nan_to_num(np.asarray(population, dtype=float))
    tot = pop.sum()
    out: dict[str, Any] = {}
    for key, m in (("in_no_zone", n_zones == 0), ("in_several", n_zones > 1)):
        out[f"blocks_{key}"] = int(m.sum())
        out[f"blocks_{key}_share"] = float(m.mean()) if len(m) else 0.0
        out[f"residents_{key}"] = float(pop[m].sum())
        out[f"residents_{key}_share"] = float(pop[m].sum() / tot) if tot > 0 else 0.0
    return out


def nesting(child: gpd.GeoDataFrame, parent: gpd.GeoDataFrame, child_field: str, parent_field: str,
            declared_field: str | None = None, *, child_of: np.ndarray | None = None,
            parent_of: np.ndarray | None = None, listed: int = 20) -> tuple[np.ndarray, dict[str, Any]]:
    """Whether each child zone lies in one parent zone: the zones crossing their parent's boundary.

    A child's parent is the one its ``declared_field`` names, else the parent zone holding most of its area.
    With ``child_of`` / ``parent_of`` (each block's zone at both levels) the blocks whose zone's parent is not
    the parent zone they lie in are counted too.

    Returns
    -------
    parent_id : array of object
        Each child zone's parent ("" when none overlaps it).
    report : dict
        ``zones``, ``crossing`` (count), ``crossing_zones`` (up to ``listed``: id, parent, share inside),
        ``unknown_parent`` (declared ids the parent level lacks), ``blocks_inconsistent``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> p = gpd.GeoDataFrame({"pid": ["P"]}, geometry=[shapely.box(0, 0, 10, 10)], crs="EPSG:32651")
    >>> c = gpd.GeoDataFrame({"cid": ["a", "b"]}, geometry=[shapely.box(1, 1, 4, 4), shapely.box(8, 0, 12, 2)],
    ...                      crs="EPSG:32651")
    >>> ids, rep = nesting(c, p, "cid", "pid")
    >>> ids.tolist(), rep["crossing"], rep["crossing_zones"][0]["share_inside"]
    (['P', 'P'], 1, 0.5)
    """
    cg = np.asarray(child.geometry.values)
    pg = np.asarray(parent.to_crs(child.crs).geometry.values)
    pids = parent[parent_field].astype(str).to_numpy()
    ci, pj = shapely.STRtree(pg).query(cg, predicate="intersects")
    inter = shapely.area(shapely.intersection(cg[ci], pg[pj])) if len(ci) else np.zeros(0)
    carea = shapely.area(cg)
    frame = pd.DataFrame({"c": ci, "p": pids[pj] if len(pj) else np.zeros(0, object), "a": inter})
    share = frame.groupby(["c", "p"])["a"].sum()
    best = share.sort_values(ascending=False).reset_index().drop_duplicates("c").set_index("c")["p"]
    parent_id = np.array([best.get(k, "") for k in range(len(child))], dtype=object)
    unknown: list[str] = []
    if declared_field is not None:
        declared = child[declared_field].astype(str).to_numpy()
        unknown = sorted(set(declared) - set(pids))
        parent_id = declared.astype(object)
    inside = np.array([share.get((k, parent_id[k]), 0.0) for k in range(len(child))]) / np.where(carea > 0, carea, 1)
    crossing = np.flatnonzero(inside < 1 - NEST_TOLERANCE)
    cids = child[child_field].astype(str).to_numpy()
    report: dict[str, Any] = {
        "zones": len(child), "crossing": len(crossing),
        "crossing_zones": [{"zone": cids[k], "parent": parent_id[k], "share_inside": round(float(inside[k]), 4)}
                           for k in crossing[np.argsort(inside[crossing], kind="stable")][:listed]],
        "unknown_parent": unknown[:listed],
    }
    if child_of is not None and parent_of is not None:
        of_zone = dict(zip(cids, parent_id, strict=True))
        expect = np.array([of_zone.get(z, "") for z in child_of], dtype=object)
        placed = (child_of != "unassigned") & (parent_of != "unassigned")
        report["blocks_inconsistent"] = int((placed & (expect != parent_of)).sum())
    return parent_id, report


def study_levels(study: Any, notes: list[str] | None = None) -> list[ZoneLevel]:
    """A study's zone levels: ``[[zones.levels]]``, and ``life_circle`` units unless turned off or declared.

    The life-circle level is added when ``[zones] life_circle`` is on (the default), no level builds
    life-circle units already and the profile gives a ``life_circle_population``; without one, a note says so.
    """
    levels = [ZoneLevel.from_dict(d) for d in getattr(study, "zone_levels", None) or []]
    if not getattr(study, "zone_life_circle", True) or any(lv.life_circle or lv.name == "life_circle"
                                                            for lv in levels):
        return levels
    from .lifecircle import life_circle_range

    try:
        life_circle_range(study.profile)
    except InputError:
        if notes is not None:
            notes.append(f"no life-circle units: the profile {study.profile!r} gives no life_circle_population "
                         "(add it, or population = [min, max] to a life_circle zone level)")
        return levels
    return [*levels, ZoneLevel("life_circle", life_circle=True)]


def _level_zones(level: ZoneLevel, blocks: gpd.GeoDataFrame, land: Any, profile: Any,
                 notes: list[str] | None) -> tuple[gpd.GeoDataFrame, str, dict[str, Any]]:
    """The zone polygons of one level, its source label and what building it found."""
    from .io import read_layer

    if level.life_circle:
        from .lifecircle import life_circle_range, life_circle_units

        units, _, summary = life_circle_units(blocks, life_circle_range(profile, level.population), area=land)
        for _, u in units[units["status"] != "in_range"].iterrows():
            if notes is not None:
                notes.append(f"life-circle unit {u['zone_id']}: {u['population']:,.0f} residents, {u['status']} "
                             f"the range ({u['reason'].replace('_', ' ')})")
        return units, "life-circle units", {"life_circle": summary}
    if level.grid_m is not None:
        return grid_zones(land, float(level.grid_m), blocks.crs), f"{float(level.grid_m):.0f} m grid", {}
    zones = read_layer(level.source.resolve(), **level.source.reader_options()).to_crs(blocks.crs)
    for f in (level.id_field, level.parent_field):
        if f is not None and f not in zones.columns:
            raise InputError(f"zone level {level.name!r}: column {f!r} not found", source=level.source.label(),
                             field=f"zones.levels.{'id_field' if f == level.id_field else 'parent_field'}",
                             fix=f"use one of: {', '.join(map(str, zones.columns))}")
    return zones, level.source.label(), {}


def zone_levels(levels: list[ZoneLevel], blocks: gpd.GeoDataFrame, land: Any, measured: list[str], profile: Any,
                layers: dict[str, gpd.GeoDataFrame], base: tuple[gpd.GeoDataFrame, str] | None = None,
                notes: list[str] | None = None) -> dict[str, Any]:
    """Build and roll up each level; add the layers ``zones_<name>``; return the run.json section.

    Parameters
    ----------
    levels : list of ZoneLevel
        In the order declared (a parent before its children).
    blocks : GeoDataFrame
        The blocks with the coverage (and underserved) columns.
    land : shapely geometry
        The land of the study area (gaps are measured against it).
    measured : list of str
        Categories with data.
    profile : str or Path
        The standards profile (the life-circle population range).
    layers : dict
        The run's layers, added to.
    base : (zones, id field), optional
        The ``[zones]`` level, as level ``zones`` (a parent of others; its own roll-up is done already).
    notes : list of str, optional
        The run's notes: units outside their range are described there.

    Returns
    -------
    dict
        Per level name: source, zone count, overlap and gap areas and shares of blocks and residents, nesting
        when a parent is declared, and the life-circle summary for life-circle units.
    """
    pop = blocks["population"].to_numpy(dtype=float)
    built: dict[str, tuple[gpd.GeoDataFrame, str, np.ndarray]] = {}
    if base is not None:
        zone_of, _ = assign_blocks(blocks, base[0], base[1])
        built["zones"] = (base[0], base[1], zone_of)
    out: dict[str, Any] = {}
    for level in levels:
        zones, label, extra = _level_zones(level, blocks, land, profile, notes)
        field = "zone_id" if level.life_circle or level.grid_m is not None else level.id_field
        zone_of, n_in = assign_blocks(blocks, zones, field)
        with warnings.catch_warnings():
            if level.life_circle:
                # units are unions of blocks: the land they leave is street space, not a gap in the zoning
                warnings.simplefilter("ignore", DataWarning)
            integ = zone_integrity(zones, land, source=f"zones level {level.name}")
        entry: dict[str, Any] = {"source": label, **integ, **membership_counts(n_in, pop), **extra}
        table = roll_up(blocks, zones, measured, zone_field=field)
        keep = [field, *([level.parent_field] if level.parent_field else [])]
        if level.life_circle:
            keep += ["status", "reason", "at_area_edge"]
        zl = zones[[*dict.fromkeys(keep), zones.geometry.name]].copy()
        zl[field] = zl[field].astype(str)
        zl = zl.merge(table.astype({field: str}), on=field, how="left").rename(columns={field: "zone_id"})
        if level.parent is not None:
            pz, pfield, pof = built[level.parent]
            pid, entry["nesting"] = nesting(zones, pz, field, pfield, level.parent_field, child_of=zone_of,
                                            parent_of=pof)
            entry["nesting"]["parent"] = level.parent
            zl["parent_id"] = pid
            zl = zl.drop(columns=[level.parent_field] if level.parent_field else [])
        layer = gpd.GeoDataFrame(zl, geometry=zones.geometry.name, crs=blocks.crs)
        layer.attrs["zone_level"] = level.name  # how level_memberships tells a level from other layers
        layers[f"zones_{level.name}"] = layer
        built[level.name] = (zones, field, zone_of)
        out[level.name] = entry
    return out


def level_memberships(blocks: gpd.GeoDataFrame, layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, np.ndarray]:
    """Each block's zone at every level in ``layers`` (``zones`` and ``zones_<name>``), by the same rule.

    The level of ``zones`` is called ``zones``, the others (the layers :func:`zone_levels` made, marked in
    their ``attrs``) by their name; a level's id is its layer's first column.
    """
    out: dict[str, np.ndarray] = {}
    for key, layer in layers.items():
        if layer is None or not len(layer):
            continue
        name = "zones" if key == "zones" else layer.attrs.get("zone_level")
        if name is None:
            continue
        field = next(c for c in layer.columns if c != layer.geometry.name)
        out[name] = assign_blocks(blocks, layer, field)[0]
    return out
