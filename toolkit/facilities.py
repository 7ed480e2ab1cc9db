"""Service facilities per category, from OpenStreetMap tags or user layers."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .osm import osm_features_to_points
from .standards import Category, categories

FACILITY_COLUMNS = ["facility_id", "category", "name", "source", "source_id", "geometry"]


def _rule_mask(gdf: pd.DataFrame, rule: str) -> np.ndarray:
    mask = np.ones(len(gdf), dtype=bool)
    for part in rule.split("&"):
        key, _, value = part.partition("=")
        if key not in gdf.columns:
            return np.zeros(len(gdf), dtype=bool)
        col = gdf[key]
        mask &= (col.notna() if not value else col.astype("string").eq(value).fillna(False)).to_numpy(dtype=bool)
    return mask


def classify_osm(gdf: pd.DataFrame, only: Iterable[str] | None = None) -> pd.Series:
    """Category of each OSM feature from its tags (first matching category), NA if none."""
    cats = categories()
    wanted = list(only) if only is not None else list(cats)
    out = pd.Series(pd.NA, index=gdf.index, dtype="string")
    for name in wanted:
        cat: Category = cats[name]
        for rule in cat.osm:
            m = _rule_mask(gdf, rule) & out.isna().to_numpy()
            out[m] = name
    return out


def classify_field(gdf: pd.DataFrame, field: str, mapping: dict[str, str] | None = None,
                   only: Iterable[str] | None = None, source: str = "") -> pd.Series:
    """Category of each row from a type column (e.g. ``landuse_type``).

    ``mapping`` maps values to categories; without it, each category's
    ``landuse`` list in ``categories.toml`` is used.
    """
    if field not in gdf.columns:
        raise InputError(f"type column {field!r} not found", source=source, field=field,
                         fix=f"use one of: {', '.join(map(str, gdf.columns))}")
    if mapping is None:
        mapping = {v: c.name for c in categories().values() for v in c.landuse}
    unknown = set(mapping.values()) - set(categories())
    if unknown:
        raise InputError(f"unknown categories in the mapping: {', '.join(sorted(unknown))}", source=source,
                         field="map", fix=f"use: {', '.join(categories())}")
    cat = gdf[field].astype("string").map(mapping).astype("string")
    if only is not None:
        cat = cat.where(cat.isin(list(only)))
    return cat


def facilities_from(gdf: gpd.GeoDataFrame, category: pd.Series | str, *, source: str,
                    name_field: str | None = None) -> gpd.GeoDataFrame:
    """Normalise a classified layer into the facilities schema (points, WGS84 or projected)."""
    g = gdf.copy()
    g["category"] = category if isinstance(category, pd.Series) else pd.Series(category, index=g.index)
    g = g[g["category"].notna()]
    if name_field is None:
        name_field = next((c for c in ("name", "name:zh", "title", "nameS", "名称") if c in g.columns), None)
    names = g[name_field].astype("string") if name_field else pd.Series(pd.NA, index=g.index, dtype="string")
    sid = next((c for c in ("osmid", "@id", "osm_id", "id") if c in g.columns), None)
    g = osm_features_to_points(g)
    return gpd.GeoDataFrame({
        "category": g["category"].astype(str),
        "name": names,
        "source": source,
        "source_id": g[sid].astype(str) if sid else g.index.astype(str),
    }, geometry=g.geometry, crs=g.crs)


def combine(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Concatenate facility layers, project them and number them."""
    parts = [p.to_crs(crs) for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame({c: [] for c in FACILITY_COLUMNS[:-1]}, geometry=[], crs=crs)
    fac = pd.concat(parts, ignore_index=True)
    fac.insert(0, "facility_id", np.arange(1, len(fac) + 1))
    return gpd.GeoDataFrame(fac, geometry="geometry", crs=crs)
