"""Heritage as a rule in the selection (#12 item 1): a hub never goes where what it needs is forbidden.

The reference is the rule table itself, read here with tomllib, and each
site's block class from the blocks layer, not the toolkit's feasibility
columns.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.sites import HUB_FORBIDDEN, HUB_GREEN, HUB_OK, HUB_REVIEW, SiteSettings, hub_feasibility

RULES = Path(__file__).resolve().parents[1] / "data" / "heritage_rules.toml"


@pytest.fixture(scope="module")
def rules() -> dict:
    with open(RULES, "rb") as f:
        return tomllib.load(f)["classes"]


def test_no_selected_hub_where_its_intervention_is_forbidden(xuhui, rules):
    sites = xuhui.layers["candidate_sites"]
    # each site's class from the block holding it (GEOS, on the blocks layer), not from the sites' own columns
    blocks = xuhui.blocks.reset_index(drop=True)
    tree = shapely.STRtree(np.asarray(blocks.geometry.values))
    pts = shapely.point_on_surface(np.asarray(sites.geometry.values))
    si, bi = tree.query(pts, predicate="within")
    cls = pd.Series(blocks["heritage_class"].to_numpy()[bi], index=sites.index[si])
    cls = cls[~cls.index.duplicated()]
    assert len(cls) > 0.9 * len(sites)
    sel = sites.loc[sites["selected"]]
    assert len(sel) == xuhui.details["decisions"]["selection"]["k"]
    for i, s in sel.iterrows():
        c = cls.get(i, s["heritage_class"])
        assert s["hub_needs"] not in rules[c]["forbidden"], (s["site_id"], c)
        assert s["site_type"] not in SiteSettings.from_config().green_types
    # every candidate whose block forbids a new facility is out of the ranking and the selection
    forbidden = cls.map(lambda c: "small_new_facility" in rules[c]["forbidden"])
    out = sites.loc[forbidden[forbidden].index]
    assert len(out) > 0 and not out["selected"].any() and out["score"].isna().all()


def test_excluded_candidates_are_listed_with_their_reason(xuhui, rules):
    d = xuhui.details["decisions"]["sites"]["hub_infeasible"]
    sites = xuhui.layers["candidate_sites"].set_index("site_id")
    listed = {e["site_id"]: e for e in d["sites"]}
    core_open = sites[(sites["heritage_class"] == "core") & sites["snapped"] & ~sites["excluded"]]
    assert set(core_open.index) <= set(listed)
    for sid, e in listed.items():
        assert e["reason"] and e["heritage_class"] == sites.at[sid, "heritage_class"]
    assert sum(d["by_status"].values()) == len(listed)
    assert any("cannot host a hub" in n for n in xuhui.notes)


def test_the_sites_of_the_old_choice_in_heritage_cores_are_gone(xuhui):
    """Sites 13 and 101 (open grass in heritage-core blocks) were chosen before the rule bound the selection."""
    sites = xuhui.layers["candidate_sites"].set_index("site_id")
    for sid in (13, 101):
        assert sites.at[sid, "hub_status"] in (HUB_FORBIDDEN, HUB_GREEN)
        assert not sites.at[sid, "selected"]


def _sites(types, classes):
    return pd.DataFrame({"site_type": types, "heritage_class": classes})


def test_feasibility_follows_the_rule_table(rules):
    s = _sites(["vacant", "vacant", "vacant", "building", "grass"], ["none", "buffer", "core", "core", "none"])
    got = hub_feasibility(s, SiteSettings(reuse_types=["building"], green_types=["grass"]))
    expect_core_new = HUB_FORBIDDEN if "small_new_facility" in rules["core"]["forbidden"] else HUB_OK
    assert got["hub_status"].tolist() == [HUB_OK, HUB_OK, expect_core_new, HUB_OK, HUB_GREEN]
    assert got["hub_needs"].tolist()[3] == "adaptive_reuse"
    assert "forbidden in a heritage core block" in got["hub_reason"].iloc[2]
    offered = hub_feasibility(s, SiteSettings(reuse_types=["building"], green_types=["grass"], build_on_green=True))
    assert offered["hub_status"].iloc[4] == HUB_OK


def test_review_is_flagged_not_excluded(rules):
    review = rules["buffer"]["review"]
    assert "new_building" in review
    got = hub_feasibility(_sites(["vacant"], ["buffer"]), SiteSettings(hub_intervention="new_building"))
    assert got["hub_status"].tolist() == [HUB_REVIEW]
    assert "heritage review" in got["hub_reason"].iloc[0]


def test_without_heritage_data_nothing_is_forbidden():
    got = hub_feasibility(pd.DataFrame({"site_type": ["vacant", "grass"]}), SiteSettings(green_types=["grass"]))
    assert got["hub_status"].tolist() == [HUB_OK, HUB_GREEN]


def test_report_lists_the_excluded_candidates(xuhui, tmp_path):
    from toolkit.outputs.report import write_report
    from toolkit.outputs.writers import run_record

    rec = run_record(xuhui)
    write_report(tmp_path / "report.html", xuhui, rec, files=[])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    gone = rec["decisions"]["sites"]["hub_infeasible"]["sites"]
    assert f"{len(gone)} candidate sites cannot host a hub" in html
    assert "small_new_facility is forbidden in a heritage core block" in html
    assert "existing green space (grass)" in html
