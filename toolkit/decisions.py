"""From indicators to decisions: underserved blocks, zone roll-ups, ranked sites, selection, sensitivity.

:func:`run_decisions` is the pipeline step; each part is also a function of
its own for notebooks (:mod:`toolkit.underserved`, :mod:`toolkit.sites`,
:mod:`toolkit.selection`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from .completeness import statuses
from .coverage import CategoryRule, coverage_rates, point_distances
from .errors import InputError
from .io import read_layer
from .network import WalkNetwork
from .reach import reachable_pairs
from .selection import CoverageProblem, Selection, solve_exact, solve_greedy
from .sites import (
    HUB_FORBIDDEN,
    HUB_GREEN,
    HUB_REVIEW,
    SiteSettings,
    apply_exclusions,
    candidates_from_landuse,
    candidates_from_osm,
    combine_candidates,
    hub_feasibility,
    newly_served,
    refusal_notes,
    score_sites,
    site_context,
    site_refusals,
    snap_sites,
)
from .snapping import Snapped, snap_points
from .standards import Profile
from .underserved import (
    UnderservedRule,
    compare_underserved,
    decision_defaults,
    grid_zones,
    roll_up,
    underserved_blocks,
    underserved_summary,
    zone_integrity,
)

__all__ = [
    "AddedFacilities",
    "DecisionContext",
    "DecisionInputs",
    "SelectionSettings",
    "added_facilities_effect",
    "baseline_rule",
    "before_after",
    "decide",
    "kendall_tau_b",
    "ranking_stability",
    "run_decisions",
    "selection_problem",
    "sensitivity"
]


@dataclass
class SelectionSettings:
    """What hubs to place and how many (``[selection]`` in a study).

    Parameters
    ----------
    categories : list of str
        The categories a hub offers (``data/decisions.toml`` by default, through :meth:`from_config`).
    k : int or None, default 5
        The number of hubs; None: as many as ``budget`` allows.
    budget : float, optional
        The money for opening sites (needs site costs).
    elderly_weight : float, default 1.0
        Extra weight of a resident aged 65+ in the coverage objective.
    time_limit_s : float or None, default 60.0
        Seconds for the exact solver.
    hub_capacity : float or dict, optional
        Weighted demand one hub serves at most (one number or one per category), for the capacitated choice.
    full_coverage_share : float, default 1.0
        Share of the reachable residents the full-coverage count brings within reach (:mod:`toolkit.location`).
    full_coverage_anywhere : bool, default True
        Also count full coverage with a hub possible in any populated block its heritage class allows.
    service_area_minutes : list of float, default [5, 10, 15]
        Walking times of the service areas (:mod:`toolkit.catchments`).
    service_area_buffer_m : float, default 25.0
        Metres either side of the reached streets a service area is drawn.
    facility_service_areas : bool, default False
        Service areas for every facility of the hub categories too, not only the hubs.

    Examples
    --------
    >>> s = SelectionSettings.from_config({"k": 3})
    >>> s.k, s.categories
    (3, ['park', 'sports', 'culture', 'commercial'])
    """

    categories: list[str] = field(default_factory=list)
    k: int | None = 5
    budget: float | None = None
    elderly_weight: float = 1.0
    time_limit_s: float | None = 60.0
    #: a capacitated selection beside the plain one (toolkit.provision.solve_capacitated): the weighted demand
    #: each hub serves at most, one number or one per category; None: none
    hub_capacity: float | dict[str, float] | None = None
    full_coverage_share: float = 1.0
    full_coverage_anywhere: bool = True
    service_area_minutes: list[float] = field(default_factory=lambda: [5.0, 10.0, 15.0])
    service_area_buffer_m: float = 25.0
    facility_service_areas: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> SelectionSettings:
        """Defaults updated by a study's ``[selection]`` table.

        Parameters
        ----------
        raw : mapping, optional
            The study's ``[selection]`` table (``study.selection``); the defaults of ``data/decisions.toml``
            when omitted.

        Returns
        -------
        SelectionSettings

        Examples
        --------
        >>> SelectionSettings.from_config({"k": 3, "elderly_weight": 0.5}).elderly_weight
        0.5
        """
        d = dict(decision_defaults()["selection"])
        raw = dict(raw or {})
        known = set(d) | {"budget", "time_limit_s", "hub_capacity"}
        bad = set(raw) - known
        if bad:
            raise InputError(f"unknown selection setting(s): {', '.join(sorted(bad))}", field="selection",
                             fix=f"settings are: {', '.join(sorted(known))}")
        d.update(raw)
        if "budget" in raw and "k" not in raw:
            d["k"] = None
        return cls(categories=list(d["categories"]), k=d.get("k"), budget=d.get("budget"),
                   elderly_weight=float(d["elderly_weight"]), time_limit_s=d.get("time_limit_s", 60.0),
                   hub_capacity=d.get("hub_capacity"), full_coverage_share=float(d["full_coverage_share"]),
                   full_coverage_anywhere=bool(d["full_coverage_anywhere"]),
                   service_area_minutes=[float(m) for m in d["service_area_minutes"]],
                   service_area_buffer_m=float(d["service_area_buffer_m"]),
                   facility_service_areas=bool(d["facility_service_areas"]))


def selection_problem(gains: pd.DataFrame, blocks: pd.DataFrame, categories: list[str], n_sites: int,
                      elderly_weight: float, cost: np.ndarray | None = None,
                      eligible: np.ndarray | None = None,
                      site_ids: np.ndarray | None = None) -> tuple[CoverageProblem, pd.DataFrame]:
    """The MCLP instance: demand units are (block, category) pairs not yet served.

    A unit's weight is its residents plus ``elderly_weight`` times its residents
    aged 65+; a site covers a unit when a hub there brings the block within the
    category's threshold. Sites not ``eligible`` (excluded, unsnapped) cover nothing.

    Parameters
    ----------
    gains : DataFrame
        The (block, site, category) gains of :func:`toolkit.sites.newly_served` (its second frame):
        ``origin`` (block position), ``source`` (site position), ``category``.
    blocks : DataFrame
        The blocks, with ``population`` and ``pop_65plus``.
    categories : list of str
        The hub's categories.
    n_sites : int
        The number of candidate sites.
    elderly_weight : float
        Extra weight of a resident aged 65+.
    cost : ndarray, optional
        One cost per site (for a budget).
    eligible : ndarray of bool, optional
        Sites that may host a hub; all when omitted.
    site_ids : ndarray, optional
        The sites' ids, reported by the selection.

    Returns
    -------
    CoverageProblem
        For :func:`toolkit.selection.solve_exact`, :func:`~toolkit.selection.solve_greedy` and
        :func:`~toolkit.selection.compare`.
    DataFrame
        The demand units: one row per (block, category), with its weight.

    Examples
    --------
    >>> _, gains = newly_served(net, blocks, block_snap, site_snap, cats, result.profile.rules())  # doctest: +SKIP
    >>> problem, units = selection_problem(gains, blocks, cats, len(sites), 1.0)  # doctest: +SKIP
    >>> compare(problem, k=5)["gap"]  # doctest: +SKIP
    0.0
    """
    g = gains[gains["category"].isin(categories)]
    if eligible is not None:
        g = g[eligible[g["source"].to_numpy()]]
    units = g[["origin", "category"]].drop_duplicates().reset_index(drop=True)
    units["unit"] = np.arange(len(units))
    g = g.merge(units, on=["origin", "category"])
    pop = blocks["population"].to_numpy(dtype=float)
    old = blocks["pop_65plus"].to_numpy(dtype=float) if "pop_65plus" in blocks else np.zeros(len(blocks))
    w = pop[units["origin"].to_numpy()] + elderly_weight * old[units["origin"].to_numpy()]
    problem = CoverageProblem.from_pairs(g["unit"].to_numpy(), g["source"].to_numpy(), w, n_sites, cost=cost,
                                         site_ids=site_ids)
    return problem, units


# PLR0913 waived: a public notebook function; callers pass the snap and search limits by position
def before_after(net: WalkNetwork, blocks: gpd.GeoDataFrame, block_snap: Snapped, facilities: gpd.GeoDataFrame,  # noqa: PLR0913
                 hubs: gpd.GeoDataFrame, categories: list[str], rules: Mapping[str, CategoryRule],
                 facility_max_snap_m: float, search_limit_m: float,
                 obstacles=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage recomputed with hubs of ``categories`` opened at ``hubs``.

    ``facilities`` are the points each category is reached at (``category`` and
    geometry): in a study, the facilities' access points
    (:func:`toolkit.facilities.attach_facilities`), as the coverage step uses.
    Rows the baseline refused (``snapped`` False, when the column is there)
    are left out, and the others and the hubs are snapped with ``obstacles``
    (the study's ``details["snap_obstacles"]``): a facility the baseline
    refused for its leg across the river does not count after either, and a
    hub reaches only the streets its leg can. Hubs only add sources, so no
    distance grows and no rate drops. A category the baseline did not measure
    (no ``dist_<c>_m`` in ``blocks``) has no before: its before columns are
    NaN, never a rate of 0.

    Returns the after-distances/within columns and a table of rates before and
    after; ``table.attrs["hubs_refused"]`` maps each hub refused by the snap
    (its label in ``hubs.index``) to the reason.

    Examples
    --------
    >>> after, table = before_after(result.network, result.blocks, block_snap, access, hubs,
    ...                             ["park"], result.profile.rules(), 250, 5000,
    ...                             obstacles=result.details["snap_obstacles"])  # doctest: +SKIP
    >>> (table["rate_total_after"] >= table["rate_total_before"]).all()  # doctest: +SKIP
    True
    """
    after = pd.DataFrame(index=blocks.index)
    if "snapped" in facilities:
        facilities = facilities[facilities["snapped"].to_numpy(dtype=bool)]
    hs = snap_points(net, gpd.GeoSeries(hubs.geometry.values, crs=blocks.crs), max_snap_m=facility_max_snap_m,
                     obstacles=obstacles)
    for c in categories:
        fac = facilities.loc[facilities["category"] == c]
        fs = snap_points(net, gpd.GeoSeries(fac.geometry.values, crs=blocks.crs), max_snap_m=facility_max_snap_m,
                         obstacles=obstacles)
        d = point_distances(net, block_snap, _joined(fs, hs), limit=search_limit_m)
        after[f"dist_{c}_m"] = d
        after[f"within_{c}"] = d <= rules[c].max_distance_m
    post = coverage_rates(pd.concat([blocks[["population", "pop_65plus"]] if "pop_65plus" in blocks
                                     else blocks[["population"]], after], axis=1), categories)
    before = coverage_rates(blocks, [c for c in categories if f"dist_{c}_m" in blocks]).reindex(
        index=categories, columns=post.columns)
    table = pd.DataFrame({
        "rate_total_before": before["rate_total"], "rate_total_after": post["rate_total"],
        "covered_total_before": before["covered_total"], "covered_total_after": post["covered_total"],
    })
    if "rate_65plus" in before:
        table["rate_65plus_before"] = before["rate_65plus"]
        table["rate_65plus_after"] = post["rate_65plus"]
    table["newly_covered_total"] = table["covered_total_after"] - table["covered_total_before"]
    table.attrs["hubs_refused"] = {k: str(r) for k, r, ok in zip(hubs.index, hs.reason, hs.ok, strict=True) if not ok}
    return after, table


def _joined(a: Snapped, b: Snapped) -> Snapped:
    """Two snap results as one, ``a``'s points first (a fresh positional index)."""
    return Snapped(pd.RangeIndex(len(a) + len(b)),
                   *(np.concatenate([getattr(a, f), getattr(b, f)])
                     for f in ("edge", "d_u", "d_v", "leg", "ok", "x", "y", "reason", "reattached")))


@dataclass
class AddedFacilities:
    """What adding facilities to a finished study changes (:func:`added_facilities_effect`)."""

    after: pd.DataFrame  # dist_<c>_m / within_<c> after, for the categories facilities were added to
    rates: pd.DataFrame  # per category: rates before and after, the baseline's data status
    underserved: dict[str, Any]  # counts before and after on the baseline's categories and statuses
    flags_after: pd.DataFrame  # the underserved columns after (toolkit.underserved.underserved_blocks)
    # the added points not used, on ``added``'s index: category, snap_reason, snap_leg_m (empty when all were)
    refused: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["category", "snap_reason",
                                                                                "snap_leg_m"]))
    notes: list[str] = field(default_factory=list)  # what was refused and why, as the run's notes say it


def baseline_rule(result: Any) -> UnderservedRule:
    """The underserved rule a finished study used (its run record's), else the study's settings."""
    rec = (result.details.get("decisions") or {}).get("underserved", {}).get("rule")
    if rec:
        return UnderservedRule(**rec)
    return UnderservedRule.from_config(result.study.underserved)


def added_facilities_effect(result: Any, added: gpd.GeoDataFrame) -> AddedFacilities:
    """Coverage and underserved blocks of a finished study with ``added`` facilities, judged honestly.

    The comparison keeps the baseline's category set, data status and rule: a
    category that had no data in the baseline gets after-rates but still
    flags no block (it was not assessed before, so its facilities cannot make
    anything look worse), and a category measured on incomplete data stays
    incomplete. Each after-distance is the nearer of the baseline's distance
    and the nearest added facility, so adding facilities can never lower a
    rate nor raise the number of underserved blocks. Blocks and added points
    are snapped with the baseline's obstacles (``details["snap_obstacles"]``):
    an added point on the far bank reaches no street across the river, and a
    point refused (too far, in water, every leg across water or a road nobody
    may walk) is listed in ``refused`` and ``notes`` and counts nowhere.

    Parameters
    ----------
    result : StudyResult
        The baseline run.
    added : GeoDataFrame
        Points (any CRS) with a ``category`` column.

    Returns
    -------
    AddedFacilities

    Examples
    --------
    >>> pts = gpd.GeoDataFrame({"category": ["elderly_care"] * 2}, crs="EPSG:4326",
    ...                        geometry=gpd.points_from_xy([121.437, 121.445], [31.195, 31.188]))
    >>> eff = added_facilities_effect(result, pts)  # doctest: +SKIP
    >>> eff.underserved["blocks_after"] <= eff.underserved["blocks_before"]  # doctest: +SKIP
    True
    """
    if "category" not in added.columns:
        raise InputError("the added facilities need a 'category' column", field="category",
                         fix="one category name of data/categories.toml per point")
    bad = set(added["category"].astype(str)) - set(result.profile.categories)
    if bad:
        raise InputError(f"categories not in the profile: {', '.join(sorted(bad))}", field="category",
                         fix=f"use: {', '.join(result.profile.categories)}")
    net, blocks, study = result.network, result.blocks, result.study
    rules = result.profile.rules()
    added = added.to_crs(blocks.crs)
    obstacles = (result.details or {}).get("snap_obstacles")
    bsnap = snap_points(net, blocks.geometry, max_snap_m=study.block_max_snap_m, obstacles=obstacles)
    asnap = snap_points(net, gpd.GeoSeries(added.geometry.values, crs=blocks.crs),
                        max_snap_m=study.facility_max_snap_m, obstacles=obstacles)
    measured = list(result.categories)
    status = statuses(result.details.get("data_status") or {})
    after = pd.DataFrame(index=blocks.index)
    if hasattr(result.profile, "coverage_sources"):
        # a point counts where the profile says (a park also for the park size tiers); its size is unknown
        counted, _ = result.profile.coverage_sources(added.assign(area_m2=np.nan).reset_index(drop=True))
    else:
        counted = {c: (added["category"].astype(str) == c).to_numpy() for c in result.profile.categories}
    for c in result.profile.categories:
        if c not in counted or not np.asarray(counted[c]).any():
            continue
        fs = asnap.subset(np.asarray(counted[c], dtype=bool))
        d = point_distances(net, bsnap, fs, limit=study.search_limit_m) if fs.ok.any() \
            else np.full(len(blocks), np.inf)
        if f"dist_{c}_m" in blocks:
            # the nearest of the union is the nearer of the two nearests (NaN, a block not snapped, stays NaN)
            d = np.minimum(blocks[f"dist_{c}_m"].to_numpy(dtype=float), d)
        after[f"dist_{c}_m"] = d
        after[f"within_{c}"] = d <= rules[c].max_distance_m
    cats = [c[5:-2] for c in after.columns if c.startswith("dist_")]
    pop_cols = [p for p in ("population", "pop_65plus") if p in blocks]
    post = coverage_rates(pd.concat([blocks[pop_cols], after], axis=1), cats)
    before = coverage_rates(blocks, [c for c in cats if c in measured]).reindex(index=cats, columns=post.columns)
    rates = pd.DataFrame({"baseline_status": [status.get(c, "no data") if c in measured else "no data" for c in cats],
                          "rate_total_before": before["rate_total"], "rate_total_after": post["rate_total"]},
                         index=pd.Index(cats, name="category"))
    if "rate_65plus" in post:
        rates["rate_65plus_before"] = before["rate_65plus"]
        rates["rate_65plus_after"] = post["rate_65plus"]
    under, flags = compare_underserved(blocks, after, measured, rules, baseline_rule(result), status)
    no = ~asnap.ok
    refused = pd.DataFrame({"category": added["category"].astype(str).to_numpy()[no],
                            "snap_reason": asnap.reason[no], "snap_leg_m": np.round(asnap.leg[no], 2)},
                           index=added.index[no])
    return AddedFacilities(after=after, rates=rates, underserved=under, flags_after=flags, refused=refused,
                           notes=refusal_notes(refused.index, refused["snap_reason"], study.facility_max_snap_m,
                                                 "added facilities", id_name="row"))


def ranking_stability(base: pd.Series, other: pd.Series, top: int = 10) -> dict[str, float]:
    """Top-``top`` overlap and Kendall's tau between two score vectors over the same sites."""
    if len(base) < 2:
        return {"top_overlap": float("nan"), "kendall_tau": float("nan")}
    b = set(base.nlargest(top).index)
    o = set(other.nlargest(top).index)
    tau = kendall_tau_b(base.to_numpy(dtype=float), other.to_numpy(dtype=float))
    return {"top_overlap": len(b & o) / max(min(top, len(base)), 1), "kendall_tau": float(tau)}


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties accounted for), as ``scipy.stats.kendalltau`` computes it.

    Every pair once, with numpy: a study has tens to a few thousand candidate
    sites, and importing scipy.stats costs every run 0.25 s. Larger inputs go
    to scipy's O(n log n) version.

    Examples
    --------
    >>> round(kendall_tau_b(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])), 4)
    0.6667
    """
    n = len(x)
    if n > 3000:
        from scipy import stats

        return float(stats.kendalltau(x, y).statistic)
    i, j = np.triu_indices(n, k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denom = np.sqrt(float(np.count_nonzero(sx)) * float(np.count_nonzero(sy)))
    return float(np.dot(sx, sy) / denom) if denom > 0 else float("nan")


def sensitivity(sites: pd.DataFrame, settings: SiteSettings, categories: list[str], base_scores: pd.Series,
                threshold_variants: Mapping[str, pd.DataFrame], step: float = 0.25) -> pd.DataFrame:
    """How stable is the ranking under equally defensible assumptions?

    Each weight is moved by +/- ``step`` (one at a time), and the newly served
    figures are swapped for each threshold variant (e.g. 10/15/20 minutes, the
    elderly walking speed). Each row gives the variant and its top-10 overlap and
    Kendall's tau against the base ranking.
    """
    rows = []
    for name, w in settings.weights.items():
        if w <= 0:
            continue
        for f in (1 - step, 1 + step):
            weights = {**settings.weights, name: w * f}
            s = score_sites(sites, weights, categories)["score"]
            rows.append({"variant": f"weight {name} x{f:.2f}", "kind": "weight",
                         **ranking_stability(base_scores, s)})
    for label, new_cols in threshold_variants.items():
        alt = sites.copy()
        alt[new_cols.columns] = new_cols.to_numpy()
        s = score_sites(alt, settings.weights, categories)["score"]
        rows.append({"variant": label, "kind": "threshold", **ranking_stability(base_scores, s)})
    return pd.DataFrame(rows)


def _threshold_variants(profile: Profile, categories: list[str]) -> dict[str, dict[str, CategoryRule]]:
    rules = profile.rules()
    out: dict[str, dict[str, CategoryRule]] = {}
    for minutes in (10, 15, 20):
        out[f"all thresholds {minutes} min (adult)"] = {
            c: CategoryRule(c, minutes * 60 * profile.speed("adult")) for c in categories}
    out["elderly walking speed"] = {
        c: CategoryRule(c, m * 60 * profile.speed("elderly") if (m := rules[c].minutes)
                        else rules[c].max_distance_m * profile.speed("elderly") / profile.speed("adult"))
        for c in categories}
    return out


@dataclass
class DecisionInputs:
    """What the decisions step of a study reads (the arguments of :func:`run_decisions`).

    Parameters
    ----------
    study : Study
        The study (its ``underserved``, ``zones``, ``sites``, ``selection`` settings and data sources).
    net : WalkNetwork
        The walking network.
    blocks, streets, facilities : GeoDataFrame
        The blocks with their coverage columns, the streets, and the points each category is reached at
        (the coverage step's access points).
    block_snap : Snapped
        The blocks snapped to the network.
    measured : list of str
        The categories measured.
    profile : Profile
        The planning standard.
    land : shapely geometry
        The study's land.
    layers : dict
        The run's layers (``zones`` and ``candidate_sites`` are added).
    waterfront_access : GeoDataFrame, optional
        Waterfront access points (a site's closeness to the water).
    data_status : mapping, optional
        The run's ``details["data_status"]``.
    obstacles : optional
        The run's ``details["snap_obstacles"]``.
    notes : list of str, optional
        The run's notes, appended to.

    Examples
    --------
    >>> inputs = DecisionInputs(study, net, blocks, streets, access, bsnap, measured, profile, land,
    ...                         layers, data_status=details["data_status"])  # doctest: +SKIP
    >>> blocks, section = decide(inputs)  # doctest: +SKIP
    """

    study: Any
    net: WalkNetwork
    blocks: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    block_snap: Snapped
    measured: list[str]
    profile: Profile
    land: Any
    layers: dict[str, gpd.GeoDataFrame]
    waterfront_access: gpd.GeoDataFrame | None = None
    data_status: Mapping[str, Any] | None = None
    obstacles: Any = None
    notes: list[str] | None = None


@dataclass
class DecisionContext:
    """The state the named steps of :func:`decide` share: each reads what earlier steps left and adds its part.

    ``blocks`` and ``sites`` grow column by column, ``summary`` is the run.json ``decisions`` section
    being written, in the order of its keys.
    """

    inputs: DecisionInputs
    blocks: gpd.GeoDataFrame
    rules: dict[str, CategoryRule]
    status: dict[str, str]
    urule: UnderservedRule
    summary: dict[str, Any] = field(default_factory=dict)
    # set by the steps before any later step reads them (None until then): typed as what they then are
    settings: SiteSettings = field(default=cast("SiteSettings", None))
    sel_settings: SelectionSettings = field(default=cast("SelectionSettings", None))
    sites: gpd.GeoDataFrame = field(default=cast("gpd.GeoDataFrame", None))
    ssnap: Snapped = field(default=cast("Snapped", None))
    excluded: np.ndarray = field(default=cast("np.ndarray", None))
    usable: np.ndarray = field(default=cast("np.ndarray", None))
    variants: dict[str, dict[str, CategoryRule]] = field(default_factory=dict)
    pairs: pd.DataFrame | None = None
    gains: pd.DataFrame = field(default=cast("pd.DataFrame", None))
    units: pd.DataFrame = field(default=cast("pd.DataFrame", None))
    refused_sites: dict[str, Any] = field(default_factory=dict)
    unused_criteria: list[str] = field(default_factory=list)

    def note(self, lines: list[str]) -> None:
        """Append to the run's notes, when the caller keeps them."""
        if self.inputs.notes is not None:
            self.inputs.notes += lines


def _underserved_step(inputs: DecisionInputs) -> DecisionContext:
    """The rule, the underserved flags of every block and their summary."""
    study, profile = inputs.study, inputs.profile
    status = statuses(inputs.data_status or {})
    urule = UnderservedRule.from_config(study.underserved)
    if "basic_categories" not in (study.underserved or {}):
        # categories may declare basic = true/false; a study's own list decides alone
        urule.basic_categories = profile.basic_categories(urule.basic_categories)
    rules = profile.rules()
    blocks = inputs.blocks.join(underserved_blocks(inputs.blocks, inputs.measured, rules, urule, status))
    ctx = DecisionContext(inputs, blocks, rules, status, urule)
    ctx.summary["underserved"] = underserved_summary(blocks, inputs.measured, urule, status)
    return ctx


def _zones_step(ctx: DecisionContext) -> None:
    """The zones roll-up: the study's zones, else a grid over the land."""
    study, blocks, land = ctx.inputs.study, ctx.blocks, ctx.inputs.land
    if study.zones is not None:
        zones = read_layer(study.zones.resolve(), **study.zones.reader_options()).to_crs(blocks.crs)
        zfield = study.zone_id_field or "zone_id"
        zsource = study.zones.label()
    else:
        zones = grid_zones(land, study.zone_grid_m, blocks.crs)
        zfield, zsource = "zone_id", f"{study.zone_grid_m:.0f} m grid"
    integ = zone_integrity(zones, land, source=zsource)
    table = roll_up(blocks, zones, ctx.inputs.measured, zone_field=zfield)
    ctx.inputs.layers["zones"] = zones[[zfield, "geometry"]].merge(table, on=zfield, how="left")
    ctx.summary["zones"] = {"source": zsource, **integ, "unassigned_blocks": int(
        table.loc[table[zfield] == "unassigned", "blocks"].sum()) if (table[zfield] == "unassigned").any() else 0}
    # further levels ([[zones.levels]], life-circle units): each rolled up, overlaps, gaps and nesting reported
    from .zones import study_levels, zone_levels

    ctx.summary["zone_levels"] = zone_levels(study_levels(study, ctx.inputs.notes), blocks, land,
                                             ctx.inputs.measured, study.profile, ctx.inputs.layers,
                                             base=(zones, zfield), notes=ctx.inputs.notes)


def _candidates(study: Any, settings: SiteSettings) -> list[gpd.GeoDataFrame]:
    """Each of the study's candidate sources read as sites (``[[sites.candidates]]``)."""
    parts = []
    for i, cand in enumerate(study.site_sources):
        g = read_layer(cand["source"].resolve(), **cand["source"].reader_options())
        label = cand["source"].label()
        kind = cand.get("kind", "landuse")
        if kind == "landuse":
            parts.append(candidates_from_landuse(g, cand.get("field", "landuse_type"),
                                                 cand.get("types", settings.landuse_types), label))
        elif kind == "osm":
            parts.append(candidates_from_osm(g, cand.get("tags", settings.osm_tags), label))
        elif kind == "all":
            from .sites import _normalise

            parts.append(_normalise(g, pd.Series(cand.get("type", "user site"), index=g.index), label))
        else:
            raise InputError(f"unknown candidate kind {kind!r}", field=f"sites.candidates[{i}].kind",
                             fix="use 'landuse' (a type column), 'osm' (tags) or 'all' (every feature is a site)")
    return parts


def _sites_step(ctx: DecisionContext) -> bool:
    """The candidate sites on the study's land, numbered; False (and an empty layer) when there are none."""
    import shapely

    study, land = ctx.inputs.study, ctx.inputs.land
    ctx.settings = SiteSettings.from_config(study.sites)
    sites = combine_candidates(_candidates(study, ctx.settings), ctx.blocks.crs)
    shapely.prepare(land)
    inside = shapely.intersects(land, np.asarray(sites.geometry.values)) if len(sites) else np.zeros(0, bool)
    sites = sites[inside].reset_index(drop=True)
    sites["site_id"] = np.arange(1, len(sites) + 1)
    ctx.summary["sites"] = {"candidates": len(sites),
                            "by_type": sites["site_type"].value_counts().to_dict() if len(sites) else {},
                            "by_source": sites["source"].value_counts().to_dict() if len(sites) else {}}
    ctx.sel_settings = SelectionSettings.from_config(study.selection)
    ctx.sites = sites
    if len(sites):
        return True
    ctx.summary["sites"]["message"] = "no candidate site in the study area: nothing to rank or select"
    ctx.summary["selection"] = {"status": "empty: no candidate sites"}
    ctx.inputs.layers["candidate_sites"] = sites.assign(selected=pd.Series(dtype=bool), score=pd.Series(dtype=float))
    return False


def _site_context_step(ctx: DecisionContext) -> None:
    """Exclusions, the snap to the network (refusals noted), each site's block, heritage and waterfront context."""
    inp, settings, sites = ctx.inputs, ctx.settings, ctx.sites
    study, net = inp.study, inp.net
    ctx.excluded = apply_exclusions(sites, read_layer(study.sites_exclude.resolve(),
                                                      **study.sites_exclude.reader_options())
                                    if study.sites_exclude is not None else None)
    ctx.ssnap = ssnap = snap_sites(net, sites, settings.max_snap_m, obstacles=inp.obstacles)
    sites["snapped"] = ssnap.ok
    refused_sites, site_notes = site_refusals(sites, ssnap, settings.max_snap_m)
    ctx.refused_sites = refused_sites
    ctx.note(site_notes)
    sites["excluded"] = ctx.excluded
    sites = sites.join(site_context(sites, ctx.blocks, inp.streets, settings))
    if "on_protected_road" in sites:
        # a site on a never-widen road never lists widening
        fix = sites["on_protected_road"].to_numpy()
        sites.loc[fix, "allowed_interventions"] = sites.loc[fix, "allowed_interventions"].str.replace(
            r"(^|;)road_widening(?=;|$)", "", regex=True).str.strip(";")
        sites.loc[fix, "forbidden_interventions"] = [";".join(dict.fromkeys(
            [*filter(None, f.split(";")), "road_widening"])) for f in sites.loc[fix, "forbidden_interventions"]]
    if inp.waterfront_access is not None and len(inp.waterfront_access):
        wa = snap_points(net, inp.waterfront_access.geometry, obstacles=inp.obstacles)
        d = point_distances(net, ssnap, wa)
        thr = inp.profile.waterfront_threshold()
        sites["dist_waterfront_m"] = d
        sites["waterfront_closeness"] = np.clip(1 - np.nan_to_num(d, nan=np.inf) / thr, 0, 1)
    ctx.sites = sites


def _reach_step(ctx: DecisionContext) -> None:
    """Block-site pairs within the longest threshold of the base rules and the sensitivity variants."""
    inp, rules, measured = ctx.inputs, ctx.rules, ctx.inputs.measured
    ctx.variants = variants = _threshold_variants(inp.profile, measured)
    radius = max([rules[c].max_distance_m for c in measured] +
                 [r.max_distance_m for v in variants.values() for r in v.values()]) if measured else 0.0
    ctx.pairs = reachable_pairs(inp.net, inp.block_snap, ctx.ssnap, radius) if measured else None


def _hub_step(ctx: DecisionContext) -> None:
    """Heritage as a rule, not a score: which sites can host a hub at all, and why the others cannot."""
    settings, ssnap, excluded = ctx.settings, ctx.ssnap, ctx.excluded
    # a hub where its intervention is forbidden (or on green space nobody chose to build on) is no candidate
    # at all; one left to a heritage review stays, flagged
    sites = ctx.sites = ctx.sites.join(hub_feasibility(ctx.sites, settings))
    hub_ok = ~sites["hub_status"].isin([HUB_FORBIDDEN, HUB_GREEN]).to_numpy()
    ctx.usable = usable = ssnap.ok & ~excluded & hub_ok
    infeasible = sites.loc[ssnap.ok & ~excluded & ~hub_ok]
    s = ctx.summary["sites"]
    s["hub_needs"] = {"open site": settings.hub_intervention, "reuse types": settings.reuse_types}
    s["hub_infeasible"] = {
        "by_status": infeasible["hub_status"].value_counts().to_dict(),
        "sites": [{"site_id": int(r.site_id), "site_type": str(r.site_type),
                   "heritage_class": str(getattr(r, "heritage_class", "")), "reason": str(r.hub_reason)}
                  for r in infeasible.itertuples()],
    }
    s["hub_review"] = [int(i) for i in sites.loc[usable & (sites["hub_status"] == HUB_REVIEW).to_numpy(), "site_id"]]
    if len(infeasible):
        per = infeasible["hub_status"].value_counts()
        ctx.note([f"{len(infeasible)} candidate sites cannot host a hub and were left out of the selection: "
                  + ", ".join(f"{k} ({int(v)})" for k, v in per.items())
                  + f"; site_id {', '.join(map(str, infeasible['site_id'].head(10)))}"
                  + (", ..." if len(infeasible) > 10 else "")
                  + " (run.json decisions.sites.hub_infeasible gives each one's reason)"])
    if ctx.pairs is not None:
        ctx.pairs = ctx.pairs[usable[ctx.pairs["source"].to_numpy()]]


def _score_step(ctx: DecisionContext) -> None:
    """Residents newly served from each usable site, the transparent score and the rank."""
    inp, settings, usable = ctx.inputs, ctx.settings, ctx.usable
    new, ctx.gains = newly_served(inp.net, ctx.blocks, inp.block_snap, ctx.ssnap, inp.measured, ctx.rules,
                                  pairs=ctx.pairs)
    sites = ctx.sites.join(new)
    # only sites a hub could actually use are scored: the 0-1 scaling is over them
    sc = score_sites(sites[usable], settings.weights, inp.measured)
    sites = sites.join(sc.drop(columns="rank"))
    sites["rank"] = sites["score"].rank(ascending=False, method="first").astype("Int64")
    ctx.sites = sites
    ctx.unused_criteria = sc.attrs.get("unused_criteria", [])
    s = ctx.summary["sites"]
    s["excluded"] = int(ctx.excluded.sum())
    s["unsnapped"] = int((~ctx.ssnap.ok).sum())
    s.update(ctx.refused_sites)
    s["weights"] = settings.weights
    s["unused_criteria"] = ctx.unused_criteria


def _selection_step(ctx: DecisionContext) -> tuple[list[str], CoverageProblem, Selection, Selection, Selection]:
    """Greedy and exact maximal covering of the unserved (block, category) units; the better one is chosen."""
    sel, sites, measured = ctx.sel_settings, ctx.sites, ctx.inputs.measured
    cats = [c for c in sel.categories if c in measured]
    cost = sites["cost"].to_numpy(dtype=float) if sel.budget is not None else None
    if cost is not None and np.isnan(cost).any():
        raise InputError("a budget needs a cost for every candidate site", field="sites.cost",
                         fix="add a numeric 'cost' column to the candidates layer, or select by k instead")
    problem, units = selection_problem(ctx.gains, ctx.blocks, cats, len(sites), sel.elderly_weight, cost=cost,
                                       eligible=ctx.usable, site_ids=sites["site_id"].to_numpy())
    greedy: Selection = solve_greedy(problem, k=sel.k, budget=sel.budget)
    exact: Selection = solve_exact(problem, k=sel.k, budget=sel.budget, time_limit=sel.time_limit_s)
    chosen = exact if exact.objective >= greedy.objective else greedy
    sites["selected"] = False
    sites.loc[chosen.sites, "selected"] = True
    ctx.units = units
    return cats, problem, greedy, exact, chosen


def _predicted(ctx: DecisionContext, cats: list[str], chosen: Selection) -> dict[str, float]:
    """Predicted gain per category, unweighted, from the units the choice covers."""
    cov_units = ctx.units[chosen.covered_units]
    pop = ctx.blocks["population"].to_numpy(dtype=float)
    return {c: float(pop[cov_units.loc[cov_units["category"] == c, "origin"].to_numpy()].sum()) for c in cats}


def _before_after_step(ctx: DecisionContext, cats: list[str],
                       chosen: Selection) -> tuple[pd.DataFrame, dict[Any, str], dict[str, Any] | None]:
    """Coverage with hubs at the chosen sites; the underserved count after, on the baseline's basis."""
    inp, sites, blocks = ctx.inputs, ctx.sites, ctx.blocks
    study = inp.study
    predicted = _predicted(ctx, cats, chosen)
    hubs = sites.loc[sites["selected"], ["geometry"]]
    after_cols, ba = before_after(inp.net, blocks, inp.block_snap, inp.facilities, hubs, cats, ctx.rules,
                                  study.facility_max_snap_m, study.search_limit_m, obstacles=inp.obstacles) \
        if cats else (None, pd.DataFrame())
    hubs_refused = {int(sites.at[k, "site_id"]): r for k, r in ba.attrs.get("hubs_refused", {}).items()}
    under_ba = None
    if len(ba) and after_cols is not None:  # (ba has rows only with categories, which give after_cols)
        ba["predicted_newly_covered_total"] = pd.Series(predicted)
        ba["data_status"] = pd.Series({c: ctx.status.get(c, "unknown") for c in cats})
        for c in cats:
            blocks[f"within_{c}_after"] = after_cols[f"within_{c}"]
        # judged on the baseline's categories and statuses: hubs can only lower the count
        under_ba, _ = compare_underserved(blocks, after_cols, inp.measured, ctx.rules, ctx.urule, ctx.status)
    return ba, hubs_refused, under_ba


def _selection_summary(ctx: DecisionContext) -> None:
    """The selection, its before/after and what it could not attach, as run.json ``decisions.selection``."""
    sel, sites, study = ctx.sel_settings, ctx.sites, ctx.inputs.study
    cats, problem, greedy, exact, chosen = _selection_step(ctx)
    ba, hubs_refused, under_ba = _before_after_step(ctx, cats, chosen)
    obj_gap = (exact.objective - greedy.objective) / exact.objective if exact.objective > 0 else 0.0
    out = ctx.summary["selection"] = {
        "categories": cats, "categories_without_data": [c for c in sel.categories if c not in ctx.inputs.measured],
        "k": sel.k, "budget": sel.budget,
        "elderly_weight": sel.elderly_weight, "demand_units": int(problem.n_units),
        "greedy": greedy.to_dict(), "exact": exact.to_dict(), "gap": obj_gap,
        "chosen": chosen.method, "selected_site_ids": [int(s) for s in sites.loc[sites["selected"], "site_id"]],
        "selected_needing_review": [int(s) for s in sites.loc[sites["selected"] & (sites["hub_status"] == HUB_REVIEW),
                                                              "site_id"]],
        "before_after": ba.reset_index().rename(columns={"index": "category"}).to_dict(orient="records"),
    }
    if under_ba is not None:
        out["underserved_before_after"] = under_ba
    if hubs_refused:
        # a hub usable as a site (sites.max_snap_m) but beyond network.facility_max_snap_m counts nowhere after
        out["hubs_not_attached"] = hubs_refused
        ctx.note(refusal_notes(list(hubs_refused), list(hubs_refused.values()), study.facility_max_snap_m,
                               "selected hubs"))
    if not cats:
        out["status"] = "empty: none of the selection categories has data in this study"
    if sel.hub_capacity is not None and cats:
        from .provision import capacitated_hubs

        # each hub serves at most its capacity: candidate_sites.selected_capacitated, beside the plain choice
        out["capacitated"] = capacitated_hubs(problem, ctx.units, sel, sites, uncapped=chosen.objective)


def _sensitivity_step(ctx: DecisionContext) -> None:
    """How stable the ranking is under other weights and thresholds (run.json ``decisions.sensitivity``)."""
    inp, usable, settings, measured = ctx.inputs, ctx.usable, ctx.settings, ctx.inputs.measured
    tv = {}
    for label, vrules in ctx.variants.items():
        vb = ctx.blocks.copy()
        for c in measured:
            vb[f"within_{c}"] = vb[f"dist_{c}_m"] <= vrules[c].max_distance_m
        nv, _ = newly_served(inp.net, vb, inp.block_snap, ctx.ssnap, measured, vrules, pairs=ctx.pairs)
        tv[label] = nv
    ok_sites = ctx.sites[usable]
    used = SiteSettings(**{**settings.__dict__, "weights": {
        k: (w if k not in ctx.unused_criteria else 0.0) for k, w in settings.weights.items()}})
    sens = sensitivity(ok_sites, used, measured, ok_sites["score"], {k: v[usable] for k, v in tv.items()}) \
        if len(ok_sites) > 1 else pd.DataFrame()
    ctx.summary["sensitivity"] = {
        "variants": sens.to_dict(orient="records"),
        "min_top10_overlap": float(sens["top_overlap"].min()) if len(sens) else None,
        "mean_kendall_tau": float(sens["kendall_tau"].mean()) if len(sens) else None,
    }


def decide(inputs: DecisionInputs) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The decisions step as named steps sharing one :class:`DecisionContext` (see :func:`run_decisions`).

    Examples
    --------
    >>> blocks, section = decide(DecisionInputs(study, net, blocks, streets, access, bsnap, measured,
    ...                                         profile, land, layers))  # doctest: +SKIP
    >>> list(section)[:3]  # doctest: +SKIP
    ['underserved', 'zones', 'sites']
    """
    ctx = _underserved_step(inputs)
    _zones_step(ctx)
    if not _sites_step(ctx):
        return ctx.blocks, ctx.summary
    _site_context_step(ctx)
    _reach_step(ctx)
    _hub_step(ctx)
    _score_step(ctx)
    _selection_summary(ctx)
    # how many hubs full coverage needs (LSCP), the catchment and service-area layers (toolkit.location)
    from .location import full_coverage_step

    ctx.summary["full_coverage"] = full_coverage_step(ctx)
    _sensitivity_step(ctx)
    inputs.layers["candidate_sites"] = ctx.sites
    return ctx.blocks, ctx.summary


# The 14 arguments are the call contract of study.py and of notebooks: decide(DecisionInputs(...)) is the grouped form.
def run_decisions(study: Any, net: WalkNetwork, blocks: gpd.GeoDataFrame, streets: gpd.GeoDataFrame,  # noqa: PLR0913
                  facilities: gpd.GeoDataFrame, block_snap: Snapped, measured: list[str], profile: Profile,
                  land: Any, layers: dict[str, gpd.GeoDataFrame],
                  waterfront_access: gpd.GeoDataFrame | None = None,
                  data_status: Mapping[str, Any] | None = None, obstacles=None,
                  notes: list[str] | None = None) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The decisions step of a study: adds block columns and layers, returns the run.json section.

    ``data_status`` is the run's ``details["data_status"]``
    (:func:`toolkit.completeness.study_data_status`): only its complete
    categories can make a block underserved. Without it no category is taken
    as complete and no block is flagged: a caller must say what it trusts.

    ``obstacles`` are the study's ``details["snap_obstacles"]`` (water and
    roads nobody may walk, :func:`toolkit.snapping.leg_obstacles`), the ones
    ``block_snap`` and the facilities were snapped with: every snap here
    (candidate sites, waterfront access points, the before/after facilities
    and hubs) uses them, so that a site or facility on the far bank never
    reaches a street across the river. Candidate sites refused (too far, in
    water, legs across water or a barrier) are counted per reason in the
    section's ``sites`` and described in ``notes`` (the run's notes, appended
    to) when given.
    """
    return decide(DecisionInputs(study, net, blocks, streets, facilities, block_snap, measured, profile, land, layers,
                                 waterfront_access=waterfront_access, data_status=data_status, obstacles=obstacles,
                                 notes=notes))
