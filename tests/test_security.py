"""Issue #14: text from the data never runs in a page, and a study's name never leaves ``--out``.

1. Names in the maps (study and scenario titles, heritage zones, OSM streets, facilities, candidate
   sites, ...) come from files anyone can edit. Each is given a script payload here, the map is opened
   in headless Chromium (as in test_browser.py), every tooltip and popup is opened through Leaflet, and
   no script may run while every payload is shown as text.
2. A study name is one plain folder name: anything else is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import test_browser as tb

from toolkit.batch import BatchReport, index_html, load_batch
from toolkit.cli import main
from toolkit.config import check_folder_name, load_study
from toolkit.errors import InputError
from toolkit.outputs.report import html_report
from toolkit.outputs.webmap import coverage_map
from toolkit.outputs.writers import write_outputs

PAYLOADS = ["<script>window.__pwned=1</script>",
            '"><img src=x onerror="window.__pwned=1">',
            "javascript:window.__pwned=1"]
TITLE = "Title " + " ".join(PAYLOADS)

browser = tb.browser  # the same headless Chromium fixture (skipped, or failed in CI, without it)


def _cycle(n: int, prefix: str) -> list[str]:
    return [f"{prefix} {i} {PAYLOADS[i % len(PAYLOADS)]}" for i in range(n)]


@pytest.fixture(scope="module")
def poisoned(xuhui):
    """The default study's result with a payload in every name and label the map can show."""
    layers = dict(xuhui.layers)
    for key, prefix in (("heritage", "zone"), ("heritage_buildings", "building"), ("candidate_sites", "site")):
        layers[key] = layers[key].copy()
        layers[key]["name"] = _cycle(len(layers[key]), prefix)
    sites = layers["candidate_sites"]
    sites["site_type"] = _cycle(len(sites), "type")
    sites["nearest_street"] = _cycle(len(sites), "near")
    streets = xuhui.streets.copy()
    streets["name"] = _cycle(len(streets), "street")
    fac = xuhui.facilities.copy()
    fac["name"] = _cycle(len(fac), "facility")
    fac["source"] = _cycle(len(fac), "source")
    blocks = xuhui.blocks.copy()
    blocks["heritage_style_area"] = _cycle(len(blocks), "area")
    blocks["underserved_reason"] = _cycle(len(blocks), "reason")
    # the default study flags no block (its data are mostly incomplete): flag every other one here, so
    # the underserved layer and its reason are drawn and hovered like the rest
    flagged = np.arange(len(blocks)) % 2 == 0
    blocks["underserved"] = flagged
    if "severity" in blocks:
        blocks["severity"] = np.where(flagged, np.arange(len(blocks), dtype=float), 0.0)
    assert streets["walk_hostile"].any() and streets["protected_road"].any()  # both street layers are drawn
    return dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, title=TITLE), streets=streets,
                               layers=layers, facilities=fac, blocks=blocks)


# Hover and click every layer Leaflet has, as its own handlers see them (a tooltip or popup bound to a
# GeoJSON group opens for the feature the event came from), and keep what each one showed.
_OPEN_ALL = """
() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  map._fadeAnimated = false;  // closed tooltips and popups leave the page at once, not 200 ms later
  // The ~1000 blocks are drawn on one canvas, restyled per block indicator, all by the same tk.table: under
  // each indicator every 7th block is enough (the payloads cycle by 3); every other layer feature by feature.
  const d = tk.state.data;
  const leaves = [];
  map.eachLayer(l => { if (!(l instanceof L.LayerGroup) && !(l instanceof L.Renderer)) leaves.push(l); });
  // no panning between thousands of popups: each pan redraws every block
  leaves.forEach(l => { if (l.getPopup && l.getPopup()) l.getPopup().options.autoPan = false; });
  const shown = {tooltips: [], popups: [], markup: 0, opened: 0};
  const keep = (sel, into) => document.querySelectorAll(sel).forEach(el => {
    if (el.textContent.includes("pwned")) into.push(el.textContent);
    shown.markup += el.querySelectorAll("script, img, iframe, [onerror], a[href^='javascript:' i]").length;
  });
  for (const ind of tk.indicators) {
    ind.options.autoPan = false;
    map.addLayer(ind);
    const f = ind.options.filter ? d.g.cols[ind.options.filter] : null;
    for (let i = 0; i < d.g.n; i += 7) {
      if (f && !f[i]) continue;
      if (d.hover(i)) keep(".leaflet-tooltip", shown.tooltips);
      if (d.open(i)) keep(".leaflet-popup-content", shown.popups);
      map.closePopup();
      shown.opened++;
    }
  }
  for (const l of leaves) {
    const ll = l.getLatLng ? l.getLatLng() : (l.getBounds && l.getBounds().isValid() ? l.getBounds().getCenter()
                                                                                       : null);
    if (!ll) continue;
    l.fire("mouseover", {latlng: ll}, true);
    keep(".leaflet-tooltip", shown.tooltips);
    l.fire("click", {latlng: ll}, true);
    keep(".leaflet-popup-content", shown.popups);
    l.fire("mouseout", {latlng: ll}, true);  // after the click, which opens the tooltip too
    map.closePopup();
    shown.opened++;
  }
  return shown;
}
"""


def _open(ctx, path: Path):
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page


def _assert_not_pwned(page) -> None:
    page.wait_for_timeout(300)  # an <img onerror> fires once its load has failed
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("a[href^='javascript:' i]").count() == 0


def _assert_all_shown(texts: list[str], prefix: str) -> None:
    """Every payload appears, as the very characters of the data, in what was shown for ``prefix``."""
    for p in PAYLOADS:
        shown = re.compile(re.escape(prefix) + r" \d+ " + re.escape(p))
        assert any(shown.search(t) for t in texts), (prefix, p, texts[:3])


def test_payloads_in_names_never_run_in_the_map(browser, poisoned, tmp_path):
    path = tmp_path / "map.html"
    coverage_map(poisoned).save(str(path))
    v = tb.open_map(browser, path)
    page = v.page
    assert page.title() == TITLE
    page.locator(".tk-group[data-group=summary] > summary").click()  # the summary is the control's first group
    assert TITLE in page.locator("#tk-summary").inner_text()
    # every overlay on, so every layer's tooltips and popups can open
    page.evaluate("document.querySelectorAll('.tk-layers details').forEach(d => { d.open = true; })")
    for box in page.locator(".tk-layers input[type=checkbox]").all():
        box.check()
    shown = page.evaluate(_OPEN_ALL)
    _assert_not_pwned(page)
    assert shown["markup"] == 0
    assert shown["opened"] > len(poisoned.facilities) + len(poisoned.layers["heritage_buildings"])
    for prefix in ("street", "zone", "building"):
        _assert_all_shown(shown["tooltips"], prefix)
    for prefix in ("facility", "source", "site", "type", "near", "area", "reason"):
        _assert_all_shown(shown["popups"], prefix)
    assert v.errors == [], v.errors[:5]


def test_scenario_title_and_batch_index_never_run(browser, poisoned, tmp_path):
    bf = tmp_path / "b.toml"
    bf.write_text(f'[batch]\nname = "b"\ntitle = {json.dumps(TITLE)}\nstudies = ["xuhui"]\n'
                  f'[[scenarios]]\nname = "s"\ntitle = {json.dumps(PAYLOADS[0])}\n', encoding="utf-8")
    batch = load_batch(bf)
    run = batch.runs[0]
    assert PAYLOADS[0] in run.study.title
    # the run's map gets the run's title (study title [scenario title]) as its page title
    result = dataclasses.replace(poisoned, study=dataclasses.replace(poisoned.study, title=run.study.title))
    path = tmp_path / "run_map.html"
    coverage_map(result).save(str(path))
    page = tb.open_map(browser, path).page
    assert page.title() == run.study.title
    _assert_not_pwned(page)
    out = tmp_path / "out"
    out.mkdir()
    report = BatchReport(batch=batch, out=out, seconds=1.0, executor="test", runs=[
        {"run": run.run_id, "study": PAYLOADS[1], "scenario": PAYLOADS[0], "profile": PAYLOADS[2],
         "status": "failed", "error": TITLE, "map": PAYLOADS[2]},
        {"run": run.run_id, "study": "xuhui", "scenario": "s", "status": "ok", "seconds": 2.0,
         "map": PAYLOADS[2], "coverage": {"park": 0.5}, "thresholds_m": {"park": PAYLOADS[1]}}])
    (out / "index.html").write_text(index_html(report), encoding="utf-8")
    page = _open(browser, out / "index.html")
    assert page.title() == TITLE
    body = page.locator("body").inner_text()
    assert all(p in body for p in PAYLOADS)
    _assert_not_pwned(page)


def test_payloads_never_run_in_the_report(browser, poisoned, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(html_report(poisoned, coverage_map_png=None), encoding="utf-8")
    page = _open(browser, path)
    assert page.title() == TITLE
    assert TITLE in page.locator("h1").inner_text()
    _assert_not_pwned(page)


def test_json_in_the_page_cannot_close_its_script(poisoned):
    html = coverage_map(poisoned).get_root().render()
    for p in PAYLOADS[:2]:
        assert p not in html
    # the names are in the page only in escaped forms: JSON "\u003c" in scripts, "&lt;" in HTML
    assert "\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e" in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert html.count("</script>") == html.count("<script")


# ------------------------------------------------------------- (2) study names
BAD_NAMES = ["./../x", "../x", "..", ".", "a/b", "a\\b", "/abs", ".hidden", "", "-rf", "x.", "x\n", "a b",
             "con", "NUL.txt", "com1", "x" * 101, 5]
GOOD_NAMES = ["xuhui", "徐汇区_2024", "a.b-c", "x__y", "console", "x" * 100]


def _study_toml(path: Path, name) -> Path:
    # JSON strings are TOML basic strings: "\n" and "\\" arrive in the name as written
    path.write_text(f"[study]\nname = {json.dumps(name)}\n[area]\nbbox = [121.43, 31.19, 121.45, 31.21]\n"
                    '[network]\nsource = { dataset = "xuhui_roads" }\n', encoding="utf-8")
    return path


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_plain_folder_names_are_kept(name):
    assert check_folder_name(name, source="s.toml", field="study.name", fix="rename") == name


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_cli_run_refuses_a_name_that_is_not_a_plain_folder(name, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    study = _study_toml(work / "study.toml", name)
    before = _tree(tmp_path)
    assert main(["run", str(study), "--out", str(work / "out")]) == 2
    captured = capsys.readouterr()
    assert _tree(tmp_path) == before  # nothing inside --out, nothing beside or above it
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].strip().startswith("fix: "), lines
    assert str(study) in lines[0] and "[study.name]" in lines[0] and "not a usable name" in lines[0]
    assert "rename the study" in lines[1]
    assert captured.out == ""


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_load_study_refuses_the_name_with_file_field_and_fix(name, tmp_path):
    study = _study_toml(tmp_path / "study.toml", name)
    with pytest.raises(InputError) as exc:
        load_study(study)
    assert exc.value.source == str(study) and exc.value.field == "study.name"
    assert "letters, digits" in exc.value.fix


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_batch_refuses_the_same_names(name, tmp_path):
    bf = tmp_path / "b.toml"
    bf.write_text(f'[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = {json.dumps(name)}\n', encoding="utf-8")
    with pytest.raises(InputError, match="not a usable name") as exc:
        load_batch(bf)
    assert exc.value.field == "scenarios[0].name"


def test_batch_still_refuses_double_underscores(tmp_path):
    bf = tmp_path / "b.toml"
    bf.write_text('[batch]\nstudies = ["xuhui"]\n[[scenarios]]\nname = "a__b"\n', encoding="utf-8")
    with pytest.raises(InputError, match="not a usable name") as exc:
        load_batch(bf)
    assert "'__'" in exc.value.fix


@pytest.mark.parametrize("name", ["./../x", "../x", "a/b", ".hidden", "", "con", "/abs"], ids=repr)
def test_python_api_refuses_the_name_before_writing(name, xuhui, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    bad = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, name=name))
    for write in (lambda: bad.save(work / "out"), lambda: write_outputs(bad, work / "out", write_map=False)):
        with pytest.raises(InputError) as exc:
            write()
        assert exc.value.field == "study.name" and exc.value.source == xuhui.study.source_file
        assert _tree(tmp_path) == {"work"}
    built = dataclasses.replace(xuhui.study, name=name, source_file=None)  # built in Python, not from a file
    with pytest.raises(InputError, match="built in Python"):
        write_outputs(dataclasses.replace(xuhui, study=built), work / "out")
    assert _tree(tmp_path) == {"work"}
