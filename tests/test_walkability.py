"""Walkability: components checked against osmnx and by hand; weights move only the composite."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely

from toolkit.datasets import fetch
from toolkit.network import WalkNetwork, grid_network, network_from_osmnx
from toolkit.osm import read_osm_graph, walkable_subgraph
from toolkit.snapping import snap_points
from toolkit.walkability import (
    WalkabilitySettings,
    block_faces,
    composite,
    intersection_count,
    neighbourhood_components,
    score,
    walkability,
)


@pytest.fixture(scope="module")
def xuhui_osmnx():
    """The Xuhui walkable graph as osmnx builds it (simplified, street counts set), and its area."""
    G, _ = walkable_subgraph(read_osm_graph(fetch("xuhui_roads")))
    G = ox.simplify_graph(G)
    nx.set_node_attributes(G, ox.stats.count_streets_per_node(G), "street_count")
    return G


def test_raw_intersection_count_agrees_with_osmnx(xuhui, xuhui_osmnx):
    """Unconsolidated, every edge: our count of 3+-street nodes equals osmnx.stats.intersection_count (within 1%)."""
    area = xuhui.area.geometry.iloc[0]
    area_wgs84 = xuhui.area.to_crs(4326).geometry.iloc[0]
    theirs = ox.stats.intersection_count(ox.truncate.truncate_graph_polygon(xuhui_osmnx, area_wgs84), min_streets=3)
    every = np.ones(xuhui.network.n_edges, dtype=bool)
    ours = intersection_count(xuhui.network, area, tolerance_m=0, edges=every)
    assert abs(ours - theirs) / theirs <= 0.01
    assert 1200 < ours < 1500


def test_consolidated_intersection_count_agrees_with_osmnx(xuhui, xuhui_osmnx):
    """Same graph: our consolidated count against osmnx's consolidate_intersections(tolerance=10) (within 1%).

    Ours can only be lower: where the two carriageways of a divided road pass within 20 m of
    each other osmnx counts each carriageway as a street (a 4-way "intersection" with no cross
    street), ours counts the road once.
    """
    crs = xuhui.network.crs
    net = network_from_osmnx(read_osm_graph(fetch("xuhui_roads")), crs)
    Gc = ox.consolidate_intersections(ox.project_graph(xuhui_osmnx, to_crs=crs), tolerance=10,
                                      rebuild_graph=True, dead_ends=False)
    area = xuhui.area.geometry.iloc[0]
    shapely.prepare(area)
    xs, ys, sc = np.array([(d["x"], d["y"], d["street_count"]) for _, d in Gc.nodes(data=True)]).T
    theirs = int(((sc >= 3) & shapely.contains_xy(area, xs, ys)).sum())
    ours = intersection_count(net, area, tolerance_m=10)
    assert ours <= theirs
    assert (theirs - ours) / theirs <= 0.01
    # the study reports the consolidated count of its own network, well under the raw one
    reported = xuhui.details["walkability"]["intersections_3way_in_area"]
    assert reported == intersection_count(xuhui.network, area)
    assert abs(reported - ours) / ours <= 0.02
    assert reported < 0.85 * intersection_count(xuhui.network, area, tolerance_m=0)


def test_grid_components_by_hand():
    net = grid_network(21, spacing=100.0)
    centre = shapely.Point(net.x.mean(), net.y.mean())
    comp = neighbourhood_components(net, np.array([centre]), radius_m=250.0)
    # nodes within 250 m of a grid node on a 100 m grid: 21 (offsets with i^2 + j^2 <= 6.25)
    assert comp["walk_intersection_density"].iloc[0] == pytest.approx(21 / (np.pi * 0.25**2))
    assert comp["walk_hostile_share"].iloc[0] == 0.0
    assert 1.6 < comp["walk_link_node_ratio"].iloc[0] < 2.1


def test_block_faces_on_a_grid():
    net = grid_network(6, spacing=100.0)
    streets = net.streets()
    lines = shapely.union_all(np.asarray(streets.geometry.values))
    cells = gpd.GeoDataFrame(geometry=list(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))),
                             crs=net.crs)
    f = block_faces(cells, net)
    # interior blocks are 100 m squares bounded by 3+-way nodes at every corner
    assert np.allclose(f["walk_street_spacing_m"], 100.0)
    assert f["walk_block_face_max_m"].max() == pytest.approx(200.0)  # a corner block's side spans a 2-way corner
    assert f["walk_block_face_max_m"].min() == pytest.approx(100.0)


def test_weights_change_composite_not_components(xuhui):
    b = xuhui.blocks
    comps = ["walk_intersection_density", "walk_block_face_max_m", "walk_link_node_ratio", "walk_hostile_share",
             "walk_mix_entropy", "walk_transit_m", "walk_amenities"]
    for c in comps:
        assert c in b.columns and f"{c}_score" in b.columns
    net = xuhui.network
    pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(b.geometry.values)), index=b.index, crs=b.crs)
    snap = snap_points(net, pts, 500)
    speeds = {"adult": 1.2, "elderly": 0.8}
    amen = xuhui.facilities[xuhui.facilities["snapped"]]
    faces = block_faces(b, net)
    base = walkability(net, pts, snap, WalkabilitySettings.from_config({}), speeds, amenities=amen,
                       transit_m=b["dist_transit_m"].to_numpy(), faces=faces)
    heavy = walkability(net, pts, snap, WalkabilitySettings.from_config({"weights": {"hostile_share": 5.0}}),
                        speeds, amenities=amen, transit_m=b["dist_transit_m"].to_numpy(), faces=faces)
    raw = [c for c in base.columns if c.startswith("walk_") and c != "walk_index" and c != "walk_index_elderly"]
    assert base[raw].equals(heavy[raw])
    assert not np.allclose(base["walk_index"], heavy["walk_index"])
    # the composite is the weighted mean of the scores, reproducible by hand
    w = WalkabilitySettings.from_config({"weights": {"hostile_share": 5.0}}).weights
    cols = {"walk_intersection_density": "intersection_density", "walk_block_face_max_m": "block_face_max_m",
            "walk_link_node_ratio": "link_node_ratio", "walk_hostile_share": "hostile_share",
            "walk_transit_m": "transit_m", "walk_amenities": "amenities"}
    s = heavy[[f"{c}_score" for c in cols]].to_numpy()
    ww = np.array([w[k] for k in cols.values()])
    have = ~np.isnan(s)
    manual = np.nansum(s * ww, axis=1) / (have * ww).sum(axis=1)
    assert np.allclose(manual, heavy["walk_index"].to_numpy())


def test_elderly_variant_reaches_less(xuhui):
    b = xuhui.blocks
    assert (b["walk_amenities_elderly"] <= b["walk_amenities"] + 1e-9).all()
    assert b["walk_amenities_elderly"].sum() < 0.7 * b["walk_amenities"].sum()
    assert "walk_index_elderly" in b


def test_hostile_share_on_trunk_roads(xuhui):
    st = xuhui.streets
    assert st.loc[st["highway"].str.contains("trunk", na=False), "walk_hostile"].all()
    assert not st.loc[st["highway"] == "residential", "walk_hostile"].any()
    near_trunk = xuhui.blocks["walk_hostile_share"] > 0
    assert 0.1 < near_trunk.mean() < 0.9


def test_unknown_weight_is_a_clear_error():
    from toolkit.errors import InputError

    with pytest.raises(InputError, match="unknown walkability component") as e:
        WalkabilitySettings.from_config({"weights": {"greenery": 1.0}})
    assert "intersection_density" in str(e.value)


def test_minmax_scoring_is_bounded():
    import pandas as pd

    v = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 0.0, np.inf]})
    s = score(v, {"a": 1, "b": -1}, "minmax")
    assert s["a"].tolist() == [0.0, 0.5, 1.0]
    assert s["b"].tolist() == [0.0, 1.0, 0.0]  # inf is as bad as the worst finite value
    assert composite(s, {"a": 1.0, "b": 1.0}).tolist() == [0.0, 0.75, 0.5]


def test_walknetwork_without_attributes_has_no_hostile_roads():
    from toolkit.walkability import hostile_edges

    net = WalkNetwork(x=[0, 10], y=[0, 0], u=[0], v=[1], length=[10.0], crs="EPSG:32651")
    assert not hostile_edges(net).any()


def test_parcels_off_the_centrelines_use_their_envelope():
    """Blocks that share no vertex with a street get their face from their envelope, with a warning."""
    from toolkit.io import DataWarning

    net = grid_network(6, spacing=100.0)
    x0, y0 = net.x.min(), net.y.min()
    parcels = gpd.GeoDataFrame(geometry=[shapely.box(x0 + 10, y0 + 10, x0 + 90, y0 + 60),
                                         shapely.box(x0 + 110, y0 + 10, x0 + 190, y0 + 90)], crs=net.crs)
    with pytest.warns(DataWarning, match="share no vertex"):
        f = block_faces(parcels, net)
    assert f["walk_face_from_envelope"].all()
    assert f["walk_block_face_max_m"].tolist() == pytest.approx([80.0, 80.0])


def test_radius_sums_equal_a_brute_force_count(xuhui):
    """The compiled cell-list sums equal a direct distance check on Xuhui's nodes (points on the radius count)."""
    from toolkit.radius import sums_within

    net = xuhui.network
    xy = np.column_stack([net.x, net.y])
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 10, len(xy))
    q = np.vstack([xy[rng.choice(len(xy), 300, replace=False)],  # on a node
                   xy[:200] + rng.uniform(-300, 300, (200, 2)),
                   xy[0] + np.array([[400.0, 0.0]])])             # exactly on the radius from node 0
    count, weighted = sums_within(xy, [np.ones(len(xy)), w], q, 400.0)
    d2 = ((q[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    inside = d2 <= 400.0**2
    assert count.min() >= 1 and count.max() > 50
    assert (count == inside.sum(axis=1)).all()
    assert np.allclose(weighted, (inside * w).sum(axis=1), rtol=1e-12)
