"""Start-up stays light (#13 item 9): the heavy imports wait for the step that needs them.

Each check runs a fresh interpreter, since this test session has imported everything already.
Timings are printed by ``bench/startup.py``, not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def _fresh(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip()


def test_the_cli_and_the_pipeline_import_no_map_or_plot_library():
    out = _fresh("import sys, toolkit.cli, toolkit.study, toolkit.outputs.writers, toolkit.record; "
                 "print(' '.join(m for m in ('mapclassify', 'matplotlib', 'folium', 'sklearn') if m in sys.modules))")
    assert out == ""


def test_cli_help_does_not_import_the_geodata_stack():
    out = _fresh("import sys; sys.argv = ['toolkit', '--help']\n"
                 "import toolkit.cli\n"
                 "try:\n    toolkit.cli.main()\nexcept SystemExit:\n    pass\n"
                 "print('LOADED:' + ' '.join(m for m in ('geopandas', 'shapely', 'pyproj', 'osmnx', 'numba', 'pandas') "
                 "if m in sys.modules))")
    assert "usage: toolkit" in out
    assert out.splitlines()[-1] == "LOADED:"


@pytest.mark.slow  # two fresh interpreters compile mapclassify's kernel: 10-20 s
def test_mapclassify_loaded_lazily_classifies_exactly_as_a_plain_import():
    # natural breaks runs mapclassify's numba kernel, compiled here on first call instead of on import
    rng = np.random.default_rng(7)
    y = rng.gamma(2.0, 300.0, 400).round(1).tolist()
    code = ("import json, sys; y = json.loads(sys.stdin.read())\n"
            "{load}\n"
            "print(json.dumps({{s: [float(b) for b in getattr(mc, s)(y, k=5).bins] "
            "for s in ('FisherJenks', 'Quantiles', 'NaturalBreaks')}}))")
    runs = {}
    for name, load in (("plain", "import mapclassify as mc"),
                       ("lazy", "from toolkit.outputs.webmap import mapclassify; mc = mapclassify()\n"
                                "import numba; assert numba.njit.__name__ == 'njit'")):
        r = subprocess.run([sys.executable, "-c", code.format(load=load)], input=json.dumps(y), capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[name] = json.loads(r.stdout)
    assert runs["lazy"]["FisherJenks"] == runs["plain"]["FisherJenks"]
    assert runs["lazy"]["Quantiles"] == runs["plain"]["Quantiles"]
    assert len(runs["lazy"]["NaturalBreaks"]) == 5  # random seeds: only the shape is comparable
