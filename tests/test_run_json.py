"""run.json: every detail of a run reaches it, its keys are documented, and writing it changes nothing (#11).

``docs/run_json.md`` is generated from :data:`toolkit.record.RUN_JSON_KEYS`; a
small synthetic study (a street grid written as OSM XML) is run and saved with
the web assets missing, the one case in which the writer has a note of its own.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pyproj
import pytest
from osm_synth import X0, Y0, OsmWriter

import toolkit as tk
from toolkit.outputs import webassets
from toolkit.outputs.writers import write_outputs
from toolkit.record import _FROM_DETAILS, IN_MEMORY_DETAILS, RUN_JSON_KEYS, _clean, _json_default, run_json_markdown

ROOT = Path(__file__).resolve().parents[1]
TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def test_docs_run_json_md_is_generated_from_the_declarations():
    doc = ROOT / "docs" / "run_json.md"
    assert doc.read_text(encoding="utf-8") == run_json_markdown(), (
        "docs/run_json.md is out of date: run .venv/bin/python -m toolkit.record docs/run_json.md")


def _detail_keys(path: Path) -> set[str]:
    """Every ``details["..."]`` the pipeline sets (assignments, tuple targets, augmented ones)."""
    keys = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id == "details"
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            keys.add(node.slice.value)
    return keys


def test_every_detail_the_pipeline_sets_has_its_key_in_run_json_or_is_declared_in_memory():
    import toolkit.study
    from toolkit import overlays

    # the overlays step sets details[<name>] for every registered overlay (toolkit.overlays)
    keys = _detail_keys(ROOT / "toolkit" / "study.py") | set(overlays.names())
    assert {"network", "blocks", "facilities", "heritage", "waterfront", "snap_obstacles"} <= keys
    assert toolkit.study.BUILTIN_OVERLAYS
    undocumented = keys - set(RUN_JSON_KEYS) - set(IN_MEMORY_DETAILS)
    assert not undocumented, f"details not in run.json nor declared in memory only: {sorted(undocumented)}"
    assert set(_FROM_DETAILS) <= set(RUN_JSON_KEYS) and not set(IN_MEMORY_DETAILS) & set(RUN_JSON_KEYS)


def _grid_study(tmp_path: Path) -> tk.Study:
    w = OsmWriter()
    n, step = 6, 150.0
    ids = [[w.node(i * step, j * step) for j in range(n)] for i in range(n)]
    for i in range(n):
        w.way([ids[i][j] for j in range(n)], highway="residential")
        w.way([ids[j][i] for j in range(n)], highway="residential")
    w.write_xml(tmp_path / "grid.osm")
    x0, y0 = TO_WGS.transform(X0 - 100, Y0 - 100)  # larger than the streets: the area is clipped to them
    x1, y1 = TO_WGS.transform(X0 + 850, Y0 + 850)
    (tmp_path / "s.toml").write_text(f"""
[study]
name = "grid"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
[network]
source = {{ path = "grid.osm" }}
""", encoding="utf-8")
    return tk.load_study(tmp_path / "s.toml")


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tk.StudyResult:
    return tk.run_study(_grid_study(tmp_path_factory.mktemp("grid")))


def test_run_json_holds_every_detail_under_its_documented_keys(grid, tmp_path, monkeypatch):
    monkeypatch.setenv(webassets.ENV_VAR, str(tmp_path / "no_assets_here"))
    notes, details = list(grid.notes), copy.copy(grid.details)
    deep = json.dumps(_clean({k: v for k, v in grid.details.items() if k not in IN_MEMORY_DETAILS}),
                      default=_json_default, sort_keys=True)
    with pytest.warns(UserWarning, match="CDN"):
        folder = write_outputs(grid, tmp_path / "out")
    rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert list(rec) == list(RUN_JSON_KEYS)
    assert grid.details["area_km2_before_clip"] > grid.details["area_km2"]
    for k, v in grid.details.items():
        if k not in IN_MEMORY_DETAILS:
            assert rec[k] == json.loads(json.dumps(_clean(v), default=_json_default)), k
    assert rec["land_km2"] is None and rec["removed_km2"] is None  # no water in this study
    assert rec["heritage"] == {"status": "absent", "reason": "no [heritage] section in the study"}
    # the writer's own note is in run.json and the report, not in the result
    cdn = [n for n in rec["notes"] if "CDN" in n]
    assert len(cdn) == 1 and rec["notes"] == [*notes, *cdn]
    assert "CDN" in (folder / "report.html").read_text(encoding="utf-8")
    # the result is only read
    assert grid.notes == notes and grid.details.keys() == details.keys()
    assert all(grid.details[k] is details[k] for k in details)
    assert json.dumps(_clean({k: v for k, v in grid.details.items() if k not in IN_MEMORY_DETAILS}),
                      default=_json_default, sort_keys=True) == deep
    # so a second save writes the same record, not one more note
    with pytest.warns(UserWarning, match="CDN"):
        again = json.loads((write_outputs(grid, tmp_path / "out") / "run.json").read_text(encoding="utf-8"))
    assert again["notes"] == rec["notes"]


def test_old_import_paths_still_work():
    import toolkit.config
    import toolkit.heritage
    import toolkit.osm_network
    import toolkit.outputs.writers
    import toolkit.record
    import toolkit.result
    import toolkit.sources
    import toolkit.study
    import toolkit.waterfront
    from toolkit import compounds, outfolder, overlay_config, walk_rules

    assert toolkit.config.Source is toolkit.sources.Source
    assert toolkit.config.iter_sources is toolkit.sources.iter_sources
    assert toolkit.config.check_folder_name is outfolder.check_folder_name
    assert toolkit.config.FOLDER_NAME_RULE == outfolder.FOLDER_NAME_RULE
    assert toolkit.study.StudyResult is toolkit.result.StudyResult is tk.StudyResult
    assert toolkit.outputs.writers.run_record is toolkit.record.run_record is toolkit.result.run_record
    assert toolkit.heritage.HeritageConfig is overlay_config.HeritageConfig
    assert toolkit.waterfront.WaterfrontConfig is overlay_config.WaterfrontConfig
    assert toolkit.waterfront.RiverSource is overlay_config.RiverSource
    assert compounds.CompoundsConfig is overlay_config.CompoundsConfig
    assert toolkit.osm_network.WalkRules is walk_rules.WalkRules
    assert toolkit.osm_network.walk_reason is walk_rules.walk_reason
