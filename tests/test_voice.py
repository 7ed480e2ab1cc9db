"""Residents' voice as data (#12 item 7): complaint points per block and zone, weighing the priority list.

Every complaint here is a synthetic test point, labelled so in its own row ("SYNTHETIC TEST POINT"): no real
12345 or 随手拍 record is used. Points are written as a hotline export would be (a CSV with a BOM, GCJ-02
coordinates from an independent implementation of the public WGS-84 -> GCJ-02 formula below); the
per-block counts are checked against a geopandas join of the points' true positions.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from osm_synth import X0, Y0, OsmWriter
from rasterio.transform import from_origin

import toolkit as tk
from toolkit.cli import main
from toolkit.errors import InputError
from toolkit.priority import run_priority
from toolkit.sites import score_sites
from toolkit.sources import Source
from toolkit.voice import VoiceLayer, parse_dates, voice_overlay

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
LABEL = "SYNTHETIC TEST POINT - not a real complaint"


# ---------------------------------------------------------------- helpers
def _gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 to GCJ-02, the published formula (Krasovsky ellipsoid offsets), written out independently."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    dlat = dlat * 180.0 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = dlon * 180.0 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def _points_in(blocks: gpd.GeoDataFrame, positions: list[int], per_block: int, rng) -> gpd.GeoDataFrame:
    """``per_block`` points well inside each block at ``positions`` (15 m from any edge), in the blocks' CRS."""
    out = []
    for p in positions:
        core = blocks.geometry.iloc[p].buffer(-15)
        x0, y0, x1, y1 = core.bounds
        got = 0
        while got < per_block:
            pt = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
            if core.contains(pt):
                out.append(pt)
                got += 1
    return gpd.GeoDataFrame(geometry=out, crs=blocks.crs)


def _write_export(path: Path, pts: gpd.GeoDataFrame, topics: list[str], dates: list[str]) -> Path:
    """A hotline-style CSV: UTF-8 with a BOM, GCJ-02 lng/lat, a topic and a date, each row labelled a test."""
    wgs = pts.to_crs(4326)
    rows = []
    for i, (g, t, d) in enumerate(zip(wgs.geometry, topics, dates, strict=True)):
        lon, lat = _gcj02(g.x, g.y)
        rows.append({"工单编号": f"TEST-{i:04d}", "lng": f"{lon:.7f}", "lat": f"{lat:.7f}", "类别": t,
                     "受理日期": d, "说明": LABEL})
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    return path


def _layer(path: Path, **kw) -> VoiceLayer:
    return VoiceLayer.from_config({"source": Source(path=str(path), lon="lng", lat="lat", crs="gcj02"),
                                   "topic_field": "类别", "date_field": "受理日期", **kw})


def _area(result) -> shapely.Geometry:
    return result.area.to_crs(result.blocks.crs).geometry.iloc[0]


# ------------------------------------------------------------------ tests
def test_dates_are_read_in_the_usual_forms_and_a_bad_one_is_named():
    """Dates as exports write them; an unreadable one stops with its row and field."""
    d = parse_dates(pd.Series(["2024-03-05", "2024/3/6", "2024年3月7日", "2024-03-08 09:15:00", "", None]))
    assert d.dt.strftime("%Y-%m-%d").tolist()[:4] == ["2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    assert d.isna().tolist()[4:] == [True, True]
    with pytest.raises(InputError) as e:
        parse_dates(pd.Series(["2024-03-05", "2024-02-30", "soon"]), source="x.csv", field="受理日期")
    assert "row 2" in e.value.problem and "'2024-02-30'" in e.value.problem and e.value.field == "受理日期"
    assert e.value.fix and "YYYY-MM-DD" in e.value.fix


def test_per_block_counts_match_a_geopandas_join(xuhui, tmp_path):
    """Counts, rates, topics and date ranges per block against sjoin on the points' true positions."""
    rng = np.random.default_rng(7)
    b = xuhui.blocks
    big = np.flatnonzero((b.geometry.area > 40_000).to_numpy() & (b["population"] > 0).to_numpy())
    chosen = sorted(rng.choice(big, 30, replace=False).tolist())
    pts = _points_in(b, chosen, 4, rng)
    n = len(pts)
    topics = [("噪音 noise (TEST)", "停车 parking (TEST)", "环境 litter (TEST)")[i % 3] for i in range(n)]
    dates = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)]
    # three rows far outside the district: left out with a note
    far = gpd.GeoDataFrame(geometry=[shapely.Point(b.total_bounds[2] + 20_000, b.total_bounds[3] + 20_000)] * 3,
                           crs=b.crs)
    path = _write_export(tmp_path / "12345.csv", pd.concat([pts, far], ignore_index=True),
                         topics + ["其他 (TEST)"] * 3, dates + ["2024-01-01"] * 3)
    notes: list[str] = []
    cols, points, summary = voice_overlay(_layer(path), b, _area(xuhui), notes)
    truth = gpd.GeoDataFrame({"topic": topics, "date": pd.to_datetime(dates)}, geometry=pts.geometry, crs=b.crs)
    j = gpd.sjoin(truth, b[["geometry"]], predicate="within", how="left")
    ref = j.groupby("index_right").size().reindex(b.index, fill_value=0)
    assert cols.index.equals(b.index)
    assert (cols["voice_n"] == ref).all() and int(cols["voice_n"].sum()) == n
    pop = b["population"]
    want = (ref * 1000 / pop).where(pop > 0)
    assert cols["voice_rate"].to_numpy() == pytest.approx(want.to_numpy(), nan_ok=True)
    first = j.groupby("index_right")["date"].min().dt.strftime("%Y-%m-%d")
    assert (cols.loc[first.index, "voice_first"] == first).all()
    tops = j.groupby(["index_right", "topic"]).size()
    for blk in first.index[:10]:
        parts = dict(p.rsplit(":", 1) for p in cols.at[blk, "voice_topics"].split(";"))
        assert {k: int(v) for k, v in parts.items()} == tops.loc[blk].to_dict()
    assert summary["points"] == n and summary["layers"][0]["in_blocks"] == n
    assert any("3 of 123 points lie outside the study area" in m for m in notes)
    assert set(points.columns) >= {"layer", "row", "topic", "date", "block_id"} and "说明" not in points
    assert (cols["voice_index"] >= 0).all() and cols["voice_index"].max() == pytest.approx(1.0)


def test_complaints_raise_their_blocks_and_leave_the_others_order(xuhui, tmp_path):
    """Acceptance: a layer of test complaints concentrated in three blocks moves those up the priority list."""
    rng = np.random.default_rng(3)
    b = xuhui.blocks
    ranked = b.dropna(subset=["priority_rank"]).sort_values("priority_rank")
    big = ranked[(ranked.geometry.area > 40_000).to_numpy()]
    targets = big.index[[len(big) // 2, len(big) // 2 + 5, len(big) - 10]]
    pos = [b.index.get_loc(i) for i in targets]
    pts = _points_in(b, pos, 25, rng)
    path = _write_export(tmp_path / "suishoupai.csv", pts, ["占道 obstruction (TEST)"] * len(pts),
                         ["2024年5月1日"] * len(pts))
    cols, _, _ = voice_overlay(_layer(path, weight=2.0), b, _area(xuhui))
    with_voice = b.drop(columns=[c for c in cols.columns if c in b]).join(cols)
    after, summary = run_priority(xuhui.study, with_voice, xuhui.categories, xuhui.profile,
                                  xuhui.details["data_status"], dict(xuhui.layers))
    r0, r1 = b["priority_rank"], after["priority_rank"]
    assert (r1[targets] < r0[targets]).all()  # raised
    s0, s1 = b["priority_severity"], after["priority_severity"]
    assert (s1[targets] > s0[targets]).all()
    others = b.index[r0.notna()].difference(targets)
    assert (s1[others] == s0[others]).all()
    # the others keep their order among themselves
    assert (r0[others].rank().to_numpy() == r1[others].rank().to_numpy()).all()
    assert summary["parameters"]["voice"] is True
    assert any(v["variant"] == "no voice" for v in summary["sensitivity"]["variants"])


def test_bad_input_is_named(xuhui, tmp_path):
    """A missing field, points nowhere near the district: one message with the file, the field and the fix."""
    pts = _points_in(xuhui.blocks, [0], 2, np.random.default_rng(1))
    path = _write_export(tmp_path / "c.csv", pts, ["t", "t"], ["2024-01-01", "2024-01-02"])
    with pytest.raises(InputError) as e:
        voice_overlay(dataclasses.replace(_layer(path), topic_field="topic"), xuhui.blocks, _area(xuhui))
    assert "c.csv" in str(e.value) and e.value.field == "voice.topic_field" and "类别" in e.value.fix
    # an export of another district (here: the same rows moved 1 degree north) has no point in this one
    moved = pd.read_csv(path, encoding="utf-8-sig").assign(lat=lambda t: t["lat"] + 1.0)
    moved.to_csv(tmp_path / "elsewhere.csv", index=False, encoding="utf-8-sig")
    with pytest.raises(InputError) as e:
        voice_overlay(_layer(tmp_path / "elsewhere.csv"), xuhui.blocks, _area(xuhui))
    assert "none of the 2 points lies in the study area" in e.value.problem and "gcj02" in e.value.fix
    assert "elsewhere.csv" in str(e.value) and e.value.field == "voice.source"


def test_site_score_takes_the_voice_criterion_only_when_weighted():
    """Default weights leave the score as it was; a voice weight ranks sites by their block's voice index."""
    sites = pd.DataFrame({"heritage_fit": [1.0, 0.6, 0.3], "voice_index": [0.0, 0.5, 1.0]})
    base = score_sites(sites.drop(columns="voice_index"), {"heritage_fit": 1.0, "voice": 0.0}, [])
    assert "crit_voice" not in base and base.attrs["unused_criteria"] == []
    assert base["score"].tolist() == [1.0, 0.6, 0.3]
    voiced = score_sites(sites, {"heritage_fit": 0.0, "voice": 1.0}, [])
    assert voiced["crit_voice"].tolist() == [0.0, 0.5, 1.0] and voiced["rank"].tolist() == [3, 2, 1]


# --------------------------------------------------- a synthetic district end to end
def _lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_WGS.transform(X0 + x, Y0 + y)


def _district(d: Path, voice: str) -> Path:
    """A 6 x 6 street grid (150 m), one person per raster cell, a complete transit stop list, and [voice]."""
    w = OsmWriter()
    ids = [[w.node(i * 150.0, j * 150.0) for j in range(6)] for i in range(6)]
    for i in range(6):
        w.way([ids[i][j] for j in range(6)], highway="residential")
        w.way([ids[j][i] for j in range(6)], highway="residential")
    w.write_xml(d / "grid.osm")
    lon0, lat0 = _lonlat(0, 800)
    with rasterio.open(d / "pop.tif", "w", driver="GTiff", height=10, width=10, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(lon0, lat0, 0.001, 0.001)) as dst:
        dst.write(np.full((10, 10), 100.0, dtype="float32"), 1)
    lon, lat = _lonlat(75, 0)
    (d / "stops.csv").write_text(f"name,lon,lat\nstop (TEST),{lon},{lat}\n", encoding="utf-8")
    x0, y0 = _lonlat(20, 20)
    x1, y1 = _lonlat(730, 730)
    study = d / "voice.toml"
    study.write_text(f"""
[study]
name = "voice"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
[network]
source = {{ path = "grid.osm" }}
[population]
population = {{ path = "pop.tif" }}
[standards]
profile = "gb50180"
[[facilities]]
source = {{ path = "stops.csv" }}
kind = "fixed"
category = "transit"
status = "complete"
[output]
map = false
report = false
[zones]
grid_m = 300
[priority]
zone_weights = {{ path = "council.csv" }}
{voice}
""", encoding="utf-8")
    (d / "council.csv").write_text("zone_id,weight\nG002-002,4\nG999-999,2\n", encoding="utf-8-sig")
    return study


def _complaints(d: Path, dates: list[str]) -> None:
    pts = [shapely.Point(X0 + 600 + 10 * i, Y0 + 600 + 7 * i) for i in range(len(dates))]
    _write_export(d / "c.csv", gpd.GeoDataFrame(geometry=pts, crs=32651), ["噪音 noise (TEST)"] * len(dates), dates)


VOICE = '[voice]\nsource = { path = "c.csv", lon = "lng", lat = "lat", crs = "gcj02" }\ntopic_field = "类别"\n' \
        'date_field = "受理日期"\nweight = 1.5\n'


def test_a_study_with_voice_runs_end_to_end(tmp_path):
    """[voice] and [priority] in a study: the columns, the voice layer, the zone weights and run.json."""
    study = _district(tmp_path, VOICE)
    _complaints(tmp_path, ["2024-03-01", "2024/3/2", "2024年3月3日", ""])
    r = tk.run_study(tk.load_study(study))
    b = r.blocks
    assert int(b["voice_n"].sum()) == 4 and (b["voice_n"] > 0).sum() >= 1
    assert r.details["voice"]["layers"][0]["undated"] == 1 and r.details["voice"]["layers"][0]["weight"] == 1.5
    assert len(r.layers["voice"]) == 4
    p = r.details["priority"]
    assert p["categories_complete"] == ["transit"] and p["parameters"]["zone_weights"].endswith("council.csv")
    zl = r.layers["zones"].set_index("zone_id")
    assert zl.loc["G002-002", "priority_weight"] == 4.0 and (zl.drop(index="G002-002")["priority_weight"] == 1).all()
    assert any("G999-999" in n for n in r.notes)
    voiced = b["voice_index"] > 0
    assert (b.loc[voiced, "priority_voice_factor"] == 1 + b.loc[voiced, "voice_index"]).all()
    folder = r.save(tmp_path / "out")
    rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert rec["voice"]["points"] == 4 and rec["priority"]["top_blocks"]
    assert "None: every column is documented" in (folder / "schema.md").read_text(encoding="utf-8")
    assert "voice" in gpd.list_layers(folder / "voice.gpkg")["name"].tolist()


def test_a_bad_date_stops_the_run_with_exit_code_2(tmp_path, capsys):
    """Through the CLI: exit code 2, one message naming the file, the row and the date field, nothing written."""
    study = _district(tmp_path, VOICE)
    _complaints(tmp_path, ["2024-03-01", "2024-03-02", "someday", "2024-03-04"])
    out = tmp_path / "out"
    code = main(["run", str(study), "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 2, cap.err
    assert "Traceback" not in cap.err and cap.err.startswith("error: ") and cap.err.count("error: ") == 1
    assert "c.csv" in cap.err and "row 3" in cap.err and "受理日期" in cap.err and "\n  fix: " in cap.err
    assert not out.exists() or not any(out.iterdir())
