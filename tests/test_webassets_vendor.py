"""The map's JavaScript shipped in the package is exactly the npm packages pinned in web/package-lock.json.

``toolkit/outputs/vendor`` is what every map inlines (and what the wheel carries); it is refreshed
with ``python -m toolkit.outputs.webassets vendor`` after ``npm ci --prefix web``. The byte-for-byte
check needs that ``node_modules`` folder: ``make test`` installs it where npm exists, and in CI a
missing one fails instead of skipping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from toolkit.outputs import webassets

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "web" / "node_modules"


def test_vendored_versions_are_the_ones_the_lock_file_pins():
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for pkg in {a.package for a in webassets.ASSETS.values()}:
        shipped = json.loads((webassets.VENDOR / pkg / "package.json").read_text(encoding="utf-8"))["version"]
        assert shipped == lock[f"node_modules/{pkg}"]["version"], pkg
    assert webassets.check(webassets.VENDOR) == webassets.VENDOR


def test_every_vendored_file_is_byte_identical_to_the_npm_package():
    if not (NODE_MODULES / "leaflet" / "package.json").is_file():
        msg = f"{NODE_MODULES} is not installed (npm ci --prefix web)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    expected = webassets.vendored_files(NODE_MODULES)
    shipped = sorted(p.relative_to(webassets.VENDOR).as_posix() for p in webassets.VENDOR.rglob("*") if p.is_file())
    assert shipped == expected, "refresh with: python -m toolkit.outputs.webassets vendor"
    for name in expected:
        assert (webassets.VENDOR / name).read_bytes() == (NODE_MODULES / name).read_bytes(), name


def test_the_shipped_copy_is_used_unless_the_environment_says_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv(webassets.ENV_VAR, raising=False)
    assert webassets.node_modules() == webassets.VENDOR
    monkeypatch.setenv(webassets.ENV_VAR, str(tmp_path))
    assert webassets.node_modules() == tmp_path
    with pytest.raises(webassets.WebAssetsError, match="reinstall the toolkit"):
        webassets.check()


def test_vendor_copies_exactly_the_needed_files(tmp_path):
    if not (NODE_MODULES / "leaflet" / "package.json").is_file():
        pytest.skip(f"{NODE_MODULES} is not installed")
    files = webassets.vendor(NODE_MODULES, tmp_path / "v")
    assert sorted(p.relative_to(tmp_path / "v").as_posix() for p in files) == webassets.vendored_files(NODE_MODULES)
    assert all(p.stat().st_size > 0 for p in files)
