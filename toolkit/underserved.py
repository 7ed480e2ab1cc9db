"""Underserved blocks: who, how many, what is missing, how far; and roll-ups by zone.

The rule is data (``data/decisions.toml``) and a study may override any value.
Only categories that have data are considered: a category without facilities
in the study says nothing about who is served.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .coverage import CategoryRule
from .crs import ensure_projected
from .datasets import data_toml
from .errors import InputError
from .io import DataWarning


@cache
def decision_defaults() -> dict[str, Any]:
    """The bundled decision rules (underserved, sites, selection)."""
    return data_toml("decisions.toml")


@dataclass
class UnderservedRule:
    """When a block counts as underserved (see ``data/decisions.toml``)."""

    basic_categories: list[str] = field(default_factory=list)
    min_missing: int = 2
    elderly_category: str = "elderly_care"
    elderly_share: float = 0.20
    elderly_weight: float = 1.0
    distance_cap: float = 3.0

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> UnderservedRule:
        """Defaults updated by a study's ``[underserved]`` table."""
        d = {k: v for k, v in decision_defaults()["underserved"].items() if k != "source"}
        raw = dict(raw or {})
        unknown = set(raw) - set(d)
        if unknown:
            raise InputError(f"unknown underserved setting(s): {', '.join(sorted(unknown))}", field="underserved",
                             fix=f"settings are: {', '.join(d)}")
        d.update(raw)
        if int(d["min_missing"]) < 1:
            raise InputError("min_missing must be at least 1", field="underserved.min_missing", fix="e.g. 2")
        return cls(**d)


def underserved_blocks(blocks: pd.DataFrame, measured: list[str], rules: Mapping[str, CategoryRule],
                       rule: UnderservedRule) -> pd.DataFrame:
    """Flag underserved blocks and explain each flag.

    Parameters
    ----------
    blocks : DataFrame
        With ``population``, ``pop_65plus`` (optional) and ``dist_<c>_m`` /
        ``within_<c>`` for every measured category.
    measured : list of str
        Categories with data.
    rules : mapping
        Threshold per category.
    rule : UnderservedRule

    Returns
    -------
    DataFrame on ``blocks.index``
        ``missing_categories`` (';'-joined, measured categories not within
        reach), ``n_missing``, ``n_missing_basic``, ``underserved``,
        ``underserved_reason``, ``affected_pop``, ``affected_65plus``,
        ``severity`` (sum over missing categories of
        (residents + elderly_weight x residents 65+) x min(distance / threshold,
        distance_cap), in thousands).
    """
    pop = blocks["population"].to_numpy(dtype=float)
    old = blocks["pop_65plus"].to_numpy(dtype=float) if "pop_65plus" in blocks else np.zeros(len(blocks))
    missing = np.zeros((len(blocks), len(measured)), dtype=bool)
    severity = np.zeros(len(blocks))
    for j, c in enumerate(measured):
        d = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
        assessed = ~np.isnan(d)
        missing[:, j] = assessed & ~blocks[f"within_{c}"].to_numpy(dtype=bool)
        ratio = np.minimum(np.where(np.isfinite(d), d, np.inf) / rules[c].max_distance_m, rule.distance_cap)
        severity += np.where(missing[:, j], (pop + rule.elderly_weight * old) * ratio, 0.0)
    basic = np.array([c in rule.basic_categories for c in measured], dtype=bool)
    n_missing = missing.sum(axis=1)
    n_basic = missing[:, basic].sum(axis=1) if basic.any() else np.zeros(len(blocks), dtype=int)
    share65 = np.divide(old, pop, out=np.zeros(len(pop)), where=pop > 0)
    by_count = n_basic >= rule.min_missing
    by_elderly = np.zeros(len(blocks), dtype=bool)
    if rule.elderly_category in measured:
        by_elderly = missing[:, measured.index(rule.elderly_category)] & (share65 > rule.elderly_share)
    flagged = (by_count | by_elderly) & (pop > 0)
    names = np.array(measured, dtype=object)
    missing_str = [";".join(names[row]) for row in missing]
    reason = np.where(by_count & by_elderly, "basic services and elderly care",
                      np.where(by_count, f"misses >= {rule.min_missing} basic services",
                               np.where(by_elderly, "elderly care in an aged block", "")))
    return pd.DataFrame({
        "missing_categories": missing_str,
        "n_missing": n_missing,
        "n_missing_basic": n_basic,
        "underserved": flagged,
        "underserved_reason": np.where(flagged, reason, ""),
        "affected_pop": np.where(flagged, pop, 0.0),
        "affected_65plus": np.where(flagged, old, 0.0),
        "severity": severity / 1000.0,
    }, index=blocks.index)


def grid_zones(area: shapely.Geometry, size_m: float, crs) -> gpd.GeoDataFrame:
    """A square management grid (网格) over the area, for roll-ups when no zones layer is given."""
    x0, y0, x1, y1 = area.bounds
    xs = np.arange(x0, x1, size_m)
    ys = np.arange(y0, y1, size_m)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size_m, gy.ravel() + size_m)
    cells = shapely.intersection(cells, area)
    keep = ~shapely.is_empty(cells) & (shapely.area(cells) > 0)
    ids = [f"G{r:03d}-{c:03d}" for r, c in zip(*np.unravel_index(np.flatnonzero(keep), gx.shape), strict=True)]
    return gpd.GeoDataFrame({"zone_id": ids}, geometry=cells[keep], crs=crs)


def zone_integrity(zones: gpd.GeoDataFrame, area: shapely.Geometry, source: str = "zones") -> dict[str, float]:
    """Overlaps between zones and gaps they leave in the study area (both happen in grid systems)."""
    geoms = np.asarray(zones.geometry.values)
    union = shapely.union_all(geoms)
    overlap = float(shapely.area(geoms).sum() - union.area)
    gap = float(shapely.difference(area, union).area)
    out = {"zones": len(zones), "overlap_m2": round(overlap, 1), "gap_m2": round(gap, 1),
           "gap_share": round(gap / area.area, 4) if area.area else 0.0}
    if overlap > 1.0:
        warnings.warn(f"{source}: zones overlap by {overlap:,.0f} m2; a block is counted in the zone holding "
                      "its representative point (the first listed where zones overlap)", DataWarning, stacklevel=2)
    if gap > 0.001 * area.area:
        warnings.warn(f"{source}: zones leave {gap / 1e4:,.1f} ha of the study area uncovered; blocks there are "
                      "rolled up as 'unassigned'", DataWarning, stacklevel=2)
    return out


def roll_up(blocks: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, measured: list[str], zone_field: str = "zone_id",
            worst: int = 3) -> pd.DataFrame:
    """Per zone: residents not served per category, underserved blocks and people, worst blocks.

    Blocks are assigned by their representative point; blocks in no zone go to
    ``"unassigned"``.
    """
    ensure_projected(blocks, "the blocks")
    if zone_field not in zones.columns:
        raise InputError(f"zone id field {zone_field!r} not found", field="zones.id_field",
                         fix=f"use one of: {', '.join(map(str, zones.columns))}")
    pts = shapely.point_on_surface(np.asarray(blocks.geometry.values))
    zi_pts, zi_zone = shapely.STRtree(np.asarray(zones.to_crs(blocks.crs).geometry.values)).query(
        pts, predicate="within")
    first = np.unique(zi_pts, return_index=True)[1]
    zone_of = np.full(len(blocks), "unassigned", dtype=object)
    zone_of[zi_pts[first]] = zones[zone_field].astype(str).to_numpy()[zi_zone[first]]
    b = pd.DataFrame(blocks.drop(columns=blocks.geometry.name))
    b["zone"] = zone_of
    g = b.groupby("zone")
    out = pd.DataFrame({"blocks": g.size(), "population": g["population"].sum()})
    if "pop_65plus" in b:
        out["pop_65plus"] = g["pop_65plus"].sum()
    for c in measured:
        b[f"_not_{c}"] = np.where(~b[f"within_{c}"].astype(bool) & b[f"dist_{c}_m"].notna(), b["population"], 0.0)
        out[f"not_served_{c}"] = b.groupby("zone")[f"_not_{c}"].sum()
    if "underserved" in b:
        out["underserved_blocks"] = g["underserved"].sum()
        out["underserved_pop"] = g["affected_pop"].sum()
        out["underserved_65plus"] = g["affected_65plus"].sum()
        out["worst_blocks"] = g.apply(
            lambda df: ";".join(str(i) for i in df.sort_values("severity", ascending=False)
                                .loc[lambda d: d["underserved"], "block_id"].head(worst)), include_groups=False)
    return out.reset_index().rename(columns={"zone": zone_field})
