"""The map's JavaScript and CSS, shipped inside the package and inlined into the HTML.

folium links Leaflet, jQuery, Bootstrap and icon fonts from CDNs, and branca links d3 for its
colour-scale legends. Planners open maps from a shared drive or an e-mail attachment, often with
no internet, so a map here is one self-contained file: the scripts and stylesheets it really
uses are written into the page, with the images a stylesheet refers to as ``data:`` URIs.
Resources our maps never use (jQuery, Bootstrap, Font Awesome, glyphicons, awesome-markers)
are dropped rather than shipped.

Where the files come from: ``toolkit/outputs/vendor/`` (:data:`VENDOR`), a copy of the few files of
the npm packages pinned in ``web/package-lock.json`` that the maps use, with their licences. It is
committed and built into the wheel, so a ``pip install`` (or an editable install without npm)
writes maps that render offline. Vendored files rather than a build hook: a hook would need
Node.js on every machine that builds the wheel, and conda-forge and pip users often have none.
``python -m toolkit.outputs.webassets vendor`` refreshes the copy from ``web/node_modules`` after
``npm ci --prefix web``; ``tests/test_webassets_vendor.py`` checks it byte for byte against the npm
packages and their versions against the lock file. ``$TOOLKIT_WEB_ASSETS`` (a ``node_modules``
folder) overrides the shipped copy.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from branca.element import CssLink, Element, Figure, JavascriptLink

from ..errors import ToolkitError

__all__ = ["ASSETS", "ENV_VAR", "UNUSED", "VENDOR", "Asset", "OfflineFigure", "WebAssetsError", "asset_text",
           "available", "check", "inline_css", "node_modules", "offline_figure", "vendor", "vendored_files"]

ENV_VAR = "TOOLKIT_WEB_ASSETS"
REPO_WEB = Path(__file__).resolve().parents[2] / "web"
#: the shipped copy of the npm files the maps use (node_modules-shaped: ``<package>/<path>``)
VENDOR = Path(__file__).resolve().parent / "vendor"


@dataclass(frozen=True)
class Asset:
    """One file of an npm package the maps need."""

    package: str
    path: str  # inside the package folder
    kind: str  # "js" | "css"
    version: str  # required major.minor prefix, e.g. "1.9" (checked against the package.json)
    url_pattern: str  # recognises folium's / branca's CDN link for it


#: Header resources by the name folium / branca give them, and the npm file that replaces each.
ASSETS: dict[str, Asset] = {
    "leaflet": Asset("leaflet", "dist/leaflet.js", "js", "1.9", r"/leaflet(@[\d.]+)?/dist/leaflet\.js$"),
    "leaflet_css": Asset("leaflet", "dist/leaflet.css", "css", "1.9", r"/leaflet(@[\d.]+)?/dist/leaflet\.css$"),
    "d3": Asset("d3", "d3.min.js", "js", "3.", r"/d3/3\.[\d.]+/d3(\.min)?\.js$"),
}

#: folium's default resources that no toolkit map uses: dropped from the page (checked below).
UNUSED = {
    "jquery": r"jquery",
    "bootstrap": r"bootstrap",
    "bootstrap_css": r"bootstrap",
    "glyphicons_css": r"glyphicons",
    "awesome_markers": r"awesome-markers",
    "awesome_markers_css": r"awesome-markers",
    "awesome_markers_font_css": r"fontawesome",
    "awesome_rotate_css": r"awesome\.rotate",
}

FIX = ("reinstall the toolkit (its wheel ships the map's JavaScript in toolkit/outputs/vendor); in a checkout, "
       "`npm ci --prefix web && python -m toolkit.outputs.webassets vendor` rebuilds that folder")


class WebAssetsError(ToolkitError):
    """The map's JavaScript/CSS packages are missing or not the expected versions."""


def node_modules() -> Path:
    """The folder the npm packages are read from: ``$TOOLKIT_WEB_ASSETS``, else the shipped :data:`VENDOR`."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else VENDOR


def check(root: Path | None = None) -> Path:
    """Raise :class:`WebAssetsError` unless every asset is installed in a fitting version; return the root."""
    root = Path(root) if root is not None else node_modules()
    where = f"${ENV_VAR} = {root}" if os.environ.get(ENV_VAR) and root == node_modules() else str(root)
    for asset in ASSETS.values():
        pkg = root / asset.package
        f = pkg / asset.path
        if not f.is_file():
            raise WebAssetsError(
                f"the offline map needs {asset.package}/{asset.path}, not found under {where}.\n  fix: {FIX}; "
                f"or point ${ENV_VAR} at a node_modules folder holding it; or allow the CDN fallback "
                "(coverage_map(..., allow_cdn=True)), which makes the map need the internet")
        version = _version(pkg)
        if not version.startswith(asset.version):
            raise WebAssetsError(f"{asset.package} {version} found under {where}, the maps need "
                                 f"{asset.version}x.\n  fix: {FIX}")
    return root


def available() -> bool:
    """True when the offline assets are installed."""
    try:
        check()
    except WebAssetsError:
        return False
    return True


def _version(pkg: Path) -> str:
    try:
        return str(json.loads((pkg / "package.json").read_text(encoding="utf-8")).get("version", "?"))
    except (OSError, ValueError):
        return "?"


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def inline_css(css: str, base: Path) -> str:
    """Replace relative ``url(...)`` references in ``css`` with ``data:`` URIs of the files under ``base``."""

    def repl(m: re.Match) -> str:
        ref = m.group(2).strip()
        if ref.startswith(("data:", "#")) or re.match(r"^[a-z]+://", ref):
            return m.group(0)
        f = (base / ref.split("?")[0].split("#")[0]).resolve()
        if not f.is_file():
            raise WebAssetsError(f"{f} (referred to by a stylesheet) not found.\n  fix: {FIX}")
        return f"url({_data_uri(f)})"

    return re.sub(r"url\((['\"]?)([^'\")]+)\1\)", repl, css)


@cache
def _read(root: str, name: str) -> str:
    asset = ASSETS[name]
    f = Path(root) / asset.package / asset.path
    text = f.read_text(encoding="utf-8")
    # a source-map comment would make developer tools fetch a file that is not there
    text = re.sub(r"^\s*/[/*]# sourceMappingURL=.*$", "", text, flags=re.M)
    if asset.kind == "css":
        return inline_css(text, f.parent)
    # "</script" inside a script would end the element early; "<\/" means the same to JavaScript
    return text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def asset_text(name: str) -> str:
    """The text of one asset (see :data:`ASSETS`) as it is written into the page."""
    return _read(str(check()), name)


def _identify(name: str, url: str) -> tuple[str, str | None]:
    """("inline", asset name) | ("drop", None) | ("unknown", None) for one header link."""
    if name in ASSETS:
        return "inline", name
    for key, asset in ASSETS.items():
        if re.search(asset.url_pattern, url):
            return "inline", key
    if name in UNUSED or any(re.search(p, url, re.I) for p in UNUSED.values()):
        return "drop", None
    return "unknown", None


class OfflineFigure(Figure):
    """A branca Figure whose rendered page carries its own scripts and styles.

    Parameters
    ----------
    allow_cdn : bool, default False
        When the npm packages are missing, keep folium's CDN links (the map then needs the
        internet) instead of raising :class:`WebAssetsError`.
    title : str, optional
        The page's title, as plain text (it is escaped).
    """

    def __init__(self, *args, allow_cdn: bool = False, title: str | None = None, **kwargs):
        # branca writes the title into <title> as it is, and it comes from the study (or a batch scenario)
        # file: "</title><script>" in it would run when the page opens
        # through kwargs, not title=..., so mypy does not read *args as possibly holding the title too
        kwargs["title"] = html.escape(title) if title else title
        super().__init__(*args, **kwargs)
        self.allow_cdn = allow_cdn

    def render(self, **kwargs) -> str:
        for child in list(self._children.values()):
            child.render(**kwargs)
        self._inline_header()
        return self._template.render(this=self, kwargs=kwargs)

    def _inline_header(self) -> None:
        links = [(k, c) for k, c in self.header._children.items() if isinstance(c, JavascriptLink | CssLink)]
        if not links:
            return
        try:
            root = str(check())
        except WebAssetsError:
            if not self.allow_cdn:
                raise
            warnings.warn("map JavaScript packages not installed: the map links them from CDNs and needs the "
                          f"internet ({FIX})", stacklevel=3)
            return
        script = self.script.render()
        children: OrderedDict = OrderedDict()
        for key, child in self.header._children.items():
            if not isinstance(child, JavascriptLink | CssLink):
                children[key] = child
                continue
            action, asset = _identify(key, child.url)
            if action == "drop":
                if key == "jquery" and re.search(r"(?<![\w$])\$\(|jQuery", script):
                    raise WebAssetsError("this map's script uses jQuery, which the offline bundle leaves out; "
                                         "use toolkit.outputs.webmap.Popup instead of folium.Popup")
                continue
            if action == "unknown":
                if self.allow_cdn:
                    children[key] = child
                    continue
                raise WebAssetsError(f"the map links {child.url} ({key}), which the offline bundle does not "
                                     "include: add its npm package to web/package.json and to "
                                     "toolkit.outputs.webassets.ASSETS, or pass allow_cdn=True")
            if asset is None:  # never: only "inline" comes this far, always with its asset's name
                continue
            text = _read(root, asset)
            tag = "script" if ASSETS[asset].kind == "js" else "style"
            a = ASSETS[asset]
            children[key] = Element(f"<{tag} data-asset=\"{a.package}/{a.path}\">\n{text}\n</{tag}>")
        self.header._children = children


def offline_figure(m, *, allow_cdn: bool = False, title: str | None = None) -> OfflineFigure:
    """Move folium map ``m`` into an :class:`OfflineFigure`, so ``m.save()`` writes a self-contained page."""
    if not allow_cdn:
        check()
    fig = OfflineFigure(allow_cdn=allow_cdn, title=title)
    fig.add_child(m)
    return fig


def vendored_files(root: Path | None = None) -> list[str]:
    """Every file :func:`vendor` copies, relative to a ``node_modules`` folder (default :data:`REPO_WEB`'s).

    The assets themselves, the images their stylesheets refer to, and each package's ``package.json``
    (its version, checked by :func:`check`) and ``LICENSE`` (Leaflet is BSD-2, d3 BSD-3: both ask
    that the licence travels with the code).

    Examples
    --------
    >>> "leaflet/dist/leaflet.js" in vendored_files(VENDOR)
    True
    """
    root = Path(root) if root is not None else REPO_WEB / "node_modules"
    files: set[str] = set()
    for asset in ASSETS.values():
        files |= {f"{asset.package}/{asset.path}", f"{asset.package}/package.json", f"{asset.package}/LICENSE"}
        if asset.kind == "css":
            css = (root / asset.package / asset.path).read_text(encoding="utf-8")
            base = Path(asset.path).parent
            for ref in re.findall(r"url\((['\"]?)([^'\")]+)\1\)", css):
                r = ref[1].strip()
                if not r.startswith(("data:", "#")) and not re.match(r"^[a-z]+://", r):
                    files.add(f"{asset.package}/{(base / r.split('?')[0].split('#')[0]).as_posix()}")
    return sorted(files)


def vendor(src: Path | None = None, dest: Path = VENDOR) -> list[Path]:
    """Copy the files the maps use from an npm ``node_modules`` folder into ``dest`` (replacing it).

    Examples
    --------
    After ``npm ci --prefix web`` in a checkout::

        python -m toolkit.outputs.webassets vendor
    """
    import shutil

    src = check(Path(src) if src is not None else REPO_WEB / "node_modules")
    names = vendored_files(src)
    if dest.exists():
        shutil.rmtree(dest)
    out = []
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, target)
        out.append(target)
    _read.cache_clear()
    return out


def _main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["vendor"]:
        print("usage: python -m toolkit.outputs.webassets vendor [NODE_MODULES]", file=sys.stderr)
        return 2
    try:
        files = vendor(Path(args[1]) if len(args) > 1 else None)
    except WebAssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(files)} files copied into {VENDOR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
