"""Catchments and service areas (toolkit.catchments) against networkx on the raw streets.

The references are networkx Dijkstra runs on the street edges with every snapped point inserted as a node
(tests/helpers.py), never the toolkit's distance code. The synthetic networks stand for a district's
streets: a jittered grid (no ties) and an exact grid with sources on corners (ties everywhere, decided by id).
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.helpers import augmented_graph
from toolkit.catchments import (
    CatchmentSettings,
    catchment_layers,
    catchments,
    nearest_source,
    reachable_streets,
    service_areas,
)
from toolkit.network import grid_network
from toolkit.snapping import snap_points

ORIGIN = (350_000.0, 3_450_000.0)


def _points(xy: np.ndarray, crs) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def _reference_nearest(G: nx.MultiGraph, n_origins: int, keys: np.ndarray) -> list[tuple[object, float]]:
    """Per origin: the smallest key among the sources at the shortest walk (ties within 1e-7 m), and the walk."""
    out = []
    for i in range(n_origins):
        d = nx.single_source_dijkstra_path_length(G, ("o", i), weight="length")
        walks = [(d.get(("s", j), np.inf), keys[j]) for j in range(len(keys))]
        best = min(w for w, _ in walks)
        if not np.isfinite(best):
            out.append((None, np.inf))
            continue
        out.append((min(k for w, k in walks if w <= best + 1e-7), best))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_nearest_facility_matches_networkx_on_a_jittered_grid(seed):
    """Random blocks and facilities on a jittered 7x7 street grid: each block's nearest facility and walk."""
    rng = np.random.default_rng(seed)
    net = grid_network(7, spacing=120.0, origin=ORIGIN, jitter=25.0, seed=seed)
    o = snap_points(net, _points(rng.uniform(0, 720, (40, 2)) + ORIGIN, net.crs))
    s = snap_points(net, _points(rng.uniform(0, 720, (9, 2)) + ORIGIN, net.crs))
    keys = rng.permutation(np.arange(100, 109))
    got = nearest_source(net, o, s, keys)
    ref = _reference_nearest(augmented_graph(net, {"o": o, "s": s}), len(o), keys)
    assert got["nearest"].tolist() == [k for k, _ in ref]
    np.testing.assert_allclose(got["dist_m"].to_numpy(), [d for _, d in ref], rtol=0, atol=1e-6)


def test_ties_go_to_the_smaller_id_on_an_exact_grid():
    """Facilities on the corners of an exact 100 m grid: blocks halfway between are ties, the smaller id wins."""
    net = grid_network(5, spacing=100.0, origin=ORIGIN)
    corners = np.array([[0, 0], [200, 0], [0, 200], [200, 200], [400, 400]], dtype=float) + ORIGIN
    s = snap_points(net, _points(corners, net.crs))
    xy = np.array([[100, 0], [0, 100], [100, 200], [300, 400], [100, 100], [50, 0], [300, 300]], dtype=float)
    o = snap_points(net, _points(xy + ORIGIN, net.crs))
    keys = np.array([50, 40, 30, 20, 10])
    got = nearest_source(net, o, s, keys)
    ref = _reference_nearest(augmented_graph(net, {"o": o, "s": s}), len(o), keys)
    assert got["nearest"].tolist() == [k for k, _ in ref]
    assert got["nearest"].tolist()[:2] == [40, 30]  # (100, 0): 50 vs 40 -> 40; (0, 100): 50 vs 30 -> 30
    np.testing.assert_allclose(got["dist_m"].to_numpy(), [d for _, d in ref], atol=1e-6)


def test_access_points_of_one_facility_are_one_source_and_limit_applies():
    """Two access points share facility id 7; a block beyond the search limit belongs to no catchment."""
    net = grid_network(6, spacing=100.0, origin=ORIGIN)
    s = snap_points(net, _points(np.array([[0, 0], [100, 0], [500, 500]], dtype=float) + ORIGIN, net.crs))
    o = snap_points(net, _points(np.array([[100, 50], [0, 300], [500, 450]], dtype=float) + ORIGIN, net.crs))
    got = nearest_source(net, o, s, [7, 7, 9], limit=250)
    assert got["nearest"].tolist()[0] == 7 and got["nearest"].tolist()[2] == 9
    assert pd.isna(got["nearest"].iloc[1]) and np.isinf(got["dist_m"].iloc[1])  # 300 m > limit


def test_catchment_polygons_dissolve_blocks_and_count_residents():
    """Square blocks of a 5x5 grid, two facilities: each polygon is the union of the blocks nearest to it."""
    net = grid_network(6, spacing=100.0, origin=ORIGIN, jitter=8.0, seed=3)
    x0, y0 = ORIGIN
    boxes = [shapely.box(x0 + i * 100 + 10, y0 + j * 100 + 10, x0 + i * 100 + 90, y0 + j * 100 + 90)
             for i in range(5) for j in range(5)]
    rng = np.random.default_rng(1)
    blocks = gpd.GeoDataFrame({"population": rng.integers(0, 900, 25).astype(float),
                               "pop_65plus": rng.integers(0, 200, 25).astype(float)}, geometry=boxes, crs=net.crs)
    bs = snap_points(net, blocks.geometry.representative_point())
    fs = snap_points(net, _points(np.array([[x0 + 50, y0], [x0 + 450, y0 + 500]]), net.crs))
    near = nearest_source(net, bs, fs, [1, 2])
    ref = _reference_nearest(augmented_graph(net, {"o": bs, "s": fs}), 25, np.array([1, 2]))
    owner = np.array([k for k, _ in ref])
    c = catchments(blocks, near).set_index("facility_id")
    for k in (1, 2):
        mine = owner == k
        assert c.at[k, "blocks"] == mine.sum()
        assert c.at[k, "population"] == pytest.approx(blocks["population"][mine].sum())
        assert c.at[k, "pop_65plus"] == pytest.approx(blocks["pop_65plus"][mine].sum())
        assert c.loc[k, "geometry"].area == pytest.approx(shapely.union_all(blocks.geometry[mine]).area)
        w = np.array([d for _, d in ref])[mine]
        pop = blocks["population"].to_numpy()[mine]
        assert c.at[k, "dist_mean_m"] == pytest.approx((pop * w).sum() / pop.sum(), abs=0.05)
    assert c.crs == blocks.crs


def _node_walks(net, s) -> dict[int, float]:
    G = augmented_graph(net, {"s": s})
    G.add_node("src")
    for j in range(len(s)):
        G.add_edge("src", ("s", j), length=0.0)
    d = nx.single_source_dijkstra_path_length(G, "src", weight="length")
    return {i: d.get(("n", i), np.inf) for i in range(net.n_nodes)}


@pytest.mark.parametrize("walk", [130.0, 260.0, 410.0])
def test_service_area_holds_exactly_the_nodes_within_the_walk(walk):
    """A jittered grid and two facilities: the area contains every node networkx reaches within the walk and
    none it reaches only beyond the walk plus the buffer (grid spacing 100 m >> buffer 10 m)."""
    net = grid_network(8, spacing=100.0, origin=ORIGIN, jitter=6.0, seed=5)
    s = snap_points(net, _points(np.array([[230.0, 340.0], [610.0, 120.0]]) + ORIGIN, net.crs))
    buffer_m = 10.0
    sa = service_areas(net, s, [walk / 60.0], speed_m_s=1.0, buffer_m=buffer_m)
    assert len(sa) == 1 and sa["walk_m"].iloc[0] == pytest.approx(walk)
    area = sa.geometry.iloc[0]
    d = _node_walks(net, s)
    inside = [i for i, w in d.items() if w <= walk]
    outside = [i for i, w in d.items() if w > walk + buffer_m + 1.0]
    assert len(inside) >= 4 and len(outside) >= 10
    pts = shapely.points(net.x, net.y)
    assert all(area.covers(pts[i]) for i in inside)
    assert not any(area.intersects(pts[i]) for i in outside)


@pytest.mark.parametrize("walk", [150.0, 330.0])
def test_reached_street_length_equals_the_networkx_walks(walk):
    """Facilities on corners of an exact grid: along each street the walk reaches max(0, walk - d) from each
    end (networkx d), at most the street; the total street length of the area is that sum."""
    net = grid_network(6, spacing=100.0, origin=ORIGIN)
    s = snap_points(net, _points(np.array([[100.0, 100.0], [400.0, 300.0]]) + ORIGIN, net.crs))
    d = _node_walks(net, s)
    ref = sum(min(L, max(0.0, walk - d[a]) + max(0.0, walk - d[b]))
              for a, b, L in zip(net.u, net.v, net.length, strict=True))
    st = reachable_streets(net, s, walk)
    assert (st["end_m"] - st["start_m"]).sum() == pytest.approx(ref, abs=1e-6)
    assert st.length.sum() == pytest.approx(ref, abs=1e-6)
    # per facility the areas partition the streets: their lengths add up to the whole
    per = reachable_streets(net, s, walk, keys=[1, 2])
    assert (per["end_m"] - per["start_m"]).sum() == pytest.approx(ref, abs=1e-6)
    sa = service_areas(net, s, [walk / 60.0], speed_m_s=1.0, keys=[1, 2], buffer_m=5.0)
    assert sorted(sa["key"].tolist()) == [1, 2] and sa["street_m"].sum() == pytest.approx(ref, abs=0.2)


def test_each_street_piece_is_nearest_to_its_own_facility():
    """Jittered grid, three facilities: the midpoint of every piece, inserted into networkx, is nearest to the
    facility the piece is labelled with."""
    net = grid_network(6, spacing=100.0, origin=ORIGIN, jitter=10.0, seed=2)
    s = snap_points(net, _points(np.array([[120.0, 80.0], [400.0, 420.0], [60.0, 410.0]]) + ORIGIN, net.crs))
    st = reachable_streets(net, s, 300.0, keys=[3, 1, 2])
    mids = snap_points(net, gpd.GeoSeries(shapely.line_interpolate_point(np.asarray(st.geometry.values), 0.5,
                                                                         normalized=True), crs=net.crs))
    keep = (st["end_m"] - st["start_m"]).to_numpy() > 1.0  # a midpoint a hair from a split could snap across
    ref = _reference_nearest(augmented_graph(net, {"o": mids, "s": s}), len(st), np.array([3, 1, 2]))
    assert keep.sum() > 20
    assert [k for (k, _), ok in zip(ref, keep, strict=True) if ok] == st["key"].to_numpy()[keep].tolist()
    assert all(w <= 300.0 + 1e-6 for (_, w), ok in zip(ref, keep, strict=True) if ok)


def test_catchment_layers_on_a_synthetic_district():
    """Blocks, two facility categories and two hubs: layer columns, kinds, CRS, residents within each time."""
    net = grid_network(6, spacing=100.0, origin=ORIGIN)
    x0, y0 = ORIGIN
    boxes = [shapely.box(x0 + i * 100 + 10, y0 + j * 100 + 10, x0 + i * 100 + 90, y0 + j * 100 + 90)
             for i in range(5) for j in range(5)]
    blocks = gpd.GeoDataFrame({"population": np.full(25, 100.0), "pop_65plus": np.full(25, 10.0)}, geometry=boxes,
                              crs=net.crs)
    bs = snap_points(net, blocks.geometry.representative_point())
    fac = gpd.GeoDataFrame({"facility_id": [1, 2, 3], "category": ["park", "park", "sports"],
                            "snapped": [True, True, True]},
                           geometry=gpd.points_from_xy([x0, x0 + 500, x0 + 200], [y0, y0 + 500, y0 + 300]), crs=net.crs)
    for c in ("park", "sports"):
        fs = snap_points(net, gpd.GeoSeries(fac.loc[fac.category == c].geometry.values, crs=net.crs))
        from toolkit.coverage import point_distances

        blocks[f"dist_{c}_m"] = point_distances(net, bs, fs)
    hubs = gpd.GeoDataFrame({"site_id": [11, 12]}, geometry=gpd.points_from_xy([x0 + 100, x0 + 400],
                                                                               [y0 + 400, y0 + 100]), crs=net.crs)
    st = CatchmentSettings(categories=["park", "sports"], minutes=[2, 4], speed_m_s=1.0)
    layers = catchment_layers(net, blocks, bs, fac, hubs, st)
    cat, sa = layers["catchments"], layers["service_areas"]
    assert cat.crs == blocks.crs and sa.crs == blocks.crs
    assert set(cat["kind"]) == {"facility", "hub"} and set(sa["kind"]) == {"hub"}  # facility areas opt-in
    for kind, key in (("facility", "facility_id"), ("hub", "site_id")):
        part = cat[cat["kind"] == kind]
        assert part[key].notna().all()
    # every block in exactly one catchment per category, and one among the hubs
    for c in ("park", "sports"):
        assert cat.loc[cat["category"] == c, "blocks"].sum() == 25
    assert cat.loc[cat["kind"] == "hub", "population"].sum() == pytest.approx(2500.0)
    # residents within a hub's time: blocks it serves first whose own walk is within it (networkx)
    ref = _reference_nearest(augmented_graph(net, {"o": bs, "s": snap_points(net, hubs.geometry)}), 25,
                             np.array([11, 12]))
    for r in sa.itertuples():
        want = sum(100.0 for k, w in ref if k == r.site_id and w <= r.walk_m + 1e-9)
        assert r.population == pytest.approx(want)
    layers = catchment_layers(net, blocks, bs, fac, hubs,
                              CatchmentSettings(categories=["park"], minutes=[3], speed_m_s=1.0, facility_areas=True))
    assert set(layers["service_areas"]["kind"]) == {"facility", "hub"}
    assert set(layers["service_areas"].loc[layers["service_areas"]["kind"] == "facility", "facility_id"]) == {1, 2}
