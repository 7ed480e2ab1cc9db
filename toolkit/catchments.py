"""Catchments and service areas: which blocks each facility or hub serves first, and how far a walk reaches.

* A **catchment** is the set of blocks a facility (or hub) is the nearest one
  to, by network walking distance (both off-network legs included, as in
  :mod:`toolkit.coverage`), dissolved into one polygon with its residents.
  Ties (two facilities at the same distance, common on a grid) go to the
  smaller id, so the partition never depends on input order. A facility
  with several access points is one source: its nearest access point counts.
  Blocks beyond the search limit of every source, or not attached to the
  streets, belong to no catchment.
* A **service area** is the part of the street network reachable within a
  walk of ``t`` minutes at the profile's walking speed, cut exactly where the
  walk runs out along a street, and drawn as the streets buffered by
  ``buffer_m`` (:data:`SERVICE_AREA_BUFFER_M` by default) on either side: the
  street frontage reached in the time. The buffer is cartographic (a line
  has no area); residents are counted from the blocks' own network
  distances, never from the buffer.

The nearest source per node is one multi-source Dijkstra (compiled with
numba) that carries, with each node's distance, the rank of the source it
came from and keeps the smaller rank on ties; :func:`nearest_source` then
adds the blocks' legs and the sources on a block's own street.

Examples
--------
>>> import geopandas as gpd
>>> from toolkit.network import grid_network
>>> from toolkit.snapping import snap_points
>>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
>>> pts = gpd.GeoSeries(gpd.points_from_xy([0.0, 200.0], [0.0, 200.0]), crs=net.crs)
>>> s = snap_points(net, pts)
>>> nearest_source(net, s, s, keys=[10, 20])["nearest"].tolist()
[10, 20]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import shapely

from .network import WalkNetwork
from .reach import _grow, _pop, _push
from .snapping import Snapped, snap_points

__all__ = [
    "SERVICE_AREA_BUFFER_M",
    "TIE_M",
    "CatchmentSettings",
    "catchment_layers",
    "catchments",
    "nearest_source",
    "reachable_streets",
    "service_areas",
]

#: Metres either side of a reached street that a service area polygon draws: about the depth of the plots
#: fronting a street (a cartographic choice: residents are counted from the blocks, not from this strip).
SERVICE_AREA_BUFFER_M = 25.0
#: Two walks closer than this (metres) are a tie, decided by the source's id. Far below any edge length
#: (every edge is at least MIN_EDGE_M, 1e-6 m) and far above float rounding over a city's walks.
TIE_M = 1e-7


@numba.njit(cache=True, nogil=True)
def _labelled_dijkstra(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, seed_node: np.ndarray,
                       seed_dist: np.ndarray, seed_rank: np.ndarray, limit: float,
                       tie: float) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    rank = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    hcap = max(1024, 2 * len(seed_node))
    hk = np.empty(hcap)
    hn = np.empty(hcap, dtype=np.int64)
    size = 0
    for k in range(len(seed_node)):
        node, d, r = seed_node[k], seed_dist[k], seed_rank[k]
        if d > limit:
            continue
        if d < dist[node] - tie or (d <= dist[node] + tie and r < rank[node]):
            if d < dist[node]:
                dist[node] = d
            rank[node] = r
            if size == hcap:
                hcap *= 2
                hk = _grow(hk, hcap)
                hn = _grow(hn, hcap)
            _push(hk, hn, size, dist[node], node)
            size += 1
    while size > 0:
        d, node = hk[0], hn[0]
        size -= 1
        _pop(hk, hn, size)
        if done[node]:
            continue
        done[node] = True
        # every node that can still improve this one lies at least one edge (>= MIN_EDGE_M > tie) closer,
        # so it was settled before: the rank here is final
        r = rank[node]
        for j in range(indptr[node], indptr[node + 1]):
            nb = indices[j]
            if done[nb]:
                continue
            nd = dist[node] + data[j]
            if nd > limit:
                continue
            if nd < dist[nb] - tie or (nd <= dist[nb] + tie and r < rank[nb]):
                if nd < dist[nb]:
                    dist[nb] = nd
                rank[nb] = r
                if size == hcap:
                    hcap *= 2
                    hk = _grow(hk, hcap)
                    hn = _grow(hn, hcap)
                _push(hk, hn, size, dist[nb], nb)
                size += 1
    return dist, rank


def _ranks(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each key in sorted order (equal keys, one source, share a rank) and the sorted distinct keys."""
    uniq, inv = np.unique(keys, return_inverse=True)
    return inv.astype(np.int64), uniq


def nearest_source(net: WalkNetwork, origins: Snapped, sources: Snapped, keys: Any,
                   limit: float = np.inf) -> pd.DataFrame:
    """Per origin, the nearest source by network walk (ties to the smaller key) and the walk.

    Parameters
    ----------
    net : WalkNetwork
    origins, sources : Snapped
        E.g. blocks and facility access points; refused snaps are ignored.
    keys : array-like
        One sortable key per source (a facility id); points sharing a key are
        one source (a facility's access points).
    limit : float
        Metres beyond which nothing counts as reached.

    Returns
    -------
    DataFrame
        On ``origins.index``: ``nearest`` (the key; missing where no source
        lies within ``limit`` or the origin is not attached) and ``dist_m``
        (NaN for an unattached origin, inf beyond the limit: as
        :func:`toolkit.coverage.point_distances`).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from toolkit.network import grid_network
    >>> from toolkit.snapping import snap_points
    >>> net = grid_network(2, spacing=100.0, origin=(0.0, 0.0))
    >>> s = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([0.0, 100.0], [0.0, 0.0]), crs=net.crs))
    >>> o = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([50.0], [0.0]), crs=net.crs))
    >>> near = nearest_source(net, o, s, keys=[2, 1])   # a tie: 50 m either way, key 1 wins
    >>> near["nearest"].tolist(), near["dist_m"].tolist()
    ([1], [50.0])
    """
    keys = np.asarray(keys)
    if len(keys) != len(sources):
        raise ValueError(f"keys has {len(keys)} entries for {len(sources)} sources")
    ok_s = np.flatnonzero(sources.ok)
    rank_all, uniq = _ranks(keys) if len(keys) else (np.zeros(0, np.int64), keys)
    n_o = len(origins)
    best = np.full(n_o, np.inf)
    best_rank = np.full(n_o, np.iinfo(np.int64).max)
    if len(ok_s) and net.n_nodes:
        e = sources.edge[ok_s]
        seed_node = np.concatenate([net.u[e], net.v[e]]).astype(np.int64)
        # no MIN_EDGE_M floor on the seeds (csgraph's need, not this Dijkstra's): a source on a node then
        # ties exactly with one reached along the street, as the ids must decide
        seed_dist = np.concatenate([sources.leg[ok_s] + sources.d_u[ok_s], sources.leg[ok_s] + sources.d_v[ok_s]])
        seed_rank = np.concatenate([rank_all[ok_s], rank_all[ok_s]])
        csr = net.csr
        nd, nr = _labelled_dijkstra(csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                                    csr.data.astype(float), seed_node, seed_dist, seed_rank, float(limit), TIE_M)
        oi = np.flatnonzero(origins.ok)
        oe = origins.edge[oi]
        cand_o, cand_d, cand_r = [], [], []
        for end, off in ((net.u, origins.d_u), (net.v, origins.d_v)):
            node = end[oe]
            reach = nr[node] >= 0
            cand_o.append(oi[reach])
            cand_d.append(nd[node][reach] + off[oi][reach] + origins.leg[oi][reach])
            cand_r.append(nr[node][reach])
        # sources on the origin's own street are reached along it directly
        order = np.argsort(e, kind="stable")
        se = e[order]
        lo = np.searchsorted(se, oe, side="left")
        cnt = np.searchsorted(se, oe, side="right") - lo
        if cnt.sum():
            o = np.repeat(oi, cnt)
            s = ok_s[order[np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())]]
            cand_o.append(o)
            cand_d.append(np.abs(origins.d_u[o] - sources.d_u[s]) + sources.leg[s] + origins.leg[o])
            cand_r.append(rank_all[s])
        co, cd, cr = np.concatenate(cand_o), np.concatenate(cand_d), np.concatenate(cand_r)
        within = cd <= limit
        co, cd, cr = co[within], cd[within], cr[within]
        np.minimum.at(best, co, cd)
        tied = cd <= best[co] + TIE_M
        np.minimum.at(best_rank, co[tied], cr[tied])
    found = np.isfinite(best)
    nearest = pd.Series(pd.array([None] * n_o, dtype=object), index=origins.index)
    if found.any():
        nearest.iloc[np.flatnonzero(found)] = uniq[best_rank[found]].tolist()
        nearest = nearest.infer_objects()
    dist = best.copy()
    dist[~np.asarray(origins.ok, dtype=bool)] = np.nan
    return pd.DataFrame({"nearest": nearest, "dist_m": dist}, index=origins.index)


def catchments(blocks: gpd.GeoDataFrame, nearest: pd.DataFrame, key_name: str = "facility_id") -> gpd.GeoDataFrame:
    """Blocks dissolved by the source they are nearest to, with their residents and walks.

    Parameters
    ----------
    blocks : GeoDataFrame
        With ``population`` (and ``pop_65plus`` when known).
    nearest : DataFrame
        :func:`nearest_source` on ``blocks.index``.
    key_name : str
        Name of the key column in the result.

    Returns
    -------
    GeoDataFrame
        One row per source serving at least one block: the key, ``blocks``,
        ``population``, ``pop_65plus``, ``dist_mean_m`` (resident-weighted
        mean walk; the plain mean where nobody lives), ``dist_max_m`` and the
        dissolved polygon, in ``blocks.crs``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame({"population": [10.0, 30.0, 5.0]}, crs="EPSG:32651",
    ...                      geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(5, 5, 6, 6)])
    >>> near = pd.DataFrame({"nearest": [7, 7, 8], "dist_m": [100.0, 300.0, 50.0]}, index=b.index)
    >>> c = catchments(b, near)
    >>> c["facility_id"].tolist(), c["population"].tolist(), c["dist_mean_m"].tolist()
    ([7, 8], [40.0, 5.0], [250.0, 50.0])
    """
    has = nearest["nearest"].notna().to_numpy()
    cols = [key_name, "blocks", "population", "pop_65plus", "dist_mean_m", "dist_max_m"]
    if not has.any():
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=blocks.crs)
    b = blocks.loc[has]
    pop = b["population"].to_numpy(dtype=float) if "population" in b else np.zeros(len(b))
    old = b["pop_65plus"].to_numpy(dtype=float) if "pop_65plus" in b else np.full(len(b), np.nan)
    d = nearest["dist_m"].to_numpy(dtype=float)[has]
    frame = pd.DataFrame({"key": nearest["nearest"].to_numpy()[has], "pop": pop, "old": old, "d": d,
                          "pd": pop * d})
    g = frame.groupby("key", sort=True)
    agg = g.agg(blocks=("d", "size"), population=("pop", "sum"), pop_65plus=("old", "sum"),
                pd=("pd", "sum"), dist_mean=("d", "mean"), dist_max_m=("d", "max"))
    agg["dist_mean_m"] = np.where(agg["population"] > 0, agg["pd"] / agg["population"].where(
        agg["population"] > 0, 1.0), agg["dist_mean"])
    geoms = [shapely.union_all(np.asarray(b.geometry.values)[idx]) for idx in g.indices.values()]
    out = gpd.GeoDataFrame({key_name: agg.index.to_numpy(), "blocks": agg["blocks"].to_numpy(),
                            "population": agg["population"].to_numpy(),
                            "pop_65plus": agg["pop_65plus"].to_numpy() if "pop_65plus" in blocks
                            else np.full(len(agg), np.nan),
                            "dist_mean_m": agg["dist_mean_m"].round(1).to_numpy(),
                            "dist_max_m": agg["dist_max_m"].round(1).to_numpy()},
                           geometry=geoms, crs=blocks.crs)
    return out


def _labelled(net: WalkNetwork, sources: Snapped, rank: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the walk to the nearest source (inf beyond ``limit``) and that source's rank (-1: none)."""
    ok = np.flatnonzero(sources.ok)
    if len(ok) == 0 or net.n_nodes == 0:
        return np.full(net.n_nodes, np.inf), np.full(net.n_nodes, -1, dtype=np.int64)
    e = sources.edge[ok]
    csr = net.csr
    # no MIN_EDGE_M floor on the seeds (csgraph's need, not this Dijkstra's): a source on a node then
    # ties exactly with one reached along the street, as the ids must decide
    return _labelled_dijkstra(
        csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data.astype(float),
        np.concatenate([net.u[e], net.v[e]]).astype(np.int64),
        np.concatenate([sources.leg[ok] + sources.d_u[ok], sources.leg[ok] + sources.d_v[ok]]),
        np.concatenate([rank[ok], rank[ok]]).astype(np.int64), float(limit), TIE_M)


def _better(d: float, r: int, bd: float, br: int) -> bool:
    """(d, r) before (bd, br): a shorter walk, or a tie and the smaller rank."""
    return d < bd - TIE_M or (d <= bd + TIE_M and 0 <= r < br) or br < 0 <= r


def _stops(net: WalkNetwork, sources: Snapped, rank: np.ndarray, nd: np.ndarray,
           nr: np.ndarray) -> dict[int, list[tuple[float, float, int]]]:
    """Per edge with a source on it: (position, walk, rank) at its ends and at each source's attachment."""
    out: dict[int, list[tuple[float, float, int]]] = {}
    ok = np.flatnonzero(sources.ok)
    for e in np.unique(sources.edge[ok]):
        on = ok[sources.edge[ok] == e]
        length = float(net.length[e])
        u, v = net.u[e], net.v[e]
        stops = []
        for x in [0.0, length, *sources.d_u[on].tolist()]:
            best = (float(nd[u]) + x, int(nr[u])) if nr[u] >= 0 else (np.inf, -1)
            for cand in ((float(nd[v]) + length - x, int(nr[v])),
                         *((float(sources.leg[t] + abs(x - sources.d_u[t])), int(rank[t])) for t in on)):
                if cand[1] >= 0 and _better(cand[0], cand[1], *best):
                    best = cand
            stops.append((x, *best))
        out[int(e)] = sorted(stops)
    return out


def _reached(a: float, da: float, ra: int, b: float, db: float, rb: int,
             walk: float) -> list[tuple[float, float, int]]:
    """The parts of ``[a, b]`` (no source inside) within ``walk``, each with the rank of the source it is nearest to.

    Along the stretch the walk is ``min(da + (x - a), db + (b - x))``: the
    two sides meet at ``x* = (a + b + db - da) / 2``; a side reaches ``walk -
    d`` metres from its end, never past ``x*`` (the other source is nearer there).
    """
    out = []
    if ra >= 0 and rb >= 0 and ra == rb:
        split_a = split_b = None
    else:
        x = (a + b + db - da) / 2 if ra >= 0 and rb >= 0 else (b if ra >= 0 else a)
        split_a = split_b = min(max(x, a), b)
    if ra >= 0 and da <= walk:
        hi = min(b, a + walk - da) if split_a is None else min(split_a, a + walk - da)
        out.append((a, hi, ra))
    if rb >= 0 and db <= walk:
        lo = max(a, b - (walk - db)) if split_b is None else max(split_b, b - (walk - db))
        out.append((lo, b, rb))
    return out


def _pieces(net: WalkNetwork, sources: Snapped, rank: np.ndarray, walks: Sequence[float]) -> pd.DataFrame:
    """Every reached stretch of street per walk: ``walk``, ``edge``, ``start``, ``end`` (metres from ``u``), ``rank``.

    One labelled Dijkstra to the longest walk serves every walk: the nearest
    source of a point does not depend on how far one may walk.
    """
    top = max(walks)
    nd, nr = _labelled(net, sources, rank, top)
    stops = _stops(net, sources, rank, nd, nr)
    rows: list[tuple[float, int, float, float, int]] = []
    near = (nd[net.u] <= top) | (nd[net.v] <= top)
    for e in np.union1d(np.flatnonzero(near), np.fromiter(stops, dtype=np.int64, count=len(stops))):
        e = int(e)
        length = float(net.length[e])
        pts = stops.get(e) or [(0.0, float(nd[net.u[e]]), int(nr[net.u[e]])),
                               (length, float(nd[net.v[e]]), int(nr[net.v[e]]))]
        for (a, da, ra), (b, db, rb) in itertools.pairwise(pts):
            for w in walks:
                rows += [(w, e, lo, hi, r) for lo, hi, r in _reached(a, da, ra, b, db, rb, w) if hi >= lo]
    df = pd.DataFrame(rows, columns=["walk", "edge", "start", "end", "rank"])
    # touching stretches of one source on one edge are one piece
    df = df.sort_values(["walk", "edge", "rank", "start"], kind="stable").reset_index(drop=True)
    if len(df):
        same = [df[k].to_numpy() for k in ("walk", "edge", "rank")]
        head = np.r_[True, np.logical_or.reduce([x[1:] != x[:-1] for x in same])]
        # the furthest end so far within each (walk, edge, source): a stretch starting beyond it is a new piece
        reach = df["end"].groupby(np.cumsum(head)).cummax().to_numpy()
        new = head | np.r_[True, df["start"].to_numpy()[1:] > reach[:-1] + TIE_M]
        g = np.cumsum(new) - 1
        df = df.groupby(g).agg(walk=("walk", "first"), edge=("edge", "first"), start=("start", "min"),
                               end=("end", "max"), rank=("rank", "first"))
    return df.reset_index(drop=True)


def _substrings(lines: np.ndarray, f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """``shapely.ops.substring(line, f0, f1, normalized=True)`` for arrays of lines, all at once.

    Each piece is its start point, the line's vertices strictly between, and
    its end point; a piece of no length is its point.
    """
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[idx[1:] != idx[:-1]] = 0.0  # no segment between two lines
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    start = np.searchsorted(idx, np.arange(len(lines)))
    cum -= cum[start][idx]
    total = np.maximum(cum[np.r_[start[1:], len(idx)] - 1], 1e-12)
    frac = cum / total[idx]
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines, f0, normalized=True))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines, f1, normalized=True))
    inner = (frac > f0[idx]) & (frac < f1[idx])
    n = len(lines)
    pos = np.concatenate([f0, frac[inner], f1])
    owner = np.concatenate([np.arange(n), idx[inner], np.arange(n)])
    side = np.concatenate([np.zeros(n), np.ones(inner.sum()), np.full(n, 2)])
    order = np.lexsort((side, pos, owner))
    xy = np.concatenate([a, coords[inner], b])[order]
    out = shapely.linestrings(xy, indices=owner[order])
    point = f1 - f0 <= 1e-12
    out[point] = shapely.points(a[point])
    return out


def _geoms(net: WalkNetwork, pieces: pd.DataFrame) -> np.ndarray:
    """The pieces cut from their edges' lines (whole edges kept as they are; a stretch of no length, a point)."""
    geoms = net.edge_geometry
    e = pieces["edge"].to_numpy()
    length = net.length[e]
    f0 = np.clip(pieces["start"].to_numpy() / length, 0, 1)
    f1 = np.clip(pieces["end"].to_numpy() / length, 0, 1)
    whole = (f0 <= 1e-12) & (f1 >= 1 - 1e-12)
    out = np.asarray(geoms[e], dtype=object).copy()
    part = np.flatnonzero(~whole)
    if len(part):
        out[part] = _substrings(np.asarray(geoms[e[part]]), f0[part], f1[part])
    return out


def reachable_streets(net: WalkNetwork, sources: Snapped, max_m: float, keys: Any = None) -> gpd.GeoDataFrame:
    """The stretches of street within ``max_m`` network metres of their nearest source, with that source.

    Every street point is walked to from its nearest source (ties to the
    smaller key): along an edge the walk is the nearer of the two ends' plus
    the way along it, or a source on the edge itself, so each stretch is cut
    where the walk runs out or where another source becomes nearer. Exact:
    no sampling.

    Parameters
    ----------
    net : WalkNetwork
    sources : Snapped
    max_m : float
        Metres.
    keys : array-like, optional
        One sortable key per source (points sharing a key are one source);
        all one source (key 0) when omitted.

    Returns
    -------
    GeoDataFrame
        ``key``, ``edge``, ``start_m``, ``end_m`` (metres from the edge's
        ``u``) and the stretch's line (a point where it has no length), in
        the network's CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from toolkit.network import grid_network
    >>> from toolkit.snapping import snap_points
    >>> net = grid_network(2, spacing=100.0, origin=(0.0, 0.0))
    >>> s = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([0.0], [0.0]), crs=net.crs))
    >>> round(float(reachable_streets(net, s, 150.0).length.sum()), 6)
    300.0
    """
    return _streets(net, sources, [float(max_m)], keys)


def _streets(net: WalkNetwork, sources: Snapped, walks: Sequence[float], keys: Any) -> gpd.GeoDataFrame:
    """:func:`reachable_streets` for several walks at once (column ``walk_m``)."""
    keys = np.zeros(len(sources), dtype=np.int64) if keys is None else np.asarray(keys)
    rank, uniq = _ranks(keys) if len(keys) else (np.zeros(0, np.int64), keys)
    p = _pieces(net, sources, rank, walks)
    return gpd.GeoDataFrame({"key": uniq[p["rank"].to_numpy()] if len(p) else keys[:0],
                             "walk_m": p["walk"].to_numpy(dtype=float),
                             "edge": p["edge"].to_numpy(), "start_m": p["start"].to_numpy(),
                             "end_m": p["end"].to_numpy()}, geometry=_geoms(net, p) if len(p) else [], crs=net.crs)


def service_areas(net: WalkNetwork, sources: Snapped, minutes: Sequence[float], speed_m_s: float,
                  keys: Any = None, buffer_m: float = SERVICE_AREA_BUFFER_M) -> gpd.GeoDataFrame:
    """Per source and walking time: the streets it serves first within the walk, buffered (polygons).

    A source's area at ``t`` minutes is the stretches of
    :func:`reachable_streets` within ``t * 60 * speed_m_s`` metres whose
    nearest source it is, buffered by ``buffer_m`` either side: the areas of
    the sources of one set never overlap but by the buffer, and together they
    are the set's service area. With ``keys`` omitted all the sources are one
    (key 0).

    Parameters
    ----------
    net : WalkNetwork
    sources : Snapped
    minutes : sequence of float
        E.g. ``[5, 10, 15]``.
    speed_m_s : float
        Walking speed (the profile's, :meth:`toolkit.standards.Profile.speed`).
    keys : array-like, optional
        One key per source (a facility id).
    buffer_m : float
        Metres either side of the streets (:data:`SERVICE_AREA_BUFFER_M`).

    Returns
    -------
    GeoDataFrame
        ``key``, ``minutes``, ``walk_m``, ``buffer_m``, ``street_m`` (length of
        street reached), ``area_m2`` and the polygon, in the network's CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from toolkit.network import grid_network
    >>> from toolkit.snapping import snap_points
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> s = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([0.0], [0.0]), crs=net.crs))
    >>> sa = service_areas(net, s, [1, 2], speed_m_s=100 / 60, buffer_m=10.0)
    >>> sa["street_m"].round(3).tolist(), bool(sa.geometry.iloc[0].contains(shapely.Point(100, 0)))
    ([200.0, 600.0], True)
    """
    rows, geoms = [], []
    times = sorted(float(m) for m in minutes)
    if not times:
        return gpd.GeoDataFrame(pd.DataFrame(columns=["key", "minutes", "walk_m", "buffer_m", "street_m", "area_m2"]),
                                geometry=[], crs=net.crs)
    walks = [t * 60.0 * float(speed_m_s) for t in times]
    st = _streets(net, sources, walks, keys)
    strips = shapely.buffer(np.asarray(st.geometry.values), buffer_m, quad_segs=2)
    lengths = (st["end_m"] - st["start_m"]).to_numpy()
    groups = pd.Series(np.arange(len(st))).groupby([st["walk_m"].to_numpy(), st["key"].to_numpy()], sort=True)
    for (walk, key), idx in groups.indices.items():
        g = shapely.union_all(strips[idx])
        rows.append({"key": key, "minutes": times[walks.index(walk)], "walk_m": round(walk, 1),
                     "buffer_m": float(buffer_m), "street_m": round(float(lengths[idx].sum()), 1),
                     "area_m2": round(float(g.area), 1)})
        geoms.append(g)
    cols = ["key", "minutes", "walk_m", "buffer_m", "street_m", "area_m2"]
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=geoms, crs=net.crs)


@dataclass
class CatchmentSettings:
    """What the decisions step draws (``[selection]`` keys).

    Attributes
    ----------
    categories : list of str
        The hub categories whose facilities get catchments and service areas.
    minutes : list of float
        ``service_area_minutes``.
    buffer_m : float
        ``service_area_buffer_m``.
    speed_m_s : float
        The profile's adult walking speed.
    search_limit_m : float
        ``[network] search_limit_m``: beyond it a block belongs to no catchment.
    facility_max_snap_m : float
        ``[network] facility_max_snap_m``, for the hubs as for the facilities.
    facility_areas : bool
        ``facility_service_areas``: service areas for every facility too, not
        only for the hubs (a few seconds on a district: one buffered union
        per facility and time).
    """

    categories: list[str] = field(default_factory=list)
    minutes: list[float] = field(default_factory=lambda: [5.0, 10.0, 15.0])
    buffer_m: float = SERVICE_AREA_BUFFER_M
    speed_m_s: float = 1.0
    search_limit_m: float = np.inf
    facility_max_snap_m: float = np.inf
    facility_areas: bool = False


def _source_layers(net: WalkNetwork, blocks: gpd.GeoDataFrame, block_snap: Snapped, snapped: Snapped, keys: Any,
                   settings: CatchmentSettings, key_name: str,
                   areas: bool = True) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """One set of sources: each one's catchment and (``areas``) service areas, with the residents served."""
    near = nearest_source(net, block_snap, snapped, keys, limit=settings.search_limit_m)
    cat = catchments(blocks, near, key_name=key_name)
    if not areas:
        return cat, None
    sa = service_areas(net, snapped, settings.minutes, settings.speed_m_s, keys=keys, buffer_m=settings.buffer_m)
    pop = blocks["population"].to_numpy(dtype=float)
    owner = near["nearest"].to_numpy()
    d = np.nan_to_num(near["dist_m"].to_numpy(dtype=float), nan=np.inf)
    # residents a source serves first within the walk: its catchment's blocks that near (the blocks' own walks)
    served = [float(pop[(owner == k) & (d <= w)].sum()) for k, w in zip(sa["key"], sa["walk_m"], strict=True)]
    return cat, sa.assign(population=served).rename(columns={"key": key_name})


def catchment_layers(net: WalkNetwork, blocks: gpd.GeoDataFrame, block_snap: Snapped,
                     facilities: gpd.GeoDataFrame, hubs: gpd.GeoDataFrame, settings: CatchmentSettings,
                     obstacles: Any = None) -> dict[str, gpd.GeoDataFrame]:
    """The ``catchments`` and ``service_areas`` layers of a study.

    Per category of ``settings.categories`` with facilities, among the
    facilities of that category (``kind = "facility"``), and per hub among
    the hubs alone (``hubs``: the selected sites with ``site_id``; ``kind =
    "hub"``, the blocks each would serve first, as a 邻里中心 is delimited by
    its walk): the catchment (blocks served first, dissolved) and the service
    area at each time (streets served first within the walk, buffered; for
    the facilities only with ``settings.facility_areas``).
    Facilities are their access points (``facility_id``, ``category``; those
    the baseline refused, ``snapped`` False, left out), snapped with
    ``obstacles`` as the coverage step does; a facility's access points are
    one source.

    Returns
    -------
    dict
        ``catchments`` and ``service_areas`` GeoDataFrames in ``blocks.crs`` (absent when empty).

    Examples
    --------
    >>> layers = catchment_layers(result.network, result.blocks, bsnap, access, hubs,
    ...                           CatchmentSettings(["park"], speed_m_s=1.2))  # doctest: +SKIP
    >>> sorted(layers)  # doctest: +SKIP
    ['catchments', 'service_areas']
    """
    cats, areas = [], []
    if "snapped" in facilities:
        facilities = facilities[facilities["snapped"].to_numpy(dtype=bool)]
    sets = []
    for c in settings.categories:
        fac = facilities.loc[facilities["category"] == c]
        if len(fac):
            # access points share their facility's id; without ids each row is a facility of its own
            ids = fac["facility_id"].to_numpy() if "facility_id" in fac else np.flatnonzero(
                (facilities["category"] == c).to_numpy()) + 1
            sets.append(("facility", c, fac.geometry.values, ids, "facility_id"))
    if len(hubs):
        sets.append(("hub", "", hubs.geometry.values, hubs["site_id"].to_numpy(), "site_id"))
    for kind, c, geom, keys, key_name in sets:
        fs = snap_points(net, gpd.GeoSeries(geom, crs=blocks.crs), max_snap_m=settings.facility_max_snap_m,
                         obstacles=obstacles)
        if not fs.ok.any():
            continue
        cat, sa = _source_layers(net, blocks, block_snap, fs, keys, settings, key_name,
                                 areas=kind == "hub" or settings.facility_areas)
        cats.append(cat.assign(kind=kind, category=c))
        if sa is not None:
            areas.append(sa.assign(kind=kind, category=c))
    out: dict[str, gpd.GeoDataFrame] = {}
    cat_cols = ["kind", "category", "facility_id", "site_id", "blocks", "population", "pop_65plus", "dist_mean_m",
                "dist_max_m"]
    area_cols = ["kind", "category", "facility_id", "site_id", "minutes", "walk_m", "buffer_m", "street_m",
                 "area_m2", "population"]
    for name, parts, cols in (("catchments", cats, cat_cols), ("service_areas", areas, area_cols)):
        parts = [p for p in parts if len(p)]
        if not parts:
            continue
        g = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=blocks.crs)
        for k in ("facility_id", "site_id"):
            g[k] = pd.array(g[k] if k in g else [None] * len(g), dtype="Int64")
        out[name] = g[[*cols, "geometry"]]
    return out
