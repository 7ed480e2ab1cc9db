"""Street walkability per block and per street segment, as explainable components and a composite.

Every component is its own column (raw value in its unit), each gets a score
standardised within the study (z-score or min-max, oriented so that higher is
more walkable), and the composite is the weighted mean of the scores. Changing
a weight changes only the composite. Definitions and default weights live in
``data/walkability.toml`` with their sources.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .blocks import street_rules, tag_rule_mask
from .crs import ensure_projected
from .datasets import data_toml
from .errors import InputError
from .io import DataWarning
from .network import WalkNetwork
from .radius import sums_within
from .reach import reach_sums, source_node_distances
from .snapping import Snapped, snap_points

__all__ = [
    "COMPONENT_COLUMNS",
    "WalkSources",
    "WalkabilitySettings",
    "block_faces",
    "composite",
    "consolidated_intersections",
    "decayed_count",
    "default_tolerance_m",
    "entropy",
    "hostile_edges",
    "intersection_count",
    "intersection_edges",
    "landuse_classes",
    "mix_entropy",
    "neighbourhood_components",
    "score",
    "street_counts",
    "walk_sources",
    "walkability",
    "walkability_defaults"
]


@cache
def walkability_defaults() -> dict[str, Any]:
    """The bundled definitions, weights and land-use classes.

    Returns
    -------
    dict
        ``data/walkability.toml``: ``settings``, ``components`` (unit, direction, weight, source of each),
        ``hostile`` and ``landuse_classes``.

    Examples
    --------
    >>> d = walkability_defaults()
    >>> sorted(d)
    ['components', 'hostile', 'landuse_classes', 'settings']
    >>> d["components"]["hostile_share"]["direction"]  # more hostile street is worse
    -1
    """
    return data_toml("walkability.toml")


@dataclass
class WalkabilitySettings:
    """Settings of the walkability overlay (defaults from ``data/walkability.toml``).

    Parameters
    ----------
    radius_m : float, default 400.0
        The neighbourhood radius of the network components.
    walk_minutes : float, default 10.0
        The walk of the decayed amenity count.
    scoring : str, default "zscore"
        How raw components become scores.
    face_guideline_m : float, default 200.0
        The longest block face a guideline accepts.
    weights : dict of str to float
        Component -> weight in the composite.

    Examples
    --------
    >>> s = WalkabilitySettings.from_config({"weights": {"hostile_share": 2.0}})
    >>> s.weights["hostile_share"], s.radius_m
    (2.0, 400.0)
    """

    radius_m: float = 400.0
    walk_minutes: float = 10.0
    scoring: str = "zscore"
    face_guideline_m: float = 200.0
    weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> WalkabilitySettings:
        """Defaults updated by a study's ``[walkability]`` table.

        Parameters
        ----------
        raw : mapping, optional
            The study's ``[walkability]`` table; ``weights`` changes single components' weights.

        Returns
        -------
        WalkabilitySettings

        Raises
        ------
        InputError
            For an unknown component or setting.

        Examples
        --------
        >>> WalkabilitySettings.from_config({"weights": {"hostile_share": 2.0}}).weights["hostile_share"]
        2.0
        """
        d = walkability_defaults()
        s = dict(d["settings"])
        s.pop("source", None)
        raw = dict(raw or {})
        weights = {k: float(v["weight"]) for k, v in d["components"].items()}
        user_w = raw.pop("weights", {})
        unknown = set(user_w) - set(weights)
        if unknown:
            raise InputError(f"unknown walkability component(s): {', '.join(sorted(unknown))}",
                             field="walkability.weights", fix=f"weights exist for: {', '.join(weights)}")
        weights.update({k: float(v) for k, v in user_w.items()})
        for k in raw:
            if k not in s and k not in ("landuse",):
                raise InputError(f"unknown walkability setting {k!r}", field=f"walkability.{k}",
                                 fix=f"settings are: {', '.join(s)}, weights, landuse")
        s.update({k: v for k, v in raw.items() if k in s})
        if s["scoring"] not in ("zscore", "minmax"):
            raise InputError(f"unknown scoring {s['scoring']!r}", field="walkability.scoring",
                             fix="use 'zscore' or 'minmax'")
        return cls(radius_m=float(s["radius_m"]), walk_minutes=float(s["walk_minutes"]), scoring=s["scoring"],
                   face_guideline_m=float(s["face_guideline_m"]), weights=weights)


# ----------------------------------------------------------------- network
def intersection_edges(net: WalkNetwork) -> np.ndarray:
    """Edges on which intersections are counted: streets and walking routes, not sidewalks or driveways.

    A sidewalk along a street and the crossings at its corners are the same
    street: counted as streets they multiply the intersections several times.
    Driveways and parking aisles are not routes. Footpaths, steps and
    pedestrian streets are kept. The rules are ``[[intersections.not]]`` in
    ``data/streets.toml``; a network without tags keeps every edge.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> intersection_edges(grid_network(3)).all()
    np.True_
    """
    if net.edge_attrs is None:
        return np.ones(net.n_edges, dtype=bool)
    return ~tag_rule_mask(net.edge_attrs, street_rules()["intersections"]["not"])


def street_counts(net: WalkNetwork, edges: np.ndarray | None = None) -> np.ndarray:
    """Streets meeting at each node, as osmnx counts them (a self-loop counts twice).

    Parameters
    ----------
    net : WalkNetwork
    edges : ndarray of bool, optional
        Count only these edges (e.g. :func:`intersection_edges`); all when omitted.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> np.bincount(street_counts(grid_network(3))).tolist()  # corners, sides, centre
    [0, 0, 4, 4, 1]
    """
    u, v = (net.u, net.v) if edges is None else (net.u[edges], net.v[edges])
    return np.bincount(np.concatenate([u, v]), minlength=net.n_nodes)


def default_tolerance_m() -> float:
    """The consolidation tolerance of ``data/streets.toml`` (a per-node buffer radius, as osmnx's)."""
    return float(street_rules()["intersections"]["tolerance_m"])


def consolidated_intersections(net: WalkNetwork, tolerance_m: float | None = None,
                               edges: np.ndarray | None = None) -> pd.DataFrame:
    """Clusters of nearby nodes, each one intersection, with the streets leaving it.

    The algorithm of osmnx's ``consolidate_intersections`` (Boeing 2025), on
    arrays: dead ends (one street) are set aside; every other node is buffered
    by ``tolerance_m`` and overlapping buffers merge, which for points is the
    connected components of the graph joining nodes up to ``2 * tolerance_m``
    apart; a cluster whose nodes are not joined by streets inside it is split
    into its connected parts (a bridge over a street stays apart). A cluster
    of one node keeps its own street count; a merged cluster counts the other
    clusters its streets lead to, so that the two carriageways of a divided road,
    or a street and its sidewalks, count as one street.

    Parameters
    ----------
    net : WalkNetwork
    tolerance_m : float, optional
        Buffer radius per node in metres (``data/streets.toml``: 10, nodes up to
        20 m apart merge). 0 keeps every node apart: the raw count.
    edges : ndarray of bool, optional
        The edges that make intersections; :func:`intersection_edges` when omitted.

    Returns
    -------
    DataFrame
        One row per cluster of the nodes on ``edges`` that are not dead ends:
        ``x``, ``y`` (mean of its nodes), ``street_count`` and ``n_nodes``.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> c = consolidated_intersections(grid_network(3, spacing=100.0))
    >>> int((c["street_count"] >= 3).sum())
    5
    """
    tol = default_tolerance_m() if tolerance_m is None else float(tolerance_m)
    mask = intersection_edges(net) if edges is None else np.asarray(edges, dtype=bool)
    u, v = net.u[mask], net.v[mask]
    sc = street_counts(net, mask)
    # osmnx removes dead ends before merging: a stub ending near a junction is no part of it
    alive = sc >= 2
    nodes = np.flatnonzero(alive)
    m = len(nodes)
    if m == 0:
        return pd.DataFrame({"x": np.zeros(0), "y": np.zeros(0), "street_count": np.zeros(0, dtype=np.int64),
                             "n_nodes": np.zeros(0, dtype=np.int64)})
    pos = np.full(net.n_nodes, -1, dtype=np.int64)
    pos[nodes] = np.arange(m)
    live = alive[u] & alive[v]
    pu, pv = pos[u[live]], pos[v[live]]
    xy = np.column_stack([net.x[nodes], net.y[nodes]])
    if tol > 0:
        pairs = cKDTree(xy).query_pairs(2.0 * tol, output_type="ndarray")
        _, geo = connected_components(_adjacency(pairs[:, 0], pairs[:, 1], m), directed=False)
    else:
        geo = np.arange(m)
    # split each cluster into the parts its own streets connect
    inner = (geo[pu] == geo[pv]) & (pu != pv)
    _, lab = connected_components(_adjacency(pu[inner], pv[inner], m), directed=False)
    n_cl = int(lab.max()) + 1
    size = np.bincount(lab, minlength=n_cl)
    lu, lv = lab[pu], lab[pv]
    # merged clusters: the streets to each neighbouring cluster, where edges running side
    # by side (the two carriageways of a divided road, a street and its sidewalk) are one
    # street; a self-loop counts twice, as osmnx counts it
    between = np.flatnonzero(lu != lv)
    a, b = np.minimum(lu[between], lv[between]), np.maximum(lu[between], lv[between])
    geoms = net.edge_geometry[np.flatnonzero(mask)[live][between]]
    ga, gb, n_streets = _streets_between(a, b, geoms, 2.0 * tol)
    merged_count = np.bincount(np.concatenate([ga, gb]), weights=np.concatenate([n_streets, n_streets]),
                               minlength=n_cl).astype(np.int64)
    merged_count[np.unique(lu[pu == pv])] += 2
    count = merged_count.copy()
    single = size == 1
    first = np.zeros(n_cl, dtype=np.int64)
    first[lab] = np.arange(m)  # the node of each cluster of one
    count[single] = sc[nodes[first[single]]]
    cx = np.bincount(lab, weights=xy[:, 0], minlength=n_cl) / np.maximum(size, 1)
    cy = np.bincount(lab, weights=xy[:, 1], minlength=n_cl) / np.maximum(size, 1)
    return pd.DataFrame({"x": cx, "y": cy, "street_count": count, "n_nodes": size})


def _streets_between(a: np.ndarray, b: np.ndarray, geoms: np.ndarray,
                     within_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair of clusters joined by edges ``a[i]``-``b[i]`` (a < b) and the number of distinct streets joining them.

    Edges joining the same two clusters are one street when their lines stay
    within ``within_m`` of each other (Hausdorff distance); a loop of different
    streets between the same two junctions keeps them apart.
    """
    if len(a) == 0:
        return a, b, np.zeros(0, dtype=np.int64)
    order = np.lexsort((b, a))
    a, b, geoms = a[order], b[order], geoms[order]
    new_pair = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    group = np.cumsum(new_pair) - 1
    size = np.bincount(group)
    # every pair of edges inside a group: groups hold a handful of edges, so one pass per offset
    ia = [np.flatnonzero(group[d:] == group[:-d]) for d in range(1, int(size.max()))]
    i = np.concatenate(ia) if ia else np.zeros(0, dtype=np.int64)
    j = np.concatenate([x + d for d, x in enumerate(ia, start=1)]) if ia else i
    close = shapely.hausdorff_distance(geoms[i], geoms[j]) <= within_m
    _, comp = connected_components(_adjacency(i[close], j[close], len(a)), directed=False)
    # edges of different pairs are never joined, so each street lies in one group
    comp_group = np.zeros(int(comp.max()) + 1, dtype=np.int64)
    comp_group[comp] = group
    return a[new_pair], b[new_pair], np.bincount(comp_group, minlength=len(size))


def _adjacency(a: np.ndarray, b: np.ndarray, n: int) -> sparse.csr_array:
    return sparse.coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()


def intersection_count(net: WalkNetwork, area: shapely.Geometry | None = None, min_streets: int = 3,
                       tolerance_m: float | None = None, edges: np.ndarray | None = None) -> int:
    """Number of intersections of at least ``min_streets`` streets, inside ``area`` if given.

    Intersections are consolidated (:func:`consolidated_intersections`) on the
    streets and walking routes (:func:`intersection_edges`), so that a street
    grid counts the same with or without its sidewalks and crossings mapped.
    ``tolerance_m=0`` and ``edges`` set to all edges give the raw count of
    nodes, as ``osmnx.stats.intersection_count`` does on an unconsolidated graph.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> intersection_count(grid_network(4, spacing=100.0))  # 16 nodes but the 4 corners
    12
    """
    c = consolidated_intersections(net, tolerance_m, edges)
    ok = c["street_count"].to_numpy() >= min_streets
    if area is not None:
        shapely.prepare(area)
        ok &= shapely.contains_xy(area, c["x"].to_numpy(), c["y"].to_numpy())
    return int(ok.sum())


def hostile_edges(net: WalkNetwork) -> np.ndarray:
    """Edges on trunk roads and wider, or with many lanes (``data/walkability.toml``)."""
    h = walkability_defaults()["hostile"]
    if net.edge_attrs is None or "highway" not in net.edge_attrs:
        return np.zeros(net.n_edges, dtype=bool)
    # a city has millions of edges but a handful of distinct tag values: test each value once
    codes, values = pd.factorize(net.edge_attrs["highway"].astype("string").fillna(""))
    hostile_value = np.array([any(v in h["highway"] for v in str(val).split(";")) for val in values], dtype=bool)
    out = hostile_value[codes] if len(values) else np.zeros(net.n_edges, dtype=bool)
    if "lanes" in net.edge_attrs:
        codes, values = pd.factorize(net.edge_attrs["lanes"].astype("string"))
        lanes = pd.to_numeric(pd.Series(values, dtype="string").str.split(";").str[0], errors="coerce")
        lanes = lanes.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        wide = np.append(np.nan_to_num(lanes, nan=0.0) >= h["min_lanes"], False)  # code -1 (missing) -> False
        out |= wide[codes]
    return out


def neighbourhood_components(net: WalkNetwork, points: np.ndarray, radius_m: float) -> pd.DataFrame:
    """Intersection density, link-node ratio and hostile share within ``radius_m`` of each point.

    Edges are counted by their midpoint (so an edge belongs to one neighbourhood
    once), which keeps the computation to point-in-radius queries. Intersections
    are the consolidated ones of :func:`intersection_count`.
    """
    area_km2 = np.pi * radius_m**2 / 1e6
    pxy = shapely.get_coordinates(points)
    (n_nodes,) = sums_within(np.column_stack([net.x, net.y]), [np.ones(net.n_nodes)], pxy, radius_m)
    # each consolidated intersection once, at the mean of its nodes (as intersection_count counts them)
    c = consolidated_intersections(net)
    c = c[c["street_count"].to_numpy() >= 3]
    (n_inter,) = sums_within(c[["x", "y"]].to_numpy(), [np.ones(len(c))], pxy, radius_m)
    mids = net.edge_midpoints
    hostile = hostile_edges(net)
    n_edges, total_len, hostile_len = sums_within(
        mids, [np.ones(net.n_edges), net.length, np.where(hostile, net.length, 0.0)], pxy, radius_m)
    return pd.DataFrame({
        "walk_intersection_density": n_inter / area_km2,
        "walk_link_node_ratio": np.divide(n_edges, n_nodes, out=np.full(len(points), np.nan), where=n_nodes > 0),
        "walk_hostile_share": np.divide(hostile_len, total_len, out=np.zeros(len(points)), where=total_len > 0),
    })


def _longer_side(polys: np.ndarray) -> np.ndarray:
    rect = shapely.oriented_envelope(polys)
    out = np.zeros(len(polys))
    # a rectangle has 5 coordinates; degenerate envelopes are lines or points
    ok = (shapely.get_type_id(rect) == shapely.GeometryType.POLYGON) & (shapely.get_num_coordinates(rect) == 5)
    c = shapely.get_coordinates(rect[ok]).reshape(-1, 5, 2)
    a = np.hypot(*(c[:, 1] - c[:, 0]).T)
    b = np.hypot(*(c[:, 2] - c[:, 1]).T)
    out[ok] = np.maximum(a, b)
    return out


def _exterior_rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates of the exterior ring of every polygon part, the part of each vertex and the block of each part.

    Read from shapely's ragged arrays, which is several times faster on a
    million blocks than splitting into parts and rings as geometries.
    """
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    if kind == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        part_of = np.arange(len(geoms))
    elif kind == shapely.GeometryType.MULTIPOLYGON:
        ring_off, poly_off, multi_off = offsets
        part_of = np.repeat(np.arange(len(geoms)), np.diff(multi_off))
    else:
        raise InputError(f"blocks must be polygons, got {kind.name.lower()} geometries", field="geometry",
                         fix="pass the block polygons")
    n_rings = len(ring_off) - 1
    ring_of_vertex = np.repeat(np.arange(n_rings), np.diff(ring_off))
    exterior = np.zeros(n_rings, dtype=bool)
    exterior[poly_off[:-1][np.diff(poly_off) > 0]] = True
    keep = exterior[ring_of_vertex]
    # exterior ring k belongs to part k: number the parts by the exterior rings before them
    part_of_ring = np.cumsum(exterior) - 1
    return coords[keep], part_of_ring[ring_of_vertex[keep]], part_of


def _cm_keys(*xys: np.ndarray) -> list[np.ndarray]:
    """One int64 key per coordinate pair rounded to the centimetre, comparable across the arrays given."""
    cm = [np.round(np.asarray(a, dtype=float).reshape(-1, 2) * 100.0).astype(np.int64) for a in xys]
    lo = np.min([c.min(axis=0) for c in cm if len(c)], axis=0) if any(len(c) for c in cm) else np.zeros(2, np.int64)
    span_y = max((int(c[:, 1].max()) for c in cm if len(c)), default=0) - int(lo[1]) + 1
    return [(c[:, 0] - lo[0]) * span_y + (c[:, 1] - lo[1]) for c in cm]


def block_faces(blocks: gpd.GeoDataFrame, net: WalkNetwork) -> pd.DataFrame:
    """Longest and mean block face (street length between intersections) and street spacing per block.

    Faces are the stretches of a block's outline between intersection nodes
    (>= 3 streets); a block touching no intersection has one face, its
    perimeter. Street spacing is the longer side of the block's minimum rotated
    rectangle (a 200 x 100 m block has streets 200 m apart one way).
    """
    ensure_projected(blocks, "the blocks")
    geoms = np.asarray(blocks.geometry.values)
    coords, ring, part_of = _exterior_rings(geoms)
    # a crossing or a sidewalk meeting the carriageway does not end a block face
    sc = street_counts(net, intersection_edges(net))
    # Vertices of a block outline are street vertices, so intersections are found
    # by coordinate. Stretches along the study boundary are not streets: they
    # count for nothing and end a face, like an intersection.
    inter_xy = np.column_stack([net.x[sc >= 3], net.y[sc >= 3]])
    sv = shapely.get_coordinates(net.edge_geometry)
    key, street_key, inter_key = _cm_keys(coords, sv, inter_xy)
    on_street = pd.Index(key).isin(street_key)
    # segment i runs from vertex i to i+1 of the same ring
    same = np.r_[ring[1:] == ring[:-1], False]
    street_seg = same & on_street & np.r_[on_street[1:], False]
    is_inter = pd.Index(key).isin(inter_key) | ~on_street
    seg = np.zeros(len(coords))
    seg[:-1] = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    seg[~street_seg] = 0.0
    # number the faces of each ring from its first intersection vertex; the stretch
    # before it closes the ring's last face
    first = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    counts = np.diff(np.r_[first, len(coords)])
    cum = np.cumsum(is_inter)
    face = cum - np.repeat(cum[first] - is_inter[first], counts)
    n_faces = np.bincount(ring, weights=is_inter, minlength=len(part_of)).astype(np.int64)
    face = np.where((face == 0) & (n_faces[ring] > 0), n_faces[ring], face)
    # faces numbered 0..n_faces within each ring: one slot per (ring, face), summed by bincount
    slots = n_faces + 1
    offset = np.concatenate([[0], np.cumsum(slots)[:-1]])
    face_len = np.bincount(offset[ring] + face, weights=seg, minlength=int(slots.sum()))
    face_ring = np.repeat(np.arange(len(part_of)), slots)
    real = face_len > 0  # stretches of study boundary between two breaks have no length
    face_len, face_ring = face_len[real], face_ring[real]
    n_real = np.bincount(face_ring, minlength=len(part_of))
    ring_max = np.full(len(part_of), -np.inf)
    np.maximum.at(ring_max, face_ring, face_len)
    ring_mean = np.bincount(face_ring, weights=face_len, minlength=len(part_of)) / np.maximum(n_real, 1)
    has = n_real > 0
    # a block's faces: the longest over its parts, the mean of its parts' means
    face_max = np.full(len(geoms), -np.inf)
    np.maximum.at(face_max, part_of[has], ring_max[has])
    n_parts = np.bincount(part_of[has], minlength=len(geoms))
    face_mean = np.bincount(part_of[has], weights=ring_mean[has], minlength=len(geoms)) / np.maximum(n_parts, 1)
    face_max[n_parts == 0] = np.nan
    face_mean[n_parts == 0] = np.nan
    spacing = _longer_side(geoms)
    # User parcels are set back from the street centrelines, so their outlines share
    # no vertex with a street: measure their faces by their envelope instead, and say so.
    fallback = np.isnan(face_max)
    if fallback.any():
        face_max = np.where(fallback, spacing, face_max)
        face_mean = np.where(fallback, spacing, face_mean)
        if fallback.mean() > 0.05:
            warnings.warn(f"{int(fallback.sum())} of {len(geoms)} blocks share no vertex with a street centreline "
                          "(parcels set back from the street?): their block face is the longer side of their "
                          "envelope", DataWarning, stacklevel=2)
    return pd.DataFrame({
        "walk_block_face_max_m": face_max,
        "walk_block_face_mean_m": face_mean,
        "walk_street_spacing_m": spacing,
        "walk_face_from_envelope": fallback,
    }, index=blocks.index)


# ------------------------------------------------------------ network walk
def landuse_classes(values: pd.Series) -> pd.Series:
    """Map raw land-use values to the classes used for the mix entropy (NA if unclassified)."""
    mapping = {v: cls for cls, vals in walkability_defaults()["landuse_classes"].items() for v in vals}
    return values.astype("string").map(mapping).astype("string")


def _class_codes(classes: pd.Series) -> tuple[np.ndarray, int]:
    """Integer code per row (-1 where unclassified) and the number of codes."""
    codes, uniques = pd.factorize(classes.to_numpy(), use_na_sentinel=True)
    return codes.astype(np.int64), len(uniques)


def entropy(counts: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy of each row of an (origins x classes) count table (0 for an empty row).

    Normalised by the log of the number of land-use classes defined in
    ``data/walkability.toml``, so 1 means an even mix of all of them.
    """
    k = len(walkability_defaults()["landuse_classes"])
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, total, out=np.zeros(counts.shape), where=total > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.clip(-plogp.sum(axis=1) / np.log(k), 0.0, None)


def mix_entropy(pairs: pd.DataFrame, classes: pd.Series, n_origins: int) -> np.ndarray:
    """Normalised Shannon entropy of land-use classes reached by each origin (0 if none)."""
    codes, n_cls = _class_codes(classes)
    codes = codes[pairs["source"].to_numpy()]
    valid = codes >= 0
    # a dense origins x classes count table: a handful of classes, so a few bytes per origin
    counts = np.bincount(pairs["origin"].to_numpy()[valid] * n_cls + codes[valid],
                         minlength=n_origins * n_cls).reshape(n_origins, n_cls)
    return entropy(counts)


def decayed_count(pairs: pd.DataFrame, radius: float, n_origins: int) -> np.ndarray:
    """Sum of exp(-4 d / radius) over the sources each origin reaches (cityseer's decay)."""
    w = np.exp(-4.0 * pairs["dist_m"].to_numpy() / radius)
    return np.bincount(pairs["origin"].to_numpy(), weights=w, minlength=n_origins)


def score(values: pd.DataFrame, directions: Mapping[str, int], method: str = "zscore") -> pd.DataFrame:
    """Standardise each component within the study, oriented so higher = more walkable."""
    out = pd.DataFrame(index=values.index)
    for col, sign in directions.items():
        v = values[col].astype(float)
        # unreachable (inf) is the worst value seen, not a hole in the index
        if np.isinf(v).any():
            fin = v[np.isfinite(v)]
            v = v.where(~np.isinf(v), (fin.max() if sign < 0 else fin.min()) if len(fin) else np.nan)
        if method == "minmax":
            lo, hi = np.nanmin(v), np.nanmax(v)
            s = (v - lo) / (hi - lo) if hi > lo else v * 0.0
            s = s if sign > 0 else 1.0 - s
        else:
            sd = np.nanstd(v)
            s = (v - np.nanmean(v)) / sd if sd > 0 else v * 0.0
            s = s * sign
        out[col] = s
    return out


def composite(scores: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """Weighted mean of the available component scores (missing components drop out of the weights).

    Parameters
    ----------
    scores : DataFrame
        One column per component score.
    weights : mapping of str to float
        Column -> weight; columns weighted 0 or not named are left out.

    Returns
    -------
    Series
        On ``scores.index``; NaN where no weighted component has a score.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> composite(pd.DataFrame({"a": [1.0, np.nan], "b": [0.0, 1.0]}), {"a": 1, "b": 1}).tolist()
    [0.5, 1.0]
    """
    cols = [c for c in scores.columns if weights.get(c, 0) > 0]
    w = np.array([weights[c] for c in cols])
    s = scores[cols].to_numpy(dtype=float)
    have = ~np.isnan(s)
    num = np.nansum(s * w, axis=1)
    den = (have * w).sum(axis=1)
    return pd.Series(np.divide(num, den, out=np.full(len(s), np.nan), where=den > 0), index=scores.index)


COMPONENT_COLUMNS = {
    "intersection_density": "walk_intersection_density",
    "block_face_max_m": "walk_block_face_max_m",
    "link_node_ratio": "walk_link_node_ratio",
    "hostile_share": "walk_hostile_share",
    "mix_entropy": "walk_mix_entropy",
    "transit_m": "walk_transit_m",
    "amenities": "walk_amenities",
}


@dataclass
class WalkSources:
    """Land-use points and amenities snapped to the network and searched once, for any set of places."""

    #: walk radius (m) per walker (``adult``, ``elderly``) and the longest of them
    radii: dict[str, float]
    r_max: float
    #: (output column, snapped points, (source, node, dist_m) pairs within ``r_max``, land-use classes or None)
    layers: list[tuple[str, Snapped, pd.DataFrame, pd.Series | None]]


def walk_sources(net: WalkNetwork, settings: WalkabilitySettings, speeds: Mapping[str, float],
                 landuse: gpd.GeoDataFrame | None = None, landuse_field: str = "landuse_type",
                 amenities: gpd.GeoDataFrame | None = None, obstacles=None) -> WalkSources:
    """Snap the land-use points and amenities and find every node within the longest walk of each.

    Parameters
    ----------
    net : WalkNetwork
    settings : WalkabilitySettings
    speeds : mapping
        Walking speed (m/s) per walker; ``adult`` and ``elderly`` are used.
    landuse, landuse_field, amenities
        As in :func:`walkability`.
    obstacles : optional
        Water and roads nobody may walk (:func:`toolkit.snapping.leg_obstacles`): a point is never joined to
        a street across them, as blocks and facilities are not.
    """
    radii = {w: settings.walk_minutes * 60.0 * speeds[w] for w in ("adult", "elderly")}
    r_max = max(radii.values())
    todo: list[tuple[str, gpd.GeoDataFrame, pd.Series | None]] = []
    if landuse is not None and len(landuse):
        todo.append(("walk_mix_entropy", landuse, landuse_classes(landuse[landuse_field])))
    if amenities is not None and len(amenities):
        todo.append(("walk_amenities", amenities, None))
    layers = []
    for col, gdf, classes in todo:
        # searched once at the longer (adult) walk; the elderly walk is a filter of it
        src = snap_points(net, gdf.geometry, max_snap_m=r_max, obstacles=obstacles)
        layers.append((col, src, source_node_distances(net, src, r_max), classes))
    return WalkSources(radii=radii, r_max=r_max, layers=layers)


# PLR0913 waived: the notebook API; past the settings every input is an optional keyword
def walkability(  # noqa: PLR0913
    net: WalkNetwork,
    points: gpd.GeoSeries,
    snapped: Snapped | None,
    settings: WalkabilitySettings,
    speeds: Mapping[str, float],
    landuse: gpd.GeoDataFrame | None = None,
    landuse_field: str = "landuse_type",
    amenities: gpd.GeoDataFrame | None = None,
    transit_m: np.ndarray | None = None,
    faces: pd.DataFrame | None = None,
    edge_ends: tuple[np.ndarray, np.ndarray] | None = None,
    sources: WalkSources | None = None,
) -> pd.DataFrame:
    """All walkability components, scores and composites for a set of places (blocks or street midpoints).

    Parameters
    ----------
    net : WalkNetwork
    points : GeoSeries
        One point per place (block representative points, street midpoints).
    snapped : Snapped or None
        ``points`` snapped to ``net`` (same order). ``None`` for street segments,
        whose network-walk components (mix, amenities) are then the mean of the
        values at their two end nodes (``edge_ends``), which is far cheaper for
        millions of segments.
    settings : WalkabilitySettings
    speeds : mapping
        Walking speed (m/s) per walker; ``adult`` and ``elderly`` are used.
    landuse : GeoDataFrame, optional
        Land-use points with a type column (for the mix entropy).
    amenities : GeoDataFrame, optional
        Facilities of every category (for the decayed amenity count).
    transit_m : ndarray, optional
        Network distance to the nearest transit stop per place.
    faces : DataFrame, optional
        Block face / spacing columns (blocks) or segment lengths (streets).
    edge_ends : (ndarray, ndarray), optional
        End nodes of each street segment, when ``snapped`` is ``None``.
    sources : WalkSources, optional
        From :func:`walk_sources`; pass it when measuring several sets of
        places (blocks, then street segments) so that the land-use points and
        amenities are snapped and searched once. ``landuse`` and ``amenities``
        are then ignored.

    Returns
    -------
    DataFrame
        On ``points.index``: ``walk_<component>`` raw values, ``walk_<component>_score``,
        ``walk_index`` and ``walk_index_elderly``.

    Examples
    --------
    >>> w = walkability(net, blocks.representative_point(), block_snap, WalkabilitySettings.from_config(),
    ...                 {"adult": 1.2, "elderly": 0.8})  # doctest: +SKIP
    >>> w["walk_index"].describe()  # doctest: +SKIP
    """
    ensure_projected(points, "the places")
    idx = points.index
    pts = np.asarray(points.values)
    out = neighbourhood_components(net, pts, settings.radius_m)
    out.index = idx
    if faces is not None:
        out = out.join(faces)
    variants: dict[str, dict[str, np.ndarray]] = {"adult": {}, "elderly": {}}
    if sources is None:
        sources = walk_sources(net, settings, speeds, landuse=landuse, landuse_field=landuse_field,
                               amenities=amenities)
    radii, r_max = sources.radii, sources.r_max
    walkers = list(radii)
    for col, src, node_pairs, classes in sources.layers:
        if snapped is not None:
            # every walk radius in one pass over the (place, source) pairs, summed as they are found
            codes, n_cls = _class_codes(classes) if classes is not None else (None, 0)
            counts, decayed = reach_sums(net, snapped, src, [radii[w] for w in walkers], node_pairs, codes, n_cls)
            for k, walker in enumerate(walkers):
                variants[walker][col] = entropy(counts[:, k, :]) if classes is not None else decayed[:, k]
            continue
        # street segments: the value at each node, averaged over the segment's two ends
        all_pairs = node_pairs.rename(columns={"node": "origin"})
        for walker, radius in radii.items():
            # every pair within the shorter walk is among those within the longer one
            pairs = all_pairs if radius >= r_max else all_pairs[all_pairs["dist_m"].to_numpy() <= radius]
            vals = (mix_entropy(pairs, classes, net.n_nodes) if classes is not None
                    else decayed_count(pairs, radius, net.n_nodes))
            u, v = cast("tuple[np.ndarray, np.ndarray]", edge_ends)  # given whenever snapped is None (streets)
            variants[walker][col] = (vals[u] + vals[v]) / 2.0
    for col, v in variants["adult"].items():
        out[col] = v
    if transit_m is not None:
        out["walk_transit_m"] = transit_m
    comps = walkability_defaults()["components"]
    present = {k: c for k, c in COMPONENT_COLUMNS.items() if c in out.columns}
    directions = {c: comps[k]["direction"] for k, c in present.items()}
    weights = {c: settings.weights[k] for k, c in present.items()}
    sc = score(out[list(present.values())], directions, settings.scoring)
    for c in sc.columns:
        out[f"{c}_score"] = sc[c]
    out["walk_index"] = composite(sc, weights)
    # elderly variant: the network-walk components at the slower speed
    eld = out[list(present.values())].copy()
    for col, v in variants["elderly"].items():
        eld[col] = v
        out[f"{col}_elderly"] = v
    out["walk_index_elderly"] = composite(score(eld, directions, settings.scoring), weights)
    if "walk_block_face_max_m" in out:
        out["walk_face_over_guideline"] = out["walk_block_face_max_m"] > settings.face_guideline_m
    return out
