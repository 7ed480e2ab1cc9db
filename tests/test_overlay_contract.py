"""The overlay contract (#11 item 4): a registered overlay reaches every output with no change to the outputs.

A small "complaints" overlay is registered for these tests only: clearly synthetic test points (a fixed random
draw inside a street grid, not real complaints), counted per block. It runs on the fast synthetic grid study of
tests/test_run_json.py; the counts are checked against a brute-force point-in-polygon count made here with
shapely on the raw input coordinates (projected with pyproj, not with the toolkit), and the overlay is looked
for in the GeoPackage (layer, block column, QGIS style), map.html, report.html, run.json and schema.md.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from osm_synth import X0, Y0
from test_run_json import _grid_study

import toolkit as tk
from toolkit import overlays
from toolkit.errors import InputError
from toolkit.outputs.writers import write_outputs
from toolkit.overlays import ColumnDoc, LayerDoc, Overlay, OverlayOutput
from toolkit.record import run_record

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
N_POINTS = 60
TITLE = "Complaints (synthetic test points)"
MEANING = "synthetic test complaints inside the block"


def _points_m() -> np.ndarray:
    """The synthetic complaint points, EPSG:32651: a fixed draw over the grid's streets (0..750 m) and a bit beyond."""
    rng = np.random.default_rng(11)
    return np.column_stack([X0 - 50 + rng.random(N_POINTS) * 850, Y0 - 50 + rng.random(N_POINTS) * 850])


def _run_complaints(ctx) -> OverlayOutput:
    """The test overlay: the configured lon/lat points, projected, counted per block (STRtree 'contains')."""
    cfg = ctx.config("complaints")
    pts = gpd.GeoDataFrame({"complaint_id": np.arange(len(cfg["lon"]))},
                           geometry=gpd.points_from_xy(cfg["lon"], cfg["lat"]), crs="EPSG:4326").to_crs(ctx.crs)
    blocks = np.asarray(ctx.blocks.geometry.values)
    b_idx, p_idx = shapely.STRtree(np.asarray(pts.geometry.values)).query(blocks, predicate="contains")
    counts = np.bincount(b_idx, minlength=len(blocks)).astype(np.int64)
    block_of = np.full(len(pts), -1, dtype=np.int64)
    block_of[p_idx] = ctx.blocks["block_id"].to_numpy()[b_idx]
    pts["block_id"] = block_of
    cols = pd.DataFrame({"complaints_n": counts}, index=ctx.blocks.index)
    summary = {"points": len(pts), "in_blocks": int((block_of >= 0).sum()), "blocks_with_any": int((counts > 0).sum()),
               "min_count": cfg["min_count"]}
    return OverlayOutput(
        block_columns=cols, layers={"complaints": pts}, summary=summary,
        docs=(ColumnDoc("complaints_n", "complaints", "投诉数", MEANING, "count"),
              ColumnDoc("complaint_id", "complaint", "投诉编号", "the test point's number", layer="complaints"),
              ColumnDoc("block_id", "block", "街坊编号", "the block holding the point, -1 for none",
                        layer="complaints")),
        layer_docs=(LayerDoc("complaints", TITLE, "投诉（测试点）", "synthetic test points, one per complaint"),))


def _section():
    from toolkit.study_schema import Key, ListOf, Number, Section

    return Section("complaints", "Synthetic complaints (a test overlay).", (
        Key("lon", ListOf(Number()), "longitudes"), Key("lat", ListOf(Number()), "latitudes"),
        Key("min_count", Number(0, integer=True), "a setting with a default", default=1)))


@pytest.fixture
def complaints():
    """The overlay registered for one test, and removed after it whatever happens."""
    import toolkit.study  # noqa: F401  (the built-ins register with the pipeline)

    ov = overlays.register(Overlay("complaints", _run_complaints, title_en=TITLE, title_zh="投诉（测试点）",
                                   keys=_section(), doc="synthetic complaints per block"))
    yield ov
    overlays.unregister("complaints")


def _study_with_complaints(tmp_path: Path) -> tk.Study:
    """The grid study with a [complaints] section holding the synthetic points as lon/lat lists."""
    base = _grid_study(tmp_path)
    lon, lat = TO_WGS.transform(*_points_m().T)
    text = (tmp_path / "s.toml").read_text(encoding="utf-8")
    text += f"[complaints]\nlon = {list(map(float, lon))}\nlat = {list(map(float, lat))}\n"
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    assert base.name == "grid"
    return tk.load_study(tmp_path / "s.toml")


def _brute_force_counts(blocks: gpd.GeoDataFrame) -> dict[int, int]:
    """Per block_id, the test points inside it: every block against every point, shapely, no index."""
    pts = [shapely.Point(x, y) for x, y in _points_m()]
    return {int(bid): sum(bool(g.contains(p)) for p in pts) for bid, g in zip(blocks["block_id"], blocks.geometry,
                                                                               strict=True)}


def test_a_registered_overlay_reaches_every_output(complaints, tmp_path):
    """The complaints overlay in the GeoPackage (layer, block column equal to a brute-force count, QGIS style),
    map.html, report.html, run.json and schema.md, with no change to the output modules."""
    result = tk.run_study(_study_with_complaints(tmp_path))
    assert list(result.overlays)[-1] == "complaints" and result.overlays["complaints"].present
    folder = write_outputs(result, tmp_path / "out")
    gpkg = folder / "grid.gpkg"
    # GeoPackage: the layer, and the block column equal to the independent count
    assert "complaints" in {n for n, _ in pyogrio.list_layers(gpkg)}
    blocks = gpd.read_file(gpkg, layer="blocks")
    expected = _brute_force_counts(blocks)
    assert sum(expected.values()) > 10 and len(set(expected.values())) > 2  # a real spread, not all zeros
    got = dict(zip(blocks["block_id"].astype(int), blocks["complaints_n"].astype(int), strict=True))
    assert got == expected
    layer = gpd.read_file(gpkg, layer="complaints")
    assert len(layer) == N_POINTS and (layer["block_id"] >= 0).sum() == sum(expected.values())
    with sqlite3.connect(gpkg) as con:
        styles = con.execute("SELECT f_table_name, f_geometry_column, styleName, useAsDefault FROM layer_styles "
                             "WHERE styleName = 'complaints_n'").fetchall()
    assert [(s[0], s[3]) for s in styles] == [("blocks", 0)]  # a graduated fallback, not the default
    # run.json: the summary under the overlay's name, after the built-ins'; its settings in the config
    rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert rec["complaints"] == {"points": N_POINTS, "in_blocks": sum(expected.values()),
                                 "blocks_with_any": sum(v > 0 for v in expected.values()), "min_count": 1}
    keys = list(rec)
    assert keys.index("complaints") == keys.index("compounds") + 1
    assert rec["config"]["overlays"]["complaints"]["lon"][:2] == pytest.approx(
        list(TO_WGS.transform(*_points_m()[:2].T)[0]))
    # schema.md: the layer's title and the columns' meaning from the declaration, nothing undocumented
    schema = (folder / "schema.md").read_text(encoding="utf-8")
    assert f"## `complaints`: {TITLE} (投诉（测试点）)" in schema
    assert f"| `complaints_n` | integer | count | 投诉数 | {MEANING} |" in schema
    assert "the block holding the point" in schema
    assert "None: every column is documented." in schema
    # map.html: a classed block layer with its legend, and the point layer
    page = (folder / "map.html").read_text(encoding="utf-8")
    assert '"complaints (blocks)"' in page and '"cls_complaints_n"' in page
    assert '"caption":"complaints"' in page
    assert json.dumps(TITLE) in page
    # report.html: the overlay's section (the generic one: its figures as a table)
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert re.search(r"id=['\"]s-overlay-complaints['\"]", report) and TITLE in report
    assert "blocks_with_any" in report


def test_an_overlay_without_its_section_is_absent_with_a_reason(complaints, tmp_path):
    """Registered but not configured: nothing runs, run.json says why (absent-with-reason, never zeros)."""
    result = tk.run_study(_grid_study(tmp_path))
    assert not result.overlays["complaints"].present and "complaints_n" not in result.blocks
    rec = run_record(result)
    assert rec["complaints"] == {"status": "absent", "reason": "no [complaints] section in the study"}


def test_an_unknown_key_in_the_overlays_section_is_refused_with_a_suggestion(complaints, tmp_path):
    """A typo in the overlay's own section is refused at load, naming the key and the closest valid one."""
    _study_with_complaints(tmp_path)
    path = tmp_path / "s.toml"
    path.write_text(path.read_text(encoding="utf-8") + "min_cout = 2\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        tk.load_study(path)
    assert err.value.field == "complaints.min_cout"
    assert "did you mean `min_count`" in err.value.fix


def test_a_key_list_declares_a_section_of_any_values(tmp_path):
    """An overlay declared with a plain key list: those keys are accepted, any other refused."""
    overlays.register(Overlay("keylist_demo", _run_complaints, keys=("radius_m", "label")))
    try:
        from toolkit.study_schema import check_study_dict

        raw = {"study": {"name": "s"}, "area": {"bbox": [121.43, 31.19, 121.45, 31.21]},
               "network": {"source": {"dataset": "xuhui_roads"}}, "keylist_demo": {"radius_m": 50, "label": "x"}}
        check_study_dict(raw, "s.toml")
        raw["keylist_demo"]["radius"] = 5
        with pytest.raises(InputError, match="unknown key 'radius'") as err:
            check_study_dict(raw, "s.toml")
        assert "radius_m" in err.value.fix
    finally:
        overlays.unregister("keylist_demo")


def test_unregistering_removes_the_overlay_and_its_section(complaints, tmp_path):
    """After unregister the overlay no longer runs and its section is an unknown section again."""
    study = _study_with_complaints(tmp_path)
    assert "complaints" in overlays.names()
    overlays.unregister("complaints")
    assert "complaints" not in overlays.names() and overlays.get("complaints") is None
    with pytest.raises(InputError, match=r"unknown section \[complaints\]"):
        tk.load_study(tmp_path / "s.toml")
    with pytest.raises(InputError, match=r"unknown section \[complaints\]"):
        study.validate()  # the Study built while it was registered holds a section nobody declares now


def test_the_builtin_overlays_are_registered_in_their_order():
    """compounds, heritage, waterfront, walkability run in this order, walkability in every study."""
    import toolkit.study  # noqa: F401

    builtins = [o for o in overlays.registered() if o.name in ("compounds", "heritage", "waterfront", "walkability")]
    assert [o.name for o in builtins] == ["compounds", "heritage", "waterfront", "walkability"]
    assert [o.always for o in builtins] == [False, False, False, True]


def test_an_overlay_may_not_overwrite_a_column(tmp_path):
    """An overlay returning a column the blocks already have is refused, naming the overlay and the column."""
    def clash(ctx):
        return OverlayOutput(block_columns=pd.DataFrame({"population": 0.0}, index=ctx.blocks.index))

    overlays.register(Overlay("clash_demo", clash, always=True))
    try:
        with pytest.raises(ValueError, match=r"clash_demo.*population"):
            tk.run_study(_grid_study(tmp_path))
    finally:
        overlays.unregister("clash_demo")
