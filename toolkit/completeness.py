"""How complete is each category's facility data: ``complete``, ``sample``, ``unknown`` or ``suspect``.

A data gap is not a service gap. A block beyond the nearest *mapped* kindergarten
is only short of a kindergarten when the map holds every kindergarten; with
two nursing homes mapped for a million residents, "underserved" is a fact
about the data, not about the residents. So every facility source carries a
status per category, and only categories whose data are complete can make a
block underserved (:func:`toolkit.underserved.underserved_blocks`); the others
are still measured and shown, flagged as measured on incomplete data.

The rule
--------
Per source and category (:func:`source_statuses`):

1. the study declares it: ``[[facilities]] status = "complete"`` (or a table
   per category, ``status = { transit = "complete" }``); undeclared is
   ``"unknown"`` (:data:`DEFAULT_STATUS`, see there why);
2. detection can only lower it: a source whose query log
   (``fetch_log = {...}``, :func:`read_fetch_log`) shows the result cap was
   hit by a query that returned rows of the category, rows no query below the
   cap returned in full (:meth:`FetchLog.capped_rows`), is a ``"sample"`` of
   it, whatever was declared. A log can show a list is truncated, never that
   it is whole: an export with no capped query stays as declared.

Per category (:func:`category_status`):

* ``"no data"``: no usable facility (not measured at all);
* ``"suspect"``: fewer facilities in the study area than ``suspect_below``
  (0.1) times what the profile's provision figure implies for the area's
  residents (``per_residents`` in the profile: one facility per so many
  residents), whatever the sources declare: the count contradicts any claim
  of completeness;
* ``"complete"``: some source declares it complete and was not found capped
  (a complete inventory stays complete when other sources add points); a
  category that also counts other categories' facilities (``served_by``: a
  health station counts the centres, a park size tier the parks) needs such a
  source for each category it draws on;
* ``"sample"``: some source is a sample of it;
* ``"unknown"``: otherwise.

Only ``"complete"`` categories can flag a block (:func:`can_flag`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .io import DataWarning
from .labels import LABELS, label

__all__ = [
    "AMAP_RESULT_CAP",
    "CATEGORY_STATUSES",
    "DECLARED",
    "DEFAULT_STATUS",
    "FetchLog",
    "LogQuery",
    "can_flag",
    "capped_by_category",
    "category_status",
    "code_prefix",
    "code_table",
    "data_status",
    "declared_status",
    "expected_facilities",
    "parse_status",
    "read_fetch_log",
    "source_report",
    "source_statuses",
    "status_label",
    "statuses",
    "study_data_status"
]

#: What a source may declare.
DECLARED = ("complete", "sample", "unknown")
#: A category's status, best first; ``"no data"`` for categories with no facility at all.
CATEGORY_STATUSES = ("complete", "sample", "unknown", "suspect", "no data")
#: The status of a source that declares none. Not ``"complete"``: a layer only
#: shows what it contains, and whether that is every facility is a claim about
#: the world the toolkit cannot check. OpenStreetMap, POI exports and land-use
#: layers are all uneven by category (../shared/data README: OSM has 29 of 31
#: senior high schools of Xuhui and Huangpu but 2 nursing homes in Xuhui), and a
#: user's official list is complete only when the user says so.
DEFAULT_STATUS = "unknown"
#: Amap's Web API returns at most 200-225 results per query (../shared/data
#: README, "Known limits"): a query that returned this many was cut off.
AMAP_RESULT_CAP = 200


def parse_status(raw: Any, *, source: str | None = None, field: str = "facilities.status") -> str | dict[str, str]:
    """Check a declared ``status``: one of :data:`DECLARED`, or a table of category to status.

    Parameters
    ----------
    raw : str or dict
        As written in the study.
    source, field : str
        Where it was written, for the error message.

    Returns
    -------
    str or dict
        ``raw`` unchanged when valid.

    Raises
    ------
    InputError
        For any other value.

    Examples
    --------
    >>> parse_status("complete")
    'complete'
    >>> parse_status({"transit": "complete", "park": "unknown"})
    {'transit': 'complete', 'park': 'unknown'}
    """
    fix = ('status = "complete", "sample" or "unknown" (the default), or a table per category, '
           'e.g. status = { transit = "complete" }')
    if isinstance(raw, str):
        if raw not in DECLARED:
            raise InputError(f"unknown data status {raw!r}", source=source, field=field, fix=fix)
        return raw
    if isinstance(raw, dict) and raw and all(isinstance(v, str) and v in DECLARED for v in raw.values()):
        return dict(raw)
    raise InputError(f"cannot read the data status {raw!r}", source=source, field=field, fix=fix)


# ------------------------------------------------------------ query logs
@dataclass(frozen=True)
class LogQuery:
    """One query of a POI export's log and the number of results it returned."""

    kind: str  # "typecode" or "keyword"
    value: str
    results: int


@dataclass
class FetchLog:
    """The queries of a POI export (e.g. Amap's ``fetch_log.txt``) and the result cap they ran into.

    Examples
    --------
    >>> log = FetchLog([LogQuery("typecode", "090100", 200), LogQuery("typecode", "080400", 188),
    ...                 LogQuery("keyword", "菜场", 225)], cap=200)
    >>> [q.value for q in log.capped]
    ['090100', '菜场']
    >>> log.capped_rows(pd.DataFrame({"typecode": ["090102", "080402", "060100"],
    ...                               "name": ["某社区卫生服务中心", "某养老院", "某菜场"]})).tolist()
    [True, False, True]
    """

    queries: list[LogQuery]
    cap: int = AMAP_RESULT_CAP
    source: str = ""

    @property
    def capped(self) -> list[LogQuery]:
        """The queries that returned ``cap`` results or more: their lists were cut off."""
        return [q for q in self.queries if q.results >= self.cap]

    def capped_codes(self) -> list[str]:
        """Type codes of the capped queries, in log order, each once."""
        return list(dict.fromkeys(q.value for q in self.capped if q.kind == "typecode"))

    def capped_keywords(self) -> list[str]:
        """Keywords of the capped queries, in log order, each once."""
        return list(dict.fromkeys(q.value for q in self.capped if q.kind == "keyword"))

    def matches(self, query: LogQuery, rows: pd.DataFrame, typecode_field: str = "typecode",
                name_field: str | None = "name", codes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Which rows ``query`` returns.

        A type-code query returns the POIs of that code and of every code
        under it (``090100`` returns ``0901xx``: :func:`code_prefix`); a row
        with several codes (``050100|080300``) is returned by a query of any
        of them. A keyword query returns POIs whose name holds the keyword
        (the API also matches addresses and types: the name is the part the
        export keeps reliably). ``codes`` is :func:`code_table` of the rows,
        when already at hand.
        """
        hit = np.zeros(len(rows), dtype=bool)
        if query.kind == "typecode":
            if typecode_field not in rows.columns:
                return hit
            pos, code = codes if codes is not None else code_table(rows, typecode_field)
            hit[pos[np.char.startswith(code, code_prefix(query.value))]] = True
            return hit
        if not name_field or name_field not in rows.columns:
            return hit
        names = rows[name_field].astype("string").fillna("")
        return names.str.contains(query.value, regex=False).to_numpy(dtype=bool)

    def covered(self, rows: pd.DataFrame, typecode_field: str = "typecode",
                codes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Rows of a code some type-code query returned in full (below the cap): none of their kind is missing."""
        hit = np.zeros(len(rows), dtype=bool)
        if typecode_field not in rows.columns:
            return hit
        codes = codes if codes is not None else code_table(rows, typecode_field)
        for q in self.queries:
            if q.kind == "typecode" and q.results < self.cap:
                hit |= self.matches(q, rows, typecode_field, codes=codes)
        return hit

    def capped_rows(self, rows: pd.DataFrame, typecode_field: str = "typecode",
                    name_field: str | None = "name") -> np.ndarray:
        """Rows of a kind the export may hold only part of: a capped query returned them, no full one did.

        A library returned both by a capped keyword query (「居委会」) and by
        its own type code's query that stayed below the cap (140500, 124
        results) is of a kind the export holds in full; a community health
        centre (090102) came only through 090100, which hit the cap.
        """
        codes = code_table(rows, typecode_field) if typecode_field in rows.columns else None
        hit = np.zeros(len(rows), dtype=bool)
        for q in self.capped:
            hit |= self.matches(q, rows, typecode_field, name_field, codes=codes)
        return hit & ~self.covered(rows, typecode_field, codes=codes)


def code_table(rows: pd.DataFrame, typecode_field: str = "typecode") -> tuple[np.ndarray, np.ndarray]:
    """Every (row position, type code) pair of ``rows``: a row of ``050100|080300`` gives two.

    Examples
    --------
    >>> code_table(pd.DataFrame({"typecode": ["050100|080300", 90100]}))
    (array([0, 0, 1]), array(['050100', '080300', '090100'], dtype='<U6'))
    """
    parsed = [_codes(v) for v in rows[typecode_field].tolist()]
    pos = np.repeat(np.arange(len(parsed)), [len(c) for c in parsed])
    return pos, np.array([c for cs in parsed for c in cs], dtype="U6")


def code_prefix(code: str) -> str:
    """The part of a 6-digit Amap type code its query matches: trailing ``00`` pairs dropped.

    Examples
    --------
    >>> code_prefix("090100"), code_prefix("130000"), code_prefix("110201")
    ('0901', '13', '110201')
    """
    code = str(code).strip()
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def _codes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    if isinstance(value, int | np.integer | float | np.floating):
        # a CSV column of plain numbers loses its leading zero: 90100 is 090100
        return [f"{int(value):06d}"]
    return [c.strip() for c in str(value).split("|") if c.strip()]


_QUERY_RE = re.compile(r"分类代码\s*[:：]?\s*(\d{6})|关键词\s*[:：]?\s*「([^」]+)」")
_RESULT_RE = re.compile(r"→\s*(\d+)\s*条")


def read_fetch_log(path: str | Path, cap: int = AMAP_RESULT_CAP, source: str | None = None) -> FetchLog:
    """Read a POI export's query log: each query and how many results it returned.

    Lines like ``分类代码 090100 ...`` (a type-code query) or ``关键词 「菜场」 ...``
    (a keyword query) are each followed by a line ``→ 200 条`` with the count.

    Parameters
    ----------
    path : path-like
        The log (UTF-8).
    cap : int, default :data:`AMAP_RESULT_CAP`
        A query with this many results or more hit the API's cap.
    source : str, optional
        The log's name in messages and reports.

    Returns
    -------
    FetchLog

    Raises
    ------
    InputError
        When the file holds no query with a count (not a query log).

    Examples
    --------
    >>> log = read_fetch_log("../shared/data/shanghai/amap_poi_xujiahui_20260311/fetch_log.txt")  # doctest: +SKIP
    >>> len(log.queries), len(log.capped)  # doctest: +SKIP
    (108, 40)
    """
    label = source or str(path)
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    queries: list[LogQuery] = []
    pending: tuple[str, str] | None = None
    unanswered = 0
    for line in text.splitlines():
        m = _QUERY_RE.search(line)
        if m:
            if pending is not None:
                unanswered += 1
            pending = ("typecode", m.group(1)) if m.group(1) else ("keyword", m.group(2))
            continue
        r = _RESULT_RE.search(line)
        if r and pending is not None:
            queries.append(LogQuery(pending[0], pending[1], int(r.group(1))))
            pending = None
    if pending is not None:
        unanswered += 1
    if not queries:
        raise InputError("no query with a result count found in the fetch log", source=label,
                         field="facilities.fetch_log",
                         fix="give the export's query log: lines like '分类代码 090100 ...' followed by '→ 200 条'")
    if unanswered:
        # a query without its count may have been cut off as well: say so rather than guess
        warnings.warn(f"{label}: {unanswered} queries have no result count in the log and are not checked "
                      "against the result cap", DataWarning, stacklevel=2)
    return FetchLog(queries, cap=cap, source=label)


# ---------------------------------------------------------- per source
def declared_status(declared: str | Mapping[str, str] | None, category: str) -> str:
    """The status a source declares for ``category`` (:data:`DEFAULT_STATUS` when it says nothing).

    Examples
    --------
    >>> declared_status(None, "park"), declared_status("complete", "park")
    ('unknown', 'complete')
    >>> declared_status({"transit": "complete"}, "park")
    'unknown'
    """
    if declared is None:
        return DEFAULT_STATUS
    if isinstance(declared, str):
        return declared
    return declared.get(category, DEFAULT_STATUS)


def source_statuses(declared: str | Mapping[str, str] | None, categories: Iterable[str],
                    capped: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """One source's status for each category it feeds.

    Parameters
    ----------
    declared : str, dict or None
        The study's ``status`` for the source.
    categories : iterable of str
        The categories the source has facilities of.
    capped : dict, optional
        Category to the capped queries (e.g. ``["090100 (200)"]``) that
        returned rows of it, from :meth:`FetchLog.capped_rows`.

    Returns
    -------
    dict
        Per category: ``status``, ``declared`` and, when detection changed it,
        ``detected`` (why).

    Examples
    --------
    >>> source_statuses("complete", ["health", "park"], {"health": ["090100 (200)"]})["health"]["status"]
    'sample'
    >>> source_statuses("complete", ["health", "park"], {"health": ["090100 (200)"]})["park"]["status"]
    'complete'
    """
    capped = capped or {}
    out = {}
    for c in categories:
        d = declared_status(declared, c)
        entry: dict[str, Any] = {"status": d, "declared": d}
        if capped.get(c):
            entry["status"] = "sample"
            entry["detected"] = f"result cap hit by {', '.join(capped[c])}"
        out[c] = entry
    return out


def capped_by_category(log: FetchLog, rows: pd.DataFrame, category: pd.Series, typecode_field: str = "typecode",
                       name_field: str | None = "name") -> dict[str, list[str]]:
    """Per category: the capped queries that returned rows of it no full query did (``"090100 (200)"``).

    See :meth:`FetchLog.capped_rows`. ``category`` is the classification of ``rows`` (same index; ``"a;b"`` for
    a row of two categories, missing for unclassified rows).
    """
    out: dict[str, list[str]] = {}
    cat = category.reindex(rows.index)
    codes = code_table(rows, typecode_field) if typecode_field in rows.columns else None
    at_risk = cat.notna().to_numpy() & ~log.covered(rows, typecode_field, codes=codes)
    for q in log.capped:
        hit = at_risk & log.matches(q, rows, typecode_field, name_field, codes=codes)
        label = f"{q.value} ({q.results})" if q.kind == "typecode" else f"「{q.value}」 ({q.results})"
        for c in sorted({p for v in cat[hit].astype(str) for p in v.split(";")}):
            if label not in out.setdefault(c, []):
                out[c].append(label)
    return out


def source_report(fs: Any, raw: pd.DataFrame, category: pd.Series, categories: Iterable[str]) -> dict[str, Any]:
    """The ``data_status`` entry of one facility source in the run's report (see :func:`source_statuses`).

    ``fs`` is the :class:`toolkit.config.FacilitySource`; its ``fetch_log``,
    when given, is read and checked against ``raw`` (the rows as read) and
    ``category`` (their classification).
    """
    declared = getattr(fs, "status", None)
    capped: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    log_src = getattr(fs, "fetch_log", None)
    if log_src is not None:
        log = read_fetch_log(log_src.resolve(), cap=getattr(fs, "result_cap", None) or AMAP_RESULT_CAP,
                             source=log_src.label())
        capped = capped_by_category(log, raw, category)
        out["fetch_log"] = {"source": log.source, "queries": len(log.queries), "capped_queries": len(log.capped),
                            "cap": log.cap, "capped_codes": log.capped_codes(),
                            "capped_keywords": log.capped_keywords()}
    out["categories"] = source_statuses(declared, categories, capped)
    return out


# --------------------------------------------------------- per category
def expected_facilities(residents: float, per_residents: float | None) -> float | None:
    """How many facilities the provision figure implies for ``residents`` (None without a figure).

    Examples
    --------
    >>> expected_facilities(1_000_000, 50_000)
    20.0
    >>> expected_facilities(1_000_000, None) is None
    True
    """
    if not per_residents or per_residents <= 0:
        return None
    return float(residents) / float(per_residents)


def category_status(sources: list[dict[str, Any]], *, measured: bool = True, n_in_area: int | None = None,
                    residents: float | None = None, per_residents: float | None = None,
                    suspect_below: float = 0.1) -> dict[str, Any]:
    """Combine a category's sources into its status (the rule is in the module docstring).

    Parameters
    ----------
    sources : list of dict
        Per source feeding the category: ``source``, ``status``, ``declared``,
        when detected ``detected`` (from :func:`source_statuses`) and, for a
        category that also counts other categories' facilities (``served_by``:
        a health station counts the centres), ``category``, the one the
        source's facilities belong to. Complete then needs a complete source
        for each category drawn on: the union of complete lists is complete,
        a complete list of centres says nothing about the stations.
    measured : bool
        False when the category has no usable facility: ``"no data"``.
    n_in_area : int, optional
        Its facilities inside the study area.
    residents : float, optional
        Residents of the study area (None when the study has no population).
    per_residents : float, optional
        The profile's provision figure: one facility per this many residents.
    suspect_below : float, default 0.1
        Fewer than this share of the expected facilities makes it ``"suspect"``.

    Returns
    -------
    dict
        ``status``, ``reason`` and the figures behind them.

    Examples
    --------
    >>> category_status([{"source": "osm", "status": "complete", "declared": "complete"}], n_in_area=2,
    ...                 residents=1_000_000, per_residents=12_000)["status"]
    'suspect'
    >>> category_status([{"source": "osm", "status": "complete", "declared": "complete"}], n_in_area=30,
    ...                 residents=1_000_000, per_residents=12_000)["status"]
    'complete'
    >>> category_status([{"source": "amap", "status": "sample", "declared": "unknown"},
    ...                  {"source": "osm", "status": "unknown", "declared": "unknown"}])["status"]
    'sample'
    """
    out: dict[str, Any] = {"sources": sources}
    if n_in_area is not None:
        out["facilities_in_area"] = int(n_in_area)
    expected = expected_facilities(residents, per_residents) if residents is not None else None
    if per_residents:
        out["per_residents"] = float(per_residents)
    if expected is not None:
        out["expected_in_area"] = round(expected, 1)
    if not measured:
        out.update(status="no data", reason="no facility data in the study")
        return out
    drawn: dict[Any, list[str]] = {}
    for s in sources:
        drawn.setdefault(s.get("category"), []).append(s["status"])
    statuses_ = [st for group in drawn.values() for st in group]
    if expected is not None and n_in_area is not None and n_in_area < suspect_below * expected:
        out.update(status="suspect",
                   reason=f"{n_in_area} facilities in the study area where the provision figure (one per "
                   f"{per_residents:,.0f} residents) implies {expected:,.0f}: fewer than {suspect_below:.0%} "
                   "of them")
    elif drawn and all("complete" in group for group in drawn.values()):
        out.update(status="complete", reason="declared complete by " + ", ".join(
            dict.fromkeys(s["source"] for s in sources if s["status"] == "complete")))
    elif "sample" in statuses_:
        out.update(status="sample", reason="; ".join(
            f"{s['source']}: {s.get('detected') or 'declared a sample'}" for s in sources if s["status"] == "sample"))
    elif "complete" in statuses_:
        out.update(status="unknown", reason="complete only for " + ", ".join(
            str(k) for k, group in drawn.items() if "complete" in group) + ", one of the categories it counts")
    else:
        out.update(status="unknown", reason="no source declares its data complete")
    return out


def data_status(profile: Any, measured: Iterable[str], source_reports: list[dict[str, Any]],
                in_area_counts: Mapping[str, int], residents: float | None, suspect_below: float = 0.1,
                drawn: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """The data status of every category of the profile (see the module docstring for the rule).

    Parameters
    ----------
    profile : toolkit.standards.Profile
        Its categories' optional ``per_residents`` (with ``per_residents_source``).
    measured : iterable of str
        Categories with usable facilities.
    source_reports : list of dict
        The facility sources' reports (``details["facilities"]["sources"]``),
        each with ``source`` and ``data_status`` (:func:`source_report`).
    in_area_counts : mapping
        Facilities each category counts inside the study area.
    residents : float or None
        Residents of the study area; None skips the provision check.
    suspect_below : float
        See :func:`category_status`.
    drawn : mapping, optional
        Per category, the categories whose facilities it counts (itself and
        its ``served_by``); just itself when omitted.

    Returns
    -------
    dict
        Category to its :func:`category_status` entry, in profile order.

    Examples
    --------
    >>> from toolkit.standards import load_profile
    >>> reports = [{"source": "osm", "data_status": {"categories": {"health": {"status": "complete",
    ...                                                                         "declared": "complete"}}}}]
    >>> ds = data_status(load_profile("shanghai-main-city"), ["health"], reports, {"health": 1}, 1_000_000)
    >>> ds["health"]["status"], ds["health"]["expected_in_area"], ds["park"]["status"]
    ('suspect', 20.0, 'no data')
    """
    measured = set(measured)
    drawn = drawn or {}
    out = {}
    for c, spec in profile.categories.items():
        ks = list(drawn.get(c) or [c])
        srcs = []
        for k in ks:
            for rep in source_reports:
                st = (rep.get("data_status") or {}).get("categories", {}).get(k)
                if st is not None:
                    srcs.append({"source": rep["source"], **({"category": k} if len(ks) > 1 else {}), **st})
        per = spec.get("per_residents")
        if per is not None and (isinstance(per, bool) or not isinstance(per, int | float) or per <= 0):
            raise InputError(f"per_residents must be a positive number of residents, not {per!r}",
                     source=f"profile {profile.name}", field=f"categories.{c}.per_residents",
                     fix="e.g. per_residents = 50000 (one facility per 50,000 residents), with per_residents_source")
        entry = category_status(srcs, measured=c in measured, n_in_area=int(in_area_counts.get(c, 0)),
                                residents=residents, per_residents=per, suspect_below=suspect_below)
        if per and spec.get("per_residents_source"):
            entry["per_residents_source"] = spec["per_residents_source"]
        out[c] = entry
    return out


def can_flag(status: str | None) -> bool:
    """Whether a category of this status may make a block underserved: only complete data can.

    Examples
    --------
    >>> [can_flag(s) for s in ("complete", "sample", "unknown", "suspect", "no data")]
    [True, False, False, False, False]
    """
    return status == "complete"


def status_label(status: str, lang: str = "en") -> str:
    """A category's data status as the report and the map print it (the glossary's ``status.<status>``).

    Examples
    --------
    >>> status_label("unknown"), status_label("sample", "zh")
    ('completeness unknown', '样本(不完整)')
    """
    key = "status." + status.replace(" ", "_")
    return label(key, lang) if key in LABELS else status


def statuses(details: Mapping[str, Any]) -> dict[str, str]:
    """Category to status, from a run's ``details["data_status"]`` (or run.json's ``data_status``)."""
    return {c: v["status"] for c, v in details.items()}


# PLR0913 waived: the run's inputs as toolkit.study passes them (its call contract)
def study_data_status(study: Any, profile: Any, measured: Iterable[str], source_reports: list[dict[str, Any]],  # noqa: PLR0913
                      facilities: pd.DataFrame, area: Any, blocks: pd.DataFrame,
                      counted: Mapping[str, np.ndarray] | None = None,
                      drawn: Mapping[str, list[str]] | None = None, *,
                      suspect_below: float) -> dict[str, dict[str, Any]]:
    """:func:`data_status` of a run: facilities counted inside ``area``, residents from the blocks.

    Only facilities attached to the network (``snapped``) are counted: they are
    the ones the coverage was measured from. ``counted`` (category to a mask
    over ``facilities``) and ``drawn`` are the profile's choice of facilities
    per category (:meth:`toolkit.standards.Profile.coverage_sources`); by
    default a category counts its own. Without a population source the blocks
    count one each, which says nothing about residents, so the provision check
    is skipped. ``suspect_below`` is the study's ``[underserved] suspect_below``
    (:class:`toolkit.underserved.UnderservedRule`), read by the caller: the
    rules that use a data status sit above this module, not below it.
    """
    import shapely

    counts: dict[str, int] = {}
    if len(facilities):
        inside = shapely.intersects(area, np.asarray(facilities.geometry.values))
        if "snapped" in facilities:
            inside &= facilities["snapped"].to_numpy(dtype=bool)
        if counted is not None:
            counts = {c: int((np.asarray(m, dtype=bool) & inside).sum()) for c, m in counted.items()}
        else:
            counts = facilities.loc[inside, "category"].value_counts().to_dict()
    residents = float(blocks["population"].sum()) if study.population and "population" in blocks else None
    return data_status(profile, measured, source_reports, counts, residents, suspect_below=suspect_below,
                       drawn=drawn)
