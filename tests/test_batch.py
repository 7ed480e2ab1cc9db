"""Batch runs: validation of batch files, runs on a Dask scheduler, caching, and per-run failures.

The runs use a small study (a ~2 x 2.5 km cut of the Xuhui OSM extract around Xujiahui, written to a temporary
folder) against a local Dask cluster that the tests start themselves and reach through ``--scheduler``.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from toolkit.batch import _Hasher, cache_key, load_batch, run_batch
from toolkit.cli import main
from toolkit.datasets import fetch
from toolkit.errors import InputError

BBOX = (121.425, 31.182, 121.452, 31.205)  # the streets kept around the mini study area

MINI_STUDY = """
[study]
name = "mini"
title = "Xujiahui, 1 km2"

[area]
bbox = [121.432, 31.188, 121.444, 31.198]

[network]
source = { path = "mini.osm" }
buffer_m = 300

[population]
population = { dataset = "pop_total" }
pop_65plus = { dataset = "pop_65plus" }

[standards]
profile = "shanghai-main-city"

[[facilities]]
source = { path = "mini.osm" }
kind = "osm"
categories = ["transit"]

[[facilities]]
source = { dataset = "landuse_points" }
kind = "field"
field = "landuse_type"

[underserved]
min_missing = 2

[output]
map = true
report = false
"""

TWO_PROFILES = """
[batch]
name = "mini"
title = "mini batch"
studies = ["mini.toml"]

[[scenarios]]
name = "main-city"
profile = "shanghai-main-city"

[[scenarios]]
name = "new-town"
profile = "shanghai-new-town"
"""


def _mini_osm(dst: Path) -> None:
    """The highways of the Xuhui extract with a node in BBOX (whole ways), and the transit stops in it."""
    root = ET.parse(fetch("xuhui_roads")).getroot()
    x0, y0, x1, y1 = BBOX
    nodes = {n.get("id"): n for n in root.iter("node")}
    inside = {i for i, n in nodes.items() if x0 <= float(n.get("lon")) <= x1 and y0 <= float(n.get("lat")) <= y1}
    ways = [w for w in root.iter("way") if any(nd.get("ref") in inside for nd in w.iter("nd"))]
    keep = {i for i in inside if len(nodes[i])}  # tagged nodes: stops
    for w in ways:
        keep |= {nd.get("ref") for nd in w.iter("nd")}
    out = ET.Element("osm", version="0.6", generator="toolkit tests")
    out.extend(n for i, n in nodes.items() if i in keep)
    out.extend(ways)
    ET.ElementTree(out).write(dst, encoding="utf-8", xml_declaration=True)


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    """A folder with the mini study, a study whose OSM file is broken and one whose OSM file is missing."""
    d = tmp_path_factory.mktemp("batch_inputs")
    _mini_osm(d / "mini.osm")
    (d / "mini.toml").write_text(MINI_STUDY, encoding="utf-8")
    (d / "broken.osm").write_text("<osm><way id='1'>this is not OSM XML", encoding="utf-8")
    (d / "broken.toml").write_text(MINI_STUDY.replace('name = "mini"', 'name = "broken"')
                                   .replace('path = "mini.osm" }\nbuffer_m', 'path = "broken.osm" }\nbuffer_m'),
                                   encoding="utf-8")
    (d / "missing.toml").write_text(MINI_STUDY.replace('name = "mini"', 'name = "missing"')
                                    .replace('path = "mini.osm" }\nbuffer_m', 'path = "gone.osm" }\nbuffer_m'),
                                    encoding="utf-8")
    (d / "two.toml").write_text(TWO_PROFILES, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def scheduler():
    """A local Dask scheduler with two worker processes, started (and stopped) by the tests."""
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------- (a) validation
BAD = {
    "unknown study": ('[batch]\nstudies = ["xuhui", "nowhere"]\n', "batch.studies[1]", "unknown study"),
    "unknown profile": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\nprofile = "shanghai-old-town"\n',
                        "scenarios[0] (a).profile", "unknown standards profile"),
    "unknown section": ('[batch]\nstudies = ["xuhui"]\n[batches]\nx = 1\n', "batches", "unknown key"),
    "unknown batch key": ('[batch]\nstudies = ["xuhui"]\nworkers = 3\n', "batch.workers", "unknown key"),
    "unknown scenario key": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\nprofil = "gb50180"\n',
                             "scenarios[0].profil", "unknown key"),
    "no studies": ('[batch]\ntitle = "empty"\n', "batch.studies", "no studies"),
    "duplicate scenario": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\n[[scenarios]]\nname = "a"\n',
                           "scenarios[1].name", "two scenarios"),
    "bad scenario name": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a/b"\n', "scenarios[0].name",
                          "usable name"),
    "bad minutes": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\nminutes = -5\n',
                    "scenarios[0] (a).minutes", "positive number"),
    "unknown walker": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\nwalking_speed = { child = 1.0 }\n',
                       "scenarios[0] (a).walking_speed", "unknown walker"),
    "unknown category": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\n'
                         'overrides = { categories = { spaceport = { minutes = 5 } } }\n',
                         "scenarios[0] (a)", "unknown category"),
    "bad set section": ('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a"\nset = { nonsense = { x = 1 } }\n',
                        "scenarios[0] (a)", "unknown section"),
    "same study twice": ('[batch]\nstudies = ["xuhui", "xuhui"]\n', "batch.studies[1].name", "two studies"),
    "bad study set": ('[batch]\nstudies = [{ study = "xuhui", set = { output = { lang = "fr" } } }]\n',
                      "batch.studies[0].set -> output.lang", "unknown language"),
    "not toml": ('[batch\nstudies = ["xuhui"]\n', "batch", "not valid TOML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_batch_file_names_file_field_and_fix(case, tmp_path, capsys):
    text, field, problem = BAD[case]
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(InputError) as exc:
        load_batch(path)
    assert exc.value.source == str(path)
    assert field in (exc.value.field or ""), exc.value
    assert problem in exc.value.problem
    assert exc.value.fix
    out = tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out)]) == 2  # before any run: nothing is written
    assert not out.exists()
    assert str(path) in capsys.readouterr().err


def test_missing_batch_file(tmp_path):
    with pytest.raises(InputError, match="batch file not found"):
        load_batch(tmp_path / "nope.toml")


def test_scenarios_apply_to_every_study():
    b = load_batch("shanghai")  # the bundled batch, by name
    assert [r.run_id for r in b.runs] == [f"{s}__{c}" for s in ("xuhui", "center")
                                          for c in ("main-city", "new-town", "market-town")]
    assert {r.study.profile for r in b.runs} == {"shanghai-main-city", "shanghai-new-town", "shanghai-market-town"}
    assert all(r.study.network.dataset == ("xuhui_roads" if r.study_name == "xuhui" else "center_roads")
               for r in b.runs)


def test_minutes_speed_overrides_and_set(tmp_path):
    from toolkit.standards import load_profile

    _write(tmp_path, "s.toml", MINI_STUDY.replace(
        '[standards]\nprofile = "shanghai-main-city"',
        '[standards]\nprofile = "shanghai-main-city"\n[standards.overrides.categories.transit]\nmax_distance_m = 500'))
    path = _write(tmp_path, "b.toml", """
[batch]
studies = [{ study = "s.toml", name = "west", set = { area = { bbox = [121.43, 31.19, 121.44, 31.195] } } }]
[[scenarios]]
name = "m15"
minutes = 15
walking_speed = { elderly = 0.6 }
[[scenarios]]
name = "t400"
overrides = { categories = { transit = { minutes = 5 } } }
set = { network = { facility_max_snap_m = 100 } }
""")
    m15, t400 = load_batch(path).runs
    p = load_profile(m15.study.profile, m15.study.overrides)
    assert m15.run_id == "west__m15" and m15.study.area.bbox == [121.43, 31.19, 121.44, 31.195]
    assert all(r.minutes == 15 for r in p.rules().values())
    assert p.rule("transit").max_distance_m == pytest.approx(15 * 60 * 1.2)  # the study's 500 m replaced
    assert p.rule("health").max_distance_m == pytest.approx(15 * 60 * 0.6)  # elderly walker, scenario speed
    q = load_profile(t400.study.profile, t400.study.overrides)
    assert q.rule("transit").max_distance_m == pytest.approx(5 * 60 * 1.2)
    assert q.rule("park").max_distance_m == pytest.approx(360)
    assert t400.study.facility_max_snap_m == 100 and m15.study.facility_max_snap_m == 250


def test_cache_key_follows_config_and_inputs(mini, tmp_path):
    import shutil

    for f in ("mini.osm", "mini.toml"):
        shutil.copy(mini / f, tmp_path / f)
    path = _write(tmp_path, "b.toml", TWO_PROFILES)
    a, b = load_batch(path).runs
    ka, kb = cache_key(a.study), cache_key(b.study)
    assert ka != kb and ka == cache_key(load_batch(path).runs[0].study, _Hasher())
    with open(tmp_path / "mini.osm", "a", encoding="utf-8") as f:
        f.write("\n")
    assert cache_key(a.study) != ka


# ------------------------------------------------------------- (b) a run on Dask
@pytest.fixture(scope="module")
def first(mini, scheduler, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch_out")
    t = time.perf_counter()
    rc = main(["batch", str(mini / "two.toml"), "--out", str(out), "--scheduler", scheduler])
    return out, rc, time.perf_counter() - t


@pytest.mark.slow
def test_batch_on_a_scheduler_writes_every_run(first):
    out, rc, _ = first
    assert rc == 0
    for run in ("mini__main-city", "mini__new-town"):
        folder = out / run
        assert {f"{run}.gpkg", "map.html", "run.json", "batch_run.json", ".cache_key"} <= {p.name for p in
                                                                                          folder.iterdir()}
        rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert rec["config"]["profile"] == "shanghai-" + run.split("__")[1]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_index_links_every_map_and_summarises(first):
    out, _, _ = first
    html = (out / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]+/map\.html)"', html))
    assert links == {"mini__main-city/map.html", "mini__new-town/map.html"}
    assert all((out / link).is_file() for link in links)
    for col in ("residents", "underserved blocks", "transit", "status", "time"):
        assert f"<th>{col}</th>" in html


def test_batch_json(first):
    out, _, _ = first
    rec = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    runs = {r["run"]: r for r in rec["runs"]}
    assert set(runs) == {"mini__main-city", "mini__new-town"}
    assert rec["executor"].startswith("scheduler tcp://")
    for r in runs.values():
        assert r["status"] == "ok" and r["error"] is None and r["seconds"] > 0
        assert r["population"] > 0 and r["blocks"] > 0 and r["underserved_blocks"] is not None
        assert 0 <= r["coverage"]["transit"] <= 1
        assert r["map"] == f"{r['run']}/map.html"
    # the profiles differ: transit 300 m in the main city, 500 m in new towns
    assert runs["mini__main-city"]["thresholds_m"]["transit"] == 300
    assert runs["mini__new-town"]["thresholds_m"]["transit"] == 500
    assert runs["mini__new-town"]["coverage"]["transit"] >= runs["mini__main-city"]["coverage"]["transit"]


# ------------------------------------------------------------------ (c) caching
@pytest.mark.slow
def test_second_invocation_does_no_work_then_reruns_only_the_changed_run(first, mini, scheduler):
    out, _, _ = first
    stamp = {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")}
    t = time.perf_counter()
    # a scheduler nobody listens on: an all-cached batch never connects
    rc = main(["batch", str(mini / "two.toml"), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    elapsed = time.perf_counter() - t
    assert rc == 0
    assert elapsed < 10, elapsed
    rec = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in rec["runs"]] == ["cached", "cached"]
    assert rec["runs"][0]["coverage"]  # the summary comes back from the run folder
    assert stamp == {p: p.stat().st_mtime_ns for p in out.glob("*/run.json")}

    changed = _write(mini, "two_changed.toml", TWO_PROFILES.replace('profile = "shanghai-new-town"',
                                                                    'profile = "shanghai-new-town"\nminutes = 15'))
    report = run_batch(changed, out, scheduler=scheduler, progress=False)
    status = {r["run"]: r["status"] for r in report.runs}
    assert status == {"mini__main-city": "cached", "mini__new-town": "ok"}
    new = {r["run"]: r for r in report.runs}["mini__new-town"]
    assert new["thresholds_m"]["transit"] == 15 * 60 * 1.2
    assert stamp[out / "mini__main-city" / "run.json"] == (out / "mini__main-city" / "run.json").stat().st_mtime_ns


# ------------------------------------------------------------------- (d) failure
@pytest.mark.slow
def test_a_failing_run_is_reported_and_the_others_complete(mini, scheduler, tmp_path, capsys):
    path = _write(mini, "mixed.toml", '[batch]\nstudies = ["broken.toml", "mini.toml", "missing.toml"]\n'
                  '[[scenarios]]\nname = "main-city"\n')
    out = tmp_path / "out"
    rc = main(["batch", str(path), "--out", str(out), "--scheduler", scheduler])
    assert rc == 1
    runs = {r["run"]: r for r in json.loads((out / "batch.json").read_text(encoding="utf-8"))["runs"]}
    assert runs["mini__main-city"]["status"] == "ok"
    assert (out / "mini__main-city" / "map.html").is_file()
    broken = runs["broken__main-city"]  # fails inside the worker, while reading the network
    assert broken["status"] == "failed" and re.search(r"cannot (read|parse) the OSM file", broken["error"])
    missing = runs["missing__main-city"]  # fails before it is sent: its input cannot be hashed
    assert missing["status"] == "failed" and "gone.osm" in missing["error"]
    assert not (out / "broken__main-city").exists() and not (out / "missing__main-city").exists()
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="mini__main-city/map.html"' in html and "broken__main-city/map.html" not in html
    assert html.count('class="failed"') == 2
    assert "failed broken__main-city" in capsys.readouterr().out.replace("\n", " ")
    # a failed run leaves no cache key: the next invocation tries it again, the good run stays cached
    report = run_batch(path, out, scheduler=scheduler, progress=False)
    assert [r["status"] for r in report.runs] == ["failed", "cached", "failed"]


# ------------------------------------------------------------- (e) one network build per study
@pytest.mark.slow
def test_the_scenarios_of_a_study_share_one_network_build(mini, scheduler, tmp_path):
    """Both scenarios run in one worker process (of the two) and only the first builds the network."""
    import shutil

    from toolkit.batch import share_groups

    for f in ("mini.osm", "mini.toml", "two.toml"):  # a file no worker has read yet: nothing is cached
        shutil.copy(mini / f, tmp_path / f)
    batch = load_batch(tmp_path / "two.toml")
    assert [[r.run_id for r in g] for g in share_groups(batch.runs)] == [["mini__main-city", "mini__new-town"]]
    report = run_batch(batch, tmp_path / "out", scheduler=scheduler, progress=False)
    runs = {r["run"]: r for r in report.runs}
    assert [r["status"] for r in runs.values()] == ["ok", "ok"]
    assert len({r["host"] for r in runs.values()}) == 1  # one worker process: hostname:pid
    assert runs["mini__main-city"]["network_cache"] == "miss"  # built once...
    assert runs["mini__new-town"]["network_cache"] == "hit"  # ...and reused by the second scenario
    rec = json.loads((tmp_path / "out" / "mini__new-town" / "batch_run.json").read_text(encoding="utf-8"))
    assert rec["network_cache"] == "hit"
    # the profiles still apply per scenario on the shared network
    assert runs["mini__main-city"]["thresholds_m"]["transit"] == 300
    assert runs["mini__new-town"]["thresholds_m"]["transit"] == 500


@pytest.mark.slow
def test_runs_on_different_networks_are_separate_tasks(mini, tmp_path):
    from toolkit.batch import share_groups

    path = _write(mini, "two_areas.toml", '[batch]\nstudies = ["mini.toml", { study = "mini.toml", name = "west", '
                  'set = { area = { bbox = [121.432, 31.188, 121.438, 31.198] } } }]\n'
                  '[[scenarios]]\nname = "a"\n[[scenarios]]\nname = "b"\nminutes = 10\n'
                  '[[scenarios]]\nname = "c"\nset = { network = { buffer_m = 200 } }\n')
    groups = [[r.run_id for r in g] for g in share_groups(load_batch(path).runs)]
    # a scenario that changes the network (its buffer) gets a build of its own; an area change too
    assert groups == [["mini__a", "mini__b"], ["mini__c"], ["west__a", "west__b"], ["west__c"]]
