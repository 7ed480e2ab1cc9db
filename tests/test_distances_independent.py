"""Every block's distance in the default study, against a graph the toolkit never built.

The reference is osmnx's *unsimplified* graph of the raw OSM file (one edge per
pair of consecutive way nodes), filtered, projected and snapped here with
pyproj, GEOS and networkx: no toolkit network, simplification, deduplication or
snapping code is involved. A duplicated or mis-merged street edge in the
toolkit's graph (block 916 once got 273 m to transit where the walk is 127 m)
shows up as a difference here.
"""

from __future__ import annotations

from collections import defaultdict

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import pytest
import shapely

from toolkit.snapping import Snapped, snap_points
from toolkit.study import study_area

# the walking rules as the documentation states them (README "How things are measured")
NOT_WALKABLE = {"motorway", "motorway_link", "raceway", "bus_guideway", "construction", "proposed", "abandoned",
                "platform", "corridor", "razed", "planned", "no"}


def _walkable(d: dict) -> bool:
    if d.get("highway") in NOT_WALKABLE or d.get("foot") == "no" or d.get("area") == "yes":
        return False
    return not (d.get("access") == "no" and d.get("foot") not in ("yes", "designated", "permissive", "official"))


def _snappable(d: dict) -> bool:
    if d.get("tunnel") not in (None, "no") or d.get("indoor") == "yes" or d.get("location") == "underground":
        return False
    if d.get("access") in ("private", "no") or d.get("foot") == "private":
        return False
    try:
        return float(str(d.get("layer")).split(";")[0]) >= 0
    except ValueError:
        return True


@pytest.fixture(scope="module")
def reference(xuhui, shared):
    study = xuhui.study
    tags = ["highway", "foot", "access", "area", "tunnel", "layer", "indoor", "location"]
    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys(old + tags))
    try:
        G = ox.graph_from_xml(study.network.resolve(), bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old
    crs = xuhui.crs
    area = study_area(study).to_crs(crs).geometry.iloc[0].buffer(study.network_buffer_m)
    keep = gpd.GeoSeries([area], crs=crs).to_crs("EPSG:4326").iloc[0]
    ids = np.array(list(G.nodes))
    lon = np.array([G.nodes[n]["x"] for n in ids])
    lat = np.array([G.nodes[n]["y"] for n in ids])
    inside = dict(zip(ids.tolist(), shapely.contains_xy(keep, lon, lat).tolist(), strict=True))
    X, Y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    xy = dict(zip(ids.tolist(), zip(X.tolist(), Y.tolist(), strict=True), strict=True))
    H = nx.MultiGraph()
    seg_ends, seg_snap = [], []
    for a, b, d in G.edges(data=True):
        if a >= b or not _walkable(d) or not (inside[a] or inside[b]):
            continue  # each way segment once (the bidirectional graph holds it both ways)
        w = float(np.hypot(xy[a][0] - xy[b][0], xy[a][1] - xy[b][1]))
        H.add_edge(a, b, length=w)
        seg_ends.append((a, b))
        seg_snap.append(_snappable(d))
    main = max(nx.connected_components(H), key=len)
    cand = [i for i, (a, b) in enumerate(seg_ends) if a in main and seg_snap[i]]
    lines = shapely.linestrings([[xy[seg_ends[i][0]], xy[seg_ends[i][1]]] for i in cand])
    tree = shapely.STRtree(lines)

    on_seg: dict[int, list] = defaultdict(list)

    def snap(points: np.ndarray, max_leg: float, tag: str, decided: Snapped) -> dict[int, float]:
        """The nearest point of the nearest segment for each point; returns the legs kept.

        Which legs cross water or a motorway is decided by ``toolkit.snapping`` (checked against
        shapely in tests/test_snap_obstacles.py) and is an input here, like the access points: a
        point it refused for that is left out, one it moved to a farther street is snapped here to
        the raw segment under the point it was moved to. Every other point is snapped here alone.
        """
        _, hit = tree.query_nearest(points, all_matches=False)
        legs = {}
        for i, (p, h) in enumerate(zip(points, hit, strict=True)):
            if not decided.ok[i] and decided.reason[i] != "too far from a street":
                continue
            at = p
            if decided.reattached[i]:
                at = shapely.Point(decided.x[i], decided.y[i])
                h = int(tree.query_nearest(at, all_matches=False)[0])
            line = lines[h]
            t = line.line_locate_point(at)
            leg = p.distance(line.interpolate(t))
            if leg <= max_leg:
                legs[i] = leg
                on_seg[cand[h]].append((t, (tag, i), leg))
        return legs

    def insert() -> None:
        """Split each segment once at all the points on it (blocks and facilities alike), in order."""
        for s, pts in on_seg.items():
            a, b = seg_ends[s]
            total = H[a][b][0]["length"]
            prev, prev_t = a, 0.0
            for t, name, leg in sorted(pts):
                on = ("on", *name)
                H.add_edge(prev, on, length=max(t - prev_t, 0.0))
                H.add_edge(on, name, length=leg)
                prev, prev_t = on, t
            H.add_edge(prev, b, length=max(total - prev_t, 0.0))

    obstacles = xuhui.details["snap_obstacles"]
    blocks = shapely.point_on_surface(np.asarray(xuhui.blocks.geometry.values))
    blegs = snap(blocks, study.block_max_snap_m, "b",
         snap_points(xuhui.network, xuhui.blocks.geometry, study.block_max_snap_m, obstacles=obstacles))
    # where each facility is entered: its point, or the entrances / boundary points of an area;
    # and which facilities count for a category (its own, a higher tier's, none too small). Both
    # define the question, and are inputs here: what is under test is the walk between them.
    acc = xuhui.details["facility_access"]
    fpts = np.asarray(acc.geometry.values)
    assert (shapely.get_type_id(fpts) == 0).all()
    flegs = snap(fpts, study.facility_max_snap_m, "f",
                 snap_points(xuhui.network, acc.geometry, study.facility_max_snap_m, obstacles=obstacles))
    insert()
    counted, _ = xuhui.profile.coverage_sources(xuhui.facilities)
    out = {}
    for c in xuhui.categories:
        ids = xuhui.facilities["facility_id"].to_numpy()[counted[c]]
        rows = np.flatnonzero(acc["facility_id"].isin(ids).to_numpy())
        src = [("f", int(i)) for i in rows if i in flegs]
        d = nx.multi_source_dijkstra_path_length(H, src, cutoff=study.search_limit_m, weight="length")
        # a block not attached to any street has no distance (NaN), as in the study
        out[c] = np.array([d.get(("b", i), np.inf) if i in blegs else np.nan for i in range(len(blocks))])
    return out


def test_every_block_distance_matches_the_raw_graph(xuhui, reference):
    """Every block, every measured category: within 0.5 m of the raw-graph walk."""
    worst = {}
    for c, ref in reference.items():
        ours = xuhui.blocks[f"dist_{c}_m"].to_numpy()
        assert np.array_equal(np.isinf(ours), np.isinf(ref)) and np.array_equal(np.isnan(ours), np.isnan(ref)), c
        fin = np.isfinite(ref)
        assert fin.sum() > 0.9 * len(ref), c
        worst[c] = float(np.max(np.abs(ours[fin] - ref[fin])))
    assert max(worst.values()) <= 0.5, worst


def test_block_916_walks_127_m_to_transit(xuhui, reference):
    """The block once numbered 916 (at 350803, 3446413): 127 m along its street, not 273 m around."""
    hit = xuhui.blocks.contains(shapely.Point(350803.35, 3446413.47)).to_numpy()
    assert hit.sum() == 1
    d = xuhui.blocks.loc[hit, "dist_transit_m"].iloc[0]
    assert d == pytest.approx(127.2, abs=0.5)
    assert d == pytest.approx(reference["transit"][np.flatnonzero(hit)[0]], abs=0.01)
