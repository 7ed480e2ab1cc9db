"""report.html from its Jinja2 templates (toolkit/outputs/templates): every section renders, text stays text.

The study is the small synthetic grid of tests/test_run_json.py (fast lane). Its run record is filled in
by hand with a figure for every section the report has (heritage, walkability, waterfront, underserved
blocks, equity, the selection and its before/after, notes, files), standing for a district where every
overlay and decision ran; the expected texts are computed here by hand from those figures. The page is
read back with the standard library's html.parser, independently of the templates.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_run_json import _grid_study

import toolkit as tk
from toolkit import sections
from toolkit.labels import label
from toolkit.outputs.report import TEMPLATES, html_report, section_html
from toolkit.record import run_record
from toolkit.sections import Section

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<script>window.__pwned=1</script>\"'><img src=x onerror=alert(1)>&amp;"


class Page(HTMLParser):
    """The page as tags (with attributes), the headings (with their id) and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self._h2: list[str] | None = None
        self._h2_id: str | None = None
        self._in: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "h2":
            self._h2, self._h2_id = [], dict(attrs).get("id")
        if tag not in ("img", "meta"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if tag == "h2" and self._h2 is not None:
            self.headings.append(("".join(self._h2), self._h2_id))
            self._h2 = None
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if self._h2 is not None:
            self._h2.append(data)
        if "style" not in self._in:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tk.StudyResult:
    return tk.run_study(_grid_study(tmp_path_factory.mktemp("grid")))


def _full(grid: tk.StudyResult, name: str = "Site A") -> tuple[tk.StudyResult, dict]:
    """The grid study with a hand-made figure for every report section, and two candidate sites (one chosen)."""
    rec = run_record(grid)
    cat = next(iter(grid.profile.categories))
    rec["area_km2"] = 12.345
    rec["heritage"] = {"blocks": {"core": 3, "buffer": 4, "none": 5}, "area_ha": {"core": 1.25},
                       "population": {"population": {"core": 1234.0}}, "buildings": {"kept_near_area": 17},
                       "protected_roads": {"names": ["岳阳路"], "length_m": 959.0},
                       "zones": {"style_area": {"count": 2}, "compound": {"count": 6}}}
    rec["walkability"] = {"median": {"walk_index": 0.125}, "settings": {"face_guideline_m": 200},
                          "blocks_face_over_guideline_share": 0.67, "street_length_hostile_m": 2500.0,
                          "intersections_3way_in_area": 1039}
    rec["waterfront"] = {"status": "measured", "bank_length_m": 13390.0, "share_with_access": 0.48,
                         "longest_gap_m": 2640.0, "n_access_points": 11, "threshold_m": 500, "blocks_within": 42,
                         "population_within_share": 0.2}
    rec["equity"] = [{"category": cat, "group": "total", "share_within": 0.5, "gini": 0.3333, "palma": 1.5,
                      "median_m": 432.0, "data_status": "complete"}]
    rec["decisions"] = {
        "underserved": {"blocks": 7, "population": 4321.0, "pop_65plus": 876.0,
                        "rule": {"min_missing": 2, "elderly_share": 0.2}, "by_category": {cat: 7},
                        "blocks_missing": {cat: 9}, "by_missing": {"2": 5, "3": 2}},
        "sites": {"hub_infeasible": {"sites": [{"site_id": 2, "site_type": "grass", "heritage_class": "core",
                                                "reason": "heritage core"}]}},
        "selection": {"chosen": "exact", "exact": {"n_sites": 1, "status": "optimal", "covered_share": 0.25},
                      "categories": [cat],
                      "before_after": [{"category": cat, "rate_total_before": 0.1, "rate_total_after": 0.3,
                                        "rate_65plus_before": 0.05, "rate_65plus_after": 0.2,
                                        "newly_covered_total": 1500.0}],
                      "underserved_before_after": {"blocks_before": 7, "blocks_after": 3}},
    }
    rec["notes"] = ["a note"]
    x0, y0, _, _ = grid.blocks.total_bounds
    sites = gpd.GeoDataFrame({"site_id": [1, 2], "site_type": [name, "grass"], "nearest_street": ["Main St", None],
                              "heritage_class": ["none", "core"], "score": [0.75, np.nan], "rank": [1, 2],
                              "selected": [True, False], f"new_{cat}_pop": [1500.0, 0.0]},
                             geometry=[shapely.Point(x0 + 50, y0 + 50), shapely.Point(x0 + 60, y0 + 60)],
                             crs=grid.crs)
    return dataclasses.replace(grid, layers={**grid.layers, "candidate_sites": sites}), rec


def test_every_section_renders_in_order_with_its_figures(grid, monkeypatch):
    """Every built-in section and a contributed one, in the report's order, each with a figure of its own
    (the built-in providers are left out here: their sections render the same way as the demo one)."""
    monkeypatch.setattr(sections, "PROVIDERS", [])
    result, rec = _full(grid)
    cat = next(iter(grid.profile.categories))
    sections.register("demo", lambda r, lang: [Section("demo", "Demo section", paragraphs=("p1",),
                                                       header=("a",), rows=((1,),), notes=("n1",))])
    try:
        page = Page(html_report(result, rec, lang="en", files=["grid.gpkg"], coverage_map_png=b"\x89PNG"))
    finally:
        sections.unregister("demo")
    en = {k: label(k, "en") for k in ("report.key", "report.coverage", "report.heritage", "layer.underserved",
                                      "report.equity", "report.before_after", "report.notes", "report.files")}
    want = [en["report.key"], en["report.coverage"], en["report.heritage"], label("term.walkability", cap=True),
            label("term.waterfront", cap=True), en["layer.underserved"], en["report.equity"],
            label("term.selected", cap=True), en["report.before_after"], "Demo section", en["report.notes"],
            en["report.files"]]
    assert [h for h, _ in page.headings] == want
    assert [i for _, i in page.headings] == [None] * 9 + ["s-demo", None, None]
    text = page.visible
    # the figures, as printed by hand: 12.345 km2 to 2 decimals, shares to one decimal of a percent
    for shown in ("12.35 km²", "1,234", "岳阳路 (959 m)", "67.0%", "2.5 km", "1,039", "13.39 km", "48.0%",
                  "2,640 m", "7 / ", "4,321", "0.33", "1.50", "432", "Site A", "Main St", "0.750",
                  f"+{grid.profile.catalogue[cat].label('en')}", "10.0%", "30.0%", "1,500", "7 → 3",
                  "heritage core", "a note", "grid.gpkg", "p1", "n1"):
        assert shown in text, shown
    # the coverage map, the coverage chart (when a category was measured), the walkability histogram (when
    # the blocks have the index) and the before/after chart
    n_img = 2 + bool(run_record(grid)["coverage"].get("rates")) + ("walk_index" in grid.blocks)
    srcs = [a["src"] for t, a in page.tags if t == "img"]
    assert len(srcs) == n_img and all(s.startswith("data:image/png;base64,") for s in srcs)


def test_absent_sections_say_so_and_optional_ones_are_left_out(grid, monkeypatch):
    """A study with no overlays and no decisions: heritage, walkability, waterfront and the selection say
    they are absent; equity, before/after, notes and files have nothing to show and are not there."""
    rec = run_record(grid)
    rec.update(heritage={"status": "absent", "reason": "no [heritage] section"}, walkability={},
               waterfront={"status": "absent", "reason": "no water"}, equity=[], decisions={}, notes=[])
    monkeypatch.setattr(sections, "PROVIDERS", [])
    page = Page(html_report(grid, rec, lang="en"))
    heads = [h for h, _ in page.headings]
    assert label("report.equity") not in heads and label("report.before_after") not in heads
    assert label("report.notes") not in heads and label("report.files") not in heads
    assert page.visible.count(label("report.absent")) == 5  # heritage, walkability, waterfront, underserved, sites
    assert "no [heritage] section" in page.visible and "no water" in page.visible


def test_a_hostile_name_is_printed_as_text_everywhere(grid):
    """Names anyone can edit (the study title, a site type, a note, a file name, a contributed section)
    hold markup: the page shows the very characters and no element or attribute comes from them."""
    result, rec = _full(grid, name=HOSTILE)
    result = dataclasses.replace(result, study=dataclasses.replace(result.study, title=HOSTILE))
    rec["notes"] = [HOSTILE]
    sections.register("evil", lambda r, lang: [Section("evil<x>", HOSTILE, paragraphs=(HOSTILE,),
                                                       header=(HOSTILE,), rows=((HOSTILE,),), notes=(HOSTILE,))])
    try:
        html = html_report(result, rec, lang="zh", files=[HOSTILE])
    finally:
        sections.unregister("evil")
    page = Page(html)
    assert page.visible.count(HOSTILE) >= 8  # h1, the selected site, the note, the file, the section's five
    assert not any(t == "script" for t, _ in page.tags)
    assert all(a["src"].startswith("data:image/png;base64,") for t, a in page.tags if t == "img")
    assert not any(k.startswith("on") for _, a in page.tags for k in a)
    assert ("h2", {"id": "s-evil<x>"}) in page.tags  # the anchor is the key, escaped into its attribute
    # the title element holds the escaped text too
    title = re.search(r"<title>(.*?)</title>", html, flags=re.S).group(1)
    assert "<" not in title and "&lt;script&gt;" in title


def test_page_is_self_contained(grid):
    """No script, stylesheet link, frame, import or remote reference: the page reads offline as it is."""
    result, rec = _full(grid)
    html = html_report(result, rec, coverage_map_png=b"\x89PNG")
    page = Page(html)
    assert {t for t, _ in page.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "p",
                                         "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "b", "code",
                                         "img"}
    low = html.lower()
    assert "@import" not in low and "url(" not in low and "http://" not in low and "https://" not in low
    assert all(v is None or not v.lower().startswith(("http", "//", "javascript:"))
               for _, a in page.tags for v in a.values())
    assert html.startswith("<!DOCTYPE html>") and low.rstrip().endswith("</html>")


def test_section_html_is_the_templates_section():
    """The public one-section helper renders through the same template: heading anchor, escaped text, table."""
    out = section_html(Section("k", "A & B", paragraphs=("<p>",), header=("h",), rows=((3,),), num_cols=(0,)))
    page = Page(out)
    assert page.headings == [("A & B", "s-k")]
    assert ("td", {"class": "n"}) in page.tags and "&lt;p&gt;" in out


def test_templates_are_package_data_in_the_wheel(tmp_path):
    """The wheel (hatch, as pip builds it) carries the report's templates beside the module."""
    pytest.importorskip("hatchling")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    need = {f"toolkit/outputs/templates/{p.name}" for p in TEMPLATES.iterdir() if p.is_file()}
    assert {"toolkit/outputs/templates/report.html", "toolkit/outputs/templates/blocks.html",
            "toolkit/outputs/templates/report.css"} <= need <= names
