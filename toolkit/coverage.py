"""Service coverage by network distance.

For each facility category the distance from every block to its nearest
facility is one single-source Dijkstra from a virtual "super source" joined to
both end nodes of every facility's edge, with the facility's off-network leg
and along-edge offset as the joining weights. Block distances then add the
block's own leg and offset. Facilities on the block's own edge are reached
directly along that edge. The result equals the shortest path on the network
with every block and facility inserted as a node, which the tests check
against networkx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from .network import MIN_EDGE_M, WalkNetwork
from .snapping import Snapped

__all__ = ["CategoryRule", "coverage", "coverage_rates", "node_distances", "point_distances"]


def node_distances(net: WalkNetwork, sources: Snapped, limit: float = np.inf) -> np.ndarray:
    """Network distance from every node to the nearest source point.

    Parameters
    ----------
    net : WalkNetwork
    sources : Snapped
        Snapped facilities; refused snaps (``ok=False``) are ignored.
    limit : float
        Stop searching beyond this many metres (nodes further get ``inf``).

    Returns
    -------
    ndarray
        Metres, one value per node.
    """
    n = net.n_nodes
    s = sources.subset(sources.ok)
    if len(s) == 0:
        return np.full(n, np.inf)
    seed = np.full(n, np.inf)
    u, v = net.u[s.edge], net.v[s.edge]
    np.minimum.at(seed, u, s.leg + s.d_u)
    np.minimum.at(seed, v, s.leg + s.d_v)
    targets = np.flatnonzero(np.isfinite(seed))
    base = net.csr
    # Append one row (the super source) to the CSR arrays instead of rebuilding
    # the matrix: a copy of the arrays, not a sort. A facility exactly on a node
    # gets MIN_EDGE_M (1e-6 m) rather than an explicit zero, which csgraph
    # would read as "no edge".
    indptr = np.append(base.indptr, base.indptr[-1] + len(targets)).astype(base.indptr.dtype)
    indices = np.concatenate([base.indices, targets.astype(base.indices.dtype)])
    data = np.concatenate([base.data, np.maximum(seed[targets], MIN_EDGE_M)])
    aug = sparse.csr_array((data, indices, indptr), shape=(n + 1, n + 1))
    dist = csgraph.dijkstra(aug, directed=True, indices=n, limit=limit)
    d = dist[:n]
    return d


def point_distances(net: WalkNetwork, origins: Snapped, sources: Snapped,
                    node_dist: np.ndarray | None = None, limit: float = np.inf) -> np.ndarray:
    """Network distance from each origin point to its nearest source point.

    Includes both off-network legs. Origins that were refused by the snap limit
    get NaN; origins that cannot reach any source get ``inf``.

    Parameters
    ----------
    net : WalkNetwork
        The walking network both were snapped to.
    origins, sources : Snapped
        From :func:`toolkit.snapping.snap_points` (blocks and facilities, say).
    node_dist : ndarray, optional
        Distances from the sources to every node, when already computed (:func:`node_distances`).
    limit : float, default inf
        Give up beyond this distance (``inf`` in the result).

    Returns
    -------
    ndarray of float
        One distance in metres per origin, in order.

    Examples
    --------
    A 3 x 3 street grid, 100 m apart: from its south-west corner and from a point on the east side
    to a park at the north-east corner.

    >>> import geopandas as gpd, shapely
    >>> from toolkit.network import grid_network
    >>> from toolkit.snapping import snap_points
    >>> net = grid_network(3)
    >>> x0, y0 = net.x.min(), net.y.min()
    >>> homes = snap_points(net, gpd.GeoSeries([shapely.Point(x0, y0), shapely.Point(x0 + 200, y0 + 100)],
    ...                                        crs=net.crs), max_snap_m=50)
    >>> park = snap_points(net, gpd.GeoSeries([shapely.Point(x0 + 200, y0 + 200)], crs=net.crs), max_snap_m=50)
    >>> point_distances(net, homes, park).tolist()
    [400.0, 100.0]
    """
    if node_dist is None:
        node_dist = node_distances(net, sources, limit=limit)
    e = np.where(origins.ok, origins.edge, 0)
    via_u = node_dist[net.u[e]] + origins.d_u
    via_v = node_dist[net.v[e]] + origins.d_v
    best = np.minimum(via_u, via_v)
    s = sources.subset(sources.ok)
    if len(s):
        # Facilities on the origin's own edge are reached along it directly. Matched
        # with a sort and searchsorted: a pandas merge cost more than the Dijkstra here.
        order = np.argsort(s.edge, kind="stable")
        fe = s.edge[order]
        oi = np.flatnonzero(origins.ok)
        lo = np.searchsorted(fe, e[oi], side="left")
        cnt = np.searchsorted(fe, e[oi], side="right") - lo
        if cnt.any():
            o = np.repeat(oi, cnt)
            f = order[np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(cnt.sum())]
            direct = np.abs(origins.d_u[o] - s.d_u[f]) + s.leg[f]
            np.minimum.at(best, o, direct)
    out = best + origins.leg
    out[out > limit] = np.inf
    out[~origins.ok] = np.nan
    return out


@dataclass
class CategoryRule:
    """The threshold a category is measured against."""

    category: str
    max_distance_m: float
    label: str = ""
    walker: str = "adult"
    minutes: float | None = None
    source: str = ""


def coverage(
    net: WalkNetwork,
    blocks: gpd.GeoDataFrame,
    block_snap: Snapped,
    facility_snaps: Mapping[str, Snapped],
    rules: Mapping[str, CategoryRule],
    search_limit_m: float = np.inf,
) -> pd.DataFrame:
    """Per-block distance to the nearest facility of each category, and whether it is within reach.

    Parameters
    ----------
    net : WalkNetwork
    blocks : GeoDataFrame
        Blocks; only the index is used (the result is aligned to it).
    block_snap : Snapped
        Snapped block representative points, on ``blocks.index``.
    facility_snaps : mapping of category to Snapped
        Categories with at least one facility.
    rules : mapping of category to CategoryRule
    search_limit_m : float
        Give up beyond this distance (``inf`` in ``dist_*``), to bound the work.

    Returns
    -------
    DataFrame
        ``dist_<category>_m`` (float, metres) and ``within_<category>`` (bool)
        for each category present in both ``facility_snaps`` and ``rules``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from toolkit.network import grid_network
    >>> from toolkit.snapping import snap_points
    >>> net = grid_network(3)
    >>> x0, y0 = net.x.min(), net.y.min()
    >>> homes = gpd.GeoSeries([shapely.Point(x0, y0), shapely.Point(x0 + 200, y0 + 100)], crs=net.crs,
    ...                       index=["a", "b"])
    >>> park = snap_points(net, gpd.GeoSeries([shapely.Point(x0 + 200, y0 + 200)], crs=net.crs), max_snap_m=50)
    >>> cov = coverage(net, gpd.GeoDataFrame(geometry=homes), snap_points(net, homes, max_snap_m=50),
    ...                {"park": park}, {"park": CategoryRule("park", 300.0)})
    >>> cov["dist_park_m"].tolist(), cov["within_park"].tolist()
    ([400.0, 100.0], [False, True])
    """
    cols: dict[str, np.ndarray] = {}
    for cat, fs in facility_snaps.items():
        if cat not in rules or not fs.ok.any():
            continue
        d = point_distances(net, block_snap, fs, limit=search_limit_m)
        cols[f"dist_{cat}_m"] = d
        cols[f"within_{cat}"] = d <= rules[cat].max_distance_m
    return pd.DataFrame(cols, index=blocks.index)


def coverage_rates(blocks: pd.DataFrame, categories: list[str],
                   pop_cols: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Population-weighted share within reach, per category and population group.

    Blocks whose representative point could not be snapped (NaN distance) are
    left out of both numerator and denominator and counted separately.

    Parameters
    ----------
    blocks : DataFrame
        One row per block with ``dist_<category>_m``, ``within_<category>`` and the population columns.
    categories : list of str
        The categories to rate.
    pop_cols : mapping of str to str, optional
        Group name -> population column; ``{"total": "population", "65plus": "pop_65plus"}`` by default
        (groups whose column is missing are left out).

    Returns
    -------
    DataFrame
        On ``category``: ``covered_<group>`` (residents within reach), ``rate_<group>`` (their share of the
        assessed residents; NaN when none is assessed) and ``not_assessed_<group>``.

    Examples
    --------
    >>> import pandas as pd
    >>> b = pd.DataFrame({"population": [100, 300], "pop_65plus": [10, 60],
    ...                   "dist_park_m": [400.0, 100.0], "within_park": [False, True]})
    >>> r = coverage_rates(b, ["park"])
    >>> float(r.loc["park", "rate_total"]), round(float(r.loc["park", "rate_65plus"]), 3)
    (0.75, 0.857)
    """
    pop_cols = pop_cols or {"total": "population", "65plus": "pop_65plus"}
    rows = []
    for cat in categories:
        d = blocks[f"dist_{cat}_m"].to_numpy()
        assessed = ~np.isnan(d)
        within = blocks[f"within_{cat}"].to_numpy(dtype=bool)
        row: dict[str, Any] = {"category": cat}
        for key, col in pop_cols.items():
            if col not in blocks:
                continue
            pop = blocks[col].to_numpy(dtype=float)
            denom = pop[assessed].sum()
            row[f"covered_{key}"] = float(pop[within & assessed].sum())
            row[f"rate_{key}"] = float(pop[within & assessed].sum() / denom) if denom > 0 else float("nan")
            row[f"not_assessed_{key}"] = float(pop[~assessed].sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("category") if rows else pd.DataFrame()
