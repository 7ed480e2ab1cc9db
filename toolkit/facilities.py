"""Service facilities per category, from OpenStreetMap tags or user layers.

A facility is a point (a shop, a bus stop) or an area (a park, a school
compound). An area is entered at its edge, not at its middle: its *access
points* (:func:`access_points`) are its mapped entrances, or else the points of
its boundary that lie beside a walkable street, and the coverage search is
seeded from all of them (:func:`attach_facilities`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .datasets import data_toml
from .errors import InputError
from .snapping import Snapped, snap_points
from .standards import Category, categories

FACILITY_COLUMNS = ["facility_id", "category", "name", "source", "source_id", "osm_type", "area_m2", "entrances",
                    "geometry"]

#: Spacing (m) of the candidate access points along an area's boundary. The
#: Global Healthy & Sustainable City Indicators (GHSCI) take public open space
#: "pseudo entrances" as points every 20 m along the park boundary (their
#: ``aos_nodes_30m_line`` layer); 20 m also keeps the along-street error of
#: reaching a park at the nearest sample, not at the exact spot, below 10 m.
ACCESS_SPACING_M = 20.0
#: A boundary point counts as a way in when it lies within this many metres of
#: a walkable street centreline: GHSCI's 30 m. OSM streets are centrelines, so
#: the edge of a park across the pavement of a Shanghai arterial (24-40 m
#: between building lines) lies 12-20 m from the centreline, more with mapping
#: offsets; a 15 m limit would miss the parks along wide roads and fall back to
#: a single nearest point. Boundaries behind a row of buildings usually lie
#: further than 30 m.
ACCESS_MAX_STREET_M = 30.0

_AREA_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


# ------------------------------------------------------------ classification
def _rule_mask(gdf: pd.DataFrame, rule: str) -> np.ndarray:
    mask = np.ones(len(gdf), dtype=bool)
    for part in rule.split("&"):
        key, _, value = part.partition("=")
        if key not in gdf.columns:
            return np.zeros(len(gdf), dtype=bool)
        col = gdf[key]
        if not value:
            mask &= col.notna().to_numpy(dtype=bool)
            continue
        s = col.astype("string")
        hit = s.eq(value).fillna(False).to_numpy(dtype=bool)
        # OSM lists several values with ';' (isced:level=1;2): any of them matches
        listed = s.str.contains(";", regex=False).fillna(False).to_numpy(dtype=bool)
        if listed.any():
            hit[listed] = [value in (v.strip() for v in x.split(";")) for x in s[listed]]
        mask &= hit
    return mask


@cache
def school_level_rules() -> dict[str, Any]:
    """The school-name rules of ``data/school_levels.toml`` (checked against the categories)."""
    raw = data_toml("school_levels.toml")
    known = categories()
    rules = []
    for r in raw["rules"]:
        bad = set(r["categories"]) - set(known)
        if bad:
            raise InputError(f"unknown categories {sorted(bad)} in school_levels.toml", source="school_levels.toml",
                             field="rules.categories", fix=f"use: {', '.join(known)}")
        rules.append((tuple(w.lower() for w in r["words"]), tuple(r["categories"])))
    return {"applies_to": raw["applies_to"], "name_keys": tuple(raw["name_keys"]), "rules": tuple(rules)}


def level_from_name(name: str) -> tuple[str, ...]:
    """Categories a school name states (``()`` when it does not say).

    Parameters
    ----------
    name : str
        The school's name, in Chinese or English.

    Returns
    -------
    tuple of str
        Category names of ``data/categories.toml``; the word of
        ``data/school_levels.toml`` ending last in the name decides.

    Examples
    --------
    >>> level_from_name("上海市第一小学")
    ('primary_school',)
    >>> level_from_name("复旦大学附属中学")
    ('middle_school',)
    >>> level_from_name("某某学校")
    ()
    """
    low = name.lower()
    best, best_end, best_len = (), -1, 0
    for words, cats in school_level_rules()["rules"]:
        for w in words:
            pos = low.rfind(w)
            if pos < 0:
                continue
            end = pos + len(w)
            # the level word closest to the end of the name; among words ending together, the longer
            if end > best_end or (end == best_end and len(w) > best_len):
                best, best_end, best_len = cats, end, len(w)
    return best


def _school_rows(gdf: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """Rows the name rules apply to (schools without ``isced:level``) and the name levels of all rows."""
    cfg = school_level_rules()
    schools = _rule_mask(gdf, cfg["applies_to"])
    if "isced:level" in gdf.columns:
        schools &= gdf["isced:level"].isna().to_numpy()
    names = pd.Series(pd.NA, index=gdf.index, dtype="string")
    for key in cfg["name_keys"]:
        if key in gdf.columns:
            names = names.fillna(gdf[key].astype("string"))
    found: list[tuple[str, ...]] = [()] * len(gdf)
    for i in np.flatnonzero(schools & names.notna().to_numpy()):
        found[i] = level_from_name(str(names.iloc[i]))
    return schools, pd.Series(found, index=gdf.index, dtype=object)


def _school_categories() -> set[str]:
    cfg = school_level_rules()
    tagged = {c.name for c in categories().values() for r in c.osm if r.startswith(cfg["applies_to"])}
    return tagged | {c for _, cats in cfg["rules"] for c in cats}


def classify_osm(gdf: pd.DataFrame, only: Iterable[str] | None = None) -> pd.Series:
    """Category of each OSM feature from its tags (first matching category), NA if none.

    Schools that no tag rule places and that have no ``isced:level`` are then
    placed by their name (``data/school_levels.toml``). A school of two levels
    (九年一贯制) gets both, joined with ``;``: :func:`facilities_from` makes one
    facility of each.

    Parameters
    ----------
    gdf : DataFrame
        One column per OSM tag (as from :func:`toolkit.osm.read_osm_features`).
    only : iterable of str, optional
        Categories to look for; all of ``data/categories.toml`` by default.

    Returns
    -------
    Series of str
        Category names, NA where nothing matched.

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["school", "school", "pharmacy"], "name": ["第一小学", "某某学校", None]})
    >>> classify_osm(tags).tolist()
    ['primary_school', <NA>, 'pharmacy']
    """
    cats = categories()
    wanted = list(only) if only is not None else list(cats)
    out = pd.Series(pd.NA, index=gdf.index, dtype="string")
    for name in wanted:
        cat: Category = cats[name]
        for rule in cat.osm:
            m = _rule_mask(gdf, rule) & out.isna().to_numpy()
            out[m] = name
    if len(gdf) and _school_categories() & set(wanted):
        schools, levels = _school_rows(gdf)
        todo = np.flatnonzero(schools & out.isna().to_numpy())
        named = [";".join(c for c in levels.iloc[i] if c in wanted) for i in todo]
        out.iloc[todo] = [v if v else pd.NA for v in named]
    return out


def unknown_school_levels(gdf: pd.DataFrame, category: pd.Series, only: Iterable[str] | None = None) -> np.ndarray:
    """Schools whose level neither the tags nor the name give ("school, level unknown").

    Parameters
    ----------
    gdf : DataFrame
        OSM features, one column per tag.
    category : Series
        :func:`classify_osm` of ``gdf``.
    only : iterable of str, optional
        The categories looked for; without a school category among them no
        school is reported.

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["school", "school"], "name": ["第一小学", "某某学校"]})
    >>> unknown_school_levels(tags, classify_osm(tags)).tolist()
    [False, True]
    """
    wanted = set(only) if only is not None else set(categories())
    if not len(gdf) or not (_school_categories() & wanted):
        return np.zeros(len(gdf), dtype=bool)
    schools, levels = _school_rows(gdf)
    said = np.array([bool(v) for v in levels], dtype=bool)
    return schools & category.isna().to_numpy() & ~said


def classify_field(gdf: pd.DataFrame, field: str, mapping: dict[str, str] | None = None,
                   only: Iterable[str] | None = None, source: str = "") -> pd.Series:
    """Category of each row from a type column (e.g. ``landuse_type``).

    ``mapping`` maps values to categories; without it, each category's
    ``landuse`` list in ``categories.toml`` is used.
    """
    if field not in gdf.columns:
        raise InputError(f"type column {field!r} not found", source=source, field=field,
                         fix=f"use one of: {', '.join(map(str, gdf.columns))}")
    if mapping is None:
        mapping = {v: c.name for c in categories().values() for v in c.landuse}
    unknown = set(mapping.values()) - set(categories())
    if unknown:
        raise InputError(f"unknown categories in the mapping: {', '.join(sorted(unknown))}", source=source,
                         field="map", fix=f"use: {', '.join(categories())}")
    cat = gdf[field].astype("string").map(mapping).astype("string")
    if only is not None:
        cat = cat.where(cat.isin(list(only)))
    return cat


# ------------------------------------------------------------------ schema
def _osm_type(g: pd.DataFrame, sid: str | None) -> pd.Series:
    if "osm_type" in g.columns:
        return g["osm_type"].astype("string")
    if sid is not None:
        # Overpass GeoJSON ids read "way/123"
        t = g[sid].astype("string").str.extract(r"^(node|way|relation)/", expand=False)
        return t.astype("string")
    return pd.Series(pd.NA, index=g.index, dtype="string")


def facilities_from(gdf: gpd.GeoDataFrame, category: pd.Series | str, *, source: str,
                    name_field: str | None = None) -> gpd.GeoDataFrame:
    """Normalise a classified layer into the facilities schema.

    Points stay points and polygons stay polygons (an area is reached at its
    edge, see :func:`access_points`); lines and other shapes are represented by
    a point on them. A category of the form ``"a;b"`` gives one facility per
    category.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:32651")
    >>> facilities_from(g, "park", source="demo").geom_type.tolist()
    ['Polygon']
    """
    g = gdf.copy()
    g["category"] = category if isinstance(category, pd.Series) else pd.Series(category, index=g.index)
    g = g[g["category"].notna()]
    if g["category"].astype(str).str.contains(";", regex=False).any():
        # a school of two levels is a facility of each
        g = g.assign(category=g["category"].astype(str).str.split(";")).explode("category")
    g = g.reset_index(drop=True)
    if name_field is None:
        name_field = next((c for c in ("name", "name:zh", "title", "nameS", "名称") if c in g.columns), None)
    names = g[name_field].astype("string") if name_field else pd.Series(pd.NA, index=g.index, dtype="string")
    sid = next((c for c in ("osmid", "@id", "osm_id", "id") if c in g.columns), None)
    geom = np.asarray(g.geometry.values).copy()
    tid = shapely.get_type_id(geom)
    other = (tid != 0) & ~np.isin(tid, _AREA_TYPES) & ~shapely.is_missing(geom)
    geom[other] = shapely.point_on_surface(geom[other])
    entrances = g["entrances"] if "entrances" in g.columns else pd.Series(None, index=g.index, dtype=object)
    return gpd.GeoDataFrame({
        "category": g["category"].astype(str),
        "name": names,
        "source": source,
        "source_id": g[sid].astype(str) if sid else g.index.astype(str),
        "osm_type": _osm_type(g, sid),
        "entrances": entrances.astype(object),
    }, geometry=gpd.GeoSeries(geom, index=g.index, crs=g.crs), crs=g.crs)


def combine(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Concatenate facility layers, project them, number them and measure the areas (``area_m2``)."""
    projected = []
    for p in parts:
        if not len(p):
            continue
        q = p.to_crs(crs)
        if "entrances" in q.columns:
            # a second geometry column: to_crs moves only the active one
            q["entrances"] = np.asarray(gpd.GeoSeries(p["entrances"].to_numpy(), index=p.index, crs=p.crs)
                                        .to_crs(crs).values, dtype=object)
        projected.append(q)
    if not projected:
        cols = {c: [] for c in FACILITY_COLUMNS[:-1]}
        return gpd.GeoDataFrame(cols, geometry=[], crs=crs)
    fac = pd.concat(projected, ignore_index=True)
    fac.insert(0, "facility_id", np.arange(1, len(fac) + 1))
    fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=crs)
    geom = np.asarray(fac.geometry.values)
    is_area = np.isin(shapely.get_type_id(geom), _AREA_TYPES)
    fac["area_m2"] = np.where(is_area, np.round(shapely.area(geom), 1), np.nan)
    if "entrances" not in fac.columns:
        fac["entrances"] = None
    return fac[[c for c in FACILITY_COLUMNS if c in fac.columns]
               + [c for c in fac.columns if c not in FACILITY_COLUMNS]]


# ------------------------------------------------------------------ access
def _street_edges(net) -> tuple[np.ndarray, shapely.STRtree]:
    """The edges points may attach to and a tree over them: the ones :func:`snap_points` uses."""
    if hasattr(net, "snap_edges") and hasattr(net, "snap_edge_tree"):
        return net.snap_edges(), net.snap_edge_tree()
    ok = getattr(net, "snappable", None)
    ok = np.ones(net.n_edges, dtype=bool) if ok is None else np.asarray(ok, dtype=bool).copy()
    if net.snap_main_only:
        ok &= net.component[net.u] == 0
    if not ok.any():
        ok[:] = True
    idx = np.flatnonzero(ok)
    return idx, shapely.STRtree(net.edge_geometry[idx])


def access_points(facilities: gpd.GeoDataFrame, net, spacing_m: float = ACCESS_SPACING_M,
                  max_street_m: float = ACCESS_MAX_STREET_M) -> gpd.GeoDataFrame:
    """The points each facility is entered at from the street.

    * a point facility: itself (``kind="point"``; lines: a point on them);
    * an area with mapped entrances (an ``entrances`` MultiPoint, as
      :func:`toolkit.osm.read_osm_features` gives): those (``"entrance"``);
    * any other area: the points of its boundary, every ``spacing_m`` and at
      each corner, that lie within ``max_street_m`` of a street points may
      attach to (``net.snappable``: no tunnels or private ways) — the GHSCI
      "pseudo entrances" (``"boundary"``);
    * an area none of whose boundary points is that near a street: the
      boundary point nearest the network (``"nearest_boundary"``).

    Parameters
    ----------
    facilities : GeoDataFrame
        In the network's CRS, with ``facility_id`` (positions 1..n when
        absent) and optionally ``category`` and ``entrances``.
    net : WalkNetwork
    spacing_m : float
        Largest gap between boundary points.
    max_street_m : float
        How near a street a boundary point must lie.

    Returns
    -------
    GeoDataFrame
        One row per access point: ``facility_id``, ``category`` (when the
        facilities have one), ``kind`` and the point, in the facilities' order.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> park = gpd.GeoDataFrame({"facility_id": [1]}, geometry=[shapely.box(10, 10, 90, 90)], crs=net.crs)
    >>> access_points(park, net, max_street_m=15)["kind"].unique().tolist()
    ['boundary']
    """
    n = len(facilities)
    ids = facilities["facility_id"].to_numpy() if "facility_id" in facilities else np.arange(1, n + 1)
    geo = np.asarray(facilities.geometry.values)
    tid = shapely.get_type_id(geo)
    is_area = np.isin(tid, _AREA_TYPES) & ~shapely.is_empty(geo)
    pos_parts, geom_parts, kind_parts = [], [], []

    def add(pos: np.ndarray, g: np.ndarray, kind: str) -> None:
        pos_parts.append(np.asarray(pos, dtype=np.int64))
        geom_parts.append(np.asarray(g, dtype=object))
        kind_parts.append(np.full(len(pos), kind, dtype=object))

    pt = np.flatnonzero(~is_area & ~shapely.is_missing(geo) & ~shapely.is_empty(geo))
    g = geo[pt].copy()
    nonpoint = shapely.get_type_id(g) != 0
    g[nonpoint] = shapely.point_on_surface(g[nonpoint])
    add(pt, g, "point")

    ent = facilities["entrances"].to_numpy(dtype=object) if "entrances" in facilities else np.full(n, None)
    ent_ok = np.array([e is not None and not (isinstance(e, float) and np.isnan(e)) and not shapely.is_empty(e)
                       for e in ent], dtype=bool) & is_area
    if ent_ok.any():
        ep = np.flatnonzero(ent_ok)
        parts = shapely.get_parts(ent[ep], return_index=True)
        add(ep[parts[1]], parts[0], "entrance")

    todo = np.flatnonzero(is_area & ~ent_ok)
    if len(todo):
        edges, tree = _street_edges(net)
        rings = shapely.boundary(geo[todo])
        # segmentize keeps every corner and adds points so none is more than spacing_m from the next
        coords, which = shapely.get_coordinates(shapely.segmentize(rings, spacing_m), return_index=True)
        keep = ~pd.DataFrame({"i": which, "x": coords[:, 0], "y": coords[:, 1]}).duplicated().to_numpy()
        coords, which = coords[keep], which[keep]
        cand = shapely.points(coords)
        near = np.zeros(len(cand), dtype=bool)
        if len(edges) and len(cand):
            hit = tree.query(cand, predicate="dwithin", distance=max_street_m)
            near[np.unique(hit[0])] = True
        add(todo[which[near]], cand[near], "boundary")
        lost = np.setdiff1d(np.arange(len(todo)), which[near])
        if len(lost) and len(edges):
            # No boundary point is near a street (a building deep inside a block): take the
            # boundary points within max_street_m of the closest one's walk to a street, so the
            # facility is entered from every side that is about as near, not from one side alone.
            src, e = tree.query_nearest(rings[lost], all_matches=False)
            line = shapely.shortest_line(rings[lost][src], net.edge_geometry[edges[e]])
            best = np.full(len(todo), np.inf)
            best[lost[src]] = shapely.length(line)
            on_lost = np.isin(which, lost)
            ci, ce = tree.query_nearest(cand[on_lost], all_matches=False, return_distance=False)
            d = shapely.distance(cand[on_lost][ci], net.edge_geometry[edges[ce]])
            w = which[on_lost][ci]
            ok = d <= best[w] + max_street_m
            add(todo[w[ok]], cand[on_lost][ci][ok], "nearest_boundary")
            # the exact closest point too (it may lie between two sampled boundary points)
            add(todo[lost[src]], shapely.get_point(line, 0), "nearest_boundary")
    # a facility left with nothing (no street at all): its own point, so it is reported, not lost
    have = np.zeros(n, dtype=bool)
    for p in pos_parts:
        have[p] = True
    rest = np.flatnonzero(~have & ~shapely.is_missing(geo) & ~shapely.is_empty(geo))
    if len(rest):
        add(rest, shapely.point_on_surface(geo[rest]), "point")
    pos = np.concatenate(pos_parts)
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    out = {"facility_id": ids[pos]}
    if "category" in facilities:
        out["category"] = facilities["category"].to_numpy()[pos]
    out["kind"] = np.concatenate(kind_parts)[order]
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(np.concatenate(geom_parts)[order], crs=facilities.crs),
                            crs=facilities.crs)


def attach_facilities(facilities: gpd.GeoDataFrame, net, max_snap_m: float = np.inf,
                      spacing_m: float = ACCESS_SPACING_M, max_street_m: float = ACCESS_MAX_STREET_M,
                      ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, Snapped]:
    """Find and snap every facility's access points; summarise them per facility.

    Parameters
    ----------
    facilities : GeoDataFrame
        From :func:`combine` (points and polygons, in the network's CRS).
    net : WalkNetwork
    max_snap_m : float
        Access points further than this from every street are refused.
    spacing_m, max_street_m : float
        As in :func:`access_points`.

    Returns
    -------
    facilities : GeoDataFrame
        One row per facility, with a point geometry (a point on an area, for
        maps), ``access_points`` (how many), and ``snap_leg_m`` / ``snapped``
        of its best access point (the one nearest a street).
    access : GeoDataFrame
        One row per access point (see :func:`access_points`) with
        ``snap_leg_m``, ``snapped`` and ``best``.
    snapped : Snapped
        The access points snapped, in ``access`` order: the coverage sources.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> park = gpd.GeoDataFrame({"facility_id": [1], "category": ["park"]},
    ...                         geometry=[shapely.box(10, 10, 90, 90)], crs=net.crs)
    >>> fac, acc, snap = attach_facilities(park, net, max_snap_m=250)
    >>> int(fac["access_points"].iloc[0]) == len(acc), float(fac["snap_leg_m"].iloc[0])
    (True, 10.0)
    """
    access = access_points(facilities, net, spacing_m=spacing_m, max_street_m=max_street_m)
    snap = snap_points(net, access.geometry, max_snap_m=max_snap_m)
    access["snap_leg_m"] = np.round(snap.leg, 2)
    access["snapped"] = snap.ok
    # per facility, the access point nearest a street among the usable ones
    fpos = pd.Index(facilities["facility_id"].to_numpy()).get_indexer(access["facility_id"].to_numpy()) \
        if "facility_id" in facilities else access["facility_id"].to_numpy() - 1
    order = np.lexsort((snap.leg, ~snap.ok, fpos))
    first = np.ones(len(order), dtype=bool)
    first[1:] = fpos[order][1:] != fpos[order][:-1]
    best = order[first]
    access["best"] = False
    access.loc[access.index[best], "best"] = True
    fac = facilities.drop(columns=[c for c in ("entrances",) if c in facilities.columns]).copy()
    n = len(fac)
    leg = np.full(n, np.inf)
    ok = np.zeros(n, dtype=bool)
    leg[fpos[best]] = snap.leg[best]
    ok[fpos[best]] = snap.ok[best]
    fac["access_points"] = np.bincount(fpos, minlength=n) if len(fpos) else np.zeros(n, dtype=np.int64)
    fac["snap_leg_m"] = np.round(leg, 2)
    fac["snapped"] = ok
    geo = np.asarray(fac.geometry.values).copy()
    area = np.isin(shapely.get_type_id(geo), _AREA_TYPES)
    geo[area] = shapely.point_on_surface(geo[area])
    fac = fac.set_geometry(gpd.GeoSeries(geo, index=fac.index, crs=fac.crs))
    return fac, access, snap
