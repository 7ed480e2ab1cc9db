"""The study schema (toolkit/study_schema.py): every section checked at load, the same checks in Python.

Typos in a study TOML are refused before anything is read, naming the key and the closest valid one; a
``Study`` built or changed in Python gets the same ``InputError``; the declarations agree with the code
that reads each section (the dataclasses and data files), and ``docs/config.md`` is generated from them.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

import toolkit as tk
import toolkit.study as study_module
from toolkit.cli import main
from toolkit.config import (
    STUDY_KEYS,
    AreaConfig,
    FacilitySource,
    Source,
    Study,
    study_from_dict,
    study_to_raw,
    validate_study,
)
from toolkit.errors import InputError
from toolkit.study_schema import ROOT, SECTIONS, SOURCE, UNSET, Section, check_study_dict, closest, config_markdown

ROOT_DIR = Path(__file__).resolve().parents[1]
XUHUI = ROOT_DIR / "data" / "studies" / "xuhui.toml"


def _xuhui() -> dict:
    with open(XUHUI, "rb") as f:
        return tomllib.load(f)


def _minimal(**sections) -> dict:
    raw = {"study": {"name": "s"}, "area": {"bbox": [121.43, 31.19, 121.45, 31.21]},
           "network": {"source": {"dataset": "xuhui_roads"}}}
    raw.update(sections)
    return raw


def _section(path: str) -> Section:
    """A declared section by its TOML name, nested ones included."""
    found: dict[str, Section] = {}

    def visit(s: Section) -> None:
        found.setdefault(s.name, s)
        for k in s.keys:
            for kind in (k.kind, getattr(k.kind, "value", None), getattr(k.kind, "item", None)):
                sub = getattr(kind, "section", None)
                if sub is not None:
                    visit(sub)

    for s in SECTIONS:
        visit(s)
    return found[path]


# --------------------------------------------------------------- the CLI: exit 2 at once, nothing written
def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


XUHUI_TEXT = XUHUI.read_text(encoding="utf-8")
CLI_TYPOS = {
    # name: (the edited study, the key named, the suggestion)
    "network": (_edit(XUHUI_TEXT, "facility_max_snap_m = 250 ", "facility_max_snap = 250 "),
                "[network.facility_max_snap]", "did you mean `facility_max_snap_m`?"),
    "output": (_edit(XUHUI_TEXT, 'lang = "en"\nmap = true', 'lang = "en"\nmap = true\nformts = ["csv"]'),
               "[output.formts]", "did you mean `formats`?"),
    "facilities": (_edit(XUHUI_TEXT, 'kind = "osm"\ncategories = ["transit"]', 'kind = "osm"\ncategorys = ["transit"]'),
                   "[facilities[0].categorys]", "`categories`"),
    "selection": (_edit(XUHUI_TEXT, "k = 5\n", "kk = 5\n"), "[selection.kk]", "did you mean `k`?"),
    "sites": (_edit(XUHUI_TEXT, "candidates = [{", "candidate = [{"), "[sites.candidate]",
              "did you mean `candidates`?"),
    "underserved": (_edit(XUHUI_TEXT, "min_missing = 2", "min_mising = 2"), "[underserved.min_mising]",
                    "did you mean `min_missing`?"),
    "not a number": (_edit(XUHUI_TEXT, "facility_max_snap_m = 250 ", 'facility_max_snap_m = "abc" '),
                     "[network.facility_max_snap_m]", "e.g. facility_max_snap_m = 250"),
}


@pytest.mark.parametrize("case", list(CLI_TYPOS))
def test_cli_typo_exits_2_at_once_naming_key_and_suggestion(case, tmp_path, capsys):
    text, key, hint = CLI_TYPOS[case]
    study = tmp_path / "typo.toml"
    study.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    t = time.perf_counter()
    assert main(["run", str(study), "--out", str(out)]) == 2
    assert time.perf_counter() - t < 5
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("  fix: "), lines
    assert sum(ln.startswith("error:") for ln in lines) == 1 and "Traceback" not in cap.err
    assert str(study) in lines[0] and key in lines[0]
    assert hint in lines[1]
    assert not out.exists() or not any(out.iterdir())


def test_cli_typo_exits_2_within_5_s_in_a_fresh_process(tmp_path):
    study = tmp_path / "typo.toml"
    study.write_text(CLI_TYPOS["selection"][0], encoding="utf-8")
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "toolkit.cli", "run", str(study), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - t
    assert p.returncode == 2 and "did you mean `k`?" in p.stderr and "Traceback" not in p.stderr
    assert took < 5, took
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------- every section refuses an unknown key
def _put(raw: dict, path: str, key: str) -> dict:
    """``raw`` with ``key = 1`` added in the table at ``path`` (``facilities[0]``, ``sites.weights``...)."""
    raw = copy.deepcopy(raw)
    node = raw
    for part in path.split("."):
        name, _, idx = part.partition("[")
        node = node.setdefault(name, {})
        if idx:
            node = node[int(idx.rstrip("]"))]
    node[key] = 1
    return raw


UNKNOWN_KEYS = [
    # (table, typo, suggestion)
    ("study", "titel", "title"),
    ("area", "clip_to_dat", "clip_to_data"),
    ("network", "facility_max_snap", "facility_max_snap_m"),
    ("network.source", "pth", "path"),
    ("blocks", "min_area", "min_area_m2"),
    ("population.from_compounds", "persons_per_m", "persons_per_m2"),
    ("compounds", "floor_area", "floor_area_field"),
    ("standards", "profil", "profile"),
    ("standards.overrides", "walker", "walkers"),
    ("standards.categories.transit", "max_distanse_m", "max_distance_m"),
    ("standards.overrides.walkers.adult", "speed_m_per_sec", "speed_m_per_s"),
    ("standards.overrides.waterfront", "max_distance", "max_distance_m"),
    ("facilities[0]", "categorys", "categories"),
    ("facilities[0].source", "lonn", "lon"),
    ("output", "formts", "formats"),
    ("walkability", "radius", "radius_m"),
    ("walkability.weights", "hostile_shar", "hostile_share"),
    ("heritage", "buffer", "buffer_m"),
    ("waterfront", "dedup", "dedup_m"),
    ("waterfront.rivers[0]", "widht_m", "width_m"),
    ("underserved", "min_mising", "min_missing"),
    ("zones", "grid", "grid_m"),
    ("sites", "wieghts", "weights"),
    ("sites.weights", "newly_serve", "newly_served"),
    ("sites.heritage_fit", "bufer", "buffer"),
    ("sites.candidates[0]", "feild", "field"),
    ("selection", "time_limit", "time_limit_s"),
]


def _full() -> dict:
    raw = _xuhui()
    raw["standards"]["overrides"] = {"walkers": {"adult": {"speed_m_per_s": 1.1}},
                                     "waterfront": {"max_distance_m": 800}}
    raw["standards"]["categories"] = {"transit": {"max_distance_m": 400}}
    raw["waterfront"]["rivers"] = [{"source": {"dataset": "huangpu_centreline"}, "width_m": 400}]
    raw["walkability"]["weights"] = {"hostile_share": 2.0}
    raw["sites"]["weights"] = {"cost": 0.0}
    raw["sites"]["heritage_fit"] = {"core": 0.2}
    return raw


def test_the_full_study_used_below_is_valid():
    st = study_from_dict(_full(), source_file="full.toml")
    assert st.waterfront.rivers[0].width_m == 400


@pytest.mark.parametrize(("table", "typo", "near"), UNKNOWN_KEYS, ids=[f"{t}.{k}" for t, k, _ in UNKNOWN_KEYS])
def test_every_table_refuses_an_unknown_key_with_the_closest_one(table, typo, near):
    with pytest.raises(InputError) as e:
        study_from_dict(_put(_full(), table, typo), source_file="s.toml")
    assert e.value.source == "s.toml" and e.value.field == f"{table}.{typo}"
    assert f"unknown key {typo!r}" in e.value.problem
    assert f"`{near}`" in e.value.fix.split("?")[0], e.value.fix


def test_unknown_section_and_a_key_outside_its_section():
    with pytest.raises(InputError, match=r"unknown section \[netwrk\]") as e:
        study_from_dict(_minimal(netwrk={"buffer_m": 10}))
    assert e.value.field == "netwrk" and "did you mean [network]?" in e.value.fix
    with pytest.raises(InputError, match="unknown section") as e:
        study_from_dict({"facility_max_snap_m": 300, **_minimal()})
    assert "under [network]" in e.value.fix


# --------------------------------------------------------------- types, ranges, choices
BAD_VALUES = [
    # (table, key, value, field named, words of the message)
    ("network", "facility_max_snap_m", "abc", "network.facility_max_snap_m", "must be a positive number"),
    ("network", "facility_max_snap_m", 0, "network.facility_max_snap_m", "must be a positive number"),
    ("network", "buffer_m", -1, "network.buffer_m", "zero or a positive number"),
    ("network", "snap_main_only", "yes", "network.snap_main_only", "true or false"),
    ("network", "no_snap", "tunnel", "network.no_snap", "a list of"),
    ("blocks", "max_snap_m", True, "blocks.max_snap_m", "positive number"),
    ("area", "bbox", [121.45, 31.19, 121.43, 31.21], "area.bbox", "minimum above its maximum"),
    ("area", "bbox", [1, 2, 3], "area.bbox", "four numbers"),
    ("area", "bbox_crs", "EPSG:99999999", "area.bbox_crs", "unknown CRS"),
    ("output", "lang", "fr", "output.lang", "unknown language"),
    ("output", "basemap", "google", "output.basemap", "unknown basemap"),
    ("output", "formats", ["gpkg", "xlsx"], "output.formats[1]", "unknown output format 'xlsx'"),
    ("output", "report", 1, "output.report", "true or false"),
    ("underserved", "elderly_share", 1.5, "underserved.elderly_share", "0 to 1"),
    ("underserved", "min_missing", 0, "underserved.min_missing", ">= 1"),
    ("underserved", "min_missing", 2.5, "underserved.min_missing", "an integer"),
    ("selection", "k", "5", "selection.k", "an integer"),
    ("selection", "budget", -3, "selection.budget", "positive number"),
    ("zones", "grid_m", 0, "zones.grid_m", "positive number"),
    ("walkability", "scoring", "rank", "walkability.scoring", "unknown scoring"),
    ("heritage", "buffer_m", "50 m", "heritage.buffer_m", "zero or a positive number"),
    ("waterfront", "dedup_m", -1, "waterfront.dedup_m", "zero or a positive number"),
    ("waterfront", "sample_m", float("inf"), "waterfront.sample_m", "positive number"),
    ("compounds", "old_before", 1700, "compounds.old_before", "1800 to 2100"),
    ("standards", "profile", "shanghai-main-cty", "standards.profile", "unknown standards profile"),
    ("study", "title", 3, "study.title", "a string"),
    ("study", "crs", "not a crs", "study.crs", "unknown CRS"),
]


@pytest.mark.parametrize(("table", "key", "value", "field", "words"), BAD_VALUES,
                         ids=[f"{t}.{k}={v!r}" for t, k, v, _, _ in BAD_VALUES])
def test_bad_values_are_refused_naming_the_key(table, key, value, field, words):
    raw = _xuhui()
    raw.setdefault(table, {})[key] = value
    with pytest.raises(InputError) as e:
        study_from_dict(raw, source_file="s.toml")
    assert e.value.source == "s.toml" and e.value.field == field, e.value
    assert words in str(e.value)


def test_suggestions_for_values():
    raw = _xuhui()
    raw["facilities"][0]["kind"] = "geofabrk"
    with pytest.raises(InputError, match="unknown facility kind 'geofabrk'") as e:
        study_from_dict(raw)
    assert "did you mean 'geofabrik'?" in e.value.fix
    raw = _xuhui()
    raw["network"]["source"] = {"dataset": "xuhui_road"}
    with pytest.raises(InputError, match="no dataset named 'xuhui_road'") as e:
        study_from_dict(raw)
    assert e.value.field == "network.source.dataset" and "did you mean 'xuhui_roads'?" in e.value.fix
    raw = _xuhui()
    raw["sites"]["candidates"][0]["kind"] = "landuses"
    with pytest.raises(InputError, match="unknown candidate kind") as e:
        study_from_dict(raw)  # was found at the end of the run
    assert e.value.field == "sites.candidates[0].kind"


def test_sources_and_required_keys():
    with pytest.raises(InputError, match="needs 'dataset' or 'path'") as e:
        study_from_dict(_minimal(blocks={"source": {"layer": "parcels"}}))
    assert e.value.field == "blocks.source"
    with pytest.raises(InputError, match="a data source must be a table") as e:
        study_from_dict(_minimal(zones={"source": 3}))
    assert e.value.field == "zones.source"
    with pytest.raises(InputError, match="a facility entry needs a source") as e:
        study_from_dict(_minimal(facilities=[{"kind": "osm"}]))
    assert e.value.field == "facilities[0].source"
    with pytest.raises(InputError, match="a candidate layer needs a source") as e:
        study_from_dict(_minimal(sites={"candidates": [{"kind": "all"}]}))  # was a KeyError
    assert e.value.field == "sites.candidates[0].source"
    with pytest.raises(InputError, match="must be an array of tables"):
        study_from_dict(_minimal(facilities={"source": "x.csv"}))
    with pytest.raises(InputError, match="the study has no name") as e:
        study_from_dict({k: v for k, v in _minimal().items() if k != "study"})
    assert e.value.field == "study.name"


def test_population_layers_are_open_but_their_values_are_sources():
    st = study_from_dict(_minimal(population={"population": {"dataset": "pop_total"},
                                              "households": {"path": "hh.gpkg", "field": "n"}}))
    assert set(st.population) == {"population", "households"}
    with pytest.raises(InputError) as e:
        study_from_dict(_minimal(population={"from_compound": {"persons_per_m2": 0.027}}))
    assert e.value.field == "population.from_compound.persons_per_m2"
    assert "did you mean `from_compounds`?" in e.value.fix


def test_waterfront_dedup_m_is_accepted():
    raw = _xuhui()
    raw["waterfront"]["dedup_m"] = 40
    assert study_from_dict(raw).waterfront.dedup_m == 40.0
    assert study_from_dict(_xuhui()).waterfront.dedup_m == 25.0


def test_values_the_old_checks_let_through_now_fail_at_load():
    # silently ignored before: these changed results or failed only at the end of the run
    raw = _xuhui()
    raw["sites"]["heritage_fit"] = {"bufer": 0.5}
    with pytest.raises(InputError, match="unknown key 'bufer'"):
        study_from_dict(raw)
    raw = _xuhui()
    raw["facilities"][0]["result_cap"] = "200"
    with pytest.raises(InputError, match="an integer") as e:
        study_from_dict(raw)  # was a bare ValueError
    assert e.value.field == "facilities[0].result_cap"


def test_closest():
    assert closest("formts", ["lang", "formats", "report"]) == "formats"
    assert closest("xyz", ["lang", "formats"]) is None
    assert closest(3, ["lang"]) is None


# --------------------------------------------------------------- Python-built studies
def _built(**kw) -> Study:
    base = {"name": "s", "area": AreaConfig(bbox=[121.43, 31.19, 121.45, 31.21]),
            "network": Source(dataset="xuhui_roads")}
    return Study(**{**base, **kw})


def test_a_python_study_gets_the_same_error_as_the_toml_key():
    raw = _minimal()
    raw["network"]["facility_max_snap_m"] = "abc"
    with pytest.raises(InputError) as from_toml:
        study_from_dict(raw, source_file="s.toml")
    with pytest.raises(InputError) as from_python:
        _built(facility_max_snap_m="abc").validate()
    a, b = from_toml.value, from_python.value
    assert type(a) is type(b) and a.field == b.field == "network.facility_max_snap_m" and a.fix == b.fix
    assert b.problem == f"{a.problem} (Study.facility_max_snap_m)"
    assert b.source == "Study (built in Python)"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"facility_max_snap_m": -5.0}, "network.facility_max_snap_m", "Study.facility_max_snap_m"),
    ({"lang": "fr"}, "output.lang", "unknown language 'fr' (Study.lang)"),
    ({"formats": ["gpkg", "xls"]}, "output.formats[1]", "Study.formats[1]"),
    ({"network": "roads.osm"}, "network.source", "must be a toolkit.config.Source"),
    ({"blocks": {"path": "parcels.gpkg"}}, "blocks.source", "must be a toolkit.config.Source"),
    ({"selection": {"kk": 3}, "decisions": True}, "selection.kk", "Study.selection['kk']"),
    ({"sites": {"weights": {"cost": -1}}, "decisions": True}, "sites.weights.cost", "Study.sites['weights']"),
    ({"walkability": {"radius": 300}}, "walkability.radius", "unknown key 'radius'"),
    ({"facilities": [FacilitySource(Source(dataset="xuhui_roads"), kind="osm", categories="transit")]},
     "facilities[0].categories", "Study.facilities[0].categories"),
    ({"facilities": [{"source": Source(dataset="xuhui_roads")}]}, "facilities[0]", "must be a FacilitySource"),
    ({"area": AreaConfig()}, "area", "not defined"),
    ({"overrides": {"categories": {"transit": {"max_distanse_m": 400}}}},
     "standards.overrides.categories.transit.max_distanse_m", "unknown key"),
    ({"name": "a/b"}, "study.name", "not a usable name"),
])
def test_python_studies_are_checked_like_files(change, field, words):
    with pytest.raises(InputError) as e:
        validate_study(_built(**change))
    assert e.value.field == field, e.value
    assert words in str(e.value)
    assert "built in Python" in str(e.value)


def test_replace_on_a_loaded_study_names_the_file_and_the_attribute():
    st = tk.load_study("xuhui")
    with pytest.raises(InputError) as e:
        validate_study(dataclasses.replace(st, area=dataclasses.replace(st.area, name_field=3)))
    assert e.value.source == st.source_file and e.value.field == "area.name_field"
    assert "(Study.area.name_field)" in e.value.problem
    # a valid change, and the study as loaded
    assert validate_study(dataclasses.replace(st, facility_max_snap_m=300.0, formats=["gpkg", "csv"])).formats
    assert st.validate() is st


def test_python_values_toml_cannot_hold_are_accepted():
    import pyproj

    st = _built(crs=pyproj.CRS.from_epsg(32651), facilities=[FacilitySource(Source(path=Path("pois.csv")),
                                                                           kind="fixed", category="health")])
    assert validate_study(st) is st


def test_write_outputs_checks_the_study_before_writing(tmp_path):
    from types import SimpleNamespace

    from toolkit.outputs.writers import write_outputs

    study = dataclasses.replace(tk.load_study("xuhui"), formats=["gpkg", "xlsx"])
    with pytest.raises(InputError, match="unknown output format 'xlsx'") as e:
        write_outputs(SimpleNamespace(study=study), tmp_path / "out")  # the study is checked before the result
    assert e.value.field == "output.formats[1]"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif("validate_study" not in Path(study_module.__file__).read_text(encoding="utf-8"),
                    reason="run_study does not call validate_study yet")
def test_run_study_checks_the_study_before_any_work():
    t = time.perf_counter()
    with pytest.raises(InputError, match=r"Study\.search_limit_m"):
        tk.run_study(_built(search_limit_m="far"))
    assert time.perf_counter() - t < 2


@pytest.mark.parametrize("name", ["xuhui", "center"])
def test_bundled_studies_round_trip_through_their_toml_form(name):
    st = tk.load_study(name)
    again = study_from_dict(study_to_raw(st), source_file=st.source_file)
    assert again.to_dict() == st.to_dict()
    assert validate_study(st) is st


def test_batches_still_load():
    from toolkit.batch import load_batch

    for b in sorted((ROOT_DIR / "data" / "batches").glob("*.toml")):
        assert load_batch(b).runs


# --------------------------------------------------------------- the declarations agree with the code
def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_declared_keys_are_the_keys_the_code_reads():
    from toolkit.completeness import DECLARED
    from toolkit.compounds import YEAR_RANGE, CompoundsConfig
    from toolkit.datasets import data_toml
    from toolkit.decisions import SelectionSettings
    from toolkit.facilities import classifier_kinds
    from toolkit.heritage import HeritageConfig
    from toolkit.sites import SiteSettings
    from toolkit.standards import CATEGORY_KEYS
    from toolkit.underserved import UnderservedRule
    from toolkit.waterfront import RiverSource, WaterfrontConfig

    names = {s: set(_section(s).names()) for s in ("area", "facilities", "heritage", "waterfront",
                                                   "waterfront.rivers", "compounds", "underserved", "sites",
                                                   "selection", "walkability", "walkability.weights",
                                                   "sites.weights", "sites.heritage_fit",
                                                   "standards.categories.<id>")}
    assert names["area"] == _fields(AreaConfig)
    assert names["facilities"] == _fields(FacilitySource)
    assert set(SOURCE.names()) == _fields(Source) - {"base_dir"}
    assert names["heritage"] == _fields(HeritageConfig)
    assert names["waterfront"] == _fields(WaterfrontConfig)  # dedup_m was missing from config.py's list
    assert names["waterfront.rivers"] == _fields(RiverSource)
    assert names["compounds"] == _fields(CompoundsConfig) - {"persons_per_m2"}
    decisions = data_toml("decisions.toml")
    assert names["underserved"] == _fields(UnderservedRule) == set(decisions["underserved"]) - {"source"}
    assert names["sites"] == _fields(SiteSettings) | {"candidates", "exclude"}
    assert names["sites.weights"] == set(decisions["sites"]["weights"])
    assert names["sites.heritage_fit"] == set(decisions["sites"]["heritage_fit"])
    assert names["selection"] == _fields(SelectionSettings)
    from toolkit.priority import PrioritySettings
    from toolkit.voice import VoiceLayer

    assert set(_section("priority").names()) == _fields(PrioritySettings)
    assert set(_section("voice").names()) == _fields(VoiceLayer)
    walk = data_toml("walkability.toml")
    assert names["walkability"] == set(walk["settings"]) - {"source"} | {"weights", "landuse", "landuse_field"}
    assert names["walkability.weights"] == set(walk["components"])
    assert names["standards.categories.<id>"] == set(CATEGORY_KEYS)
    assert tuple(_section("facilities").get("status").kind.kinds[0].options) == DECLARED
    old = _section("compounds").get("old_before").kind
    assert (old.lo, old.hi) == YEAR_RANGE
    assert _section("facilities").get("kind").kind.names() == ["osm", "field", "fixed", *classifier_kinds()]


def test_declared_defaults_are_the_defaults_the_code_uses():
    from toolkit.heritage import HeritageConfig
    from toolkit.sites import SiteSettings
    from toolkit.underserved import UnderservedRule
    from toolkit.walkability import WalkabilitySettings
    from toolkit.waterfront import WaterfrontConfig

    def same(section: str, obj) -> None:
        for key in _section(section).keys:
            got = getattr(obj, key.name, None)
            if got is not None and key.default is not UNSET:  # None: the code's "not given"
                assert key.default_value() == got, (section, key.name)

    same("area", AreaConfig())
    same("heritage", HeritageConfig())
    same("waterfront", WaterfrontConfig())
    same("facilities", FacilitySource(Source(dataset="xuhui_roads")))
    same("underserved", UnderservedRule.from_config({}))
    site = SiteSettings.from_config({})
    same("sites", site)
    same("sites.weights", type("W", (), site.weights)())
    same("sites.heritage_fit", type("H", (), site.heritage_fit)())
    walk = WalkabilitySettings.from_config({})
    same("walkability", walk)
    same("walkability.weights", type("W", (), walk.weights)())
    study = _built()
    for attr, (section, key) in STUDY_KEYS.items():
        k = _section(section).get(key)
        assert k is not None, (attr, section, key)
        if k.default is not UNSET:
            assert k.default_value() == getattr(study, attr), attr


def test_every_study_attribute_has_its_place_in_the_toml():
    placed = set(STUDY_KEYS) | {"area", "heritage", "waterfront", "compounds", "facilities", "population",
                                "walkability", "underserved", "sites", "selection", "decisions", "source_file",
                                "overlays",  # overlays: the sections of registered overlays (toolkit.overlays)
                                "scenarios",  # scenarios: the [[scenario]] tables (toolkit.scenario)
                                "priority", "voice"}  # [priority] (toolkit.priority), [voice] (toolkit.voice)
    assert placed == _fields(Study)
    assert set(ROOT.names()) == {s.name for s in SECTIONS}


# --------------------------------------------------------------- the reference and the README
def test_config_reference_is_generated_from_the_declarations():
    doc = ROOT_DIR / "docs" / "config.md"
    assert doc.read_text(encoding="utf-8") == config_markdown(), (
        "docs/config.md is out of date: run .venv/bin/python -m toolkit.study_schema docs/config.md")
    for s in [*SECTIONS, SOURCE]:
        for k in s.keys:
            assert f"| `{k.name}` |" in doc.read_text(encoding="utf-8"), (s.name, k.name)


def _readme_toml_blocks() -> list[str]:
    text = (ROOT_DIR / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_readme_toml_examples_load():
    blocks = _readme_toml_blocks()
    assert blocks
    for block in blocks:
        raw = tomllib.loads(block)
        if "study" not in raw:  # a fragment, e.g. [standards.categories.<id>]: in a minimal study
            raw = {**_minimal(), **raw}
        check_study_dict(raw, "README.md")
        study_from_dict(raw, source_file="README.md")
