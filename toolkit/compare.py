"""``toolkit compare RUN_A RUN_B``: what changed between two runs of the same study (issue #12, item 8).

Two output folders of the same study on the same blocks (at two dates: the
facility data were updated, a proposal was built) are read back from what the
toolkit wrote, their ``run.json`` and the ``blocks`` layer of their GeoPackage,
and compared:

* per category: the coverage rates of each run (all residents, 65+), the
  facilities each counted, the data status, and how many blocks changed;
* per zone (the run's ``zones`` layer, else the study's square grid over the
  study area) and category: residents within reach in each run and the blocks
  that changed;
* the blocks whose walking distance or within-reach flag changed for a
  category both runs measured: exactly those, compared value for value (a
  distance of one run missing where the other has one counts as a change).

Runs of different studies, in different CRSs or on different blocks (another
street extract draws other blocks) are refused with one message: a block
comparison needs the same blocks. A category measured in only one of the runs
is listed, not compared (a data gap on one side is not a change in service).

Paths: the two folders are the user's; the GeoPackage is the one ``*.gpkg``
file found in each (never a name read from run.json), and ``--out`` writes a
folder ``<out>/compare/`` checked and swapped in like a study's outputs
(:mod:`toolkit.outfolder`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .labels import label
from .outfolder import check_output_folder, make_staging, publish
from .scenario import POP_GROUPS, changed_mask, zone_of

__all__ = ["COMPARE_FOLDER", "Comparison", "RunFolder", "compare_runs", "comparison_text", "read_run",
           "write_comparison"]

#: The folder ``--out`` writes into (a fixed name: never one read from the runs).
COMPARE_FOLDER = "compare"


@dataclass
class RunFolder:
    """One output folder read back: its record, its blocks and what to roll them up to."""

    path: Path
    record: dict[str, Any]
    blocks: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame | None = None
    area: gpd.GeoDataFrame | None = None

    @property
    def categories(self) -> list[str]:
        """The categories the run measured (run.json ``coverage.measured``) that its blocks layer holds."""
        cov = self.record.get("coverage") or {}
        return [c for c in cov.get("measured", []) if f"dist_{c}_m" in self.blocks and f"within_{c}" in self.blocks]


def _one_gpkg(folder: Path) -> Path:
    found = sorted(p for p in folder.glob("*.gpkg") if p.is_file())
    if len(found) != 1:
        raise InputError(f"the run folder holds {len(found)} GeoPackages, not one", source=str(folder),
                         fix="give an output folder of toolkit run (with its <study>.gpkg and run.json); "
                         "write the run with the gpkg format")
    return found[0]


def read_run(folder: str | Path) -> RunFolder:
    """Read an output folder of :func:`toolkit.outputs.writers.write_outputs`: run.json and the blocks layer.

    Raises
    ------
    InputError
        A folder that is missing, holds no run.json or not exactly one GeoPackage, or whose GeoPackage has no
        blocks layer.

    Examples
    --------
    >>> run = read_run("maps/xuhui")  # doctest: +SKIP
    >>> run.record["study"], len(run.blocks)  # doctest: +SKIP
    ('xuhui', 1032)
    """
    import pyogrio

    path = Path(folder)
    if not path.is_dir():
        raise InputError("the run folder does not exist or is not a folder", source=str(path),
                         fix="give the output folder of a run, e.g. maps/xuhui")
    rj = path / "run.json"
    if not rj.is_file():
        raise InputError("the folder holds no run.json: not the output of a run", source=str(path),
                         fix="give the output folder of toolkit run (it holds run.json and <study>.gpkg)")
    try:
        record = json.loads(rj.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"run.json cannot be read: {exc}", source=str(rj), fix="give a complete output folder") \
            from None
    gpkg = _one_gpkg(path)
    names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    if "blocks" not in names:
        raise InputError("the GeoPackage has no blocks layer", source=str(gpkg), field="blocks",
                         fix="give the output folder of a run (its GeoPackage holds the blocks layer)")
    blocks = gpd.read_file(gpkg, layer="blocks", engine="pyogrio")
    zones = gpd.read_file(gpkg, layer="zones", engine="pyogrio") if "zones" in names else None
    area = gpd.read_file(gpkg, layer="study_area", engine="pyogrio") if "study_area" in names else None
    return RunFolder(path=path, record=record, blocks=blocks, zones=zones, area=area)


def _refuse(problem: str, a: RunFolder, b: RunFolder, fix: str) -> InputError:
    return InputError(problem, source=f"{a.path} and {b.path}", fix=fix)


def _same_blocks(a: RunFolder, b: RunFolder) -> pd.Index:
    """The block ids, refusing runs that are not of the same study on the same blocks."""
    sa, sb = a.record.get("study"), b.record.get("study")
    if sa != sb:
        raise _refuse(f"the runs are of different studies ({sa!r} and {sb!r})", a, b,
                      "compare two runs of the same study (two dates, or before and after a change)")
    if str(a.record.get("crs")) != str(b.record.get("crs")):
        raise _refuse(f"the runs are in different CRSs ({a.record.get('crs')} and {b.record.get('crs')})", a, b,
                      "run both with the same [study] crs")
    for run in (a, b):
        if "block_id" not in run.blocks or run.blocks["block_id"].duplicated().any():
            raise InputError("the blocks layer has no unique block_id", source=str(run.path), field="block_id",
                             fix="give the output folder of a run")
    ia, ib = pd.Index(a.blocks["block_id"]), pd.Index(b.blocks["block_id"])
    if len(ia) != len(ib) or not ia.sort_values().equals(ib.sort_values()):
        raise _refuse(f"the runs have different blocks ({len(ia)} and {len(ib)}, "
                      f"{len(ia.symmetric_difference(ib))} ids in one only)", a, b,
                      "compare runs on the same blocks: the same street extract (or parcels) and study area")
    ga = np.asarray(a.blocks.set_index("block_id").geometry.loc[ia].values)
    gb = np.asarray(b.blocks.set_index("block_id").geometry.loc[ia].values)
    same = shapely.equals_exact(shapely.normalize(ga), shapely.normalize(gb), tolerance=0.01)
    if not same.all():
        raise _refuse(f"the runs have different blocks: {int((~same).sum())} of {len(ia)} block outlines differ", a,
                      b, "compare runs on the same blocks: the same street extract (or parcels) and study area")
    return ia


@dataclass
class Comparison:
    """What changed from run A to run B (:func:`compare_runs`)."""

    a: RunFolder
    b: RunFolder
    categories: pd.DataFrame  # per category: rates, facilities, data status of each run, blocks changed
    zones: pd.DataFrame  # per zone and category: residents within reach in each run, blocks changed
    changed: gpd.GeoDataFrame  # the blocks that changed, with their distances and flags in each run
    only_in: dict[str, list[str]] = field(default_factory=dict)  # categories measured in one run only

    def summary(self) -> dict[str, Any]:
        """JSON-able figures (compare.json)."""
        return {"study": self.a.record.get("study"), "run_a": {"folder": str(self.a.path),
                                                               "created": self.a.record.get("created")},
                "run_b": {"folder": str(self.b.path), "created": self.b.record.get("created")},
                "blocks": len(self.a.blocks), "blocks_changed": len(self.changed),
                "changed_block_ids": [_py(v) for v in self.changed["block_id"]],
                "categories_only_in": self.only_in,
                "categories": self.categories.reset_index().to_dict(orient="records"),
                "zones_changed": self.zones[self.zones["blocks_changed"] > 0].to_dict(orient="records")
                if len(self.zones) else []}


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _rates(run: RunFolder) -> dict[str, dict[str, Any]]:
    rows = (run.record.get("coverage") or {}).get("rates") or []
    return {r["category"]: r for r in rows if "category" in r}


def _facilities(run: RunFolder, c: str) -> Any:
    src = ((run.record.get("facilities") or {}).get("coverage_sources") or {}).get(c) or {}
    return src.get("facilities")


def _status(run: RunFolder, c: str) -> str:
    return str(((run.record.get("data_status") or {}).get(c) or {}).get("status", "no data"))


def _block_changes(a: pd.DataFrame, b: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Per block (on ``a``'s index, ``b`` aligned to it) and category: distance or flag changed."""
    out = pd.DataFrame(index=a.index)
    for c in cats:
        d = changed_mask(a[f"dist_{c}_m"].to_numpy(dtype=float), b[f"dist_{c}_m"].to_numpy(dtype=float), tol=0.0)
        w = a[f"within_{c}"].fillna(False).to_numpy(dtype=bool) != b[f"within_{c}"].fillna(False).to_numpy(dtype=bool)
        out[c] = d | w
    return out


def _zones_of(run: RunFolder) -> tuple[gpd.GeoDataFrame | None, str]:
    cfg = run.record.get("config") or {}
    zfield = cfg.get("zone_id_field") or "zone_id"
    if run.zones is not None and zfield in run.zones:
        return run.zones, zfield
    if run.area is not None and len(run.area):
        from .underserved import grid_zones

        geom = shapely.union_all(np.asarray(run.area.to_crs(run.blocks.crs).geometry.values))
        return grid_zones(geom, float(cfg.get("zone_grid_m", 1000.0)), run.blocks.crs), "zone_id"
    return None, "zone_id"


def _zone_table(a: RunFolder, bb: pd.DataFrame, changes: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    zones, zfield = _zones_of(a)
    if zones is None or not cats:
        return pd.DataFrame(columns=[zfield, "category", "blocks_changed"])
    ab = a.blocks
    zone = zone_of(ab, zones, zfield)
    pops = {k: v for k, v in POP_GROUPS.items() if v in ab}
    rows = []
    for c in cats:
        wa = ab[f"within_{c}"].fillna(False).to_numpy(dtype=bool) & ab[f"dist_{c}_m"].notna().to_numpy()
        wb = bb[f"within_{c}"].fillna(False).to_numpy(dtype=bool) & bb[f"dist_{c}_m"].notna().to_numpy()
        df = pd.DataFrame({"zone": zone, "blocks_changed": changes[c].to_numpy()})
        for k, col in pops.items():
            df[f"covered_{k}_a"] = np.where(wa, ab[col].to_numpy(dtype=float), 0.0)
            df[f"covered_{k}_b"] = np.where(wb, bb[col].to_numpy(dtype=float), 0.0)
        g = df.groupby("zone").sum()
        g.insert(0, "category", c)
        rows.append(g)
    t = pd.concat(rows).reset_index().rename(columns={"zone": zfield})
    for k in pops:
        t[f"covered_{k}_change"] = t[f"covered_{k}_b"] - t[f"covered_{k}_a"]
    return t


def compare_runs(a: RunFolder | str | Path, b: RunFolder | str | Path) -> Comparison:
    """Compare two runs of the same study on the same blocks: rates, facilities, changed blocks, per zone.

    Parameters
    ----------
    a, b : RunFolder or path
        Output folders (or :func:`read_run` results); ``a`` is the earlier.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        Runs of different studies, CRSs or blocks (one message, naming both folders).

    Examples
    --------
    >>> cmp = compare_runs("maps/2025/xuhui", "maps/2026/xuhui")  # doctest: +SKIP
    >>> cmp.changed["block_id"].tolist()[:3]  # doctest: +SKIP
    [17, 18, 240]
    """
    a = a if isinstance(a, RunFolder) else read_run(a)
    b = b if isinstance(b, RunFolder) else read_run(b)
    ids = _same_blocks(a, b)
    ab = a.blocks.set_index("block_id").loc[ids]
    bb = b.blocks.set_index("block_id").loc[ids]
    ca, cb = a.categories, b.categories
    cats = [c for c in ca if c in cb]
    changes = _block_changes(ab, bb, cats)
    any_change = changes.any(axis=1).to_numpy() if len(cats) else np.zeros(len(ab), dtype=bool)
    ra, rb = _rates(a), _rates(b)
    rows = []
    for c in cats:
        row: dict[str, Any] = {"category": c, "data_status_a": _status(a, c), "data_status_b": _status(b, c),
                               "facilities_a": _facilities(a, c), "facilities_b": _facilities(b, c)}
        for k in ("total", "65plus"):
            va, vb = ra.get(c, {}).get(f"rate_{k}"), rb.get(c, {}).get(f"rate_{k}")
            row[f"rate_{k}_a"], row[f"rate_{k}_b"] = va, vb
            row[f"rate_{k}_change"] = vb - va if va is not None and vb is not None else None
        wa, wb = ab[f"within_{c}"].fillna(False).astype(bool), bb[f"within_{c}"].fillna(False).astype(bool)
        row["blocks_changed"] = int(changes[c].sum())
        row["blocks_newly_within"] = int((wb & ~wa).sum())
        row["blocks_no_longer_within"] = int((wa & ~wb).sum())
        rows.append(row)
    table = pd.DataFrame(rows).set_index("category") if rows else pd.DataFrame()
    keep = ab.index[any_change]
    cols: dict[str, Any] = {"block_id": keep.to_numpy(),
                            "categories_changed": [";".join(c for c in cats if changes.at[i, c]) for i in keep]}
    for c in cats:
        cols[f"dist_{c}_m_a"] = ab.loc[keep, f"dist_{c}_m"].to_numpy(dtype=float)
        cols[f"dist_{c}_m_b"] = bb.loc[keep, f"dist_{c}_m"].to_numpy(dtype=float)
        cols[f"within_{c}_a"] = ab.loc[keep, f"within_{c}"].fillna(False).to_numpy(dtype=bool)
        cols[f"within_{c}_b"] = bb.loc[keep, f"within_{c}"].fillna(False).to_numpy(dtype=bool)
    changed = gpd.GeoDataFrame(cols, geometry=np.asarray(ab.loc[keep].geometry.values), crs=a.blocks.crs)
    zones = _zone_table(a, bb.reset_index(), changes.reset_index(drop=True), cats)
    return Comparison(a=a, b=b, categories=table, zones=zones, changed=changed,
                      only_in={"a": [c for c in ca if c not in cb], "b": [c for c in cb if c not in ca]})


def write_comparison(cmp: Comparison, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/compare/``: changed_blocks.gpkg, changed_blocks.csv and compare.json; return the folder.

    The folder is checked first and written whole (staged, then swapped in) as a study's outputs are.
    """
    from .outputs.writers import write_csv
    from .record import _json_default

    out_dir = Path(out_dir)
    final = check_output_folder(out_dir, COMPARE_FOLDER)
    tmp = make_staging(out_dir, COMPARE_FOLDER)
    try:
        cmp.changed.to_file(tmp / "changed_blocks.gpkg", layer="changed_blocks", driver="GPKG", engine="pyogrio")
        write_csv(cmp.changed, tmp / "changed_blocks.csv")
        (tmp / "compare.json").write_text(json.dumps(cmp.summary(), ensure_ascii=False, indent=2,
                                                     default=_json_default), encoding="utf-8")
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{float(v):.1%}"


def comparison_text(cmp: Comparison, lang: str = "en", zones: int = 10) -> str:
    """The comparison as plain text (what ``toolkit compare`` prints): categories, zones, changed blocks."""
    s = cmp.summary()
    lines = [label("compare.header", lang, study=s["study"], a=s["run_a"]["created"], b=s["run_b"]["created"]),
             label("compare.blocks", lang, n=s["blocks_changed"], of=s["blocks"]), ""]
    head = [label("col.category", lang), label("compare.rate_a", lang), label("compare.rate_b", lang),
            label("compare.facilities_ab", lang), label("compare.blocks_changed", lang)]
    lines.append(f"{head[0]:<20}{head[1]:>10}{head[2]:>10}{head[3]:>22}{head[4]:>16}")
    for c, r in cmp.categories.iterrows():
        fac = f"{r['facilities_a'] if r['facilities_a'] is not None else '-'} -> " \
              f"{r['facilities_b'] if r['facilities_b'] is not None else '-'}"
        lines.append(f"{c!s:<20}{_pct(r['rate_total_a']):>10}{_pct(r['rate_total_b']):>10}{fac:>22}"
                     f"{int(r['blocks_changed']):>16}")
    for side in ("a", "b"):
        if cmp.only_in.get(side):
            lines.append(label(f"compare.only_{side}", lang, cats=", ".join(cmp.only_in[side])))
    z = cmp.zones
    if len(z) and (z["blocks_changed"] > 0).any():
        zf = z.columns[0]
        top = z[z["blocks_changed"] > 0].sort_values("blocks_changed", ascending=False).head(zones)
        lines += ["", label("compare.zones", lang)]
        lines += [f"  {r[zf]!s:<12}{r['category']!s:<20}{int(r['blocks_changed']):>6}  "
                  f"{r.get('covered_total_change', 0.0):+,.0f}" for _, r in top.iterrows()]
    if len(cmp.changed):
        ids = ", ".join(str(_py(v)) for v in cmp.changed["block_id"].head(30))
        lines += ["", label("compare.changed_ids", lang, ids=ids + (", ..." if len(cmp.changed) > 30 else ""))]
    return "\n".join(lines)
