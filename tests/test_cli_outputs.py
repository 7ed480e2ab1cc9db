"""End to end: the CLI writes the output contract; bad input exits non-zero and writes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import geopandas as gpd
import pyogrio
import pytest

from toolkit.cli import main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, xuhui):
    out = tmp_path_factory.mktemp("out")
    xuhui.save(out)
    return out / "xuhui"


def test_geopackage_layers_and_columns(demo_out, xuhui):
    gpkg = demo_out / "xuhui.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"blocks", "streets", "facilities", "study_area"} <= layers
    blocks = gpd.read_file(gpkg, layer="blocks")
    for col in ("block_id", "population", "pop_65plus", "dist_transit_m", "within_transit", "dist_park_m"):
        assert col in blocks.columns
    assert "dist_recycling_m" not in blocks.columns  # no data: absent, never "everyone unserved"
    assert blocks.crs.to_epsg() == 32651
    assert len(blocks) == len(xuhui.blocks)
    assert gpd.read_file(gpkg, layer="facilities")["category"].notna().all()
    with sqlite3.connect(gpkg) as con:
        srs = {r[0] for r in con.execute("select srs_id from gpkg_geometry_columns")}
    assert srs == {32651}


def test_run_json_provenance(demo_out, xuhui):
    rec = json.loads((demo_out / "run.json").read_text(encoding="utf-8"))
    assert rec["toolkit_version"] == "0.1.0"
    assert rec["crs"] == "EPSG:32651"
    assert rec["config"]["name"] == "xuhui"
    assert {i["sha256"] for i in rec["inputs"]} >= {"b501a51592297d7f66ded613778136a3a1e6d5788c64731b94d98dd54109d2a3"}
    assert set(rec["timings_s"]) >= {"network", "blocks", "population", "coverage"}
    rates = {r["category"]: r for r in rec["coverage"]["rates"]}
    assert rates["transit"]["rate_total"] == pytest.approx(xuhui.rates.loc["transit", "rate_total"])
    assert "recycling" in rec["coverage"]["no_data"] and "health" not in rec["coverage"]["no_data"]
    assert rec["data_status"]["transit"]["status"] == "complete"


def test_map_html(demo_out):
    html = (demo_out / "map.html").read_text(encoding="utf-8")
    assert "tk.control(" in html  # the grouped layer control (toolkit.outputs.webmap.GroupedLayerControl)
    assert "Transit stop: within 300 m" in html
    assert (demo_out / "map.html").stat().st_size < 2 * 1024 * 1024


def test_cli_bad_input_exits_nonzero_and_writes_nothing(tmp_path, capsys):
    study = tmp_path / "bad.toml"
    study.write_text('[study]\nname = "bad"\n[area]\nbbox = [121.40, 31.15, 121.48, 31.22]\n'
                     '[network]\nsource = { path = "missing_roads.osm" }\n', encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(study), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing_roads.osm" in err and "file not found" in err and "fix:" in err
    assert not (out / "bad").exists()
    assert not out.exists() or not any(out.iterdir())


def test_cli_unknown_category_in_study(tmp_path, capsys):
    study = tmp_path / "cat.toml"
    study.write_text('[study]\nname = "cat"\n[area]\nbbox = [121.43, 31.19, 121.45, 31.21]\n'
                     '[network]\nsource = { dataset = "xuhui_roads" }\n'
                     '[[facilities]]\nsource = { dataset = "landuse_points" }\nkind = "fixed"\ncategory = "hospital"\n',
                     encoding="utf-8")
    assert main(["run", str(study), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown category 'hospital'" in err and "health" in err
    assert not (tmp_path / "o" / "cat").exists()


@pytest.mark.slow
def test_small_user_study_end_to_end(tmp_path):
    """A user study: bbox area, GBK CSV of GCJ-02 clinics, own profile override, through the console script."""
    csv = tmp_path / "clinics.csv"
    csv.write_bytes("名称,经度,纬度\n社区卫生服务中心,121.4425,31.2010\n诊所,121.4380,31.1960\n".encode("gbk"))
    study = tmp_path / "mini.toml"
    study.write_text(
        '[study]\nname = "mini"\n[area]\nbbox = [121.43, 31.19, 121.45, 31.21]\nclip_to_data = false\n'
        '[network]\nsource = { dataset = "xuhui_roads" }\n'
        '[population]\npopulation = { dataset = "pop_total" }\n'
        '[standards]\nprofile = "gb50180"\n[standards.overrides.categories.health]\nmax_distance_m = 800\n'
        '[[facilities]]\nsource = { path = "clinics.csv", crs = "gcj02" }\ncategory = "health"\n',
        encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "run", str(study), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "health" in r.stdout and "800 m" in r.stdout and "no data" in r.stdout
    rec = json.loads((tmp_path / "o" / "mini" / "run.json").read_text(encoding="utf-8"))
    assert rec["coverage"]["measured"] == ["health"]
    assert rec["profile"]["categories"]["health"]["threshold_m"] == 800
    fac = gpd.read_file(tmp_path / "o" / "mini" / "mini.gpkg", layer="facilities")
    assert len(fac) == 2 and set(fac["name"]) == {"社区卫生服务中心", "诊所"}
