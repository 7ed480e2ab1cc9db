"""The dataset registry: resolution order and checksum verification."""

from __future__ import annotations

import shutil

import pytest

from toolkit.datasets import fetch, registry, sha256sum
from toolkit.errors import ChecksumError, DataNotFoundError


def test_every_dataset_resolves_and_verifies():
    reg = registry()
    assert len(reg) == 20
    for name, ds in reg.items():
        p = fetch(name, download=False)
        assert sha256sum(p) == ds.sha256
        assert ds.licence and ds.origin.startswith("https://")


def test_evaluation_data_is_never_downloaded():
    """The Amap export and the compounds table may be read from a local copy, never fetched or bundled."""
    for name in ("amap_poi_xujiahui", "amap_fetch_log", "residential_compounds"):
        ds = registry()[name]
        assert ds.download_url == "" and "never redistribute" in ds.licence


def test_registry_matches_shared_sha256sums(shared):
    sums = dict(line.split()[::-1] for line in (shared / "SHA256SUMS").read_text().splitlines() if line.strip())
    for ds in registry().values():
        assert sums[ds.file.removeprefix("shanghai/")] == ds.sha256


def test_toolkit_data_env_takes_precedence(tmp_path, monkeypatch, shared):
    (tmp_path / "shanghai").mkdir()
    shutil.copy(shared / "districts_gcj02.json", tmp_path / "shanghai" / "districts_gcj02.json")
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path))
    assert fetch("districts") == tmp_path / "shanghai" / "districts_gcj02.json"


def test_checksum_mismatch_is_an_error(tmp_path, monkeypatch, shared):
    (tmp_path / "shanghai").mkdir()
    bad = tmp_path / "shanghai" / "districts_gcj02.json"
    bad.write_bytes((shared / "districts_gcj02.json").read_bytes()[:-10])
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path))
    with pytest.raises(ChecksumError, match="checksum mismatch") as e:
        fetch("districts")
    assert str(bad) in str(e.value)
    with pytest.raises(ChecksumError):
        fetch("districts", bad)


def test_unknown_dataset(monkeypatch):
    with pytest.raises(DataNotFoundError, match="no dataset named 'xuhui_road'") as e:
        fetch("xuhui_road")
    assert "xuhui_roads" in str(e.value)


def test_missing_everywhere_without_download(tmp_path, monkeypatch):
    import toolkit.datasets as d

    monkeypatch.setattr(d, "_candidates", lambda ds: [tmp_path / ds.file])
    with pytest.raises(DataNotFoundError, match="was not found") as e:
        fetch("xuhui_roads", download=False)
    assert "TOOLKIT_DATA" in str(e.value)
