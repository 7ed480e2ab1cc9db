"""``StudyResult.explore()``: one layer of a result on a live, offline map in a notebook.

geopandas' ``GeoDataFrame.explore`` loads Leaflet and its tiles from the internet, so in a planning
office without it the cell shows nothing. This map is built from the same pieces as ``map.html``
(:mod:`toolkit.outputs.webassets` inlines Leaflet and d3; no basemap tiles unless asked), so it
renders in Jupyter offline, and what it shows comes from the glossary and the palette like the other
outputs. Every value shown comes from data and is escaped.
"""

from __future__ import annotations

import difflib
import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..labels import column as column_label
from ..labels import label
from ..palette import CATEGORY_PALETTE, NO_DATA, OUTLINE, RAMP_COVERAGE, RAMP_REDS, WITHIN_NO, WITHIN_YES, ramp

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

    from ..result import StudyResult

__all__ = ["EXPLORE_CLASS", "explore", "explore_layers"]

#: CSS class of every feature an explore map draws (tests count them in the browser)
EXPLORE_CLASS = "tk-explore"
_TIP_COLUMNS = 4
#: columns whose high values are bad (distances, severities): drawn on the red ramp, others red-to-green
_BAD_HIGH = ("dist_", "severity", "underserved", "complaint", "gap")


def explore_layers(result: StudyResult) -> dict[str, gpd.GeoDataFrame]:
    """Every layer :func:`explore` can show: ``blocks``, ``streets``, ``facilities`` and ``result.layers``.

    Examples
    --------
    >>> sorted(explore_layers(result))[:3]  # doctest: +SKIP
    ['blocks', 'candidate_sites', 'facilities']
    """
    out: dict[str, gpd.GeoDataFrame] = {"blocks": result.blocks, "facilities": result.facilities}
    if result.streets is not None:
        out["streets"] = result.streets
    out.update({k: v for k, v in result.layers.items() if v is not None and hasattr(v, "geometry")})
    return out


def _pick(name: str, options: list[str], what: str, where: str) -> None:
    if name in options:
        return
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"no {what} {name!r} in {where}", field=what,
                     fix=f"{hint}choose one of: {', '.join(sorted(options)[:40])}")


def _colours(values: pd.Series, col: str, lang: str, k: int, scheme: str) -> tuple[list[str], Any, str]:
    """Per-row colours, the legend (a branca colormap or None) and a legend caption."""
    from branca.colormap import StepColormap

    from .webmap import classify

    caption = column_label(col, lang) if col else ""
    if pd.api.types.is_bool_dtype(values) or set(values.dropna().unique().tolist()) <= {True, False}:
        cols = [NO_DATA if pd.isna(v) else (WITHIN_YES if bool(v) else WITHIN_NO) for v in values]
        return cols, None, caption
    if pd.api.types.is_numeric_dtype(values):
        v = pd.to_numeric(values, errors="coerce").replace([np.inf, -np.inf], np.nan)
        if v.notna().sum() == 0:
            return [NO_DATA] * len(v), None, caption
        cls = classify(v.to_numpy(dtype=float), scheme=scheme, k=k)
        n = int(cls.yb.max()) + 1 if (cls.yb >= 0).any() else 1
        palette = RAMP_REDS if any(b in col for b in _BAD_HIGH) else RAMP_COVERAGE
        cs = ramp(palette, max(len(cls.index) - 1, n))
        out = [NO_DATA if c < 0 else cs[min(c, len(cs) - 1)] for c in cls.yb]
        legend = StepColormap(cs, index=cls.index, vmin=cls.index[0], vmax=cls.index[-1],
                              caption=html.escape(caption))
        return out, legend, caption
    levels = list(pd.unique(values.dropna()))
    lut = {lv: CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i, lv in enumerate(levels)}
    return [lut.get(x, NO_DATA) if not pd.isna(x) else NO_DATA for x in values], None, caption


def _tips(gdf: pd.DataFrame, col: str | None, lang: str) -> list[str]:
    keys = [c for c in gdf.columns if c != gdf.geometry.name and (c.endswith("_id") or c in ("name", "category"))]
    fields = list(dict.fromkeys([*([col] if col else []), *keys]))[:_TIP_COLUMNS]
    names = [html.escape(column_label(c, lang)) for c in fields]
    out = []
    for row in gdf[fields].itertuples(index=False, name=None):
        cells = []
        for n, v in zip(names, row, strict=True):
            text = "" if pd.isna(v) else (f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))
            cells.append(f"<b>{n}</b>: {html.escape(text)}")
        out.append("<br>".join(cells))
    return out


def explore(result: StudyResult, layer: str = "blocks", column: str | None = None, *, lang: str | None = None,
            k: int = 5, scheme: str = "Quantiles", tiles: str | None = None) -> folium.Map:
    """One layer of ``result`` on an offline folium map, coloured by ``column``; the whole map when no column.

    Parameters
    ----------
    result : StudyResult
        A run of :func:`toolkit.run_study`.
    layer : str
        ``"blocks"``, ``"streets"``, ``"facilities"`` or a name in ``result.layers`` (heritage,
        candidate_sites, zones...). See :func:`explore_layers`.
    column : str, optional
        The column to colour by: numbers in ``k`` classes (``scheme``, a mapclassify name), yes/no in the
        within/beyond colours, text one colour per value. Without it, ``layer="blocks"`` gives the
        study's full map (:func:`toolkit.outputs.webmap.coverage_map`) and another layer one colour.
    lang : {"en", "zh"}, optional
        Labels' language (default: the study's).
    k, scheme : int, str
        Classes for a numeric column.
    tiles : str, optional
        A folium tile layer name (e.g. ``"OpenStreetMap"``): needs the internet. Default: none, so the
        map works offline.

    Returns
    -------
    folium.Map
        Displays inline in Jupyter; ``.save("x.html")`` writes a self-contained page.

    Raises
    ------
    InputError
        For an unknown layer or column (with the closest names).

    Examples
    --------
    >>> result = tk.run_study(tk.load_study("xuhui"))  # doctest: +SKIP
    >>> result.explore()  # the study's map  # doctest: +SKIP
    >>> result.explore("blocks", "dist_park_m")  # walking distance to the nearest park  # doctest: +SKIP
    >>> result.explore("candidate_sites", "score")  # doctest: +SKIP
    """
    import folium

    from .webassets import offline_figure

    lang = lang or result.study.lang
    if layer == "blocks" and column is None and tiles is None:
        from .webmap import coverage_map

        return coverage_map(result, lang=lang)
    layers = explore_layers(result)
    _pick(layer, list(layers), "layer", "this result")
    gdf = layers[layer]
    if column is not None:
        _pick(column, [c for c in gdf.columns if c != gdf.geometry.name], "column", f"layer {layer!r}")
    gdf = gdf[~gdf.geometry.isna() & ~gdf.geometry.is_empty]
    if len(gdf) == 0:
        raise InputError(f"layer {layer!r} has no features to show", field="layer", fix="choose another layer")
    shown = gdf.to_crs("EPSG:4326")
    if column is not None:
        colours, legend, caption = _colours(gdf[column], column, lang, k, scheme)
    else:
        colours, legend, caption = [CATEGORY_PALETTE[1]] * len(gdf), None, ""
    frame = shown[[shown.geometry.name]].copy()
    frame["_c"] = colours
    frame["_tip"] = _tips(gdf, column, lang)
    x0, y0, x1, y1 = shown.total_bounds
    m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], tiles=tiles, control_scale=True, prefer_canvas=False)
    m.fit_bounds([[y0, x0], [y1, x1]])
    kind = set(shown.geometry.geom_type)
    point = kind <= {"Point", "MultiPoint"}
    title = label(f"layer.{layer}", lang) if f"layer.{layer}" in _layer_keys() else layer

    def style(f: dict) -> dict:
        c = f["properties"]["_c"]
        base = {"color": c if point or kind & {"LineString", "MultiLineString"} else OUTLINE,
                "weight": 2 if not point else 1, "className": EXPLORE_CLASS}
        return {**base, "fillColor": c, "fillOpacity": 0.75 if not point else 0.9}

    folium.GeoJson(frame, name=html.escape(title), style_function=style,
                   marker=folium.CircleMarker(radius=4) if point else None,
                   tooltip=folium.GeoJsonTooltip(fields=["_tip"], labels=False)).add_to(m)
    if legend is not None:
        legend.add_to(m)
    offline_figure(m, allow_cdn=tiles is not None, title=f"{title} · {caption}" if caption else title)
    return m


def _layer_keys() -> set[str]:
    from ..labels import LABELS

    return {k for k in LABELS if k.startswith("layer.")}
