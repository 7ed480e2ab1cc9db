"""The HTML map without a browser: offline assets, basemaps and GCJ-02, languages, size, classed legends."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

import mapclassify as mc
import numpy as np
import pytest
from pyproj import Geod

from toolkit.crs import wgs84_to_gcj02
from toolkit.errors import InputError
from toolkit.outputs import webassets
from toolkit.outputs.webmap import (
    BLOCK_CLASS,
    BlockLayer,
    ClassLegend,
    GroupedLayerControl,
    classify,
    coverage_map,
    layer_names,
)
from toolkit.underserved import UnderservedRule, underserved_blocks, underserved_summary

MB = 1024 * 1024
REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def maps(xuhui):
    """Rendered maps by (lang, basemap), built once per module."""
    cache: dict = {}

    def get(lang: str = "en", basemap: str = "offline"):
        if (lang, basemap) not in cache:
            m = coverage_map(xuhui, lang=lang, basemap=basemap)
            cache[lang, basemap] = (m, m.get_root().render())
        return cache[lang, basemap]

    return get


@pytest.fixture(scope="module")
def vouched(xuhui):
    """The default study as if every measured category had complete data, so that blocks are flagged.

    The default study flags none (only transit has complete data and the rule needs two missing basic
    categories): the underserved layer and its legend are drawn only where there is something to show.
    """
    status = dict.fromkeys(xuhui.categories, "complete")
    rule = UnderservedRule(**xuhui.details["decisions"]["underserved"]["rule"])
    cols = underserved_blocks(xuhui.blocks, xuhui.categories, xuhui.profile.rules(), rule, status)
    blocks = xuhui.blocks.drop(columns=cols.columns).join(cols)
    ds = {c: {**v, "status": status.get(c, v["status"])} for c, v in xuhui.details["data_status"].items()}
    dec = {**xuhui.details["decisions"], "underserved": underserved_summary(blocks, xuhui.categories, rule, status)}
    result = dataclasses.replace(xuhui, blocks=blocks, details={**xuhui.details, "data_status": ds, "decisions": dec})
    assert blocks["underserved"].any()
    return result


def block_data(html: str) -> dict:
    """The page's block data island, its one-character class columns decoded back into lists."""
    m = re.search(r'<script type="application/json" id="tk-blocks">(.*?)</script>', html, re.S)
    assert m, "block data island missing"
    data = json.loads(m.group(1))
    chars = {"-": None, "~": -1, **{str(i): i for i in range(10)}}
    data["columns"].update({k: [chars[c] for c in v] for k, v in data["codes"].items()})
    data["columns"].update({k: [None if j < 0 else f["levels"][j] for j in f["index"]]
                            for k, f in data["factors"].items()})
    for k, b in data["numbers"].items():
        a = np.frombuffer(base64.b64decode(b["b64"]), dtype="<f4" if b["bits"] == 32 else "<f8").astype(float)
        data["columns"][k] = [None if np.isnan(x) else float(x) for x in a]
    return data


def call_args(html: str, fn: str) -> list:
    """The JSON first argument of every ``fn(...)`` call in the page's script."""
    dec = json.JSONDecoder()
    return [dec.raw_decode(html, m.end())[0] for m in re.finditer(re.escape(fn) + r"\(", html)]


def first_xy(data: dict, i: int) -> tuple[float, float]:
    """Block ``i``'s first vertex in degrees (its first ring's first delta is relative to the origin)."""
    ring = data["geom"][i][0]
    return ((data["origin"][0] + ring[0]) / data["scale"], (data["origin"][1] + ring[1]) / data["scale"])


def decode_rings(data: dict, i: int) -> list[np.ndarray]:
    """Block ``i``'s rings as (x, y) degrees: a running sum of the deltas, from the origin."""
    return [(np.asarray(data["origin"]) + np.cumsum(np.asarray(r).reshape(-1, 2), axis=0)) / data["scale"]
            for r in data["geom"][i]]


@pytest.mark.parametrize("basemap", ["offline", "none"])
def test_offline_map_loads_nothing_from_the_network(maps, basemap):
    _, html = maps("en", basemap)
    assert not REMOTE.findall(html), REMOTE.findall(html)[:3]
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html)  # CSS pulling remote images or fonts
    assert "@import" not in html
    assert "{z}" not in html  # no tile layer at all
    # Leaflet and d3 come from web/node_modules, inlined; Leaflet's images as data: URIs
    for asset in ("leaflet/dist/leaflet.js", "leaflet/dist/leaflet.css", "d3/d3.min.js"):
        assert f'data-asset="{asset}"' in html
    assert "url(data:image/png;base64," in html and "url(images/" not in html
    # folium's defaults that no toolkit map uses are left out
    for unused in ("jquery", "bootstrap", "awesome-markers", "fontawesome", "glyphicons"):
        assert unused not in html.lower(), unused


def test_offline_basemap_is_drawn_from_the_study_data(maps):
    m, html = maps("en", "offline")
    (base,) = call_args(html, "tk.geo")
    kinds = {f["properties"]["k"] for f in base["features"]}
    assert {"minor", "medium", "major", "water", "shore", "heritage"} <= kinds
    assert '"pane":"tkBase"' in html
    assert layer_names(m)[0].startswith("Basemap: streets, water, heritage (offline")


def test_every_block_is_written_once_for_every_indicator(maps, xuhui):
    """One geometry for all block indicators: one ring list per block, every column one value per block."""
    m, html = maps("en", "offline")
    data = block_data(html)
    assert data["n"] == len(data["geom"]) == len(xuhui.blocks)
    assert all(len(v) == len(xuhui.blocks) for v in data["columns"].values())
    main = [c for c in m._children.values() if isinstance(c, BlockLayer) and c.options["className"]]
    assert len(main) == 1 and main[0].options["className"] == BLOCK_CLASS and main[0].show
    assert html.count('"geom"') == 1  # geometry shared by every block layer, not repeated
    assert len([c for c in m._children.values() if isinstance(c, BlockLayer)]) > len(xuhui.categories)


def test_block_geometry_round_trips_at_the_written_precision(maps, xuhui):
    """The page's integer, delta-encoded rings decode (a running sum) to the blocks' WGS84 vertices, simplified
    to 2 m by shapely and rounded to 1e-5 degree: every vertex within 1e-5 degree, every ring and hole kept."""
    import geopandas as gpd
    import shapely

    _, html = maps("en", "offline")
    data = block_data(html)
    assert data["scale"] == 10**5
    b = xuhui.blocks[["geometry"]]
    simple = gpd.GeoSeries(shapely.simplify(np.asarray(b.geometry.values), 2.0, preserve_topology=True),
                           crs=b.crs).to_crs("EPSG:4326")
    for i in range(0, len(b), 97):
        g = simple.iloc[i]
        polys = list(g.geoms) if g.geom_type == "MultiPolygon" else [g]
        want = [np.asarray(r.coords)[:-1] for p in polys for r in (p.exterior, *p.interiors)]
        got = decode_rings(data, i)
        assert len(got) == len(want), i
        for a, w in zip(got, want, strict=True):
            assert a.shape == w.shape and np.abs(a - w).max() <= 1e-5 + 1e-9, i


def test_each_analysis_layer_is_in_the_layer_switcher(maps, xuhui, vouched):
    m, html = maps("en", "offline")
    names = layer_names(m)
    for expected in ("Categories within reach", "Transit stop: within 300 m", "Walkability (blocks)",
                     "Heritage class (blocks)", "Waterfront within reach (blocks)",
                     "Candidate sites (ranked)", "Heritage protection zones", "Study area"):
        assert expected in names, expected
    assert sum(": within " in n for n in names) == len(xuhui.categories)
    assert len(names) == len(set(names))
    # no block is flagged in the default study: no empty layer, the summary box says why
    assert "Underserved blocks" not in names
    assert f"<b>Underserved blocks</b>: 0 / {len(xuhui.blocks):,}" in html and "no block can be shown" in html
    assert "Underserved blocks" in layer_names(coverage_map(vouched))


def test_amap_shifts_every_overlay_to_gcj02(maps, xuhui):
    _, wgs = maps("en", "offline")
    m, gcj = maps("en", "amap")
    geod = Geod(ellps="WGS84")
    a, b = block_data(wgs), block_data(gcj)
    for i in (0, a["n"] // 2, a["n"] - 1):
        (x0, y0), (x1, y1) = first_xy(a, i), first_xy(b, i)
        _, _, dist = geod.inv(x0, y0, x1, y1)
        assert 300 < dist < 800, dist  # the GCJ-02 offset in Shanghai is about 500 m
        ex, ey = wgs84_to_gcj02(x0, y0)
        assert abs(float(ex) - x1) < 3e-5 and abs(float(ey) - y1) < 3e-5
    # points (facilities) too, and the map says so
    pts = [o["points"][0] for o in call_args(gcj, "tk.points") if o["points"]]
    pts0 = [o["points"][0] for o in call_args(wgs, "tk.points") if o["points"]]
    assert pts and len(pts) == len(pts0)
    for (lat0, lon0), (lat1, lon1) in zip(pts0, pts, strict=True):
        _, _, dist = geod.inv(lon0, lat0, lon1, lat1)
        assert 300 < dist < 800, dist
    assert "autonavi.com" in gcj and "GCJ-02" in gcj
    assert any("Amap" in n and "online" in n for n in layer_names(m))


def test_zh_labels(maps, xuhui, vouched):
    m, html = maps("zh", "none")
    names = layer_names(m)
    for expected in ("可达设施类别占比", "公交/轨交站点：300 米内可达", "步行友好度", "街坊保护等级",
                     "候选微更新地块(排序)", "研究范围"):
        assert expected in names, expected
    assert "服务不足街坊" in layer_names(coverage_map(vouched, lang="zh", basemap="none"))
    assert "完整" in html and "完整性未知" in html  # data status in the summary box
    assert not any(n in names for n in ("Categories within reach", "Study area", "Walkability (blocks)"))
    assert "步行可达的设施类别占比" in html and "步行友好指数" in html  # legend captions
    assert '"常住人口"' in html and '"65岁及以上人口"' in html  # popup aliases (the data dictionary's names)
    assert "Basemap" not in " ".join(names)  # basemap none: no basemap layer


def test_tile_basemaps_are_marked_online(xuhui):
    for basemap, host in (("osm", "tile.openstreetmap.org"), ("cartodb", "basemaps.cartocdn.com")):
        m = coverage_map(xuhui, basemap=basemap)
        names = layer_names(m)
        assert any("online" in n for n in names[:1]), names[:2]
        assert any(n.startswith("Basemap: streets") for n in names)  # the offline basemap, to switch on
        assert host in m.get_root().render()
    with pytest.raises(InputError, match="tianditu_key"):
        coverage_map(xuhui, basemap="tianditu")
    keyed = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, basemap="tianditu",
                                                                tianditu_key="KEY123"))
    html = coverage_map(keyed).get_root().render()
    assert "vec_w/wmts" in html and "cva_w/wmts" in html and "tk=KEY123" in html


def test_default_map_is_under_2_mb(xuhui, tmp_path):
    """The default study's map.html, as result.save() writes it, stays under 2 MB."""
    m = coverage_map(xuhui)
    path = tmp_path / "map.html"
    m.save(str(path))
    size = path.stat().st_size
    print(f"default study map: {size / MB:.2f} MB")
    assert size < 2 * MB


def test_layers_are_grouped_and_block_indicators_are_radios(maps, vouched):
    """The control's groups: basemap, coverage by category (facilities too), overlays, decisions; every
    block layer is a radio of one name (one indicator at a time), every other layer a checkbox."""
    m, html = maps("en", "offline")
    (ctl,) = [c for c in m._children.values() if isinstance(c, GroupedLayerControl)]
    groups = {key: {name: kind for lyr, name, kind in items if lyr is not None} for key, _, _, items in ctl.groups}
    assert [g[0] for g in ctl.groups] == ["summary", "basemap", "coverage", "overlays", "decisions"]
    assert groups["basemap"]["Study area"] == "check" and any(n.startswith("Basemap:") for n in groups["basemap"])
    assert groups["coverage"]["Categories within reach"] == "radio"
    assert groups["coverage"]["Transit stop: within 300 m"] == "radio"
    assert any(n.startswith("Transit stop (") and k == "check" for n, k in groups["coverage"].items())
    assert groups["overlays"]["Walkability (blocks)"] == "radio"
    assert groups["overlays"]["Heritage protection zones"] == "check"
    assert groups["decisions"]["Candidate sites (ranked)"] == "check"
    assert groups["decisions"]["Priority blocks"] == "radio"
    radios = {lyr.get_name() for *_, items in ctl.groups for lyr, _, k in items if k == "radio" and lyr}
    blocks = {c.get_name() for c in m._children.values() if isinstance(c, BlockLayer)}
    assert radios == blocks
    assert sum(k == "radio" and lyr is None for *_, items in ctl.groups for lyr, _, k in items) == 1  # "none"
    mv = coverage_map(vouched)
    (cv,) = [c for c in mv._children.values() if isinstance(c, GroupedLayerControl)]
    dec = {name: kind for key, _, _, items in cv.groups if key == "decisions" for _, name, kind in items}
    assert dec["Underserved blocks"] == "radio"
    assert "imperial: false" in html and "L.control.scale()" not in html  # metric scale only


def test_block_popups_show_distance_threshold_and_status(maps, xuhui):
    """Every block indicator's popup table: a category's distance, its threshold from the profile and the
    data status of the category from details["data_status"]."""
    m, _ = maps("zh", "none")
    ds = xuhui.details["data_status"]
    main = next(c for c in m._children.values() if isinstance(c, BlockLayer) and c.options["className"])
    dist = main.options["dist"]
    assert dist["head"] == ["设施类别", "距离（米）", "门槛距离（米）", "数据完整性"]
    assert [r[0] for r in dist["rows"]] == [f"dist_{c}_m" for c in xuhui.categories]
    status_zh = {"complete": "完整", "sample": "样本(不完整)", "unknown": "完整性未知"}
    for c, r in zip(xuhui.categories, dist["rows"], strict=True):
        assert r[2] == xuhui.profile.rule(c).max_distance_m
        assert r[3] == status_zh[ds[c]["status"]] and r[5] == (ds[c]["status"] == "complete")
        assert r[1] == xuhui.profile.catalogue[c].label("zh") and "commercial" not in r[1]


def _legend_for(m, name: str) -> ClassLegend:
    hits = [c for c in m._children.values() if isinstance(c, ClassLegend) and c.layer.layer_name == name]
    assert len(hits) == 1, name
    return hits[0]


def test_classed_legends_use_mapclassify_breaks(maps, xuhui, vouched):
    m, html = maps("en", "offline")
    b = xuhui.blocks
    cols = block_data(html)["columns"]
    # walkability: quintiles
    w = b["walk_index"].to_numpy(dtype=float)
    ok = np.isfinite(w)
    q = mc.Quantiles(w[ok], k=5)
    leg = _legend_for(m, "Walkability (blocks)")
    np.testing.assert_allclose(leg.index[1:], q.bins)
    assert leg.index[0] == pytest.approx(w[ok].min())
    assert len(leg.colors) == 5
    assert np.array_equal(np.asarray(cols["cls_walk"])[ok], q.yb)
    assert f'"{q.bins[0]:.2f}"' in html  # the break is printed in the legend
    # underserved severity: quintiles over the underserved blocks (of a study where some are flagged)
    mv = coverage_map(vouched)
    vcols = block_data(mv.get_root().render())["columns"]
    vb = vouched.blocks
    u = vb["underserved"].to_numpy(dtype=bool)
    qs = mc.Quantiles(vb["severity"].to_numpy(dtype=float)[u], k=5)
    leg = _legend_for(mv, "Underserved blocks")
    np.testing.assert_allclose(leg.index[1:], qs.bins)
    assert np.array_equal(np.asarray(vcols["cls_severity"])[u], qs.yb)
    assert (np.asarray(vcols["cls_severity"])[~u] == -1).all()
    # share of categories within reach: 19 measured categories give 20 levels, too many for a class
    # each (that is for up to k + 1 levels, see the synthetic case below): quintiles
    share = b["n_within"].to_numpy(dtype=float) / len(xuhui.categories)
    assert len(np.unique(share)) > 6
    qu = mc.Quantiles(share, k=5)
    leg = _legend_for(m, "Categories within reach")
    np.testing.assert_allclose(leg.index[1:], qu.bins)
    assert np.array_equal(cols["cls_share"], qu.yb)
    few = np.repeat([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], 7)  # 5 categories: a class for each of the 6 levels
    cf = classify(few)
    assert cf.discrete and np.array_equal(cf.yb, mc.UserDefined(few, bins=list(np.unique(few))).yb)
    assert leg.legend_options["labels"] is None and len(leg.legend_options["ticks"]) == len(qu.bins) + 1


def test_missing_assets_give_a_clear_error_unless_cdn_is_allowed(xuhui, tmp_path, monkeypatch):
    monkeypatch.setenv(webassets.ENV_VAR, str(tmp_path / "nothing_here"))
    with pytest.raises(webassets.WebAssetsError, match=r"npm ci --prefix web"):
        coverage_map(xuhui)
    with pytest.warns(UserWarning, match="CDN"):
        html = coverage_map(xuhui, allow_cdn=True).get_root().render()
    assert re.search(r'<script src="https://[^"]+/leaflet\.js"', html)


def test_inline_css_turns_relative_images_into_data_uris(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    css = ".a{background:url(img/a.png)} .b{behavior:url(#default#VML)} .c{background:url('data:x')}"
    out = webassets.inline_css(css, tmp_path)
    assert "url(data:image/png;base64,iVBORw0KGgo=)" in out
    assert "url(#default#VML)" in out and "url('data:x')" in out


def test_zh_site_popups_name_no_internal_key(maps):
    """The candidate sites' popups in Chinese: criteria, site types and interventions by their names."""
    _, html = maps("zh", "none")
    pops = [p for o in call_args(html, "tk.points") for p in (o["popup"] or []) if p]
    assert pops and any("得分构成" in p for p in pops) and any("允许的更新方式" in p for p in pops)
    for key in ("newly_served", "adaptive_reuse", "heritage_fit", "SELECTED", "score", "rank", "heritage:"):
        assert not any(key in p for p in pops), key
