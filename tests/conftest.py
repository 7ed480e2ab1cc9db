"""Shared fixtures: the real Shanghai sample data and one run of the default study."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import toolkit as tk
from toolkit.datasets import fetch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "shanghai"


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
    # the OSM reader caches each file's way table: a cache of this run's own, so every run
    # parses the files once (the cold path is what is tested) and nothing lands in ~/.cache
    if "TOOLKIT_CACHE" not in os.environ:
        import atexit
        import shutil
        import tempfile

        os.environ["TOOLKIT_CACHE"] = tempfile.mkdtemp(prefix="toolkit-test-cache-")
        atexit.register(shutil.rmtree, os.environ["TOOLKIT_CACHE"], True)


#: fixtures that run the whole default study: a test needing one is in the full lane only (`make test-fast` skips it)
FULL_STUDY_FIXTURES = {"xuhui"}
#: fixtures that start a Dask cluster or run lean studies end to end: slow, also left out of `make test-fast`
SLOW_FIXTURES = {"scheduler", "first", "shifted_run", "amap_runs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if FULL_STUDY_FIXTURES & used:
            item.add_marker(pytest.mark.full_study)
        if SLOW_FIXTURES & used:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared() -> Path:
    """Folder of the shared sample data (resolved through the registry)."""
    return fetch("xuhui_roads").parent


@pytest.fixture(scope="session")
def xuhui_study() -> tk.Study:
    return tk.load_study("xuhui")


@pytest.fixture(scope="session")
def xuhui(xuhui_study) -> tk.StudyResult:
    """The default study, run once for the whole session."""
    return tk.run_study(xuhui_study)
