"""Life-circle units (#12 item 8): contiguous units of a target population, every block in exactly one.

The references are built here, not with toolkit.lifecircle: contiguity from a
brute-force shapely ``touches`` adjacency and networkx connected components,
unit populations from a pandas groupby of the blocks, the profile's range read
from its TOML with tomllib.
"""

from __future__ import annotations

import tomllib

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from toolkit.datasets import data_dir
from toolkit.errors import InputError
from toolkit.lifecircle import LifeCircleSettings, life_circle_range, life_circle_units

CRS = "EPSG:32651"


def _touch_graph(geoms) -> nx.Graph:
    """Blocks as nodes, an edge where two touch (shapely, every pair: the test's own adjacency)."""
    g = nx.Graph()
    g.add_nodes_from(range(len(geoms)))
    tree = shapely.STRtree(geoms)
    for i, geom in enumerate(geoms):
        for j in tree.query(geom):
            if i < j and (geom.touches(geoms[j]) or geom.intersects(geoms[j])):
                g.add_edge(i, int(j))
    return g


def _check_partition(blocks: gpd.GeoDataFrame, units: gpd.GeoDataFrame, unit_of: pd.Series,
                     s: LifeCircleSettings) -> None:
    # every block in exactly one unit, named in the units table
    assert unit_of.index.equals(blocks.index) and unit_of.notna().all()
    assert set(unit_of) == set(units["zone_id"]) and units["zone_id"].is_unique
    # each unit connected in the touch graph
    graph = _touch_graph(list(blocks.geometry))
    pos = pd.Series(np.arange(len(blocks)), index=blocks.index)
    for zid, members in unit_of.groupby(unit_of):
        assert nx.is_connected(graph.subgraph(pos[members.index].tolist())), zid
    # populations as a groupby of the blocks, within range unless reported
    pop = blocks["population"].groupby(unit_of).sum()
    u = units.set_index("zone_id")
    assert u["population"].to_numpy() == pytest.approx(pop.reindex(u.index).to_numpy())
    assert u["blocks"].to_numpy().tolist() == unit_of.value_counts().reindex(u.index).tolist()
    inside = (u["population"] >= s.min_pop) & ((u["population"] <= s.max_pop) if s.max_pop else True)
    assert (u.loc[inside, "status"] == "in_range").all()
    out = u[~inside]
    assert (out["status"] != "in_range").all() and (out["reason"] != "").all()


def _grid(n: int, seed: int, gap_col: int | None = None, island: bool = False) -> gpd.GeoDataFrame:
    """n x n blocks of 100 m with random residents; a missing column stands for a river, a far cell an island."""
    rng = np.random.default_rng(seed)
    cells = [shapely.box(x * 100, y * 100, x * 100 + 100, y * 100 + 100)
             for y in range(n) for x in range(n) if x != gap_col]
    if island:
        cells.append(shapely.box(5000, 5000, 5100, 5100))
    pop = rng.gamma(2.0, 1000.0, len(cells))
    return gpd.GeoDataFrame({"block_id": np.arange(1, len(cells) + 1), "population": pop},
                            geometry=cells, crs=CRS, index=pd.RangeIndex(100, 100 + len(cells)))


@pytest.mark.parametrize("seed", range(4))
def test_units_are_contiguous_and_in_range_on_a_grid(seed):
    """A 12 x 12 grid of blocks (~290,000 residents) cut by a river column, with a small island."""
    b = _grid(12, seed, gap_col=7, island=True)
    s = LifeCircleSettings(30000, 50000)
    units, unit_of, summary = life_circle_units(b, s, area=shapely.box(0, 0, 1200, 1200))
    _check_partition(b, units, unit_of, s)
    island = unit_of.iloc[-1]
    row = units.set_index("zone_id").loc[island]
    assert row["blocks"] == 1 and row["status"] == "below" and row["reason"] == "isolated"
    # the river: no unit holds blocks on both sides of the missing column
    x = b.geometry.centroid.x
    for zid, members in unit_of.iloc[:-1].groupby(unit_of.iloc[:-1]):
        assert (x[members.index] < 700).all() or (x[members.index] > 800).all(), zid
    assert summary["parts"] == 3 and summary["units"] == len(units)
    assert summary["in_range"] == int((units["status"] == "in_range").sum())


def test_a_part_too_small_for_two_units_stays_one():
    """Four blocks of 10,000 residents with a range of 30,000-50,000: one unit of 40,000."""
    b = _grid(2, 0)
    b["population"] = 10000.0
    units, unit_of, _ = life_circle_units(b, LifeCircleSettings(30000, 50000))
    assert len(units) == 1 and units["population"].iloc[0] == 40000 and units["status"].iloc[0] == "in_range"
    assert (unit_of == units["zone_id"].iloc[0]).all()


def test_no_ceiling_and_an_oversized_block():
    """A range with no maximum (new towns: >= 20,000), and one block holding more than the maximum."""
    b = _grid(6, 1)
    units, unit_of, _ = life_circle_units(b, LifeCircleSettings(20000, None))
    _check_partition(b, units, unit_of, LifeCircleSettings(20000, None))
    b.loc[b.index[0], "population"] = 80000.0
    s = LifeCircleSettings(30000, 50000)
    units, unit_of, _ = life_circle_units(b, s)
    _check_partition(b, units, unit_of, s)
    big = units.set_index("zone_id").loc[unit_of.iloc[0]]
    assert big["status"] == "above"


def test_range_from_the_profiles():
    """Each bundled profile's life_circle_population, read here with tomllib, and the level's own range."""
    for path in sorted((data_dir() / "profiles").glob("*.toml")):
        with open(path, "rb") as f:
            head = tomllib.load(f)["profile"]
        rng = head["life_circle_population"]
        assert head["life_circle_population_source"]
        s = life_circle_range(path.stem)
        assert (s.min_pop, s.max_pop) == (rng[0], rng[1] if len(rng) > 1 else None)
    assert life_circle_range("shanghai-main-city", [1000, 2000]).max_pop == 2000
    with pytest.raises(InputError, match="min, max"):
        life_circle_range("shanghai-main-city", [5000, 1000])


def test_a_profile_without_a_range_says_how_to_add_one(tmp_path):
    """A user profile with no life_circle_population: the error names the key and the fix."""
    p = tmp_path / "mine.toml"
    p.write_text('[profile]\nname = "mine"\n', encoding="utf-8")
    with pytest.raises(InputError, match="life_circle_population") as e:
        life_circle_range(str(p))
    assert "population = [min, max]" in str(e.value)


def test_units_on_the_default_study(xuhui):
    """The default study's life-circle level: every block in one unit, units contiguous, range held or reported."""
    b = xuhui.blocks
    layer = xuhui.layers["zones_life_circle"]
    # membership as the test places it: the unit polygon holding each block's representative point
    pts = gpd.GeoDataFrame(geometry=b.geometry.representative_point(), crs=b.crs)
    hits = gpd.sjoin(pts, layer[["zone_id", "geometry"]], predicate="within")
    assert hits.index.is_unique and len(hits) == len(b)
    unit_of = hits["zone_id"].reindex(b.index)
    s = life_circle_range(xuhui.study.profile)
    units = layer.rename(columns={})  # the layer's roll-up columns hold blocks and population too
    _check_partition(b, units, unit_of, s)
    lc = xuhui.details["decisions"]["zone_levels"]["life_circle"]
    assert lc["life_circle"]["units"] == len(layer)
    assert lc["blocks_in_no_zone"] == 0 and lc["blocks_in_several"] == 0
    in_range = layer["population"].between(s.min_pop, s.max_pop)
    assert lc["life_circle"]["in_range"] == int(in_range.sum())
    print(f"life-circle units: {len(layer)}, {int(in_range.sum())} in range, population "
          f"{layer['population'].min():,.0f}-{layer['population'].max():,.0f}")
