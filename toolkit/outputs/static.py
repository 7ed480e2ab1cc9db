"""Static maps of a study (PNG/PDF) drawn with matplotlib.

:func:`static_maps` draws the main layers for reports: legend, scale bar, north arrow (true north,
rotated for the grid convergence), title and CRS note, in the same classes and colours as the QGIS
styles (:mod:`toolkit.outputs.styles`).
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

from .. import __version__
from ..labels import label
from .styles import NO_DATA, LayerStyle, Symbol, class_index, default_styles

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

    from ..result import StudyResult

__all__ = [
    "A4_LANDSCAPE",
    "cjk_font",
    "coverage_map_png",
    "figure_notes",
    "font_note",
    "grid_convergence",
    "map_figure",
    "north_arrow",
    "scale_bar",
    "static_maps"
]


# ================================================================ matplotlib
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
              "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB",
              "Sarasa Gothic SC", "Droid Sans Fallback", "Arial Unicode MS")


@cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None (matplotlib's default has none).

    Returns
    -------
    str or None
        The first of the usual CJK families (Noto Sans CJK, Source Han Sans, WenQuanYi, ...) that
        matplotlib's font manager sees among the system fonts.

    Examples
    --------
    >>> font = cjk_font()  # e.g. 'Noto Sans CJK SC' after `apt-get install fonts-noto-cjk`
    >>> font is None or isinstance(font, str)
    True
    """
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in _CJK_FONTS if n in names), None)


def _has_cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in str(text))


def _figure_lang(lang: str) -> str:
    """Chinese labels in figures only when a CJK font can draw them (else English: see :func:`font_note`)."""
    return "zh" if lang == "zh" and cjk_font() else "en"


def font_note(lang: str | None) -> str | None:
    """The note for run.json and the report when Chinese figures cannot be drawn, or None when they can.

    Without a CJK font matplotlib would draw every Chinese character as a box, so figures of a Chinese
    study are drawn in English instead; this says so, never silently.

    Examples
    --------
    >>> font_note("en") is None  # English figures need no CJK font
    True
    """
    if lang != "zh" or cjk_font():
        return None
    return label("static.no_cjk_font", lang)


def figure_notes(study: Any) -> list[str]:
    """The notes run.json and the report carry about the study's figures (static maps, report charts).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> figure_notes(SimpleNamespace(lang="en", static_maps=True, report=True))
    []
    """
    draws = bool(getattr(study, "static_maps", False) or getattr(study, "report", False))
    note = font_note(study.lang) if draws else None
    return [note] if note else []


def _warn_font(lang: str | None) -> None:
    note = font_note(lang)
    if note:
        warnings.warn(note, stacklevel=3)


def _rc() -> dict[RcKeyType, Any]:
    font = cjk_font()
    rc: dict[RcKeyType, Any] = {"font.size": 9, "axes.titlesize": 11, "svg.fonttype": "none", "pdf.fonttype": 42}
    if font:
        rc["font.sans-serif"] = [font, "DejaVu Sans"]
        rc["axes.unicode_minus"] = False
    return rc


def _pin_fonts(fig: Figure) -> None:
    """Give every text of ``fig`` the CJK font family itself.

    A text keeps the generic family "sans-serif" and matplotlib resolves it when the figure is
    drawn, i.e. at savefig, with the rcParams of that moment: a figure built inside
    ``rc_context(_rc())`` and saved after it drew boxes for every Chinese character. Pinned, the
    figure draws the same wherever and whenever it is saved.
    """
    from matplotlib.text import Text

    font = cjk_font()
    if not font:
        return
    for t in fig.findobj(Text):
        t.set_fontfamily([font, "DejaVu Sans"])


def _safe(text: str, fallback: str) -> str:
    return fallback if _has_cjk(text) and not cjk_font() else text


def _figure(**kw: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kw)


def _png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    import matplotlib

    _pin_fonts(fig)
    buf = io.BytesIO()
    with matplotlib.rc_context(_rc()):  # the fonts are resolved when drawing: same settings as when built
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


# =============================================================== static maps
_MARKERS = {"circle": "o", "square": "s", "triangle": "^", "star": "*", "diamond": "D", "cross": "+"}
_MM_PT = 72 / 25.4


def _rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return to_rgba(hex_colour, alpha)


def _draw(ax: Any, gdf: gpd.GeoDataFrame, style: LayerStyle, *, zorder: float = 2,
          skip: Sequence[str] = ()) -> list[tuple[Symbol, str, int]]:
    """Draw ``gdf`` classed by ``style``; returns the legend entries (symbol, label, count)."""
    idx = class_index(gdf, style)
    classes = [(style.symbol or Symbol(style.kind, "#3182bd"), style.title or style.layer)] \
        if style.renderer == "singleSymbol" or not style.classes else [(c.symbol, c.label) for c in style.classes]
    entries = []
    defaults = {i for i, c in enumerate(style.classes) if c.value == ""} if style.renderer != "singleSymbol" else set()
    for i, (sym, text) in enumerate(classes):
        if (sym.color == NO_DATA or i in defaults) and not (idx == i).any():
            continue  # an empty "no data" / "other" class says nothing
        sub = gdf[idx == i]
        if text in skip:
            continue
        if len(sub):
            _draw_symbol(ax, sub, sym, zorder=zorder + (i * 0.01 if sym.kind != "fill" else 0))
        entries.append((sym, text, len(sub)))
    return entries


def _polygon_path(geoms: np.ndarray) -> Any:
    """All (multi)polygons as one compound matplotlib Path, holes wound the other way.

    One path per class keeps PDF output small and fast (a patch per polygon
    costs seconds for a district's blocks).
    """
    import shapely
    from matplotlib.path import Path as MPath

    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if hasattr(shapely, "orient_polygons"):
        geoms = shapely.orient_polygons(geoms)
    else:  # shapely < 2.1
        from shapely.geometry.polygon import orient

        geoms = np.array([orient(p) for p in shapely.get_parts(geoms)], dtype=object)
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):
        return MPath(np.zeros((1, 2)), [MPath.MOVETO])
    codes = np.full(len(coords), MPath.LINETO, dtype=MPath.code_type)
    starts = np.r_[0, np.flatnonzero(np.diff(ring_of)) + 1]
    codes[starts] = MPath.MOVETO
    codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MPath.CLOSEPOLY
    return MPath(coords, codes)


def _line_path(geoms: np.ndarray) -> Any:
    import shapely
    from matplotlib.path import Path as MPath

    coords, line_of = shapely.get_coordinates(shapely.get_parts(geoms), return_index=True)
    if not len(coords):
        return MPath(np.zeros((1, 2)), [MPath.MOVETO])
    codes = np.full(len(coords), MPath.LINETO, dtype=MPath.code_type)
    codes[np.r_[0, np.flatnonzero(np.diff(line_of)) + 1]] = MPath.MOVETO
    return MPath(coords, codes)


def _draw_symbol(ax: Any, gdf: gpd.GeoDataFrame, sym: Symbol, zorder: float) -> None:
    from matplotlib.collections import PathCollection

    geoms = np.asarray(gdf.geometry.values)
    if sym.kind == "fill":
        col = PathCollection([_polygon_path(geoms)], facecolors=_rgba(sym.color, sym.opacity) if sym.fill else "none",
                             edgecolors=sym.outline, linewidths=max(sym.width * _MM_PT, 0.15), zorder=zorder)
        col.set_joinstyle("round")
        ax.add_collection(col, autolim=False)
    elif sym.kind == "line":
        col = PathCollection([_line_path(geoms)], facecolors="none", edgecolors=_rgba(sym.color, sym.opacity),
                             linewidths=max(sym.width * _MM_PT, 0.3), zorder=zorder)
        col.set_capstyle("round")
        col.set_joinstyle("round")
        ax.add_collection(col, autolim=False)
    else:
        pts = gdf.geometry.representative_point()
        ax.scatter(pts.x, pts.y, s=(sym.size * _MM_PT) ** 2, marker=_MARKERS.get(sym.shape, "o"),
                   c=[_rgba(sym.color, sym.opacity)], edgecolors=sym.outline, linewidths=sym.width * _MM_PT,
                   zorder=zorder)


def _handle(sym: Symbol, label: str) -> Any:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if sym.kind == "fill":
        return Patch(facecolor=_rgba(sym.color, sym.opacity) if sym.fill else "none", edgecolor=sym.outline,
                     linewidth=0.5, label=label)
    if sym.kind == "line":
        return Line2D([], [], color=sym.color, linewidth=max(sym.width * _MM_PT, 0.8), label=label)
    return Line2D([], [], linestyle="none", marker=_MARKERS.get(sym.shape, "o"), markersize=sym.size * _MM_PT,
                  markerfacecolor=sym.color, markeredgecolor=sym.outline, label=label)


def _nice_length(target: float) -> float:
    if target <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(target))
    return next(m * base for m in (5, 2, 1) if m * base <= target)


def scale_bar(ax: Any, *, fraction: float = 0.25, segments: int = 4) -> float:
    """A metric scale bar (alternating black/white) at the lower left; returns its length in metres."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = _nice_length(w * fraction)
    seg = length / segments
    bx, by, bh = x0 + 0.04 * w, y0 + 0.05 * h, 0.012 * h
    ax.add_patch(Rectangle((bx - 0.01 * w, by - 0.035 * h), length + 0.05 * w, 0.075 * h, facecolor="white",
                           edgecolor="none", alpha=0.8, zorder=9))
    for i in range(segments):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, bh, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6, zorder=10))
    km = length >= 1000

    def lab(v: float) -> str:
        return f"{v / 1000:g}" if km else f"{v:g}"

    for v in (0, length / 2, length):
        ax.text(bx + v, by + bh + 0.008 * h, lab(v), ha="center", va="bottom", fontsize=7, zorder=11)
    ax.text(bx + length + 0.01 * w, by, "km" if km else "m", ha="left", va="bottom", fontsize=7, zorder=11)
    return length


def grid_convergence(crs: Any, lon: float, lat: float) -> float:
    """Angle (degrees, clockwise) from grid north to true north at (lon, lat) in ``crs``."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = t.transform(lon, lat)
    x1, y1 = t.transform(lon, lat + 0.01)
    return math.degrees(math.atan2(x1 - x0, y1 - y0))


def north_arrow(ax: Any, angle_deg: float = 0.0) -> None:
    """A north arrow at the upper right, pointing to true north (``angle_deg`` from grid north)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = 0.08 * min(w, h)
    bx, by = x1 - 0.06 * w, y1 - 0.06 * h - length
    a = math.radians(angle_deg)
    tx, ty = bx + length * math.sin(a), by + length * math.cos(a)
    ax.annotate("", xy=(tx, ty), xytext=(bx, by), zorder=12,
                arrowprops={"arrowstyle": "-|>,head_length=0.8,head_width=0.4", "color": "black", "linewidth": 2})
    ax.text(tx + 0.02 * length * math.sin(a), ty + 0.15 * length, "N", ha="center", va="bottom", fontsize=11,
            fontweight="bold", zorder=12)


def _style(styles: Sequence[LayerStyle], layer: str, name: str | None = None) -> LayerStyle | None:
    return next((s for s in styles if s.layer == layer and (name is None or s.name == name)), None)


def _layers(result: StudyResult) -> dict[str, gpd.GeoDataFrame]:
    out = {"blocks": result.blocks, "streets": result.streets, "facilities": result.facilities,
           "study_area": result.area, **result.layers}
    return {k: v for k, v in out.items() if v is not None and len(v)}


def _map_specs(result: StudyResult, styles: Sequence[LayerStyle], lang: str) -> list[dict[str, Any]]:
    L = _layers(result)
    specs = []

    def add(slug: str, title: str, main: tuple[str, str | None], extra: Sequence[tuple[str, str | None]] = (),
            background: bool = True) -> None:
        st = _style(styles, *main)
        if st is not None and main[0] in L:
            specs.append({"slug": slug, "title": title, "main": (L[main[0]], st),
                          "extra": [(L[n], s) for n, sn in extra if n in L and (s := _style(styles, n, sn))],
                          "background": background})

    n = len(result.categories)
    add("coverage", label("static.coverage", lang, n=n), ("blocks", "coverage"))
    add("walkability", label("static.walkability", lang), ("blocks", "walkability"), [("streets", None)],
        background=False)
    add("heritage", label("static.heritage", lang), ("blocks", "heritage class"),
        [("heritage", None), ("heritage_buildings", None)])
    add("underserved", label("static.underserved", lang), ("blocks", "underserved"), [("zones", None)])
    add("candidate_sites", label("static.candidate_sites", lang), ("candidate_sites", None), [])
    return specs


A4_LANDSCAPE = (11.69, 8.27)


def map_figure(result: StudyResult, spec: dict[str, Any], *, lang: str = "en",
               size: tuple[float, float] = A4_LANDSCAPE) -> Figure:
    """One static map: the main layer classed by its style, context, legend, scale bar, north arrow, notes."""
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(figsize=size)
        ax = fig.add_axes((0.02, 0.07, 0.66, 0.80))
        area = result.area
        xmin, ymin, xmax, ymax = area.total_bounds
        pad = 0.03 * max(xmax - xmin, ymax - ymin)
        streets = result.streets
        main, style = spec["main"]
        entries: list[tuple[Symbol, str, int]] = []
        if main is not result.blocks and "blocks" in _layers(result):
            _draw_symbol(ax, result.blocks, Symbol("fill", "#f0f0f0", opacity=1.0, outline="#bdbdbd", width=0.05),
                         zorder=1)
        if streets is not None and len(streets) and spec.get("background", True):
            _draw_symbol(ax, streets, Symbol("line", "#969696", width=0.12), zorder=1.5)
        entries += _draw(ax, main, style, zorder=2)
        for gdf, st in spec["extra"]:
            if st.layer == "streets":
                entries += _draw(ax, gdf, st, zorder=3, skip=[c.label for c in st.classes if c.value == "street"])
            elif st.layer == "zones":
                _draw_symbol(ax, gdf, Symbol("fill", "#000000", fill=False, outline="#252525", width=0.25), zorder=3)
                entries.append((Symbol("fill", "#ffffff", fill=False, outline="#252525", width=0.25),
                                label("layer.zones", lang), len(gdf)))
            else:
                entries += _draw(ax, gdf, st, zorder=3)
        if style.layer == "candidate_sites" and "selected" in main:
            sel = main[main["selected"].fillna(False).astype(bool)]
            for _, row in sel.iterrows():
                p = row.geometry.representative_point()
                ax.annotate(f"#{row['site_id']}", (p.x, p.y), xytext=(6, 6), textcoords="offset points", fontsize=8,
                            fontweight="bold", zorder=13,
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
        _draw_symbol(ax, area, Symbol("fill", "#000000", fill=False, outline="#000000", width=0.5), zorder=8)
        ax.set_xlim(xmin - pad, xmax + pad)
        ax.set_ylim(ymin - pad, ymax + pad)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        scale_bar(ax)
        c = area.to_crs("EPSG:4326").geometry.iloc[0].representative_point()
        north_arrow(ax, grid_convergence(result.crs, c.x, c.y))
        title = _safe(result.study.title or result.study.name, result.study.name)
        fig.text(0.02, 0.955, title, fontsize=13, fontweight="bold", va="top")
        fig.text(0.02, 0.915, spec["title"], fontsize=11, va="top")
        handles = [_handle(s, f"{label} ({n:,})") for s, label, n in entries]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.70, 0.90), frameon=False,
                   title=_safe(style.title, style.name), alignment="left", fontsize=8, title_fontsize=9)
        epsg = result.crs.to_epsg()
        crs_note = f"{result.crs.name}" + (f" (EPSG:{epsg})" if epsg else "")
        fig.text(0.02, 0.035, label("static.crs_note", lang, crs=crs_note,
                                    angle=f"{grid_convergence(result.crs, c.x, c.y):+.1f}"), fontsize=7)
        fig.text(0.02, 0.015, label("static.footer", lang, study=result.study.name, profile=result.profile.name,
                                    version=__version__, date=_dt.date.today().isoformat()),
                 fontsize=7, color="#444444")
    _pin_fonts(fig)
    return fig


def static_maps(result: StudyResult, folder: str | Path, *, formats: Sequence[str] = ("png", "pdf"),
                dpi: int = 150, lang: str | None = None) -> list[Path]:
    """Write the static maps of the study (``<slug>.png`` / ``.pdf``) into ``folder``; returns the files."""
    import matplotlib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _warn_font(lang or result.study.lang)
    lang = _figure_lang(lang or result.study.lang)
    styles = default_styles(_layers(result), lang=lang, catalogue=result.profile.catalogue)
    paths = []
    for spec in _map_specs(result, styles, lang):
        fig = map_figure(result, spec, lang=lang)
        with matplotlib.rc_context(_rc()):  # the fonts are resolved at savefig: the settings the figure was built with
            for fmt in formats:
                p = folder / f"{spec['slug']}.{fmt}"
                fig.savefig(p, dpi=dpi, metadata={"Creator": f"urban-microrenewal-toolkit {__version__}"}
                            if fmt == "pdf" else {"Software": None})
                paths.append(p)
    return paths


def coverage_map_png(result: StudyResult, dpi: int = 80) -> bytes | None:
    """A small PNG of the coverage map for the report (None when the study has no coverage style)."""
    _warn_font(result.study.lang)
    lang = _figure_lang(result.study.lang)
    styles = default_styles(_layers(result), lang=lang, catalogue=result.profile.catalogue)
    spec = next((s for s in _map_specs(result, styles, lang) if s["slug"] == "coverage"), None)
    if spec is None:
        return None
    return _png_bytes(map_figure(result, spec, lang=lang, size=(9.0, 6.4)), dpi=dpi)


