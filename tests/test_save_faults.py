"""Saving under faults: read-only and full disks, kills during the save, several processes saving at once (#14).

These stand for what happens on planners' machines and shared drives: a
read-only network share, a disk that fills during a batch, a laptop closed
or a job killed by a scheduler mid-save, two notebooks saving the same study.
The disks are real (small tmpfs mounts, skipped where mounting is not
allowed), the kills are real signals at random points of the save, and the
references are read back from the files with sqlite3 and json, not with the
toolkit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolkit import cli
from toolkit.errors import InputError
from toolkit.outfolder import STAGING_MARKER, OutputFolderError, check_output_folder, staging_folders
from toolkit.outputs.writers import write_outputs

needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")


@pytest.fixture(scope="module")
def tiny(xuhui):
    """A small slice of the default study, fast to write (about 1 s)."""
    study = dataclasses.replace(xuhui.study, name="tiny", formats=["gpkg"], static_maps=False, report=True)
    return dataclasses.replace(xuhui, study=study, blocks=xuhui.blocks.head(40), streets=xuhui.streets.head(200),
                               facilities=xuhui.facilities.head(50), layers={}, details={})


def _mount(path: Path, *opts: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under tmp_path; unmounted afterwards. Skips where mounting is refused."""
    mounted: list[Path] = []

    def make(name: str, size: str, *opts: str) -> Path:
        p = tmp_path / name
        if not _mount(p, f"size={size}", *opts):
            pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
        mounted.append(p)
        return p

    yield make
    for p in reversed(mounted):
        subprocess.run(["umount", "-l", str(p)], capture_output=True)


def complete(folder: Path) -> dict:
    """Check an output folder is whole, from the files themselves; return its run.json."""
    assert folder.is_dir(), folder
    assert not (folder / STAGING_MARKER).exists()
    rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    for f in rec["outputs"]["files"]:
        assert (folder / f).is_file() and (folder / f).stat().st_size > 0, f
    with sqlite3.connect(f"file:{folder / 'tiny.gpkg'}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        layers = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        assert {"blocks", "streets", "facilities", "study_area"} <= layers
        assert con.execute('SELECT count(*) FROM "blocks"').fetchone()[0] == 40
    return rec


def _fail_if_called(*a, **k):
    raise AssertionError("the analysis ran although the output folder was unusable")


# ------------------------------------------------------------ checked before the analysis
def _unwritable(tmp_path, tmpfs) -> Path:
    if os.geteuid() == 0:
        return tmpfs("ro", "4m", "ro")
    p = tmp_path / "ro"
    p.mkdir()
    p.chmod(0o555)
    return p


def test_read_only_folder_refused_before_the_analysis(tmp_path, tmpfs, monkeypatch, capsys):
    ro = _unwritable(tmp_path, tmpfs)
    monkeypatch.setattr("toolkit.study.run_study", _fail_if_called)
    assert cli.main(["run", "xuhui", "--out", str(ro / "maps")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert str(ro) in err and "fix:" in err and ("cannot be created" in err or "not writable" in err)
    assert list(ro.iterdir()) == []


def test_full_disk_refused_before_the_analysis(tmpfs, monkeypatch, capsys):
    small = tmpfs("small", "8m")  # under the 50 MB a run asks for
    monkeypatch.setattr("toolkit.study.run_study", _fail_if_called)
    assert cli.main(["run", "xuhui", "--out", str(small)]) == 2
    err = capsys.readouterr().err
    assert "MB free" in err and str(small) in err and "fix: free some space" in err
    assert list(small.iterdir()) == []


def test_output_path_that_is_a_file(tmp_path):
    (tmp_path / "maps").write_text("not a folder")
    with pytest.raises(OutputFolderError, match="is a file"):
        check_output_folder(tmp_path / "maps", "xuhui")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "xuhui").write_text("a file where the study folder goes")
    with pytest.raises(OutputFolderError, match="is a file") as e:
        check_output_folder(tmp_path / "out", "xuhui")
    assert e.value.fix


def test_batch_refuses_a_read_only_folder_before_running(tmp_path, tmpfs, monkeypatch):
    from toolkit.batch import run_batch

    ro = _unwritable(tmp_path, tmpfs)
    monkeypatch.setattr("toolkit.batch._execute", _fail_if_called)
    batch = Path(__file__).resolve().parents[1] / "data" / "batches" / "shanghai.toml"
    with pytest.raises(InputError) as e:
        run_batch(batch, ro / "b", progress=False)
    assert str(ro) in str(e.value)


# ------------------------------------------------------------ the disk fills during the save
def test_disk_filling_during_the_save_keeps_the_previous_output(tiny, tmpfs, monkeypatch):
    disk = tmpfs("disk", "60m")
    folder = write_outputs(tiny, disk, write_map=False)
    (folder / "my_notes.txt").write_text("场地踏勘记录", encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def fill(path, *a, **k):  # the report is written last: a real ENOSPC from the kernel, late in the save
        with open(path, "wb") as f:
            while True:
                f.write(b"x" * (1 << 20))

    monkeypatch.setattr("toolkit.outputs.report.write_report", fill)
    with pytest.raises(OutputFolderError, match="disk filled up") as e:
        write_outputs(tiny, disk, write_map=False)
    assert "previous output" in e.value.fix
    assert sorted(p.name for p in disk.iterdir()) == ["tiny"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    complete(folder)


def test_disk_full_inside_gdal_is_said(tiny, tmpfs, monkeypatch):
    disk = tmpfs("gdal", "200k")  # smaller than the GeoPackage: GDAL/SQLite fail in their own words
    monkeypatch.setattr("toolkit.outputs.writers.check_output_folder", lambda out, name, need_mb=None: Path(out) / name)
    with pytest.raises(OutputFolderError, match="disk filled up"):
        write_outputs(tiny, disk, write_map=False)
    assert list(disk.iterdir()) == []


def test_cli_full_disk_during_save_is_one_message(tiny, tmpfs, monkeypatch, capsys):
    disk = tmpfs("cli", "60m")

    def run_study(study, progress=None):
        # only the analysis is replaced (by the saved slice); the save is the real one, onto a disk that fills
        import shutil

        (disk / "ballast").write_bytes(b"\0" * (shutil.disk_usage(disk).free - 200_000))
        return tiny

    monkeypatch.setattr("toolkit.study.run_study", run_study)
    monkeypatch.setattr("toolkit.outfolder.MIN_FREE_MB", 1.0)
    # the save's own space check would refuse before writing: skipped, so that the disk fills mid-write
    monkeypatch.setattr("toolkit.outputs.writers.check_output_folder", lambda out, name, need_mb=None: Path(out) / name)
    assert cli.main(["run", "xuhui", "--out", str(disk)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err and "disk filled up" in err
    assert sorted(p.name for p in disk.iterdir()) == ["ballast"]


# ------------------------------------------------------------ kills at random points of the save
CHILD = Path(__file__).with_name("save_child.py")


@pytest.fixture(scope="module")
def tiny_pickle(tiny, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("child") / "tiny.pickle"
    p.write_bytes(pickle.dumps(tiny))
    return p


def _child(tiny_pickle: Path, out: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), str(tiny_pickle), str(out), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_posix
def test_kills_during_the_save_leave_a_complete_output(tiny, tiny_pickle, tmp_path):
    """SIGKILL and SIGTERM at random moments of back-to-back saves, each in a process of its own.

    After every kill the folder holds a complete output (the previous or the new one) and the planner's
    file; after SIGTERM the process leaves no staging folder; after the next save there is none at all.
    """
    out = tmp_path / "maps"
    folder = write_outputs(tiny, out, write_map=False)
    (folder / "my_notes.txt").write_text("keep me", encoding="utf-8")
    t0 = time.perf_counter()
    write_outputs(tiny, out, write_map=False)
    save_s = time.perf_counter() - t0
    rng = random.Random(14)
    kinds = [signal.SIGKILL] * 8 + [signal.SIGTERM] * 6
    rng.shuffle(kinds)
    for sig in kinds:
        p = _child(tiny_pickle, out, "forever")
        assert p.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0, 2.5 * save_s))
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL), err
        complete(folder)
        assert (folder / "my_notes.txt").read_text(encoding="utf-8") == "keep me"
        if sig == signal.SIGTERM:  # rolled back by the process itself (a SIGKILLed one's wait for the next save)
            assert [f for f in staging_folders(out, "tiny") if f"-{p.pid}-" in f.name] == []
    write_outputs(tiny, out, write_map=False)
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]
    complete(folder)
    assert (folder / "my_notes.txt").exists()


@pytest.mark.slow
def test_sigterm_during_a_cli_run_is_one_message(tmp_path):
    out = tmp_path / "maps"
    p = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "run", "xuhui", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_leftovers_of_earlier_versions_and_dead_processes_are_removed(tiny, tmp_path):
    out = tmp_path / "maps"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    from toolkit.outfolder import _HOST

    stale = out / f".tiny.staging-{_HOST}-{dead}-abcdef012345"
    live = out / f".tiny.staging-{_HOST}-{os.getppid()}-abcdef012345"  # a running process: left alone
    legacy = out / ".tiny.k3j_x9q2"
    for d in (stale, live, legacy):
        d.mkdir()
        (d / "tiny.gpkg").write_bytes(b"x")
    old = time.time() - 3 * 86400
    os.utime(legacy, (old, old))
    other = out / ".other.staging-host-1-abcdef012345"  # another study's: not ours to touch
    other.mkdir()
    write_outputs(tiny, out, write_map=False)
    assert sorted(p.name for p in out.iterdir()) == sorted([".other.staging-host-1-abcdef012345", live.name,
                                                            "tiny"])


# ------------------------------------------------------------ several processes saving at once
@needs_posix
def test_concurrent_saves_into_one_folder(tiny, tiny_pickle, tmp_path):
    """Four processes save the same study into one folder 10 times each, overlapping all the time.

    The planner keeps 300 site photos in the folder: copying them over widens the window in which
    unserialised saves trip over each other (the code before the lock failed this test with
    FileNotFoundError in 2 of 4 processes).
    """
    out = tmp_path / "maps"
    write_outputs(tiny, out, write_map=False)
    (out / "tiny" / "my_notes.txt").write_text("keep me", encoding="utf-8")
    (out / "tiny" / "photos").mkdir()
    for i in range(300):
        (out / "tiny" / "photos" / f"p{i:03d}.jpg").write_bytes(b"\xff\xd8" + bytes(20_000))
    procs = [_child(tiny_pickle, out, "10") for _ in range(4)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]
    complete(out / "tiny")
    assert (out / "tiny" / "my_notes.txt").read_text(encoding="utf-8") == "keep me"
    assert len(list((out / "tiny" / "photos").iterdir())) == 300
