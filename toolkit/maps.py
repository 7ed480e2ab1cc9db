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


def _web(gdf, tolerance_m: float = 2.0, precision: int = 5):
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
    _overlay_layers(m, result, lang)
    _decision_layers(m, result, lang)
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
    extra = []
    if "heritage_class" in result.blocks:
        swatches = "".join(f"<span style='background:{c};border:1px solid #777;padding:0 6px'>&nbsp;</span> {k} "
                           for k, c in _HERITAGE_COLOURS.items())
        zones = "".join(f"<span style='border:2px solid {c};padding:0 6px'>&nbsp;</span> {k.replace('_', ' ')} "
                        for k, c in _ZONE_COLOURS.items())
        extra.append(f"<div><b>heritage class</b> {swatches}<br>zones {zones}"
                     "<span style='border-bottom:4px solid #6a3d9a'>&nbsp;&nbsp;&nbsp;</span> protected road</div>")
    wf = result.details.get("waterfront", {})
    if wf.get("status") == "measured":
        extra.append("<div><b>waterfront</b> <span style='border-bottom:4px solid #1a9641'>&nbsp;&nbsp;&nbsp;</span> "
                     "bank with street access <span style='border-bottom:4px solid #d7191c'>&nbsp;&nbsp;&nbsp;</span> "
                     f"gap; {wf['share_with_access']:.0%} of {wf['bank_length_m'] / 1000:.1f} km accessible, "
                     f"longest gap {wf['longest_gap_m']:.0f} m</div>")
    elif wf:
        extra.append(f"<div><b>waterfront</b>: {wf.get('reason', 'absent')}</div>")
    html = f"""
    <div style="position: fixed; bottom: 30px; left: 10px; z-index: 9999; background: white;
                padding: 8px; border: 1px solid #999; font-size: 12px; max-width: 360px;">
      <b>{result.study.title or result.study.name}</b><br>
      profile: {result.profile.name}<br>
      <table><tr><th>category</th><th>threshold</th><th>residents within</th></tr>{''.join(rows)}</table>
      <div style="color:#777">no data: {nodata or 'none'}</div>
      {''.join(extra)}
    </div>"""
    m.get_root().html.add_child(folium.Element(html))


_HERITAGE_COLOURS = {"core": "#8c2d04", "buffer": "#fdae6b", "none": "#f7f7f7"}
_ZONE_COLOURS = {"style_area": "#b15928", "compound": "#6a3d9a"}


def _fmt(web, cols):
    for c in cols:
        if c in web and web[c].dtype.kind == "f":
            web[c] = web[c].round(2).where(np.isfinite(web[c]))
    return web


def _overlay_layers(m: folium.Map, result: StudyResult, lang: str) -> None:
    """Walkability, heritage and waterfront layers, each with a legend, when the study has them."""
    b = result.blocks
    zh = lang == "zh"
    if "walk_index" in b:
        comps = [c for c in b.columns if c.startswith("walk_") and not c.endswith(("_score", "_elderly"))
                 and b[c].dtype.kind == "f"]
        web = _fmt(_web(b[["block_id", *comps, "walk_index_elderly", "geometry"]]), [*comps, "walk_index_elderly"])
        lo, hi = np.nanpercentile(b["walk_index"], [2, 98])
        wmap = cm.LinearColormap(["#d7191c", "#ffffbf", "#1a9641"], vmin=float(lo), vmax=float(hi),
                                 caption="步行友好指数 (z)" if zh else "Walkability index (z-score composite)")
        folium.GeoJson(
            web, name="步行友好度" if zh else "Walkability (blocks)", show=False,
            style_function=lambda f: {"fillColor": wmap(min(max(f["properties"]["walk_index"] or lo, lo), hi))
                                      if f["properties"]["walk_index"] is not None else "#cccccc",
                                      "color": "#555555", "weight": 0.2, "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=["block_id", "walk_index"], aliases=["block", "walkability"]),
            popup=folium.GeoJsonPopup(fields=["block_id", "walk_index", "walk_index_elderly", *comps]),
        ).add_to(m)
        wmap.add_to(m)
        st = result.streets
        if st is not None and "walk_hostile" in st:
            hostile = _web(st.loc[st["walk_hostile"], ["edge_id", "highway", "name", "length_m", "geometry"]])
            if len(hostile):
                folium.GeoJson(hostile, name="机动车主导道路" if zh else "Pedestrian-hostile roads (trunk)",
                               show=False, style_function=lambda f: {"color": "#e31a1c", "weight": 3},
                               tooltip=folium.GeoJsonTooltip(fields=["highway", "name"])).add_to(m)
    layers = result.layers
    if "heritage" in layers and len(layers["heritage"]):
        z = _web(layers["heritage"])
        z = z[[c for c in ("zone_id", "kind", "name", "area_ha", "geometry") if c in z]]
        folium.GeoJson(z, name="历史风貌保护" if zh else "Heritage protection zones",
                       style_function=lambda f: {"color": _ZONE_COLOURS.get(f["properties"].get("kind"), "#b15928"),
                                                 "weight": 1.5, "fillOpacity": 0.15},
                       tooltip=folium.GeoJsonTooltip(fields=[c for c in ("kind", "name") if c in z])).add_to(m)
    if "heritage_class" in b:
        web = _web(b[[c for c in ("block_id", "heritage_class", "heritage_style_area", "heritage_zone_share",
                                  "heritage_n_listed", "heritage_dist_listed_m", "geometry") if c in b]])
        web = _fmt(web, ["heritage_zone_share", "heritage_dist_listed_m"])
        folium.GeoJson(web, name="街坊保护等级" if zh else "Heritage class (blocks)", show=False,
                       style_function=lambda f: {"fillColor": _HERITAGE_COLOURS.get(f["properties"]["heritage_class"],
                                                                                     "#cccccc"),
                                                 "color": "#555555", "weight": 0.2, "fillOpacity": 0.6},
                       tooltip=folium.GeoJsonTooltip(fields=["block_id", "heritage_class"]),
                       popup=folium.GeoJsonPopup(fields=[c for c in web.columns if c != "geometry"])).add_to(m)
    if "heritage_buildings" in layers and len(layers["heritage_buildings"]):
        fg = folium.FeatureGroup(name="优秀历史建筑" if zh else "Listed buildings", show=False)
        hb = layers["heritage_buildings"].to_crs("EPSG:4326")
        for _, row in hb.iterrows():
            name = row.get("name") if isinstance(row.get("name"), str) else ""
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=2, color="#8c2d04", weight=1,
                                fill=True, fill_opacity=0.9, tooltip=name or None).add_to(fg)
        fg.add_to(m)
    st = result.streets
    if st is not None and "protected_road" in st and st["protected_road"].any():
        pr = _web(st.loc[st["protected_road"], ["edge_id", "name", "geometry"]])
        folium.GeoJson(pr, name="风貌保护道路(永不拓宽)" if zh else "Protected roads (never widen)",
                       style_function=lambda f: {"color": "#6a3d9a", "weight": 5, "opacity": 0.8},
                       tooltip=folium.GeoJsonTooltip(fields=["name"])).add_to(m)
    if "waterfront" in layers and len(layers["waterfront"]):
        w = _web(layers["waterfront"], tolerance_m=1.0)
        w = _fmt(w[[c for c in ("kind", "access", "length_m", "geometry") if c in w]], ["length_m"])
        folium.GeoJson(w, name="滨水岸线(可达/断点)" if zh else "Waterfront: bank with access / gaps",
                       style_function=lambda f: {"color": "#1a9641" if f["properties"].get("access") else "#d7191c",
                                                 "weight": 5},
                       tooltip=folium.GeoJsonTooltip(fields=[c for c in ("kind", "length_m") if c in w])).add_to(m)
    if "waterfront_access" in layers and len(layers["waterfront_access"]):
        fg = folium.FeatureGroup(name="滨水可达点" if zh else "Waterfront access points", show=False)
        for _, row in layers["waterfront_access"].to_crs("EPSG:4326").iterrows():
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=4, color="#1f78b4", fill=True,
                                fill_opacity=1.0).add_to(fg)
        fg.add_to(m)
    if "within_waterfront" in b:
        web = _fmt(_web(b[["block_id", "dist_waterfront_m", "within_waterfront", "geometry"]]), ["dist_waterfront_m"])
        web["within_waterfront"] = web["within_waterfront"].map({True: "yes", False: "no"})
        folium.GeoJson(web, name="滨水可达街坊" if zh else "Waterfront within reach (blocks)", show=False,
                       style_function=lambda f: {"fillColor": "#1f78b4" if f["properties"]["within_waterfront"] == "yes"
                                                 else "#f0f0f0", "color": "#555555", "weight": 0.2,
                                                 "fillOpacity": 0.6},
                       tooltip=folium.GeoJsonTooltip(fields=["block_id", "dist_waterfront_m"])).add_to(m)


def _decision_layers(m: folium.Map, result: StudyResult, lang: str) -> None:
    """Underserved blocks and ranked candidate sites, with popups that explain the numbers."""
    b = result.blocks
    zh = lang == "zh"
    if "underserved" in b and b["underserved"].any():
        u = b[b["underserved"]]
        cols = ["block_id", "population", "pop_65plus", "missing_categories", "n_missing", "underserved_reason",
                "severity"] + [f"dist_{c}_m" for c in result.categories]
        web = _fmt(_web(u[[c for c in cols if c in u] + ["geometry"]]), ["severity", "population", "pop_65plus"])
        for c in web.columns:
            if c.startswith("dist_"):
                web[c] = web[c].round(0).where(np.isfinite(web[c]))
        hi = float(np.nanpercentile(u["severity"], 95)) or 1.0
        caption = "服务短板严重度" if zh else "Underserved: severity (thousand person-thresholds)"
        smap = cm.LinearColormap(["#fee5d9", "#de2d26"], vmin=0, vmax=hi, caption=caption)
        folium.GeoJson(
            web, name="服务短板街坊" if zh else "Underserved blocks", show=False,
            style_function=lambda f: {"fillColor": smap(min(f["properties"]["severity"] or 0, hi)),
                                      "color": "#67000d", "weight": 0.4, "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(fields=["block_id", "missing_categories"], aliases=["block", "missing"]),
            popup=folium.GeoJsonPopup(fields=[c for c in web.columns if c != "geometry"]),
        ).add_to(m)
        smap.add_to(m)
    sites = result.layers.get("candidate_sites")
    if sites is not None and len(sites):
        fg = folium.FeatureGroup(name="候选微更新点位(排序)" if zh else "Candidate sites (ranked)", show=True)
        s = sites.to_crs("EPSG:4326")
        pts = shapely.point_on_surface(np.asarray(s.geometry.values))
        top = np.nanmax(s["score"]) if s["score"].notna().any() else 1.0
        cats = categories()
        for (_, row), p in zip(s.iterrows(), pts, strict=True):
            contrib = "".join(f"<tr><td>{k[8:]}</td><td>{row[k]:.3f}</td></tr>" for k in s.columns
                              if k.startswith("contrib_") and row[k] > 0)
            gains = "".join(f"<tr><td>{cats[c].label(lang)}</td><td>{row[f'new_{c}_pop']:,.0f}</td>"
                            f"<td>{row[f'new_{c}_65plus']:,.0f}</td></tr>" for c in result.categories
                            if f"new_{c}_pop" in s and row[f"new_{c}_pop"] > 0)
            score = "-" if np.isnan(row["score"]) else f"{row['score']:.3f} (rank {row['rank']})"
            html = (f"<b>site {row['site_id']}</b> ({row['site_type']}, {row['source']})"
                    f"{' <b>SELECTED</b>' if row['selected'] else ''}<br>score {score}"
                    f"<table>{contrib}</table>heritage: {row.get('heritage_class', '-')}<br>"
                    f"allowed: {str(row.get('allowed_interventions', '-')).replace(';', ', ')}<br>"
                    f"newly within reach (residents, 65+):<table>{gains}</table>"
                    f"nearest street: {row.get('nearest_street') or '-'}")
            r = 3 + 7 * (0 if np.isnan(row["score"]) else row["score"] / top)
            folium.CircleMarker([p.y, p.x], radius=float(r), weight=3 if row["selected"] else 1,
                                color="#000000" if row["selected"] else "#54278f",
                                fill=True, fill_color="#fdd0a2" if row["selected"] else "#9e9ac8", fill_opacity=0.9,
                                tooltip=f"site {row['site_id']}: {score}",
                                popup=folium.Popup(html, max_width=320)).add_to(fg)
        fg.add_to(m)
