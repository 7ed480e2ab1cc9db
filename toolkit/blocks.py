"""Street blocks: the unit planners act on.

Blocks are the enclosures of the street network, as momepy's ``enclosures``
defines them: the union of street centrelines and the study boundary,
polygonised. Polygonising the *noded* union is the whole trick; it needs only
shapely, so momepy is not a dependency. Only carriageways enclose blocks
(:func:`carriageway_mask`, rules in ``data/streets.toml``): sidewalks,
crossings, park paths and driveways are walked on but lie inside or along a
block. Official parcels (街坊/地块) can be supplied instead; every parcel that
cannot be used is counted and named, never dropped silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import ensure_projected
from .datasets import data_toml
from .errors import InputError
from .io import DataWarning, column_hint, missing_column_fix

__all__ = ["carriageway_mask", "enclosed_blocks", "street_rules", "tag_rule_mask", "user_blocks"]


@cache
def street_rules() -> dict[str, Any]:
    """The bundled street classes (``data/streets.toml``): what encloses blocks, what counts as an intersection.

    Examples
    --------
    >>> [r["highway"][0] for r in street_rules()["carriageway"]["not"] if "highway" in r]
    ['footway', 'service']
    """
    return data_toml("streets.toml")


def _values(v: Any) -> list[str]:
    # merged ways carry their distinct values joined with ';' (network_from_osmnx, osm_network)
    return [p for p in (x.strip() for x in str(v).split(";")) if p and p not in ("None", "nan", "<NA>")]


def tag_rule_mask(tags: pd.DataFrame, rules: Sequence[Mapping[str, Sequence[str] | str]]) -> np.ndarray:
    """Which rows match at least one tag rule.

    A row matches a rule when, for every tag the rule names, the row has a
    value for that tag and all its ``;``-joined values are in the rule's list
    (``"*"`` accepts any value). A row without the tag does not match.

    Parameters
    ----------
    tags : DataFrame
        One row per edge, one column per OSM tag (``None``/NA when absent).
    rules : sequence of mappings
        Tag -> accepted values, e.g. ``[{"highway": ["service"], "service": ["driveway"]}]``.

    Returns
    -------
    ndarray of bool
        One value per row of ``tags``.

    Examples
    --------
    >>> t = pd.DataFrame({"highway": ["service", "service", "residential;service"],
    ...                   "service": ["driveway", None, "driveway"]})
    >>> tag_rule_mask(t, [{"highway": ["service"], "service": ["driveway"]}]).tolist()
    [True, False, False]
    """
    out = np.zeros(len(tags), dtype=bool)
    for rule in rules:
        hit = np.ones(len(tags), dtype=bool)
        for tag, accepted in rule.items():
            if tag not in tags:
                hit[:] = False
                break
            # a city has millions of edges but a handful of distinct tag values: test each value once
            codes, uniques = pd.factorize(tags[tag].astype("string"), use_na_sentinel=True)
            ok = [bool(vals) and (accepted == "*" or all(x in accepted for x in vals))
                  for vals in map(_values, uniques)]
            hit &= np.append(np.asarray(ok, dtype=bool), False)[codes]  # code -1 (no value) -> False
        out |= hit
    return out


def _tags_of(streets: Any) -> pd.DataFrame | None:
    attrs = getattr(streets, "edge_attrs", None)  # a WalkNetwork
    if attrs is None and isinstance(streets, pd.DataFrame):
        attrs = streets
    return attrs


def carriageway_mask(streets: Any) -> np.ndarray:
    """Which streets are carriageways, the lines that enclose blocks.

    Sidewalks, crossings, footpaths, steps, cycleways, tracks, driveways and
    parking aisles, and roads in tunnels are not (``data/streets.toml`` lists
    the rules and why); pedestrian streets and living streets are. Streets
    without a ``highway`` column (a network drawn by hand, a planning dataset)
    are all carriageways.

    Parameters
    ----------
    streets : GeoDataFrame, DataFrame or WalkNetwork
        One row per edge with OSM tag columns (``highway``, ``service``,
        ``tunnel``...), as :meth:`WalkNetwork.streets` returns them.

    Returns
    -------
    ndarray of bool
        True for every edge that bounds a block.

    Examples
    --------
    >>> t = pd.DataFrame({"highway": ["residential", "footway", "service", "service", "pedestrian"],
    ...                   "service": [None, None, "driveway", "alley", None]})
    >>> carriageway_mask(t).tolist()
    [True, False, False, True, True]
    """
    tags = _tags_of(streets)
    n = len(tags) if tags is not None else len(streets)
    if tags is None or "highway" not in tags:
        return np.ones(n, dtype=bool)
    return ~tag_rule_mask(tags, street_rules()["carriageway"]["not"])


def enclosed_blocks(streets: gpd.GeoDataFrame | gpd.GeoSeries, area: shapely.Geometry,
                    min_area_m2: float = 500.0, barriers: np.ndarray | None = None,
                    source: str | None = None) -> gpd.GeoDataFrame:
    """Street-enclosed blocks clipped to the study area.

    Parameters
    ----------
    streets : GeoDataFrame or GeoSeries
        Street centrelines in a metric CRS. With a ``highway`` column only the
        carriageways (:func:`carriageway_mask`) enclose blocks; without one,
        every line does.
    area : shapely geometry
        The study area polygon, in the same CRS.
    min_area_m2 : float
        Polygons smaller than this (traffic islands, slivers between carriageways)
        are dropped; their population counts as outside blocks.
    barriers : ndarray of LineString, optional
        Roads that bound blocks but are not in the walk network (at-grade roads
        closed to pedestrians, :attr:`WalkNetwork.barriers`), same CRS.
    source : str, optional
        The streets' file, named in the error raised when no block is left.

    Returns
    -------
    GeoDataFrame
        ``block_id`` (stable: ordered by position, north-west first) and
        ``area_m2``, indexed by ``block_id``. ``attrs["dropped_slivers"]`` counts
        the polygons under ``min_area_m2``, ``attrs["edges_not_enclosing"]`` the
        streets left out as not carriageways.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0)
    >>> area = shapely.box(net.x.min(), net.y.min(), net.x.max(), net.y.max())
    >>> enclosed_blocks(net.streets(), area)["area_m2"].round().tolist()
    [10000.0, 10000.0, 10000.0, 10000.0]
    """
    ensure_projected(streets, "the streets")
    geoms = np.asarray(streets.geometry.values)
    carriage = carriageway_mask(streets)
    lines = geoms[carriage]
    if barriers is not None and len(barriers):
        lines = np.concatenate([lines, np.asarray(barriers, dtype=object)])
    lines = shapely.intersection(lines, area)
    lines = lines[~shapely.is_empty(lines)]
    boundary = shapely.boundary(area)
    noded = shapely.union_all(np.concatenate([lines, [boundary]]))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    # Holes left by dangling streets are real parts of a block: polygonize
    # already returns faces; keep those inside the area.
    rp = shapely.point_on_surface(polys)
    shapely.prepare(area)
    polys = polys[shapely.contains(area, rp)]
    out = _finish(polys, streets.crs, min_area_m2, area=area, crossing=len(lines), source=source)
    out.attrs["edges_not_enclosing"] = int((~carriage).sum())
    return out


def _finish(polys: np.ndarray, crs, min_area_m2: float, area: shapely.Geometry | None = None,
            crossing: int | None = None, source: str | None = None) -> gpd.GeoDataFrame:
    areas = shapely.area(polys)
    keep = areas >= min_area_m2
    if not keep.any():
        raise _no_block_error(areas, min_area_m2, area, crossing, source)
    polys, areas = polys[keep], areas[keep]
    c = shapely.point_on_surface(polys)
    # Stable ids: order by a 10 m grid position, north to south then west to east.
    order = np.lexsort((np.round(shapely.get_x(c), -1), -np.round(shapely.get_y(c), -1)))
    gdf = gpd.GeoDataFrame({"block_id": np.arange(1, len(polys) + 1), "area_m2": areas[order]},
                           geometry=polys[order], crs=crs)
    gdf.attrs["dropped_slivers"] = int((~keep).sum())
    return gdf.set_index("block_id", drop=False).rename_axis(None)



def _no_block_error(areas: np.ndarray, min_area_m2: float, area: shapely.Geometry | None, crossing: int | None,
                    source: str | None) -> InputError:
    """No block left: say whether the area is too small, the streets miss it, or min_area_m2 is too high."""
    km2 = f"{area.area / 1e6:.3f} km2" if area is not None else "the study area"
    if area is not None and area.area < min_area_m2:
        return InputError(f"the study area is only {area.area:,.0f} m2 (after clipping it to the data), under "
                          f"blocks.min_area_m2 = {min_area_m2:g}", source=source, field="blocks.min_area_m2",
                          fix="check that the streets and the population data cover the study area (their "
                          "extents and CRS), or lower blocks.min_area_m2")
    if crossing == 0:
        return InputError(f"no street of the network crosses the study area ({km2}), so no block can be drawn",
                          source=source, field="network",
                          fix="check that the street file covers the study area and that the area is where you "
                          "mean it (its CRS, a bbox in lon/lat)")
    largest = f"largest {areas.max():,.0f} m2" if len(areas) else "none"
    return InputError(f"no block of at least {min_area_m2:g} m2: the streets enclose {len(areas)} faces in the "
                      f"study area ({km2}; {largest})", source=source, field="blocks.min_area_m2",
                      fix="lower blocks.min_area_m2, or check that the streets cover the study area")


_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def _polygonal_part(g: np.ndarray) -> np.ndarray:
    """The polygons of each geometry (a clip that also leaves a line or point keeps its area); None if none."""
    out = g.copy()
    mixed = np.flatnonzero(shapely.get_type_id(g) == shapely.GeometryType.GEOMETRYCOLLECTION)
    for i in mixed:
        parts = [p for p in shapely.get_parts(g[i]) if shapely.get_type_id(p) in _POLYGONAL]
        out[i] = shapely.union_all(parts) if parts else None
    ok = np.isin(shapely.get_type_id(out), _POLYGONAL) & ~shapely.is_empty(out)
    out[~ok] = None
    return out


def user_blocks(gdf: gpd.GeoDataFrame, area: shapely.Geometry, id_field: str | None = None,
                min_area_m2: float = 0.0, source: str = "blocks") -> gpd.GeoDataFrame:
    """Use official parcels (街坊/地块) as blocks, clipped to the study area.

    Every parcel is kept however small: a parcel is an official unit, and one
    dropped would move its residents "onto the streets". A parcel that cannot
    be used (outside the area, no geometry, not a polygon, or under
    ``min_area_m2`` when one is given) is counted and named in
    ``attrs["unused"]`` and in a :class:`~toolkit.io.DataWarning`. Overlaps
    between parcels would double-count people, so they are reported too.

    Parameters
    ----------
    gdf : GeoDataFrame
        The parcels, in a metric CRS.
    area : shapely geometry
        The study area (or its land) in the same CRS.
    id_field : str, optional
        Column of unique parcel ids, used as ``block_id``; else the parcel's
        row number in the layer (1 for the first row).
    min_area_m2 : float
        Parcels smaller than this after clipping are not used (default 0: all kept).
    source : str
        Label of the layer in messages.

    Returns
    -------
    GeoDataFrame
        The parcels in the area with ``block_id`` and ``area_m2``, indexed by
        ``block_id``. ``attrs["unused"]`` is ``{"count", "ids", "by_reason"}``.

    Examples
    --------
    >>> parcels = gpd.GeoDataFrame({"code": ["A", "B", "C"]}, crs="EPSG:32651",
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 50, 10), shapely.box(500, 0, 510, 10)])
    >>> with warnings.catch_warnings(record=True):
    ...     ub = user_blocks(parcels, shapely.box(0, 0, 100, 100), id_field="code")
    >>> ub["block_id"].tolist(), ub.attrs["unused"]["ids"]
    (['A', 'B'], ['C'])
    """
    ensure_projected(gdf, "the user blocks")
    if id_field:
        if id_field not in gdf:
            hint = column_hint(id_field, gdf.columns)
            raise InputError(f"id field {id_field!r} not found" + (f" ({hint})" if hint else ""), source=source,
                             field=id_field, fix=missing_column_fix(id_field, gdf.columns, "id_field"))
        ids = gdf[id_field].to_numpy()
    else:
        ids = np.arange(1, len(gdf) + 1)
    raw = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(raw) | shapely.is_empty(raw)
    clipped = shapely.intersection(raw, area)
    inside = ~missing & ~shapely.is_empty(clipped)
    poly = _polygonal_part(clipped)
    ok_poly = inside & ~shapely.is_missing(poly)
    big = ok_poly & (shapely.area(poly) >= min_area_m2)
    # one reason per unused parcel, the first that applies
    reasons = {"no geometry": missing, "outside the area": ~missing & ~inside,
               "not a polygon in the area": inside & ~ok_poly,
               f"under {min_area_m2:g} m2": ok_poly & ~big}
    unused: dict[str, Any] = {"count": int((~big).sum()), "ids": [_plain(i) for i in ids[~big]],
              "by_reason": {r: [_plain(i) for i in ids[m]] for r, m in reasons.items() if m.any()}}
    if unused["count"]:
        detail = "; ".join(f"{r}: {len(v)} ({_id_list(v)})" for r, v in unused["by_reason"].items())
        warnings.warn(f"{source}: {unused['count']} of {len(gdf)} parcels not used as blocks ({detail})",
                      DataWarning, stacklevel=2)
    g = gdf.loc[big].copy()
    g["geometry"] = poly[big]
    g = g.set_geometry("geometry")
    if len(g) == 0:
        raise InputError("no user block lies in the study area", source=source,
                         fix="check the blocks layer's CRS and extent")
    total = g.geometry.area.sum()
    union = shapely.union_all(np.asarray(g.geometry.values)).area
    if total - union > 1.0:
        warnings.warn(f"{source}: blocks overlap by {total - union:,.0f} m2; population in the overlaps "
                      "is shared between them", DataWarning, stacklevel=2)
    g["area_m2"] = g.geometry.area
    if id_field and g[id_field].duplicated().any():
        raise InputError(f"id field {id_field!r} has duplicate values", source=source, field=id_field,
                         fix="give each block a unique id")
    g["block_id"] = ids[big]
    g = g.set_index("block_id", drop=False).rename_axis(None)
    g.attrs["unused"] = unused
    return g


def _plain(v: Any) -> Any:
    # run.json is JSON: numpy scalars become Python ones
    return v.item() if isinstance(v, np.generic) else v


def _id_list(ids: list, n: int = 20) -> str:
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")
