"""Street blocks: the unit planners act on.

Blocks are the enclosures of the street network, as momepy's ``enclosures``
defines them: the union of street centrelines and the study boundary,
polygonised. Polygonising the *noded* union is the whole trick; it needs only
shapely, so momepy is not a dependency. Official parcels (街坊/地块) can be
supplied instead.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import shapely

from .crs import ensure_projected
from .errors import InputError
from .io import DataWarning


def enclosed_blocks(streets: gpd.GeoDataFrame | gpd.GeoSeries, area: shapely.Geometry,
                    min_area_m2: float = 500.0) -> gpd.GeoDataFrame:
    """Street-enclosed blocks clipped to the study area.

    Parameters
    ----------
    streets : GeoDataFrame or GeoSeries
        Street centrelines in a metric CRS.
    area : shapely geometry
        The study area polygon, in the same CRS.
    min_area_m2 : float
        Polygons smaller than this (traffic islands, slivers between carriageways)
        are dropped; their population counts as outside blocks.

    Returns
    -------
    GeoDataFrame
        ``block_id`` (stable: ordered by position, north-west first) and
        ``area_m2``, indexed by ``block_id``.
    """
    ensure_projected(streets, "the streets")
    lines = shapely.intersection(np.asarray(streets.geometry.values), area)
    lines = lines[~shapely.is_empty(lines)]
    boundary = shapely.boundary(area)
    noded = shapely.union_all(np.concatenate([lines, [boundary]]))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    # Holes left by dangling streets are real parts of a block: polygonize
    # already returns faces; keep those inside the area.
    rp = shapely.point_on_surface(polys)
    shapely.prepare(area)
    polys = polys[shapely.contains(area, rp)]
    return _finish(polys, streets.crs, min_area_m2)


def _finish(polys: np.ndarray, crs, min_area_m2: float) -> gpd.GeoDataFrame:
    areas = shapely.area(polys)
    keep = areas >= min_area_m2
    polys, areas = polys[keep], areas[keep]
    if len(polys) == 0:
        raise InputError("no block is larger than the minimum block area", field="blocks.min_area_m2",
                         fix="lower min_area_m2 or check that the streets cover the study area")
    c = shapely.point_on_surface(polys)
    # Stable ids: order by a 10 m grid position, north to south then west to east.
    order = np.lexsort((np.round(shapely.get_x(c), -1), -np.round(shapely.get_y(c), -1)))
    gdf = gpd.GeoDataFrame({"block_id": np.arange(1, len(polys) + 1), "area_m2": areas[order]},
                           geometry=polys[order], crs=crs)
    gdf.attrs["dropped_slivers"] = int((~keep).sum())
    return gdf.set_index("block_id", drop=False).rename_axis(None)


def user_blocks(gdf: gpd.GeoDataFrame, area: shapely.Geometry, id_field: str | None = None,
                min_area_m2: float = 0.0, source: str = "blocks") -> gpd.GeoDataFrame:
    """Use official parcels (街坊/地块) as blocks, clipped to the study area.

    Overlaps between parcels would double-count people, so they are reported.
    """
    ensure_projected(gdf, "the user blocks")
    g = gdf.copy()
    g["geometry"] = shapely.intersection(np.asarray(g.geometry.values), area)
    g = g[~g.geometry.is_empty & g.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    g = g[g.geometry.area >= min_area_m2]
    if len(g) == 0:
        raise InputError("no user block lies in the study area", source=source,
                         fix="check the blocks layer's CRS and extent")
    total = g.geometry.area.sum()
    union = shapely.union_all(np.asarray(g.geometry.values)).area
    if total - union > 1.0:
        warnings.warn(f"{source}: blocks overlap by {total - union:,.0f} m2; population in the overlaps "
                      "is shared between them", DataWarning, stacklevel=2)
    g["area_m2"] = g.geometry.area
    if id_field:
        if id_field not in g:
            raise InputError(f"id field {id_field!r} not found", source=source, field=id_field,
                             fix=f"use one of: {', '.join(map(str, gdf.columns))}")
        if g[id_field].duplicated().any():
            raise InputError(f"id field {id_field!r} has duplicate values", source=source, field=id_field,
                             fix="give each block a unique id")
        g["block_id"] = g[id_field]
    else:
        g["block_id"] = np.arange(1, len(g) + 1)
    return g.set_index("block_id", drop=False).rename_axis(None)
