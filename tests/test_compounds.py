"""Residential compounds (小区) as an input: parsing, the Xuhui count, block joins and residents from floor area.

The real table (``residential_compounds``, evaluation data: read from ../shared, never copied here) is
parsed again in this file with plain pandas string methods, placed with geopandas and joined to the
default study's blocks with ``geopandas.sjoin``: every figure of the toolkit is checked against that.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.compounds import (
    CompoundsConfig,
    block_compounds,
    compounds_population,
    load_compounds,
    parse_floor_area,
    parse_year,
)
from toolkit.config import Source, study_from_dict
from toolkit.crs import gcj02_to_wgs84
from toolkit.datasets import fetch
from toolkit.errors import InputError
from toolkit.io import DataWarning, read_layer
from toolkit.outputs.writers import run_record
from toolkit.study import study_area

README_XUHUI = 1714  # ../shared/data/README.md: "17,836 points (Xuhui 1,714, Huangpu 1,266)"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_excel(fetch("residential_compounds"), engine="calamine")


@pytest.fixture(scope="module")
def reference(table, xuhui) -> gpd.GeoDataFrame:
    """The table parsed with pandas alone, placed on POINT_X/POINT_Y, kept in the study area, joined to the blocks."""
    area_text = table["总建面"].astype(str).str.strip()
    year_text = table["竣工时"].astype(str).str.strip()
    # the only shapes the real columns hold (checked in test_real_values_have_two_shapes)
    floor = pd.to_numeric(area_text.where(area_text != "暂无").str.removesuffix("㎡"))
    years = year_text.str.findall(r"(\d{4})年")
    first = years.map(lambda ys: min(int(y) for y in ys) if ys else np.nan).astype(float)
    pts = gpd.GeoDataFrame({"row": table.index, "floor": floor, "year": first},
                           geometry=gpd.points_from_xy(table["POINT_X"], table["POINT_Y"]), crs="EPSG:4326")
    pts = pts.to_crs(xuhui.crs)
    pts = pts[pts.covered_by(xuhui.area.geometry.iloc[0])]
    hit = gpd.sjoin(pts, xuhui.blocks[["block_id", "geometry"]].reset_index(drop=True), how="left",
                    predicate="intersects")
    # a point on the edge of two blocks counts for the first of them, once
    hit = hit.sort_values("block_id").loc[lambda d: ~d.index.duplicated(keep="first")].sort_index()
    return hit


@pytest.fixture(scope="module")
def per_block(reference, xuhui) -> pd.DataFrame:
    """The per-block figures from the reference, with pandas groupby."""
    r = reference.dropna(subset=["block_id"]).astype({"block_id": int})
    r["old"] = r["year"] < 2000
    r["both"] = r["floor"].notna() & r["year"].notna()
    g = r.groupby("block_id")
    out = pd.DataFrame(index=xuhui.blocks["block_id"].to_numpy())
    out["n"] = g.size()
    out["unknown"] = g["floor"].apply(lambda s: s.isna().sum())
    out["floor"] = g["floor"].sum()
    out["year_median"] = g["year"].median()
    out["old_n"] = g["old"].sum()
    both = r[r["both"]]
    out["old_share"] = (both[both["old"]].groupby("block_id")["floor"].sum()
                        .reindex(out.index).fillna(0) / both.groupby("block_id")["floor"].sum())
    out[["n", "unknown", "floor", "old_n"]] = out[["n", "unknown", "floor", "old_n"]].fillna(0)
    out.loc[out["unknown"] > 0, "floor"] = np.nan
    return out


# ------------------------------------------------------------------ parsing
def test_parse_floor_area():
    area, bad = parse_floor_area(["20000.0㎡", "暂无", "1.0E7㎡", "12万平米", " 3,500 m2 ", 4500, 0, "", None,
                                  np.nan, "about 100", "—"])
    assert area[:6].tolist() == [20000.0, pytest.approx(np.nan, nan_ok=True), 1e7, 120000.0, 3500.0, 4500.0]
    assert np.isnan(area[6:]).all()  # zero and every "not given" are unknown, never 0 m2
    assert bad.tolist() == [False] * 10 + [True, False]  # only the text that holds no number is unreadable


def test_parse_year():
    first, last, bad = parse_year(["2010年", "1995年、2000年", "1995-2000年", "暂无", 1998, 1998.0,
                                   dt.date(2003, 6, 1), pd.Timestamp("2012-01-31"), "年代久远", "3000年", None])
    assert first[:8].tolist() == [2010, 1995, 1995, pytest.approx(np.nan, nan_ok=True), 1998, 1998, 2003, 2012]
    assert last[:3].tolist() == [2010, 2000, 2000]  # phases: first and last year named
    assert np.isnan(first[8:]).all()
    assert bad.tolist() == [False] * 8 + [True, True, False]  # a given value without a plausible year


def test_real_values_have_two_shapes(table):
    """Every floor area is "暂无" or "<number>㎡"; every year "暂无" or years "YYYY年" joined with "、"."""
    area = table["总建面"].astype(str).str.strip()
    year = table["竣工时"].astype(str).str.strip()
    assert (area.eq("暂无") | area.str.fullmatch(r"[0-9.]+(E[0-9]+)?㎡")).all()
    assert (year.eq("暂无") | year.str.fullmatch(r"\d{4}年(、\d{4}年)*")).all()
    fa, bad = parse_floor_area(table["总建面"])
    first, last, ybad = parse_year(table["竣工时"])
    assert not bad.any() and not ybad.any()
    assert np.isnan(fa).sum() == area.eq("暂无").sum() == 11722
    assert np.isnan(first).sum() == year.eq("暂无").sum() == 411
    ref = pd.to_numeric(area.where(area != "暂无").str.removesuffix("㎡")).to_numpy()
    assert np.allclose(fa, ref, equal_nan=True)
    phases = year.str.contains("、").to_numpy()
    single = ~phases & year.ne("暂无").to_numpy()
    assert (last[single] == first[single]).all() and (last[phases] >= first[phases]).all()


# ------------------------------------------------------------------ Xuhui
def test_compounds_in_xuhui(table, xuhui):
    """In the 徐汇区 boundary (DataV, GCJ-02) the count is the README's, computed here on POINT_X/POINT_Y."""
    districts = gpd.read_file(fetch("districts"))
    gcj = districts.loc[districts["name"] == "徐汇区"].geometry.iloc[0]
    # the boundary converted vertex by vertex with the toolkit's GCJ-02 formula
    wgs = shapely.transform(gcj, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
    pts = shapely.points(table[["POINT_X", "POINT_Y"]].to_numpy())
    ref = int(shapely.covers(wgs, pts).sum())
    assert abs(ref - README_XUHUI) <= 20
    cfg = xuhui.study.compounds
    district = study_area(xuhui.study).to_crs(xuhui.crs).geometry.iloc[0]
    comp, rep = load_compounds(cfg, xuhui.crs, district)
    assert len(comp) == rep["in_area"] == ref
    assert rep["rows"] == len(table)
    # the study's own area is the district clipped to the population grid: fewer compounds
    s = xuhui.details["compounds"]
    assert s["in_area"] == len(xuhui.layers["compounds"]) < ref


def test_the_layer_uses_the_declared_columns(table, reference, xuhui):
    """Names and addresses come from 小区名 / 小区坐 of the same row, not from the misaligned `name` column."""
    lay = xuhui.layers["compounds"]
    assert lay["source_row"].tolist() == reference["row"].tolist()
    rows = table.loc[lay["source_row"]]
    assert (lay["name"].to_numpy() == rows["小区名"].to_numpy()).all()
    assert (lay["address"].to_numpy() == rows["小区坐"].to_numpy()).all()
    assert (lay["name"].to_numpy() != rows["name"].to_numpy()).mean() > 0.9
    assert np.allclose(lay["floor_area_m2"].to_numpy(dtype=float), reference["floor"], equal_nan=True)
    yb = lay["year_built"].to_numpy(dtype=float, na_value=np.nan)
    assert np.allclose(yb, reference["year"], equal_nan=True)
    assert lay["old"].isna().sum() == np.isnan(yb).sum()
    assert (lay["old"].dropna().to_numpy() == (yb[~np.isnan(yb)] < 2000)).all()
    blk = lay["block_id"].to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(blk, reference["block_id"].to_numpy(dtype=float), equal_nan=True)
    # only the declared columns, never the table's misaligned `name` or its prices
    assert set(lay.columns) == {"compound_id", "source_row", "block_id", "name", "address", "floor_area_m2",
                                "year_built", "year_built_last", "old", "geometry"}


def test_block_columns_match_an_independent_sjoin(per_block, xuhui):
    b = xuhui.blocks.set_index("block_id")
    ref = per_block.reindex(b.index)
    assert (b["compounds_n"] == ref["n"]).all()
    assert (b["compounds_floor_area_unknown_n"] == ref["unknown"]).all()
    assert np.allclose(b["compounds_floor_area_m2"], ref["floor"], equal_nan=True)
    # unknown floor area is never read as none: empty exactly where a compound lacks it
    assert (b["compounds_floor_area_m2"].isna() == (ref["unknown"] > 0)).all()
    assert (b.loc[b["compounds_n"] == 0, "compounds_floor_area_m2"] == 0).all()
    assert np.allclose(b["compounds_year_median"], ref["year_median"], equal_nan=True)
    assert (b["compounds_old_n"] == ref["old_n"]).all()
    assert np.allclose(b["compounds_old_floor_share"], ref["old_share"], equal_nan=True)
    assert b["compounds_n"].sum() == xuhui.details["compounds"]["in_blocks"]


def test_population_from_floor_area(per_block, xuhui):
    """pop_compounds = floor area x the declared persons_per_m2, block by block and in total."""
    ppm2 = xuhui.study.compounds.persons_per_m2
    assert ppm2 == 0.027
    b = xuhui.blocks.set_index("block_id")
    ref = per_block.reindex(b.index)["floor"] * ppm2
    assert np.allclose(b["pop_compounds"], ref, equal_nan=True)
    assert b["pop_compounds"].sum() == pytest.approx(per_block["floor"].sum() * ppm2, rel=1e-12)
    assert (b["pop_compounds"].isna() == b["compounds_floor_area_m2"].isna()).all()


def test_run_json_reports_the_gap_and_the_comparison(table, reference, xuhui):
    rec = run_record(xuhui)["compounds"]
    # compounds placed on one point with others (a geocoder's street fallback), counted on the table's own columns
    same = table.loc[reference["row"], ["POINT_X", "POINT_Y"]].duplicated(keep=False).sum()
    assert rec["shared_location"] == same > 0
    assert any(f"{same:,} of the" in n and "exact point" in n for n in xuhui.notes)
    fa, yr, pop = rec["floor_area"], rec["year"], rec["population"]
    n = len(reference)
    assert rec["in_area"] == n and fa["known"] + fa["unknown"] + fa["unreadable"] == n
    assert fa["known"] == reference["floor"].notna().sum() and fa["unreadable"] == 0
    assert yr["known"] == reference["year"].notna().sum()
    assert fa["known_m2"] == pytest.approx(reference["floor"].sum(), abs=0.1)
    assert pop["floor_area_coverage"] == pytest.approx(fa["known"] / n, abs=1e-4)
    assert pop["residents_known_floor_area"] == pytest.approx(reference["floor"].sum() * 0.027, abs=0.1)
    assert pop["population_source_in_area"] == xuhui.population_balance["population"]["in_area"]
    b = xuhui.blocks
    compared = (b["compounds_n"] > 0) & b["pop_compounds"].notna()
    assert pop["blocks_compared"] == compared.sum()
    assert pop["population_in_compared_blocks"] == pytest.approx(b.loc[compared, "population"].sum(), abs=0.1)
    dated = reference["year"].notna()
    old = reference["year"] < 2000
    assert rec["old"]["count"] == old.sum()
    assert rec["old"]["share_of_dated"] == pytest.approx(old.sum() / dated.sum(), abs=1e-4)
    both = reference["floor"].notna() & dated
    assert rec["old"]["floor_share"] == pytest.approx(reference.loc[both & old, "floor"].sum()
                                                      / reference.loc[both, "floor"].sum(), abs=1e-4)
    assert any("no usable floor area" in n and f"{fa['unknown']:,}" in n for n in xuhui.notes)


# ------------------------------------------------------------------ config and input errors
def _raw(**compounds) -> dict:
    return {"study": {"name": "t"}, "area": {"bbox": [121.43, 31.18, 121.45, 31.20]},
            "network": {"source": {"dataset": "xuhui_roads"}},
            "compounds": {"source": {"dataset": "residential_compounds", "lon": "POINT_X", "lat": "POINT_Y"},
                          "floor_area_field": "总建面", **compounds}}


def test_persons_per_m2_must_be_declared():
    raw = _raw()
    raw["population"] = {"from_compounds": {}}
    with pytest.raises(InputError) as e:
        study_from_dict(raw, source_file="my_study.toml")
    assert e.value.field == "population.from_compounds.persons_per_m2"
    assert "my_study.toml" in str(e.value) and "persons_per_m2 = " in e.value.fix
    for bad in (0, -0.03, "0.027", 2.0):
        raw["population"] = {"from_compounds": {"persons_per_m2": bad}}
        with pytest.raises(InputError, match="persons_per_m2") as e:
            study_from_dict(raw)
        assert e.value.field == "population.from_compounds.persons_per_m2"
    raw["population"] = {"from_compounds": {"persons_per_m2": 0.027}}
    st = study_from_dict(raw)
    assert st.compounds.persons_per_m2 == 0.027 and "from_compounds" not in st.population


def test_compound_config_errors():
    raw = _raw()
    del raw["compounds"]
    raw["population"] = {"from_compounds": {"persons_per_m2": 0.027}}
    with pytest.raises(InputError, match=r"\[compounds\]") as e:
        study_from_dict(raw)
    assert e.value.field == "population.from_compounds"
    with pytest.raises(InputError) as e:
        study_from_dict(_raw(old_before=2000))  # no year column to tell the old ones by
    assert e.value.field == "compounds.year_field"
    with pytest.raises(InputError) as e:
        study_from_dict(_raw(year_field="竣工时", old_before="2000年"))
    assert e.value.field == "compounds.old_before"
    with pytest.raises(InputError, match="unknown key") as e:
        study_from_dict(_raw(floor_area="总建面"))
    assert "floor_area_field" in e.value.fix


@pytest.fixture
def small_xlsx(tmp_path):
    """A synthetic workbook shaped like a portal export (a sheet 'data'; made-up rows)."""
    p = tmp_path / "compounds.xlsx"
    pd.DataFrame({"小区名": ["甲小区", "乙小区", "丙小区", "丁小区"],
                  "建面": ["20000.0㎡", "暂无", "about 900", "3.5万平米"],
                  "年份": ["2010年", "1990年、2004年", "暂无", "1999"],
                  "lon": [121.440, 121.441, 121.442, 121.443], "lat": [31.190] * 4}
                 ).to_excel(p, sheet_name="data", index=False)
    return p


def test_small_workbook(small_xlsx):
    cfg = CompoundsConfig(Source(path=str(small_xlsx)), name_field="小区名", floor_area_field="建面",
                          year_field="年份", old_before=2000)
    with pytest.warns(DataWarning, match="1 floor areas .* could not be read .*about 900"):
        comp, rep = load_compounds(cfg, "EPSG:32651")
    assert comp["floor_area_m2"].tolist()[:2] == [20000.0, pytest.approx(np.nan, nan_ok=True)]
    assert comp["floor_area_m2"].iloc[3] == 35000.0
    assert comp["year_built"].tolist() == [2010, 1990, pd.NA, 1999]
    assert comp["old"].tolist() == [False, True, pd.NA, True]  # the 1990/2004 compound by its first phase
    assert rep["floor_area"] == {"field": "建面", "known": 2, "unknown": 1, "unreadable": 1,
                                 "unreadable_examples": ["about 900"], "known_m2": 55000.0}
    assert rep["year"]["multi_phase"] == 1 and rep["year"]["unknown"] == 1
    # two blocks: the west one holds the first two points; pop only where every floor area is known
    xy = shapely.get_coordinates(np.asarray(comp.geometry.values))
    mid = (xy[1, 0] + xy[2, 0]) / 2
    y0, y1 = xy[0, 1] - 50, xy[0, 1] + 50
    boxes = [shapely.box(xy[0, 0] - 50, y0, mid, y1), shapely.box(mid, y0, xy[3, 0] + 50, y1)]
    blocks = gpd.GeoDataFrame({"block_id": [1, 2]}, geometry=boxes, crs=comp.crs)
    per, where = block_compounds(blocks, comp, 2000)
    assert where.tolist() == [0, 0, 1, 1]
    assert per["compounds_n"].tolist() == [2, 2]
    assert np.isnan(per["compounds_floor_area_m2"]).all()  # each block has one compound of unknown floor area
    assert per["compounds_year_median"].tolist() == [2000.0, 1999.0]
    assert per["compounds_old_floor_share"].tolist() == [0.0, 1.0]
    assert compounds_population(per, 0.027).isna().all()


def test_workbook_and_column_errors(small_xlsx, tmp_path):
    with pytest.raises(InputError, match="no sheet named 'Sheet1'") as e:
        read_layer(small_xlsx, layer="Sheet1", lon="lon", lat="lat")
    assert str(small_xlsx) in str(e.value) and "data" in e.value.fix
    cfg = CompoundsConfig(Source(path=str(small_xlsx)), floor_area_field="总建面")
    with pytest.raises(InputError, match="'总建面' does not exist") as e:
        load_compounds(cfg, "EPSG:32651")
    assert e.value.field == "compounds.floor_area_field" and str(small_xlsx) in str(e.value)
    assert "建面" in e.value.fix
    bogus = tmp_path / "not_a_workbook.xlsx"
    bogus.write_text("小区名,lon,lat\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read the workbook") as e:
        read_layer(bogus)
    assert "CSV" in e.value.fix
    empty = tmp_path / "empty.xlsx"
    pd.DataFrame({"lon": [], "lat": []}).to_excel(empty, index=False)
    with pytest.raises(InputError, match="no rows"):
        read_layer(empty)
