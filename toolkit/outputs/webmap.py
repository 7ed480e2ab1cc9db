"""Interactive maps (folium / Leaflet): blocks coloured by coverage, facilities, classed legends, popups.

A map is one self-contained HTML file that works from ``file://`` with no internet (it is e-mailed
and opened from shared drives): Leaflet and d3 come from the npm packages installed at set-up and
are inlined by :mod:`toolkit.outputs.webassets`, and the default basemap is drawn from the study's own data.

Size: the blocks' geometry is written once, as a JSON data island, with their attributes by column;
every block layer (coverage, one per category, walkability, heritage class, waterfront, underserved)
is a Leaflet layer built in the browser from that shared data, styled by a class index computed here.

Basemaps (``study.basemap``): ``none``; ``offline`` (default: streets, water and heritage outlines of
the study, non-interactive, under everything); ``osm``, ``cartodb``, ``amap`` (Gaode, in GCJ-02: every
overlay is shifted to GCJ-02 for display) and ``tianditu`` (CGCS2000, taken as WGS84) tiles, which
need the internet.
"""

from __future__ import annotations

import html as _html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import folium
import mapclassify as mc
import numpy as np
import pandas as pd
import shapely
from branca.colormap import StepColormap
from branca.element import JavascriptLink, MacroElement
from folium.map import CustomPane, Layer
from folium.template import Template

from ..completeness import status_label
from ..crs import WGS84, from_wgs84
from ..errors import InputError
from ..labels import column, label
from ..palette import (
    BANK_ACCESS,
    BANK_GAP,
    HERITAGE_COLOURS,
    HOSTILE_ROAD,
    LISTED_BUILDING,
    NO_DATA,
    PROTECTED_ROAD,
    RAMP_COVERAGE,
    RAMP_REDS,
    RAMP_WALK,
    SITE_CANDIDATE,
    SITE_SELECTED,
    WATERFRONT_ACCESS,
    WITHIN_NO,
    WITHIN_YES,
    ZONE_COLOURS,
    category_colour,
    ramp,
)
from . import webassets

if TYPE_CHECKING:
    import geopandas as gpd

    from ..result import StudyResult

BASEMAPS = ("none", "offline", "osm", "cartodb", "amap", "tianditu")
BLOCK_CLASS = "tk-block"  # CSS class of every polygon of the main coverage layer
# colours: toolkit.palette (shared with the QGIS styles and the static maps); names: toolkit.labels (the glossary)

_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                               "\u2029": "\\u2029"})


def _json(obj: Any) -> str:
    # JSON written inside <script> elements, with names from OSM and other people's files in it: no "<", ">"
    # or "&" may appear literally, or "</script>" or "<!--" in a name would end or derail the element.
    # They only ever occur inside JSON strings, where "\u003c" means the same; U+2028/9 end lines in old JS.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).translate(_JSON_ESCAPES)


# --------------------------------------------------------- classed legends
@dataclass
class Classes:
    """A mapclassify classification of one block variable, ready for the map.

    ``yb`` holds each value's class (-1 where the value is missing or outside the subset classified),
    ``bins`` the classifier's upper bounds, ``index`` the legend's class edges ``[min, *bins]``.
    """

    classifier: Any
    yb: np.ndarray
    bins: np.ndarray
    index: list[float]
    discrete: bool  # one class per distinct value (few levels, e.g. n of 5 categories)


def classify(values: Any, scheme: str = "Quantiles", k: int = 5, mask: Any = None) -> Classes:
    """Classify ``values`` with mapclassify (``scheme`` is a mapclassify class name, e.g. Quantiles).

    A variable with at most ``k + 1`` distinct values (a share of 5 categories has 6) gets one class per
    value (``mapclassify.UserDefined`` with those values as bins), so no class ever merges two levels.
    Missing values, and values outside ``mask`` when given, get class -1.
    """
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) if mask is None else (np.isfinite(v) & np.asarray(mask, dtype=bool))
    y = v[ok]
    if len(y) == 0:
        raise ValueError("nothing to classify: no finite values")
    levels = np.unique(y)
    discrete = len(levels) <= k + 1
    if discrete:
        clf = mc.UserDefined(y, bins=list(levels))
    else:
        clf = getattr(mc, scheme)(y, k=k)
    yb = np.full(len(v), -1, dtype=int)
    yb[ok] = clf.yb
    bins = np.asarray(clf.bins, dtype=float)
    return Classes(classifier=clf, yb=yb, bins=bins, index=[float(y.min()), *map(float, bins)], discrete=discrete)


def _num(x: float, fmt: str) -> str:
    if fmt == "pct":
        return f"{x:.0%}"
    if fmt == "int":
        return f"{x:,.0f}"
    return f"{x:.{fmt}f}" if isinstance(fmt, int) else f"{x:.2f}"


class ClassLegend(StepColormap):
    """A branca StepColormap with mapclassify class edges, drawn as equal-width boxes (d3 v3).

    ``index`` is ``[min, *bins]``; ``colors`` has one colour per class. The legend is shown only while
    its ``layer`` is on the map.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.legend({{ this._parent.get_name() }}, {{ this.layer.get_name() }},
                                              {{ this.js(this.legend_options) }});
        {% endmacro %}
    """)

    js = staticmethod(_json)

    def __init__(self, colors: list[str], index: list[float], caption: str, layer: Layer, *,
                 labels: list[str] | None = None, ticks: list[str] | None = None,
                 nodata: str | None = None, position: str = "bottomright"):
        super().__init__(colors, index=index, vmin=index[0], vmax=index[-1], caption=caption)
        self._name = "ClassLegend"
        self.layer = layer
        self.legend_options = {"colors": list(colors), "caption": caption, "labels": labels, "ticks": ticks,
                               "nodata": nodata, "nodataColor": NO_DATA, "position": position,
                               "box": 58 if len(colors) <= 5 else max(36, 300 // len(colors))}

    def render(self, **kwargs):
        MacroElement.render(self, **kwargs)
        # the same d3 v3 branca's colour scales link (inlined from web/node_modules by webassets)
        self.get_root().header.add_child(
            JavascriptLink("https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js"), name="d3")


def class_legend(classes: Classes, colors: list[str], caption: str, layer: Layer, *, fmt: Any = 2,
                 nodata: str | None = None) -> ClassLegend:
    """The legend of ``classes``: boundary ticks, or one label per class for a discrete variable."""
    if classes.discrete:
        return ClassLegend(colors, classes.index, caption, layer, labels=[_num(b, fmt) for b in classes.bins],
                           nodata=nodata)
    return ClassLegend(colors, classes.index, caption, layer, ticks=[_num(b, fmt) for b in classes.index],
                       nodata=nodata)


# ------------------------------------------------------------ JS helpers
_CSS = """
<style>
.leaflet-container { background: %(bg)s; }
.tk-legend { background: rgba(255,255,255,0.92); padding: 6px 8px; border: 1px solid #999; border-radius: 4px;
             font: 12px/1.3 "Helvetica Neue", Arial, "PingFang SC", "Microsoft YaHei", sans-serif; }
.tk-legend-caption { font-weight: bold; margin-bottom: 3px; max-width: 330px; }
.tk-legend text { font-size: 11px; fill: #222; }
.tk-summary { background: rgba(255,255,255,0.94); padding: 8px; border: 1px solid #999; border-radius: 4px;
              font-size: 12px; max-width: 360px; max-height: 45vh; overflow: auto; }
.tk-summary table, .tk-table { border-collapse: collapse; }
.tk-summary td, .tk-summary th { padding: 0 6px 0 0; text-align: left; }
.tk-table th { text-align: left; font-weight: normal; color: #555; padding: 0 8px 0 0; }
.tk-table td { text-align: right; }
</style>
"""

_JS = r"""
var tk = (function () {
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function fmt(v, f) {
    if (v === null || v === undefined || v === "" || (typeof v === "number" && !isFinite(v))) return "\u2013";
    if (f === "int") return Math.round(v).toLocaleString("en-US");
    if (f === "pct") return Math.round(v * 100) + "%";
    if (typeof f === "number") return Number(v).toFixed(f);
    if (Array.isArray(f)) return esc(f[v ? 1 : 0]);
    return esc(v);
  }
  function table(cols, fields, i, title) {
    var h = title ? "<b>" + esc(title) + "</b>" : "";
    h += "<table class='tk-table'>";
    fields.forEach(function (f) {
      h += "<tr><th>" + esc(f[1]) + "</th><td>" + fmt(cols[f[0]][i], f[2]) + "</td></tr>";
    });
    return h + "</table>";
  }
  // Shared block geometry -> one Leaflet layer, coloured by a class index column.
  function blocks(data, o) {
    var cols = data.columns, feats = data.geojson.features;
    if (o.filter) feats = feats.filter(function (f) { return cols[o.filter][f.id]; });
    return L.geoJSON({type: "FeatureCollection", features: feats}, {
      attribution: o.attribution,
      style: function (f) {
        var s = L.extend({}, o.style);
        if (o.cls) {
          var c = cols[o.cls][f.id];
          s.fillColor = (c === null || c < 0) ? o.nodata : o.colors[c];
        }
        if (o.className) s.className = o.className;
        return s;
      },
      onEachFeature: function (f, l) {
        if (o.tooltip) l.bindTooltip(function () { return table(cols, o.tooltip, f.id); }, {sticky: true});
        if (o.popup) l.bindPopup(function () { return table(cols, o.popup, f.id, o.popupTitle); }, {maxWidth: 340});
      }
    });
  }
  // Static lines and polygons styled by their "k" property (the offline basemap).
  function geo(fc, o) {
    return L.geoJSON(fc, {pane: o.pane, interactive: false, attribution: o.attribution,
      style: function (f) { return o.styles[f.properties.k]; }});
  }
  // A GeoJSON layer's tooltip: the fields of the feature under the mouse, as text. (folium's
  // GeoJsonTooltip writes them into the page as HTML, and street names come from anyone's OSM edits.)
  function detail(fields, aliases) {
    return function (layer) {
      var p = (layer.feature && layer.feature.properties) || {};
      return "<table>" + fields.map(function (f, i) {
        var v = p[f];
        v = (v === null || v === undefined) ? "" : (typeof v === "object" ? JSON.stringify(v) : v);
        return "<tr><th>" + esc(aliases[i]) + "</th><td>" + esc(v) + "</td></tr>";
      }).join("") + "</table>";
    };
  }
  function points(o) {
    var g = L.featureGroup();
    o.points.forEach(function (p, i) {
      var m = L.circleMarker([p[0], p[1]], L.extend({}, o.style, o.styles ? o.styles[i] : null));
      if (o.popup && o.popup[i]) m.bindPopup(o.popup[i], {maxWidth: o.maxWidth || 320});
      if (o.tooltip && o.tooltip[i]) m.bindTooltip(o.tooltip[i]);
      g.addLayer(m);
    });
    return g;
  }
  // A classed legend (d3 v3), shown only while its layer is on the map.
  function legend(map, layer, o) {
    var ctl = L.control({position: o.position});
    var div = L.DomUtil.create("div", "tk-legend");
    var cap = L.DomUtil.create("div", "tk-legend-caption", div);
    cap.textContent = o.caption;
    var n = o.colors.length, bw = o.box, pad = 16, h = 14, extra = o.nodata ? bw + 12 : 0;
    var svg = d3.select(div).append("svg").attr("width", n * bw + 2 * pad + extra).attr("height", h + 18);
    var g = svg.append("g").attr("transform", "translate(" + pad + ",2)");
    g.selectAll("rect.tk-class").data(o.colors).enter().append("rect").attr("class", "tk-class")
      .attr("x", function (d, i) { return i * bw; }).attr("width", bw).attr("height", h)
      .style("fill", function (d) { return d; }).style("stroke", "#666").style("stroke-width", 0.5);
    var lab = o.labels ? o.labels.map(function (t, i) { return {t: t, x: (i + 0.5) * bw}; })
                       : o.ticks.map(function (t, i) { return {t: t, x: i * bw}; });
    g.selectAll("text.tk-tick").data(lab).enter().append("text").attr("class", "tk-tick")
      .attr("x", function (d) { return d.x; }).attr("y", h + 12).attr("text-anchor", "middle")
      .text(function (d) { return d.t; });
    if (o.nodata) {
      var x0 = n * bw + 12;
      g.append("rect").attr("x", x0).attr("width", bw / 2).attr("height", h).style("fill", o.nodataColor)
        .style("stroke", "#666").style("stroke-width", 0.5);
      g.append("text").attr("x", x0 + bw / 4).attr("y", h + 12).attr("text-anchor", "middle").text(o.nodata);
    }
    ctl.onAdd = function () { return div; };
    if (map.hasLayer(layer)) ctl.addTo(map);
    map.on("overlayadd", function (e) { if (e.layer === layer) ctl.addTo(map); });
    map.on("overlayremove", function (e) { if (e.layer === layer) ctl.remove(); });
    return ctl;
  }
  function summary(map, id) {
    var ctl = L.control({position: "bottomleft"});
    ctl.onAdd = function () {
      var div = document.getElementById(id);
      div.style.display = "block";
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    return ctl.addTo(map);
  }
  return {esc: esc, fmt: fmt, table: table, blocks: blocks, geo: geo, detail: detail, points: points,
          legend: legend, summary: summary};
})();
"""


class _Helpers(MacroElement):
    _template = Template("""
        {% macro header(this, kwargs) %}{{ this.css }}<script>{{ this.js }}</script>{% endmacro %}
    """)

    def __init__(self, background: str):
        super().__init__()
        self._name = "tk_helpers"
        self.css = _CSS % {"bg": background}
        self.js = _JS


class BlockData(MacroElement):
    """The blocks' geometry (once) and their attributes by column, as a JSON data island in the page."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.element_id }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = JSON.parse(document.getElementById({{ this.element_id|tojson }}).textContent);
        {% endmacro %}
    """)

    def __init__(self, geometry: list[dict], columns: dict[str, list], element_id: str = "tk-blocks"):
        super().__init__()
        self._name = "tk_blocks"
        self.element_id = element_id
        self.columns = columns
        self.geometry = geometry

    @property
    def payload(self) -> str:
        feats = [{"type": "Feature", "id": i, "properties": {}, "geometry": g} for i, g in enumerate(self.geometry)]
        return _json({"geojson": {"type": "FeatureCollection", "features": feats}, "columns": self.columns})


class BlockLayer(Layer):
    """One analysis layer of blocks, built in the browser from the shared :class:`BlockData`."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.blocks({{ this.data.get_name() }}, {{ this.js(this.options) }});
        {% endmacro %}
    """)

    js = staticmethod(_json)

    def __init__(self, data: BlockData, name: str, *, cls: str | None = None, colors: list[str] | None = None,
                 style: dict | None = None, tooltip: list | None = None, popup: list | None = None,
                 popup_title: str | None = None, filter: str | None = None, class_name: str | None = None,
                 show: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BlockLayer"
        self.data = data
        self.options = {"cls": cls, "colors": colors, "nodata": NO_DATA, "filter": filter,
                        "style": {"color": "#555555", "weight": 0.3, "fillOpacity": 0.7, **(style or {})},
                        "tooltip": tooltip, "popup": popup, "popupTitle": popup_title, "className": class_name}


class PointLayer(Layer):
    """Circle markers from a compact list of points, with optional per-point style, popup and tooltip."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.points({{ this.js(this.options) }});
        {% endmacro %}
    """)

    js = staticmethod(_json)

    def __init__(self, name: str, points: list, *, style: dict, styles: list | None = None,
                 popup: list | None = None, tooltip: list | None = None, show: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PointLayer"
        self.options = {"points": points, "style": style, "styles": styles, "popup": popup, "tooltip": tooltip}


class StaticLayer(Layer):
    """Non-interactive lines/polygons in their own pane, styled by a ``k`` property (the offline basemap)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.geo({{ this.js(this.data) }}, {{ this.js(this.options) }});
        {% endmacro %}
    """)

    js = staticmethod(_json)

    def __init__(self, name: str, data: dict, styles: dict, *, pane: str, attribution: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StaticLayer"
        self.data = data
        self.options = {"styles": styles, "pane": pane, "attribution": attribution}


class TextTooltip(folium.GeoJsonTooltip):
    """folium's :class:`~folium.GeoJsonTooltip` with the values shown as text, never read as HTML.

    folium puts the feature's properties into the tooltip's HTML as they are, so a street name holding
    markup from an OpenStreetMap edit would run in the planner's browser; this one escapes each value
    (and alias) with the page's ``tk.esc``. Same arguments as :class:`~folium.GeoJsonTooltip`.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindTooltip(tk.detail({{ this.fields|tojson }}, {{ this.aliases|tojson }}),
                                                  {{ this.tooltip_options|tojavascript }});
        {% endmacro %}
    """)

    def __init__(self, fields: list[str], **kwargs: Any):
        super().__init__(fields, **kwargs)
        self._name = "TextTooltip"


class _Summary(MacroElement):
    _template = Template("""
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}tk.summary({{ this._parent.get_name() }}, "tk-summary");{% endmacro %}
    """)

    def __init__(self, body: str):
        super().__init__()
        self._name = "tk_summary"
        self.body = f'<div id="tk-summary" class="tk-summary" style="display:none">{body}</div>'


# --------------------------------------------------------------- geometry
class _Display:
    """Turns study-CRS frames into what the map draws: WGS84, or GCJ-02 under Amap tiles."""

    def __init__(self, gcj02: bool, precision: int = 5):
        self.gcj02 = gcj02
        self.precision = precision

    def frame(self, gdf: gpd.GeoDataFrame, tolerance_m: float = 2.0) -> gpd.GeoDataFrame:
        g = gdf.copy()
        if tolerance_m and g.crs is not None and g.crs.is_projected:
            # simplify in metres before going to degrees; keep the original where it would vanish
            geoms = np.asarray(g.geometry.values)
            simple = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
            g["geometry"] = np.where(shapely.is_empty(simple) & ~shapely.is_empty(geoms), geoms, simple)
        g = g.to_crs(WGS84)
        if self.gcj02:
            g = from_wgs84(g, "gcj02")
        # round to ~1 m (5 decimals): for drawing only, so no topology repair (set_precision can raise)
        g["geometry"] = shapely.transform(np.asarray(g.geometry.values), lambda c: np.round(c, self.precision))
        return g

    def points(self, gdf: gpd.GeoDataFrame) -> np.ndarray:
        """(lat, lon) rows of points (point on surface for other geometries)."""
        g = gdf.to_crs(WGS84)
        if self.gcj02:
            g = from_wgs84(g, "gcj02")
        p = shapely.point_on_surface(np.asarray(g.geometry.values))
        return np.round(np.column_stack([shapely.get_y(p), shapely.get_x(p)]), self.precision)

    def bounds(self, gdf: gpd.GeoDataFrame) -> list[list[float]]:
        g = gdf.to_crs(WGS84)
        if self.gcj02:
            g = from_wgs84(g, "gcj02")
        x0, y0, x1, y1 = g.total_bounds
        return [[float(y0), float(x0)], [float(y1), float(x1)]]


def _geojson(geoms: Any) -> list[dict]:
    return [shapely.geometry.mapping(g) for g in geoms]


def _col(values: Any, digits: int | None = 0) -> list:
    """A JSON-able column: floats rounded (integers when digits=0), missing and infinite as null."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        return s.astype(int).tolist()
    if pd.api.types.is_integer_dtype(s) and not s.isna().any():
        return [int(x) for x in s]
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float)
        out = np.round(v, digits) if digits is not None else v
        return [None if not np.isfinite(x) else (int(x) if digits == 0 else float(x)) for x in out]
    return [None if (x is None or (isinstance(x, float) and np.isnan(x))) else str(x) for x in s]


# ------------------------------------------------------------------ the map
def coverage_map(result: StudyResult, lang: str | None = None, *, basemap: str | None = None,
                 allow_cdn: bool = False) -> folium.Map:
    """A folium map of the study: coverage per block, one layer per category, facilities, overlays.

    The map's page is self-contained (Leaflet, d3 and their images inlined; see :mod:`toolkit.outputs.webassets`):
    ``m.save("map.html")`` writes one file that works from ``file://`` without internet.

    Parameters
    ----------
    result : StudyResult
    lang : {"en", "zh"}, optional
        Label language; the study's ``output.lang`` by default.
    basemap : {"none", "offline", "osm", "cartodb", "amap", "tianditu"}, optional
        The study's ``output.basemap`` by default. ``amap`` shifts every overlay to GCJ-02 for display.
    allow_cdn : bool, default False
        When the npm packages are not installed, link Leaflet and d3 from CDNs instead of raising
        :class:`toolkit.outputs.webassets.WebAssetsError` (the map then needs the internet).
    """
    lang = lang or result.study.lang
    basemap = basemap or result.study.basemap or "offline"
    if basemap not in BASEMAPS:
        raise InputError(f"unknown basemap {basemap!r}", field="output.basemap",
                         fix=f"use one of {', '.join(BASEMAPS)}")
    disp = _Display(gcj02=basemap == "amap")
    bounds = disp.bounds(result.area)
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = folium.Map(location=centre, zoom_start=13, tiles=None, control_scale=True, min_zoom=8, max_zoom=19,
                   font_size="0.8rem")
    webassets.offline_figure(m, allow_cdn=allow_cdn, title=result.study.title or result.study.name)
    m.add_child(_Helpers("#f2efe9" if basemap == "offline" else "#ffffff"))
    _basemap(m, result, basemap, lang, disp)
    data = _block_data(result, disp)
    m.add_child(data)
    _coverage_layers(m, result, lang, data, disp)
    _overlay_layers(m, result, lang, data, disp)
    _decision_layers(m, result, lang, data, disp)
    area = disp.frame(result.area[["geometry"]], tolerance_m=1.0)
    folium.GeoJson(area, name=label("layer.study_area", lang), style_function=lambda f: {
        "fill": False, "color": "#000000", "weight": 2}).add_to(m)
    _legend(m, result, lang, basemap)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds(bounds)
    return m


def layer_names(m: folium.Map) -> list[str]:
    """The names the map's layer switcher lists, base layers first (as Leaflet shows them)."""
    layers = [c for c in m._children.values() if isinstance(c, Layer) and c.control]
    return [c.layer_name for c in layers if not c.overlay] + [c.layer_name for c in layers if c.overlay]


def _basemap(m: folium.Map, result: StudyResult, basemap: str, lang: str, disp: _Display) -> None:
    zh = lang == "zh"
    if basemap == "none":
        return
    online = {
        "osm": ("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "abc",
                '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'),
        "cartodb": ("CartoDB Positron", "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png", "abcd",
                    '&copy; OpenStreetMap contributors &copy; <a href="https://carto.com/attributions">CARTO</a>'),
        "amap": (label("basemap.amap", lang),
                 "https://webrd0{s}.is.autonavi.com/appmaptile?lang=" + ("zh_cn" if zh else "en")
                 + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}", "1234",
                 "&copy; 高德地图 AutoNavi, GCJ-02: " + label("map.gcj_note", lang)),
    }
    if basemap in online:
        name, url, subdomains, attr = online[basemap]
        folium.TileLayer(url, name=f"{name} ({label('word.online', lang)})", attr=f"{attr}; online tiles",
                         subdomains=subdomains, max_zoom=19, max_native_zoom=18).add_to(m)
    elif basemap == "tianditu":
        key = result.study.tianditu_key
        if not key:
            raise InputError("the Tianditu basemap needs an API key", field="output.tianditu_key",
                             fix="add tianditu_key = '...' (free from the Tianditu developer site) or pick "
                             "another basemap")
        fg = folium.FeatureGroup(name=f"{label('basemap.tianditu', lang)} ({label('word.online', lang)})",
                                 overlay=False)
        for layer in ("vec", "cva"):
            url = (f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                   f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                   f"&TILECOL={{x}}&tk={key}")
            folium.TileLayer(url, attr="&copy; 天地图 Tianditu (CGCS2000 ~ WGS84); online tiles",
                             subdomains="01234567", max_zoom=18, control=False).add_to(fg)
        fg.add_to(m)
    m.add_child(CustomPane("tkBase", z_index=250, pointer_events=False))
    StaticLayer(label("basemap.offline", lang), _offline_features(result, disp), _BASE_STYLES, pane="tkBase",
                attribution="Offline basemap from the study data: streets &copy; OpenStreetMap contributors",
                show=basemap == "offline").add_to(m)


_MAJOR = {"motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link"}
_MEDIUM = {"secondary", "tertiary", "secondary_link", "tertiary_link"}
_BASE_STYLES = {
    "water": {"stroke": False, "fillColor": "#a9cfe9", "fillOpacity": 1.0},
    "shore": {"color": "#5b9bd5", "weight": 1.5, "fill": False},
    "heritage": {"color": "#b08968", "weight": 1, "dashArray": "4 3", "fill": True, "fillColor": "#e6d5c3",
                 "fillOpacity": 0.35},
    "minor": {"color": "#b4b4b4", "weight": 0.8, "fill": False},
    "medium": {"color": "#9a9a9a", "weight": 1.6, "fill": False},
    "major": {"color": "#8a8a8a", "weight": 2.8, "fill": False},
}


def _street_class(highway: Any) -> str:
    kinds = set(map(str, highway)) if isinstance(highway, list | tuple) else set(str(highway).split(";"))
    return "major" if kinds & _MAJOR else "medium" if kinds & _MEDIUM else "minor"


def _offline_features(result: StudyResult, disp: _Display) -> dict:
    """Streets (merged by class), water, shoreline and heritage outlines, as one FeatureCollection."""
    import geopandas as gpd

    feats: list[dict] = []

    def add(kind: str, geom: Any) -> None:
        if geom is not None and not shapely.is_empty(geom):
            g = disp.frame(gpd.GeoDataFrame(geometry=[geom], crs=result.crs), tolerance_m=0).geometry.iloc[0]
            feats.append({"type": "Feature", "properties": {"k": kind}, "geometry": shapely.geometry.mapping(g)})

    # water: the study area less the land the blocks were drawn on (the river inside the district)
    if result.land is not None:
        water = shapely.difference(result.area.geometry.iloc[0], result.land)
        water = shapely.simplify(water.buffer(0), 3.0)
        polys = [p for p in shapely.get_parts(water) if p.area > 2000]
        if polys:
            add("water", shapely.multipolygons(polys))
    if "heritage" in result.layers and len(result.layers["heritage"]):
        z = result.layers["heritage"].to_crs(result.crs)
        add("heritage", shapely.simplify(shapely.union_all(np.asarray(z.geometry.values)), 3.0))
    st = result.streets
    if st is not None and len(st):
        cls = st["highway"].map(_street_class) if "highway" in st else pd.Series("minor", index=st.index)
        for kind in ("minor", "medium", "major"):
            lines = np.asarray(st.geometry.values)[(cls == kind).to_numpy()]
            if len(lines):
                merged = shapely.line_merge(shapely.union_all(shapely.simplify(lines, 2.0)))
                add(kind, merged)
    if "waterfront" in result.layers and len(result.layers["waterfront"]):
        w = result.layers["waterfront"].to_crs(result.crs)
        add("shore", shapely.line_merge(shapely.union_all(shapely.simplify(np.asarray(w.geometry.values), 2.0))))
    return {"type": "FeatureCollection", "features": feats}


def _block_data(result: StudyResult, disp: _Display) -> BlockData:
    b = result.blocks
    web = disp.frame(b[["geometry"]])
    cols: dict[str, list] = {"block_id": _col(b["block_id"], None)}
    for c in ("population", "pop_65plus", "n_within"):
        if c in b:
            cols[c] = _col(b[c])
    for cat in result.categories:
        cols[f"dist_{cat}_m"] = _col(b[f"dist_{cat}_m"])
        cols[f"within_{cat}"] = _col(b[f"within_{cat}"])
    return BlockData(_geojson(web.geometry.values), cols)


def _coverage_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    cats = result.profile.catalogue
    b = result.blocks
    n = max(len(result.categories), 1)
    share = (b["n_within"] / n).to_numpy(dtype=float) if "n_within" in b else np.zeros(len(b))
    cls = classify(share, k=5)
    colours = ramp(RAMP_COVERAGE, len(cls.bins))
    data.columns["share_within"] = _col(share, 3)
    data.columns["cls_share"] = cls.yb.tolist()
    f = [["block_id", label("col.block_id", lang), None], ["population", label("col.population", lang), "int"],
         ["pop_65plus", label("col.pop_65plus", lang), "int"], ["n_within", label("col.n_within", lang), "int"]]
    f = [x for x in f if x[0] in data.columns]
    dist = [[f"dist_{c}_m", label("col.dist_<category>_m", lang, category=cats[c].label(lang)), "int"]
            for c in result.categories]
    main = BlockLayer(data, label("map.coverage", lang), cls="cls_share", colors=colours, show=True,
                      class_name=BLOCK_CLASS, style={"weight": 0.3, "fillOpacity": 0.7},
                      tooltip=[f[0], ["share_within", label("map.share_within", lang), "pct"]], popup=f + dist)
    main.add_to(m)
    main.classes = cls
    legend = class_legend(cls, colours, label("legend.coverage", lang, n=n), main, fmt="pct")
    legend.add_to(m)
    yesno = [label("legend.within_no", lang), label("legend.within_yes", lang)]
    for cat in result.categories:
        name = cats[cat].label(lang)
        thr = result.profile.rule(cat).max_distance_m
        lyr = BlockLayer(data, label("map.within", lang, label=name, thr=thr), cls=f"within_{cat}",
                         colors=[WITHIN_NO, WITHIN_YES], style={"weight": 0.2, "fillOpacity": 0.6},
                         tooltip=[f[0], [f"dist_{cat}_m", label("map.distance", lang), "int"],
                                  [f"within_{cat}", name, yesno]])
        lyr.add_to(m)
        ClassLegend([WITHIN_NO, WITHIN_YES], [0, 0, 1], label("map.within", lang, label=name, thr=thr), lyr,
                    labels=yesno).add_to(m)
    fac = result.facilities
    for cat in result.categories:
        sub = fac[fac["category"] == cat] if len(fac) else fac
        name = cats[cat].label(lang)
        pts = disp.points(sub).tolist() if len(sub) else []
        names = sub["name"].where(sub["name"].map(lambda x: isinstance(x, str)), "") if len(sub) else []
        popups = [f"{_html.escape(name)}<br>{_html.escape(nm)}<br>{label('col.source', lang)}: {_html.escape(str(s))}"
                  for nm, s in zip(names, sub["source"], strict=True)] if len(sub) else []
        PointLayer(f"{name} ({len(sub)})", pts, popup=popups,
                   style={"radius": 3, "color": category_colour(cat), "fill": True, "fillOpacity": 0.9,
                          "weight": 1}).add_to(m)


def _legend(m: folium.Map, result: StudyResult, lang: str, basemap: str) -> None:
    cats = result.profile.catalogue
    rows = []
    ds = result.details.get("data_status", {})
    for cat in result.categories:
        r = result.rates.loc[cat]
        st = ds.get(cat, {}).get("status", "measured")
        # incomplete data are shown, greyed and labelled: their rates are figures, never a service gap
        look = "color:#1a9641" if st == "complete" else "color:#b35806;font-style:italic"
        rows.append(f"<tr><td><span style='color:{category_colour(cat)}'>&#9679;</span> "
                    f"{_html.escape(cats[cat].label(lang))}</td><td>{result.profile.rule(cat).max_distance_m:.0f} m"
                    f"</td><td>{r['rate_total']:.0%}</td><td style='{look}' "
                    f"title='{_html.escape(str(ds.get(cat, {}).get('reason', '')), quote=True)}'>"
                    f"{_html.escape(status_label(st, lang))}</td></tr>")
    nodata = ", ".join(cats[c].label(lang) for c in result.no_data)
    extra = [f"<div style='color:#777'>{label('map.status_note', lang)}</div>"] if ds else []
    us = (result.details.get("decisions") or {}).get("underserved")
    if us:
        by = ", ".join(f"{_html.escape(cats[c].label(lang) if c in cats else c)} {n:,}"
                       for c, n in (us.get("by_category") or {}).items())
        extra.append(f"<div><b>{label('layer.underserved', lang)}</b>: {us['blocks']:,} / {len(result.blocks):,}"
                     + (f" ({label('map.driven_by', lang)}: {by})" if by else "")
                     + (f"<br><span style='color:#b35806'>{_html.escape(us['note'])}</span>" if us.get("note") else "")
                     + "</div>")
    if "heritage_class" in result.blocks:
        swatches = "".join(f"<span style='background:{c};border:1px solid #777;padding:0 6px'>&nbsp;</span> "
                           f"{label(f'heritage.{k}', lang)} " for k, c in HERITAGE_COLOURS.items())
        zones = "".join(f"<span style='border:2px solid {c};padding:0 6px'>&nbsp;</span> "
                        f"{label(f'heritage.{k}', lang)} " for k, c in ZONE_COLOURS.items())
        extra.append(f"<div><b>{label('col.heritage_class', lang)}</b> {swatches}<br>"
                     f"{label('term.protection_zones', lang)} {zones}"
                     f"<span style='border-bottom:4px solid {PROTECTED_ROAD}'>&nbsp;&nbsp;&nbsp;</span> "
                     f"{label('term.protected_road', lang)}</div>")
    wf = result.details.get("waterfront", {})
    if wf.get("status") == "measured":
        text = label("map.waterfront_text", lang, share=f"{wf['share_with_access']:.0%}",
                     km=f"{wf['bank_length_m'] / 1000:.1f}", gap=f"{wf['longest_gap_m']:.0f}")
        extra.append(f"<div><b>{label('term.waterfront', lang)}</b> "
                     f"<span style='border-bottom:4px solid {BANK_ACCESS}'>&nbsp;&nbsp;&nbsp;</span> "
                     f"{label('legend.bank_access', lang)} "
                     f"<span style='border-bottom:4px solid {BANK_GAP}'>&nbsp;&nbsp;&nbsp;</span> "
                     f"{label('legend.bank_gap', lang)}; {text}</div>")
    elif wf:
        extra.append(f"<div><b>{label('term.waterfront', lang)}</b>: "
                     f"{_html.escape(str(wf.get('reason', 'absent')))}</div>")
    if basemap == "amap":
        extra.append(f"<div style='color:#b30000'><b>GCJ-02</b>: {label('map.gcj_note', lang)}</div>")
    if basemap in ("osm", "cartodb", "amap", "tianditu"):
        names = {"osm": "OpenStreetMap", "cartodb": "CartoDB", "amap": label("basemap.amap", lang),
                 "tianditu": label("basemap.tianditu", lang)}
        extra.append(f"<div style='color:#777'>{label('map.online_note', lang, name=names[basemap])}</div>")
    title = _html.escape(result.study.title or result.study.name)
    head = "".join(f"<th>{label(k, lang)}</th>" for k in ("col.category", "term.threshold", "term.share_within",
                                                           "term.data_status"))
    body = (f"<b>{title}</b><br>{label('term.profile', lang)}: {_html.escape(result.profile.name)}<br>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table>"
            f"<div style='color:#777'>{label('legend.no_data', lang)}: "
            f"{_html.escape(nodata) or label('word.none', lang)}</div>"
            f"{''.join(extra)}")
    m.add_child(_Summary(body))


def _overlay_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Walkability, heritage and waterfront layers, each with a legend, when the study has them."""
    b = result.blocks
    cols = data.columns
    bid = ["block_id", label("col.block_id", lang), None]
    if "walk_index" in b and np.isfinite(b["walk_index"].to_numpy(dtype=float)).any():
        comps = [c for c in b.columns if c.startswith("walk_") and not c.endswith(("_score", "_elderly"))
                 and b[c].dtype.kind == "f" and c != "walk_index"]
        for c in ["walk_index", "walk_index_elderly", *comps]:
            if c in b:
                cols[c] = _col(b[c], 2)
        cls = classify(b["walk_index"], scheme="Quantiles", k=5)
        colours = ramp(RAMP_WALK, len(cls.bins))
        cols["cls_walk"] = cls.yb.tolist()
        popup = [bid, ["walk_index", label("col.walk_index", lang), 2]]
        if "walk_index_elderly" in b:
            popup.append(["walk_index_elderly", label("col.walk_index_elderly", lang), 2])
        # the components' names: the data dictionary's in Chinese, the column's in English
        popup += [[c, column(c, lang, default=c.replace("walk_", "").replace("_", " ")), 2] for c in comps]
        lyr = BlockLayer(data, label("map.of_blocks", lang, name=label("term.walkability", lang, cap=True)),
                         cls="cls_walk", colors=colours,
                         style={"weight": 0.2, "fillOpacity": 0.7},
                         tooltip=[bid, ["walk_index", label("col.walk_index", lang), 2]], popup=popup)
        lyr.add_to(m)
        lyr.classes = cls
        class_legend(cls, colours, label("legend.walkability", lang), lyr, fmt=2,
                     nodata=label("legend.no_data", lang) if (cls.yb < 0).any() else None).add_to(m)
        st = result.streets
        if st is not None and "walk_hostile" in st:
            hostile = disp.frame(st.loc[st["walk_hostile"], ["edge_id", "highway", "name", "length_m", "geometry"]])
            if len(hostile):
                folium.GeoJson(hostile, name=label("layer.hostile", lang), show=False,
                               style_function=lambda f: {"color": HOSTILE_ROAD, "weight": 3},
                               tooltip=TextTooltip(fields=["highway", "name"])).add_to(m)
    layers = result.layers
    if "heritage" in layers and len(layers["heritage"]):
        z = disp.frame(layers["heritage"])
        z = z[[c for c in ("zone_id", "kind", "name", "area_ha", "geometry") if c in z]]
        folium.GeoJson(z, name=label("layer.heritage", lang),
                       # outlines only: a filled zone on top would take the clicks meant for its blocks
                       style_function=lambda f: {"color": ZONE_COLOURS.get(f["properties"].get("kind"), "#b15928"),
                                                 "weight": 1.5, "fill": False},
                       tooltip=TextTooltip(fields=[c for c in ("kind", "name") if c in z])).add_to(m)
    if "heritage_class" in b:
        order = list(HERITAGE_COLOURS)
        cols["heritage_class"] = _col(b["heritage_class"], None)
        cols["cls_heritage"] = [order.index(v) if v in order else -1 for v in b["heritage_class"]]
        fields = [bid, ["heritage_class", label("col.heritage_class", lang), None]]
        for c, d in (("heritage_style_area", None), ("heritage_zone_share", 2), ("heritage_n_listed", "int"),
                     ("heritage_dist_listed_m", "int")):
            if c in b:
                cols[c] = _col(b[c], 2 if d == 2 else 0) if b[c].dtype.kind in "fiub" else _col(b[c], None)
                fields.append([c, column(c, lang, default=c.replace("heritage_", "").replace("_", " ")), d])
        lyr = BlockLayer(data, label("map.heritage_class", lang), cls="cls_heritage",
                         colors=list(HERITAGE_COLOURS.values()), style={"weight": 0.2, "fillOpacity": 0.6},
                         tooltip=fields[:2], popup=fields)
        lyr.add_to(m)
        ClassLegend(list(HERITAGE_COLOURS.values()), [0, 0, 1, 2], label("map.heritage_class", lang), lyr,
                    labels=[label(f"heritage.{k}", lang) for k in order]).add_to(m)
    if "heritage_buildings" in layers and len(layers["heritage_buildings"]):
        hb = layers["heritage_buildings"]
        names = [_html.escape(x) if isinstance(x, str) else "" for x in hb.get("name", pd.Series("", index=hb.index))]
        PointLayer(label("layer.heritage_buildings", lang), disp.points(hb).tolist(), tooltip=names,
                   style={"radius": 2, "color": LISTED_BUILDING, "weight": 1, "fill": True,
                          "fillOpacity": 0.9}).add_to(m)
    st = result.streets
    if st is not None and "protected_road" in st and st["protected_road"].any():
        pr = disp.frame(st.loc[st["protected_road"], ["edge_id", "name", "geometry"]])
        folium.GeoJson(pr, name=label("layer.protected_roads", lang),
                       style_function=lambda f: {"color": PROTECTED_ROAD, "weight": 5, "opacity": 0.8},
                       tooltip=TextTooltip(fields=["name"])).add_to(m)
    if "waterfront" in layers and len(layers["waterfront"]):
        w = disp.frame(layers["waterfront"], tolerance_m=1.0)
        w = w[[c for c in ("kind", "access", "length_m", "geometry") if c in w]]
        if "length_m" in w:
            w["length_m"] = w["length_m"].round(0)
        folium.GeoJson(w, name=label("map.waterfront", lang),
                       style_function=lambda f: {"color": BANK_ACCESS if f["properties"].get("access") else BANK_GAP,
                                                 "weight": 5},
                       tooltip=TextTooltip(fields=[c for c in ("kind", "length_m") if c in w])).add_to(m)
    if "waterfront_access" in layers and len(layers["waterfront_access"]):
        PointLayer(label("layer.waterfront_access", lang), disp.points(layers["waterfront_access"]).tolist(),
                   style={"radius": 4, "color": WATERFRONT_ACCESS, "fill": True, "fillOpacity": 1.0}).add_to(m)
    if "within_waterfront" in b:
        cols["dist_waterfront_m"] = _col(b["dist_waterfront_m"])
        cols["within_waterfront"] = _col(b["within_waterfront"])
        yesno = [label("legend.within_no", lang), label("legend.within_yes", lang)]
        lyr = BlockLayer(data, label("map.waterfront_within", lang), cls="within_waterfront",
                         colors=["#f0f0f0", WATERFRONT_ACCESS], style={"weight": 0.2, "fillOpacity": 0.6},
                         tooltip=[bid, ["dist_waterfront_m", label("map.distance", lang), "int"]])
        lyr.add_to(m)
        ClassLegend(["#f0f0f0", WATERFRONT_ACCESS], [0, 0, 1], label("map.waterfront_within", lang), lyr,
                    labels=yesno).add_to(m)


def _decision_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Underserved blocks and ranked candidate sites, with popups that explain the numbers."""
    b = result.blocks
    cols = data.columns
    if "underserved" in b and b["underserved"].any():
        cols["underserved"] = _col(b["underserved"])
        for c, d in (("n_missing", 0), ("underserved_reason", None), ("severity", 2)):
            if c in b:
                cols[c] = _col(b[c], d)
        labels = {k: v.label(lang) for k, v in result.profile.catalogue.items()}
        for col in ("missing_categories", "missing_incomplete"):
            if col in b:
                cols[col] = [", ".join(labels.get(k, k) for k in str(v).split(";") if k)
                             if isinstance(v, str) else None for v in b[col]]
        cls = classify(b["severity"], scheme="Quantiles", k=5, mask=b["underserved"])
        colours = ramp(RAMP_REDS, len(cls.bins))
        cols["cls_severity"] = cls.yb.tolist()
        cats = result.profile.catalogue
        popup = [[c, label(f"col.{c}", lang), d] for c, d in (
            ("block_id", None), ("population", "int"), ("pop_65plus", "int"), ("missing_categories", None),
            ("n_missing", "int"), ("missing_incomplete", None), ("underserved_reason", None), ("severity", 2))]
        popup += [[f"dist_{c}_m", label("col.dist_<category>_m", lang, category=cats[c].label(lang)), "int"]
                  for c in result.categories]
        popup = [p for p in popup if p[0] in cols]
        lyr = BlockLayer(data, label("layer.underserved", lang), cls="cls_severity", colors=colours,
                         filter="underserved", style={"color": "#67000d", "weight": 0.4, "fillOpacity": 0.75},
                         tooltip=[popup[0], ["missing_categories", label("col.missing_categories", lang), None]],
                         popup=popup)
        lyr.add_to(m)
        lyr.classes = cls
        class_legend(cls, colours, label("legend.severity", lang), lyr, fmt=1).add_to(m)
    sites = result.layers.get("candidate_sites")
    if sites is not None and len(sites):
        s = sites
        pts = disp.points(s).tolist()
        top = np.nanmax(s["score"]) if s["score"].notna().any() else 1.0
        cats = result.profile.catalogue
        popups, tips, styles = [], [], []
        for _, row in s.iterrows():
            esc = _html.escape
            contrib = "".join(f"<tr><td>{esc(k[8:])}</td><td>{row[k]:.3f}</td></tr>" for k in s.columns
                              if k.startswith("contrib_") and row[k] > 0)
            gains = "".join(f"<tr><td>{_html.escape(cats[c].label(lang))}</td><td>{row[f'new_{c}_pop']:,.0f}</td>"
                            f"<td>{row[f'new_{c}_65plus']:,.0f}</td></tr>" for c in result.categories
                            if f"new_{c}_pop" in s and row[f"new_{c}_pop"] > 0)
            score = "-" if np.isnan(row["score"]) else f"{row['score']:.3f} (rank {row['rank']})"
            name = row.get("name")
            name = f" {esc(name)}" if isinstance(name, str) and name else ""
            popups.append(
                f"<b>site {esc(str(row['site_id']))}</b>{name} ({esc(str(row['site_type']))}, "
                f"{esc(str(row['source']))})"
                f"{' <b>SELECTED</b>' if row['selected'] else ''}<br>score {score}"
                f"<table>{contrib}</table>heritage: {esc(str(row.get('heritage_class', '-')))}<br>"
                f"allowed: {esc(str(row.get('allowed_interventions', '-')).replace(';', ', '))}<br>"
                f"newly within reach (residents, 65+):<table>{gains}</table>"
                f"nearest street: {esc(str(row.get('nearest_street') or '-'))}")
            tips.append(esc(f"site {row['site_id']}: {score}"))
            r = 3 + 7 * (0 if np.isnan(row["score"]) else row["score"] / top)
            styles.append({"radius": round(float(r), 1), "weight": 3 if row["selected"] else 1,
                           "color": (SITE_SELECTED if row["selected"] else SITE_CANDIDATE)[1],
                           "fillColor": (SITE_SELECTED if row["selected"] else SITE_CANDIDATE)[0]})
        PointLayer(label("map.ranked", lang, name=label("layer.candidate_sites", lang)), pts,
                   style={"fill": True, "fillOpacity": 0.9}, styles=styles, popup=popups, tooltip=tips,
                   show=True).add_to(m)


__all__ = ["BASEMAPS", "BLOCK_CLASS", "BlockData", "BlockLayer", "ClassLegend", "Classes", "PointLayer",
           "StaticLayer", "TextTooltip", "class_legend", "classify", "coverage_map", "layer_names"]
