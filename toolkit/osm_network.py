"""Walking networks straight from OpenStreetMap files into arrays.

One pass of pyosmium (libosmium in C++) reads ``.osm.pbf``, ``.osm`` and
``.osm.bz2`` alike with node locations attached to the ways; everything after
that is numpy: the walkable filter, cutting ways at references that point
outside a clipped extract, keeping only the ways near the study area, degree-2
simplification (a compiled walk along chains of segments), projection with
pyproj on arrays and one undirected edge per street segment. No networkx graph
is ever built, which is what made a city-sized extract cost minutes and many
gigabytes through osmnx (``graph_from_xml`` + ``simplify_graph`` +
``project_graph``). osmnx stays the reference the tests compare against.

Simplification follows osmnx's rule (a node is kept where it does not join
exactly two segments to two distinct neighbours) with one addition: a node is
also kept where the segments on its two sides differ in whether points may be
snapped to them, so that a tunnel never shares an edge with the street it dives
under.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from numba import njit

from .crs import ensure_projected
from .errors import InputError
from .io import DataWarning
from .network import WalkNetwork, distinct_edges
from .walk_rules import EDGE_TAGS, NOT_WALKABLE, WalkRules, _at_grade_road, walk_reason

__all__ = ["EDGE_TAGS", "NOT_WALKABLE", "WalkRules", "WayTable", "read_walk_network", "walk_reason", "way_table"]


# ------------------------------------------------------------------ reading
@dataclass
class _Ways:
    """The walkable ways of a study as flat arrays (one entry per way-node reference)."""

    osmid: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    tags: dict[str, list[str | None]] = field(default_factory=lambda: {k: [] for k in EDGE_TAGS})
    nosnap: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    ref: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    x: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    removed: dict[str, int] = field(default_factory=dict)
    highway_ways: int = 0
    removed_refs: int = 0
    removed_refs_outside: int = 0
    # ground-level roads nobody may walk (a foot=no carriageway, a motorway at grade):
    # no walk uses them, but they still divide the city into blocks
    barrier_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    barrier_x: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    barrier_y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for s in (".osm.pbf", ".osm.bz2", ".osm.gz", ".osm", ".pbf", ".bz2", ".xml"):
        if name.endswith(s):
            return s
    return p.suffix.lower()


# A reference to a node missing from the file gets this location from libosmium.
_UNDEFINED = 2**31 - 1


def _highway_ways(path: Path, *filters: Any) -> Any:
    import osmium

    fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
          .with_locations()
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
          .with_filter(osmium.filter.KeyFilter("highway")))
    for f in filters:
        fp = fp.with_filter(f)
    return fp


#: Tags kept in the way table: the edge tags and what the walk rules read.
_TABLE_TAGS = tuple(dict.fromkeys((*EDGE_TAGS, "area")))
_TABLE_VERSION = "2"


@dataclass
class WayTable:
    """Every highway way of an OSM file as arrays: ids, tags, node references and locations.

    Built once per file (:func:`way_table`) and kept in the user cache, so
    later studies on the same extract, a district on a city-wide file above
    all, select their ways from arrays instead of parsing the file again.

    Attributes
    ----------
    osmid : ndarray of int64
        Way ids.
    ptr : ndarray of int64
        Way ``i``'s references are ``ref[ptr[i]:ptr[i + 1]]``.
    ref, x, y : ndarray of int64
        Node ids and locations (degrees x 1e7; ``2**31 - 1`` where the node is
        missing from a clipped extract).
    tags : dict of str to ndarray of object
        One column per tag of ``_TABLE_TAGS`` (None where absent).
    bounds : ndarray, shape (n, 4)
        WGS84 extent of each way's located nodes (NaN when none is located).
    """

    osmid: np.ndarray
    ptr: np.ndarray
    ref: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tags: dict[str, np.ndarray]
    bounds: np.ndarray

    def __len__(self) -> int:
        return len(self.osmid)


def way_table(path: str | os.PathLike) -> WayTable:
    """The :class:`WayTable` of an OSM file, from the user cache when the file is unchanged.

    The cache is keyed by the file's path, size and modification time and
    lives under ``$TOOLKIT_CACHE`` (or the user cache) in ``osm-ways/``; a
    cache that cannot be written only costs the next run the parse again.

    Examples
    --------
    >>> t = way_table("shanghai.osm.pbf")  # doctest: +SKIP
    >>> len(t), t.tags["highway"][:3]  # doctest: +SKIP
    (312345, array(['primary', 'footway', 'residential'], dtype=object))
    """
    import hashlib

    from .datasets import user_cache_dir

    p = Path(path).resolve()
    st = p.stat()
    stamp = f"{p}|{st.st_size}|{st.st_mtime_ns}|{_TABLE_VERSION}"
    store = user_cache_dir() / "osm-ways" / (hashlib.sha1(stamp.encode()).hexdigest() + ".npz")
    table = _load_table(store, stamp)
    if table is None:
        table = _parse_table(p)
        _save_table(table, store, stamp)
    return table


def _parse_table(p: Path) -> WayTable:
    osmid: list[int] = []
    ptr = [0]
    ref: list[int] = []
    xs: list[int] = []
    ys: list[int] = []
    cols: dict[str, list[str | None]] = {k: [] for k in _TABLE_TAGS}
    for way in _highway_ways(p):
        osmid.append(way.id)
        t = way.tags
        for k in _TABLE_TAGS:
            cols[k].append(t.get(k))
        for nd in way.nodes:
            ref.append(nd.ref)
            xs.append(nd.x)
            ys.append(nd.y)
        ptr.append(len(ref))
    ptr_a = np.asarray(ptr, dtype=np.int64)
    x = np.asarray(xs, dtype=np.int64)
    y = np.asarray(ys, dtype=np.int64)
    bounds = np.full((len(osmid), 4), np.nan)
    valid = (x != _UNDEFINED) & (y != _UNDEFINED)
    if len(osmid):
        way = np.repeat(np.arange(len(osmid)), np.diff(ptr_a))
        w, lon, lat = way[valid], x[valid] / 1e7, y[valid] / 1e7
        for j, (vals, red) in enumerate(((lon, np.fmin), (lat, np.fmin), (lon, np.fmax), (lat, np.fmax))):
            out = np.full(len(osmid), np.nan)
            red.at(out, w, vals)
            bounds[:, j] = out
    return WayTable(np.asarray(osmid, dtype=np.int64), ptr_a, np.asarray(ref, dtype=np.int64), x, y,
                    {k: np.asarray(v, dtype=object) for k, v in cols.items()}, bounds)


def _save_table(t: WayTable, store: Path, stamp: str) -> None:
    arrays: dict[str, np.ndarray] = {"stamp": np.array(stamp), "osmid": t.osmid, "ptr": t.ptr, "ref": t.ref,
                                     "x": t.x, "y": t.y, "bounds": t.bounds}
    for k, col in t.tags.items():
        # a tag column is a handful of distinct values: stored as codes into them, no pickles
        codes, values = pd.factorize(pd.Series(col, dtype=object), use_na_sentinel=True)
        arrays[f"codes:{k}"] = codes.astype(np.int32)
        arrays[f"values:{k}"] = np.asarray(values, dtype=str) if len(values) else np.array([], dtype=str)
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f"{store.stem}.{os.getpid()}.tmp.npz")
        # numpy's stubs let **kwds fill savez's allow_pickle: bool; every key here is an array name
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, store)
    except OSError:
        pass


def _load_table(store: Path, stamp: str) -> WayTable | None:
    try:
        with np.load(store, allow_pickle=False) as z:
            if str(z["stamp"]) != stamp:
                return None
            tags = {}
            for k in _TABLE_TAGS:
                codes, values = z[f"codes:{k}"], z[f"values:{k}"].astype(object)
                col = np.full(len(codes), None, dtype=object)
                has = codes >= 0
                col[has] = values[codes[has]]
                tags[k] = col
            return WayTable(z["osmid"], z["ptr"], z["ref"], z["x"], z["y"], tags, z["bounds"])
    except (OSError, KeyError, ValueError):
        return None


def _ranges(ptr: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the references of ways ``sel`` (in order) and their new offsets."""
    lens = ptr[sel + 1] - ptr[sel]
    new_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    pos = np.repeat(ptr[sel] - new_ptr[:-1], lens) + np.arange(new_ptr[-1])
    return pos, new_ptr


def _select_ways(table: WayTable, rules: WalkRules, area: shapely.Geometry | None) -> _Ways:
    """The walkable ways near ``area`` (all without one), their barriers and what was removed."""
    if area is None:
        sel = np.arange(len(table))
    else:
        located = ~np.isnan(table.bounds[:, 0])
        shapely.prepare(area)
        near = np.zeros(len(table), dtype=bool)
        near[located] = shapely.intersects(area, shapely.box(*table.bounds[located].T))
        sel = np.flatnonzero(near)
    w = _Ways()
    w.highway_ways = len(sel)
    vals = {k: table.tags[k][sel].tolist() for k in _TABLE_TAGS}
    keys = list(vals)
    walk = np.zeros(len(sel), dtype=bool)
    nosnap = np.zeros(len(sel), dtype=bool)
    barrier = np.zeros(len(sel), dtype=bool)
    for i, row in enumerate(zip(*(vals[k] for k in keys), strict=True)):
        tags = {k: v for k, v in zip(keys, row, strict=True) if v is not None}
        why = walk_reason(tags, rules)
        if why is None:
            walk[i] = True
            nosnap[i] = not rules.snappable(tags)
        else:
            w.removed[why] = w.removed.get(why, 0) + 1
            barrier[i] = _at_grade_road(tags)
    ws = sel[walk]
    pos, w.ptr = _ranges(table.ptr, ws)
    w.ref, w.x, w.y = table.ref[pos], table.x[pos], table.y[pos]
    w.osmid = table.osmid[ws]
    w.tags = {k: [vals[k][i] for i in np.flatnonzero(walk)] for k in EDGE_TAGS}
    w.nosnap = nosnap[walk]
    gone, _ = _ranges(table.ptr, sel[~walk])
    w.removed_refs = len(gone)
    w.removed_refs_outside = int((table.x[gone] == _UNDEFINED).sum())
    pos, w.barrier_ptr = _ranges(table.ptr, sel[barrier])
    w.barrier_x, w.barrier_y = table.x[pos], table.y[pos]
    return w


# --------------------------------------------------------------- chaining
@njit(cache=True)
def _chains(n_nodes: int, sa: np.ndarray, sb: np.ndarray, is_end: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """Walk every chain of segments from one kept node to the next.

    Returns the chains' node sequences (flat, with offsets) and their segments
    (flat; chain ``i`` has segments ``ptr[i] - i`` to ``ptr[i + 1] - i - 1``).
    Rings with no kept node are walked from their first segment's start, which
    becomes a node of the network (a closed street is kept, as one self-loop).
    """
    n_seg = len(sa)
    deg = np.zeros(n_nodes + 1, np.int64)
    for s in range(n_seg):
        deg[sa[s] + 1] += 1
        deg[sb[s] + 1] += 1
    indptr = np.cumsum(deg)
    fill = indptr[:-1].copy()
    inc = np.empty(2 * n_seg, np.int64)
    for s in range(n_seg):
        inc[fill[sa[s]]] = s
        fill[sa[s]] += 1
        inc[fill[sb[s]]] = s
        fill[sb[s]] += 1
    visited = np.zeros(n_seg, np.bool_)
    nodes = np.empty(2 * n_seg + 1, np.int64)
    segs = np.empty(n_seg, np.int64)
    ptr = np.empty(n_seg + 1, np.int64)
    ptr[0] = 0
    nn = 0
    ns = 0
    nc = 0
    end = is_end.copy()
    for phase in range(2):
        for start in range(n_nodes if phase == 0 else n_seg):
            if phase == 0:
                if not end[start]:
                    continue
                first_node = start
            else:
                # leftover segments belong to rings of degree-2 nodes only
                if visited[start]:
                    continue
                first_node = sa[start]
                end[first_node] = True
            for k in range(indptr[first_node], indptr[first_node + 1]):
                s = inc[k]
                if visited[s]:
                    continue
                nodes[nn] = first_node
                nn += 1
                cur = first_node
                while True:
                    visited[s] = True
                    segs[ns] = s
                    ns += 1
                    nxt = sb[s] if sa[s] == cur else sa[s]
                    nodes[nn] = nxt
                    nn += 1
                    if end[nxt]:
                        break
                    # a degree-2 node: continue on its other segment
                    a = inc[indptr[nxt]]
                    b = inc[indptr[nxt] + 1]
                    s = b if a == s else a
                    cur = nxt
                nc += 1
                ptr[nc] = nn
    return nodes[:nn], segs[:ns], ptr[:nc + 1]


# ------------------------------------------------------------ the network
def read_walk_network(source: str | os.PathLike, crs: Any, area: shapely.Geometry | None = None,
                      rules: WalkRules | None = None) -> WalkNetwork:
    """Read the walking network of an OSM file as a :class:`~toolkit.network.WalkNetwork`.

    Parameters
    ----------
    source : path-like
        ``.osm.pbf``, ``.osm`` or ``.osm.bz2``.
    crs : CRS-like
        The projected, metric CRS of the result.
    area : shapely geometry, optional
        WGS84 polygon (already buffered as the study wants): only way segments
        with at least one end inside it are built, so a district on a city-wide
        extract costs what the district costs.
    rules : WalkRules, optional
        Which ways are walked and which may take blocks and facilities.

    Returns
    -------
    WalkNetwork
        One undirected edge per street segment between kept nodes, with the
        tags of :data:`EDGE_TAGS` and ``osmid`` in ``edge_attrs``, ``snappable``
        per edge, and what was read, cut and removed in ``info``.

    Examples
    --------
    >>> net = read_walk_network("xuhui_roads.osm", "EPSG:32651")  # doctest: +SKIP
    >>> net.n_nodes, net.n_edges, round(net.length.sum() / 1000)  # doctest: +SKIP
    (2214, 3403, 562)
    """
    rules = rules or WalkRules()
    crs = pyproj.CRS.from_user_input(crs)
    ensure_projected(crs, "the network CRS")
    p = Path(source)
    if not p.exists():
        raise InputError("OSM file not found", source=str(p), fix="check the network source path")
    if _suffix(p) not in (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".xml", ".bz2"):
        raise InputError(f"unsupported OSM format {_suffix(p)!r}", source=str(p),
                         fix="use .osm, .osm.bz2 or .osm.pbf")
    try:
        table = way_table(p)
    except RuntimeError as exc:
        raise InputError(f"cannot read the OSM file: {exc}", source=str(p),
                         fix="the file is truncated or not OSM data: download or export it again") from None
    if len(table) == 0:
        raise InputError("the OSM file has no highway ways", source=str(p),
                         fix="export the streets (highway=*) of the study area, e.g. with osmium or Overpass")
    ways = _select_ways(table, rules, area)
    if ways.highway_ways == 0:
        raise InputError("no street of the OSM file lies in or near the study area", source=str(p),
                         field="network", fix="check that the file covers the study area (and the area's CRS)")
    info: dict[str, Any] = {"reader": "pyosmium arrays", "highway_ways": ways.highway_ways,
                            "walkable_ways": len(ways.osmid), "removed_not_walkable": dict(ways.removed)}
    ptr = np.asarray(ways.ptr, dtype=np.int64)
    ref = np.asarray(ways.ref, dtype=np.int64)
    xi = np.asarray(ways.x, dtype=np.int64)
    yi = np.asarray(ways.y, dtype=np.int64)
    n_ways = len(ways.osmid)
    way_of_ref = np.repeat(np.arange(n_ways), np.diff(ptr))
    valid = (xi != _UNDEFINED) & (yi != _UNDEFINED)
    lon, lat = xi / 1e7, yi / 1e7
    missing = int((~valid).sum()) + ways.removed_refs_outside
    n_refs = len(ref) + ways.removed_refs
    info["way_node_refs"] = n_refs
    info["refs_outside_file"] = missing
    if missing:
        cut_ways = int(np.unique(way_of_ref[~valid]).size)
        info["ways_cut"] = cut_ways
        warnings.warn(f"{p.name}: {missing:,} of {n_refs:,} way-node references point outside the file "
                      f"(the extract was clipped); {cut_ways:,} ways were cut there and the streets beyond the "
                      "edge of the file are missing: extract a larger area if the study reaches that edge",
                      DataWarning, stacklevel=2)
    # a segment joins two consecutive valid references of one way
    same_way = way_of_ref[:-1] == way_of_ref[1:]
    seg = np.flatnonzero(same_way & valid[:-1] & valid[1:] & (ref[:-1] != ref[1:]))
    if area is not None:
        shapely.prepare(area)
        inside = np.zeros(len(ref), dtype=bool)
        inside[valid] = shapely.contains_xy(area, lon[valid], lat[valid])
        seg = seg[inside[seg] | inside[seg + 1]]
    if len(seg) == 0:
        raise InputError("no walkable street lies in the study area", source=str(p), field="network",
                         fix="check that the OSM file covers the study area (and that it holds streets "
                         "pedestrians may use)")
    ra, rb = ref[seg], ref[seg + 1]
    # One segment per pair of nodes: overlapping ways (a route mapped twice)
    # would otherwise store the same street twice.
    lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
    order = np.lexsort((seg, hi, lo))
    firsts = np.ones(len(order), dtype=bool)
    firsts[1:] = (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1])
    keep = np.sort(order[firsts])
    info["duplicate_segments"] = int(len(seg) - len(keep))
    seg, ra, rb = seg[keep], ra[keep], rb[keep]
    node_ref, inv = np.unique(np.concatenate([ra, rb]), return_inverse=True)
    sa, sb = inv[: len(seg)], inv[len(seg):]
    n_nodes = len(node_ref)
    pos_of = np.empty(n_nodes, dtype=np.int64)
    pos_of[inv[: len(seg)]] = seg
    pos_of[inv[len(seg):]] = seg + 1
    seg_way = way_of_ref[seg]
    nosnap_way = np.asarray(ways.nosnap, dtype=bool)
    seg_nosnap = nosnap_way[seg_way]
    # kept nodes: not exactly two segments to two distinct neighbours, or a change of snappability
    deg = np.bincount(sa, minlength=n_nodes) + np.bincount(sb, minlength=n_nodes)
    other_sum = np.bincount(sa, weights=sb, minlength=n_nodes) + np.bincount(sb, weights=sa, minlength=n_nodes)
    first_other = np.full(n_nodes, -1, dtype=np.int64)
    first_other[sb[::-1]] = sa[::-1]
    first_other[sa[::-1]] = sb[::-1]
    nosnap_count = (np.bincount(sa, weights=seg_nosnap, minlength=n_nodes)
                    + np.bincount(sb, weights=seg_nosnap, minlength=n_nodes))
    two_distinct = (deg == 2) & (other_sum != 2 * first_other)
    is_end = ~two_distinct | (nosnap_count == 1)
    chain_nodes, chain_segs, cptr = _chains(n_nodes, sa, sb, is_end)
    n_chain = len(cptr) - 1
    seg_ptr = cptr - np.arange(n_chain + 1)
    # project every node position used by a chain, then build all lines at once
    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    pos = pos_of[chain_nodes]
    X, Y = tr.transform(lon[pos], lat[pos])
    geom = shapely.linestrings(np.column_stack([X, Y]), indices=np.repeat(np.arange(n_chain), np.diff(cptr)))
    length = shapely.length(geom)
    u_node = chain_nodes[cptr[:-1]]
    v_node = chain_nodes[cptr[1:] - 1]
    kept_nodes, node_pos = np.unique(np.concatenate([u_node, v_node]), return_inverse=True)
    u, v = node_pos[:n_chain], node_pos[n_chain:]
    first_pos = pos_of[kept_nodes]
    nx_, ny_ = tr.transform(lon[first_pos], lat[first_pos])
    attrs, edge_nosnap = _edge_attrs(ways, seg_way[chain_segs], seg_ptr, nosnap_way)
    keep_e = distinct_edges(u, v, geom, length)
    info["duplicate_edges"] = int((~keep_e).sum())
    net = WalkNetwork(x=nx_, y=ny_, u=u[keep_e], v=v[keep_e], length=length[keep_e], crs=crs,
                      geometry=geom[keep_e], node_id=node_ref[kept_nodes],
                      edge_attrs=attrs.loc[keep_e].reset_index(drop=True), snappable=~edge_nosnap[keep_e])
    net.barriers = _barrier_lines(ways, tr, area)
    info["barrier_lines"] = len(net.barriers)
    info["edges_not_snappable"] = int((~net.snappable).sum())
    net.info.update(info)
    net.info.update(net.islands())
    return net


def _barrier_lines(ways: _Ways, tr: pyproj.Transformer, area: shapely.Geometry | None) -> np.ndarray:
    """Projected lines of the at-grade roads nobody walks, cut at missing nodes, near the area."""
    ptr = np.asarray(ways.barrier_ptr, dtype=np.int64)
    if len(ptr) < 2:
        return np.empty(0, dtype=object)
    xi = np.asarray(ways.barrier_x, dtype=np.int64)
    yi = np.asarray(ways.barrier_y, dtype=np.int64)
    way = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    valid = (xi != _UNDEFINED) & (yi != _UNDEFINED)
    lon, lat = xi / 1e7, yi / 1e7
    seg = np.flatnonzero((way[:-1] == way[1:]) & valid[:-1] & valid[1:])
    if area is not None and len(seg):
        inside = np.zeros(len(xi), dtype=bool)
        inside[valid] = shapely.contains_xy(area, lon[valid], lat[valid])
        seg = seg[inside[seg] | inside[seg + 1]]
    if len(seg) == 0:
        return np.empty(0, dtype=object)
    X, Y = tr.transform(lon, lat)
    coords = np.empty((len(seg), 2, 2))
    coords[:, 0, 0], coords[:, 0, 1] = X[seg], Y[seg]
    coords[:, 1, 0], coords[:, 1, 1] = X[seg + 1], Y[seg + 1]
    _, group = np.unique(way[seg], return_inverse=True)
    return shapely.line_merge(shapely.multilinestrings(shapely.linestrings(coords), indices=group))


def _edge_attrs(ways: _Ways, chain_way: np.ndarray, seg_ptr: np.ndarray,
                nosnap_way: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Tags per edge: the way's own where one way makes the edge, joined values where several do."""
    n = len(seg_ptr) - 1
    first = chain_way[seg_ptr[:-1]]
    owner = np.repeat(np.arange(n), np.diff(seg_ptr))
    multi = np.zeros(n, dtype=bool)
    np.logical_or.at(multi, owner, chain_way != first[owner])
    osmid = np.asarray(ways.osmid, dtype=np.int64)
    cols: dict[str, np.ndarray] = {"osmid": osmid[first].astype(str).astype(object)}
    for k in EDGE_TAGS:
        cols[k] = np.asarray(ways.tags[k], dtype=object)[first]
    nosnap = nosnap_way[first].copy()
    for i in np.flatnonzero(multi):
        ws = list(dict.fromkeys(chain_way[seg_ptr[i]:seg_ptr[i + 1]].tolist()))
        cols["osmid"][i] = _join(str(osmid[w]) for w in ws)
        for k in EDGE_TAGS:
            cols[k][i] = _join(ways.tags[k][w] for w in ws)
    return pd.DataFrame(cols), nosnap


def _join(values: Iterable[Any]) -> str | None:
    vals = [str(v) for v in dict.fromkeys(values) if v is not None]
    return ";".join(vals) if vals else None
