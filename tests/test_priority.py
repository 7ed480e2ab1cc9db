"""The priority list (#12 item 4): a severity that discriminates, reasons per block, and its sensitivity.

References are computed here, independently of toolkit.priority: by hand on small synthetic frames, with
pandas on the default study's blocks, with geopandas for the zone sums and with scipy for Kendall's tau.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

from toolkit.completeness import statuses
from toolkit.decisions import added_facilities_effect
from toolkit.errors import InputError
from toolkit.outputs import webmap
from toolkit.priority import (
    PrioritySettings,
    Wording,
    priority_table,
    read_zone_weights,
    run_priority,
    zone_priority,
)
from toolkit.record import run_record
from toolkit.sections import sections
from toolkit.sources import Source

THRESHOLDS = {"kindergarten": 500.0, "transit": 300.0, "elderly_care": 240.0, "park": 360.0}
NAMES = Wording({"kindergarten": "Kindergarten / childcare", "transit": "Transit stop",
                 "elderly_care": "Elderly care / day care", "park": "Park"}, "en", 5000.0)
COMPLETE = ["kindergarten", "transit", "elderly_care"]


def _synthetic() -> pd.DataFrame:
    """Four blocks standing for the cases of the formula: served partly, beyond the search limit, empty, unmeasured."""
    return pd.DataFrame({
        "block_id": [1, 2, 3, 4],
        "population": [1000.0, 500.0, 0.0, 800.0],
        "pop_0_14": [200.0, 50.0, 0.0, 100.0],
        "pop_65plus": [150.0, 100.0, 0.0, 90.0],
        "dist_kindergarten_m": [1240.0, 300.0, 2000.0, np.nan],
        "dist_transit_m": [450.0, np.inf, 2000.0, np.nan],
        "dist_elderly_care_m": [2000.0, 100.0, 2000.0, np.nan],
        "dist_park_m": [900.0, 100.0, 2000.0, np.nan],
    }, index=pd.Index([10, 20, 30, 40], name="caller_index"))


def test_severity_on_a_hand_computed_case():
    """Importance x the category's band x min(distance / threshold, cap), summed over complete categories."""
    b = _synthetic()
    s = PrioritySettings.from_config({"importance": {"elderly_care": 2.0}})
    t = priority_table(b, COMPLETE, ["park"], THRESHOLDS, s, basic=COMPLETE, wording=NAMES)
    # block 1: children for the kindergarten, all residents for transit, 65+ (weight 2, capped at 3) for elderly care
    a = 1.0 * 200 * 1240 / 500 + 1.0 * 1000 * 450 / 300 + 2.0 * 150 * 3
    # block 2: transit beyond the search limit counts the cap; the rest within reach
    bb = 1.0 * 500 * 3
    assert t.index.equals(b.index)
    assert t["priority_severity"].tolist() == pytest.approx([a, bb, 0.0, 0.0])
    assert t["priority_rank"].tolist()[:2] == [1, 2] and t["priority_rank"].isna().tolist()[2:] == [True, True]
    # the park is measured on incomplete data: indicative only (non-basic weight 0.5), never in the severity
    assert t["priority_severity_indicative"].tolist() == pytest.approx([0.5 * 1000 * 900 / 360, 0, 0, 0])
    assert t.loc[10, "priority_reason"] == (
        "no transit stop within 300 m: nearest 450 m; 1,000 residents. "
        "no elderly care / day care within 240 m: nearest 2,000 m; 150 residents aged 65+. "
        "no kindergarten / childcare within 500 m: nearest 1,240 m; 200 children aged 0-14")
    assert t.loc[20, "priority_reason"] == "no transit stop within 300 m: none within 5,000 m; 500 residents"
    short = priority_table(b, COMPLETE, [], THRESHOLDS, dataclasses.replace(s, reason_items=2), COMPLETE, NAMES)
    assert short.loc[10, "priority_reason"].endswith("150 residents aged 65+ (and 1 more)")
    zh = priority_table(b, COMPLETE, [], THRESHOLDS, s, COMPLETE, Wording({"transit": "公交站"}, "zh", 5000.0))
    assert zh.loc[20, "priority_reason"] == "300 米内无公交站：5,000 米内均无；500 名常住人口"
    assert t.loc[30, "priority_reason"] == "" and t.loc[40, "priority_reason"] == ""
    assert t.loc[10, "priority_reason_indicative"] == "no park within 360 m: nearest 900 m; 1,000 residents"
    # the voice index multiplies the severity (1 + v)
    tv = priority_table(b.assign(voice_index=[0.5, 0.0, 0.0, 0.0]), COMPLETE, ["park"], THRESHOLDS, s, COMPLETE)
    assert tv["priority_severity"].tolist() == pytest.approx([a * 1.5, bb, 0, 0])
    assert tv["priority_voice_factor"].tolist() == [1.5, 1.0, 1.0, 1.0]


def test_only_complete_categories_rank():
    """A block missing only categories on incomplete data has no severity and no rank: a data gap is not a gap."""
    b = _synthetic()
    s = PrioritySettings.from_config()
    none = priority_table(b, [], ["kindergarten", "transit", "elderly_care", "park"], THRESHOLDS, s, COMPLETE)
    assert (none["priority_severity"] == 0).all() and none["priority_rank"].isna().all()
    assert (none["priority_severity_indicative"] > 0).sum() == 2
    some = priority_table(b, ["transit"], ["kindergarten", "elderly_care", "park"], THRESHOLDS, s, COMPLETE)
    assert some["priority_severity"].tolist() == pytest.approx([1000 * 450 / 300, 500 * 3, 0, 0])


def test_the_reasons_name_the_block_own_figures(xuhui):
    """On the default study only transit has complete data: severity and reason checked against pandas."""
    b = pd.DataFrame(xuhui.blocks.drop(columns="geometry"))
    status = statuses(xuhui.details["data_status"])
    assert xuhui.details["priority"]["categories_complete"] == [c for c in xuhui.categories
                                                                if status[c] == "complete"] == ["transit"]
    d, pop = b["dist_transit_m"], b["population"]
    thr = xuhui.profile.rule("transit").max_distance_m
    beyond = d.notna() & (d > thr) & (pop > 0)
    want = np.where(beyond, pop * np.minimum(d / thr, 3.0), 0.0)  # transit is basic: importance 1
    assert b["priority_severity"].to_numpy() == pytest.approx(want)
    assert set(b.index[b["priority_rank"].notna()]) == set(b.index[beyond])
    name = xuhui.profile.label("transit", "en")
    for i in b.index[beyond][:50]:
        far = (f"none within {xuhui.study.search_limit_m:,.0f} m" if np.isinf(d[i])
               else f"nearest {round(d[i], -1):,.0f} m")
        assert b.at[i, "priority_reason"] == (f"no {name[0].lower()}{name[1:]} within {thr:,.0f} m: {far}; "
                                              f"{pop[i]:,.0f} residents")
    assert (b.loc[~beyond, "priority_reason"] == "").all()
    # worst first, and the run record lists the same blocks
    top = xuhui.details["priority"]["top_blocks"]
    ref = b.loc[beyond].sort_values("priority_severity", ascending=False)["block_id"].head(len(top)).tolist()
    assert [r["block_id"] for r in top] == ref
    assert all(r["reason_zh"].startswith(f"{thr:,.0f} 米内无") for r in top)


def test_adding_facilities_never_raises_a_severity(xuhui):
    """Property: more facilities can only shorten walks, so no block's severity (or indicative one) grows."""
    b = xuhui.blocks
    worst = b.sort_values("priority_severity", ascending=False).head(5)
    pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(worst.geometry.values)), crs=b.crs).to_crs(4326)
    added = gpd.GeoDataFrame({"category": ["transit"] * 3 + ["kindergarten"] * 2}, geometry=pts.values, crs=4326)
    eff = added_facilities_effect(xuhui, added)
    after = b.copy()
    after[eff.after.columns] = eff.after
    s = PrioritySettings.from_config()
    measured = xuhui.categories
    status = statuses(xuhui.details["data_status"])
    complete = [c for c in measured if status[c] == "complete"]
    thr = {c: xuhui.profile.rule(c).max_distance_m for c in measured}
    basic = list(measured)  # the property holds for any importance: every category weighs 1 here
    t0 = priority_table(b, complete, [c for c in measured if c not in complete], thr, s, basic)
    t1 = priority_table(after, complete, [c for c in measured if c not in complete], thr, s, basic)
    for col in ("priority_severity", "priority_severity_indicative"):
        assert (t1[col].to_numpy() <= t0[col].to_numpy() + 1e-9).all(), col
    # the stops help (not always their own block: in a large block the stop may still lie beyond 300 m)
    helped = t1.loc[worst.index[:3], "priority_severity"] < t0.loc[worst.index[:3], "priority_severity"]
    assert helped.sum() >= 2 and t1["priority_severity"].sum() < t0["priority_severity"].sum()
    # and on random shortenings of the synthetic case
    rng = np.random.default_rng(12)
    syn = _synthetic()
    base = priority_table(syn, COMPLETE, ["park"], THRESHOLDS, s, COMPLETE)
    for _ in range(200):
        shorter = syn.copy()
        for c in THRESHOLDS:
            col = f"dist_{c}_m"
            shorter[col] = np.minimum(syn[col], rng.uniform(0, 3000, len(syn)))
        t = priority_table(shorter, COMPLETE, ["park"], THRESHOLDS, s, COMPLETE)
        assert (t["priority_severity"] <= base["priority_severity"] + 1e-9).all()
        assert (t["priority_severity_indicative"] <= base["priority_severity_indicative"] + 1e-9).all()


def test_sensitivity_is_measured_and_stated(xuhui):
    """The variants' Kendall tau agrees with scipy on severities recomputed with pandas; the report says it."""
    sens = xuhui.details["priority"]["sensitivity"]
    by = {v["variant"]: v for v in sens["variants"]}
    assert {"equal", "cap 1.5", "cap 6", "all thresholds 10 min (adult)", "elderly walking speed"} <= set(by)
    b = xuhui.blocks
    pop, d = b["population"], b["dist_transit_m"]
    thr = xuhui.profile.rule("transit").max_distance_m
    populated = pop > 0

    def sev(t: float, cap: float) -> pd.Series:
        return pd.Series(np.where(d.notna() & (d > t), pop * np.minimum(d.fillna(0) / t, cap), 0.0),
                         index=b.index)[populated]

    base = sev(thr, 3.0)
    for name, t, cap in (("cap 6", thr, 6.0), ("all thresholds 10 min (adult)", 600 * xuhui.profile.speed("adult"),
                                                                        3.0)):
        other = sev(t, cap)
        assert by[name]["kendall_tau"] == pytest.approx(stats.kendalltau(base, other).statistic, abs=1e-9)
        top = len(set(base.nlargest(10).index) & set(other.nlargest(10).index)) / 10
        assert by[name]["top_overlap"] == pytest.approx(top)
    assert by["equal"]["kendall_tau"] == pytest.approx(1.0)  # one complete category: weights cannot matter
    assert "Kendall tau" in sens["statement"]["en"] and "肯德尔" in sens["statement"]["zh"]
    secs = {s.key: s for s in sections(xuhui, "zh")}
    assert "priority" in secs and sens["statement"]["zh"] in secs["priority"].paragraphs
    assert any(r[4].startswith("300 米内无") for r in secs["priority"].rows)
    assert "priority-indicative" in secs  # the incomplete categories, apart


def test_zones_sum_their_blocks_and_take_weights(xuhui, tmp_path):
    """Zone severity = sum of its blocks' (geopandas join of representative points) x the table's weight."""
    zl = xuhui.layers["zones"]
    b = xuhui.blocks
    pts = gpd.GeoDataFrame({"sev": b["priority_severity"].to_numpy()},
                           geometry=shapely.point_on_surface(np.asarray(b.geometry.values)), crs=b.crs)
    j = gpd.sjoin(pts, zl[["zone_id", "geometry"]], predicate="within", how="inner")
    j = j[~j.index.duplicated()]
    ref = j.groupby("zone_id")["sev"].sum()
    got = zl.set_index("zone_id")["priority_severity"].reindex(ref.index)
    assert got.to_numpy() == pytest.approx(ref.to_numpy())
    assert (zl["priority_weight"] == 1.0).all()  # no table in the default study
    # a council's table: the 5th zone weighs 10, and an id no zone has is reported
    ranked = zl.dropna(subset=["priority_rank"]).sort_values("priority_rank")
    fifth = str(ranked["zone_id"].iloc[4])
    (tmp_path / "w.csv").write_text(f"zone_id,weight\n{fifth},10\nG999-999,2\n", encoding="utf-8-sig")
    w, notes = read_zone_weights(Source(path=str(tmp_path / "w.csv")), zl["zone_id"].astype(str).tolist())
    assert w == {fifth: 10.0, "G999-999": 2.0} and any("G999-999" in n for n in notes)
    zone_of = j["zone_id"].reindex(pts.index).fillna("unassigned").to_numpy()
    z = zone_priority(b, b["priority_severity"].to_numpy(), zone_of, w)
    assert z.loc[fifth, "priority_severity"] == pytest.approx(ref[fifth] * 10)
    weighted = ref.copy()
    weighted[fifth] *= 10
    assert z.dropna(subset=["priority_rank"]).sort_values("priority_rank").index[0] == weighted.idxmax()
    assert int(z.loc[fifth, "priority_rank"]) < int(ranked.set_index("zone_id").loc[fifth, "priority_rank"])
    (tmp_path / "bad.csv").write_text(f"zone_id,weight\n{fifth},1\nG000-001,high\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_zone_weights(Source(path=str(tmp_path / "bad.csv")), [fifth])
    assert "bad.csv" in str(e.value) and "row 2" in e.value.problem and e.value.field == "weight"


def test_priority_reaches_run_json_and_the_map(xuhui):
    """run.json holds the priority section; the map draws the ranked blocks; voice is absent without [voice]."""
    rec = run_record(xuhui)
    p = rec["priority"]
    assert p["formula"].startswith("severity = (1 + voice_index)") and p["parameters"]["distance_cap"] == 3.0
    assert p["blocks_ranked"] == int(xuhui.blocks["priority_rank"].notna().sum()) > 0
    assert p["top_zones"][0]["rank"] == 1 and p["indicative"]["categories"]
    assert rec["voice"] == {"status": "absent", "reason": "no [voice] section in the study"}
    m = webmap.coverage_map(xuhui, lang="en", basemap="none")
    assert "Priority blocks" in webmap.layer_names(m)


def test_run_priority_refuses_bad_settings(xuhui):
    """A distance cap below 1 (a shortfall smaller than at the threshold) is refused, naming the key."""
    study = dataclasses.replace(xuhui.study, priority={"distance_cap": 0.5})
    with pytest.raises(InputError) as e:
        run_priority(study, xuhui.blocks, xuhui.categories, xuhui.profile, xuhui.details["data_status"], {})
    assert e.value.field == "priority.distance_cap"
