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


# ---------------------------------------------------------------- per zone (#12 item 6 with item 8's levels)
def _pysal_gini(x, w):
    """PySAL inequality's Gini on the residents one by one (each block expanded into its w people)."""
    from inequality.gini import Gini

    return Gini(np.repeat(np.asarray(x, float), np.asarray(w, int))).g


@pytest.mark.parametrize("seed", range(5))
def test_gini_equals_pysal_inequality_on_expanded_residents(seed):
    """Random walks held by whole numbers of residents: the weighted Gini is PySAL's over the people."""
    pytest.importorskip("inequality")
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 300.0, 150)
    w = rng.integers(1, 40, 150)
    assert weighted_gini(x, w) == pytest.approx(_pysal_gini(x, w), rel=1e-9)


def test_per_zone_figures_against_pandas_and_pysal():
    """Synthetic blocks in three zones (and some in none): share within by groupby, Gini by PySAL per zone,
    the worst decile inside each zone, and an unmeasured block counted, never as unserved."""
    pytest.importorskip("inequality")
    import pandas as pd

    from toolkit.equity import ZONE_COLUMNS, equity_by_zone

    rng = np.random.default_rng(7)
    n = 90
    b = pd.DataFrame({"block_id": np.arange(1, n + 1), "population": rng.integers(1, 60, n).astype(float),
                      "pop_65plus": rng.integers(0, 15, n).astype(float),
                      "dist_park_m": rng.gamma(2.0, 250.0, n)})
    b.loc[5, "dist_park_m"] = np.nan  # not attached to the network
    zone_of = np.array(["A", "B", "C"] * 29 + ["unassigned"] * 3, dtype=object)
    out = equity_by_zone(b, {"lvl": zone_of}, ["park"], {"park": 400.0}, {"data_status": {"park": "sample"}})
    assert out["columns"] == list(ZONE_COLUMNS) and out["data_status"] == {"park": "sample"}
    t = pd.DataFrame(out["levels"]["lvl"]["rows"], columns=out["columns"]).set_index(["zone", "group"])
    assert out["levels"]["lvl"]["zones"] == 4
    df = b.assign(zone=zone_of).dropna(subset=["dist_park_m"])
    for (z, group), col in ((("A", "total"), "population"), (("B", "65+"), "pop_65plus"),
                            (("unassigned", "total"), "population")):
        g = df[(df["zone"] == z) & (df[col] > 0)]
        r = t.loc[(z, group)]
        assert r["residents"] == pytest.approx(g[col].sum())
        assert r["share_within"] == pytest.approx(g.loc[g["dist_park_m"] <= 400, col].sum() / g[col].sum())
        assert r["gini"] == pytest.approx(_pysal_gini(g["dist_park_m"], g[col]), rel=1e-9)
        assert r["palma"] == pytest.approx(palma_ratio(np.repeat(g["dist_park_m"], g[col].astype(int))), rel=1e-9)
        worst = g[g["block_id"].isin(r["worst_blocks"])]["dist_park_m"]
        assert worst.min() >= g[~g["block_id"].isin(r["worst_blocks"])]["dist_park_m"].max()
    assert t.loc[("C", "total"), "blocks_unmeasured"] == 1  # block 6 (row 5) is in zone C


def test_equity_by_zone_on_the_default_study(xuhui):
    """Every zone level of the default study: each life-circle unit's Gini of transit walks equals PySAL's on
    its residents (rounded to whole people, hence the tolerance) and the shares add up to the district's."""
    pytest.importorskip("inequality")
    import pandas as pd

    from toolkit.zones import level_memberships

    ez = xuhui.details["equity_by_zone"]
    members = level_memberships(xuhui.blocks, xuhui.layers)
    b = xuhui.blocks
    thr = xuhui.profile.rules()["transit"].max_distance_m
    for level in ("zones", "life_circle"):
        t = pd.DataFrame(ez["levels"][level]["rows"], columns=ez["columns"])
        t = t[(t["category"] == "transit") & (t["group"] == "total")].set_index("zone")
        d = b["dist_transit_m"].to_numpy(float)
        pop = b["population"].to_numpy(float)
        ok = np.isfinite(d) & (pop > 0)
        within = (t["share_within"] * t["residents"]).sum()
        assert within == pytest.approx(pop[ok & (d <= thr)].sum(), rel=1e-9)
        if level == "life_circle":
            for z, r in t.iterrows():
                m = ok & (members[level] == z) & (np.round(pop) > 0)
                if np.round(pop[m]).sum() < 100:
                    continue
                assert r["gini"] == pytest.approx(_pysal_gini(d[m], np.round(pop[m])), abs=2e-3), z
    assert ez["data_status"]["transit"] == xuhui.details["data_status"]["transit"]["status"]


def test_zone_section_for_the_report():
    """A run with two zone levels (a synthetic record): one row per level and category for all residents, the
    worst and best zone's share within, labels in both languages; no section without zones."""
    from types import SimpleNamespace

    import pandas as pd

    from toolkit.equity import equity_by_zone, zone_sections
    from toolkit.sections import PROVIDERS

    assert "toolkit.equity:zone_sections" in PROVIDERS
    b = pd.DataFrame({"block_id": [1, 2, 3, 4], "population": [100.0, 100.0, 50.0, 50.0],
                      "dist_park_m": [100.0, 900.0, 200.0, 300.0]})
    ez = equity_by_zone(b, {"zones": ["A", "A", "B", "B"], "life_circle": ["L1"] * 4}, ["park"], {"park": 500})
    profile = SimpleNamespace(label=lambda c, lang: {"en": "Park", "zh": "公园"}[lang])
    lc = {"units": 1, "population_range": [30000.0, 50000.0], "source": "s", "in_range": 0,
          "population_min": 300.0, "population_max": 300.0, "outside_range": {"below:isolated": 1}}
    res = SimpleNamespace(details={"equity_by_zone": ez, "decisions": {"zone_levels": {
        "life_circle": {"life_circle": lc}}}}, profile=profile)
    for lang, title in (("en", "Who walks how far, zone by zone"), ("zh", "分单元步行距离公平性")):
        (s,) = zone_sections(res, lang)
        assert s.title == title and len(s.rows) == 2 and len(s.header) == len(s.rows[0])
        zones_row = s.rows[0]
        # zone A: half its residents within 500 m; zone B: all of them
        assert zones_row[4:6] == ("50.0%", "100.0%") and zones_row[-1] == "A"
        # the unit's status and reason in the section's language (data/labels.toml [life_circle])
        outside = "1 below (isolated)" if lang == "en" else "1 个低于下限（孤立，无相邻街坊可并）"
        assert outside in " ".join(s.paragraphs)
    assert zone_sections(SimpleNamespace(details={}, profile=profile), "en") == []
