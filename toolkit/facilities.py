"""Service facilities per category, from OpenStreetMap tags, the exports planners get, or user layers.

Each source format has its reader and classifier: OSM tags (the ``osm`` rules
of ``data/categories.toml``), Geofabrik's free shapefiles (``fclass``), Amap
exports (``typecode``, GCJ-02) and Baidu exports (``detail_info.tag``, BD-09),
the last three through the mapping tables of ``data/classifiers/`` (a source
for every rule; a user table may replace them). A feature matching several
categories is a facility of each, and the facilities layer records the rule
that placed it (``rule``).

A facility is a point (a shop, a bus stop) or an area (a park, a school
compound). An area is entered at its edge, not at its middle: its *access
points* (:func:`access_points`) are its mapped entrances, or else the points of
its boundary that lie beside a walkable street, and the coverage search is
seeded from all of them (:func:`attach_facilities`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .datasets import data_dir, data_toml
from .errors import InputError
from .snapping import REASON_TOO_FAR, Snapped, snap_points
from .standards import Category, categories

__all__ = [
    "ACCESS_MAX_STREET_M",
    "ACCESS_SPACING_M",
    "FACILITY_COLUMNS",
    "MATCH_COLUMNS",
    "Classified",
    "Classifier",
    "access_points",
    "attach_facilities",
    "categories_by_row",
    "classifier_kinds",
    "classify_field",
    "classify_osm",
    "classify_source",
    "classify_table",
    "combine",
    "facilities_from",
    "level_from_name",
    "load_classifier",
    "match_osm",
    "match_rules",
    "parse_rule",
    "require_declared_crs",
    "school_level_rules",
    "snap_refusals",
    "unknown_school_levels"
]

FACILITY_COLUMNS = ["facility_id", "category", "name", "source", "source_id", "rule", "osm_type", "area_m2",
                    "entrances", "geometry"]

#: Spacing (m) of the candidate access points along an area's boundary. The
#: Global Healthy & Sustainable City Indicators (GHSCI) take public open space
#: "pseudo entrances" as points every 20 m along the park boundary (their
#: ``aos_nodes_30m_line`` layer); 20 m also keeps the along-street error of
#: reaching a park at the nearest sample, not at the exact spot, below 10 m.
ACCESS_SPACING_M = 20.0
#: A boundary point counts as a way in when it lies within this many metres of
#: a walkable street centreline: GHSCI's 30 m. OSM streets are centrelines, so
#: the edge of a park across the pavement of a Shanghai arterial (24-40 m
#: between building lines) lies 12-20 m from the centreline, more with mapping
#: offsets; a 15 m limit would miss the parks along wide roads and fall back to
#: a single nearest point. Boundaries behind a row of buildings usually lie
#: further than 30 m.
ACCESS_MAX_STREET_M = 30.0

_AREA_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


# ------------------------------------------------------------ classification
# Every classifier returns a long table of *matches*: one row per (feature, category), with the
# position of the feature in its layer (``row``) and the rule that placed it there (``rule``). A
# feature matching two categories is a facility of each (a pharmacy that Amap also files as a clinic,
# a nine-year school), and the facilities layer says which rule made each one.
MATCH_COLUMNS = ["row", "category", "rule"]

#: Rule operators, longest first where one starts another (``!~`` before ``~``, ``^=`` before ``=``).
_OPS = ("!~", "^=", "~", "=")
# Bracketed text is a branch or locator suffix in Chinese POI names ("药房(徐家汇店)", "(东门)"): a word
# found only there says where the place is, not what it is.
_BRACKETS = r"[(（\[【][^)）\]】]*[)）\]】]"


def parse_rule(rule: str) -> list[tuple[str, str, str]]:
    """Split a rule into its ``(key, operator, value)`` parts.

    A rule is parts joined with ``&``, all of which must hold: ``key=value``
    (one of the cell's listed values equals ``value``), ``key^=value`` (one
    starts with it), ``key~word`` (the text, bracketed parts left out,
    contains ``word``, case-insensitively), ``key!~word`` (it does not) and
    ``key`` (the cell is not empty).

    Examples
    --------
    >>> parse_rule("typecode=080402&name!~疗养院")
    [('typecode', '=', '080402'), ('name', '!~', '疗养院')]
    >>> parse_rule("amenity")
    [('amenity', '', '')]
    """
    parts = []
    for part in rule.split("&"):
        part = part.strip()
        hits = [(part.find(op), -len(op), op) for op in _OPS if op in part]
        if not hits:
            parts.append((part, "", ""))
            continue
        at, _, op = min(hits)  # the operator that comes first; the longer one where two start together
        parts.append((part[:at].strip(), op, part[at + len(op):].strip()))
    return parts


class _Cells:
    """A layer's columns as text, split into their listed values, each computed once for all rules."""

    def __init__(self, gdf: pd.DataFrame, sep: str = ";", aliases: Mapping[str, Iterable[str]] | None = None):
        self.n = len(gdf)
        self.gdf, self.sep = gdf, sep
        self.aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self._text: dict[str, pd.Series] = {}
        self._parts: dict[str, pd.Series] = {}
        self._plain: dict[str, pd.Series] = {}

    def column(self, key: str) -> str | None:
        """The column holding ``key``: its first alias present, else ``key`` itself."""
        return next((c for c in (*self.aliases.get(key, ()), key) if c in self.gdf.columns), None)

    def text(self, col: str) -> pd.Series:
        if col not in self._text:
            s = self.gdf[col].astype("string").str.strip().reset_index(drop=True)
            s[s.eq("").fillna(False)] = pd.NA  # an empty cell is no value
            self._text[col] = s
        return self._text[col]

    def parts(self, col: str) -> pd.Series:
        """Listed values (OSM ``1;2``, Amap ``060703|060400``) one per entry, indexed by row position."""
        if col not in self._parts:
            s = self.text(col).dropna()
            if self.sep and s.str.contains(self.sep, regex=False).any():
                s = s.str.split(self.sep, regex=False).explode().str.strip()
            self._parts[col] = s
        return self._parts[col]

    def plain(self, col: str) -> pd.Series:
        """Lower-case text without its bracketed parts, for ``~`` words."""
        if col not in self._plain:
            self._plain[col] = self.text(col).str.replace(_BRACKETS, "", regex=True).str.lower()
        return self._plain[col]

    def mask(self, rule: str) -> np.ndarray:
        """Rows matching every part of ``rule``."""
        mask = np.ones(self.n, dtype=bool)
        for key, op, value in parse_rule(rule):
            col = self.column(key)
            if col is None:
                if op == "!~":
                    continue  # a column the layer lacks contains no word
                return np.zeros(self.n, dtype=bool)
            if op == "":
                mask &= self.text(col).notna().to_numpy()
            elif op in ("=", "^="):
                p = self.parts(col)
                ok = p.eq(value) if op == "=" else p.str.startswith(value)
                hit = np.zeros(self.n, dtype=bool)
                hit[p.index[ok.fillna(False).to_numpy(dtype=bool)]] = True
                mask &= hit
            else:
                has = self.plain(col).str.contains(value.lower(), regex=False).fillna(False).to_numpy(dtype=bool)
                mask &= has if op == "~" else ~has
        return mask


def _rule_mask(gdf: pd.DataFrame, rule: str, sep: str = ";") -> np.ndarray:
    """Rows of ``gdf`` matching one rule (OSM tag columns by default: values listed with ``;``)."""
    return _Cells(gdf, sep).mask(rule)


def match_rules(gdf: pd.DataFrame, rules: Iterable[tuple[str, str]], *, sep: str = ";",
                aliases: Mapping[str, Iterable[str]] | None = None, cells: _Cells | None = None) -> pd.DataFrame:
    """Every (row, category) that ``rules`` place, each with the first rule (in order) that placed it.

    Parameters
    ----------
    gdf : DataFrame
        The layer; its columns are what the rule keys name.
    rules : iterable of (category, rule)
        In order of preference (see :func:`parse_rule` for the rule language).
    sep : str
        How a cell lists several values (``";"`` in OSM tags, ``"|"`` in Amap codes, ``""`` for none).
    aliases : mapping of str to list of str, optional
        Columns that may hold a key, the first present winning (``typecode``: ``["typecode", "类型编码"]``).
    cells : optional
        The layer already prepared (its ``sep`` and ``aliases``), shared with other rule sets.

    Returns
    -------
    DataFrame
        :data:`MATCH_COLUMNS`: ``row`` (position in ``gdf``), ``category``, ``rule``; sorted by row.

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["pharmacy", "clinic"], "healthcare": [None, "centre"]})
    >>> m = match_rules(tags, [("pharmacy", "amenity=pharmacy"), ("health", "amenity=clinic"),
    ...                        ("health", "healthcare=centre")])
    >>> m.values.tolist()  # the clinic is a health centre too: the first rule is the one reported
    [[0, 'pharmacy', 'amenity=pharmacy'], [1, 'health', 'amenity=clinic']]
    """
    cells = cells or _Cells(gdf, sep, aliases)
    placed: dict[str, np.ndarray] = {}
    rows, cats, used, order = [], [], [], []
    for i, (cat, rule) in enumerate(rules):
        done = placed.setdefault(cat, np.zeros(cells.n, dtype=bool))
        new = cells.mask(rule) & ~done
        done |= new
        idx = np.flatnonzero(new)
        rows.append(idx)
        cats.append(np.full(len(idx), cat, dtype=object))
        used.append(np.full(len(idx), rule, dtype=object))
        order.append(np.full(len(idx), i))
    return _matches(rows, cats, used, order)


def _matches(rows: list, cats: list, used: list, order: list | None = None) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({"row": np.array([], dtype=np.int64), "category": pd.Series([], dtype=object),
                             "rule": pd.Series([], dtype=object)})
    r = np.concatenate(rows).astype(np.int64)
    o = np.concatenate(order) if order is not None else np.zeros(len(r))
    keep = np.lexsort((o, r))
    return pd.DataFrame({"row": r[keep], "category": np.concatenate(cats)[keep],
                         "rule": np.concatenate(used)[keep]}).reset_index(drop=True)


def categories_by_row(matches: pd.DataFrame, index: pd.Index) -> pd.Series:
    """The matches as one value per row of the layer: categories joined with ``;``, NA for none.

    Examples
    --------
    >>> m = pd.DataFrame({"row": [0, 0], "category": ["a", "b"], "rule": ["x", "y"]})
    >>> categories_by_row(m, pd.RangeIndex(2)).tolist()
    ['a;b', <NA>]
    """
    out = np.full(len(index), None, dtype=object)
    if len(matches):
        rows = matches["row"].to_numpy()
        cats = matches["category"].to_numpy(dtype=object)
        n = np.bincount(rows, minlength=len(index))
        single = n[rows] == 1
        # most features match one category: assigned at once; only the others are joined
        out[rows[single]] = cats[single]
        for r, group in pd.Series(cats[~single]).groupby(rows[~single], sort=True):
            out[r] = ";".join(group)
    return pd.Series(out, index=index, dtype="string")


@cache
def school_level_rules() -> dict[str, Any]:
    """The school-name rules of ``data/school_levels.toml`` (checked against the categories)."""
    raw = data_toml("school_levels.toml")
    known = categories()
    rules = []
    for r in raw["rules"]:
        bad = set(r["categories"]) - set(known)
        if bad:
            raise InputError(f"unknown categories {sorted(bad)} in school_levels.toml", source="school_levels.toml",
                             field="rules.categories", fix=f"use: {', '.join(known)}")
        rules.append((tuple(w.lower() for w in r["words"]), tuple(r["categories"])))
    return {"applies_to": raw["applies_to"], "name_keys": tuple(raw["name_keys"]), "rules": tuple(rules)}


def _level_word(name: str) -> tuple[tuple[str, ...], str]:
    low = name.lower()
    best, best_end, best_len, word = (), -1, 0, ""
    for words, cats in school_level_rules()["rules"]:
        for w in words:
            pos = low.rfind(w)
            if pos < 0:
                continue
            end = pos + len(w)
            # the level word closest to the end of the name; among words ending together, the longer
            if end > best_end or (end == best_end and len(w) > best_len):
                best, best_end, best_len, word = cats, end, len(w), w
    return best, word


def level_from_name(name: str) -> tuple[str, ...]:
    """Categories a school name states (``()`` when it does not say).

    Parameters
    ----------
    name : str
        The school's name, in Chinese or English.

    Returns
    -------
    tuple of str
        Category names of ``data/categories.toml``; the word of
        ``data/school_levels.toml`` ending last in the name decides.

    Examples
    --------
    >>> level_from_name("上海市第一小学")
    ('primary_school',)
    >>> level_from_name("复旦大学附属中学")
    ('middle_school',)
    >>> level_from_name("某某学校")
    ()
    """
    return _level_word(name)[0]


def _school_categories(rules: Iterable[tuple[str, str]] = (), applies: str | None = None) -> set[str]:
    """Categories a school is placed in: by the name rules, or by rules refining ``applies``."""
    cfg = school_level_rules()
    applies = cfg["applies_to"] if applies is None else applies
    tagged = {c for c, r in rules if applies and r.startswith(applies)}
    return tagged | {c for _, cats in cfg["rules"] for c in cats}


def _name_levels(cells: _Cells, applies: str, name_keys: Iterable[str], wanted: Iterable[str],
                 placed: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Schools (rows of ``applies``) no rule placed and no level tag gives, placed by the level their name states.

    Returns their matches (rule ``<applies>&name~<word>``) and the rows whose name says no level.
    """
    schools = cells.mask(applies) & ~placed
    if "isced:level" in cells.gdf.columns:
        schools &= cells.gdf["isced:level"].isna().to_numpy()
    names = pd.Series(pd.NA, index=pd.RangeIndex(cells.n), dtype="string")
    name_col = None
    for key in name_keys:
        col = cells.column(key)
        if col is not None:
            names = names.fillna(cells.text(col))
            name_col = name_col or key
    wanted = set(wanted)
    said = np.zeros(cells.n, dtype=bool)
    rows, cats, used = [], [], []
    for i in np.flatnonzero(schools & names.notna().to_numpy()):
        levels, word = _level_word(str(names.iloc[i]))
        said[i] = bool(levels)
        for c in levels:
            if c in wanted:
                rows.append(np.array([i]))
                cats.append(np.array([c], dtype=object))
                used.append(np.array([f"{applies}&{name_col}~{word}"], dtype=object))
    return _matches(rows, cats, used), schools & ~said


def match_osm(gdf: pd.DataFrame, only: Iterable[str] | None = None, *,
              catalogue: Mapping[str, Category] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Every category each OSM feature's tags place it in, with the rule, and the schools of unknown level.

    A feature matching the tag rules of several categories is in each (an
    ``amenity=community_centre`` with ``social_facility=day_care`` is a
    community centre and elderly care). Schools that no tag rule places and
    that have no ``isced:level`` are then placed by their name
    (``data/school_levels.toml``): a school of two levels (九年一贯制) gets both.

    Parameters
    ----------
    gdf : DataFrame
        One column per OSM tag (as from :func:`toolkit.osm.read_osm_features`).
    only : iterable of str, optional
        Categories to look for; all of ``catalogue`` by default.
    catalogue : mapping of str to Category, optional
        The categories known to the run (:attr:`toolkit.standards.Profile.catalogue`);
        the built-in ones of ``data/categories.toml`` by default.

    Returns
    -------
    matches : DataFrame
        ``row``, ``category``, ``rule`` (see :func:`match_rules`); a school placed by
        its name has the rule ``amenity=school&name~小学``.
    unknown : ndarray of bool
        Schools whose level neither the tags nor the name give ("school, level
        unknown"); none when no school category is looked for.

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["school", "pharmacy"], "name": ["第一小学", None]})
    >>> match_osm(tags)[0].values.tolist()
    [[0, 'primary_school', 'amenity=school&name~小学'], [1, 'pharmacy', 'amenity=pharmacy']]
    """
    cats = catalogue if catalogue is not None else categories()
    wanted = [c for c in (list(only) if only is not None else list(cats)) if c in cats]
    rules = [(c, r) for c in wanted for r in cats[c].osm]
    cells = _Cells(gdf, ";")
    matches = match_rules(gdf, rules, cells=cells)
    unknown = np.zeros(len(gdf), dtype=bool)
    cfg = school_level_rules()
    school_cats = _school_categories(rules)
    if len(gdf) and school_cats & set(wanted):
        placed = np.zeros(len(gdf), dtype=bool)
        placed[matches.loc[matches["category"].isin(school_cats), "row"].to_numpy()] = True
        named, unknown = _name_levels(cells, cfg["applies_to"], cfg["name_keys"], wanted, placed)
        matches = _matches([matches["row"].to_numpy(), named["row"].to_numpy()],
                           [matches["category"].to_numpy(), named["category"].to_numpy()],
                           [matches["rule"].to_numpy(), named["rule"].to_numpy()],
                           [np.zeros(len(matches)), np.ones(len(named))])
    return matches, unknown


def classify_osm(gdf: pd.DataFrame, only: Iterable[str] | None = None, *,
                 catalogue: Mapping[str, Category] | None = None) -> pd.Series:
    """Categories of each OSM feature from its tags (every matching one, joined with ``;``), NA if none.

    The one-value-per-feature view of :func:`match_osm` (which also gives the
    rule of each match): schools that no tag rule places and that have no
    ``isced:level`` are placed by their name (``data/school_levels.toml``); a
    school of two levels (九年一贯制, or ``isced:level=1;2``) gets both, and
    :func:`facilities_from` makes one facility of each.

    Parameters
    ----------
    gdf : DataFrame
        One column per OSM tag (as from :func:`toolkit.osm.read_osm_features`).
    only : iterable of str, optional
        Categories to look for; all of ``catalogue`` by default.
    catalogue : mapping of str to Category, optional
        The categories known to the run (a study's own added,
        :attr:`toolkit.standards.Profile.catalogue`); the built-in ones of
        ``data/categories.toml`` by default.

    Returns
    -------
    Series of str
        Category names (``"a;b"`` for two), NA where nothing matched.

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["school", "school", "pharmacy"], "name": ["第一小学", "某某学校", None]})
    >>> classify_osm(tags).tolist()
    ['primary_school', <NA>, 'pharmacy']
    """
    return categories_by_row(match_osm(gdf, only, catalogue=catalogue)[0], gdf.index)


def unknown_school_levels(gdf: pd.DataFrame, category: pd.Series, only: Iterable[str] | None = None) -> np.ndarray:
    """Schools whose level neither the tags nor the name give ("school, level unknown").

    Parameters
    ----------
    gdf : DataFrame
        OSM features, one column per tag.
    category : Series
        :func:`classify_osm` of ``gdf``.
    only : iterable of str, optional
        The categories looked for; without a school category among them no
        school is reported.

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> tags = pd.DataFrame({"amenity": ["school", "school"], "name": ["第一小学", "某某学校"]})
    >>> unknown_school_levels(tags, classify_osm(tags)).tolist()
    [False, True]
    """
    wanted = set(only) if only is not None else set(categories())
    school_cats = _school_categories([(c.name, r) for c in categories().values() for r in c.osm])
    if not len(gdf) or not (school_cats & wanted):
        return np.zeros(len(gdf), dtype=bool)
    cfg = school_level_rules()
    cells = _Cells(gdf, ";")
    placed = np.array([pd.notna(v) and bool(set(str(v).split(";")) & school_cats) for v in category], dtype=bool)
    return _name_levels(cells, cfg["applies_to"], cfg["name_keys"], wanted, placed)[1]


def classify_field(gdf: pd.DataFrame, field: str, mapping: dict[str, str] | None = None,
                   only: Iterable[str] | None = None, source: str = "", *,
                   catalogue: Mapping[str, Category] | None = None) -> pd.Series:
    """Category of each row from a type column (e.g. ``landuse_type``).

    ``mapping`` maps values to categories; without it, each category's
    ``landuse`` list in ``catalogue`` (the run's categories, the built-in
    ones of ``categories.toml`` by default) is used.

    Examples
    --------
    >>> classify_field(pd.DataFrame({"landuse_type": ["park", "water"]}), "landuse_type").tolist()
    ['park', <NA>]
    """
    if field not in gdf.columns:
        raise InputError(f"type column {field!r} not found", source=source, field=field,
                         fix=f"use one of: {', '.join(map(str, gdf.columns))}")
    cats = catalogue if catalogue is not None else categories()
    if mapping is None:
        mapping = {v: c.name for c in cats.values() for v in c.landuse}
    unknown = set(mapping.values()) - set(cats)
    if unknown:
        raise InputError(f"unknown categories in the mapping: {', '.join(sorted(unknown))}", source=source,
                         field="map", fix=f"use: {', '.join(cats)}")
    cat = gdf[field].astype("string").map(mapping).astype("string")
    if only is not None:
        cat = cat.where(cat.isin(list(only)))
    return cat


# ------------------------------------------------------ source-format tables
#: Keys of a classifier table's ``[classifier]`` header (see ``data/classifiers/geofabrik.toml``).
_HEADER_KEYS = {"kind", "title", "source", "column", "aliases", "separator", "crs", "require_crs", "name_column",
                "id_column", "school_rule"}


@dataclass(frozen=True)
class Classifier:
    """A source format's mapping table: which rows of an export are which facility category.

    Built by :func:`load_classifier` from ``data/classifiers/<kind>.toml`` or a
    user table of the same shape. ``rules`` are ``(category, rule, source)``
    in order of preference; see :func:`parse_rule` for the rule language.
    """

    kind: str
    path: str
    title: str = ""
    source: str = ""
    column: str = ""
    aliases: dict[str, tuple[str, ...]] = dc_field(default_factory=dict, hash=False)
    separator: str = ""
    crs: str | None = None
    require_crs: bool = False
    name_column: str = "name"
    id_column: str | None = None
    school_rule: str = ""
    rules: tuple[tuple[str, str, str], ...] = ()

    def rules_for(self, wanted: Iterable[str], catalogue: Mapping[str, Category] | None = None
                  ) -> list[tuple[str, str, str]]:
        """The table's rules of the ``wanted`` categories, then those the catalogue's ``match`` adds.

        A category's ``match`` (``data/categories.toml``, or a study's own
        category) gives, for this source kind, type values (a Geofabrik
        ``fclass``; an Amap typecode prefix such as ``"0901"`` or a type
        string; a Baidu tag prefix) and under ``name`` words the name must also
        contain; with no type values for this kind the name words alone decide.

        Examples
        --------
        >>> amap = load_classifier("amap")
        >>> amap.rules_for(["pharmacy"])[0][:2]
        ('pharmacy', 'typecode=090601')
        >>> canteen = Category("canteen", "Elderly canteen", "长者食堂",
        ...                    match={"amap": ("0700",), "name": ("长者食堂",)})
        >>> amap.rules_for(["canteen"], {"canteen": canteen})[0][:2]
        ('canteen', 'typecode^=0700&name~长者食堂')
        """
        cats = catalogue if catalogue is not None else categories()
        wanted = [c for c in wanted if c in cats]
        out = [r for r in self.rules if r[0] in wanted]
        have = {(c, r) for c, r, _ in out}
        for c in wanted:
            for rule in self._catalogue_rules(cats[c]):
                if (c, rule) not in have:
                    have.add((c, rule))
                    origin = getattr(cats[c], "origin", "built-in")
                    where = "data/categories.toml" if origin == "built-in" else origin
                    out.append((c, rule, f"{where}: [categories.{c}] match"))
        return out

    def _catalogue_rules(self, cat: Category) -> list[str]:
        match = getattr(cat, "match", None) or {}
        types, words = match.get(self.kind, ()), match.get("name", ())
        if not types and not words:
            return []
        firsts = [self._type_rule(v) for v in types] or [""]
        names = [f"{self.name_column}~{w}" for w in words] or [""]
        return ["&".join(p for p in (t, n) if p) for t in firsts for n in names]

    def _type_rule(self, value: str) -> str:
        if any(op in value for op in _OPS):
            return value  # already a rule
        if self.kind == "amap":
            # digits: a typecode prefix ("0901": 090100-090102, every 综合医院 class); else words of the type path
            return f"{self.column}^={value}" if value.isdigit() else f"type~{value}"
        if self.kind == "baidu":
            return f"{self.column}^={value}"
        return f"{self.column}={value}"


def classifier_kinds() -> list[str]:
    """Source kinds with a bundled mapping table (``data/classifiers/*.toml``).

    Examples
    --------
    >>> classifier_kinds()
    ['amap', 'baidu', 'geofabrik']
    """
    return sorted(p.stem for p in (data_dir() / "classifiers").glob("*.toml"))


def load_classifier(kind: str | None = None, path: str | os.PathLike | None = None, *,
                    catalogue: Mapping[str, Category] | None = None) -> Classifier:
    """The mapping table of a source kind, or a user's table (its missing header keys taken from the kind's).

    Parameters
    ----------
    kind : str, optional
        ``"geofabrik"``, ``"amap"``, ``"baidu"`` (:func:`classifier_kinds`).
    path : path-like, optional
        A user table of the same shape as ``data/classifiers/<kind>.toml``; its
        rules replace the bundled ones.
    catalogue : mapping of str to Category, optional
        Categories a user table's rules may name (the run's catalogue, with a
        study's own); the built-in ones by default, and always for a bundled table.

    Returns
    -------
    Classifier

    Raises
    ------
    InputError
        For an unknown kind, a missing or malformed table, or a rule naming an
        unknown category.

    Examples
    --------
    >>> t = load_classifier("geofabrik")
    >>> t.column, t.rules[0][:2]
    ('fclass', ('kindergarten', 'fclass=kindergarten'))
    """
    kinds = classifier_kinds()
    if kind is None and path is None:
        raise InputError("no classifier kind or table given", field="kind", fix=f"use one of: {', '.join(kinds)}")
    if kind is not None and kind not in kinds and path is None:
        raise InputError(f"no mapping table for source kind {kind!r}", field="kind",
                         fix=f"use one of: {', '.join(kinds)}, or give your own with table = 'my_table.toml'")
    base: dict[str, Any] = {}
    if kind in kinds:
        base = _read_table(data_dir() / "classifiers" / f"{kind}.toml")
    raw = _read_table(Path(path)) if path is not None else base
    where = str(path) if path is not None else f"data/classifiers/{kind}.toml"
    head = {**base.get("classifier", {}), **raw.get("classifier", {})}
    bad = set(head) - _HEADER_KEYS
    if bad:
        raise InputError(f"unknown key(s) {', '.join(sorted(bad))} in [classifier]", source=where,
                         field="classifier", fix=f"use: {', '.join(sorted(_HEADER_KEYS))}")
    # kind or path is given (checked above): the table's file name stands in for a missing kind
    default_kind = kind if kind or path is None else Path(path).stem
    kind = str(head.get("kind", default_kind))
    # a bundled table names built-in categories; a user's may name the run's own too
    cats = catalogue if catalogue is not None and path is not None else categories()
    column = str(head.get("column", ""))
    rules = []
    for cat, table in raw.get("rules", {}).items():
        if cat not in cats:
            close = difflib.get_close_matches(cat, list(cats), n=1)
            raise InputError(f"the mapping table names an unknown category {cat!r}", source=where,
                             field=f"rules.{cat}", fix=f"use one of: {', '.join(cats)}"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise InputError(f"[rules.{cat}] must map each rule to its source", source=where, field=f"rules.{cat}",
                             fix='e.g. "typecode=090601" = "090601 医疗保健服务;医药保健销售店;药房"')
        for rule, src in table.items():
            parts = parse_rule(rule)
            if any(not k for k, _, _ in parts) or any(op and not v for _, op, v in parts):
                raise InputError(f"cannot read the rule {rule!r}", source=where, field=f"rules.{cat}",
                                 fix="write key=value, key^=prefix, key~word or key!~word, parts joined with &")
            # a bare value is a value of the table's column (the OSM meaning, 'key is present', needs a key)
            rule = "&".join(f"{column}={k}" if not op and column else (f"{k}{op}{v}" if op else k)
                            for k, op, v in parts)
            rules.append((cat, rule, src))
    aliases = {str(k): tuple(v) if isinstance(v, list | tuple) else (str(v),)
               for k, v in head.get("aliases", {}).items()}
    return Classifier(kind=kind, path=where, title=str(head.get("title", "")), source=str(head.get("source", "")),
                      column=column, aliases=aliases, separator=str(head.get("separator", "")),
                      crs=head.get("crs"), require_crs=bool(head.get("require_crs", False)),
                      name_column=str(head.get("name_column", "name")), id_column=head.get("id_column"),
                      school_rule=str(head.get("school_rule", "")), rules=tuple(rules))


def _read_table(p: Path) -> dict[str, Any]:
    if not p.exists():
        raise InputError("mapping table not found", source=str(p), field="table",
                         fix="check the path of table = '...' (relative to the study file)")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"cannot read the mapping table: {exc}", source=str(p), field="table",
                         fix="check the TOML syntax; rules are quoted keys: \"fclass=pharmacy\" = \"2101 pharmacy\"") \
            from None


def require_declared_crs(classifier: Classifier, declared: Any, *, source: str) -> None:
    """Refuse a source of a format published in a shifted datum (GCJ-02, BD-09) that declares no CRS.

    A CSV export carries no CRS; read as WGS84, an Amap export lands about
    500 m off and a Baidu one about 1 km off, with nothing to show for it.

    Examples
    --------
    >>> require_declared_crs(load_classifier("amap"), "gcj02", source="pois.csv")
    >>> require_declared_crs(load_classifier("geofabrik"), None, source="pois.shp")
    """
    if classifier.require_crs and declared is None:
        raise InputError(f"a {classifier.kind} export needs its CRS declared", source=source, field="crs",
                         fix=f"add crs = '{classifier.crs}' to the source ({classifier.title}); crs = 'EPSG:4326' "
                         "if it was converted to WGS84 already")


class Classified(NamedTuple):
    """The classification of one layer (:func:`classify_source`)."""

    matches: pd.DataFrame
    #: rows of a school rule whose level neither a rule nor the name gives
    unknown_level: np.ndarray
    #: the rule that selects the layer's schools ("" when the format has none)
    school_rule: str = ""
    name_field: str | None = None
    id_field: str | None = None
    #: the mapping table used (kind, table, title, source, rules), for the run's report
    classifier: dict[str, Any] | None = None


def classify_table(gdf: pd.DataFrame, classifier: Classifier, only: Iterable[str] | None = None, *,
                   field: str | None = None, catalogue: Mapping[str, Category] | None = None,
                   source: str = "") -> Classified:
    """Classify an export (Geofabrik shapefile, Amap or Baidu table) with its mapping table.

    Parameters
    ----------
    gdf : DataFrame
        The export as read (:func:`toolkit.io.read_layer`).
    classifier : Classifier
        From :func:`load_classifier`.
    only : iterable of str, optional
        Categories to look for; every category of the catalogue by default.
    field : str, optional
        The column holding the table's type values, when the export names it
        otherwise (``field = "detail_info.tag"``).
    catalogue : mapping of str to Category, optional
        The run's categories; the built-in ones by default.
    source : str
        The source's label, for errors.

    Returns
    -------
    Classified
        ``matches`` (``row``, ``category``, ``rule``: one per feature and
        category, a feature of two categories in both) and the schools of
        unknown level.

    Examples
    --------
    >>> pois = pd.DataFrame({"typecode": ["090601|090300", "050100"], "name": ["大药房", "饭店"]})
    >>> classify_table(pois, load_classifier("amap"), ["health", "pharmacy"]).matches.values.tolist()
    [[0, 'health', 'typecode=090300'], [0, 'pharmacy', 'typecode=090601']]
    """
    cats = catalogue if catalogue is not None else categories()
    wanted = [c for c in (list(only) if only is not None else list(cats)) if c in cats]
    aliases = dict(classifier.aliases)
    if field is not None:
        if field not in gdf.columns:
            raise InputError(f"type column {field!r} not found", source=source, field="field",
                             fix=f"use one of: {', '.join(map(str, gdf.columns))}")
        aliases[classifier.column] = (field,)
    cells = _Cells(gdf, classifier.separator, aliases)
    if len(gdf) and classifier.column and cells.column(classifier.column) is None:
        names = ", ".join(aliases.get(classifier.column, (classifier.column,)))
        raise InputError(f"no {classifier.column} column: this does not look like a {classifier.kind} export",
                         source=source, field="field",
                         fix=f"name the column holding it with field = '...' (looked for {names}); "
                         f"columns are: {', '.join(map(str, gdf.columns[:30]))}")
    rules = [(c, r) for c, r, _ in classifier.rules_for(wanted, cats)]
    matches = match_rules(gdf, rules, cells=cells)
    unknown = np.zeros(len(gdf), dtype=bool)
    school_cats = _school_categories(rules, classifier.school_rule)
    if len(gdf) and classifier.school_rule and school_cats & set(wanted):
        placed = np.zeros(len(gdf), dtype=bool)
        placed[matches.loc[matches["category"].isin(school_cats), "row"].to_numpy()] = True
        named, unknown = _name_levels(cells, classifier.school_rule, (classifier.name_column,), wanted, placed)
        matches = _matches([matches["row"].to_numpy(), named["row"].to_numpy()],
                           [matches["category"].to_numpy(), named["category"].to_numpy()],
                           [matches["rule"].to_numpy(), named["rule"].to_numpy()],
                           [np.zeros(len(matches)), np.ones(len(named))])
    id_field = cells.column(classifier.id_column) if classifier.id_column else None
    about = {"kind": classifier.kind, "table": classifier.path, "title": classifier.title,
             "source": classifier.source, "rules": len(rules)}
    return Classified(matches, unknown, classifier.school_rule, cells.column(classifier.name_column), id_field,
                      about)


# PLR0913 waived: the keyword options of a [[facilities]] source, one per study key (notebook API)
def classify_source(raw: pd.DataFrame, kind: str, *, only: Iterable[str] | None = None, field: str | None = None,  # noqa: PLR0913
                    mapping: dict[str, str] | None = None, category: str | None = None, table: str | None = None,
                    catalogue: Mapping[str, Category] | None = None, source: str = "") -> Classified:
    """Classify one facility source by its kind: ``osm`` tags, a type ``field``, one ``fixed`` category or a table.

    Parameters
    ----------
    raw : DataFrame
        The source as read.
    kind : str
        ``"osm"``, ``"field"``, ``"fixed"`` or a :func:`classifier_kinds` name
        (``"geofabrik"``, ``"amap"``, ``"baidu"``).
    only, field, mapping, category, table, catalogue, source
        As in the ``[[facilities]]`` entry: categories looked for, the type
        column, a value-to-category map (``field``), the one category
        (``fixed``), a user mapping table (table kinds), the run's categories
        and the source's label.

    Returns
    -------
    Classified

    Examples
    --------
    >>> g = pd.DataFrame({"fclass": ["pharmacy", "bench"], "name": ["药房", None]})
    >>> classify_source(g, "geofabrik").matches["rule"].tolist()
    ['fclass=pharmacy']
    """
    if kind == "osm":
        matches, unknown = match_osm(raw, only, catalogue=catalogue)
        return Classified(matches, unknown, school_level_rules()["applies_to"])
    if kind == "field":
        cat = classify_field(raw, field or "", mapping, only, source=source, catalogue=catalogue)
        ok = np.flatnonzero(cat.notna().to_numpy())
        values = raw[field].astype("string").to_numpy()[ok] if field else np.array([], dtype=object)
        return Classified(_matches([ok], [cat.to_numpy()[ok].astype(object)],
                                   [np.array([f"{field}={v}" for v in values], dtype=object)]),
                          np.zeros(len(raw), dtype=bool))
    if kind == "fixed":
        n = len(raw)
        return Classified(_matches([np.arange(n)], [np.full(n, category, dtype=object)],
                                   [np.full(n, "fixed", dtype=object)]), np.zeros(n, dtype=bool))
    return classify_table(raw, load_classifier(kind, table, catalogue=catalogue), only, field=field,
                          catalogue=catalogue, source=source)


# ------------------------------------------------------------------ schema
def _osm_type(g: pd.DataFrame, sid: str | None) -> pd.Series:
    if "osm_type" in g.columns:
        return g["osm_type"].astype("string")
    if sid is not None:
        # Overpass GeoJSON ids read "way/123"
        t = g[sid].astype("string").str.extract(r"^(node|way|relation)/", expand=False)
        return t.astype("string")
    return pd.Series(pd.NA, index=g.index, dtype="string")


def facilities_from(gdf: gpd.GeoDataFrame, category: pd.Series | pd.DataFrame | str, *, source: str,
                    name_field: str | None = None, id_field: str | None = None,
                    capacity_field: str | None = None) -> gpd.GeoDataFrame:
    """Normalise a classified layer into the facilities schema: one row per (feature, category).

    Points stay points and polygons stay polygons (an area is reached at its
    edge, see :func:`access_points`); lines and other shapes are represented by
    a point on them.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer as read.
    category : DataFrame, Series or str
        The matches of a classifier (``row``, ``category``, ``rule``, as from
        :func:`classify_source`); or one category per row (``"a;b"`` for two,
        NA for none: the rule is then unknown); or one category for every row
        (rule ``fixed``).
    source : str
        The source's label (``dataset:<name>`` or the path).
    name_field, id_field : str, optional
        Columns of the name and of the source's own id; found by their usual
        names when omitted.
    capacity_field : str, optional
        The column of each facility's capacity (beds, places): read into
        ``capacity`` by :func:`toolkit.provision.parse_capacity` (NaN where
        blank or unreadable, those rows named in a DataWarning).

    Returns
    -------
    GeoDataFrame
        ``category``, ``name``, ``source``, ``source_id``, ``rule``,
        ``osm_type``, ``entrances`` and the geometry, in the layer's CRS.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:32651")
    >>> facilities_from(g, "park", source="demo").geom_type.tolist()
    ['Polygon']
    >>> m = pd.DataFrame({"row": [0, 0], "category": ["park", "sports"], "rule": ["leisure=park", "sport=yes"]})
    >>> facilities_from(g, m, source="demo")[["category", "rule"]].values.tolist()
    [['park', 'leisure=park'], ['sports', 'sport=yes']]
    """
    if isinstance(category, pd.DataFrame):
        m = category
    else:
        cat = category if isinstance(category, pd.Series) else pd.Series(category, index=gdf.index)
        ok = np.flatnonzero(cat.notna().to_numpy())
        # a school of two levels is a facility of each
        parts = [str(v).split(";") for v in cat.to_numpy()[ok]]
        rule = "fixed" if isinstance(category, str) else None
        m = pd.DataFrame({"row": np.repeat(ok, [len(p) for p in parts]).astype(np.int64),
                          "category": [c for p in parts for c in p], "rule": rule})
    g = gdf.iloc[m["row"].to_numpy()].reset_index(drop=True)
    if name_field is None:
        name_field = next((c for c in ("name", "name:zh", "title", "nameS", "名称") if c in g.columns), None)
    names = g[name_field].astype("string") if name_field else pd.Series(pd.NA, index=g.index, dtype="string")
    sid = id_field if id_field in g.columns else next((c for c in ("osmid", "@id", "osm_id", "id", "uid")
                                                        if c in g.columns), None)
    geom = np.asarray(g.geometry.values).copy()
    tid = shapely.get_type_id(geom)
    other = (tid != 0) & ~np.isin(tid, _AREA_TYPES) & ~shapely.is_missing(geom)
    geom[other] = shapely.point_on_surface(geom[other])
    entrances = g["entrances"] if "entrances" in g.columns else pd.Series(None, index=g.index, dtype=object)
    extra = {}
    if capacity_field is not None:
        extra["capacity"] = _capacity(gdf, capacity_field, source)[m["row"].to_numpy()]
    return gpd.GeoDataFrame({
        "category": m["category"].astype(str).to_numpy(),
        "name": names,
        "source": source,
        "source_id": g[sid].astype(str) if sid else pd.Series(m["row"].astype(str).to_numpy(), index=g.index),
        "rule": pd.array(m["rule"].to_numpy(), dtype="string"),
        "osm_type": _osm_type(g, sid),
        "entrances": entrances.astype(object),
        **extra,
    }, geometry=gpd.GeoSeries(geom, index=g.index, crs=gdf.crs), crs=gdf.crs)


#: ``capacity = "count"`` on a facility source: every facility counts one unit of supply (no capacity column)
COUNT_CAPACITY = "count"


def _capacity(gdf: pd.DataFrame, field: str, source: str) -> np.ndarray:
    """The capacity column of a facility layer as numbers; a missing column is an InputError, bad rows a warning."""
    from .io import DataWarning, column_hint
    from .provision import parse_capacity

    if field == COUNT_CAPACITY and field not in gdf.columns:
        # no capacity data: each facility is one unit of supply (the facility-count 2SFCA)
        return np.ones(len(gdf), dtype=float)
    if field not in gdf.columns:
        hint = column_hint(field, gdf.columns)
        raise InputError(f"capacity column {field!r} not found" + (f" ({hint})" if hint else ""), source=source,
                         field="facilities.capacity", fix=f"use one of: {', '.join(map(str, gdf.columns[:30]))}")
    cap, bad = parse_capacity(gdf[field], source=source, field=f"facilities.capacity ({field})")
    if bad:
        import warnings

        rows = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
        warnings.warn(f"{source}: {len(bad)} rows of the capacity column {field!r} hold no capacity (text without "
                      f"a number, or negative): rows {rows}; their capacity is unknown and adds nothing to provision",
                      DataWarning, stacklevel=3)
    return cap


def combine(parts: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Concatenate facility layers, project them, number them and measure the areas (``area_m2``)."""
    projected = []
    for p in parts:
        if not len(p):
            continue
        q = p.to_crs(crs)
        if "entrances" in q.columns:
            # a second geometry column: to_crs moves only the active one
            q["entrances"] = np.asarray(gpd.GeoSeries(p["entrances"].to_numpy(), index=p.index, crs=p.crs)
                                        .to_crs(crs).values, dtype=object)
        projected.append(q)
    if not projected:
        cols: dict[str, list[Any]] = {c: [] for c in FACILITY_COLUMNS[:-1]}
        return gpd.GeoDataFrame(cols, geometry=[], crs=crs)
    fac = pd.concat(projected, ignore_index=True)
    fac.insert(0, "facility_id", np.arange(1, len(fac) + 1))
    fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=crs)
    geom = np.asarray(fac.geometry.values)
    is_area = np.isin(shapely.get_type_id(geom), _AREA_TYPES)
    fac["area_m2"] = np.where(is_area, np.round(shapely.area(geom), 1), np.nan)
    if "entrances" not in fac.columns:
        fac["entrances"] = None
    return fac[[c for c in FACILITY_COLUMNS if c in fac.columns]
               + [c for c in fac.columns if c not in FACILITY_COLUMNS]]


# ------------------------------------------------------------------ access
def _street_edges(net) -> tuple[np.ndarray, shapely.STRtree]:
    """The edges points may attach to and a tree over them: the ones :func:`snap_points` uses."""
    if hasattr(net, "snap_edges") and hasattr(net, "snap_edge_tree"):
        return net.snap_edges(), net.snap_edge_tree()
    ok = getattr(net, "snappable", None)
    ok = np.ones(net.n_edges, dtype=bool) if ok is None else np.asarray(ok, dtype=bool).copy()
    if net.snap_main_only:
        ok &= net.component[net.u] == 0
    if not ok.any():
        ok[:] = True
    idx = np.flatnonzero(ok)
    return idx, shapely.STRtree(net.edge_geometry[idx])


def access_points(facilities: gpd.GeoDataFrame, net, spacing_m: float = ACCESS_SPACING_M,
                  max_street_m: float = ACCESS_MAX_STREET_M) -> gpd.GeoDataFrame:
    """The points each facility is entered at from the street.

    * a point facility: itself (``kind="point"``; lines: a point on them);
    * an area with mapped entrances (an ``entrances`` MultiPoint, as
      :func:`toolkit.osm.read_osm_features` gives): those (``"entrance"``);
    * any other area: the points of its boundary, every ``spacing_m`` and at
      each corner, that lie within ``max_street_m`` of a street points may
      attach to (``net.snappable``: no tunnels or private ways) — the GHSCI
      "pseudo entrances" (``"boundary"``);
    * an area none of whose boundary points is that near a street: the
      boundary point nearest the network (``"nearest_boundary"``).

    Parameters
    ----------
    facilities : GeoDataFrame
        In the network's CRS, with ``facility_id`` (positions 1..n when
        absent) and optionally ``category`` and ``entrances``.
    net : WalkNetwork
    spacing_m : float
        Largest gap between boundary points.
    max_street_m : float
        How near a street a boundary point must lie.

    Returns
    -------
    GeoDataFrame
        One row per access point: ``facility_id``, ``category`` (when the
        facilities have one), ``kind`` and the point, in the facilities' order.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> park = gpd.GeoDataFrame({"facility_id": [1]}, geometry=[shapely.box(10, 10, 90, 90)], crs=net.crs)
    >>> access_points(park, net, max_street_m=15)["kind"].unique().tolist()
    ['boundary']
    """
    n = len(facilities)
    ids = facilities["facility_id"].to_numpy() if "facility_id" in facilities else np.arange(1, n + 1)
    geo = np.asarray(facilities.geometry.values)
    tid = shapely.get_type_id(geo)
    is_area = np.isin(tid, _AREA_TYPES) & ~shapely.is_empty(geo)
    pos_parts, geom_parts, kind_parts = [], [], []

    def add(pos: np.ndarray, g: np.ndarray, kind: str) -> None:
        pos_parts.append(np.asarray(pos, dtype=np.int64))
        geom_parts.append(np.asarray(g, dtype=object))
        kind_parts.append(np.full(len(pos), kind, dtype=object))

    pt = np.flatnonzero(~is_area & ~shapely.is_missing(geo) & ~shapely.is_empty(geo))
    g = geo[pt].copy()
    nonpoint = shapely.get_type_id(g) != 0
    g[nonpoint] = shapely.point_on_surface(g[nonpoint])
    add(pt, g, "point")

    ent = facilities["entrances"].to_numpy(dtype=object) if "entrances" in facilities else np.full(n, None)
    ent_ok = np.array([e is not None and not (isinstance(e, float) and np.isnan(e)) and not shapely.is_empty(e)
                       for e in ent], dtype=bool) & is_area
    if ent_ok.any():
        ep = np.flatnonzero(ent_ok)
        parts = shapely.get_parts(ent[ep], return_index=True)
        add(ep[parts[1]], parts[0], "entrance")

    todo = np.flatnonzero(is_area & ~ent_ok)
    if len(todo):
        edges, tree = _street_edges(net)
        rings = shapely.boundary(geo[todo])
        # segmentize keeps every corner and adds points so none is more than spacing_m from the next
        coords, which = shapely.get_coordinates(shapely.segmentize(rings, spacing_m), return_index=True)
        keep = ~pd.DataFrame({"i": which, "x": coords[:, 0], "y": coords[:, 1]}).duplicated().to_numpy()
        coords, which = coords[keep], which[keep]
        cand = shapely.points(coords)
        near = np.zeros(len(cand), dtype=bool)
        if len(edges) and len(cand):
            hit = tree.query(cand, predicate="dwithin", distance=max_street_m)
            near[np.unique(hit[0])] = True
        add(todo[which[near]], cand[near], "boundary")
        lost = np.setdiff1d(np.arange(len(todo)), which[near])
        if len(lost) and len(edges):
            # No boundary point is near a street (a building deep inside a block): take the
            # boundary points within max_street_m of the closest one's walk to a street, so the
            # facility is entered from every side that is about as near, not from one side alone.
            src, e = tree.query_nearest(rings[lost], all_matches=False)
            line = shapely.shortest_line(rings[lost][src], net.edge_geometry[edges[e]])
            best = np.full(len(todo), np.inf)
            best[lost[src]] = shapely.length(line)
            on_lost = np.isin(which, lost)
            ci, ce = tree.query_nearest(cand[on_lost], all_matches=False, return_distance=False)
            d = shapely.distance(cand[on_lost][ci], net.edge_geometry[edges[ce]])
            w = which[on_lost][ci]
            ok = d <= best[w] + max_street_m
            add(todo[w[ok]], cand[on_lost][ci][ok], "nearest_boundary")
            # the exact closest point too (it may lie between two sampled boundary points)
            add(todo[lost[src]], shapely.get_point(line, 0), "nearest_boundary")
    # a facility left with nothing (no street at all): its own point, so it is reported, not lost
    have = np.zeros(n, dtype=bool)
    for p in pos_parts:
        have[p] = True
    rest = np.flatnonzero(~have & ~shapely.is_missing(geo) & ~shapely.is_empty(geo))
    if len(rest):
        add(rest, shapely.point_on_surface(geo[rest]), "point")
    pos = np.concatenate(pos_parts)
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    out = {"facility_id": ids[pos]}
    if "category" in facilities:
        out["category"] = facilities["category"].to_numpy()[pos]
    out["kind"] = np.concatenate(kind_parts)[order]
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(np.concatenate(geom_parts)[order], crs=facilities.crs),
                            crs=facilities.crs)


def snap_refusals(facilities: gpd.GeoDataFrame, access: gpd.GeoDataFrame, snapped: Snapped,
                  max_snap_m: float, files: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """What :func:`attach_facilities` refused and moved, for the run's details and notes.

    Parameters
    ----------
    facilities, access, snapped
        The three results of :func:`attach_facilities`.
    max_snap_m : float
        The snap limit used (for the notes).
    files : mapping, optional
        Facility ``source`` label -> file name, so that a note names the file a
        refused facility came from (a dataset label alone does not).

    Returns
    -------
    details : dict
        ``refused_by_reason`` (facilities, by the reason of their nearest
        access point), ``access_points_refused_by_reason``,
        ``access_points_reattached`` (attached to a farther street because the
        nearest one is across water or a barrier) and ``facilities_reattached``
        (facilities whose best access point was).
    notes : list of str
        One note for the facilities too far from any street, one for those
        refused for water or barriers, naming their sources.
    """
    refused = facilities.loc[~facilities["snapped"].to_numpy(dtype=bool)]
    reasons = refused["snap_reason"] if "snap_reason" in refused else pd.Series(REASON_TOO_FAR, index=refused.index)
    best = access["best"].to_numpy(dtype=bool)
    details = {"refused_by_reason": {str(k): int(v) for k, v in reasons.value_counts().items()},
               "access_points_refused_by_reason": snapped.refused_by_reason(),
               "access_points_reattached": int(snapped.reattached.sum()),
               "facilities_reattached": int((snapped.reattached & best & snapped.ok).sum())}

    def ids(rows: pd.DataFrame) -> str:
        return ", ".join(map(str, rows["facility_id"][:10])) + (", ..." if len(rows) > 10 else "")

    notes = []
    far = refused.loc[(reasons == REASON_TOO_FAR).to_numpy()]
    if len(far):
        notes.append(f"{len(far)} facilities lie more than {max_snap_m:.0f} m from any "
                     f"walkable street and were not used (facility_id {ids(far)})")
    cut = refused.loc[(reasons != REASON_TOO_FAR).to_numpy()]
    if len(cut):
        src = cut["source"].astype(str) if "source" in cut else pd.Series("facilities", index=cut.index)
        files = files or {}
        per = []
        for label, rows in cut.groupby(src.to_numpy(), sort=True):
            name = f"{label} ({files[label]})" if files.get(label) and files[label] not in label else str(label)
            counts = rows["snap_reason"].value_counts()
            per.append(f"{name}: " + ", ".join(f"{k} ({int(v)})" for k, v in counts.items()))
        notes.append(f"{len(cut)} facilities were not used because no street within {max_snap_m:.0f} m can be "
                     f"reached without crossing water or a road nobody may walk: {'; '.join(per)} "
                     f"(facility_id {ids(cut)})")
    return details, notes


def attach_facilities(facilities: gpd.GeoDataFrame, net, max_snap_m: float = np.inf,
                      spacing_m: float = ACCESS_SPACING_M, max_street_m: float = ACCESS_MAX_STREET_M,
                      obstacles=None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, Snapped]:
    """Find and snap every facility's access points; summarise them per facility.

    Parameters
    ----------
    facilities : GeoDataFrame
        From :func:`combine` (points and polygons, in the network's CRS).
    net : WalkNetwork
    max_snap_m : float
        Access points further than this from every street are refused.
    spacing_m, max_street_m : float
        As in :func:`access_points`.
    obstacles : optional
        Water and barriers the access points' legs may not cross, as in
        :func:`toolkit.snapping.snap_points`. Access points are still found
        near any street (:func:`access_points`); one whose leg is blocked goes
        to the nearest street it can reach, or is refused, and an area is then
        entered at its other access points.

    Returns
    -------
    facilities : GeoDataFrame
        One row per facility, with a point geometry (a point on an area, for
        maps), ``access_points`` (how many), and ``snap_leg_m`` / ``snapped``
        / ``snap_reason`` of its best access point (the usable one nearest a
        street; when none is usable, the nearest one, whose reason it gives).
    access : GeoDataFrame
        One row per access point (see :func:`access_points`) with
        ``snap_leg_m``, ``snapped``, ``snap_reason`` and ``best``.
    snapped : Snapped
        The access points snapped, in ``access`` order: the coverage sources.

    Examples
    --------
    >>> from toolkit.network import grid_network
    >>> net = grid_network(3, spacing=100.0, origin=(0.0, 0.0))
    >>> park = gpd.GeoDataFrame({"facility_id": [1], "category": ["park"]},
    ...                         geometry=[shapely.box(10, 10, 90, 90)], crs=net.crs)
    >>> fac, acc, snap = attach_facilities(park, net, max_snap_m=250)
    >>> int(fac["access_points"].iloc[0]) == len(acc), float(fac["snap_leg_m"].iloc[0])
    (True, 10.0)
    """
    access = access_points(facilities, net, spacing_m=spacing_m, max_street_m=max_street_m)
    snap = snap_points(net, access.geometry, max_snap_m=max_snap_m, obstacles=obstacles)
    access["snap_leg_m"] = np.round(snap.leg, 2)
    access["snapped"] = snap.ok
    access["snap_reason"] = snap.reason
    # per facility, the access point nearest a street among the usable ones
    fpos = pd.Index(facilities["facility_id"].to_numpy()).get_indexer(access["facility_id"].to_numpy()) \
        if "facility_id" in facilities else access["facility_id"].to_numpy() - 1
    order = np.lexsort((snap.leg, ~snap.ok, fpos))
    first = np.ones(len(order), dtype=bool)
    first[1:] = fpos[order][1:] != fpos[order][:-1]
    best = order[first]
    access["best"] = False
    access.loc[access.index[best], "best"] = True
    fac = facilities.drop(columns=[c for c in ("entrances",) if c in facilities.columns]).copy()
    n = len(fac)
    leg = np.full(n, np.inf)
    ok = np.zeros(n, dtype=bool)
    reason = np.full(n, REASON_TOO_FAR, dtype=object)
    leg[fpos[best]] = snap.leg[best]
    ok[fpos[best]] = snap.ok[best]
    reason[fpos[best]] = snap.reason[best]
    fac["access_points"] = np.bincount(fpos, minlength=n) if len(fpos) else np.zeros(n, dtype=np.int64)
    fac["snap_leg_m"] = np.round(leg, 2)
    fac["snapped"] = ok
    fac["snap_reason"] = reason
    geo = np.asarray(fac.geometry.values).copy()
    area = np.isin(shapely.get_type_id(geo), _AREA_TYPES)
    geo[area] = shapely.point_on_surface(geo[area])
    fac = fac.set_geometry(gpd.GeoSeries(geo, index=fac.index, crs=fac.crs))
    return fac, access, snap
