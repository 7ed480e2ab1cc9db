"""The priority list: which blocks and zones first, why each one, and how firm the order is.

The underserved flag (:mod:`toolkit.underserved`) says yes or no; a planner with a
budget needs an order. Every populated block gets a **severity**:

.. math::

    S_b = (1 + v_b) \\sum_{c \\in C_b} w_c \\, P_{b,g(c)} \\, \\min(d_{bc} / T_c, k)

* :math:`C_b`: the categories with **complete** data (:func:`toolkit.completeness.can_flag`)
  the block misses: measured (a distance, possibly beyond the search limit) and farther
  than the threshold :math:`T_c` of the profile;
* :math:`w_c`: the category's importance, ``[priority] basic_importance`` (1) for the basic
  categories of the underserved rule, ``other_importance`` (0.5) for the others, any of
  them set in ``[priority.importance]`` (``data/decisions.toml``);
* :math:`P_{b,g(c)}`: the people the category serves, the block's residents of its
  population band ``g(c)`` (``[priority.bands]``: ``pop_0_14`` for the schools and
  childcare, ``pop_65plus`` for elderly care, all residents for the rest, and all
  residents when the study has no such column, said in the notes);
* :math:`\\min(d/T, k)`: the shortfall, 1 just beyond the threshold and growing with the
  walk, capped at ``distance_cap`` :math:`k` (3); a block with nothing within the search
  limit counts :math:`k`;
* :math:`v_b`: the residents' voice index of the block (:mod:`toolkit.voice`, 0 without a
  voice layer).

A data gap is not a service gap: the same sum over the categories measured on
**incomplete** data (sample, unknown, suspect) is computed apart, as
``priority_severity_indicative``, listed as indicative and never added to the
severity. A zone's severity is the sum of its blocks', times the zone's weight
from a table (``[priority] zone_weights``, e.g. a neighbourhood council's ranking;
1 for zones the table leaves out).

Each ranked block has a reason of its own, in the study's language, from the
glossary (``data/labels.toml`` ``[priority]``): "no kindergarten within 500 m:
nearest 1,240 m; 1,820 children aged 0-14". The sensitivity of the order is
measured as the site ranking's is (:func:`toolkit.decisions.ranking_stability`:
top-10 overlap and Kendall's tau-b) under equal importance, half and double the
distance cap, every threshold at 10 minutes, the elderly walking speed, and
without the voice index or the zone weights.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .completeness import statuses
from .decisions import _threshold_variants, ranking_stability
from .errors import InputError
from .labels import label
from .sections import Section
from .sources import Source
from .underserved import UnderservedRule, decision_defaults, flagging_categories

if TYPE_CHECKING:
    from .result import StudyResult
    from .standards import Profile

__all__ = ["PRIORITY_COLUMNS", "PrioritySettings", "Wording", "block_reasons", "block_severity", "block_zones",
           "priority_sensitivity", "priority_table", "read_zone_weights", "report_sections", "run_priority",
           "sensitivity_statement", "zone_priority"]

#: The block columns :func:`priority_table` adds (``priority_voice_factor`` only with a voice index).
PRIORITY_COLUMNS = ("priority_severity", "priority_rank", "priority_reason", "priority_severity_indicative",
                    "priority_reason_indicative", "priority_voice_factor")
#: The population column standing for "all residents".
TOTAL = "population"
#: Blocks the sensitivity's overlap looks at (the report's top list).
TOP_K = 10


@dataclass
class PrioritySettings:
    """How severities are weighed (``[priority]`` of a study; defaults in ``data/decisions.toml``).

    Examples
    --------
    >>> s = PrioritySettings.from_config({"importance": {"park": 2.0}})
    >>> s.weight("park", ["transit"]), s.weight("transit", ["transit"]), s.weight("toilets", ["transit"])
    (2.0, 1.0, 0.5)
    >>> s.band("kindergarten"), s.band("transit")
    ('pop_0_14', 'population')
    """

    distance_cap: float = 3.0
    basic_importance: float = 1.0
    other_importance: float = 0.5
    importance: dict[str, float] = field(default_factory=dict)
    bands: dict[str, list[str]] = field(default_factory=dict)
    top_n: int = 20
    reason_items: int = 3
    zone_weights: Source | None = None
    zone_weight_field: str = "weight"
    use_voice: bool = True

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> PrioritySettings:
        """Defaults of ``data/decisions.toml`` ``[priority]`` updated by a study's ``[priority]`` table."""
        d = {k: v for k, v in decision_defaults()["priority"].items() if k != "source"}
        raw = dict(raw or {})
        known = {*d, "zone_weights", "zone_weight_field", "use_voice"}
        bad = set(raw) - known
        if bad:
            raise InputError(f"unknown priority setting(s): {', '.join(sorted(bad))}", field="priority",
                             fix=f"settings are: {', '.join(sorted(known))}")
        imp = {**d.get("importance", {}), **raw.pop("importance", {})}
        bands = {**d.get("bands", {}), **raw.pop("bands", {})}
        d.update(raw)
        if float(d["distance_cap"]) < 1:
            raise InputError("distance_cap is a multiple of the threshold and must be at least 1",
                             field="priority.distance_cap", fix="e.g. 3 (a walk three times the threshold)")
        if any(float(v) < 0 for v in (d["basic_importance"], d["other_importance"], *imp.values())):
            raise InputError("importance weights must be >= 0", field="priority.importance",
                             fix="use 0 to leave a category out of the severity")
        return cls(distance_cap=float(d["distance_cap"]), basic_importance=float(d["basic_importance"]),
                   other_importance=float(d["other_importance"]), importance={k: float(v) for k, v in imp.items()},
                   bands={k: list(v) for k, v in bands.items()}, top_n=int(d["top_n"]),
                   reason_items=int(d["reason_items"]),
                   zone_weights=d.get("zone_weights"), zone_weight_field=str(d.get("zone_weight_field", "weight")),
                   use_voice=bool(d.get("use_voice", True)))

    def weight(self, category: str, basic: Sequence[str]) -> float:
        """The importance :math:`w_c` of a category."""
        if category in self.importance:
            return self.importance[category]
        return self.basic_importance if category in basic else self.other_importance

    def band(self, category: str) -> str:
        """The population column of the people a category serves (``population``: all residents)."""
        for col, cats in self.bands.items():
            if category in cats:
                return col
        return TOTAL


def block_severity(blocks: pd.DataFrame, categories: Sequence[str], thresholds: Mapping[str, float],
                   settings: PrioritySettings, basic: Sequence[str]) -> pd.DataFrame:
    """Each category's part of the severity, one column per category, on ``blocks.index``.

    A block contributes for ``c`` when ``dist_<c>_m`` is known and beyond
    ``thresholds[c]``: importance x people of the band x min(distance /
    threshold, cap). Not assessed (NaN) contributes nothing; beyond the search
    limit (inf) counts the cap. The severity is the row sum.

    Examples
    --------
    >>> b = pd.DataFrame({"population": [100.0, 50.0, 80.0], "pop_65plus": [10.0, 5.0, 8.0],
    ...                   "dist_transit_m": [600.0, 200.0, np.inf], "dist_elderly_care_m": [480.0, 100.0, np.nan]})
    >>> s = PrioritySettings.from_config()
    >>> block_severity(b, ["transit", "elderly_care"], {"transit": 300.0, "elderly_care": 240.0}, s,
    ...                ["transit", "elderly_care"]).round(1).to_dict("list")
    {'transit': [200.0, 0.0, 240.0], 'elderly_care': [20.0, 0.0, 0.0]}
    """
    out = pd.DataFrame(index=blocks.index)
    pop = blocks[TOTAL].to_numpy(dtype=float) if TOTAL in blocks else np.ones(len(blocks))
    for c in categories:
        d = blocks[f"dist_{c}_m"].to_numpy(dtype=float)
        t = float(thresholds[c])
        band = settings.band(c)
        people = blocks[band].to_numpy(dtype=float) if band in blocks else pop
        missing = ~np.isnan(d) & (d > t)
        ratio = np.minimum(np.where(np.isnan(d), 0.0, d) / t, settings.distance_cap)
        out[c] = np.where(missing, settings.weight(c, basic) * np.nan_to_num(people) * ratio, 0.0)
    return out


def _group_key(band: str) -> str:
    return {"pop_0_14": "priority.group_0_14", "pop_65plus": "priority.group_65"}.get(band, "priority.group_total")


def _category_text(name: str, lang: str) -> str:
    # "Kindergarten / childcare" reads "no kindergarten / childcare" in a sentence; keep acronyms
    return name[:1].lower() + name[1:] if lang != "zh" and name[1:2].islower() else name


@dataclass(frozen=True)
class Wording:
    """How reasons are written: category names in ``lang``, and the search limit for "none within"."""

    names: Mapping[str, str] = field(default_factory=dict)
    lang: str = "en"
    search_limit_m: float | None = None


def block_reasons(blocks: pd.DataFrame, parts: pd.DataFrame, thresholds: Mapping[str, float],
                  settings: PrioritySettings, wording: Wording | None = None) -> pd.Series:
    """Why each block ranks: its missing categories, largest part first, in ``wording.lang``.

    ``parts`` is :func:`block_severity`; ``wording.names`` maps a category to
    its name in that language. Each category reads "no <category> within <threshold> m:
    nearest <distance> m; <people> <group>" (distances to 10 m, people to one,
    with thousands separators); blocks without a part get "".

    Examples
    --------
    >>> b = pd.DataFrame({"population": [2000.0], "pop_0_14": [1820.0], "dist_kindergarten_m": [1236.0]})
    >>> s = PrioritySettings.from_config()
    >>> p = block_severity(b, ["kindergarten"], {"kindergarten": 500.0}, s, ["kindergarten"])
    >>> block_reasons(b, p, {"kindergarten": 500.0}, s, Wording({"kindergarten": "Kindergarten"})).iloc[0]
    'no kindergarten within 500 m: nearest 1,240 m; 1,820 children aged 0-14'
    """
    wording = wording or Wording()
    lang, names, search_limit_m = wording.lang, wording.names, wording.search_limit_m
    sep = "。" if lang == "zh" else ". "
    pop = blocks[TOTAL].to_numpy(dtype=float) if TOTAL in blocks else np.ones(len(blocks))
    vals = parts.to_numpy(dtype=float)
    # the templates once per category, filled only where the category is missing
    tmpl: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    for c in parts.columns:
        band = settings.band(c)
        people = blocks[band].to_numpy(dtype=float) if band in blocks else pop
        fields = {"category": _category_text(names.get(c, c), lang), "threshold": f"{thresholds[c]:,.0f}",
                  "group": label(_group_key(band if band in blocks else TOTAL), lang),
                  "limit": f"{search_limit_m or 0:,.0f}"}
        tmpl.append((fields, blocks[f"dist_{c}_m"].to_numpy(dtype=float), np.nan_to_num(people)))
    far, near = label("priority.reason_far", lang), label("priority.reason", lang)

    def item(j: int | np.integer, i: int | np.integer) -> str:  # (positions from numpy's argsort)
        fields, d, people = tmpl[j]
        text = near if np.isfinite(d[i]) else far
        return text.format(**fields, dist=f"{round(d[i], -1):,.0f}" if np.isfinite(d[i]) else "",
                           people=f"{people[i]:,.0f}")

    out = [""] * len(parts)
    for i in np.flatnonzero((vals > 0).any(axis=1)) if vals.size else ():
        order = [j for j in np.argsort(-vals[i], kind="stable") if vals[i, j] > 0]
        shown = [item(j, i) for j in order[:settings.reason_items]]
        if len(order) > settings.reason_items:
            shown[-1] += label("priority.more", lang, n=len(order) - settings.reason_items)
        out[i] = sep.join(shown)
    return pd.Series(out, index=parts.index, dtype=object)


def _rank(score: np.ndarray) -> pd.array:
    """1 for the largest positive score; NA for 0 (nothing to rank)."""
    r = pd.Series(score).rank(ascending=False, method="first").to_numpy()
    return pd.array(np.where(score > 0, r, np.nan), dtype="Int64")


def priority_table(blocks: pd.DataFrame, complete: Sequence[str], incomplete: Sequence[str],
                   thresholds: Mapping[str, float], settings: PrioritySettings, basic: Sequence[str],
                   wording: Wording | None = None) -> pd.DataFrame:
    """The priority columns of every block (:data:`PRIORITY_COLUMNS`), on ``blocks.index``.

    ``complete`` categories make the severity and the rank; ``incomplete``
    ones (measured on incomplete data) only the indicative severity and
    reason, never the rank. A ``voice_index`` column of ``blocks``
    (:func:`toolkit.voice.voice_overlay`) multiplies the severity by ``1 +
    voice_index`` when ``settings.use_voice``.

    Examples
    --------
    >>> b = pd.DataFrame({"population": [100.0, 300.0], "dist_transit_m": [600.0, 450.0],
    ...                   "dist_park_m": [2000.0, 100.0]})
    >>> t = priority_table(b, ["transit"], ["park"], {"transit": 300.0, "park": 360.0},
    ...                    PrioritySettings.from_config(), ["transit", "park"])
    >>> t["priority_severity"].tolist(), t["priority_rank"].tolist(), t["priority_severity_indicative"].tolist()
    ([200.0, 450.0], [2, 1], [300.0, 0.0])
    """
    parts = block_severity(blocks, complete, thresholds, settings, basic)
    ind = block_severity(blocks, incomplete, thresholds, settings, basic)
    sev = parts.sum(axis=1).to_numpy(dtype=float) if len(complete) else np.zeros(len(blocks))
    out = pd.DataFrame(index=blocks.index)
    if "voice_index" in blocks and settings.use_voice:
        factor = 1.0 + np.nan_to_num(blocks["voice_index"].to_numpy(dtype=float))
        out["priority_voice_factor"] = factor
        sev = sev * factor
    out["priority_severity"] = sev
    out["priority_rank"] = _rank(sev)
    out["priority_reason"] = block_reasons(blocks, parts, thresholds, settings, wording)
    out["priority_severity_indicative"] = ind.sum(axis=1).to_numpy(dtype=float) if len(incomplete) else 0.0
    out["priority_reason_indicative"] = block_reasons(blocks, ind, thresholds, settings, wording)
    return out[[c for c in PRIORITY_COLUMNS if c in out]]


def block_zones(blocks: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, zone_field: str) -> np.ndarray:
    """The zone of each block, by its representative point, as :func:`toolkit.underserved.roll_up` assigns it.

    Blocks in no zone get ``"unassigned"``; where zones overlap, the first listed.
    """
    pts = shapely.point_on_surface(np.asarray(blocks.geometry.values))
    zi_pts, zi_zone = shapely.STRtree(np.asarray(zones.to_crs(blocks.crs).geometry.values)).query(
        pts, predicate="within")
    first = np.unique(zi_pts, return_index=True)[1]
    zone_of = np.full(len(blocks), "unassigned", dtype=object)
    zone_of[zi_pts[first]] = zones[zone_field].astype(str).to_numpy()[zi_zone[first]]
    return zone_of


def read_zone_weights(source: Source, zone_ids: Sequence[str], id_field: str = "zone_id",
                      weight_field: str = "weight") -> tuple[dict[str, float], list[str]]:
    """Zone weights from a CSV table (``zone_id,weight``): the weights and notes on what did not match.

    Raises
    ------
    InputError
        A missing column, a weight that is not a number >= 0 (naming its row), or a zone listed twice.
    """
    path = source.resolve()
    name = str(path)
    try:
        df = pd.read_csv(path, dtype=str, encoding=source.encoding or "utf-8-sig", keep_default_na=False)
    except UnicodeDecodeError:
        df = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"cannot read the zone weights table: {exc}", source=name, field="priority.zone_weights",
                         fix="a CSV with a header row: zone_id,weight") from None
    for col, key in ((id_field, "zones.id_field"), (weight_field, "priority.zone_weight_field")):
        if col not in df.columns:
            raise InputError(f"no column {col!r} in the zone weights table", source=name, field=key,
                             fix=f"name the columns {id_field},{weight_field} (found: {', '.join(df.columns)})")
    w = pd.to_numeric(df[weight_field].str.strip(), errors="coerce")
    bad = w.isna() | (w < 0) | ~np.isfinite(w)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"row {i + 1} (line {i + 2}): weight {df[weight_field].iloc[i]!r} is not a number >= 0",
                         source=name, field=weight_field, fix="give every zone a weight such as 1, 1.5 or 0.8")
    ids = df[id_field].str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"zone {dup.iloc[0]!r} is listed twice", source=name, field=id_field,
                         fix="one row per zone")
    weights = dict(zip(ids, w.astype(float), strict=True))
    known = set(map(str, zone_ids))
    notes = []
    unknown = [z for z in weights if z not in known]
    if unknown:
        notes.append(f"{name}: {len(unknown)} zone weights name no zone of the study ({', '.join(unknown[:5])}"
                     f"{', ...' if len(unknown) > 5 else ''}): not used")
    left = [z for z in known if z not in weights and z != "unassigned"]
    if left:
        notes.append(f"{name}: {len(left)} zones have no weight in the table and count 1")
    return weights, notes


def zone_priority(blocks: pd.DataFrame, severity: np.ndarray, zone_of: np.ndarray,
                  weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per zone: blocks, residents, summed severity, weight, weighted severity and rank (1 = worst).

    Examples
    --------
    >>> b = pd.DataFrame({"population": [10.0, 20.0, 5.0]})
    >>> z = zone_priority(b, np.array([3.0, 1.0, 2.0]), np.array(["A", "A", "B"]), {"B": 3.0})
    >>> z[["priority_severity", "priority_rank"]].to_dict("index")
    {'A': {'priority_severity': 4.0, 'priority_rank': 2}, 'B': {'priority_severity': 6.0, 'priority_rank': 1}}
    """
    df = pd.DataFrame({"zone": zone_of, "severity": severity,
                       "population": blocks[TOTAL].to_numpy(dtype=float) if TOTAL in blocks else 1.0,
                       "ranked": severity > 0})
    if "voice_n" in blocks:
        df["voice_n"] = blocks["voice_n"].to_numpy()
    g = df.groupby("zone", sort=True)
    out = pd.DataFrame({"blocks": g.size(), "population": g["population"].sum(),
                        "blocks_ranked": g["ranked"].sum(), "severity_sum": g["severity"].sum()})
    if "voice_n" in df:
        out["voice_n"] = g["voice_n"].sum()
    out["priority_weight"] = [float((weights or {}).get(z, 1.0)) for z in out.index]
    out["priority_severity"] = out["severity_sum"] * out["priority_weight"]
    out["priority_rank"] = _rank(out["priority_severity"].to_numpy(dtype=float))
    out.index.name = "zone"
    return out


def _variant_label(key: str, lang: str, **fields: Any) -> str:
    return label(f"priority.v_{key}", lang, **fields)


def priority_sensitivity(blocks: pd.DataFrame, complete: Sequence[str], thresholds: Mapping[str, float],
                         settings: PrioritySettings, basic: Sequence[str],
                         variants: Mapping[str, Mapping[str, float]], zone_of: np.ndarray | None = None,
                         zone_weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """How the order moves under other defensible settings: one row per variant.

    Variants: equal importance (every weight 1), the distance cap halved and
    doubled (at least 1), each threshold set of ``variants`` (e.g. all at 10
    minutes, the elderly walking speed), and, when present, without the voice
    index and without the zone weights. Each row gives the top-10 overlap and
    Kendall's tau-b of the populated blocks' severities against the base
    (:func:`toolkit.decisions.ranking_stability`), and the zones' top-10 overlap.
    """
    populated = (blocks[TOTAL].to_numpy(dtype=float) > 0) if TOTAL in blocks else np.ones(len(blocks), bool)
    has_voice = "voice_index" in blocks and settings.use_voice

    def score(s: PrioritySettings, thr: Mapping[str, float], voice: bool = has_voice) -> np.ndarray:
        sev = block_severity(blocks, complete, thr, s, basic).sum(axis=1).to_numpy(dtype=float) \
            if complete else np.zeros(len(blocks))
        return sev * (1 + np.nan_to_num(blocks["voice_index"].to_numpy(dtype=float))) if voice else sev

    base = score(settings, thresholds)
    runs: list[tuple[str, str, np.ndarray, Mapping[str, float] | None]] = [
        ("equal", "weights", score(replace(settings, basic_importance=1.0, other_importance=1.0,
                                           importance={}), thresholds), zone_weights)]
    for cap in sorted({max(1.0, settings.distance_cap / 2), settings.distance_cap * 2} - {settings.distance_cap}):
        runs.append((f"cap {cap:g}", "distance cap", score(replace(settings, distance_cap=cap), thresholds),
                     zone_weights))
    for name, thr in variants.items():
        runs.append((name, "thresholds", score(settings, {**thresholds, **thr}), zone_weights))
    if has_voice:
        runs.append(("no voice", "voice", score(settings, thresholds, voice=False), zone_weights))
    if zone_weights:
        runs.append(("no zone weights", "zone weights", base, None))
    rows = []
    b = pd.Series(base[populated])
    zb = zone_priority(blocks, base, zone_of, zone_weights)["priority_severity"] if zone_of is not None else None
    for name, kind, sev, zw in runs:
        st = ranking_stability(b, pd.Series(sev[populated]), top=TOP_K) if populated.sum() > 1 else \
            {"top_overlap": float("nan"), "kendall_tau": float("nan")}
        row = {"variant": name, "kind": kind, **st}
        if zb is not None and zone_of is not None and len(zb) > 1:  # (zb is set only with zone_of)
            zo = zone_priority(blocks, sev, zone_of, zw)["priority_severity"]
            row["zone_top_overlap"] = ranking_stability(zb, zo, top=TOP_K)["top_overlap"]
        rows.append(row)
    return pd.DataFrame(rows)


def _variant_text(name: str, lang: str) -> str:
    if name == "equal":
        return _variant_label("equal", lang)
    if name.startswith("cap "):
        return _variant_label("cap", lang, x=float(name[4:]))
    if name == "no voice":
        return _variant_label("no_voice", lang)
    if name == "no zone weights":
        return _variant_label("no_zone_weights", lang)
    if name.startswith("all thresholds 10"):
        return _variant_label("10min", lang)
    if name.startswith("elderly"):
        return _variant_label("elderly", lang)
    return name


def sensitivity_statement(sens: pd.DataFrame, lang: str = "en") -> str:
    """One sentence: how much of the top 10 the variants keep, and what moves it most.

    Examples
    --------
    >>> s = pd.DataFrame({"variant": ["equal", "cap 6"], "top_overlap": [1.0, 0.7], "kendall_tau": [1.0, 0.9]})
    >>> sensitivity_statement(s).split("; ")
    ['Under 2 variants the top 10 blocks keep 7 to 10 of their places (Kendall tau 0.90 to 1.00)', \
'the order moves most with a distance cap of 6.']
    """
    ok = sens.dropna(subset=["top_overlap"]) if len(sens) else sens
    if not len(ok):
        return label("priority.sens_none", lang)
    worst = ok.sort_values(["top_overlap", "kendall_tau"], kind="stable").iloc[0]
    return label("priority.sensitivity", lang, n=len(ok), lo=f"{ok['top_overlap'].min() * TOP_K:.0f}",
                 hi=f"{ok['top_overlap'].max() * TOP_K:.0f}", tau_lo=f"{ok['kendall_tau'].min():.2f}",
                 tau_hi=f"{ok['kendall_tau'].max():.2f}", worst=_variant_text(str(worst["variant"]), lang))


def _basic(study: Any, profile: Profile) -> list[str]:
    urule = UnderservedRule.from_config(study.underserved)
    if "basic_categories" in (study.underserved or {}):
        return list(urule.basic_categories)
    # as the decisions step reads it: the categories' basic flags over the rule's list
    return profile.basic_categories(urule.basic_categories)


def _records(blocks: pd.DataFrame, t: pd.DataFrame, zone_of: np.ndarray, n: int, sev: str,
             reasons: Mapping[str, pd.Series]) -> list[dict[str, Any]]:
    worst = np.argsort(-t[sev].to_numpy(dtype=float), kind="stable")[:n]
    order = [i for i in worst if t[sev].iloc[i] > 0]
    out = []
    for k, i in enumerate(order, 1):
        bid = blocks["block_id"].iloc[i] if "block_id" in blocks else blocks.index[i]
        rec = {"rank": k, "block_id": bid.item() if isinstance(bid, np.generic) else bid,
               "zone": str(zone_of[i]), "severity": float(t[sev].iloc[i]),
               "population": float(blocks[TOTAL].iloc[i]) if TOTAL in blocks else None}
        if "voice_n" in blocks:
            rec["voice_n"] = int(blocks["voice_n"].iloc[i])
        rec.update({f"reason_{lang}": str(s.iloc[i]) for lang, s in reasons.items()})
        out.append(rec)
    return out


def run_priority(study: Any, blocks: gpd.GeoDataFrame, measured: list[str], profile: Profile,
                 data_status: Mapping[str, Any] | None, layers: dict[str, gpd.GeoDataFrame],
                 notes: list[str] | None = None) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The priority step of a study: block columns, zone columns on ``layers["zones"]``, the run.json section.

    Runs after the decisions step (its zones layer, its underserved columns)
    and the voice overlay (``voice_*`` columns). Only categories with complete
    data (``data_status``) rank; the others give the indicative columns.

    Examples
    --------
    >>> blocks, summary = run_priority(result.study, result.blocks, result.categories, result.profile,
    ...                                result.details["data_status"], dict(result.layers))  # doctest: +SKIP
    >>> summary["categories_complete"]  # doctest: +SKIP
    ['transit']
    """
    settings = PrioritySettings.from_config(study.priority)
    rules = profile.rules()
    thresholds = {c: rules[c].max_distance_m for c in measured}
    status = statuses(data_status or {})
    complete = flagging_categories(measured, status)
    incomplete = [c for c in measured if c not in complete]
    basic = _basic(study, profile)
    lang = study.lang
    words = {lg: Wording({c: profile.label(c, lg) for c in measured}, lg, study.search_limit_m)
             for lg in ("en", "zh")}
    for band in sorted({settings.band(c) for c in measured} - {TOTAL} - set(blocks.columns)):
        if notes is not None:
            notes.append(f"priority: no {band} column in the blocks; the categories of that band weigh all "
                         "residents instead")
    t = priority_table(blocks, complete, incomplete, thresholds, settings, basic, words[lang])
    other = "zh" if lang != "zh" else "en"
    reasons = {lang: t["priority_reason"],
               other: block_reasons(blocks, block_severity(blocks, complete, thresholds, settings, basic),
                                    thresholds, settings, words[other])}
    ind_reasons = {lang: t["priority_reason_indicative"],
                   other: block_reasons(blocks, block_severity(blocks, incomplete, thresholds, settings, basic),
                                        thresholds, settings, words[other])}
    blocks = blocks.drop(columns=[c for c in t.columns if c in blocks]).join(t)
    zones = layers.get("zones")
    zfield = study.zone_id_field or "zone_id"
    zone_of = block_zones(blocks, zones, zfield) if zones is not None and len(zones) else \
        np.full(len(blocks), "unassigned", dtype=object)
    zw, zsource = None, None
    if settings.zone_weights is not None:
        zw, zn = read_zone_weights(settings.zone_weights, list(zone_of) + (
            zones[zfield].astype(str).tolist() if zones is not None else []), zfield, settings.zone_weight_field)
        zsource = settings.zone_weights.label()
        if notes is not None:
            notes += zn
    zt = zone_priority(blocks, t["priority_severity"].to_numpy(dtype=float), zone_of, zw)
    if zones is not None:
        keep = [c for c in ("voice_n", "priority_weight", "priority_severity", "priority_rank") if c in zt]
        zl = zones.drop(columns=[c for c in keep if c in zones]).merge(zt[keep], left_on=zfield, right_index=True,
                                                                       how="left")
        # a zone holding no block: its table weight (else 1), nothing to rank
        zl["priority_weight"] = zl["priority_weight"].fillna(zl[zfield].astype(str).map(zw or {})).fillna(1.0)
        zl["priority_severity"] = zl["priority_severity"].fillna(0.0)
        if "voice_n" in zl:
            zl["voice_n"] = zl["voice_n"].fillna(0).astype(int)
        layers["zones"] = zl
    variants = {k: {c: r.max_distance_m for c, r in v.items()} for k, v in
                _threshold_variants(profile, measured).items() if k.startswith(("all thresholds 10", "elderly"))}
    sens = priority_sensitivity(blocks, complete, thresholds, settings, basic, variants, zone_of, zw)
    ranked = t["priority_severity"].to_numpy(dtype=float) > 0
    summary: dict[str, Any] = {
        "formula": "severity = (1 + voice_index) * sum over the categories with complete data the block misses of "
                   "importance * people of the category's band * min(distance / threshold, distance_cap); "
                   "indicative: the same sum over the categories measured on incomplete data, never added",
        "parameters": {"distance_cap": settings.distance_cap,
                       "importance": {c: settings.weight(c, basic) for c in measured},
                       "bands": {c: settings.band(c) if settings.band(c) in blocks else TOTAL for c in measured},
                       "thresholds_m": thresholds, "voice": "voice_index" in blocks and settings.use_voice,
                       "zone_weights": zsource, "source": decision_defaults()["priority"].get("source", "")},
        "categories_complete": complete,
        "categories_indicative": incomplete,
        "blocks_ranked": int(ranked.sum()),
        "population_ranked": float(blocks.loc[ranked, TOTAL].sum()) if TOTAL in blocks else None,
        "top_blocks": _records(blocks, t, zone_of, settings.top_n, "priority_severity", reasons),
        "top_zones": [{"rank": int(r.priority_rank), "zone": str(z), "severity": float(r.priority_severity),
                       "weight": float(r.priority_weight), "blocks_ranked": int(r.blocks_ranked),
                       "population": float(r.population), **({"voice_n": int(r.voice_n)} if "voice_n" in zt else {})}
                      for z, r in zt.sort_values("priority_rank").head(TOP_K).iterrows()
                      if not pd.isna(r.priority_rank)],
        "indicative": {"categories": incomplete,
                       "blocks": int((t["priority_severity_indicative"] > 0).sum()),
                       "top_blocks": _records(blocks, t, zone_of, TOP_K, "priority_severity_indicative", ind_reasons)},
        "sensitivity": {"variants": sens.to_dict(orient="records"),
                        "statement": {lg: sensitivity_statement(sens, lg) for lg in ("en", "zh")}},
    }
    if not complete:
        summary["note"] = label("priority.no_complete", "en")
    return blocks, summary


# ------------------------------------------------------------------ report
def _fmt(x: Any, digits: int = 0) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def report_sections(result: StudyResult, lang: str) -> list[Section]:
    """report.html sections: the priority list, the zones and how sensitive the order is ([] without them)."""
    p = result.details.get("priority")
    if not p:
        return []
    ps = PrioritySettings.from_config(result.study.priority)
    paras = [label("priority.formula", lang, x=ps.distance_cap)]
    if p.get("note"):
        paras.append(label("priority.no_complete", lang))
    else:
        paras.append(label("priority.intro", lang, n=f"{p['blocks_ranked']:,}",
                           people=_fmt(p.get("population_ranked"))))
    paras.append(p["sensitivity"]["statement"]["zh" if lang == "zh" else "en"])
    key = f"reason_{'zh' if lang == 'zh' else 'en'}"
    hdr = (label("col.rank", lang), label("col.block_id", lang), label("report.zone", lang),
           label("col.priority_severity", lang), label("col.priority_reason", lang))
    rows = [(r["rank"], r["block_id"], r["zone"], _fmt(r["severity"]), r[key]) for r in p["top_blocks"][:TOP_K]]
    out = [Section("priority", label("priority.title", lang), paragraphs=tuple(paras), header=hdr, rows=rows,
                   num_cols=(0, 3), notes=(label("priority.data_gap", lang),), order=60)]
    if p["top_zones"]:
        zrows = [(z["rank"], z["zone"], _fmt(z["severity"]), _fmt(z["weight"], 2), z["blocks_ranked"])
                 for z in p["top_zones"]]
        out.append(Section("priority-zones", label("priority.zones_title", lang),
                           header=(label("col.rank", lang), label("report.zone", lang),
                                   label("col.priority_severity", lang), label("priority.zone_weight", lang),
                                   label("priority.blocks_ranked", lang)),
                           rows=zrows, num_cols=(0, 2, 3, 4), order=61))
    ind = p["indicative"]
    if ind["top_blocks"]:
        irows = [(r["rank"], r["block_id"], _fmt(r["severity"]), r[key]) for r in ind["top_blocks"]]
        cats = ", ".join(result.profile.label(c, lang) for c in ind["categories"])
        out.append(Section("priority-indicative", label("priority.indicative", lang),
                           paragraphs=(label("priority.indicative_note", lang, cats=cats),),
                           header=(label("col.rank", lang), label("col.block_id", lang),
                                   label("col.priority_severity_indicative", lang), label("col.priority_reason", lang)),
                           rows=irows, num_cols=(0, 2), order=62))
    return out
