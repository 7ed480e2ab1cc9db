"""``toolkit compare RUN_A RUN_B``: what changed between two runs of one study (issue #12, item 8).

Two runs of the small synthetic grid study (``_grid_study`` of tests/test_run_json.py: a 6 x 6 street grid
written as OSM XML) that differ by one facility: the blocks the command reports are checked against the two
GeoPackages read back independently with pandas, value for value. Runs of different studies, or on different
blocks, are refused with exit code 2 and one message.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from osm_synth import X0, Y0
from test_run_json import TO_WGS, _grid_study

import toolkit as tk
from toolkit.cli import main
from toolkit.compare import compare_runs
from toolkit.errors import InputError

CATEGORY = "elderly_care"


def _with_facilities(tmp: Path, points: list[tuple[float, float]], name: str = "grid") -> tk.Study:
    """The grid study with elderly-care points at ``points`` (metres from the grid's origin), no map."""
    study = _grid_study(tmp)
    rows = ["lon,lat"] + [",".join(f"{v:.9f}" for v in TO_WGS.transform(X0 + x, Y0 + y)) for x, y in points]
    (tmp / "care.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    toml = (tmp / "s.toml").read_text(encoding="utf-8").replace('name = "grid"', f'name = "{name}"')
    toml += (f'[[facilities]]\nsource = {{ path = "care.csv", lon = "lon", lat = "lat", crs = "EPSG:4326" }}\n'
             f'kind = "fixed"\ncategory = "{CATEGORY}"\n[output]\nmap = false\nreport = false\n')
    (tmp / "s.toml").write_text(toml, encoding="utf-8")
    assert study.name == "grid"
    return tk.load_study(tmp / "s.toml")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Run A: one elderly-care point; run B: the same and a second one; C: another study (its own name)."""
    out = {}
    for key, pts, name in (("a", [(225.0, 300.0)], "grid"), ("b", [(225.0, 300.0), (600.0, 525.0)], "grid"),
                           ("c", [(225.0, 300.0)], "grid_other")):
        tmp = tmp_path_factory.mktemp(f"run_{key}")
        result = tk.run_study(_with_facilities(tmp, pts, name))
        assert CATEGORY in result.categories
        out[key] = result.save(tmp / "out")
    return out


def _blocks(folder: Path) -> pd.DataFrame:
    (gpkg,) = folder.glob("*.gpkg")
    return pyogrio.read_dataframe(gpkg, layer="blocks", read_geometry=False).set_index("block_id")


def _differing(a: pd.DataFrame, b: pd.DataFrame) -> set:
    """Blocks whose distance or within flag differs between two blocks tables (NaN equal to NaN)."""
    b = b.loc[a.index]
    dist, within = f"dist_{CATEGORY}_m", f"within_{CATEGORY}"
    d = ~((a[dist] == b[dist]) | (a[dist].isna() & b[dist].isna()))
    w = a[within].astype(bool) != b[within].astype(bool)
    return set(a.index[(d | w).to_numpy()])


def test_compare_reports_exactly_the_blocks_whose_distances_differ(runs, tmp_path, capsys):
    """Two runs differing by one facility: the changed blocks are those pandas finds different, no more, no less."""
    expected = _differing(_blocks(runs["a"]), _blocks(runs["b"]))
    assert expected, "the second facility must change some distances"
    assert main(["compare", str(runs["a"]), str(runs["b"]), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(expected)} of {len(_blocks(runs['a']))} blocks changed" in printed
    written = gpd.read_file(tmp_path / "compare" / "changed_blocks.gpkg")
    assert set(written["block_id"]) == expected and len(written) == len(expected)
    csv = pd.read_csv(tmp_path / "compare" / "changed_blocks.csv", encoding="utf-8-sig")
    assert set(csv["block_id"]) == expected
    summary = json.loads((tmp_path / "compare" / "compare.json").read_text(encoding="utf-8"))
    assert set(summary["changed_block_ids"]) == expected
    # per category: the facilities each run counted, and the rates the two run.json files hold
    row = next(r for r in summary["categories"] if r["category"] == CATEGORY)
    assert (row["facilities_a"], row["facilities_b"]) == (1, 2)
    rec = {k: json.loads((runs[k] / "run.json").read_text(encoding="utf-8")) for k in ("a", "b")}
    rates = {k: next(r["rate_total"] for r in rec[k]["coverage"]["rates"] if r["category"] == CATEGORY) for k in rec}
    assert row["rate_total_a"] == pytest.approx(rates["a"]) and row["rate_total_b"] == pytest.approx(rates["b"])
    # a facility only added: nothing gets further, and the zone rows add up to the changed blocks
    assert row["blocks_no_longer_within"] == 0 and row["blocks_changed"] == len(expected)
    assert sum(z["blocks_changed"] for z in summary["zones_changed"]) == len(expected)


def test_compare_of_a_run_with_itself_reports_no_change(runs):
    """The same folder twice: no block, category or zone changed."""
    cmp = compare_runs(runs["a"], runs["a"])
    assert len(cmp.changed) == 0 and int(cmp.categories["blocks_changed"].sum()) == 0


def test_runs_of_different_studies_are_refused_with_exit_2(runs, capsys):
    """Another study's run (its own name): exit code 2 and one message naming both folders and the fix."""
    assert main(["compare", str(runs["a"]), str(runs["c"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("error:") == 1 and err.startswith("error:") and "different studies" in err
    assert str(runs["c"]) in err and "fix: compare two runs of the same study" in err


def test_runs_on_different_blocks_are_refused(runs, tmp_path):
    """Run B with one block removed from its GeoPackage stands for a run on another street extract."""
    folder = tmp_path / "grid"
    shutil.copytree(runs["b"], folder)
    (gpkg,) = folder.glob("*.gpkg")
    blocks = gpd.read_file(gpkg, layer="blocks")
    blocks.iloc[1:].to_file(gpkg, layer="blocks", driver="GPKG", engine="pyogrio")
    with pytest.raises(InputError, match="different blocks"):
        compare_runs(runs["a"], folder)
    # an outline moved by a metre is another block too
    moved = blocks.copy()
    moved.loc[moved.index[0], "geometry"] = moved.geometry.iloc[0].buffer(1.0)
    moved.to_file(gpkg, layer="blocks", driver="GPKG", engine="pyogrio")
    with pytest.raises(InputError, match="block outlines differ"):
        compare_runs(runs["a"], folder)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path, runs):
    """A folder without run.json: exit code 2, nothing written."""
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(runs["a"]), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "compare").exists()
