"""Capacity against need: the two-step floating catchment (2SFCA) and its distance-decay variant (E2SFCA).

Coverage asks whether a facility lies within reach; provision asks whether what
lies within reach is *enough*: beds of elderly care per resident aged 65+,
kindergarten places per child. Each facility ``j`` has a capacity ``S_j`` (beds,
places, floor area) and each block ``i`` a demand ``P_i`` (its residents of the
category's population band); ``d_ij`` is the network walk between them
(:func:`toolkit.reach.reachable_pairs`) and ``d0`` the catchment, by default
the category's threshold of the standards profile.

Step 1, each facility's supply-to-demand ratio over its catchment::

    R_j = S_j / sum_{i: d_ij <= d0} W(d_ij) P_i

Step 2, each block's accessibility, the ratios within its own catchment::

    A_i = sum_{j: d_ij <= d0} W(d_ij) R_j

With ``W = 1`` inside the catchment this is the 2SFCA of Luo & Wang (2003,
Environment and Planning B 30: 865-884). The enhanced 2SFCA (E2SFCA) weighs by
distance: ``decay = "zones"`` is Luo & Qi (2009, Health & Place 15: 1100-1107),
three equal travel zones weighted 1.00, 0.68 and 0.22 (PySAL ``access``'s
default for ``enhanced_two_stage_fca``: ``weights.step_fn({10: 1, 20: 0.68, 30:
0.22})`` for a 30-minute catchment); ``decay = "gaussian"`` is PySAL ``access``'s
``weights.gaussian(sigma)``, ``W(d) = exp(-d^2 / (2 sigma^2))`` inside the
catchment, ``sigma = d0 / 2`` unless given. ``A_i`` is supply per resident of
the band; the block columns give it per 1,000 residents, the unit of Chinese
per-capita standards (千人指标). Because each ``R_j`` is shared out by the same
weights it was computed with, ``sum_i A_i P_i`` equals the capacity of every
facility with someone of the band in its catchment (the tests check it).

A facility without a known capacity adds nothing, so provision on a layer
where some capacities are missing is a lower bound, and a category whose
facilities carry no capacity is not computed at all ("no capacity data": a
data gap, never zero provision). On facility data that are not complete
(``details["data_status"]``) the places missing against a standard are a
figure about the data as much as about the residents, and the record says so.

:func:`solve_capacitated` is the capacitated variant of the hub selection
(:mod:`toolkit.selection`): each hub serves at most its capacity, so the demand
a set of hubs covers is a transportation problem, solved with the choice of
hubs as one MILP.
"""

from __future__ import annotations

import math
import numbers
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

    from .network import WalkNetwork
    from .result import StudyResult
    from .sections import Section
    from .selection import CoverageProblem
    from .snapping import Snapped
    from .standards import Profile

__all__ = [
    "BAND_NOTES",
    "DECAYS",
    "DEFAULT_BANDS",
    "DEFAULT_DECAY",
    "FORMULA",
    "LUO_QI_ZONES",
    "PROFILE_KEYS",
    "CapacitatedSelection",
    "ProvisionInputs",
    "ProvisionSettings",
    "capacitated_hubs",
    "decay_weights",
    "facility_pairs",
    "parse_capacity",
    "provision_sections",
    "provision_settings",
    "provision_step",
    "solve_capacitated",
    "two_step_fca",
]

#: Distance-decay functions by name (a callable ``W(d)`` works too).
DECAYS = ("step", "zones", "gaussian")
#: E2SFCA as Luo & Qi (2009) published it and PySAL ``access`` applies it by default.
DEFAULT_DECAY = "zones"
#: Luo & Qi (2009): the catchment cut into three equal zones, weighted by a Gaussian (beta = 100) at each
#: zone's middle: (upper bound as a share of the catchment, weight).
LUO_QI_ZONES = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))
#: The population band whose residents use each category; any other category serves every resident.
DEFAULT_BANDS = {"elderly_care": "pop_65plus", "elderly_canteen": "pop_65plus", "kindergarten": "pop_0_14",
                 "primary_school": "pop_0_14", "middle_school": "pop_0_14"}
#: Why a default band is only a stand-in: the population data have total, 65+ and 0-14 only.
BAND_NOTES = {
    "kindergarten": "the population data have no 3-6 band: residents aged 0-14 stand in, so demand is overstated "
                    "and places per child understated",
    "primary_school": "the population data have no 6-11 band: residents aged 0-14 stand in",
    "middle_school": "the population data have no 12-17 band: residents aged 0-14 stand in (15-17 left out)",
}
#: Keys a profile category (or a study's ``[standards.categories.<id>]``) takes for provision.
PROFILE_KEYS = ("provision_per_1000", "provision_unit", "provision_source", "provision_band",
                "provision_catchment_m", "provision_decay", "provision_sigma_m")
#: The formula, as run.json and the report state it.
FORMULA = ("R_j = S_j / sum_{i: d_ij <= d0} W(d_ij) P_i; A_i = sum_{j: d_ij <= d0} W(d_ij) R_j "
           "(S_j capacity of facility j, P_i residents of the band in block i, d_ij network walk, d0 catchment); "
           "provision_<category> = 1000 A_i (capacity per 1,000 residents of the band)")
_REFERENCES = {
    "step": "2SFCA, Luo & Wang (2003), Environment and Planning B 30: 865-884",
    "zones": "E2SFCA, Luo & Qi (2009), Health & Place 15: 1100-1107: zones of d0/3 weighted 1.00, 0.68, 0.22 "
             "(PySAL access enhanced_two_stage_fca default)",
    "gaussian": "E2SFCA with PySAL access weights.gaussian(sigma): W(d) = exp(-d^2 / (2 sigma^2)) within d0",
}
_BANDS = ("population", "pop_65plus", "pop_0_14")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# what a table writes for "not given" (暂无 none yet, 不详 unknown): missing, never zero
_MISSING_WORDS = {"", "-", "--", "na", "n/a", "nan", "none", "null", "暂无", "不详", "未知", "无数据"}


# ------------------------------------------------------------------ capacity
def parse_capacity(values: pd.Series, *, source: str, field: str) -> tuple[np.ndarray, list[Any]]:
    """A capacity column as numbers: ``120``, ``"1,200"``, ``"120张"`` (beds) read; blanks missing.

    Parameters
    ----------
    values : Series
        The column as read (numbers or text).
    source, field : str
        The file and the key naming the column, for the error.

    Returns
    -------
    capacity : ndarray of float
        NaN where the value is missing (empty, ``暂无``) or unreadable.
    bad : list
        Index labels of the rows whose value is there but is no capacity
        (text without a number, a negative number): the caller's note.

    Raises
    ------
    InputError
        When the column has values but none of them is a capacity (the whole
        column is unusable: the wrong column named).

    Examples
    --------
    >>> cap, bad = parse_capacity(pd.Series([120, "1,200", "80张", "暂无", "many"]), source="care.csv",
    ...                           field="beds")
    >>> cap.tolist(), bad
    ([120.0, 1200.0, 80.0, nan, nan], [4])
    """
    out = np.full(len(values), np.nan)
    bad: list[Any] = []
    for pos, (label, v) in enumerate(values.items()):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            x = float(v)
        else:
            text = str(v).strip().replace(",", "").replace("，", "")
            if text.lower() in _MISSING_WORDS:
                continue
            m = _NUMBER.search(text)
            if m is None:
                bad.append(label)
                continue
            x = float(m.group())
        if not math.isfinite(x) or x < 0:
            bad.append(label)
            continue
        out[pos] = x
    given = len(values) - int(pd.isna(values).sum())
    if given and np.isnan(out).all() and bad:
        example = values.loc[bad[0]]
        raise InputError(f"the capacity column {field!r} holds no usable number in any of its {given} filled rows "
                         f"(e.g. row {bad[0]}: {example!r})", source=source, field=field,
                         fix="name the column holding the capacity (beds, places, m2) as a number, e.g. "
                         "capacity = 'beds'")
    return out, bad


# -------------------------------------------------------------------- weights
def decay_weights(d: np.ndarray, threshold_m: float, decay: str | Callable[[np.ndarray], np.ndarray] | None = None,
                  *, sigma_m: float | None = None) -> np.ndarray:
    """Distance-decay weight of each walk ``d`` within the catchment ``threshold_m`` (0 beyond it).

    Parameters
    ----------
    d : ndarray of float
        Network metres.
    threshold_m : float
        The catchment ``d0``.
    decay : {None, "step", "zones", "gaussian"} or callable
        ``None``/``"step"``: 1 (plain 2SFCA); ``"zones"``: Luo & Qi (2009),
        1.00 / 0.68 / 0.22 in thirds of the catchment (each zone's upper
        bound included, as in PySAL ``access.weights.step_fn``);
        ``"gaussian"``: ``exp(-d^2 / (2 sigma^2))``; a callable maps an
        array of metres to weights >= 0.
    sigma_m : float, optional
        The Gaussian's width; ``threshold_m / 2`` by default.

    Returns
    -------
    ndarray of float

    Examples
    --------
    >>> decay_weights(np.array([0.0, 100.0, 200.0, 300.0, 301.0]), 300, "zones").tolist()
    [1.0, 1.0, 0.68, 0.22, 0.0]
    >>> decay_weights(np.array([0.0, 150.0]), 300, "gaussian").round(4).tolist()
    [1.0, 0.6065]
    """
    d = np.asarray(d, dtype=float)
    if not (isinstance(threshold_m, numbers.Real) and math.isfinite(threshold_m) and threshold_m > 0):
        raise InputError(f"the catchment must be a positive number of metres, not {threshold_m!r}",
                         field="provision_catchment_m", fix="e.g. provision_catchment_m = 300")
    inside = d <= threshold_m
    if decay is None or decay == "step":
        w = np.ones_like(d)
    elif decay == "zones":
        w = np.select([d <= share * threshold_m for share, _ in LUO_QI_ZONES], [v for _, v in LUO_QI_ZONES], 0.0)
    elif decay == "gaussian":
        sigma = threshold_m / 2 if sigma_m is None else float(sigma_m)
        if not sigma > 0:
            raise InputError(f"the Gaussian's sigma must be positive, not {sigma_m!r}", field="provision_sigma_m",
                             fix="e.g. provision_sigma_m = 150, or leave it out for half the catchment")
        w = np.exp(-d * d / (2 * sigma * sigma))
    elif callable(decay):
        w = np.asarray(decay(d), dtype=float)
        if w.shape != d.shape or not np.all(np.isfinite(w[inside])) or np.any(w[inside] < 0):
            raise InputError("the decay function must return one finite weight >= 0 per distance",
                             field="provision_decay", fix="return e.g. np.exp(-d / 500) for an array d")
    else:
        raise InputError(f"unknown decay {decay!r}", field="provision_decay",
                         fix=f"use one of: {', '.join(DECAYS)}, or a function of the distance")
    return np.where(inside, w, 0.0)


# ----------------------------------------------------------------------- FCA
def _fca(demand: np.ndarray, supply: np.ndarray, origin: np.ndarray, source: np.ndarray,
         w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accessibility per demand point, ratio and weighted catchment demand per supply point."""
    catch = np.bincount(source, weights=w * demand[origin], minlength=len(supply))
    # a facility with nobody of the band in its catchment serves no one: its capacity reaches nobody
    ratio = np.divide(supply, catch, out=np.zeros(len(supply)), where=catch > 0)
    acc = np.bincount(origin, weights=w * ratio[source], minlength=len(demand))
    return acc, ratio, catch


def _values(x: Any, name: str) -> tuple[np.ndarray, pd.Index | None]:
    index = x.index if isinstance(x, pd.Series) else None
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a < 0):
        fix = ("drop the facilities without a capacity (they add nothing) before the call" if name == "supply"
               else "replace missing populations with 0")
        raise InputError(f"{name} must be finite numbers >= 0, one per {'facility' if name == 'supply' else 'block'}",
                         field=name, fix=fix)
    return a, index


def two_step_fca(demand: pd.Series | np.ndarray, supply: pd.Series | np.ndarray, pairs: pd.DataFrame, *,
                 threshold_m: float, decay: str | Callable[[np.ndarray], np.ndarray] | None = None,
                 sigma_m: float | None = None, measured: np.ndarray | None = None) -> pd.Series | np.ndarray:
    """Supply per resident of the band within reach of each block: 2SFCA, or E2SFCA with a decay.

    Parameters
    ----------
    demand : Series or ndarray
        Residents of the band per block (the caller's index is kept).
    supply : Series or ndarray
        Capacity per facility (beds, places); no NaN.
    pairs : DataFrame
        ``origin`` (position in ``demand``), ``source`` (position in
        ``supply``) and ``dist_m``: the network walks, as
        :func:`toolkit.reach.reachable_pairs` or :func:`facility_pairs` give
        them, one row per pair (pairs beyond ``threshold_m`` are ignored).
    threshold_m : float
        The catchment ``d0`` (metres).
    decay, sigma_m
        As in :func:`decay_weights`.
    measured : ndarray of bool, optional
        Blocks whose distances exist (snapped to the streets); the others get
        NaN, never 0. All by default.

    Returns
    -------
    Series or ndarray
        ``A_i`` (see the module): on ``demand``'s index when it is a Series.

    Examples
    --------
    Two blocks of 100 and 300 residents both reach one facility of 40 places:
    4 places per 400 residents, 0.1 per resident for each block.

    >>> pairs = pd.DataFrame({"origin": [0, 1], "source": [0, 0], "dist_m": [100.0, 200.0]})
    >>> two_step_fca(np.array([100.0, 300.0]), np.array([40.0]), pairs, threshold_m=300).tolist()
    [0.1, 0.1]
    """
    p, index = _values(demand, "demand")
    s, _ = _values(supply, "supply")
    for col in ("origin", "source", "dist_m"):
        if col not in pairs:
            raise InputError(f"pairs lack the column {col!r}", field="pairs",
                             fix="pass the table of toolkit.reach.reachable_pairs (origin, source, dist_m)")
    o = pairs["origin"].to_numpy(dtype=np.int64)
    j = pairs["source"].to_numpy(dtype=np.int64)
    if len(o) and (o.min() < 0 or o.max() >= len(p) or j.min() < 0 or j.max() >= len(s)):
        raise InputError("pairs index outside demand or supply", field="pairs",
                         fix="origin and source are positions (0-based) in demand and supply")
    w = decay_weights(pairs["dist_m"].to_numpy(dtype=float), threshold_m, decay, sigma_m=sigma_m)
    keep = w > 0
    acc = _fca(p, s, o[keep], j[keep], w[keep])[0]
    if measured is not None:
        acc = np.where(np.asarray(measured, dtype=bool), acc, np.nan)
    return pd.Series(acc, index=index, name="accessibility") if index is not None else acc


def facility_pairs(net: WalkNetwork, block_snap: Snapped, access_facility: np.ndarray, access_snap: Snapped,
                   radius: float) -> pd.DataFrame:
    """Every (block, facility) walk within ``radius``, a facility reached at the nearest of its access points.

    Parameters
    ----------
    net : WalkNetwork
    block_snap : Snapped
        The blocks, attached to the streets.
    access_facility : ndarray of int
        Per access point, the position of its facility (0..n_facilities-1).
    access_snap : Snapped
        The access points, in the same order.
    radius : float
        Metres.

    Returns
    -------
    DataFrame
        ``origin`` (block position), ``source`` (facility position) and ``dist_m``.
    """
    from .reach import reachable_pairs

    pairs = reachable_pairs(net, block_snap, access_snap, radius)
    if not len(pairs):
        return pd.DataFrame({"origin": np.empty(0, np.int64), "source": np.empty(0, np.int64),
                             "dist_m": np.empty(0)})
    pairs["source"] = np.asarray(access_facility, dtype=np.int64)[pairs["source"].to_numpy()]
    return pairs.groupby(["origin", "source"], as_index=False, sort=True)["dist_m"].min()


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class ProvisionSettings:
    """How one category's provision is measured, from its profile keys (:data:`PROFILE_KEYS`)."""

    category: str
    band: str
    catchment_m: float
    decay: str
    sigma_m: float | None = None
    per_1000: float | None = None
    unit: str = "capacity"
    standard_source: str = ""
    band_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """For run.json."""
        out = {"band": self.band, "catchment_m": round(self.catchment_m, 1), "decay": self.decay,
               "decay_reference": _REFERENCES[self.decay], "unit": self.unit,
               "standard_per_1000": self.per_1000, "standard_source": self.standard_source or None}
        if self.decay == "gaussian":
            out["sigma_m"] = round(self.sigma_m if self.sigma_m is not None else self.catchment_m / 2, 1)
        if self.band_note:
            out["band_note"] = self.band_note
        return out


def _positive(spec: Mapping[str, Any], key: str, where: str, example: str) -> float | None:
    v = spec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
        raise InputError(f"{key} must be a positive number, not {v!r}", source=where, field=key,
                         fix=f"e.g. {key} = {example}")
    return float(v)


def provision_settings(profile: Profile, category: str, columns: Any = _BANDS) -> ProvisionSettings:
    """The provision settings of ``category``: its profile keys, else the defaults.

    The band is ``provision_band``, else :data:`DEFAULT_BANDS`, else all
    residents; one not among ``columns`` (no 65+ source) falls back to all
    residents, and ``band_note`` says so. The catchment is
    ``provision_catchment_m``, else the category's threshold.

    Examples
    --------
    >>> from toolkit.standards import load_profile
    >>> s = provision_settings(load_profile("shanghai-main-city"), "elderly_care")
    >>> s.band, round(s.catchment_m), s.decay, s.per_1000
    ('pop_65plus', 240, 'zones', None)
    """
    spec = profile.categories.get(category, {})
    where = f"profile {profile.name}, categories.{category}"
    band = spec.get("provision_band", DEFAULT_BANDS.get(category, "population"))
    if band not in _BANDS:
        raise InputError(f"provision_band must be one of {', '.join(_BANDS)}, not {band!r}", source=where,
                         field="provision_band", fix="e.g. provision_band = 'pop_65plus'")
    note = BAND_NOTES.get(category, "") if "provision_band" not in spec else ""
    if band not in set(columns):
        note = f"no {band} column in the study's population: all residents stand in"
        band = "population"
    decay = spec.get("provision_decay", DEFAULT_DECAY)
    if decay not in DECAYS:
        raise InputError(f"provision_decay must be one of {', '.join(DECAYS)}, not {decay!r}", source=where,
                         field="provision_decay", fix="e.g. provision_decay = 'gaussian'")
    catchment = _positive(spec, "provision_catchment_m", where, "500")
    return ProvisionSettings(
        category=category, band=band,
        catchment_m=catchment if catchment is not None else profile.rule(category).max_distance_m,
        decay=decay, sigma_m=_positive(spec, "provision_sigma_m", where, "150"),
        per_1000=_positive(spec, "provision_per_1000", where, "40 (beds per 1,000 residents aged 65+)"),
        unit=str(spec.get("provision_unit", "capacity")), standard_source=str(spec.get("provision_source", "")),
        band_note=note)


# ------------------------------------------------------------- pipeline step
@dataclass
class ProvisionInputs:
    """The network side of a run that provision needs: streets, attached blocks and facilities."""

    net: WalkNetwork
    block_snap: Snapped
    facilities: gpd.GeoDataFrame  # one row per facility, with facility_id, category, source and capacity
    access: gpd.GeoDataFrame  # one row per access point, with facility_id
    access_snap: Snapped  # the access points attached, in ``access`` order


def _no_capacity(reason: str) -> dict[str, Any]:
    return {"status": "no capacity data", "reason": reason}


def _category(c: str, cfg: ProvisionSettings, fac: pd.DataFrame, inputs: ProvisionInputs, blocks: pd.DataFrame,
              counted: np.ndarray, status: str) -> tuple[dict[str, Any], dict[str, np.ndarray], list[str]]:
    """One category's provision: its run.json entry, its block columns and its notes."""
    cap = fac["capacity"].to_numpy(dtype=float) if "capacity" in fac else np.full(len(fac), np.nan)
    snapped = fac["snapped"].to_numpy(dtype=bool) if "snapped" in fac else np.ones(len(fac), dtype=bool)
    known = counted & ~np.isnan(cap)
    use = known & snapped
    entry: dict[str, Any] = {"status": "computed", **cfg.to_dict(), "data_status": status,
                             "facilities": int(counted.sum()), "facilities_with_capacity": int(known.sum()),
                             "facilities_without_capacity": int((counted & np.isnan(cap)).sum()),
                             "facilities_not_attached": int((known & ~snapped).sum())}
    notes = []
    if not use.any():
        return _no_capacity(f"none of the {int(counted.sum())} facilities counted for {c} has a capacity "
                            "(and is attached to the streets): not computed, a data gap, not zero provision"), {}, []
    if entry["facilities_without_capacity"]:
        notes.append(f"provision of {c}: {entry['facilities_without_capacity']} of {entry['facilities']} facilities "
                     "have no capacity and add nothing: provision is a lower bound, the places missing an upper one")
    ids = fac["facility_id"].to_numpy()[use]
    apos = pd.Index(ids).get_indexer(inputs.access["facility_id"].to_numpy())
    sel = np.flatnonzero(apos >= 0)
    pairs = facility_pairs(inputs.net, inputs.block_snap, apos[sel], inputs.access_snap.subset(sel), cfg.catchment_m)
    demand = blocks[cfg.band].to_numpy(dtype=float)
    supply = cap[use]
    measured = np.asarray(inputs.block_snap.ok, dtype=bool)
    w = decay_weights(pairs["dist_m"].to_numpy(), cfg.catchment_m, cfg.decay, sigma_m=cfg.sigma_m)
    o, s = pairs["origin"].to_numpy(), pairs["source"].to_numpy()
    acc, _, catch = _fca(demand, supply, o[w > 0], s[w > 0], w[w > 0])
    per_1000 = np.where(measured, 1000.0 * acc, np.nan)
    cols = {f"provision_{c}": per_1000}
    band_total = float(demand[measured].sum())
    entry.update(capacity_total=float(supply.sum()), capacity_reaching_band=float(supply[catch > 0].sum()),
                 band_residents=band_total,
                 provision_per_1000_overall=1000.0 * float(supply.sum()) / band_total if band_total else None,
                 band_residents_with_none=float(demand[measured & (acc == 0)].sum()),
                 blocks_not_measured=int((~measured).sum()))
    if cfg.per_1000 is not None:
        cols[f"provision_{c}_ratio"] = per_1000 / cfg.per_1000
        gap = np.where(measured, np.maximum(cfg.per_1000 - per_1000, 0.0) * demand / 1000.0, np.nan)
        cols[f"provision_{c}_gap"] = gap
        met = measured & (per_1000 >= cfg.per_1000)
        entry.update(band_residents_meeting_standard_share=float(demand[met].sum()) / band_total if band_total
                     else None, places_missing=float(np.nansum(gap)))
        if status != "complete":
            entry["places_missing_caveat"] = (f"{c} is measured on {status} data: facilities missing from the data "
                                              "count as places missing, so this is no service gap on its own")
    else:
        entry["standard"] = (f"no per-capita standard for {c}: neither GB 50180-2018 nor the Shanghai guides "
                             "give one; set provision_per_1000 (with provision_source) in the profile or the study's "
                             f"[standards.categories.{c}]")
    return entry, cols, notes


def provision_step(study: Any, profile: Profile, blocks: gpd.GeoDataFrame, inputs: ProvisionInputs,
                   data_status: Mapping[str, Any] | None = None) -> tuple[gpd.GeoDataFrame, dict[str, Any], list[str]]:
    """The provision step of a study: block columns, the run.json section and notes.

    A category is computed when some facility it counts (its own and those
    of the categories it is ``served_by``, as the coverage step) comes from a
    ``[[facilities]]`` source naming a ``capacity`` column. Its block columns:
    ``provision_<category>`` (capacity per 1,000 residents of the band within
    reach, see :data:`FORMULA`) and, with a standard (``provision_per_1000``),
    ``provision_<category>_ratio`` (provision over the standard) and
    ``provision_<category>_gap`` (places missing: ``max(standard - provision,
    0) x band residents / 1000``). Blocks not attached to the streets get NaN.

    Parameters
    ----------
    study : Study
    profile : Profile
    blocks : GeoDataFrame
        With the population columns (``population``, ``pop_65plus``, ``pop_0_14``).
    inputs : ProvisionInputs
    data_status : mapping, optional
        The run's ``details["data_status"]``, stated beside each category.

    Returns
    -------
    blocks : GeoDataFrame
        With the provision columns (unchanged without capacity data).
    summary : dict
        ``status``, ``formula``, and per category its settings and figures,
        or ``status: no capacity data`` and why.
    notes : list of str

    Examples
    --------
    >>> blocks, summary, notes = provision_step(study, profile, blocks, inputs)  # doctest: +SKIP
    >>> summary["categories"]["elderly_care"]["status"]  # doctest: +SKIP
    'computed'
    """
    from .completeness import statuses

    declared = {fs.source.label(): fs.capacity for fs in study.facilities if getattr(fs, "capacity", None)}
    summary: dict[str, Any] = {"formula": FORMULA, "references": dict(_REFERENCES), "capacity_columns": declared}
    if any(v == "count" for v in declared.values()):
        # stated in run.json and the report: without capacities, supply is the number of facilities
        summary["supply"] = ('capacity = "count": each facility of those sources is one unit of supply, so provision '
                             "is facilities per 1,000 residents of the band within the catchment (the facility-count "
                             "2SFCA); a capacity column (beds, places) makes it places per 1,000")
    if not declared:
        return blocks, {**summary, **_no_capacity("no [[facilities]] source names a capacity column (capacity = "
                                                  "'beds'): provision is not computed, a data gap, not zero "
                                                  "provision"), "categories": {}}, []
    fac = inputs.facilities
    counted, _ = profile.coverage_sources(fac)
    from_declared = fac["source"].isin(list(declared)).to_numpy() if len(fac) else np.zeros(0, dtype=bool)
    status = statuses(data_status or {})
    entries: dict[str, Any] = {}
    notes: list[str] = []
    new_cols: dict[str, np.ndarray] = {}
    for c in profile.categories:
        m = np.asarray(counted.get(c, np.zeros(len(fac), dtype=bool)), dtype=bool)
        if not (m & from_declared).any():
            continue
        cfg = provision_settings(profile, c, blocks.columns)
        entry, cols, more = _category(c, cfg, fac, inputs, blocks, m, status.get(c, "unknown"))
        entries[c] = entry
        new_cols.update(cols)
        notes += more
    summary["status"] = "computed" if new_cols else "no capacity data"
    if not new_cols:
        summary["reason"] = ("the sources naming a capacity column feed no category of the profile with a usable "
                             "capacity: provision is not computed, a data gap, not zero provision")
    summary["categories"] = entries
    if new_cols:
        blocks = blocks.join(pd.DataFrame(new_cols, index=blocks.index))
    return blocks, summary, notes


# ------------------------------------------------------------------- report
def _fmt(v: Any, digits: int = 0) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:,.{digits}f}"


def provision_sections(result: StudyResult, lang: str) -> list[Section]:
    """The report section on provision (registered in :data:`toolkit.sections.PROVIDERS`).

    Examples
    --------
    >>> provision_sections(result, "en")[0].key  # doctest: +SKIP
    'provision'
    """
    from .completeness import status_label
    from .labels import label
    from .sections import Section

    prov = (result.details or {}).get("provision")
    if not prov:
        return []
    cats = prov.get("categories", {})
    header = tuple(label(f"provision.{k}", lang) for k in ("category", "band", "catchment", "decay", "facilities",
                                                           "capacity", "per_1000", "standard", "missing", "data"))
    rows = []
    for c, e in cats.items():
        name = result.profile.label(c, lang) if hasattr(result.profile, "label") else c
        if e.get("status") != "computed":
            rows.append((name, "-", "-", "-", "-", "-", label("provision.no_capacity", lang), "-", "-", "-"))
            continue
        rows.append((name, e["band"], _fmt(e["catchment_m"]), e["decay"],
                     f"{e['facilities_with_capacity']}/{e['facilities']}", _fmt(e["capacity_total"]),
                     _fmt(e.get("provision_per_1000_overall"), 1), _fmt(e.get("standard_per_1000"), 1),
                     _fmt(e.get("places_missing")),
                     status_label(e["data_status"], lang) if e.get("data_status") else "-"))
    paras = [label("provision.intro", lang)]
    if prov.get("status") != "computed":
        paras.append(label("provision.none", lang))
    return [Section("provision", label("provision.title", lang), paragraphs=tuple(paras), header=header,
                    rows=tuple(rows), num_cols=(2, 5, 6, 7, 8),
                    notes=(prov.get("formula", FORMULA), label("provision.gap_note", lang)), order=60)]


# ---------------------------------------------------------- capacitated MCLP
@dataclass(frozen=True)
class CapacitatedSelection:
    """Hubs chosen when each serves at most its capacity (:func:`solve_capacitated`).

    Attributes
    ----------
    sites : ndarray of int
        Positions of the hubs opened, ascending.
    site_ids : ndarray
    objective : float
        Demand weight served (each unit's weight at most once, each hub's load at most its capacity).
    load : ndarray of float
        Weight each opened hub serves, in ``sites`` order (per capacity group summed).
    status : str
        ``optimal``, ``time_limit: ...``, ``empty: ...`` or ``failed: ...``.
    bound, gap : float or None
        HiGHS' proven bound and relative MIP gap.
    seconds : float
    total_weight : float
    """

    sites: np.ndarray
    site_ids: np.ndarray
    objective: float
    load: np.ndarray
    status: str
    bound: float | None
    gap: float | None
    seconds: float
    total_weight: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"method": "exact capacitated", "status": self.status, "sites": [int(s) for s in self.sites],
                "site_ids": [x.item() if isinstance(x, np.generic) else x for x in self.site_ids],
                "objective": float(self.objective),
                "served_share": float(self.objective / self.total_weight) if self.total_weight > 0 else 0.0,
                "load": [float(v) for v in self.load], "bound": self.bound, "gap": self.gap,
                "seconds": float(self.seconds)}


def _capacities(capacity: float | Mapping[Any, float] | np.ndarray, groups: np.ndarray,
                n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """Group code per unit and the (n_sites, n_groups) capacity table."""
    names, code = np.unique(groups.astype(str), return_inverse=True)
    if isinstance(capacity, Mapping):
        missing = [g for g in names if g not in {str(k) for k in capacity}]
        if missing:
            raise InputError(f"no hub capacity for {', '.join(missing)}", field="selection.hub_capacity",
                             fix="give one number for every hub, or one per selection category")
        per = {str(k): float(v) for k, v in capacity.items()}
        table = np.tile(np.array([per[g] for g in names]), (n_sites, 1))
    else:
        arr = np.asarray(capacity, dtype=float)
        table = np.broadcast_to(arr.reshape(-1, 1) if arr.ndim == 1 else arr, (n_sites, len(names))).copy()
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise InputError("hub capacities must be finite numbers >= 0", field="selection.hub_capacity",
                         fix="e.g. hub_capacity = 5000 (weighted residents a hub serves)")
    return code, table


def solve_capacitated(problem: CoverageProblem, capacity: float | Mapping[Any, float] | np.ndarray, *,
                      k: int | None = None, budget: float | None = None, groups: np.ndarray | None = None,
                      time_limit: float | None = 60.0) -> CapacitatedSelection:
    """The capacitated MCLP as one MILP (HiGHS through :func:`scipy.optimize.milp`).

    Binary ``x_j`` opens hub ``j``; ``z_ij >= 0`` is the weight of unit ``i``
    that hub ``j`` serves, only where ``j`` covers ``i``. Maximise
    ``sum z_ij`` subject to ``sum_j z_ij <= w_i`` (a unit is served once),
    ``sum_{i in g} z_ij <= C_jg x_j`` (a hub serves at most its capacity,
    per group ``g``: one per selection category, or one for all), and
    ``sum x_j <= k`` and/or ``sum cost_j x_j <= budget``. Demand may be split
    between hubs; with an infinite capacity this is the MCLP of
    :func:`toolkit.selection.solve_exact`.

    Parameters
    ----------
    problem : CoverageProblem
    capacity : float, mapping or ndarray
        One capacity for every hub; a mapping group -> capacity; an array
        per site, or (n_sites, n_groups) in sorted group order.
    k, budget : optional
        As in :func:`toolkit.selection.solve_exact`.
    groups : ndarray, optional
        Group label per demand unit (e.g. its category); one group by default.
    time_limit : float, optional
        Seconds for HiGHS.

    Returns
    -------
    CapacitatedSelection

    Examples
    --------
    One hub covering two units of 60 and 50 with room for 80 serves 80:

    >>> from toolkit.selection import CoverageProblem
    >>> p = CoverageProblem.from_pairs(np.array([0, 1]), np.array([0, 0]), np.array([60.0, 50.0]), n_sites=1)
    >>> solve_capacitated(p, 80.0, k=1).objective
    80.0
    """
    from .selection import _check_args, _empty_reason

    t0 = time.perf_counter()
    k, budget = _check_args(problem, k, budget)
    groups = np.zeros(problem.n_units, dtype=np.int64) if groups is None else np.asarray(groups)
    if len(groups) != problem.n_units:
        raise InputError(f"groups has {len(groups)} entries for {problem.n_units} demand units", field="groups",
                         fix="give one group label per demand unit")
    code, cap = _capacities(capacity, groups, problem.n_sites)
    ng = cap.shape[1]

    def result(sites: np.ndarray, obj: float, load: np.ndarray, status: str, bound: float | None = None,
               gap: float | None = None) -> CapacitatedSelection:
        return CapacitatedSelection(sites, np.asarray(problem.site_ids)[sites], obj, load, status, bound, gap,
                                    time.perf_counter() - t0, problem.total_weight)

    reason = _empty_reason(problem, k, budget)
    pairs = problem.pairs.tocoo()
    keep = problem.weights[pairs.row] > 0
    ui, sj = pairs.row[keep].astype(np.int64), pairs.col[keep].astype(np.int64)
    if reason or not len(ui):
        return result(np.zeros(0, np.int64), 0.0, np.zeros(0), reason or "empty: no site covers any demand",
                      0.0, 0.0)
    ns, npairs = problem.n_sites, len(ui)
    c = np.concatenate([np.zeros(ns), -np.ones(npairs)])
    ar = np.arange(npairs)
    serve_once = sparse.csr_array((np.ones(npairs), (ui, ns + ar)), shape=(problem.n_units, ns + npairs))
    # per (site, group): the load it takes minus its capacity if opened
    sg = sj * ng + code[ui]
    load_rows = sparse.csr_array((np.ones(npairs), (sg, ns + ar)), shape=(ns * ng, ns + npairs))
    open_cap = sparse.csr_array((-cap.ravel(), (np.arange(ns * ng), np.repeat(np.arange(ns), ng))),
                                shape=(ns * ng, ns + npairs))
    rows = [serve_once, load_rows + open_cap]
    lb = [np.full(problem.n_units, -np.inf), np.full(ns * ng, -np.inf)]
    ub = [problem.weights, np.zeros(ns * ng)]
    if k is not None and k < ns:
        rows.append(sparse.csr_array(np.concatenate([np.ones(ns), np.zeros(npairs)])[None, :]))
        lb.append(np.array([-np.inf]))
        ub.append(np.array([float(k)]))
    if budget is not None:
        rows.append(sparse.csr_array(np.concatenate([problem.cost, np.zeros(npairs)])[None, :]))
        lb.append(np.array([-np.inf]))
        ub.append(np.array([budget]))
    options: dict[str, Any] = {"disp": False, "mip_rel_gap": 1e-6}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    upper = np.concatenate([np.ones(ns), problem.weights[ui]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = milp(c, integrality=np.concatenate([np.ones(ns), np.zeros(npairs)]), bounds=Bounds(0, upper),
                   constraints=LinearConstraint(sparse.vstack(rows, format="csr"), np.concatenate(lb),
                                                np.concatenate(ub)), options=options)
    if res.x is None:
        return result(np.zeros(0, np.int64), 0.0, np.zeros(0), f"failed: {res.message}")
    x = res.x[:ns] > 0.5
    z = np.where(x[sj], res.x[ns:], 0.0)
    per_site = np.bincount(sj, weights=z, minlength=ns)
    # a hub opened but serving nobody costs nothing under k: no plan should fund it
    sites = np.flatnonzero(x & (per_site > 1e-9))
    load = per_site[sites]
    bound = None if getattr(res, "mip_dual_bound", None) is None else float(-res.mip_dual_bound)
    gap = None if getattr(res, "mip_gap", None) is None else float(res.mip_gap)
    status = "optimal" if res.status == 0 else f"time_limit: best solution so far ({res.message})"
    return result(sites, float(z.sum()), load, status, bound, gap)


def capacitated_hubs(problem: CoverageProblem, units: pd.DataFrame, settings: Any, sites: pd.DataFrame,
                     uncapped: float | None = None) -> dict[str, Any]:
    """The capacitated selection of a study's decision step: sets ``sites["selected_capacitated"]``.

    Parameters
    ----------
    problem : CoverageProblem
        The selection's MCLP (units are (block, category) pairs).
    units : DataFrame
        One row per demand unit with its ``category`` (the capacity groups).
    settings : SelectionSettings
        ``hub_capacity`` (one number, or one per category), ``k``, ``budget``, ``time_limit_s``.
    sites : DataFrame
        The candidate sites, in the problem's site order (changed: the new column).
    uncapped : float, optional
        The plain selection's covered weight, for the comparison.

    Returns
    -------
    dict
        :meth:`CapacitatedSelection.to_dict` with ``hub_capacity`` and the model.

    Examples
    --------
    >>> out = capacitated_hubs(problem, units, settings, sites)  # doctest: +SKIP
    >>> out["objective"] <= out["total_weight"]  # doctest: +SKIP
    True
    """
    cap = settings.hub_capacity
    groups = units["category"].to_numpy() if isinstance(cap, Mapping) else None
    res = solve_capacitated(problem, cap, k=settings.k, budget=settings.budget, groups=groups,
                            time_limit=settings.time_limit_s)
    sites["selected_capacitated"] = False
    if len(res.sites):
        sites.iloc[res.sites, sites.columns.get_loc("selected_capacitated")] = True
    out = {"hub_capacity": cap, "model": "max sum z_ij; sum_j z_ij <= w_i; sum_{i in category} z_ij <= C x_j; "
           "sum x_j <= k (HiGHS MILP)", **res.to_dict(), "total_weight": float(problem.total_weight)}
    if uncapped is not None:
        out["uncapacitated_objective"] = float(uncapped)
    return out
