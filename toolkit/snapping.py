"""Attach points (blocks, facilities) to the walking network.

A point is snapped to the nearest point on the nearest *edge*, not the nearest
node: in a city of 200 m blocks the nearest node can be 100 m further than the
street outside the door. The result keeps both off-network legs and the
along-edge distances to the edge's two end nodes, which is all a network
distance needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import ensure_projected
from .network import WalkNetwork


@dataclass
class Snapped:
    """Points attached to network edges.

    Attributes
    ----------
    index : pandas.Index
        The caller's index, one entry per input point.
    edge : ndarray of int
        Edge each point is attached to (-1 where refused).
    d_u, d_v : ndarray of float
        Network metres from the attachment point to the edge's ``u`` / ``v`` node.
    leg : ndarray of float
        Straight-line metres from the point to the street (the off-network leg).
    ok : ndarray of bool
        False where the leg exceeds the snap limit: those points are refused and
        reported rather than attached to a street they cannot reach.
    """

    index: pd.Index
    edge: np.ndarray
    d_u: np.ndarray
    d_v: np.ndarray
    leg: np.ndarray
    ok: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: np.ndarray) -> Snapped:
        """The snapped points where ``mask`` is true."""
        return Snapped(self.index[mask], self.edge[mask], self.d_u[mask], self.d_v[mask],
                       self.leg[mask], self.ok[mask], self.x[mask], self.y[mask])

    def frame(self) -> pd.DataFrame:
        """The snap result as a table on the caller's index."""
        return pd.DataFrame({"snap_edge": self.edge, "snap_leg_m": self.leg, "snapped": self.ok},
                            index=self.index)


def snap_points(net: WalkNetwork, points: gpd.GeoSeries | gpd.GeoDataFrame,
                max_snap_m: float = np.inf) -> Snapped:
    """Snap points to the nearest position on the nearest network edge.

    Parameters
    ----------
    net : WalkNetwork
        The network, in a metric CRS.
    points : GeoSeries or GeoDataFrame
        Points in the same CRS as ``net``; non-point geometries are represented
        by a point on their surface.
    max_snap_m : float
        Points further than this from every street are refused (``ok=False``).

    Notes
    -----
    Only ``net.snap_edges()`` are candidates: snappable edges (no tunnels,
    indoor or private ways), of the largest connected part when
    ``net.snap_main_only`` is set.

    Returns
    -------
    Snapped
    """
    geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    ensure_projected(geo, "the points to snap")
    if geo.crs is not None and not net.crs.equals(geo.crs):
        raise ValueError(f"points are in {geo.crs.to_string()} but the network is in {net.crs.to_string()}")
    g = np.asarray(geo.values)
    nonpoint = shapely.get_type_id(g) != 0
    if nonpoint.any():
        g = g.copy()
        g[nonpoint] = shapely.point_on_surface(g[nonpoint])
    n = len(g)
    edge = np.full(n, -1, dtype=np.int64)
    leg = np.full(n, np.inf)
    if n and net.n_edges:
        src, hit = net.snap_edge_tree().query_nearest(g, return_distance=False, all_matches=False)
        edge[src] = net.snap_edges()[hit]
        e_geom = net.edge_geometry[edge]
        # The projected point is recomputed rather than trusting the tree's
        # distance so that leg and position come from one geometry operation.
        pos = shapely.line_locate_point(e_geom, g)
        on = shapely.line_interpolate_point(e_geom, pos)
        leg = shapely.distance(g, on)
        glen = shapely.length(e_geom)
        # Scale along-edge position to the edge's network length in case the
        # two differ (e.g. a user network with surveyed lengths).
        scale = np.divide(net.length[edge], glen, out=np.ones(n), where=glen > 0)
        d_u = pos * scale
        d_v = (glen - pos) * scale
        ox, oy = shapely.get_x(on), shapely.get_y(on)
    else:
        d_u = d_v = np.full(n, np.inf)
        ox = oy = np.full(n, np.nan)
    ok = leg <= max_snap_m
    return Snapped(geo.index, edge, d_u, d_v, leg, ok, ox, oy)
