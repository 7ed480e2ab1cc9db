"""Underserved blocks: who, how many, what is missing, how far; and roll-ups by zone.

The rule is data (``data/decisions.toml``) and a study may override any value.
A data gap is not a service gap: only categories whose facility data are
*complete* (:mod:`toolkit.completeness`) can make a block underserved. A
category without facilities says nothing about who is served, and neither does
a sample or a layer of unknown completeness: those are measured and reported
(``missing_incomplete``) but never flag a block.
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

from .completeness import can_flag
from .coverage import CategoryRule
from .crs import ensure_projected
from .datasets import data_toml
from .errors import InputError
from .io import DataWarning

__all__ = [
    "UnderservedRule",
    "assign_blocks",
    "compare_underserved",
    "decision_defaults",
    "flagging_categories",
    "grid_zones",
    "roll_up",
    "underserved_blocks",
    "underserved_summary",
    "zone_integrity"
]


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
    suspect_below: float = 0.1

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
        if not 0 <= float(d["suspect_below"]) <= 1:
            raise InputError("suspect_below is a share of the expected facilities, between 0 and 1",
                             field="underserved.suspect_below", fix="e.g. 0.1 (a tenth); 0 turns the check off")
        return cls(**d)


def flagging_categories(measured: list[str], status: Mapping[str, str] | None) -> list[str]:
    """The measured categories that may make a block underserved: those with complete data.

    ``status`` maps a category to its data status (``None`` vouches for every
    measured category, for data the caller knows to be complete).

    Examples
    --------
    >>> flagging_categories(["transit", "park"], {"transit": "complete", "park": "unknown"})
    ['transit']
    >>> flagging_categories(["transit", "park"], None)
    ['transit', 'park']
    """
    if status is None:
        return list(measured)
    return [c for c in measured if can_flag(status.get(c))]


def underserved_blocks(blocks: pd.DataFrame, measured: list[str], rules: Mapping[str, CategoryRule],
                       rule: UnderservedRule, status: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Flag underserved blocks and explain each flag.

    Only categories with complete data (``status[c] == "complete"``) can flag
    a block; the other measured categories are listed in
    ``missing_incomplete`` when out of reach, as figures, never as a gap.

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
    status : mapping, optional
        Category to data status (a run's ``details["data_status"]`` through
        :func:`toolkit.completeness.statuses`). ``None`` vouches for every
        measured category (use it only for data known to be complete).

    Returns
    -------
    DataFrame on ``blocks.index``
        ``missing_categories`` (';'-joined complete categories not within
        reach), ``n_missing``, ``n_missing_basic``, ``missing_incomplete`` and
        ``n_missing_incomplete`` (the same for categories measured on
        incomplete data), ``underserved``, ``underserved_reason``,
        ``affected_pop``, ``affected_65plus``, ``severity`` (sum over the
        missing complete categories of (residents + elderly_weight x residents
        65+) x min(distance / threshold, distance_cap), in thousands).

    Examples
    --------
    >>> from toolkit.coverage import CategoryRule
    >>> b = pd.DataFrame({"population": [100.0], "dist_park_m": [900.0], "within_park": [False],
    ...                   "dist_transit_m": [800.0], "within_transit": [False]})
    >>> rules = {c: CategoryRule(c, 300.0) for c in ("park", "transit")}
    >>> r = UnderservedRule(basic_categories=["park", "transit"], min_missing=2)
    >>> underserved_blocks(b, ["park", "transit"], rules, r, {"park": "complete", "transit": "complete"}
    ...                    )["underserved"].tolist()
    [True]
    >>> u = underserved_blocks(b, ["park", "transit"], rules, r, {"park": "sample", "transit": "complete"})
    >>> u["underserved"].tolist(), u["missing_incomplete"].tolist()
    ([False], ['park'])
    """
    pop = blocks["population"].to_numpy(dtype=float)
    old = blocks["pop_65plus"].to_numpy(dtype=float) if "pop_65plus" in blocks else np.zeros(len(blocks))
    flagging = flagging_categories(measured, status)
    incomplete = [c for c in measured if c not in flagging]

    def missing_of(cats: list[str]) -> np.ndarray:
        m = np.zeros((len(blocks), len(cats)), dtype=bool)
        for j, c in enumerate(cats):
            assessed = ~np.isnan(blocks[f"dist_{c}_m"].to_numpy(dtype=float))
            m[:, j] = assessed & ~blocks[f"within_{c}"].to_numpy(dtype=bool)
        return m

    missing = missing_of(flagging)
    missing_inc = missing_of(incomplete)
    severity = np.zeros(len(blocks))
    for j, c in enumerate(flagging):
        d = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
        ratio = np.minimum(np.where(np.isfinite(d), d, np.inf) / rules[c].max_distance_m, rule.distance_cap)
        severity += np.where(missing[:, j], (pop + rule.elderly_weight * old) * ratio, 0.0)
    basic = np.array([c in rule.basic_categories for c in flagging], dtype=bool)
    n_missing = missing.sum(axis=1)
    n_basic = missing[:, basic].sum(axis=1) if basic.any() else np.zeros(len(blocks), dtype=int)
    share65 = np.divide(old, pop, out=np.zeros(len(pop)), where=pop > 0)
    by_count = n_basic >= rule.min_missing
    by_elderly = np.zeros(len(blocks), dtype=bool)
    if rule.elderly_category in flagging:
        by_elderly = missing[:, flagging.index(rule.elderly_category)] & (share65 > rule.elderly_share)
    flagged = (by_count | by_elderly) & (pop > 0)

    def joined(cats: list[str], m: np.ndarray) -> list[str]:
        names = np.array(cats, dtype=object)
        return [";".join(names[row]) for row in m]

    reason = np.where(by_count & by_elderly, "basic services and elderly care",
                      np.where(by_count, f"misses >= {rule.min_missing} basic services",
                               np.where(by_elderly, "elderly care in an aged block", "")))
    return pd.DataFrame({
        "missing_categories": joined(flagging, missing),
        "n_missing": n_missing,
        "n_missing_basic": n_basic,
        "missing_incomplete": joined(incomplete, missing_inc),
        "n_missing_incomplete": missing_inc.sum(axis=1),
        "underserved": flagged,
        "underserved_reason": np.where(flagged, reason, ""),
        "affected_pop": np.where(flagged, pop, 0.0),
        "affected_65plus": np.where(flagged, old, 0.0),
        "severity": severity / 1000.0,
    }, index=blocks.index)


def underserved_summary(blocks: pd.DataFrame, measured: list[str], rule: UnderservedRule,
                        status: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The run.json section of the underserved step, explained category by category.

    ``blocks`` carry the columns of :func:`underserved_blocks`. Besides the
    counts, ``by_category`` gives, for each category that can flag (complete
    data, and basic or the elderly category), how many underserved blocks miss
    it: what drives the count, and ``blocks_missing`` how many populated
    blocks miss it at all (flagged or not). ``incomplete`` lists the categories measured
    on incomplete data with their status and how many populated blocks lie
    beyond their threshold: figures, not gaps. ``note`` says when the rule
    cannot be met at all with the complete categories there are.

    Examples
    --------
    >>> b = pd.DataFrame({"population": [10.0, 5.0], "underserved": [True, False], "affected_pop": [10.0, 0.0],
    ...                   "affected_65plus": [2.0, 0.0], "n_missing": [2, 0],
    ...                   "missing_categories": ["park;transit", ""], "missing_incomplete": ["", "culture"]})
    >>> s = underserved_summary(b, ["park", "transit", "culture"],
    ...                         UnderservedRule(basic_categories=["park", "transit", "culture"]),
    ...                         {"park": "complete", "transit": "complete", "culture": "unknown"})
    >>> s["blocks"], s["by_category"], s["incomplete"]["culture"]["blocks_beyond"]
    (1, {'park': 1, 'transit': 1}, 1)
    """
    flagging = flagging_categories(measured, status)
    drivers = [c for c in flagging if c in rule.basic_categories or c == rule.elderly_category]
    u = blocks["underserved"].to_numpy(dtype=bool)
    populated = blocks["population"].to_numpy(dtype=float) > 0

    def listed(col: str, c: str) -> np.ndarray:
        return np.fromiter((c in str(v).split(";") for v in blocks[col]), bool, len(blocks))

    out: dict[str, Any] = {
        "rule": dict(rule.__dict__),
        "blocks": int(u.sum()),
        "population": float(blocks["affected_pop"].sum()),
        "pop_65plus": float(blocks["affected_65plus"].sum()),
        "by_missing": blocks.loc[u, "n_missing"].value_counts().sort_index().to_dict(),
        "categories_flagging": drivers,
        "by_category": {c: int((u & listed("missing_categories", c)).sum()) for c in drivers},
        "blocks_missing": {c: int((populated & listed("missing_categories", c)).sum()) for c in drivers},
        "incomplete": {c: {"status": (status or {}).get(c, "unknown"),
                           "blocks_beyond": int((populated & listed("missing_incomplete", c)).sum())}
                       for c in measured if c not in flagging},
    }
    n_basic = sum(c in rule.basic_categories for c in flagging)
    if n_basic < rule.min_missing and rule.elderly_category not in flagging:
        out["note"] = (f"only {n_basic} basic categor{'y has' if n_basic == 1 else 'ies have'} complete data "
                       f"({', '.join(c for c in flagging if c in rule.basic_categories) or 'none'}) and the rule "
                       f"needs {rule.min_missing} missing, and elderly care has no complete data: no block can be "
                       "shown to be underserved. This is a statement about the data, not that residents are "
                       "served: declare complete sources to assess more categories")
    return out


def compare_underserved(before: pd.DataFrame, after: pd.DataFrame, measured: list[str],
                        rules: Mapping[str, CategoryRule], rule: UnderservedRule,
                        status: Mapping[str, str] | None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Underserved blocks before and after a change, both judged on the baseline's categories and statuses.

    ``after`` holds the changed ``dist_<c>_m`` / ``within_<c>`` columns (on
    ``before.index``); the other columns come from ``before``. Categories new
    in ``after`` (no data in the baseline) and those the baseline measured on
    incomplete data do not flag in either, so adding facilities can only
    lower the count: a category going from "no data" to "measured" adds no
    flags.

    Returns the comparison (for run.json) and the after-flags
    (:func:`underserved_blocks` columns).

    Examples
    --------
    >>> from toolkit.coverage import CategoryRule
    >>> b = pd.DataFrame({"population": [100.0], "dist_park_m": [900.0], "within_park": [False],
    ...                   "dist_transit_m": [800.0], "within_transit": [False]})
    >>> a = pd.DataFrame({"dist_park_m": [100.0], "within_park": [True],
    ...                   "dist_elderly_care_m": [900.0], "within_elderly_care": [False]})
    >>> r = UnderservedRule(basic_categories=["park", "transit", "elderly_care"], min_missing=2)
    >>> cmp, _ = compare_underserved(b, a, ["park", "transit"], {c: CategoryRule(c, 300.0) for c in
    ...                           ("park", "transit", "elderly_care")}, r, {"park": "complete", "transit": "complete"})
    >>> cmp["blocks_before"], cmp["blocks_after"], cmp["not_in_baseline"]
    (1, 0, ['elderly_care'])
    """
    merged = before.copy()
    shared = [c for c in after.columns if c in merged.columns]
    merged[shared] = after[shared].reindex(merged.index)
    u0 = underserved_blocks(before, measured, rules, rule, status)
    u1 = underserved_blocks(merged, measured, rules, rule, status)
    new = sorted({c[5:-2] for c in after.columns if c.startswith("dist_") and c.endswith("_m")} - set(measured))
    return {
        "basis": "the baseline's categories and data status",
        "blocks_before": int(u0["underserved"].sum()), "blocks_after": int(u1["underserved"].sum()),
        "population_before": float(u0["affected_pop"].sum()), "population_after": float(u1["affected_pop"].sum()),
        "not_in_baseline": new,
    }, u1


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


def assign_blocks(blocks: gpd.GeoDataFrame, zones: gpd.GeoDataFrame,
                  zone_field: str = "zone_id") -> tuple[np.ndarray, np.ndarray]:
    """Each block's zone (the first listed holding its representative point) and how many zones hold it.

    Returns
    -------
    zone_of : array of object
        Zone id as a string, ``"unassigned"`` for a block in no zone.
    n_zones : array of int
        Zones holding the block's point (0: a gap, 2+: an overlap).

    Examples
    --------
    >>> b = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)], crs="EPSG:32651")
    >>> z = gpd.GeoDataFrame({"zone_id": ["A", "B"]}, geometry=[shapely.box(-1, -1, 2, 2), shapely.box(-1, -1, 3, 3)],
    ...                      crs="EPSG:32651")
    >>> zone_of, n = assign_blocks(b, z)
    >>> zone_of.tolist(), n.tolist()
    (['A', 'unassigned'], [2, 0])
    """
    if zone_field not in zones.columns:
        raise InputError(f"zone id field {zone_field!r} not found", field="zones.id_field",
                         fix=f"use one of: {', '.join(map(str, zones.columns))}")
    pts = shapely.point_on_surface(np.asarray(blocks.geometry.values))
    zi_pts, zi_zone = shapely.STRtree(np.asarray(zones.to_crs(blocks.crs).geometry.values)).query(
        pts, predicate="within")
    order = np.lexsort((zi_zone, zi_pts))  # by block, then by the zone's position: the first listed wins
    zi_pts, zi_zone = zi_pts[order], zi_zone[order]
    first = np.unique(zi_pts, return_index=True)[1]
    zone_of = np.full(len(blocks), "unassigned", dtype=object)
    zone_of[zi_pts[first]] = zones[zone_field].astype(str).to_numpy()[zi_zone[first]]
    return zone_of, np.bincount(zi_pts, minlength=len(blocks))


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
    zone_of, _ = assign_blocks(blocks, zones, zone_field)
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
