"""Candidate micro-renewal sites: where they are, what they allow, whom a hub there would serve.

Candidates come from land-use points or OSM features (vacant, brownfield,
construction, surface parking, small open or grass areas) and from a user
layer; each keeps its source. Every site gets a transparent score: weighted
criteria scaled 0-1 within the study, each criterion's contribution stored as
a column next to the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .coverage import CategoryRule
from .crs import ensure_projected
from .errors import InputError
from .facilities import _rule_mask
from .network import WalkNetwork
from .reach import reachable_pairs
from .snapping import Snapped, snap_points
from .underserved import decision_defaults

__all__ = [
    "SITE_COLUMNS",
    "SiteSettings",
    "apply_exclusions",
    "candidates_from_landuse",
    "candidates_from_osm",
    "combine_candidates",
    "hub_feasibility",
    "newly_served",
    "refusal_notes",
    "score_sites",
    "site_context",
    "site_refusals",
    "snap_sites"
]

SITE_COLUMNS = ["site_id", "site_type", "source", "source_id", "area_m2"]


@dataclass
class SiteSettings:
    """Where candidates come from and how they are scored (defaults in ``data/decisions.toml``).

    Parameters
    ----------
    landuse_types : list of str
        Land-use point types that are candidate sites.
    osm_tags : list of str
        OSM tag rules of candidate sites.
    max_snap_m : float, default 250.0
        Sites further from a street are refused.
    weights : dict of str to float
        The score's criteria weights (:func:`score_sites`).
    heritage_fit : dict of str to float
        The heritage-fit criterion per heritage class.
    hub_intervention : str, default "small_new_facility"
        What a hub on an open site needs, as named in ``data/heritage_rules.toml``.
    reuse_types : list of str
        Site types reused as they are (no new building).
    green_types : list of str
        Site types that are green space (no hub unless ``build_on_green``).
    build_on_green : bool, default False
        Let a hub take green space.

    Examples
    --------
    >>> s = SiteSettings.from_config({"max_snap_m": 100})
    >>> s.max_snap_m, "newly_served" in s.weights
    (100.0, True)
    """

    landuse_types: list[str] = field(default_factory=list)
    osm_tags: list[str] = field(default_factory=list)
    max_snap_m: float = 250.0
    weights: dict[str, float] = field(default_factory=dict)
    heritage_fit: dict[str, float] = field(default_factory=dict)
    #: what a hub (a small service centre) on an open site needs, as named in data/heritage_rules.toml
    hub_intervention: str = "small_new_facility"
    #: site types that are existing buildings: a hub there is adaptive reuse, not new building
    reuse_types: list[str] = field(default_factory=list)
    #: site types that are existing green space (lawns, meadows): offered for a hub only with build_on_green
    green_types: list[str] = field(default_factory=list)
    build_on_green: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> SiteSettings:
        """Defaults updated by a study's ``[sites]`` table.

        Parameters
        ----------
        raw : mapping, optional
            The study's ``[sites]`` table (``study.sites``); the defaults of ``data/decisions.toml`` when omitted.

        Returns
        -------
        SiteSettings

        Examples
        --------
        >>> SiteSettings.from_config({"max_snap_m": 100}).max_snap_m
        100.0
        """
        d = decision_defaults()["sites"]
        raw = dict(raw or {})
        w = dict(d["weights"])
        user_w = raw.pop("weights", {})
        unknown = set(user_w) - set(w)
        if unknown:
            raise InputError(f"unknown site criteria: {', '.join(sorted(unknown))}", field="sites.weights",
                             fix=f"criteria are: {', '.join(w)}")
        w.update({k: float(v) for k, v in user_w.items()})
        if any(v < 0 for v in w.values()):
            raise InputError("site weights must be >= 0", field="sites.weights", fix="use 0 to switch a criterion off")
        fit = {**d["heritage_fit"], **raw.pop("heritage_fit", {})}
        known = {"landuse_types", "osm_tags", "max_snap_m", "candidates", "exclude", "hub_intervention",
                 "reuse_types", "green_types", "build_on_green"}
        bad = set(raw) - known
        if bad:
            raise InputError(f"unknown site setting(s): {', '.join(sorted(bad))}", field="sites",
                             fix=f"settings are: {', '.join(sorted(known | {'weights', 'heritage_fit'}))}")
        return cls(landuse_types=list(raw.get("landuse_types", d["landuse_types"])),
                   osm_tags=list(raw.get("osm_tags", d["osm_tags"])),
                   max_snap_m=float(raw.get("max_snap_m", d["max_snap_m"])), weights=w, heritage_fit=fit,
                   hub_intervention=str(raw.get("hub_intervention", d["hub_intervention"])),
                   reuse_types=list(raw.get("reuse_types", d["reuse_types"])),
                   green_types=list(raw.get("green_types", d["green_types"])),
                   build_on_green=bool(raw.get("build_on_green", d["build_on_green"])))


#: why a candidate cannot host a hub, or needs a review first (column ``hub_status``)
HUB_OK, HUB_REVIEW, HUB_FORBIDDEN, HUB_GREEN = "allowed", "review", "forbidden", "green space"


def hub_feasibility(sites: pd.DataFrame, settings: SiteSettings) -> pd.DataFrame:
    """What a hub at each site needs, and whether the heritage rules and the site's use allow it.

    A hub on an open site (vacant land, a brownfield, surface parking) is a
    small new facility; on a site whose type is in ``settings.reuse_types`` (an
    existing building) it is adaptive reuse. The site's block class
    (``heritage_class``, from :func:`site_context`) says whether that
    intervention is allowed, left to a heritage review, or forbidden
    (``data/heritage_rules.toml``). Existing green space (``green_types``) is
    not offered for building unless ``build_on_green``.

    Parameters
    ----------
    sites : DataFrame
        Candidate sites with ``site_type`` and, when the study has heritage data, ``heritage_class``.
    settings : SiteSettings

    Returns
    -------
    DataFrame
        On the sites' index: ``hub_needs`` (the intervention), ``hub_status`` (``allowed``, ``review``,
        ``forbidden`` or ``green space``) and ``hub_reason`` (empty where allowed).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"site_type": ["vacant", "grass", "vacant", "building"],
    ...                   "heritage_class": ["none", "none", "core", "core"]})
    >>> st = SiteSettings(reuse_types=["building"], green_types=["grass"])
    >>> hub_feasibility(s, st)["hub_status"].tolist()
    ['allowed', 'green space', 'forbidden', 'allowed']
    """
    from .heritage import forbidden_interventions, review_interventions

    kinds = sites["site_type"].astype(str).to_numpy()
    needs = np.where(np.isin(kinds, settings.reuse_types), "adaptive_reuse", settings.hub_intervention)
    cls = sites["heritage_class"].astype(str).to_numpy() if "heritage_class" in sites else np.full(len(sites), "")
    status = np.full(len(sites), HUB_OK, dtype=object)
    reason = np.full(len(sites), "", dtype=object)
    for c in set(cls) - {"", "nan", "None"}:
        forbidden, review = set(forbidden_interventions(c)), set(review_interventions(c))
        for need in set(needs[cls == c]):
            m = (cls == c) & (needs == need)
            if need in forbidden:
                status[m], reason[m] = HUB_FORBIDDEN, f"{need} is forbidden in a heritage {c} block"
            elif need in review:
                status[m], reason[m] = HUB_REVIEW, f"{need} in a heritage {c} block needs a heritage review"
    green = np.isin(kinds, settings.green_types) & (status != HUB_FORBIDDEN)
    if not settings.build_on_green:
        status[green] = HUB_GREEN
        reason[green] = [f"existing green space ({k}): not offered for building (sites.build_on_green = true "
                         "offers it)" for k in kinds[green]]
    return pd.DataFrame({"hub_needs": needs, "hub_status": status, "hub_reason": reason}, index=sites.index)


def candidates_from_landuse(gdf: gpd.GeoDataFrame, type_field: str, types: list[str],
                            source: str) -> gpd.GeoDataFrame:
    """Candidate sites from a land-use layer (points or polygons) whose type is in ``types``."""
    if type_field not in gdf.columns:
        raise InputError(f"type column {type_field!r} not found", source=source, field=type_field,
                         fix=f"use one of: {', '.join(map(str, gdf.columns))}")
    sel = gdf[gdf[type_field].astype("string").isin(types).fillna(False).to_numpy(dtype=bool)]
    return _normalise(sel, sel[type_field].astype(str), source)


def candidates_from_osm(gdf: gpd.GeoDataFrame, tags: list[str], source: str) -> gpd.GeoDataFrame:
    """Candidate sites from OSM features matching any of ``tags`` (``key=value[&key=value]``)."""
    kind = pd.Series(pd.NA, index=gdf.index, dtype="string")
    for rule in tags:
        m = _rule_mask(gdf, rule) & kind.isna().to_numpy()
        kind[m] = rule.split("&")[0].split("=")[-1]
    sel = gdf[kind.notna().to_numpy()]
    return _normalise(sel, kind[kind.notna()].astype(str), source)


def _normalise(gdf: gpd.GeoDataFrame, kind: pd.Series, source: str) -> gpd.GeoDataFrame:
    sid = next((c for c in ("osmid", "@id", "osm_id", "id") if c in gdf.columns), None)
    return gpd.GeoDataFrame({
        "site_type": kind.to_numpy(),
        "source": source,
        "source_id": gdf[sid].astype(str).to_numpy() if sid else gdf.index.astype(str).to_numpy(),
        "name": gdf["name"].astype("string").to_numpy() if "name" in gdf else pd.array([pd.NA] * len(gdf),
                                                                                         dtype="string"),
        "cost": pd.to_numeric(gdf["cost"], errors="coerce").to_numpy() if "cost" in gdf else np.nan,
    }, geometry=gdf.geometry.values, crs=gdf.crs)


def combine_candidates(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Concatenate candidate layers in the study CRS, with ``site_id`` and ``area_m2`` (NaN for points)."""
    parts = [p.to_crs(crs) for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame({c: [] for c in [*SITE_COLUMNS, "name", "cost"]}, geometry=[], crs=crs)
    g = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    poly = g.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    g.insert(0, "site_id", np.arange(1, len(g) + 1))
    g["area_m2"] = np.where(poly, g.geometry.area, np.nan)
    return g


def apply_exclusions(sites: gpd.GeoDataFrame, exclude: gpd.GeoDataFrame | None) -> np.ndarray:
    """True where a site lies in an area the user asked to leave blank."""
    if exclude is None or len(exclude) == 0 or len(sites) == 0:
        return np.zeros(len(sites), dtype=bool)
    mask = shapely.union_all(np.asarray(exclude.to_crs(sites.crs).geometry.values))
    shapely.prepare(mask)
    return shapely.intersects(mask, np.asarray(sites.geometry.values))


def newly_served(net: WalkNetwork, blocks: gpd.GeoDataFrame, block_snap: Snapped, site_snap: Snapped,
                 categories: list[str], rules: Mapping[str, CategoryRule],
                 pairs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each site and category, the residents a hub there would newly bring within the threshold.

    Only blocks currently *not* within reach of the category count, so the
    figure is the gain, not the reach.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    blocks : GeoDataFrame
        The blocks, with ``population``, ``pop_65plus`` and ``within_<category>``.
    block_snap : Snapped
        The blocks snapped to ``net``.
    site_snap : Snapped
        The candidate sites snapped to ``net`` (:func:`snap_sites`).
    categories : list of str
        The hub's categories.
    rules : mapping of str to CategoryRule
        The thresholds (:meth:`toolkit.standards.Profile.rules`).
    pairs : DataFrame, optional
        Block-site distances already computed (not searched again).

    Returns
    -------
    DataFrame
        On site positions: ``new_<c>_pop`` and ``new_<c>_65plus`` per category.
    DataFrame
        The (block, site, category) gains behind them (``origin``, ``source``,
        ``category``, ``dist_m``), which site selection reuses.

    Examples
    --------
    >>> site_snap = snap_sites(result.network, sites, 250)  # doctest: +SKIP
    >>> per_site, gains = newly_served(result.network, result.blocks, block_snap, site_snap, ["park"],
    ...                                result.profile.rules())  # doctest: +SKIP
    >>> per_site["new_park_pop"].max() > 0  # doctest: +SKIP
    True
    """
    if not categories:
        return pd.DataFrame(index=range(len(site_snap))), pd.DataFrame(
            columns=["origin", "source", "category", "dist_m"])
    radius = max(rules[c].max_distance_m for c in categories)
    if pairs is None:
        pairs = reachable_pairs(net, block_snap, site_snap, radius)
    pop = blocks["population"].to_numpy(dtype=float)
    old = blocks["pop_65plus"].to_numpy(dtype=float) if "pop_65plus" in blocks else np.zeros(len(blocks))
    out = pd.DataFrame(index=range(len(site_snap)))
    gains = []
    for c in categories:
        unserved = ~blocks[f"within_{c}"].to_numpy(dtype=bool) & ~np.isnan(blocks[f"dist_{c}_m"].to_numpy(float))
        p = pairs[(pairs["dist_m"] <= rules[c].max_distance_m).to_numpy() & unserved[pairs["origin"].to_numpy()]]
        o, s = p["origin"].to_numpy(), p["source"].to_numpy()
        out[f"new_{c}_pop"] = np.bincount(s, weights=pop[o], minlength=len(site_snap))
        out[f"new_{c}_65plus"] = np.bincount(s, weights=old[o], minlength=len(site_snap))
        gains.append(p.assign(category=c))
    return out, pd.concat(gains, ignore_index=True)


def _scale(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    lo, hi = np.nanmin(v) if len(v) else 0.0, np.nanmax(v) if len(v) else 0.0
    return np.zeros(len(v)) if not np.isfinite(hi - lo) or hi <= lo else (v - lo) / (hi - lo)


def score_sites(sites: pd.DataFrame, weights: Mapping[str, float], categories: list[str]) -> pd.DataFrame:
    """Criteria (0-1 within the study), their weighted contributions and the score.

    Criteria: ``newly_served`` (best category's new residents), ``elderly_share``
    (65+ share among them), ``walk_deficit`` (study-best walkability minus the
    site's block), ``heritage_fit`` (from the rule table's class), ``waterfront``
    (1 at an access point, 0 at the threshold or beyond), ``cost`` (cheaper is
    better; only when costs are given), ``voice`` (the site's block's residents'
    voice index, :mod:`toolkit.voice`; only with a ``[voice]`` layer). A
    criterion without data contributes 0 and its weight is reported as unused;
    one without data and weighted 0 (``voice`` by default) adds no columns.

    Parameters
    ----------
    sites : DataFrame
        The candidate sites with the criteria's inputs (``new_<c>_pop``, ``new_<c>_65plus``,
        ``heritage_fit``, ``walk_index``...).
    weights : mapping of str to float
        Criterion -> weight (:attr:`SiteSettings.weights`).
    categories : list of str
        The hub's categories.

    Returns
    -------
    DataFrame
        On ``sites.index``: ``crit_<criterion>``, ``contrib_<criterion>`` (weight x criterion), ``score``
        (their sum) and ``rank``; ``attrs["unused_criteria"]`` lists the criteria without data.

    Examples
    --------
    >>> scored = score_sites(sites, SiteSettings.from_config().weights, ["park"])  # doctest: +SKIP
    >>> bool((scored.filter(like="contrib_").sum(axis=1) - scored["score"]).abs().max() < 1e-9)  # doctest: +SKIP
    True
    """
    n = len(sites)
    crit: dict[str, np.ndarray] = {}
    if categories:
        new = np.column_stack([sites[f"new_{c}_pop"] for c in categories])
        new65 = np.column_stack([sites[f"new_{c}_65plus"] for c in categories])
        best = new.argmax(axis=1) if n else np.zeros(0, dtype=int)
        top = new[np.arange(n), best] if n else np.zeros(0)
        top65 = new65[np.arange(n), best] if n else np.zeros(0)
        crit["newly_served"] = _scale(top)
        crit["elderly_share"] = np.divide(top65, top, out=np.zeros(n), where=top > 0)
    if "walk_index" in sites:
        wi = sites["walk_index"].to_numpy(dtype=float)
        crit["walk_deficit"] = _scale(np.nanmax(wi) - np.nan_to_num(wi, nan=np.nanmax(wi))) if n else wi
    if "heritage_fit" in sites:
        crit["heritage_fit"] = sites["heritage_fit"].to_numpy(dtype=float)
    if "waterfront_closeness" in sites:
        crit["waterfront"] = sites["waterfront_closeness"].to_numpy(dtype=float)
    if "cost" in sites and sites["cost"].notna().any():
        cost = sites["cost"].to_numpy(dtype=float)
        crit["cost"] = 1.0 - _scale(np.nan_to_num(cost, nan=np.nanmax(cost)))
    if "voice_index" in sites:
        crit["voice"] = _scale(np.nan_to_num(sites["voice_index"].to_numpy(dtype=float)))
    out = pd.DataFrame(index=sites.index)
    total = np.zeros(n)
    # switched off and without data: nothing to show (a study without [voice] scores as before)
    weights = {k: w for k, w in weights.items() if w > 0 or k in crit}
    for name, w in weights.items():
        v = crit.get(name)
        out[f"crit_{name}"] = v if v is not None else np.nan
        contrib = w * np.nan_to_num(v) if v is not None else np.zeros(n)
        out[f"contrib_{name}"] = contrib
        total += contrib
    out["score"] = total
    out["rank"] = out["score"].rank(ascending=False, method="first").astype(int) if n else []
    out.attrs["unused_criteria"] = [k for k in weights if k not in crit]
    return out


def site_context(sites: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, streets: gpd.GeoDataFrame,
                 settings: SiteSettings) -> pd.DataFrame:
    """Block, heritage class, allowed interventions and nearest street of each site."""
    ensure_projected(sites, "the candidate sites")
    g = np.asarray(sites.geometry.values)
    pts = shapely.point_on_surface(g)
    tree = shapely.STRtree(np.asarray(blocks.geometry.values))
    si, bi = tree.query(pts, predicate="within")
    first = np.unique(si, return_index=True)[1]
    block_pos = np.full(len(sites), -1)
    block_pos[si[first]] = bi[first]
    # sites on a street (outside every block) take the nearest block
    miss = block_pos < 0
    if miss.any():
        _, near = tree.query_nearest(pts[miss], all_matches=False)
        block_pos[miss] = near
    out = pd.DataFrame({"block_id": blocks["block_id"].to_numpy()[block_pos]}, index=sites.index)
    if "heritage_class" in blocks:
        from .heritage import allowed_interventions, forbidden_interventions

        cls = blocks["heritage_class"].to_numpy()[block_pos]
        out["heritage_class"] = cls
        out["heritage_fit"] = [settings.heritage_fit.get(c, 1.0) for c in cls]
        out["allowed_interventions"] = [";".join(allowed_interventions(c)) for c in cls]
        out["forbidden_interventions"] = [";".join(forbidden_interventions(c)) for c in cls]
    if "walk_index" in blocks:
        out["walk_index"] = blocks["walk_index"].to_numpy()[block_pos]
    if "voice_index" in blocks:
        out["voice_index"] = blocks["voice_index"].to_numpy()[block_pos]
    st_tree = shapely.STRtree(np.asarray(streets.geometry.values))
    _, ei = st_tree.query_nearest(pts, all_matches=False)
    out["nearest_street"] = streets["name"].astype("string").to_numpy()[ei] if "name" in streets else None
    out["street_dist_m"] = shapely.distance(pts, np.asarray(streets.geometry.values)[ei])
    if "protected_road" in streets:
        out["on_protected_road"] = streets["protected_road"].to_numpy()[ei] & (out["street_dist_m"] < 30)
    return out


def snap_sites(net: WalkNetwork, sites: gpd.GeoDataFrame, max_snap_m: float, obstacles=None) -> Snapped:
    """Snap candidate sites (by a point on their surface) to the network.

    ``obstacles`` (a study's ``details["snap_obstacles"]``, from
    :func:`toolkit.snapping.leg_obstacles`) are the water and roads nobody may
    walk that a site's leg to its street may not cross, as for blocks and
    facilities: a site on the far bank goes to a street of its own bank or is
    refused (``Snapped.reason``), never attached across the river.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    sites : GeoDataFrame
        Candidate sites (points or polygons) in ``net``'s CRS.
    max_snap_m : float
        Sites further from a street are refused.
    obstacles : optional
        Water and roads the leg to the street may not cross.

    Returns
    -------
    Snapped
        On ``sites.index``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3)
    >>> sites = gpd.GeoDataFrame(geometry=[shapely.Point(net.x.min() + 50, net.y.min() + 20)], crs=net.crs)
    >>> s = snap_sites(net, sites, max_snap_m=100)
    >>> s.ok.tolist(), s.leg.round(1).tolist()
    ([True], [20.0])
    """
    return snap_points(net, sites.geometry, max_snap_m=max_snap_m, obstacles=obstacles)


def site_refusals(sites: pd.DataFrame, snapped: Snapped, max_snap_m: float,
                  what: str = "candidate sites") -> tuple[dict[str, Any], list[str]]:
    """The sites :func:`snap_sites` refused, by reason, for run.json and the run's notes.

    Parameters
    ----------
    sites : DataFrame
        The sites, in ``snapped`` order; ``site_id`` names them in the notes.
    snapped : Snapped
    max_snap_m : float
        The snap limit used (for the notes).
    what : str
        What the rows are, for the notes.

    Returns
    -------
    details : dict
        ``unsnapped_by_reason`` (reason -> count) and ``unsnapped_site_ids``
        (reason -> the refused ``site_id``), both empty when none was refused.
    notes : list of str
        As :func:`refusal_notes`.
    """
    ids = sites["site_id"].to_numpy() if "site_id" in sites else np.arange(1, len(sites) + 1)
    no = ~np.asarray(snapped.ok, dtype=bool)
    by: dict[str, list[int]] = {}
    for i, r in zip(ids[no], np.asarray(snapped.reason, dtype=object)[no], strict=True):
        by.setdefault(str(r), []).append(int(i))
    details = {"unsnapped_by_reason": {k: len(v) for k, v in by.items()}, "unsnapped_site_ids": by}
    return details, refusal_notes(ids[no], np.asarray(snapped.reason, dtype=object)[no], max_snap_m, what)


def refusal_notes(ids, reasons, max_snap_m: float, what: str, id_name: str = "site_id") -> list[str]:
    """Notes on refused points, worded as the run's notes on refused facilities.

    One note for those further than ``max_snap_m`` from any street, one for
    those in water or whose every street within the limit is across water or a
    road nobody may walk (counts per reason); each lists up to ten ``ids``.

    Examples
    --------
    >>> far, cut = refusal_notes([4, 9], ["too far from a street", "leg crosses water"], 250, "candidate sites")
    >>> far
    '1 candidate sites lie more than 250 m from any walkable street and were not used (site_id 4)'
    >>> cut.split(": ")[1]
    'leg crosses water (1); site_id 9'
    """
    from .snapping import REASON_TOO_FAR

    ids = np.asarray(ids, dtype=object)
    reasons = pd.Series(np.asarray(reasons, dtype=object), dtype=object)

    def listed(v: np.ndarray) -> str:
        return ", ".join(map(str, v[:10])) + (", ..." if len(v) > 10 else "")

    notes = []
    far = (reasons == REASON_TOO_FAR).to_numpy()
    if far.any():
        notes.append(f"{int(far.sum())} {what} lie more than {max_snap_m:.0f} m from any walkable street and "
                     f"were not used ({id_name} {listed(ids[far])})")
    if (~far).any():
        per = reasons[~far].value_counts()
        notes.append(f"{int((~far).sum())} {what} were not used because no street within {max_snap_m:.0f} m can "
                     "be reached without crossing water or a road nobody may walk: "
                     + ", ".join(f"{k} ({int(v)})" for k, v in per.items()) + f"; {id_name} {listed(ids[~far])}")
    return notes
