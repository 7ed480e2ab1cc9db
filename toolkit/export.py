"""Writing a study's outputs: GeoPackage layers, the interactive map and run.json.

Everything is written into a temporary folder beside the destination and moved
into place only when complete, so a failed run never leaves partial output.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import __version__

if TYPE_CHECKING:
    from .study import StudyResult


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else round(float(obj), 6)
    return obj


def run_record(result: StudyResult) -> dict[str, Any]:
    """The provenance record written as run.json."""
    rates = result.rates.reset_index().to_dict(orient="records") if len(result.rates) else []
    return _clean({
        "toolkit_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "study": result.study.name,
        "title": result.study.title,
        "crs": result.crs.to_string(),
        "config": result.study.to_dict(),
        "profile": result.profile.to_dict(),
        "inputs": result.inputs,
        "timings_s": result.timings,
        "area_km2": result.details.get("area_km2"),
        "network": result.details.get("network"),
        "blocks": result.details.get("blocks"),
        "facilities": result.details.get("facilities"),
        "population": result.population_balance,
        "coverage": {"measured": result.categories, "no_data": result.no_data, "rates": rates},
        "heritage": result.details.get("heritage", {"status": "absent",
                                                      "reason": "no [heritage] section in the study"}),
        "walkability": result.details.get("walkability"),
        "decisions": result.details.get("decisions", {"status": "absent",
                                                        "reason": "no [underserved]/[sites]/[selection] section"}),
        "waterfront": result.details.get("waterfront", {"status": "absent",
                                                          "reason": "no [waterfront] section in the study"}),
        "notes": result.notes,
    })


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


def write_outputs(result: StudyResult, out_dir: str | Path, *, write_map: bool | None = None) -> Path:
    """Write ``<out_dir>/<study>/`` with ``<study>.gpkg``, ``map.html`` and ``run.json``.

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
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = result.study.name
    final = out_dir / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs are meant to be shared
    try:
        gpkg = tmp / f"{name}.gpkg"
        layers = {
            "blocks": result.blocks,
            "streets": result.streets,
            "facilities": result.facilities,
            "study_area": result.area,
            **result.layers,
        }
        for layer, gdf in layers.items():
            if gdf is None or len(gdf) == 0:
                continue
            _gpkg_frame(gdf).to_file(gpkg, layer=layer, driver="GPKG", engine="pyogrio")
        if write_map if write_map is not None else result.study.write_map:
            from .maps import coverage_map

            coverage_map(result).save(str(tmp / "map.html"))
        with open(tmp / "run.json", "w", encoding="utf-8") as f:
            json.dump(run_record(result), f, ensure_ascii=False, indent=2, default=_json_default)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=out_dir))
            final.rename(old / name)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
