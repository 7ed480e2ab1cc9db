"""Who walks how far: access shares per population group, and inequality of walking distance across residents.

A coverage rate says how many residents are within the threshold; it does not
say whether the long walks fall on a few blocks or on a group (the aged 65+).
For each measured category this module gives, per population group (the
study's bands: total, 65+, 0-14), the share within the threshold, the Gini
coefficient of walking distance across residents, the Palma ratio of distance
(the share of all walking borne by the 10% walking furthest over that of the
40% walking least), and the worst-decile blocks.

Distances are per block and every resident of a block is given its distance
(the blocks are the unit of the measurement). Blocks with no distance (not
attached to the network) are left out and counted; a block with no facility
within the search limit gets the search limit, so its figures are a lower
bound, and they are counted too. A category measured on incomplete data keeps
that status in the output: its inequality describes the data as much as the
city (a data gap is not a service gap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ZONE_COLUMNS", "equity_by_zone", "equity_table", "palma_ratio", "weighted_gini", "zone_equity",
           "zone_sections"]


def weighted_gini(x: Sequence[float] | np.ndarray, w: Sequence[float] | np.ndarray | None = None) -> float:
    """Gini coefficient of ``x`` over a population where value ``x[i]`` is held by ``w[i]`` people.

    0 when everyone walks the same, towards 1 when a few walk all the distance.
    Computed from the sorted values (the Lorenz curve), O(n log n).

    Parameters
    ----------
    x : array of float
        Non-negative values (metres).
    w : array of float, optional
        Weights (residents); equal weights when omitted.

    Returns
    -------
    float
        NaN when there is no weight or every value is 0.

    Examples
    --------
    >>> weighted_gini([1, 1, 1, 1])
    0.0
    >>> round(weighted_gini([0, 0, 0, 10]), 4)  # one of four walks all of it: (n - 1) / n
    0.75
    >>> round(weighted_gini([0, 10], [3, 1]), 4)  # the same four people, grouped
    0.75
    """
    # fresh names: the parameters accept sequences, the bodies work on float arrays
    xs: np.ndarray = np.asarray(x, dtype=float)
    ws: np.ndarray = np.ones_like(xs) if w is None else np.asarray(w, dtype=float)
    keep = (ws > 0) & np.isfinite(xs)
    xs, ws = xs[keep], ws[keep]
    if not len(xs) or ws.sum() <= 0 or (xs * ws).sum() <= 0:
        return float("nan")
    if (xs < 0).any():
        raise ValueError("the Gini coefficient of distances needs non-negative values")
    o = np.argsort(xs, kind="stable")
    xs, ws = xs[o], ws[o]
    cw = np.cumsum(ws) / ws.sum()
    cx = np.cumsum(xs * ws) / (xs * ws).sum()
    # area under the Lorenz curve by trapezoids over population shares
    prev_w = np.concatenate([[0.0], cw[:-1]])
    prev_x = np.concatenate([[0.0], cx[:-1]])
    area = float(((cw - prev_w) * (cx + prev_x)).sum() / 2)
    return 1.0 - 2.0 * area


def palma_ratio(x: Sequence[float] | np.ndarray, w: Sequence[float] | np.ndarray | None = None) -> float:
    """The share of all walking done by the 10% walking furthest over the share done by the 40% walking least.

    The Palma ratio of income reads the top tenth against the bottom four
    tenths; for distance, where more is worse, the top tenth are the worst off.
    Groups are cut through a block's residents where a decile boundary falls.

    Examples
    --------
    >>> round(palma_ratio([1] * 10), 6)  # equal walks: 10% of the walking against 40%
    0.25
    >>> round(palma_ratio([0, 0, 0, 0, 1, 1, 1, 1, 1, 5]), 3)
    inf
    """
    xs: np.ndarray = np.asarray(x, dtype=float)
    ws: np.ndarray = np.ones_like(xs) if w is None else np.asarray(w, dtype=float)
    keep = (ws > 0) & np.isfinite(xs)
    xs, ws = xs[keep], ws[keep]
    if not len(xs) or (xs * ws).sum() <= 0:
        return float("nan")
    o = np.argsort(xs, kind="stable")
    xs, ws = xs[o], ws[o]
    cw = np.concatenate([[0.0], np.cumsum(ws) / ws.sum()])
    total = (xs * ws).sum()

    def share_below(q: float) -> float:
        # walking done by the q least-walking share of people (partial block at the cut)
        part = np.clip(q - cw[:-1], 0, cw[1:] - cw[:-1]) * ws.sum()
        return float((xs * part).sum() / total)

    bottom40 = share_below(0.4)
    top10 = 1.0 - share_below(0.9)
    return float("inf") if bottom40 == 0 else top10 / bottom40


def _figures(x: np.ndarray, ww: np.ndarray, threshold: float, worst_share: float, ids: np.ndarray) -> dict[str, Any]:
    """Share within, Gini, Palma, mean, median and worst-share blocks of walks ``x`` held by ``ww`` (> 0) people."""
    tot = ww.sum()
    # one order serves both ends: the median from the short walks, the worst decile from the long
    asc = np.argsort(x, kind="stable")
    median = x[asc][np.searchsorted(np.cumsum(ww[asc]) / tot, 0.5)]
    desc = np.argsort(-x, kind="stable")
    worst = desc[: int(np.searchsorted(np.cumsum(ww[desc]) / tot, worst_share) + 1)]
    return {"share_within": float(ww[x <= threshold].sum() / tot), "gini": weighted_gini(x, ww),
            "palma": palma_ratio(x, ww), "mean_m": float((x * ww).sum() / tot), "median_m": float(median),
            "worst_blocks": [v.item() if hasattr(v, "item") else v for v in ids[worst]]}


def _groups(blocks: pd.DataFrame) -> dict[str, str]:
    """The default population groups: ``total``, and ``65+`` / ``0-14`` when their columns exist."""
    groups = {"total": "population"}
    for label, col in (("65+", "pop_65plus"), ("0-14", "pop_0_14")):
        if col in blocks:
            groups[label] = col
    return groups


def equity_table(blocks: pd.DataFrame, categories: Sequence[str], thresholds_m: Mapping[str, float],
                 groups: Mapping[str, str] | None = None, *, search_limit_m: float = np.inf,
                 data_status: Mapping[str, str] | None = None, worst_share: float = 0.1,
                 id_field: str = "block_id") -> pd.DataFrame:
    """Access and inequality of walking distance per category and population group.

    Parameters
    ----------
    blocks : DataFrame
        One row per block with ``dist_<category>_m`` and the group columns.
    categories : list of str
        Measured categories.
    thresholds_m : mapping
        Each category's threshold in metres.
    groups : mapping, optional
        Label -> population column (default: ``total`` -> ``population``, and ``65+`` / ``0-14`` when the
        columns ``pop_65plus`` / ``pop_0_14`` exist).
    search_limit_m : float
        The distance given to blocks with no facility within the search (their figures are lower bounds).
    data_status : mapping, optional
        Category -> data status, carried into the table.
    worst_share : float
        The worst-off share of residents whose blocks are listed (0.1: the worst decile).

    Returns
    -------
    DataFrame
        One row per (category, group): ``share_within``, ``gini``, ``palma``, ``mean_m``, ``median_m``,
        ``residents``, ``blocks_unmeasured``, ``blocks_beyond_search``, ``worst_blocks`` (ids), ``data_status``.

    Examples
    --------
    >>> import pandas as pd
    >>> b = pd.DataFrame({"block_id": [1, 2, 3], "population": [100, 100, 200],
    ...                   "dist_park_m": [100.0, 300.0, 900.0]})
    >>> t = equity_table(b, ["park"], {"park": 500})
    >>> float(t.loc[("park", "total"), "share_within"])
    0.5
    >>> t.loc[("park", "total"), "worst_blocks"]
    [3]
    """
    if groups is None:
        groups = _groups(blocks)
    ids = blocks[id_field].to_numpy() if id_field in blocks else blocks.index.to_numpy()
    rows: list[dict[str, Any]] = []
    for c in categories:
        col = f"dist_{c}_m"
        if col not in blocks:
            continue
        d = blocks[col].to_numpy(dtype=float)
        unmeasured = np.isnan(d)
        beyond = np.isinf(d)
        d = np.where(beyond, search_limit_m, d)
        for label, gcol in groups.items():
            if gcol not in blocks:
                continue
            w = np.nan_to_num(blocks[gcol].to_numpy(dtype=float))
            ok = ~unmeasured & np.isfinite(d) & (w > 0)
            x, ww = d[ok], w[ok]
            tot = ww.sum()
            row: dict[str, Any] = {"category": c, "group": label, "residents": float(tot),
                                   "blocks_unmeasured": int((unmeasured & (w > 0)).sum()),
                                   "blocks_beyond_search": int((beyond & (w > 0)).sum()),
                                   "data_status": (data_status or {}).get(c, "unknown")}
            if tot > 0:
                row.update(_figures(x, ww, thresholds_m[c], worst_share, ids[ok]))
            rows.append(row)
    cols = ["category", "group", "share_within", "gini", "palma", "mean_m", "median_m", "residents",
            "blocks_unmeasured", "blocks_beyond_search", "worst_blocks", "data_status"]
    return pd.DataFrame(rows, columns=cols).set_index(["category", "group"])


#: The figures of each (zone, category, group) row of ``equity_by_zone``, in order.
ZONE_COLUMNS = ("zone", "category", "group", "share_within", "gini", "palma", "median_m", "mean_m", "residents",
                "blocks_unmeasured", "blocks_beyond_search", "worst_blocks")


def equity_by_zone(blocks: pd.DataFrame, memberships: Mapping[str, Sequence[str] | np.ndarray],
                   categories: Sequence[str], thresholds_m: Mapping[str, float],
                   settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`equity_table` within each zone of each level: who walks how far, zone by zone.

    Parameters
    ----------
    blocks : DataFrame
        As for :func:`equity_table`.
    memberships : mapping
        Level name -> each block's zone id (in the order of ``blocks``; ``"unassigned"`` for blocks in no zone,
        reported as a zone of that name so that no resident drops out).
    categories, thresholds_m
        As for :func:`equity_table`.
    settings : mapping, optional
        Further keywords of :func:`equity_table` (``groups``, ``search_limit_m``, ``data_status``,
        ``worst_share``, ``id_field``).

    Returns
    -------
    dict
        ``columns`` (:data:`ZONE_COLUMNS`), ``data_status`` per category, and per level in ``levels`` its
        ``zones`` count and ``rows``: one list per (zone, category, group) with a population. The worst-decile
        blocks are those of the zone's residents.

    Examples
    --------
    >>> b = pd.DataFrame({"block_id": [1, 2, 3, 4], "population": [100, 100, 100, 300],
    ...                   "dist_park_m": [100.0, 900.0, 200.0, 200.0]})
    >>> out = equity_by_zone(b, {"grid": ["A", "A", "B", "B"]}, ["park"], {"park": 500})
    >>> [(r[0], r[3], round(r[4], 6)) for r in out["levels"]["grid"]["rows"]]
    [('A', 0.5, 0.4), ('B', 1.0, 0.0)]
    """
    kw = dict(settings or {})
    status = dict(kw.get("data_status") or {})
    groups = kw.get("groups") or _groups(blocks)
    search, worst_share = float(kw.get("search_limit_m", np.inf)), float(kw.get("worst_share", 0.1))
    id_field = kw.get("id_field", "block_id")
    ids = blocks[id_field].to_numpy() if id_field in blocks else blocks.index.to_numpy()
    out: dict[str, Any] = {"columns": list(ZONE_COLUMNS),
                           "data_status": {c: status.get(c, "unknown") for c in categories}, "levels": {}}
    for level, zone_of in memberships.items():
        zone_of = np.asarray(zone_of, dtype=object)
        zones = sorted(set(zone_of.tolist()), key=lambda z: (z == "unassigned", str(z)))
        members = {z: np.flatnonzero(zone_of == z) for z in zones}
        rows: dict[str, list[list[Any]]] = {z: [] for z in zones}
        # the same figures as equity_table, on numpy slices: a table per zone would cost seconds
        for c in categories:
            col = f"dist_{c}_m"
            if col not in blocks:
                continue
            d = blocks[col].to_numpy(dtype=float)
            unmeasured, beyond = np.isnan(d), np.isinf(d)
            d = np.where(beyond, search, d)
            for label, gcol in groups.items():
                if gcol not in blocks:
                    continue
                w = np.nan_to_num(blocks[gcol].to_numpy(dtype=float))
                ok = ~unmeasured & np.isfinite(d) & (w > 0)
                for z, idx in members.items():
                    k = idx[ok[idx]]
                    if not len(k):
                        continue
                    f = _figures(d[k], w[k], thresholds_m[c], worst_share, ids[k])
                    rows[z].append([z, c, label, *(f[n] for n in ZONE_COLUMNS[3:8]), float(w[k].sum()),
                                    int((unmeasured[idx] & (w[idx] > 0)).sum()),
                                    int((beyond[idx] & (w[idx] > 0)).sum()), f["worst_blocks"]])
        out["levels"][level] = {"zones": len(zones), "rows": [r for z in zones for r in rows[z]]}
    return out


def zone_equity(blocks: Any, layers: Mapping[str, Any], categories: Sequence[str],
                thresholds_m: Mapping[str, float], settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`equity_by_zone` over every zone level of a run's ``layers`` (``zones`` and ``zones_<name>``).

    Each block is placed by the roll-up's rule (:func:`toolkit.underserved.assign_blocks`: the zone holding
    its representative point). The run.json section ``equity_by_zone``.
    """
    from .zones import level_memberships

    return equity_by_zone(blocks, level_memberships(blocks, layers), categories, thresholds_m, settings)


def _level_title(level: str, lang: str) -> str:
    from .labels import label

    return {"zones": label("layer.zones", lang), "life_circle": label("layer.zones_life_circle", lang)}.get(
        level, level)


def _status(status: str, lang: str) -> str:
    from .labels import label

    try:
        return label(f"status.{status.replace(' ', '_')}", lang)
    except KeyError:
        return status


def _units_paragraphs(result: Any, lang: str) -> list[str]:
    """The life-circle units in a sentence or two (how many, their range, those outside it and why)."""
    from .labels import LABELS, label

    lc = (((result.details.get("decisions") or {}).get("zone_levels") or {}).get("life_circle") or {}).get(
        "life_circle")
    if not lc:
        return []
    lo, hi = lc["population_range"]
    rng = f"{lo:,.0f}-{hi:,.0f}" if hi else f">= {lo:,.0f}"
    out = [label("report.equity_zones_units", lang, n=lc["units"], range=rng, source=lc.get("source") or "-",
                 within=lc["in_range"], pmin=f"{lc['population_min'] or 0:,.0f}",
                 pmax=f"{lc['population_max'] or 0:,.0f}")]
    if lc.get("outside_range"):
        def word(code: str) -> str:  # a unit's status and reason (toolkit.lifecircle) in the report's language
            key = f"life_circle.{code}"
            return label(key, lang) if key in LABELS else code.replace("_", " ")

        items = label("word.list_sep", lang).join(
            label("life_circle.item", lang, n=n, status=word(k.split(":")[0]), reason=word(k.split(":")[-1]))
            for k, n in lc["outside_range"].items())
        out.append(label("report.equity_zones_outside", lang, items=items))
    return out


def zone_sections(result: Any, lang: str) -> list[Any]:
    """The report section of ``equity_by_zone`` (a provider of :mod:`toolkit.sections`).

    One row per zone level and category, for all residents: the share within the threshold in the worst and
    the best zone, the highest Gini within a zone and the worst zone; the life-circle units described above
    the table. Empty when the run has no zones.
    """
    from .labels import label
    from .sections import Section

    ez = result.details.get("equity_by_zone") or {}
    if not ez.get("levels"):
        return []
    cols = ez["columns"]
    rows = []
    for level, entry in ez["levels"].items():
        t = pd.DataFrame(entry["rows"], columns=cols)
        t = t[(t["group"] == "total") & (t["zone"] != "unassigned")]
        for c, g in t.groupby("category", sort=False):
            worst = g.loc[g["share_within"].idxmin()] if g["share_within"].notna().any() else None
            st = ez["data_status"].get(c, "unknown")
            rows.append((_level_title(level, lang), result.profile.label(c, lang), _status(st, lang),
                         len(g), f"{g['share_within'].min():.1%}", f"{g['share_within'].max():.1%}",
                         f"{g['gini'].max():.3f}" if g["gini"].notna().any() else "-",
                         "-" if worst is None else str(worst["zone"])))
    return [Section("equity_by_zone", label("report.equity_zones", lang), paragraphs=tuple(
        _units_paragraphs(result, lang)), header=tuple(label("report.equity_zones_head", lang).split(" | ")),
        rows=tuple(rows), num_cols=(3, 4, 5, 6), notes=(label("report.equity_zones_note", lang),), order=40)]
