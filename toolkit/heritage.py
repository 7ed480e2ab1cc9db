"""Historic protection as a constraint layer on street blocks.

Three kinds of protection are combined (《上海市历史文化风貌区和优秀历史建筑保护条例》, 2002, revised
2019; the Cultural Relics Protection Law for relics' construction-control zones):

* **style areas** (历史文化风貌区), polygons such as 衡山路-复兴路;
* **protected compounds**: OSM ``boundary=protected_area`` polygons of listed
  lilong / garden-house compounds;
* **listed buildings** (优秀历史建筑, cultural relics), points from several
  registers that overlap, so they are merged into one list first.

:func:`block_heritage` turns these into a class per block (``core``,
``buffer``, ``none``), and :func:`allowed_interventions` says which
micro-renewal interventions each class admits, from ``data/heritage_rules.toml``.
Every distance and area is measured in the projected CRS the caller passes.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from .crs import ensure_projected
from .datasets import data_dir
from .errors import InputError
from .io import DataWarning, read_layer
from .overlay_config import HeritageConfig
from .sources import Source

__all__ = [
    "BUILDING_COLUMNS",
    "BUILDING_HISTORIC",
    "HERITAGE_CLASSES",
    "NAME_FIELDS",
    "ZONE_COLUMNS",
    "ZONE_KINDS",
    "HeritageLayers",
    "allowed_interventions",
    "block_heritage",
    "forbidden_interventions",
    "heritage_rules",
    "heritage_summary",
    "load_heritage",
    "names_compatible",
    "normalise_name",
    "osm_listed_mask",
    "protected_roads",
    "review_interventions",
    "zone_overlaps"
]

#: Heritage classes of a block, strictest first.
HERITAGE_CLASSES = ("core", "buffer", "none")

#: Zone kinds.
ZONE_KINDS = ("style_area", "compound")

#: OSM ``historic=*`` values that denote a building or a built structure one could renew.
#: Monuments, memorials, plaques, tombs and ruins are left out unless they carry a
#: ``heritage`` tag or a ``building`` tag: a statue is not a building to protect by block.
BUILDING_HISTORIC = frozenset({
    "building", "house", "castle", "city_gate", "factory", "manor", "mansion", "church", "temple",
    "monastery", "tower", "heritage", "industrial", "school", "bridge_house",
})

#: Columns tried, in order, for a record's name when the source does not name one.
NAME_FIELDS = ("name", "name:zh", "nameS", "title", "名称", "名字", "nameT", "name_zh")

ZONE_COLUMNS = ["zone_id", "kind", "name", "source", "area_ha", "geometry"]
BUILDING_COLUMNS = ["building_id", "name", "sources", "n_sources", "geometry"]

# Overlaps below this are floating-point noise of shared edges, not data problems.
_OVERLAP_TOL_M2 = 1.0
# With an ``area`` given, layers are kept this far beyond it so that distances from edge
# blocks still see the buildings just outside the study area.
_AREA_MARGIN_M = 1000.0
# Names are split into aliases on these: registers write "丰华大楼/上海工业发展基金会" or
# "同济中学 (原上海图书馆)" for one building.
_ALIAS_SPLIT = re.compile(r"[/／;；、|,，()（）\[\]【】]")


@dataclass
class HeritageLayers:
    """The loaded heritage layers, in one projected CRS.

    Attributes
    ----------
    zones : GeoDataFrame
        ``zone_id``, ``kind`` (``style_area`` or ``compound``), ``name``, ``source``,
        ``area_ha``; indexed by ``zone_id``. Zones of different kinds overlap by design.
    buildings : GeoDataFrame
        Merged listed buildings as points: ``building_id``, ``name``, ``sources``
        (labels joined with ``;``), ``n_sources``; indexed by ``building_id``.
    report : dict
        What was read, repaired, found overlapping and merged (JSON-serialisable).
    crs : pyproj.CRS
    """

    zones: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    report: dict[str, Any]
    crs: pyproj.CRS

    def union(self, kind: str | None = None) -> shapely.Geometry:
        """Union of the zones (of one ``kind`` when given): the area to count shares against."""
        z = self.zones if kind is None else self.zones[self.zones["kind"] == kind]
        return shapely.union_all(np.asarray(z.geometry.values)) if len(z) else shapely.Polygon()


# ------------------------------------------------------------------ reading
def _read(src: Source, notes: list[str]) -> gpd.GeoDataFrame:
    """read_layer, with its repair/drop warnings also kept for the report."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        gdf = read_layer(src.resolve(), **src.reader_options())
    for w in caught:
        if issubclass(w.category, DataWarning):
            notes.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return gdf


def _polygons_only(gdf: gpd.GeoDataFrame, label: str, what: str, notes: list[str]) -> gpd.GeoDataFrame:
    poly = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not poly.all():
        msg = f"{label}: dropped {int((~poly).sum())} non-polygon features from the {what}"
        notes.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=3)
    return gdf.loc[poly]


def _str_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def _names(gdf: gpd.GeoDataFrame, src: Source | None, label: str) -> list[str | None]:
    """Each row's name: the declared column, else the first of NAME_FIELDS filled from the next."""
    if src is not None and src.field:
        if src.field not in gdf.columns:
            raise InputError(f"name column {src.field!r} not found", source=label, field="field",
                             fix=f"use one of: {', '.join(map(str, gdf.columns[:40]))}")
        cols = [src.field]
    else:
        cols = [c for c in NAME_FIELDS if c in gdf.columns]
    out: list[str | None] = [None] * len(gdf)
    for c in cols:
        vals = gdf[c].tolist()
        out = [o if o is not None else _str_or_none(v) for o, v in zip(out, vals, strict=True)]
    return out


def _column(gdf: pd.DataFrame, name: str) -> pd.Series:
    # gdf["boundary"], never gdf.boundary: the attribute is GeoPandas' geometric boundary.
    if name in gdf.columns:
        return gdf[name].astype("string").str.strip()
    return pd.Series(pd.NA, index=gdf.index, dtype="string")


def osm_listed_mask(osm: pd.DataFrame) -> np.ndarray:
    """Which rows of an OSM heritage export are listed objects (see :class:`HeritageConfig`)."""
    boundary = _column(osm, "boundary")
    heritage = _column(osm, "heritage")
    historic = _column(osm, "historic")
    building = _column(osm, "building")
    has_heritage = heritage.notna() & (heritage.str.lower() != "no")
    has_historic = historic.notna() & (historic.str.lower() != "no")
    buildingish = historic.str.lower().isin(BUILDING_HISTORIC).fillna(False)
    has_building = building.notna() & (building.str.lower() != "no")
    listed = has_heritage | buildingish | (has_historic & has_building)
    return (listed & (boundary != "protected_area").fillna(True)).to_numpy(dtype=bool)


# -------------------------------------------------------------------- names
def normalise_name(name: str | None) -> str:
    """Name for comparison: NFKC, case-folded, without spaces, punctuation or symbols."""
    if not name:
        return ""
    s = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in s if unicodedata.category(ch)[0] not in "PSZC")


def _aliases(name: str | None) -> frozenset[str]:
    if not name:
        return frozenset()
    parts = [name, *_ALIAS_SPLIT.split(name)]
    return frozenset(n for n in (normalise_name(p) for p in parts) if n)


def names_compatible(a: str | None, b: str | None) -> bool:
    """True when either name is missing, or they are equal or one contains the other.

    Names are compared after :func:`normalise_name`, and as the parts a register
    separates with ``/``, ``;`` or brackets. Containment needs two characters at
    least, so a lone "宅" does not match every residence.
    """
    return _alias_compatible(_aliases(a), _aliases(b))


def _alias_compatible(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return True
    for x in a:
        for y in b:
            if x == y or (min(len(x), len(y)) >= 2 and (x in y or y in x)):
                return True
    return False


# ------------------------------------------------------------------ merging
@dataclass
class _Records:
    label: str
    geoms: np.ndarray
    names: list[str | None]


def _merge_listed(records: list[_Records], merge_distance_m: float, crs: Any) -> tuple[gpd.GeoDataFrame, dict]:
    """Merge point records of several sources into one list of buildings.

    Two records are one building when they come from *different* sources, lie
    within ``merge_distance_m`` and have compatible names (:func:`names_compatible`).
    Pairs are joined closest first, and a group never takes two records of one
    source nor records farther apart than the distance (complete linkage), so a
    chain of near points cannot fuse two neighbouring houses of the same register.
    A merged building keeps the point and name of its first source in the order given
    (OSM first: its points come from mapped footprints in WGS84, the registers'
    from geocoded addresses).
    """
    by_source = {r.label: len(r.geoms) for r in records}
    if not records or sum(by_source.values()) == 0:
        empty = gpd.GeoDataFrame({c: [] for c in BUILDING_COLUMNS[:-1]}, geometry=[], crs=crs)
        return empty.set_index("building_id", drop=False).rename_axis(None), {
            "by_source": by_source, "records": 0, "merged_records": 0, "multi_source_buildings": 0, "final": 0,
            "merge_distance_m": merge_distance_m}
    geoms = np.concatenate([r.geoms for r in records])
    src = np.concatenate([np.full(len(r.geoms), i) for i, r in enumerate(records)])
    names = [n for r in records for n in r.names]
    aliases = [_aliases(n) for n in names]
    n = len(geoms)
    xy = shapely.get_coordinates(geoms)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=merge_distance_m)
    keep = (a < b) & (src[a] != src[b])
    a, b = a[keep], b[keep]
    d = np.hypot(*(xy[a] - xy[b]).T)
    order = np.lexsort((b, a, d))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    root = np.arange(n)
    for k in order:
        i, j = int(a[k]), int(b[k])
        ri, rj = int(root[i]), int(root[j])
        if ri == rj:
            continue
        mi, mj = members[ri], members[rj]
        if set(src[mi]) & set(src[mj]):
            continue
        dd = np.hypot(*(xy[mi][:, None, :] - xy[mj][None, :, :]).transpose(2, 0, 1))
        if dd.max() > merge_distance_m:
            continue
        if not all(_alias_compatible(aliases[p], aliases[q]) for p in mi for q in mj):
            continue
        members[ri] = mi + mj
        del members[rj]
        root[mj] = ri
    rows = []
    for group in members.values():
        group = sorted(group, key=lambda p: (src[p], p))
        rep = group[0]
        name = next((names[p] for p in group if names[p]), None)
        rows.append({"name": name, "sources": ";".join(records[src[p]].label for p in group),
                     "n_sources": len(group), "geometry": geoms[rep], "_order": rep})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).sort_values("_order").drop(columns="_order")
    out.insert(0, "building_id", np.arange(1, len(out) + 1))
    out = out.set_index("building_id", drop=False).rename_axis(None)
    report = {"by_source": by_source, "records": n, "merged_records": n - len(out),
              "multi_source_buildings": int((out["n_sources"] > 1).sum()), "final": len(out),
              "merge_distance_m": merge_distance_m}
    return out[BUILDING_COLUMNS], report


def _unique_label(label: str, seen: set[str]) -> str:
    out, k = label, 2
    while out in seen:
        out, k = f"{label}#{k}", k + 1
    seen.add(out)
    return out


# ------------------------------------------------------------------ loading
def load_heritage(cfg: HeritageConfig, crs: Any, *, area: shapely.Geometry | None = None) -> HeritageLayers:
    """Read, repair, project and merge the heritage layers.

    Parameters
    ----------
    cfg : HeritageConfig
    crs : CRS-like
        The projected (metric) CRS of the study, e.g. ``"EPSG:32651"``.
    area : shapely geometry, optional
        Study area in ``crs``. When given, only zones and buildings within 1 km of it
        are kept (the merge report still describes every record read, and adds
        ``kept_near_area``). Block distances to listed buildings stay exact up to
        1 km; beyond that they may be overstated, which changes no class.

    Returns
    -------
    HeritageLayers

    Raises
    ------
    InputError
        No source is configured, the style-area name field is missing, or a layer
        holds no usable feature.

    Notes
    -----
    Invalid polygons are repaired by :func:`toolkit.io.read_layer` with a
    ``DataWarning``; those messages are also listed in ``report["notes"]``.
    Overlaps between zones of the same kind (two style areas, two compounds) are
    reported with their area and a ``DataWarning``; areas and shares are always
    taken from unions, so an overlap is never counted twice.
    """
    ensure_projected(crs, "the heritage analysis CRS")
    crs = pyproj.CRS.from_user_input(crs)
    if cfg.style_areas is None and cfg.osm is None and not cfg.listed_buildings and not cfg.relics:
        raise InputError("no heritage source is configured", source="heritage config", field="heritage",
                         fix="give style_areas, osm, listed_buildings or relics, e.g. "
                         "HeritageConfig.shanghai() for the registered Shanghai layers")
    notes: list[str] = []
    zone_parts: list[gpd.GeoDataFrame] = []
    records: list[_Records] = []
    labels: set[str] = set()
    osm_report: dict[str, Any] = {}

    if cfg.style_areas is not None:
        label = cfg.style_areas.label()
        g = _read(cfg.style_areas, notes)
        if cfg.style_name_field not in g.columns:
            raise InputError(f"style-area name field {cfg.style_name_field!r} not found", source=label,
                             field="style_name_field",
                             fix=f"set style_name_field to one of: {', '.join(map(str, g.columns[:40]))}")
        g = _polygons_only(g, label, "style areas", notes)
        if len(g) == 0:
            raise InputError("the style-area layer holds no polygon", source=label, field="style_areas",
                             fix="give a polygon layer of the style areas (points or lines cannot bound an area)")
        zone_parts.append(_zone_frame(g, g[cfg.style_name_field], "style_area", label, crs))

    if cfg.osm is not None:
        label = cfg.osm.label()
        g = _read(cfg.osm, notes)
        is_compound = (_column(g, "boundary") == "protected_area").fillna(False).to_numpy(dtype=bool)
        comp = _polygons_only(g.loc[is_compound], label, "protected compounds", notes)
        zone_parts.append(_zone_frame(comp, pd.Series(_names(comp, None, label), index=comp.index),
                                      "compound", label, crs))
        listed = g.loc[osm_listed_mask(g)]
        is_line = listed.geometry.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
        listed = listed.loc[~is_line].to_crs(crs)
        osm_report = {"rows": len(g), "compounds": int(is_compound.sum()), "listed_objects": len(listed),
                      "listed_lines_skipped": int(is_line.sum())}
        records.append(_Records(_unique_label(label, labels),
                                np.asarray(shapely.point_on_surface(np.asarray(listed.geometry.values))),
                                _names(listed, None, label)))

    for kind, sources in (("listed_buildings", cfg.listed_buildings), ("relics", cfg.relics)):
        for src in sources:
            label = src.label()
            g = _read(src, notes).to_crs(crs)
            pts = g.geometry.geom_type == "Point"
            if not pts.all():
                # polygons of a building list count by a point inside them, like OSM footprints
                g = g.copy()
                g.geometry.values[~pts.to_numpy()] = shapely.point_on_surface(
                    np.asarray(g.geometry.values[~pts.to_numpy()]))
            lab = _unique_label(label if kind == "listed_buildings" else f"relics:{label}", labels)
            records.append(_Records(lab, np.asarray(g.geometry.values), _names(g, src, label)))

    zones = _finish_zones(zone_parts, crs)
    buildings, merge_report = _merge_listed(records, cfg.merge_distance_m, crs)
    if area is not None:
        reach = shapely.buffer(area, _AREA_MARGIN_M)
        shapely.prepare(reach)
        zones = zones.loc[shapely.intersects(reach, np.asarray(zones.geometry.values))]
        buildings = buildings.loc[shapely.intersects(reach, np.asarray(buildings.geometry.values))]
        merge_report["kept_near_area"] = len(buildings)
    overlaps = zone_overlaps(zones)
    if overlaps:
        worst = max(overlaps, key=lambda o: o["overlap_m2"])
        msg = (f"{len(overlaps)} overlaps between protection zones of the same kind (largest: "
               f"{worst['a_name']} / {worst['b_name']}, {worst['overlap_m2']:,.0f} m2); areas and shares use "
               "their union")
        notes.append(msg)
        warnings.warn(msg, DataWarning, stacklevel=2)

    report = {
        "crs": crs.to_string(),
        "zones": {k: _zone_stats(zones, k) for k in ZONE_KINDS},
        "zones_union_ha": round(float(shapely.area(_union(zones))) / 1e4, 2),
        "overlaps": overlaps,
        "osm": osm_report,
        "buildings": merge_report,
        "notes": notes,
        "config": cfg.to_dict(),
    }
    return HeritageLayers(zones=zones, buildings=buildings, report=report, crs=crs)


def _zone_frame(g: gpd.GeoDataFrame, names: pd.Series, kind: str, label: str, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    g = g.to_crs(crs)
    return gpd.GeoDataFrame({"kind": kind, "name": [_str_or_none(v) for v in names], "source": label},
                            geometry=np.asarray(g.geometry.values), crs=crs)


def _finish_zones(parts: list[gpd.GeoDataFrame], crs: pyproj.CRS) -> gpd.GeoDataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        z = gpd.GeoDataFrame({c: [] for c in ZONE_COLUMNS[:-1]}, geometry=[], crs=crs)
        return z.set_index("zone_id", drop=False).rename_axis(None)
    z = pd.concat(parts, ignore_index=True)
    prefix = {"style_area": "SA", "compound": "PC"}
    z["zone_id"] = [f"{prefix[k]}{i:03d}" for k, i in zip(z["kind"], z.groupby("kind").cumcount() + 1, strict=True)]
    z["area_ha"] = np.round(shapely.area(np.asarray(z.geometry.values)) / 1e4, 3)
    z = gpd.GeoDataFrame(z, geometry="geometry", crs=crs)[ZONE_COLUMNS]
    return z.set_index("zone_id", drop=False).rename_axis(None)


def _union(g: gpd.GeoDataFrame) -> shapely.Geometry:
    return shapely.union_all(np.asarray(g.geometry.values)) if len(g) else shapely.Polygon()


def _zone_stats(zones: gpd.GeoDataFrame, kind: str) -> dict[str, Any]:
    z = zones[zones["kind"] == kind]
    return {"count": len(z), "union_area_ha": round(float(shapely.area(_union(z))) / 1e4, 2),
            "sum_area_ha": round(float(z["area_ha"].sum()), 2)}


def zone_overlaps(zones: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Pairs of zones of the same kind that overlap (by more than 1 m2), with the overlap area."""
    out: list[dict[str, Any]] = []
    for kind in ZONE_KINDS:
        z = zones[zones["kind"] == kind]
        if len(z) < 2:
            continue
        geoms = np.asarray(z.geometry.values)
        a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        m = a < b
        a, b = a[m], b[m]
        ov = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        ids, names = z["zone_id"].tolist(), z["name"].tolist()
        for i, j, o in zip(a, b, ov, strict=True):
            if o > _OVERLAP_TOL_M2:
                out.append({"kind": kind, "a": ids[i], "b": ids[j], "a_name": names[i], "b_name": names[j],
                            "overlap_m2": round(float(o), 1)})
    return out


# ------------------------------------------------------------------- blocks
def _nearest_point_distance(polys: np.ndarray, points: np.ndarray, k: int = 8) -> np.ndarray:
    """Distance from each polygon to the nearest of ``points`` (0 when one is inside or on it).

    ``STRtree.query_nearest`` from a million blocks spends most of its time in
    GEOS polygon-to-point distances. Here ``c`` is the mean of a polygon's
    vertices and ``R`` its farthest vertex from ``c``, so the polygon lies in
    the disc (c, R) and no point farther than ``b + R`` from ``c`` can be
    nearest, ``b`` being the nearest point's distance from ``c`` (a k-d tree
    query). GEOS then measures just those few candidates.
    """
    kd = cKDTree(shapely.get_coordinates(points))
    xy, owner = shapely.get_coordinates(polys, return_index=True)
    nv = np.bincount(owner, minlength=len(polys))
    # annotated: numpy's stubs type bincount's weighted (float) sums as ints
    c: np.ndarray = np.column_stack([np.bincount(owner, weights=xy[:, i], minlength=len(polys)) for i in (0, 1)])
    c /= np.maximum(nv, 1)[:, None]
    reach = np.zeros(len(polys))
    has = nv > 0
    # get_coordinates lists each polygon's vertices together, in order
    reach[has] = np.maximum.reduceat(np.hypot(xy[:, 0] - c[owner, 0], xy[:, 1] - c[owner, 1]),
                                     np.concatenate([[0], np.cumsum(nv)[:-1]])[has])
    k = min(k, kd.n)
    dk, ik = kd.query(c, k=k)
    dk, ik = dk.reshape(len(polys), k), ik.reshape(len(polys), k)
    limit = dk[:, 0] + reach + 1e-6  # the nearest point's distance from c, plus the polygon's reach
    found = dk <= limit[:, None]
    poly_i = np.repeat(np.arange(len(polys)), found.sum(axis=1))
    pt_i = ik[found]
    # rare polygons with more than k candidates: all of them, from a ball query
    more = np.flatnonzero(found[:, -1]) if k < kd.n else np.empty(0, dtype=np.int64)
    if len(more):
        cand = kd.query_ball_point(c[more], limit[more], return_sorted=False)
        counts = np.fromiter((len(x) for x in cand), dtype=np.int64, count=len(cand))
        poly_i = np.concatenate([poly_i, np.repeat(more, counts)])
        pt_i = np.concatenate([pt_i, np.fromiter((j for x in cand for j in x), dtype=np.int64,
                                                 count=int(counts.sum()))])
    best = np.full(len(polys), np.inf)
    np.minimum.at(best, poly_i, shapely.distance(polys[poly_i], points[pt_i]))
    return best


def block_heritage(blocks: gpd.GeoDataFrame, layers: HeritageLayers, buffer_m: float = 50.0) -> pd.DataFrame:
    """Heritage columns per block.

    Parameters
    ----------
    blocks : GeoDataFrame
        Block polygons in a projected CRS (the layers are reprojected to it if needed).
    layers : HeritageLayers
        From :func:`load_heritage`.
    buffer_m : float
        Width of the control buffer, metres.

    Returns
    -------
    DataFrame
        On ``blocks.index``:

        ``heritage_style_area``
            Name of the style area covering the largest part of the block when that
            part is at least half the block ("containing most of it"), else None.
            Where overlapping style areas each cover the same area, the first in the
            layer is named.
        ``heritage_zone_share``
            Share (0..1) of the block inside the union of style areas and compounds.
        ``heritage_n_listed``
            Listed buildings inside the block.
        ``heritage_dist_listed_m``
            Straight-line distance from the block polygon to the nearest listed
            building (0 when one is inside; NaN when there is no building at all).
        ``heritage_class``
            ``core`` when the zone share is >= 0.5 or the block holds a listed
            building; else ``buffer`` when the share is > 0 or the block lies within
            ``buffer_m`` of a zone or a listed building; else ``none``.

    Examples
    --------
    >>> layers = load_heritage(study.heritage, blocks.crs)  # doctest: +SKIP
    >>> block_heritage(blocks, layers)["heritage_class"].value_counts()  # doctest: +SKIP
    """
    ensure_projected(blocks, "the blocks")
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise InputError(f"buffer_m must be >= 0, got {buffer_m!r}", field="heritage.buffer_m",
                         fix="give the control buffer width in metres, e.g. 50")
    zones, bld = layers.zones, layers.buildings
    if zones.crs is not None and not pyproj.CRS.from_user_input(zones.crs).equals(blocks.crs):
        zones, bld = zones.to_crs(blocks.crs), bld.to_crs(blocks.crs)
    geoms = np.asarray(blocks.geometry.values)
    n = len(geoms)
    areas = shapely.area(geoms)
    zgeoms = np.asarray(zones.geometry.values)

    # One tree over the blocks, queried with the few zones, tiles and buildings: a
    # city has a million blocks but a few hundred zones, and querying a tree of the
    # blocks is far cheaper than querying the zones' tree once per block.
    btree = shapely.STRtree(geoms)

    # Share in the union. The union is cut into 1 km tiles so that each block is
    # intersected only with the few small pieces it touches, not with a polygon
    # spanning the whole city (tiles are disjoint, so the pieces' areas add up).
    share = np.zeros(n)
    near_zone = np.zeros(n, dtype=bool)
    if len(zgeoms) and n:
        union = shapely.union_all(zgeoms)
        x0, y0, x1, y1 = shapely.bounds(union)
        gx, gy = np.meshgrid(np.arange(x0, x1 + 1000.0, 1000.0), np.arange(y0, y1 + 1000.0, 1000.0))
        tiles = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + 1000.0, gy.ravel() + 1000.0)
        pieces = shapely.intersection(union, tiles[shapely.intersects(union, tiles)])
        pieces = pieces[~shapely.is_empty(pieces)]
        pi, bi = btree.query(pieces, predicate="intersects")
        inter = shapely.area(shapely.intersection(geoms[bi], pieces[pi]))
        share = np.clip(np.bincount(bi, weights=inter, minlength=n) / np.where(areas > 0, areas, 1.0), 0.0, 1.0)
        _, bi = btree.query(zgeoms, predicate="dwithin", distance=buffer_m)
        near_zone[bi] = True

    style_name: list[str | None] = [None] * n
    is_style = (zones["kind"] == "style_area").to_numpy()
    if is_style.any() and n:
        sgeoms, snames = zgeoms[is_style], zones["name"].to_numpy()[is_style]
        si, bi = btree.query(sgeoms, predicate="intersects")
        inter = shapely.area(shapely.intersection(geoms[bi], sgeoms[si]))
        best = pd.DataFrame({"b": bi, "s": si, "a": inter}).sort_values(["a", "b", "s"], ascending=[False, True, True])
        best = best.drop_duplicates("b")
        for b, s, a in best.itertuples(index=False):
            if a >= 0.5 * areas[b]:
                style_name[b] = snames[s]

    n_listed = np.zeros(n, dtype=int)
    dist = np.full(n, np.nan)
    bgeoms = np.asarray(bld.geometry.values)
    if len(bgeoms) and n:
        _, bi = btree.query(bgeoms, predicate="within")
        n_listed = np.bincount(bi, minlength=n)
        dist = _nearest_point_distance(geoms, bgeoms)
    near_listed = np.nan_to_num(dist, nan=np.inf) <= buffer_m

    core = (share >= 0.5) | (n_listed > 0)
    buffer = ~core & ((share > 0) | near_zone | near_listed)
    cls = np.where(core, "core", np.where(buffer, "buffer", "none"))
    return pd.DataFrame({
        "heritage_style_area": pd.Series(style_name, index=blocks.index, dtype=object),
        "heritage_zone_share": np.round(share, 4),
        "heritage_n_listed": n_listed,
        "heritage_dist_listed_m": np.round(dist, 2),
        "heritage_class": cls,
    }, index=blocks.index)


# -------------------------------------------------------------------- roads
def protected_roads(streets: gpd.GeoDataFrame | pd.DataFrame,
                    names: Iterable[str] | str) -> tuple[pd.Series, list[str]]:
    """Mark the streets named as style-protected roads.

    Parameters
    ----------
    streets : GeoDataFrame
        Streets with a ``name`` column; merged OSM ways join names with ``;``
        (``"岳阳路;桃江路"``), and a street matches when any of its names does.
    names : list of str
        Protected road names. Names are compared after NFKC normalisation and
        stripping spaces, so full-width and half-width forms match.

    Returns
    -------
    Series of bool
        On ``streets.index``, named ``protected_road``.
    list of str
        The names that matched no street; they also raise a ``DataWarning``, since
        a misspelt road would otherwise silently lose its protection.

    Examples
    --------
    >>> import pandas as pd
    >>> streets = pd.DataFrame({"name": ["岳阳路;桃江路", "衡山路", None]})
    >>> mask, unmatched = protected_roads(streets, ["岳阳路", "衡山路"])
    >>> mask.tolist(), unmatched
    ([True, True, False], [])
    """
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    if not names:
        return pd.Series(False, index=streets.index, name="protected_road"), []
    if "name" not in streets.columns:
        raise InputError("the streets have no 'name' column to match protected roads against",
                         source="the streets", field="name",
                         fix="read the network from OSM (its names are kept) or add a 'name' column")
    wanted = {_road_key(n): n for n in names}
    # a city has millions of segments but few distinct names: tokenise each name once
    codes, uniques = pd.factorize(streets["name"], use_na_sentinel=True)
    tokens = [[_road_key(t) for t in str(v).split(";") if t.strip()] if _str_or_none(v) is not None else []
              for v in uniques]
    hit = np.array([any(t in wanted for t in toks) for toks in tokens] + [False], dtype=bool)
    mask = hit[codes]  # the sentinel -1 (no name) picks the trailing False
    found = {t for toks in tokens for t in toks}
    unmatched = [n for n in names if _road_key(n) not in found]
    if unmatched:
        known = sorted({t.strip() for v in streets["name"].dropna() for t in str(v).split(";") if t.strip()})
        hints = []
        for n in unmatched:
            close = difflib.get_close_matches(n.strip(), known, n=3, cutoff=0.5)
            hints.append(f"{n!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        warnings.warn(f"protected roads matched no street: {'; '.join(hints)}; check the spelling against the "
                      "network's street names", DataWarning, stacklevel=2)
    return pd.Series(mask, index=streets.index, name="protected_road"), unmatched


def _road_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


# -------------------------------------------------------------------- rules
@cache
def _rules() -> dict[str, Any]:
    path = data_dir() / "heritage_rules.toml"
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise InputError("the heritage rule table is missing", source=str(path),
                         fix="reinstall the toolkit; the file ships in its data folder") from None
    known = set(raw.get("interventions", {}))
    for cls in HERITAGE_CLASSES:
        spec = raw.get("classes", {}).get(cls)
        if spec is None:
            raise InputError(f"class {cls!r} is not in the rule table", source=str(path), field=f"classes.{cls}",
                             fix="add a [classes.<name>] table with allowed, review and forbidden lists")
        lists = {k: list(spec.get(k, [])) for k in ("allowed", "review", "forbidden")}
        named = [i for v in lists.values() for i in v]
        unknown = set(named) - known
        twice = {i for i in named if named.count(i) > 1}
        if unknown or twice or set(named) != known:
            missing = sorted(known - set(named))
            raise InputError(f"class {cls!r} must name every intervention exactly once "
                             f"(unknown: {sorted(unknown)}, twice: {sorted(twice)}, missing: {missing})",
                             source=str(path), field=f"classes.{cls}",
                             fix="list each [interventions] key in one of allowed / review / forbidden")
    return raw


def heritage_rules() -> dict[str, Any]:
    """The rule table of ``data/heritage_rules.toml`` (read once, validated).

    Returns
    -------
    dict
        ``rules`` (title, source), ``interventions`` (labels), ``classes`` (per class:
        ``allowed``, ``review``, ``forbidden``, ``source``) and ``protected_roads``.

    Examples
    --------
    >>> rules = heritage_rules()
    >>> sorted(rules)
    ['classes', 'interventions', 'protected_roads', 'rules']
    >>> "road_widening" in rules["classes"]["core"]["forbidden"]
    True
    """
    # a copy, so a caller editing it cannot change the cached table for everyone else
    return copy.deepcopy(_rules())


def _class_list(heritage_class: str, key: str) -> list[str]:
    classes = _rules()["classes"]
    if heritage_class not in classes:
        raise InputError(f"unknown heritage class {heritage_class!r}", field="heritage_class",
                         fix=f"use one of: {', '.join(HERITAGE_CLASSES)}")
    return list(classes[heritage_class].get(key, []))


def allowed_interventions(heritage_class: str) -> list[str]:
    """Interventions allowed in blocks of ``heritage_class`` (``core``, ``buffer``, ``none``).

    Parameters
    ----------
    heritage_class : str
        A block's ``heritage_class``.

    Returns
    -------
    list of str
        Intervention ids of ``data/heritage_rules.toml``, in its order.

    Examples
    --------
    >>> "pocket_park" in allowed_interventions("core"), "road_widening" in allowed_interventions("core")
    (True, False)
    """
    return _class_list(heritage_class, "allowed")


def forbidden_interventions(heritage_class: str) -> list[str]:
    """Interventions not allowed in blocks of ``heritage_class``.

    Parameters
    ----------
    heritage_class : str
        ``core``, ``buffer`` or ``none``.

    Returns
    -------
    list of str
        Intervention ids of ``data/heritage_rules.toml``.

    Examples
    --------
    >>> "road_widening" in forbidden_interventions("core")
    True
    """
    return _class_list(heritage_class, "forbidden")


def review_interventions(heritage_class: str) -> list[str]:
    """Interventions this screening leaves to a case-by-case heritage review.

    Parameters
    ----------
    heritage_class : str
        ``core``, ``buffer`` or ``none``.

    Returns
    -------
    list of str
        Intervention ids of ``data/heritage_rules.toml`` (empty when the class leaves none to review).

    Examples
    --------
    >>> isinstance(review_interventions("buffer"), list)
    True
    """
    return _class_list(heritage_class, "review")


# ------------------------------------------------------------------ summary
def heritage_summary(blocks_with_cols: pd.DataFrame, layers: HeritageLayers) -> dict[str, Any]:
    """Heritage figures for run.json.

    Parameters
    ----------
    blocks_with_cols : DataFrame
        Blocks joined with :func:`block_heritage`'s columns; population columns
        (``population`` and any ``pop_*``) are summed per class when present.
    layers : HeritageLayers

    Returns
    -------
    dict
        ``blocks`` per class, ``area_ha`` per class (when the blocks have geometry),
        ``population`` per column and class, ``zones`` (count and union area by
        kind, overlaps), ``buildings`` (the merge report) and ``notes``.
    """
    if "heritage_class" not in blocks_with_cols.columns:
        raise InputError("the blocks have no heritage_class column", field="heritage_class",
                         fix="join block_heritage(blocks, layers) to the blocks first")
    cls = blocks_with_cols["heritage_class"]
    out: dict[str, Any] = {"blocks": {c: int((cls == c).sum()) for c in HERITAGE_CLASSES}}
    if isinstance(blocks_with_cols, gpd.GeoDataFrame) and blocks_with_cols.crs is not None \
            and pyproj.CRS.from_user_input(blocks_with_cols.crs).is_projected:
        area = blocks_with_cols.geometry.area
        out["area_ha"] = {c: round(float(area[cls == c].sum()) / 1e4, 2) for c in HERITAGE_CLASSES}
    pop_cols = [c for c in blocks_with_cols.columns if c == "population" or str(c).startswith("pop_")]
    if pop_cols:
        out["population"] = {col: {c: round(float(blocks_with_cols.loc[cls == c, col].sum()), 1)
                                   for c in HERITAGE_CLASSES} for col in pop_cols}
    styles = blocks_with_cols.get("heritage_style_area")
    if styles is not None:
        out["blocks_by_style_area"] = {str(k): int(v) for k, v in styles.dropna().value_counts().items()}
    rep = layers.report
    out["zones"] = {**{k: rep["zones"][k] for k in ZONE_KINDS}, "union_area_ha": rep["zones_union_ha"],
                    "overlaps": len(rep["overlaps"])}
    out["buildings"] = rep["buildings"]
    out["notes"] = list(rep["notes"])
    return out
