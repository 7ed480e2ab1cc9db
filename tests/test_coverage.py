"""Network distances checked against networkx on the real Xuhui network."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest

from toolkit.coverage import point_distances
from toolkit.network import WalkNetwork, grid_network
from toolkit.snapping import snap_points

from helpers import augmented_graph


@pytest.fixture(scope="module")
def snapped(xuhui):
    net = xuhui.network
    # the study's legs may not cross water or barriers: snap with the obstacles it used (tests/test_snap_obstacles.py)
    obs = xuhui.details["snap_obstacles"]
    bs = snap_points(net, xuhui.blocks.geometry, max_snap_m=xuhui.study.block_max_snap_m, obstacles=obs)
    fs = snap_points(net, xuhui.facilities.geometry, max_snap_m=xuhui.study.facility_max_snap_m, obstacles=obs)
    G = augmented_graph(net, {"b": bs, "f": fs})
    return net, bs, fs, G


def test_pairwise_distances_match_networkx(snapped):
    """250 random block-to-facility pairs, off-network legs included, within 0.01 m."""
    net, bs, fs, G = snapped
    rng = np.random.default_rng(42)
    bi = rng.choice(np.flatnonzero(bs.ok), 250)
    fi = rng.choice(np.flatnonzero(fs.ok), 250)
    ours, ref = [], []
    for b, f in zip(bi, fi, strict=True):
        o = point_distances(net, bs.subset(np.arange(len(bs)) == b), fs.subset(np.arange(len(fs)) == f))[0]
        try:
            r = nx.dijkstra_path_length(G, ("b", b), ("f", f), weight="length")
        except nx.NetworkXNoPath:
            r = np.inf
        ours.append(o)
        ref.append(r)
    ours, ref = np.array(ours), np.array(ref)
    assert np.isfinite(ref).sum() >= 200, "most random pairs should be connected"
    assert np.array_equal(np.isinf(ours), np.isinf(ref))
    fin = np.isfinite(ref)
    assert np.max(np.abs(ours[fin] - ref[fin])) < 0.01
    # the legs matter: they are part of every distance
    assert np.all(ours[fin] >= bs.leg[bi][fin] + fs.leg[fi][fin] - 1e-9)


def test_category_distances_match_networkx_multisource(xuhui, snapped):
    """dist_transit_m of every block equals networkx's multi-source Dijkstra."""
    _, bs, fs, G = snapped
    is_t = (xuhui.facilities["category"] == "transit").to_numpy() & fs.ok
    sources = [("f", int(i)) for i in np.flatnonzero(is_t)]
    ref = nx.multi_source_dijkstra_path_length(G, sources, weight="length")
    dist = xuhui.blocks["dist_transit_m"].to_numpy()
    checked = 0
    for i in np.flatnonzero(bs.ok):
        r = ref.get(("b", int(i)), np.inf)
        r = r if r <= xuhui.study.search_limit_m else np.inf
        if np.isfinite(r):
            assert abs(dist[i] - r) < 0.01
            checked += 1
        else:
            assert np.isinf(dist[i])
    assert checked > 900


def test_within_flag_follows_threshold(xuhui):
    thr = xuhui.profile.rule("transit").max_distance_m
    assert thr == 300  # shanghai-main-city: bus stops within 300 m inside the Inner Ring
    b = xuhui.blocks
    assert ((b["dist_transit_m"] <= thr) == b["within_transit"]).all()


def test_parallel_edges_keep_the_shortest():
    """Two edges between the same nodes (10 m and 30 m): the CSR holds 10, not their sum."""
    net = WalkNetwork(x=[0, 10, 20], y=[0, 0, 0], u=[0, 0, 1], v=[1, 1, 2], length=[10.0, 30.0, 10.0],
                      crs="EPSG:32651")
    assert net.csr[0, 1] == 10.0
    assert net.csr[1, 0] == 10.0
    from scipy.sparse.csgraph import dijkstra

    assert dijkstra(net.csr, indices=0)[2] == 20.0


def test_islands_are_reported_not_dropped():
    net = WalkNetwork(x=[0, 10, 1000, 1010], y=[0, 0, 0, 0], u=[0, 2], v=[1, 3], length=[10.0, 10.0],
                      crs="EPSG:32651")
    info = net.islands()
    assert info["components"] == 2
    assert info["nodes_outside_main"] == 2
    assert net.n_nodes == 4
    # a facility on one island does not serve the other
    pts = gpd.GeoSeries(gpd.points_from_xy([5, 1005], [1, 1]), crs=net.crs)
    s = snap_points(net, pts)
    d = point_distances(net, s.subset(np.array([True, False])), s.subset(np.array([False, True])))
    assert np.isinf(d[0])


def test_network_kept_islands_in_xuhui(xuhui):
    info = xuhui.details["network"]
    assert info["components"] > 1
    assert info["nodes_outside_main"] > 0
    assert info["removed_not_walkable"]["motorway"] > 0
    streets = xuhui.streets
    assert (streets["component"] > 0).sum() == info["edges_outside_main"]
    assert not streets["highway"].isin(["motorway", "motorway_link"]).any()


def test_grid_distances_are_manhattan():
    net = grid_network(20, spacing=100.0)
    x0, y0 = net.x.min(), net.y.min()
    origin = gpd.GeoSeries(gpd.points_from_xy([x0 + 50], [y0]), crs=net.crs)  # on the first street
    target = gpd.GeoSeries(gpd.points_from_xy([x0 + 1000], [y0 + 730]), crs=net.crs)  # on a vertical street
    d = point_distances(net, snap_points(net, origin), snap_points(net, target))[0]
    assert d == pytest.approx(950 + 730, abs=1e-6)


def test_search_limit_gives_inf(xuhui):
    net = xuhui.network
    bs = snap_points(net, xuhui.blocks.geometry)
    fs = snap_points(net, xuhui.facilities[xuhui.facilities["category"] == "culture"].geometry)
    full = point_distances(net, bs, fs)
    lim = point_distances(net, bs, fs, limit=500.0)
    assert np.all(np.isinf(lim[full > 500]))
    assert np.allclose(lim[full <= 500], full[full <= 500])


def test_snap_to_main_part_only():
    """With snap_main_only, a point next to a stray fragment attaches to the main network instead."""
    net = WalkNetwork(x=[0, 100, 200, 100, 100], y=[0, 0, 0, 50, 60], u=[0, 1, 3], v=[1, 2, 4],
                      length=[100.0, 100.0, 10.0], crs="EPSG:32651")
    pt = gpd.GeoSeries(gpd.points_from_xy([101], [55]), crs=net.crs)  # 1 m from the fragment, 55 m from main
    assert snap_points(net, pt).edge[0] == 2
    net.snap_main_only = True
    s = snap_points(net, pt)
    assert s.edge[0] in (0, 1) and s.leg[0] == pytest.approx(55.0)


def test_every_xuhui_block_reaches_the_network(xuhui):
    assert xuhui.network.snap_main_only
    # but the two strips between a motorway's carriageways, walled in by them (tests/test_snap_obstacles.py)
    walled = xuhui.details["blocks"]["refused_by_reason"]
    assert set(walled) <= {"leg crosses a barrier"} and sum(walled.values()) <= 2
    for c in xuhui.categories:
        assert np.isfinite(xuhui.blocks[f"dist_{c}_m"]).sum() == len(xuhui.blocks) - sum(walled.values()), c
