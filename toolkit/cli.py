"""Command line: ``toolkit run STUDY.toml --out DIR``, ``toolkit demo``, ``toolkit profiles``.

A thin layer over :func:`toolkit.run_study` and :meth:`StudyResult.save`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import InputError, ToolkitError

__all__ = ["main"]


def _print_summary(result, out: Path | None) -> None:
    from rich.console import Console, JustifyMethod
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # logs and CI: do not wrap the table at 80 columns
    s = result.summary()
    title = result.study.title or result.study.name
    t = Table(title=f"{escape(title)}  (profile: {result.profile.name}, CRS {result.crs.to_string()})")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("category", "left"), ("threshold", "right"), ("facilities", "right"),
        ("residents within", "right"), ("aged 65+ within", "right"), ("status", "left"))
    for col, justify in columns:
        t.add_column(col, justify=justify)
    def fmt(v: float) -> str:
        return "-" if np.isnan(v) else f"{v:.1%}"

    for cat, r in s.iterrows():
        t.add_row(str(cat), f"{r['threshold_m']} m", str(r["facilities"]), fmt(r["rate_total"]),
                  fmt(r["rate_65plus"]), r["status"] if r["status"] == "complete" else f"[yellow]{r['status']}[/]")
    console.print(t)
    bal = result.population_balance.get("population")
    if bal:
        older = result.population_balance.get("pop_65plus", {}).get("in_blocks", float("nan"))
        console.print(f"population counted: {bal['in_blocks']:,.0f} residents in {len(result.blocks):,} blocks "
                      f"({older:,.0f} aged 65+); {bal['outside_blocks']:,.0f} on streets/slivers outside blocks")
    if result.no_data:
        console.print(f"[yellow]no data for:[/] {', '.join(result.no_data)} "
                      "(not counted as unserved: add a facilities layer for them)")
    incomplete = [c for c, r in s.iterrows() if r["status"] not in ("complete", "no data")]
    if incomplete:
        console.print(f"[yellow]measured on incomplete data:[/] {', '.join(incomplete)} "
                      "(rates shown, never counted as a service gap: declare status = \"complete\" for a source "
                      "you can vouch for)")
    us = result.details.get("decisions", {}).get("underserved")
    if us:
        by = ", ".join(f"{c} {n:,}" for c, n in us.get("by_category", {}).items())
        console.print(f"underserved: {us['blocks']:,} of {len(result.blocks):,} blocks"
                      + (f" (blocks missing each complete category among them: {by})" if by else ""))
        if us.get("note"):
            console.print(f"[yellow]{escape(us['note'])}[/]")
    _print_overlays(console, result.details)
    for note in result.notes:
        console.print(f"[dim]note:[/] {escape(note)}")
    if out is not None:
        console.print(f"outputs: {out}")


def _print_overlays(console, d: dict) -> None:
    """The heritage, walkability and waterfront lines of the summary (the overlays the study ran)."""
    from rich.markup import escape

    if "heritage" in d:
        h = d["heritage"]
        console.print(f"heritage: {h['blocks'].get('core', 0)} core / {h['blocks'].get('buffer', 0)} buffer blocks; "
                      f"{h['buildings']['final']:,} listed buildings after merging {h['buildings']['records']:,} "
                      f"records; protected roads: {h['protected_roads']['street_edges']} street edges"
                      + (f" ([yellow]unmatched: {', '.join(h['protected_roads']['unmatched'])}[/])"
                         if h["protected_roads"]["unmatched"] else ""))
    if "walkability" in d:
        w = d["walkability"]
        console.print(f"walkability: {w['intersections_3way_in_area']:,} 3+-way intersections; "
                      f"{w['blocks_face_over_guideline_share']:.0%} of blocks have a face over "
                      f"{w['settings']['face_guideline_m']:.0f} m")
    if "waterfront" in d:
        w = d["waterfront"]
        if w.get("status") == "measured":
            console.print(f"waterfront: bank {w['bank_length_m'] / 1000:.2f} km, {w['share_with_access']:.0%} with "
                          f"street access, longest gap {w['longest_gap_m']:,.0f} m, {w['n_access_points']} access "
                          f"points; {w['blocks_within']} blocks within {w['threshold_m']:.0f} m")
        else:
            console.print(f"waterfront: [yellow]absent[/] ({escape(str(w.get('reason')))})")


def _run(study_arg: str, out: str, no_map: bool) -> int:
    from rich.console import Console

    from .config import load_study
    from .outfolder import check_output_folder
    from .study import run_study

    console = Console(stderr=True)
    study = load_study(study_arg)
    # a read-only or full output folder is said now, not after the whole analysis
    check_output_folder(out, study.name)
    with console.status("starting") as status:
        result = run_study(study, progress=lambda step: status.update(f"[bold]{study.name}[/]: {step}..."))
        status.update("writing outputs...")
        path = result.save(out, write_map=False if no_map else None)
    _print_summary(result, path)
    return 0


def _batch(batch_file: str, out: str | None, scheduler: str | None, workers: int, force: bool) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .batch import run_batch

    # the batch file is checked whole (studies, scenarios, keys) before anything runs or is written
    report = run_batch(batch_file, out, scheduler=scheduler, workers=workers, force=force)
    batch = report.batch
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    cats = list(dict.fromkeys(c for r in report.runs for c in (r.get("coverage") or {})))
    t = Table(title=f"{escape(batch.title or batch.name)}: {len(report.runs)} runs in {report.seconds:.1f} s "
              f"({report.executor})")
    for col in ("run", "status", "time", "residents", "underserved", *cats):
        t.add_column(col, justify="left" if col in ("run", "status") else "right")
    for r in report.runs:
        status = {"ok": "[green]ok[/]", "cached": "[dim]cached[/]"}.get(r["status"], "[red]failed[/]")
        secs = r.get("seconds")
        t.add_row(r["run"], status, "-" if secs is None else f"{secs:.1f} s",
                  "-" if r.get("population") is None else f"{r['population']:,}",
                  "-" if r.get("underserved_blocks") is None else str(r["underserved_blocks"]),
                  *("-" if (r.get("coverage") or {}).get(c) is None else f"{r['coverage'][c]:.1%}" for c in cats))
    console.print(t)
    for r in report.failed:
        console.print(f"[red]failed[/] {escape(r['run'])}: {escape(str(r['error']))}", highlight=False)
    console.print(f"index: {report.out / 'index.html'}")
    return 1 if report.failed else 0


def _compare(run_a: str, run_b: str, out: str | None, lang: str) -> int:
    """``toolkit compare RUN_A RUN_B``: what changed between two runs of one study (toolkit.compare)."""
    from .compare import compare_runs, comparison_text, write_comparison
    from .labels import label

    cmp = compare_runs(run_a, run_b)
    print(comparison_text(cmp, lang))
    if out is not None:
        print(label("compare.written", lang, path=write_comparison(cmp, out)))
    return 0


def _profiles(which: str | None) -> int:
    """``toolkit profiles``: the profiles and the open catalogue; with an argument, one profile's sources."""
    from .standards import available_profiles, catalogue_table, load_profile, profile_table

    if which is None:
        profiles = [load_profile(name) for name in available_profiles()]
        for p in profiles:
            print(f"{p.name:<24}{p.title}")
        print("\ncategories (threshold per profile; '>= x ha': smallest facility counted; basic: counts for the "
              "underserved rule):\n")
        print(catalogue_table(profiles))
        print("\nsources: toolkit profiles NAME; a study's own categories: toolkit profiles STUDY.toml")
        return 0
    path = Path(which)
    if path.suffix == ".toml" and path.is_file():
        import tomllib

        with open(path, "rb") as f:
            is_study = "study" in tomllib.load(f)
        if is_study:
            from .config import load_study

            study = load_study(path)
            print(profile_table(load_profile(study.profile, study.overrides, source=str(path))))
            return 0
    print(profile_table(load_profile(which)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``toolkit`` console script."""
    parser = argparse.ArgumentParser(
        prog="toolkit",
        description="Urban micro-renewal planning toolkit: 15-minute life-circle service coverage per street block.",
    )
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step's timing")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a study from its TOML config")
    p_run.add_argument("study", help="path to a study TOML (or the name of a bundled study)")
    p_run.add_argument("--out", default="maps", help="output folder (default: maps)")
    p_run.add_argument("--no-map", action="store_true", help="skip the HTML map")
    p_demo = sub.add_parser("demo", help="run the bundled default study (Xuhui, Shanghai)")
    p_demo.add_argument("--out", default="maps", help="output folder (default: maps)")
    p_demo.add_argument("--study", default="xuhui", help="bundled study to run (default: xuhui)")
    p_batch = sub.add_parser("batch", help="run several studies x scenarios in parallel on Dask (cached)")
    p_batch.add_argument("batch", help="path to a batch TOML (e.g. data/batches/shanghai.toml)")
    p_batch.add_argument("--out", default=None, help="output folder (default: maps/<batch name>)")
    p_batch.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                         help="an existing Dask scheduler (default: a local cluster)")
    p_batch.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default: 2)")
    p_batch.add_argument("--force", action="store_true", help="re-run every run, ignoring the cache")
    p_prof = sub.add_parser("profiles", help="list the standards profiles and the category catalogue")
    p_prof.add_argument("which", nargs="?", default=None, metavar="PROFILE_OR_STUDY",
                        help="a profile name or TOML, or a study TOML: every threshold with its source "
                        "(a study's own categories included)")
    sub.add_parser("datasets", help="list the registered datasets and where each resolves")
    p_cmp = sub.add_parser("compare", help="what changed between two runs of the same study (per category, zone "
                           "and block)")
    p_cmp.add_argument("run_a", help="output folder of the earlier run (holding run.json and <study>.gpkg)")
    p_cmp.add_argument("run_b", help="output folder of the later run")
    p_cmp.add_argument("--out", default=None, help="write <OUT>/compare/: changed_blocks.gpkg, .csv, compare.json")
    p_cmp.add_argument("--lang", default="en", choices=("en", "zh"), help="language of the text (default: en)")
    args = parser.parse_args(argv)
    previous = _on_sigterm_stop()
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if args.command == "run":
            return _run(args.study, args.out, args.no_map)
        if args.command == "batch":
            return _batch(args.batch, args.out, args.scheduler, args.workers, args.force)
        if args.command == "demo":
            return _run(args.study, args.out, False)
        if args.command == "profiles":
            return _profiles(args.which)
        if args.command == "compare":
            return _compare(args.run_a, args.run_b, args.out, args.lang)
        if args.command == "datasets":
            from .datasets import fetch, registry

            for name, ds in registry().items():
                try:
                    where = str(fetch(name, download=False))
                except InputError as exc:  # DataNotFoundError, ChecksumError: what fetch raises
                    where = f"NOT FOUND ({exc.problem[:60]})"
                print(f"{name:<30}{ds.licence[:38]:<40}{where}")
            return 0
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        print(f"error: {how}: the output being saved was discarded; outputs saved before are unchanged",
              file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a save in progress is rolled back like Ctrl-C."""


def _on_sigterm_stop():
    """Turn SIGTERM into :class:`Terminated` for this command; returns the handler it replaced."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return None

    def stop(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    sys.exit(main())
