"""Writing a study's outputs: data layers (GeoPackage, GeoParquet, CSV) with styles, maps, report and run.json.

Everything is written into a temporary folder beside the destination and moved
into place only when complete, so a failed run never leaves partial output.

The result is only read. What the writing itself has to say (a map that loads
its scripts from a CDN) is a note in run.json and the report, never added to
``result.notes``, so saving a result twice writes the same record.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..config import validate_study
from ..outfolder import OutputFolderError, check_folder_name, check_output_folder, folder_size_mb, make_staging, publish
from ..record import _json_default, run_record

if TYPE_CHECKING:
    from ..result import StudyResult

__all__ = ["csv_frame", "output_layers", "run_record", "write_csv", "write_outputs", "write_parquet"]


def _gpkg_frame(gdf):
    # GeoPackage has no unbounded floats or nullable-bool quirks: store inf as NULL.
    g = gdf.copy()
    for c in g.columns:
        if c == g.geometry.name:
            continue
        if pd.api.types.is_float_dtype(g[c]):
            g[c] = g[c].where(np.isfinite(g[c]))
        elif g[c].dtype == object:
            g[c] = g[c].astype("string")
    return g


def output_layers(result: StudyResult) -> dict[str, Any]:
    """The layers written, in order: blocks, streets, facilities, study_area, then the overlays' (non-empty only)."""
    layers = {
        "blocks": result.blocks,
        "streets": result.streets,
        "facilities": result.facilities,
        "study_area": result.area,
        **result.layers,
    }
    return {k: v for k, v in layers.items() if v is not None and len(v)}


def write_parquet(gdf, path: Path) -> Path:
    """One layer as GeoParquet (geometry as WKB, CRS as PROJJSON in the ``geo`` metadata)."""
    _gpkg_frame(gdf).to_parquet(path, index=False)
    return path


def csv_frame(gdf) -> pd.DataFrame:
    """A layer as a plain table: attributes, then ``x, y, lon, lat`` for points or ``wkt`` otherwise.

    Booleans become ``true``/``false`` and missing values empty cells, so Excel
    and QGIS's delimited-text reader read them back alike.
    """
    import shapely

    g = _gpkg_frame(gdf)
    geom = np.asarray(g.geometry.values)
    df = pd.DataFrame(g.drop(columns=g.geometry.name))
    for c in df.columns:
        if pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].map({True: "true", False: "false"}).astype("string")
    types = set(shapely.get_type_id(geom[~shapely.is_missing(geom)]).tolist())
    if types and types <= {0}:  # points
        xy = shapely.get_coordinates(geom)
        ll = g.geometry.to_crs("EPSG:4326") if g.crs is not None else None
        for name, values in (("x", xy[:, 0]), ("y", xy[:, 1])):
            df[name if name not in df else f"geom_{name}"] = np.round(values, 2)
        if ll is not None:
            df["lon" if "lon" not in df else "geom_lon"] = np.round(ll.x.to_numpy(), 7)
            df["lat" if "lat" not in df else "geom_lat"] = np.round(ll.y.to_numpy(), 7)
    else:
        df["wkt" if "wkt" not in df else "geom_wkt"] = shapely.to_wkt(geom, rounding_precision=2)
    return df


def _csvt_type(s: pd.Series, name: str, geom: str | None) -> str:
    if name == geom:
        return "WKT"
    if pd.api.types.is_bool_dtype(s) or (s.dtype == "string" and set(s.dropna().unique()) <= {"true", "false"}):
        return "String"
    if pd.api.types.is_integer_dtype(s):
        return "Integer64"
    if pd.api.types.is_float_dtype(s):
        return "Real"
    return "String"


def write_csv(gdf, path: Path) -> Path:
    """One layer as CSV in UTF-8 with a byte-order mark (Excel in Chinese locales then reads 中文 correctly).

    Beside it, as GDAL's CSV driver (and so QGIS) reads them: ``.csvt`` gives each column's type
    (numbers stay numbers, the ``wkt`` column is the geometry, ``x``/``y`` of points are coordinates)
    and ``.prj`` the layer's CRS, so the file opens in its CRS instead of as text with none.
    """
    df = csv_frame(gdf)
    df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    geom = "wkt" if "wkt" in df and "wkt" not in gdf else "geom_wkt" if "geom_wkt" in df else None
    types = []
    for c in df.columns:
        if c in ("x", "y") and c not in gdf and getattr(gdf, "crs", None) is not None:
            types.append("CoordX" if c == "x" else "CoordY")
        else:
            types.append(_csvt_type(df[c], c, geom))
    path.with_suffix(".csvt").write_text(",".join(f'"{t}"' for t in types) + "\n", encoding="ascii")
    if getattr(gdf, "crs", None) is not None:
        path.with_suffix(".prj").write_text(gdf.crs.to_wkt("WKT1_ESRI"), encoding="ascii")
    return path


def _need_mb(result: StudyResult, final: Path) -> float:
    """Free space to ask for before writing: a generous multiple of the layers' size in memory."""
    layers = output_layers(result)
    mem = sum(float(g.memory_usage(deep=True).sum()) for g in layers.values()) / 1e6
    # GeoPackage + map + any parquet/csv copies are a few times the frames; the old output is held until the swap
    return max(10.0, 4 * mem * max(1, len(result.study.formats or ["gpkg"]))) + folder_size_mb(final)


_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _write_failure(exc: BaseException, out_dir: Path) -> str | None:
    """What to tell the user when writing the outputs failed because of the folder; None for anything else."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return f"the disk filled up while the outputs were written ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno in _NO_WRITE:
        return f"the output folder stopped being writable while the outputs were written ({exc.strerror})"
    if isinstance(exc, Exception) and not isinstance(exc, OSError | OutputFolderError):
        # GDAL/SQLite report a full disk in their own words ("database or disk is full", "No space left")
        text = str(exc).lower()
        if "disk is full" in text or "no space left" in text or "disk full" in text:
            return "the disk filled up while the outputs were written"
        try:
            if shutil.disk_usage(out_dir).free < 1e6:
                return "the disk filled up while the outputs were written"
        except OSError:
            pass
    return None


def write_outputs(result: StudyResult, out_dir: str | Path, *, write_map: bool | None = None) -> Path:
    """Write ``<out_dir>/<study>/``: data layers, styles, data dictionary, maps, report and run.json.

    The folder holds ``<study>.gpkg`` (every layer, with QGIS/SLD styles in its
    ``layer_styles`` table) when ``"gpkg"`` is among ``study.formats``;
    ``<study>_<layer>.parquet`` (GeoParquet) and ``<study>_<layer>.csv`` (UTF-8
    with BOM) for ``"parquet"`` / ``"csv"``, with a ``<study>_<layer>.qml`` style
    beside them that QGIS loads automatically; ``schema.md`` (the data
    dictionary of every column); ``map.html``; ``static/<map>.png|pdf`` when
    ``study.static_maps``; ``report.html`` when ``study.report``; and
    ``run.json``. Everything is written into a temporary folder and moved into
    place only when complete, so a failure leaves the previous output untouched
    and nothing partial.

    Parameters
    ----------
    result : StudyResult
    out_dir : path-like
        Parent folder; created if missing.
    write_map : bool, optional
        Defaults to the study's ``output.map`` setting.

    Returns
    -------
    Path
        The study's output folder.

    Raises
    ------
    InputError
        When ``study.name`` is not a plain folder name (see :func:`toolkit.outfolder.check_folder_name`);
        nothing is written then.
    """
    from .report import write_report
    from .schema import write_schema
    from .static import figure_notes, static_maps
    from .styles import default_styles, export_qml, write_layer_styles

    study = validate_study(result.study)  # a Study built or changed in Python: the checks a study file gets
    # the name becomes a folder and file names under out_dir: checked here too, as a Study built in
    # Python (or edited after load_study) never went through the TOML checks, and before anything is made
    name = check_folder_name(study.name, source=study.source_file or "Study (built in Python)", field="study.name",
                             fix="rename the study")
    out_dir = Path(out_dir)
    final = check_output_folder(out_dir, name, need_mb=_need_mb(result, out_dir / name))
    tmp = make_staging(out_dir, name)
    try:
        formats = list(dict.fromkeys(study.formats or ["gpkg"]))
        layers = output_layers(result)
        styles = default_styles(layers, lang=study.lang, catalogue=result.profile.catalogue,
                                overlays=result.overlays)
        files: list[str] = []
        output_notes: list[str] = []  # the writing's own, for run.json and the report: the result is not changed
        if "gpkg" in formats:
            gpkg = tmp / f"{name}.gpkg"
            for layer, gdf in layers.items():
                _gpkg_frame(gdf).to_file(gpkg, layer=layer, driver="GPKG", engine="pyogrio")
            write_layer_styles(gpkg, styles)
            files.append(gpkg.name)
            # a double-click in QGIS opens the study as the map shows it: styles, groups, the study CRS
            from .qgis_project import write_qgz

            files.append(write_qgz(tmp / f"{name}.qgz", gpkg.name, layers, styles, result.crs,
                                   title=study.title or name, lang=study.lang,
                                   extent=tuple(result.area.total_bounds)).name)
        for fmt, writer in (("parquet", write_parquet), ("csv", write_csv)):
            if fmt in formats:
                for layer, gdf in layers.items():
                    written = writer(gdf, tmp / f"{name}_{layer}.{fmt}")
                    files += [written.name] + [written.with_suffix(s).name for s in (".csvt", ".prj")
                                               if fmt == "csv" and written.with_suffix(s).exists()]
        if "parquet" in formats or "csv" in formats:
            files += [p.name for p in export_qml(styles, tmp, prefix=f"{name}_")]
        if write_map if write_map is not None else study.write_map:
            from .webassets import WebAssetsError
            from .webmap import coverage_map

            try:
                m = coverage_map(result)
            except WebAssetsError as exc:
                # A pip install without the npm assets still gets a map, but one that needs
                # internet: say so loudly rather than fail the whole run.
                warnings.warn(f"map.html will load Leaflet from a CDN and needs internet: {exc}", stacklevel=2)
                output_notes.append("map.html loads Leaflet and d3 from a CDN (web assets not installed: "
                                    "run `npm ci --prefix web` for an offline map)")
                m = coverage_map(result, allow_cdn=True)
            m.save(str(tmp / "map.html"))
            files.append("map.html")
        if study.static_maps:
            files += [p.relative_to(tmp).as_posix() for p in static_maps(result, tmp / "static")]
        output_notes += figure_notes(study)  # Chinese figures drawn in English for want of a CJK font: said
        record = run_record(result, output_notes=output_notes)
        if study.report:
            files.append("report.html")
        files += ["schema.md", "run.json"]
        record["outputs"] = {"formats": formats, "files": files}
        write_schema(tmp / "schema.md", layers, study=name, crs=result.crs.to_string(), files=files,
                     overlays=result.overlays, lang=study.lang)
        if study.report:
            write_report(tmp / "report.html", result, record, files=files)
        with open(tmp / "run.json", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=2, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        problem = _write_failure(exc, out_dir)
        if problem is not None:
            raise OutputFolderError(problem, source=str(out_dir),
                                    fix="free some space or choose another --out folder; the previous output, "
                                    "if any, is unchanged") from None
        raise
    return final
