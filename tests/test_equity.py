"""Equity of walking distance (#12 item 6): Gini and Palma against brute force, and the run's record.

The references are computed here from their definitions over individual
residents (each block expanded into its people), not with toolkit.equity.
"""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.equity import equity_table, palma_ratio, weighted_gini


def _gini_brute(x, w):
    # mean absolute difference over all pairs of people, halved and divided by the mean
    x, w = np.asarray(x, float), np.asarray(w, float)
    mad = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum() / w.sum() ** 2
    return mad / (2 * (x * w).sum() / w.sum())


def _palma_people(x, w):
    people = np.sort(np.repeat(np.asarray(x, float), np.asarray(w, int)))
    n = len(people)
    return people[round(0.9 * n):].sum() / people[: round(0.4 * n)].sum()


@pytest.mark.parametrize("seed", range(5))
def test_gini_equals_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 300.0, 200)
    w = rng.integers(1, 50, 200)
    assert weighted_gini(x, w) == pytest.approx(_gini_brute(x, w), rel=1e-9)
    # a block of w residents is w people walking the same
    assert weighted_gini(x, w) == pytest.approx(weighted_gini(np.repeat(x, w)), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_palma_equals_the_people_count_definition(seed):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 300.0, 100)
    w = np.full(100, 10)  # decile cuts fall between people
    assert palma_ratio(x, w) == pytest.approx(_palma_people(x, w), rel=1e-9)


def test_gini_properties():
    assert weighted_gini([500.0] * 7) == pytest.approx(0.0)
    x = np.array([100.0, 250.0, 900.0, 40.0])
    assert weighted_gini(x * 3.7) == pytest.approx(weighted_gini(x))  # no unit
    assert np.isnan(weighted_gini([], []))


def test_table_on_the_default_study(xuhui):
    rows = {(r["category"], r["group"]): r for r in xuhui.details["equity"]}
    b = xuhui.blocks
    for c in xuhui.categories:
        r = rows[(c, "total")]
        d = b[f"dist_{c}_m"].to_numpy(float)
        pop = b["population"].to_numpy(float)
        ok = np.isfinite(d) & (pop > 0)
        thr = xuhui.profile.rules()[c].max_distance_m
        assert r["share_within"] == pytest.approx(pop[ok & (d <= thr)].sum() / pop[ok].sum())
        if r["blocks_beyond_search"] == 0:
            assert r["gini"] == pytest.approx(_gini_brute(d[ok], pop[ok]), rel=1e-9)
        assert r["data_status"] == xuhui.details["data_status"][c]["status"]
        assert ("transit", "65+") in rows
    # the worst decile of residents for transit walks further than everyone else
    t = rows[("transit", "total")]
    worst = b[b["block_id"].isin(t["worst_blocks"])]["dist_transit_m"]
    rest = b[~b["block_id"].isin(t["worst_blocks"]) & b["dist_transit_m"].notna()]["dist_transit_m"]
    assert worst.min() >= rest.max()


def test_unmeasured_and_unreached_blocks_are_counted():
    import pandas as pd

    b = pd.DataFrame({"block_id": [1, 2, 3, 4], "population": [10, 10, 10, 10],
                      "dist_park_m": [100.0, np.nan, np.inf, 300.0]})
    t = equity_table(b, ["park"], {"park": 200}, search_limit_m=5000)
    r = t.loc[("park", "total")]
    assert r["blocks_unmeasured"] == 1 and r["blocks_beyond_search"] == 1
    assert r["share_within"] == pytest.approx(1 / 3)
    assert r["worst_blocks"] == [3]


def test_report_shows_equity(xuhui, tmp_path):
    from toolkit.outputs.report import write_report
    from toolkit.outputs.writers import run_record

    write_report(tmp_path / "report.html", xuhui, run_record(xuhui), files=[])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Who walks how far" in html and "Gini of distance" in html and "within, 65+" in html
