"""report.html: a one-page, self-contained HTML summary of a study.

Charts are embedded PNGs; no script, no external link, readable offline. The page
is rendered from Jinja2 templates (``toolkit/outputs/templates/``: ``report.html``,
the section pieces in ``blocks.html``, the style sheet ``report.css``) with
autoescape on, so every text from the data is printed as text. The figures come
from a context built section by section (:func:`report_context`), each section by
a step function of its own reading the run record, so report.html and run.json
always agree.

Examples
--------
>>> import toolkit as tk
>>> result = tk.run_study(tk.load_study("xuhui"))  # doctest: +SKIP
>>> page = html_report(result, lang="zh")  # doctest: +SKIP
>>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..completeness import status_label
from ..labels import LABELS, column, label
from ..sections import Section, sections
from .static import _figure, _figure_lang, _png_bytes, _rc, coverage_map_png

if TYPE_CHECKING:
    import jinja2

    from ..result import StudyResult

__all__ = ["SECTION_STEPS", "TEMPLATES", "ReportContext", "html_report", "pct", "report_context", "section_html",
           "write_report"]


# ================================================================ HTML report
# Every name printed is the glossary's (toolkit.labels, data/labels.toml).

TEMPLATES = Path(__file__).with_name("templates")


def pct(x: Any) -> str:
    """A share as the report prints it (``0.3554`` -> ``35.5%``); empty for missing values.

    Examples
    --------
    >>> pct(0.3554), pct(None)
    ('35.5%', '–')
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else f"{v * 100:.1f}%"


def _num(x: Any, digits: int = 0) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else f"{v:,.{digits}f}"


def _bar_chart(labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str,
               colours: Sequence[str] = ("#2b8cbe", "#fdae61", "#1a9641", "#d7191c"), percent: bool = True,
               xlabel: str = "") -> bytes:
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(figsize=(6.4, 0.45 * max(len(labels), 2) + 1.1))
        ax = fig.add_subplot()
        n = len(series)
        h = 0.8 / max(n, 1)
        y = np.arange(len(labels))
        for k, ((name, vals), col) in enumerate(zip(series.items(), colours, strict=False)):
            v = np.array([np.nan if x is None else float(x) for x in vals]) * (100 if percent else 1)
            bars = ax.barh(y - 0.4 + h * (k + 0.5), np.nan_to_num(v), height=h, color=col, label=name)
            for b, val in zip(bars, v, strict=True):
                if np.isfinite(val):
                    ax.text(b.get_width(), b.get_y() + b.get_height() / 2,
                            f" {val:.1f}%" if percent else f" {val:,.0f}", va="center", fontsize=7)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_title(title, loc="left")
        if percent:
            ax.set_xlim(0, 100 if n else 1)
            ax.set_xlabel(xlabel or "%")
        elif xlabel:
            ax.set_xlabel(xlabel)
        ax.spines[["top", "right"]].set_visible(False)
        if n > 1:
            ax.legend(loc="lower right", fontsize=7, frameon=False)
        fig.tight_layout()
        return _png_bytes(fig)


def _hist(values: pd.Series, *, title: str, xlabel: str) -> bytes:
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(figsize=(6.4, 2.6))
        ax = fig.add_subplot()
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=30, color="#1a9641", edgecolor="white")
        ax.set_title(title, loc="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("blocks")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _png_bytes(fig)


# ---------------------------------------------------------------- the pieces a section is made of
# Plain dicts the templates read (templates/blocks.html): a paragraph, key-figure cards, a table, a list,
# an image or a grid of images. Values are plain text; the template escapes them.


def _p(text: str, cls: str = "") -> dict[str, Any]:
    return {"kind": "p", "text": text, "cls": cls}


def _cards(items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"kind": "cards", "items": list(items)}


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]], num_cols: Sequence[int] = ()) -> dict[str, Any]:
    return {"kind": "table", "header": list(header), "rows": [list(r) for r in rows], "num_cols": set(num_cols)}


def _list(items: Sequence[Any], cls: str = "") -> dict[str, Any]:
    return {"kind": "list", "items": list(items), "cls": cls}


def _image(png: bytes, alt: str) -> dict[str, Any]:
    return {"kind": "img", "png": base64.b64encode(png).decode("ascii"), "alt": alt}


def _section(title: str, blocks: Sequence[dict[str, Any]], key: str = "") -> dict[str, Any]:
    """A section as the template reads it; ``key`` gives the heading its anchor ``id='s-<key>'``."""
    return {"title": title, "key": key, "blocks": list(blocks)}


@dataclass
class ReportContext:
    """What every section step reads: the result, its run record and the report's language.

    Parameters
    ----------
    result : StudyResult
        The finished study (only read).
    rec : dict
        Its run record (:func:`toolkit.record.run_record`): the figures printed.
    lang : str
        Language of the text (``"en"`` or ``"zh"``); the charts use :func:`toolkit.outputs.static._figure_lang`.
    files : sequence of str
        The output files to list.
    coverage_map_png : bytes, optional
        A coverage map thumbnail shown beside the coverage chart.

    Examples
    --------
    >>> ctx = ReportContext(result, run_record(result), "zh")  # doctest: +SKIP
    >>> ctx.t("report.key")  # doctest: +SKIP
    '关键指标'
    """

    result: StudyResult
    rec: dict[str, Any]
    lang: str
    files: Sequence[str] = ()
    coverage_map_png: bytes | None = None
    flang: str = field(init=False)

    def __post_init__(self) -> None:
        self.flang = _figure_lang(self.lang)

    def t(self, key: str, **kw: Any) -> str:
        """The glossary's text for ``key`` in the report's language."""
        return label(key, self.lang, **kw)

    def tc(self, key: str, **kw: Any) -> str:
        """The same, capitalised: a heading or a table header."""
        return label(key, self.lang, cap=True, **kw)

    def cat(self, c: str, language: str | None = None) -> str:
        """A category's name (the profile's catalogue; the key itself when unknown)."""
        cats = self.result.profile.catalogue
        return cats[c].label(language or self.lang) if c in cats else c

    def term(self, section: str, value: Any) -> str:
        """A coded value (``site_type.grass``, ``heritage.core``, ``selection.exact``) in the report's language."""
        key = f"{section}.{value}"
        return label(key, self.lang) if key in LABELS else ("" if value is None else str(value))

    @property
    def decisions(self) -> dict[str, Any]:
        return self.rec.get("decisions") or {}


# ---------------------------------------------------------------- one step per section


def key_figures(ctx: ReportContext) -> dict[str, Any]:
    """Study area, blocks, residents (all, 65+, 0-14) and the facilities used."""
    t, tc, b, r = ctx.t, ctx.tc, ctx.result.blocks, ctx.result
    pop = ctx.rec.get("population") or {}
    in_blocks = (pop.get("population") or {}).get("in_blocks")
    n_fac = int(r.facilities["snapped"].sum()) if "snapped" in r.facilities else len(r.facilities)
    return _section(t("report.key"), [_cards([
        (t("layer.study_area"), f"{_num(ctx.rec.get('area_km2'), 2)} km²"),
        (t("layer.blocks"), _num(len(b))),
        (t("report.residents_in_blocks"),
         _num(in_blocks if in_blocks is not None else b.get("population", pd.Series()).sum())),
        (tc("term.aged_65"), _num((pop.get("pop_65plus") or {}).get("in_blocks"))),
        (tc("term.children"), _num((pop.get("pop_0_14") or {}).get("in_blocks"))),
        (t("report.facilities_used"), _num(n_fac)),
    ])])


def _coverage_rows(ctx: ReportContext, rates: Mapping[str, Any], ds: Mapping[str, Any]) -> list[list[Any]]:
    prof, fac = ctx.result.profile, ctx.result.facilities
    rows = []
    for c in prof.categories:
        rule = prof.rule(c)
        n = int((fac["category"] == c).sum()) if len(fac) else 0
        thr = f"{rule.max_distance_m:,.0f} m" + (f" ({ctx.t('report.minutes', n=f'{rule.minutes:g}')})"
                                                if rule.minutes else "")
        st = status_label((ds.get(c) or {}).get("status", "measured" if c in rates else "no data"), ctx.lang)
        if c in rates:
            rows.append([ctx.cat(c), thr, n, pct(rates[c].get("rate_total")), pct(rates[c].get("rate_65plus")), st])
        else:
            rows.append([ctx.cat(c), thr, n, ctx.tc("legend.no_data"), ctx.tc("legend.no_data"), st])
    return rows


def _coverage_charts(ctx: ReportContext, rates: Mapping[str, Any]) -> list[dict[str, Any]]:
    flang = ctx.flang
    charts = []
    measured = [c for c in ctx.result.profile.categories if c in rates]
    if measured:
        charts.append(_image(_bar_chart(
            [ctx.cat(c, flang) for c in measured],
            {label("term.share_within", flang, cap=True): [rates[c].get("rate_total") for c in measured],
             label("term.share_65_within", flang, cap=True): [rates[c].get("rate_65plus") for c in measured]},
            title=label("report.coverage", flang)), "coverage chart"))
    if ctx.coverage_map_png:
        charts.append(_image(ctx.coverage_map_png, "coverage map"))
    return [{"kind": "grid", "images": charts}] if charts else []


def coverage(ctx: ReportContext) -> dict[str, Any]:
    """Per category: threshold, facilities, share of residents (all, 65+) within it, data status; the charts."""
    t, tc = ctx.t, ctx.tc
    cov = ctx.rec.get("coverage") or {}
    ds = ctx.rec.get("data_status") or {}
    rates = {r["category"]: r for r in cov.get("rates", [])}
    out = [_table([tc("col.category"), tc("term.threshold"), t("layer.facilities"), tc("term.share_within"),
                   tc("term.share_65_within"), tc("term.data_status")], _coverage_rows(ctx, rates, ds),
                  num_cols=(2, 3, 4))]
    # a rate on incomplete data is a lower bound: said next to the table, per category, with the reason
    incomplete = [c for c in ctx.result.profile.categories if c in rates and c in ds
                  and ds[c].get("status") != "complete"]
    if incomplete:
        out += [_p(t("report.incomplete_note"), "nodata"),
                _list([{"strong": ctx.cat(c),
                        "text": f"{status_label(ds[c]['status'], ctx.lang)} ({ds[c].get('reason', '')})"}
                       for c in incomplete], "muted")]
    if cov.get("no_data"):
        out.append(_p(f"{t('report.no_data_note')} {', '.join(ctx.cat(c) for c in cov['no_data'])}", "nodata"))
    return _section(t("report.coverage"), out + _coverage_charts(ctx, rates))


def heritage(ctx: ReportContext) -> dict[str, Any]:
    """Blocks, area and residents per heritage class; zones, listed buildings, protected roads."""
    t, tc = ctx.t, ctx.tc
    her = ctx.rec.get("heritage") or {}
    if her.get("status") == "absent" or "blocks" not in her:
        return _section(t("report.heritage"), [_p(f"{t('report.absent')}: {her.get('reason', '')}", "muted")])
    hp = her.get("population") or {}
    rows = [[t(f"heritage.{k}"), her["blocks"].get(k, 0), _num((her.get("area_ha") or {}).get(k), 1),
             _num((hp.get("population") or {}).get(k)), _num((hp.get("pop_65plus") or {}).get(k))]
            for k in ("core", "buffer", "none")]
    bl = her.get("buildings") or {}
    pr = her.get("protected_roads") or {}
    zones = her.get("zones") or {}
    return _section(t("report.heritage"), [
        _table([tc("col.heritage_class"), tc("col.blocks"), "ha", t("report.residents_in_blocks"),
                tc("term.aged_65")], rows, num_cols=(1, 2, 3, 4)),
        _cards([
            (t("heritage.style_area"), _num((zones.get("style_area") or {}).get("count"))),
            (t("heritage.compound"), _num((zones.get("compound") or {}).get("count"))),
            (t("report.listed_near"), _num(bl.get("kept_near_area"))),
            (t("term.protected_road"), f"{', '.join(pr.get('names', [])) or '–'} ({_num(pr.get('length_m'))} m)"),
        ])])


def walkability(ctx: ReportContext) -> dict[str, Any]:
    """Long block faces, hostile street length, intersections, the component medians and the index histogram."""
    t, b = ctx.t, ctx.result.blocks
    title = ctx.tc("term.walkability")
    walk = ctx.rec.get("walkability") or {}
    if not walk or "median" not in walk:
        return _section(title, [_p(t("report.absent"), "muted")])
    med = walk.get("median") or {}
    guide = (walk.get("settings") or {}).get("face_guideline_m", 200)
    out = [_cards([
        (t("report.face_over", guide=guide), pct(walk.get("blocks_face_over_guideline_share"))),
        (t("report.hostile_length"), f"{_num((walk.get('street_length_hostile_m') or 0) / 1000, 1)} km"),
        (t("report.intersections"), _num(walk.get("intersections_3way_in_area"))),
    ]), _table([t("report.median"), t("report.value")],
               [[column(k, ctx.lang), _num(v, 2)] for k, v in med.items()], num_cols=(1,))]
    if "walk_index" in b:
        out.append(_image(_hist(b["walk_index"], title=label("term.walkability", ctx.flang, cap=True),
                                xlabel="walk_index (z-score composite)"), "walkability histogram"))
    return _section(title, out)


def waterfront(ctx: ReportContext) -> dict[str, Any]:
    """Bank length, the share with street access, the longest gap, access points, blocks and residents near."""
    t = ctx.t
    title = ctx.tc("term.waterfront")
    wf = ctx.rec.get("waterfront") or {}
    if wf.get("status") != "measured":
        return _section(title, [_p(f"{t('report.absent')}: {wf.get('reason', wf.get('status', ''))}", "muted")])
    return _section(title, [_cards([
        (t("report.bank_length"), f"{_num((wf.get('bank_length_m') or 0) / 1000, 2)} km"),
        (t("report.bank_access_share"), pct(wf.get("share_with_access"))),
        (t("report.longest_gap"), f"{_num(wf.get('longest_gap_m'))} m"),
        (t("layer.waterfront_access"), _num(wf.get("n_access_points"))),
        (t("report.blocks_within", thr=_num(wf.get("threshold_m"))), _num(wf.get("blocks_within"))),
        (t("term.share_within"), pct(wf.get("population_within_share"))),
    ])])


def _underserved_drivers(ctx: ReportContext, us: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What drives the count: per category with complete data, the flagged blocks that miss it."""
    t, lang = ctx.t, ctx.lang
    byc, bmiss = us.get("by_category") or {}, us.get("blocks_missing") or {}
    inc = us.get("incomplete") or {}
    rows = [[ctx.cat(c), status_label("complete", lang), _num(byc.get(c)), _num(bmiss.get(c))] for c in byc]
    rows += [[ctx.cat(c), status_label(v.get("status", ""), lang), t("report.never_flags"),
              _num(v.get("blocks_beyond"))] for c, v in inc.items()]
    out = []
    if rows:
        head = [t("col.category"), t("term.data_status"), t("report.us_missing"), t("report.populated_missing")]
        out.append(_table(head, rows, num_cols=(2, 3)))
    bym = us.get("by_missing") or {}
    if bym:
        out.append(_table([t("col.n_missing"), ctx.tc("col.blocks")],
                          [[k, v] for k, v in sorted(bym.items(), key=lambda kv: int(kv[0]))], num_cols=(1,)))
    return out


def _worst_zones(ctx: ReportContext) -> list[dict[str, Any]]:
    """The five zones with the most underserved residents."""
    t, r = ctx.t, ctx.result
    zones = r.layers.get("zones")
    if zones is None or "underserved_pop" not in zones or not len(zones):
        return []
    top = zones.sort_values("underserved_pop", ascending=False).head(5)
    # the roll-up names its id column after the user's zones (id_field = "name"), else zone_id
    zid = next((c for c in (r.study.zone_id_field, "zone_id") if c and c in zones), zones.columns[0])
    return [_table([t("report.zone"), t("layer.underserved"), t("col.population"), t("term.aged_65"),
                    t("col.worst_blocks")],
                   [[z[zid], _num(z.get("underserved_blocks")), _num(z.get("underserved_pop")),
                     _num(z.get("underserved_65plus")), z.get("worst_blocks") or ""]
                    for _, z in top.iterrows()], num_cols=(1, 2, 3))]


def underserved(ctx: ReportContext) -> dict[str, Any]:
    """Underserved blocks and residents, the rule, what drives the count and the worst zones."""
    t = ctx.t
    title = t("layer.underserved")
    dec = ctx.decisions
    us = dec.get("underserved") or {}
    if not us:
        return _section(title, [_p(f"{t('report.absent')}: {dec.get('reason', '')}", "muted")])
    rule = us.get("rule") or {}
    out = [_cards([
        (t("layer.underserved"), f"{_num(us.get('blocks'))} / {_num(len(ctx.result.blocks))}"),
        (t("col.underserved_pop"), _num(us.get("population"))),
        (t("report.of_whom_65"), _num(us.get("pop_65plus"))),
    ]), _p(t("report.rule", k=rule.get("min_missing", ""), share=pct(rule.get("elderly_share"))), "muted")]
    if us.get("note"):
        out.append(_p(us["note"], "nodata"))
    return _section(title, out + _underserved_drivers(ctx, us) + _worst_zones(ctx))


def equity(ctx: ReportContext) -> dict[str, Any] | None:
    """A rate hides on whom the long walks fall: shares per group, Gini, Palma, the median walk."""
    t, tc = ctx.t, ctx.tc
    eq = ctx.rec.get("equity") or []
    if not eq:
        return None
    by = {(r["category"], r["group"]): r for r in eq}
    groups = [g for g in ("total", "65+", "0-14") if any(k[1] == g for k in by)]
    cats_eq = list(dict.fromkeys(r["category"] for r in eq))

    def total(c: str) -> dict[str, Any]:
        return by.get((c, "total")) or {}

    table = _table(
        [tc("col.category"), *(t("report.share_within_group", group=_group(ctx, g)) for g in groups), t("report.gini"),
         t("report.palma"), t("report.median_walk"), t("term.data_status")],
        [[ctx.cat(c), *(pct((by.get((c, g)) or {}).get("share_within")) for g in groups),
          _num(total(c).get("gini"), 2), _num(total(c).get("palma"), 2), _num(total(c).get("median_m")),
          status_label(total(c).get("data_status", ""), ctx.lang)] for c in cats_eq],
        num_cols=tuple(range(1, len(groups) + 4)))
    return _section(t("report.equity"), [_p(t("report.equity_note"), "muted"), table])


#: the equity groups (toolkit.equity) by their glossary names
_GROUP_KEYS = {"total": "priority.group_total", "65+": "priority.group_65", "0-14": "priority.group_0_14"}


def _group(ctx: ReportContext, g: str) -> str:
    """An equity group's name: the code in English ("65+"), the glossary's name in Chinese (65岁及以上人口)."""
    return ctx.t(_GROUP_KEYS[g]) if ctx.lang == "zh" and g in _GROUP_KEYS else g


def _chosen(ctx: ReportContext) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """The selection record and the candidate sites, when sites were selected."""
    sel = ctx.decisions.get("selection") or {}
    sites = ctx.result.layers.get("candidate_sites")
    if not sel or sites is None or "selected" not in sites or not len(sites) or not sel.get("chosen"):
        return None
    return sel, sites


def _selected_rows(ctx: ReportContext, sel: Mapping[str, Any], sites: pd.DataFrame) -> dict[str, Any]:
    t = ctx.t
    s = sites[sites["selected"].fillna(False).astype(bool)]
    s = s.sort_values("rank") if "rank" in s else s
    cats_sel = [c for c in sel.get("categories", []) if f"new_{c}_pop" in s]
    rows = [[r["site_id"], ctx.term("site_type", r.get("site_type", "")),
             r.get("nearest_street") if isinstance(r.get("nearest_street"), str) else "",
             ctx.term("heritage", r.get("heritage_class", "")), _num(r.get("score"), 3), r.get("rank", ""),
             *[_num(r[f"new_{c}_pop"]) for c in cats_sel]] for _, r in s.iterrows()]
    head = [t(f"col.{c}") for c in ("site_id", "site_type", "nearest_street", "heritage_class", "score", "rank")]
    return _table([*head, *[f"+{ctx.cat(c)}" for c in cats_sel]], rows,
                  num_cols=(0, 4, 5, *range(6, 6 + len(cats_sel))))


def _hub_reason(ctx: ReportContext, g: Mapping[str, Any], sites: pd.DataFrame) -> str:
    """Why a site cannot host a hub: in English the recorded reason (run.json); in Chinese the glossary's,
    from the site's hub_status and hub_needs (toolkit.sites.hub_feasibility) where those are known."""
    from ..heritage import heritage_rules

    known = ctx.lang == "zh" and {"site_id", "hub_status", "hub_needs"} <= set(sites)
    if not known:
        return str(g.get("reason", ""))
    row = sites[sites["site_id"] == g["site_id"]]
    if not len(row):
        return str(g.get("reason", ""))
    status, need = str(row["hub_status"].iloc[0]), str(row["hub_needs"].iloc[0])
    doing = (heritage_rules().get("interventions") or {}).get(need) or {}
    what = doing.get("label_zh" if ctx.lang == "zh" else "label_en") or need
    if status == "forbidden":
        return ctx.t("report.hub_forbidden", what=what, cls=ctx.term("heritage", g["heritage_class"]))
    if status == "green space":
        return ctx.t("report.hub_green", kind=ctx.term("site_type", g["site_type"]))
    return str(g.get("reason", ""))


def selection(ctx: ReportContext) -> dict[str, Any]:
    """The sites selected (or why none), and the sites that could never host a hub, with the reason."""
    t = ctx.t
    title = ctx.tc("term.selected")
    dec = ctx.decisions
    sel = dec.get("selection") or {}
    sites = ctx.result.layers.get("candidate_sites")
    if not sel or sites is None or "selected" not in sites:
        return _section(title, [_p(t("report.absent"), "muted")])
    if (chosen := _chosen(ctx)) is None:
        status = sel.get("status") or (dec.get("sites") or {}).get("message", "")
        return _section(title, [_p(t("report.n_sites", n=len(sites), status=status), "muted")])
    sel, sites = chosen
    info = sel.get(sel["chosen"]) or {}
    out = [_p(t("report.n_sites_selected", n=len(sites), k=info.get("n_sites", ""),
                chosen=ctx.term("selection", sel["chosen"]), status=ctx.term("selection", info.get("status", "")),
                cats=t("word.list_sep").join(ctx.cat(c) for c in sel.get("categories", [])),
                share=pct(info.get("covered_share")))),
           _selected_rows(ctx, sel, sites)]
    gone = ((dec.get("sites") or {}).get("hub_infeasible") or {}).get("sites") or []
    if gone:
        # heritage binds the choice: the planner sees which sites were never candidates for a hub, and why
        out += [_p(t("report.hub_excluded", n=len(gone))),
                _table([t(f"col.{c}") for c in ("site_id", "site_type", "heritage_class", "hub_reason")],
                       [[g["site_id"], ctx.term("site_type", g["site_type"]), ctx.term("heritage", g["heritage_class"]),
                         _hub_reason(ctx, g, sites)] for g in gone],
                       num_cols=(0,))]
    return _section(title, out)


def before_after(ctx: ReportContext) -> dict[str, Any] | None:
    """Coverage before and after the selected hubs, and the underserved count on the baseline's basis."""
    t, tc, flang = ctx.t, ctx.tc, ctx.flang
    chosen = _chosen(ctx)
    ba = (chosen[0].get("before_after") or []) if chosen else []
    if not ba or not chosen:  # (not chosen implies not ba: spelt out for mypy)
        return None
    out = [_table([tc("col.category"), *(t(f"report.{k}") for k in ("before", "after", "before_65", "after_65",
                                                                    "newly_covered"))],
                  [[ctx.cat(r["category"]), pct(r.get("rate_total_before")), pct(r.get("rate_total_after")),
                    pct(r.get("rate_65plus_before")), pct(r.get("rate_65plus_after")),
                    _num(r.get("newly_covered_total"))] for r in ba], num_cols=(1, 2, 3, 4, 5))]
    uba = chosen[0].get("underserved_before_after") or {}
    if uba:
        # the basis (run.json) is always the baseline's categories and data status (toolkit.underserved)
        out.append(_p(f"{t('layer.underserved')}: {_num(uba.get('blocks_before'))} → "
                      f"{_num(uba.get('blocks_after'))} ({t('report.basis')})"))
    out.append(_image(_bar_chart(
        [ctx.cat(r["category"], flang) for r in ba],
        {label("report.before", flang): [r.get("rate_total_before") for r in ba],
         label("report.after", flang): [r.get("rate_total_after") for r in ba]},
        title=label("report.before_after", flang), colours=("#bdbdbd", "#1a9641")), "before and after chart"))
    return _section(t("report.before_after"), out)


def contributed(ctx: ReportContext) -> list[dict[str, Any]]:
    """The sections analysis modules and overlays contribute (:func:`toolkit.sections.sections`)."""
    return [_contributed_section(s) for s in sections(ctx.result, ctx.lang)]


def _contributed_section(s: Section) -> dict[str, Any]:
    """Every contributed section the same way: heading (``id='s-<key>'``), paragraphs, table, notes."""
    out = [_p(p) for p in s.paragraphs]
    if s.header or s.rows:
        out.append(_table(list(s.header), [list(r) for r in s.rows], num_cols=tuple(s.num_cols)))
    out += [_p(n, "muted") for n in s.notes]
    return _section(s.title, out, key=s.key)


def notes(ctx: ReportContext) -> dict[str, Any] | None:
    """The run's notes (warnings, refusals, assumptions), as run.json lists them."""
    if not ctx.rec.get("notes"):
        return None
    return _section(ctx.t("report.notes"), [_list(ctx.rec["notes"])])


def files(ctx: ReportContext) -> dict[str, Any] | None:
    """The files written beside the report."""
    if not ctx.files:
        return None
    return _section(ctx.t("report.files"), [_list([{"code": f} for f in ctx.files])])


# The report's sections in order; a step returns a section, a list of them, or None to leave it out.
SectionStep = Callable[[ReportContext], "dict[str, Any] | list[dict[str, Any]] | None"]
SECTION_STEPS: tuple[SectionStep, ...] = (key_figures, coverage, heritage, walkability, waterfront, underserved,
                                          equity, selection, before_after, contributed, notes, files)


def report_context(result: StudyResult, record: Mapping[str, Any] | None = None, *, lang: str | None = None,
                   files: Sequence[str] = (), coverage_map_png: bytes | None = None) -> dict[str, Any]:
    """What templates/report.html renders: the page's title and meta line, and every section in order.

    Parameters
    ----------
    result : StudyResult
        The finished study.
    record : mapping, optional
        Its run record (:func:`toolkit.record.run_record`, computed when not given).
    lang : str, optional
        ``"en"`` or ``"zh"``; the study's language by default.
    files : sequence of str
        Output files listed at the end.
    coverage_map_png : bytes, optional
        A coverage map thumbnail beside the coverage chart.

    Returns
    -------
    dict
        ``title``, ``html_lang``, ``meta`` (list of str) and ``sections`` (dicts of ``title``, ``key`` and
        ``blocks``: the pieces templates/blocks.html renders), all plain text.

    Examples
    --------
    >>> ctx = report_context(result, lang="en")  # doctest: +SKIP
    >>> [s["title"] for s in ctx["sections"]][:2]  # doctest: +SKIP
    ['Key figures', 'Coverage']
    """
    from ..record import run_record

    rec = dict(record) if record is not None else run_record(result)
    ctx = ReportContext(result, rec, lang or result.study.lang, files=files, coverage_map_png=coverage_map_png)
    out: list[dict[str, Any]] = []
    for step in SECTION_STEPS:
        got = step(ctx)
        out.extend(got if isinstance(got, list) else [got] if got is not None else [])
    title = result.study.title or result.study.name
    prof = result.profile
    meta = [ctx.t("report.title"), result.study.name, str(rec.get("created", "")),
            f"urban-microrenewal-toolkit {__version__}", f"{ctx.t('term.profile')} {prof.name} ({prof.title})",
            f"CRS {rec.get('crs', '')}"]
    return {"title": title, "html_lang": "zh-CN" if ctx.lang == "zh" else "en", "meta": meta, "sections": out}


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    # autoescape on for every template, whatever its name: names in the data come from files anyone can edit
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def html_report(result: StudyResult, record: Mapping[str, Any] | None = None, *, lang: str | None = None,
                files: Sequence[str] = (), coverage_map_png: bytes | None = None) -> str:
    """The study's one-page report as a self-contained HTML string.

    ``record`` is the run record (:func:`toolkit.record.run_record`) whose
    figures are printed, so report.html and run.json always agree. The page is
    :func:`report_context` rendered by ``templates/report.html`` (autoescaped).

    Parameters
    ----------
    result : StudyResult
        The finished study.
    record : mapping, optional
        Its run record (computed when not given).
    lang : str, optional
        ``"en"`` or ``"zh"``; the study's language by default.
    files : sequence of str
        Output files listed at the end.
    coverage_map_png : bytes, optional
        A coverage map thumbnail beside the coverage chart.

    Returns
    -------
    str
        The page, from ``<!DOCTYPE html>`` on.

    Examples
    --------
    >>> page = html_report(result, lang="en", files=["xuhui.gpkg"])  # doctest: +SKIP
    >>> "<script" in page  # doctest: +SKIP
    False
    """
    context = report_context(result, record, lang=lang, files=files, coverage_map_png=coverage_map_png)
    return _environment().get_template("report.html").render(**context)


def section_html(s: Section) -> str:
    """One contributed :class:`toolkit.sections.Section` as HTML (every text escaped).

    Examples
    --------
    >>> section_html(Section("demo", "A & B"))
    "<h2 id='s-demo'>A &amp; B</h2>\\n"
    """
    blocks = _environment().get_template("blocks.html").module
    # jinja2 types a template's module without the macros it exports at run time
    return str(blocks.section(_contributed_section(s)))  # type: ignore[attr-defined]


def write_report(path: str | Path, result: StudyResult, record: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Path:
    """Write :func:`html_report` to ``path`` (UTF-8), with a coverage map thumbnail."""
    path = Path(path)
    kwargs.setdefault("coverage_map_png", coverage_map_png(result))
    path.write_text(html_report(result, record, **kwargs), encoding="utf-8")
    return path
