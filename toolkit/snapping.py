"""Attach points (blocks, facilities) to the walking network.

A point is snapped to the nearest point on the nearest *edge*, not the nearest
node: in a city of 200 m blocks the nearest node can be 100 m further than the
street outside the door. The result keeps both off-network legs and the
along-edge distances to the edge's two end nodes, which is all a network
distance needs.

With ``obstacles`` (water polygons, lines of roads nobody may walk) the
off-network leg must be walkable too: a leg straight across the Huangpu or a
motorway is no walk, so such a point goes to the nearest street it can reach
without crossing, or is refused and reported with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import ensure_projected
from .network import WalkNetwork

__all__ = [
    "BRIDGE_DECK_M",
    "OWN_AREA_BACK_M",
    "REASONS",
    "REASON_BARRIER",
    "REASON_IN_WATER",
    "REASON_TOO_FAR",
    "REASON_WATER",
    "STREET_NUDGE_M",
    "WATER_SLACK_M",
    "SnapObstacles",
    "Snapped",
    "leg_obstacles",
    "snap_points"
]

#: Why a point was refused (``Snapped.reason``); ``""`` where it was attached.
REASON_TOO_FAR = "too far from a street"
REASON_IN_WATER = "in water"
REASON_WATER = "leg crosses water"
REASON_BARRIER = "leg crosses a barrier"
REASONS = (REASON_TOO_FAR, REASON_IN_WATER, REASON_WATER, REASON_BARRIER)

#: Metres of water a leg may pass through, and how far inside water a point may
#: lie, before either counts: a shore point of a park or a street corner clips
#: the outline of a pond by a metre or two without anyone getting wet.
WATER_SLACK_M = 2.0
#: Half-width of the deck of a walkable street over water (a bridge): a bus stop
#: on a bridge stands over the river, and so does its leg to the bridge.
BRIDGE_DECK_M = 10.0
#: How far along the street, either side of the attachment point, a leg that
#: touches a barrier is tested again (see :meth:`SnapObstacles.blocked`).
STREET_NUDGE_M = 1.0
#: A leg from an area's point (a block) is tested from this far back inside
#: where it last leaves the area, so that crossing the area's own edge, when
#: that edge is a motorway, still counts.
OWN_AREA_BACK_M = 0.5
#: Both ends of a barrier test leg are trimmed by this much, so that a leg
#: ending on a barrier (a street meeting a motorway) only touches it.
_END_TRIM_M = 0.05

_CLEAR, _WATER, _BARRIER = 0, 1, 2


@dataclass
class Snapped:
    """Points attached to network edges.

    Attributes
    ----------
    index : pandas.Index
        The caller's index, one entry per input point.
    edge : ndarray of int
        Edge each point is attached to. For a refused point: the nearest edge
        (-1 when the network has none), kept so that the refusal can be shown.
    d_u, d_v : ndarray of float
        Network metres from the attachment point to the edge's ``u`` / ``v`` node.
    leg : ndarray of float
        Straight-line metres from the point to the street (the off-network leg).
    ok : ndarray of bool
        False where the point was refused: its leg exceeds the snap limit, or
        (with obstacles) it lies in water or no street within the limit can be
        reached without crossing water or a barrier. Refused points are
        reported rather than attached to a street they cannot reach.
    x, y : ndarray of float
        The attachment point on the street.
    reason : ndarray of str
        Why a point was refused: one of :data:`REASONS`; ``""`` where ``ok``.
        Derived from ``ok`` (too far) when not given.
    reattached : ndarray of bool
        True where the leg to the nearest edge was blocked and the point was
        attached to a farther edge it can reach (False when not given).
    """

    index: pd.Index
    edge: np.ndarray
    d_u: np.ndarray
    d_v: np.ndarray
    leg: np.ndarray
    ok: np.ndarray
    x: np.ndarray
    y: np.ndarray
    # None when not given, then filled in by __post_init__ (from ``ok``; all False): typed as the arrays
    # they always are once the object exists, so no reader has to test for None
    reason: np.ndarray = field(default=cast("np.ndarray", None))
    reattached: np.ndarray = field(default=cast("np.ndarray", None))

    def __post_init__(self) -> None:
        if self.reason is None:
            self.reason = np.where(np.asarray(self.ok, dtype=bool), "", REASON_TOO_FAR).astype(object)
        if self.reattached is None:
            self.reattached = np.zeros(len(self.edge), dtype=bool)

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: np.ndarray) -> Snapped:
        """The snapped points where ``mask`` is true."""
        return Snapped(self.index[mask], self.edge[mask], self.d_u[mask], self.d_v[mask],
                       self.leg[mask], self.ok[mask], self.x[mask], self.y[mask], self.reason[mask],
                       self.reattached[mask])

    def frame(self) -> pd.DataFrame:
        """The snap result as a table on the caller's index."""
        return pd.DataFrame({"snap_edge": self.edge, "snap_leg_m": self.leg, "snapped": self.ok,
                             "snap_reason": self.reason}, index=self.index)

    def refused_by_reason(self) -> dict[str, int]:
        """How many points were refused, per reason (reasons with none left out)."""
        r = pd.Series(self.reason[~self.ok], dtype=object)
        return {str(k): int(v) for k, v in r.value_counts().items()}


@dataclass
class SnapObstacles:
    """Water and barriers off-network legs may not cross, prepared for one network.

    Build it with :meth:`build` (or let :func:`snap_points` do so from bare
    geometries); building once and passing it to several :func:`snap_points`
    calls on the same network saves the preparation.

    Attributes
    ----------
    water : ndarray of Polygon
        The water polygons as single parts, less the decks of the walkable
        streets over them (:data:`BRIDGE_DECK_M` either side).
    barriers : ndarray of LineString
        The barrier lines as single parts.
    checked : tuple of str
        Which kinds were given: ``"barriers"`` and/or ``"water"``.
    """

    water: np.ndarray
    barriers: np.ndarray
    checked: tuple[str, ...]

    @cached_property
    def _water_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.water)

    @cached_property
    def _barrier_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.barriers)

    def __getstate__(self) -> dict:
        # the trees are rebuilt on demand: a result may travel to another process (a batch on Dask)
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @classmethod
    def build(cls, net: WalkNetwork, obstacles) -> SnapObstacles:
        """Split ``obstacles`` into water (polygons) and barriers (lines) and remove bridge decks.

        Parameters
        ----------
        net : WalkNetwork
            The network the points will be snapped to (its bridges are decks).
        obstacles : GeoSeries, GeoDataFrame or array of geometries
            Polygons (water) and lines (barriers, e.g. ``net.barriers``) in the
            network's CRS; missing and empty geometries are ignored.

        Returns
        -------
        SnapObstacles
        """
        if isinstance(obstacles, SnapObstacles):
            return obstacles
        if isinstance(obstacles, gpd.GeoDataFrame):
            obstacles = obstacles.geometry
        if isinstance(obstacles, gpd.GeoSeries):
            if obstacles.crs is not None and not net.crs.equals(obstacles.crs):
                raise ValueError(f"obstacles are in {obstacles.crs.to_string()} but the network is in "
                                 f"{net.crs.to_string()}")
            obstacles = obstacles.values
        g = np.asarray(obstacles, dtype=object).ravel()
        g = g[~shapely.is_missing(g)]
        g = g[~shapely.is_empty(g)]
        # twice: a collection may hold multi-part geometries
        parts = shapely.get_parts(shapely.get_parts(g))
        tid = shapely.get_type_id(parts)
        if np.isin(tid, (0, 4)).any():
            raise ValueError("obstacles must be polygons (water) or lines (barriers), not points")
        water = parts[tid == 3]
        bad = ~shapely.is_valid(water)
        if bad.any():
            # a self-touching riverbank would make the deck cut-out below fail
            fixed = shapely.get_parts(shapely.make_valid(water[bad]))
            water = np.concatenate([water[~bad], fixed[shapely.get_type_id(fixed) == 3]])
        barriers = parts[np.isin(tid, (1, 2))]
        checked = tuple(k for k, a in (("barriers", barriers), ("water", water)) if len(a))
        if len(water) and net.n_edges:
            water = _without_decks(net, water)
        return cls(water, barriers, checked)

    def in_water(self, g: np.ndarray) -> np.ndarray:
        """Points further than :data:`WATER_SLACK_M` inside water."""
        out = np.zeros(len(g), dtype=bool)
        if not len(self.water) or not len(g):
            return out
        i, j = self._water_tree.query(g, predicate="within")
        if len(i):
            deep = shapely.distance(g[i], shapely.boundary(self.water[j])) > WATER_SLACK_M
            out[i[deep]] = True
        return out

    def blocked(self, g: np.ndarray, on: np.ndarray, e_geom: np.ndarray, pos: np.ndarray,
                own: np.ndarray | None = None) -> np.ndarray:
        """What each leg from ``g`` to ``on`` (at ``pos`` along ``e_geom``) crosses.

        Water counts when the leg runs through more than
        :data:`WATER_SLACK_M` of it. A barrier counts when the leg crosses it
        on its way to the street, not when it only touches it where the street
        meets the barrier: a leg that meets a barrier is tested again towards
        the two points :data:`STREET_NUDGE_M` either way along the street, with
        a few centimetres trimmed off both ends, and is blocked only if both
        of those meet one too. So a block beside a street that ends at a
        motorway keeps its street, while a point on the far side of that
        motorway, attached to the very end of the same street, is still blocked
        (the street leaves the motorway on the near side only).

        ``own`` (optional, aligned with ``g``, None for points) are the areas
        the points stand for, e.g. blocks: only what a leg crosses after it
        last leaves its own area counts (tested from :data:`OWN_AREA_BACK_M`
        inside that exit). The walk inside a block or park goes around a pond
        or a dangling stub of motorway within it; the representative point of
        a long block that holds a motorway's carriageways may well fall
        between them.

        Returns
        -------
        ndarray of int8
            0 clear, 1 water, 2 barrier (water wins when both).
        """
        n = len(g)
        code = np.zeros(n, dtype=np.int8)
        if not n:
            return code
        legs = _segments(g, on)
        # a leg that meets nothing is clear: the common case, settled by one tree query per kind
        near = np.zeros(n, dtype=bool)
        if len(self.water):
            near[self._water_tree.query(legs, predicate="intersects")[0]] = True
        if len(self.barriers):
            near[self._barrier_tree.query(legs, predicate="intersects")[0]] = True
        k = np.flatnonzero(near)
        if len(k):
            code[k] = self._crossing(g[k], on[k], e_geom[k], pos[k], None if own is None else own[k])
        return code

    def _crossing(self, g: np.ndarray, on: np.ndarray, e_geom: np.ndarray, pos: np.ndarray,
                  own: np.ndarray | None) -> np.ndarray:
        """:meth:`blocked` for legs known to meet an obstacle."""
        n = len(g)
        code = np.zeros(n, dtype=np.int8)
        if own is not None:
            g = _leaving(own, g, on)
        legs = _segments(g, on)
        if len(self.water):
            i, j = self._water_tree.query(legs, predicate="intersects")
            if len(i):
                wet = np.bincount(i, weights=shapely.length(shapely.intersection(legs[i], self.water[j])),
                                  minlength=n)
                code[wet > WATER_SLACK_M] = _WATER
        if len(self.barriers):
            i, _ = self._barrier_tree.query(legs, predicate="intersects")
            k = np.unique(i)
            k = k[code[k] == _CLEAR]
            if len(k):
                glen = shapely.length(e_geom[k])
                hit = np.ones(len(k), dtype=bool)
                for step in (-STREET_NUDGE_M, STREET_NUDGE_M):
                    end = shapely.line_interpolate_point(e_geom[k], np.clip(pos[k] + step, 0.0, glen))
                    hit &= self._meets_barrier(g[k], end)
                code[k[hit]] = _BARRIER
        return code

    def _meets_barrier(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether the segment from ``a`` to ``b``, less ``_END_TRIM_M`` at each end, meets a barrier."""
        pa, pb = shapely.get_coordinates(a), shapely.get_coordinates(b)
        d = pb - pa
        length = np.hypot(d[:, 0], d[:, 1])
        long = length > 2 * _END_TRIM_M
        out = np.zeros(len(a), dtype=bool)
        if long.any():
            t = (_END_TRIM_M / length[long])[:, None]
            seg = shapely.linestrings(np.stack([pa[long] + d[long] * t, pb[long] - d[long] * t], axis=1))
            i, _ = self._barrier_tree.query(seg, predicate="intersects")
            hit = np.zeros(len(seg), dtype=bool)
            hit[i] = True
            out[long] = hit
        return out


def _segments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Straight lines from points ``a`` to points ``b``."""
    return shapely.linestrings(np.stack([shapely.get_coordinates(a), shapely.get_coordinates(b)], axis=1))


def _leaving(own: np.ndarray, g: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Start points for the obstacle test: where each leg last leaves its own area, less OWN_AREA_BACK_M."""
    a, b = shapely.get_coordinates(g), shapely.get_coordinates(on)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    area = np.flatnonzero(~shapely.is_missing(own) & (length > 0))
    if not len(area):
        return g
    legs = shapely.linestrings(np.stack([a[area], b[area]], axis=1))
    inside = shapely.intersection(legs, own[area])
    xy, k = shapely.get_coordinates(inside, return_index=True)
    # how far along its leg each point of the inside part lies; the furthest is the last exit
    t = ((xy - a[area][k]) * d[area][k]).sum(axis=1) / length[area][k]
    last = np.zeros(len(area))
    np.maximum.at(last, k, t)
    back = np.clip(last - OWN_AREA_BACK_M, 0.0, None) / length[area]
    out = g.copy()
    out[area] = shapely.points(a[area] + d[area] * back[:, None])
    return out


def _without_decks(net: WalkNetwork, water: np.ndarray) -> np.ndarray:
    """The water polygons less a strip of :data:`BRIDGE_DECK_M` around the walkable streets over them."""
    ok = np.asarray(net.snappable, dtype=bool) if net.snappable is not None else np.ones(net.n_edges, dtype=bool)
    # tunnels under the river are no deck; but a network of nothing else still has its streets
    edges = np.flatnonzero(ok) if ok.any() else np.arange(net.n_edges)
    eg = net.edge_geometry[edges]
    wi, ei = shapely.STRtree(eg).query(water, predicate="intersects")
    if not len(wi):
        return water
    out = water.copy()
    decks = shapely.buffer(eg[ei], BRIDGE_DECK_M)
    for w in np.unique(wi):
        out[w] = shapely.difference(water[w], shapely.union_all(decks[wi == w]))
    out = shapely.get_parts(out)
    return out[(shapely.get_type_id(out) == 3) & ~shapely.is_empty(out)]


def _place(net: WalkNetwork, g: np.ndarray, edge: np.ndarray):
    """Nearest point of each ``edge`` to each point ``g``: position, point, leg and network metres to u and v."""
    e_geom = net.edge_geometry[edge]
    # The projected point is recomputed rather than trusting the tree's
    # distance so that leg and position come from one geometry operation.
    pos = shapely.line_locate_point(e_geom, g)
    on = shapely.line_interpolate_point(e_geom, pos)
    leg = shapely.distance(g, on)
    glen = shapely.length(e_geom)
    # Scale along-edge position to the edge's network length in case the
    # two differ (e.g. a user network with surveyed lengths).
    scale = np.divide(net.length[edge], glen, out=np.ones(len(g)), where=glen > 0)
    return e_geom, pos, on, leg, pos * scale, (glen - pos) * scale


def snap_points(net: WalkNetwork, points: gpd.GeoSeries | gpd.GeoDataFrame,
                max_snap_m: float = np.inf, obstacles=None) -> Snapped:
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
    obstacles : GeoSeries, array of geometries or SnapObstacles, optional
        Water polygons and barrier lines (``net.barriers``: roads nobody may
        walk) in the network's CRS. A point more than
        :data:`WATER_SLACK_M` inside water is refused (``"in water"``). A
        point whose leg to the nearest edge crosses water or a barrier (see
        :meth:`SnapObstacles.blocked`) is attached to the nearest edge within
        ``max_snap_m`` whose leg is clear, else refused (``"leg crosses
        water"`` / ``"leg crosses a barrier"``, after what its nearest leg
        crosses); ``Snapped.reattached`` marks the points moved. Polygons
        (blocks) are judged by their leg once out of the polygon
        (:meth:`SnapObstacles.blocked`). Points beyond ``max_snap_m`` stay
        ``"too far from a street"`` whatever they stand in. Without obstacles
        nothing changes. Build a :class:`SnapObstacles` once (or with
        :func:`leg_obstacles`) to reuse it across calls.

    Notes
    -----
    Only ``net.snap_edges()`` are candidates: snappable edges (no tunnels,
    indoor or private ways), of the largest connected part when
    ``net.snap_main_only`` is set.

    Returns
    -------
    Snapped

    Examples
    --------
    Two streets running north, 100 m apart, and a river between them:

    >>> net = WalkNetwork(x=[0, 0, 100, 100], y=[0, 100, 0, 100], u=[0, 2], v=[1, 3],
    ...                   length=[100.0, 100.0], crs="EPSG:32651")
    >>> river = shapely.box(20, -50, 40, 150)
    >>> s = snap_points(net, gpd.GeoSeries([shapely.Point(30, 50), shapely.Point(45, 50)], crs=net.crs),
    ...                 max_snap_m=100, obstacles=[river])
    >>> s.reason.tolist(), float(s.leg[1])   # the second walks 55 m east, not 45 m west over the water
    (['in water', ''], 55.0)
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
        e_geom, pos, on, leg, d_u, d_v = _place(net, g, edge)
        ox, oy = shapely.get_x(on), shapely.get_y(on)
    else:
        d_u = d_v = np.full(n, np.inf)
        ox = oy = np.full(n, np.nan)
    ok = leg <= max_snap_m
    reason = np.where(ok, "", REASON_TOO_FAR).astype(object)
    moved = np.zeros(n, dtype=bool)
    if obstacles is not None and n and net.n_edges:
        obs = SnapObstacles.build(net, obstacles)
        own = None
        area = np.isin(shapely.get_type_id(np.asarray(geo.values)), (3, 6))
        if area.any():
            own = np.full(n, None, dtype=object)
            own[area] = np.asarray(geo.values)[area]
        wet = obs.in_water(g) & ok
        ok[wet], reason[wet] = False, REASON_IN_WATER
        test = np.flatnonzero(ok)
        code = obs.blocked(g[test], on[test], e_geom[test], pos[test], None if own is None else own[test])
        stuck = test[code != _CLEAR]
        if len(stuck):
            # the common case, a clear nearest leg, stays vectorised above; only these search further
            got, new_edge = _clear_edge(net, g[stuck], edge[stuck], leg[stuck], max_snap_m, obs,
                                        None if own is None else own[stuck])
            fix, lost = stuck[got], stuck[~got]
            if len(fix):
                _, _, on_f, leg_f, du_f, dv_f = _place(net, g[fix], new_edge[got])
                edge[fix], leg[fix], d_u[fix], d_v[fix] = new_edge[got], leg_f, du_f, dv_f
                ox[fix], oy[fix] = shapely.get_x(on_f), shapely.get_y(on_f)
                moved[fix] = True
            ok[lost] = False
            reason[lost] = np.where(code[code != _CLEAR][~got] == _WATER, REASON_WATER, REASON_BARRIER)
    return Snapped(geo.index, edge, d_u, d_v, leg, ok, ox, oy, reason, moved)


def leg_obstacles(net: WalkNetwork, water: gpd.GeoDataFrame | gpd.GeoSeries | None = None, *,
                  water_reason: str | None = None) -> tuple[SnapObstacles | None, dict]:
    """The obstacles a study's legs are checked against, and a record of what was and was not checked.

    Parameters
    ----------
    net : WalkNetwork
        Its ``barriers`` (roads nobody may walk) are always used when present.
    water : GeoDataFrame or GeoSeries, optional
        Water polygons in the network's CRS.
    water_reason : str, optional
        Why there is no water to check (e.g. the study has no
        ``[waterfront]`` section); said in the record when ``water`` is None.

    Returns
    -------
    obstacles : SnapObstacles or None
        None when there is nothing to check (snapping is then as without obstacles).
    record : dict
        ``legs_checked_against`` (``"barriers"``, ``"water"``) and, for each
        kind not checked, ``legs_not_checked[kind]``: why. A planner reading
        the run must know whether the check ran.
    """
    parts = []
    barriers = getattr(net, "barriers", None)
    barriers = np.empty(0, dtype=object) if barriers is None else np.asarray(barriers, dtype=object)
    if len(barriers):
        parts.append(barriers)
    if water is not None and len(water):
        geo = water.geometry if isinstance(water, gpd.GeoDataFrame) else water
        if geo.crs is not None and not net.crs.equals(geo.crs):
            geo = geo.to_crs(net.crs)
        parts.append(np.asarray(geo.values, dtype=object))
    obs = SnapObstacles.build(net, np.concatenate(parts)) if parts else None
    checked = list(obs.checked) if obs is not None else []
    skipped = {}
    if "barriers" not in checked:
        skipped["barriers"] = "the network has no lines of roads nobody may walk (at-grade motorways, foot=no)"
    if "water" not in checked:
        skipped["water"] = water_reason or "no water polygons near the study area"
    record: dict = {"legs_checked_against": checked}
    if skipped:
        record["legs_not_checked"] = skipped
    return obs if checked else None, record


def _clear_edge(net: WalkNetwork, g: np.ndarray, first: np.ndarray, leg0: np.ndarray, max_snap_m: float,
                obs: SnapObstacles, own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For points whose nearest leg is blocked: the nearest edge within ``max_snap_m`` whose leg is clear.

    Candidates are gathered in growing circles (twice the blocked leg plus
    100 m, then doubling up to ``max_snap_m``, or to the network's far corner
    when there is no limit): the nearest clear leg inside a circle is the
    nearest clear leg overall, so a point stops at the first circle that has
    one.

    Returns
    -------
    found : ndarray of bool
    edge : ndarray of int
        The edge found (-1 where none).
    """
    n = len(g)
    found = np.zeros(n, dtype=bool)
    out = np.full(n, -1, dtype=np.int64)
    tree, edges = net.snap_edge_tree(), net.snap_edges()
    xy = shapely.get_coordinates(g)
    far = np.hypot(np.maximum(np.abs(xy[:, 0] - net.x.min()), np.abs(xy[:, 0] - net.x.max())),
                   np.maximum(np.abs(xy[:, 1] - net.y.min()), np.abs(xy[:, 1] - net.y.max())))
    cap = np.minimum(max_snap_m, far + 1.0)
    r = np.minimum(2 * leg0 + 100.0, cap)
    todo = np.arange(n)
    while len(todo):
        i, j = tree.query(g[todo], predicate="dwithin", distance=r[todo])
        p, e = todo[i], edges[j]
        keep = e != first[p]  # the nearest edge was tested already
        p, e = p[keep], e[keep]
        if len(p):
            e_geom, pos, on, leg, _, _ = _place(net, g[p], e)
            clear = (obs.blocked(g[p], on, e_geom, pos, None if own is None else own[p]) == _CLEAR) \
                & (leg <= max_snap_m)
            p, e, leg = p[clear], e[clear], leg[clear]
            # per point the nearest clear edge; ties to the lower edge index, so the result is reproducible
            order = np.lexsort((e, leg, p))
            p, e = p[order], e[order]
            head = np.ones(len(p), dtype=bool)
            head[1:] = p[1:] != p[:-1]
            found[p[head]], out[p[head]] = True, e[head]
        todo = todo[~found[todo] & (r[todo] < cap[todo])]
        r[todo] = np.minimum(2 * r[todo], cap[todo])
    return found, out
