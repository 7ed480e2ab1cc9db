"""Bounded many-to-many network distances: which sources each origin reaches within a radius.

Coverage needs only the *nearest* facility, one Dijkstra per category. Walkability
(amenities and land-use mix within a walk) and site selection (who a new hub
would serve) need *every* origin-source pair within a radius. Running a Dijkstra
per source on the whole graph would allocate a dense row per source; instead
sources are grouped into spatial tiles and each tile's Dijkstra runs on the
subgraph within ``radius`` of the tile. This is exact, because a path of network
length <= r never leaves the Euclidean r-disc around its start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from .network import MIN_EDGE_M, WalkNetwork
from .snapping import Snapped


class _NodeGrid:
    """Nodes bucketed on a square grid for fast bounding-box selection."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cell: float) -> None:
        self.x, self.y, self.cell = x, y, cell
        self.x0, self.y0 = x.min(), y.min()
        cx = ((x - self.x0) // cell).astype(np.int64)
        cy = ((y - self.y0) // cell).astype(np.int64)
        self.ncx = int(cx.max()) + 1
        key = cy * self.ncx + cx
        self.order = np.argsort(key, kind="stable")
        self.sorted_key = key[self.order]

    def select(self, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        cx0 = max(int((xmin - self.x0) // self.cell), 0)
        cx1 = min(int((xmax - self.x0) // self.cell), self.ncx - 1)
        cy0 = max(int((ymin - self.y0) // self.cell), 0)
        cy1 = int((ymax - self.y0) // self.cell)
        if cx1 < cx0 or cy1 < cy0:
            return np.empty(0, dtype=np.int64)
        parts = []
        for cy in range(cy0, cy1 + 1):
            lo = np.searchsorted(self.sorted_key, cy * self.ncx + cx0, side="left")
            hi = np.searchsorted(self.sorted_key, cy * self.ncx + cx1, side="right")
            parts.append(self.order[lo:hi])
        idx = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        x, y = self.x[idx], self.y[idx]
        return np.sort(idx[(x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)])


def _subgraph(csr: sparse.csr_array, nodes: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, ...]:
    """CSR arrays of the subgraph on ``nodes`` (sorted), without scipy's O(N) column indexing."""
    starts, ends = csr.indptr[nodes], csr.indptr[nodes + 1]
    counts = ends - starts
    pos = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    cols = local[csr.indices[pos]]
    keep = cols >= 0
    row = np.repeat(np.arange(len(nodes)), counts)[keep]
    indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(nodes)), out=indptr[1:])
    return indptr, cols[keep], csr.data[pos][keep]


def source_node_distances(net: WalkNetwork, sources: Snapped, radius: float,
                          tile_m: float | None = None) -> pd.DataFrame:
    """Every (source, node) pair with network distance <= ``radius``.

    Returns a frame with ``source`` (position in ``sources``), ``node`` and
    ``dist_m`` (including the source's off-network leg).
    """
    ok = np.flatnonzero(sources.ok)
    empty = pd.DataFrame({"source": np.empty(0, np.int64), "node": np.empty(0, np.int64), "dist_m": np.empty(0)})
    if len(ok) == 0 or net.n_nodes == 0:
        return empty
    tile = tile_m or max(4 * radius, 2000.0)
    grid = _NodeGrid(net.x, net.y, tile)
    sx, sy = sources.x[ok], sources.y[ok]
    tkey = ((sx - grid.x0) // tile).astype(np.int64) * 1_000_003 + ((sy - grid.y0) // tile).astype(np.int64)
    local = np.full(net.n_nodes, -1, dtype=np.int64)
    csr = net.csr
    out_s, out_n, out_d = [], [], []
    for key in np.unique(tkey):
        members = ok[tkey == key]
        xs, ys = sources.x[members], sources.y[members]
        nodes = grid.select(xs.min() - radius, ys.min() - radius, xs.max() + radius, ys.max() + radius)
        if len(nodes) == 0:
            continue
        local[nodes] = np.arange(len(nodes))
        indptr, cols, data = _subgraph(csr, nodes, local)
        n, k = len(nodes), len(members)
        # one virtual node per source, joined to its edge's two ends
        su = local[net.u[sources.edge[members]]]
        sv = local[net.v[sources.edge[members]]]
        wu = sources.leg[members] + sources.d_u[members]
        wv = sources.leg[members] + sources.d_v[members]
        vcols = np.stack([su, sv], axis=1)
        vdata = np.maximum(np.stack([wu, wv], axis=1), MIN_EDGE_M)
        valid = vcols >= 0
        vcount = valid.sum(axis=1)
        aug_indptr = np.concatenate([indptr, indptr[-1] + np.cumsum(vcount)])
        aug_cols = np.concatenate([cols, vcols[valid]])
        aug_data = np.concatenate([data, vdata[valid]])
        aug = sparse.csr_array((aug_data, aug_cols, aug_indptr), shape=(n + k, n + k))
        dist = csgraph.dijkstra(aug, directed=True, indices=np.arange(n, n + k), limit=radius)[:, :n]
        si, ni = np.nonzero(np.isfinite(dist))
        out_s.append(members[si])
        out_n.append(nodes[ni])
        out_d.append(dist[si, ni])
        local[nodes] = -1
    if not out_s:
        return empty
    return pd.DataFrame({"source": np.concatenate(out_s), "node": np.concatenate(out_n),
                         "dist_m": np.concatenate(out_d)})


def reachable_pairs(net: WalkNetwork, origins: Snapped, sources: Snapped, radius: float,
                    node_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every (origin, source) pair within ``radius`` network metres, legs on both ends included.

    Parameters
    ----------
    net : WalkNetwork
    origins, sources : Snapped
        E.g. blocks and facilities. Refused snaps are left out.
    radius : float
        Metres.
    node_pairs : DataFrame, optional
        Output of :func:`source_node_distances` for the same sources and a
        radius >= ``radius`` (reused across origin sets).

    Returns
    -------
    DataFrame
        ``origin`` and ``source`` (positions in the inputs) and ``dist_m``.
    """
    if node_pairs is None:
        node_pairs = source_node_distances(net, sources, radius)
    ok_o = np.flatnonzero(origins.ok)
    cols = {"origin": np.empty(0, np.int64), "source": np.empty(0, np.int64), "dist_m": np.empty(0)}
    parts = []
    if len(node_pairs) and len(ok_o):
        npairs = node_pairs.sort_values("node", kind="stable")
        node_sorted = npairs["node"].to_numpy()
        src_sorted = npairs["source"].to_numpy()
        d_sorted = npairs["dist_m"].to_numpy()
        for end, off in ((net.u, origins.d_u), (net.v, origins.d_v)):
            nodes = end[origins.edge[ok_o]]
            lo = np.searchsorted(node_sorted, nodes, side="left")
            hi = np.searchsorted(node_sorted, nodes, side="right")
            cnt = hi - lo
            pos = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())
            o = np.repeat(ok_o, cnt)
            parts.append((o, src_sorted[pos], d_sorted[pos] + off[o] + origins.leg[o]))
    # sources on the origin's own edge are reached along it directly
    ok_s = np.flatnonzero(sources.ok)
    if len(ok_s) and len(ok_o):
        a = pd.DataFrame({"edge": origins.edge[ok_o], "origin": ok_o})
        b = pd.DataFrame({"edge": sources.edge[ok_s], "source": ok_s})
        m = a.merge(b, on="edge")
        if len(m):
            o, s = m["origin"].to_numpy(), m["source"].to_numpy()
            d = np.abs(origins.d_u[o] - sources.d_u[s]) + origins.leg[o] + sources.leg[s]
            parts.append((o, s, d))
    if not parts:
        return pd.DataFrame(cols)
    o = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    keep = d <= radius
    o, s, d = o[keep], s[keep], d[keep]
    # a pair is found via both ends of the origin's edge (and directly): keep the
    # shortest. A hash group-by on one int64 key beats a three-key sort here.
    key = o.astype(np.int64) * np.int64(len(sources)) + s
    best = pd.Series(d).groupby(key, sort=True).min()
    k = best.index.to_numpy()
    return pd.DataFrame({"origin": k // len(sources), "source": k % len(sources), "dist_m": best.to_numpy()})
