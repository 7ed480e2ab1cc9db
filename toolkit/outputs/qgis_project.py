"""A QGIS project (``.qgz``) beside the GeoPackage: a double-click opens the study as the map shows it.

The project holds every spatial layer of the GeoPackage with its style (the same
:class:`~toolkit.outputs.styles.LayerStyle` objects as the GeoPackage's ``layer_styles`` table, the
``.qml`` files and the static maps), in groups that follow the web map: decisions on top, then
overlays, facilities and the block indicators, then the base layers. The block indicators (one per
style of the ``blocks`` layer: coverage, each category, walkability...) form a *mutually exclusive*
group, so one colour meaning shows at a time, as in ``map.html``. The project CRS is the study's;
paths are relative (``./<study>.gpkg``), so the folder can be moved or zipped as a whole.

The XML is written directly (QGIS need not be installed); ``tests/test_qgis_project.py`` loads the
file with PyQGIS where QGIS is installed (Debian's 3.22 in CI).
"""

from __future__ import annotations

import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyproj

from ..labels import label
from .styles import DOCTYPE, QGIS_VERSION, LayerStyle, geometry_kind, to_qml

__all__ = ["GROUPS", "project_xml", "write_qgz"]

#: (group key, layers in it) from top to bottom of the layer panel; blocks go in "blocks" (exclusive).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decisions", ("candidate_sites", "zones")),
    ("overlays", ("heritage_buildings", "heritage", "waterfront_access", "waterfront", "compounds")),
    ("facilities", ("facilities",)),
    ("blocks", ("blocks",)),
    ("base", ("streets", "study_area")),
)
_GROUP_LABEL = {"decisions": "qgis.group_decisions", "overlays": "qgis.group_overlays",
                "facilities": "layer.facilities", "blocks": "qgis.group_blocks", "base": "qgis.group_base"}
_GEOMETRY = {"marker": "Point", "line": "Line", "fill": "Polygon"}


def _srs(parent: ET.Element, crs: pyproj.CRS) -> None:
    s = ET.SubElement(parent, "spatialrefsys")
    ET.SubElement(s, "wkt").text = crs.to_wkt()
    with warnings.catch_warnings():  # PROJ strings lose datum details; QGIS reads the WKT first
        warnings.simplefilter("ignore", UserWarning)
        ET.SubElement(s, "proj4").text = crs.to_proj4()
    auth = crs.to_authority()
    if auth and auth[0] == "EPSG":
        ET.SubElement(s, "srid").text = auth[1]
    ET.SubElement(s, "authid").text = f"{auth[0]}:{auth[1]}" if auth else ""
    ET.SubElement(s, "description").text = crs.name
    ET.SubElement(s, "geographicflag").text = "true" if crs.is_geographic else "false"


def _style_children(style: LayerStyle) -> list[ET.Element]:
    """The renderer and blending elements of the style's QML, to sit inside a project's ``maplayer``."""
    qml = ET.fromstring(to_qml(style).split("\n", 1)[1])
    return [c for c in qml if c.tag != "layerGeometryType"]


def _group_of(layer: str) -> str:
    for key, names in GROUPS:
        if layer in names:
            return key
    return "overlays"  # a layer of a registered overlay


def _entries(layers: Mapping[str, Any], styles: Sequence[LayerStyle]) -> list[tuple[str, LayerStyle]]:
    """(group, style) for every layer drawn: each style of ``blocks``, the default style of any other layer."""
    out = []
    for s in styles:
        if s.layer not in layers or (s.layer != "blocks" and not s.default):
            continue
        gdf = layers[s.layer]
        if gdf is None or not len(gdf) or geometry_kind(gdf) is None:
            continue
        out.append((_group_of(s.layer), s))
    return out


def project_xml(gpkg_name: str, layers: Mapping[str, Any], styles: Sequence[LayerStyle], crs: Any, *,
                title: str, lang: str = "en", extent: Sequence[float] | None = None) -> str:
    """The ``.qgs`` document of a study's GeoPackage.

    Parameters
    ----------
    gpkg_name : str
        The GeoPackage's file name, in the same folder as the project (written as ``./<name>``).
    layers : mapping of str to GeoDataFrame
        The layers written to the GeoPackage (:func:`toolkit.outputs.writers.output_layers`).
    styles : sequence of LayerStyle
        Their styles (:func:`toolkit.outputs.styles.default_styles`).
    crs : pyproj.CRS or str
        The study CRS: the project's and every layer's.
    title : str
        Shown as the project title.
    lang : str
        Language of the group names.
    extent : (xmin, ymin, xmax, ymax), optional
        The initial view, in ``crs``.

    Returns
    -------
    str
        The project XML.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from toolkit.outputs.styles import default_styles
    >>> area = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs="EPSG:32651")
    >>> xml = project_xml("demo.gpkg", {"study_area": area}, default_styles({"study_area": area}),
    ...                   "EPSG:32651", title="demo")
    >>> "./demo.gpkg|layername=study_area" in xml
    True
    """
    crs = pyproj.CRS.from_user_input(crs)
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    _srs(ET.SubElement(root, "projectCrs"), crs)
    entries = _entries(layers, styles)
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    ids: list[tuple[str, LayerStyle]] = []
    for key, _names in GROUPS:  # a registered overlay's layer is in "overlays" (_group_of)
        members = [s for g, s in entries if g == key]
        name = label(_GROUP_LABEL[key], lang, cap=True)
        if not members:
            continue
        group = ET.SubElement(tree, "layer-tree-group", name=name,
                              checked="Qt::Checked", expanded="1" if key in ("blocks", "decisions") else "0")
        if key == "blocks":
            group.set("mutually-exclusive", "1")
            group.set("mutually-exclusive-child", "0")
        ET.SubElement(group, "customproperties")
        first = True
        for s in sorted(members, key=lambda s: not s.default):  # stable: the default style first
            lid = f"{s.layer}_{uuid.uuid5(uuid.NAMESPACE_URL, f'{gpkg_name}/{s.layer}/{s.name}').hex[:12]}"
            on = s.default if key == "blocks" else True
            if key == "blocks" and not first:
                on = False
            first = False
            node = ET.SubElement(group, "layer-tree-layer", id=lid, name=s.title or s.name,
                                 source=f"./{gpkg_name}|layername={s.layer}", providerKey="ogr",
                                 checked="Qt::Checked" if on else "Qt::Unchecked", expanded="0")
            ET.SubElement(node, "customproperties")
            ids.append((lid, s))
    layers_el = ET.SubElement(root, "projectlayers")
    for lid, s in ids:
        geometry = _GEOMETRY[s.kind]
        ml = ET.SubElement(layers_el, "maplayer", type="vector", geometry=geometry, autoRefreshEnabled="0",
                           styleCategories="AllStyleCategories", hasScaleBasedVisibilityFlag="0")
        ET.SubElement(ml, "id").text = lid
        ET.SubElement(ml, "datasource").text = f"./{gpkg_name}|layername={s.layer}"
        ET.SubElement(ml, "layername").text = s.title or s.name
        _srs(ET.SubElement(ml, "srs"), crs)
        ET.SubElement(ml, "provider", encoding="UTF-8").text = "ogr"
        if s.description:
            ET.SubElement(ml, "abstract").text = s.description
        ml.extend(_style_children(s))
    order = ET.SubElement(root, "layerorder")
    for lid, _s in ids:
        ET.SubElement(order, "layer", id=lid)
    if extent is not None:
        canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas")
        ET.SubElement(canvas, "units").text = "meters"
        ext = ET.SubElement(canvas, "extent")
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
            ET.SubElement(ext, k).text = repr(float(v))
        ET.SubElement(canvas, "rotation").text = "0"
        _srs(ET.SubElement(canvas, "destinationsrs"), crs)
    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    # without it QGIS 3.22 ignores projectCrs and opens the project with no CRS
    srs = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
    ET.indent(root, space="  ")
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def write_qgz(path: str | Path, gpkg_name: str, layers: Mapping[str, Any], styles: Sequence[LayerStyle],
              crs: Any, **kwargs: Any) -> Path:
    """Write :func:`project_xml` as a ``.qgz`` (a zip holding ``<stem>.qgs``) and return its path.

    Examples
    --------
    ::

        write_qgz(folder / "xuhui.qgz", "xuhui.gpkg", layers, styles, result.crs, title="Xuhui")
    """
    path = Path(path)
    xml = project_xml(gpkg_name, layers, styles, crs, **kwargs)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{path.stem}.qgs", xml)
    return path
