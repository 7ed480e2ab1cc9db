"""Static maps in Chinese (issue #13 item 5): CJK text drawn as characters, or a clear note when it cannot be.

The maps are drawn for a small synthetic study (``_grid_study``: a 6 x 6 street grid, no facilities), which
stands for any study: what is checked is the text of the figures, not the analysis. The references are
independent of the toolkit's drawing code: the font files' own character maps (fontTools), the PDF's
embedded font names and ToUnicode maps (read from the bytes here), matplotlib's own "missing glyph" warning
and a plain matplotlib render with a font without Chinese glyphs.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import warnings
import zlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.figure import Figure
from test_run_json import _grid_study

import toolkit as tk
from toolkit.labels import label
from toolkit.outputs import static
from toolkit.outputs.writers import write_outputs

#: the shared machine's fonts-wqy-zenhei / fonts-noto-cjk; in CI (.ci/run installs one) a missing font fails
FONT = static.cjk_font()
needs_font = pytest.mark.skipif(FONT is None and not os.environ.get("CI"),
                                reason="no CJK font installed (apt-get install fonts-wqy-zenhei)")


@pytest.fixture(scope="module")
def grid_zh(tmp_path_factory) -> tk.StudyResult:
    result = tk.run_study(_grid_study(tmp_path_factory.mktemp("grid_zh")))
    return dataclasses.replace(result, study=dataclasses.replace(result.study, lang="zh"))


def _cjk_texts(fig: Figure) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if static._has_cjk(t.get_text())]


def _font_file(fig_text) -> str:
    """The file matplotlib draws a text with, resolved now (outside any rc_context), as savefig resolves it."""
    return font_manager.findfont(fig_text.get_fontproperties(), fallback_to_default=True)


def _cmap_chars(path: str) -> set[int]:
    font = TTFont(path, fontNumber=0, lazy=True)
    return set(font.getBestCmap() or {})


def _to_unicode(pdf: bytes) -> set[str]:
    """Every character a PDF's ToUnicode maps give back (what a text extractor reads), from the raw bytes."""
    chars: set[str] = set()
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S):
        try:
            data = zlib.decompress(raw)
        except zlib.error:
            data = raw
        if b"begincmap" not in data:
            continue
        text = data.decode("latin-1")
        for block in re.findall(r"beginbfrange(.*?)endbfrange", text, flags=re.S):
            for a, b, dst in re.findall(r"<(\w+)>\s*<(\w+)>\s*(\[[^\]]*\]|<\w+>)", block):
                if dst.startswith("["):
                    chars |= {chr(int(u, 16)) for u in re.findall(r"<(\w+)>", dst)}
                else:
                    base = int(dst[1:-1], 16)
                    chars |= {chr(base + i) for i in range(int(b, 16) - int(a, 16) + 1)}
        for block in re.findall(r"beginbfchar(.*?)endbfchar", text, flags=re.S):
            chars |= {chr(int(u, 16)) for _, u in re.findall(r"<(\w+)>\s*<(\w+)>", block)}
    return chars


@needs_font
def test_chinese_map_texts_keep_the_cjk_font_after_the_figure_is_built(grid_zh):
    """Every Chinese text of a static map resolves, at savefig time, to a font file that holds its glyphs.

    The bug: the figure was built inside the CJK rc settings and saved after them, so the generic
    'sans-serif' family resolved to DejaVu Sans (no CJK glyphs) and every character drew as a box.
    """
    styles = static.default_styles(static._layers(grid_zh), lang="zh", catalogue=grid_zh.profile.catalogue)
    specs = static._map_specs(grid_zh, styles, "zh")
    assert specs
    fig = static.map_figure(grid_zh, specs[0], lang="zh")
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if static._has_cjk(t.get_text())]
    assert len(texts) >= 3  # the map title, the legend title and the footer at least
    for t in texts:
        have = _cmap_chars(_font_file(t))
        missing = {ch for ch in t.get_text() if static._has_cjk(ch) and ord(ch) not in have}
        assert not missing, (t.get_text(), _font_file(t), missing)


@needs_font
def test_chinese_static_maps_save_glyphs_not_boxes(grid_zh, tmp_path):
    """PNG and PDF of a Chinese study: no glyph missing while saving; the PDF embeds the CJK font and its
    text extracts as the Chinese written (the map's subtitle, taken from the glossary)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = static.static_maps(grid_zh, tmp_path, formats=("png", "pdf"), dpi=60)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    pdfs = [p for p in paths if p.suffix == ".pdf"]
    assert pdfs and all(p.stat().st_size > 0 for p in paths)
    pdf = pdfs[0].read_bytes()
    names = {n.decode() for n in re.findall(rb"/BaseFont\s*/([^\s/>\]\[]+)", pdf)}
    ps_name = TTFont(font_manager.findfont(font_manager.FontProperties(family=FONT)), fontNumber=0,
                     lazy=True)["name"].getDebugName(6)
    assert any(n.split("+")[-1] == ps_name for n in names), (names, ps_name)
    title = label("static.coverage", "zh", n=len(grid_zh.categories)) if pdfs[0].stem == "coverage" else None
    wanted = {ch for ch in (title or "研究") if static._has_cjk(ch)}
    assert wanted <= _to_unicode(pdf), wanted - _to_unicode(pdf)


@needs_font
def test_a_cjk_title_renders_unlike_the_boxes_of_a_font_without_glyphs():
    """The same Chinese title drawn through the toolkit's PNG path and with DejaVu Sans (matplotlib's
    default, no CJK glyphs: it draws .notdef boxes and warns) gives different pixels; the control render
    warns about the missing glyphs, the toolkit's does not."""
    text = "服务不足街坊"

    def render(pinned: bool) -> tuple[np.ndarray, list[str]]:
        fig = Figure(figsize=(3, 0.6))
        fig.text(0.05, 0.3, text, fontsize=18)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if pinned:
                png = static._png_bytes(fig, dpi=60)
            else:
                buf = io.BytesIO()
                with matplotlib.rc_context({"font.sans-serif": ["DejaVu Sans"], "font.family": "sans-serif"}):
                    fig.savefig(buf, format="png", dpi=60)
                png = buf.getvalue()
        from PIL import Image

        img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        return img, [str(w.message) for w in caught if "missing from font" in str(w.message)]

    cjk, warned_cjk = render(pinned=True)
    tofu, warned_tofu = render(pinned=False)
    assert warned_tofu and not warned_cjk
    assert cjk.shape == tofu.shape and (cjk != tofu).mean() > 0.01


def test_without_a_cjk_font_the_figures_say_so(grid_zh, tmp_path, monkeypatch):
    """No CJK font (simulated): the figures are drawn in English, a warning is raised, and run.json's notes
    and the report say "no CJK font found" in the study's language: never silent English."""
    monkeypatch.setattr(static, "cjk_font", lambda: None)
    note = label("static.no_cjk_font", "zh")
    assert static.font_note("zh") == note and static.font_note("en") is None
    assert static._figure_lang("zh") == "en"
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        static.static_maps(grid_zh, tmp_path / "maps", formats=("png",), dpi=40)
    study = dataclasses.replace(grid_zh.study, static_maps=True, report=True, write_map=False)
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        folder = write_outputs(dataclasses.replace(grid_zh, study=study), tmp_path / "out")
    record = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))
    assert note in record["notes"]
    assert note in (Path(folder) / "report.html").read_text(encoding="utf-8")
    # the English study needs no CJK font: no note
    en = dataclasses.replace(grid_zh, study=dataclasses.replace(study, lang="en"))
    record = json.loads((Path(write_outputs(en, tmp_path / "out_en")) / "run.json").read_text(encoding="utf-8"))
    assert not [n for n in record["notes"] if "CJK" in n or "中文字体" in n]
