"""Residential compounds (小区) as an input: joined to blocks, for population and as a renewal signal.

A compound table is what Chinese planners usually have instead of building
footprints: one point per 小区 with its name, address, total floor area
(总建面) and completion year (竣工时), as exported from a property portal or a
housing register, typically an ``.xlsx``. Its cells are text, and messy:

* floor area ``"20000.0㎡"``, ``"1.0E7㎡"``, ``"12万平米"`` or ``"暂无"`` (none given);
* completion year ``"2010年"``, several phases ``"1995年、2000年"`` or ``"1995-2000年"``, or ``"暂无"``.

:func:`parse_floor_area` and :func:`parse_year` read them; a value that is
missing is *unknown*, never zero, and a value that cannot be read is counted
and named (:func:`load_compounds` reports both). A compound built in phases
takes its **first** year: its oldest buildings are those that lack lifts and
need renewal.

Per block (:func:`block_compounds`): how many compounds, their floor area (only
when every one of them has a known floor area: a partial sum would read as the
block's total), the median completion year, and with ``old_before`` the old
compounds (count, share of the floor area). With ``persons_per_m2`` declared in
``[population] from_compounds`` the floor area also gives residents
(``pop_compounds``, :func:`compounds_population`), a second estimate beside the
population raster, never a silent default.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import ensure_projected
from .errors import InputError
from .io import DataWarning, read_layer
from .overlay_config import YEAR_RANGE, CompoundsConfig

__all__ = [
    "UNKNOWN_MARKERS",
    "CompoundsConfig",
    "block_compounds",
    "compounds_overlay",
    "compounds_population",
    "compounds_summary",
    "load_compounds",
    "parse_floor_area",
    "parse_year",
]

#: Cell texts that mean "not given" (unknown, not zero), compared after stripping and lower-casing.
UNKNOWN_MARKERS = frozenset({"", "暂无", "暂无数据", "无", "未知", "不详", "待定", "-", "--", "—", "——", "/",
                             "nan", "none", "null", "n/a", "na"})

#: Floor-area units stripped before reading the number (area in m² throughout).
_AREA_UNITS = re.compile(r"(㎡|m²|m2|平方米|平米|sqm|sq\.?\s*m)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


# ------------------------------------------------------------------ parsing
def _is_unknown(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in UNKNOWN_MARKERS


def parse_floor_area(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Floor areas in m² from numbers or text such as ``"20000.0㎡"``, ``"1.0E7㎡"``, ``"12万平米"``.

    Parameters
    ----------
    values : array-like
        The cells of the floor-area column.

    Returns
    -------
    area : ndarray of float
        m²; NaN where the value is missing (``"暂无"``, empty), not positive, or unreadable.
    unreadable : ndarray of bool
        True where a value was given but could not be read as a floor area.

    Examples
    --------
    >>> a, bad = parse_floor_area(["20000.0㎡", "暂无", "1.0E7㎡", "3.5万㎡", "about 100", 0])
    >>> a.tolist()[:4], bad.tolist()
    ([20000.0, nan, 10000000.0, 35000.0], [False, False, False, False, True, False])
    """
    vals = list(values)
    out = np.full(len(vals), np.nan)
    bad = np.zeros(len(vals), dtype=bool)
    for i, v in enumerate(vals):
        if _is_unknown(v):
            continue
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            x = float(v)
        else:
            t = _AREA_UNITS.sub("", str(v)).replace(",", "").replace("，", "").replace(" ", "").strip()
            scale = 1.0
            if t.endswith("万"):
                t, scale = t[:-1], 1e4
            try:
                x = float(t) * scale
            except ValueError:
                bad[i] = True
                continue
        if math.isfinite(x) and x > 0:
            out[i] = x
        elif not math.isfinite(x):
            bad[i] = True
        # zero or negative: unknown, as "暂无" (a compound with no floor area is a typing slip)
    return out, bad


def parse_year(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Completion years from numbers, dates or text such as ``"2010年"``, ``"1995年、2000年"``.

    Parameters
    ----------
    values : array-like
        The cells of the completion-year column.

    Returns
    -------
    first, last : ndarray of float
        The earliest and latest year named in each cell (equal for one year); NaN when missing
        (``"暂无"``, empty) or unreadable.
    unreadable : ndarray of bool
        True where a value was given but holds no year between 1800 and 2100.

    Examples
    --------
    >>> first, last, bad = parse_year(["2010年", "1995年、2000年", "1995-2000年", "暂无", "soon"])
    >>> first.tolist(), last.tolist()[:3], bad.tolist()
    ([2010.0, 1995.0, 1995.0, nan, nan], [2010.0, 2000.0, 2000.0], [False, False, False, False, True])
    """
    vals = list(values)
    first = np.full(len(vals), np.nan)
    last = np.full(len(vals), np.nan)
    bad = np.zeros(len(vals), dtype=bool)
    lo, hi = YEAR_RANGE
    for i, v in enumerate(vals):
        if _is_unknown(v):
            continue
        if isinstance(v, _dt.date):  # a date cell (datetime and pandas Timestamp are dates too)
            years = [v.year]
        elif isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            years = [int(v)] if float(v).is_integer() else []
        else:
            years = [int(y) for y in _YEAR.findall(str(v))]
        years = [y for y in years if lo <= y <= hi]
        if not years:
            bad[i] = True
            continue
        first[i], last[i] = min(years), max(years)
    return first, last, bad


# ------------------------------------------------------------------ reading
def _column(df: pd.DataFrame, name: str | None, key: str, where: str) -> pd.Series | None:
    if name is None:
        return None
    if name not in df.columns:
        raise InputError(f"the column {name!r} does not exist", source=where, field=f"compounds.{key}",
                         fix=f"name one of the columns: {', '.join(map(str, df.columns[:40]))}")
    return df[name]


def _examples(raw: pd.Series, mask: np.ndarray, n: int = 5) -> list[str]:
    return list(dict.fromkeys(str(v) for v in raw.to_numpy()[mask]))[:n]


def load_compounds(cfg: CompoundsConfig, crs: Any, area: shapely.Geometry | None = None,
                   ) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The compounds in the study area, their values parsed, in the study CRS.

    Parameters
    ----------
    cfg : CompoundsConfig
    crs : CRS-like
        The study's projected CRS.
    area : shapely geometry, optional
        The study area in ``crs``: compounds outside it are dropped (on its edge kept).

    Returns
    -------
    GeoDataFrame
        ``compound_id`` (0..n-1), ``source_row`` (row of the table, 0 = first data row),
        ``name`` and ``address`` (when named), ``floor_area_m2`` (NaN = unknown),
        ``year_built`` and ``year_built_last`` (first and last year named; nullable
        integers), ``old`` (with ``old_before``: first year before it; missing when the year
        is unknown).
    dict
        The read report: ``source``, ``rows`` read, ``in_area``, ``shared_location`` (compounds
        on exactly the same point as another: geocoded by street, not building), and for the floor area and
        the year how many are ``known``, ``unknown`` (not given) and ``unreadable`` (given,
        not understood, with ``unreadable_examples``); ``multi_phase`` counts the compounds
        naming several years. Unreadable values are also a :class:`~toolkit.io.DataWarning`.

    Raises
    ------
    InputError
        A configured column does not exist (the message names the file, the key and the columns).

    Examples
    --------
    >>> comp, rep = load_compounds(cfg, "EPSG:32651", district)  # doctest: +SKIP
    >>> rep["in_area"], rep["floor_area"]["known"]  # doctest: +SKIP
    (1714, 601)
    """
    ensure_projected(crs, "the compounds CRS")
    path = cfg.source.resolve()
    where = str(path)
    raw = read_layer(path, **cfg.source.reader_options())
    rows = len(raw)
    name = _column(raw, cfg.name_field, "name_field", where)
    address = _column(raw, cfg.address_field, "address_field", where)
    fa = _column(raw, cfg.floor_area_field, "floor_area_field", where)
    yr = _column(raw, cfg.year_field, "year_field", where)
    g = raw.to_crs(crs)
    keep = np.ones(len(g), dtype=bool)
    if area is not None:
        shapely.prepare(area)
        keep = shapely.covers(area, np.asarray(g.geometry.values))
    out = pd.DataFrame({"compound_id": np.arange(int(keep.sum())), "source_row": raw.index.to_numpy()[keep]})
    if name is not None:
        out["name"] = name.to_numpy()[keep]
    if address is not None:
        out["address"] = address.to_numpy()[keep]
    xy = shapely.get_coordinates(np.asarray(g.geometry.values)[keep])
    # Many compounds on one exact point were placed by street, not by building (a portal's
    # geocoder falls back to the road): their blocks are uncertain, so the count is reported.
    shared = pd.DataFrame(xy).duplicated(keep=False).to_numpy() if len(xy) else np.zeros(0, dtype=bool)
    report: dict[str, Any] = {"source": cfg.source.label(), "rows": rows, "in_area": int(keep.sum()),
                              "shared_location": int(shared.sum())}
    if fa is not None:
        area_m2, bad = parse_floor_area(fa.to_numpy()[keep])
        out["floor_area_m2"] = area_m2
        report["floor_area"] = {"field": cfg.floor_area_field, "known": int(np.isfinite(area_m2).sum()),
                                "unknown": int((~np.isfinite(area_m2) & ~bad).sum()), "unreadable": int(bad.sum()),
                                "unreadable_examples": _examples(fa[keep], bad),
                                "known_m2": round(float(np.nansum(area_m2)), 1)}
        if bad.any():
            warnings.warn(f"{where}: {int(bad.sum())} floor areas in {cfg.floor_area_field!r} could not be read "
                          f"(e.g. {', '.join(report['floor_area']['unreadable_examples'])}): taken as unknown",
                          DataWarning, stacklevel=2)
    if yr is not None:
        first, last, bad = parse_year(yr.to_numpy()[keep])
        out["year_built"] = pd.array(np.where(np.isfinite(first), first, np.nan), dtype="Float64").astype("Int64")
        out["year_built_last"] = pd.array(np.where(np.isfinite(last), last, np.nan), dtype="Float64").astype("Int64")
        report["year"] = {"field": cfg.year_field, "known": int(np.isfinite(first).sum()),
                          "unknown": int((~np.isfinite(first) & ~bad).sum()), "unreadable": int(bad.sum()),
                          "unreadable_examples": _examples(yr[keep], bad),
                          "multi_phase": int((np.isfinite(first) & (last > first)).sum())}
        if bad.any():
            warnings.warn(f"{where}: {int(bad.sum())} completion years in {cfg.year_field!r} hold no year "
                          f"(e.g. {', '.join(report['year']['unreadable_examples'])}): taken as unknown",
                          DataWarning, stacklevel=2)
        if cfg.old_before is not None:
            # numpy's stubs refuse None as a where() branch; numpy itself takes it as an object scalar
            out["old"] = pd.array(np.where(np.isfinite(first), first < cfg.old_before, None),  # type: ignore[call-overload]
                                  dtype="boolean")
    return gpd.GeoDataFrame(out, geometry=list(np.asarray(g.geometry.values)[keep]), crs=g.crs), report


# ------------------------------------------------------------------ per block
def _assign(blocks: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> np.ndarray:
    """Position in ``blocks`` of the block holding each compound, -1 for none.

    A point on the edge two blocks share goes to the first of them, so that it counts once.
    """
    pos = np.full(len(compounds), -1, dtype=np.int64)
    if not len(compounds) or not len(blocks):
        return pos
    pi, bi = shapely.STRtree(np.asarray(blocks.geometry.values)).query(
        np.asarray(compounds.geometry.values), predicate="intersects")
    o = np.lexsort((bi, pi))
    pi, bi = pi[o], bi[o]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
    pos[pi[first]] = bi[first]
    return pos


def block_compounds(blocks: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame,
                    old_before: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Compound counts, floor area, completion year and old stock per block.

    Parameters
    ----------
    blocks : GeoDataFrame
        Blocks in a projected CRS.
    compounds : GeoDataFrame
        From :func:`load_compounds`, same CRS.
    old_before : int, optional
        As in :class:`CompoundsConfig`; adds the old-stock columns.

    Returns
    -------
    DataFrame
        On ``blocks.index``: ``compounds_n``; with a floor area column
        ``compounds_floor_area_m2`` (sum, NaN when any of the block's compounds has an
        unknown floor area, 0 without compounds) and ``compounds_floor_area_unknown_n``;
        with a year column ``compounds_year_median`` (of the known first years; NaN
        without one); with ``old_before`` ``compounds_old_n`` and
        ``compounds_old_floor_share`` (floor area of the old compounds over that of the
        compounds with both a known floor area and year; NaN when there are none).
    ndarray
        For each compound, the position in ``blocks`` of its block, -1 when it lies in none
        (on a street, in water).

    Examples
    --------
    >>> per_block, where = block_compounds(blocks, compounds, old_before=2000)  # doctest: +SKIP
    >>> int(per_block["compounds_n"].sum()) == int((where >= 0).sum())  # doctest: +SKIP
    True
    """
    ensure_projected(blocks, "the blocks")
    if compounds.crs is not None and blocks.crs is not None and not compounds.crs.equals(blocks.crs):
        compounds = compounds.to_crs(blocks.crs)
    pos = _assign(blocks, compounds)
    inb = pos >= 0
    n = len(blocks)
    out = pd.DataFrame(index=blocks.index)
    out["compounds_n"] = np.bincount(pos[inb], minlength=n).astype(np.int64)
    known_area = None
    if "floor_area_m2" in compounds.columns:
        fa = compounds["floor_area_m2"].to_numpy(dtype=float)
        known_area = np.isfinite(fa)
        total = np.bincount(pos[inb], weights=np.where(known_area, fa, 0.0)[inb], minlength=n)
        unknown = np.bincount(pos[inb], weights=(~known_area)[inb].astype(float), minlength=n).astype(np.int64)
        # A sum over the known part only would read as the block's whole floor area.
        out["compounds_floor_area_m2"] = np.where(unknown > 0, np.nan, total)
        out["compounds_floor_area_unknown_n"] = unknown
    if "year_built" in compounds.columns:
        yr = compounds["year_built"].to_numpy(dtype=float, na_value=np.nan)
        dated = inb & np.isfinite(yr)
        med = pd.Series(yr[dated]).groupby(pos[dated]).median()
        col = np.full(n, np.nan)
        col[med.index.to_numpy()] = med.to_numpy()
        out["compounds_year_median"] = col
        if old_before is not None:
            old = dated & (yr < old_before)
            out["compounds_old_n"] = np.bincount(pos[old], minlength=n).astype(np.int64)
            if known_area is not None:
                both = dated & known_area
                fa0 = np.where(known_area, fa, 0.0)
                denom = np.bincount(pos[both], weights=fa0[both], minlength=n)
                num = np.bincount(pos[both & old], weights=fa0[both & old], minlength=n)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out["compounds_old_floor_share"] = np.where(denom > 0, num / denom, np.nan)
    return out, pos


def compounds_population(per_block: pd.DataFrame, persons_per_m2: float) -> pd.Series:
    """Residents per block from its compounds' floor area: ``compounds_floor_area_m2 × persons_per_m2``.

    Parameters
    ----------
    per_block : DataFrame
        From :func:`block_compounds` (needs ``compounds_floor_area_m2``).
    persons_per_m2 : float
        Declared residents per m² of floor area.

    Returns
    -------
    Series
        ``pop_compounds``: NaN where a compound of the block has an unknown floor area
        (unknown, not "no residents"); 0 where the block holds no listed compound.

    Examples
    --------
    >>> compounds_population(pd.DataFrame({"compounds_floor_area_m2": [4000.0, np.nan, 0.0]}), 0.025).tolist()
    [100.0, nan, 0.0]
    """
    if "compounds_floor_area_m2" not in per_block.columns:
        raise InputError("residents from compounds need their floor area", field="compounds.floor_area_field",
                         fix="add floor_area_field = '<column>' to [compounds], e.g. '总建面'")
    return (per_block["compounds_floor_area_m2"] * float(persons_per_m2)).rename("pop_compounds")


def compounds_summary(cfg: CompoundsConfig, compounds: gpd.GeoDataFrame, report: dict[str, Any],
                      blocks: gpd.GeoDataFrame, where: np.ndarray,
                      raster_in_area: float | None = None) -> dict[str, Any]:
    """The figures of the compounds step for run.json: coverage of the data, old stock, residents.

    Parameters
    ----------
    cfg : CompoundsConfig
    compounds : GeoDataFrame
        From :func:`load_compounds`.
    report : dict
        Its read report.
    blocks : GeoDataFrame
        The blocks with the columns of :func:`block_compounds` (and ``pop_compounds``,
        ``population`` when present).
    where : ndarray
        The block position of each compound, from :func:`block_compounds`.
    raster_in_area : float, optional
        Residents of the population source inside the area, for the comparison.

    Returns
    -------
    dict
        ``report`` plus ``in_blocks`` / ``outside_blocks``; ``blocks`` (with compounds, with a
        complete floor area); ``old`` (count, share of the dated compounds, floor share among
        compounds with floor area and year); ``population`` (the declared ``persons_per_m2``,
        residents from the known floor areas, ``floor_area_coverage`` (share of compounds with a
        floor area), and, over the blocks whose floor area is complete, compounds against the
        population source).

    Examples
    --------
    >>> s = compounds_summary(cfg, comp, rep, blocks, where, raster_in_area=1_084_162)  # doctest: +SKIP
    >>> s["population"]["floor_area_coverage"]  # doctest: +SKIP
    0.35
    """
    s: dict[str, Any] = {"status": "measured", **report}
    s["in_blocks"] = int((where >= 0).sum())
    s["outside_blocks"] = int((where < 0).sum())
    has = blocks["compounds_n"] > 0
    s["blocks"] = {"with_compounds": int(has.sum())}
    if "compounds_floor_area_m2" in blocks:
        complete = has & blocks["compounds_floor_area_m2"].notna()
        s["blocks"]["floor_area_complete"] = int(complete.sum())
        s["blocks"]["floor_area_incomplete"] = int((has & ~complete).sum())
    if "year_built" in compounds:
        yr = compounds["year_built"].to_numpy(dtype=float, na_value=np.nan)
        s["year"] = {**s.get("year", {}), "median": float(np.nanmedian(yr)) if np.isfinite(yr).any() else None}
        if cfg.old_before is not None:
            old = np.isfinite(yr) & (yr < cfg.old_before)
            o: dict[str, Any] = {"before": cfg.old_before, "count": int(old.sum()),
                                 "share_of_dated": round(float(old.sum() / np.isfinite(yr).sum()), 4)
                                 if np.isfinite(yr).any() else None}
            if "floor_area_m2" in compounds:
                fa = compounds["floor_area_m2"].to_numpy(dtype=float)
                both = np.isfinite(fa) & np.isfinite(yr)
                o["floor_share"] = round(float(fa[both & old].sum() / fa[both].sum()), 4) if both.any() else None
            s["old"] = o
    if cfg.persons_per_m2 is not None and "floor_area_m2" in compounds:
        fa = compounds["floor_area_m2"].to_numpy(dtype=float)
        n = len(compounds)
        p: dict[str, Any] = {
            "persons_per_m2": cfg.persons_per_m2,
            "residents_known_floor_area": round(float(np.nansum(fa)) * cfg.persons_per_m2, 1),
            "compounds_with_floor_area": int(np.isfinite(fa).sum()),
            "floor_area_coverage": round(float(np.isfinite(fa).sum() / n), 4) if n else None,
            "note": "residents of the compounds whose floor area is known only; blocks holding a compound of "
                    "unknown floor area have an empty pop_compounds (unknown, not zero)",
        }
        if raster_in_area is not None:
            p["population_source_in_area"] = round(float(raster_in_area), 1)
        if "pop_compounds" in blocks and "population" in blocks:
            complete = has & blocks["pop_compounds"].notna()
            p["blocks_compared"] = int(complete.sum())
            p["pop_compounds_in_compared_blocks"] = round(float(blocks.loc[complete, "pop_compounds"].sum()), 1)
            p["population_in_compared_blocks"] = round(float(blocks.loc[complete, "population"].sum()), 1)
        s["population"] = p
    return s


def compounds_overlay(cfg: CompoundsConfig, blocks: gpd.GeoDataFrame, area: shapely.Geometry,
                      layers: dict[str, gpd.GeoDataFrame], notes: list[str],
                      raster_in_area: float | None = None) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The compounds step of a study run: load, join to blocks, estimate residents, report.

    Parameters
    ----------
    cfg : CompoundsConfig
    blocks : GeoDataFrame
        The study's blocks (projected); ``population`` is compared when present.
    area : shapely geometry
        The study area in the blocks' CRS.
    layers : dict
        Output layers: ``compounds`` (the points in the area, with ``block_id``) is added.
    notes : list of str
        The run's notes: the floor-area gap is added, so it is read beside the figures.
    raster_in_area : float, optional
        Residents of the population source in the area.

    Returns
    -------
    GeoDataFrame
        ``blocks`` with the columns of :func:`block_compounds` (and ``pop_compounds`` when
        ``cfg.persons_per_m2`` is declared).
    dict
        :func:`compounds_summary`.

    Examples
    --------
    >>> blocks, s = compounds_overlay(study.compounds, blocks, area, layers, notes)  # doctest: +SKIP
    >>> "compounds" in layers  # doctest: +SKIP
    True
    """
    comp, report = load_compounds(cfg, blocks.crs, area)
    per_block, where = block_compounds(blocks, comp, cfg.old_before)
    if cfg.persons_per_m2 is not None:
        per_block["pop_compounds"] = compounds_population(per_block, cfg.persons_per_m2)
    blocks = blocks.join(per_block)
    ids = blocks["block_id"].to_numpy() if "block_id" in blocks else blocks.index.to_numpy()
    comp.insert(2, "block_id", pd.array([ids[i] if i >= 0 else None for i in where],
                                        dtype="Int64" if np.issubdtype(np.asarray(ids).dtype, np.integer) else object))
    layers["compounds"] = comp
    s = compounds_summary(cfg, comp, report, blocks, where, raster_in_area)
    fa = s.get("floor_area")
    if fa and fa["known"] < s["in_area"]:
        gap = s["in_area"] - fa["known"]
        notes.append(f"{gap:,} of the {s['in_area']:,} compounds in the area have no usable floor area "
                     f"({cfg.floor_area_field}): the floor area and pop_compounds of the "
                     f"{s['blocks'].get('floor_area_incomplete', 0):,} blocks holding one are left empty "
                     "(unknown, not zero)")
    if s.get("shared_location"):
        notes.append(f"{s['shared_location']:,} of the {s['in_area']:,} compounds share their exact point with "
                     "another (placed by street or estate, not by building): the block they are counted in is "
                     "uncertain")
    return blocks, s
