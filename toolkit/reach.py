"""Bounded many-to-many network distances: which sources each origin reaches within a radius.

Coverage needs only the *nearest* facility, one Dijkstra per category. Walkability
(amenities and land-use mix within a walk) and site selection (who a new hub
would serve) need *every* origin-source pair within a radius. Running scipy's
Dijkstra per source on the whole graph would allocate a dense row per source;
instead each source gets a compiled Dijkstra (numba) bounded by the radius, which
touches only the few hundred nodes within it and resets only those.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from .network import MIN_EDGE_M, WalkNetwork
from .snapping import Snapped

__all__ = ["reach_sums", "reachable_pairs", "source_node_distances"]


@numba.njit(cache=True, nogil=True)
def _push(hk: np.ndarray, hn: np.ndarray, size: int, key: float, node: int) -> None:  # pragma: no cover
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hn[i] = hn[parent]
        i = parent
    hk[i] = key
    hn[i] = node


@numba.njit(cache=True, nogil=True)
def _pop(hk: np.ndarray, hn: np.ndarray, size: int) -> None:  # pragma: no cover - compiled
    # move the last entry down from the root (size is the size after the pop)
    key, node = hk[size], hn[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] >= key:
            break
        hk[i] = hk[c]
        hn[i] = hn[c]
        i = c
    hk[i] = key
    hn[i] = node


@numba.njit(cache=True, nogil=True)
def _bounded_dijkstra(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, seed_u: np.ndarray,
                      seed_v: np.ndarray, w_u: np.ndarray, w_v: np.ndarray,
                      radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    # a binary heap in two arrays (lazy deletion: a node may sit in it more than once)
    hcap = 1024
    hk = np.empty(hcap)
    hn = np.empty(hcap, dtype=np.int64)
    cap = 1 << 16
    out_s = np.empty(cap, dtype=np.int64)
    out_n = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    m = 0
    for k in range(len(seed_u)):
        nt = 0
        size = 0
        for end in range(2):
            node = seed_u[k] if end == 0 else seed_v[k]
            w = w_u[k] if end == 0 else w_v[k]
            if w <= radius and w < dist[node]:
                if dist[node] == np.inf:
                    touched[nt] = node
                    nt += 1
                dist[node] = w
                _push(hk, hn, size, w, node)
                size += 1
        while size > 0:
            d, node = hk[0], hn[0]
            size -= 1
            _pop(hk, hn, size)
            if done[node] or d > dist[node]:
                continue
            done[node] = True
            if m == cap:
                cap *= 2
                out_s = _grow(out_s, cap)
                out_n = _grow(out_n, cap)
                out_d = _grow(out_d, cap)
            out_s[m] = k
            out_n[m] = node
            out_d[m] = d
            m += 1
            for j in range(indptr[node], indptr[node + 1]):
                nb = indices[j]
                nd = d + data[j]
                if nd <= radius and nd < dist[nb]:
                    if dist[nb] == np.inf:
                        touched[nt] = nb
                        nt += 1
                    dist[nb] = nd
                    if size == hcap:
                        hcap *= 2
                        hk = _grow(hk, hcap)
                        hn = _grow(hn, hcap)
                    _push(hk, hn, size, nd, nb)
                    size += 1
        for t in range(nt):
            dist[touched[t]] = np.inf
            done[touched[t]] = False
    return out_s[:m], out_n[:m], out_d[:m]


@numba.njit(cache=True, nogil=True)
def _grow(a: np.ndarray, cap: int) -> np.ndarray:  # pragma: no cover - compiled
    b = np.empty(cap, dtype=a.dtype)
    b[:len(a)] = a
    return b


def source_node_distances(net: WalkNetwork, sources: Snapped, radius: float) -> pd.DataFrame:
    """Every (source, node) pair with network distance <= ``radius``.

    Returns a frame with ``source`` (position in ``sources``), ``node`` and
    ``dist_m`` (including the source's off-network leg).
    """
    ok = np.flatnonzero(sources.ok)
    empty = pd.DataFrame({"source": np.empty(0, np.int64), "node": np.empty(0, np.int64), "dist_m": np.empty(0)})
    if len(ok) == 0 or net.n_nodes == 0:
        return empty
    csr = net.csr
    # visit the sources cell by cell: neighbouring searches touch the same nodes,
    # which stay in cache (in input order, every search would miss it)
    cell = max(float(radius), 1.0)
    cx = np.floor((sources.x[ok] - np.nanmin(sources.x[ok])) / cell)
    cy = np.floor((sources.y[ok] - np.nanmin(sources.y[ok])) / cell)
    ok = ok[np.lexsort((cx, cy))]
    e = sources.edge[ok]
    # One bounded Dijkstra per source, compiled: it visits only the few hundred nodes
    # within the radius and resets just those, where scipy's dijkstra would need a
    # subgraph and a dense distance row per source (the seeds keep scipy's floor of
    # MIN_EDGE_M, which stood for a zero-length link to the source).
    s_i, n_i, d = _bounded_dijkstra(
        csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data.astype(float),
        net.u[e].astype(np.int64), net.v[e].astype(np.int64),
        np.maximum(sources.leg[ok] + sources.d_u[ok], MIN_EDGE_M),
        np.maximum(sources.leg[ok] + sources.d_v[ok], MIN_EDGE_M), float(radius))
    return pd.DataFrame({"source": ok[s_i], "node": n_i, "dist_m": d})


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


@numba.njit(cache=True, nogil=True, inline="always")
def _keep_shortest(best: np.ndarray, touched: np.ndarray, nt: int, s: int, d: float) -> int:  # pragma: no cover
    """Record ``d`` for source ``s`` if shorter; a first visit is listed in ``touched``. Returns the list's length."""
    if best[s] == np.inf:
        touched[nt] = s
        nt += 1
        best[s] = d
    elif d < best[s]:
        best[s] = d
    return nt


@numba.njit(cache=True, nogil=True)
def _reach_sums(o_pos: np.ndarray, o_u: np.ndarray, o_v: np.ndarray, o_off_u: np.ndarray, o_off_v: np.ndarray,  # noqa: PLR0913  numba kernel: flat arrays, no dataclass
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
                    nt = _keep_shortest(best, touched, nt, np_src[j], d)
        e = o_edge[i]
        for j in range(eptr[e], eptr[e + 1]):
            s = e_src[j]
            d = abs(o_du[i] - s_du[s]) + o_leg[i] + s_leg[s]
            if d <= r_max:
                nt = _keep_shortest(best, touched, nt, s, d)
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
