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


def test_reach_sums_match_networkx_pairs(xuhui):
    """Class counts and decayed counts per block, summed in one pass, equal sums over networkx's pairs."""
    from toolkit.reach import reach_sums

    net = xuhui.network
    rng = np.random.default_rng(11)
    blocks = xuhui.blocks.iloc[rng.choice(len(xuhui.blocks), 120, replace=False)]
    fac = xuhui.facilities[xuhui.facilities["snapped"]]
    fac = fac.iloc[rng.choice(len(fac), 200, replace=False)]
    bs, fs = snap_points(net, blocks.geometry, 500), snap_points(net, fac.geometry, 250)
    cls = rng.integers(-1, 4, len(fs))  # -1: a source in no class still counts in the decayed sum
    radii = [864.0, 576.0]  # the adult and elderly 10-minute walks
    counts, decayed = reach_sums(net, bs, fs, radii, source_class=cls, n_classes=4)
    G = augmented_graph(net, {"b": bs, "f": fs})
    exp_counts = np.zeros((len(bs), 2, 4), dtype=int)
    exp_decay = np.zeros((len(bs), 2))
    n_pairs = 0
    for j in range(len(fs)):
        for node, d in nx.single_source_dijkstra_path_length(G, ("f", j), cutoff=max(radii), weight="length").items():
            if node[0] != "b":
                continue
            n_pairs += 1
            for k, r in enumerate(radii):
                if d <= r:
                    exp_decay[node[1], k] += np.exp(-4 * d / r)
                    if cls[j] >= 0:
                        exp_counts[node[1], k, cls[j]] += 1
    assert n_pairs > 200  # a real test: hundreds of (block, facility) pairs
    assert (counts == exp_counts).all()
    assert np.allclose(decayed, exp_decay, rtol=1e-9, atol=1e-9)
    assert (counts[:, 1].sum() < counts[:, 0].sum())  # the shorter walk reaches fewer
