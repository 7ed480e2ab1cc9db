"""Planning standards as data: categories, walking speeds and threshold profiles.

Profiles live in ``data/profiles/*.toml`` with a source next to every value;
a study may override any of them. Thresholds given in minutes become metres
through the walking speed of the walker the category names (adult or elderly).

The category catalogue is open. ``data/categories.toml`` holds the built-in
categories (labels and how each is recognised); a profile or a study may add
its own (``[categories.<id>]`` in a profile, ``[standards.categories.<id>]`` in
a study) with the same keys plus a threshold. :func:`load_profile` returns a
:class:`Profile` carrying the full catalogue of that run (built-ins, then the
profile's, then the study's) in :attr:`Profile.catalogue`: labels are taken
from there, so one study's categories never appear in another's.
:func:`categories` stays the built-in catalogue only.

Tiers of one service (a community health service centre and station, parks of
5, 10 and 15 minutes) are separate categories, each with its own threshold and
coverage row, linked by ``group``; ``served_by`` lets a lower tier count the
facilities of a higher one (a centre also does what a station does) and
``min_area_m2`` keeps facilities too small for the tier out.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .coverage import CategoryRule
from .datasets import data_dir, data_toml
from .errors import InputError

__all__ = [
    "CATEGORY_KEYS",
    "DEFINITION_KEYS",
    "THRESHOLD_KEYS",
    "UNKNOWN_AREA_RULES",
    "Category",
    "Profile",
    "available_profiles",
    "catalogue_table",
    "categories",
    "load_profile",
    "profile_table",
    "source_notes",
    "study_overrides"
]

#: Keys that define a category: what it is called and how it is recognised.
DEFINITION_KEYS = ("label_en", "label_zh", "description", "osm", "landuse", "match", "basic", "group", "served_by")
#: Keys that set how a profile measures a category.
THRESHOLD_KEYS = ("max_distance_m", "minutes", "walker", "min_area_m2", "unknown_area", "source",
                  # the provision figure (one facility per so many residents) the completeness check reads
                  "per_residents", "per_residents_source",
                  # provision against capacity (toolkit.provision.PROFILE_KEYS): the per-capita standard, band,
                  # catchment and distance decay of the 2SFCA
                  "provision_per_1000", "provision_unit", "provision_source", "provision_band",
                  "provision_catchment_m", "provision_decay", "provision_sigma_m")
CATEGORY_KEYS = DEFINITION_KEYS + THRESHOLD_KEYS
#: What to do with a facility whose area is unknown (a point) when the category has a ``min_area_m2``.
UNKNOWN_AREA_RULES = ("count", "exclude")

# the id ends up in column names (dist_<id>_m) and file names: keep it a plain identifier
_ID_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
_EXAMPLE = ('[standards.categories.elderly_canteen] label_zh = "长者食堂", label_en = "Elderly canteen", '
            'max_distance_m = 300, walker = "elderly", source = "..."')


@dataclass(frozen=True)
class Category:
    """A facility category: its labels and how it is recognised in each kind of source.

    Attributes
    ----------
    name : str
        The id (``elderly_canteen``), used in column names such as ``dist_<id>_m``.
    label_en, label_zh : str
        Labels for maps and reports.
    osm : tuple of str
        OSM tag rules: ``"key=value"``, ``"key"`` (any value), ``"k=v&k2=v2"`` (all parts).
    landuse : tuple of str
        Values of a land-use type column (``kind = "field"`` without a ``map``).
    match : dict of str to tuple of str
        Rules for other sources, by source kind, read by their readers:
        ``geofabrik`` (Geofabrik ``fclass`` values), ``amap`` (Amap typecode
        prefixes such as ``"0901"`` or type strings), ``name`` (substrings the
        feature's name must also contain, to tell tiers apart where the type
        does not: 社区卫生服务中心 and 社区卫生服务站 are both Amap ``090102``).
    basic : bool or None
        Whether a missing one counts for the underserved rule; None leaves it to
        ``data/decisions.toml [underserved] basic_categories``.
    group : str or None
        The service this category is a tier of (``"health"``, ``"park"``): for listings.
    served_by : tuple of str
        Categories whose facilities count for this one too (a health centre also serves
        as a station; every park is a candidate for each park size tier).
    origin : str
        ``"built-in"``, ``"profile <name>"`` or ``"study"``.

    Examples
    --------
    >>> categories()["health_station"].served_by
    ('health_centre',)
    >>> categories()["park"].label("zh")
    '公园绿地'
    """

    name: str
    label_en: str
    label_zh: str
    osm: tuple[str, ...] = ()
    landuse: tuple[str, ...] = ()
    match: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    basic: bool | None = None
    group: str | None = None
    served_by: tuple[str, ...] = ()
    description: str = ""
    origin: str = "built-in"

    def label(self, lang: str = "en") -> str:
        """Label in ``"en"`` or ``"zh"``."""
        return self.label_zh if lang == "zh" else self.label_en

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the definition (for run.json and listings), empty values left out.

        Examples
        --------
        >>> categories()["toilets"].to_dict()["label_zh"]
        '公共厕所'
        """
        d = {"label_en": self.label_en, "label_zh": self.label_zh, "description": self.description,
             "osm": list(self.osm), "landuse": list(self.landuse),
             "match": {k: list(v) for k, v in self.match.items()}, "basic": self.basic, "group": self.group,
             "served_by": list(self.served_by), "origin": self.origin}
        return {k: v for k, v in d.items() if v not in (None, "", [], {})}


def _category(name: str, spec: Mapping[str, Any], base: Category | None, origin: str, where: str,
              source: str | None) -> Category:
    """A category from definition keys, on top of ``base`` (the one it changes) if any."""
    def strings(key: str) -> tuple[str, ...]:
        v = spec[key]
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
            raise InputError(f"{key} must be a list of strings", source=source, field=f"{where}.{key}",
                             fix=f'e.g. {key} = ["amenity=social_facility&social_facility=day_care"]' if key == "osm"
                             else f'e.g. {key} = ["park", "garden"]')
        return tuple(v)

    changes: dict[str, Any] = {}
    for key in ("label_en", "label_zh", "description", "group"):
        if key in spec:
            if not isinstance(spec[key], str) or (key.startswith("label") and not spec[key].strip()):
                raise InputError(f"{key} must be a non-empty string", source=source, field=f"{where}.{key}",
                                 fix=f'e.g. {key} = "长者食堂"' if key == "label_zh" else f'e.g. {key} = "..."')
            changes[key] = spec[key]
    for key in ("osm", "landuse", "served_by"):
        if key in spec:
            changes[key] = strings(key)
    if "basic" in spec:
        if not isinstance(spec["basic"], bool):
            raise InputError("basic must be true or false", source=source, field=f"{where}.basic",
                             fix="basic = true counts a missing one for the underserved rule, basic = false not")
        changes["basic"] = spec["basic"]
    if "match" in spec:
        m = spec["match"]
        if not isinstance(m, Mapping) or not all(
                isinstance(v, list | tuple) and all(isinstance(x, str) for x in v) for v in m.values()):
            raise InputError("match must be a table of source kind = list of strings", source=source,
                             field=f"{where}.match",
                             fix='e.g. match = { geofabrik = ["community_centre"], amap = ["0901"], '
                             'name = ["长者食堂"] }')
        changes["match"] = {str(k): tuple(v) for k, v in m.items()}
    if base is not None:
        return dataclasses.replace(base, **changes)
    if "label_en" not in changes and "label_zh" not in changes:
        raise InputError(f"new category {name!r} has no label", source=source, field=f"{where}.label_zh",
                         fix=f"add label_zh and label_en, e.g. {_EXAMPLE}")
    en = changes.pop("label_en", None) or changes["label_zh"]
    zh = changes.pop("label_zh", None) or en
    return Category(name=name, label_en=en, label_zh=zh, origin=origin, **changes)


@cache
def categories() -> dict[str, Category]:
    """The built-in facility categories (``data/categories.toml``), in matching order.

    A study's or profile's own categories are not here: take them from
    :attr:`Profile.catalogue`.

    Examples
    --------
    >>> "elderly_canteen" in categories()
    True
    """
    raw = data_toml("categories.toml")["categories"]
    return {k: _category(k, v, None, "built-in", f"categories.{k}", "data/categories.toml") for k, v in raw.items()}


def available_profiles() -> list[str]:
    """Names of the bundled standards profiles.

    Returns
    -------
    list of str
        Sorted; each loads with :func:`load_profile` by name.

    Examples
    --------
    >>> available_profiles()
    ['gb50180', 'shanghai-main-city', 'shanghai-market-town', 'shanghai-new-town']
    """
    return sorted(p.stem for p in (data_dir() / "profiles").glob("*.toml"))


@dataclass
class Profile:
    """A standards profile: walkers, tiers and per-category thresholds, each with its source.

    ``categories`` holds the threshold of every category the profile measures;
    ``catalogue`` every category known to this run (built-ins and the profile's
    and study's own), which is where labels come from.
    """

    name: str
    title: str
    source: str
    walkers: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    tiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    overridden: list[str] = field(default_factory=list)
    waterfront: dict[str, Any] = field(default_factory=dict)
    catalogue: dict[str, Category] = field(default_factory=lambda: dict(categories()))

    def category(self, name: str) -> Category:
        """The definition of ``name`` in this profile's catalogue.

        Examples
        --------
        >>> load_profile("gb50180").category("health_centre").label("zh")
        '社区卫生服务中心'
        """
        if name not in self.catalogue:
            raise InputError(f"unknown category {name!r}", source=f"profile {self.name}", field="category",
                             fix=f"use one of: {', '.join(self.catalogue)}, or define it under "
                             "[standards.categories.<id>] in the study")
        return self.catalogue[name]

    def label(self, name: str, lang: str = "en") -> str:
        """The label of ``name`` in ``lang``; the id itself for a category the catalogue does not know.

        Parameters
        ----------
        name : str
            A category id.
        lang : str, default "en"
            ``"en"`` or ``"zh"``.

        Returns
        -------
        str

        Examples
        --------
        >>> p = load_profile("gb50180")
        >>> p.label("micro_fire_station", "zh"), p.label("not_a_category")
        ('微型消防站', 'not_a_category')
        """
        cat = self.catalogue.get(name)
        return cat.label(lang) if cat is not None else name

    def waterfront_threshold(self) -> float:
        """Metres within which a block counts as having waterfront access."""
        if not self.waterfront:
            raise InputError(f"profile {self.name!r} has no [waterfront] threshold", source=f"profile {self.name}",
                             field="waterfront", fix="add [waterfront] max_distance_m = ... (with a source)")
        return self._metres(self.waterfront, "waterfront")[0]

    def speed(self, walker: str) -> float:
        """Walking speed in m/s of ``walker``.

        Parameters
        ----------
        walker : str
            A walker of the profile (``"adult"``, ``"elderly"``).

        Returns
        -------
        float
            Metres per second.

        Examples
        --------
        >>> p = load_profile("shanghai-main-city")
        >>> p.speed("adult"), p.speed("elderly")
        (1.2, 0.8)
        """
        if walker not in self.walkers:
            raise InputError(f"unknown walker {walker!r} in profile {self.name!r}", field="walker",
                             fix=f"use one of: {', '.join(self.walkers)}")
        return float(self.walkers[walker]["speed_m_per_s"])

    def _metres(self, spec: dict[str, Any], where: str) -> tuple[float, float | None, str]:
        if "max_distance_m" in spec:
            return float(spec["max_distance_m"]), spec.get("minutes"), spec.get("walker", "adult")
        if "minutes" in spec:
            walker = spec.get("walker", "adult")
            return float(spec["minutes"]) * 60.0 * self.speed(walker), float(spec["minutes"]), walker
        raise InputError(f"{where} gives neither max_distance_m nor minutes", source=f"profile {self.name}",
                         field=where, fix="add max_distance_m = ... or minutes = ... (with walker)")

    def rule(self, category: str) -> CategoryRule:
        """The threshold rule of one category.

        Parameters
        ----------
        category : str
            A category the profile measures.

        Returns
        -------
        CategoryRule
            ``max_distance_m`` (minutes turned into metres at the walker's speed), ``minutes``, ``walker`` and
            ``source``.

        Examples
        --------
        >>> rule = load_profile("shanghai-main-city").rule("health")  # 15 minutes at the elderly pace
        >>> rule.max_distance_m, rule.minutes, rule.walker
        (720.0, 15.0, 'elderly')
        """
        spec = self.categories[category]
        metres, minutes, walker = self._metres(spec, f"categories.{category}")
        return CategoryRule(category=category, max_distance_m=metres, walker=walker, minutes=minutes,
                            source=spec.get("source", ""), label=self.label(category))

    def rules(self) -> dict[str, CategoryRule]:
        """Threshold rules of every category in the profile.

        Returns
        -------
        dict of str to CategoryRule
            In the profile's order.

        Examples
        --------
        >>> rules = load_profile("shanghai-main-city").rules()
        >>> rules["park"].max_distance_m
        360.0
        """
        return {c: self.rule(c) for c in self.categories}

    def min_area_m2(self, category: str) -> float | None:
        """The smallest facility (m2) that counts for ``category``, None when size does not matter.

        Examples
        --------
        >>> load_profile("gb50180").min_area_m2("park_15min")
        50000.0
        """
        v = self.categories.get(category, {}).get("min_area_m2")
        return None if v is None else float(v)

    def basic_categories(self, default: Iterable[str]) -> list[str]:
        """The basic categories of the underserved rule.

        ``default`` (``data/decisions.toml [underserved] basic_categories``) less
        the categories that declare ``basic = false``, plus those declaring
        ``basic = true``. A study's own ``[underserved] basic_categories``
        replaces all of this (the caller does not ask then).

        Examples
        --------
        >>> p = load_profile("gb50180", {"categories": {"park": {"basic": False},
        ...                                             "health_station": {"basic": True}}})
        >>> p.basic_categories(["health", "park"])
        ['health', 'health_station']
        """
        out = [c for c in default if getattr(self.catalogue.get(c), "basic", None) is not False]
        return out + [c for c, cat in self.catalogue.items() if cat.basic and c not in out]

    def coverage_sources(self, facilities: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Which facilities each category of the profile is measured from, and a report of the choice.

        A category counts its own facilities and those of the categories it is
        ``served_by``. With ``min_area_m2``, a facility whose ``area_m2`` is
        known and smaller does not count. One whose area is unknown (a point:
        the data hold no outline) counts by default, since a missing outline is
        a gap in the data, not in the service; the report says how many such
        facilities the figure rests on. ``unknown_area = "exclude"`` leaves them out.

        Parameters
        ----------
        facilities : DataFrame
            One row per facility with ``category`` and ``area_m2`` (NaN where unknown),
            as :func:`toolkit.facilities.attach_facilities` returns them.

        Returns
        -------
        counted : dict of category to ndarray of bool
            Over the rows of ``facilities``.
        report : dict of category to dict
            ``from`` (the categories drawn on), ``facilities`` (how many count)
            and, with a minimum size, ``min_area_m2``, ``too_small``,
            ``unknown_area`` and ``unknown_area_rule``.

        Examples
        --------
        >>> fac = pd.DataFrame({"category": ["park", "park", "park"], "area_m2": [3000.0, 12000.0, np.nan]})
        >>> counted, report = load_profile("gb50180").coverage_sources(fac)
        >>> counted["park_10min"].tolist(), report["park_10min"]["too_small"], report["park_10min"]["unknown_area"]
        ([False, True, True], 1, 1)
        """
        cat = facilities["category"].astype(str).to_numpy() if len(facilities) else np.zeros(0, dtype=object)
        area = (facilities["area_m2"].to_numpy(dtype=float) if "area_m2" in facilities
                else np.full(len(facilities), np.nan))
        counted: dict[str, np.ndarray] = {}
        report: dict[str, dict[str, Any]] = {}
        for c in self.categories:
            drawn = [c, *(s for s in self.catalogue[c].served_by if s != c)] if c in self.catalogue else [c]
            m = np.isin(cat, drawn)
            rep: dict[str, Any] = {"from": drawn}
            least = self.min_area_m2(c)
            if least is not None:
                unknown = m & np.isnan(area)
                small = m & ~np.isnan(area) & (area < least)
                rule = self.categories[c].get("unknown_area", "count")
                m = m & ~small & (~unknown if rule == "exclude" else True)
                rep.update(min_area_m2=least, too_small=int(small.sum()), unknown_area=int(unknown.sum()),
                           unknown_area_rule=rule)
            rep["facilities"] = int(m.sum())
            counted[c] = m
            report[c] = rep
        return counted, report

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for run.json: resolved metres, and the definitions of the categories added or redefined."""
        return {"name": self.name, "title": self.title, "source": self.source, "walkers": self.walkers,
                "overridden": self.overridden,
                "categories": {c: {**self.categories[c], "threshold_m": round(self.rule(c).max_distance_m, 1)}
                               for c in self.categories},
                "own_categories": {c: cat.to_dict() for c, cat in self.catalogue.items()
                                   if categories().get(c) != cat}}


def source_notes(report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Plain-language notes on size-tiered categories, from :meth:`Profile.coverage_sources`' report.

    Examples
    --------
    >>> note = source_notes({"park_15min": {"facilities": 3, "min_area_m2": 50000.0, "too_small": 2,
    ...                                     "unknown_area": 1, "unknown_area_rule": "count"}})[0]
    >>> for part in note.split("; "):
    ...     print(part)
    park_15min: 2 facilities smaller than 50,000 m2 not counted
    1 of the 3 counted has no known area (a point) and is assumed big enough
    """
    out = []
    for c, r in report.items():
        if "min_area_m2" not in r or not (r["too_small"] or r["unknown_area"]):
            continue
        parts = []
        if r["too_small"]:
            parts.append(f"{r['too_small']} facilit{'y' if r['too_small'] == 1 else 'ies'} smaller than "
                         f"{r['min_area_m2']:,.0f} m2 not counted")
        if r["unknown_area"] and r["unknown_area_rule"] == "count" and r["unknown_area"] == r["facilities"]:
            parts.append(f"none of the {r['facilities']} counted has a known area (points, assumed big enough): "
                         f"the figure says a facility is within reach, not one of >= {r['min_area_m2']:,.0f} m2")
        elif r["unknown_area"] and r["unknown_area_rule"] == "count":
            parts.append(f"{r['unknown_area']} of the {r['facilities']} counted "
                         f"{'has' if r['unknown_area'] == 1 else 'have'} no known area (a point) and "
                         f"{'is' if r['unknown_area'] == 1 else 'are'} assumed big enough")
        elif r["unknown_area"]:
            parts.append(f"{r['unknown_area']} without a known area (points) not counted (unknown_area = 'exclude')")
        out.append(f"{c}: " + "; ".join(parts))
    return out


def _check_keys(name: str, spec: Any, where: str, source: str | None) -> None:
    if not isinstance(spec, Mapping):
        raise InputError(f"category {name!r} must be a table", source=source, field=where, fix=f"e.g. {_EXAMPLE}")
    if not _ID_RE.match(name):
        raise InputError(f"category id {name!r} is not a plain lower-case identifier", source=source, field=where,
                         fix="use letters a-z, digits and '_', starting with a letter (it names columns such as "
                         "dist_<id>_m), e.g. elderly_canteen")
    unknown = sorted(set(spec) - set(CATEGORY_KEYS))
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(map(repr, unknown))} in category {name!r}", source=source,
                         field=f"{where}.{unknown[0]}", fix=f"a category takes: {', '.join(CATEGORY_KEYS)}")
    for key in ("max_distance_m", "minutes", "min_area_m2"):
        v = spec.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0
                              or (v == 0 and key != "min_area_m2")):
            raise InputError(f"{key} must be a positive number, not {v!r}", source=source, field=f"{where}.{key}",
                             fix=f"e.g. {key} = " + {"max_distance_m": "300", "minutes": "5",
                                                     "min_area_m2": "10000 (1 ha)"}[key])
    if "unknown_area" in spec and spec["unknown_area"] not in UNKNOWN_AREA_RULES:
        raise InputError(f"unknown_area must be one of {', '.join(UNKNOWN_AREA_RULES)}", source=source,
                         field=f"{where}.unknown_area",
                         fix="'count' (default: facilities without an outline count, and are reported) or 'exclude'")
    if "source" in spec and not isinstance(spec["source"], str):
        raise InputError("source must be a string", source=source, field=f"{where}.source",
                         fix='e.g. source = "district plan 2025, p. 12"')


def study_overrides(standards: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The profile overrides of a study's ``[standards]`` table, its own categories merged in.

    ``[standards.categories.<id>]`` adds a category (or changes a built-in one)
    for this study; ``[standards.overrides]`` changes thresholds and is
    applied on top (a batch scenario writes there).

    Examples
    --------
    >>> ov = study_overrides({"profile": "gb50180", "categories": {"elderly_canteen": {"max_distance_m": 300}}})
    >>> ov["categories"]["elderly_canteen"]["max_distance_m"]
    300
    """
    unknown = sorted(set(standards) - {"profile", "overrides", "categories"})
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} in [standards]", source=source,
                         field=f"standards.{unknown[0]}",
                         fix="[standards] takes profile, [standards.categories.<id>] and [standards.overrides]")
    over = copy.deepcopy(dict(standards.get("overrides", {})))
    own = standards.get("categories", {})
    if not isinstance(own, Mapping) or not isinstance(over.get("categories", {}), Mapping):
        raise InputError("categories must be a table of tables", source=source, field="standards.categories",
                         fix=f"e.g. {_EXAMPLE}")
    for name, spec in own.items():
        _check_keys(name, spec, f"standards.categories.{name}", source)
    for name, spec in over.get("categories", {}).items():
        _check_keys(name, spec, f"standards.overrides.categories.{name}", source)
    merged = copy.deepcopy(dict(own))
    for name, spec in over.get("categories", {}).items():
        base = merged.get(name, {})
        if "max_distance_m" in spec or "minutes" in spec:
            base = {k: v for k, v in base.items() if k not in ("max_distance_m", "minutes")}
        merged[name] = {**base, **spec}
    if merged:
        over["categories"] = merged
    return over


def load_profile(name_or_path: str | Path, overrides: dict[str, Any] | None = None, *,
                 source: str | None = None) -> Profile:
    """Load a bundled profile by name (or a profile TOML by path) and apply overrides.

    Parameters
    ----------
    name_or_path : str or Path
        ``"gb50180"``, ``"shanghai-main-city"``, ``"shanghai-new-town"``,
        ``"shanghai-market-town"``, or a path to a TOML file of the same shape.
    overrides : dict, optional
        ``{"categories": {"transit": {"max_distance_m": 500}}, "walkers": {...}}``;
        a value given without a ``source`` is recorded as a user override. A
        category the catalogue does not know is added: give it labels and a
        threshold (see ``data/categories.toml`` for the keys).
    source : str, optional
        Where the overrides come from (the study file), for error messages.

    Returns
    -------
    Profile
        With ``catalogue``: the built-in categories, the profile's and the overrides' own.

    Examples
    --------
    >>> p = load_profile("shanghai-main-city", {"categories": {"micro_park_pavilion": {
    ...     "label_zh": "口袋公园亭", "label_en": "Pocket-park pavilion", "minutes": 5, "walker": "elderly"}}})
    >>> round(p.rule("micro_park_pavilion").max_distance_m), p.category("micro_park_pavilion").origin
    (240, 'study')
    >>> "micro_park_pavilion" in load_profile("shanghai-main-city").catalogue
    False
    """
    p = Path(name_or_path)
    if not p.suffix:
        p = data_dir() / "profiles" / f"{name_or_path}.toml"
    if not p.exists():
        raise InputError(f"unknown standards profile {str(name_or_path)!r}", field="study.profile",
                         fix=f"use one of: {', '.join(available_profiles())}, or a path to a profile TOML")
    try:
        with open(p, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the profile is not valid TOML: {exc}", source=str(p),
                         fix="correct the line named (a profile has the shape of data/profiles/*.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"the profile cannot be read: {exc}", source=str(p), fix="check the file") from None
    # every table and key against the declarations (toolkit.profile_schema): typos with the closest key,
    # types and ranges with the file, the key and an example, before anything is built from the values
    from .profile_schema import check_overrides, check_profile_dict

    check_profile_dict(raw, str(p))
    if overrides:
        check_overrides(overrides, source or "overrides")
    if not isinstance(raw.get("profile"), dict) or not isinstance(raw["profile"].get("name"), str):
        raise InputError("the profile has no [profile] table with a name", source=str(p), field="profile.name",
                         fix="start it with [profile] name = '...' as the bundled profiles do")
    name = raw["profile"]["name"]
    catalogue = dict(categories())
    specs = {}
    for c, spec in raw.get("categories", {}).items():
        specs[c] = _resolve(c, spec, catalogue, f"profile {name}", f"categories.{c}", str(p))
    prof = Profile(name=name, title=raw["profile"].get("title", ""),
                   source=raw["profile"].get("source", ""), walkers=raw.get("walkers", {}),
                   categories=specs, tiers=raw.get("tiers", {}), waterfront=raw.get("waterfront", {}),
                   catalogue=catalogue)
    if overrides:
        prof = _apply_overrides(prof, overrides, source or "overrides")
    from_study = set((overrides or {}).get("categories", {}))
    for c in prof.categories:
        where, origin = (f"standards.categories.{c}", source) if c in from_study else (f"categories.{c}", str(p))
        spec = prof.categories[c]
        if "max_distance_m" not in spec and "minutes" not in spec:
            raise InputError(f"category {c!r} has no threshold", source=origin, field=f"{where}.max_distance_m",
                             fix="add max_distance_m = 300, or minutes = 5 with walker = 'adult' or 'elderly' "
                             "(and a source)")
        walker = spec.get("walker", "adult")
        if walker not in prof.walkers:
            raise InputError(f"unknown walker {walker!r} for category {c!r}", source=origin,
                             field=f"{where}.walker", fix=f"use one of: {', '.join(prof.walkers)}")
        for s in prof.catalogue[c].served_by:
            if s not in prof.catalogue:
                raise InputError(f"category {c!r} is served_by unknown category {s!r}", source=origin,
                                 field=f"{where}.served_by", fix=f"use one of: {', '.join(prof.catalogue)}")
        prof.rule(c)  # validates units now, not halfway through a run
    return prof


def _resolve(name: str, spec: Mapping[str, Any], catalogue: dict[str, Category], origin: str, where: str,
             source: str | None) -> dict[str, Any]:
    """Add or change ``name`` in ``catalogue`` from the definition keys of ``spec``; return its threshold keys."""
    _check_keys(name, spec, where, source)
    definition = {k: v for k, v in spec.items() if k in DEFINITION_KEYS}
    if name not in catalogue and not definition:
        close = difflib.get_close_matches(name, list(catalogue), n=3)
        raise InputError(f"unknown category {name!r}", source=source, field=where,
                         fix=(f"did you mean {', '.join(close)}? " if close else "")
                         + f"to add a category, give it labels and a threshold, e.g. {_EXAMPLE}")
    if definition or name not in catalogue:
        catalogue[name] = _category(name, definition, catalogue.get(name), origin, where, source)
    return {k: v for k, v in spec.items() if k in THRESHOLD_KEYS}


def _apply_overrides(prof: Profile, overrides: dict[str, Any], source: str) -> Profile:
    prof = copy.deepcopy(prof)
    unknown = set(overrides) - {"categories", "walkers", "waterfront"}
    if unknown:
        raise InputError(f"unknown override section(s): {', '.join(sorted(unknown))}", source=source,
                         field="standards.overrides", fix="override 'categories', 'walkers' or 'waterfront'")
    if "waterfront" in overrides:
        prof.waterfront = {**prof.waterfront, **overrides["waterfront"]}
        if "max_distance_m" in overrides["waterfront"] and "minutes" not in overrides["waterfront"]:
            prof.waterfront.pop("minutes", None)
        prof.waterfront.setdefault("source", "user override")
        prof.overridden.append("waterfront")
    for key, spec in overrides.get("walkers", {}).items():
        base = dict(prof.walkers.get(key, {}))
        base.update(spec)
        if "source" not in spec:
            base["source"] = f"user override (profile value was: {prof.walkers.get(key, {}).get('source', '-')})"
        prof.walkers[key] = base
        prof.overridden.append(f"walkers.{key}")
    for key, spec in overrides.get("categories", {}).items():
        new = key not in prof.catalogue
        threshold = _resolve(key, spec, prof.catalogue, "study", f"standards.categories.{key}", source)
        prof.overridden.append(f"categories.{key}")
        if key in prof.categories and not set(threshold) - {"source"}:
            continue  # only the definition changed (labels, basic, recognition): the threshold and its source stand
        base = dict(prof.categories.get(key, {}))
        if "max_distance_m" in threshold or "minutes" in threshold:
            # a new threshold replaces the old one entirely, units included
            base.pop("max_distance_m", None)
            base.pop("minutes", None)
        base.update(threshold)
        if "source" not in threshold:
            base["source"] = ("study-defined category (no source given)" if new else
                              f"user override (profile value was: {prof.categories.get(key, {}).get('source', '-')})")
        prof.categories[key] = base
    return prof


# ------------------------------------------------------------------ listings
def _width(text: str) -> int:
    # CJK characters take two terminal columns
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _threshold_text(profile: Profile, c: str) -> str:
    rule = profile.rule(c)
    out = f"{rule.max_distance_m:,.0f} m"
    if rule.minutes:
        out += f" ({rule.minutes:g} min {rule.walker})"
    least = profile.min_area_m2(c)
    if least is not None:
        out += f" >= {least / 10_000:g} ha"
    return out


def _basic_default() -> list[str]:
    return list(data_toml("decisions.toml")["underserved"]["basic_categories"])


def catalogue_table(profiles: Iterable[Profile]) -> str:
    """The open catalogue across ``profiles``: id, labels, basic or not, and each profile's threshold.

    A category a profile does not measure shows ``-``; ``>= 1 ha`` is the
    smallest facility counted. Sources: :func:`profile_table`.

    Examples
    --------
    >>> text = catalogue_table([load_profile("gb50180"), load_profile("shanghai-main-city")])
    >>> [line.split()[:2] for line in text.splitlines() if line.startswith("health_station")]
    [['health_station', '社区卫生服务站']]
    """
    profiles = list(profiles)
    cats: dict[str, Category] = {}
    for p in profiles:
        cats.update({c: p.catalogue[c] for c in p.catalogue if c not in cats})
    basic = {c for p in profiles for c in p.basic_categories(_basic_default())}
    rows = [["id", "label_zh", "label_en", "basic", *(p.name for p in profiles)]]
    for c, cat in cats.items():
        rows.append([c, cat.label_zh, cat.label_en, "yes" if c in basic else "no",
                     *(_threshold_text(p, c) if c in p.categories else "-" for p in profiles)])
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(_pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def profile_table(profile: Profile) -> str:
    """Every category one profile measures: id, labels, threshold, basic or not, origin and source.

    Examples
    --------
    >>> print(profile_table(load_profile("gb50180")).splitlines()[0])
    gb50180: GB 50180-2018 national standard (residential area planning and design)
    """
    basic = set(profile.basic_categories(_basic_default()))
    lines = [f"{profile.name}: {profile.title}", f"  source: {profile.source}", ""]
    for c in profile.categories:
        cat = profile.catalogue[c]
        extra = [f"basic: {'yes' if c in basic else 'no'}", f"origin: {cat.origin}"]
        if cat.served_by:
            extra.append(f"also counts: {', '.join(cat.served_by)}")
        lines.append(f"{c}  {cat.label_zh} / {cat.label_en}")
        lines.append(f"    {_threshold_text(profile, c)}; {'; '.join(extra)}")
        lines.append(f"    source: {profile.categories[c].get('source', '-')}")
    return "\n".join(lines)
