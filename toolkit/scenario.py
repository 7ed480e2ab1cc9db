"""Scenarios against a baseline: proposed facilities, closures and new walking links (issue #12, item 5).

A study may declare proposals as ``[[scenario]]`` tables (see ``docs/config.md``):
facilities to add (inline points or a layer, each optionally with the
``access`` point its walk starts from, so a canteen deep inside an estate
attaches at the estate's gate instead of being refused as too far from a
street), facilities to close (by ``facility_id`` or inside polygons) and
walking links to add (a riverside path, a gate through an estate). The run
measures each scenario against the finished baseline:

* on the **same categories, data status and denominators**: the blocks and
  the facilities' access points are attached exactly as the baseline attached
  them, a category the baseline measured on incomplete data stays incomplete
  and never flags a block, and a category the baseline had no data for gets
  after-figures but no before (never a rate that rose from 0);
* on a **copy** of the baseline's walking network when links are added: a link
  joins the streets at its two ends (splitting the street it meets there), it
  carries walks but takes no block or facility, so it moves nobody's door and
  can only shorten a walk. The baseline network object is never changed;
* and it writes a difference table per category (coverage of all residents,
  65+ and 0-14 before, after, change) and per zone, the layer
  ``scenario_<name>_blocks`` (distance change and what came newly within
  reach, per block), ``scenario_<name>_facilities`` (the added and closed
  facilities, with the reason any added one was refused), run.json
  ``scenarios``, a report section and a map layer.

The baseline result's blocks, figures and network are only read (the tests
compare them before and after): :func:`scenario_effect` returns everything as a
:class:`ScenarioEffect`, and :func:`run_scenarios` (called by
:func:`toolkit.study.run_study`) adds the layers, notes and the ``scenarios``
detail to the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops

from .completeness import statuses
from .coverage import coverage_rates, point_distances
from .crs import WGS84
from .errors import InputError
from .io import read_layer
from .labels import label
from .network import MIN_EDGE_M, WalkNetwork
from .sections import Section
from .snapping import Snapped, snap_points
from .underserved import compare_underserved, grid_zones, underserved_blocks

if TYPE_CHECKING:
    from .result import StudyResult

__all__ = [
    "LINK_NODE_TOLERANCE_M",
    "POP_GROUPS",
    "Scenario",
    "ScenarioEffect",
    "changed_mask",
    "network_with_links",
    "report_sections",
    "run_scenarios",
    "scenario_effect",
    "scenario_from_config",
    "scenario_zones",
    "scenarios_of",
    "zone_of",
]

#: A link's end this close (metres along the street) to a street's end node joins that node; farther, the street
#: is split where the end meets it.
LINK_NODE_TOLERANCE_M = 0.5
#: Distances closer than this (metres) are the same distance: the same walk summed in another order.
SAME_M = 1e-6
#: The population groups of the difference tables: rate key -> block column.
POP_GROUPS: dict[str, str] = {"total": "population", "65plus": "pop_65plus", "0_14": "pop_0_14"}
_BASIS = ("the baseline's categories, data status and denominators: blocks and facilities attached as in the "
          "baseline; a category measured on incomplete data never flags a block; one without baseline data has "
          "no before")


# ------------------------------------------------------------------ scenario
@dataclass
class Scenario:
    """One proposal to compare with the baseline (a ``[[scenario]]`` table, or built in Python).

    Attributes
    ----------
    name : str
        Short name: the layers ``scenario_<name>_blocks`` and ``scenario_<name>_facilities``.
    title : str
        For the report and the map.
    added : GeoDataFrame, optional
        Proposed facilities: points in any CRS with ``category``, optionally
        ``name`` and ``access_lon`` / ``access_lat`` (WGS84) of the entrance
        the walk starts from (NaN: the point itself).
    close : list of int
        ``facility_id`` of the baseline's facilities to close.
    close_areas : GeoDataFrame, optional
        Polygons: the baseline's facilities whose point lies inside are closed
        (only those of ``close_categories`` when given).
    close_categories : list of str, optional
    links : GeoDataFrame, optional
        Proposed walking links: lines in any CRS, optionally with ``name``.
    link_max_snap_m : float
        How far a link's end may lie from the street it joins.
    """

    name: str
    title: str = ""
    added: gpd.GeoDataFrame | None = None
    close: list[int] = field(default_factory=list)
    close_areas: gpd.GeoDataFrame | None = None
    close_categories: list[str] | None = None
    links: gpd.GeoDataFrame | None = None
    link_max_snap_m: float = 50.0


def _inline_facilities(rows: Sequence[Mapping[str, Any]]) -> gpd.GeoDataFrame:
    acc = [r.get("access") or (np.nan, np.nan) for r in rows]
    return gpd.GeoDataFrame({"category": [str(r["category"]) for r in rows],
                             "name": [str(r.get("name", "")) for r in rows],
                             "access_lon": [float(a[0]) for a in acc], "access_lat": [float(a[1]) for a in acc]},
                            geometry=gpd.points_from_xy([float(r["lon"]) for r in rows],
                                                        [float(r["lat"]) for r in rows]), crs=WGS84)


def _source_facilities(src: Any, category_field: str, where: str) -> gpd.GeoDataFrame:
    g = read_layer(src.resolve(), **src.reader_options())
    if category_field not in g.columns:
        raise InputError(f"the proposed facilities have no column {category_field!r}", source=src.label(),
                         field=f"{where}.category_field",
                         fix="name the category column with category_field (columns: "
                         f"{', '.join(map(str, g.columns))})")
    out = gpd.GeoDataFrame({"category": g[category_field].astype(str).to_numpy(),
                            "name": g["name"].astype(str).to_numpy() if "name" in g else "",
                            "access_lon": pd.to_numeric(g["access_lon"], errors="coerce").to_numpy()
                            if "access_lon" in g else np.nan,
                            "access_lat": pd.to_numeric(g["access_lat"], errors="coerce").to_numpy()
                            if "access_lat" in g else np.nan},
                           geometry=shapely.point_on_surface(np.asarray(g.geometry.values)), crs=g.crs)
    return out


def scenario_from_config(raw: Mapping[str, Any], where: str = "scenario[0]") -> Scenario:
    """A :class:`Scenario` from its checked ``[[scenario]]`` table (sources as :class:`~toolkit.sources.Source`).

    Layers named there are read now (inline points and lines need no reading).

    Examples
    --------
    >>> sc = scenario_from_config({"name": "gate", "facilities": [
    ...     {"category": "elderly_care", "lon": 121.437, "lat": 31.195, "access": [121.4372, 31.1938]}]})
    >>> sc.name, sc.added["category"].tolist(), round(float(sc.added["access_lat"].iloc[0]), 4)
    ('gate', ['elderly_care'], 31.1938)
    """
    parts = []
    if raw.get("facilities"):
        parts.append(_inline_facilities(raw["facilities"]))
    if raw.get("facilities_source") is not None:
        parts.append(_source_facilities(raw["facilities_source"], raw.get("category_field", "category"), where)
                     .to_crs(WGS84))
    added = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=WGS84) if parts else None
    lines = []
    for r in raw.get("links") or []:
        lines.append({"name": str(r.get("name", "")), "geometry": shapely.linestrings(
            np.asarray(r["coords"], dtype=float))})
    links = gpd.GeoDataFrame(lines, geometry="geometry", crs=WGS84) if lines else None
    if raw.get("links_source") is not None:
        src = raw["links_source"]
        g = read_layer(src.resolve(), **src.reader_options()).to_crs(WGS84)
        parts_l = shapely.get_parts(np.asarray(g.geometry.values))
        more = gpd.GeoDataFrame({"name": ""}, geometry=parts_l, crs=WGS84, index=range(len(parts_l)))
        links = more if links is None else gpd.GeoDataFrame(pd.concat([links, more], ignore_index=True), crs=WGS84)
    areas = None
    if raw.get("close_source") is not None:
        src = raw["close_source"]
        areas = read_layer(src.resolve(), **src.reader_options())
    return Scenario(name=str(raw["name"]), title=str(raw.get("title", "")), added=added,
                    close=[int(i) for i in raw.get("close") or []], close_areas=areas,
                    close_categories=list(raw["close_categories"]) if raw.get("close_categories") else None,
                    links=links, link_max_snap_m=float(raw.get("link_max_snap_m", 50.0)))


def scenarios_of(study: Any) -> list[Scenario]:
    """The study's ``[[scenario]]`` tables as :class:`Scenario` objects; names must be unique."""
    out = [s if isinstance(s, Scenario) else scenario_from_config(s, f"scenario[{i}]")
           for i, s in enumerate(getattr(study, "scenarios", None) or [])]
    seen: set[str] = set()
    for i, s in enumerate(out):
        if s.name in seen:
            raise InputError(f"two scenarios are named {s.name!r}", source=getattr(study, "source_file", None),
                             field=f"scenario[{i}].name", fix="give each [[scenario]] its own name")
        seen.add(s.name)
    return out


# ------------------------------------------------------------------ network
def _link_ends(net: WalkNetwork, ends: np.ndarray, max_snap_m: float, names: Sequence[str]) -> pd.DataFrame:
    """Where each link end meets the streets: edge, position along it (metres of geometry), leg."""
    cand = np.flatnonzero(net.snappable) if net.snappable.any() else np.arange(net.n_edges)
    tree = shapely.STRtree(net.edge_geometry[cand])
    src, hit = tree.query_nearest(ends, return_distance=False, all_matches=False)
    edge = np.full(len(ends), -1, dtype=np.int64)
    edge[src] = cand[hit]
    geom = net.edge_geometry[edge]
    pos = shapely.line_locate_point(geom, ends)
    leg = shapely.distance(ends, shapely.line_interpolate_point(geom, pos))
    far = np.flatnonzero(leg > max_snap_m)
    if len(far):
        i = int(far[0])
        raise InputError(f"the end of link {names[i // 2]!r} lies {leg[i]:.0f} m from the nearest street it could "
                         f"join (at most {max_snap_m:.0f} m)", field="scenario.links",
                         fix="draw the link to the streets it joins, or raise link_max_snap_m")
    return pd.DataFrame({"edge": edge, "pos": pos, "leg": leg, "glen": shapely.length(geom)})


def network_with_links(net: WalkNetwork, links: gpd.GeoSeries | np.ndarray, max_snap_m: float = 50.0,
                       names: Sequence[str] | None = None) -> tuple[WalkNetwork, pd.DataFrame]:
    """A new network: ``net`` plus walking links, each joined to the streets at its two ends.

    A link's end joins the nearest snappable street: its end node when within
    :data:`LINK_NODE_TOLERANCE_M` of it, else a new node that splits the
    street there (the two parts keep the street's attributes and share its
    length in proportion). The straight step from the link's end to that point
    is part of the link. Links carry walks but take no block or facility (not
    snappable), and the edges blocks and facilities were attached to stay
    attachable as they were (``snap_main_only`` is resolved into
    ``snappable``), so every point attaches as on ``net`` and no walk gets
    longer. ``net`` is not changed.

    Parameters
    ----------
    net : WalkNetwork
    links : GeoSeries or array of LineString
        In ``net``'s CRS.
    max_snap_m : float
        A link end farther than this from every street is an :class:`InputError`.
    names : sequence of str, optional
        The links' names, for messages and the table.

    Returns
    -------
    network : WalkNetwork
    table : DataFrame
        Per link: ``name``, ``length_m`` (with the steps to the streets), ``from_node`` and ``to_node``
        (positions in the new network) and ``split_edges`` (streets split for it).

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> new, table = network_with_links(net, np.array([shapely.LineString([(0, 0), (200, 150)])]))
    >>> new.n_edges - net.n_edges, round(float(table["length_m"].iloc[0]), 1), net.n_edges
    (2, 250.0, 12)
    """
    g = np.asarray(links.values if isinstance(links, gpd.GeoSeries) else links, dtype=object)
    names = list(names) if names is not None else [f"link {i + 1}" for i in range(len(g))]
    starts, stops = shapely.get_point(g, 0), shapely.get_point(g, -1)
    ends = np.column_stack([starts, stops]).ravel()  # start, end of link 0, then of link 1...
    at = _link_ends(net, ends, max_snap_m, names)
    scale = np.divide(net.length[at["edge"]], at["glen"], out=np.ones(len(at)), where=at["glen"] > 0)
    along = at["pos"].to_numpy() * scale
    to_v = (at["glen"].to_numpy() - at["pos"].to_numpy()) * scale
    node = np.where(along <= LINK_NODE_TOLERANCE_M, net.u[at["edge"]],
                    np.where(to_v <= LINK_NODE_TOLERANCE_M, net.v[at["edge"]], -1))
    splits = at.loc[node < 0, ["edge", "pos"]].drop_duplicates().sort_values(["edge", "pos"])
    x, y = list(net.x), list(net.y)
    node_id = list(net.node_id)
    u, v, length = list(net.u), list(net.v), list(net.length)
    geom = list(net.edge_geometry)
    base_ok = np.zeros(net.n_edges, dtype=bool)
    base_ok[net.snap_edges()] = True
    snappable, origin = list(base_ok), list(range(net.n_edges))
    new_node: dict[tuple[int, float], int] = {}
    for e, grp in splits.groupby("edge"):
        e = int(e)
        line, glen = net.edge_geometry[e], float(shapely.length(net.edge_geometry[e]))
        cuts = [0.0, *grp["pos"].tolist(), glen]
        ids = [int(net.u[e])]
        for p in grp["pos"]:
            pt = shapely.line_interpolate_point(line, p)
            new_node[(e, float(p))] = len(x)
            ids.append(len(x))
            x.append(float(pt.x))
            y.append(float(pt.y))
            node_id.append(-len(x))
        ids.append(int(net.v[e]))
        for k in range(len(cuts) - 1):
            piece = shapely.ops.substring(line, cuts[k], cuts[k + 1])
            part_len = float(net.length[e]) * (cuts[k + 1] - cuts[k]) / glen if glen > 0 else MIN_EDGE_M
            if k == 0:  # the first part takes the street's place, the others go at the end
                v[e], length[e], geom[e] = ids[1], part_len, piece
                continue
            u.append(ids[k])
            v.append(ids[k + 1])
            length.append(part_len)
            geom.append(piece)
            snappable.append(bool(base_ok[e]))
            origin.append(e)
    rows = []
    for i, line in enumerate(g):
        a, b = 2 * i, 2 * i + 1
        ends_n = []
        coords = list(shapely.get_coordinates(line))
        for j in (a, b):
            n = int(node[j]) if node[j] >= 0 else new_node[(int(at.at[j, "edge"]), float(at.at[j, "pos"]))]
            ends_n.append(n)
        path = [(x[ends_n[0]], y[ends_n[0]]), *map(tuple, coords), (x[ends_n[1]], y[ends_n[1]])]
        path = [p for k, p in enumerate(path) if k == 0 or p != path[k - 1]]
        lg = shapely.linestrings(path) if len(path) > 1 else shapely.linestrings([path[0], path[0]])
        u.append(ends_n[0])
        v.append(ends_n[1])
        length.append(float(shapely.length(lg)))
        geom.append(lg)
        snappable.append(False)
        origin.append(-1)
        rows.append({"name": names[i], "length_m": float(shapely.length(lg)), "from_node": ends_n[0],
                     "to_node": ends_n[1], "split_edges": int((node[[a, b]] < 0).sum())})
    attrs = None
    if net.edge_attrs is not None:
        attrs = net.edge_attrs.reindex(np.where(np.array(origin) >= 0, origin, -1)).reset_index(drop=True)
        if "highway" in attrs:
            attrs.loc[np.array(origin) < 0, "highway"] = "scenario_link"
    new = WalkNetwork(x=np.array(x), y=np.array(y), u=np.array(u), v=np.array(v), length=np.array(length),
                      crs=net.crs, geometry=np.array(geom, dtype=object), node_id=np.array(node_id),
                      edge_attrs=attrs, info={**net.info, "scenario_links": len(g)}, snap_main_only=False,
                      snappable=np.array(snappable, dtype=bool), barriers=net.barriers)
    return new, pd.DataFrame(rows)


# -------------------------------------------------------------------- zones
def zone_of(blocks: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, zone_field: str = "zone_id") -> np.ndarray:
    """The zone of each block: the one holding its representative point (the first listed), else ``"unassigned"``.

    The rule of :func:`toolkit.underserved.roll_up`.

    Examples
    --------
    >>> z = gpd.GeoDataFrame({"zone_id": ["A", "B"]}, geometry=[shapely.box(0, 0, 10, 10),
    ...                      shapely.box(10, 0, 20, 10)], crs="EPSG:32651")
    >>> b = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 2, 2), shapely.box(12, 1, 13, 2),
    ...                      shapely.box(50, 50, 51, 51)], crs="EPSG:32651")
    >>> zone_of(b, z).tolist()
    ['A', 'B', 'unassigned']
    """
    pts = shapely.point_on_surface(np.asarray(blocks.geometry.values))
    zi_pts, zi_zone = shapely.STRtree(np.asarray(zones.to_crs(blocks.crs).geometry.values)).query(
        pts, predicate="within")
    order = np.lexsort((zi_zone, zi_pts))
    zi_pts, zi_zone = zi_pts[order], zi_zone[order]
    first = np.unique(zi_pts, return_index=True)[1]
    out = np.full(len(blocks), "unassigned", dtype=object)
    out[zi_pts[first]] = zones[zone_field].astype(str).to_numpy()[zi_zone[first]]
    return out


def scenario_zones(result: Any) -> tuple[gpd.GeoDataFrame, str]:
    """The zones a run rolls up to (its ``zones`` layer, else the study's square grid) and their id field."""
    study = result.study
    z = (getattr(result, "layers", None) or {}).get("zones")
    field_ = study.zone_id_field or "zone_id"
    if z is not None and field_ in z:
        return z[[field_, z.geometry.name]], field_
    land = result.land if getattr(result, "land", None) is not None else result.area.geometry.iloc[0]
    return grid_zones(land, study.zone_grid_m, result.crs), "zone_id"


# ----------------------------------------------------------------- measuring
def changed_mask(before: np.ndarray, after: np.ndarray, tol: float = SAME_M) -> np.ndarray:
    """Where two distance columns differ: by more than ``tol`` metres, or one is infinite or missing and the other not.

    Examples
    --------
    >>> changed_mask(np.array([1.0, np.inf, np.nan, 5.0]), np.array([1.0, 3.0, np.nan, 5.0 + 1e-9])).tolist()
    [False, True, False, False]
    """
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    out = np.zeros(len(a), dtype=bool)
    out[both] = np.abs(a[both] - b[both]) > tol
    out[~both] = ~((np.isnan(a) & np.isnan(b)) | ((np.isinf(a) & np.isinf(b)) & (np.sign(a) == np.sign(b))))[~both]
    return out


@dataclass
class _Proposals:
    """A scenario's facilities resolved against the baseline (all in the study CRS)."""

    fac: gpd.GeoDataFrame  # the facilities after: baseline less closed plus added (one row per facility)
    access: gpd.GeoDataFrame  # their access points (facility_id, geometry)
    closed: gpd.GeoDataFrame  # the baseline rows closed
    added: gpd.GeoDataFrame  # the added rows, with facility_id and access geometry


def _resolve(result: Any, sc: Scenario) -> _Proposals:
    fac = result.facilities
    access = result.details["facility_access"]
    profile_cats = list(result.profile.categories)
    where = f"scenario {sc.name!r}"
    ids = fac["facility_id"].to_numpy()
    bad = sorted(set(sc.close) - set(ids.tolist()))
    if bad:
        raise InputError(f"{where} closes facility_id {', '.join(map(str, bad[:10]))}, not among the baseline's "
                         f"{len(fac)} facilities", source=result.study.source_file, field=f"{where}.close",
                         fix="use the facility_id of the baseline's facilities layer (GeoPackage, run.json)")
    shut = np.isin(ids, sc.close)
    if sc.close_areas is not None and len(sc.close_areas):
        areas = shapely.union_all(np.asarray(sc.close_areas.to_crs(result.crs).geometry.values))
        inside = shapely.intersects(areas, np.asarray(fac.geometry.values))
        if sc.close_categories:
            inside &= fac["category"].isin(sc.close_categories).to_numpy()
        shut |= inside
    added = sc.added if sc.added is not None else gpd.GeoDataFrame(
        {"category": [], "name": [], "access_lon": [], "access_lat": []}, geometry=[], crs=WGS84)
    unknown = sorted(set(added["category"].astype(str)) - set(profile_cats))
    if unknown:
        raise InputError(f"{where} adds facilities of categories not in the profile: {', '.join(unknown)}",
                         source=result.study.source_file, field=f"{where}.facilities.category",
                         fix=f"use: {', '.join(profile_cats)}")
    added = added.to_crs(result.crs).reset_index(drop=True)
    start = int(ids.max()) + 1 if len(ids) else 1
    added["facility_id"] = np.arange(start, start + len(added), dtype=np.int64)
    lon = added["access_lon"].to_numpy(dtype=float) if "access_lon" in added else np.full(len(added), np.nan)
    lat = added["access_lat"].to_numpy(dtype=float) if "access_lat" in added else np.full(len(added), np.nan)
    given = np.isfinite(lon) & np.isfinite(lat)
    acc_geom = np.asarray(added.geometry.values).copy()
    if given.any():
        acc_geom[given] = np.asarray(gpd.GeoSeries(gpd.points_from_xy(lon[given], lat[given]), crs=WGS84)
                                     .to_crs(result.crs).values)
    added["access_given"] = given
    added["access_geometry"] = acc_geom
    after = pd.concat([fac.loc[~shut, ["facility_id", "category", "area_m2", "geometry"]],
                       added.assign(area_m2=np.nan)[["facility_id", "category", "area_m2", "geometry"]]],
                      ignore_index=True)
    acc = pd.concat([access.loc[access["facility_id"].isin(ids[~shut]), ["facility_id", "geometry"]],
                     pd.DataFrame({"facility_id": added["facility_id"], "geometry": acc_geom})], ignore_index=True)
    return _Proposals(fac=gpd.GeoDataFrame(after, geometry="geometry", crs=result.crs),
                      access=gpd.GeoDataFrame(acc, geometry="geometry", crs=result.crs),
                      closed=fac.loc[shut], added=added)


def _counted_access(result: Any, prop: _Proposals) -> dict[str, np.ndarray]:
    """Per category of the profile, the access points (positions in ``prop.access``) its coverage counts."""
    counted, _ = result.profile.coverage_sources(prop.fac)
    fid = prop.access["facility_id"].to_numpy()
    return {c: np.flatnonzero(np.isin(fid, prop.fac["facility_id"].to_numpy()[m])) for c, m in counted.items()}


def _touched(result: Any, prop: _Proposals, sc: Scenario) -> set[str]:
    """The categories whose facilities the scenario changes (every category when it adds links)."""
    if sc.links is not None and len(sc.links):
        return set(result.profile.categories)
    both = pd.concat([prop.closed[["category"]], prop.added[["category"]]])
    counted, _ = result.profile.coverage_sources(both.assign(area_m2=np.nan))
    return {c for c, m in counted.items() if np.asarray(m).any()}


def _after_distances(result: Any, net: WalkNetwork, prop: _Proposals, cats: list[str],
                     changed_net: bool) -> tuple[pd.DataFrame, Snapped]:
    """``dist_<c>_m`` / ``within_<c>`` after, for ``cats``, and the added facilities' snap."""
    study, blocks = result.study, result.blocks
    rules = result.profile.rules()
    obstacles = (result.details or {}).get("snap_obstacles")
    bsnap = snap_points(net, blocks.geometry, max_snap_m=study.block_max_snap_m, obstacles=obstacles)
    asnap = snap_points(net, gpd.GeoSeries(prop.access.geometry.values, crs=blocks.crs),
                        max_snap_m=study.facility_max_snap_m, obstacles=obstacles)
    pos = _counted_access(result, prop)
    n_base = len(prop.access) - len(prop.added)
    removed = len(prop.closed) > 0
    after = pd.DataFrame(index=blocks.index)
    for c in cats:
        p = pos.get(c, np.zeros(0, dtype=np.int64))
        before = blocks[f"dist_{c}_m"].to_numpy(dtype=float) if f"dist_{c}_m" in blocks else None
        if before is not None and not changed_net and not removed:
            # facilities only added on the same network: the nearer of the baseline's and the added ones'
            new = p[p >= n_base]
            d = point_distances(net, bsnap, asnap.subset(new), limit=study.search_limit_m) \
                if len(new) and asnap.ok[new].any() else np.full(len(blocks), np.inf)
            d = np.minimum(before, d)
        elif len(p) and asnap.ok[p].any():
            d = point_distances(net, bsnap, asnap.subset(p), limit=study.search_limit_m)
        else:
            d = np.where(bsnap.ok, np.inf, np.nan)  # every facility counted closed: nobody reaches one
        after[f"dist_{c}_m"] = d
        after[f"within_{c}"] = d <= rules[c].max_distance_m
    return after, asnap.subset(np.arange(n_base, len(prop.access)))


def _rates(frame: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    cols = {k: v for k, v in POP_GROUPS.items() if v in frame}
    return coverage_rates(frame, cats, pop_cols=cols) if cats else pd.DataFrame()


def _category_table(result: Any, after: pd.DataFrame, cats: list[str], prop: _Proposals) -> pd.DataFrame:
    blocks = result.blocks
    measured = [c for c in cats if c in result.categories]
    pops = [p for p in POP_GROUPS.values() if p in blocks]
    if not cats:  # a scenario that touches no category (nothing proposed): nothing to tabulate
        return pd.DataFrame(index=pd.Index([], name="category"))
    post = _rates(pd.concat([blocks[pops], after], axis=1), cats)
    pre = _rates(blocks, measured).reindex(index=cats, columns=post.columns)
    status = statuses(result.details.get("data_status") or {})
    counted_after, _ = result.profile.coverage_sources(prop.fac)
    src = (result.details.get("facilities") or {}).get("coverage_sources") or {}
    t = pd.DataFrame(index=pd.Index(cats, name="category"))
    t["data_status"] = [status.get(c, "no data") if c in measured else "no data" for c in cats]
    t["facilities_before"] = [src.get(c, {}).get("facilities", 0) if c in measured else 0 for c in cats]
    t["facilities_after"] = [int(np.asarray(counted_after.get(c, [])).sum()) for c in cats]
    for key in (k for k in POP_GROUPS if f"rate_{k}" in post):
        t[f"rate_{key}_before"] = pre[f"rate_{key}"]
        t[f"rate_{key}_after"] = post[f"rate_{key}"]
        t[f"rate_{key}_change"] = post[f"rate_{key}"] - pre[f"rate_{key}"]
        t[f"covered_{key}_before"] = pre[f"covered_{key}"]
        t[f"covered_{key}_after"] = post[f"covered_{key}"]
    t["not_assessed_total"] = post["not_assessed_total"]
    for c in cats:
        if c in measured:
            b0 = blocks[f"within_{c}"].to_numpy(dtype=bool)
            b1 = after[f"within_{c}"].to_numpy(dtype=bool)
            t.loc[c, "blocks_newly_within"] = int((b1 & ~b0).sum())
            t.loc[c, "blocks_no_longer_within"] = int((b0 & ~b1).sum())
            t.loc[c, "blocks_distance_changed"] = int(changed_mask(blocks[f"dist_{c}_m"], after[f"dist_{c}_m"]).sum())
        else:
            t.loc[c, ["blocks_newly_within", "blocks_no_longer_within", "blocks_distance_changed"]] = np.nan
    return t


def _block_layer(result: Any, after: pd.DataFrame, cats: list[str],
                 flags: tuple[pd.DataFrame, pd.DataFrame]) -> gpd.GeoDataFrame:
    blocks = result.blocks
    keep = [c for c in ("block_id", *POP_GROUPS.values()) if c in blocks]
    out = gpd.GeoDataFrame(blocks[keep].copy(), geometry=blocks.geometry.values, crs=blocks.crs, index=blocks.index)
    measured = [c for c in cats if c in result.categories]
    newly = np.zeros((len(blocks), len(measured)), dtype=bool)
    lost = np.zeros_like(newly)
    moved = np.zeros(len(blocks), dtype=bool)
    for c in cats:
        d1 = after[f"dist_{c}_m"].to_numpy(dtype=float)
        out[f"dist_{c}_m"] = d1
        out[f"within_{c}"] = after[f"within_{c}"].to_numpy(dtype=bool)
        if c not in measured:
            continue
        d0 = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            ch = np.where(np.isfinite(d0) & np.isfinite(d1), d1 - d0, np.nan)
        ch[np.abs(ch) <= SAME_M] = 0.0
        out[f"dist_change_{c}_m"] = ch
        moved |= changed_mask(d0, d1)
        k = measured.index(c)
        w0, w1 = blocks[f"within_{c}"].to_numpy(dtype=bool), out[f"within_{c}"].to_numpy(dtype=bool)
        newly[:, k], lost[:, k] = w1 & ~w0, w0 & ~w1
    names = np.array(measured, dtype=object)
    out["n_newly_within"] = newly.sum(axis=1)
    out["newly_within"] = [";".join(names[r]) for r in newly]
    out["n_no_longer_within"] = lost.sum(axis=1)
    out["no_longer_within"] = [";".join(names[r]) for r in lost]
    out["distance_changed"] = moved
    out["underserved_before"] = flags[0]["underserved"].to_numpy(dtype=bool)
    out["underserved_after"] = flags[1]["underserved"].to_numpy(dtype=bool)
    return out


def _zone_table(result: Any, after: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Per zone and measured category: residents within reach before and after, blocks that changed."""
    zones, zfield = scenario_zones(result)
    zone = zone_of(result.blocks, zones, zfield)
    blocks = result.blocks
    rows = []
    pops = {k: v for k, v in POP_GROUPS.items() if v in blocks}
    for c in (c for c in cats if c in result.categories):
        w0 = blocks[f"within_{c}"].to_numpy(dtype=bool) & blocks[f"dist_{c}_m"].notna().to_numpy()
        w1 = after[f"within_{c}"].to_numpy(dtype=bool) & after[f"dist_{c}_m"].notna().to_numpy()
        df = pd.DataFrame({"zone": zone, "newly": w1 & ~w0, "lost": w0 & ~w1,
                           "moved": changed_mask(blocks[f"dist_{c}_m"], after[f"dist_{c}_m"])})
        for k, col in pops.items():
            p = blocks[col].to_numpy(dtype=float)
            df[f"covered_{k}_before"] = np.where(w0, p, 0.0)
            df[f"covered_{k}_after"] = np.where(w1, p, 0.0)
        g = df.groupby("zone").sum()
        g.insert(0, "category", c)
        rows.append(g)
    if not rows:
        return pd.DataFrame(columns=[zfield, "category"])
    t = pd.concat(rows).reset_index().rename(columns={"zone": zfield, "newly": "blocks_newly_within",
                                                      "lost": "blocks_no_longer_within",
                                                      "moved": "blocks_distance_changed"})
    for k in pops:
        t[f"covered_{k}_change"] = t[f"covered_{k}_after"] - t[f"covered_{k}_before"]
    return t


@dataclass
class ScenarioEffect:
    """What a scenario changes against the baseline (:func:`scenario_effect`)."""

    scenario: Scenario
    blocks: gpd.GeoDataFrame  # the layer scenario_<name>_blocks, on the baseline blocks' index
    categories: pd.DataFrame  # per category: data status, facilities and rates before, after, change
    zones: pd.DataFrame  # per zone and measured category: residents within reach before, after, change
    facilities: gpd.GeoDataFrame  # the layer scenario_<name>_facilities: added (with their snap) and closed
    after: pd.DataFrame  # dist_<c>_m / within_<c> after, for the categories the scenario touches
    underserved: dict[str, Any]  # counts before and after on the baseline's categories and statuses
    links: gpd.GeoDataFrame | None = None  # the layer scenario_<name>_links
    network: WalkNetwork | None = None  # the scenario's network (the baseline's when no link is added)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The run.json entry of the scenario."""
        sc = self.scenario
        changed = self.zones
        if len(changed):
            moved = changed[["blocks_newly_within", "blocks_no_longer_within", "blocks_distance_changed"]].sum(axis=1)
            changed = changed[moved.to_numpy() > 0]
        fac = self.facilities
        added = fac[fac["action"] == "added"]
        return {
            "name": sc.name, "title": sc.title, "basis": _BASIS,
            "proposals": {"added": len(added), "added_refused": int((~added["snapped"].astype(bool)).sum()),
                          "added_with_access_point": int(added["access_given"].astype(bool).sum()),
                          "closed": int((fac["action"] == "closed").sum()),
                          "links": 0 if self.links is None else len(self.links),
                          "links_length_m": 0.0 if self.links is None else float(self.links["length_m"].sum())},
            "blocks_changed": int(self.blocks["distance_changed"].sum()),
            "blocks_newly_within": int((self.blocks["n_newly_within"] > 0).sum()),
            "blocks_no_longer_within": int((self.blocks["n_no_longer_within"] > 0).sum()),
            "underserved": self.underserved,
            "categories": self.categories.reset_index().to_dict(orient="records"),
            "zones_changed": changed.to_dict(orient="records"),
            "layers": [f"scenario_{sc.name}_blocks", f"scenario_{sc.name}_facilities"]
            + ([f"scenario_{sc.name}_links"] if self.links is not None and len(self.links) else []),
        }


def _facility_layer(result: Any, prop: _Proposals, asnap: Snapped) -> gpd.GeoDataFrame:
    add = prop.added
    a = pd.DataFrame({"facility_id": add["facility_id"].to_numpy(), "action": "added",
                      "category": add["category"].astype(str).to_numpy(), "name": add["name"].astype(str).to_numpy()
                      if "name" in add else "", "access_given": add["access_given"].to_numpy(dtype=bool),
                      "snapped": asnap.ok, "snap_reason": asnap.reason.astype(str),
                      "snap_leg_m": np.round(asnap.leg, 2), "geometry": np.asarray(add.geometry.values)})
    cl = prop.closed
    c = pd.DataFrame({"facility_id": cl["facility_id"].to_numpy(), "action": "closed",
                      "category": cl["category"].astype(str).to_numpy(),
                      "name": cl["name"].astype(str).to_numpy() if "name" in cl else "",
                      "access_given": False, "snapped": cl["snapped"].to_numpy(dtype=bool) if "snapped" in cl
                      else True, "snap_reason": cl["snap_reason"].astype(str).to_numpy() if "snap_reason" in cl
                      else "", "snap_leg_m": cl["snap_leg_m"].to_numpy(dtype=float) if "snap_leg_m" in cl
                      else np.nan, "geometry": np.asarray(cl.geometry.values)})
    both = pd.concat([x for x in (a, c) if len(x)], ignore_index=True) if len(a) or len(c) else a
    return gpd.GeoDataFrame(both, geometry="geometry", crs=result.crs)


def scenario_effect(result: StudyResult, scenario: Scenario) -> ScenarioEffect:
    """Measure ``scenario`` against the finished baseline ``result`` (which is only read).

    Parameters
    ----------
    result : StudyResult
        The baseline run (with ``details["facility_access"]``, as :func:`toolkit.run_study` gives it).
    scenario : Scenario

    Returns
    -------
    ScenarioEffect

    Raises
    ------
    InputError
        A closed ``facility_id`` the baseline does not have, an added category not in the profile, a link
        end too far from every street.

    Examples
    --------
    >>> sc = Scenario("care", added=gpd.GeoDataFrame({"category": ["elderly_care"]}, crs="EPSG:4326",
    ...                                              geometry=gpd.points_from_xy([121.437], [31.195])))
    >>> eff = scenario_effect(result, sc)  # doctest: +SKIP
    >>> (eff.categories["rate_total_change"].dropna() >= 0).all()  # doctest: +SKIP
    True
    """
    from .decisions import baseline_rule
    from .sites import refusal_notes

    prop = _resolve(result, scenario)
    net, links = result.network, None
    if scenario.links is not None and len(scenario.links):
        lines = scenario.links.to_crs(result.crs)
        names = [str(n) if str(n) else f"link {i + 1}" for i, n in enumerate(
            lines["name"] if "name" in lines else [""] * len(lines))]
        net, table = network_with_links(result.network, lines.geometry, scenario.link_max_snap_m, names)
        links = gpd.GeoDataFrame(table[["name", "length_m", "split_edges"]],
                                 geometry=net.edge_geometry[net.n_edges - len(table):], crs=result.crs)
    touched = _touched(result, prop, scenario)
    # a category the baseline had no data for is measured after only when the scenario brings it facilities
    brought, _ = result.profile.coverage_sources(prop.added.assign(area_m2=np.nan))
    cats = [c for c in result.profile.categories
            if c in touched and (c in result.categories or np.asarray(brought.get(c, [])).any())]
    after, asnap = _after_distances(result, net, prop, cats, links is not None)
    status = statuses(result.details.get("data_status") or {})
    measured, rules, rule = list(result.categories), result.profile.rules(), baseline_rule(result)
    under, flags = compare_underserved(result.blocks, after, measured, rules, rule, status)
    before_flags = underserved_blocks(result.blocks, measured, rules, rule, status)
    layer = _block_layer(result, after, cats, (before_flags, flags))
    refused = ~asnap.ok
    notes = [f"scenario {scenario.name!r}: {n}" for n in refusal_notes(
        prop.added["facility_id"].to_numpy()[refused], asnap.reason[refused], result.study.facility_max_snap_m,
        "proposed facilities", id_name="facility_id")]
    return ScenarioEffect(scenario=scenario, blocks=layer, categories=_category_table(result, after, cats, prop),
                          zones=_zone_table(result, after, cats),
                          facilities=_facility_layer(result, prop, asnap), after=after, underserved=under,
                          links=links, network=net, notes=notes)


def run_scenarios(result: StudyResult) -> dict[str, Any]:
    """Measure every ``[[scenario]]`` of the study against ``result``; add their layers and notes to it.

    The baseline's blocks, figures and network are not changed: the result
    gains the layers ``scenario_<name>_blocks``, ``scenario_<name>_facilities``
    (and ``scenario_<name>_links``), the notes of each scenario and the
    ``scenarios`` detail (run.json), which is also returned.

    Examples
    --------
    >>> run_scenarios(result)["scenarios"][0]["name"]  # doctest: +SKIP
    'elderly_points'
    """
    out = []
    for sc in scenarios_of(result.study):
        eff = scenario_effect(result, sc)
        result.layers[f"scenario_{sc.name}_blocks"] = eff.blocks
        if len(eff.facilities):
            result.layers[f"scenario_{sc.name}_facilities"] = eff.facilities
        if eff.links is not None and len(eff.links):
            result.layers[f"scenario_{sc.name}_links"] = eff.links
        result.notes += eff.notes
        out.append(eff.summary())
    result.details["scenarios"] = {"status": "measured", "scenarios": out}
    return result.details["scenarios"]


# ------------------------------------------------------------------- report
def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{float(v):.1%}"


def _pp(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{100 * float(v):+.1f}"


def report_sections(result: StudyResult, lang: str) -> list[Section]:
    """One report section per scenario: what it proposes and its difference table per category.

    A provider of :mod:`toolkit.sections` (listed in ``PROVIDERS``); none without scenarios.
    """
    rec = (result.details or {}).get("scenarios") or {}
    out = []
    cats = result.profile.catalogue
    for i, s in enumerate(rec.get("scenarios") or []):
        p, u = s["proposals"], s["underserved"]
        paras = [label("scenario.proposals", lang, added=p["added"], refused=p["added_refused"],
                       access=p["added_with_access_point"], closed=p["closed"], links=p["links"],
                       km=round(p["links_length_m"] / 1000, 2)),
                 label("scenario.blocks_changed", lang, n=s["blocks_changed"], newly=s["blocks_newly_within"],
                       lost=s["blocks_no_longer_within"]),
                 label("scenario.underserved", lang, before=u["blocks_before"], after=u["blocks_after"])]
        rows = [(cats[r["category"]].label(lang) if r["category"] in cats else r["category"],
                 label(f"status.{r['data_status'].replace(' ', '_')}", lang), r["facilities_before"],
                 r["facilities_after"], _pct(r.get("rate_total_before")), _pct(r.get("rate_total_after")),
                 _pp(r.get("rate_total_change")), _pct(r.get("rate_65plus_before")),
                 _pct(r.get("rate_65plus_after")), _pct(r.get("rate_0_14_before")), _pct(r.get("rate_0_14_after")),
                 "-" if r.get("blocks_newly_within") is None else int(r["blocks_newly_within"]))
                for r in s["categories"]]
        header = [label("col.category", lang), label("term.data_status", lang, cap=True),
                  label("scenario.facilities_before", lang), label("scenario.facilities_after", lang),
                  label("scenario.rate_before", lang), label("scenario.rate_after", lang),
                  label("scenario.change_pp", lang), label("scenario.rate_65_before", lang),
                  label("scenario.rate_65_after", lang), label("scenario.rate_0_14_before", lang),
                  label("scenario.rate_0_14_after", lang), label("scenario.newly_within", lang)]
        out.append(Section(key=f"scenario-{s['name']}", title=label("scenario.title", lang, name=s["title"] or
                                                                    s["name"]),
                           paragraphs=tuple(paras), header=tuple(header), rows=tuple(rows),
                           num_cols=tuple(range(2, 12)), notes=(label("scenario.basis", lang),), order=60 + i))
    return out
