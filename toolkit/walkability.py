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
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .crs import ensure_projected
from .datasets import data_toml
from .errors import InputError
from .io import DataWarning
from .network import WalkNetwork
from .reach import reachable_pairs, source_node_distances
from .snapping import Snapped, snap_points


@cache
def walkability_defaults() -> dict[str, Any]:
    """The bundled definitions, weights and land-use classes."""
    return data_toml("walkability.toml")


@dataclass
class WalkabilitySettings:
    """Settings of the walkability overlay (defaults from ``data/walkability.toml``)."""

    radius_m: float = 400.0
    walk_minutes: float = 10.0
    scoring: str = "zscore"
    face_guideline_m: float = 200.0
    weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> WalkabilitySettings:
        """Defaults updated by a study's ``[walkability]`` table."""
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
def street_counts(net: WalkNetwork) -> np.ndarray:
    """Streets meeting at each node, as osmnx counts them (a self-loop counts twice)."""
    return np.bincount(np.concatenate([net.u, net.v]), minlength=net.n_nodes)


def intersection_count(net: WalkNetwork, area: shapely.Geometry | None = None, min_streets: int = 3) -> int:
    """Number of nodes with at least ``min_streets`` streets, inside ``area`` if given."""
    ok = street_counts(net) >= min_streets
    if area is not None:
        shapely.prepare(area)
        ok &= shapely.contains_xy(area, net.x, net.y)
    return int(ok.sum())


def hostile_edges(net: WalkNetwork) -> np.ndarray:
    """Edges on trunk roads and wider, or with many lanes (``data/walkability.toml``)."""
    h = walkability_defaults()["hostile"]
    if net.edge_attrs is None or "highway" not in net.edge_attrs:
        return np.zeros(net.n_edges, dtype=bool)
    hw = net.edge_attrs["highway"].astype("string").fillna("")
    out = np.array(hw.str.split(";").map(lambda vals: any(v in h["highway"] for v in vals)), dtype=bool)
    if "lanes" in net.edge_attrs:
        lanes = pd.to_numeric(net.edge_attrs["lanes"].astype("string").str.split(";").str[0], errors="coerce")
        out |= (lanes >= h["min_lanes"]).fillna(False).to_numpy(dtype=bool)
    return out


def _sums_within(xy: np.ndarray, weights: list[np.ndarray], points_xy: np.ndarray, radius: float,
                 chunk: int = 200_000) -> list[np.ndarray]:
    """For each point, the sums of each weight vector over the ``xy`` points within ``radius``.

    One k-d tree pair search serves every weight vector (counts are weights of 1).
    """
    tree = cKDTree(xy)
    out = [np.zeros(len(points_xy)) for _ in weights]
    for start in range(0, len(points_xy), chunk):
        p = points_xy[start:start + chunk]
        pairs = cKDTree(p).sparse_distance_matrix(tree, radius, output_type="ndarray")
        for o, w in zip(out, weights, strict=True):
            o[start:start + chunk] = np.bincount(pairs["i"], weights=w[pairs["j"]], minlength=len(p))
    return out


def neighbourhood_components(net: WalkNetwork, points: np.ndarray, radius_m: float) -> pd.DataFrame:
    """Intersection density, link-node ratio and hostile share within ``radius_m`` of each point.

    Edges are counted by their midpoint (so an edge belongs to one neighbourhood
    once), which keeps the computation to point-in-radius queries.
    """
    sc = street_counts(net)
    area_km2 = np.pi * radius_m**2 / 1e6
    pxy = shapely.get_coordinates(points)
    n_nodes, n_inter = _sums_within(np.column_stack([net.x, net.y]),
                                    [np.ones(net.n_nodes), (sc >= 3).astype(float)], pxy, radius_m)
    mids = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry, 0.5, normalized=True))
    hostile = hostile_edges(net)
    n_edges, total_len, hostile_len = _sums_within(
        mids, [np.ones(net.n_edges), net.length, np.where(hostile, net.length, 0.0)], pxy, radius_m)
    return pd.DataFrame({
        "walk_intersection_density": n_inter / area_km2,
        "walk_link_node_ratio": np.divide(n_edges, n_nodes, out=np.full(len(points), np.nan), where=n_nodes > 0),
        "walk_hostile_share": np.divide(hostile_len, total_len, out=np.zeros(len(points)), where=total_len > 0),
    })


def _longer_side(polys: np.ndarray) -> np.ndarray:
    rect = shapely.oriented_envelope(polys)
    ring = shapely.get_exterior_ring(rect)
    out = np.zeros(len(polys))
    ok = shapely.get_num_coordinates(ring) == 5  # degenerate envelopes are lines or points
    c = shapely.get_coordinates(ring[ok]).reshape(-1, 5, 2)
    a = np.hypot(*(c[:, 1] - c[:, 0]).T)
    b = np.hypot(*(c[:, 2] - c[:, 1]).T)
    out[ok] = np.maximum(a, b)
    return out


def block_faces(blocks: gpd.GeoDataFrame, net: WalkNetwork) -> pd.DataFrame:
    """Longest and mean block face (street length between intersections) and street spacing per block.

    Faces are the stretches of a block's outline between intersection nodes
    (>= 3 streets); a block touching no intersection has one face, its
    perimeter. Street spacing is the longer side of the block's minimum rotated
    rectangle (a 200 x 100 m block has streets 200 m apart one way).
    """
    ensure_projected(blocks, "the blocks")
    geoms = np.asarray(blocks.geometry.values)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    sc = street_counts(net)
    # Vertices of a block outline are street vertices, so intersections are found
    # by coordinate. Stretches along the study boundary are not streets: they
    # count for nothing and end a face, like an intersection.
    key = pd.Index(np.round(coords[:, 0], 2) + 1j * np.round(coords[:, 1], 2))
    inter = np.round(net.x[sc >= 3], 2) + 1j * np.round(net.y[sc >= 3], 2)
    sv = shapely.get_coordinates(net.edge_geometry)
    on_street = key.isin(np.round(sv[:, 0], 2) + 1j * np.round(sv[:, 1], 2))
    # segment i runs from vertex i to i+1 of the same ring
    same = np.r_[ring[1:] == ring[:-1], False]
    street_seg = same & on_street & np.r_[on_street[1:], False]
    is_inter = key.isin(inter) | ~on_street
    seg = np.zeros(len(coords))
    seg[:-1] = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    seg[~street_seg] = 0.0
    # number the faces of each ring from its first intersection vertex; the stretch
    # before it closes the ring's last face
    first = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    counts = np.diff(np.r_[first, len(coords)])
    cum = np.cumsum(is_inter)
    face = cum - np.repeat(cum[first] - is_inter[first], counts)
    n_faces = np.bincount(ring, weights=is_inter, minlength=len(parts)).astype(np.int64)
    face = np.where((face == 0) & (n_faces[ring] > 0), n_faces[ring], face)
    faces = pd.DataFrame({"ring": ring, "face": face, "len": seg}).groupby(["ring", "face"])["len"].sum()
    faces = faces[faces > 0]  # stretches of study boundary between two breaks
    per_ring = faces.groupby(level=0).agg(["max", "mean"])
    by_block = pd.DataFrame({"max": per_ring["max"].to_numpy(), "mean": per_ring["mean"].to_numpy(),
                             "block": part_of[per_ring.index.to_numpy()]}).groupby("block").agg(
                                 {"max": "max", "mean": "mean"}).reindex(range(len(geoms)))
    spacing = _longer_side(geoms)
    face_max = by_block["max"].to_numpy()
    face_mean = by_block["mean"].to_numpy()
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


def mix_entropy(pairs: pd.DataFrame, classes: pd.Series, n_origins: int) -> np.ndarray:
    """Normalised Shannon entropy of land-use classes reached by each origin (0 if none)."""
    k = len(walkability_defaults()["landuse_classes"])
    cls = classes.to_numpy()[pairs["source"].to_numpy()]
    valid = pd.notna(cls)
    df = pd.DataFrame({"o": pairs["origin"].to_numpy()[valid], "c": cls[valid]})
    counts = df.groupby(["o", "c"]).size()
    p = counts / counts.groupby(level=0).transform("sum")
    h = ((-(p * np.log(p))).groupby(level=0).sum() / np.log(k)).clip(lower=0.0)
    out = np.zeros(n_origins)
    out[h.index.to_numpy()] = h.to_numpy()
    return out


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
    """Weighted mean of the available component scores (missing components drop out of the weights)."""
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


def walkability(
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

    Returns
    -------
    DataFrame
        On ``points.index``: ``walk_<component>`` raw values, ``walk_<component>_score``,
        ``walk_index`` and ``walk_index_elderly``.
    """
    ensure_projected(points, "the places")
    idx = points.index
    pts = np.asarray(points.values)
    out = neighbourhood_components(net, pts, settings.radius_m)
    out.index = idx
    if faces is not None:
        out = out.join(faces)
    variants: dict[str, dict[str, np.ndarray]] = {"adult": {}, "elderly": {}}
    radii = {w: settings.walk_minutes * 60.0 * speeds[w] for w in variants}
    r_max = max(radii.values())
    layers = []
    if landuse is not None and len(landuse):
        layers.append(("walk_mix_entropy", landuse, landuse_classes(landuse[landuse_field])))
    if amenities is not None and len(amenities):
        layers.append(("walk_amenities", amenities, None))
    for col, gdf, classes in layers:
        # snapped and searched once at the longer (adult) walk; the elderly walk is a filter of it
        src = snap_points(net, gdf.geometry, max_snap_m=r_max)
        node_pairs = source_node_distances(net, src, r_max)
        for walker, radius in radii.items():
            npairs = node_pairs[node_pairs["dist_m"] <= radius]
            if snapped is not None:
                pairs = reachable_pairs(net, snapped, src, radius, npairs)
                n = len(idx)
            else:
                # street segments: the value at each node, averaged over the segment's two ends
                pairs = npairs.rename(columns={"node": "origin"})
                n = net.n_nodes
            vals = mix_entropy(pairs, classes, n) if classes is not None else decayed_count(pairs, radius, n)
            if snapped is None:
                u, v = edge_ends  # type: ignore[misc]
                vals = (vals[u] + vals[v]) / 2.0
            variants[walker][col] = vals
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
