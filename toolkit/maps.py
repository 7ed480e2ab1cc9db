"""Interactive maps (folium / Leaflet): blocks coloured by coverage, facilities, legends, popups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import branca.colormap as cm
import folium
import numpy as np
import shapely

from .standards import categories

if TYPE_CHECKING:
    from .study import StudyResult

_PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999",
            "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494"]


def _web(gdf, tolerance_m: float = 2.0, precision: int = 6):
    # Simplify in metres before going to WGS84, then round: map files stay small
    # without visibly moving a block edge.
    g = gdf.copy()
    g["geometry"] = shapely.simplify(np.asarray(g.geometry.values), tolerance_m, preserve_topology=True)
    g = g.to_crs("EPSG:4326")
    g["geometry"] = shapely.set_precision(np.asarray(g.geometry.values), 10 ** -precision)
    return g


def coverage_map(result: StudyResult, lang: str | None = None) -> folium.Map:
    """A folium map of the study: coverage per block, one layer per category, facilities, streets.

    Parameters
    ----------
    result : StudyResult
    lang : {"en", "zh"}, optional
        Label language; the study's ``output.lang`` by default.
    """
    lang = lang or result.study.lang
    cats = categories()
    area = result.area.to_crs("EPSG:4326")
    b = area.total_bounds
    m = folium.Map(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=13, tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", show=True).add_to(m)
    blocks = result.blocks.copy()
    n = max(len(result.categories), 1)
    blocks["share_within"] = blocks["n_within"] / n
    keep = ["block_id", "population", "pop_65plus", "n_within", "share_within"] + \
           [c for cat in result.categories for c in (f"dist_{cat}_m", f"within_{cat}")]
    keep = [c for c in keep if c in blocks.columns]
    web = _web(blocks[[*keep, "geometry"]])
    for c in web.columns:
        if c.startswith("dist_"):
            web[c] = web[c].round(0).where(np.isfinite(web[c]))
        if c in ("population", "pop_65plus"):
            web[c] = web[c].round(0)
    for c in [c for c in web.columns if c.startswith("within_")]:
        web[c] = web[c].map({True: "yes", False: "no"})
    title = "Categories within reach" if lang != "zh" else "可达设施类别占比"
    cmap = cm.LinearColormap(["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"], vmin=0, vmax=1,
                             caption=f"{title} (share of {n} measured categories)")
    fields = [c for c in ("block_id", "population", "pop_65plus", "n_within") if c in web.columns]
    fields += [c for c in web.columns if c.startswith("dist_")]
    aliases = [f.replace("dist_", "").replace("_m", " (m)") for f in fields]
    folium.GeoJson(
        web, name=title,
        style_function=lambda f: {"fillColor": cmap(f["properties"]["share_within"]), "color": "#555555",
                                  "weight": 0.3, "fillOpacity": 0.7},
        tooltip=folium.GeoJsonTooltip(fields=["block_id", "n_within"], aliases=["block", "categories within reach"]),
        popup=folium.GeoJsonPopup(fields=fields, aliases=aliases),
    ).add_to(m)
    cmap.add_to(m)
    within_style = {"yes": "#1a9641", "no": "#d7191c"}
    for cat in result.categories:
        label = cats[cat].label(lang)
        thr = result.profile.rule(cat).max_distance_m
        sub = web[["block_id", f"dist_{cat}_m", f"within_{cat}", "geometry"]]
        folium.GeoJson(
            sub, name=f"{label}: within {thr:.0f} m", show=False,
            style_function=lambda f, c=cat: {"fillColor": within_style.get(f["properties"][f"within_{c}"], "#cccccc"),
                                             "color": "#555555", "weight": 0.2, "fillOpacity": 0.6},
            tooltip=folium.GeoJsonTooltip(fields=["block_id", f"dist_{cat}_m"], aliases=["block", "distance (m)"]),
        ).add_to(m)
    fac = result.facilities.to_crs("EPSG:4326")
    for i, cat in enumerate(result.categories):
        fg = folium.FeatureGroup(name=f"{cats[cat].label(lang)} ({int((fac['category'] == cat).sum())})", show=False)
        color = _PALETTE[i % len(_PALETTE)]
        for _, row in fac[fac["category"] == cat].iterrows():
            name = row["name"] if isinstance(row["name"], str) else ""
            popup = folium.Popup(f"{cats[cat].label(lang)}<br>{name}<br>source: {row['source']}", max_width=250)
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=3, color=color, fill=True,
                                fill_opacity=0.9, weight=1, popup=popup).add_to(fg)
        fg.add_to(m)
    folium.GeoJson(area[["geometry"]], name="Study area", style_function=lambda f: {
        "fill": False, "color": "#000000", "weight": 2}).add_to(m)
    _legend(m, result, lang)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def _legend(m: folium.Map, result: StudyResult, lang: str) -> None:
    cats = categories()
    rows = []
    for i, cat in enumerate(result.categories):
        r = result.rates.loc[cat]
        rows.append(f"<tr><td><span style='color:{_PALETTE[i % len(_PALETTE)]}'>&#9679;</span> "
                    f"{cats[cat].label(lang)}</td><td>{result.profile.rule(cat).max_distance_m:.0f} m</td>"
                    f"<td>{r['rate_total']:.0%}</td></tr>")
    nodata = ", ".join(cats[c].label(lang) for c in result.no_data)
    html = f"""
    <div style="position: fixed; bottom: 30px; left: 10px; z-index: 9999; background: white;
                padding: 8px; border: 1px solid #999; font-size: 12px; max-width: 360px;">
      <b>{result.study.title or result.study.name}</b><br>
      profile: {result.profile.name}<br>
      <table><tr><th>category</th><th>threshold</th><th>residents within</th></tr>{''.join(rows)}</table>
      <div style="color:#777">no data: {nodata or 'none'}</div>
    </div>"""
    m.get_root().html.add_child(folium.Element(html))
