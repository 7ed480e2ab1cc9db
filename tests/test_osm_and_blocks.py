"""OSM readers (XML and PBF), the walking network and street blocks on real data."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from osm_synth import to_pbf

from toolkit.blocks import enclosed_blocks
from toolkit.network import network_from_osmnx
from toolkit.osm import read_osm_graph, read_osm_nodes


@pytest.fixture(scope="module")
def xuhui_pbf(tmp_path_factory, shared):
    return to_pbf(shared / "xuhui_roads.osm", tmp_path_factory.mktemp("pbf") / "xuhui_roads.osm.pbf")


@pytest.mark.slow
def test_xml_graph_matches_published_figures(shared):
    G = read_osm_graph(shared / "xuhui_roads.osm")
    assert G.number_of_nodes() == 11715  # every node of the file is a way node
    net = network_from_osmnx(G, "EPSG:32651")
    assert net.crs.to_epsg() == 32651
    # motorways removed: fewer nodes than osmnx's 2,097-node simplified drive graph keeps with them
    assert 1900 < net.n_nodes < 2300
    # lengths are metres on the projected geometry
    assert np.allclose(net.length, shapely.length(net.edge_geometry), atol=1e-6)
    assert 5 < np.median(net.length) < 300


@pytest.mark.slow
def test_pbf_reads_like_xml(shared, xuhui_pbf):
    a = network_from_osmnx(read_osm_graph(shared / "xuhui_roads.osm"), "EPSG:32651")
    b = network_from_osmnx(read_osm_graph(xuhui_pbf), "EPSG:32651")
    assert (a.n_nodes, a.n_edges) == (b.n_nodes, b.n_edges)
    assert a.length.sum() == pytest.approx(b.length.sum(), rel=1e-6)


def test_transit_stop_nodes_from_xml_and_pbf(shared, xuhui_pbf):
    xml = read_osm_nodes(shared / "xuhui_roads.osm", ("public_transport",))
    pbf = read_osm_nodes(xuhui_pbf, ("public_transport",))
    assert len(xml) == len(pbf) == 858
    assert (xml["public_transport"] == "stop_position").all()


def test_blocks_tile_the_area(xuhui):
    blocks = xuhui.blocks
    area = xuhui.land  # the study area less the Huangpu
    assert area.area < xuhui.area.geometry.iloc[0].area
    assert blocks.crs.to_epsg() == 32651
    assert len(blocks) == len(set(blocks["block_id"]))
    assert blocks.index.equals(blocks.set_index("block_id").index)
    assert (blocks["area_m2"] >= xuhui.study.min_block_area_m2).all()
    # blocks do not overlap and cover the area apart from dropped slivers
    union = shapely.union_all(np.asarray(blocks.geometry.values))
    assert union.area == pytest.approx(blocks.geometry.area.sum(), rel=1e-6)
    assert 0.97 < union.area / area.area <= 1.0 + 1e-9
    assert 800 < len(blocks) < 1400


def test_block_ids_are_stable(xuhui):
    again = enclosed_blocks(xuhui.network.streets(), xuhui.land, xuhui.study.min_block_area_m2,
                            barriers=xuhui.network.barriers)
    assert again["block_id"].tolist() == xuhui.blocks["block_id"].tolist()
    assert np.allclose(again["area_m2"].to_numpy(), xuhui.blocks["area_m2"].to_numpy())


def test_xuhui_area_is_the_converted_district(xuhui):
    # Xuhui District is 54.93 km2 officially; the GCJ-02 boundary converted to WGS84 measures ~55.2,
    # and clipping to the extent of the road and population data keeps ~52.
    assert xuhui.details["area_km2_before_clip"] == pytest.approx(55.0, abs=1.0)
    assert 50 < xuhui.details["area_km2"] <= xuhui.details["area_km2_before_clip"]


def test_user_blocks_with_their_ids(xuhui, tmp_path):
    """Official parcels instead of enclosures: ids kept, clipped to the area, overlaps reported."""
    import geopandas as gpd

    from toolkit.blocks import user_blocks
    from toolkit.io import DataWarning

    parcels = xuhui.blocks.iloc[:20][["geometry"]].copy()
    parcels["地块编号"] = [f"XH-{i:03d}" for i in range(20)]
    ub = user_blocks(parcels, xuhui.area.geometry.iloc[0], id_field="地块编号")
    assert ub["block_id"].tolist() == parcels["地块编号"].tolist()
    overlapping = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[parcels.geometry.iloc[0],
                                                            parcels.geometry.iloc[0].buffer(5)], crs=parcels.crs)
    with pytest.warns(DataWarning, match="blocks overlap"):
        user_blocks(overlapping, xuhui.area.geometry.iloc[0], id_field="id")
