"""Decisions on the default study: underserved blocks, sites, selection, before/after, sensitivity."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import toolkit as tk
from toolkit.decisions import selection_problem
from toolkit.selection import exhaustive, solve_exact, solve_greedy
from toolkit.underserved import UnderservedRule, roll_up, underserved_blocks, zone_integrity


def test_underserved_columns_and_rule(xuhui):
    b = xuhui.blocks
    for c in ("underserved", "missing_categories", "n_missing", "affected_pop", "affected_65plus", "severity"):
        assert c in b.columns
    # never flag an empty block
    assert not (b["underserved"] & (b["population"] <= 0)).any()
    # the rule, recomputed by hand: >= 2 basic categories with complete data missing (a data gap is not a
    # service gap: sample/unknown/suspect categories never flag; tests/test_completeness.py covers them)
    complete = [c for c in xuhui.categories if xuhui.details["data_status"][c]["status"] == "complete"]
    basic = [c for c in complete if c in xuhui.details["decisions"]["underserved"]["rule"]["basic_categories"]]
    missing = sum((~b[f"within_{c}"] & b[f"dist_{c}_m"].notna()).astype(int) for c in basic)
    assert ((missing >= 2) & (b["population"] > 0)).equals(b["underserved"])
    # missing categories only among categories with complete data; the others listed apart
    listed = set(";".join(b["missing_categories"]).split(";")) - {""}
    assert listed <= set(complete) and not listed & set(xuhui.no_data)
    incomplete = set(";".join(b["missing_incomplete"]).split(";")) - {""}
    assert incomplete and incomplete <= set(xuhui.categories) - set(complete)
    assert b.loc[b["underserved"], "affected_pop"].sum() == pytest.approx(
        b.loc[b["underserved"], "population"].sum())


def test_elderly_rule_flags_aged_blocks():
    blocks = pd.DataFrame({"population": [100.0, 100.0, 0.0], "pop_65plus": [30.0, 10.0, 0.0],
                           "dist_elderly_care_m": [900.0, 900.0, 900.0],
                           "within_elderly_care": [False, False, False]})
    from toolkit.coverage import CategoryRule

    u = underserved_blocks(blocks, ["elderly_care"], {"elderly_care": CategoryRule("elderly_care", 240.0)},
                           UnderservedRule.from_config({"min_missing": 3}))
    assert u["underserved"].tolist() == [True, False, False]
    assert u["underserved_reason"].iloc[0] == "elderly care in an aged block"
    assert u["severity"].iloc[0] == pytest.approx((100 + 30) * 3.0 / 1000)  # ratio capped at 3


def test_zone_roll_up_reports_overlaps_and_gaps(xuhui):
    from toolkit.io import DataWarning

    land = xuhui.land
    x0, y0, x1, y1 = land.bounds
    xm = (x0 + x1) / 2
    zones = gpd.GeoDataFrame({"name": ["west", "east"]},
                             geometry=[shapely.box(x0, y0, xm + 200, y1), shapely.box(xm, y0, x1, (y0 + y1) / 2)],
                             crs=xuhui.crs)
    with pytest.warns(DataWarning) as rec:
        info = zone_integrity(zones, land)
    msgs = " ".join(str(w.message) for w in rec)
    assert "overlap" in msgs and "uncovered" in msgs
    assert info["overlap_m2"] == pytest.approx(200 * (y1 - y0) / 2, rel=0.01)
    t = roll_up(xuhui.blocks, zones, xuhui.categories, zone_field="name")
    assert set(t["name"]) == {"west", "east", "unassigned"}
    assert t["blocks"].sum() == len(xuhui.blocks)
    assert t["population"].sum() == pytest.approx(xuhui.blocks["population"].sum())
    served = xuhui.blocks["within_transit"]
    # a block attached to no street (two walled in by a motorway, tests/test_snap_obstacles.py) is not measured
    measured = xuhui.blocks["dist_transit_m"].notna()
    assert t["not_served_transit"].sum() == pytest.approx(xuhui.blocks.loc[~served & measured, "population"].sum())


def test_sites_layer_and_selection(xuhui):
    sites = xuhui.layers["candidate_sites"]
    d = xuhui.details["decisions"]
    assert len(sites) == d["sites"]["candidates"] > 50
    for c in ("site_type", "source", "heritage_class", "allowed_interventions", "nearest_street", "score",
              "contrib_newly_served", "contrib_heritage_fit", "new_park_pop", "new_park_65plus", "selected"):
        assert c in sites.columns, c
    # the score is the sum of its contributions
    contrib = sites.filter(like="contrib_").sum(axis=1)
    ok = sites["score"].notna()
    assert np.allclose(contrib[ok], sites.loc[ok, "score"])
    assert sites["selected"].sum() == 5
    sel = d["selection"]
    assert sel["exact"]["objective"] >= sel["greedy"]["objective"] - 1e-6
    assert sel["gap"] >= 0


def test_selected_hubs_reproduce_the_predicted_gain(xuhui):
    """Recomputing coverage with the chosen hubs gives exactly the newly covered population predicted."""
    rows = xuhui.details["decisions"]["selection"]["before_after"]
    assert rows
    for r in rows:
        assert r["newly_covered_total"] == pytest.approx(r["predicted_newly_covered_total"], rel=1e-9, abs=1e-6)
        assert r["rate_total_after"] >= r["rate_total_before"]
    assert sum(r["newly_covered_total"] for r in rows) > 0


def test_sites_in_protected_areas_never_allow_demolition_or_widening(xuhui):
    sites = xuhui.layers["candidate_sites"]
    core = sites[sites["heritage_class"] == "core"]
    assert len(core) > 0
    for allowed, forbidden in zip(core["allowed_interventions"], core["forbidden_interventions"], strict=True):
        assert "demolition" not in allowed.split(";") and "road_widening" not in allowed.split(";")
        assert "demolition" in forbidden.split(";")
    # and inside a protected compound polygon itself
    zones = xuhui.layers["heritage"]
    compounds = shapely.union_all(np.asarray(zones.loc[zones["kind"] == "compound"].geometry.values))
    inside = sites[sites.geometry.within(compounds)]
    for allowed in inside["allowed_interventions"]:
        assert "demolition" not in allowed and "road_widening" not in allowed


def test_exact_equals_exhaustive_on_real_candidates(xuhui):
    """On 12 real candidates: exact >= greedy and exact == exhaustive search."""
    sites = xuhui.layers["candidate_sites"]
    best = sites["score"].fillna(-1).nlargest(12).index.to_numpy()
    from toolkit.reach import reachable_pairs
    from toolkit.sites import newly_served
    from toolkit.snapping import snap_points

    net = xuhui.network
    bs = snap_points(net, xuhui.blocks.geometry, xuhui.study.block_max_snap_m)
    ss = snap_points(net, sites.loc[best].geometry, 250)
    rules = xuhui.profile.rules()
    cats = ["park", "sports", "culture", "commercial"]
    pairs = reachable_pairs(net, bs, ss, max(rules[c].max_distance_m for c in cats))
    _, gains = newly_served(net, xuhui.blocks, bs, ss, cats, rules, pairs=pairs)
    problem, _ = selection_problem(gains, xuhui.blocks, cats, len(best), 1.0)
    for k in (1, 3, 5):
        g, e, x = solve_greedy(problem, k=k), solve_exact(problem, k=k), exhaustive(problem, k=k)
        assert e.objective >= g.objective - 1e-6
        assert e.objective == pytest.approx(x.objective, rel=1e-9)


def test_sensitivity_reported(xuhui):
    s = xuhui.details["decisions"]["sensitivity"]
    kinds = {v["kind"] for v in s["variants"]}
    assert kinds == {"weight", "threshold"}
    labels = {v["variant"] for v in s["variants"]}
    assert {"all thresholds 10 min (adult)", "all thresholds 20 min (adult)", "elderly walking speed"} <= labels
    for v in s["variants"]:
        assert 0 <= v["top_overlap"] <= 1 and -1 <= v["kendall_tau"] <= 1
    # an unused criterion (no costs given) moves nothing
    assert not any("cost" in v["variant"] for v in s["variants"])


def _small_study(tmp_path, extra: str) -> tk.Study:
    p = tmp_path / "s.toml"
    p.write_text('[study]\nname = "s"\n[area]\nbbox = [121.43, 31.19, 121.45, 31.21]\nclip_to_data = false\n'
                 '[network]\nsource = { dataset = "xuhui_roads" }\n'
                 '[population]\npopulation = { dataset = "pop_total" }\n'
                 '[[facilities]]\nsource = { dataset = "landuse_points" }\nkind = "field"\nfield = "landuse_type"\n'
                 + extra, encoding="utf-8")
    return tk.load_study(p)


def test_empty_candidates_layer_gives_empty_well_formed_result(tmp_path):
    empty = tmp_path / "cands.csv"
    empty.write_text("lon,lat,landuse_type\n121.0,31.0,vacant\n", encoding="utf-8")  # outside the area
    st = _small_study(tmp_path, '[sites]\ncandidates = [{ source = { path = "cands.csv" }, kind = "landuse", '
                                'field = "landuse_type", types = ["vacant"] }]\n')
    r = tk.run_study(st)
    d = r.details["decisions"]
    assert d["sites"]["candidates"] == 0
    assert "no candidate site" in d["sites"]["message"]
    assert d["selection"]["status"].startswith("empty")
    out = r.save(tmp_path / "o")
    rec = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert rec["decisions"]["sites"]["candidates"] == 0
    assert "underserved" in gpd.read_file(out / "s.gpkg", layer="blocks").columns


def test_budget_below_every_cost(tmp_path):
    cands = tmp_path / "cands.csv"
    cands.write_text("lon,lat,kind,cost\n121.440,31.200,vacant,500\n121.445,31.195,vacant,800\n", encoding="utf-8")
    st = _small_study(tmp_path, '[sites]\ncandidates = [{ source = { path = "cands.csv" }, kind = "all" }]\n'
                                '[selection]\ncategories = ["park"]\nbudget = 100\n')
    r = tk.run_study(st)
    sel = r.details["decisions"]["selection"]
    assert sel["exact"]["n_sites"] == 0 and sel["greedy"]["n_sites"] == 0
    assert "budget" in sel["exact"]["status"]
    assert not r.layers["candidate_sites"]["selected"].any()
    assert sel["before_after"][0]["newly_covered_total"] == 0


def test_geopackage_has_decision_layers(xuhui, tmp_path):
    out = xuhui.save(tmp_path)
    layers = {n for n, _ in pyogrio.list_layers(out / "xuhui.gpkg")}
    assert {"candidate_sites", "zones"} <= layers
    sites = gpd.read_file(out / "xuhui.gpkg", layer="candidate_sites")
    assert sites["selected"].sum() == 5
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "Underserved blocks" in html and "Candidate sites (ranked)" in html


def test_kendall_tau_b_equals_scipy():
    """The pairwise numpy tau-b against scipy's (the reference), with ties and without."""
    from scipy import stats

    from toolkit.decisions import kendall_tau_b

    rng = np.random.default_rng(3)
    for n, ties in ((2, False), (10, False), (125, True), (400, True)):
        x = rng.integers(0, 20, n).astype(float) if ties else rng.random(n)
        y = x + rng.normal(0, 5 if ties else 0.3, n)
        y = np.round(y) if ties else y
        assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_user_zones_named_by_their_own_field_reach_the_report(xuhui):
    """The README's own example, [zones] id_field = "name": the report lists the zones by that field (it once
    raised KeyError 'zone_id' after the whole analysis)."""
    import dataclasses

    import geopandas as gpd
    import shapely

    from toolkit.outputs.report import html_report
    from toolkit.underserved import roll_up

    x0, y0, x1, y1 = xuhui.blocks.total_bounds
    xm = (x0 + x1) / 2
    zones = gpd.GeoDataFrame({"name": ["西片", "东片"]},
                             geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)], crs=xuhui.crs)
    blocks = xuhui.blocks.assign(underserved=np.arange(len(xuhui.blocks)) % 3 == 0)
    table = roll_up(blocks, zones, xuhui.categories, zone_field="name")
    assert set(table["name"]) <= {"西片", "东片", "unassigned"} and table["blocks"].sum() == len(blocks)
    study = dataclasses.replace(xuhui.study, zone_id_field="name")
    result = dataclasses.replace(xuhui, study=study, blocks=blocks, layers={**xuhui.layers, "zones": table})
    html = html_report(result)
    assert "西片" in html and "东片" in html
