"""Messages that mislead (#14.11): each bad input gets one message naming the file, the field or row and the fix.

Run through the CLI where the user meets the message (exit code 2, one ``error:`` message, no traceback,
nothing written), on a small synthetic district (a street grid written as OSM XML, a raster of people)
unless the case needs the real data: the wrong-CRS raster is a copy of the shared population raster.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from osm_synth import X0, Y0, OsmWriter
from rasterio.transform import from_origin

import toolkit as tk
from toolkit.batch import execute_runs, run_batch
from toolkit.cli import main
from toolkit.datasets import data_dir, fetch
from toolkit.errors import InputError
from toolkit.io import read_csv_points

TO_WGS = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    """A point x, y metres from the synthetic grid's origin, in lon/lat."""
    return TO_WGS.transform(X0 + x, Y0 + y)


def _district(d: Path, *, bbox_m=(20, 20, 730, 730), population: str = 'population = { path = "pop.tif" }',
              extra: str = "", clip: bool = True, name: str = "msg") -> Path:
    """A 6 x 6 street grid (150 m), a raster of one person per cell over it, and a study TOML; returns the TOML."""
    w = OsmWriter()
    ids = [[w.node(i * 150.0, j * 150.0) for j in range(6)] for i in range(6)]
    for i in range(6):
        w.way([ids[i][j] for j in range(6)], highway="residential")
        w.way([ids[j][i] for j in range(6)], highway="residential")
    w.write_xml(d / "grid.osm")
    lon0, lat0 = _lonlat(0, 800)
    with rasterio.open(d / "pop.tif", "w", driver="GTiff", height=10, width=10, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(lon0, lat0, 0.001, 0.001)) as dst:
        dst.write(np.ones((10, 10), dtype="float32"), 1)
    x0, y0 = _lonlat(*bbox_m[:2])
    x1, y1 = _lonlat(*bbox_m[2:])
    study = d / f"{name}.toml"
    study.write_text(f"""
[study]
name = "{name}"
[area]
bbox = [{x0}, {y0}, {x1}, {y1}]
clip_to_data = {str(clip).lower()}
[network]
source = {{ path = "grid.osm" }}
[population]
{population}
[standards]
profile = "gb50180"
[output]
map = false
report = false
{extra}
""", encoding="utf-8")
    return study


def _fails(capsys, study: Path, out: Path) -> str:
    """Run the study through the CLI: exit code 2, one message, no traceback, nothing written. Returns it."""
    code = main(["run", str(study), "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 2, cap.err
    assert "Traceback" not in cap.err + cap.out
    assert cap.err.startswith("error: ") and cap.err.count("error: ") == 1, cap.err
    assert "\n  fix: " in cap.err
    assert not out.exists() or not any(out.iterdir())
    return cap.err


def _runs(capsys, study: Path, out: Path) -> dict:
    code = main(["run", str(study), "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    return json.loads((out / study.stem / "run.json").read_text(encoding="utf-8"))


def _facility_csv(d: Path, rows: list[tuple[float, float]], header: str = "name,lon,lat") -> Path:
    lines = [header] + [f"f{i},{lon},{lat}" for i, (lon, lat) in enumerate(rows)]
    p = d / "fac.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


FACILITY = '\n[[facilities]]\nsource = {{ path = "fac.csv"{opts} }}\nkind = "fixed"\ncategory = "pharmacy"\n'


# ------------------------------------------- (a) a raster whose CRS label puts it elsewhere
def _mislabelled_raster(dst: Path, crs: str = "EPSG:32651") -> Path:
    """The shared population raster with its pixels untouched and a wrong CRS tag: it lands near the equator."""
    with rasterio.open(fetch("pop_total")) as src:
        profile, arr = src.profile, src.read(1)
    profile.update(crs=crs)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(arr, 1)
    return dst


def test_raster_with_a_wrong_crs_says_it_misses_the_area(tmp_path, capsys):
    """The tester's case: the bundled Xuhui study, its population raster relabelled; was "[blocks.min_area_m2]"."""
    tif = _mislabelled_raster(tmp_path / "pop_wrong_crs.tif")
    text = (data_dir() / "studies" / "xuhui.toml").read_text(encoding="utf-8")
    text = text.replace('population = { dataset = "pop_total" }', f'population = {{ path = "{tif.name}" }}')
    text = "\n".join(line for line in text.splitlines() if not line.startswith(("pop_65plus", "pop_0_14")))
    study = tmp_path / "xuhui_wrong_crs.toml"
    study.write_text(text, encoding="utf-8")
    err = _fails(capsys, study, tmp_path / "out")
    assert "min_area_m2" not in err
    assert str(tif) in err and "[population.population]" in err
    assert "does not overlap the study area" in err
    # both extents in lon/lat: the raster near (118.5, 0), the area at Xuhui
    assert "lon 118.5" in err and "lat 0.000" in err and "'徐汇区'" in err and "lon 121.3" in err
    fix = err.split("fix: ")[1]
    assert "CRS" in fix and "EPSG:4326" in fix and "gdal_edit.py -a_srs EPSG:4326" in fix


def test_raster_with_a_wrong_crs_without_the_clip(tmp_path):
    """clip_to_data = false: the population step says the same, not "no residents"."""
    tif = _mislabelled_raster(tmp_path / "pop_3857.tif", "EPSG:3857")
    study = _district(tmp_path, population=f'population = {{ path = "{tif.name}" }}', clip=False)
    with pytest.raises(InputError) as e:
        tk.run_study(tk.load_study(study))
    assert e.value.source == str(tif) and e.value.field == "population.population"
    assert "does not overlap the study area" in e.value.problem and "EPSG:3857" in e.value.problem
    assert "EPSG:4326" in e.value.fix


# --------------------------------------------------------- (b) some rows with lat and lon swapped
def test_some_swapped_rows_are_named_and_the_columns_left_alone(tmp_path, capsys):
    ok = [_lonlat(300, 300), _lonlat(450, 450), _lonlat(600, 300)]
    rows = [ok[0], ok[1][::-1], ok[2], ok[0][::-1]]  # data rows 2 and 4 swapped: spreadsheet rows 3 and 5
    _facility_csv(tmp_path, rows)
    study = _district(tmp_path, extra=FACILITY.format(opts=""))
    err = _fails(capsys, study, tmp_path / "out")
    assert "fac.csv [lon/lat]" in err
    assert "2 of 4 rows" in err and "rows 3, 5" in err and "the header is row 1" in err
    fix = err.split("fix: ")[1]
    assert "rows 3, 5" in fix and "do not swap the columns" in fix
    assert "lon = 'lat'" not in err


def test_all_rows_swapped_suggests_swapping_the_columns(tmp_path):
    p = _facility_csv(tmp_path, [_lonlat(300, 300)[::-1], _lonlat(450, 450)[::-1]])
    with pytest.raises(InputError) as e:
        read_csv_points(p)
    assert "every row" in e.value.problem and "look swapped" in e.value.problem
    assert "lon = 'lat' and lat = 'lon'" in e.value.fix


def test_out_of_range_rows_are_numbered_as_in_a_spreadsheet(tmp_path):
    p = _facility_csv(tmp_path, [_lonlat(300, 300), (250.0, 31.2), _lonlat(450, 450)[::-1]])
    with pytest.raises(InputError) as e:
        read_csv_points(p)
    assert "1 row with coordinates out of range: row 3" in e.value.problem
    assert "1 more has its longitude and latitude the other way round: row 4" in e.value.problem
    assert "the header is row 1" in e.value.problem


# ------------------------------------------------------------- (c) a header with a trailing space
def test_a_declared_column_with_a_trailing_space_is_read_and_noted(tmp_path, capsys):
    """lon = "lon" against a header "lon ": only spaces differ, so it is read, and the note says so."""
    _facility_csv(tmp_path, [_lonlat(300, 300), _lonlat(450, 450)], header="name,lon ,lat")
    study = _district(tmp_path, extra=FACILITY.format(opts=', lon = "lon", lat = "lat"'))
    rec = _runs(capsys, study, tmp_path / "out")
    notes = [n for n in rec["notes"] if "trailing space" in n]
    assert len(notes) == 1 and "fac.csv" in notes[0] and "column 'lon ' has a trailing space" in notes[0]
    assert rec["facilities"]["sources"][0]["classified"] == 2


def test_a_column_name_off_by_a_space_is_shown_quoted(tmp_path, capsys):
    """A count column "pop " named "pop": the message quotes the names, so the space shows, and says it."""
    lines = ["lon,lat,pop "] + [f"{lon},{lat},10" for lon, lat in (_lonlat(300, 300), _lonlat(450, 450))]
    (tmp_path / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    study = _district(tmp_path, population='population = { path = "people.csv", field = "pop" }', clip=False)
    err = _fails(capsys, study, tmp_path / "out")
    assert "people.csv [pop]" in err and "'pop' not found (column 'pop ' has a trailing space)" in err
    assert "field = 'pop '" in err.split("fix: ")[1]


def test_available_columns_are_quoted(tmp_path):
    p = _facility_csv(tmp_path, [_lonlat(300, 300)], header="name,lon ,lat")
    with pytest.raises(InputError) as e:
        read_csv_points(p, lon="lng", lat="lat")
    assert e.value.field == "lon" and "'lng' does not exist" in e.value.problem
    assert "'name', 'lon ', 'lat'" in e.value.fix


# --------------------------------------------------------- (d) a batch keeps the message's [field]
def test_batch_console_and_record_keep_the_whole_message(tmp_path, capsys, monkeypatch):
    """A run failing with an InputError: the console line and batch.json hold source, [field], problem, fix."""
    import toolkit.batch as batch

    _mislabelled_raster(tmp_path / "wrong.tif")
    _district(tmp_path, population='population = { path = "wrong.tif" }', name="bad")
    (tmp_path / "b.toml").write_text('[batch]\nname = "msgs"\nstudies = ["bad.toml"]\n', encoding="utf-8")

    def in_process(todo, out, scheduler, workers, on_done):  # the runs in this process, not on Dask
        for summary in execute_runs(todo, str(out)):
            on_done(summary)
        return "in process (test)"

    monkeypatch.setattr(batch, "_execute", in_process)
    report = run_batch(tmp_path / "b.toml", tmp_path / "out")
    err = capsys.readouterr().err
    assert len(report.failed) == 1
    text = report.failed[0]["error"]
    assert text.startswith(f"{tmp_path / 'wrong.tif'} [population.population]: ") and "\n  fix: " in text
    shown = " ".join(err[err.index("FAILED bad__default"):].split())  # rich wraps long lines at the width
    assert "[population.population]: the population raster does not overlap the study area" in shown
    assert "fix: the raster's CRS tag is wrong" in shown
    rec = json.loads((tmp_path / "out" / "batch.json").read_text(encoding="utf-8"))
    assert rec["runs"][0]["error"] == text


# --------------------------------------------------------------------- (e) an area off the network
def test_area_off_the_streets_names_the_file_and_the_area(tmp_path, capsys):
    """Streets within the buffer but none in the area: was "[blocks.min_area_m2]: no block is larger..."."""
    study = _district(tmp_path, bbox_m=(900, 100, 1500, 700))  # east of the grid (0..750 m), within 1 km
    err = _fails(capsys, study, tmp_path / "out")
    assert "min_area_m2" not in err
    assert f"{tmp_path / 'grid.osm'} [network]" in err and "does not overlap the streets" in err
    assert "the study area (bbox [" in err and err.count("lon 121.") == 2  # the area's and the streets' extents
    assert "street file that covers the study area" in err.split("fix: ")[1]


def test_area_far_from_the_streets_names_the_file_and_the_area(tmp_path, capsys):
    study = _district(tmp_path, bbox_m=(20_000, 20_000, 20_700, 20_700), clip=False)
    err = _fails(capsys, study, tmp_path / "out")
    assert f"{tmp_path / 'grid.osm'} [network]" in err and "no street of the OSM file lies in or near" in err
    assert "the study area (bbox [" in err and "the file's streets cover lon" in err


# ------------------------------------------------------------- (f) the encoding a CSV was read with
def test_run_json_records_each_csv_encoding(tmp_path, capsys):
    rows = "名称,lon,lat\n" + "".join(f"药房{i},{lon},{lat}\n" for i, (lon, lat) in
                                      enumerate([_lonlat(300, 300), _lonlat(450, 450)]))
    (tmp_path / "gbk.csv").write_bytes(rows.encode("gbk"))
    (tmp_path / "gbk_declared.csv").write_bytes(rows.encode("gbk"))
    (tmp_path / "bom.csv").write_bytes(rows.encode("utf-8-sig"))
    (tmp_path / "plain.csv").write_bytes(rows.encode("utf-8"))
    extra = "".join(f'\n[[facilities]]\nsource = {{ path = "{name}"{opts} }}\nkind = "fixed"\ncategory = "pharmacy"\n'
                    for name, opts in [("gbk.csv", ""), ("gbk_declared.csv", ', encoding = "gbk"'),
                                       ("bom.csv", ""), ("plain.csv", "")])
    rec = _runs(capsys, _district(tmp_path, extra=extra), tmp_path / "out")
    enc = {Path(i["file"]).name: i.get("encoding") for i in rec["inputs"]}
    assert enc == {"gbk.csv": "gb18030", "gbk_declared.csv": "gbk", "bom.csv": "utf-8-sig", "plain.csv": "utf-8",
                   "grid.osm": None, "pop.tif": None}
    assert [s["classified"] for s in rec["facilities"]["sources"]] == [2, 2, 2, 2]


def test_cli_keeps_square_brackets_of_notes_and_errors(capsys, monkeypatch, xuhui):
    """rich reads "[field]" as markup: the CLI must print notes, titles and failures as plain text."""
    import dataclasses

    from toolkit import cli

    study = dataclasses.replace(xuhui.study, title="徐汇 [draft]")
    res = dataclasses.replace(xuhui, study=study, notes=["data.csv [lon/lat]: 2 rows dropped"])
    cli._print_summary(res, None)
    out = capsys.readouterr().out
    assert "data.csv [lon/lat]: 2 rows dropped" in out and "徐汇 [draft]" in out


def test_batch_names_the_profile_file_that_is_wrong(tmp_path):
    """A scenario's profile file that does not parse: the message names that file as well as the batch."""
    from toolkit.batch import load_batch

    src = Path(__file__).resolve().parents[1] / "data" / "profiles" / "shanghai-main-city.toml"
    bad = tmp_path / "my_profile.toml"
    text = src.read_text(encoding="utf-8")
    bad.write_text(text + "\n[broken\n", encoding="utf-8")  # a TOML syntax error in the profile
    batch = tmp_path / "b.toml"
    batch.write_text(f'[batch]\nname = "b"\nstudies = ["xuhui"]\n[[scenarios]]\nname = "mine"\n'
                     f'profile = {str(bad)!r}\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_batch(batch)
    msg = str(e.value)
    assert "b.toml" in msg and "my_profile.toml" in msg
