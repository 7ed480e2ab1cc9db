"""Population per block from gridded rasters, area-weighted so totals are preserved.

Each raster cell becomes a polygon, is projected to the study CRS, and gives
each block the share of its people equal to the share of its area the block
covers (areal weighting). Every person in a cell inside the study area lands
in exactly one block or in the "outside blocks" remainder (streets, slivers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from .crs import ensure_projected
from .errors import InputError
from .io import column_hint, lonlat_extent, missing_column_fix

__all__ = [
    "Footprint",
    "RasterGrid",
    "area_weights",
    "no_overlap_error",
    "population_from_layer",
    "population_per_block",
    "raster_footprint",
    "read_grid"
]


@dataclass
class RasterGrid:
    """A population raster's cells as polygons in the study CRS."""

    values: np.ndarray  # per cell, nodata replaced by 0
    cells: np.ndarray  # shapely polygons in the study CRS
    source: str
    key: tuple  # (shape, transform, CRS): grids with equal keys share their cells


def read_grid(path: str | Path, crs, band: int = 1) -> RasterGrid:
    """Read a population raster and polygonise its cells in ``crs``.

    Cells with nodata, NaN, infinite or negative values count as 0 people.
    """
    p = Path(path)
    try:
        with rasterio.open(p) as src:
            arr = src.read(band).astype(float)
            nodata = src.nodata
            transform = src.transform
            src_crs = src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the raster: {exc}", source=str(p),
                         fix="give a GeoTIFF of people per cell") from None
    if src_crs is None:
        raise InputError("the raster has no CRS", source=str(p), field="crs",
                         fix="assign one with gdal_edit.py -a_srs EPSG:4326")
    bad = ~np.isfinite(arr) | (arr < 0)
    if nodata is not None and np.isfinite(nodata):
        bad |= arr == nodata
    arr[bad] = 0.0
    rows, cols = np.indices(arr.shape).reshape(2, -1)
    vals = arr[rows, cols]
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    corners_c = np.array([0, 1, 1, 0, 0])
    corners_r = np.array([0, 0, 1, 1, 0])
    cc = cols[:, None] + corners_c[None, :]
    rr = rows[:, None] + corners_r[None, :]
    xs = a * cc + b * rr + c
    ys = d * cc + e * rr + f
    cells = shapely.polygons(np.stack([xs, ys], axis=-1))
    cells = gpd.GeoSeries(cells, crs=src_crs).to_crs(crs).values
    return RasterGrid(values=vals, cells=np.asarray(cells), source=str(p),
                      key=(arr.shape, tuple(transform), src_crs.to_string()))


@dataclass
class Footprint:
    """Where a raster lies: its box in lon/lat, and its own bounds and CRS as the file states them."""

    wgs84: shapely.Geometry
    bounds: tuple[float, float, float, float]
    crs: rasterio.crs.CRS | None


def raster_footprint(path: str | Path) -> Footprint:
    """The extent of a raster in WGS84 (its box, converted), with its bounds and CRS as stored.

    Raises
    ------
    InputError
        The file cannot be read, or it has no CRS.
    """
    p = Path(path)
    try:
        with rasterio.open(p) as src:
            b, crs = tuple(src.bounds), src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the raster: {exc}", source=str(p),
                         fix="give a GeoTIFF of people per cell") from None
    if crs is None:
        raise InputError("the population raster has no coordinate reference system", source=str(p),
                         fix="assign its CRS (e.g. gdal_edit.py -a_srs EPSG:4326 FILE) and run again")
    box = shapely.box(*b)
    # the box's edges, densified, so that a projected raster's footprint keeps its shape in lon/lat
    box = shapely.segmentize(box, max(b[2] - b[0], b[3] - b[1]) / 16 or 1.0)
    with np.errstate(all="ignore"):
        wgs = gpd.GeoSeries([box], crs=crs).to_crs("EPSG:4326").iloc[0]
    return Footprint(wgs84=wgs, bounds=b, crs=crs)


def no_overlap_error(path: str | Path, footprint: Footprint | shapely.Geometry, area_wgs84: shapely.Geometry, *,
                     field: str, area_label: str = "the study area", what: str = "population raster") -> InputError:
    """The error for population data lying wholly outside the study area: both extents, and the CRS to check.

    ``footprint`` is a raster's :class:`Footprint`, or the WGS84 extent of a layer. A
    projected CRS tag on coordinates that are degrees (the usual mistake: a WGS84 grid
    labelled with a UTM or Web Mercator CRS) is recognised and the right tag suggested.
    """
    wgs = footprint.wgs84 if isinstance(footprint, Footprint) else footprint
    problem = (f"the {what} does not overlap the study area: it covers {lonlat_extent(wgs)}, "
               f"{area_label} covers {lonlat_extent(area_wgs84)}")
    fix = (f"check the {what}'s CRS: a wrong CRS label puts the data elsewhere"
           + ("; or give data that cover the study area" if what != "population raster" else ""))
    if isinstance(footprint, Footprint):
        crs, (x0, y0, x1, y1) = footprint.crs, footprint.bounds
        tag = crs.to_string() if crs is not None else "none"
        problem += f" (its CRS tag says {tag}; in it, the raster spans x {x0:g} to {x1:g}, y {y0:g} to {y1:g})"
        degrees = -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
        if crs is not None and not crs.is_geographic and degrees:
            ax0, ay0, ax1, ay1 = area_wgs84.bounds
            near = x0 <= ax1 + 1 and ax0 - 1 <= x1 and y0 <= ay1 + 1 and ay0 - 1 <= y1
            fix = (f"the raster's CRS tag is wrong: its coordinates ({x0:.3f} to {x1:.3f}, {y0:.3f} to {y1:.3f}) "
                   f"are degrees{' of lon/lat at the study area' if near else ''}, not {tag} metres; tag it "
                   f"EPSG:4326 (gdal_edit.py -a_srs EPSG:4326 {path}) or export it again with its true CRS")
        else:
            fix = (f"check the raster's CRS (gdalinfo {path}): if the tag {tag} is wrong, set the right one "
                   "(gdal_edit.py -a_srs EPSG:<code> FILE); otherwise give a raster that covers the study area")
    return InputError(problem, source=str(path), field=field, fix=fix)


def area_weights(cells: np.ndarray, zones: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse (cell, zone, share-of-cell-area) triples for areal weighting."""
    tree = shapely.STRtree(zones)
    ci, zi = tree.query(cells, predicate="intersects")
    inter = shapely.area(shapely.intersection(cells[ci], zones[zi]))
    share = inter / shapely.area(cells[ci])
    return ci, zi, share


def population_per_block(blocks: gpd.GeoDataFrame, area: shapely.Geometry,
                         rasters: Mapping[str, str | Path]) -> tuple[pd.DataFrame, dict]:
    """Area-weighted population of every block, for each raster (total, 65+, 0-14...).

    Parameters
    ----------
    blocks : GeoDataFrame
        Blocks in a metric CRS.
    area : shapely geometry
        The study area in the same CRS.
    rasters : mapping of output column to raster path
        E.g. ``{"population": "total.tif", "pop_65plus": "65.tif"}``.

    Returns
    -------
    DataFrame
        One column per raster, on ``blocks.index``.
    dict
        Per column: ``in_area`` (people inside the study area), ``in_blocks`` and
        ``outside_blocks`` (in the area but not in any block: streets, slivers).

    Examples
    --------
    >>> pop, report = population_per_block(blocks, area_m, {"population": fetch("pop_total")})  # doctest: +SKIP
    >>> round(report["population"]["in_blocks"])  # doctest: +SKIP
    """
    ensure_projected(blocks, "the blocks")
    zones = np.asarray(blocks.geometry.values)
    out = pd.DataFrame(index=blocks.index)
    balance: dict[str, dict[str, float]] = {}
    cache: dict[tuple, tuple] = {}
    for col, path in rasters.items():
        grid = read_grid(path, blocks.crs)
        key = grid.key
        if key not in cache:
            wa = area_weights(grid.cells, np.array([area]))
            wb = area_weights(grid.cells, zones)
            cache[key] = (wa, wb)
        (aci, _, ashare), (bci, bzi, bshare) = cache[key]
        vals = grid.values
        if len(aci) == 0:
            # a wrong CRS tag puts the whole grid elsewhere: say so, not "no residents"
            area_w = gpd.GeoSeries([area], crs=blocks.crs).to_crs("EPSG:4326").iloc[0]
            raise no_overlap_error(path, raster_footprint(path), area_w, field=f"population.{col}")
        per_block = np.bincount(bzi, weights=vals[bci] * bshare, minlength=len(zones))
        in_area = float((vals[aci] * ashare).sum())
        if not in_area > 0:
            # an all-nodata or all-zero grid would run to the end as "0 residents (nan aged 65+)"
            raise InputError(f"the population raster holds no residents in the study area (sum {in_area:g}; "
                             f"{len(aci)} cells overlap it, all nodata or zero)", source=str(path),
                             field=f"population.{col}",
                             fix="check the raster's nodata value and CRS, and that it covers the study area")
        out[col] = per_block
        balance[col] = {"in_area": round(in_area, 1), "in_blocks": round(float(per_block.sum()), 1),
                        "outside_blocks": round(in_area - float(per_block.sum()), 1),
                        "raster_total": round(float(vals.sum()), 1)}
    return out, balance


def population_from_layer(blocks: gpd.GeoDataFrame, layer: gpd.GeoDataFrame, field: str,
                          source: str = "population layer") -> tuple[np.ndarray, dict[str, float]]:
    """People per block from a vector layer holding a count column.

    Points (survey points, address counts) go to the block containing them;
    polygons (buildings, census zones) are split by area share, as rasters are.

    Returns the per-block values (aligned to ``blocks``) and the balance record.
    """
    ensure_projected(blocks, "the blocks")
    if field not in layer.columns:
        hint = column_hint(field, layer.columns)
        raise InputError(f"population column {field!r} not found" + (f" ({hint})" if hint else ""),
                         source=source, field=field, fix=missing_column_fix(field, layer.columns, "field"))
    vals = pd.to_numeric(layer[field], errors="coerce")
    if vals.isna().any() or (vals < 0).any():
        bad = np.flatnonzero((vals.isna() | (vals < 0)).to_numpy())
        raise InputError(f"population column {field!r} has missing or negative values (rows "
                         f"{', '.join(map(str, bad[:10]))})", source=source, field=field,
                         fix="fill them with a count of people (0 if nobody lives there)")
    g = np.asarray(layer.to_crs(blocks.crs).geometry.values)
    v = vals.to_numpy(dtype=float)
    zones = np.asarray(blocks.geometry.values)
    is_point = shapely.get_type_id(g) == 0
    per_block = np.zeros(len(zones))
    if is_point.any():
        pi, zi = shapely.STRtree(zones).query(g[is_point], predicate="within")
        first = np.unique(pi, return_index=True)[1]  # a point on a shared edge counts once
        np.add.at(per_block, zi[first], v[is_point][pi[first]])
    if (~is_point).any():
        ci, zi, share = area_weights(g[~is_point], zones)
        np.add.at(per_block, zi, v[~is_point][ci] * share)
    total = float(v.sum())
    return per_block, {"layer_total": round(total, 1), "in_blocks": round(float(per_block.sum()), 1),
                       "outside_blocks": round(total - float(per_block.sum()), 1)}
