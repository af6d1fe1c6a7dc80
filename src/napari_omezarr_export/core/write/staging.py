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
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import (
    OmeZarrError,
    StoreFormatError,
    TargetExistsError,
    WriteFailedError,
)
from napari_omezarr_export.core.ngff.attributes import group_attributes
from napari_omezarr_export.core.read.zarr_nodes import load_json, read_node_meta

__all__ = [
    "atomic_write_json",
    "complete_swap",
    "ensure_group",
    "is_zarr_store",
    "remove_leftovers",
    "retire",
    "staged_directory",
    "staging_folder",
    "update_group_attributes",
]

log = logging.getLogger(__name__)

STAGING_MARK = ".omezarr-export-"
_ZARR_MARKERS = (".zgroup", ".zattrs", "zarr.json", ".zarray")
_LEFTOVER = re.compile(r"^\d+-[0-9a-f]+\.(partial|replaced)$")
_LIVE_STAGES: set[Path] = set()  # this process's writes in progress, never "leftovers"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def is_zarr_store(path: Path) -> bool:
    """Return True when ``path`` is a folder with zarr metadata at its root."""
    return path.is_dir() and any((path / name).is_file() for name in _ZARR_MARKERS)


def _root_kind(path: Path) -> str | None:
    """Why a zarr store may not be replaced by one image or labels store, or None if it may."""
    if (path / ".zarray").is_file():
        return "a zarr array, not an OME-Zarr image"
    try:
        meta = read_node_meta(path)
    except StoreFormatError:
        return None  # broken metadata: a failed earlier write of ours, safe to replace
    if meta.node_type == "array":
        return "a zarr array, not an OME-Zarr image"
    ome = meta.attrs
    collection = {"plate", "well", "bioformats2raw.layout", "series"} & set(ome)
    if collection:
        return f"an OME-Zarr collection ({', '.join(sorted(collection))}) of several images"
    if {"multiscales", "labels"} & set(ome):
        return None
    if _holds_zarr(path, depth=3):
        return "a zarr group holding other zarr data"
    return None


def _holds_zarr(folder: Path, depth: int) -> bool:
    """Whether zarr data lies within ``depth`` folders below ``folder`` (stops at the first)."""
    if depth == 0:
        return False
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            if is_zarr_store(child) or _holds_zarr(child, depth - 1):
                return True
    return False


def check_replaceable(target: Path) -> None:
    """Raise `TargetExistsError` unless ``target`` is absent or a store we may replace.

    Only a zarr store that is one OME-Zarr image, label image or labels group (or an empty
    group) may be replaced. Plates, collections, plain arrays and groups holding other data
    could hold more than the user means to replace.

    Parameters
    ----------
    target : Path
        Where a store is about to be written.
    """
    if not (target.exists() or target.is_symlink()):
        return
    if not is_zarr_store(target):
        kind = "a file" if target.is_file() else "a folder that is not a zarr store"
    else:
        kind = _root_kind(target)
        if kind is None:
            return
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
    prefix = f".{target.name}{STAGING_MARK}"  # matched exactly: names may hold glob characters
    found = sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix))
    for leftover in found:
        if not _LEFTOVER.match(leftover.name[len(prefix) :]) or leftover in _LIVE_STAGES:
            continue  # not ours, or a write of this process that is still going
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
def staging_folder(target: Path) -> Iterator[Path]:
    """Yield a new, empty staging folder beside ``target``; remove it if the block fails.

    The folder is ``.<target name>.omezarr-export-<pid>-<token>.partial``: leftovers of a
    killed process are found by that name and removed by the next write to the same target.
    Completing the write (a swap, a rename) is the block's job; a disk error is reported as a
    `WriteFailedError` that says whether the target is intact.

    Parameters
    ----------
    target : Path
        Where the store should end up.

    Yields
    ------
    Path
        The staging folder.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(target)
        token = secrets.token_hex(4)
        stage = target.parent / f".{target.name}{STAGING_MARK}{os.getpid()}-{token}.partial"
        stage.mkdir()
        _LIVE_STAGES.add(stage)
    except OSError as exc:
        raise WriteFailedError(_failure_message(target, exc)) from exc
    try:
        yield stage
    except OSError as exc:
        _remove_stage(stage)
        if isinstance(exc, OmeZarrError):
            raise
        raise WriteFailedError(_failure_message(target, exc)) from exc
    except BaseException:
        _remove_stage(stage)
        raise
    finally:
        _LIVE_STAGES.discard(stage)


@contextlib.contextmanager
def staged_directory(target: Path, *, swap: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; swap it in when the block succeeds.

    If the block raises, or a generator using it is closed (a Cancel), the staging folder is
    removed and the target keeps its old content.

    Parameters
    ----------
    target : Path
        Where the store should end up.
    swap : bool
        When False, a complete staging folder is left where it is, for the caller to swap in
        later with `complete_swap` (a ``.percell`` region swaps several stores at once).

    Yields
    ------
    Path
        The staging folder to write the whole store into.
    """
    target = Path(target)
    check_replaceable(target)
    with staging_folder(target) as stage:
        yield stage
        if swap:
            swap_in(stage, target)


def complete_swap(stage: Path, target: Path, inode: int) -> None:
    """Make ``target`` hold the staged store whose folder has inode ``inode``; idempotent.

    The store may still be at ``stage``, already at ``target``, or at ``target`` with the old
    store left at ``stage`` (a process killed between the exchange and its clean-up). Renames
    keep a folder's inode, which is how the new store is told from the old one.

    Parameters
    ----------
    stage : Path
        The staging folder the new store was written into.
    target : Path
        Its destination.
    inode : int
        ``os.stat(stage).st_ino`` taken when the store was complete.
    """
    if _inode(target) == inode:
        if stage.exists():  # the old store, exchanged out but not yet removed
            retire(stage)
        return
    if _inode(stage) == inode:
        swap_in(stage, target)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def retire(path: Path) -> None:
    """Remove the store at ``path``: renamed out of sight at once, then deleted.

    Parameters
    ----------
    path : Path
        A zarr store (or one of our staging folders); anything else is left alone.
    """
    if STAGING_MARK in path.name:  # already out of sight
        shutil.rmtree(path, ignore_errors=True)
        return
    if not is_zarr_store(path):
        return
    token = secrets.token_hex(4)
    doomed = path.with_name(f".{path.name}{STAGING_MARK}{os.getpid()}-{token}.partial")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _remove_stage(stage: Path) -> None:
    """Delete a failed write's staging folder, and again if a late write brought it back.

    zarr writes an array's metadata and its parent group's concurrently; when one of them
    fails, the other can still land just after the failure reaches us.
    """
    for _ in range(3):
        shutil.rmtree(stage, ignore_errors=True)
        time.sleep(0.05)
        if not stage.exists():
            return
    log.warning("Could not remove %s; the next write to this target will.", stage)


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


def ensure_group(group: Path, version: str) -> None:
    """Make ``group`` a zarr group (of the NGFF version's zarr format) when it is not one yet."""
    group.mkdir(parents=True, exist_ok=True)
    marker = group / (".zgroup" if version == "0.4" else "zarr.json")
    if not marker.is_file():
        document = (
            {"zarr_format": 2} if version == "0.4" else {"zarr_format": 3, "node_type": "group"}
        )
        atomic_write_json(marker, document)


def update_group_attributes(
    group: Path, key: str, change: Callable[[Any], Any], version: str
) -> None:
    """Set one OME key of a group's attributes in one move, keeping every other attribute.

    The group's metadata file is read once, ``change(old value or None)`` gives the new value,
    and the file (``.zattrs`` for 0.4, ``zarr.json`` for 0.5, whose ``ome`` block is rebuilt
    by `group_attributes`) is replaced with `atomic_write_json`. A missing group is created.

    Parameters
    ----------
    group : Path
        The group folder.
    key : str
        The OME key, such as ``"labels"``, ``"well"`` or ``"plate"``.
    change : callable
        Old value (None when absent) -> new value.
    version : {"0.4", "0.5"}
        The group's NGFF version.
    """
    ensure_group(group, version)
    if version == "0.4":
        attrs_file = group / ".zattrs"
        attrs = load_json(attrs_file) if attrs_file.is_file() else {}
        new = group_attributes({key: change(attrs.get(key))}, version)
        atomic_write_json(attrs_file, {**attrs, **new})
        return
    doc_file = group / "zarr.json"
    doc = load_json(doc_file) if doc_file.is_file() else {}
    attrs = doc.get("attributes", {})
    ome = attrs.get("ome", {}) if isinstance(attrs.get("ome"), dict) else {}
    new = group_attributes({**ome, key: change(ome.get(key))}, version)
    atomic_write_json(doc_file, {**doc, "zarr_format": 3, "node_type": "group",
                                 "attributes": {**attrs, **new}})  # fmt: skip
