"""Independent reference computations used by the tests."""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from toolkit.network import WalkNetwork
from toolkit.snapping import Snapped


def augmented_graph(net: WalkNetwork, points: dict[str, Snapped]) -> nx.MultiGraph:
    """The network as a networkx graph with every snapped point inserted as a node.

    Each snapped point gets a node on its edge (splitting the edge in order of
    position) and a leaf node joined to it by the off-network leg, named
    ``(tag, i)`` for the i-th point of ``points[tag]``.
    """
    G = nx.MultiGraph()
    for a, b, w in zip(net.u, net.v, net.length, strict=True):
        G.add_edge(("n", int(a)), ("n", int(b)), length=float(w))
    on_edge: dict[int, list[tuple[float, tuple]]] = defaultdict(list)
    for tag, s in points.items():
        for i in range(len(s)):
            if not s.ok[i]:
                continue
            on_edge[int(s.edge[i])].append((float(s.d_u[i]), (tag, i)))
            G.add_edge((tag, i), ("on", tag, i), length=float(s.leg[i]))
    for e, pts in on_edge.items():
        prev, prev_pos = ("n", int(net.u[e])), 0.0
        for pos, name in sorted(pts):
            mid = ("on", *name)
            G.add_edge(prev, mid, length=pos - prev_pos)
            prev, prev_pos = mid, pos
        G.add_edge(prev, ("n", int(net.v[e])), length=float(net.length[e]) - prev_pos)
    return G
