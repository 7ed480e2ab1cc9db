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

import numba
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
    ns = np.int64(max(len(sources), 1))
    # Each part below comes out sorted by (origin, source): the node pairs are sorted by
    # (node, source) and the origins are visited in order. A stable sort of the concatenated
    # parts is then a merge of sorted runs, far cheaper than a group-by on millions of pairs.
    keys, dists = [], []
    if len(node_pairs) and len(ok_o):
        nkey = node_pairs["node"].to_numpy().astype(np.int64) * ns + node_pairs["source"].to_numpy()
        order = np.argsort(nkey)
        node_sorted = node_pairs["node"].to_numpy()[order]
        src_sorted = node_pairs["source"].to_numpy()[order]
        d_sorted = node_pairs["dist_m"].to_numpy()[order]
        for end, off in ((net.u, origins.d_u), (net.v, origins.d_v)):
            nodes = end[origins.edge[ok_o]]
            lo = np.searchsorted(node_sorted, nodes, side="left")
            hi = np.searchsorted(node_sorted, nodes, side="right")
            cnt = hi - lo
            pos = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())
            o = np.repeat(ok_o, cnt)
            d = d_sorted[pos] + off[o] + origins.leg[o]
            keep = d <= radius
            keys.append(o[keep].astype(np.int64) * ns + src_sorted[pos[keep]])
            dists.append(d[keep])
    # sources on the origin's own edge are reached along it directly
    ok_s = np.flatnonzero(sources.ok)
    if len(ok_s) and len(ok_o):
        se = sources.edge[ok_s]
        s_order = np.argsort(se, kind="stable")
        se_sorted, s_sorted = se[s_order], ok_s[s_order]
        e = origins.edge[ok_o]
        lo = np.searchsorted(se_sorted, e, side="left")
        cnt = np.searchsorted(se_sorted, e, side="right") - lo
        if cnt.sum():
            pos = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())
            o, src = np.repeat(ok_o, cnt), s_sorted[pos]
            d = np.abs(origins.d_u[o] - sources.d_u[src]) + origins.leg[o] + sources.leg[src]
            keep = d <= radius
            k = o[keep].astype(np.int64) * ns + src[keep]
            order = np.argsort(k, kind="stable")
            keys.append(k[order])
            dists.append(d[keep][order])
    if not keys or not sum(len(k) for k in keys):
        return pd.DataFrame(cols)
    key = np.concatenate(keys)
    d = np.concatenate(dists)
    order = np.argsort(key, kind="stable")
    key, d = key[order], d[order]
    # a pair is found via both ends of the origin's edge (and directly): keep the shortest
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    best = np.minimum.reduceat(d, start)
    k = key[start]
    return pd.DataFrame({"origin": k // ns, "source": k % ns, "dist_m": best})


@numba.njit(cache=True, nogil=True)
def _reach_sums(o_pos: np.ndarray, o_u: np.ndarray, o_v: np.ndarray, o_off_u: np.ndarray, o_off_v: np.ndarray,
                o_edge: np.ndarray, o_du: np.ndarray, o_leg: np.ndarray,
                nptr: np.ndarray, np_src: np.ndarray, np_d: np.ndarray,
                eptr: np.ndarray, e_src: np.ndarray, s_du: np.ndarray, s_leg: np.ndarray,
                s_cls: np.ndarray, n_cls: int, radii: np.ndarray, n_out: int,
                n_sources: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n_w = len(radii)
    r_max = radii.max()
    counts = np.zeros((n_out, n_w, max(n_cls, 1)), dtype=np.int32)
    decayed = np.zeros((n_out, n_w))
    best = np.full(n_sources, np.inf)
    touched = np.empty(n_sources, dtype=np.int64)
    for i in range(len(o_pos)):
        nt = 0
        for end in range(2):
            node = o_u[i] if end == 0 else o_v[i]
            off = o_off_u[i] if end == 0 else o_off_v[i]
            for j in range(nptr[node], nptr[node + 1]):
                d = np_d[j] + off
                if d <= r_max:
                    s = np_src[j]
                    if best[s] == np.inf:
                        touched[nt] = s
                        nt += 1
                        best[s] = d
                    elif d < best[s]:
                        best[s] = d
        e = o_edge[i]
        for j in range(eptr[e], eptr[e + 1]):
            s = e_src[j]
            d = abs(o_du[i] - s_du[s]) + o_leg[i] + s_leg[s]
            if d <= r_max:
                if best[s] == np.inf:
                    touched[nt] = s
                    nt += 1
                    best[s] = d
                elif d < best[s]:
                    best[s] = d
        o = o_pos[i]
        for t in range(nt):
            s = touched[t]
            d = best[s]
            for w in range(n_w):
                if d <= radii[w]:
                    if s_cls[s] >= 0:
                        counts[o, w, s_cls[s]] += 1
                    decayed[o, w] += np.exp(-4.0 * d / radii[w])
            best[s] = np.inf
    return counts, decayed


def reach_sums(net: WalkNetwork, origins: Snapped, sources: Snapped, radii: np.ndarray | list[float],
               node_pairs: pd.DataFrame | None = None, source_class: np.ndarray | None = None,
               n_classes: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per origin and radius: sources reached by class, and their distance-decayed count.

    The same pairs as :func:`reachable_pairs` (shortest of the paths via either
    end of the origin's edge, or along it), summed as they are found instead of
    returned: a million blocks reach tens of millions of land-use points, and the
    sums are all walkability needs.

    Parameters
    ----------
    net : WalkNetwork
    origins, sources : Snapped
    radii : array-like of float
        Walk radii (m), e.g. the adult and the elderly 10-minute walk.
    node_pairs : DataFrame, optional
        :func:`source_node_distances` of ``sources`` within ``max(radii)`` or more.
    source_class : ndarray of int, optional
        Class code per source (``-1``: counted in no class), ``0 <= code < n_classes``.
    n_classes : int

    Returns
    -------
    counts : ndarray, shape (len(origins), len(radii), max(n_classes, 1)), int32
        Sources reached within each radius, by class.
    decayed : ndarray, shape (len(origins), len(radii))
        Sum over the sources reached within each radius of ``exp(-4 d / radius)``
        (cityseer's decay); zero for refused origins.
    """
    radii = np.asarray(radii, dtype=float)
    r_max = float(radii.max())
    if node_pairs is None:
        node_pairs = source_node_distances(net, sources, r_max)
    ok_o = np.flatnonzero(origins.ok)
    ok_s = np.flatnonzero(sources.ok)
    if source_class is None:
        source_class = np.full(len(sources), -1, dtype=np.int64)
    # node pairs grouped by node, CSR-style
    nodes = node_pairs["node"].to_numpy().astype(np.int64)
    order = np.argsort(nodes, kind="stable")
    nptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(nodes, minlength=net.n_nodes), out=nptr[1:])
    # the sources on each edge, for the direct walk along an origin's own edge
    se = sources.edge[ok_s]
    s_order = np.argsort(se, kind="stable")
    eptr = np.zeros(net.n_edges + 1, dtype=np.int64)
    np.cumsum(np.bincount(se, minlength=net.n_edges), out=eptr[1:])
    e = origins.edge[ok_o]
    return _reach_sums(
        ok_o.astype(np.int64), net.u[e].astype(np.int64), net.v[e].astype(np.int64),
        origins.leg[ok_o] + origins.d_u[ok_o], origins.leg[ok_o] + origins.d_v[ok_o], e.astype(np.int64),
        origins.d_u[ok_o].astype(float), origins.leg[ok_o].astype(float),
        nptr, node_pairs["source"].to_numpy()[order].astype(np.int64), node_pairs["dist_m"].to_numpy()[order],
        eptr, ok_s[s_order].astype(np.int64), sources.d_u.astype(float), sources.leg.astype(float),
        np.asarray(source_class, dtype=np.int64), int(n_classes), radii, len(origins), len(sources))
