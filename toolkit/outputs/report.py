"""report.html: a one-page, self-contained HTML summary of a study.

Charts are embedded PNGs; no script, no external link, readable offline.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..completeness import status_label
from ..labels import column, label
from ..sections import Section, sections
from .static import _figure, _figure_lang, _png_bytes, _rc, coverage_map_png

if TYPE_CHECKING:
    from ..result import StudyResult


# ================================================================ HTML report
# Every name printed is the glossary's (toolkit.labels, data/labels.toml).


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def pct(x: Any) -> str:
    """A share as the report prints it (``0.3554`` -> ``35.5%``); empty for missing values."""
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


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], num_cols: Sequence[int] = ()) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='{'n' if i in num_cols else ''}'>{_e(v)}</td>"
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def section_html(s: Section) -> str:
    """One contributed :class:`toolkit.sections.Section` as HTML (every text escaped)."""
    out = [f"<h2 id='s-{_e(s.key)}'>{_e(s.title)}</h2>", *(f"<p>{_e(p)}</p>" for p in s.paragraphs)]
    if s.header or s.rows:
        out.append(_table(list(s.header), [list(r) for r in s.rows], num_cols=tuple(s.num_cols)))
    out += [f"<p class='muted'>{_e(n)}</p>" for n in s.notes]
    return "\n".join(out)


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"


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


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC","Helvetica Neue",Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:24px;color:#222;line-height:1.45}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:28px}
.meta{color:#666;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card .v{font-size:20px;font-weight:bold} .card .k{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border-bottom:1px solid #e5e5e5;padding:4px 8px}
th{text-align:left;background:#f6f6f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start} img{max-width:100%;height:auto}
.muted{color:#777} .nodata{color:#a50f15}
@media print{body{max-width:none;padding:0} h2{page-break-after:avoid} img{page-break-inside:avoid}}
"""


def _cards(items: Sequence[tuple[str, str]]) -> str:
    return "<div class='cards'>" + "".join(f"<div class='card'><div class='v'>{_e(v)}</div>"
                                           f"<div class='k'>{_e(k)}</div></div>" for k, v in items) + "</div>"


def html_report(result: StudyResult, record: Mapping[str, Any] | None = None, *, lang: str | None = None,
                files: Sequence[str] = (), coverage_map_png: bytes | None = None) -> str:
    """The study's one-page report as a self-contained HTML string.

    ``record`` is the run record (:func:`toolkit.record.run_record`) whose
    figures are printed, so report.html and run.json always agree.
    """
    from ..record import run_record

    rec = dict(record) if record is not None else run_record(result)
    lang = lang or result.study.lang
    flang = _figure_lang(lang)
    cats = result.profile.catalogue
    zh = lang == "zh"
    b = result.blocks
    pop = rec.get("population") or {}
    parts: list[str] = []
    title = result.study.title or result.study.name

    def t(key: str, **kw: Any) -> str:
        return label(key, lang, **kw)

    def tc(key: str, **kw: Any) -> str:  # a heading or a table header: capitalised
        return label(key, lang, cap=True, **kw)

    def cat_label(c: str, language: str | None = None) -> str:
        return cats[c].label(language or lang) if c in cats else c

    parts.append(f"<h1>{_e(title)}</h1><div class='meta'>{_e(t('report.title'))} · {_e(result.study.name)} · "
                 f"{_e(rec.get('created', ''))} · urban-microrenewal-toolkit {_e(__version__)} · "
                 f"{_e(t('term.profile'))} {_e(result.profile.name)} ({_e(result.profile.title)}) · "
                 f"CRS {_e(rec.get('crs', ''))}</div>")

    # ---- key figures
    in_blocks = (pop.get("population") or {}).get("in_blocks")
    n_fac = int(result.facilities["snapped"].sum()) if "snapped" in result.facilities else len(result.facilities)
    parts.append(f"<h2>{_e(t('report.key'))}</h2>")
    parts.append(_cards([
        (t("layer.study_area"), f"{_num(rec.get('area_km2'), 2)} km²"),
        (t("layer.blocks"), _num(len(b))),
        (t("report.residents_in_blocks"),
         _num(in_blocks if in_blocks is not None else b.get("population", pd.Series()).sum())),
        (tc("term.aged_65"), _num((pop.get("pop_65plus") or {}).get("in_blocks"))),
        (tc("term.children"), _num((pop.get("pop_0_14") or {}).get("in_blocks"))),
        (t("report.facilities_used"), _num(n_fac)),
    ]))

    # ---- coverage
    cov = rec.get("coverage") or {}
    ds = rec.get("data_status") or {}
    rates = {r["category"]: r for r in cov.get("rates", [])}
    rows = []
    for c in result.profile.categories:
        rule = result.profile.rule(c)
        n = int((result.facilities["category"] == c).sum()) if len(result.facilities) else 0
        thr = f"{rule.max_distance_m:,.0f} m" + (f" ({rule.minutes:g} min)" if rule.minutes else "")
        st = status_label((ds.get(c) or {}).get("status", "measured" if c in rates else "no data"), lang)
        if c in rates:
            rows.append([cat_label(c), thr, n, pct(rates[c].get("rate_total")), pct(rates[c].get("rate_65plus")), st])
        else:
            rows.append([cat_label(c), thr, n, tc("legend.no_data"), tc("legend.no_data"), st])
    parts.append(f"<h2>{_e(t('report.coverage'))}</h2>")
    parts.append(_table([tc("col.category"), tc("term.threshold"), t("layer.facilities"), tc("term.share_within"),
                         tc("term.share_65_within"), tc("term.data_status")], rows, num_cols=(2, 3, 4)))
    incomplete = [c for c in result.profile.categories if c in rates and c in ds
                  and ds[c].get("status") != "complete"]
    if incomplete:
        items = "".join(f"<li><b>{_e(cat_label(c))}</b>: "
                        f"{_e(status_label(ds[c]['status'], lang))} ({_e(ds[c].get('reason', ''))})</li>"
                        for c in incomplete)
        parts.append(f"<p class='nodata'>{_e(t('report.incomplete_note'))}</p><ul class='muted'>{items}</ul>")
    if cov.get("no_data"):
        parts.append(f"<p class='nodata'>{_e(t('report.no_data_note'))} "
                     f"{_e(', '.join(cat_label(c) for c in cov['no_data']))}</p>")
    charts = []
    measured = [c for c in result.profile.categories if c in rates]
    if measured:
        charts.append(_img(_bar_chart(
            [cat_label(c, flang) for c in measured],
            {label("term.share_within", flang, cap=True): [rates[c].get("rate_total") for c in measured],
             label("term.share_65_within", flang, cap=True): [rates[c].get("rate_65plus") for c in measured]},
            title=label("report.coverage", flang)), "coverage chart"))
    if coverage_map_png:
        charts.append(_img(coverage_map_png, "coverage map"))
    if charts:
        parts.append("<div class='grid'>" + "".join(f"<div>{c}</div>" for c in charts) + "</div>")

    # ---- heritage
    parts.append(f"<h2>{_e(t('report.heritage'))}</h2>")
    her = rec.get("heritage") or {}
    if her.get("status") == "absent" or "blocks" not in her:
        parts.append(f"<p class='muted'>{_e(t('report.absent'))}: {_e(her.get('reason', ''))}</p>")
    else:
        hp = (her.get("population") or {})
        rows = [[t(f"heritage.{k}"), her["blocks"].get(k, 0), _num((her.get("area_ha") or {}).get(k), 1),
                 _num((hp.get("population") or {}).get(k)), _num((hp.get("pop_65plus") or {}).get(k))]
                for k in ("core", "buffer", "none")]
        parts.append(_table([tc("col.heritage_class"), tc("col.blocks"), "ha", t("report.residents_in_blocks"),
                             tc("term.aged_65")], rows, num_cols=(1, 2, 3, 4)))
        bl = her.get("buildings") or {}
        pr = her.get("protected_roads") or {}
        zones = her.get("zones") or {}
        parts.append(_cards([
            (t("heritage.style_area"), _num((zones.get("style_area") or {}).get("count"))),
            (t("heritage.compound"), _num((zones.get("compound") or {}).get("count"))),
            (t("report.listed_near"), _num(bl.get("kept_near_area"))),
            (t("term.protected_road"), f"{', '.join(pr.get('names', [])) or '–'} ({_num(pr.get('length_m'))} m)"),
        ]))

    # ---- walkability
    parts.append(f"<h2>{_e(tc('term.walkability'))}</h2>")
    walk = rec.get("walkability") or {}
    if not walk or "median" not in walk:
        parts.append(f"<p class='muted'>{_e(t('report.absent'))}</p>")
    else:
        med = walk.get("median") or {}
        guide = (walk.get("settings") or {}).get("face_guideline_m", 200)
        parts.append(_cards([
            (t("report.face_over", guide=guide), pct(walk.get("blocks_face_over_guideline_share"))),
            (t("report.hostile_length"), f"{_num((walk.get('street_length_hostile_m') or 0) / 1000, 1)} km"),
            (t("report.intersections"), _num(walk.get("intersections_3way_in_area"))),
        ]))
        parts.append(_table([t("report.median"), t("report.value")],
                            [[column(k, lang), _num(v, 2)] for k, v in med.items()], num_cols=(1,)))
        if "walk_index" in b:
            parts.append(_img(_hist(b["walk_index"], title=label("term.walkability", flang, cap=True),
                                    xlabel="walk_index (z-score composite)"), "walkability histogram"))

    # ---- waterfront
    parts.append(f"<h2>{_e(tc('term.waterfront'))}</h2>")
    wf = rec.get("waterfront") or {}
    if wf.get("status") != "measured":
        parts.append(f"<p class='muted'>{_e(t('report.absent'))}: {_e(wf.get('reason', wf.get('status', '')))}</p>")
    else:
        parts.append(_cards([
            (t("report.bank_length"), f"{_num((wf.get('bank_length_m') or 0) / 1000, 2)} km"),
            (t("report.bank_access_share"), pct(wf.get("share_with_access"))),
            (t("report.longest_gap"), f"{_num(wf.get('longest_gap_m'))} m"),
            (t("layer.waterfront_access"), _num(wf.get("n_access_points"))),
            (t("report.blocks_within", thr=_num(wf.get("threshold_m"))), _num(wf.get("blocks_within"))),
            (t("term.share_within"), pct(wf.get("population_within_share"))),
        ]))

    # ---- underserved
    parts.append(f"<h2>{_e(t('layer.underserved'))}</h2>")
    dec = rec.get("decisions") or {}
    us = dec.get("underserved") or {}
    if not us:
        parts.append(f"<p class='muted'>{_e(t('report.absent'))}: {_e(dec.get('reason', ''))}</p>")
    else:
        rule = us.get("rule") or {}
        parts.append(_cards([
            (t("layer.underserved"), f"{_num(us.get('blocks'))} / {_num(len(b))}"),
            (t("col.underserved_pop"), _num(us.get("population"))),
            (t("report.of_whom_65"), _num(us.get("pop_65plus"))),
        ]))
        rule_text = t("report.rule", k=_e(rule.get("min_missing", "")), share=pct(rule.get("elderly_share")))
        parts.append(f"<p class='muted'>{rule_text}</p>")
        if us.get("note"):
            parts.append(f"<p class='nodata'>{_e(us['note'])}</p>")
        # what drives the count: per category with complete data, the flagged blocks that miss it
        byc, bmiss = us.get("by_category") or {}, us.get("blocks_missing") or {}
        inc = us.get("incomplete") or {}
        rows = [[cat_label(c), status_label("complete", lang), _num(byc.get(c)), _num(bmiss.get(c))] for c in byc]
        rows += [[cat_label(c), status_label(v.get("status", ""), lang), t("report.never_flags"),
                  _num(v.get("blocks_beyond"))] for c, v in inc.items()]
        if rows:
            head = [t("col.category"), t("term.data_status"), t("report.us_missing"), t("report.populated_missing")]
            parts.append(_table(head, rows, num_cols=(2, 3)))
        bym = us.get("by_missing") or {}
        if bym:
            parts.append(_table([t("col.n_missing"), tc("col.blocks")],
                                [[k, v] for k, v in sorted(bym.items(), key=lambda kv: int(kv[0]))], num_cols=(1,)))
        zones = result.layers.get("zones")
        if zones is not None and "underserved_pop" in zones and len(zones):
            top = zones.sort_values("underserved_pop", ascending=False).head(5)
            # the roll-up names its id column after the user's zones (id_field = "name"), else zone_id
            zid = next((c for c in (result.study.zone_id_field, "zone_id") if c and c in zones), zones.columns[0])
            parts.append(_table([t("report.zone"), t("layer.underserved"), t("col.population"), t("term.aged_65"),
                                 t("col.worst_blocks")],
                                [[r[zid], _num(r.get("underserved_blocks")), _num(r.get("underserved_pop")),
                                  _num(r.get("underserved_65plus")), r.get("worst_blocks") or ""]
                                 for _, r in top.iterrows()], num_cols=(1, 2, 3)))

    # ---- equity: a rate hides on whom the long walks fall
    eq = rec.get("equity") or []
    if eq:
        by = {(r["category"], r["group"]): r for r in eq}
        groups = [g for g in ("total", "65+", "0-14") if any(k[1] == g for k in by)]
        cats_eq = list(dict.fromkeys(r["category"] for r in eq))
        parts.append(f"<h2>{_e(t('report.equity'))}</h2><p class='muted'>{_e(t('report.equity_note'))}</p>")
        parts.append(_table(
            [tc("col.category"), *(t("report.share_within_group", group=g) for g in groups), t("report.gini"),
             t("report.palma"), t("report.median_walk"), t("term.data_status")],
            [[cat_label(c), *(pct((by.get((c, g)) or {}).get("share_within")) for g in groups),
              _num((by.get((c, "total")) or {}).get("gini"), 2), _num((by.get((c, "total")) or {}).get("palma"), 2),
              _num((by.get((c, "total")) or {}).get("median_m")), (by.get((c, "total")) or {}).get("data_status", "")]
             for c in cats_eq], num_cols=tuple(range(1, len(groups) + 4))))

    # ---- sites and before/after
    parts.append(f"<h2>{_e(tc('term.selected'))}</h2>")
    sel = dec.get("selection") or {}
    sites = result.layers.get("candidate_sites")
    if not sel or sites is None or "selected" not in sites:
        parts.append(f"<p class='muted'>{_e(t('report.absent'))}</p>")
    elif not len(sites) or not sel.get("chosen"):
        status = sel.get("status") or (dec.get("sites") or {}).get("message", "")
        parts.append(f"<p class='muted'>{t('report.n_sites', n=_e(len(sites)), status=_e(status))}</p>")
    else:
        chosen = sel.get("chosen")
        info = sel.get(chosen) or {}
        parts.append("<p>" + t("report.n_sites_selected", n=_e(len(sites)), k=_e(info.get("n_sites", "")),
                               chosen=_e(chosen), status=_e(info.get("status", "")),
                               cats=_e(", ".join(sel.get("categories", []))),
                               share=pct(info.get("covered_share"))) + "</p>")
        s = sites[sites["selected"].fillna(False).astype(bool)]
        s = s.sort_values("rank") if "rank" in s else s
        cats_sel = [c for c in sel.get("categories", []) if f"new_{c}_pop" in s]
        rows = [[r["site_id"], r.get("site_type", ""), r.get("nearest_street") if isinstance(r.get("nearest_street"),
                 str) else "", r.get("heritage_class", ""), _num(r.get("score"), 3), r.get("rank", ""),
                 *[_num(r[f"new_{c}_pop"]) for c in cats_sel]] for _, r in s.iterrows()]
        head = [t(f"col.{c}") for c in ("site_id", "site_type", "nearest_street", "heritage_class", "score", "rank")]
        parts.append(_table([*head, *[f"+{cat_label(c)}" for c in cats_sel]], rows,
                            num_cols=(0, 4, 5, *range(6, 6 + len(cats_sel)))))
        gone = ((dec.get("sites") or {}).get("hub_infeasible") or {}).get("sites") or []
        if gone:
            # heritage binds the choice: the planner sees which sites were never candidates for a hub, and why
            parts.append(f"<p>{_e(t('report.hub_excluded', n=len(gone)))}</p>")
            parts.append(_table([t(f"col.{c}") for c in ("site_id", "site_type", "heritage_class", "hub_reason")],
                                [[g["site_id"], g["site_type"], g["heritage_class"], g["reason"]] for g in gone],
                                num_cols=(0,)))
        ba = sel.get("before_after") or []
        if ba:
            parts.append(f"<h2>{_e(t('report.before_after'))}</h2>")
            parts.append(_table([tc("col.category"), *(t(f"report.{k}") for k in ("before", "after", "before_65",
                                                                                  "after_65", "newly_covered"))],
                                [[cat_label(r["category"]),
                                  pct(r.get("rate_total_before")), pct(r.get("rate_total_after")),
                                  pct(r.get("rate_65plus_before")), pct(r.get("rate_65plus_after")),
                                  _num(r.get("newly_covered_total"))] for r in ba], num_cols=(1, 2, 3, 4, 5)))
            uba = sel.get("underserved_before_after") or {}
            if uba:
                # the basis (run.json) is always the baseline's categories and data status (toolkit.underserved)
                parts.append(f"<p>{t('layer.underserved')}: "
                             f"{_num(uba.get('blocks_before'))} → {_num(uba.get('blocks_after'))} "
                             f"({_e(t('report.basis'))})</p>")
            parts.append(_img(_bar_chart(
                [cat_label(r["category"], flang) for r in ba],
                {label("report.before", flang): [r.get("rate_total_before") for r in ba],
                 label("report.after", flang): [r.get("rate_total_after") for r in ba]},
                title=label("report.before_after", flang), colours=("#bdbdbd", "#1a9641")), "before and after chart"))

    # ---- sections contributed by analysis modules and overlays (toolkit.sections)
    parts.extend(section_html(s) for s in sections(result, lang))

    # ---- notes and files
    if rec.get("notes"):
        parts.append(f"<h2>{_e(t('report.notes'))}</h2><ul>" +
                     "".join(f"<li>{_e(n)}</li>" for n in rec["notes"]) + "</ul>")
    if files:
        parts.append(f"<h2>{_e(t('report.files'))}</h2><ul>" + "".join(f"<li><code>{_e(f)}</code></li>"
                                                                      for f in files) + "</ul>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='{'zh-CN' if zh else 'en'}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def write_report(path: str | Path, result: StudyResult, record: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Path:
    """Write :func:`html_report` to ``path`` (UTF-8), with a coverage map thumbnail."""
    path = Path(path)
    kwargs.setdefault("coverage_map_png", coverage_map_png(result))
    path.write_text(html_report(result, record, **kwargs), encoding="utf-8")
    return path
