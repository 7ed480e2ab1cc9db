"""Report sections contributed from outside the report (toolkit.sections): rendered, escaped, in order.

Stands for any analysis module or overlay adding its figures to report.html
without editing the report module. The study is the small synthetic grid of
tests/test_run_json.py (fast lane).
"""

from __future__ import annotations

import pytest
from test_run_json import _grid_study

import toolkit as tk
from toolkit import sections
from toolkit.outputs.report import html_report
from toolkit.sections import Section


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tk.StudyResult:
    return tk.run_study(_grid_study(tmp_path_factory.mktemp("grid")))


def test_a_registered_section_reaches_report_html_escaped_and_in_order(grid):
    def provider(result, lang):
        n = len(result.blocks)
        return [Section("late", "Zeta <b>", rows=((n,),), header=("blocks",), order=200),
                Section("early", "<script>alert(1)</script>", paragraphs=("a & b",), notes=("src",), order=10)]

    sections.register("test", provider)
    try:
        page = html_report(grid)
    finally:
        sections.unregister("test")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b" in page and "Zeta &lt;b&gt;" in page
    assert page.index("id='s-early'") < page.index("id='s-late'")
    assert f"<td class='n'>{len(grid.blocks)}</td>" in page or f"<td class=''>{len(grid.blocks)}</td>" in page
    assert "id='s-early'" not in html_report(grid)  # unregistered: gone
