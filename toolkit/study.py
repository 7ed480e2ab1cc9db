"""The coverage pipeline, step by step.

Each step is a public function a notebook can call on its own; :func:`run_study`
chains them, times them and collects every repair or refusal into the result,
and the CLI is a thin layer over :func:`run_study`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from . import overlays
from .blocks import enclosed_blocks, user_blocks
from .completeness import source_report, study_data_status
from .config import Study, validate_study
from .coverage import coverage, coverage_rates, node_distances
from .crs import MAX_SCALE_ERROR, WGS84, parse_crs, scale_error, to_wgs84, utm_crs_for
from .equity import equity_table
from .errors import InputError
from .facilities import (
    attach_facilities,
    categories_by_row,
    classifier_kinds,
    classify_source,
    combine,
    facilities_from,
    load_classifier,
    require_declared_crs,
    snap_refusals,
)
from .io import (
    TEXT_SUFFIXES,
    DataWarning,
    column_hint,
    lonlat_extent,
    missing_column_fix,
    read_layer,
    text_encoding,
)
from .labels import label
from .network import WalkNetwork, network_from_osmnx
from .osm import graph_from_place, read_osm_features
from .overlays import Overlay, OverlayOutput, StudyContext
from .population import no_overlap_error, population_from_layer, population_per_block
from .population import raster_footprint as _raster_footprint
from .result import StudyResult
from .snapping import REASON_TOO_FAR, Snapped, leg_obstacles, snap_points
from .sources import Source, iter_sources
from .standards import Category, Profile, load_profile, source_notes
from .underserved import UnderservedRule
from .voice import VOICE_OVERLAY

__all__ = [
    "BUILTIN_OVERLAYS",
    "STEPS",
    "analysis_crs",
    "assign_population",
    "build_blocks",
    "data_footprint",
    "heritage_overlay",
    "load_facilities",
    "load_network",
    "raster_footprint",
    "run_study",
    "study_area",
    "summary_text",
    "walkability_overlay",
    "waterfront_overlay"
]

log = logging.getLogger("toolkit")


# --------------------------------------------------------------------- area
def study_area(study: Study) -> gpd.GeoDataFrame:
    """The study area as a one-row WGS84 GeoDataFrame (before clipping to the data).

    Parameters
    ----------
    study : Study
        A loaded study (:func:`toolkit.load_study`); its ``[area]`` is read.

    Returns
    -------
    GeoDataFrame
        One row, EPSG:4326.

    Examples
    --------
    >>> import toolkit as tk
    >>> area = study_area(tk.load_study("xuhui"))
    >>> len(area), area.crs.to_epsg()
    (1, 4326)
    """
    a = study.area
    if a.polygon is not None:
        g = read_layer(a.polygon.resolve(), **a.polygon.reader_options())
        label = a.polygon.label()
    elif a.boundaries is not None:
        src = a.boundaries.resolve()
        g = read_layer(src, **a.boundaries.reader_options())
        if a.name_field not in g.columns:
            hint = column_hint(a.name_field, g.columns)
            raise InputError(f"name field {a.name_field!r} not in the boundaries layer"
                             + (f" ({hint})" if hint else ""), source=str(src), field="area.name_field",
                             fix=missing_column_fix(a.name_field, g.columns, "name_field"))
        hit = g[g[a.name_field].astype(str) == str(a.name)]
        if hit.empty:
            raise InputError(f"no boundary named {a.name!r}", source=str(src), field="area.name",
                             fix=f"use one of: {', '.join(g[a.name_field].astype(str).tolist()[:40])}")
        g = hit
        label = f"{a.name} ({a.boundaries.label()})"
    else:
        x0, y0, x1, y1 = cast("list[float]", a.bbox)  # no polygon nor boundaries: the schema requires a bbox
        if not (x0 < x1 and y0 < y1):
            raise InputError("bbox must be [x_min, y_min, x_max, y_max] with min < max", field="area.bbox",
                             fix="e.g. bbox = [121.40, 31.15, 121.48, 31.22]")
        g = to_wgs84(gpd.GeoDataFrame(geometry=[shapely.box(x0, y0, x1, y1)], crs=None), a.bbox_crs,
                     source="area.bbox")
        label = f"bbox {a.bbox}"
    geom = shapely.make_valid(shapely.union_all(np.asarray(g.geometry.values)))
    return gpd.GeoDataFrame({"name": [label]}, geometry=[geom], crs=WGS84)


def analysis_crs(study: Study, area_wgs84: shapely.Geometry) -> pyproj.CRS:
    """The study's metric CRS: the configured one, else the UTM zone of the area.

    Parameters
    ----------
    study : Study
        Its ``[study] crs``, when set, is used (refused if geographic or if it stretches distances).
    area_wgs84 : shapely geometry
        The study area in WGS84 (:func:`study_area`).

    Returns
    -------
    pyproj.CRS

    Examples
    --------
    >>> import shapely, toolkit as tk
    >>> analysis_crs(tk.load_study("xuhui"), shapely.box(121.40, 31.15, 121.47, 31.22)).to_epsg()
    32651
    """
    if study.crs:
        crs = parse_crs(study.crs, field="study.crs")
        if isinstance(crs, str) or not crs.is_projected:
            raise InputError(f"study.crs {study.crs!r} is not a projected CRS", field="study.crs",
                             fix="use a metric CRS such as 'EPSG:32651', or leave it out for the UTM zone")
        err = scale_error(crs, area_wgs84)
        if err > MAX_SCALE_ERROR:
            raise InputError(f"study.crs {study.crs!r} stretches distances by {err:.1%} at the study area "
                             "(Web Mercator does at any latitude but the equator): every walk and coverage "
                             "rate would be wrong", source=study.source_file, field="study.crs",
                             fix=f"use the area's UTM zone ({utm_crs_for(area_wgs84).to_string()}) or a local "
                             "projected CRS, or leave study.crs out")
        return crs
    return utm_crs_for(area_wgs84)


def raster_footprint(path: str) -> shapely.Geometry:
    """WGS84 polygon of a raster's extent (:func:`toolkit.population.raster_footprint`)."""
    return _raster_footprint(path).wgs84


def data_footprint(src: Source) -> shapely.Geometry:
    """WGS84 extent of a population source: a raster's box, a layer's convex hull.

    Examples
    --------
    >>> data_footprint(Source(dataset="pop_total")).bounds  # doctest: +SKIP
    (121.38..., 31.09..., 121.50..., 31.22...)
    """
    path = src.resolve()
    if path.suffix.lower() in RASTER_SUFFIXES:
        return raster_footprint(str(path))
    layer = read_layer(path, **src.reader_options()).to_crs(WGS84)
    g = np.asarray(layer.geometry.values)
    g = g[~shapely.is_empty(g) & ~shapely.is_missing(g)]
    if len(g) == 0:
        raise InputError("the population layer has no geometries", source=str(path),
                         fix="check the layer (and its where filter) holds the population points or polygons")
    # a layer of points says nothing beyond its points: their hull is its extent
    return shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(g)))


# ------------------------------------------------------------------ network
def load_network(study: Study, area_wgs84: shapely.Geometry, crs: Any,
                 area_m: shapely.Geometry | None = None) -> WalkNetwork:
    """Read the OSM streets (file or place), keep the walkable ones near the area, as a WalkNetwork.

    A file is read straight into arrays (:func:`toolkit.osm_network.read_walk_network`),
    building only the ways within ``[network] buffer_m`` of the area. Built
    networks are kept in memory per file, area, CRS and rules, so the
    scenarios of a batch share one build; ``net.info["cache"]`` says which.
    ``area_m`` is the area already projected to ``crs`` (the run projects it once).

    Parameters
    ----------
    study : Study
        Its ``[network]`` section.
    area_wgs84 : shapely geometry
        The study area in WGS84.
    crs : CRS-like
        The metric CRS of the analysis (:func:`analysis_crs`).
    area_m : shapely geometry, optional
        The area already projected to ``crs``.

    Returns
    -------
    WalkNetwork

    Examples
    --------
    >>> import dataclasses, toolkit as tk
    >>> from toolkit.config import AreaConfig
    >>> study = dataclasses.replace(tk.load_study("xuhui"), area=AreaConfig(bbox=[121.425, 31.185, 121.45, 31.205]))
    >>> area = study_area(study).geometry.iloc[0]
    >>> net = load_network(study, area, analysis_crs(study, area))  # doctest: +SKIP
    >>> net.n_edges > 0  # doctest: +SKIP
    True
    """
    from .osm_network import WalkRules, read_walk_network

    crs = pyproj.CRS.from_user_input(crs)
    if area_m is None:
        area_m = gpd.GeoSeries([area_wgs84], crs=WGS84).to_crs(crs).iloc[0]
    keep = gpd.GeoSeries([area_m.buffer(study.network_buffer_m)], crs=crs).to_crs(WGS84).iloc[0]
    rules = WalkRules() if study.network_no_snap is None else WalkRules(no_snap=tuple(study.network_no_snap))
    if study.network is None:
        G = graph_from_place(str(study.place))
        return network_from_osmnx(G, crs, area=keep, rules=rules)
    path = study.network.resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, shapely.to_wkb(keep), crs.to_wkt(), rules)
    with _NETWORK_LOCK:
        net = _NETWORK_CACHE.get(key)
        if net is not None:
            _NETWORK_CACHE.move_to_end(key)
    if net is None:
        try:
            net = read_walk_network(path, crs, area=keep, rules=rules)
        except InputError as exc:
            if exc.field != "network":
                raise
            raise _off_network_error(study, exc.problem, str(path), area_wgs84, _file_extent(path)) from None
        with _NETWORK_LOCK:
            _NETWORK_CACHE[key] = net
            while len(_NETWORK_CACHE) > _NETWORK_CACHE_SIZE:
                _NETWORK_CACHE.popitem(last=False)
        status = "miss"
    else:
        status = "hit"
    # a shallow copy: arrays and spatial indexes are shared, the per-run settings are not
    out = copy.copy(net)
    out.__dict__ = dict(net.__dict__)
    out.info = {**net.info, "cache": status}
    return out


def _area_label(study: Study) -> str:
    """The study area as the config gives it, for messages."""
    a = study.area
    if a.polygon is not None:
        return f"the study area ({a.polygon.label()})"
    if a.boundaries is not None:
        return f"the study area {a.name!r} ({a.boundaries.label()})"
    crs = "" if str(a.bbox_crs).upper() in ("EPSG:4326", "4326", "WGS84") else f", bbox_crs {a.bbox_crs}"
    return f"the study area (bbox {list(a.bbox or [])}{crs})"


def _file_extent(path: Any) -> tuple[float, float, float, float] | None:
    """The WGS84 extent of an OSM file's streets (from its cached way table), None if unknown."""
    try:
        from .osm_network import way_table

        b = np.asarray(way_table(path).bounds, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no located node
            ext = (np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3]))
        return (float(ext[0]), float(ext[1]), float(ext[2]), float(ext[3])) if np.all(np.isfinite(ext)) else None
    except Exception:  # only for the message: never hide the error being reported
        return None


def _off_network_error(study: Study, problem: str, path: str, area_wgs84: shapely.Geometry,
                       streets: tuple[float, float, float, float] | None, near: bool = False) -> InputError:
    """The study area lies off the streets file: name the file, the area (as configured) and both extents."""
    where = f"{_area_label(study)} covers {lonlat_extent(area_wgs84)}"
    if streets is not None:
        what = "the streets read near it cover" if near else "the file's streets cover"
        where += f", {what} {lonlat_extent(streets)}"
    return InputError(f"{problem}: {where}", source=path, field="network",
                      fix="give a street file that covers the study area (cut a larger extract, e.g. with "
                      "osmium extract -b), or set [area] to a place the file covers; a bbox is lon/lat "
                      "(EPSG:4326) unless bbox_crs says otherwise")


_NETWORK_CACHE: OrderedDict[tuple, WalkNetwork] = OrderedDict()
_NETWORK_CACHE_SIZE = 4
_NETWORK_LOCK = threading.Lock()


# ------------------------------------------------------------------- blocks
def build_blocks(study: Study, net: WalkNetwork, area: shapely.Geometry) -> gpd.GeoDataFrame:
    """Street-enclosed blocks (or the user's parcels) inside the projected study ``area``.

    Enclosures are drawn by the carriageways only (see :func:`toolkit.blocks.carriageway_mask`)
    and by the roads closed to pedestrians (``net.barriers``).
    ``blocks.min_area_m2`` removes slivers of the street network; it does not apply to
    the user's parcels, which are official units and are all kept (those outside the
    area are listed in ``attrs["unused"]``).

    Parameters
    ----------
    study : Study
        Its ``[blocks]`` section (parcels, or the minimum block area).
    net : WalkNetwork
        The walking network (:func:`load_network`).
    area : shapely geometry
        The study area in ``net``'s CRS.

    Returns
    -------
    GeoDataFrame
        One polygon per block with its ``block_id``, in ``net``'s CRS.

    Examples
    --------
    >>> blocks = build_blocks(study, net, area_m)  # doctest: +SKIP
    >>> len(blocks), blocks.crs == net.crs  # doctest: +SKIP
    (1032, True)
    """
    if study.blocks is not None:
        g = read_layer(study.blocks.resolve(), **study.blocks.reader_options()).to_crs(net.crs)
        return user_blocks(g, area, id_field=study.block_id_field, source=study.blocks.label())
    # roads closed to pedestrians are no part of the walk but still divide the city
    return enclosed_blocks(net.streets(), area, min_area_m2=study.min_block_area_m2,
                           barriers=getattr(net, "barriers", None),
                           source=str(study.network.resolve()) if study.network is not None else None)


# --------------------------------------------------------------- population
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc")


def assign_population(study: Study, blocks: gpd.GeoDataFrame,
                      area: shapely.Geometry) -> tuple[gpd.GeoDataFrame, dict[str, dict[str, float]]]:
    """Add one population column per ``[population]`` source: rasters, or vector layers with a ``field``."""
    rasters = {}
    balance: dict[str, dict[str, float]] = {}
    blocks = blocks.copy()
    for col, src in study.population.items():
        path = src.resolve()
        if path.suffix.lower() in RASTER_SUFFIXES:
            rasters[col] = path
            continue
        if not src.field:
            raise InputError("a population table or layer needs the column holding the counts",
                             source=str(path), field=f"population.{col}.field",
                             fix="add field = '<column>' to the source, e.g. "
                             "{ path = 'buildings.gpkg', field = 'pop' }")
        layer = read_layer(path, **src.reader_options())
        blocks[col], balance[col] = population_from_layer(blocks, layer, src.field, source=str(path))
    if rasters:
        pop, rb = population_per_block(blocks, area, rasters)
        blocks = blocks.join(pop)
        balance.update(rb)
    return blocks, balance


# --------------------------------------------------------------- facilities
def load_facilities(study: Study, crs: Any, reach_wgs84: shapely.Geometry,
                    catalogue: dict[str, Category] | None = None,
                    net: WalkNetwork | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """All facilities of the study, classified, projected and limited to the reachable area.

    Returns the facilities and a report: per source, how many rows were read,
    classified and kept, how many are areas, how many OSM areas could not be
    assembled and how many schools say neither in tags nor name what level
    they are (those are also a :class:`~toolkit.io.DataWarning`). Areas keep
    their polygons: :func:`toolkit.facilities.attach_facilities` reaches them
    at their edge. ``catalogue`` is the run's categories
    (:attr:`toolkit.standards.Profile.catalogue`, with the study's own); the
    study's profile's when omitted. With the streets ``net``, each point source
    read as WGS84 is measured against them (:func:`toolkit.datum_check.check_source`):
    one that sits on the streets only as GCJ-02 or BD-09 is a DataWarning, and
    every check is in the report's ``datum_check``, by source.

    Parameters
    ----------
    study : Study
        Its ``[[facilities]]`` entries.
    crs : CRS-like
        The metric CRS of the analysis.
    reach_wgs84 : shapely geometry
        The area facilities may lie in (the study area and its walking margin), WGS84.
    catalogue : dict of str to Category, optional
        The run's categories.
    net : WalkNetwork, optional
        The streets, for the datum check of point sources.

    Returns
    -------
    GeoDataFrame
        One row per facility (``facility_id``, ``category``, ``name``, ``source``...), in ``crs``.
    dict
        The report, per source.

    Examples
    --------
    >>> fac, report = load_facilities(study, crs, area_wgs84, net=net)  # doctest: +SKIP
    >>> fac["category"].value_counts().head(3)  # doctest: +SKIP
    """
    cats = catalogue if catalogue is not None else load_profile(study.profile, study.overrides).catalogue
    parts, report = [], []
    datum: dict[str, dict] = {}
    shapely.prepare(reach_wgs84)
    for fs in study.facilities:
        path = fs.source.resolve()
        label = fs.source.label()
        suffix = path.name.lower()
        if fs.kind == "osm" and suffix.endswith((".osm", ".osm.bz2", ".osm.pbf", ".pbf")):
            keys = sorted({r.split("&")[0].split("=")[0] for c in (fs.categories or cats)
                           for r in cats[c].osm if c in cats})
            # nodes, closed ways and multipolygons: parks, pitches and schools are mostly mapped as areas
            raw = read_osm_features(path, tuple(keys)) if keys else gpd.GeoDataFrame(geometry=[], crs=WGS84)
        else:
            if fs.kind in classifier_kinds():
                require_declared_crs(load_classifier(fs.kind, fs.table, catalogue=cats), fs.source.declared_crs(),
                                     source=label)
            # a city-wide layer (Geofabrik: all of Shanghai) is read only around the reach
            raw = read_layer(path, **fs.source.reader_options(), bbox=tuple(reach_wgs84.bounds))
        only = fs.categories
        if only:
            bad = set(only) - set(cats)
            if bad:
                raise InputError(f"unknown categories {sorted(bad)}", source=study.source_file,
                                 field="facilities.categories",
                                 fix=f"use: {', '.join(cats)}, or define it under [standards.categories.<id>]")
        if fs.kind == "fixed" and fs.category not in cats:
            raise InputError(f"unknown category {fs.category!r}", source=study.source_file,
                             field="facilities.category",
                             fix=f"use: {', '.join(cats)}, or define it under [standards.categories.<id>]")
        # one match per (feature, category), each with the rule that made it: a feature of two categories is in both
        got = classify_source(raw, fs.kind, only=only, field=fs.field, mapping=fs.map, category=fs.category,
                              table=fs.table, catalogue=cats, source=label)
        unknown = got.unknown_level
        cat = categories_by_row(got.matches, raw.index)
        fac = facilities_from(raw, got.matches, source=label, name_field=fs.name_field or got.name_field,
                              id_field=got.id_field, capacity_field=getattr(fs, "capacity", None))
        # intersects, not contains: a park straddling the reach is kept
        inside = shapely.intersects(reach_wgs84, np.asarray(fac.geometry.values))
        _warn_far_rows(raw, reach_wgs84, label)
        if net is not None:
            from functools import partial

            from .datum_check import check_source

            # GCJ-02 declared as WGS84 is ~490 m off without any error: do the points sit on the streets?
            # A mixed export (shops inside blocks, stops on the street) is judged by category too: by all
            # the catalogue's (classified again, only if all points together do not tell), not only the study's
            every = got if not only else partial(classify_source, raw, fs.kind, field=fs.field, mapping=fs.map,
                                                 category=fs.category, table=fs.table, catalogue=cats, source=label)
            checked = check_source(raw, net, fs.source, label=label, path=path, categories=every)
            if checked is not None:
                datum[label] = checked
        entry = {"source": label, "rows": len(raw), "classified": len(fac), "kept_in_reach": int(inside.sum()),
                 "areas_in_reach": int(np.isin(shapely.get_type_id(np.asarray(fac.geometry.values)[inside]),
                                               (3, 6)).sum()),
                 "by_category": fac[inside]["category"].value_counts().to_dict()}
        if "broken_areas" in raw.attrs:
            entry["broken_areas"] = int(raw.attrs["broken_areas"])
        if got.classifier:
            entry["classifier"] = got.classifier  # which mapping table (and whose code list) classified it
        if got.school_rule:
            lost = unknown & shapely.intersects(reach_wgs84, np.asarray(raw.geometry.values))
            entry["schools_level_unknown"] = int(lost.sum())
            if lost.any():
                name_col = got.name_field or "name"
                named = raw.loc[lost, name_col].dropna().astype(str).head(5).tolist() if name_col in raw else []
                n_lost = int(lost.sum())
                warnings.warn(f"{label}: {n_lost} school{'s' if n_lost > 1 else ''} ({got.school_rule}) without "
                              "isced:level and with a name that does not say the level: school, level unknown, "
                              "not counted as a kindergarten, "
                              "primary or middle school" + (f" (e.g. {', '.join(named)})" if named else "")
                              + "; add isced:level in OSM or list them in a facilities layer", DataWarning,
                              stacklevel=2)
        # what the source declares (and its query log shows) about how complete each of its categories is
        entry["data_status"] = source_report(fs, raw, cat, entry["by_category"])
        report.append(entry)
        parts.append(fac[inside])
    return combine(parts, crs), {"sources": report, **({"datum_check": datum} if net is not None else {})}


def _warn_network_coverage(study: Study, net: WalkNetwork, hull_m: shapely.Geometry,
                           area_wgs84: shapely.Geometry, area_m: shapely.Geometry | None = None) -> None:
    """A network that covers only part of the study area is a cut file, not a district without streets.

    ``hull_m`` is the convex hull of the network's nodes, in the network's CRS; ``area_m`` the area in it.
    """
    area = gpd.GeoSeries([area_wgs84], crs=WGS84).to_crs(net.crs).iloc[0] if area_m is None else area_m
    share = shapely.intersection(hull_m, area).area / area.area if area.area > 0 else 1.0
    if area.area > 0 and not hull_m.intersects(area):
        hull_w = gpd.GeoSeries([hull_m], crs=net.crs).to_crs(WGS84).iloc[0]
        path = str(study.network.resolve()) if study.network is not None else f"place {study.place!r}"
        raise _off_network_error(study, "the study area does not overlap the streets", path, area_wgs84,
                                 hull_w.bounds, near=True)
    if share < 0.8:
        src = study.network.label() if study.network is not None else f"place {study.place!r}"
        warnings.warn(f"{src}: the streets cover only {share:.0%} of the study area ({area.area / 1e6:.1f} km2): "
                      "the OSM file looks cut short of the area; results hold for the part it covers (extract "
                      "the whole area, or set [area] to what the file covers)", DataWarning, stacklevel=2)


#: Rows further than this from the study area (in degrees, about 200 km) are not a city-wide layer's
#: other districts but wrong coordinates: (0, 0), a latitude of 3.12 for 31.2...
FAR_DEG = 2.0


def _warn_far_rows(raw: gpd.GeoDataFrame, reach_wgs84: shapely.Geometry, label: str) -> None:
    """Count and name the rows of a facility source that lie far outside the study area."""
    g = np.asarray(raw.geometry.values)
    if len(g) == 0:
        return
    far = shapely.distance(reach_wgs84, g) > FAR_DEG
    if far.any():
        rows = np.flatnonzero(far)
        pts = shapely.point_on_surface(g[rows[:3]])
        where = ", ".join(f"row {r} at ({p.x:.4f}, {p.y:.4f})" for r, p in zip(rows[:3], pts, strict=True))
        warnings.warn(f"{label}: {len(rows)} rows lie more than {FAR_DEG * 100:.0f} km from the study area "
                      f"and were not used (e.g. {where}): check their coordinates (swapped, missing, "
                      "or a typo)", DataWarning, stacklevel=2)


@contextmanager
def _timed(timings: dict[str, float], step: str, progress: Callable[[str], None] | None) -> Iterator[None]:
    if progress:
        progress(step)
    t = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - t, 3)
    log.info("%s: %.2f s", step, timings[step])


def run_study(study: Study, progress: Callable[[str], None] | None = None) -> StudyResult:
    """Run the whole coverage study and return its result (nothing is written).

    The run is a sequence of named steps (:data:`STEPS`) sharing one
    :class:`toolkit.overlays.StudyContext`; the overlays step runs every
    registered overlay (:mod:`toolkit.overlays`) whose section is in the study.

    Parameters
    ----------
    study : Study
        From :func:`toolkit.load_study` or built in Python.
    progress : callable, optional
        Called with each step's name as it starts (the CLI shows a spinner).

    Returns
    -------
    StudyResult
        The blocks with every indicator, the layers, the run's details and notes; ``save()`` writes them.

    Raises
    ------
    InputError
        Before any work, for a study with a bad key or value (the checks a study file gets,
        :func:`toolkit.config.validate_study`); later for bad data, naming the file and the fix.

    Examples
    --------
    >>> import toolkit as tk
    >>> result = tk.run_study(tk.load_study("xuhui"))  # doctest: +SKIP
    >>> list(result.overlays)  # doctest: +SKIP
    ['compounds', 'heritage', 'waterfront', 'walkability']
    """
    validate_study(study)  # a Study built or changed in Python: the checks a study file gets
    timings: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        result = _run(study, timings, progress)
        if getattr(study, "scenarios", None):  # proposals measured against the finished baseline, only read
            from .scenario import run_scenarios

            with _timed(timings, "scenarios", progress):
                run_scenarios(result)
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    for w in caught:
        if not issubclass(w.category, DataWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    result.notes = notes + result.notes
    return result


def _run(study: Study, timings: dict[str, float], progress) -> StudyResult:
    ctx = StudyContext(study=study, timings=timings, progress=progress)
    for step in STEPS:
        step(ctx)
    return _result(ctx)


# ------------------------------------------------------------- the steps
# Each step reads and sets the shared context; ``details = ctx.details`` keeps the run record's
# keys visible where they are set (tests/test_run_json.py reads them from this file).
def _step_standards(ctx: StudyContext) -> None:
    study = ctx.study
    with _timed(ctx.timings, "standards", ctx.progress):
        ctx.profile = load_profile(study.profile, study.overrides, source=study.source_file)


def _step_area(ctx: StudyContext) -> None:
    with _timed(ctx.timings, "area", ctx.progress):
        ctx.area_w = study_area(ctx.study)
        ctx.area_unclipped_w = ctx.area_w.geometry.iloc[0]
        ctx.crs = analysis_crs(ctx.study, ctx.area_unclipped_w)
        # the area as configured, projected once: the network's reach, its coverage check, the area before clipping
        ctx.area_unclipped_m = gpd.GeoSeries([ctx.area_unclipped_w], crs=WGS84).to_crs(ctx.crs).iloc[0]


def _step_network(ctx: StudyContext) -> None:
    study, details = ctx.study, ctx.details
    with _timed(ctx.timings, "network", ctx.progress):
        net = load_network(study, ctx.area_unclipped_w, ctx.crs, area_m=ctx.area_unclipped_m)
        net.snap_main_only = study.snap_main_only
        details["network"] = {"nodes": net.n_nodes, "edges": net.n_edges, **net.info}
        if net.info.get("components", 1) > 1:
            ctx.notes.append(f"the walking network has {net.info['components']} disconnected parts; "
                             f"{net.info['nodes_outside_main']} nodes lie outside the main one "
                             "(kept, see streets.component)"
                             + ("; blocks and facilities are attached to the main part only" if net.snap_main_only
                                else ""))
    ctx.net = net
    # the extent of the streets: judged against the area, and what the area is clipped to
    ctx.streets_hull_m = shapely.convex_hull(shapely.multipoints(np.column_stack([net.x, net.y])))
    _warn_network_coverage(study, net, ctx.streets_hull_m, ctx.area_unclipped_w, area_m=ctx.area_unclipped_m)


def _step_clip(ctx: StudyContext) -> None:
    """Clip the area to the streets and the population data; project the clipped area (once)."""
    study, details = ctx.study, ctx.details
    geom_w = ctx.area_unclipped_w
    name = ctx.area_w["name"]
    if not study.area.clip_to_data:
        ctx.area_m = gpd.GeoDataFrame({"name": name}, geometry=[ctx.area_unclipped_m], crs=ctx.crs)
    else:
        with _timed(ctx.timings, "clip", ctx.progress):
            ctx.hull = gpd.GeoSeries([ctx.streets_hull_m], crs=ctx.crs).to_crs(WGS84).iloc[0]
            geom_w = shapely.intersection(geom_w, _data_extent(study, ctx.hull, geom_w))
            before = ctx.area_unclipped_m.area
            ctx.area_m = gpd.GeoDataFrame({"name": name}, geometry=[geom_w], crs=WGS84).to_crs(ctx.crs)
            after = ctx.area_m.geometry.iloc[0].area
            if after < before * 0.999:
                ctx.notes.append(f"study area clipped to the data extent: {after / 1e6:.2f} of {before / 1e6:.2f} "
                                 "km2 kept")
            details["area_km2_before_clip"] = round(before / 1e6, 3)
    ctx.area_w = gpd.GeoDataFrame({"name": name}, geometry=[geom_w], crs=WGS84)
    ctx.area = ctx.area_m.geometry.iloc[0]
    details["area_km2"] = round(ctx.area.area / 1e6, 3)
    ctx.land = ctx.area


def _data_extent(study: Study, hull: shapely.Geometry, geom_w: shapely.Geometry) -> shapely.Geometry:
    """Where the streets (``hull``) and every population source overlap, WGS84; refused when off the area."""
    extent = hull
    extents = [f"streets {lonlat_extent(hull)}"]
    for col, src in study.population.items():
        fp = data_footprint(src)
        path = src.resolve()
        if not fp.intersects(geom_w):
            raster = path.suffix.lower() in RASTER_SUFFIXES
            raise no_overlap_error(path, _raster_footprint(path) if raster else fp, geom_w,
                                   field=f"population.{col}", area_label=_area_label(study),
                                   what="population raster" if raster else "population layer")
        extent = shapely.intersection(extent, fp)
        extents.append(f"{path.name} {lonlat_extent(fp)}")
    if not shapely.intersection(extent, geom_w).area > 0:
        raise InputError("the streets and the population data cover different parts of the study area: "
                         f"nothing is left once it is clipped to both ({_area_label(study)} covers "
                         f"{lonlat_extent(geom_w)}; {'; '.join(extents)})",
                         source=study.source_file, field="area.clip_to_data",
                         fix="give streets and population data that cover the same part of the study "
                         "area (check their CRS), or set clip_to_data = false")
    return extent


def _step_water(ctx: StudyContext) -> None:
    """With [waterfront]: the water polygons, and the land blocks are drawn on (the area less water and sea)."""
    study, details = ctx.study, ctx.details
    if study.waterfront is None:
        return
    from .waterfront import coast_lines, split_land, water_polygons

    # The shore is the district's, where the street data reach it; blocks are
    # drawn on land only, never over the river or the sea.
    if ctx.hull is None:
        ctx.wf_area = ctx.area_unclipped_m
    else:
        wf_w = shapely.intersection(ctx.area_unclipped_w, ctx.hull)
        ctx.wf_area = gpd.GeoSeries([wf_w], crs=WGS84).to_crs(ctx.crs).iloc[0]
    with _timed(ctx.timings, "water", ctx.progress):
        ctx.water = water_polygons(study.waterfront, ctx.crs, ctx.wf_area)
        coast = None
        if study.waterfront.coastlines:
            # The waterfront step reads the coastlines again for the same area and
            # reports their data warnings (reversed, ending inside) there: once.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                coast = coast_lines(study.waterfront, ctx.crs, ctx.wf_area)
        if ctx.water is not None or coast is not None:
            cut = split_land(ctx.area, ctx.water, coast)
            ctx.land = shapely.make_valid(cut.land)
            details["land_km2"] = round(ctx.land.area / 1e6, 3)
            details["removed_km2"] = {"water": cut.details()["water_km2"], "sea": cut.details()["sea_km2"]}
            note = cut.note()
            if note:
                ctx.notes.append(note)


def _step_blocks(ctx: StudyContext) -> None:
    details = ctx.details
    with _timed(ctx.timings, "blocks", ctx.progress):
        blocks = build_blocks(ctx.study, ctx.net, ctx.land)
        details["blocks"] = {"count": len(blocks), "dropped_slivers": blocks.attrs.get("dropped_slivers", 0)}
        if "edges_not_enclosing" in blocks.attrs:
            details["blocks"]["edges_not_enclosing"] = blocks.attrs["edges_not_enclosing"]
        if "unused" in blocks.attrs:
            details["blocks"]["unused_parcels"] = blocks.attrs["unused"]
    ctx.blocks = blocks


def _step_population(ctx: StudyContext) -> None:
    with _timed(ctx.timings, "population", ctx.progress):
        if ctx.study.population:
            ctx.blocks, ctx.balance = assign_population(ctx.study, ctx.blocks, ctx.area)
        else:
            ctx.notes.append("no population source: coverage rates are by block count, not people")
            ctx.blocks["population"] = 1.0


def _step_facilities(ctx: StudyContext) -> None:
    study, details = ctx.study, ctx.details
    with _timed(ctx.timings, "facilities", ctx.progress):
        reach = gpd.GeoSeries([ctx.area.buffer(study.network_buffer_m)], crs=ctx.crs).to_crs(WGS84).iloc[0]
        ctx.facilities, details["facilities"] = load_facilities(study, ctx.crs, reach,
                                                                catalogue=ctx.profile.catalogue, net=ctx.net)


def _step_snapping(ctx: StudyContext) -> None:
    study, details, net = ctx.study, ctx.details, ctx.net
    with _timed(ctx.timings, "snapping", ctx.progress):
        # a leg straight over the river or a motorway is no walk: legs go to the nearest street reachable
        # without crossing one, and the run says what they were checked against
        obstacles, legs_checked = leg_obstacles(
            net, ctx.water,
            water_reason=None if study.waterfront is not None else "no [waterfront] section in the study")
        details["snap_obstacles"] = ctx.obstacles = obstacles  # not written to run.json: for notebooks and checks
        bsnap = snap_points(net, ctx.blocks.geometry, max_snap_m=study.block_max_snap_m, obstacles=obstacles)
        details["blocks"].update(legs_checked, refused_by_reason=bsnap.refused_by_reason(),
                                 reattached=int(bsnap.reattached.sum()))
        # an area is reached at its entrances or the edge facing a street, not at its middle:
        # fsnap holds every access point (the coverage sources), fac one row per facility
        fac, access, fsnap = attach_facilities(ctx.facilities, net, max_snap_m=study.facility_max_snap_m,
                                               obstacles=obstacles)
        details["facilities"]["access_points"] = {str(k): int(v) for k, v in access["kind"].value_counts().items()}
        details["facility_access"] = access  # not written to run.json: for notebooks and checks
        fac_refused, fac_notes = snap_refusals(fac, access, fsnap, study.facility_max_snap_m,
                                               files={f.source.label(): f.source.resolve().name
                                                      for f in study.facilities})
        details["facilities"].update(legs_checked, **fac_refused)
        ctx.notes += fac_notes
        far = int((bsnap.reason == REASON_TOO_FAR).sum())
        if far:
            ctx.notes.append(f"{far} blocks lie more than {study.block_max_snap_m:.0f} m from "
                             "any street: their distances are left empty and they are not counted in coverage rates")
        if far < (~bsnap.ok).sum():
            ctx.notes.append(f"{int((~bsnap.ok).sum()) - far} blocks reach no street within "
                             f"{study.block_max_snap_m:.0f} m without crossing water or a road nobody may walk: "
                             "their distances are left empty and they are not counted in coverage rates")
        ctx.blocks["snap_leg_m"] = np.round(bsnap.leg, 2)
    ctx.facilities, ctx.access, ctx.block_snap, ctx.facility_snap = fac, access, bsnap, fsnap


def _step_coverage(ctx: StudyContext) -> None:
    study, details, profile = ctx.study, ctx.details, ctx.profile
    fac, access, fsnap = ctx.facilities, ctx.access, ctx.facility_snap
    with _timed(ctx.timings, "coverage", ctx.progress):
        rules = profile.rules()
        # a category is reached at the access points of the facilities it counts: its own, those of the
        # categories it is served_by, less the ones too small for it (area_m2 per facility_id)
        counted, details["facilities"]["coverage_sources"] = profile.coverage_sources(fac)
        ctx.notes += source_notes(details["facilities"]["coverage_sources"])
        pos = {c: np.flatnonzero(access["facility_id"].isin(fac["facility_id"].to_numpy()[counted[c]]).to_numpy())
               for c in rules}
        snaps = {c: fsnap.subset(p) for c, p in pos.items() if len(p) and fsnap.ok[p].any()}
        # one row per access point and category it counts for: the decisions step re-measures from these
        ctx.coverage_access = access.iloc[np.concatenate([np.zeros(0, dtype=np.int64), *pos.values()])].assign(
            category=np.repeat(np.array(list(pos), dtype=object), [len(p) for p in pos.values()]))
        cov = coverage(ctx.net, ctx.blocks, ctx.block_snap, snaps, rules, search_limit_m=study.search_limit_m)
        measured = ctx.measured = [c for c in rules if c in snaps]
        ctx.no_data = [c for c in rules if c not in snaps]
        blocks = ctx.blocks = ctx.blocks.join(cov)
        within = [f"within_{c}" for c in measured]
        blocks["n_within"] = blocks[within].sum(axis=1).astype(int) if within else 0
        blocks["n_measured"] = len(measured)
        ctx.rates = coverage_rates(blocks, measured)
        # a data gap is not a service gap: only categories with complete data may flag a block
        details["data_status"] = study_data_status(
            study, profile, measured, details["facilities"]["sources"], fac, ctx.area, blocks, counted=counted,
            drawn={c: r.get("from", [c]) for c, r in details["facilities"]["coverage_sources"].items()},
            suspect_below=UnderservedRule.from_config(study.underserved).suspect_below)
        # who walks how far: a rate hides whether the long walks fall on a few blocks or on the aged
        details["equity"] = equity_table(
            blocks, measured, {c: rules[c].max_distance_m for c in measured}, search_limit_m=study.search_limit_m,
            data_status={c: v.get("status", "unknown") for c, v in details["data_status"].items()},
        ).reset_index().to_dict(orient="records")
    ctx.streets = ctx.net.streets()
    # capacity against need (2SFCA/E2SFCA): only for categories whose facilities carry a capacity
    from .provision import ProvisionInputs, provision_step

    with _timed(ctx.timings, "provision", ctx.progress):
        ctx.blocks, details["provision"], provision_notes = provision_step(
            study, profile, ctx.blocks, ProvisionInputs(ctx.net, ctx.block_snap, fac, access, fsnap),
            details["data_status"])
        ctx.notes += provision_notes


def _step_overlays(ctx: StudyContext) -> None:
    """Every registered overlay, in its declared order: run those the study has, record the others as absent."""
    for ov in overlays.registered():
        if not ov.is_active(ctx.study):
            ctx.overlays[ov.name] = ov.absent()
            continue
        with _timed(ctx.timings, ov.name, ctx.progress):
            out = ov.run(ctx)
            _apply_overlay(ctx, ov, out)


def _apply_overlay(ctx: StudyContext, ov: Overlay, out: OverlayOutput) -> None:
    """Join an overlay's columns, take its layers, notes and summary (``details[name]``) into the run."""
    for attr, what in (("blocks", out.block_columns), ("streets", out.street_columns)):
        if what is None or not len(what.columns):
            continue
        frame = getattr(ctx, attr)
        clash = [c for c in what.columns if c in frame.columns]
        if clash:
            raise ValueError(f"overlay {ov.name!r} returns {attr} columns the {attr} have already: {clash}")
        setattr(ctx, attr, frame.join(what))
    ctx.layers.update(out.layers)
    ctx.notes.extend(out.notes)
    ctx.details[ov.name] = out.summary
    if out.summary.get("status") == "absent":
        out.status = "absent"  # it ran and found nothing to measure (a study without water)
    out.title_en, out.title_zh = out.title_en or ov.title_en, out.title_zh or ov.title_zh
    ctx.overlays[ov.name] = out


def _step_decisions(ctx: StudyContext) -> None:
    study, details = ctx.study, ctx.details
    if not study.decisions:
        return
    from .decisions import run_decisions

    with _timed(ctx.timings, "decisions", ctx.progress):
        # the before/after coverage is seeded like the coverage step: from every access point
        ctx.blocks, details["decisions"] = run_decisions(
            study, ctx.net, ctx.blocks, ctx.streets, ctx.coverage_access, ctx.block_snap, ctx.measured, ctx.profile,
            ctx.land, ctx.layers, waterfront_access=ctx.layers.get("waterfront_access"),
            data_status=details["data_status"], obstacles=ctx.obstacles, notes=ctx.notes)
        # who walks how far, zone by zone, at every zone level the step built (toolkit.equity)
        from .equity import zone_equity

        details["equity_by_zone"] = zone_equity(
            ctx.blocks, ctx.layers, ctx.measured, {c: ctx.profile.rules()[c].max_distance_m for c in ctx.measured},
            {"search_limit_m": study.search_limit_m,
             "data_status": {c: v.get("status", "unknown") for c, v in details["data_status"].items()}})
    # blocks and zones by severity, with reasons and sensitivity (toolkit.priority): after the zones and the
    # voice overlay; its own step, since priority reuses the decisions' ranking measures
    from .priority import run_priority

    with _timed(ctx.timings, "priority", ctx.progress):
        ctx.blocks, details["priority"] = run_priority(study, ctx.blocks, ctx.measured, ctx.profile,
                                                       details["data_status"], ctx.layers, ctx.notes)


def _result(ctx: StudyContext) -> StudyResult:
    return StudyResult(study=ctx.study, profile=ctx.profile, crs=ctx.crs, area=ctx.area_m, network=ctx.net,
                       blocks=ctx.blocks, facilities=ctx.facilities, rates=ctx.rates, categories=ctx.measured,
                       no_data=ctx.no_data, population_balance=ctx.balance, inputs=_inputs(ctx.study),
                       timings=ctx.timings, notes=ctx.notes, details=ctx.details, streets=ctx.streets,
                       layers=ctx.layers, land=ctx.land, overlays=ctx.overlays)


#: The steps of a run, in order; each takes the shared :class:`~toolkit.overlays.StudyContext`.
STEPS: tuple[Callable[[StudyContext], None], ...] = (
    _step_standards, _step_area, _step_network, _step_clip, _step_water, _step_blocks, _step_population,
    _step_facilities, _step_snapping, _step_coverage, _step_overlays, _step_decisions)


# ------------------------------------------------------ the built-in overlays
def _builtin_output(ctx: StudyContext, blocks: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None,
                    layers: dict[str, gpd.GeoDataFrame], summary: dict[str, Any],
                    notes: Sequence[str] = ()) -> OverlayOutput:
    """A built-in overlay's result on the contract: the columns it added, its layers and summary.

    The output modules draw, style and report the built-ins themselves (their columns are in
    data/schema.toml), so the generic fallbacks are switched off (no map columns or layers).
    """
    new_b = [c for c in blocks.columns if c not in ctx.blocks.columns]
    new_s = [] if streets is None else [c for c in streets.columns if c not in ctx.streets.columns]
    return OverlayOutput(block_columns=pd.DataFrame(blocks[new_b]),
                         street_columns=pd.DataFrame(streets[new_s]) if new_s and streets is not None else None,
                         layers=layers, summary=summary, notes=list(notes), map_columns={}, map_layers=())


def _run_compounds(ctx: StudyContext) -> OverlayOutput:
    from .compounds import compounds_overlay

    layers: dict[str, gpd.GeoDataFrame] = {}
    notes: list[str] = []
    raster = ctx.balance.get("population", {}).get("in_area")
    assert ctx.study.compounds is not None  # the overlay runs only for a study with [compounds]
    blocks, summary = compounds_overlay(ctx.study.compounds, ctx.blocks, ctx.area, layers, notes,
                                        raster_in_area=raster)
    return _builtin_output(ctx, blocks, None, layers, summary, notes)


def _run_heritage(ctx: StudyContext) -> OverlayOutput:
    layers: dict[str, gpd.GeoDataFrame] = {}
    blocks, streets, summary = heritage_overlay(ctx.study, ctx.blocks, ctx.streets, ctx.area, ctx.crs, layers,
                                                net=ctx.net,
                                                checked=ctx.details["facilities"].get("datum_check", {}))
    return _builtin_output(ctx, blocks, streets, layers, summary)


def _run_waterfront(ctx: StudyContext) -> OverlayOutput:
    layers: dict[str, gpd.GeoDataFrame] = {}
    blocks, summary = waterfront_overlay(ctx.study, ctx.net, ctx.blocks, ctx.wf_area, ctx.profile, layers,
                                         ctx.water, ctx.block_snap)
    return _builtin_output(ctx, blocks, None, layers, summary)


def _run_walkability(ctx: StudyContext) -> OverlayOutput:
    blocks, streets, summary = walkability_overlay(ctx.study, ctx.net, ctx.blocks, ctx.streets, ctx.facilities,
                                                   ctx.profile, ctx.block_snap, ctx.area, access=ctx.access,
                                                   obstacles=ctx.obstacles)
    return _builtin_output(ctx, blocks, streets, {}, summary)


def _no_sections(result: StudyResult, out: OverlayOutput, lang: str) -> list:
    return []  # report.html has the built-ins' own sections


def _builtin(name: str, run: Callable[[StudyContext], OverlayOutput], title: str, order: int, **kw: Any) -> Overlay:
    return Overlay(name, run, title_en=label(title, "en"), title_zh=label(title, "zh"), order=order,
                   sections=_no_sections, **kw)


#: The built-in overlays, registered when this module is imported (toolkit.overlays.register).
BUILTIN_OVERLAYS: tuple[Overlay, ...] = (
    _builtin("compounds", _run_compounds, "layer.compounds", 10, enabled=lambda s: s.compounds is not None),
    _builtin("heritage", _run_heritage, "report.heritage", 20, enabled=lambda s: s.heritage is not None),
    _builtin("waterfront", _run_waterfront, "term.waterfront", 30, enabled=lambda s: s.waterfront is not None),
    _builtin("walkability", _run_walkability, "term.walkability", 40, always=True),
)
for _ov in BUILTIN_OVERLAYS:
    overlays.register(_ov)
overlays.register(VOICE_OVERLAY)  # [voice]: residents' complaints and survey responses (toolkit.voice)


def waterfront_overlay(study: Study, net: WalkNetwork, blocks: gpd.GeoDataFrame, area: shapely.Geometry,
                       profile: Profile, layers: dict[str, gpd.GeoDataFrame], water: gpd.GeoDataFrame | None = None,
                       block_snap: Snapped | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Shoreline, access and continuity, and each block's walk to the waterfront.

    With no water in the study the blocks get no waterfront columns and the
    summary says why (absent-with-reason, never zeros).
    """
    from .waterfront import analyse_waterfront

    assert study.waterfront is not None  # only called for a study with [waterfront]
    threshold = profile.waterfront_threshold()
    wr = analyse_waterfront(study.waterfront, area, net, blocks, threshold,
                            block_max_snap_m=study.block_max_snap_m, water=water, block_snap=block_snap)
    summary = dict(wr.summary)
    if not wr.present:
        return blocks, summary
    layers["waterfront"] = wr.segments
    layers["waterfront_access"] = wr.access_points
    blocks = blocks.join(wr.blocks)
    pop = blocks["population"] if "population" in blocks else None
    summary["threshold_m"] = round(threshold, 1)
    summary["blocks_within"] = int(blocks["within_waterfront"].sum())
    if pop is not None and pop.sum() > 0:
        summary["population_within_share"] = float(pop[blocks["within_waterfront"]].sum() / pop.sum())
    return blocks, summary


def heritage_overlay(study: Study, blocks: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, area: shapely.Geometry,
                     crs: pyproj.CRS, layers: dict[str, gpd.GeoDataFrame], net: WalkNetwork | None = None,
                     checked: Any = (),
                     ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Heritage columns on blocks, ``protected_road`` on streets, zone and building layers into ``layers``.

    With the streets ``net``, the point registers read as WGS84 (``osm``, ``listed_buildings``,
    ``relics``; not those labelled in ``checked``) get the facilities' datum check
    (:func:`toolkit.datum_check.check_sources`), in the summary's ``datum_check``.
    """
    from .heritage import block_heritage, heritage_summary, load_heritage, protected_roads

    cfg = study.heritage
    assert cfg is not None  # only called for a study with [heritage]
    hl = load_heritage(cfg, crs, area=area)
    blocks = blocks.join(block_heritage(blocks, hl, cfg.buffer_m))
    streets = streets.copy()
    streets["protected_road"], unmatched = protected_roads(streets, cfg.protected_roads)
    layers["heritage"] = hl.zones
    layers["heritage_buildings"] = hl.buildings
    summary = heritage_summary(blocks, hl)
    summary["protected_roads"] = {"names": list(cfg.protected_roads), "unmatched": unmatched,
                                  "street_edges": int(streets["protected_road"].sum()),
                                  "length_m": round(float(streets.loc[streets["protected_road"], "length_m"].sum()), 1)}
    if net is not None:
        from .datum_check import check_sources

        summary["datum_check"] = check_sources([cfg.osm, *cfg.listed_buildings, *cfg.relics], net, skip=checked)
    return blocks, streets, summary


def walkability_overlay(study: Study, net: WalkNetwork, blocks: gpd.GeoDataFrame,  # noqa: PLR0913 (notebook API)
                        streets: gpd.GeoDataFrame,
                        facilities: gpd.GeoDataFrame, profile: Profile,
                        block_snap: Snapped,
                        area: shapely.Geometry, access: gpd.GeoDataFrame | None = None,
                        obstacles=None,
                        ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Walkability components and composites for every block and street segment.

    ``access`` are the facilities' access points (from
    :func:`toolkit.facilities.attach_facilities`): each amenity is then counted
    once, at its best access point, and the streets' transit distance starts
    from every access point of a stop, as the coverage step does, snapped
    with ``obstacles`` (the study's ``details["snap_obstacles"]``) as there: a
    stop refused for its leg across water is no stop for the streets either.

    Returns the blocks and streets with ``walk_*`` columns and a summary for run.json.
    """
    from .walkability import WalkabilitySettings, block_faces, intersection_count, walk_sources, walkability

    settings = WalkabilitySettings.from_config(study.walkability)
    speeds = {w: profile.speed(w) for w in ("adult", "elderly")}
    landuse = None
    if study.walk_landuse is not None:
        landuse = read_layer(study.walk_landuse.resolve(), **study.walk_landuse.reader_options()).to_crs(net.crs)
        if study.walk_landuse_field not in landuse.columns:
            hint = column_hint(study.walk_landuse_field, landuse.columns)
            raise InputError(f"land-use type column {study.walk_landuse_field!r} not found"
                             + (f" ({hint})" if hint else ""), source=study.walk_landuse.label(),
                             field="walkability.landuse_field",
                             fix=missing_column_fix(study.walk_landuse_field, landuse.columns, "landuse_field"))
    amenities = facilities[facilities["snapped"]] if len(facilities) else None
    if access is not None:
        # one point per facility, where it meets the street: a park's middle may be 200 m from any gate
        amenities = access[access["best"] & access["snapped"]] if len(access) else None
    stops = facilities if access is None else access
    transit = blocks["dist_transit_m"].to_numpy() if "dist_transit_m" in blocks else None
    pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(blocks.geometry.values)), index=blocks.index,
                        crs=blocks.crs)
    # blocks and street segments reach the same land uses and amenities: snap and search them once
    sources = walk_sources(net, settings, speeds, landuse=landuse, landuse_field=study.walk_landuse_field,
                           amenities=amenities, obstacles=obstacles)
    wb = walkability(net, pts, block_snap, settings, speeds, transit_m=transit, faces=block_faces(blocks, net),
                     sources=sources)
    blocks = blocks.join(wb)
    # streets: the same components at each segment's midpoint; its own length is its face
    # streets are net.streets(): one row per network edge, in edge order
    mids = gpd.GeoSeries(shapely.points(net.edge_midpoints), index=streets.index, crs=streets.crs)
    st_transit = None
    if "transit" in set(stops["category"]):
        # a segment's own distance: the nearer of its two ends, from one node-level Dijkstra
        tr = snap_points(net, stops.loc[stops["category"] == "transit"].geometry,
                         max_snap_m=study.facility_max_snap_m, obstacles=obstacles)
        nd = node_distances(net, tr, limit=study.search_limit_m)
        st_transit = np.minimum(nd[net.u], nd[net.v])
    faces = pd.DataFrame({"walk_block_face_max_m": streets["length_m"].to_numpy()}, index=streets.index)
    ws = walkability(net, mids, None, settings, speeds, transit_m=st_transit, faces=faces, edge_ends=(net.u, net.v),
                     sources=sources)
    streets = streets.join(ws[[c for c in ws.columns if c != "walk_block_face_max_m"]])
    from .walkability import hostile_edges

    streets["walk_hostile"] = hostile_edges(net)
    comps = [c for c in wb.columns if c.startswith("walk_") and not c.endswith(("_score", "_elderly"))
             and c not in ("walk_index", "walk_face_over_guideline")]
    summary = {
        "settings": {"radius_m": settings.radius_m, "walk_minutes": settings.walk_minutes,
                     "scoring": settings.scoring, "face_guideline_m": settings.face_guideline_m},
        "weights": settings.weights,
        "intersections_3way_in_area": intersection_count(net, area),
        "blocks_face_over_guideline_share": float(wb["walk_face_over_guideline"].mean()),
        "median": {c: float(np.nanmedian(np.where(np.isfinite(wb[c]), wb[c], np.nan))) for c in comps},
        "street_length_hostile_m": float(streets.loc[streets["walk_hostile"], "length_m"].sum()),
    }
    return blocks, streets, summary


def _inputs(study: Study) -> list[dict[str, Any]]:
    """Every input file of the study with its role(s) and sha256, for run.json."""
    seen: dict[str, dict[str, Any]] = {}  # (an encoding may be None: text_encoding found none to name)
    for role, s in iter_sources(study):
        p = str(s.resolve())
        if p in seen:
            seen[p]["role"] += f", {role}"
            continue
        seen[p] = {"role": role, "source": s.label(), "file": p, "sha256": s.checksum()}
        if p.lower().endswith(TEXT_SUFFIXES) and not role.endswith("fetch_log"):  # a log is read as UTF-8 text
            seen[p]["encoding"] = text_encoding(p, s.encoding)  # the tables' as read: declared, else detected
    return list(seen.values())


def summary_text(result: StudyResult) -> str:
    """A plain-text summary (used by the CLI when rich is unavailable and in tests)."""
    s = result.summary()
    lines = [f"{'category':<20}{'threshold':>10}{'facilities':>11}{'total':>8}{'65+':>8}  {'data':<9}"
             "underserved missing it"]
    for c, r in s.iterrows():
        tot = "-" if np.isnan(r["rate_total"]) else f"{r['rate_total']:.1%}"
        old = "-" if np.isnan(r["rate_65plus"]) else f"{r['rate_65plus']:.1%}"
        if r["flags_underserved"]:
            why = "-" if pd.isna(r["underserved_missing"]) else f"{r['underserved_missing']:,}"
        else:
            why = "measured on incomplete data: never flags" if r["status"] != "no data" else "not assessed"
        lines.append(f"{c:<20}{r['threshold_m']:>8} m{r['facilities']:>11}{tot:>8}{old:>8}  {r['status']:<9}{why}")
    return "\n".join(lines)
