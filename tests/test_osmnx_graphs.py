"""An osmnx graph as the network (#13 item 6): simplified or not, projected or not, or a clear refusal.

Stands for a notebook user who already has a graph from osmnx and passes it on. A small street grid with
shape nodes and a tunnel is written as OSM XML and read by osmnx itself (``ox.graph_from_xml``); the
reference distances are networkx shortest paths on that raw graph projected by osmnx, computed here
without the toolkit. Every variant must give the same walking distances between the grid's corners.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import pytest
import shapely
from osm_synth import X0, Y0, OsmWriter

from toolkit.errors import InputError
from toolkit.network import network_from_osmnx

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    w = OsmWriter()
    n, step = 5, 120.0
    ids = [[w.node(i * step, j * step) for j in range(n)] for i in range(n)]
    for i in range(n):  # rows with a shape node between intersections (simplification merges them)
        refs = []
        for j in range(n):
            refs.append(ids[i][j])
            if j < n - 1:
                refs.append(w.node(i * step + 7.0, j * step + step / 2))
        w.way(refs, highway="residential")
        w.way([ids[j][i] for j in range(n)], highway="footway" if i == 2 else "residential")
    w.line([(0, -40), (240, -40)], highway="footway", tunnel="yes", layer="-1")  # a pedestrian tunnel
    path = w.write_xml(tmp_path_factory.mktemp("osm") / "grid.osm")
    G = ox.graph_from_xml(path, simplify=False, retain_all=True)
    return G, ids, w


def _corner_distances(G_projected: nx.MultiDiGraph, corners: list[int]) -> dict[tuple[int, int], float]:
    U = nx.Graph()
    for u, v, d in G_projected.edges(data=True):
        a, b = G_projected.nodes[u], G_projected.nodes[v]
        length = shapely.length(d["geometry"]) if "geometry" in d else float(np.hypot(a["x"] - b["x"], a["y"] - b["y"]))
        if not U.has_edge(u, v) or U[u][v]["w"] > length:
            U.add_edge(u, v, w=length)
    return {(a, b): nx.shortest_path_length(U, a, b, weight="w") for a, b in itertools.combinations(corners, 2)}


@pytest.mark.parametrize("simplified", [False, True])
@pytest.mark.parametrize("projected", [False, True])
def test_every_kind_of_osmnx_graph_gives_the_same_distances(raw, simplified, projected):
    G, ids, _ = raw
    # intersections (degree >= 3): simplification keeps them, while it merges the grid's corners away
    corners = [ids[0][2], ids[2][0], ids[2][2], ids[4][2], ids[2][4], ids[1][3]]
    reference = _corner_distances(ox.project_graph(G, to_crs="EPSG:32651"), corners)
    H = ox.simplify_graph(G) if simplified else G
    H = ox.project_graph(H, to_crs="EPSG:32651") if projected else H
    net = network_from_osmnx(H, "EPSG:32651")
    M = net.to_networkx()
    node = {nid: i for i, nid in enumerate(net.node_id)}
    for (a, b), d in reference.items():
        assert nx.shortest_path_length(M, node[a], node[b], weight="length") == pytest.approx(d, abs=0.01)
    assert net.length.sum() == pytest.approx(network_from_osmnx(G, "EPSG:32651").length.sum(), rel=1e-9)


def test_a_projected_graph_is_clipped_to_a_wgs84_area_like_the_geographic_one(raw):
    G, _, _ = raw
    x0, y0 = TO_WGS.transform(X0 - 10, Y0 - 10)
    x1, y1 = TO_WGS.transform(X0 + 250, Y0 + 250)
    area = shapely.box(x0, y0, x1, y1)
    a = network_from_osmnx(G, "EPSG:32651", area=area)
    b = network_from_osmnx(ox.project_graph(G, to_crs="EPSG:32651"), "EPSG:32651", area=area)
    assert (a.n_nodes, a.n_edges) == (b.n_nodes, b.n_edges) and 0 < a.n_edges < network_from_osmnx(
        G, "EPSG:32651").n_edges
    assert a.length.sum() == pytest.approx(b.length.sum(), rel=1e-9)


@pytest.mark.parametrize("bad, why", [
    (nx.Graph([(1, 2)]), "not an osmnx graph"),
    ("roads.osm", "not an osmnx graph"),
    (nx.MultiDiGraph(), "no nodes"),
])
def test_what_is_not_an_osmnx_graph_is_refused_with_what_to_pass(bad, why):
    with pytest.raises(InputError, match=why) as e:
        network_from_osmnx(bad, "EPSG:32651")
    assert "ox.graph_from_xml" in str(e.value) and "read_walk_network" in str(e.value)


def test_a_graph_without_crs_says_how_to_set_it(raw):
    G, _, _ = raw
    H = G.copy()
    del H.graph["crs"]
    with pytest.raises(InputError, match=r"G.graph\['crs'\]"):
        network_from_osmnx(H, "EPSG:32651")
