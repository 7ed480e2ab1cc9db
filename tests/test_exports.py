"""Deliverables for GIS analysts and planners: styled GeoPackage, GeoParquet, CSV, data dictionary, maps, report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from toolkit.outputs.report import pct
from toolkit.outputs.schema import describe_column, undocumented_columns
from toolkit.outputs.styles import LayerStyle, StyleClass, Symbol, class_index, default_styles, to_qml, to_sld
from toolkit.outputs.writers import output_layers

# renderer type and classification attribute of each layer's default style
EXPECTED = {
    "blocks": ("graduatedSymbol", "n_within"),
    "streets": ("categorizedSymbol", None),  # an expression over protected_road / walk_hostile
    "facilities": ("categorizedSymbol", "category"),
    "study_area": ("singleSymbol", None),
    "heritage": ("categorizedSymbol", "kind"),
    "heritage_buildings": ("singleSymbol", None),
    "waterfront": ("categorizedSymbol", "access"),
    "waterfront_access": ("singleSymbol", None),
    "compounds": ("categorizedSymbol", "old"),
    "zones": ("graduatedSymbol", "underserved_pop"),
    "candidate_sites": ("categorizedSymbol", "selected"),
    "catchments": ("categorizedSymbol", "category"),
    "service_areas": ("categorizedSymbol", "minutes"),
    "zones_life_circle": ("categorizedSymbol", "status"),
}
MAPS = ("coverage", "walkability", "heritage", "underserved", "candidate_sites")


@pytest.fixture(scope="module")
def full(tmp_path_factory, xuhui):
    """The default study written with every format, static maps and the report (no folium map: tested elsewhere)."""
    study = dataclasses.replace(xuhui.study, formats=["gpkg", "parquet", "csv"], static_maps=True, report=True)
    out = tmp_path_factory.mktemp("exports")
    folder = dataclasses.replace(xuhui, study=study).save(out, write_map=False)
    return folder


@pytest.fixture(scope="module")
def run_json(full):
    return json.loads((full / "run.json").read_text(encoding="utf-8"))


def _qml_root(text: str) -> ET.Element:
    root = ET.fromstring(text)  # the DOCTYPE QGIS writes is fine for a conforming XML parser
    assert root.tag == "qgis"
    return root


# ------------------------------------------------------------ GeoPackage
def test_layer_styles_table_as_qgis_creates_it(full):
    with sqlite3.connect(full / "xuhui.gpkg") as con:
        cols = [(r[1], r[2].upper(), r[5]) for r in con.execute("PRAGMA table_info(layer_styles)")]
        contents = con.execute("SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
                               ).fetchall()
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    assert [c[0] for c in cols] == ["id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column",
                                    "styleName", "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui",
                                    "update_time"]
    types = {name: t for name, t, _ in cols}
    assert types["id"] == "INTEGER" and [c for c in cols if c[2]] == [("id", "INTEGER", 1)]  # the primary key
    assert types["useAsDefault"] == "BOOLEAN" and types["update_time"] == "DATETIME"
    assert contents == [("attributes", "layer_styles")]
    assert ok == "ok"


def test_every_spatial_layer_has_a_default_style(full, xuhui):
    with sqlite3.connect(full / "xuhui.gpkg") as con:
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        rows = con.execute("SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                           "styleQML, styleSLD, useAsDefault, update_time FROM layer_styles").fetchall()
    assert set(geom_cols) == set(EXPECTED)
    defaults = {}
    for cat, schema, table, gcol, _name, qml, sld, default, updated in rows:
        assert (cat, schema) == ("", "")  # QGIS looks styles up with f_table_schema = ''
        assert gcol == geom_cols[table]
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", updated)
        _qml_root(qml)
        assert ET.fromstring(sld.encode("utf-8")).tag.endswith("StyledLayerDescriptor")
        if default == 1:
            assert table not in defaults, f"two default styles for {table}"
            defaults[table] = qml
    assert set(defaults) == set(EXPECTED)
    for table, (renderer, attr) in EXPECTED.items():
        r = _qml_root(defaults[table]).find("renderer-v2")
        assert r is not None and r.get("type") == renderer, table
        if attr:  # a graduated style over a column with NULLs reads it through coalesce() (no-data class)
            assert r.get("attr") in (attr, f'coalesce("{attr}", -1e+30)'), table
    # the streets' expression refers to both flags; facilities get a class for every category present
    streets = _qml_root(defaults["streets"]).find("renderer-v2")
    assert '"protected_road"' in streets.get("attr") and '"walk_hostile"' in streets.get("attr")
    fac = _qml_root(defaults["facilities"]).find("renderer-v2/categories")
    assert {c.get("value") for c in fac} == set(xuhui.facilities["category"])
    cand = _qml_root(defaults["candidate_sites"]).find("renderer-v2/categories")
    assert {c.get("value"): c.get("type") for c in cand}["true"] == "bool"


def test_blocks_graduated_classes_cover_the_data(full, xuhui):
    with sqlite3.connect(full / "xuhui.gpkg") as con:
        qml, = con.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = 'blocks' AND useAsDefault = 1"
                           ).fetchone()
        others = dict(con.execute("SELECT styleName, styleQML FROM layer_styles "
                                  "WHERE f_table_name = 'blocks' AND useAsDefault = 0"))
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in _qml_root(qml).iter("range")]
    n = int(xuhui.blocks["n_measured"].max())
    assert len(ranges) == n + 1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous
    v = xuhui.blocks["n_within"]
    assert ranges[0][0] <= v.min() and v.max() <= ranges[-1][1]
    symbols = _qml_root(qml).find("renderer-v2/symbols")
    assert len(symbols) == len(ranges) and symbols[0].find("layer").get("class") == "SimpleFill"
    # further styles for QGIS's style manager: walkability, heritage class, underserved
    assert {"walkability", "heritage class", "underserved"} <= set(others)
    her = _qml_root(others["heritage class"]).find("renderer-v2")
    assert her.get("type") == "categorizedSymbol" and her.get("attr") == "heritage_class"
    assert {c.get("value") for c in her.find("categories")} >= {"core", "buffer", "none"}


def test_qgis_default_style_query_finds_our_style(full):
    """The attribute filter QGIS's OGR provider runs to load a layer's default style (loadStyle)."""
    gpkg = full / "xuhui.gpkg"
    for layer in EXPECTED:
        gcol = pyogrio.read_info(gpkg, layer=layer)["geometry_name"]
        where = (f"f_table_schema='' AND f_table_name='{layer}' AND f_geometry_column='{gcol}' "
                 "ORDER BY CASE WHEN useAsDefault THEN 1 ELSE 2 END,update_time DESC LIMIT 1")
        hit = pyogrio.read_dataframe(gpkg, layer="layer_styles", where=where)
        assert len(hit) == 1 and bool(hit["useAsDefault"].iloc[0]), layer


def test_pyogrio_still_lists_every_layer(full, xuhui):
    gpkg = full / "xuhui.gpkg"
    listed = dict(pyogrio.list_layers(gpkg))
    assert set(EXPECTED) <= set(listed)
    assert set(listed) - set(EXPECTED) <= {"layer_styles"} and listed.get("layer_styles") is None
    info = pyogrio.read_info(gpkg, layer="layer_styles")
    assert info["fid_column"] == "id" and info["features"] >= len(EXPECTED)
    for name, gdf in output_layers(xuhui).items():
        assert pyogrio.read_info(gpkg, layer=name)["features"] == len(gdf), name


# ------------------------------------------------------- GeoParquet, CSV
def test_geoparquet_round_trip(full, xuhui):
    for name, gdf in output_layers(xuhui).items():
        back = gpd.read_parquet(full / f"xuhui_{name}.parquet")
        assert back.crs.to_epsg() == 32651, name
        assert len(back) == len(gdf), name
        assert list(back.columns) == list(gdf.columns), name
    blocks = gpd.read_parquet(full / "xuhui_blocks.parquet")
    assert blocks["population"].sum() == pytest.approx(xuhui.blocks["population"].sum())
    assert blocks.geometry.area.sum() == pytest.approx(xuhui.blocks.geometry.area.sum())


def test_csv_utf8_bom_with_chinese_names(full, xuhui):
    raw = (full / "xuhui_facilities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    fac = pd.read_csv(full / "xuhui_facilities.csv", encoding="utf-8-sig")
    assert len(fac) == len(xuhui.facilities)
    assert fac.columns[0] == "facility_id"  # no BOM glued to the first header
    names = set(xuhui.facilities["name"].dropna())
    assert any(re.search("[\u4e00-\u9fff]", n) for n in names)
    assert set(fac["name"].dropna()) == names
    assert {"x", "y", "lon", "lat"} <= set(fac.columns)
    assert np.allclose(fac["x"], xuhui.facilities.geometry.x, atol=0.01)
    assert fac["lon"].between(120, 123).all() and fac["lat"].between(30, 32).all()
    assert set(fac["snapped"].astype(str).str.lower()) <= {"true", "false"}
    blocks = pd.read_csv(full / "xuhui_blocks.csv", encoding="utf-8-sig")
    assert len(blocks) == len(xuhui.blocks) and "wkt" in blocks
    geoms = shapely.from_wkt(blocks["wkt"].to_numpy())
    assert shapely.area(geoms).sum() == pytest.approx(xuhui.blocks.geometry.area.sum(), rel=1e-4)
    assert blocks["heritage_style_area"].dropna().str.contains("[\u4e00-\u9fff]").any()


def test_qml_sidecars_beside_parquet_and_csv(full):
    for layer, (renderer, _) in EXPECTED.items():
        root = _qml_root((full / f"xuhui_{layer}.qml").read_text(encoding="utf-8"))
        assert root.find("renderer-v2").get("type") == renderer
        assert ET.fromstring((full / f"xuhui_{layer}.sld").read_bytes()).tag.endswith("StyledLayerDescriptor")


# ------------------------------------------------------- data dictionary
def test_data_dictionary_documents_every_column(full, xuhui):
    layers = output_layers(xuhui)
    assert undocumented_columns(layers) == {}  # add new columns to data/schema.toml
    md = (full / "schema.md").read_text(encoding="utf-8")
    for name, gdf in layers.items():
        assert f"## `{name}`" in md
        for col in gdf.columns:
            if col != gdf.geometry.name:
                assert f"| `{col}` |" in md, (name, col)
    assert "**undocumented**" not in md and "None: every column is documented." in md


def test_data_dictionary_patterns_and_gaps(xuhui):
    d = describe_column("blocks", "dist_transit_m")
    assert d["unit"] == "m" and "transit" in d["meaning"] and "<category>" not in d["meaning"]
    assert describe_column("blocks", "within_park_after") is not None  # not mistaken for within_<category>
    assert describe_column("blocks", "walk_transit_m_score")["unit"] == "score"
    assert describe_column("candidate_sites", "contrib_heritage_fit") is not None
    assert describe_column("blocks", "dist_nowhere_m") is None  # placeholders take known values only
    extra = xuhui.blocks.head(3).assign(my_own_field=1)
    assert undocumented_columns({"blocks": extra, "my_layer": xuhui.area}) == {
        "blocks": ["my_own_field"], "my_layer": ["name"]}


# ----------------------------------------------------------------- report
def test_report_html_self_contained_with_key_figures(full, run_json, xuhui):
    html = (full / "report.html").read_text(encoding="utf-8")
    low = html.lower()
    assert "<script" not in low and "<link" not in low and "@import" not in low and "<iframe" not in low
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", low)
    assert "url(" not in low
    srcs = re.findall(r"src=['\"]([^'\"]+)", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for r in run_json["coverage"]["rates"]:
        assert pct(r["rate_total"]) in html and pct(r["rate_65plus"]) in html, r["category"]
    assert "Community health" in html  # a no-data category, reported as such
    dec = run_json["decisions"]
    assert f"{dec['underserved']['blocks']:,}" in html
    for ba in dec["selection"]["before_after"]:
        assert pct(ba["rate_total_after"]) in html
    assert f"{run_json['population']['population']['in_blocks']:,.0f}" in html
    assert (full / "report.html").stat().st_size < 3 * 1024 * 1024


def test_static_maps_png_and_pdf(full):
    for slug in MAPS:
        png, pdf = full / "static" / f"{slug}.png", full / "static" / f"{slug}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", slug
        assert pdf.read_bytes()[:5] == b"%PDF-", slug
        assert png.stat().st_size > 20_000


def test_run_json_lists_the_outputs(full, run_json):
    files = run_json["outputs"]["files"]
    assert run_json["outputs"]["formats"] == ["gpkg", "parquet", "csv"]
    for f in files:
        assert (full / f).exists(), f
    assert {"xuhui.gpkg", "schema.md", "report.html", "run.json", "static/coverage.pdf"} <= set(files)


# ------------------------------------------- defaults and atomic writing
@pytest.fixture(scope="module")
def tiny(xuhui):
    """A small slice of the default study (fast to write), with no overlays."""
    b = xuhui.blocks.head(40)
    study = dataclasses.replace(xuhui.study, name="tiny", formats=["gpkg"], static_maps=False, report=True,
                                lang="zh")
    return dataclasses.replace(xuhui, study=study, blocks=b, streets=xuhui.streets.head(200),
                               facilities=xuhui.facilities.head(50), layers={}, details={})


def test_default_outputs_only_what_is_asked(tmp_path, tiny):
    folder = tiny.save(tmp_path, write_map=False)
    names = {p.name for p in folder.iterdir()}
    assert names == {"tiny.gpkg", "tiny.qgz", "schema.md", "report.html", "run.json"}
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "研究报告" in html and "本研究未包含" in html  # zh labels; absent overlays said so
    with sqlite3.connect(folder / "tiny.gpkg") as con:
        styled = {r[0] for r in con.execute("SELECT f_table_name FROM layer_styles WHERE useAsDefault")}
    assert styled == {"blocks", "streets", "facilities", "study_area"}


def test_failed_write_leaves_previous_output_and_nothing_partial(tmp_path, tiny, monkeypatch):
    folder = tiny.save(tmp_path, write_map=False)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("the report renderer broke")

    monkeypatch.setattr("toolkit.outputs.report.write_report", boom)
    with pytest.raises(RuntimeError, match="renderer broke"):
        tiny.save(tmp_path, write_map=False)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary folder left behind
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


# ------------------------------------------------------------ style units
def test_class_index_follows_qgis_matching():
    df = pd.DataFrame({"protected_road": [True, True, False, False, None],
                       "walk_hostile": [True, False, True, False, False],
                       "selected": [True, False, None, True, False],
                       "v": [0.0, 1.0, 1.5, 2.0, np.nan]})
    streets = next(s for s in default_styles({"streets": gpd.GeoDataFrame(
        df, geometry=[shapely.LineString([(0, 0), (1, i)]) for i in range(5)], crs=32651)}) if s.default)
    labels = [streets.classes[i].value for i in class_index(df, streets)]
    assert labels == ["protected", "protected", "hostile", "street", "street"]
    sld = to_sld(streets)
    assert "ElseFilter" in sld and "<ogc:Not>" in sld
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(range(5), range(5)), crs=32651)
    sites = next(s for s in default_styles({"candidate_sites": pts}) if s.default)
    assert [sites.classes[i].value for i in class_index(df, sites)] == ["true", "false", "", "true", "false"]
    grad = LayerStyle("x", "x", "graduatedSymbol", "fill", attr="v", classes=[
        StyleClass("a", Symbol("fill", "#ff0000"), lower=0, upper=1),
        StyleClass("b", Symbol("fill", "#00ff00"), lower=1, upper=2)])
    assert class_index(df, grad).tolist() == [0, 0, 1, 1, -1]  # a break value goes to the lower class, as in QGIS
    root = ET.fromstring(to_qml(grad))
    assert [r.get("label") for r in root.iter("range")] == ["a", "b"]
    assert root.find("renderer-v2/classificationMethod").get("id") == "Custom"


def test_a_rerun_keeps_the_users_own_files(xuhui, tmp_path):
    """A planner's notes in the output folder survive a rerun; the toolkit's own files are replaced."""
    import dataclasses

    res = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, write_map=False, report=False))
    folder = res.save(tmp_path)
    (folder / "my_notes.txt").write_text("给街道的意见", encoding="utf-8")
    (folder / "photos").mkdir()
    (folder / "photos" / "site_13.jpg").write_bytes(b"\xff\xd8jpeg")
    (folder / "schema.md").write_text("stale", encoding="utf-8")  # a file of the toolkit's: replaced
    again = res.save(tmp_path)
    assert again == folder
    assert (folder / "my_notes.txt").read_text(encoding="utf-8") == "给街道的意见"
    assert (folder / "photos" / "site_13.jpg").read_bytes() == b"\xff\xd8jpeg"
    assert (folder / "schema.md").read_text(encoding="utf-8") != "stale"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no stray temporary folders
