"""The HTML maps in a real browser: headless Chromium, from file://, with every network request blocked.

Needs the system Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Without it these
tests fail in CI (``CI=true``) and are skipped elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from toolkit.outputs.webmap import BLOCK_CLASS, coverage_map, layer_names

CHROMIUM = os.environ.get("TOOLKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path("/tmp/map_screenshot.png")


def _unavailable(why: str):
    msg = f"{why}: the browser tests need the system Chromium (apt-get install -y chromium) and playwright"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} not found")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=ARGS, viewport={"width": 1400, "height": 900}, service_workers="block")
        yield ctx
        ctx.close()


@dataclasses.dataclass
class Visit:
    page: object
    errors: list
    failed: list
    blocked: list


def open_map(ctx, path: Path) -> Visit:
    """Open ``path`` from file://, allowing only file: and data: requests, and wait for the blocks."""
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    v = Visit(page, [], [], [])
    page.on("console", lambda msg: v.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: v.errors.append(str(exc)))
    page.on("requestfailed", lambda req: v.failed.append(f"{req.url[:120]} ({req.failure})"))

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            v.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    try:
        page.wait_for_function(f"document.querySelectorAll('path.{BLOCK_CLASS}').length > 0")
    except Exception as exc:  # say why: usually a blocked request or a script error
        pytest.fail(f"no blocks drawn ({type(exc).__name__}); blocked: {v.blocked[:3]}; errors: {v.errors[:3]}; "
                    f"failed: {v.failed[:3]}", pytrace=False)
    page.wait_for_timeout(500)
    return v


def switcher_names(page) -> list[str]:
    return [t.strip() for t in page.locator(".leaflet-control-layers-list label > span > span").all_inner_texts()]


def check_map(v: Visit, expected_names: list[str], n_blocks: int, shot: Path) -> None:
    page = v.page
    assert switcher_names(page) == expected_names
    assert page.locator(f"path.{BLOCK_CLASS}").count() == n_blocks
    assert page.locator(".tk-legend").count() == 1  # the main layer's classed legend; others hidden
    assert page.locator(".tk-legend rect.tk-class").count() >= 2
    assert page.locator("#tk-summary").is_visible()
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000  # a drawn map, not a blank page
    # a block's popup opens with its table
    page.locator(f"path.{BLOCK_CLASS}").nth(n_blocks // 2).dispatch_event("click")
    page.wait_for_selector(".leaflet-popup-content table.tk-table")
    # switching a classed layer on shows its legend, off hides it again
    i = next(i for i, n in enumerate(expected_names) if n in ("Walkability (blocks)", "步行友好度"))
    box = page.locator(".leaflet-control-layers-list label").nth(i).locator("input")
    box.check()
    page.wait_for_function("document.querySelectorAll('.tk-legend').length === 2")
    box.uncheck()
    page.wait_for_function("document.querySelectorAll('.tk-legend').length === 1")
    assert v.blocked == [], v.blocked[:5]
    assert v.failed == [], v.failed[:5]
    assert v.errors == [], v.errors[:5]


def test_default_map_in_chromium_offline(browser, xuhui, tmp_path):
    out = xuhui.save(tmp_path)
    html = out / "map.html"
    expected = layer_names(coverage_map(xuhui))
    assert "Categories within reach" in expected and "Transit stop: within 300 m" in expected
    shot = tmp_path / "map_default.png"
    v = open_map(browser, html)
    check_map(v, expected, len(xuhui.blocks), shot)
    shutil.copyfile(shot, SCREENSHOT)  # for a human to look at


def test_zh_map_without_basemap_in_chromium(browser, xuhui, tmp_path):
    zh = dataclasses.replace(xuhui, study=dataclasses.replace(xuhui.study, lang="zh", basemap="none"))
    m = coverage_map(zh)
    html = tmp_path / "map_zh_none.html"
    m.save(str(html))
    expected = layer_names(m)
    assert "可达设施类别占比" in expected and not any(n.startswith("Basemap") for n in expected)
    shot = tmp_path / "map_zh_none.png"
    v = open_map(browser, html)
    check_map(v, expected, len(xuhui.blocks), shot)
    shutil.copyfile(shot, SCREENSHOT.with_name("map_screenshot_zh.png"))
