"""One glossary and one symbology (#11.3): data/labels.toml names each thing once, and every output uses it.

The web map, the QGIS styles, the static maps, report.html and schema.md all print names from
toolkit.labels; here the glossary itself is checked (complete, no two keys with one text, columns named
by the data dictionary, categories left to data/categories.toml) and then the outputs of the default
study in Chinese: each concept under the glossary's name, and none of the names it replaced.
"""

from __future__ import annotations

import dataclasses
import doctest
import re
import tomllib
from collections import defaultdict

import pytest

import toolkit.labels
import toolkit.palette
from toolkit.datasets import data_dir
from toolkit.labels import ALIASES, LABELS, column, label
from toolkit.outputs import styles
from toolkit.outputs import webmap as maps
from toolkit.outputs.report import html_report
from toolkit.outputs.schema import schema_markdown
from toolkit.outputs.static import _layers, _map_specs
from toolkit.standards import categories
from toolkit.underserved import UnderservedRule, underserved_blocks, underserved_summary


# ------------------------------------------------------------------ the glossary
def test_every_key_has_english_and_chinese():
    assert len(LABELS) > 100
    for key, texts in LABELS.items():
        assert set(texts) == {"en", "zh"}, key
        for lang, text in texts.items():
            assert isinstance(text, str) and text.strip(), (key, lang)
            assert "${" not in text, (key, lang, text)  # every reference filled in


def test_no_two_keys_share_a_text_unless_aliases():
    for lang in ("en", "zh"):
        by_text = defaultdict(list)
        for key, texts in LABELS.items():
            if key not in ALIASES:
                by_text[texts[lang].casefold()].append(key)
        shared = {text: keys for text, keys in by_text.items() if len(keys) > 1}
        assert not shared, f"{lang}: one text, several keys (declare an alias or say them apart): {shared}"
    for key, target in ALIASES.items():
        assert LABELS[key] == LABELS[target] and target not in ALIASES, key


def test_placeholders_agree_between_languages():
    fields = re.compile(r"\{(\w+)[^}]*\}|<(\w+)>")
    for key, texts in LABELS.items():
        en, zh = ({m.group(1) or m.group(2) for m in fields.finditer(texts[lang])} for lang in ("en", "zh"))
        assert en == zh, (key, en, zh)


def test_categories_and_columns_are_referred_to_not_copied():
    # facility categories keep their names in data/categories.toml: the glossary holds none of them
    names = {c.label_en.casefold() for c in categories().values()} | {c.label_zh for c in categories().values()}
    assert not [k for k, t in LABELS.items() if t["en"].casefold() in names or t["zh"] in names]
    # a column's Chinese name is the data dictionary's: [col] entries say where, never a zh of their own
    with open(data_dir() / "labels.toml", "rb") as f:
        raw = tomllib.load(f)
    with open(data_dir() / "schema.toml", "rb") as f:
        schema = tomllib.load(f)["layers"]
    assert raw["col"]
    for name, entry in raw["col"].items():
        assert "zh" not in entry and entry["schema"] in schema, name
        zh = {c.get("name") or c.get("pattern"): c["zh"] for c in schema[entry["schema"]]["columns"]}[name]
        assert label(f"col.{name}", "zh") == zh
    # layer titles are the glossary's: schema.toml no longer has its own
    for layer, spec in schema.items():
        assert "title" not in spec and "zh" not in spec and f"layer.{layer}" in LABELS, layer


def test_label_api():
    assert label("layer.underserved", "zh") == "服务不足街坊" and label("layer.underserved") == "Underserved blocks"
    assert label("term.aged_65", "en", cap=True) == "Aged 65+" and label("term.aged_65", "zh", cap=True) == "65岁及以上"
    assert label("legend.n_of", "zh", i=1, n=5) == "1/5 类可达"
    assert label("heritage.none", "zh") == label("word.none", "zh") == "无"  # an alias
    assert column("walk_transit_m", "zh") == "至公交站步行距离" and column("walk_transit_m") == "walk_transit_m"
    with pytest.raises(KeyError, match=r"did you mean layer\.underserved"):
        label("layer.underservd")
    for module in (toolkit.labels, toolkit.palette):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_one_palette_and_ramp():
    # the web map and the QGIS styles draw with the same colours and the same ramp()
    for name in ("ramp", "RAMP_COVERAGE", "RAMP_WALK", "RAMP_REDS", "HERITAGE_COLOURS", "ZONE_COLOURS", "NO_DATA",
                 "category_colour"):
        mine = getattr(toolkit.palette, name)
        for module in (maps, styles):
            assert getattr(module, name, mine) is mine, (module.__name__, name)
    for module in (maps, styles):
        src = open(module.__file__, encoding="utf-8").read()
        assert "def ramp(" not in src and "PALETTE = [" not in src, module.__name__
    assert toolkit.palette.ramp(["#000000", "#ffffff"], 3) == ["#000000", "#808080", "#ffffff"]


# ---------------------------------------------------------------- the outputs
#: concept: (glossary key, outputs that name it, names it replaced that no output may print)
CONCEPTS = {
    "underserved blocks": ("layer.underserved", {"map", "styles", "report", "schema", "static"},
                           ("服务短板",)),
    "aged 65+": ("term.aged_65", {"map", "report", "schema"}, ("65岁以上", "老年人口")),
    "candidate sites": ("layer.candidate_sites", {"map", "styles", "report", "schema", "static"},
                        ("候选微更新点位", "候选更新地块", "候选地块")),
    "heritage protection zones": ("layer.heritage", {"map", "styles", "schema", "static"}, ()),
    "heritage class": ("col.heritage_class", {"map", "styles", "report", "schema", "static"},
                       ("历史风貌保护等级",)),
    "protected compounds": ("heritage.compound", {"map", "styles", "report"}, ("保护院落", "保护街坊/里弄")),
    "historic style areas": ("heritage.style_area", {"map", "styles", "report"}, ()),
    "protected roads": ("term.protected_road", {"map", "styles", "report"}, ()),
    "pedestrian-hostile roads": ("layer.hostile", {"map", "styles", "report", "static"}, ()),
    "severity": ("col.severity", {"map", "schema"}, ("严重度",)),
    "threshold": ("term.threshold", {"map", "report"}, ("标准距离",)),
    "residents within reach": ("term.share_within", {"map", "report"}, ("覆盖人口比例",)),
    "data status": ("term.data_status", {"map", "report"}, ()),
    "walkability index, elderly": ("col.walk_index_elderly", {"map", "schema"}, ("老年人步行友好指数",)),
    "bank with public access": ("legend.bank_access", {"map", "styles", "report"}, ("有道路通达的岸线",)),
    "missing, incomplete data": ("col.missing_incomplete", {"map", "schema"}, ("缺失(数据不完整)",)),
    "selected hubs": ("term.selected", {"styles", "report", "static"}, ()),
    "residents in underserved blocks": ("col.underserved_pop", {"styles", "report", "schema"}, ("服务不足人口",)),
    "facility category": ("col.category", {"map", "report", "schema"}, ()),
    "listed buildings": ("layer.heritage_buildings", {"map", "styles", "report", "schema", "static"}, ()),
}


@pytest.fixture(scope="module")
def vouched(xuhui):
    """The default study as if every measured category had complete data, so that blocks are flagged.

    The default study flags none, and the map draws the underserved layer (its legend, its popups) only
    where there is something to show (as in tests/test_maps.py).
    """
    status = dict.fromkeys(xuhui.categories, "complete")
    rule = UnderservedRule(**xuhui.details["decisions"]["underserved"]["rule"])
    cols = underserved_blocks(xuhui.blocks, xuhui.categories, xuhui.profile.rules(), rule, status)
    blocks = xuhui.blocks.drop(columns=cols.columns).join(cols)
    ds = {c: {**v, "status": status.get(c, v["status"])} for c, v in xuhui.details["data_status"].items()}
    dec = {**xuhui.details["decisions"], "underserved": underserved_summary(blocks, xuhui.categories, rule, status)}
    return dataclasses.replace(xuhui, blocks=blocks, details={**xuhui.details, "data_status": ds, "decisions": dec})


@pytest.fixture(scope="module")
def outputs(xuhui, vouched):
    """What each output prints in Chinese, as text."""
    zh = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, lang="zh"))
    html = ""
    for result in (xuhui, vouched):
        m = maps.coverage_map(result, lang="zh", basemap="none")
        # the page, and the layer switcher's names (folium writes those \u-escaped)
        html += m.get_root().render() + "\n".join(maps.layer_names(m))
    st = styles.default_styles(_layers(xuhui), lang="zh", catalogue=xuhui.profile.catalogue)
    qgis = "\n".join([s.title for s in st] + [s.qml() + s.sld() for s in st])  # titles: the static maps' legends
    static = "\n".join([s["title"] for s in _map_specs(zh, st, "zh")] + [label("layer.zones", "zh")])
    return {"map": html, "styles": qgis, "static": static, "report": html_report(zh, lang="zh"),
            "schema": schema_markdown(_layers(xuhui), study="xuhui")}


@pytest.mark.parametrize("concept", list(CONCEPTS))
def test_outputs_use_the_glossary_term(outputs, concept):
    key, where, replaced = CONCEPTS[concept]
    term = label(key, "zh")
    for name in where:
        assert term in outputs[name], f"{concept}: {name} does not say {term}"
    for name, text in outputs.items():
        for old in replaced:
            assert old not in text, f"{concept}: {name} still says {old} (the glossary says {term})"


def test_layer_names_are_the_glossary_names(xuhui, vouched):
    names = set(maps.layer_names(maps.coverage_map(vouched, lang="zh", basemap="none")))
    for key in ("layer.underserved", "layer.heritage", "layer.heritage_buildings", "layer.study_area",
                "layer.waterfront_access"):
        assert label(key, "zh") in names, key
    assert label("map.ranked", "zh", name=label("layer.candidate_sites", "zh")) in names
    st = styles.default_styles(_layers(xuhui), lang="zh", catalogue=xuhui.profile.catalogue)
    titles = {s.layer: s.title for s in st if s.default}
    for layer in ("heritage", "heritage_buildings", "study_area", "streets", "candidate_sites"):
        if layer in titles:
            assert titles[layer] == label(f"layer.{layer}", "zh"), layer
