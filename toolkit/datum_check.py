"""Is a point layer declared WGS84 really in GCJ-02 or BD-09? Ask the streets.

GCJ-02 (Amap/Gaode, Tencent) lies about 490 m from WGS84 in Shanghai and BD-09
(Baidu) about 1.1 km: a Chinese export declared as WGS84 is read without error
and every walk to it is quietly wrong (issue #14: health coverage 7.6% instead
of 10.0%, 174 blocks changing side). The one reference every study has is its
OSM street network, which is WGS84. So each point is measured to the nearest
street three times: as declared, as if it were GCJ-02 and as if it were BD-09
(converted to WGS84 by :mod:`toolkit.crs`).

A wrong reading of 490 m still lands near some street in a dense grid, and
points inside blocks (building centroids, the middle of a park) are no nearer
the streets in their true datum than anywhere else. So the layer's own
baseline is measured too: the same two offsets turned to seven other
directions (45 degrees apart), 14 placements wrong by construction (the
controls). A reading is named only when its median distance is at most half
the controls' (:data:`MAX_RATIO_TO_CONTROLS`), well below both other readings'
(:data:`MAX_RATIO_TO_OTHERS`; :data:`MAX_RATIO_TO_OTHERS_LARGE` from
:data:`LARGE_POINTS` points) and the points then sit on the streets (median at
most :data:`MAX_MEDIAN_M`). A layer whose points do not follow the streets
gets no verdict, never a guess.

A whole export mixes points that follow the streets (stops, shopfronts) with
many that do not (offices, flats and restaurants inside blocks), and the second
kind drowns the first: the whole Amap export declared WGS84 names no datum
(0.69 / 0.94 of the controls / of the next reading in Xuhui, 0.89 / 0.88 in
Huangpu; on all its points 0.66 / 0.78, and as the share of points within 15 m
of a street 20% as declared, 20% as GCJ-02, 18% for the controls: no statistic
of the whole layer tells). So when all points together name no datum, a
classified layer is judged by category too (each of :data:`MIN_POINTS`
measurable points or more, on its own, by the same thresholds): a datum named by
at least one category and contradicted by none (WGS84 included) is the layer's.
The run passes every category of the catalogue its classifier knows, not only
the study's, classified again only when needed.

Calibration on the shared Shanghai data against the drive-only OSM streets of
the ``xuhui`` and ``center`` studies (median ratio of the nearest reading to the
controls / to the next reading, sampled as here). Named as a whole: Amap
transport POIs read as WGS84 are GCJ-02 (0.43 / 0.47 in Xuhui, 0.30 / 0.29 in
Huangpu), Amap health POIs in Xuhui (0.49 / 0.59), the Baidu-geocoded
Outstanding Historic Buildings BD-09 (0.30 / 0.40 in Xuhui; 0.49 / 0.59 in
Huangpu, on the edge). Named by category: the whole Amap export
GCJ-02 by its transit points (0.18 / 0.23, 172 points, in Xuhui; 0.21 / 0.19,
145 points, in Huangpu), in Xuhui its markets too (0.35 / 0.43; the bundled
study's own categories), no category of it naming another datum (nearest:
health in Huangpu as WGS84, 0.81 / 0.87). No genuine WGS84 layer, as a whole or
by category (Geofabrik POIs and POI areas by category and by fclass, land-use
points by type, OSM heritage, Wikidata, compounds), comes within 37% of the
thresholds for a Chinese datum (nearest: OSM heritage areas in Xuhui as BD-09,
0.59 / 0.96; of the categories, land-use parks in Xuhui as BD-09, 0.68 / 0.77,
and residential land use in Huangpu as GCJ-02, 0.77 / 0.52), and none of 76
random (70, 50, 30%) or spatial (halves, quadrants) subsets per layer and
network, sampled with two seeds, was given one. The ditushu GCJ-02 register
(0.68 / 0.99) stays without a verdict: its points are building positions inside
blocks, which distances to a drive-only network do not place.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import BD09_NAMES, GCJ02_NAMES, WGS84, bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from .io import DataWarning

__all__ = [
    "COVERAGE_M",
    "LARGE_POINTS",
    "MAX_MEDIAN_M",
    "MAX_POINTS",
    "MAX_RATIO_TO_CONTROLS",
    "MAX_RATIO_TO_OTHERS",
    "MAX_RATIO_TO_OTHERS_LARGE",
    "MIN_POINTS",
    "DatumCheck",
    "check_source",
    "check_sources",
    "datum_offset_check",
    "declared_as_wgs84",
]

#: Fewer measured points than this get no verdict.
MIN_POINTS = 100
#: A reading is named when its median distance to the streets is at most this share of the
#: controls' median (the 14 placements wrong by construction) ...
MAX_RATIO_TO_CONTROLS = 0.5
#: ... and at most this share of the smaller median of the two other readings ...
MAX_RATIO_TO_OTHERS = 0.5
#: ... relaxed to this from :data:`LARGE_POINTS` measured points on ...
MAX_RATIO_TO_OTHERS_LARGE = 0.7
LARGE_POINTS = 200
#: ... and when the points then sit on the streets: a median distance of at most this (m).
MAX_MEDIAN_M = 50.0
#: Points further than this (m) from any street under one of the three readings lie beyond the
#: street data (outside the network's area, in the river) and say nothing: they are left out.
COVERAGE_M = 500.0
#: At most this many points are measured (a fixed-seed random sample of larger layers).
MAX_POINTS = 500

#: The hypotheses, in the order they are reported.
HYPOTHESES = ("wgs84", "gcj02", "bd09")
_NAMES = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
_PRODUCTS = {"gcj02": "Amap/Gaode/Tencent", "bd09": "Baidu"}
_OFFSETS = {"gcj02": "490 m", "bd09": "1.1 km"}
_CONTROL_TURNS_DEG = tuple(45.0 * k for k in range(1, 8))


@dataclass(frozen=True)
class DatumCheck:
    """What the streets say about a point layer's datum.

    Attributes
    ----------
    n_points : int
        Points measured: inside China's GCJ-02 area, the hull of the network's nodes and
        :data:`COVERAGE_M` of a street under each reading, from a sample of at most
        :data:`MAX_POINTS`.
    median_m, p75_m : dict
        Median and 75th percentile distance (m) to the nearest street points may be attached
        to, per reading: ``"wgs84"`` (as declared), ``"gcj02"``, ``"bd09"``. Empty when there
        are no points.
    controls_median_m : float or None
        The median over the 14 controls (the GCJ-02 and BD-09 offsets turned by 45, 90 ...
        315 degrees) of their median distance: how near the streets this layer sits when it
        is placed wrongly.
    ratio_to_controls, ratio_to_others : float or None
        The leading reading's (the nearest's) median over the controls' median, and over the
        smaller median of the two other readings.
    likely : str or None
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` when the streets single one out, else None.
    warn : bool
        True when ``likely`` is GCJ-02 or BD-09: the declaration looks wrong.
    reason : str
        One sentence on how the verdict was reached.
    by_category : dict
        When all points together name no datum, the check of each category of the layer
        (of :data:`MIN_POINTS` measurable points or more) on its own; else empty. A
        category's controls are measured only when its three readings leave a verdict
        possible (else its ``controls_median_m`` and ``ratio_to_controls`` are None).
    decided_by : str or None
        The category whose points named ``likely`` (None: all points did, or no verdict).
    """

    n_points: int
    median_m: dict[str, float] = field(default_factory=dict)
    p75_m: dict[str, float] = field(default_factory=dict)
    controls_median_m: float | None = None
    ratio_to_controls: float | None = None
    ratio_to_others: float | None = None
    likely: str | None = None
    warn: bool = False
    reason: str = ""
    by_category: dict[str, DatumCheck] = field(default_factory=dict)
    decided_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (for run.json)."""
        out = self._figures()
        out["thresholds"] = {"min_points": MIN_POINTS, "max_ratio_to_controls": MAX_RATIO_TO_CONTROLS,
                             "max_ratio_to_others": MAX_RATIO_TO_OTHERS,
                             f"max_ratio_to_others_from_{LARGE_POINTS}_points": MAX_RATIO_TO_OTHERS_LARGE,
                             "max_median_m": MAX_MEDIAN_M}
        if self.by_category:
            out["decided_by"] = self.decided_by
            out["by_category"] = {c: v._figures() for c, v in self.by_category.items()}
        return out

    def _figures(self) -> dict[str, Any]:
        return {"n_points": self.n_points,
                "median_m": {k: round(v, 1) for k, v in self.median_m.items()},
                "p75_m": {k: round(v, 1) for k, v in self.p75_m.items()},
                "controls_median_m": _round(self.controls_median_m, 1),
                "ratio_to_controls": _round(self.ratio_to_controls, 3),
                "ratio_to_others": _round(self.ratio_to_others, 3),
                "likely": self.likely, "warn": self.warn, "reason": self.reason}

    def message(self, label: str) -> str:
        """The warning for source ``label``; "" when there is nothing to warn about."""
        if not self.warn or self.likely not in _PRODUCTS:
            return ""
        h = self.likely
        by = self.by_category.get(self.decided_by) if self.decided_by else None
        c = by if by is not None else self
        m = c.median_m
        what = "points" if by is None else f"its {self.decided_by} points"
        rest = "" if by is None else (f"; all {self.n_points} points measured together are too mixed to tell, "
                                      f"{self.median_m['wgs84']:.0f} m as declared and "
                                      f"{self.median_m[h]:.0f} m as {_NAMES[h]}")
        return (f"{label}: {what} sit a median {m['wgs84']:.0f} m from the streets as declared (WGS84) but "
                f"{m[h]:.0f} m if they are {_NAMES[h]} ({c.n_points} points measured; "
                f"{c.controls_median_m:.0f} m when shifted on purpose{rest}): the file is likely in {_NAMES[h]} "
                f"({_PRODUCTS[h]}); declare crs = '{h}' for it, or its points stay about {_OFFSETS[h]} "
                "from where they are (the run went on as declared)")


def _round(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


def declared_as_wgs84(declared: Any, file_crs: Any = None) -> bool:
    """Whether a source's coordinates are read as WGS84 lon/lat (the case the check is for).

    ``declared`` is the study's declaration (None when nothing was declared); without one,
    ``file_crs`` (what the file says) decides, and a table with neither is read as WGS84.

    Examples
    --------
    >>> declared_as_wgs84("EPSG:4326"), declared_as_wgs84("gcj02"), declared_as_wgs84(None, "EPSG:32651")
    (True, False, False)
    >>> declared_as_wgs84(None, None), declared_as_wgs84("OGC:CRS84"), declared_as_wgs84(None, "EPSG:4326")
    (True, True, True)
    """
    crs = declared if declared is not None else file_crs
    if crs is None:
        return True
    if isinstance(crs, str) and crs.strip().lower() in GCJ02_NAMES | BD09_NAMES:
        return False
    try:
        c = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        return False
    # EPSG:4326, OGC:CRS84 and the like: lon/lat on the WGS 84 datum (or a realisation of it); and
    # China's CGCS2000 (EPSG:4490), within centimetres of it, which GCJ-02 files are also labelled
    datum = c.datum.name.upper() if c.datum is not None else ""
    return bool(c.is_geographic and ("WORLD GEODETIC SYSTEM 1984" in datum or datum.startswith(("WGS 84", "WGS_1984"))
                                     or "CHINA 2000" in datum or "CGCS2000" in datum))


def _lonlat(points: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitude, latitude and position (in ``points``) of each point geometry."""
    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        if points.crs is not None and not pyproj.CRS.from_user_input(points.crs).equals(pyproj.CRS(WGS84)):
            points = points.to_crs(WGS84)
        geoms = np.asarray(points.geometry.values)
    else:
        geoms = np.asarray(points, dtype=object)
    pos = np.flatnonzero(~shapely.is_missing(geoms))
    pos = pos[(shapely.get_type_id(geoms[pos]) == 0) & ~shapely.is_empty(geoms[pos])]
    return shapely.get_x(geoms[pos]), shapely.get_y(geoms[pos]), pos


#: The placements measured, in the rows of :class:`_Placements`: the three readings, then the controls.
_N_PLACEMENTS = len(HYPOTHESES) + 2 * len(_CONTROL_TURNS_DEG)


class _Placements:
    """The points that can be measured and their distances to the streets, measured on demand.

    Points outside China's GCJ-02 area or the hull of the network's nodes are left out (the
    candidates). A distance is measured once per point and placement (rows of :attr:`d`: the
    three readings, then ``control_0`` ... ``control_13``), for the points and placements a
    check asks for only.
    """

    def __init__(self, points: Any, net, *, max_points: int = MAX_POINTS, seed: int = 0) -> None:
        lon, lat, pos = _lonlat(points)
        to_net = pyproj.Transformer.from_crs(WGS84, net.crs, always_xy=True)
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([net.x, net.y])))
        # a city- or country-wide table: only the rows around the streets go on (a box with a margin)
        x_lo, y_lo, x_hi, y_hi = hull.bounds
        bx, by = to_net.transform(np.array([x_lo, x_lo, x_hi, x_hi]), np.array([y_lo, y_hi, y_lo, y_hi]),
                                  direction="INVERSE")
        ok = ((lon >= bx.min() - 0.02) & (lon <= bx.max() + 0.02) & (lat >= by.min() - 0.02)
              & (lat <= by.max() + 0.02))  # False for NaN
        lon, lat, pos = lon[ok], lat[ok], pos[ok]
        # the GCJ-02 offset exists only inside its area (mainland China's box): elsewhere no datum to guess
        glon, glat = wgs84_to_gcj02(lon, lat)
        inside = (glon != lon) | (glat != lat)
        lon, lat, pos = lon[inside], lat[inside], pos[inside]
        x0, y0 = to_net.transform(lon, lat)
        keep = shapely.contains_xy(hull, x0, y0)
        #: positions (in the points given) of the candidates
        self.pos = pos[keep]
        n = len(self.pos)
        # a fixed-seed random order of the candidates: every set is sampled by it, so sets share points;
        # first the sample of all points (of max_points), then the others
        rng = np.random.default_rng(seed)
        first = rng.choice(n, max_points, replace=False) if n > max_points else np.arange(n)
        rest = np.setdiff1d(np.arange(n), first)
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[first] = np.arange(len(first))
        self.rank[rest[rng.permutation(len(rest))]] = np.arange(len(first), n)
        self.d = np.full((_N_PLACEMENTS, n), np.nan)
        self._tree = net.snap_edge_tree() if n else None
        # where each placement puts the candidates (metric CRS): as declared, the two readings
        # converted back to WGS84, then the controls: each offset's median (over all candidates)
        # turned by 45 ... 315 degrees
        xy = [(x0[keep], y0[keep])]
        for conv in (gcj02_to_wgs84, bd09_to_wgs84):
            xy.append(to_net.transform(*conv(lon[keep], lat[keep])) if n else (np.zeros(0), np.zeros(0)))
        shifts = [(float(np.median(x - xy[0][0])), float(np.median(y - xy[0][1]))) if n else (0.0, 0.0)
                  for x, y in xy[1:]]
        self._xy = xy
        self._turns = [(dx, dy, t) for dx, dy in shifts for t in np.deg2rad(_CONTROL_TURNS_DEG)]

    def sample(self, members: np.ndarray | None, max_points: int) -> np.ndarray:
        """Indices (into the candidates) of at most ``max_points`` of a set, first in the random order.

        ``members`` are positions in the points given (None: all of them).
        """
        idx = np.arange(len(self.pos)) if members is None else np.flatnonzero(np.isin(self.pos, members))
        if len(idx) > max_points:
            idx = np.sort(idx[np.argsort(self.rank[idx], kind="stable")[:max_points]])
        return idx

    def _place(self, row: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if row < len(self._xy):
            x, y = self._xy[row]
            return x[idx], y[idx]
        dx, dy, turn = self._turns[row - len(self._xy)]
        c, s = np.cos(turn), np.sin(turn)
        x0, y0 = self._xy[0][0][idx], self._xy[0][1][idx]
        return x0 + c * dx - s * dy, y0 + s * dx + c * dy

    def distances(self, idx: np.ndarray, rows: int = _N_PLACEMENTS) -> np.ndarray:
        """Distance (m) of candidates ``idx`` to the nearest snappable street: (placements, points).

        Only the first ``rows`` placements (the three readings, then the controls).
        """
        for row in range(rows):
            todo = idx[np.isnan(self.d[row, idx])]
            if len(todo):
                assert self._tree is not None  # None only without points, and then nothing is to do
                # beyond COVERAGE_M a point is left out whatever the distance: not searched further
                hit, dist = self._tree.query_nearest(shapely.points(*self._place(row, todo)),
                                                     max_distance=COVERAGE_M, return_distance=True,
                                                     all_matches=False)
                d = np.full(len(todo), np.inf)
                d[hit[0]] = dist
                self.d[row, todo] = d
        return self.d[:rows, idx]


def _verdict(placed: _Placements, idx: np.ndarray, min_points: int, *, controls_first: bool = True) -> DatumCheck:
    """The verdict on one set of candidates ``idx`` (:meth:`_Placements.sample`).

    With ``controls_first=False`` the controls are measured only when the three readings
    leave a verdict possible (the nearest well below the other two and on the streets): the
    figures of a set without one then have no controls' median.
    """
    nh = len(HYPOTHESES)
    d = placed.distances(idx, nh)
    # beyond the street data under one of the readings: no evidence either way, left out
    idx = idx[np.all(d <= COVERAGE_M, axis=0)]
    d = placed.distances(idx, nh)
    n = len(idx)
    if n == 0:
        return DatumCheck(n_points=0, reason="no point inside the streets' extent and China's GCJ-02 area")
    med = {h: float(np.median(d[i])) for i, h in enumerate(HYPOTHESES)}
    p75 = {h: float(np.percentile(d[i], 75)) for i, h in enumerate(HYPOTHESES)}
    lead = min(HYPOTHESES, key=med.__getitem__)
    others = min(med[h] for h in HYPOTHESES if h != lead)
    to_others = med[lead] / others if others > 0 else 1.0
    limit = MAX_RATIO_TO_OTHERS_LARGE if n >= LARGE_POINTS else MAX_RATIO_TO_OTHERS
    if not controls_first and (n < min_points or to_others > limit or med[lead] > MAX_MEDIAN_M):
        return DatumCheck(n, med, p75, ratio_to_others=to_others,
                          reason=f"no reading stands out: the nearest, {_NAMES[lead]} ({med[lead]:.0f} m), is "
                          f"{to_others:.2f} of the next reading's (a verdict needs >= {min_points} points, "
                          f"<= {limit} and <= {MAX_MEDIAN_M:.0f} m): the controls were not measured")
    controls = float(np.median(np.median(placed.distances(idx)[nh:], axis=1)))
    to_controls = med[lead] / controls if controls > 0 else 1.0
    figures = (n, med, p75, controls, to_controls, to_others)
    if n < min_points:
        return DatumCheck(*figures, reason=f"{n} points measured, fewer than {min_points}: no verdict")
    if to_controls > MAX_RATIO_TO_CONTROLS or to_others > limit or med[lead] > MAX_MEDIAN_M:
        return DatumCheck(*figures, reason=f"no reading stands out: the nearest, {_NAMES[lead]} ({med[lead]:.0f} m), "
                          f"is {to_controls:.2f} of the controls' median and {to_others:.2f} of the next reading's "
                          f"(a verdict needs <= {MAX_RATIO_TO_CONTROLS}, <= {limit} and <= {MAX_MEDIAN_M:.0f} m): "
                          "the points do not follow the streets closely enough (inside blocks, or a sparse network)")
    how = (f"{to_controls:.2f} of the controls' median distance and {to_others:.2f} of the next reading's")
    if lead == "wgs84":
        return DatumCheck(*figures, likely="wgs84",
                          reason=f"as declared the points sit {how}: they follow the streets in WGS84")
    return DatumCheck(*figures, likely=lead, warn=True,
                      reason=f"as {_NAMES[lead]} the points sit {how}: they follow the streets in {_NAMES[lead]}")


def _category_members(categories: Any) -> dict[str, np.ndarray]:
    """``{category: positions}`` from a classifier's matches (``row``, ``category``) or a mapping.

    A callable is called first (without arguments; its data warnings are not repeated here) and an
    object with ``matches`` (:class:`toolkit.facilities.Classified`) gives those.
    """
    if callable(categories):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            categories = categories()
    categories = getattr(categories, "matches", categories)
    if categories is None:
        return {}
    if isinstance(categories, pd.DataFrame):
        if not len(categories):
            return {}
        return {str(c): np.unique(rows.to_numpy(dtype=np.int64))
                for c, rows in categories.groupby("category", sort=True)["row"]}
    return {str(c): np.unique(np.asarray(rows, dtype=np.int64)) for c, rows in categories.items()}


def datum_offset_check(points: Any, net, *, categories: Any = None, min_points: int = MIN_POINTS,
                       max_points: int = MAX_POINTS, seed: int = 0) -> DatumCheck:
    """Measure a point layer read as WGS84 against the streets: as declared, as GCJ-02, as BD-09.

    Parameters
    ----------
    points : GeoSeries, GeoDataFrame or array of shapely geometries
        The layer as read, in WGS84 (a frame in another CRS is converted first). Only
        points are used; other geometries are ignored.
    net : toolkit.network.WalkNetwork
        The study's streets (OSM, so WGS84), in their metric CRS; distances are to the edges
        facilities may be attached to (:meth:`~toolkit.network.WalkNetwork.snap_edge_tree`).
    categories : DataFrame, mapping or callable, optional
        The layer's classes: a classifier's matches (columns ``row``, the position in
        ``points``, and ``category``; or the :class:`~toolkit.facilities.Classified` of
        :func:`toolkit.facilities.classify_source`), ``{category: positions}``, or a function
        returning one of these (called only if needed). When all points together give no
        verdict, each category of at least ``min_points`` measurable points is checked on its
        own (see below).
    min_points : int
        Fewer measured points give no verdict (:data:`MIN_POINTS`).
    max_points : int
        Larger layers (and categories) are measured on a random sample of this many points.
    seed : int
        Seed of that sample (the result is reproducible).

    Returns
    -------
    DatumCheck
        Median and 75th percentile distances per reading for all points, the controls' median,
        the two ratios, the likely datum (or None) and whether to warn. A set of points names
        its nearest reading when that reading's median is at most :data:`MAX_RATIO_TO_CONTROLS`
        of the controls', at most :data:`MAX_RATIO_TO_OTHERS` (:data:`MAX_RATIO_TO_OTHERS_LARGE`
        from :data:`LARGE_POINTS` points) of the smaller of the other two readings' and at most
        :data:`MAX_MEDIAN_M`. All points are judged first; when they name no datum the
        categories are, each on its own (in ``by_category``): a datum named by at least one of
        them and contradicted by none (WGS84 included) is the layer's (``decided_by``: that
        category). ``warn`` is set when the verdict is GCJ-02 or BD-09.

    Examples
    --------
    Points a few metres off the streets of a 100 m grid near Xujiahui, then the same points
    written in GCJ-02 but read as WGS84:

    >>> import numpy as np, geopandas as gpd, shapely
    >>> from toolkit.network import grid_network
    >>> from toolkit.crs import wgs84_to_gcj02
    >>> net = grid_network(40, spacing=100.0)             # EPSG:32651, about 121.43 E 31.17 N
    >>> rng = np.random.default_rng(1)
    >>> x = 350_000 + rng.integers(5, 35, 300) * 100 + rng.uniform(-4, 4, 300)
    >>> y = 3_450_000 + rng.uniform(500, 3500, 300)
    >>> pts = gpd.GeoSeries(shapely.points(x, y), crs=net.crs).to_crs(4326)
    >>> datum_offset_check(pts, net).likely
    'wgs84'
    >>> lon, lat = wgs84_to_gcj02(pts.x, pts.y)
    >>> check = datum_offset_check(gpd.GeoSeries(shapely.points(lon, lat), crs=4326), net)
    >>> check.likely, check.warn
    ('gcj02', True)
    >>> datum_offset_check(pts.head(60), net).likely is None    # too few points for a verdict
    True
    """
    placed = _Placements(points, net, max_points=max_points, seed=seed)
    whole = _verdict(placed, placed.sample(None, max_points), min_points)
    if whole.likely is not None or whole.n_points < min_points or categories is None:
        return whole
    members = _category_members(categories)  # classified only now, when needed
    n_all = len(placed.pos)
    subsets: dict[str, DatumCheck] = {}
    for cat, rows in members.items():
        idx = placed.sample(rows, max_points)
        n_in = int(np.isin(placed.pos, rows).sum())
        if n_in < min_points or n_in == n_all:  # too few to judge; or all points again
            continue
        subsets[cat] = _verdict(placed, idx, min_points, controls_first=False)
    named = {c: s.likely for c, s in subsets.items() if s.likely is not None}
    base = dataclasses.replace(whole, by_category=subsets)
    if not named:
        if not subsets:
            return base
        return dataclasses.replace(base, reason=f"{whole.reason}; nor does any of its {len(subsets)} categories "
                                   f"of {min_points} points or more ({', '.join(subsets)}) on its own")
    said = sorted(set(named.values()), key=HYPOTHESES.index)
    if len(said) > 1:
        who = "; ".join(f"{', '.join(c for c in named if named[c] == h)}: {_NAMES[h]}" for h in said)
        return dataclasses.replace(base, reason=f"{whole.reason}; its categories disagree ({who}): no verdict")
    h = said[0]
    # the category that names it most clearly speaks for the layer
    # (cast: a category names a datum only from its ratio to the controls, so it has one)
    lead = min(named, key=lambda c: cast(float, subsets[c].ratio_to_controls))
    others = [c for c in named if c != lead]
    also = f" (so do {', '.join(others)})" if others else ""
    return dataclasses.replace(
        base, likely=h, warn=h in _PRODUCTS, decided_by=lead,
        reason=f"all points together name no datum, but the {lead} points on their own do{also} and no other "
               f"category names another: {subsets[lead].reason}")


#: Point tables read as WGS84 when nothing is declared (:func:`toolkit.io.read_layer`).
_TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf")


def _file_crs(path: Path, layer: str | None) -> Any:
    """The CRS a vector file declares itself (None for tables and JSON records: read as WGS84)."""
    if path.name.lower().endswith(_TABLE_SUFFIXES):
        return None
    try:
        import pyogrio

        return pyogrio.read_info(path, layer=layer).get("crs")
    except Exception:  # a JSON list of records is no vector file: read as WGS84
        return None


def check_source(raw: gpd.GeoDataFrame, net, source: Any, *, label: str | None = None,
                 path: str | Path | None = None, categories: Any = None) -> dict[str, Any] | None:
    """Check one source read as WGS84 against the streets; warn when it looks like GCJ-02 or BD-09.

    Parameters
    ----------
    raw : GeoDataFrame
        The source's rows as read (in WGS84, :func:`toolkit.io.read_layer`).
    net : toolkit.network.WalkNetwork
        The study's streets.
    source : toolkit.config.Source
        Where the rows came from and the CRS declared for them.
    label, path : optional
        The name used in the warning (``source.label()`` when omitted) and the resolved file.
    categories : optional
        How the rows are classified (:func:`toolkit.facilities.classify_source`, its matches, or
        a function returning them, called only if needed): a mixed layer whose points together
        name no datum is judged by category too (:func:`datum_offset_check`).

    Returns
    -------
    dict or None
        The run.json record (:meth:`DatumCheck.as_dict`, what was declared and the
        ``warning``, if any), or None when the check does not apply: a declared GCJ-02/BD-09
        or projected CRS, an OSM file (WGS84 by definition) or no point geometries. When GCJ-02 or BD-09 is likely a
        :class:`~toolkit.io.DataWarning` names the file and the datum; the run goes on as declared.
    """
    path = Path(path) if path is not None else source.resolve()
    label = label or source.label()
    if path.name.lower().endswith(_OSM_SUFFIXES):
        return None
    declared = source.declared_crs()
    file_crs = _file_crs(path, getattr(source, "layer", None)) if declared is None else None
    if not declared_as_wgs84(declared, file_crs):
        return None
    g = np.asarray(raw.geometry.values)
    if not (shapely.get_type_id(g) == 0).any():
        return None
    check = datum_offset_check(raw, net, categories=categories)
    # a registered dataset is named by its file too: that is what gets a crs declared
    msg = check.message(label if path.name in label else f"{label} ({path.name})")
    if msg:
        warnings.warn(msg, DataWarning, stacklevel=2)
    if declared is not None:
        as_declared = str(declared)
    else:
        as_declared = "none (the file's own CRS)" if file_crs else "none (read as WGS84)"
    return {"declared_crs": as_declared, **check.as_dict(), **({"warning": msg} if msg else {})}


def check_sources(sources: Any, net, *, skip: Any = ()) -> dict[str, dict[str, Any]]:
    """:func:`check_source` for layers not read yet (heritage registers): each read only if it applies.

    ``sources`` is an iterable of :class:`toolkit.config.Source`; those labelled in ``skip``
    (already checked as facilities) and those declared GCJ-02, BD-09 or projected are not
    read. The reader's own data warnings are left to the step that uses the layer.
    """
    from .io import read_layer

    out: dict[str, dict[str, Any]] = {}
    for src in sources:
        if src is None or src.label() in skip or src.label() in out:
            continue
        declared = src.declared_crs()
        if declared is not None and not declared_as_wgs84(declared):
            continue  # converted on import: nothing to check, nothing to read
        path = src.resolve()
        if path.name.lower().endswith(_OSM_SUFFIXES):
            continue
        if declared is None and not declared_as_wgs84(None, _file_crs(path, src.layer)):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            raw = read_layer(path, **src.reader_options())
        rec = check_source(raw, net, src, path=path)
        if rec is not None:
            out[src.label()] = rec
    return out
