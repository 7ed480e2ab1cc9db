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

import base64
import html as _html
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, cast

import folium
import numpy as np
import pandas as pd
import shapely
from branca.colormap import StepColormap
from branca.element import Figure, JavascriptLink, MacroElement
from folium.map import CustomPane, Layer
from folium.template import Template

from ..completeness import status_label
from ..crs import WGS84, from_wgs84
from ..errors import InputError
from ..labels import LABELS, column, label
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


@cache
def mapclassify() -> Any:
    """mapclassify, imported on first use, with its numba kernel compiled on first call rather than on import.

    mapclassify compiles its Fisher-Jenks kernel eagerly at import (an explicit numba signature), which cost
    about 1.5 s of every run and of every batch worker although the maps use quantiles and user bins. While
    it is imported, ``numba.njit`` given a signature returns numba's lazy decorator instead: the kernel
    compiles, with the same types, only if a study asks for natural breaks.
    """
    try:
        import numba
    except ImportError:  # mapclassify then uses its pure-Python fallback
        import mapclassify as mc

        return mc
    real = numba.njit

    def lazy_njit(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str):  # njit("f8[:](f8[:], u2)"): eager; compile on first call instead
            return real(**kwargs)
        return real(*args, **kwargs)

    numba.njit = lazy_njit
    try:
        import mapclassify as mc
    finally:
        numba.njit = real
    return mc


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
    mc = mapclassify()
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
        # cast: get_root() is typed as a plain Element; a rendered map's root is the page's Figure
        cast("Figure", self.get_root()).header.add_child(
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
.tk-legend { background: rgba(255,255,255,0.92); padding: 4px 6px; border: 1px solid #999; border-radius: 4px;
             font: 12px/1.3 "Helvetica Neue", Arial, "PingFang SC", "Microsoft YaHei", sans-serif; }
.tk-legend-caption { font-weight: bold; margin-bottom: 2px; max-width: 330px; }
.tk-legend text { font-size: 11px; fill: #222; }
.tk-layers { background: rgba(255,255,255,0.95); border: 1px solid #999; border-radius: 4px; width: 320px;
             font: 12px/1.35 "Helvetica Neue", Arial, "PingFang SC", "Microsoft YaHei", sans-serif; }
.tk-layers-toggle { display: block; width: 100%%; text-align: left; font-weight: bold; border: 0; cursor: pointer;
                    background: #f4f4f4; padding: 4px 8px; border-radius: 4px; font: inherit; font-weight: bold; }
.tk-layers.tk-collapsed { width: auto; }
.tk-layers-body { max-height: min(62vh, 480px); overflow: auto; padding: 2px 6px 4px; }
.tk-group > summary { font-weight: bold; cursor: pointer; padding: 2px 0; }
.tk-item { display: block; padding: 0 0 0 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tk-item input { margin: 0 4px 0 0; vertical-align: -2px; }
.tk-summary { font-size: 12px; padding: 2px 0 4px; }
.tk-summary table, .tk-table { border-collapse: collapse; }
.tk-summary td, .tk-summary th { padding: 0 6px 0 0; text-align: left; }
.tk-table th { text-align: left; font-weight: normal; color: #555; padding: 0 8px 0 0; }
.tk-table td { text-align: right; padding: 0 0 0 6px; }
.tk-dist { margin-top: 4px; }
.tk-dist tr:first-child th { font-weight: bold; color: #333; }
.tk-dist td.tk-yes { color: #1a7a36; }
.tk-dist tr.tk-incomplete { color: #8a6d3b; font-style: italic; }
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
    (fields || []).forEach(function (f) {
      h += "<tr><th>" + esc(f[1]) + "</th><td>" + fmt(cols[f[0]][i], f[2]) + "</td></tr>";
    });
    return h + "</table>";
  }
  // Each distance beside its threshold and the data status of its category (incomplete data greyed).
  function distances(cols, d, i) {
    var h = "<table class='tk-table tk-dist'><tr>" + d.head.map(function (t) {
      return "<th>" + esc(t) + "</th>"; }).join("") + "</tr>";
    d.rows.forEach(function (r) {
      var v = cols[r[0]][i], ok = cols[r[4]] ? cols[r[4]][i] : null;
      h += "<tr" + (r[5] ? "" : " class='tk-incomplete'") + "><th>" + esc(r[1]) + "</th><td" +
           (ok === 1 ? " class='tk-yes'" : "") + ">" + fmt(v, "int") + "</td><td>" + fmt(r[2], "int") +
           "</td><td>" + esc(r[3]) + "</td></tr>";
    });
    return h + "</table>";
  }
  // The blocks' shared geometry: integer coordinates (1/scale degree), delta-encoded per ring, decoded once
  // into zoom-0 pixel coordinates; small class columns arrive as strings of one character per block.
  function decode(raw, crs) {
    var cols = raw.columns, n = raw.n;
    Object.keys(raw.codes).forEach(function (k) {
      var s = raw.codes[k], a = new Array(n);
      for (var i = 0; i < n; i++) {
        var c = s.charCodeAt(i);
        a[i] = c === 45 ? null : (c === 126 ? -1 : c - 48);  // "-": missing, "~": -1, "0".."9"
      }
      cols[k] = a;
    });
    Object.keys(raw.factors || {}).forEach(function (k) {
      var f = raw.factors[k];
      cols[k] = f.index.map(function (j) { return j < 0 ? null : f.levels[j]; });
    });
    // numbers: base64 floats straight into typed arrays (missing: NaN, shown as a dash)
    Object.keys(raw.numbers || {}).forEach(function (k) {
      var s = atob(raw.numbers[k].b64), u = new Uint8Array(s.length);
      for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
      cols[k] = raw.numbers[k].bits === 32 ? new Float32Array(u.buffer) : new Float64Array(u.buffer);
    });
    var nv = 0, nr = 0;
    raw.geom.forEach(function (b) { b.forEach(function (r) { nr++; nv += r.length / 2; }); });
    var xy = new Float64Array(2 * nv), ring = new Int32Array(nr + 1), first = new Int32Array(n + 1),
        box = new Float64Array(4 * n), sc = raw.scale, ox = raw.origin[0], oy = raw.origin[1], v = 0, r = 0;
    var ll = L.latLng(0, 0);
    raw.geom.forEach(function (b, i) {
      first[i] = r;
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      b.forEach(function (c) {
        ring[r++] = v;
        var x = ox, y = oy;
        for (var j = 0; j < c.length; j += 2) {
          x += c[j]; y += c[j + 1];
          ll.lng = x / sc; ll.lat = y / sc;
          var p = crs.latLngToPoint(ll, 0);
          xy[2 * v] = p.x; xy[2 * v + 1] = p.y; v++;
          if (p.x < x0) x0 = p.x; if (p.x > x1) x1 = p.x; if (p.y < y0) y0 = p.y; if (p.y > y1) y1 = p.y;
        }
      });
      box[4 * i] = x0; box[4 * i + 1] = y0; box[4 * i + 2] = x1; box[4 * i + 3] = y1;
    });
    ring[r] = v; first[n] = r;
    raw.geom = null;  // the decoded arrays replace the JSON's
    return {n: n, cols: cols, xy: xy, ring: ring, first: first, box: box};
  }
  // A uniform grid over the blocks' boxes, for finding the block under the mouse.
  function grid(g) {
    var n = g.n, X0 = Infinity, Y0 = Infinity, X1 = -Infinity, Y1 = -Infinity, i, b = g.box;
    for (i = 0; i < n; i++) {
      X0 = Math.min(X0, b[4 * i]); Y0 = Math.min(Y0, b[4 * i + 1]);
      X1 = Math.max(X1, b[4 * i + 2]); Y1 = Math.max(Y1, b[4 * i + 3]);
    }
    var k = Math.max(1, Math.ceil(Math.sqrt(n / 2))), cw = (X1 - X0) / k || 1, ch = (Y1 - Y0) / k || 1;
    var cells = new Array(k * k);
    function cellOf(x, y) {
      return [Math.min(k - 1, Math.max(0, Math.floor((x - X0) / cw))),
              Math.min(k - 1, Math.max(0, Math.floor((y - Y0) / ch)))];
    }
    for (i = 0; i < n; i++) {
      var a = cellOf(b[4 * i], b[4 * i + 1]), z = cellOf(b[4 * i + 2], b[4 * i + 3]);
      for (var cx = a[0]; cx <= z[0]; cx++) for (var cy = a[1]; cy <= z[1]; cy++) {
        (cells[cy * k + cx] = cells[cy * k + cx] || []).push(i);
      }
    }
    return function (x, y) {
      if (x < X0 || x > X1 || y < Y0 || y > Y1) return [];
      var c = cellOf(x, y);
      return cells[c[1] * k + c[0]] || [];
    };
  }
  function inside(g, i, x, y) {
    if (x < g.box[4 * i] || x > g.box[4 * i + 2] || y < g.box[4 * i + 1] || y > g.box[4 * i + 3]) return false;
    var inn = false, xy = g.xy;
    for (var r = g.first[i]; r < g.first[i + 1]; r++) {
      for (var a = g.ring[r], e = g.ring[r + 1], j = e - 1, v = a; v < e; j = v++) {
        var xi = xy[2 * v], yi = xy[2 * v + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inn = !inn;
      }
    }
    return inn;
  }
  // One canvas for every block indicator: the indicator shown restyles the same geometry (one path per
  // colour class, vertices closer than half a pixel at the current zoom skipped).
  var CHUNK = 256;
  var BlockCanvas = L.Renderer.extend({
    initialize: function (data, options) {
      L.Renderer.prototype.initialize.call(this, options);
      this._data = data;
      this.active = null;
      this.drawn = 0;
      this.draws = 0;
    },
    _initContainer: function () {
      this._container = document.createElement("canvas");
      this._container.className = "tk-blocks-canvas";
      this._ctx = this._container.getContext("2d");
    },
    _destroyContainer: function () { L.DomUtil.remove(this._container); delete this._ctx; delete this._container; },
    _update: function () {
      if (this._map._animatingZoom && this._bounds) return;
      L.Renderer.prototype._update.call(this);
      var b = this._bounds, c = this._container, size = b.getSize(), m = L.Browser.retina ? 2 : 1;
      L.DomUtil.setPosition(c, b.min);
      c.width = m * size.x; c.height = m * size.y;
      c.style.width = size.x + "px"; c.style.height = size.y + "px";
      if (m === 2) this._ctx.scale(2, 2);
      this._ctx.translate(-b.min.x, -b.min.y);
      this._draw();
    },
    _draw: function () {
      var ind = this.active, g = this._data.g, ctx = this._ctx, map = this._map;
      this.drawn = 0;
      if (!ind || !g) return;
      var o = ind.options, s = map.getZoomScale(map.getZoom(), 0), org = map.getPixelOrigin(), b = this._bounds;
      var vx0 = (b.min.x + org.x) / s, vy0 = (b.min.y + org.y) / s, vx1 = (b.max.x + org.x) / s,
          vy1 = (b.max.y + org.y) / s, box = g.box, xy = g.xy;
      var cls = o.cls ? g.cols[o.cls] : null, filt = o.filter ? g.cols[o.filter] : null;
      var nc = o.colors ? o.colors.length : 1, buckets = [], k, i;
      for (k = 0; k <= nc; k++) buckets.push([]);
      for (i = 0; i < g.n; i++) {
        if (filt && !filt[i]) continue;
        if (box[4 * i + 2] < vx0 || box[4 * i] > vx1 || box[4 * i + 3] < vy0 || box[4 * i + 1] > vy1) continue;
        var c = cls ? cls[i] : 0;
        buckets[(c === null || c < 0 || c >= nc) ? nc : c].push(i);
      }
      var st = o.style, self = this;
      // a path of a few hundred blocks at a time: the rasteriser slows down on one path of thousands
      var flush = function (k) {
        ctx.globalAlpha = st.fillOpacity;
        ctx.fillStyle = k < nc ? o.colors[k] : o.nodata;
        ctx.fill("evenodd");
        if (st.weight > 0) {
          ctx.globalAlpha = st.opacity === undefined ? 1 : st.opacity;
          ctx.strokeStyle = st.color; ctx.lineWidth = st.weight; ctx.lineJoin = "round";
          ctx.stroke();
        }
      };
      for (k = 0; k <= nc; k++) {
        var bk = buckets[k];
        if (!bk.length) continue;
        ctx.beginPath();
        for (var q = 0; q < bk.length; q++) {
          i = bk[q];
          for (var r = g.first[i]; r < g.first[i + 1]; r++) {
            var a = g.ring[r], e = g.ring[r + 1];
            var lx = xy[2 * a] * s - org.x, ly = xy[2 * a + 1] * s - org.y;
            ctx.moveTo(lx, ly);
            for (var v = a + 1; v < e; v++) {
              var px = xy[2 * v] * s - org.x, py = xy[2 * v + 1] * s - org.y;
              if (v < e - 1 && Math.abs(px - lx) + Math.abs(py - ly) < 0.5) continue;
              ctx.lineTo(px, py); lx = px; ly = py;
            }
            ctx.closePath();
          }
          if (q % CHUNK === CHUNK - 1) { flush(k); ctx.beginPath(); }
        }
        flush(k);
        self.drawn += bk.length;
      }
      ctx.globalAlpha = 1;
      this.draws++;
      if (!tk.state.firstDraw) tk.state.firstDraw = performance.now();
      tk.state.drawn = this.drawn;
    },
    // the block of the active indicator at a map position, or -1
    hit: function (latlng) {
      var ind = this.active, g = this._data.g;
      if (!ind || !g) return -1;
      var p = this._map.options.crs.latLngToPoint(latlng, 0);
      var filt = ind.options.filter ? g.cols[ind.options.filter] : null;
      var cand = this._data.grid(p.x, p.y);
      for (var q = cand.length - 1; q >= 0; q--) {
        var i = cand[q];
        if ((!filt || filt[i]) && inside(g, i, p.x, p.y)) return i;
      }
      return -1;
    }
  });
  function blockData(id, map) {
    var d = {g: null, grid: null, map: map, canvas: null, tip: null};
    d.init = function () {
      if (d.g) return;
      var el = document.getElementById(id);
      d.g = decode(JSON.parse(el.textContent), map.options.crs); d.grid = grid(d.g);
      el.textContent = "";  // the page need not keep the text (tens of MB for a large study) once decoded
      tk.state.blocks = d.g.n;
      map.createPane("tkBlocks").style.zIndex = 350;
      d.canvas = new BlockCanvas(d, {pane: "tkBlocks", padding: 0.1});
      d.tip = L.tooltip({sticky: true, direction: "auto"});
      var pending = null;
      d.onMove = function (e) {
        pending = e;
        if (d.frame) return;
        d.frame = L.Util.requestAnimFrame(function () {
          d.frame = null;
          var ind = d.canvas.active, i = ind ? d.canvas.hit(pending.latlng) : -1;
          map.getContainer().style.cursor = i >= 0 ? "pointer" : "";
          if (i >= 0 && ind.options.tooltip) {
            d.tip.setContent(content(d, ind, i, "tooltip")).setLatLng(pending.latlng);
            if (!map.hasLayer(d.tip)) map.openTooltip(d.tip);
          } else if (map.hasLayer(d.tip)) {
            map.closeTooltip(d.tip);
          }
        });
      };
      d.onClick = function (e) {
        var ind = d.canvas.active, i = ind ? d.canvas.hit(e.latlng) : -1;
        if (i >= 0) d.open(i, e.latlng);
      };
      d.onOut = function () { if (map.hasLayer(d.tip)) map.closeTooltip(d.tip); };
    };
    // the active indicator's popup of block i (at latlng, or the block's box centre)
    d.open = function (i, latlng) {
      var ind = d.canvas.active;
      if (!ind || !(ind.options.popup || ind.options.dist || ind.options.tooltip)) return null;
      latlng = latlng || d.centre(i);
      return L.popup({maxWidth: 380, autoPan: ind.options.autoPan !== false}).setLatLng(latlng)
        .setContent(content(d, ind, i, "popup")).openOn(map);
    };
    d.hover = function (i) {
      var ind = d.canvas.active;
      if (!ind || !ind.options.tooltip) return null;
      d.tip.setContent(content(d, ind, i, "tooltip")).setLatLng(d.centre(i));
      map.openTooltip(d.tip);
      return d.tip;
    };
    d.centre = function (i) {
      var b = d.g.box, crs = map.options.crs;
      return crs.pointToLatLng(L.point((b[4 * i] + b[4 * i + 2]) / 2, (b[4 * i + 1] + b[4 * i + 3]) / 2), 0);
    };
    d.show = function (ind) {
      d.init();
      var was = d.canvas.active;
      d.canvas.active = ind;
      if (was && was !== ind && map.hasLayer(was)) map.removeLayer(was);  // one colour meaning at a time
      if (!map.hasLayer(d.canvas)) {
        map.addLayer(d.canvas);
        map.on("mousemove", d.onMove); map.on("click", d.onClick); map.on("mouseout", d.onOut);
      } else {
        d.canvas._update();
      }
      tk.state.indicator = ind.options.name;
    };
    d.hide = function (ind) {
      if (!d.canvas || d.canvas.active !== ind) return;
      d.canvas.active = null;
      map.closePopup(); d.onOut();
      map.off("mousemove", d.onMove); map.off("click", d.onClick); map.off("mouseout", d.onOut);
      map.removeLayer(d.canvas);
      tk.state.indicator = null; tk.state.drawn = 0;
    };
    tk.state.data = d;
    return d;
  }
  function content(d, ind, i, which) {
    var o = ind.options, cols = d.g.cols;
    if (which === "tooltip") return table(cols, o.tooltip, i);
    var h = table(cols, o.popup || o.tooltip, i, o.popupTitle);
    if (o.dist) h += distances(cols, o.dist, i);
    return h;
  }
  // A block indicator: a layer of its own in the control, drawn by the shared canvas.
  var Indicator = L.Layer.extend({
    initialize: function (data, options) { this._d = data; this.options = options; },
    onAdd: function () { this._d.show(this); },
    onRemove: function () { this._d.hide(this); }
  });
  function indicator(data, o) { var l = new Indicator(data, o); tk.indicators.push(l); return l; }
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
      if (o.popup && o.popup[i]) m.bindPopup(o.popup[i], {maxWidth: o.maxWidth || 340});
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
    layer.on("add", function () { ctl.addTo(map); });
    layer.on("remove", function () { ctl.remove(); });
    return ctl;
  }
  // The layer control: collapsible groups (summary, basemap, coverage by category, overlays, decisions);
  // block indicators are radios of one name (one colour meaning at a time), other layers checkboxes.
  function control(map, o) {
    var ctl = L.control({position: "topright"});
    var inputs = [];
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "tk-layers");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      var head = L.DomUtil.create("button", "tk-layers-toggle", div);
      head.type = "button";
      head.textContent = o.title;
      head.setAttribute("aria-expanded", "true");
      var body = L.DomUtil.create("div", "tk-layers-body", div);
      head.onclick = function () {
        var open = body.style.display === "none";
        body.style.display = open ? "" : "none";
        head.setAttribute("aria-expanded", open ? "true" : "false");
        L.DomUtil[open ? "removeClass" : "addClass"](div, "tk-collapsed");
      };
      o.groups.forEach(function (grp) {
        var det = L.DomUtil.create("details", "tk-group", body);
        det.dataset.group = grp.key;
        if (grp.open) det.open = true;
        L.DomUtil.create("summary", "", det).textContent = grp.title;
        if (grp.html) {
          var box = document.getElementById(grp.html);
          box.style.display = "block";
          det.appendChild(box);
        }
        grp.items.forEach(function (it) {
          var lab = L.DomUtil.create("label", "tk-item", det);
          if (!it.layer) lab.dataset.none = "1";
          var inp = L.DomUtil.create("input", "", lab);
          inp.type = it.kind === "check" ? "checkbox" : "radio";
          if (it.kind !== "check") inp.name = it.kind === "base" ? "tk-base" : "tk-indicator";
          var span = L.DomUtil.create("span", "", lab);
          span.textContent = it.name;
          inp.checked = it.layer ? map.hasLayer(it.layer) : (it.kind === "radio" && !tk.state.indicator);
          inp.onchange = function () {
            if (it.kind === "check") {
              if (inp.checked) map.addLayer(it.layer); else map.removeLayer(it.layer);
            } else if (inp.checked) {
              inputs.forEach(function (x) {  // the other radios of the same name go off
                if (x.inp !== inp && x.inp.name === inp.name && x.it.layer && map.hasLayer(x.it.layer)) {
                  map.removeLayer(x.it.layer);
                }
              });
              if (it.layer) map.addLayer(it.layer);
            }
          };
          inputs.push({inp: inp, it: it});
        });
      });
      var sync = function () {
        inputs.forEach(function (x) {
          x.inp.checked = x.it.layer ? map.hasLayer(x.it.layer) : (x.it.kind === "radio" && !tk.state.indicator);
        });
      };
      // after the change that fired it has run through (adding one indicator removes another, and the
      // canvas with it): the inputs then show the final state, not one of the steps on the way
      var queued = false;
      map.on("layeradd layerremove", function () {
        if (queued) return;
        queued = true;
        Promise.resolve().then(function () { queued = false; sync(); });
      });
      return div;
    };
    ctl.addTo(map);
    L.control.scale({metric: true, imperial: false, maxWidth: 100}).addTo(map);  // metric only
    tk.state.control = ctl;
    return ctl;
  }
  return {esc: esc, fmt: fmt, table: table, distances: distances, blockData: blockData, indicator: indicator,
          geo: geo, detail: detail, points: points, legend: legend, control: control, indicators: [],
          state: {blocks: 0, drawn: 0, indicator: null, firstDraw: null}};
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
    """The blocks' geometry (once) and their attributes by column, as a JSON data island in the page.

    ``geometry`` holds each block's rings as integer coordinates (``1 / scale`` degree) relative to the
    first vertex of the map (``origin``), delta-encoded along each ring (:func:`_encode_rings`); a column
    of small integers (classes, yes/no) goes into the page as a string of one character per block. The
    page decodes them once into the shared canvas that every block indicator restyles.
    """

    _template = Template("""
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.element_id }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.blockData({{ this.element_id|tojson }}, {{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, geometry: list[list[list[int]]], columns: dict[str, list], origin: tuple[int, int],
                 scale: int, element_id: str = "tk-blocks"):
        super().__init__()
        self._name = "tk_blocks"
        self.element_id = element_id
        self.columns = columns
        self.geometry = geometry
        self.origin = [int(origin[0]), int(origin[1])]
        self.scale = int(scale)

    @property
    def payload(self) -> str:
        plain: dict[str, list] = {}
        codes: dict[str, str] = {}
        factors: dict[str, dict] = {}
        numbers: dict[str, dict] = {}
        for k, v in self.columns.items():
            if (code := _small_codes(v)) is not None:
                codes[k] = code
            elif (f := _factor(v)) is not None:
                factors[k] = f
            elif (b := _binary(v)) is not None:
                numbers[k] = b
            else:
                plain[k] = v
        return _json({"n": len(self.geometry), "scale": self.scale, "origin": self.origin, "geom": self.geometry,
                      "columns": plain, "codes": codes, "factors": factors, "numbers": numbers})


_CODE_CHARS: dict[int | None, str] = {None: "-", -1: "~", **{i: chr(48 + i) for i in range(10)}}


def _small_codes(values: list) -> str | None:
    """A column of ``None`` and the integers -1..9 as one character each (``-`` missing, ``~`` -1), else None.

    Classes and yes/no columns are most of a map's attributes: a character a block instead of ``1,`` or
    ``null,`` keeps a 100,000-block map's columns small.
    """
    if not all(v is None or (type(v) is int and -1 <= v <= 9) for v in values):
        return None
    return "".join(_CODE_CHARS[v] for v in values)


def _binary(values: list) -> dict | None:
    """A column of numbers (``None`` missing) as base64 little-endian floats: 32-bit when every value is below
    2**24 in size (integers exact, decimals to 7 digits), else 64-bit; missing values are NaN.

    The page turns the text into a typed array in one step: no parsed JSON array of boxed numbers, which
    for a 100,000-block study's columns cost the browser hundreds of MB before it could free them.
    """
    if not values or not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
        return None
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    fin = a[np.isfinite(a)]
    bits = 32 if not len(fin) or np.abs(fin).max() < 2**24 else 64
    raw = a.astype("<f4" if bits == 32 else "<f8").tobytes()
    return {"bits": bits, "b64": base64.b64encode(raw).decode("ascii")}


def _factor(values: list) -> dict | None:
    """A text column of few distinct values (a reason, a class) as its levels and each block's level index.

    The same few sentences repeated over 100,000 blocks are most of a large map's bytes otherwise.
    """
    if len(values) < 64 or not any(isinstance(v, str) for v in values) or \
            not all(v is None or isinstance(v, str) for v in values):
        return None
    levels = sorted({v for v in values if v is not None})
    if len(levels) > 255 or len(levels) * 4 > len(values):
        return None
    at = {v: i for i, v in enumerate(levels)}
    return {"levels": levels, "index": [-1 if v is None else at[v] for v in values]}


def _encode_rings(geoms: Any, scale: int) -> tuple[list, tuple[int, int]]:
    """Each polygon's rings (exterior and holes of every part) as delta-encoded integer ``x, y`` lists.

    Coordinates are rounded to ``1 / scale`` degree (``scale=10**5``: about 1.1 m, below the 2 m the
    blocks are simplified to); the first vertex of a ring is relative to ``origin``, each later one to the
    vertex before it, so most numbers take 1 to 4 digits. The last vertex (equal to the first) is dropped.
    """
    geoms = np.asarray(geoms)
    parts, part_block = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    q = np.round(coords * scale).astype(np.int64)
    origin = (int(q[0, 0]), int(q[0, 1])) if len(q) else (0, 0)
    out: list[list[list[int]]] = [[] for _ in range(len(geoms))]
    starts = np.flatnonzero(np.r_[True, vertex_ring[1:] != vertex_ring[:-1]]) if len(q) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(q)].astype(int)
    for s0, e0 in zip(starts, ends, strict=True):
        r = q[s0:e0 - 1] if e0 - s0 > 3 else q[s0:e0]  # the closing vertex repeats the first
        d = np.diff(r, axis=0, prepend=np.array([origin]))
        out[int(part_block[ring_part[vertex_ring[s0]]])].append(d.ravel().tolist())
    return out, origin


class BlockLayer(Layer):
    """One block indicator: a style of the shared :class:`BlockData` geometry, drawn on the map's block canvas.

    Indicators are mutually exclusive (one colour meaning at a time): switching one on switches the
    other off, and its legend (a :class:`ClassLegend` of this layer) is shown only while it is on.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tk.indicator({{ this.data.get_name() }}, {{ this.js(this.options) }});
        {% endmacro %}
    """)

    js = staticmethod(_json)
    #: the layer's classification, set by the code that adds the layer (for its legend)
    classes: Any

    # the layer's options (keywords, all None by default) and their names in the page's tk.blocks
    OPTIONS: ClassVar[dict[str, str]] = {
        "cls": "cls", "colors": "colors", "filter": "filter", "tooltip": "tooltip", "popup": "popup",
        "popup_title": "popupTitle", "class_name": "className", "dist": "dist"}

    def __init__(self, data: BlockData, name: str, *, style: dict | None = None, show: bool = False,
                 **options: Any):
        """``options``: ``cls`` (the class column), ``colors``, ``filter``, ``tooltip`` and ``popup`` (field
        lists), ``popup_title``, ``class_name``, ``dist`` (the distance | threshold | data status table of
        the popup, :func:`_distance_table`) (:attr:`OPTIONS`)."""
        bad = set(options) - set(self.OPTIONS)
        if bad:
            raise TypeError(f"BlockLayer got unexpected option(s) {', '.join(sorted(bad))}; "
                            f"options are: {', '.join(self.OPTIONS)}")
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BlockLayer"
        self.data = data
        o = {js: options.get(py) for py, js in self.OPTIONS.items()}
        # the order of the keys is the page's (map.html unchanged)
        self.options = {"cls": o["cls"], "colors": o["colors"], "nodata": NO_DATA, "filter": o["filter"],
                        "style": {"color": "#555555", "weight": 0.3, "fillOpacity": 0.7, **(style or {})},
                        "tooltip": o["tooltip"], "popup": o["popup"], "popupTitle": o["popupTitle"],
                        "className": o["className"], "dist": o["dist"], "name": name}


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


def _tip(fields: list[str], lang: str, layer: str) -> TextTooltip:
    """A text tooltip of ``fields``, each named in ``lang`` (the glossary's ``field.*``, else the data dictionary)."""
    names = []
    for f in fields:
        key = f"field.{f.removesuffix('_label')}"
        names.append(label(key, lang) if key in LABELS else column(f, lang, layer=layer))
    return TextTooltip(fields=fields, aliases=names)


class _Summary(MacroElement):
    """The study's summary (thresholds, rates, data status), shown as the first group of the layer control."""

    _template = Template("""
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
    """)

    def __init__(self, body: str):
        super().__init__()
        self._name = "tk_summary"
        self.body = f'<div id="tk-summary" class="tk-summary" style="display:none">{body}</div>'


#: The layer control's groups, in order: glossary key of the title, open on opening
GROUPS = (("summary", "map.group_summary", False), ("basemap", "map.group_basemap", False),
          ("coverage", "map.group_coverage", True), ("overlays", "map.group_overlays", False),
          ("decisions", "map.group_decisions", False))


class GroupedLayerControl(MacroElement):
    """The map's layer control: collapsible groups, block indicators as radios, other layers as checkboxes.

    Each control-listed layer of the map goes into the group named by its ``tk_group`` attribute (see
    :func:`coverage_map`, which sets it from the function that drew the layer); the summary box is the
    first group. The control is one box of bounded height (it scrolls), with a metric scale beside it.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        tk.control({{ this._parent.get_name() }}, {{ this.spec() }});
        {% endmacro %}
    """)

    def __init__(self, title: str, groups: list[tuple[str, str, bool, list[tuple[Layer | None, str, str]]]],
                 summary: str | None = "tk-summary"):
        super().__init__()
        self._name = "GroupedLayerControl"
        self.title = title
        self.groups = groups
        self.summary = summary

    def spec(self) -> str:
        # layers are the page's variables: written as names, everything else as (escaped) JSON
        out = []
        for key, title, is_open, items in self.groups:
            its = ",".join(f"{{layer:{lyr.get_name() if lyr is not None else 'null'},name:{_json(name)},"
                           f"kind:{_json(kind)}}}" for lyr, name, kind in items)
            html = _json(self.summary) if key == "summary" and self.summary else "null"
            out.append(f"{{key:{_json(key)},title:{_json(title)},open:{'true' if is_open else 'false'},"
                       f"html:{html},items:[{its}]}}")
        return f"{{title:{_json(self.title)},groups:[{','.join(out)}]}}"

    def names(self) -> list[str]:
        """The layer names the control lists, in its order."""
        return [name for *_, items in self.groups for lyr, name, _ in items if lyr is not None]


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
    m = folium.Map(location=centre, zoom_start=13, tiles=None, control_scale=False, min_zoom=8, max_zoom=19,
                   font_size="0.8rem")
    webassets.offline_figure(m, allow_cdn=allow_cdn, title=result.study.title or result.study.name)
    m.add_child(_Helpers("#f2efe9" if basemap == "offline" else "#ffffff"))
    _in_group(m, "basemap", _basemap, m, result, basemap, lang, disp)
    data = _block_data(result, disp)
    m.add_child(data)
    _in_group(m, "coverage", _coverage_layers, m, result, lang, data, disp)
    _in_group(m, "overlays", _overlay_layers, m, result, lang, data, disp)
    _in_group(m, "decisions", _decision_layers, m, result, lang, data, disp)
    _in_group(m, "decisions", _scenario_layers, m, result, lang, data, disp)
    area = disp.frame(result.area[["geometry"]], tolerance_m=1.0)
    study_area = folium.GeoJson(area, name=label("layer.study_area", lang), style_function=lambda f: {
        "fill": False, "color": "#000000", "weight": 2})
    setattr(study_area, "tk_group", "basemap")  # noqa: B010  (folium layers carry no such attribute: ours)
    study_area.add_to(m)
    _legend(m, result, lang, basemap)
    m.add_child(_control(m, lang))
    m.fit_bounds(bounds)
    return m


def _in_group(m: folium.Map, group: str, draw: Any, *args: Any) -> None:
    """Call ``draw(*args)`` and put the control-listed layers it added to ``m`` into ``group`` of the control.

    The group follows from the function that drew a layer, so a layer added by any of them (or a new
    overlay's loop) lands in the right group without naming it; a layer that says its ``tk_group`` keeps it.
    """
    before = set(m._children)
    draw(*args)
    for key, child in m._children.items():
        if key not in before and isinstance(child, Layer) and child.control and not getattr(child, "tk_group", None):
            setattr(child, "tk_group", group)  # noqa: B010  (a toolkit attribute on a folium layer)


def _control(m: folium.Map, lang: str) -> GroupedLayerControl:
    """The grouped control of ``m``'s layers: base layers, then block indicators (radios), then the rest."""
    layers = [c for c in m._children.values() if isinstance(c, Layer) and c.control]
    groups = []
    for key, title_key, is_open in GROUPS:
        mine = [c for c in layers if getattr(c, "tk_group", "overlays") == key]
        items: list[tuple[Layer | None, str, str]] = [(c, c.layer_name, "base") for c in mine if not c.overlay]
        radios: list[tuple[Layer | None, str, str]] = [(c, c.layer_name, "radio") for c in mine
                                                       if c.overlay and isinstance(c, BlockLayer)]
        if key == "coverage" and any(isinstance(c, BlockLayer) for c in layers):
            radios.insert(0, (None, label("map.no_indicator", lang), "radio"))  # every block uncoloured
        items += radios + [(c, c.layer_name, "check") for c in mine if c.overlay and not isinstance(c, BlockLayer)]
        if items or key == "summary":
            groups.append((key, label(title_key, lang), is_open, items))
    return GroupedLayerControl(label("map.layers", lang), groups)


def layer_names(m: folium.Map) -> list[str]:
    """The names the map's layer control lists, in its order (group by group, base layers first)."""
    ctl = [c for c in m._children.values() if isinstance(c, GroupedLayerControl)]
    if ctl:
        return ctl[0].names()
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
                attribution=label("map.offline_attribution", lang),
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


#: Block coordinates are written in units of 1 / GEOMETRY_SCALE degree (about 1.1 m): the blocks are simplified
#: to 2 m before (what the highest zoom needs), so finer digits would only add bytes
GEOMETRY_SCALE = 10**5


def _block_data(result: StudyResult, disp: _Display) -> BlockData:
    """The shared block geometry, simplified to 2 m (what the highest zoom shows), with the common columns."""
    b = result.blocks
    web = disp.frame(b[["geometry"]])
    geometry, origin = _encode_rings(web.geometry.values, GEOMETRY_SCALE)
    cols: dict[str, list] = {"block_id": _col(b["block_id"], None)}
    for c in ("population", "pop_65plus", "n_within"):
        if c in b:
            cols[c] = _col(b[c])
    for cat in result.categories:
        cols[f"dist_{cat}_m"] = _col(b[f"dist_{cat}_m"])
        cols[f"within_{cat}"] = _col(b[f"within_{cat}"])
    return BlockData(geometry, cols, origin, GEOMETRY_SCALE)


def _coverage_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    cats = result.profile.catalogue
    b = result.blocks
    n = max(len(result.categories), 1)
    share = (b["n_within"] / n).to_numpy(dtype=float) if "n_within" in b else np.zeros(len(b))
    cls = classify(share, k=5)
    colours = ramp(RAMP_COVERAGE, len(cls.bins))
    data.columns["share_within"] = _col(share, 3)
    data.columns["cls_share"] = cls.yb.tolist()
    f: list[list[Any]] = [
        ["block_id", label("col.block_id", lang), None], ["population", label("col.population", lang), "int"],
        ["pop_65plus", label("col.pop_65plus", lang), "int"], ["n_within", label("col.n_within", lang), "int"]]
    f = [x for x in f if x[0] in data.columns]
    dist = _distance_table(result, lang)
    main = BlockLayer(data, label("map.coverage", lang), cls="cls_share", colors=colours, show=True,
                      class_name=BLOCK_CLASS, style={"weight": 0.3, "fillOpacity": 0.7},
                      tooltip=[f[0], ["share_within", label("map.share_within", lang), "pct"]], popup=f, dist=dist)
    main.add_to(m)
    main.classes = cls
    legend = class_legend(cls, colours, label("legend.coverage", lang, n=n), main, fmt="pct")
    legend.add_to(m)
    yesno = [label("legend.within_no", lang), label("legend.within_yes", lang)]
    ds = (result.details or {}).get("data_status", {})
    for cat in result.categories:
        name = cats[cat].label(lang)
        thr = result.profile.rule(cat).max_distance_m
        lyr = BlockLayer(data, label("map.within", lang, label=name, thr=thr), cls=f"within_{cat}",
                         colors=[WITHIN_NO, WITHIN_YES], style={"weight": 0.2, "fillOpacity": 0.6},
                         tooltip=[f[0], [f"dist_{cat}_m", label("map.distance", lang), "int"],
                                  [f"within_{cat}", name, yesno]], popup=f, dist=dist)
        lyr.add_to(m)
        # the caption says how complete the category's data are: "beyond" on a sample is no service gap
        status = status_label(ds.get(cat, {}).get("status", "measured"), lang)
        ClassLegend([WITHIN_NO, WITHIN_YES], [0, 0, 1],
                    label("map.within_status", lang, name=label("map.within", lang, label=name, thr=thr),
                          status=status), lyr, labels=yesno).add_to(m)
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


def _distance_table(result: StudyResult, lang: str) -> dict:
    """The block popup's table: each category's distance beside its threshold and its data status.

    Rows: ``[distance column, category, threshold (m), status, within column, complete?]``; a category
    of incomplete data is shown in italics, so its distance reads as a figure, never as a service gap.
    """
    cats = result.profile.catalogue
    ds = (result.details or {}).get("data_status", {})
    head = [label("col.category", lang), label("map.distance", lang), label("map.threshold_m", lang),
            label("term.data_status", lang)]
    rows = []
    for c in result.categories:
        st = ds.get(c, {}).get("status", "measured")
        rows.append([f"dist_{c}_m", cats[c].label(lang), float(result.profile.rule(c).max_distance_m),
                     status_label(st, lang), f"within_{c}", st == "complete"])
    return {"head": head, "rows": rows}


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
                    f"{_html.escape(cats[cat].label(lang))}</td>"
                    f"<td>{label('map.metres', lang, m=result.profile.rule(cat).max_distance_m)}"
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
                     + (f"<br><span style='color:#b35806'>{_note(us['note'], lang)}</span>" if us.get("note") else "")
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


def _written_in(texts: Any, lang: str) -> bool:
    """Whether generated ``texts`` (all in one language) are in ``lang``: Chinese ones hold Han characters."""
    sample = next((t for t in texts if isinstance(t, str) and t), None)
    return sample is None or (_HAN.search(sample) is not None) == (lang == "zh")


_HAN = re.compile("[\u4e00-\u9fff]")


def _note(note: str, lang: str) -> str:
    """The underserved rule's note (:func:`toolkit.underserved.underserved_summary` writes it in English): as it
    is in English, the glossary's sentence saying the same in another language."""
    return _html.escape(note) if lang != "zh" else label("map.underserved_note", lang)


def _overlay_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Walkability, heritage and waterfront layers, each with a legend, when the study has them."""
    for add in (_walk_layers, _heritage_layers, _waterfront_layers,  # in this order in the layer control
                _registered_overlay_layers):
        add(m, result, lang, data, disp)


def _walk_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """The walkability index of the blocks (with its components in the popup) and the hostile streets."""
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
                               tooltip=_tip(["highway", "name"], lang, "streets")).add_to(m)


def _heritage_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Heritage zones, the blocks' heritage class, listed buildings and protected roads."""
    b = result.blocks
    cols = data.columns
    bid = ["block_id", label("col.block_id", lang), None]
    layers = result.layers
    if "heritage" in layers and len(layers["heritage"]):
        z = disp.frame(layers["heritage"])
        z = z[[c for c in ("zone_id", "kind", "name", "area_ha", "geometry") if c in z]]
        if "kind" in z:  # the colour follows "kind"; the tooltip shows its name in the map's language
            z["kind_label"] = [label(f"heritage.{k}", lang) if f"heritage.{k}" in LABELS else k for k in z["kind"]]
        folium.GeoJson(z, name=label("layer.heritage", lang),
                       # outlines only: a filled zone on top would take the clicks meant for its blocks
                       style_function=lambda f: {"color": ZONE_COLOURS.get(f["properties"].get("kind"), "#b15928"),
                                                 "weight": 1.5, "fill": False},
                       tooltip=_tip([c for c in ("kind_label", "name") if c in z], lang, "heritage")).add_to(m)
    if "heritage_class" in b:
        order = list(HERITAGE_COLOURS)
        cols["heritage_class"] = _col(b["heritage_class"], None)
        cols["cls_heritage"] = [order.index(v) if v in order else -1 for v in b["heritage_class"]]
        fields: list[list[Any]] = [bid, ["heritage_class", label("col.heritage_class", lang), None]]
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
                       tooltip=_tip(["name"], lang, "streets")).add_to(m)


def _waterfront_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """The bank (access and gaps), the access points and the blocks within reach of the waterfront."""
    b = result.blocks
    cols = data.columns
    bid = ["block_id", label("col.block_id", lang), None]
    layers = result.layers
    if "waterfront" in layers and len(layers["waterfront"]):
        w = disp.frame(layers["waterfront"], tolerance_m=1.0)
        w = w[[c for c in ("kind", "access", "length_m", "geometry") if c in w]]
        if "length_m" in w:
            w["length_m"] = w["length_m"].round(0)
        folium.GeoJson(w, name=label("map.waterfront", lang),
                       style_function=lambda f: {"color": BANK_ACCESS if f["properties"].get("access") else BANK_GAP,
                                                 "weight": 5},
                       tooltip=_tip([c for c in ("kind", "length_m") if c in w], lang, "waterfront")).add_to(m)
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


def _registered_overlay_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData,
                               disp: _Display) -> None:
    """Any registered overlay (``result.overlays``, :mod:`toolkit.overlays`): its mapped block columns, each a
    classed block layer with its legend, and its point, line and polygon layers; names from its declaration.
    The built-in overlays map nothing here (the functions above draw them)."""
    from .. import palette

    b = result.blocks
    bid = ["block_id", label("col.block_id", lang), None]
    for o in (getattr(result, "overlays", None) or {}).values():
        if not o.present:
            continue
        for col, ramp_name in o.mapped_columns().items():
            if col not in b or b[col].dtype.kind not in "iuf" or not np.isfinite(b[col].to_numpy(dtype=float)).any():
                continue
            doc = o.column_doc("blocks", col)
            name = doc.label(lang) if doc else col
            fmt: Any = "int" if b[col].dtype.kind in "iu" else 2
            data.columns[col] = _col(b[col], 0 if fmt == "int" else 2)
            cls = classify(b[col], scheme="Quantiles", k=5)
            colours = ramp(getattr(palette, ramp_name, RAMP_REDS), len(cls.bins))
            data.columns[f"cls_{col}"] = cls.yb.tolist()
            lyr = BlockLayer(data, label("map.of_blocks", lang, name=name), cls=f"cls_{col}", colors=colours,
                             style={"weight": 0.2, "fillOpacity": 0.7}, tooltip=[bid, [col, name, fmt]])
            lyr.add_to(m)
            lyr.classes = cls
            class_legend(cls, colours, name, lyr, fmt=fmt,
                         nodata=label("legend.no_data", lang) if (cls.yb < 0).any() else None).add_to(m)
        for layer in o.mapped_layers():
            gdf = result.layers.get(layer)
            if gdf is None or not len(gdf):
                continue
            ld = o.layer_doc(layer)
            title = ld.title(lang) if ld else layer
            fields = [c for c in gdf.columns if c != gdf.geometry.name and gdf[c].dtype.kind in "iufbO"][:4]
            if set(gdf.geometry.geom_type.dropna()) <= {"Point"}:
                tips = [_html.escape(", ".join(f"{c}: {row[c]}" for c in fields)) for _, row in gdf.iterrows()]
                PointLayer(title, disp.points(gdf).tolist(), tooltip=tips,
                           style={"radius": 3, "color": "#6a3d9a", "weight": 1, "fill": True,
                                  "fillOpacity": 0.9}).add_to(m)
            else:
                folium.GeoJson(disp.frame(gdf[[*fields, gdf.geometry.name]]), name=title, show=False,
                               style_function=lambda f: {"color": "#6a3d9a", "weight": 2, "fill": False},
                               tooltip=_tip(fields, lang, layer) if fields else None).add_to(m)


#: Scenario change classes of a block (toolkit.scenario): colour and glossary key, in class order.
_SCENARIO_CLASSES = (("#f0f0f0", "scenario.same"), ("#a6d96a", "scenario.shorter"), ("#1a9641", "scenario.gained"),
                     ("#fdae61", "scenario.longer"), ("#d7191c", "scenario.lost"))


def _scenario_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Per ``[[scenario]]``: its blocks classed by what changed, its added and closed facilities, its links."""
    for i, s in enumerate(((result.details or {}).get("scenarios") or {}).get("scenarios") or []):
        name, layers = s.get("title") or s["name"], result.layers
        sb = layers.get(f"scenario_{s['name']}_blocks")
        if sb is not None and len(sb) == len(result.blocks):
            ch = sb[[c for c in sb.columns if c.startswith("dist_change_")]].to_numpy(dtype=float)
            shorter = (np.nan_to_num(ch, nan=0.0) < 0).any(axis=1) if ch.size else np.zeros(len(sb), bool)
            cls = np.select([sb["n_no_longer_within"].to_numpy() > 0, sb["n_newly_within"].to_numpy() > 0,
                             sb["distance_changed"].to_numpy(dtype=bool) & ~shorter,
                             sb["distance_changed"].to_numpy(dtype=bool)], [4, 2, 3, 1], 0)
            data.columns[f"sc{i}_cls"] = cls.tolist()
            data.columns[f"sc{i}_changed"] = _col(cls > 0)
            data.columns[f"sc{i}_newly"] = [v.replace(";", ", ") for v in sb["newly_within"].astype(str)]
            tip = [["block_id", label("col.block_id", lang), None],
                   [f"sc{i}_newly", label("scenario.gained", lang), None]]
            lyr = BlockLayer(data, label("scenario.map_blocks", lang, name=name), cls=f"sc{i}_cls",
                             colors=[c for c, _ in _SCENARIO_CLASSES], filter=f"sc{i}_changed",
                             style={"weight": 0.3, "fillOpacity": 0.7}, tooltip=tip, popup=tip)
            lyr.add_to(m)
            ClassLegend([c for c, _ in _SCENARIO_CLASSES], [0, 0, 1, 2, 3, 4],
                        label("scenario.map_blocks", lang, name=name), lyr,
                        labels=[label(k, lang) for _, k in _SCENARIO_CLASSES]).add_to(m)
        sf = layers.get(f"scenario_{s['name']}_facilities")
        if sf is not None and len(sf):
            kind = np.where(sf["action"] == "closed", "closed", np.where(sf["snapped"].astype(bool), "added",
                                                                         "refused"))
            colour = {"added": "#1a9641", "closed": "#d7191c", "refused": "#969696"}
            PointLayer(label("scenario.map_facilities", lang, name=name), disp.points(sf).tolist(),
                       style={"radius": 5, "fill": True, "fillOpacity": 0.9, "weight": 2},
                       styles=[{"color": colour[k], "fillColor": colour[k]} for k in kind],
                       tooltip=[_html.escape(f"{label(f'scenario.{k}', lang)}: {c}") for k, c in
                                zip(kind, sf["category"].astype(str), strict=True)], show=True).add_to(m)
        sl = layers.get(f"scenario_{s['name']}_links")
        if sl is not None and len(sl):
            folium.GeoJson(disp.frame(sl[["name", "length_m", "geometry"]].round({"length_m": 0}), tolerance_m=0.5),
                           name=label("scenario.map_links", lang, name=name),
                           style_function=lambda f: {"color": "#1a9641", "weight": 4, "dashArray": "6 4"},
                           tooltip=_tip(["name", "length_m"], lang, "scenario_links")).add_to(m)


_REASON_COUNT = re.compile(r"misses >= (\d+) basic services")


def _reason(value: Any, lang: str) -> str | None:
    """An underserved block's reason (:func:`toolkit.underserved.underserved_blocks` writes it in English) in
    ``lang``; a text that is not one of its three reasons is shown as it is (it is data)."""
    if not isinstance(value, str) or not value:
        return None
    fixed = {"basic services and elderly care": "map.reason_both",
             "elderly care in an aged block": "map.reason_elderly"}
    if value in fixed:
        return label(fixed[value], lang)
    hit = _REASON_COUNT.fullmatch(value)
    return label("map.reason_count", lang, n=int(hit.group(1))) if hit else value


def _decision_layers(m: folium.Map, result: StudyResult, lang: str, data: BlockData, disp: _Display) -> None:
    """Underserved blocks and ranked candidate sites, with popups that explain the numbers."""
    b = result.blocks
    cols = data.columns
    if "underserved" in b and b["underserved"].any():
        cols["underserved"] = _col(b["underserved"])
        for c, d in (("n_missing", 0), ("severity", 2)):
            if c in b:
                cols[c] = _col(b[c], d)
        if "underserved_reason" in b:
            cols["underserved_reason"] = [_reason(v, lang) for v in b["underserved_reason"]]
        labels = {k: v.label(lang) for k, v in result.profile.catalogue.items()}
        for col in ("missing_categories", "missing_incomplete"):
            if col in b:
                cols[col] = [", ".join(labels.get(k, k) for k in str(v).split(";") if k)
                             if isinstance(v, str) else None for v in b[col]]
        cls = classify(b["severity"], scheme="Quantiles", k=5, mask=b["underserved"])
        colours = ramp(RAMP_REDS, len(cls.bins))
        cols["cls_severity"] = cls.yb.tolist()
        popup = [[c, label(f"col.{c}", lang), d] for c, d in (
            ("block_id", None), ("population", "int"), ("pop_65plus", "int"), ("missing_categories", None),
            ("n_missing", "int"), ("missing_incomplete", None), ("underserved_reason", None), ("severity", 2))]
        popup = [p for p in popup if p[0] in cols]
        lyr = BlockLayer(data, label("layer.underserved", lang), cls="cls_severity", colors=colours,
                         filter="underserved", style={"color": "#67000d", "weight": 0.4, "fillOpacity": 0.75},
                         tooltip=[popup[0], ["missing_categories", label("col.missing_categories", lang), None]],
                         popup=popup, dist=_distance_table(result, lang))
        lyr.add_to(m)
        lyr.classes = cls
        class_legend(cls, colours, label("legend.severity", lang), lyr, fmt=1).add_to(m)
    if "priority_severity" in b and (b["priority_severity"] > 0).any():
        # the priority list (toolkit.priority): ranked blocks in severity classes, each with its own reason;
        # the residents' voice points are the [voice] overlay's layer (drawn with the registered overlays)
        ranked = b["priority_severity"].to_numpy(dtype=float) > 0
        cols["has_priority"] = ranked.astype(int).tolist()
        # the reason is written in the language of the run: in another, the distance table says the same
        same = "priority_reason" in b and _written_in(b["priority_reason"], lang)
        for c in ("priority_severity", "priority_rank", "priority_reason", "voice_n"):
            if c in b and (same or c != "priority_reason"):
                v = b[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan) if c == "priority_rank" else b[c]
                cols[c] = _col(v, None if c == "priority_reason" else 0)
        pcls = classify(b["priority_severity"], scheme="Quantiles", k=5, mask=ranked)
        pcolours = ramp(RAMP_REDS, len(pcls.bins))
        cols["cls_priority"] = pcls.yb.tolist()
        pp = [[c, label(f"col.{c}", lang), f] for c, f in (
            ("block_id", None), ("priority_rank", "int"), ("priority_severity", "int"), ("population", "int"),
            ("priority_reason", None), ("voice_n", "int")) if c in cols and (same or c != "priority_reason")]
        plyr = BlockLayer(data, label("layer.priority", lang), cls="cls_priority", colors=pcolours,
                          filter="has_priority", style={"color": "#67000d", "weight": 0.4, "fillOpacity": 0.75},
                          tooltip=pp[:3], popup=pp, dist=None if same else _distance_table(result, lang))
        plyr.add_to(m)
        plyr.classes = pcls
        class_legend(pcls, pcolours, label("col.priority_severity", lang), plyr, fmt=0).add_to(m)
    sites = result.layers.get("candidate_sites")
    if sites is not None and len(sites):
        _site_layer(m, result, lang, disp, sites)


def _site_popup(row: Any, result: StudyResult, lang: str, interventions: dict) -> str:
    """A candidate site's popup: its score and what makes it up, what it would serve, what it allows."""
    esc = _html.escape
    cats = result.profile.catalogue
    score = "\u2013" if np.isnan(row["score"]) else f"{row['score']:.3f}"
    rank = "\u2013" if pd.isna(row.get("rank")) else f"{int(row['rank'])}"
    name = row.get("name")
    name = f" {esc(name)}" if isinstance(name, str) and name else ""
    kind = str(row["site_type"])
    kind = label(f"site_type.{kind}", lang) if f"site_type.{kind}" in LABELS else kind  # others are data
    cls = str(row.get("heritage_class", ""))
    heritage = label(f"heritage.{cls}", lang) if f"heritage.{cls}" in LABELS else cls
    allowed = [interventions.get(k, k) for k in str(row.get("allowed_interventions") or "").split(";") if k]
    contrib = "".join(
        f"<tr><th>{esc(label(f'criterion.{k[8:]}', lang) if f'criterion.{k[8:]}' in LABELS else k[8:])}</th>"
        f"<td>{row[k]:.3f}</td></tr>" for k in row.index if k.startswith("contrib_") and row[k] > 0)
    gains = "".join(f"<tr><th>{esc(cats[c].label(lang))}</th><td>{row[f'new_{c}_pop']:,.0f}</td>"
                    f"<td>{row[f'new_{c}_65plus']:,.0f}</td></tr>" for c in result.categories
                    if f"new_{c}_pop" in row.index and row[f"new_{c}_pop"] > 0)
    rows = [("col.site_type", esc(kind)), ("col.source", esc(str(row["source"]))), ("col.score", score),
            ("col.rank", rank), ("col.heritage_class", esc(heritage)),
            ("map.allowed", esc(label("word.list_sep", lang).join(allowed)) or "\u2013"),
            ("col.nearest_street", esc(str(row.get("nearest_street") or "\u2013")))]
    table = "".join(f"<tr><th>{label(k, lang)}</th><td>{v}</td></tr>" for k, v in rows)
    selected = f" <b>{label('map.selected_site', lang)}</b>" if row["selected"] else ""
    h = (f"<b>{label('col.site_id', lang)} {esc(str(row['site_id']))}</b>{name}{selected}"
         f"<table class='tk-table'>{table}</table>")
    if contrib:
        h += f"<b>{label('map.score_parts', lang)}</b><table class='tk-table'>{contrib}</table>"
    if gains:
        head = "".join(f"<th>{label(k, lang)}</th>" for k in ("col.category", "col.population", "col.pop_65plus"))
        h += (f"<b>{label('map.newly_within', lang)}</b><table class='tk-table tk-dist'><tr>{head}</tr>"
              f"{gains}</table>")
    return h


def _site_layer(m: folium.Map, result: StudyResult, lang: str, disp: _Display, s: gpd.GeoDataFrame) -> None:
    """The ranked candidate sites: sized by score, selected hubs outlined, popups in ``lang``."""
    from ..heritage import heritage_rules

    zh = lang == "zh"
    interventions = {k: v.get("label_zh" if zh else "label_en", k)
                     for k, v in heritage_rules().get("interventions", {}).items()}
    pts = disp.points(s).tolist()
    top = np.nanmax(s["score"]) if s["score"].notna().any() else 1.0
    popups, tips, styles = [], [], []
    for _, row in s.iterrows():
        popups.append(_site_popup(row, result, lang, interventions))
        score = "\u2013" if np.isnan(row["score"]) else f"{row['score']:.3f}"
        tips.append(_html.escape(f"{label('col.site_id', lang)} {row['site_id']}: {label('col.score', lang)} {score}"))
        r = 3 + 7 * (0 if np.isnan(row["score"]) else row["score"] / top)
        styles.append({"radius": round(float(r), 1), "weight": 3 if row["selected"] else 1,
                       "color": (SITE_SELECTED if row["selected"] else SITE_CANDIDATE)[1],
                       "fillColor": (SITE_SELECTED if row["selected"] else SITE_CANDIDATE)[0]})
    PointLayer(label("map.ranked", lang, name=label("layer.candidate_sites", lang)), pts,
               style={"fill": True, "fillOpacity": 0.9}, styles=styles, popup=popups, tooltip=tips,
               show=True).add_to(m)


__all__ = ["BASEMAPS", "BLOCK_CLASS", "GEOMETRY_SCALE", "GROUPS", "BlockData", "BlockLayer", "ClassLegend", "Classes",
           "GroupedLayerControl", "PointLayer", "StaticLayer", "TextTooltip", "class_legend", "classify",
           "coverage_map", "layer_names"]
