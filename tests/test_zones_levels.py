"""Nested zone levels (#12 item 8): several levels at once, overlaps, gaps, nesting, config.

Roll-ups are checked against a pandas groupby of the blocks placed here with
geopandas' sjoin (each block's representative point within a zone), overlaps
and gaps against synthetic layers whose answer is known by construction.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import toolkit as tk
from toolkit.config import AreaConfig, Study, study_to_raw, validate_study
from toolkit.errors import InputError
from toolkit.sources import Source
from toolkit.zones import ZoneLevel, level_memberships, zone_levels

CRS = "EPSG:32651"


def _blocks() -> gpd.GeoDataFrame:
    """A 4 x 4 grid of 100 m blocks; residents 100 x (1..16), a tenth of them 65+; transit within for even ids."""
    cells = [shapely.box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for y in range(4) for x in range(4)]
    ids = np.arange(1, 17)
    pop = 100.0 * ids
    return gpd.GeoDataFrame({
        "block_id": ids, "population": pop, "pop_65plus": pop / 10,
        "dist_transit_m": np.where(ids % 2 == 0, 200.0, 600.0), "within_transit": ids % 2 == 0,
    }, geometry=cells, crs=CRS, index=pd.RangeIndex(10, 26))


def _write(tmp_path, name: str, zones: gpd.GeoDataFrame) -> Source:
    path = tmp_path / f"{name}.gpkg"
    zones.to_file(path, driver="GPKG")
    return Source(path=str(path))


def _placed(blocks: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, field: str) -> pd.Series:
    """Each block's zone, placed by the test: sjoin of representative points (first zone listed on overlap)."""
    pts = gpd.GeoDataFrame(geometry=blocks.geometry.representative_point(), crs=blocks.crs)
    hits = gpd.sjoin(pts, zones[[field, "geometry"]].reset_index(names="_order"), predicate="within")
    hits = hits.sort_values("_order", kind="stable")
    first = hits[~hits.index.duplicated()]
    return first[field].astype(str).reindex(blocks.index).fillna("unassigned")


def test_overlaps_and_gaps_with_a_known_answer(tmp_path):
    """Two zones overlapping on the second column of blocks and leaving the last column uncovered."""
    b = _blocks()
    zones = gpd.GeoDataFrame({"name": ["west", "middle"]},
                             geometry=[shapely.box(0, 0, 200, 400), shapely.box(100, 0, 300, 400)], crs=CRS)
    layers: dict = {}
    out = zone_levels([ZoneLevel("jiedao", source=_write(tmp_path, "j", zones), id_field="name")], b,
                      shapely.box(0, 0, 400, 400), ["transit"], "shanghai-main-city", layers)
    e = out["jiedao"]
    col = (b.geometry.centroid.x // 100).astype(int)
    assert e["blocks_in_no_zone"] == 4 and e["blocks_in_several"] == 4
    assert e["residents_in_no_zone"] == pytest.approx(b.loc[col == 3, "population"].sum())
    assert e["residents_in_several_share"] == pytest.approx(b.loc[col == 1, "population"].sum()
                                                            / b["population"].sum())
    assert e["overlap_m2"] == pytest.approx(100 * 400) and e["gap_m2"] == pytest.approx(100 * 400)
    # the layer's roll-up as the test's groupby
    placed = _placed(b, zones, "name")
    g = b.assign(zone=placed).groupby("zone")
    layer = layers["zones_jiedao"].set_index("zone_id")
    for z in ("west", "middle"):
        assert layer.loc[z, "blocks"] == g.size()[z]
        assert layer.loc[z, "population"] == pytest.approx(g["population"].sum()[z])
        assert layer.loc[z, "not_served_transit"] == pytest.approx(
            b.loc[(placed == z) & ~b["within_transit"], "population"].sum())
    assert layer.crs == b.crs


def test_nesting_reports_the_zone_crossing_its_parent(tmp_path):
    """Parent: west and east halves. Children: four columns, the second reaching 60 m across the halves' line
    (taking the third column of blocks with it), the fourth naming a parent id the parent level lacks."""
    b = _blocks()
    parent = gpd.GeoDataFrame({"pid": ["W", "E"]}, geometry=[shapely.box(0, 0, 200, 400),
                                                             shapely.box(200, 0, 400, 400)], crs=CRS)
    child = gpd.GeoDataFrame({"cid": ["c1", "c2", "c3", "c4"], "up": ["W", "W", "E", "X"]},
                             geometry=[shapely.box(0, 0, 100, 400), shapely.box(100, 0, 260, 400),
                                       shapely.box(260, 0, 300, 400), shapely.box(300, 0, 400, 400)], crs=CRS)
    levels = [ZoneLevel("a", source=_write(tmp_path, "p", parent), id_field="pid"),
              ZoneLevel("b", source=_write(tmp_path, "c", child), id_field="cid", parent="a", parent_field="up")]
    layers: dict = {}
    out = zone_levels(levels, b, shapely.box(0, 0, 400, 400), ["transit"], "shanghai-main-city", layers)
    nest = out["b"]["nesting"]
    # c2 has 60 of its 160 m in E; c4 names X, so none of it lies in its parent
    assert nest["crossing"] == 2 and {z["zone"] for z in nest["crossing_zones"]} == {"c2", "c4"}
    share = {z["zone"]: z["share_inside"] for z in nest["crossing_zones"]}
    assert share["c2"] == pytest.approx(100 / 160, abs=1e-4) and share["c4"] == 0
    assert nest["unknown_parent"] == ["X"] and nest["parent"] == "a"
    # blocks whose child zone's parent is not the parent zone they lie in: the third column's four (in c2, whose
    # parent is W, but in E) and c4's four (declared X)
    pp, cp = _placed(b, parent, "pid"), _placed(b, child, "cid")
    declared = cp.map(dict(zip(child["cid"], child["up"], strict=True)))
    assert nest["blocks_inconsistent"] == int((declared != pp).sum()) == 8
    assert layers["zones_b"]["parent_id"].tolist() == ["W", "W", "E", "X"]
    # the parent found by area when no parent_field is declared
    levels[1] = ZoneLevel("b", source=levels[1].source, id_field="cid", parent="a")
    out = zone_levels(levels, b, shapely.box(0, 0, 400, 400), ["transit"], "shanghai-main-city", {})
    assert out["b"]["nesting"]["crossing"] == 1 and out["b"]["nesting"]["blocks_inconsistent"] == 4


def test_grid_and_life_circle_levels_and_their_memberships():
    """A 200 m grid level and life-circle units of 2,000-5,000 residents on the 4 x 4 grid (13,600 residents)."""
    b = _blocks()
    layers: dict = {}
    out = zone_levels([ZoneLevel("g", grid_m=200.0), ZoneLevel("life_circle", life_circle=True,
                                                                population=[2000, 5000], parent="g")],
                      b, shapely.box(0, 0, 400, 400), ["transit"], "shanghai-main-city", layers)
    assert out["g"]["zones"] == 4 and out["g"]["blocks_in_no_zone"] == 0
    lc = out["life_circle"]["life_circle"]
    assert lc["units"] == len(layers["zones_life_circle"]) and lc["population_range"] == [2000, 5000]
    members = level_memberships(b, layers)
    assert set(members) == {"g", "life_circle"}
    for name, layer in layers.items():
        placed = _placed(b, layer, "zone_id")
        assert (members[name[len("zones_"):]] == placed.to_numpy()).all()
        pop = b.groupby(placed.to_numpy())["population"].sum()
        assert layer.set_index("zone_id")["population"].to_numpy() == pytest.approx(
            pop.reindex(layer["zone_id"]).to_numpy())


def _toml(tmp_path, zones: str) -> str:
    p = tmp_path / "s.toml"
    p.write_text(f"""
[study]
name = "z"
[area]
bbox = [121.43, 31.19, 121.45, 31.21]
[network]
source = {{ dataset = "xuhui_roads" }}
{zones}
""", encoding="utf-8")
    return str(p)


def test_config_levels_and_the_single_form(tmp_path):
    """[[zones.levels]] parse into the study; the single [zones] form still works; bad levels are refused."""
    st = tk.load_study(_toml(tmp_path, """[zones]
grid_m = 500
[[zones.levels]]
name = "grid250"
grid_m = 250
parent = "zones"
[[zones.levels]]
name = "units"
life_circle = true
population = [20000, 40000]
"""))
    assert st.zone_grid_m == 500 and [lv["name"] for lv in st.zone_levels] == ["grid250", "units"]
    assert st.decisions and st.zone_life_circle
    validate_study(st)  # a study as loaded passes its own checks
    raw = study_to_raw(st)
    assert raw["zones"]["levels"][0]["grid_m"] == 250
    single = tk.load_study(_toml(tmp_path, "[zones]\ngrid_m = 800\nlife_circle = false\n"))
    assert single.zone_levels == [] and single.zone_grid_m == 800 and not single.zone_life_circle
    for bad, match in (
        ('[[zones.levels]]\nname = "a"\ngrid_m = 100\nlife_circle = true\n', "one of source, grid_m"),
        ('[[zones.levels]]\nname = "a"\n', "one of source, grid_m"),
        ('[[zones.levels]]\nname = "a"\ngrid_m = 100\nparent = "b"\n', "not a level listed before"),
        ('[[zones.levels]]\nname = "zones"\ngrid_m = 100\n', "taken"),
        ('[[zones.levels]]\nname = "a b"\ngrid_m = 100\n', "not a plain name"),
        ('[[zones.levels]]\nname = "a"\ngrid_m = 100\nparent_field = "up"\n', "no parent"),
        ('[[zones.levels]]\nname = "a"\ngrid = 100\n', "grid_m"),
    ):
        with pytest.raises(InputError, match=match):
            tk.load_study(_toml(tmp_path, bad))


def test_a_python_study_with_levels_is_checked(tmp_path):
    """A Study built in Python with a level whose source is a Source passes; a bare path string is refused."""
    st = Study(name="s", area=AreaConfig(bbox=[121.43, 31.19, 121.45, 31.21]),
               network=Source(dataset="xuhui_roads"), decisions=True,
               zone_levels=[{"name": "j", "source": Source(path="j.gpkg"), "id_field": "name"}])
    validate_study(st)
    st.zone_levels = [{"name": "j", "source": "j.gpkg"}]
    with pytest.raises(InputError, match="Source"):
        validate_study(st)


def test_levels_on_the_default_study(xuhui):
    """The default study: the 1 km grid and the life-circle units both rolled up, no block left out."""
    zl = xuhui.details["decisions"]["zone_levels"]
    assert "life_circle" in zl and "zones_life_circle" in xuhui.layers
    e = zl["life_circle"]
    assert e["blocks_in_no_zone"] == 0 and e["blocks_in_several"] == 0 and e["overlap_m2"] < 1.0
    layer = xuhui.layers["zones_life_circle"]
    assert layer["population"].sum() == pytest.approx(xuhui.blocks["population"].sum())
    ez = xuhui.details["equity_by_zone"]
    assert set(ez["levels"]) == {"zones", "life_circle"}
