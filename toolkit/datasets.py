"""The dataset registry: named, checksummed inputs resolved at run time.

Resolution order for a dataset ``name`` (first hit wins, every hit is verified
against the registry's sha256):

1. an explicit path given by the caller;
2. ``$TOOLKIT_DATA/<file>`` or the user data directory (``pooch.os_cache``);
3. the local download cache;
4. ``../shared/data/<file>`` beside the checkout (or beside the working directory);
5. a download from the dataset's ``download_url`` with pooch, when one exists.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ChecksumError, DataNotFoundError

__all__ = [
    "PACKAGE_DIR",
    "REPO_DIR",
    "Dataset",
    "data_dir",
    "data_toml",
    "fetch",
    "file_sha256",
    "registry",
    "sha256sum",
    "user_cache_dir"
]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    """The toolkit's own data folder (registry, profiles, studies).

    In a wheel it is installed as ``toolkit/data``; in a checkout it is the
    top-level ``data/`` folder of the design card.
    """
    packaged = PACKAGE_DIR / "data"
    return packaged if packaged.is_dir() else REPO_DIR / "data"


@dataclass(frozen=True)
class Dataset:
    """One registered dataset."""

    name: str
    file: str
    sha256: str
    licence: str
    origin: str
    download_url: str = ""
    crs: str = "EPSG:4326"
    description: str = ""


@cache
def registry() -> dict[str, Dataset]:
    """All registered datasets, by name.

    Returns
    -------
    dict of str to Dataset
        From ``data/registry.toml``: each with its file name, CRS, licence and sha256.

    Examples
    --------
    >>> ds = registry()["pop_total"]
    >>> ds.crs
    'EPSG:4326'
    >>> "xuhui_roads" in registry()
    True
    """
    with open(data_dir() / "registry.toml", "rb") as f:
        raw = tomllib.load(f)
    return {name: Dataset(name=name, **spec) for name, spec in raw["datasets"].items()}


def user_cache_dir() -> Path:
    """Where downloaded datasets are cached (``$TOOLKIT_CACHE`` overrides)."""
    env = os.environ.get("TOOLKIT_CACHE")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("urban-toolkit"))


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _candidates(ds: Dataset) -> list[Path]:
    out: list[Path] = []
    env = os.environ.get("TOOLKIT_DATA")
    if env:
        out += [Path(env) / ds.file, Path(env) / Path(ds.file).name]
    out.append(user_cache_dir() / ds.file)
    for base in (REPO_DIR.parent / "shared" / "data", Path.cwd().parent / "shared" / "data",
                 Path.cwd() / "shared" / "data"):
        out.append(base / ds.file)
    return out


@cache
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    # A run resolves the same file many times (network, facilities, run.json):
    # hash it once per version of the file, not on every call.
    return sha256sum(path)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, cached while its size and modification time are unchanged."""
    st = os.stat(path)
    return _sha256_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@cache
def data_toml(name: str) -> dict:
    """A TOML file of the toolkit's data folder (rules, weights, categories), read once."""
    with open(data_dir() / name, "rb") as f:
        return tomllib.load(f)


def _verify(path: Path, ds: Dataset) -> Path:
    got = file_sha256(path)
    if got != ds.sha256:
        raise ChecksumError(
            f"checksum mismatch for dataset {ds.name!r}: expected {ds.sha256[:12]}..., got {got[:12]}...",
            source=str(path),
            fix="the file is corrupt or a different version: delete it (or point TOOLKIT_DATA "
            "elsewhere) so the registered copy is used, or pass your own file by path",
        )
    return path


def fetch(name: str, path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Resolve a registered dataset to a verified local file.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"xuhui_roads"``.
    path : path-like, optional
        An explicit location; it is still verified against the registry.
    download : bool
        Allow the last-resort download from ``download_url``.

    Returns
    -------
    Path
        The verified file.

    Examples
    --------
    >>> fetch("xuhui_roads").name
    'xuhui_roads.osm'
    >>> fetch("pop_total", "/data/copy/population_100m_total_pop.tif")  # doctest: +SKIP
    """
    reg = registry()
    if name not in reg:
        raise DataNotFoundError(
            f"no dataset named {name!r} in the registry",
            source=str(data_dir() / "registry.toml"),
            field="dataset",
            fix=f"use one of: {', '.join(sorted(reg))}, or give a file with path = '...'",
        )
    ds = reg[name]
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise DataNotFoundError(f"file not found for dataset {name!r}", source=str(p),
                                    fix="check the path")
        return _verify(p, ds)
    tried = _candidates(ds)
    for p in tried:
        if p.is_file():
            return _verify(p, ds)
    if download and ds.download_url:
        import pooch

        target = user_cache_dir() / ds.file
        try:
            got = pooch.retrieve(ds.download_url, known_hash=f"sha256:{ds.sha256}",
                                 fname=target.name, path=target.parent, progressbar=False)
        except ValueError as exc:  # pooch's hash mismatch
            raise ChecksumError(str(exc), source=ds.download_url,
                                fix="the published file changed; pass a local copy by path") from None
        except Exception as exc:  # network errors of any kind
            raise DataNotFoundError(
                f"dataset {name!r} is not available locally and the download failed ({exc.__class__.__name__})",
                source=ds.download_url,
                fix=f"put {ds.file} under $TOOLKIT_DATA or ../shared/data, or pass its path",
            ) from None
        return Path(got)
    raise DataNotFoundError(
        f"dataset {name!r} ({ds.file}) was not found; looked in: " + ", ".join(str(p) for p in tried),
        source=ds.origin,
        fix=f"put {ds.file} under $TOOLKIT_DATA (or ../shared/data beside the checkout), "
        "or pass its path explicitly",
    )
