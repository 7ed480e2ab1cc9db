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

__all__ = ["equity_table", "palma_ratio", "weighted_gini"]


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
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    keep = (w > 0) & np.isfinite(x)
    x, w = x[keep], w[keep]
    if not len(x) or w.sum() <= 0 or (x * w).sum() <= 0:
        return float("nan")
    if (x < 0).any():
        raise ValueError("the Gini coefficient of distances needs non-negative values")
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    cw = np.cumsum(w) / w.sum()
    cx = np.cumsum(x * w) / (x * w).sum()
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
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    keep = (w > 0) & np.isfinite(x)
    x, w = x[keep], w[keep]
    if not len(x) or (x * w).sum() <= 0:
        return float("nan")
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    cw = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    total = (x * w).sum()

    def share_below(q: float) -> float:
        # walking done by the q least-walking share of people (partial block at the cut)
        part = np.clip(q - cw[:-1], 0, cw[1:] - cw[:-1]) * w.sum()
        return float((x * part).sum() / total)

    bottom40 = share_below(0.4)
    top10 = 1.0 - share_below(0.9)
    return float("inf") if bottom40 == 0 else top10 / bottom40


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
        groups = {"total": "population"}
        for label, col in (("65+", "pop_65plus"), ("0-14", "pop_0_14")):
            if col in blocks:
                groups[label] = col
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
                # one order serves both ends: the median from the short walks, the worst decile from the long
                asc = np.argsort(x, kind="stable")
                median = x[asc][np.searchsorted(np.cumsum(ww[asc]) / tot, 0.5)]
                desc = np.argsort(-x, kind="stable")
                worst = desc[: int(np.searchsorted(np.cumsum(ww[desc]) / tot, worst_share) + 1)]
                row.update(share_within=float(ww[x <= thresholds_m[c]].sum() / tot),
                           gini=weighted_gini(x, ww), palma=palma_ratio(x, ww),
                           mean_m=float((x * ww).sum() / tot), median_m=float(median),
                           worst_blocks=[v.item() if hasattr(v, "item") else v for v in ids[ok][worst]])
            rows.append(row)
    cols = ["category", "group", "share_within", "gini", "palma", "mean_m", "median_m", "residents",
            "blocks_unmeasured", "blocks_beyond_search", "worst_blocks", "data_status"]
    return pd.DataFrame(rows, columns=cols).set_index(["category", "group"])
