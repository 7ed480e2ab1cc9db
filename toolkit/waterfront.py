"""Waterfront corridors: where the public can reach the shore, and how continuous that is.

The module turns three kinds of water data into one *shoreline* on the study's
land side and measures it against the walking network:

* ``water``: polygons (OSM ``natural=water``, ``waterway=riverbank``...), used as they are;
* ``other_water``: polygons cut out of the land like ``water`` (ponds, creeks, lakes in
  parks) whose edges are *not* shore: the waterfront is the bank of the water that
  matters to the study (the Huangpu), and a pond in a park is no waterfront;
* ``rivers``: centrelines with a width, buffered by half the width with flat
  ends. No width is ever assumed: a river without ``width_m`` (or a width
  column) is an :class:`~toolkit.errors.InputError`;
* ``coastlines``: lines drawn with the land on their **left** (the OSM
  ``natural=coastline`` convention). They are shorelines already, so they are
  not turned into polygons; their left side is taken as land for the corridor
  band and the right side as sea in :func:`land_area`, which splits the area
  along them (closed against the area's outline) and removes the sea faces.
  A coastline layer may be an OSM file: its ``natural=coastline`` ways are
  joined end to end (:func:`read_osm_coastlines`, :func:`coast_lines`).

Definitions (all distances in metres of the projected study CRS):

* **corridor band**: land within ``corridor_m`` of the shoreline (the water is
  cut out; along a coastline only the left side is used).
* **shoreline with access**: a point of the shoreline (sampled every
  ``sample_m``) has access when a walkable street piece lying in the corridor
  band is within ``corridor_m`` of it, i.e. one can walk a public street that
  runs alongside that stretch of shore. Runs of samples become segments;
  gaps shorter than ``min_gap_m`` next to an access run count as access.
* **access point**: for every street edge whose land part inside the band
  comes within ``access_distance_m`` of the shoreline, the point of that edge
  nearest the shore. Points closer than ``dedup_m`` to a point nearer the
  shore are dropped, so a junction of several edges counts once.

"No water" is never reported as zeros: :func:`water_polygons` returns ``None``,
:func:`absent_reason` says why, and :func:`absent_summary` gives
``{"status": "absent", "reason": ...}`` so callers leave the waterfront
columns out of their layers. :func:`analyse_waterfront` runs the whole chain.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .coverage import point_distances
from .crs import ensure_projected
from .errors import InputError
from .io import DataWarning, filter_rows, read_layer
from .network import WalkNetwork
from .overlay_config import HUANGPU_TYPICAL_WIDTH_M, RiverSource, WaterfrontConfig, _check_width
from .snapping import Snapped, snap_points
from .sources import Source

__all__ = [
    "AreaLike",
    "LandSplit",
    "WaterfrontResult",
    "absent_reason",
    "absent_summary",
    "analyse_waterfront",
    "bank_source",
    "bank_water",
    "block_waterfront",
    "coast_lines",
    "corridor_band",
    "land_area",
    "read_osm_coastlines",
    "shoreline",
    "split_land",
    "water_polygons",
    "waterfront_access"
]

#: Tolerance (m) for removing open river ends from the shoreline and for
#: telling apart shore pieces that coincide.
_TOL_M = 0.01
#: Shoreline pieces shorter than this are overlay slivers, not shore.
_MIN_PIECE_M = 1.0
#: A street reaching further than this over the water is a bridge or tunnel.
_CROSSING_DEPTH_M = 5.0
#: The water and the corridor band are cut into quadtree pieces of at most about
#: this many vertices, so that a street edge is overlaid with a few hundred
#: vertices rather than the whole river (see :class:`_Tiles`).
_TILE_VERTICES = 256
#: How far (m) each piece reaches beyond its quadtree cell: an edge this short
#: fits a smallest cell wherever it lies; a longer one takes a larger cell.
_TILE_MARGIN_M = 100.0

#: A study area: a frame (projected on the fly) or a bare geometry already in the study CRS.
AreaLike: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry

#: Files read as OpenStreetMap data (with pyosmium) rather than through GDAL.
_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")
#: How far (m) beside a coast segment its two sides are probed: far below any
#: real face width, far above the rounding of coordinates in the millions.
_SIDE_M = 0.005

_POLY_TYPES = ("Polygon", "MultiPolygon")
_LINE_TYPES = ("LineString", "MultiLineString", "LinearRing")


# ----------------------------------------------------------------- helpers
def _rows(labels: Any, n: int = 10) -> str:
    labels = list(labels)
    s = ", ".join(str(x) for x in labels[:n])
    return s + (", ..." if len(labels) > n else "")


def _area_geom(area: AreaLike, crs: Any) -> shapely.Geometry:
    """The area as one valid shapely geometry in ``crs`` (frames are projected, bare geometries trusted)."""
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        g = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        if crs is not None and g.crs is not None and not pyproj.CRS.from_user_input(crs).equals(g.crs):
            g = g.to_crs(crs)
        ensure_projected(g if crs is None else crs, "the study area")
        geom = shapely.union_all(np.asarray(g.values))
    else:
        geom = area
    return shapely.make_valid(geom)


def _is_osm(path: Path) -> bool:
    return path.name.lower().endswith(_OSM_SUFFIXES)


def _read(src: Source, crs: Any, coast: bool = False) -> tuple[gpd.GeoDataFrame, str]:
    path = src.resolve()
    if _is_osm(path):
        if coast:
            gdf = read_osm_coastlines(path)
            if src.where:
                gdf = filter_rows(gdf, src.where, source=str(path))
            return gdf.to_crs(crs), str(path)
        if src.layer is None:
            # GDAL's OSM driver would hand over its first layer, the tagged points, and the
            # water would be refused as "no polygon" with no hint of the real cause.
            raise InputError("an OSM file holds several layers (points, lines, multipolygons) and none was named",
                             source=str(path), field="layer",
                             fix="name the layer and the features, e.g. { path = '...', layer = 'multipolygons', "
                             "where = { natural = 'water' } } or layer = 'lines', where = { waterway = 'river' }; "
                             "or export the water to GeoJSON / GPKG")
    return read_layer(path, **src.reader_options()).to_crs(crs), str(path)


def read_osm_coastlines(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """The ``natural=coastline`` ways of an OSM file, as WGS84 lines in file order.

    Parameters
    ----------
    path : path-like
        ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` (read with pyosmium,
        node locations included).

    Returns
    -------
    GeoDataFrame
        One LineString per way (a way whose nodes are partly missing from the
        extract gives one line per run of located nodes), with ``osmid`` and a
        column per tag, in EPSG:4326.

    Raises
    ------
    InputError
        The file is missing or not OSM, or holds no coastline way with two
        located nodes.
    """
    import osmium

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p), fix="check the coastline path in the study config")
    rows: list[dict[str, Any]] = []
    geoms: list[shapely.LineString] = []
    cut = 0
    try:
        fp = osmium.FileProcessor(str(p)).with_locations().with_filter(osmium.filter.KeyFilter("natural"))
        for obj in fp:
            # isinstance rather than obj.is_way(): the same test, and it narrows pyosmium's object union
            if not isinstance(obj, osmium.osm.Way) or obj.tags.get("natural") != "coastline":
                continue
            tags: dict[str, Any] = {t.k: t.v for t in obj.tags}
            tags["osmid"] = obj.id
            # An extract cut at its edge leaves ways with nodes it does not hold: each run of
            # located nodes is kept as drawn, never bridged by a straight line across the gap.
            run: list[tuple[float, float]] = []
            runs = []
            for n in obj.nodes:
                if n.location.valid():
                    run.append((n.location.lon, n.location.lat))
                else:
                    runs.append(run)
                    run = []
            runs.append(run)
            kept = [r for r in runs if len(r) >= 2]
            cut += len(kept) != 1 or len(kept[0]) != len(obj.nodes)
            for r in kept:
                rows.append(tags)
                geoms.append(shapely.LineString(r))
    except RuntimeError as exc:
        raise InputError(f"cannot read the OSM file: {exc}", source=str(p),
                         fix="check that it is OSM XML or PBF (.osm, .osm.bz2, .osm.pbf)") from None
    if not geoms:
        raise InputError("the OSM file has no natural=coastline way with located nodes", source=str(p),
                         field="natural=coastline",
                         fix="extract the coastline for the study area (with its nodes, e.g. osmium extract "
                         "--strategy complete_ways), or give a coastline GeoJSON / GPKG")
    if cut:
        warnings.warn(f"{p}: {cut} coastline ways have nodes missing from the file; their located parts "
                      "are used as separate lines", DataWarning, stacklevel=3)
    df = pd.DataFrame.from_records(rows)
    return gpd.GeoDataFrame(df, geometry=geoms, crs="EPSG:4326")


def _keep_types(gdf: gpd.GeoDataFrame, types: tuple[str, ...], *, where: str, what: str,
                fix: str) -> gpd.GeoDataFrame:
    """Keep the rows of the wanted geometry types; extract them from collections; report the rest."""
    g = np.asarray(gdf.geometry.values, dtype=object).copy()
    is_coll = shapely.get_type_id(g) == 7
    for i in np.flatnonzero(is_coll):
        parts = [p for p in shapely.get_parts(g[i]) if p.geom_type in types]
        g[i] = shapely.union_all(parts) if parts else g[i]
    ok = np.isin(shapely.get_type_id(g), [{"Point": 0, "LineString": 1, "LinearRing": 2, "Polygon": 3,
                                            "MultiLineString": 5, "MultiPolygon": 6}[t] for t in types])
    if not ok.any():
        raise InputError(f"no feature is a {what}", source=where, field="geometry", fix=fix)
    if not ok.all():
        kinds = pd.Series(shapely.get_type_id(g[~ok])).map(
            {0: "points", 1: "lines", 2: "lines", 3: "polygons", 4: "points", 5: "lines", 6: "polygons",
             7: "collections"}).value_counts().to_dict()
        warnings.warn(f"{where}: ignored {int((~ok).sum())} features that are not {what}s "
                      f"({', '.join(f'{v} {k}' for k, v in kinds.items())}; rows {_rows(gdf.index[~ok])})",
                      DataWarning, stacklevel=3)
    out = gdf.loc[ok].copy()
    out.geometry.values[:] = g[ok]
    return out


# ------------------------------------------------------------------ water
def _river_widths(rs: RiverSource, gdf: gpd.GeoDataFrame, where: str) -> np.ndarray:
    _check_width(rs, where)
    if rs.width_field is None:
        return np.full(len(gdf), float(cast(float, rs.width_m)))  # no width column: _check_width made sure of it
    if rs.width_field not in gdf.columns:
        raise InputError(f"the width column {rs.width_field!r} does not exist", source=where, field=rs.width_field,
                         fix=f"use one of: {', '.join(map(str, gdf.columns[:30]))}; or give width_m = ...")
    w = np.array(pd.to_numeric(gdf[rs.width_field], errors="coerce"), dtype=float)
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        if rs.width_m is None:
            raise InputError(
                f"{int(bad.sum())} river lines have no usable width in {rs.width_field!r} "
                f"(rows {_rows(gdf.index[bad])})", source=where, field=rs.width_field,
                fix="fill the column with widths in metres, or add width_m = ... for the lines without one "
                f"(the Huangpu in central Shanghai is about {HUANGPU_TYPICAL_WIDTH_M:.0f} m)")
        warnings.warn(f"{where}: {int(bad.sum())} river lines have no usable {rs.width_field!r}; "
                      f"width_m = {rs.width_m:g} used for them (rows {_rows(gdf.index[bad])})",
                      DataWarning, stacklevel=3)
        w[bad] = float(rs.width_m)
    return w


def _flat_cap(poly: shapely.Geometry, end: np.ndarray, half: float) -> list[shapely.LineString]:
    """The flat end-cap edges of a line buffer at ``end``.

    GEOS puts the two cap corners exactly ``half`` from the end point on the
    line's final direction, so the cap is the ring edge whose both vertices sit
    at that distance and which passes through the end point.
    """
    out = []
    for part in shapely.get_parts(poly):
        r = np.asarray(part.exterior.coords)
        a, b = r[:-1], r[1:]
        da = np.hypot(*(a - end).T)
        db = np.hypot(*(b - end).T)
        ab = b - a
        t = np.clip(np.einsum("ij,ij->i", end - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-300), 0, 1)
        dseg = np.hypot(*(a + t[:, None] * ab - end).T)
        lim = half * (1 + 1e-7) + 1e-6
        pick = (da <= lim) & (db <= lim) & (dseg <= 1e-6 * half + 1e-6)
        out += [shapely.LineString([a[i], b[i]]) for i in np.flatnonzero(pick)]
    return out


def _river_polygons(lines: np.ndarray, widths: np.ndarray,
                    ) -> tuple[np.ndarray, list[shapely.LineString]]:
    """Buffer river parts by half their width with flat ends; join parts that meet; list open ends.

    Ends of two parts closer than half the narrower width are one river with a
    digitising gap (the shared Huangpu pieces are ~10 m apart): the gap is
    filled with the hull of two discs, as a round join would. Other ends are
    *open*: the data stops there, the river does not, so their flat caps are
    returned to be kept out of the shoreline.
    """
    half = widths / 2.0
    buffers = shapely.buffer(lines, half, cap_style="flat", join_style="round")
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(lines, 0)),
                           shapely.get_coordinates(shapely.get_point(lines, -1))])
    owner = np.concatenate([np.arange(len(lines)), np.arange(len(lines))])
    h = np.concatenate([half, half])
    joined = np.zeros(len(ends), dtype=bool)
    extra: list[list[shapely.Geometry]] = [[] for _ in range(len(lines))]
    pts = shapely.points(ends)
    tree = shapely.STRtree(pts)
    for i in range(len(ends)):
        for j in tree.query(pts[i], predicate="dwithin", distance=h[i]):
            if j <= i or np.hypot(*(ends[i] - ends[j])) > min(h[i], h[j]):
                continue
            joined[i] = joined[j] = True
            hull = shapely.convex_hull(shapely.union(pts[i].buffer(h[i]), pts[j].buffer(h[j])))
            extra[owner[i]].append(hull)
    polys = np.array([shapely.union_all([p, *x]) if x else p for p, x in zip(buffers, extra, strict=True)],
                     dtype=object)
    caps: list[shapely.LineString] = []
    for e in np.flatnonzero(~joined):
        caps += _flat_cap(buffers[owner[e]], ends[e], h[e])
    return polys, caps


def water_polygons(cfg: WaterfrontConfig, crs: Any, area: AreaLike | None = None) -> gpd.GeoDataFrame | None:
    """Water as polygons: the ``water`` layers, the rivers buffered by half their width, and ``other_water``.

    Coastlines add nothing here: they are shorelines already (see
    :func:`coast_lines`).

    Parameters
    ----------
    cfg : WaterfrontConfig
    crs : CRS-like
        The study's projected, metric CRS.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        The study area (bare geometries are taken to be in ``crs``). Water is
        clipped to it buffered by ``cfg.corridor_m``.

    Returns
    -------
    GeoDataFrame or None
        One row per input feature that has water near the area, on a new
        ``water_id`` index, with ``source`` (layer label), ``source_row`` (its
        row label there), ``kind`` (``'water'``, ``'river'`` or ``'other'``,
        the ``other_water`` that is land removed but no shore) and ``width_m``
        (rivers). ``attrs["open_ends"]`` holds the flat caps where a river line
        stops (a data edge, not a shore); :func:`shoreline` leaves them out.
        ``None`` when no layer is configured or none has water within
        ``corridor_m`` of the area.

    Raises
    ------
    InputError
        A river without a width, a water layer without polygons, a river layer
        without lines.

    Examples
    --------
    >>> cfg = WaterfrontConfig(water=[Source(dataset="geofabrik_water_a", where={"fclass": "riverbank"})])
    >>> water_polygons(cfg, "EPSG:32651", district)["kind"].unique()  # doctest: +SKIP
    array(['water'], dtype=object)
    """
    ensure_projected(crs, "the waterfront CRS")
    clip = _area_geom(area, crs).buffer(cfg.corridor_m) if area is not None else None
    frames = []
    for kind, sources in (("water", cfg.water), ("other", cfg.other_water)):
        for src in sources:
            gdf, where = _read(src, crs)
            gdf = _keep_types(gdf, _POLY_TYPES, where=where, what="polygon",
                              fix="give water polygons here; river centrelines go under rivers (with width_m), "
                              "coastlines under coastlines")
            frames.append(pd.DataFrame({"source": src.label(), "source_row": gdf.index, "kind": kind,
                                        "width_m": np.nan, "geometry": np.asarray(gdf.geometry.values)}))
    open_ends: list[shapely.LineString] = []
    for rs in cfg.rivers:
        gdf, where = _read(rs.source, crs)
        gdf = _keep_types(gdf, _LINE_TYPES, where=where, what="line",
                          fix="give centrelines here; water polygons go under water")
        gdf = gdf.assign(_w=_river_widths(rs, gdf, where), _row=gdf.index)
        parts = gdf.explode(index_parts=False).reset_index(drop=True)
        flat = (parts.geometry.is_empty | (parts.geometry.length == 0)).to_numpy()
        if flat.any():
            warnings.warn(f"{where}: ignored {int(flat.sum())} river lines of zero length "
                          f"(rows {_rows(parts.loc[flat, '_row'])})", DataWarning, stacklevel=2)
            parts = parts.loc[~flat]
        polys, caps = _river_polygons(np.asarray(parts.geometry.values), parts["_w"].to_numpy())
        open_ends += caps
        per = gpd.GeoDataFrame({"_row": parts["_row"].to_numpy(), "_w": parts["_w"].to_numpy()},
                               geometry=polys, crs=crs).dissolve("_row", aggfunc="max", sort=False)
        frames.append(pd.DataFrame({"source": rs.source.label(), "source_row": per.index, "kind": "river",
                                    "width_m": per["_w"].to_numpy(), "geometry": np.asarray(per.geometry.values)}))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    # A feature selected as bank water and again as other water (a filter by class keeps the
    # river too) is bank water, once: it must not be counted, or cut out, twice.
    key = df["source"].astype(str) + "\x00" + df["source_row"].astype(str)
    df = df.loc[~((df["kind"] == "other") & key.isin(key[df["kind"] == "water"]))]
    geoms = np.asarray(df["geometry"].to_numpy(), dtype=object)
    if clip is not None:
        shapely.prepare(clip)
        near = shapely.intersects(clip, geoms)
        df, geoms = df.loc[near], shapely.intersection(geoms[near], clip)
        geoms = np.array([_polygonal(g) for g in geoms], dtype=object)
        keep = ~shapely.is_empty(geoms)
        df, geoms = df.loc[keep], geoms[keep]
    if len(df) == 0:
        return None
    out = gpd.GeoDataFrame(df.drop(columns="geometry").reset_index(drop=True), geometry=list(geoms), crs=crs)
    out.index.name = "water_id"
    out.attrs["open_ends"] = shapely.multilinestrings(open_ends) if open_ends else None
    return out


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    if g.geom_type in _POLY_TYPES:
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in _POLY_TYPES]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def coast_lines(cfg: WaterfrontConfig, crs: Any, area: AreaLike | None = None) -> gpd.GeoDataFrame | None:
    """The coastline layers, their ways joined end to end, clipped to the area buffered by ``cfg.corridor_m``.

    Coastlines have the land on their **left** (OSM ``natural=coastline``). An
    OSM coastline is many ways, each starting where the previous one ends: the
    ways of a layer are joined there into one line, direction kept, and the
    direction is kept through the clip too (it says which side is land). A
    layer may be an OSM file (``.osm``, ``.osm.pbf``...): its
    ``natural=coastline`` ways are read (:func:`read_osm_coastlines`).

    Doubtful lines are used as drawn and reported with a
    :class:`~toolkit.io.DataWarning`:

    * more than two thirds of the area would be sea (see :func:`land_area`):
      the lines are probably drawn the wrong way round;
    * a coastline ends inside the area: it cannot close the sea off, so no sea
      is removed beside it.

    Parameters
    ----------
    cfg : WaterfrontConfig
    crs : CRS-like
        The study's projected, metric CRS.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        The study area (bare geometries in ``crs``).

    Returns
    -------
    GeoDataFrame or None
        ``source``, ``source_row`` (row label of the first, in the layer's
        row order, of the ways joined into the line), ``n_ways`` (how many),
        ``kind`` (``'coast'``);
        ``None`` when there is no coastline near the area.

    Raises
    ------
    InputError
        A layer without lines, or an OSM file without coastline ways.
    """
    ensure_projected(crs, "the waterfront CRS")
    a = _area_geom(area, crs) if area is not None else None
    frames = []
    for src in cfg.coastlines:
        gdf, where = _read(src, crs, coast=True)
        gdf = _keep_types(gdf, _LINE_TYPES, where=where, what="line",
                          fix="coastlines are lines with the land on their left (OSM natural=coastline)")
        geoms, rows, n_ways = _join_ways(gdf, where)
        if a is not None:
            clip = a.buffer(cfg.corridor_m)
            near = shapely.intersects(clip, geoms)
            geoms, rows, n_ways = geoms[near], rows[near], n_ways[near]
            geoms = np.array([_oriented_like(shapely.intersection(g, clip), g) for g in geoms], dtype=object)
            keep = ~shapely.is_empty(geoms)
            geoms, rows, n_ways = geoms[keep], rows[keep], n_ways[keep]
            _warn_if_open(geoms, a, where)
            _warn_if_reversed(geoms, a, where)
        frames.append(gpd.GeoDataFrame({"source": src.label(), "source_row": rows, "n_ways": n_ways,
                                        "kind": "coast"}, geometry=list(geoms), crs=crs))
    if not frames or sum(len(f) for f in frames) == 0:
        return None
    return pd.concat(frames, ignore_index=True)


def _join_ways(gdf: gpd.GeoDataFrame, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coastline ways joined where one ends at the start of the next, direction kept.

    Ends closer than ``_TOL_M`` are taken as the same node first: two layers
    exported from one OSM node may differ by rounding, and a gap of a hair
    would leave the sea open. Returns the joined lines, for each the row label
    of the first (in row order) of its ways, and how many ways it holds.
    """
    parts = gdf.explode(index_parts=False)
    labels = parts.index.to_numpy()
    xy = [shapely.get_coordinates(g) for g in parts.geometry.values]
    ok = np.array([len(c) >= 2 and bool(np.any(c[1:] != c[:-1])) for c in xy], dtype=bool)
    if not ok.all():
        warnings.warn(f"{where}: ignored {int((~ok).sum())} coastline lines of zero length "
                      f"(rows {_rows(labels[~ok])})", DataWarning, stacklevel=3)
    xy = [c for c, k in zip(xy, ok, strict=True) if k]
    labels = labels[ok]
    if not xy:
        empty = np.zeros(0, dtype=object)
        return empty, labels, np.zeros(0, dtype=np.int64)
    n = len(xy)
    ends = np.concatenate([[c[0] for c in xy], [c[-1] for c in xy]])
    pts = shapely.points(ends)
    i, j = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=_TOL_M)
    root = np.arange(2 * n)

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for p, q in zip(i[i < j], j[i < j], strict=True):
        rp, rq = find(p), find(q)
        if rp != rq:
            root[max(rp, rq)] = min(rp, rq)
    rep = ends[[find(k) for k in range(2 * n)]]
    for k, c in enumerate(xy):
        c[0], c[-1] = rep[k], rep[n + k]
    ways = np.array([shapely.LineString(c) for c in xy], dtype=object)
    lines = np.asarray(shapely.get_parts(shapely.line_merge(shapely.multilinestrings(ways), directed=True)))
    # Each way lies on the line it went into: its middle point finds that line.
    wi, li = shapely.STRtree(lines).query(shapely.line_interpolate_point(ways, 0.5, normalized=True),
                                          predicate="dwithin", distance=_TOL_M)
    o = np.lexsort((li, wi))
    wi, li = wi[o], li[o]
    first = np.full(len(lines), n, dtype=np.int64)
    np.minimum.at(first, li, wi)
    count = np.bincount(li[np.r_[True, wi[1:] != wi[:-1]]], minlength=len(lines)) if len(wi) else \
        np.zeros(len(lines), dtype=np.int64)
    rows = np.array([labels[f] if f < n else None for f in first], dtype=object)
    return lines, rows, count.astype(np.int64)


def _oriented_like(piece: shapely.Geometry, original: shapely.Geometry) -> shapely.Geometry:
    """Lines of ``piece`` pointing the same way as ``original`` (overlays may reverse them)."""
    lines = [p for p in shapely.get_parts(shapely.line_merge(piece)) if p.geom_type == "LineString"]
    out = []
    for ln in lines:
        s = original.project(shapely.Point(ln.coords[0]))
        e = original.project(shapely.Point(ln.coords[-1]))
        out.append(ln.reverse() if e < s else ln)
    return shapely.multilinestrings(out) if out else shapely.MultiLineString()


def _line_parts(geoms: Any) -> np.ndarray:
    """The LineStrings of some line geometries (rings opened), zero-length pieces left out."""
    parts = [p for g in geoms for p in shapely.get_parts(g) if p.geom_type in _LINE_TYPES and p.length > 0]
    return np.array([shapely.LineString(p.coords) if p.geom_type == "LinearRing" else p for p in parts],
                    dtype=object)


def _open_ends(lines: np.ndarray) -> np.ndarray:
    """The end points of the lines that are not closed rings."""
    lines = lines[~shapely.is_closed(lines)]
    return shapely.points(np.concatenate([shapely.get_coordinates(shapely.get_point(lines, 0)),
                                          shapely.get_coordinates(shapely.get_point(lines, -1))]))


def _warn_if_open(lines: np.ndarray, area: shapely.Geometry, where: str) -> None:
    ends = _open_ends(_line_parts(lines))
    if not len(ends):
        return
    inside = shapely.contains(area, ends) & ~shapely.dwithin(ends, shapely.boundary(area), _TOL_M)
    if inside.any():
        x, y = shapely.get_coordinates(ends[inside])[0]
        k = int(inside.sum())
        warnings.warn(f"{where}: {k} coastline {'end lies' if k == 1 else 'ends lie'} inside the study area "
                      f"(the first at x={x:.1f}, y={y:.1f} in the study CRS): the sea beside an open end cannot "
                      "be closed off, so none is removed there; extend the coastline beyond the area",
                      DataWarning, stacklevel=3)


def _warn_if_reversed(lines: np.ndarray, area: shapely.Geometry, where: str) -> None:
    split = _coast_faces(area, lines)
    if split is None:
        return
    faces, sea = split
    sea_m2 = float(shapely.area(faces[sea]).sum())
    # Study areas are drawn around streets: two thirds of one at sea is far more
    # likely a coastline drawn backwards than a study of open water.
    if sea_m2 > 2 * (area.area - sea_m2) and sea_m2 > 0:
        warnings.warn(f"{where}: {sea_m2 / area.area:.0%} of the study area lies to the right of the coastline, "
                      "which is taken as sea (OSM coastlines have the land on their left); reverse the lines if "
                      "they are drawn the other way round", DataWarning, stacklevel=3)


# --------------------------------------------------------------- shoreline
def bank_water(water: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The rows of :func:`water_polygons` whose edges are shore: all but the ``other_water``.

    Parameters
    ----------
    water : GeoDataFrame or None
        From :func:`water_polygons`.

    Returns
    -------
    GeoDataFrame or None
        ``None`` when no bank water is left.

    Examples
    --------
    >>> bank_water(water_polygons(cfg, crs, district))["kind"].unique()  # doctest: +SKIP
    array(['water'], dtype=object)
    """
    if water is None or len(water) == 0:
        return None
    if "kind" not in water.columns:
        return water
    out = water.loc[water["kind"] != "other"]
    return out if len(out) else None


def _water_union(water: gpd.GeoDataFrame | None, bank: bool = True) -> shapely.Geometry | None:
    """The union of the bank water (``bank``) or of all water, land cut-outs included."""
    if bank:
        water = bank_water(water)
    if water is None or len(water) == 0:
        return None
    u = shapely.union_all(np.asarray(water.geometry.values))
    return None if u.is_empty else u


def shoreline(water: gpd.GeoDataFrame | None, area: AreaLike,
              coast: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The shore on the study's land side, as connected reaches.

    The boundary of the water union, less the open river ends, intersected with
    the study area: where the area reaches into the water (the Xuhui district
    runs to the Huangpu centreline) the near bank lies inside it and the far
    bank does not. Coastline pieces inside the area are added unless they run
    along (or inside) the water polygons.

    Parameters
    ----------
    water : GeoDataFrame or None
        From :func:`water_polygons`.
    area : GeoDataFrame, GeoSeries or shapely geometry
        The study area, in the same CRS as ``water``.
    coast : GeoDataFrame, optional
        From :func:`coast_lines`.

    Returns
    -------
    GeoDataFrame
        ``reach_id`` (0..n-1), ``kind`` (``'bank'`` or ``'coast'``) and
        ``length_m``; empty when no shore lies in the area.
    """
    frame = water if water is not None else coast
    crs = frame.crs if frame is not None else getattr(area, "crs", None)
    if crs is not None:
        ensure_projected(crs, "the water layers")
    a = _area_geom(area, crs)
    shapely.prepare(a)
    kinds, lines = [], []
    u = _water_union(water)
    if u is not None:
        b = u.boundary
        oe = water.attrs.get("open_ends") if water is not None else None
        if oe is not None and not oe.is_empty:
            b = shapely.difference(b, oe.buffer(_TOL_M, cap_style="flat"))
        for ln in _lines(shapely.intersection(b, a)):
            kinds.append("bank")
            lines.append(ln)
    if coast is not None and len(coast):
        c = [shapely.intersection(g, a) for g in coast.geometry.values]
        if u is not None:
            near = u.buffer(_TOL_M)
            c = [shapely.difference(g, near) for g in c]
        for orig, g in zip(coast.geometry.values, c, strict=True):
            for ln in _lines(_oriented_like(g, orig), merge=False):
                kinds.append("coast")
                lines.append(ln)
    keep = [i for i, ln in enumerate(lines) if ln.length >= _MIN_PIECE_M]
    out = gpd.GeoDataFrame({"reach_id": np.arange(len(keep)), "kind": [kinds[i] for i in keep],
                            "length_m": [lines[i].length for i in keep]},
                           geometry=[lines[i] for i in keep], crs=crs)
    return out


def _lines(g: shapely.Geometry, merge: bool = True) -> list[shapely.LineString]:
    parts = [p for p in shapely.get_parts(g) if p.geom_type in _LINE_TYPES]
    if g.geom_type == "GeometryCollection":
        parts = [q for p in parts for q in shapely.get_parts(p)]
    if not parts:
        return []
    m = shapely.line_merge(shapely.multilinestrings(parts)) if merge else shapely.multilinestrings(parts)
    return [p for p in shapely.get_parts(m) if p.geom_type == "LineString"]


@dataclass
class LandSplit:
    """A study area parted into land, inland water and sea (see :func:`split_land`).

    Attributes
    ----------
    land : shapely geometry
        Where blocks may be drawn.
    water : shapely geometry
        The part of the area under the water polygons and rivers.
    sea : shapely geometry
        The part of the rest lying on the sea side of the coastlines.
    area_m2, water_m2, sea_m2 : float
        The area and what was removed from it, in m2 (``water_m2`` and
        ``sea_m2`` are what the land lost, so they add up exactly).
    """

    land: shapely.Geometry
    water: shapely.Geometry
    sea: shapely.Geometry
    area_m2: float
    water_m2: float
    sea_m2: float

    @property
    def land_m2(self) -> float:
        """Area of the land, in m2."""
        return float(self.land.area)

    def details(self) -> dict[str, float]:
        """Areas in km2 (3 decimals) for run.json."""
        return {k: round(v / 1e6, 3) for k, v in (("area_km2", self.area_m2), ("water_km2", self.water_m2),
                                                  ("sea_km2", self.sea_m2), ("land_km2", self.land_m2))}

    def note(self) -> str | None:
        """One sentence on what was taken out of the area, or ``None`` when nothing was."""
        d = self.details()
        gone = []
        if self.sea_m2 > 0:
            gone.append(f"{d['sea_km2']:.3f} km2 of sea (the sea side of the coastlines)")
        if self.water_m2 > 0:
            gone.append(f"{d['water_km2']:.3f} km2 of water (water polygons and rivers)")
        if not gone:
            return None
        return (f"blocks are drawn on land only: {' and '.join(gone)} removed from the {d['area_km2']:.3f} km2 "
                f"study area, {d['land_km2']:.3f} km2 of land left")


def split_land(area: AreaLike, water: gpd.GeoDataFrame | None,
               coast: gpd.GeoDataFrame | None = None) -> LandSplit:
    """The study area without its water and its sea, with what was removed.

    The water polygons and rivers are cut out first; the rest is then split
    along the coastlines (each closed against the area's outline where it
    crosses it) and every face is classified by the side of the coast that
    borders it: a point just left of each bordering coast segment counts its
    length for land, a point just right of it for sea, and the larger total
    wins. A face no coastline borders stays land, and so does a face a
    coastline only pokes into (it has coast on both sides, in equal length):
    without a line across the area nothing says where the sea is.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries or shapely geometry
        The study area (bare geometries in the CRS of ``water`` / ``coast``).
    water : GeoDataFrame or None
        From :func:`water_polygons` (its ``other_water`` rows are removed too).
    coast : GeoDataFrame, optional
        From :func:`coast_lines` (land on the left of each line).

    Returns
    -------
    LandSplit
    """
    frame = water if water is not None else coast
    a = _area_geom(area, frame.crs if frame is not None else getattr(area, "crs", None))
    total = float(a.area)
    wet = shapely.Polygon()
    # Ponds and creeks hold no residents either: all water leaves the land, not only the bank water.
    u = _water_union(water, bank=False)
    if u is not None:
        wet = shapely.intersection(a, u)
        a = shapely.difference(a, u)
    dry = float(a.area)
    sea = shapely.Polygon()
    if coast is not None and len(coast):
        s = _sea_parts(a, coast)
        if s is not None:
            sea = s
            a = shapely.difference(a, s)
    return LandSplit(land=a, water=wet, sea=sea, area_m2=total, water_m2=total - dry, sea_m2=dry - float(a.area))


def land_area(area: AreaLike, water: gpd.GeoDataFrame | None,
              coast: gpd.GeoDataFrame | None = None) -> shapely.Geometry:
    """The study area without its water and sea, so blocks are not drawn over the river or the sea.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries or shapely geometry
    water : GeoDataFrame or None
        From :func:`water_polygons`.
    coast : GeoDataFrame, optional
        From :func:`coast_lines`: the area is split along the coastlines and
        the faces on their right (the sea, by the OSM convention) are removed
        too; see :func:`split_land`, which also says how much was removed.

    Returns
    -------
    shapely geometry
        In the CRS of ``water`` / ``coast``; the area itself when there is no water.
    """
    return split_land(area, water, coast).land


def _sea_parts(a: shapely.Geometry, coast: gpd.GeoDataFrame) -> shapely.Geometry | None:
    """The faces of ``a`` cut by the coastlines that lie on their right-hand (sea) side."""
    split = _coast_faces(a, coast.geometry.values)
    if split is None or not split[1].any():
        return None
    faces, sea = split
    return shapely.union_all(faces[sea])


def _coast_faces(a: shapely.Geometry, coast: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``a`` split along the coast lines, and which of its faces are sea.

    Returns the faces (polygons covering ``a``) and a boolean per face, or
    ``None`` when no line meets ``a``.
    """
    a = _polygonal(a)
    parts = _line_parts(coast)
    if not len(parts) or a.is_empty:
        return None
    lines = np.asarray(shapely.get_parts(shapely.line_merge(shapely.multilinestrings(parts), directed=True)))
    shapely.prepare(a)
    lines = lines[shapely.intersects(a, lines)]
    if not len(lines):
        return None
    rim = shapely.boundary(a)
    # A line that stops on the outline stops there only up to rounding, and a
    # union does not node a point a hair off a segment: the end would dangle
    # and the face never be split. So the outline is made to pass through it.
    ends = _open_ends(lines)
    on = ends[shapely.dwithin(ends, rim, _TOL_M)] if len(ends) else ends
    if len(on):
        rim = shapely.snap(rim, shapely.multipoints(on), _TOL_M)
    # Whole lines, not their clipped pieces: a clipped piece ends a rounding
    # error off the outline too. The union nodes every crossing exactly.
    noded = shapely.union_all(np.concatenate([[rim], lines]))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    faces = faces[shapely.contains(a, shapely.point_on_surface(faces))] if len(faces) else faces
    if not len(faces):
        return None
    # Every coast segment votes with its length inside the area: for land on its left, sea on its right.
    xy = [shapely.get_coordinates(ln) for ln in lines]
    p0 = np.concatenate([c[:-1] for c in xy])
    p1 = np.concatenate([c[1:] for c in xy])
    d = p1 - p0
    seg_len = np.hypot(d[:, 0], d[:, 1])
    keep = seg_len > 0
    p0, p1, d, seg_len = p0[keep], p1[keep], d[keep], seg_len[keep]
    segs = shapely.linestrings(np.stack([p0, p1], axis=1))
    # Only the few segments across the outline need an overlay (each one costs
    # the whole outline); the others lie inside or outside as they are.
    inside = np.flatnonzero(shapely.contains_properly(a, segs))
    across = np.setdiff1d(np.flatnonzero(shapely.intersects(a, segs)), inside)
    cut, owner = shapely.get_parts(shapely.intersection(segs[across], a), return_index=True)
    is_line = shapely.get_type_id(cut) == 1
    pieces = np.concatenate([segs[inside], cut[is_line]])
    owner = np.concatenate([inside, across[owner[is_line]]])
    length = shapely.length(pieces)
    pieces, owner, length = pieces[length > 0], owner[length > 0], length[length > 0]
    mid = shapely.get_coordinates(shapely.line_interpolate_point(pieces, 0.5, normalized=True))
    unit = d[owner] / seg_len[owner, None]
    left_normal = np.column_stack([-unit[:, 1], unit[:, 0]])
    eps = np.minimum(_SIDE_M, length / 4)[:, None]
    # Faces are the query side: each is prepared once, where a tree of faces
    # would walk a whole face's outline for every probe.
    lf, li = shapely.STRtree(shapely.points(mid + eps * left_normal)).query(faces, predicate="contains")
    rf, ri = shapely.STRtree(shapely.points(mid - eps * left_normal)).query(faces, predicate="contains")
    land = np.bincount(lf, weights=length[li], minlength=len(faces))
    sea = np.bincount(rf, weights=length[ri], minlength=len(faces))
    # A line poking into a face borders it on both sides in equal length: a
    # tie, which leaves the face land; the margin absorbs rounding in the sums.
    return faces, sea - land > np.maximum(_TOL_M, 1e-9 * (sea + land))


# ------------------------------------------- small pieces of big geometries
# A river across a city is one polygon of tens of thousands of vertices, and a
# GEOS overlay or distance costs O(vertices) per call: cutting each of some ten
# thousand street edges against the whole river, band and shore took over a
# minute on a 1M-node city. These helpers hand each edge the few hundred
# vertices near it.


class _Tiles:
    """A geometry cut by a quadtree into nested pieces, each the geometry inside its cell grown by a margin.

    :meth:`local` gives every query geometry the piece of the smallest cell
    whose grown box holds its bounding box. Inside that box piece and whole
    coincide, so an overlay with the piece equals the overlay with the whole,
    and no seam can split or double a result: each query geometry uses exactly
    one piece. The cut is widened until it splits none of the geometry's own
    segments that reach into the grown box: the segments an overlay inside the
    box meets keep their exact end points, and so do the points GEOS computes
    on them (a segment shortened at a cut would move them by rounding noise).
    """

    def __init__(self, geom: shapely.Geometry, margin: float | None = None, max_vertices: int | None = None) -> None:
        margin = _TILE_MARGIN_M if margin is None else margin
        max_vertices = _TILE_VERTICES if max_vertices is None else max_vertices
        self.geom = geom
        self.margin = margin
        lo, hi = _outline_bounds(geom)
        seg_tree = shapely.STRtree(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
        # Level by level: the cells (x0, y0, x1, y1), their pieces and whether they are split further.
        # The root piece is the geometry itself; a child is cut from its parent
        # (the child's grown box lies inside the parent's), so the vertices are
        # walked once per level, not once per cell.
        cells = [np.array([shapely.bounds(geom)]) if not geom.is_empty else np.zeros((0, 4))]
        pieces = [np.array([geom], dtype=object)[: len(cells[0])]]
        splits = []
        while True:
            c, p = cells[-1], pieces[-1]
            w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
            split = (~shapely.is_empty(p) & (shapely.get_num_coordinates(p) > max_vertices)
                     & (np.maximum(w, h) > margin))
            splits.append(split)
            if not split.any():
                break
            c, p, w, h = c[split], p[split], w[split], h[split]
            # Quarters; a cell more than twice as long as wide is halved across its length only.
            xcut, ycut = w >= h / 2, h >= w / 2
            xm = np.where(xcut, (c[:, 0] + c[:, 2]) / 2, c[:, 2])
            ym = np.where(ycut, (c[:, 1] + c[:, 3]) / 2, c[:, 3])
            kids = np.concatenate([np.column_stack([c[:, 0], c[:, 1], xm, ym]),
                                   np.column_stack([xm, c[:, 1], c[:, 2], ym]),
                                   np.column_stack([c[:, 0], ym, xm, c[:, 3]]),
                                   np.column_stack([xm, ym, c[:, 2], c[:, 3]])])
            real = np.concatenate([np.ones(len(c), dtype=bool), xcut, ycut, xcut & ycut])
            parent = np.tile(np.arange(len(c)), 4)
            kids, parent = kids[real], parent[real]
            grown = kids + np.array([-margin, -margin, margin, margin])
            # Widen each cut to the far ends of the segments reaching into the grown box.
            ki, si = seg_tree.query(shapely.box(*grown.T))
            cut = grown.copy()
            np.minimum.at(cut[:, 0], ki, lo[si, 0])
            np.minimum.at(cut[:, 1], ki, lo[si, 1])
            np.maximum.at(cut[:, 2], ki, hi[si, 0])
            np.maximum.at(cut[:, 3], ki, hi[si, 1])
            # An empty child is kept: it tells the edges in its box that they miss the geometry.
            cells.append(kids)
            pieces.append(shapely.intersection(p[parent], shapely.box(*cut.T)))
        self.boxes = np.concatenate(cells) + np.array([-margin, -margin, margin, margin])
        self.pieces = np.concatenate(pieces)
        self.depth = np.concatenate([np.full(len(c), k) for k, c in enumerate(cells)])
        self.leaf = ~np.concatenate(splits)
        self.tree = shapely.STRtree(shapely.box(*self.boxes.T))

    def local(self, geoms: np.ndarray) -> np.ndarray:
        """For each geometry, the deepest piece whose grown box holds its bounding box (else the whole)."""
        out = np.empty(len(geoms), dtype=object)
        out[:] = [self.geom] * len(geoms)
        if not len(geoms) or not len(self.boxes):
            return out
        gi, ti = self.tree.query(geoms)
        gb, bx = shapely.bounds(geoms)[gi], self.boxes[ti]
        inside = (bx[:, 0] <= gb[:, 0]) & (bx[:, 1] <= gb[:, 1]) & (bx[:, 2] >= gb[:, 2]) & (bx[:, 3] >= gb[:, 3])
        gi, ti = gi[inside], ti[inside]
        order = np.lexsort((-self.depth[ti], gi))
        gi, ti = gi[order], ti[order]
        first = np.r_[True, gi[1:] != gi[:-1]] if len(gi) else np.zeros(0, dtype=bool)
        out[gi[first]] = self.pieces[ti[first]]
        return out

    def touching(self, geoms: np.ndarray) -> np.ndarray:
        """``shapely.intersects(geom, geoms)``, with the exact test run only near the geometry.

        A coarse grid marks the cells that meet the geometry and their
        neighbours. A query geometry no wider or taller than a cell lies within
        the cell of its centre and the neighbours of that cell, so it is tested
        only when that cell is marked; larger ones are always tested.
        """
        out = np.zeros(len(geoms), dtype=bool)
        if not len(geoms) or self.geom.is_empty:
            return out
        shapely.prepare(self.geom)
        gx0, gy0, gx1, gy1 = shapely.bounds(self.geom)
        # Cells twice the margin, but no more than a few million of them whatever the extent.
        cell = max(2 * self.margin, 1.0, (gx1 - gx0) / 2000, (gy1 - gy0) / 2000)
        # A spare cell on every side holds the neighbours of the cells at the edge.
        nx, ny = int((gx1 - gx0) // cell) + 3, int((gy1 - gy0) // cell) + 3
        ox, oy = gx0 - cell, gy0 - cell
        mark = np.zeros((nx, ny), dtype=bool)
        for (a, b, c, d), p, lf in zip(self.boxes, self.pieces, self.leaf, strict=True):
            if lf and not p.is_empty:
                mark[max(int((a - ox) // cell), 0):int((c - ox) // cell) + 1,
                     max(int((b - oy) // cell), 0):int((d - oy) // cell) + 1] = True
        ci, cj = np.nonzero(mark)
        # Cells slightly grown, so that rounding in the cell of a point cannot lose it.
        eps = 1e-6 * cell
        cx, cy = ox + ci * cell, oy + cj * cell
        met = shapely.intersects(self.geom, shapely.box(cx - eps, cy - eps, cx + cell + eps, cy + cell + eps))
        mark[:] = False
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                mark[np.clip(ci[met] + di, 0, nx - 1), np.clip(cj[met] + dj, 0, ny - 1)] = True
        bnd = shapely.bounds(geoms)
        with np.errstate(invalid="ignore"):
            i = np.floor(((bnd[:, 0] + bnd[:, 2]) / 2 - ox) / cell)
            j = np.floor(((bnd[:, 1] + bnd[:, 3]) / 2 - oy) / cell)
            big = (bnd[:, 2] - bnd[:, 0] > cell) | (bnd[:, 3] - bnd[:, 1] > cell)
            inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
        cand = big.copy()
        cand[inside] |= mark[i[inside].astype(np.int64), j[inside].astype(np.int64)]
        cand = np.flatnonzero(cand)
        out[cand] = shapely.intersects(self.geom, geoms[cand])
        return out


def _outline_bounds(g: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Lower-left and upper-right corners of the bounding box of every segment of the outline of ``g``."""
    parts = shapely.get_parts(g)
    kind = shapely.get_type_id(parts)
    outline = np.concatenate([shapely.get_rings(parts[kind == 3]), parts[(kind == 1) | (kind == 2)]])
    xy, which = shapely.get_coordinates(outline, return_index=True)
    same = which[1:] == which[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    return np.minimum(a, b), np.maximum(a, b)


class _Segments:
    """The straight segments of some lines, in an STRtree: nearest-segment searches instead of whole-line ones.

    The distance to a line is the least distance to its segments, computed by
    GEOS the same way, so searching the segments gives the same figure for the
    cost of the few segments nearby.
    """

    def __init__(self, lines: np.ndarray) -> None:
        xy, which = shapely.get_coordinates(lines, return_index=True)
        same = which[1:] == which[:-1]
        self.a, self.b = xy[:-1][same], xy[1:][same]
        self.owner = which[:-1][same]
        #: Index of the segment within its line.
        self.rank = np.arange(len(self.a)) - np.searchsorted(self.owner, self.owner)
        self.geoms = shapely.linestrings(np.stack([self.a, self.b], axis=1)) if len(self.a) else np.zeros(0, object)
        self.tree = shapely.STRtree(self.geoms)


def _cumulative(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment lengths and the distance along the line at each vertex, summed in order as GEOS does."""
    d = np.diff(xy, axis=0)
    seg = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
    return seg, np.concatenate([[0.0], np.cumsum(seg)])


def _along(xy: np.ndarray, seg: np.ndarray, cum: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Points at distances ``dist`` along a line, as ``shapely.line_interpolate_point`` (GEOS) finds them.

    GEOS walks the segments to the first whose end lies beyond the distance and
    takes the fraction of it; a search over the summed lengths does the same in
    O(log n) per point instead of O(n).
    """
    dist = np.asarray(dist, dtype=float)
    k = np.searchsorted(cum[1:], dist, side="right")
    beyond = k >= len(seg)
    k = np.minimum(k, len(seg) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (dist - cum[k]) / seg[k]
    a, b = xy[k], xy[k + 1]
    p = a + frac[:, None] * (b - a)
    p = np.where((frac <= 0)[:, None], a, np.where((frac >= 1)[:, None], b, p))
    p[beyond] = xy[-1]
    return p


def _substring(xy: np.ndarray, seg: np.ndarray, cum: np.ndarray, start: float, end: float) -> shapely.LineString:
    """The part of a line between two distances along it, as ``shapely.ops.substring`` cuts it (0 <= start < end).

    ``ops.substring`` walks the vertices in Python for every cut, which costs
    runs x vertices on a long, broken-up shore; here each cut is two searches.
    """
    ends = _along(xy, seg, cum, np.array([start, end]))
    i0 = int(np.searchsorted(cum, start, side="right"))
    i1 = min(int(np.searchsorted(cum, end, side="left")), len(xy) - 1)
    return shapely.LineString(np.concatenate([ends[:1], xy[i0:max(i0, i1)], ends[1:]]))


# ---------------------------------------------------------- access analysis
def corridor_band(shore: gpd.GeoDataFrame, water: gpd.GeoDataFrame | None, corridor_m: float) -> shapely.Geometry:
    """Land within ``corridor_m`` of the shore: both sides of a bank less the water, the left of a coast."""
    u = _water_union(water)
    kinds = shore["kind"] if "kind" in shore.columns else pd.Series("bank", index=shore.index)
    bank = [g for g, k in zip(shore.geometry.values, kinds, strict=True) if k != "coast"]
    coast = [g for g, k in zip(shore.geometry.values, kinds, strict=True) if k == "coast"]
    parts = []
    if bank:
        b = shapely.union_all(shapely.buffer(np.asarray(bank, dtype=object), corridor_m))
        parts.append(shapely.difference(b, u) if u is not None else b)
    parts += [ln.buffer(corridor_m, single_sided=True) for ln in coast]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def waterfront_access(
    shore: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    cfg: WaterfrontConfig,
    water: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Measure public street access along the shoreline.

    Parameters
    ----------
    shore : GeoDataFrame
        From :func:`shoreline`.
    streets : GeoDataFrame
        Walkable street edges (``WalkNetwork.streets()``), same CRS.
    cfg : WaterfrontConfig
    water : GeoDataFrame, optional
        From :func:`water_polygons`. When given, street parts over the water
        (bridge decks) are ignored and the corridor band stops at the water;
        without it a street on the far bank of a narrow river would count.

    Returns
    -------
    segments : GeoDataFrame
        Shoreline runs: ``segment_id``, ``reach_id``, ``start_m``, ``end_m``
        (along the reach), ``length_m``, ``access`` (bool), ``kind``
        (``'access'`` / ``'gap'``). Lengths add up to the shoreline length.
    access_points : GeoDataFrame
        ``access_id``, ``street`` (label in ``streets.index``), ``edge_id``
        and ``name`` when ``streets`` has them, ``dist_to_shore_m``,
        ``reach_id``, ``shore_pos_m`` (position along that reach), points on
        the streets. Ordered along the shore.
    summary : dict
        ``status`` (``'measured'``), ``bank_length_m``, ``access_length_m``
        (short gaps counted as access), ``share_with_access``,
        ``longest_gap_m``, ``n_gaps``, ``n_access_points``,
        ``mean_access_spacing_m`` / ``max_access_spacing_m`` (between
        consecutive points along a reach; ``None`` with a ``spacing_note``
        when fewer than two points share a reach), ``n_reaches``, the
        parameters used and ``notes``. With an empty shoreline:
        ``{"status": "absent", "reason": ...}`` and empty frames.
    """
    ensure_projected(shore, "the shoreline")
    ensure_projected(streets, "the streets")
    if not pyproj.CRS.from_user_input(shore.crs).equals(streets.crs):
        raise ValueError(f"the shoreline is in {shore.crs.to_string()} but the streets are in "
                         f"{streets.crs.to_string()}")
    crs = shore.crs
    if len(shore) == 0:
        return (_empty_segments(crs), _empty_points(crs),
                absent_summary("no shoreline lies inside the study area"))
    reaches = np.asarray(shore.geometry.values, dtype=object)
    reach_ids = shore["reach_id"].to_numpy() if "reach_id" in shore else np.arange(len(shore))
    u = _water_union(water)
    band = corridor_band(shore, water, cfg.corridor_m)
    band_tiles = _Tiles(band)
    water_tiles = _Tiles(u) if u is not None else None

    # Street pieces on land inside the band, keeping which edge they came from.
    sg = np.asarray(streets.geometry.values, dtype=object)
    idx = np.flatnonzero(band_tiles.touching(sg))
    crossing = np.zeros(len(idx), dtype=bool)
    if u is not None:
        crossing = _crossings(sg[idx], u, water_tiles)
    crossing_names = _names(streets, idx[crossing])
    idx = idx[~crossing]
    edges = sg[idx]
    pieces = edges
    if water_tiles is not None:
        pieces = shapely.difference(pieces, water_tiles.local(edges))
    # A piece lies inside its edge, so the edge's bounding box picks the band piece.
    pieces = _tidy(shapely.intersection(pieces, band_tiles.local(edges)))
    has = ~shapely.is_empty(pieces) if len(pieces) else np.zeros(0, dtype=bool)
    idx, pieces = idx[has], pieces[has]

    # Samples: each reach cut into equal intervals no longer than sample_m,
    # judged at their midpoints, so run lengths add up to the reach exactly.
    tree = shapely.STRtree(pieces)
    seg_rows = []
    for rid, line in zip(reach_ids, reaches, strict=True):
        length = line.length
        n = max(1, math.ceil(length / cfg.sample_m))
        step = length / n
        xy = shapely.get_coordinates(line)
        seg, cum = _cumulative(xy)
        mids = shapely.points(_along(xy, seg, cum, (np.arange(n) + 0.5) * step))
        acc = np.zeros(n, dtype=bool)
        if len(pieces):
            # Any piece within reach will do, and testing for one is cheaper than finding the nearest.
            acc[tree.query(mids, predicate="dwithin", distance=cfg.corridor_m)[0]] = True
        for start, end, a in _runs(acc, step, length, cfg.min_gap_m):
            seg_rows.append({"reach_id": rid, "start_m": start, "end_m": end, "length_m": end - start, "access": a,
                             "kind": "access" if a else "gap",
                             "geometry": _substring(xy, seg, cum, start, end)})
    segments = gpd.GeoDataFrame(seg_rows, geometry="geometry", crs=crs)
    segments.insert(0, "segment_id", np.arange(len(segments)))

    points = _access_points(streets, idx, pieces, _Segments(reaches), reaches, reach_ids, cfg)
    summary = _summary(shore, segments, points, cfg)
    summary["n_crossings_excluded"] = int(crossing.sum())
    if crossing.any():
        summary["notes"].append(
            f"{int(crossing.sum())} street edges cross the water (bridges or tunnels"
            f"{': ' + ', '.join(crossing_names) if crossing_names else ''}) and were not counted as shore access")
    return segments, points, summary


def _tidy(pieces: np.ndarray) -> np.ndarray:
    """Each overlay result as the union of its line parts (points where an edge only touches the band dropped).

    A simple open LineString is its own union, so only the other results go
    through GEOS one at a time.
    """
    out = pieces.copy()
    if not len(out):
        return out
    plain = ((shapely.get_type_id(out) == 1) & ~shapely.is_closed(out)) | shapely.is_empty(out)
    plain[plain] = shapely.is_simple(out[plain]) | shapely.is_empty(out[plain])
    for i in np.flatnonzero(~plain):
        out[i] = shapely.union_all(_lines(out[i], merge=False))
    return out


def _crossings(geoms: np.ndarray, water: shapely.Geometry, tiles: _Tiles | None = None) -> np.ndarray:
    """Edges that run out over the water: bridges and tunnels, whose approaches do not lead to the shore.

    An edge counts as a crossing when its part over the water reaches more than
    ``_CROSSING_DEPTH_M`` from the shore; a riverside street that only grazes
    an approximate water polygon stays within that and keeps counting.
    ``tiles`` (of ``water``) is built when not given.
    """
    out = np.zeros(len(geoms), dtype=bool)
    if not len(geoms):
        return out
    if tiles is None:
        tiles = _Tiles(water)
    wet = shapely.intersection(geoms, tiles.local(geoms))
    some = np.flatnonzero(~shapely.is_empty(wet) & (shapely.length(wet) > _CROSSING_DEPTH_M))
    if not len(some):
        return out
    xy, which = shapely.get_coordinates(shapely.segmentize(wet[some], _CROSSING_DEPTH_M), return_index=True)
    rim = _Segments(shapely.get_parts(water.boundary)).tree

    def deep(pts: np.ndarray) -> np.ndarray:
        # Deeper than the depth means no segment of the water's outline within it.
        near = rim.query(shapely.points(pts), predicate="dwithin", distance=_CROSSING_DEPTH_M)[0]
        res = np.ones(len(pts), dtype=bool)
        res[near] = False
        return res

    # A bridge is deep at its middle already: the middle sample of each edge
    # settles most of them, and only the others have all samples tested.
    k = np.arange(len(some))
    mid = (np.searchsorted(which, k) + np.searchsorted(which, k, side="right") - 1) // 2
    crossing = deep(xy[mid])
    rest = np.isin(which, np.flatnonzero(~crossing))
    crossing[np.unique(which[rest][deep(xy[rest])])] = True
    out[some] = crossing
    return out


def _names(streets: gpd.GeoDataFrame, idx: np.ndarray) -> list[str]:
    if "name" not in streets.columns or not len(idx):
        return []
    names = streets["name"].iloc[idx].to_numpy()
    return list(dict.fromkeys(str(n) for n in names if isinstance(n, str) and n))


def _runs(acc: np.ndarray, step: float, length: float, min_gap_m: float) -> list[tuple[float, float, bool]]:
    """Contiguous runs of equal samples as (start, end, access); short gaps beside access become access."""
    change = np.flatnonzero(acc[1:] != acc[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(acc)]])
    runs = [[s * step, e * step, bool(acc[s])] for s, e in zip(starts, ends, strict=True)]
    runs[-1][1] = length
    for i, r in enumerate(runs):
        beside_access = (i > 0 and runs[i - 1][2]) or (i + 1 < len(runs) and runs[i + 1][2])
        if not r[2] and r[1] - r[0] < min_gap_m and beside_access:
            r[2] = True
    merged: list[list] = []
    for r in runs:
        if merged and merged[-1][2] == r[2]:
            merged[-1][1] = r[1]
        else:
            merged.append(list(r))
    return [(float(s), float(e), bool(a)) for s, e, a in merged]


def _access_points(streets: gpd.GeoDataFrame, idx: np.ndarray, pieces: np.ndarray, shore: _Segments,
                   reaches: np.ndarray, reach_ids: np.ndarray, cfg: WaterfrontConfig) -> gpd.GeoDataFrame:
    crs = streets.crs
    if not len(pieces) or not len(shore.geoms):
        return _empty_points(crs)
    (qi, si), dist = shore.tree.query_nearest(pieces, max_distance=cfg.access_distance_m, return_distance=True,
                                              all_matches=False)
    if not len(qi):
        return _empty_points(crs)
    o = np.argsort(qi, kind="stable")
    qi, si, d = qi[o], si[o], dist[o]
    idx, pieces = idx[qi], pieces[qi]
    # The nearest segment holds the nearest point of the whole shore.
    pts = shapely.get_point(shapely.shortest_line(pieces, shore.geoms[si]), 0)
    # Greedy thinning, nearest to the shore first: a junction where several
    # edges reach the water is one access, not one per edge.
    order = np.lexsort((idx, d))
    tree = shapely.STRtree(pts)
    taken = np.zeros(len(pts), dtype=bool)
    gone = np.zeros(len(pts), dtype=bool)
    for i in order:
        if gone[i]:
            continue
        taken[i] = True
        gone[tree.query(pts[i], predicate="dwithin", distance=cfg.dedup_m)] = True
    idx, pts, d = idx[taken], pts[taken], d[taken]
    nearest, pos = _locate(pts, shore, reaches)
    df = pd.DataFrame({"street": streets.index[idx]})
    for col in ("edge_id", "name"):
        if col in streets.columns:
            df[col] = streets[col].iloc[idx].to_numpy()
    df["dist_to_shore_m"] = d
    df["reach_id"] = reach_ids[nearest]
    df["shore_pos_m"] = pos
    out = gpd.GeoDataFrame(df, geometry=list(pts), crs=crs)
    out = out.sort_values(["reach_id", "shore_pos_m"], kind="stable").reset_index(drop=True)
    out.insert(0, "access_id", np.arange(len(out)))
    return out


def _locate(pts: np.ndarray, shore: _Segments, reaches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest reach of each point and the point's position along it (``line_locate_point``).

    GEOS projects onto the first segment (in line order) at the least
    distance; the segment tree gives all segments at that distance, so the
    same segment is taken. A point equally near two reaches is left to GEOS,
    which then picks the reach.
    """
    nearest = np.zeros(len(pts), dtype=np.int64)
    pos = np.zeros(len(pts))
    if not len(pts):
        return nearest, pos
    qi, si = shore.tree.query_nearest(pts, all_matches=True)
    o = np.lexsort((si, qi))
    qi, si = qi[o], si[o]
    first = np.r_[True, qi[1:] != qi[:-1]]
    start = np.flatnonzero(first)
    lo_reach = np.minimum.reduceat(shore.owner[si], start)
    hi_reach = np.maximum.reduceat(shore.owner[si], start)
    # Sorted by segment: the first tied segment of each point is its lowest, i.e. first along the reach.
    k = si[start]
    p = shapely.get_coordinates(pts)[qi[start]]
    a, b = shore.a[k], shore.b[k]
    ab = b - a
    len2 = ab[:, 0] * ab[:, 0] + ab[:, 1] * ab[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = ((p[:, 0] - a[:, 0]) * ab[:, 0] + (p[:, 1] - a[:, 1]) * ab[:, 1]) / len2
    r = np.where((p == a).all(axis=1), 0.0, np.where((p == b).all(axis=1), 1.0, r))
    r = np.where(r < 0, 0.0, np.where((r > 1) | np.isnan(r), 1.0, r))
    owner = shore.owner[k]
    cums = {}
    for rid in np.unique(owner):
        cums[rid] = _cumulative(shapely.get_coordinates(reaches[rid]))
    rank = shore.rank[k]
    seg = np.array([cums[o_][0][j] for o_, j in zip(owner, rank, strict=True)])
    before = np.array([cums[o_][1][j] for o_, j in zip(owner, rank, strict=True)])
    where = qi[start]
    nearest[where] = owner
    pos[where] = before + seg * r
    tie = where[lo_reach != hi_reach]
    if len(tie):
        _, nearest[tie] = shapely.STRtree(reaches).query_nearest(pts[tie], all_matches=False)
        pos[tie] = shapely.line_locate_point(reaches[nearest[tie]], pts[tie])
    return nearest, pos


def _empty_segments(crs: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"segment_id": pd.Series(dtype="int64"), "reach_id": pd.Series(dtype="int64"),
                             "start_m": pd.Series(dtype=float), "end_m": pd.Series(dtype=float),
                             "length_m": pd.Series(dtype=float), "access": pd.Series(dtype=bool),
                             "kind": pd.Series(dtype=object)}, geometry=[], crs=crs)


def _empty_points(crs: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"access_id": pd.Series(dtype="int64"), "street": pd.Series(dtype=object),
                             "dist_to_shore_m": pd.Series(dtype=float), "reach_id": pd.Series(dtype="int64"),
                             "shore_pos_m": pd.Series(dtype=float)}, geometry=[], crs=crs)


def _summary(shore: gpd.GeoDataFrame, segments: gpd.GeoDataFrame, points: gpd.GeoDataFrame,
             cfg: WaterfrontConfig) -> dict[str, Any]:
    bank = float(shore.geometry.length.sum())
    acc = float(segments.loc[segments["access"], "length_m"].sum())
    gaps = segments.loc[~segments["access"], "length_m"]
    spacing = np.concatenate([np.diff(np.sort(g["shore_pos_m"].to_numpy()))
                              for _, g in points.groupby("reach_id")]) if len(points) else np.zeros(0)
    notes = []
    s: dict[str, Any] = {
        "status": "measured",
        "bank_length_m": round(bank, 1),
        "access_length_m": round(acc, 1),
        "share_with_access": round(acc / bank, 4) if bank > 0 else None,
        "longest_gap_m": round(float(gaps.max()), 1) if len(gaps) else 0.0,
        "n_gaps": len(gaps),
        "n_access_points": len(points),
        "mean_access_spacing_m": round(float(spacing.mean()), 1) if len(spacing) else None,
        "max_access_spacing_m": round(float(spacing.max()), 1) if len(spacing) else None,
        "n_reaches": len(shore),
        "corridor_m": cfg.corridor_m,
        "access_distance_m": cfg.access_distance_m,
        "min_gap_m": cfg.min_gap_m,
        "sample_m": cfg.sample_m,
    }
    if len(points) == 0:
        s["spacing_note"] = (f"no walkable street comes within {cfg.access_distance_m:g} m of the shore: "
                             "there are no access points, so no spacing")
        notes.append(s["spacing_note"])
    elif len(spacing) == 0:
        s["spacing_note"] = "fewer than two access points on any one reach of shore: no spacing to measure"
        notes.append(s["spacing_note"])
    s["notes"] = notes
    return s


# --------------------------------------------------------------- per block
def block_waterfront(net: WalkNetwork, blocks: gpd.GeoDataFrame, access_points: gpd.GeoDataFrame,
                     threshold_m: float, max_snap_m: float = np.inf, limit: float = np.inf,
                     block_snap: Snapped | None = None) -> pd.DataFrame:
    """Network distance from every block to its nearest waterfront access point.

    Parameters
    ----------
    net : WalkNetwork
    blocks : GeoDataFrame
        Blocks (or any features) in ``net.crs``; snapped from a point on their
        surface, as in the coverage analysis.
    access_points : GeoDataFrame
        From :func:`waterfront_access`.
    threshold_m : float
        Walking distance counted as "within reach of the waterfront".
    max_snap_m : float
        Blocks further than this from every street get NaN (not measured).
    limit : float
        Stop searching beyond this distance (``inf`` beyond).

    Returns
    -------
    DataFrame
        On ``blocks.index``: ``dist_waterfront_m`` (metres including both
        off-network legs; ``inf`` when no access point can be reached, e.g.
        none exists; NaN when the block was not snapped) and
        ``within_waterfront`` (``dist <= threshold_m``). Call it only when the
        waterfront is present; otherwise leave the columns out.
    """
    ensure_projected(blocks, "the blocks")
    ensure_projected(access_points, "the access points")
    bs = block_snap if block_snap is not None else snap_points(net, blocks.geometry, max_snap_m=max_snap_m)
    if len(access_points):
        d = point_distances(net, bs, snap_points(net, access_points.geometry), limit=limit)
    else:
        d = np.where(bs.ok, np.inf, np.nan)
    return pd.DataFrame({"dist_waterfront_m": d, "within_waterfront": d <= threshold_m}, index=blocks.index)


# -------------------------------------------------------- absent / all in one
def absent_reason(cfg: WaterfrontConfig, water: gpd.GeoDataFrame | None = None,
                  shore: gpd.GeoDataFrame | None = None, coast: gpd.GeoDataFrame | None = None) -> str | None:
    """Why the waterfront cannot be measured for this study, or ``None`` when it can.

    Parameters
    ----------
    cfg : WaterfrontConfig
    water, coast : GeoDataFrame or None
        From :func:`water_polygons` and :func:`coast_lines` for the study area.
    shore : GeoDataFrame, optional
        From :func:`shoreline`; when given, an empty one is a reason too.
    """
    if not cfg.has_sources:
        return "no water layer is configured (waterfront water, rivers and coastlines are all empty)"
    if bank_water(water) is None and (coast is None or len(coast) == 0):
        reason = (f"none of the water layers ({', '.join(cfg.labels())}) has water within "
                  f"{cfg.corridor_m:g} m of the study area")
        n_other = int((water["kind"] == "other").sum()) if water is not None and "kind" in water.columns else 0
        if n_other:
            # Said, so that a pond on the map is not read as a waterfront the tool missed.
            reason += (f"; {n_other} other water polygon{'s' * (n_other != 1)} (other_water: ponds, creeks) "
                       "lie there, taken out of the land but not waterfront")
        return reason
    if shore is not None and len(shore) == 0:
        return "there is water near the study area but none of its shore lies inside the area"
    return None


def bank_source(water: gpd.GeoDataFrame | None, coast: gpd.GeoDataFrame | None = None) -> str | None:
    """Which data the shore was drawn from, in words, for run.json (``waterfront.bank_source``).

    Water polygons and a centreline buffered by an assumed width give banks of
    very different certainty, so the record says which it was.

    Parameters
    ----------
    water : GeoDataFrame or None
        From :func:`water_polygons` (``other_water`` rows are not shore and not named).
    coast : GeoDataFrame, optional
        From :func:`coast_lines`.

    Returns
    -------
    str or None
        E.g. ``"water polygons (dataset:geofabrik_water_a, 4 polygons)"`` or
        ``"river centreline + width (dataset:huangpu_centreline, 5 lines, 400 m)"``,
        joined with ``"; "`` when several layers give shore; ``None`` without any.

    Examples
    --------
    >>> bank_source(water_polygons(WaterfrontConfig(rivers=[RiverSource(
    ...     Source(dataset="huangpu_centreline"), width_m=400)]), "EPSG:32651"))  # doctest: +SKIP
    'river centreline + width (dataset:huangpu_centreline, 5 lines, 400 m)'
    """
    parts = []
    w = bank_water(water)
    if w is not None:
        for src, g in w.groupby("source", sort=False):
            if (g["kind"] == "river").any():
                widths = sorted(set(np.round(g["width_m"].dropna().to_numpy(dtype=float), 1).tolist()))
                wtxt = f"{widths[0]:g} m" if len(widths) == 1 else f"{widths[0]:g}-{widths[-1]:g} m"
                parts.append(f"river centreline + width ({src}, {len(g)} line{'s' * (len(g) != 1)}, {wtxt})")
            else:
                parts.append(f"water polygons ({src}, {len(g)} polygon{'s' * (len(g) != 1)})")
    if coast is not None and len(coast):
        for src, g in coast.groupby("source", sort=False):
            parts.append(f"coastlines ({src}, {len(g)} line{'s' * (len(g) != 1)})")
    return "; ".join(parts) if parts else None


def _other_water_summary(water: gpd.GeoDataFrame | None, area: shapely.Geometry) -> dict[str, Any] | None:
    """How much ``other_water`` (no shore, land removed) lies in the area, beyond the bank water."""
    if water is None or "kind" not in water.columns or not (water["kind"] == "other").any():
        return None
    other = water.loc[water["kind"] == "other"]
    wet = shapely.intersection(shapely.union_all(np.asarray(other.geometry.values)), area)
    u = _water_union(water)
    if u is not None:
        wet = shapely.difference(wet, u)
    return {"sources": list(dict.fromkeys(other["source"])), "polygons": len(other),
            "area_km2": round(float(wet.area) / 1e6, 3),
            "note": "removed from the land (no blocks are drawn on it); its edges are not waterfront"}


def absent_summary(reason: str) -> dict[str, Any]:
    """The summary of a study without waterfront: a status and a reason, never zeros."""
    return {"status": "absent", "reason": reason}


@dataclass
class WaterfrontResult:
    """Everything :func:`analyse_waterfront` produced; all layers are ``None`` when absent."""

    summary: dict[str, Any]
    water: gpd.GeoDataFrame | None = None
    coast: gpd.GeoDataFrame | None = None
    shore: gpd.GeoDataFrame | None = None
    segments: gpd.GeoDataFrame | None = None
    access_points: gpd.GeoDataFrame | None = None
    blocks: pd.DataFrame | None = None
    land: shapely.Geometry | None = None

    @property
    def present(self) -> bool:
        """True when the waterfront was measured."""
        return self.summary.get("status") == "measured"


def analyse_waterfront(cfg: WaterfrontConfig, area: AreaLike, net: WalkNetwork,
                       blocks: gpd.GeoDataFrame | None = None, threshold_m: float | None = None,
                       block_max_snap_m: float = np.inf, *, water: gpd.GeoDataFrame | None = None,
                       block_snap: Snapped | None = None) -> WaterfrontResult:
    """Run the chain: water, shoreline, land, access along the shore and per-block distance.

    Parameters
    ----------
    cfg : WaterfrontConfig
    area : GeoDataFrame, GeoSeries or shapely geometry
        The study area (bare geometries in ``net.crs``). Use the area before
        it was clipped to the population extent when the streets cover it, or
        the shore is cut short where the population grid ends.
    net : WalkNetwork
    blocks : GeoDataFrame, optional
        Blocks to measure; needs ``threshold_m``.
    threshold_m : float, optional
    block_max_snap_m : float
    water : GeoDataFrame, optional
        Water polygons already built by :func:`water_polygons` for this area (not rebuilt).
    block_snap : Snapped, optional
        ``blocks`` already snapped to ``net`` (not snapped again).

    Returns
    -------
    WaterfrontResult
        With ``summary["status"] == "absent"`` and a ``reason`` when there is
        no water or no shore in the area. A measured summary adds to
        :func:`waterfront_access`'s ``bank_source`` (:func:`bank_source`) and,
        with ``other_water``, ``other_water`` (polygons and km² taken out of
        the land beyond the bank water).

    Examples
    --------
    >>> wf = analyse_waterfront(study.waterfront, area_m, net, blocks, threshold_m=1080)  # doctest: +SKIP
    >>> wf.summary["share_with_access"]  # doctest: +SKIP
    """
    if blocks is not None and threshold_m is None:
        raise ValueError("threshold_m is needed to measure blocks")
    if water is None:
        water = water_polygons(cfg, net.crs, area)
    coast = coast_lines(cfg, net.crs, area) if cfg.coastlines else None
    reason = absent_reason(cfg, water, None, coast)
    if reason:
        return WaterfrontResult(summary=absent_summary(reason))
    a = _area_geom(area, net.crs)
    shore = shoreline(water, a, coast)
    land = land_area(a, water, coast)
    reason = absent_reason(cfg, water, shore, coast)
    if reason:
        return WaterfrontResult(summary=absent_summary(reason), water=water, coast=coast, land=land)
    segments, points, summary = waterfront_access(shore, net.streets(), cfg, water)
    summary["bank_source"] = bank_source(water, coast)
    other = _other_water_summary(water, a)
    if other is not None:
        summary["other_water"] = other
    per_block = None
    if blocks is not None:
        # blocks come with their threshold (the study passes the profile's)
        per_block = block_waterfront(net, blocks, points, float(cast(float, threshold_m)),
                                     max_snap_m=block_max_snap_m, block_snap=block_snap)
    return WaterfrontResult(summary=summary, water=water, coast=coast, shore=shore, segments=segments,
                            access_points=points, blocks=per_block, land=land)
