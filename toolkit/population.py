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
        raise InputError(f"population column {field!r} not found", source=source, field=field,
                         fix=f"use one of: {', '.join(map(str, layer.columns))}")
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
