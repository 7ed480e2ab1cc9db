"""Start-up cost: `toolkit --help`, `import toolkit`, the pipeline's imports, mapclassify, the default study.

Each figure is the median of fresh interpreters (imports are cached within one), measured in this run:

    .venv/bin/python bench/startup.py [--repeat 5] [--study]

Targets (#13 item 9): `toolkit --help` under 1 s; mapclassify's import no longer pays for compiling its
natural-breaks kernel (the comparison is plain `import mapclassify` against the toolkit's lazy loader).
`--study` adds the default study end to end (`toolkit demo`), the figure the README quotes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _timed(cmd: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--study", action="store_true", help="also time the default study end to end")
    a = ap.parse_args()
    py = [sys.executable, "-c"]
    rows = [
        ("python -c pass (interpreter floor)", _timed([*py, "pass"], a.repeat)),
        ("toolkit --help", _timed([str(BIN / "toolkit"), "--help"], a.repeat)),
        ("import toolkit", _timed([*py, "import toolkit"], a.repeat)),
        ("import toolkit.study (the pipeline)", _timed([*py, "import toolkit.study"], a.repeat)),
        ("import toolkit.outputs.webmap", _timed([*py, "import toolkit.outputs.webmap"], a.repeat)),
        ("  + import mapclassify (plain)", _timed([*py, "import toolkit.outputs.webmap, mapclassify"], a.repeat)),
        ("  + mapclassify via the lazy loader", _timed(
            [*py, "import toolkit.outputs.webmap as w; w.mapclassify()"], a.repeat)),
        ("import folium", _timed([*py, "import folium"], a.repeat)),
        ("import matplotlib.pyplot", _timed([*py, "import matplotlib.pyplot"], a.repeat)),
    ]
    if a.study:
        with tempfile.TemporaryDirectory() as tmp:  # its GeoPackage holds evaluation rows: removed at the end
            rows.append(("toolkit demo (default study, end to end)",
                         _timed([str(BIN / "toolkit"), "demo", "--out", tmp], 1)))
    width = max(len(r[0]) for r in rows)
    for name, s in rows:
        print(f"{name:<{width}}  {s:6.2f} s")
    d = dict(rows)
    base = d["import toolkit.outputs.webmap"]
    lazy, plain = d["  + mapclassify via the lazy loader"] - base, d["  + import mapclassify (plain)"] - base
    print(f"\ntoolkit --help: {d['toolkit --help']:.2f} s (target < 1 s); mapclassify on top of the map module: "
          f"{lazy:.2f} s lazy against {plain:.2f} s plain ({plain - lazy:.2f} s saved per process)")


if __name__ == "__main__":
    main()
