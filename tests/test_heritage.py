"""Heritage constraint layer on the real Shanghai data (style areas, OSM compounds, building registers)."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.config import Source
from toolkit.errors import InputError
from toolkit.heritage import (
    HERITAGE_CLASSES,
    HeritageConfig,
    allowed_interventions,
    block_heritage,
    forbidden_interventions,
    heritage_rules,
    heritage_summary,
    load_heritage,
    names_compatible,
    protected_roads,
    review_interventions,
)
from toolkit.io import DataWarning

UTM51 = "EPSG:32651"
WUKANG_WGS84 = (121.4367, 31.2046)  # 武康大楼 (Wukang Mansion)
OSM, EXCELLENT, HISTORIC = "dataset:heritage_osm", "dataset:excellent_historic_buildings", "dataset:historic_buildings"


@pytest.fixture(scope="module")
def layers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the three real overlaps, asserted below
        return load_heritage(HeritageConfig.shanghai(), UTM51)


@pytest.fixture(scope="module")
def xuhui_heritage(xuhui, layers):
    return block_heritage(_bare(xuhui.blocks), layers)  # both in EPSG:32651; other CRSs are reprojected


def _wukang(crs) -> shapely.Point:
    return gpd.GeoSeries(gpd.points_from_xy(*map(list, zip(WUKANG_WGS84, strict=True))), crs=4326).to_crs(crs).iloc[0]


def test_hengfu_area_and_compounds_after_gcj02_conversion(shared, layers):
    assert (shared / "fengmao_areas_gcj02.geojson").is_file()
    z = layers.zones
    assert z["kind"].value_counts().to_dict() == {"compound": 78, "style_area": 12}
    hengfu = z[(z["kind"] == "style_area") & (z["name"] == "衡山路-复兴路")]
    assert len(hengfu) == 1
    assert hengfu["area_ha"].iloc[0] == pytest.approx(775, abs=10)  # 777.5 ha measured in UTM 51N
    geom = hengfu.geometry.iloc[0]
    comp = z[z["kind"] == "compound"]
    inside = shapely.contains(geom, shapely.point_on_surface(np.asarray(comp.geometry.values)))
    assert int(inside.sum()) == 41  # README: 41 after conversion, 30 before
    assert geom.contains(_wukang(UTM51))


def test_real_overlaps_reported_and_unions_used(layers):
    ov = layers.report["overlaps"]
    assert [(o["kind"], o["a_name"], o["b_name"]) for o in ov] == [
        ("style_area", "南京西路", "衡山路-复兴路"), ("compound", "新康花园", "上方花园"),
        ("compound", "上海长宁金融园", "桃源坊")]
    assert all(0 < o["overlap_m2"] < 50 for o in ov)
    comp = layers.report["zones"]["compound"]
    assert comp["union_area_ha"] < comp["sum_area_ha"]
    assert layers.report["zones"]["style_area"]["union_area_ha"] == pytest.approx(2703.0, abs=1)


def test_listed_building_merge_report_adds_up(layers):
    rep = layers.report["buildings"]
    assert rep["by_source"] == {OSM: 430, EXCELLENT: 1085, HISTORIC: 663}
    assert rep["records"] == sum(rep["by_source"].values()) == 2178
    assert rep["merged_records"] == 201
    assert rep["final"] == rep["records"] - rep["merged_records"] == 1977 == len(layers.buildings)
    b = layers.buildings
    assert int(b["n_sources"].sum()) == rep["records"]
    assert (b["n_sources"] == b["sources"].str.count(";") + 1).all()
    assert b["n_sources"].value_counts().to_dict() == {1: 1784, 2: 185, 3: 8}
    json.dumps(layers.report)  # goes to run.json as is
    assert layers.report["osm"] == {"rows": 1408, "compounds": 78, "listed_objects": 430, "listed_lines_skipped": 3}
    wukang = b[b["name"] == "武康大楼"]
    assert wukang["sources"].tolist() == [f"{OSM};{EXCELLENT}"]
    # the other register names it 诺曼底公寓 (its 1920s name): 6 m away, but the names share nothing
    assert b[b["name"] == "诺曼底公寓"]["sources"].tolist() == [HISTORIC]


def test_name_compatibility_rule():
    assert names_compatible("钱业大楼", "钱业大楼/长江计算机集团上海计算机技术服务公司")
    assert names_compatible("科学会堂(1号楼)", "科学会堂")
    assert names_compatible(None, "住宅") and names_compatible("", "住宅")
    assert names_compatible("上海 音乐厅", "上海音乐厅")
    assert not names_compatible("都城饭店", "新城饭店")
    assert not names_compatible("宅", "吴宅")  # one character is too little to call it containment


def test_wukang_block_is_core_and_xuhui_classes(xuhui, xuhui_heritage):
    h = xuhui_heritage
    assert h.index.equals(xuhui.blocks.index)
    hit = xuhui.blocks.index[xuhui.blocks.contains(_wukang(xuhui.crs))]
    assert len(hit) == 1
    row = h.loc[hit[0]]
    assert row["heritage_class"] == "core"
    assert row["heritage_style_area"] == "衡山路-复兴路"
    assert row["heritage_zone_share"] == pytest.approx(1.0)
    assert row["heritage_n_listed"] >= 1 and row["heritage_dist_listed_m"] == 0
    # 1,032 blocks drawn by the carriageways (no strips between an underpass and the road above) on the land
    # less the Huangpu's riverbank polygons, ponds and creeks (1,007 with the river as a buffered centreline)
    assert h["heritage_class"].value_counts().to_dict() == {"none": 851, "core": 130, "buffer": 51}
    assert h["heritage_zone_share"].between(0, 1).all()
    assert (h.loc[h["heritage_n_listed"] > 0, "heritage_dist_listed_m"] == 0).all()
    none = h[h["heritage_class"] == "none"]
    assert (none["heritage_dist_listed_m"] > 50).all() and (none["heritage_zone_share"] == 0).all()
    assert h["heritage_style_area"].dropna().value_counts().to_dict() == {"衡山路-复兴路": 112, "龙华": 3}


def _bare(blocks):
    return blocks.drop(columns=[c for c in blocks.columns if c.startswith("heritage_")])


def test_pipeline_heritage_columns_match_the_module(xuhui, xuhui_heritage):
    """The default study's blocks carry the same heritage columns block_heritage computes on its own."""
    cols = list(xuhui_heritage.columns)
    assert (xuhui.blocks["heritage_class"] == xuhui_heritage["heritage_class"]).all()
    assert np.allclose(xuhui.blocks["heritage_zone_share"], xuhui_heritage["heritage_zone_share"])
    assert set(cols) <= set(xuhui.blocks.columns)
    assert xuhui.details["heritage"]["protected_roads"]["street_edges"] == 4


def test_summary_for_run_json(xuhui, xuhui_heritage, layers):
    s = heritage_summary(_bare(xuhui.blocks).join(xuhui_heritage), layers)
    json.dumps(s)
    assert s["blocks"] == {"core": 130, "buffer": 51, "none": 851}
    assert sum(s["population"]["population"].values()) == pytest.approx(xuhui.blocks["population"].sum(), rel=1e-6)
    # 165,000 since the land is cut by the Huangpu's real riverbank polygons, creeks and ponds: the 1.9 km2
    # riverside block a listed building made core lay 0.36 km2 on the real river; cut to the land it is
    # parted, and its pieces without the building are not core (177,636 with the buffered centreline;
    # 167,236 when underpass strips split core blocks)
    assert s["population"]["population"]["core"] == pytest.approx(165000, rel=0.01)
    assert s["zones"]["compound"]["count"] == 78 and s["buildings"]["final"] == 1977
    with pytest.raises(InputError, match="heritage_class"):
        heritage_summary(_bare(xuhui.blocks), layers)


def test_protected_roads_on_xuhui(xuhui):
    with pytest.warns(DataWarning, match="不存在路"):
        mask, unmatched = protected_roads(xuhui.streets, ["岳阳路", "不存在路"])
    assert unmatched == ["不存在路"]
    assert mask.index.equals(xuhui.streets.index) and mask.dtype == bool
    assert int(mask.sum()) == 4
    assert xuhui.streets.loc[mask, "name"].str.split(";").map(lambda t: "岳阳路" in t).all()


def test_protected_roads_merged_names_and_empty_list():
    names = ["岳阳路;桃江路", "岳阳路北", None, "桃江路", "ＡＢ路"]  # merged way, other road, unnamed, full-width
    streets = pd.DataFrame({"name": names}, index=[10, 11, 12, 13, 14])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask, unmatched = protected_roads(streets, ["岳阳路", "AB路"])
        assert mask.tolist() == [True, False, False, False, True] and unmatched == []
        empty, none_left = protected_roads(streets, [])
    assert not empty.any() and none_left == [] and empty.index.equals(streets.index)
    with pytest.warns(DataWarning, match="did you mean 岳阳路"):
        protected_roads(streets, ["岳杨路"])


def _squares_file(tmp_path, polys: list[shapely.Geometry], name: str):
    p = tmp_path / name
    gpd.GeoDataFrame({"title": [f"area{i}" for i in range(len(polys))]}, geometry=polys, crs=4326).to_file(
        p, driver="GeoJSON")
    return p


def test_overlapping_style_areas_use_the_union(tmp_path):
    a = shapely.box(121.400, 31.200, 121.410, 31.210)
    b = shapely.box(121.405, 31.205, 121.415, 31.215)
    cfg = HeritageConfig(style_areas=Source(path=str(_squares_file(tmp_path, [a, b], "sq.geojson"))))
    with pytest.warns(DataWarning, match="1 overlaps between protection zones"):
        lay = load_heritage(cfg, UTM51)
    pa, pb = gpd.GeoSeries([a, b], crs=4326).to_crs(UTM51)
    overlap, union = pa.intersection(pb).area, pa.union(pb).area
    (ov,) = lay.report["overlaps"]
    assert (ov["kind"], ov["a_name"], ov["b_name"]) == ("style_area", "area0", "area1")
    assert ov["overlap_m2"] == pytest.approx(overlap, rel=1e-6) and overlap > 2e5
    sa = lay.report["zones"]["style_area"]
    assert sa["union_area_ha"] == pytest.approx(union / 1e4, abs=0.01)
    assert sa["sum_area_ha"] == pytest.approx((union + overlap) / 1e4, abs=0.01)
    box = shapely.box(*shapely.bounds(union_geom := pa.union(pb)))
    blocks = gpd.GeoDataFrame({"block_id": ["whole", "box"]}, geometry=[union_geom, box], crs=UTM51,
                              index=["whole", "box"])
    h = block_heritage(blocks, lay)
    assert h.loc["whole", "heritage_zone_share"] == pytest.approx(1.0, abs=1e-4)  # not 1 + overlap share
    assert h.loc["box", "heritage_zone_share"] == pytest.approx(union / box.area, abs=1e-4)
    assert h["heritage_class"].tolist() == ["core", "core"]
    assert pd.isna(h["heritage_dist_listed_m"]).all() and (h["heritage_n_listed"] == 0).all()


def test_invalid_polygon_is_repaired(tmp_path):
    bowtie = shapely.Polygon([(121.40, 31.20), (121.41, 31.21), (121.41, 31.20), (121.40, 31.21)])
    assert not bowtie.is_valid
    cfg = HeritageConfig(style_areas=Source(path=str(_squares_file(tmp_path, [bowtie], "bow.geojson"))))
    with pytest.warns(DataWarning, match="repaired 1 invalid geometries"):
        lay = load_heritage(cfg, UTM51)
    (g,) = lay.zones.geometry
    assert g.is_valid and g.geom_type == "MultiPolygon" and len(g.geoms) == 2
    square = gpd.GeoSeries([shapely.box(121.40, 31.20, 121.41, 31.21)], crs=4326).to_crs(UTM51).area.iloc[0]
    assert g.area == pytest.approx(square / 2, rel=0.01)  # two triangles, each a quarter of the square
    assert any("repaired 1 invalid" in n for n in lay.report["notes"])


def test_config_errors(tmp_path):
    with pytest.raises(InputError, match="no heritage source"):
        load_heritage(HeritageConfig(), UTM51)
    p = _squares_file(tmp_path, [shapely.box(121.40, 31.20, 121.41, 31.21)], "one.geojson")
    with pytest.raises(InputError, match="style-area name field '名称'"):
        load_heritage(HeritageConfig(style_areas=Source(path=str(p)), style_name_field="名称"), UTM51)
    with pytest.raises(InputError, match="geographic"):
        load_heritage(HeritageConfig(style_areas=Source(path=str(p))), "EPSG:4326")
    with pytest.raises(InputError, match="buffer_m"):
        HeritageConfig(buffer_m=-5)


def test_rules_by_class():
    for cls in ("core", "buffer"):
        assert {"demolition", "road_widening"}.isdisjoint(allowed_interventions(cls))
    assert {"demolition", "road_widening", "out_of_scale_new_building"} <= set(forbidden_interventions("core"))
    assert allowed_interventions("core") == ["repair", "adaptive_reuse", "pocket_park", "street_furniture",
                                             "greening", "accessibility_retrofit"]
    assert "small_new_facility" in allowed_interventions("buffer")
    assert "out_of_scale_new_building" in forbidden_interventions("buffer")
    assert forbidden_interventions("none") == [] and review_interventions("none") == []
    rules = heritage_rules()
    every = set(rules["interventions"])
    assert set(allowed_interventions("none")) == every
    for cls in HERITAGE_CLASSES:
        # the published regulation, or the toolkit's own screening rule said as such (tests/test_sources.py)
        assert "保护条例" in rules["classes"][cls]["source"] or cls == "none"
        assert "standards.md" not in rules["classes"][cls]["source"]
        parts = allowed_interventions(cls) + review_interventions(cls) + forbidden_interventions(cls)
        assert sorted(parts) == sorted(every)
    rules["classes"]["core"]["allowed"].append("demolition")  # a caller's copy, not the cached table
    assert "demolition" not in allowed_interventions("core")
    with pytest.raises(InputError, match="unknown heritage class 'historic'"):
        allowed_interventions("historic")
    with pytest.raises(InputError):
        forbidden_interventions("Core")


def test_listed_building_distance_equals_geos_nearest(xuhui, layers, xuhui_heritage):
    """The k-d tree bounded search gives GEOS's own nearest distance for every Xuhui block."""
    pts = np.asarray(layers.buildings.to_crs(xuhui.crs).geometry.values)
    blocks = np.asarray(xuhui.blocks.geometry.values)
    _, d = shapely.STRtree(pts).query_nearest(blocks, return_distance=True, all_matches=False)
    got = xuhui_heritage["heritage_dist_listed_m"].to_numpy()
    assert len(pts) > 1000 and (got > 0).sum() > 500
    assert np.abs(got - np.round(d, 2)).max() < 1e-9
