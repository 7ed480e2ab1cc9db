"""Replacing a study's output folder safely: checked before the analysis, swapped whole, never half-written.

A save writes into a *staging* folder beside the destination and swaps it in
only when complete. What can go wrong around that, and what is done about it:

* **The folder cannot be written, or the disk is nearly full.**
  :func:`check_output_folder` creates and removes a probe folder and checks
  the free space; the CLI calls it before the analysis, so a read-only share
  fails in a second, not after the whole run.
* **The process is killed** (SIGTERM, SIGKILL, power cut) during the save.
  On Linux the swap is one ``renameat2(RENAME_EXCHANGE)`` call, so the
  destination is always either the previous complete output or the new one.
  Elsewhere two renames are used and the next save restores the previous
  output if a kill fell between them. Staging folders are named
  ``.<name>.staging-<host>-<pid>-<random>`` and hold a ``STAGING-INCOMPLETE.txt``
  until the swap; the next save into the same folder removes the ones whose
  process is gone (dot folders are not hidden on Windows or many shared
  drives, so they must not pile up).
* **Several processes save the same study into one folder** (two terminals,
  a notebook and a batch). The swap runs under an exclusive lock on the
  parent folder, so saves are serialised there and the last one wins whole.

The planner's own files in the destination (notes, a QGIS project) are
copied into the new output before the swap.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from .errors import InputError

__all__ = [
    "FOLDER_NAME_MAX_BYTES",
    "FOLDER_NAME_RULE",
    "MIN_FREE_MB",
    "STAGING_MARKER",
    "OutputFolderError",
    "check_folder_name",
    "check_output_folder",
    "folder_size_mb",
    "make_staging",
    "publish",
    "remove_stale",
    "staging_folders",
]

#: Free space required before a run starts, at least (MB); twice the previous output when that is larger.
MIN_FREE_MB = 50.0
#: File inside a staging folder until it is swapped in: says what the folder is to anyone who opens it.
STAGING_MARKER = "STAGING-INCOMPLETE.txt"
#: A staging folder from another machine (a shared drive) is only removed when it is older than this.
FOREIGN_STALE_S = 24 * 3600

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
_RENAME_EXCHANGE = 2


# ------------------------------------------------------------- folder names
# The one rule for study, batch and scenario names, which become folder and file names here. It sits with
# the output folder, below the study schema and the configuration that both apply it.
_FOLDER_NAME_RE = re.compile(r"\w[\w.-]*")
# Device names Windows will not create as files or folders, with or without an extension: outputs are
# shared from Windows drives, so a name that works here must work there too.
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
# Filesystems allow 255 bytes per name; the longest file written is "<name>_<layer>.parquet" and a batch run's
# folder joins two names, so each name stays well under half of that.
FOLDER_NAME_MAX_BYTES = 100
FOLDER_NAME_RULE = ("letters, digits, '_', '-' and '.', not starting with '.' or '-', not ending with '.', "
                    f"at most {FOLDER_NAME_MAX_BYTES} bytes, not a Windows device name (con, nul, com1, ...)")


def check_folder_name(value: Any, *, source: str | None, field: str, fix: str) -> str:
    """Return ``value`` if it can name an output folder as it is, else raise :class:`InputError`.

    A usable name is one path component that needs no quoting anywhere the outputs go: letters
    (any script), digits, ``_``, ``-`` and ``.``; not starting with ``.`` or ``-`` (hidden files,
    command-line options, ``..``), not ending with ``.`` (Windows drops it), no Windows device
    name. This one rule is applied to study, batch and scenario names.

    Parameters
    ----------
    value : Any
        The name as given (anything that is not a ``str`` is refused).
    source : str or None
        The file (or object) the name comes from, for the message (None when it has none).
    field : str
        The key holding the name, e.g. ``study.name``.
    fix : str
        What to do, e.g. ``"rename the study"``; the rule is appended.

    Returns
    -------
    str
        ``value``, unchanged.

    Raises
    ------
    InputError
        When ``value`` would not be exactly one plain folder inside the output folder.
    """
    ok = (isinstance(value, str) and _FOLDER_NAME_RE.fullmatch(value) is not None and not value.endswith(".")
          and len(value.encode("utf-8")) <= FOLDER_NAME_MAX_BYTES
          and value.split(".")[0].lower() not in _WINDOWS_RESERVED)
    if not ok:
        raise InputError(f"{value!r} is not a usable name (it names output folders)", source=source, field=field,
                         fix=f"{fix}: {FOLDER_NAME_RULE}")
    return value


class OutputFolderError(InputError):
    """The output folder cannot take the outputs (read-only, full, or not a folder)."""


def _staging_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(name)}\.(?:staging|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]+$")


def _legacy_re(name: str) -> re.Pattern[str]:
    # what earlier versions left: tempfile.mkdtemp(prefix=".<name>.") and ".<name>.old."
    return re.compile(rf"^\.{re.escape(name)}\.(?:old\.)?[a-z0-9_]{{8}}$")


def staging_folders(out_dir: str | Path, name: str) -> list[Path]:
    """The staging (and backup) folders of study ``name`` in ``out_dir``, live or stale."""
    out_dir = Path(out_dir)
    pats = (_staging_re(name), _legacy_re(name))
    try:
        return sorted(p for p in out_dir.iterdir() if any(x.match(p.name) for x in pats) and p.is_dir())
    except OSError:
        return []


def folder_size_mb(path: Path) -> float:
    """Total size of the files under ``path`` in MB (0 when it does not exist)."""
    total = 0
    if path.is_dir():
        for p in path.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file():
                    total += p.stat().st_size
    return total / 1e6


def _fix(out_dir: Path) -> str:
    return f"choose another --out folder, or make {out_dir} writable"


def check_output_folder(out_dir: str | Path, name: str, *, need_mb: float | None = None) -> Path:
    """Check before any work that ``<out_dir>/<name>/`` can be written; return the destination.

    Creates ``out_dir`` if missing, creates and removes a probe folder in it
    (the way a save will), and checks the free space against ``need_mb``
    (default: :data:`MIN_FREE_MB`, or twice the previous output's size when
    larger, since a rerun holds the old and the new output at once).

    Parameters
    ----------
    out_dir : path-like
        The parent folder (the CLI's ``--out``).
    name : str
        The study's folder name, already checked by :func:`check_folder_name`.
    need_mb : float, optional
        Free space to require, in MB.

    Returns
    -------
    Path
        ``out_dir / name``.

    Raises
    ------
    OutputFolderError
        Naming the folder, what is wrong and the fix; nothing is left behind.

    Examples
    --------
    >>> import tempfile
    >>> check_output_folder(tempfile.mkdtemp(), "xuhui").name
    'xuhui'
    """
    out_dir = Path(out_dir)
    final = out_dir / name
    for parent in (out_dir, *out_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputFolderError("the output path exists but is a file, not a folder",
                                        source=str(parent), fix="choose another --out folder") from None
            break
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"the output folder cannot be created: {exc.strerror or exc}",
                                source=str(out_dir), fix=_fix(out_dir)) from None
    if final.exists() and not final.is_dir():
        raise OutputFolderError(f"{final.name!r} exists there and is a file, not a folder",
                                source=str(final), fix="move the file away or rename the study") from None
    probe = out_dir / f".{name}.staging-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        (probe / STAGING_MARKER).write_text("probe\n", encoding="utf-8")
        if final.is_dir() and not os.access(final, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "the previous output folder cannot be replaced")
    except OSError as exc:
        raise OutputFolderError(f"the output folder is not writable: {exc.strerror or exc}",
                                source=str(out_dir), fix=_fix(out_dir)) from None
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    need = need_mb if need_mb is not None else max(MIN_FREE_MB, 2 * folder_size_mb(final))
    free = shutil.disk_usage(out_dir).free / 1e6
    if free < need:
        raise OutputFolderError(f"the disk holding the output folder has {free:.0f} MB free; the outputs need "
                                f"about {need:.0f} MB", source=str(out_dir),
                                fix="free some space or choose another --out folder") from None
    return final


def make_staging(out_dir: Path, name: str) -> Path:
    """A new, empty staging folder for ``name`` in ``out_dir`` (with its marker file)."""
    tmp = out_dir / f".{name}.staging-{_HOST}-{os.getpid()}-{secrets.token_hex(6)}"
    tmp.mkdir(mode=0o755)
    (tmp / STAGING_MARKER).write_text(
        f"Unfinished output of study {name!r}, being written by process {os.getpid()} on {socket.gethostname()}.\n"
        "If that process is gone, this folder is left over from an interrupted save: the next save of the study\n"
        "into this folder removes it, and it can be deleted by hand.\n", encoding="utf-8")
    return tmp


def _alive(host: str, pid: int) -> bool | None:
    """Whether process ``pid`` on ``host`` runs; None when that cannot be told (another host, Windows)."""
    if host != _HOST or sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def remove_stale(out_dir: str | Path, name: str, *, keep: tuple[Path, ...] = ()) -> list[Path]:
    """Remove staging folders of ``name`` left by processes that are gone; return them.

    A folder of this machine is stale when its process no longer runs; one of
    another machine (a shared drive), or left by a version that did not record
    its process, when it is older than a day.
    """
    removed = []
    pat = _staging_re(name)
    for p in staging_folders(out_dir, name):
        if p in keep:
            continue
        m = pat.match(p.name)
        alive = _alive(m["host"], int(m["pid"])) if m else None  # no owner recorded in a legacy name
        if alive is None:
            with contextlib.suppress(OSError):
                alive = time.time() - p.stat().st_mtime < FOREIGN_STALE_S
        if not alive:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def _folder_lock(out_dir: Path) -> Iterator[None]:
    """Exclusive lock on ``out_dir`` for the swap: other saves into it wait (POSIX flock on the folder)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        lock = out_dir / ".toolkit.lock"
        with open(lock, "a+b") as f:
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock, and so does the death of the process


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM/SIGINT/SIGHUP during the few renames of the swap (POSIX, main thread)."""
    sigs = {signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", signal.SIGTERM)}
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_libc: ctypes.CDLL | Literal[False] | None = None  # None: not tried yet; False: not available


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2``); False where not available."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.renameat2  # noqa: B018 - glibc >= 2.28
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    at_fdcwd = -100
    rc = _libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):  # a file system without it
        return False
    raise OSError(err, os.strerror(err), str(a))


def _restore_backup(out_dir: Path, name: str, final: Path) -> None:
    """After a kill between the two renames of the fallback swap: put the previous output back."""
    if final.exists():
        return
    backups = [p for p in staging_folders(out_dir, name) if ".old-" in p.name and (p / name).is_dir()]
    if backups:
        newest = max(backups, key=lambda p: p.stat().st_mtime)
        (newest / name).rename(final)


def _toolkit_files(folder: Path) -> set[str]:
    """The files the toolkit wrote into ``folder`` last time (its run.json lists them); none when unknown."""
    try:
        rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        return {str(f) for f in rec["outputs"]["files"]} | {"batch_run.json", ".cache_key"}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _carry_over_user_files(final: Path, tmp: Path) -> None:
    """Copy into the new output every file of the old one the toolkit did not write (a planner's notes).

    Copied, not moved: if the swap fails, the previous folder is still whole.
    """
    ours = _toolkit_files(final)
    for p in final.rglob("*"):
        rel = p.relative_to(final).as_posix()
        if not p.is_file() or rel in ours or (tmp / rel).exists():
            continue
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, tmp / rel)


def publish(tmp: Path, final: Path) -> None:
    """Swap the complete staging folder ``tmp`` in as ``final``, keeping the planner's own files.

    Under the parent folder's lock: stale staging folders are removed, a
    previous output interrupted mid-swap is restored, the user's files are
    copied over, and the folders are exchanged (atomically on Linux). The old
    output is deleted after the lock is released.
    """
    out_dir, name = final.parent, final.name
    leftover: Path | None = None
    with _folder_lock(out_dir):
        remove_stale(out_dir, name, keep=(tmp,))
        _restore_backup(out_dir, name, final)
        if final.is_dir():
            _carry_over_user_files(final, tmp)
        (tmp / STAGING_MARKER).unlink(missing_ok=True)
        with _signals_held():
            if not final.exists():
                tmp.rename(final)
            elif _exchange(tmp, final):
                leftover = tmp  # now holds the previous output
            else:
                backup = out_dir / f".{name}.old-{_HOST}-{os.getpid()}-{secrets.token_hex(6)}"
                backup.mkdir()
                final.rename(backup / name)
                tmp.rename(final)
                leftover = backup
    if leftover is not None:
        shutil.rmtree(leftover, ignore_errors=True)
