"""Layer styles for GIS clients: QGIS QML and OGC SLD, stored in the GeoPackage's ``layer_styles`` table.

A style is described once (:class:`LayerStyle`: renderer, attribute, classes and
symbols) and written three ways: as QGIS QML (``renderer-v2`` of type
``singleSymbol``, ``categorizedSymbol`` or ``graduatedSymbol``), as an SLD 1.1
(SE) document for GeoServer and other OGC clients, and, through
:func:`class_index`, as the colours of the static report maps, so QGIS, the PDFs
and the HTML report show the same classes in the same colours.

:func:`write_layer_styles` creates ``layer_styles`` the way QGIS (through GDAL)
does and registers it in ``gpkg_contents`` as an ``attributes`` table; QGIS
then opens every layer with its default style (``useAsDefault = 1``) and lists
the others in *Layer Properties > Style > Load Style > From database*.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..labels import label
from ..palette import (
    BANK_ACCESS,
    BANK_GAP,
    HERITAGE_COLOURS,
    HOSTILE_ROAD,
    LISTED_BUILDING,
    NO_DATA,
    OUTLINE,
    PROTECTED_ROAD,
    RAMP_COVERAGE,
    RAMP_REDS,
    RAMP_WALK,
    SITE_CANDIDATE,
    SITE_SELECTED,
    WATERFRONT_ACCESS,
    ZONE_COLOURS,
    category_colour,
    ramp,
    rgb,
)

__all__ = [
    "QGIS_VERSION",
    "LayerStyle",
    "StyleClass",
    "Symbol",
    "class_index",
    "default_styles",
    "export_qml",
    "geometry_kind",
    "graduated",
    "to_qml",
    "to_sld",
    "write_layer_styles"
]

QGIS_VERSION = "3.28.0-Firenze"  # the format written; QGIS 3.10 and later read it (older ones ignore extras)
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
SLD_NS = "http://www.opengis.net/sld"
SE_NS = "http://www.opengis.net/se"
OGC_NS = "http://www.opengis.net/ogc"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


# --------------------------------------------------------------- the model
@dataclass(frozen=True)
class Symbol:
    """One symbol: a fill (polygons), a line or a marker (points). Sizes and widths in millimetres."""

    kind: str  # "fill" | "line" | "marker"
    color: str  # "#rrggbb"
    opacity: float = 1.0  # of the fill / line / marker colour (outlines stay opaque)
    outline: str = OUTLINE
    width: float = 0.26  # outline width (fill, marker) or line width (line)
    size: float = 2.0  # marker diameter
    shape: str = "circle"  # marker: circle, square, triangle, star, diamond...
    fill: bool = True  # False: outline only (fill)


@dataclass
class StyleClass:
    """A class of a categorized (``value``; ``""`` = every other value) or graduated (``lower``-``upper``) style."""

    label: str
    symbol: Symbol
    value: Any = None
    lower: float | None = None
    upper: float | None = None
    sld_filter: tuple | None = None  # overrides the filter derived from attr/value (expressions)
    value_type: str = ""  # QGIS category value type: string, bool, NULL (default: from the value)

    @property
    def qgis_type(self) -> str:
        if self.value_type:
            return self.value_type
        return "NULL" if self.value == "" else "string"


@dataclass
class LayerStyle:
    """A layer's style: renderer type, attribute (field or QGIS expression), classes."""

    layer: str
    name: str
    renderer: str  # "singleSymbol" | "categorizedSymbol" | "graduatedSymbol"
    kind: str  # "fill" | "line" | "marker"
    title: str = ""
    attr: str | None = None
    symbol: Symbol | None = None  # singleSymbol
    classes: list[StyleClass] = field(default_factory=list)
    default: bool = True
    description: str = ""

    def qml(self) -> str:
        return to_qml(self)

    def sld(self) -> str:
        return to_sld(self)


# ----------------------------------------------------------------- colours
# The colours and ramp() are toolkit.palette's (shared with the web map); the names toolkit.labels's.
def _qgis_colour(hex_colour: str, opacity: float = 1.0) -> str:
    r, g, b = rgb(hex_colour)
    return f"{r},{g},{b},{round(255 * opacity)}"


# ---------------------------------------------------------------- defaults
def geometry_kind(gdf: gpd.GeoDataFrame) -> str | None:
    """``fill``, ``line`` or ``marker`` from the layer's geometry types (None: no geometry)."""
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        return None
    types = set(gdf.geometry.geom_type.dropna().unique())
    if not types:
        return None
    if types <= {"Point", "MultiPoint"}:
        return "marker"
    if types <= {"LineString", "MultiLineString", "LinearRing"}:
        return "line"
    return "fill"


def _base(kind: str, colour: str, **kw: Any) -> Symbol:
    if kind == "fill":
        return Symbol("fill", colour, opacity=kw.pop("opacity", 0.75), width=kw.pop("width", 0.1), **kw)
    if kind == "line":
        return Symbol("line", colour, width=kw.pop("width", 0.4), **kw)
    return Symbol("marker", colour, size=kw.pop("size", 2.0), width=kw.pop("width", 0.2),
                  outline=kw.pop("outline", "#232323"), **kw)


def _bool_classes(kind: str, yes: tuple[str, str], no: tuple[str, str], none_label: str,
                  **kw: Any) -> list[StyleClass]:
    """true / false / (NULL or other) classes of a boolean field, as QGIS writes them."""
    return [StyleClass(yes[0], _base(kind, yes[1], **kw), value="true", value_type="bool"),
            StyleClass(no[0], _base(kind, no[1], **kw), value="false", value_type="bool"),
            StyleClass(none_label, _base(kind, NO_DATA, **kw), value="")]


def _breaks(values: pd.Series, k: int = 5) -> list[float]:
    """Quantile class breaks (unique, rounded for legible labels)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return []
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return [lo, hi]
    span = hi - lo
    digits = max(0, 2 - int(np.floor(np.log10(span))))
    qs = np.quantile(v, np.linspace(0, 1, k + 1))
    inner = sorted({round(float(q), digits) for q in qs[1:-1]} - {round(lo, digits), round(hi, digits)})
    inner = [q for q in inner if lo < q < hi]
    return [lo, *inner, hi]


#: what a NULL becomes for a graduated renderer (below any class; see :func:`graduated`)
NULL_SENTINEL = -1e30


def _fmt_number(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def graduated(layer: str, name: str, kind: str, attr: str, values: pd.Series, colours: Sequence[str], *,
              k: int = 5, digits: int | None = None, **opts: Any) -> LayerStyle:
    """A graduated-colour style over quantile classes of ``values``.

    ``opts`` are the style's ``title``, ``default`` and ``description`` (:class:`LayerStyle`), the rest the
    symbol's (``opacity``, ``width``...).

    Examples
    --------
    >>> s = graduated("zones", "zones", "fill", "pop", pd.Series([1.0, 5, 9, 20]), ["#fee5d9", "#a50f15"],
    ...               k=2, title="Residents", opacity=0.7)
    >>> s.title, len(s.classes), s.classes[0].label
    ('Residents', 2, '1.0 – 7.0')
    """
    title = opts.pop("title", "")
    default = opts.pop("default", True)
    description = opts.pop("description", "")
    sym = opts
    no_data_label = opts.pop("no_data_label", None)
    br = _breaks(values, k)
    classes: list[StyleClass] = []
    field = attr
    if len(br) >= 2 and pd.to_numeric(values, errors="coerce").isna().any():
        # QGIS draws nothing for a NULL under a graduated renderer: the features would vanish. NULL is
        # mapped to a sentinel below every class, drawn in the no-data grey and named in the legend.
        attr = f'coalesce("{field}", {NULL_SENTINEL:g})'
        classes.append(StyleClass(no_data_label or label("legend.no_data", "en"), _base(kind, NO_DATA, **{
            k_: v for k_, v in opts.items() if k_ in ("width", "size", "outline")}), lower=NULL_SENTINEL,
            upper=NULL_SENTINEL, sld_filter=("isnull", field)))
    if len(br) >= 2:
        n = len(br) - 1
        if digits is None:
            span = br[-1] - br[0]
            digits = 0 if span >= 100 else (1 if span >= 10 else 2)
        for i, (lo, hi, col) in enumerate(zip(br[:-1], br[1:], ramp(colours, n), strict=True)):
            text = f"{_fmt_number(lo, digits)} – {_fmt_number(hi, digits)}"
            flt = ("and", [("ge" if i == 0 else "gt", field, f"{lo:.10g}"), ("le", field, f"{hi:.10g}")])
            classes.append(StyleClass(text, _base(kind, col, **sym), lower=lo, upper=hi,
                                      sld_filter=flt if attr != field else None))
    return LayerStyle(layer, name, "graduatedSymbol", kind, title=title or attr, attr=attr, classes=classes,
                      default=default, description=description)


def _blocks_styles(blocks: gpd.GeoDataFrame, lang: str) -> list[LayerStyle]:
    styles = []
    kind = geometry_kind(blocks) or "fill"
    n = int(blocks["n_measured"].max()) if "n_measured" in blocks and len(blocks) else 0
    if "n_within" in blocks:
        cols = ramp(RAMP_COVERAGE, n + 1)
        classes = [StyleClass(label("legend.n_of", lang, i=i, n=n), _base(kind, cols[i]),
                              lower=i - 0.5, upper=i + 0.5) for i in range(n + 1)]
        styles.append(LayerStyle(
            "blocks", "coverage", "graduatedSymbol", kind,
            title=label("col.n_within", lang, cap=True), attr="n_within",
            classes=classes, description=label("style_desc.coverage", lang)))
    if "walk_index" in blocks:
        styles.append(graduated("blocks", "walkability", kind, "walk_index", blocks["walk_index"], RAMP_WALK,
                                no_data_label=label("legend.no_data", lang), title=label("style.walkability", lang),
                                digits=2, default=False, description=label("style_desc.walkability", lang)))
    if "heritage_class" in blocks:
        classes = [StyleClass(label(f"heritage.{c}", lang), _base(kind, HERITAGE_COLOURS[c]), value=c)
                   for c in ("core", "buffer", "none")]
        classes.append(StyleClass(label("legend.not_assessed", lang), _base(kind, NO_DATA), value=""))
        styles.append(LayerStyle("blocks", "heritage class", "categorizedSymbol", kind,
                                 title=label("col.heritage_class", lang, cap=True), attr="heritage_class",
                                 classes=classes, default=False, description=label("style_desc.heritage_class", lang)))
    if "underserved" in blocks:
        styles.append(LayerStyle(
            "blocks", "underserved", "categorizedSymbol", kind, title=label("layer.underserved", lang),
            attr="underserved", default=False, description=label("style_desc.underserved", lang),
            classes=_bool_classes(kind, (label("legend.underserved", lang), "#de2d26"),
                                  (label("legend.served", lang), "#f0f0f0"), label("legend.no_data", lang))))
    if not styles:
        styles.append(LayerStyle("blocks", "blocks", "singleSymbol", kind, symbol=_base(kind, "#9ecae1")))
    return styles


def _streets_style(streets: gpd.GeoDataFrame, lang: str) -> LayerStyle:
    parts, classes = [], []
    if "protected_road" in streets:
        parts.append(("protected_road", "protected", label("layer.protected_roads", lang),
                      Symbol("line", PROTECTED_ROAD, width=1.2)))
    if "walk_hostile" in streets:
        parts.append(("walk_hostile", "hostile", label("layer.hostile", lang),
                      Symbol("line", HOSTILE_ROAD, width=0.8)))
    if not parts:
        return LayerStyle("streets", "streets", "singleSymbol", "line", symbol=Symbol("line", "#737373", width=0.3),
                          title=label("layer.streets", lang))
    cases = " ".join(f'WHEN "{col}" THEN \'{val}\'' for col, val, _, _ in parts)
    attr = f"CASE {cases} ELSE 'street' END"
    earlier: list[tuple] = []
    for col, val, text, sym in parts:
        cond = ("eq", col, "true")
        flt = ("and", [*[("not", e) for e in earlier], cond]) if earlier else cond
        classes.append(StyleClass(text, sym, value=val, sld_filter=flt))
        earlier.append(cond)
    classes.append(StyleClass(label("legend.other_street", lang), Symbol("line", "#737373", width=0.3),
                              value="street", sld_filter=("else",)))
    return LayerStyle("streets", "streets", "categorizedSymbol", "line", title=label("layer.streets", lang),
                      attr=attr, classes=classes, description=label("style_desc.streets", lang))


def _facilities_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str,
                      cats: Mapping[str, Any]) -> LayerStyle | None:
    if "category" not in gdf:
        return None
    present = [c for c in cats if c in set(gdf["category"].dropna())]
    present += sorted(set(gdf["category"].dropna()) - set(present))
    classes = [StyleClass(cats[c].label(lang) if c in cats else str(c),
                          _base(kind, category_colour(c), size=2.2), value=c) for c in present]
    return LayerStyle(name, "facilities", "categorizedSymbol", kind, title=label("style.facilities", lang),
                      attr="category", classes=classes, description=label("style_desc.facilities", lang))


def _heritage_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "kind" not in gdf:
        return None
    classes = [StyleClass(label(f"heritage.{k}", lang),
                          Symbol("fill", c, opacity=0.25 if k == "style_area" else 0.45, outline=c, width=0.5),
                          value=k) for k, c in ZONE_COLOURS.items()]
    return LayerStyle(name, "heritage", "categorizedSymbol", kind, title=label("layer.heritage", lang), attr="kind",
                      classes=classes, description=label("style_desc.heritage", lang))


def _buildings_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle:
    return LayerStyle(name, "heritage buildings", "singleSymbol", kind, title=label("layer.heritage_buildings", lang),
                      symbol=_base(kind, LISTED_BUILDING, size=1.6, shape="square", outline="#ffffff"))


def _waterfront_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "access" not in gdf:
        return None
    return LayerStyle(name, "waterfront", "categorizedSymbol", kind, title=label("layer.waterfront", lang),
                      attr="access", description=label("style_desc.waterfront", lang),
                      classes=_bool_classes(kind, (label("legend.bank_access", lang), BANK_ACCESS),
                                            (label("legend.bank_gap", lang), BANK_GAP),
                                            label("legend.unknown", lang), width=1.2))


def _access_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle:
    return LayerStyle(name, "waterfront access", "singleSymbol", kind, title=label("layer.waterfront_access", lang),
                      symbol=_base(kind, WATERFRONT_ACCESS, size=3.0, outline="#ffffff"))


def _compounds_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle:
    if "old" not in gdf:
        return LayerStyle(name, "compounds", "singleSymbol", kind, title=label("layer.compounds", lang),
                          symbol=_base(kind, "#3182bd", size=1.8, outline="#ffffff"))
    return LayerStyle(
        name, "compounds", "categorizedSymbol", kind, title=label("layer.compounds", lang),
        attr="old", description=label("style_desc.compounds", lang),
        classes=_bool_classes(kind, (label("legend.old_compound", lang), "#e6550d"),
                              (label("legend.newer_compound", lang), "#3182bd"),
                              label("legend.year_unknown", lang), size=1.8, outline="#ffffff"))


def _zones_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "underserved_pop" not in gdf:
        return None
    return graduated(name, "zones", kind, "underserved_pop", gdf["underserved_pop"], RAMP_REDS,
                     no_data_label=label("legend.no_data", lang),
                     title=label("col.underserved_pop", lang, cap=True), digits=0, opacity=0.7, width=0.3,
                     description=label("style_desc.zones", lang))


def _sites_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "selected" not in gdf:
        return None
    sel = Symbol("marker", SITE_SELECTED[0], outline=SITE_SELECTED[1], width=0.4, size=5.0, shape="star")
    cand = Symbol("marker", SITE_CANDIDATE[0], outline=SITE_CANDIDATE[1], width=0.2, size=2.2)
    return LayerStyle(name, "candidate sites", "categorizedSymbol", kind,
                      title=label("layer.candidate_sites", lang), attr="selected",
                      description=label("style_desc.candidate_sites", lang),
                      classes=[StyleClass(label("term.selected", lang), sel, value="true", value_type="bool"),
                               StyleClass(label("legend.candidate", lang), cand, value="false", value_type="bool"),
                               StyleClass(label("legend.not_scored", lang), cand, value="")])


def _area_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle:
    return LayerStyle(name, "study area", "singleSymbol", kind, title=label("layer.study_area", lang),
                      symbol=Symbol("fill", "#ffffff", fill=False, outline="#000000", width=0.6))


# A layer's default style by its name; None (the columns it needs are missing) falls back to a plain symbol.
def _catchments_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "category" not in gdf:
        return None
    from ..palette import category_colour

    keys = [c for c in pd.unique(gdf["category"].dropna()) if str(c)]
    classes = [StyleClass(cats[c].label(lang) if c in cats else str(c), _base(kind, category_colour(str(c)),
                          opacity=0.35, width=0.4, outline=OUTLINE), value=str(c)) for c in keys]
    classes.append(StyleClass(label("qgis.hub", lang), _base(kind, SITE_SELECTED[0], opacity=0.5, width=0.8,
                                                              outline=SITE_SELECTED[1]), value=""))
    return LayerStyle(name, "catchments", "categorizedSymbol", kind, title=label("layer.catchments", lang),
                      attr="category", classes=classes,
                      description=label("style_desc.catchments", lang))


def _service_areas_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "minutes" not in gdf:
        return None
    mins = sorted({int(m) for m in pd.to_numeric(gdf["minutes"], errors="coerce").dropna()})
    colours = ramp(["#08519c", "#9ecae1"], len(mins))  # the shortest walk darkest
    classes = [StyleClass(label("qgis.walk_minutes", lang, n=m), _base(kind, c, opacity=0.35, width=0.2),
                          value=str(m), value_type="integer") for m, c in zip(mins, colours, strict=True)]
    return LayerStyle(name, "service_areas", "categorizedSymbol", kind, title=label("layer.service_areas", lang),
                      attr="minutes", classes=classes, description=label("style_desc.service_areas", lang))


def _life_circle_style(name: str, gdf: gpd.GeoDataFrame, kind: str, lang: str, cats: Any) -> LayerStyle | None:
    if "status" not in gdf:
        return None
    classes = [StyleClass(label(f"qgis.lc_{s}", lang), _base(kind, c, opacity=0.45, width=0.6, outline=OUTLINE),
                          value=s) for s, c in (("in_range", "#f0f0f0"), ("below", "#9ecae1"), ("above", "#fc9272"))]
    return LayerStyle(name, "life_circle", "categorizedSymbol", kind, title=label("layer.zones_life_circle", lang),
                      attr="status", classes=classes, description=label("style_desc.life_circle", lang))


_LAYER_STYLES: dict[str, Callable[..., LayerStyle | None]] = {
    "catchments": _catchments_style, "service_areas": _service_areas_style,
    "zones_life_circle": _life_circle_style,
    "facilities": _facilities_style, "heritage": _heritage_style, "heritage_buildings": _buildings_style,
    "waterfront": _waterfront_style, "waterfront_access": _access_style, "compounds": _compounds_style,
    "zones": _zones_style, "candidate_sites": _sites_style, "study_area": _area_style,
}


def _overlay_styles(blocks: gpd.GeoDataFrame, lang: str, overlays: Mapping[str, Any] | None) -> list[LayerStyle]:
    """A graduated style (quintiles, not the default) per block column an overlay maps (``result.overlays``).

    The fallback for overlays registered with :mod:`toolkit.overlays`: the built-in ones map nothing there.
    """
    from .. import palette

    kind = geometry_kind(blocks) or "fill"
    out = []
    for o in (overlays or {}).values():
        if not getattr(o, "present", False):
            continue
        for col, ramp_name in o.mapped_columns().items():
            if col not in blocks or blocks[col].dtype.kind not in "iuf":
                continue
            doc = o.column_doc("blocks", col)
            out.append(graduated("blocks", col[:30], kind, col, blocks[col], getattr(palette, ramp_name, RAMP_REDS),
                                 no_data_label=label("legend.no_data", lang),
                                 title=doc.label(lang) if doc else col, default=False,
                                 description=label("style_desc.overlay", lang, col=col,
                                                   overlay=o.title(lang) or label("map.group_overlays", lang))))
    return out


def default_styles(layers: Mapping[str, gpd.GeoDataFrame], lang: str = "en",
                   catalogue: Mapping[str, Any] | None = None,
                   overlays: Mapping[str, Any] | None = None) -> list[LayerStyle]:
    """The styles of every spatial layer: exactly one ``default`` per layer, first in the list.

    ``overlays`` (``StudyResult.overlays``) add a graduated style per block column a
    registered overlay maps (:meth:`toolkit.overlays.OverlayOutput.mapped_columns`).

    ``catalogue`` labels the facility categories (the run's
    :attr:`toolkit.standards.Profile.catalogue`, with a study's own); the
    built-in categories when omitted. Titles and class names are the glossary's
    (:func:`toolkit.labels.label`), colours :mod:`toolkit.palette`'s.
    """
    from ..standards import categories

    cats = catalogue if catalogue is not None else categories()
    out: list[LayerStyle] = []
    for name, gdf in layers.items():
        kind = geometry_kind(gdf) if gdf is not None and len(gdf) else None
        if kind is None:
            continue
        if name == "blocks":
            out += _blocks_styles(gdf, lang) + _overlay_styles(gdf, lang, overlays)
            continue
        if name == "streets":
            out.append(_streets_style(gdf, lang))
            continue
        make = _LAYER_STYLES.get(name)
        style = make(name, gdf, kind, lang, cats) if make is not None else None
        out.append(style if style is not None else LayerStyle(name, name[:30], "singleSymbol", kind, title=name,
                                                              symbol=_base(kind, "#3182bd")))
    return out


# --------------------------------------------------------------------- QML
def _symbol_props(s: Symbol) -> dict[str, str]:
    unit_scale = "3x:0,0,0,0,0,0"
    if s.kind == "fill":
        return {"border_width_map_unit_scale": unit_scale, "color": _qgis_colour(s.color, s.opacity),
                "joinstyle": "bevel", "offset": "0,0", "offset_map_unit_scale": unit_scale, "offset_unit": "MM",
                "outline_color": _qgis_colour(s.outline), "outline_style": "solid" if s.width > 0 else "no",
                "outline_width": f"{s.width:g}", "outline_width_unit": "MM", "style": "solid" if s.fill else "no"}
    if s.kind == "line":
        return {"align_dash_pattern": "0", "capstyle": "round", "customdash": "5;2", "customdash_unit": "MM",
                "draw_inside_polygon": "0", "joinstyle": "round", "line_color": _qgis_colour(s.color, s.opacity),
                "line_style": "solid", "line_width": f"{s.width:g}", "line_width_unit": "MM", "offset": "0",
                "offset_unit": "MM", "ring_filter": "0", "use_custom_dash": "0", "width_map_unit_scale": unit_scale}
    return {"angle": "0", "color": _qgis_colour(s.color, s.opacity), "horizontal_anchor_point": "1",
            "joinstyle": "bevel", "name": s.shape, "offset": "0,0", "offset_map_unit_scale": unit_scale,
            "offset_unit": "MM", "outline_color": _qgis_colour(s.outline), "outline_style": "solid",
            "outline_width": f"{s.width:g}", "outline_width_unit": "MM", "scale_method": "diameter",
            "size": f"{s.size:g}", "size_map_unit_scale": unit_scale, "size_unit": "MM", "vertical_anchor_point": "1"}


_LAYER_CLASS = {"fill": "SimpleFill", "line": "SimpleLine", "marker": "SimpleMarker"}


def _empty_ddp(parent: ET.Element, tag: str = "data_defined_properties") -> None:
    opt = ET.SubElement(ET.SubElement(parent, tag), "Option", type="Map")
    ET.SubElement(opt, "Option", type="QString", name="name", value="")
    ET.SubElement(opt, "Option", name="properties")
    ET.SubElement(opt, "Option", type="QString", name="type", value="collection")


def _options(parent: ET.Element, props: Mapping[str, str]) -> None:
    # QGIS >= 3.26 reads the <Option type="Map"> block; earlier 3.x versions read the <prop k= v=/> list.
    opt = ET.SubElement(parent, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opt, "Option", type="QString", name=k, value=v)
    for k, v in props.items():
        ET.SubElement(parent, "prop", k=k, v=v)


def _qml_symbol(parent: ET.Element, name: str, s: Symbol) -> None:
    sym = ET.SubElement(parent, "symbol", type=s.kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0",
                        is_animated="0", frame_rate="10")
    _empty_ddp(sym)
    layer = ET.SubElement(sym, "layer", {"class": _LAYER_CLASS[s.kind], "enabled": "1", "locked": "0", "pass": "0"})
    _options(layer, _symbol_props(s))
    _empty_ddp(layer)


def to_qml(style: LayerStyle) -> str:
    """The style as a QGIS 3 ``.qml`` document (symbology only)."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    r = ET.SubElement(root, "renderer-v2", type=style.renderer, symbollevels="0", enableorderby="0",
                      forceraster="0", referencescale="-1")
    if style.renderer == "singleSymbol" or not style.classes:
        r.set("type", "singleSymbol")
        symbols = ET.SubElement(r, "symbols")
        _qml_symbol(symbols, "0", style.symbol or _base(style.kind, "#3182bd"))
    elif style.renderer == "categorizedSymbol":
        r.set("attr", style.attr or "")
        cats = ET.SubElement(r, "categories")
        symbols = ET.SubElement(r, "symbols")
        for i, c in enumerate(style.classes):
            ET.SubElement(cats, "category", symbol=str(i), value=str(c.value), label=c.label, render="true",
                          type=c.qgis_type, uuid=f"{{{style.layer}-{i}}}")
            _qml_symbol(symbols, str(i), c.symbol)
        _qml_symbol(ET.SubElement(r, "source-symbol"), "0", style.classes[0].symbol)
    elif style.renderer == "graduatedSymbol":
        r.set("attr", style.attr or "")
        r.set("graduatedMethod", "GraduatedColor")
        ranges = ET.SubElement(r, "ranges")
        symbols = ET.SubElement(r, "symbols")
        for i, c in enumerate(style.classes):
            ET.SubElement(ranges, "range", lower=f"{c.lower:.15f}", upper=f"{c.upper:.15f}", symbol=str(i),
                          label=c.label, render="true", uuid=f"{{{style.layer}-{i}}}")
            _qml_symbol(symbols, str(i), c.symbol)
        _qml_symbol(ET.SubElement(r, "source-symbol"), "0", style.classes[0].symbol)
        cr = ET.SubElement(r, "colorramp", type="gradient", name="[source]")
        cols = [c.symbol.color for c in style.classes]
        stops = ":".join(f"{i / max(len(cols) - 1, 1):.4f};{_qgis_colour(c)}" for i, c in enumerate(cols[1:-1], 1))
        _options(cr, {"color1": _qgis_colour(cols[0]), "color2": _qgis_colour(cols[-1]), "discrete": "0",
                      "rampType": "gradient", "stops": stops})
        cm = ET.SubElement(r, "classificationMethod", id="Custom")
        ET.SubElement(cm, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
        ET.SubElement(cm, "labelFormat", format="%1 - %2", labelprecision="2", trimtrailingzeroes="1")
        ET.SubElement(cm, "parameters")
        ET.SubElement(cm, "extraInformation")
    else:
        raise ValueError(f"unknown renderer {style.renderer!r}")
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = {"marker": "0", "line": "1", "fill": "2"}[style.kind]
    ET.indent(root, space="  ")
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------- SLD
def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _field_name(attr: str | None) -> str | None:
    """The plain field behind ``attr`` (None when ``attr`` is an expression)."""
    return attr if attr and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", attr) else None


def _sld_filter(parent: ET.Element, spec: tuple) -> None:
    op = spec[0]
    if op == "else":
        ET.SubElement(parent, _q(SE_NS, "ElseFilter"))
        return
    flt = ET.SubElement(parent, _q(OGC_NS, "Filter"))
    _sld_expr(flt, spec)


def _sld_expr(parent: ET.Element, spec: tuple) -> None:
    op = spec[0]
    if op in ("and", "or"):
        node = ET.SubElement(parent, _q(OGC_NS, "And" if op == "and" else "Or"))
        for sub in spec[1]:
            _sld_expr(node, sub)
    elif op == "not":
        _sld_expr(ET.SubElement(parent, _q(OGC_NS, "Not")), spec[1])
    elif op == "isnull":
        node = ET.SubElement(parent, _q(OGC_NS, "PropertyIsNull"))
        ET.SubElement(node, _q(OGC_NS, "PropertyName")).text = spec[1]
    else:
        tag = {"eq": "PropertyIsEqualTo", "ge": "PropertyIsGreaterThanOrEqualTo", "gt": "PropertyIsGreaterThan",
               "le": "PropertyIsLessThanOrEqualTo"}[op]
        node = ET.SubElement(parent, _q(OGC_NS, tag))
        ET.SubElement(node, _q(OGC_NS, "PropertyName")).text = spec[1]
        ET.SubElement(node, _q(OGC_NS, "Literal")).text = str(spec[2])


def _css(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, _q(SE_NS, "SvgParameter"), name=name).text = value


_MM_TO_PX = 3.78  # SLD sizes are in pixels (0.28 mm)


def _sld_symbolizer(parent: ET.Element, s: Symbol) -> None:
    if s.kind == "fill":
        sym = ET.SubElement(parent, _q(SE_NS, "PolygonSymbolizer"))
        if s.fill:
            fill = ET.SubElement(sym, _q(SE_NS, "Fill"))
            _css(fill, "fill", s.color)
            _css(fill, "fill-opacity", f"{s.opacity:g}")
        if s.width > 0:
            st = ET.SubElement(sym, _q(SE_NS, "Stroke"))
            _css(st, "stroke", s.outline)
            _css(st, "stroke-width", f"{max(s.width * _MM_TO_PX, 0.5):.1f}")
    elif s.kind == "line":
        st = ET.SubElement(ET.SubElement(parent, _q(SE_NS, "LineSymbolizer")), _q(SE_NS, "Stroke"))
        _css(st, "stroke", s.color)
        _css(st, "stroke-width", f"{max(s.width * _MM_TO_PX, 0.5):.1f}")
        _css(st, "stroke-linecap", "round")
    else:
        g = ET.SubElement(ET.SubElement(parent, _q(SE_NS, "PointSymbolizer")), _q(SE_NS, "Graphic"))
        mark = ET.SubElement(g, _q(SE_NS, "Mark"))
        ET.SubElement(mark, _q(SE_NS, "WellKnownName")).text = {"diamond": "square"}.get(s.shape, s.shape)
        fill = ET.SubElement(mark, _q(SE_NS, "Fill"))
        _css(fill, "fill", s.color)
        st = ET.SubElement(mark, _q(SE_NS, "Stroke"))
        _css(st, "stroke", s.outline)
        _css(st, "stroke-width", f"{max(s.width * _MM_TO_PX, 0.5):.1f}")
        ET.SubElement(g, _q(SE_NS, "Size")).text = f"{s.size * _MM_TO_PX:.0f}"


def _class_filter(style: LayerStyle, i: int, c: StyleClass) -> tuple | None:
    if c.sld_filter is not None:
        return c.sld_filter
    fname = _field_name(style.attr)
    if fname is None:
        return None
    if style.renderer == "graduatedSymbol":
        return ("and", [("ge" if i == 0 else "gt", fname, f"{c.lower:.10g}"), ("le", fname, f"{c.upper:.10g}")])
    if c.value == "":
        return ("else",)
    return ("eq", fname, c.value)


def to_sld(style: LayerStyle) -> str:
    """The style as an SLD 1.1.0 (Symbology Encoding) document."""
    for prefix, ns in (("", SLD_NS), ("se", SE_NS), ("ogc", OGC_NS), ("xsi", XSI_NS)):
        ET.register_namespace(prefix, ns)
    root = ET.Element(_q(SLD_NS, "StyledLayerDescriptor"), {
        "version": "1.1.0",
        _q(XSI_NS, "schemaLocation"): "http://www.opengis.net/sld "
                                       "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"})
    nl = ET.SubElement(root, _q(SLD_NS, "NamedLayer"))
    ET.SubElement(nl, _q(SE_NS, "Name")).text = style.layer
    us = ET.SubElement(nl, _q(SLD_NS, "UserStyle"))
    ET.SubElement(us, _q(SE_NS, "Name")).text = style.name
    fts = ET.SubElement(us, _q(SE_NS, "FeatureTypeStyle"))
    if style.renderer == "singleSymbol" or not style.classes:
        rule = ET.SubElement(fts, _q(SE_NS, "Rule"))
        ET.SubElement(rule, _q(SE_NS, "Name")).text = style.title or style.layer
        _sld_symbolizer(rule, style.symbol or _base(style.kind, "#3182bd"))
    else:
        for i, c in enumerate(style.classes):
            flt = _class_filter(style, i, c)
            if flt is None:  # an expression SLD cannot say: the first class only, unfiltered
                if i:
                    continue
            rule = ET.SubElement(fts, _q(SE_NS, "Rule"))
            ET.SubElement(rule, _q(SE_NS, "Name")).text = c.label
            descr = ET.SubElement(rule, _q(SE_NS, "Description"))
            ET.SubElement(descr, _q(SE_NS, "Title")).text = c.label
            if flt is not None:
                _sld_filter(rule, flt)
            _sld_symbolizer(rule, c.symbol)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------- classes in Python
def class_index(gdf: pd.DataFrame, style: LayerStyle) -> np.ndarray:
    """Per row, the index of the style class it falls in (-1: none), as QGIS would assign it."""
    n = len(gdf)
    out = np.full(n, -1)
    if style.renderer == "singleSymbol" or not style.classes:
        return np.zeros(n, dtype=int)
    if style.renderer == "graduatedSymbol":
        m = re.fullmatch(r'coalesce\("(\w+)", (\S+)\)', style.attr or "")
        col = m.group(1) if m else style.attr
        v = pd.to_numeric(gdf[col], errors="coerce").to_numpy(dtype=float)
        if m:
            v = np.where(np.isnan(v), float(m.group(2)), v)
        for i, c in enumerate(style.classes):
            hit = (v >= c.lower) & (v <= c.upper) & (out < 0)  # as QGIS: bounds inclusive, the first range wins
            out[hit] = i
        return out
    fname = _field_name(style.attr)
    if fname is not None:
        keys = _as_category_string(gdf[fname])
    else:  # an expression: evaluate its CASE from the classes' SLD filters
        keys = np.full(n, "", dtype=object)
        for c in style.classes:
            if c.sld_filter is not None and c.sld_filter[0] != "else":
                m = _eval_filter(gdf, c.sld_filter) & (keys == "")
                keys[m] = c.value
        keys[keys == ""] = next((c.value for c in style.classes if c.sld_filter == ("else",)), "")
    lookup = {str(c.value): i for i, c in enumerate(style.classes)}
    default = lookup.get("", -1)
    return np.array([lookup.get(k, default) for k in keys], dtype=int)


def _as_category_string(s: pd.Series) -> np.ndarray:
    """Values as QGIS turns them into category keys (QVariant::toString): true/false, '' for NULL."""
    def one(v: Any) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        return str(v)

    return np.array([one(v) for v in s.tolist()], dtype=object)


def _eval_filter(df: pd.DataFrame, spec: tuple) -> np.ndarray:
    op = spec[0]
    if op == "and":
        return np.logical_and.reduce([_eval_filter(df, s) for s in spec[1]])
    if op == "or":
        return np.logical_or.reduce([_eval_filter(df, s) for s in spec[1]])
    if op == "not":
        return ~_eval_filter(df, spec[1])
    if op == "eq":
        return _as_category_string(df[spec[1]]) == str(spec[2])
    raise ValueError(f"unsupported filter {op!r}")


# --------------------------------------------------------------- GeoPackage
LAYER_STYLES_DDL = """
CREATE TABLE IF NOT EXISTS "layer_styles" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  "f_table_catalog" TEXT(256),
  "f_table_schema" TEXT(256),
  "f_table_name" TEXT(256),
  "f_geometry_column" TEXT(256),
  "styleName" TEXT(30),
  "styleQML" TEXT,
  "styleSLD" TEXT,
  "useAsDefault" BOOLEAN,
  "description" TEXT,
  "owner" TEXT(30),
  "ui" TEXT(30),
  "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""
# As GDAL creates it for QGIS (QgsOgrProviderMetadata::saveStyle): FID column "id", a CURRENT_TIMESTAMP
# default that the GPKG driver writes in the GeoPackage's ISO-8601 DATETIME form.

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


def write_layer_styles(gpkg: str | Path, styles: Sequence[LayerStyle]) -> int:
    """Store ``styles`` in the GeoPackage's ``layer_styles`` table; returns the number of styles written.

    The table is registered in ``gpkg_contents`` (``data_type = 'attributes'``) so
    the file stays a valid GeoPackage. A new default style for a layer clears the
    ``useAsDefault`` flag of the previous one, as QGIS does; a style of the same
    name for the same layer is replaced.
    """
    con = sqlite3.connect(str(gpkg))
    written = 0
    try:
        with con:
            geom = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
            con.execute(LAYER_STYLES_DDL)
            if not con.execute("SELECT 1 FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone():
                con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change)"
                            f" VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', {NOW})")
            for s in styles:
                if s.layer not in geom:
                    continue
                key = (s.layer, geom[s.layer])
                if s.default:
                    con.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_schema = '' AND "
                                "f_table_name = ? AND f_geometry_column = ?", key)
                con.execute("DELETE FROM layer_styles WHERE f_table_schema = '' AND f_table_name = ? AND "
                            "f_geometry_column = ? AND styleName = ?", (*key, s.name[:30]))
                con.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                    "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                    f"VALUES ('', '', ?, ?, ?, ?, ?, ?, ?, '', NULL, {NOW})",
                    (*key, s.name[:30], s.qml(), s.sld(), 1 if s.default else 0,
                     s.description or f"{s.title or s.name} (urban micro-renewal toolkit)"))
                written += 1
            con.execute(f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name = 'layer_styles'")
            if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'"
                           ).fetchone():
                n = con.execute("SELECT count(*) FROM layer_styles").fetchone()[0]
                con.execute("INSERT OR REPLACE INTO gpkg_ogr_contents (table_name, feature_count) "
                            "VALUES ('layer_styles', ?)", (n,))
    finally:
        con.close()
    return written


def export_qml(styles: Sequence[LayerStyle], folder: str | Path, prefix: str = "") -> list[Path]:
    """Write each default style as ``<prefix><layer>.qml`` and ``.sld`` (for loading by hand)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in styles:
        if not s.default:
            continue
        for ext, text in (("qml", s.qml()), ("sld", s.sld())):
            p = folder / f"{prefix}{s.layer}.{ext}"
            p.write_text(text, encoding="utf-8")
            paths.append(p)
    return paths
