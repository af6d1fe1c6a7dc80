"""The one module that changes the disk: staged, atomic replacement of zarr stores.

A store is written into a staging folder beside its target, named
``.<target name>.omezarr-export-<pid>-<token>.partial``, and swapped in only when complete.
On Linux the swap is a single ``renameat2(RENAME_EXCHANGE)``: at every instant the target path
holds either the whole old store or the whole new one. Where that call is missing, the old
store is first renamed to ``...replaced`` and restored by the next write if the process died
between the two renames. Leftovers of interrupted writes are removed by the next write to the
same target. Nothing but a zarr store is ever replaced or deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import OmeZarrError, TargetExistsError, WriteFailedError

__all__ = [
    "atomic_write_json",
    "is_zarr_store",
    "remove_leftovers",
    "staged_directory",
]

log = logging.getLogger(__name__)

STAGING_MARK = ".omezarr-export-"
_ZARR_MARKERS = (".zgroup", ".zattrs", "zarr.json", ".zarray")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def is_zarr_store(path: Path) -> bool:
    """Return True when ``path`` is a folder with zarr metadata at its root."""
    return path.is_dir() and any((path / name).is_file() for name in _ZARR_MARKERS)


def check_replaceable(target: Path) -> None:
    """Raise `TargetExistsError` unless ``target`` is absent or a zarr store we may replace.

    Parameters
    ----------
    target : Path
        Where a store is about to be written.
    """
    if not (target.exists() or target.is_symlink()) or is_zarr_store(target):
        return
    kind = "a file" if target.is_file() else "a folder that is not a zarr store"
    raise TargetExistsError(
        f"{target} already exists and is {kind}; it was left untouched. Choose another name, "
        "or move it away first."
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftover_pid(path: Path) -> int | None:
    try:
        return int(path.name.split(STAGING_MARK, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


def remove_leftovers(target: Path) -> None:
    """Restore or remove what interrupted writes to ``target`` left beside it.

    Parameters
    ----------
    target : Path
        The store's path. A ``...replaced`` leftover is moved back when the target is missing
        (the process died mid-swap); other leftovers of dead processes are deleted.
    """
    if not target.parent.is_dir():
        return
    for leftover in sorted(target.parent.glob(f".{target.name}{STAGING_MARK}*")):
        pid = _leftover_pid(leftover)
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue  # another process is writing this target right now
        if leftover.name.endswith(".replaced") and not target.exists():
            log.warning("Restoring %s from an interrupted replacement", target)
            os.rename(leftover, target)
            continue
        log.info("Removing leftover of an interrupted write: %s", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2``; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(stage: Path, target: Path) -> None:
    """Move the complete store at ``stage`` to ``target``, replacing any store there.

    Parameters
    ----------
    stage : Path
        The finished staging folder.
    target : Path
        The destination; if it exists it must be a zarr store.
    """
    if not (target.exists() or target.is_symlink()):
        os.rename(stage, target)
        return
    replaced = stage.with_name(stage.name.replace(".partial", ".replaced"))
    if _exchange(stage, target):
        os.rename(stage, replaced)
    else:
        os.rename(target, replaced)
        os.rename(stage, target)
    shutil.rmtree(replaced, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; swap it in when the block succeeds.

    If the block raises, or a generator using it is closed (a Cancel), the staging folder is
    removed and the target keeps its old content.

    Parameters
    ----------
    target : Path
        Where the store should end up.

    Yields
    ------
    Path
        The staging folder to write the whole store into.
    """
    target = Path(target)
    check_replaceable(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(target)
        token = secrets.token_hex(4)
        stage = target.parent / f".{target.name}{STAGING_MARK}{os.getpid()}-{token}.partial"
        stage.mkdir()
    except OSError as exc:
        raise WriteFailedError(_failure_message(target, exc)) from exc
    try:
        yield stage
        swap_in(stage, target)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OmeZarrError):
            raise
        raise WriteFailedError(_failure_message(target, exc)) from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _failure_message(target: Path, exc: OSError) -> str:
    kept = "The previous store there is intact." if target.exists() else "Nothing was left behind."
    advice = {
        errno.ENOSPC: "The disk is full: free some space or choose another disk, then save again.",
        errno.EDQUOT: "Your disk quota is used up: free some space, then save again.",
        errno.EACCES: "You may not write there: choose a folder you own.",
        errno.EPERM: "You may not write there: choose a folder you own.",
        errno.EROFS: "That disk is read-only: choose another folder.",
    }.get(exc.errno or 0, "Check the disk and the folder, then save again.")
    return f"Could not write {target}: {exc.strerror or exc}. {kept} {advice}"


def atomic_write_json(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` so readers see the old file or the new one, never half.

    zarr writes metadata files in place; this small step is ours because the ``labels`` list
    of an image that already holds data must change in one move (write, fsync, rename).

    Parameters
    ----------
    path : Path
        The JSON file (``.zattrs`` or ``zarr.json``).
    document : dict
        Its new content.
    """
    tmp = path.with_name(f".{path.name}{STAGING_MARK}{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
