"""Sources a user can read (issue #13 item 8): every threshold cites the published standard, not a file.

A threshold's ``source`` (and ``*_source``) string names the standard it comes from, with its year (GB
50180-2018 with its table or appendix, the Shanghai 2016 guide, the 2024 draft, the heritage regulation, a
paper as author (year)), or says "toolkit default" with the reason; never a file of this repository or of the
project's shared folder (``standards.md``, ``shared/``), which a user of the toolkit never gets. Checked on the
data files (data/profiles, heritage rules, decisions, walkability) and on what the default study writes:
run.json and report.html.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator

import pytest

from toolkit.datasets import data_dir
from toolkit.outputs.report import html_report
from toolkit.record import _json_default, run_record

#: the publications the toolkit's thresholds cite; each pattern includes the year (the standard's number or date)
CITATIONS = {
    "GB 50180-2018": r"GB 50180-2018",
    "Shanghai guide 2016": r"Shanghai 15-minute community life circle planning guide 2016|"
                           r"上海市15分钟社区生活圈规划导则（试行）》?[^;]{0,40}2016|"
                           r"Shanghai 15-minute life circle guide \(2016\)",
    "Shanghai draft 2024": r"Shanghai's 2024 draft standard for 15-minute community life circles",
    "heritage regulation 2002/2019": r"《上海市历史文化风貌区和优秀历史建筑保护条例》\([^)]*2002, revised 2019\)",
    "relics law 2017": r"《中华人民共和国文物保护法》\([^)]*2017 revision\)",
    "Jiading plan 2021-2025": r"Jiading District's neighbourhood-centre plan "
                              r"\(我嘉·邻里中心, 66 centres for 2021-2025\)",
    "paper, author (year)": r"[A-Z][a-z]+(?: et al\.| & [A-Z][a-z]+)? \((?:19|20)\d{2}\)",
}
CITATION = re.compile("|".join(f"(?:{p})" for p in CITATIONS.values()))
#: what a user cannot read: the project's reference notes and its shared folder, the repository's own files
FORBIDDEN = re.compile(r"standards\.md|shared/|\bdata/[\w/-]+\.toml|issue #\d+")

THRESHOLD_FILES = ("profiles/gb50180.toml", "profiles/shanghai-main-city.toml", "profiles/shanghai-new-town.toml",
                   "profiles/shanghai-market-town.toml", "heritage_rules.toml", "decisions.toml", "walkability.toml")


def _source_strings(obj, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``source`` / ``*_source`` string value, with where it is."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            where = f"{path}.{k}" if path else str(k)
            if isinstance(v, str) and (k == "source" or str(k).endswith("_source")):
                yield where, v
            else:
                yield from _source_strings(v, where)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _source_strings(v, f"{path}[{i}]")


#: run.json keys that say where data came from (a layer, a classification table), not a threshold's standard
PROVENANCE = re.compile(r"facilities\.sources\[\d+\]\.classifier\.source|decisions\.zones\.source|"
                        r"decisions\.zone_levels\.\w+\.source|waterfront\.bank_source")


def _is_provenance(text: str, where: str = "") -> bool:
    """A data source (``dataset:<name>``, a file the study read, a provenance key), not a threshold's citation."""
    return (text.startswith("dataset:") or (" " not in text and ("/" in text or "\\" in text))
            or PROVENANCE.fullmatch(where) is not None)


def _problem(text: str) -> str | None:
    if FORBIDDEN.search(text):
        return "names a file the user never gets"
    if "toolkit default" in text or CITATION.search(text):
        return None
    return "cites no published standard with a year and does not say 'toolkit default'"


def test_the_citation_check_itself():
    """The checker on hand-written strings: what passes and what does not."""
    assert _problem("GB 50180-2018 Table 3.0.4: 5-minute life circle, 300 m") is None
    assert _problem("toolkit default: no planning standard gives a walking radius") is None
    assert _problem("intersection density, Frank et al. (2010)") is None
    assert _problem("average adult walking speed 1.2-1.3 m/s (shared/standards.md)") is not None
    assert _problem("2016 guide: a public green space within a 5-minute walk") is not None  # which guide?
    assert _problem("toolkit rule (issue #12 item 4): weights") is not None
    assert _is_provenance("dataset:xuhui_roads") and not _is_provenance("GB 50180-2018 Appendix C")


@pytest.mark.parametrize("name", THRESHOLD_FILES)
def test_every_threshold_in_the_data_cites_its_standard(name):
    with open(data_dir() / name, "rb") as f:
        data = tomllib.load(f)
    found = list(_source_strings(data))
    assert found, name
    bad = {where: (_problem(text), text) for where, text in found if _problem(text)}
    assert not bad, f"{name}: {bad}"


def test_no_data_file_points_users_at_the_project_notes():
    """Not even comments: the 92 places that cited shared/standards.md now cite the standards themselves."""
    hits = [f"{p.relative_to(data_dir())}:{i}" for p in sorted(data_dir().rglob("*.toml"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "standards.md" in line]
    assert not hits, hits


def test_run_json_and_report_of_the_default_study_cite_standards(xuhui):
    """run.json's profile, data status, heritage, decisions and provision sources and the report's text."""
    record = json.loads(json.dumps(run_record(xuhui), default=_json_default, ensure_ascii=False))
    found = [(w, t) for w, t in _source_strings(record) if not _is_provenance(t, w)]
    assert len(found) > 40  # every category's threshold and provision figure, the walkers, the tiers
    assert any(w.startswith("profile.categories.") for w, _ in found)
    bad = {w: (_problem(t), t) for w, t in found if _problem(t)}
    assert not bad, bad
    assert any(w.endswith("life_circle.life_circle.source") for w, _ in found)  # the life-circle population
    text = json.dumps(record, ensure_ascii=False)
    assert "standards.md" not in text and "shared/standards" not in text
    for lang in ("en", "zh"):
        page = html_report(xuhui, record, lang=lang)
        assert "standards.md" not in page and "shared/standards" not in page, lang
    # the profile's own source names the standard in full, with its title
    assert re.search(r"上海市15分钟社区生活圈规划导则", record["profile"]["source"])


def test_profiles_cite_the_national_standard_by_table():
    """Each GB 50180-2018 citation says where in it (a table, or the facility appendix)."""
    for name in THRESHOLD_FILES[:4]:
        with open(data_dir() / name, "rb") as f:
            data = tomllib.load(f)
        for where, text in _source_strings(data):
            for m in re.finditer(r"GB 50180-2018(?!'s)", text):
                after = text[m.end():m.end() + 60]
                before = text[max(0, m.start() - 80):m.start()]
                # "toolkit default: GB 50180-2018 has no ... radius" names the standard to say it is silent
                assert re.search(r"Table \d|Appendix [A-Z]|《城市居住区规划设计标准》", after + before) \
                    or text.startswith("toolkit default"), (name, where, text)
