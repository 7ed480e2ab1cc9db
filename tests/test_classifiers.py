"""Readers and classifiers for the formats planners get: Geofabrik shapefiles, Amap and Baidu exports.

The references are made here, on the raw files, without the toolkit's mapping
tables: the Geofabrik ``fclass`` values and the Amap codes are written out
below from the published code tables (Geofabrik, "OpenStreetMap Data in
Layered GIS Format", chapter Points of Interest; 高德地图POI分类编码表), and
the Amap references are counted in GCJ-02 against the GCJ-02 district
boundary, so neither the datum conversion nor the classifier under test takes
part in them. The district boundary (徐汇区 of the ``districts`` dataset) is
input: it is read and converted with the toolkit's reader.

The Amap export and the compounds table are evaluation data: they are read
from ``../shared`` only, and the synthetic files below are written to a
temporary folder.
"""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.config import AreaConfig, FacilitySource, Source, Study, study_from_dict
from toolkit.errors import InputError
from toolkit.facilities import classify_source, facilities_from, load_classifier, match_osm
from toolkit.io import DataWarning, read_layer
from toolkit.osm_network import read_walk_network
from toolkit.standards import Category
from toolkit.study import load_facilities

CRS = "EPSG:32651"
XUHUI = "徐汇区"
AMAP_CSV = "amap_poi_xujiahui_20260311/poi_all_gcj02.csv"
GEOFABRIK = "osm_geofabrik_20250318/gis_osm_{}_free_1.shp"

# ---- the published tables, written out (not read from data/classifiers)
# Geofabrik free shapefiles, POI chapter: fclass (code) per category, following the OSM tags of
# data/categories.toml (2083 kindergarten; 2110 hospital, 2111 clinic, 2120 doctors; 2101 pharmacy; ...).
GF_CLASSES = {
    "kindergarten": {"kindergarten"},
    "health": {"hospital", "clinic", "doctors"},
    "pharmacy": {"pharmacy"},
    "elderly_care": {"nursing_home"},
    "community_service": {"community_centre"},
    "market": {"market_place", "supermarket", "greengrocer", "convenience"},
    "culture": {"library", "arts_centre", "theatre", "museum"},
    "sports": {"sports_centre", "pitch", "stadium", "track"},
    "park": {"park", "playground"},
    "toilets": {"toilet"},
    "recycling": {"recycling", "recycling_glass", "recycling_paper", "recycling_clothes", "recycling_metal"},
}
# Geofabrik's `school` (2082) has no level: a Chinese school name ends in it (小学, 中学...), so the
# reference reads the level off the end of the name, after a trailing campus, branch or building part.
_TAIL = re.compile(r"(\(.*?\)|（.*?）|\d+号楼|[东南西北]?校区|[东南西北]校|..分校|分校|国际部|原校办工厂"
                   r"|[一二三四五六七八九十]分园|新园|上中园|..园所)+$")
_LEVEL_AT_END = [("kindergarten", ("幼儿园", "幼稚园")), ("primary_school", ("小学", "小学部")),
                 ("middle_school", ("中学", "初中", "高中", "中学部", "初中部"))]

# 高德地图POI分类编码表: six-digit codes per category
AMAP_CODES = {
    "kindergarten": {"141204"},
    "primary_school": {"141203"},
    "middle_school": {"141202"},
    "health": {"090100", "090101", "090102", "090200", "090203", "090204", "090205", "090206", "090207",
               "090209", "090210", "090300"},
    "pharmacy": {"090601"},
    "community_service": {"120304", "130105", "130106"},
    "market": {"060700", "060703", "060704", "060705", "060706", "060400", "060402", "060403", "060405",
               "060406", "060200", "060201"},
    "culture": {"140100", "140400", "140500", "140600", "140700", "140800", "080602", "080603"},
    "sports": {"080101", "080103", "080104", "080105", "080107", "080110", "080111", "080112", "080118",
               "080119"},
    "park": {"110101", "110103"},
    "transit": {"150700", "150704", "150500", "150501", "150200"},
    "toilets": {"200300"},
}
# classes mixing facilities with other things: (code, word the name, brackets left out, contains)
AMAP_NAMED = {
    "health": [("090000", "社区卫生服务"), ("070000", "社区卫生服务")],
    "elderly_care": [("070000", "为老"), ("130105", "为老"), ("070000", "养老服务站")],
    "community_service": [("130100", "居民委员会"), ("130100", "居委会"), ("070000", "社区服务"),
                          ("070000", "社区事务受理"), ("070000", "党群服务")],
    "culture": [("120304", "文化活动中心"), ("070000", "文化活动中心"), ("140000", "文化活动中心")],
    "park": [("110100", "公园"), ("110100", "绿地"), ("110100", "花园")],
}
# 080402 疗养院 holds the nursing homes, less the workers' sanatorium and the disabled day centres
AMAP_ELDERLY_HOMES, AMAP_NOT_ELDERLY = "080402", ("疗养院", "阳光", "残疾人")

HEALTH_CENTRES = ["天平", "湖南", "斜土", "枫林", "长桥", "田林", "虹梅", "康健", "徐家汇", "凌云", "龙华", "漕河泾",
                  "华泾"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def xuhui_gcj(shared) -> shapely.Geometry:
    """Xuhui as published, in GCJ-02 (no conversion)."""
    d = gpd.read_file(shared / "districts_gcj02.json")
    return d.loc[d["name"] == XUHUI].geometry.union_all()


@pytest.fixture(scope="module")
def xuhui_wgs(shared) -> shapely.Geometry:
    """Xuhui in WGS84 through the toolkit's reader (input of the runs below, not what they test)."""
    d = read_layer(shared / "districts_gcj02.json", crs="gcj02")
    return d.loc[d["name"] == XUHUI].geometry.union_all()


def _run(sources: list[FacilitySource], reach: shapely.Geometry) -> tuple[gpd.GeoDataFrame, dict]:
    study = Study(name="classifiers", area=AreaConfig(bbox=list(reach.bounds)), facilities=sources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # schools of unknown level: counted in their own test
        return load_facilities(study, CRS, reach)


@pytest.fixture(scope="module")
def geofabrik_run(xuhui_wgs):
    return _run([FacilitySource(Source(dataset="geofabrik_pois"), kind="geofabrik"),
                 FacilitySource(Source(dataset="geofabrik_pois_a"), kind="geofabrik")], xuhui_wgs)


@pytest.fixture(scope="module")
def amap_run(xuhui_wgs):
    return _run([FacilitySource(Source(dataset="amap_poi_xujiahui"), kind="amap")], xuhui_wgs)


def _counts(fac: gpd.GeoDataFrame, cats) -> dict[str, int]:
    return {c: int((fac["category"] == c).sum()) for c in cats}


# ----------------------------------------------------------------- Geofabrik
def _school_level(name) -> tuple[str, ...]:
    if not isinstance(name, str):
        return ()
    core = _TAIL.sub("", name.strip())
    if "一贯制" in core:
        return ("primary_school", "middle_school")
    return tuple(c for c, words in _LEVEL_AT_END if core.endswith(words))


def test_geofabrik_counts_in_xuhui_match_the_raw_layers(shared, xuhui_wgs, geofabrik_run):
    fac, report = geofabrik_run
    ref: dict[str, int] = dict.fromkeys([*GF_CLASSES, "primary_school", "middle_school"], 0)
    for layer in ("pois", "pois_a"):
        raw = gpd.read_file(shared / GEOFABRIK.format(layer))
        raw = raw[raw.intersects(xuhui_wgs)]
        for cat, classes in GF_CLASSES.items():
            ref[cat] += int(raw["fclass"].isin(classes).sum())
        for name in raw.loc[raw["fclass"] == "school", "name"]:
            for c in _school_level(name):
                ref[c] += 1
    got = _counts(fac, ref)
    print("\nGeofabrik in Xuhui (points + areas), toolkit vs raw:", {c: (got[c], ref[c]) for c in ref})
    assert got == ref
    # the layer's own classes make up most of Xuhui's schools; the rest are reported, not dropped
    assert ref["primary_school"] > 40 and ref["middle_school"] > 40 and ref["kindergarten"] > 80
    unknown = sum(s.get("schools_level_unknown", 0) for s in report["sources"])
    assert 0 < unknown < 40
    ours = fac[fac["category"].isin(list(ref))]
    assert ours["rule"].str.startswith("fclass=").all()
    assert set(ours.loc[ours["category"] == "pharmacy", "rule"]) == {"fclass=pharmacy"}


def test_geofabrik_points_and_areas_are_one_layer_with_unique_ids(geofabrik_run):
    fac, report = geofabrik_run
    assert fac["facility_id"].is_unique and len(fac) == sum(s["kept_in_reach"] for s in report["sources"])
    assert {"Point", "Polygon"} <= set(fac.geom_type) or {"Point", "MultiPolygon"} <= set(fac.geom_type)
    parks = fac[fac["category"] == "park"]
    assert (parks["area_m2"] > 0).sum() >= 70  # the areas layer keeps its polygons and their area
    # one row per (feature, category): no feature is counted twice in a category
    assert not fac.duplicated(["source", "source_id", "category"]).any()


# --------------------------------------------------------------------- Amap
@pytest.fixture(scope="module")
def amap_raw(shared) -> pd.DataFrame:
    return pd.read_csv(shared / AMAP_CSV, encoding="utf-8-sig", dtype=str)


def _amap_reference(raw: pd.DataFrame, inside: np.ndarray) -> dict[str, int]:
    codes = raw["typecode"].str.split("|")
    plain = raw["name"].str.replace(r"[(（][^)）]*[)）]", "", regex=True)
    ref = {}
    for cat in sorted({*AMAP_CODES, *AMAP_NAMED, "elderly_care"}):
        hit = codes.map(lambda cs, cat=cat: bool(set(cs) & AMAP_CODES.get(cat, set())))
        for code, word in AMAP_NAMED.get(cat, []):
            hit |= codes.map(lambda cs, code=code: code in cs) & plain.str.contains(word, regex=False)
        if cat == "elderly_care":
            homes = codes.map(lambda cs: AMAP_ELDERLY_HOMES in cs)
            for word in AMAP_NOT_ELDERLY:
                homes &= ~plain.str.contains(word, regex=False)
            hit |= homes
        ref[cat] = int((hit.to_numpy() & inside).sum())
    return ref


def test_amap_counts_in_xuhui_match_the_raw_export(amap_raw, xuhui_gcj, amap_run):
    fac, _ = amap_run
    pts = gpd.points_from_xy(amap_raw["lng"].astype(float), amap_raw["lat"].astype(float))
    inside = shapely.intersects(xuhui_gcj, np.asarray(pts))  # GCJ-02 points in the GCJ-02 boundary
    ref = _amap_reference(amap_raw, inside)
    got = _counts(fac, ref)
    print("\nAmap in Xuhui, toolkit vs raw:", {c: (got[c], ref[c]) for c in ref})
    assert got == ref
    # what the export holds (the README: schools and toilets were never queried)
    assert ref["health"] > 100 and ref["community_service"] > 100 and ref["elderly_care"] > 30
    assert ref["kindergarten"] == ref["primary_school"] == ref["toilets"] == 0
    assert not fac.duplicated(["source_id", "category"]).any() and fac["facility_id"].is_unique


def test_amap_codes_keep_their_leading_zero(shared):
    g = read_layer(shared / AMAP_CSV, crs="gcj02")
    assert g.attrs["encoding"] == "utf-8-sig" and "id" in g.columns  # the BOM is not part of the first name
    assert g["typecode"].str.fullmatch(r"\d{6}(\|\d{6})*").all()


def test_the_13_xuhui_health_centres_are_found_and_lie_on_the_street_network(shared, amap_raw, amap_run):
    fac, _ = amap_run
    health = fac[fac["category"] == "health"]
    net = read_walk_network(shared / "xuhui_roads.osm", CRS)
    tree = shapely.STRtree(net.edge_geometry)
    raw = amap_raw.set_index("id")
    for street in HEALTH_CENTRES:
        name = health["name"].astype(str)
        hit = health[name.str.contains(street) & name.str.endswith("社区卫生服务中心")]
        assert len(hit) >= 1, street
        row = hit.iloc[0]
        # Amap files them as 卫生院 (090102), and as nothing else that is not health
        assert row["rule"] == "typecode=090102", (street, row["rule"])
        others = set(fac.loc[fac["source_id"] == row["source_id"], "category"]) - {"health"}
        assert not others & {"pharmacy", "market", "elderly_care", "community_service"}, (street, others)
        pt = row.geometry
        _, d = tree.query_nearest(pt, return_distance=True)
        assert d[0] <= 100.0, (street, d[0])
        # converted: the published GCJ-02 position lies about 0.5 km away
        lng, lat = raw.loc[row["source_id"], ["lng", "lat"]].astype(float)
        gcj = gpd.GeoSeries([shapely.Point(lng, lat)], crs="EPSG:4326").to_crs(CRS).iloc[0]
        assert 400 < gcj.distance(pt) < 700, (street, gcj.distance(pt))


# ------------------------------------------------------ several categories
def test_a_feature_of_two_categories_is_in_both_with_its_rule(amap_raw, amap_run):
    fac, _ = amap_run
    # an Amap POI filed as pharmacy and clinic (090601|090300)
    both = amap_raw.loc[amap_raw["typecode"].str.contains("090601") & amap_raw["typecode"].str.contains("090300"),
                        "id"]
    rows = fac[fac["source_id"].isin(set(both))]
    assert len(rows), "no pharmacy-and-clinic POI inside Xuhui"
    for _, one in rows.groupby("source_id"):
        rules = dict(zip(one["category"], one["rule"], strict=True))
        assert rules["pharmacy"] == "typecode=090601" and rules["health"] == "typecode=090300"
        assert one["facility_id"].is_unique and one.geometry.iloc[0].equals(one.geometry.iloc[1])
    # OSM: a community centre with an elderly day-care is both (it used to go to the first category only)
    tags = gpd.GeoDataFrame({"amenity": ["community_centre", "cafe"], "social_facility": ["day_care", None],
                             "name": ["某某社区中心", "cafe"]},
                            geometry=[shapely.Point(121.44, 31.19), shapely.Point(121.45, 31.19)], crs=4326)
    m, _ = match_osm(tags)
    f = facilities_from(tags, m, source="t")
    assert sorted(zip(f["category"], f["rule"], strict=True)) == [
        ("community_service", "amenity=community_centre"), ("elderly_care", "social_facility=day_care")]
    assert f["source_id"].nunique() == 1


# ------------------------------------------------------- encodings and datums
SYNTH = [  # name, typecode, GCJ-02 lng, lat (made up, in Xuhui)
    ("测试大药房(徐家汇店)", "090601", 121.4420, 31.1920),
    ("某某路幼儿园", "141204", 121.4500, 31.1850),
    ("某某街道社区卫生服务中心", "090102", 121.4300, 31.1800),
    ("小吃店", "050100", 121.4400, 31.2000),
]
# what the synthetic rows are about (the catalogue may hold more, e.g. health service centres by name)
SYNTH_CATS = ["health", "kindergarten", "pharmacy", "market"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_amap_csv_in_utf8_with_bom_and_in_gbk(tmp_path, encoding):
    p = tmp_path / f"amap_{encoding}.csv"
    pd.DataFrame(SYNTH, columns=["name", "typecode", "lng", "lat"]).assign(id=["a", "b", "c", "d"]).to_csv(
        p, index=False, encoding=encoding)
    head = p.read_bytes()[:3]
    assert (head == b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    # GBK is read as GB18030, its superset; an all-digit code column keeps its leading zero
    g = read_layer(p, crs="gcj02")
    assert g.attrs["encoding"] == ("utf-8-sig" if encoding == "utf-8-sig" else "gb18030")
    assert g["typecode"].tolist() == [t for _, t, _, _ in SYNTH] and g["name"].iloc[0] == "测试大药房(徐家汇店)"
    fac, _ = _run([FacilitySource(Source(path=str(p), crs="gcj02"), kind="amap", categories=SYNTH_CATS)],
                  shapely.box(121.3, 31.1, 121.6, 31.3))
    got = sorted(zip(fac["name"], fac["category"], fac["rule"], strict=True))
    assert got == [("某某街道社区卫生服务中心", "health", "typecode=090102"),
                   ("某某路幼儿园", "kindergarten", "typecode=141204"),
                   ("测试大药房(徐家汇店)", "pharmacy", "typecode=090601")]
    # converted from GCJ-02: the pharmacy lies ~0.5 km from where its raw coordinates would put it
    raw = gpd.GeoSeries([shapely.Point(121.4420, 31.1920)], crs=4326).to_crs(CRS).iloc[0]
    assert 400 < fac.loc[fac["category"] == "pharmacy"].geometry.iloc[0].distance(raw) < 700


def test_an_export_without_its_datum_is_refused(tmp_path):
    p = tmp_path / "amap.csv"
    pd.DataFrame(SYNTH, columns=["name", "typecode", "lng", "lat"]).to_csv(p, index=False, encoding="utf-8-sig")
    raw = {"study": {"name": "t"}, "area": {"bbox": [121.3, 31.1, 121.6, 31.3]},
           "network": {"source": {"dataset": "xuhui_roads"}},
           "facilities": [{"source": {"path": str(p)}, "kind": "amap"}]}
    with pytest.raises(InputError, match="needs its CRS declared") as e:
        study_from_dict(raw)
    assert "gcj02" in str(e.value)
    raw["facilities"][0]["source"]["crs"] = "gcj02"
    raw["facilities"][0]["categories"] = ["pharmacy"]
    study = study_from_dict(raw)
    assert study.facilities[0].kind == "amap" and study.facilities[0].categories == ["pharmacy"]
    fac, _ = _run(study.facilities, shapely.box(121.3, 31.1, 121.6, 31.3))
    assert fac["category"].tolist() == ["pharmacy"]  # categories = [...] restricts what is looked for


def test_baidu_bd09_export_lands_on_the_published_wgs84_positions(shared, tmp_path):
    # the compounds table gives each compound in BD-09 (经度bd, lat纬度bd) and, converted by its
    # publisher, in WGS84 (POINT_X, POINT_Y): an independent conversion to check against
    comp = pd.read_excel(shared / "residential_compounds_points.xlsx", nrows=40, engine="calamine")
    comp = comp.dropna(subset=["经度bd", "lat纬度bd", "POINT_X", "POINT_Y"]).head(12).reset_index(drop=True)
    tags = ["医疗;药店", "教育培训;幼儿园", "医疗;综合医院", "购物;超市", "政府机构;居民委员会", "美食;中餐厅"]
    export = pd.DataFrame({
        "uid": [f"u{i:03d}" for i in range(len(comp))],
        "name": [f"测试{i}" for i in range(len(comp))],
        "detail_info.tag": [tags[i % len(tags)] for i in range(len(comp))],
        "location.lng": comp["经度bd"].astype(float), "location.lat": comp["lat纬度bd"].astype(float)})
    p = tmp_path / "baidu.csv"
    export.to_csv(p, index=False, encoding="utf-8")
    src = FacilitySource(Source(path=str(p), crs="bd09"), kind="baidu")
    fac, _ = _run([src], shapely.box(120.8, 30.6, 122.2, 31.9))
    expected = {"医疗;药店": "pharmacy", "教育培训;幼儿园": "kindergarten", "医疗;综合医院": "health",
                "购物;超市": "market", "政府机构;居民委员会": "community_service"}
    by_uid = fac.set_index("source_id")
    for i, row in export.iterrows():
        if row["detail_info.tag"] not in expected:
            assert row["uid"] not in by_uid.index
            continue
        f = by_uid.loc[row["uid"]]
        assert f["category"] == expected[row["detail_info.tag"]] and f["rule"] == f"tag^={row['detail_info.tag']}"
        want = gpd.GeoSeries([shapely.Point(comp.loc[i, "POINT_X"], comp.loc[i, "POINT_Y"])], crs=4326).to_crs(CRS)
        assert f.geometry.distance(want.iloc[0]) < 3.0, (row["uid"], f.geometry.distance(want.iloc[0]))
        raw = gpd.GeoSeries([shapely.Point(row["location.lng"], row["location.lat"])], crs=4326).to_crs(CRS)
        assert 800 < f.geometry.distance(raw.iloc[0]) < 1400  # BD-09 sits about 1 km off


# ------------------------------------------------------------- user tables
def test_a_user_mapping_table_replaces_the_bundled_rules(tmp_path):
    t = tmp_path / "my_amap.toml"
    t.write_text('[rules.market]\n"typecode=050100" = "our survey counts snack bars as food shops"\n'
                 '[rules.pharmacy]\n"090601" = "a bare value is a value of the table\'s column (typecode)"\n',
                 encoding="utf-8")
    pois = pd.DataFrame(SYNTH, columns=["name", "typecode", "lng", "lat"])
    got = classify_source(pois, "amap", table=str(t), only=SYNTH_CATS).matches
    assert got[["row", "category", "rule"]].values.tolist() == [[0, "pharmacy", "typecode=090601"],
                                                                 [3, "market", "typecode=050100"]]
    clf = load_classifier("amap", t)
    assert clf.separator == "|" and clf.crs == "gcj02"  # header keys it leaves out come from the bundled table
    t.write_text('[rules.pharmacies]\n"typecode=090601" = "x"\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown category 'pharmacies'") as e:
        load_classifier("amap", t)
    assert "pharmacy" in str(e.value)


def test_every_bundled_rule_has_a_source():
    for kind in ("geofabrik", "amap", "baidu"):
        clf = load_classifier(kind)
        assert clf.source.startswith(("Geofabrik", "高德", "百度")) and clf.rules
        assert all(src.strip() for _, _, src in clf.rules), kind


def test_config_reads_export_kinds_and_a_user_table_beside_the_study(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "gf.toml").write_text('[rules.toilets]\n"fclass=toilet" = "2901 toilet"\n',
                                                  encoding="utf-8")
    raw = {"study": {"name": "t"}, "area": {"bbox": [121.3, 31.1, 121.6, 31.3]},
           "network": {"source": {"dataset": "xuhui_roads"}},
           "facilities": [{"source": {"dataset": "geofabrik_pois"}, "kind": "geofabrik", "table": "tables/gf.toml"}]}
    fs = study_from_dict(raw, base_dir=str(tmp_path)).facilities[0]
    assert fs.kind == "geofabrik" and fs.table == str(tmp_path / "tables" / "gf.toml")
    raw["facilities"][0]["kind"] = "osm"
    with pytest.raises(InputError, match="is for export kinds"):
        study_from_dict(raw, base_dir=str(tmp_path))
    raw["facilities"][0]["kind"] = "gaode"
    with pytest.raises(InputError, match="unknown facility kind 'gaode'") as e:
        study_from_dict(raw, base_dir=str(tmp_path))
    assert "amap" in str(e.value)


def test_a_categorys_own_match_rules_apply_to_each_export_kind():
    # the catalogue's `match`: type values of the source kind, and name words the name must also contain
    canteen = Category("canteen", "Elderly canteen", "长者食堂", match={"amap": ("0700",), "name": ("长者食堂",)})
    pavilion = Category("pavilion", "Pavilion", "凉亭", match={"geofabrik": ("shelter",)})
    named = Category("named", "Named only", "只按名称", match={"name": ("邻里汇",)})
    cats = {"canteen": canteen, "pavilion": pavilion, "named": named}
    pois = pd.DataFrame({"typecode": ["070000", "050100", "070000|050100"],
                         "name": ["某某长者食堂", "长者食堂(快餐)", "邻里汇"]})
    got = classify_source(pois, "amap", catalogue=cats).matches
    # the snack bar is no canteen: its type is not 0700, and the word is only in its branch bracket
    assert got.values.tolist() == [[0, "canteen", "typecode^=0700&name~长者食堂"], [2, "named", "name~邻里汇"]]
    gf = pd.DataFrame({"fclass": ["shelter", "bench"], "name": [None, "邻里汇"]})
    assert classify_source(gf, "geofabrik", catalogue=cats).matches.values.tolist() == [
        [0, "pavilion", "fclass=shelter"], [1, "named", "name~邻里汇"]]
