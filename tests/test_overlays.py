"""The three overlays in the default study's outputs, and absent-with-reason when a study has no water."""

from __future__ import annotations

import json

import geopandas as gpd
import pyogrio
import pytest

import toolkit as tk


@pytest.fixture(scope="module")
def saved(xuhui, tmp_path_factory):
    return xuhui.save(tmp_path_factory.mktemp("overlays"))


def test_blocks_carry_all_overlay_columns(saved, xuhui):
    blocks = gpd.read_file(saved / "xuhui.gpkg", layer="blocks")
    for col in ("heritage_class", "heritage_zone_share", "heritage_n_listed", "heritage_dist_listed_m",
                "heritage_style_area", "walk_index", "walk_index_elderly", "walk_intersection_density",
                "walk_block_face_max_m", "walk_hostile_share", "walk_mix_entropy", "walk_amenities",
                "dist_waterfront_m", "within_waterfront"):
        assert col in blocks.columns, col
    layers = {n for n, _ in pyogrio.list_layers(saved / "xuhui.gpkg")}
    assert {"heritage", "heritage_buildings", "waterfront", "waterfront_access"} <= layers
    wf = gpd.read_file(saved / "xuhui.gpkg", layer="waterfront")
    assert set(wf["kind"]) == {"access", "gap"}
    assert wf["length_m"].sum() == pytest.approx(xuhui.details["waterfront"]["bank_length_m"], rel=1e-3)
    streets = gpd.read_file(saved / "xuhui.gpkg", layer="streets")
    assert streets["protected_road"].sum() == 4


def test_xuhui_bank_length_and_access(xuhui):
    wf = xuhui.details["waterfront"]
    # the Huangpu's riverbank polygons within the district, measured (the buffered centreline gave 10.2 km;
    # tests/test_waterfront.py checks the figure against the polygons' outline)
    assert wf["bank_length_m"] == pytest.approx(13394, rel=0.01)
    assert wf["bank_source"].startswith("water polygons (dataset:geofabrik_water_a")
    assert 0 < wf["share_with_access"] < 1
    assert wf["longest_gap_m"] > 500
    assert wf["n_access_points"] >= 3


def test_map_shows_the_overlays_with_legends(saved):
    html = (saved / "map.html").read_text(encoding="utf-8")
    for name in ("Heritage protection zones", "Heritage class (blocks)", "Protected roads (never widen)",
                 "Walkability (blocks)", "Waterfront: bank with access / gaps", "Waterfront access points"):
        assert name in html, name
    assert "Walkability index (z-score composite)" in html  # colour-scale legend
    from toolkit.labels import label

    # legend box entries, in the glossary's words (data/labels.toml)
    assert label("heritage.core", "en") in html and label("legend.bank_access", "en") in html


def test_run_json_sections(saved):
    rec = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    assert rec["heritage"]["blocks"]["core"] > 100
    assert rec["walkability"]["intersections_3way_in_area"] > 1000
    assert rec["waterfront"]["status"] == "measured"
    assert set(rec["timings_s"]) >= {"heritage", "walkability", "waterfront"}


def test_study_without_water_has_no_waterfront_columns(tmp_path):
    """A 1.5 km box in west Xuhui, far from the Huangpu: absent-with-reason, not zeros."""
    study = tmp_path / "west.toml"
    study.write_text(
        '[study]\nname = "west"\n[area]\nbbox = [121.405, 31.175, 121.420, 31.188]\nclip_to_data = false\n'
        '[network]\nsource = { dataset = "xuhui_roads" }\n'
        '[population]\npopulation = { dataset = "pop_total" }\n'
        '[[facilities]]\nsource = { dataset = "xuhui_roads" }\nkind = "osm"\ncategories = ["transit"]\n'
        '[waterfront]\nrivers = [{ source = { dataset = "huangpu_centreline" }, width_m = 400 }]\n',
        encoding="utf-8")
    r = tk.run_study(tk.load_study(study))
    assert "dist_waterfront_m" not in r.blocks.columns and "within_waterfront" not in r.blocks.columns
    assert r.details["waterfront"]["status"] == "absent"
    assert "water" in r.details["waterfront"]["reason"]
    out = r.save(tmp_path / "o")
    layers = {n for n, _ in pyogrio.list_layers(out / "west.gpkg")}
    assert "waterfront" not in layers
    rec = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert rec["waterfront"]["status"] == "absent" and rec["heritage"]["status"] == "absent"


def test_river_without_width_is_a_clear_error(tmp_path):
    study = tmp_path / "nowidth.toml"
    study.write_text(
        '[study]\nname = "nowidth"\n[area]\nbbox = [121.44, 31.17, 121.47, 31.19]\nclip_to_data = false\n'
        '[network]\nsource = { dataset = "xuhui_roads" }\n'
        '[waterfront]\nrivers = [{ source = { dataset = "huangpu_centreline" } }]\n', encoding="utf-8")
    from toolkit.cli import main

    assert main(["run", str(study), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "nowidth").exists()
