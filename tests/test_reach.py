"""Bounded many-to-many distances checked against networkx and against the coverage distances."""

from __future__ import annotations

import networkx as nx
import numpy as np

from toolkit.coverage import point_distances
from toolkit.reach import reachable_pairs
from toolkit.snapping import snap_points

from helpers import augmented_graph


def test_reachable_pairs_match_networkx(xuhui):
    net = xuhui.network
    rng = np.random.default_rng(7)
    blocks = xuhui.blocks.iloc[rng.choice(len(xuhui.blocks), 60, replace=False)]
    fac = xuhui.facilities[xuhui.facilities["snapped"]]
    fac = fac.iloc[rng.choice(len(fac), 150, replace=False)]
    bs, fs = snap_points(net, blocks.geometry, 500), snap_points(net, fac.geometry, 250)
    radius = 900.0
    pairs = reachable_pairs(net, bs, fs, radius)
    G = augmented_graph(net, {"b": bs, "f": fs})
    expected = {}
    for j in range(len(fs)):
        for node, d in nx.single_source_dijkstra_path_length(G, ("f", j), cutoff=radius, weight="length").items():
            if node[0] == "b":
                expected[(node[1], j)] = d
    got = {(int(o), int(s)): d for o, s, d in pairs.itertuples(index=False)}
    assert len(expected) > 100
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in got) < 0.01


def test_nearest_pair_equals_coverage_distance(xuhui):
    net = xuhui.network
    bs = snap_points(net, xuhui.blocks.geometry, 500)
    fs = snap_points(net, xuhui.facilities[xuhui.facilities["category"] == "transit"].geometry, 250)
    pairs = reachable_pairs(net, bs, fs, 800.0)
    nearest = pairs.groupby("origin")["dist_m"].min()
    cov = point_distances(net, bs, fs)
    within = np.flatnonzero(cov <= 800)
    assert set(nearest.index) == set(within)
    assert np.allclose(nearest.loc[within].to_numpy(), cov[within], atol=1e-6)
