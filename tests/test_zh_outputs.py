"""Fully Chinese and fully English outputs outside the web map (issue #13 item 5).

The default study's report.html, QGIS styles (the QML class labels and layer titles), schema.md and static
maps are built in each language while every glossary look-up is recorded (``toolkit.labels`` is wrapped,
not changed). Two independent checks on each output:

* every glossary text it took is in its language (no ``label(key)`` left in English in a Chinese output);
* the text a reader sees holds no glossary text of the keys it used in the other language (the ``en`` texts
  in a Chinese output, the ``zh`` texts in an English one), proper nouns and units excepted (WHITELIST).

What is not glossary text is left out, said here: the study's own title (the user's), the data's own values
and codes in backticks, and the data dictionary's column meanings and layer descriptions
(``data/schema.toml`` writes them in English; the English dictionary names each layer and column in both
languages, which is its content, not its interface).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections import defaultdict

import pytest
from matplotlib.text import Text

import toolkit.labels
from toolkit.outputs import static
from toolkit.outputs.report import html_report
from toolkit.outputs.schema import load_schema, schema_markdown
from toolkit.outputs.styles import default_styles
from toolkit.outputs.writers import output_layers
from toolkit.record import run_record

#: proper nouns, units and codes that stay as they are in a Chinese output
WHITELIST = {"OpenStreetMap", "urban-microrenewal-toolkit", "CRS", "EPSG", "WGS84", "WGS 84", "UTM", "km", "m",
             "ha", "N", "QGIS", "CSV", "NULL", "GeoPackage", "Gini", "Palma", "Leaflet", "run.json", "schema.md",
             "report.html", "map.html", "wkt", "lon", "lat", "x", "y", "true", "false", "z",
             "min"}  # min(walk / threshold, 3): the function in the severity formula
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


class _Recorder(dict):
    """``toolkit.labels._LABELS`` that records which key was read in which language."""

    def __init__(self, texts, calls):
        super().__init__(texts)
        self.calls = calls

    def __getitem__(self, key):
        texts = dict.__getitem__(self, key)
        calls = self.calls

        class _Texts(dict):
            def __getitem__(self, lang):
                calls[lang].add(key)
                return dict.__getitem__(self, lang)

        return _Texts(texts)


def _visible_html(page: str) -> str:
    page = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    page = re.sub(r'(src|href)="[^"]*"', "", page)
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def _qml_text(qml: str) -> str:
    return "\n".join(html.unescape(v) for v in re.findall(r'\blabel="([^"]*)"', qml))


def _schema_text(md: str, lang: str) -> str:
    """schema.md less the dictionary's content: code spans, layer descriptions, column meanings (and, in
    English, the Chinese names the dictionary gives every layer and column)."""
    descriptions = {s.get("description", "") for s in load_schema()["layers"].values()}
    out = []
    for line in md.splitlines():
        if line in descriptions:
            continue
        if line.startswith("| `"):
            cells = line.split(" | ")
            line = " | ".join(cells[1:3] + ([] if lang == "en" else cells[3:4]))  # type, unit (, 中文 name)
        elif line.startswith("## `") and lang == "en":
            line = re.sub(r" \([^()]*[\u4e00-\u9fff][^()]*\)$", "", line)
        out.append(re.sub(r"`[^`]*`", " ", line))
    return "\n".join(out)


def _record_messages(record, result) -> list[str]:
    """The run's own messages the report quotes as run.json writes them (notes, reasons, citations: English,
    a known gap of the analysis modules, not glossary text), longest first."""
    out: list[str] = []

    def walk(obj) -> None:
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str) and len(obj.split()) >= 3 and re.search(r"[A-Za-z]{3}", obj):
            out.append(obj)

    walk(record)
    sites = result.layers.get("candidate_sites")
    if sites is not None and "hub_reason" in sites:
        out += [r for r in sites["hub_reason"].dropna().astype(str) if r]
    return sorted(set(out), key=len, reverse=True)


def _report_text(result, record, lang: str) -> str:
    text = _visible_html(html_report(result, record, lang=lang))
    for message in _record_messages(record, result):
        text = text.replace(message, " ")
    return text


def _qgis_text(layers, result, lang: str) -> str:
    """Layer titles (the static maps' legend titles too), the style descriptions QGIS's style manager shows
    (the GeoPackage's layer_styles) and every class label of the QML styles."""
    st = default_styles(layers, lang=lang, catalogue=result.profile.catalogue, overlays=result.overlays)
    return "\n".join([s.title for s in st] + [s.description for s in st] + [_qml_text(s.qml()) for s in st])


def _static_text(result) -> str:
    lang = static._figure_lang(result.study.lang)
    styles = default_styles(static._layers(result), lang=lang, catalogue=result.profile.catalogue)
    texts = []
    for spec in static._map_specs(result, styles, lang):
        fig = static.map_figure(result, spec, lang=lang, size=(6, 4))
        texts += [t.get_text() for t in fig.findobj(Text)]
    title = result.study.title or result.study.name
    return "\n".join(t for t in texts if t and t != title)


def _makers(res, record, layers, lang: str) -> dict:
    """Each output's visible text, built when called."""
    return {
        "report": lambda: _report_text(res, record, lang),
        "qgis": lambda: _qgis_text(layers, res, lang),
        "schema": lambda: _schema_text(schema_markdown(layers, study="xuhui", crs=res.crs.to_string(),
                                                       overlays=res.overlays, lang=lang), lang),
        "static": lambda: _static_text(res),
    }


@pytest.fixture(scope="module")
def built(xuhui):
    """Per language: the recorded look-ups and the visible text of each output."""
    out = {}
    for lang in ("en", "zh"):
        res = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, lang=lang))
        record = run_record(res)  # built before recording: run.json is not a translated output
        layers = output_layers(res)
        texts, used = {}, {}
        makers = _makers(res, record, layers, lang)
        for name, make in makers.items():
            calls: dict[str, set[str]] = defaultdict(set)
            original = toolkit.labels._LABELS
            toolkit.labels._LABELS = _Recorder(original, calls)
            try:
                texts[name] = make()
            finally:
                toolkit.labels._LABELS = original
            used[name] = calls
        out[lang] = (texts, used)
    return out


def _fragments(text: str, lang: str) -> list[str]:
    """The fixed parts of a glossary text (placeholders cut out) that could be seen on their own."""
    parts = [p.strip(" ,.;:()（）：，。") for p in re.split(r"\{[^}]*\}|<\w+>", text)]
    if lang == "en":
        return [p for p in parts if re.search(r"[A-Za-z]{3,}", p) and p not in WHITELIST]
    return [p for p in parts if CJK.search(p) and len(p) >= 2]


def _seen(fragment: str, text: str, lang: str) -> bool:
    if lang == "en":  # a whole word or phrase, as written
        return re.search(r"(?<![A-Za-z_])" + re.escape(fragment) + r"(?![A-Za-z_])", text) is not None
    return fragment in text


@pytest.mark.parametrize("output", ["report", "qgis", "schema", "static"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_outputs_take_the_glossary_in_their_language(built, lang, output):
    _, used = built[lang]
    if lang == "zh" and output == "static" and static.cjk_font() is None:
        pytest.skip("no CJK font: static maps are drawn in English, with a note (tests/test_static_maps.py)")
    other = "en" if lang == "zh" else "zh"
    wrong = set(used[output].get(other, set()))
    if lang == "en" and output == "schema":
        # the English dictionary names every layer and column in both languages (its content): the layer
        # titles and the Chinese names of the scoring criteria in the column names (contrib_<criterion>)
        wrong = {k for k in wrong if not k.startswith(("layer.", "criterion."))}
    assert used[output].get(lang), f"{output} used no glossary text in {lang}"
    assert not wrong, f"{lang} {output} took these glossary texts in {other}: {sorted(wrong)}"


@pytest.mark.parametrize("output", ["report", "qgis", "schema", "static"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_outputs_show_no_glossary_text_of_the_other_language(built, lang, output):
    texts, used = built[lang]
    if lang == "zh" and output == "static" and static.cjk_font() is None:
        pytest.skip("no CJK font: static maps are drawn in English, with a note (tests/test_static_maps.py)")
    other = "en" if lang == "zh" else "zh"
    seen = {}
    for key in used[output].get(lang, set()):
        own = toolkit.labels.LABELS[key][lang]
        for frag in _fragments(toolkit.labels.LABELS[key][other], other):
            if frag not in own and _seen(frag, texts[output], other):
                seen[key] = frag
    assert not seen, f"{lang} {output} shows {other} glossary text: {seen}"


def test_english_schema_boilerplate_and_chinese_schema_headings(built):
    """The parts of schema.md around the dictionary's content: Chinese in zh, no CJK in en."""
    en, zh = built["en"][0]["schema"], built["zh"][0]["schema"]
    assert not CJK.search(en), CJK.findall(en)[:10]
    assert toolkit.labels.label("schema.title", "zh") in zh and "Data dictionary" not in zh
    assert toolkit.labels.label("schema.h_unit", "zh") in zh and "| column |" not in zh


def test_chinese_column_names_use_the_category_name_not_its_key():
    """至commercial步行距离 was the Chinese name of dist_commercial_m: the category's own Chinese name now."""
    from toolkit.outputs.schema import describe_column
    from toolkit.standards import categories

    for c, cat in categories().items():
        zh = describe_column("blocks", f"dist_{c}_m")["zh"]
        assert zh == f"至{cat.label_zh}步行距离" and c not in zh, (c, zh)
        assert toolkit.labels.column(f"dist_{c}_m", "zh") == zh
    assert toolkit.labels.column("dist_commercial_m", "en") == "dist_commercial_m"  # English: the column name


def test_chinese_style_descriptions_are_chinese(xuhui):
    """Every QGIS style of the Chinese study says what it is in Chinese (the layer_styles description)."""
    layers = output_layers(xuhui)
    described = [st for st in default_styles(layers, lang="zh", catalogue=xuhui.profile.catalogue,
                                             overlays=xuhui.overlays) if st.description]
    assert len(described) >= 10  # blocks (4), streets, facilities, heritage, zones, sites, ... (single symbols: none)
    for st in described:
        assert CJK.search(st.description), (st.layer, st.name, st.description)
    for st in default_styles(layers, lang="en", catalogue=xuhui.profile.catalogue, overlays=xuhui.overlays):
        assert not CJK.search(st.description or ""), (st.layer, st.name, st.description)
