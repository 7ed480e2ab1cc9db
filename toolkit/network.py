"""The walking network held as arrays: node coordinates, an edge list and a CSR matrix.

NetworkX is convenient for building graphs but far too slow for a million-node
city; every computation here runs on numpy arrays and ``scipy.sparse.csgraph``.
Edges keep their geometry for snapping and mapping; the CSR matrix keeps, for
each pair of nodes, only the shortest of any parallel edges (building a sparse
matrix from an edge list would otherwise *sum* duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .crs import ensure_projected
from .errors import InputError
from .osm import walkable_subgraph
from .walk_rules import EDGE_TAGS, WalkRules

if TYPE_CHECKING:  # networkx costs 0.2 s to import: only the functions that build graphs load it
    import networkx as nx

__all__ = ["MIN_EDGE_M", "WalkNetwork", "distinct_edges", "grid_network", "network_from_osmnx"]

#: Lengths below this are raised to it so that zero-length edges survive in the
#: sparse matrix (an explicit zero would be indistinguishable from "no edge").
MIN_EDGE_M = 1e-6


@dataclass(eq=False)
class WalkNetwork:
    """An undirected walking network in a projected, metric CRS.

    Parameters
    ----------
    x, y : ndarray
        Node coordinates in ``crs`` (metres).
    u, v : ndarray of int
        Edge end nodes, as positions into ``x``/``y``.
    length : ndarray of float
        Edge lengths in metres.
    crs : pyproj.CRS
        A projected CRS with metre units; geographic CRSs are refused.
    geometry : ndarray of LineString, optional
        Edge geometries from ``u`` to ``v``; straight segments when omitted.
    node_id : ndarray, optional
        External node ids (e.g. OSM ids); positions when omitted.
    edge_attrs : DataFrame, optional
        Extra per-edge columns (``highway``, ``name``, ``osmid``...).
    barriers : ndarray of LineString, optional
        At-grade roads that are not walkable but bound blocks.
    snappable : ndarray of bool, optional
        Edges that blocks and facilities may be attached to; all when omitted.
        Tunnels, indoor and private ways carry walks through them, but a block
        beside a street must not be attached to the tunnel beneath it.
    """

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    crs: pyproj.CRS
    geometry: np.ndarray | None = None
    # node_id and snappable: None when not given, then filled in by __post_init__ (0..n-1; all True),
    # typed as the arrays they always are once the network exists
    node_id: np.ndarray = field(default=cast("np.ndarray", None))
    edge_attrs: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: Snap points only to the largest connected part. Small disconnected pieces
    #: (a private lane, a fragment cut by the data extent) are kept and reported,
    #: but a block attached to one would look cut off from the whole city.
    snap_main_only: bool = False
    snappable: np.ndarray = field(default=cast("np.ndarray", None))
    #: Lines of at-grade roads nobody may walk (``foot=no`` carriageways): not part
    #: of any walk, but block boundaries all the same.
    barriers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __post_init__(self) -> None:
        self.crs = pyproj.CRS.from_user_input(self.crs)
        ensure_projected(self.crs, "the walking network")
        self.x = np.asarray(self.x, dtype=float)
        self.y = np.asarray(self.y, dtype=float)
        self.u = np.asarray(self.u, dtype=np.int64)
        self.v = np.asarray(self.v, dtype=np.int64)
        self.length = np.maximum(np.asarray(self.length, dtype=float), MIN_EDGE_M)
        n = len(self.x)
        if len(self.u) and (self.u.max() >= n or self.v.max() >= n or min(self.u.min(), self.v.min()) < 0):
            raise InputError("edge end nodes out of range", field="u/v",
                             fix="u and v must index into the node arrays")
        if self.node_id is None:
            self.node_id = np.arange(n)
        if self.edge_attrs is not None:
            self.edge_attrs = self.edge_attrs.reset_index(drop=True)
        if self.snappable is None:
            self.snappable = np.ones(len(self.u), dtype=bool)
        else:
            self.snappable = np.asarray(self.snappable, dtype=bool)
            if len(self.snappable) != len(self.u):
                raise InputError("snappable must have one value per edge", field="snappable",
                                 fix="pass a boolean array as long as u and v")

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of edges (parallel edges counted separately)."""
        return len(self.u)

    # ------------------------------------------------------------ structures
    @cached_property
    def edge_geometry(self) -> np.ndarray:
        """Edge LineStrings (built as straight segments when none were given)."""
        if self.geometry is not None:
            return np.asarray(self.geometry)
        coords = np.empty((self.n_edges, 2, 2))
        coords[:, 0, 0], coords[:, 0, 1] = self.x[self.u], self.y[self.u]
        coords[:, 1, 0], coords[:, 1, 1] = self.x[self.v], self.y[self.v]
        return shapely.linestrings(coords)

    @cached_property
    def edge_midpoints(self) -> np.ndarray:
        """Coordinates (n_edges x 2) of the point halfway along each edge."""
        return shapely.get_coordinates(shapely.line_interpolate_point(self.edge_geometry, 0.5, normalized=True))

    @cached_property
    def csr(self) -> sparse.csr_array:
        """Symmetric CSR adjacency; parallel edges reduced to the shortest."""
        n = self.n_nodes
        keep = self.u != self.v  # self-loops never shorten a path
        a = np.concatenate([self.u[keep], self.v[keep]])
        b = np.concatenate([self.v[keep], self.u[keep]])
        w = np.concatenate([self.length[keep], self.length[keep]])
        # Sort by (row, col, weight) and keep the first of each (row, col):
        # the minimum, where coo->csr conversion would have summed them.
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, w = a[first], b[first], w[first]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(a, minlength=n), out=indptr[1:])
        return sparse.csr_array((w, b.astype(np.int32 if n < 2**31 else np.int64), indptr), shape=(n, n))

    @cached_property
    def component(self) -> np.ndarray:
        """Connected-component label per node, 0 being the largest component."""
        _, labels = csgraph.connected_components(self.csr, directed=False)
        sizes = np.bincount(labels)
        rank = np.empty_like(sizes)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
        return rank[labels]

    def islands(self) -> dict[str, Any]:
        """Summary of disconnected parts: they are kept and reported, never dropped."""
        comp = self.component
        n_comp = int(comp.max()) + 1 if len(comp) else 0
        edge_comp = comp[self.u]
        off = edge_comp != 0
        return {
            "components": n_comp,
            "nodes_outside_main": int((comp != 0).sum()),
            "edges_outside_main": int(off.sum()),
            "length_outside_main_m": round(float(self.length[off].sum()), 1),
        }

    def streets(self) -> gpd.GeoDataFrame:
        """The edges as a GeoDataFrame (``edge_id``, ``u``, ``v``, ``length_m``...).

        Returns
        -------
        GeoDataFrame
            One row per edge in the network's CRS: ``edge_id``, the end nodes' ids ``u`` and ``v``, ``length_m``,
            ``component`` (0: the largest connected part), ``snappable`` and the OSM attributes.

        Examples
        --------
        >>> from toolkit.network import grid_network
        >>> st = grid_network(3).streets()
        >>> len(st), st.crs.to_epsg(), float(st["length_m"].sum())
        (12, 32651, 1200.0)
        """
        df = pd.DataFrame({
            "edge_id": np.arange(self.n_edges),
            "u": self.node_id[self.u],
            "v": self.node_id[self.v],
            "length_m": self.length,
            "component": self.component[self.u],
            "snappable": self.snappable,
        })
        if self.edge_attrs is not None:
            df = pd.concat([df, self.edge_attrs], axis=1)
        return gpd.GeoDataFrame(df, geometry=self.edge_geometry, crs=self.crs)

    def nodes(self) -> gpd.GeoDataFrame:
        """The nodes as a GeoDataFrame with their degree."""
        deg = np.bincount(np.concatenate([self.u, self.v]), minlength=self.n_nodes)
        return gpd.GeoDataFrame({"node_id": self.node_id, "degree": deg, "component": self.component},
                                geometry=gpd.points_from_xy(self.x, self.y), crs=self.crs)

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index over edge geometries."""
        return shapely.STRtree(self.edge_geometry)

    @cached_property
    def main_edges(self) -> np.ndarray:
        """Indices of the edges in the largest connected part."""
        return np.flatnonzero(self.component[self.u] == 0)

    @cached_property
    def main_edge_tree(self) -> shapely.STRtree:
        """Spatial index over the edges of the largest connected part."""
        return shapely.STRtree(self.edge_geometry[self.main_edges])

    def snap_edges(self) -> np.ndarray:
        """Indices of the edges points may be attached to.

        Snappable edges (see ``snappable``), and only those of the largest
        connected part when ``snap_main_only`` is set. Falls back to every
        edge of that part when none is snappable, so a network of tunnels
        alone still takes points.
        """
        key = ("_snap_edges", self.snap_main_only)
        # the cache sits in the instance dict under a tuple key, beside cached_property's entries
        store: dict[Any, Any] = self.__dict__
        cached = store.get(key)
        if cached is not None:
            return cached
        ok = self.snappable.copy()
        if self.snap_main_only:
            ok &= self.component[self.u] == 0
            if not ok.any():
                ok = self.component[self.u] == 0
        elif not ok.any():
            ok[:] = True
        idx = np.flatnonzero(ok)
        store[key] = idx
        return idx

    def snap_edge_tree(self) -> shapely.STRtree:
        """Spatial index over :meth:`snap_edges` (cached per ``snap_main_only``)."""
        key = ("_snap_tree", self.snap_main_only)
        store: dict[Any, Any] = self.__dict__  # a tuple key, as in snap_edges
        tree = store.get(key)
        if tree is None:
            tree = shapely.STRtree(self.edge_geometry[self.snap_edges()])
            store[key] = tree
        return tree

    def to_networkx(self) -> nx.MultiGraph:
        """An undirected networkx MultiGraph with ``length`` on every edge (for checks and peers)."""
        import networkx as nx

        G = nx.MultiGraph()
        G.add_nodes_from((i, {"x": self.x[i], "y": self.y[i]}) for i in range(self.n_nodes))
        G.add_edges_from((int(a), int(b), {"length": float(w)})
                         for a, b, w in zip(self.u, self.v, self.length, strict=True))
        return G


def network_from_osmnx(G: nx.MultiDiGraph, crs: Any, *, simplify: bool = True,
                       area: shapely.Geometry | None = None, rules: Any = None) -> WalkNetwork:
    """Build a :class:`WalkNetwork` from an osmnx graph (as read from OSM).

    Non-walkable edges (motorways...) are removed, the graph is simplified with
    osmnx, projected to ``crs`` and reduced to one undirected edge per way
    segment. Edge lengths are measured on the projected geometry.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An osmnx graph: simplified or not (a simplified one is not simplified again), in WGS84 or
        projected (``ox.project_graph``); anything else raises :class:`~toolkit.errors.InputError`
        saying what to pass.
    crs : CRS-like
        The study's metric CRS.
    simplify : bool
        Merge chains of degree-2 nodes into single edges (osmnx ``simplify_graph``).
    area : shapely geometry, optional
        WGS84 polygon; only edges intersecting it (plus their nodes) are kept.
    rules : toolkit.walk_rules.WalkRules, optional
        Which ways are walked and which take blocks and facilities; the
        same rules as the file reader (:func:`toolkit.osm_network.read_walk_network`).

    Returns
    -------
    WalkNetwork
        One undirected edge per street segment, lengths in metres of ``crs``.

    Examples
    --------
    >>> import osmnx as ox  # doctest: +SKIP
    >>> G = ox.graph_from_place("徐汇区, 上海", network_type="walk")  # needs the internet  # doctest: +SKIP
    >>> net = network_from_osmnx(ox.project_graph(G), "EPSG:32651")  # simplified and projected: fine  # doctest: +SKIP
    >>> net.n_edges > 0  # doctest: +SKIP
    True
    """
    import osmnx as ox

    rules = rules or WalkRules()
    crs = pyproj.CRS.from_user_input(crs)
    ensure_projected(crs, "the network CRS")
    graph_crs = _graph_crs(G)
    G, removed = walkable_subgraph(G, rules)
    for _, _, d in G.edges(data=True):
        d["_nosnap"] = not rules.snappable(d)
    if area is not None:
        xs = np.array([d["x"] for _, d in G.nodes(data=True)], dtype=float)
        ys = np.array([d["y"] for _, d in G.nodes(data=True)], dtype=float)
        if not graph_crs.is_geographic:  # a projected graph (ox.project_graph): the area is in WGS84
            xs, ys = pyproj.Transformer.from_crs(graph_crs, "EPSG:4326", always_xy=True).transform(xs, ys)
        shapely.prepare(area)
        inside = shapely.contains_xy(area, xs, ys)
        keep = {n for n, ok in zip(G.nodes, inside, strict=True) if ok}
        # keep every edge with at least one end inside so boundary streets stay whole
        sub = [(u, v, k) for u, v, k in G.edges(keys=True) if u in keep or v in keep]
        G = G.edge_subgraph(sub).copy()
    if G.number_of_edges() == 0:
        raise InputError("no walkable street lies in the study area", field="network",
                         fix="check that the OSM file covers the study area")
    if simplify and not G.graph.get("simplified"):
        # a tunnel never shares an edge with the street it dives under (as in the file reader); a graph
        # osmnx simplified already is taken as it is (its merged edges carry lists of tags, handled above)
        G = ox.simplify_graph(G, edge_attrs_differ=["_nosnap"], remove_rings=False)
    G = ox.project_graph(G, to_crs=crs)
    nodes, edges = ox.graph_to_gdfs(G, nodes=True, edges=True, fill_edge_geometry=True)
    edges = edges.reset_index()
    # A bidirectional graph stores each way segment twice (u->v and v->u), and
    # the reversed copy of a chain merged from several ways lists their ids in
    # another order: one edge per pair of ends and line, parallel streets kept.
    geom_len = shapely.length(edges.geometry.values)
    first = distinct_edges(edges["u"].to_numpy(), edges["v"].to_numpy(), np.asarray(edges.geometry.values),
                           geom_len)
    edges = edges.loc[first].reset_index(drop=True)
    geom_len = geom_len[first]
    pos = pd.Series(np.arange(len(nodes)), index=nodes.index)
    u = pos.loc[edges["u"]].to_numpy()
    v = pos.loc[edges["v"]].to_numpy()
    attrs = pd.DataFrame({c: edges[c].map(_flat) if c in edges else None for c in ("osmid", *EDGE_TAGS)})
    nosnap = edges["_nosnap"].map(lambda b: bool(np.any(b))).to_numpy(dtype=bool)
    net = WalkNetwork(x=nodes["x"].to_numpy(), y=nodes["y"].to_numpy(), u=u, v=v, length=geom_len,
                      crs=crs, geometry=np.asarray(edges.geometry.values), node_id=nodes.index.to_numpy(),
                      edge_attrs=attrs, snappable=~nosnap)
    net.info["removed_not_walkable"] = removed
    net.info.update(net.islands())
    return net


_GRAPH_FIX = ("pass an osmnx graph as osmnx builds it (ox.graph_from_xml, ox.graph_from_place, ox.graph_from_bbox...: "
              "simplified or not, projected with ox.project_graph or not), or read the OSM file with "
              "toolkit.osm_network.read_walk_network")


def _graph_crs(G: Any) -> pyproj.CRS:
    """The CRS an osmnx graph says its node coordinates are in; InputError for anything else."""
    import networkx as nx

    if not isinstance(G, nx.MultiDiGraph | nx.MultiGraph):
        raise InputError(f"the network is a {type(G).__name__}, not an osmnx graph (networkx MultiDiGraph)",
                         field="network", fix=_GRAPH_FIX)
    if G.number_of_nodes() == 0:
        raise InputError("the osmnx graph has no nodes", field="network", fix=_GRAPH_FIX)
    if "crs" not in G.graph:
        raise InputError("the graph has no 'crs' in G.graph, so its coordinates cannot be placed",
                         field="network", fix=_GRAPH_FIX + "; or set G.graph['crs'] = 'EPSG:4326' for lon/lat nodes")
    _, d = next(iter(G.nodes(data=True)))
    if "x" not in d or "y" not in d:
        raise InputError("the graph's nodes have no 'x'/'y' coordinates", field="network", fix=_GRAPH_FIX)
    try:
        return pyproj.CRS.from_user_input(G.graph["crs"])
    except pyproj.exceptions.CRSError as exc:
        raise InputError(f"the graph's crs {G.graph['crs']!r} is not a CRS ({exc})", field="network",
                         fix=_GRAPH_FIX) from None


def distinct_edges(u: np.ndarray, v: np.ndarray, geom: np.ndarray, length: np.ndarray) -> np.ndarray:
    """False for an edge whose two ends and line repeat an earlier edge's (either direction).

    A street segment is one edge, whichever way it was digitised and in
    whatever order the OSM ways merged into it list their ids.

    Parallel streets between the same two nodes (a dual carriageway, a lane
    beside a road) have other lines and stay distinct edges with their own
    lengths.
    """
    keep = np.ones(len(u), dtype=bool)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    key = pd.DataFrame({"lo": lo, "hi": hi, "len": np.round(length, 1)})
    cand = np.flatnonzero(key.duplicated(keep=False).to_numpy())
    if len(cand) == 0:
        return keep
    wkb = shapely.to_wkb(shapely.normalize(geom[cand]), output_dimension=2)
    rounded = [shapely.to_wkb(shapely.set_precision(shapely.from_wkb(b), 0.001)) for b in wkb]
    dup = pd.DataFrame({"lo": lo[cand], "hi": hi[cand], "g": rounded}).duplicated().to_numpy()
    keep[cand[dup]] = False
    return keep


def _flat(v: Any) -> Any:
    # osmnx lists values of merged ways; GeoPackage columns need scalars.
    if isinstance(v, list):
        return ";".join(dict.fromkeys(str(x) for x in v))
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return str(v)


def grid_network(n_side: int, spacing: float = 100.0, crs: Any = "EPSG:32651",
                 origin: tuple[float, float] = (350_000.0, 3_450_000.0), jitter: float = 0.0,
                 seed: int = 0) -> WalkNetwork:
    """A synthetic square street grid of ``n_side**2`` nodes (for tests and benchmarks).

    ``jitter`` > 0 perturbs node positions (in metres) so lengths are not all equal.
    """
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    x = origin[0] + jj.ravel() * spacing
    y = origin[1] + ii.ravel() * spacing
    if jitter:
        x = x + rng.uniform(-jitter, jitter, x.size)
        y = y + rng.uniform(-jitter, jitter, y.size)
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    return WalkNetwork(x=x, y=y, u=u, v=v, length=length, crs=crs)
