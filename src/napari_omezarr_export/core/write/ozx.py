"""Zipped OME-Zarr (``.ozx``, NGFF RFC-9): a complete local store packed into one zip file.

RFC-9 "Zipped OME-Zarr" (https://ngff.openmicroscopy.org/rfc/9/; source ``rfc/9/index.md``
in github.com/ome/ngff), followed here:

- MUST: the zip's root is the OME-Zarr root and holds the root-level ``zarr.json`` (so zarr v3,
  NGFF 0.5 or later: NGFF 0.4 is refused by `check_zip_version`); exactly one hierarchy; no
  multi-part zips; no ``.ozx`` embedded in a hierarchy.
- SHOULD: ZIP64 "irrespective of the ZIP file size" (every entry's local header carries the
  ZIP64 field, and the ZIP64 end records are always written); no zip-level compression
  (``ZIP_STORED``: the chunks are compressed already); the root ``zarr.json`` first, in the
  entries and in the central directory, the other ``zarr.json`` right after it in
  breadth-first order; the name ends in ``.ozx``; the archive comment is UTF-8 JSON
  ``{"ome": {"version": "0.5", ...}}``.
- MAY: ``"zipFile": {"centralDirectory": {"jsonFirst": true}}`` in that comment, which we
  write, since our order allows it. (RFC-9 also recommends sharding, to keep the central
  directory short: that is `StorageOptions.shards`, chosen by the caller.)

A zip is written once: the store is written into a staging folder beside the target, packed
into a zip in that folder, synced, and renamed onto the target (`staged_zip`), so the target is
always the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from napari_omezarr_export.core.errors import (
    InvalidOptionError,
    StoreFormatError,
    TargetExistsError,
    WriteFailedError,
)
from napari_omezarr_export.core.read.zarr_nodes import load_json
from napari_omezarr_export.core.stores import ZIP_SUFFIX
from napari_omezarr_export.core.write.staging import staging_folder

__all__ = [
    "check_zip_version",
    "is_zipped_store",
    "staged_zip",
    "zip_store",
]

_METADATA = "zarr.json"
_ROOT_MARKERS = ("zarr.json", ".zattrs")
_COPY_BUFFER = 1 << 20
_VERSION = re.compile(r"^(\d+)\.(\d+)")
# End of central directory record, and the ZIP64 record and locator that precede it.
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")
_END_SIGNATURE = b"PK\x05\x06"
_END64_SIGNATURE = b"PK\x06\x06"
_LOCATOR64_SIGNATURE = b"PK\x06\x07"
_ZIP64_VERSION = 45


def check_zip_version(ngff_version: str) -> None:
    """Raise `InvalidOptionError` unless a store of this NGFF version may be zipped.

    RFC-9 requires the root-level ``zarr.json`` at the zip's root: zarr v3, which OME-Zarr uses
    from NGFF 0.5 on. NGFF 0.4 stores are zarr v2 and have none.

    Parameters
    ----------
    ngff_version : str
        The NGFF version to be written, such as ``"0.5"``.
    """
    found = _VERSION.match(str(ngff_version))
    if found is not None and (int(found[1]), int(found[2])) >= (0, 5):
        return
    raise InvalidOptionError(
        f"Cannot write NGFF {ngff_version} as a zipped .ozx store: RFC-9 zips hold a zarr v3 "
        "hierarchy with zarr.json at the root, which NGFF 0.5 has and NGFF 0.4 (zarr v2) does "
        "not. Choose NGFF version 0.5, or save 0.4 to a folder. Nothing was written."
    )


def _natural(part: str) -> tuple[int, int, str]:
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def _path_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key of an entry: its parts, numbers by value (``2`` before ``10``)."""
    return tuple(_natural(part) for part in name.split("/"))


def _entries(folder: Path) -> list[str]:
    """Every file under ``folder`` as a zip entry name, in RFC-9 order.

    The ``zarr.json`` files come first, breadth-first: by depth, then by path, which at each
    depth lists the children of earlier nodes first. The other files follow by path, so each
    array's chunks lie together.
    """
    names = []
    for root, folders, files in os.walk(folder):
        folders.sort()
        relative = Path(root).relative_to(folder).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        names.extend(prefix + file for file in files if os.path.isfile(os.path.join(root, file)))
    metadata = [n for n in names if n.rsplit("/", 1)[-1] == _METADATA]
    metadata.sort(key=lambda n: (n.count("/"), _path_key(n)))
    others = sorted((n for n in names if n.rsplit("/", 1)[-1] != _METADATA), key=_path_key)
    return metadata + others


def _comment(version: str) -> bytes:
    document = {"ome": {"version": version, "zipFile": {"centralDirectory": {"jsonFirst": True}}}}
    return json.dumps(document).encode("utf-8")


def zip_store(folder: Path, zip_path: Path, *, version: str) -> None:
    """Pack the complete local zarr v3 store at ``folder`` into a new RFC-9 zip at ``zip_path``.

    Entries are stored uncompressed with ZIP64 headers, ``zarr.json`` files first (root first,
    then breadth-first), and the archive comment names the OME-Zarr version. Files are streamed
    one at a time; the zip is synced to disk before this returns.

    Parameters
    ----------
    folder : Path
        The store's root folder, holding ``zarr.json``.
    zip_path : Path
        The zip to create; it must not exist.
    version : str
        The store's NGFF version (``"0.5"``), written into the archive comment.

    Raises
    ------
    InvalidOptionError
        For NGFF 0.4, or a store holding a zip (RFC-9 forbids embedding).
    StoreFormatError
        When ``folder`` has no ``zarr.json`` at its root.
    """
    folder, zip_path = Path(folder), Path(zip_path)
    check_zip_version(version)
    if not (folder / _METADATA).is_file():
        raise StoreFormatError(
            f"Cannot zip {folder}: it has no zarr.json at its root, which RFC-9 requires of a "
            ".ozx store. Zip a complete NGFF 0.5 store. Nothing was written."
        )
    names = _entries(folder)
    nested = [n for n in names if n.lower().endswith((ZIP_SUFFIX, ".zip"))]
    if nested:
        raise InvalidOptionError(
            f"Cannot zip {folder}: it holds the zip {nested[0]!r}, and RFC-9 forbids a zip "
            "inside a .ozx store. Move it out of the store first. Nothing was written."
        )
    comment = _comment(version)
    with open(zip_path, "x+b") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in names:
                source = folder / name
                info = zipfile.ZipInfo.from_file(source, name, strict_timestamps=False)
                info.compress_type = zipfile.ZIP_STORED
                with open(source, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, _COPY_BUFFER)
            zf.comment = comment
        _add_zip64_end(handle, len(comment))
        handle.flush()
        os.fsync(handle.fileno())


def _add_zip64_end(handle: BinaryIO, comment_length: int) -> None:
    """Put the ZIP64 end record and locator before the end record, unless zipfile wrote them.

    Python's zipfile writes them only for archives that need them (over 65535 entries or
    2 GiB); RFC-9 asks for ZIP64 whatever the size. The classic end record keeps its values,
    which fit, as zipfile itself does.
    """
    end = handle.seek(0, os.SEEK_END) - _END.size - comment_length
    handle.seek(end)
    tail = handle.read()
    fields = _END.unpack(tail[: _END.size])
    if fields[0] != _END_SIGNATURE or fields[-1] != comment_length:
        raise WriteFailedError(f"Could not finish the zip {handle.name}: its end record is amiss.")
    if end >= _LOCATOR64.size:
        handle.seek(end - _LOCATOR64.size)
        if handle.read(4) == _LOCATOR64_SIGNATURE:
            return
    _, _, _, entries_here, entries, directory_size, directory_offset, _ = fields
    record = _END64.pack(
        _END64_SIGNATURE, _END64.size - 12, _ZIP64_VERSION, _ZIP64_VERSION, 0, 0,
        entries_here, entries, directory_size, directory_offset,
    )  # fmt: skip
    locator = _LOCATOR64.pack(_LOCATOR64_SIGNATURE, 0, end, 1)
    handle.seek(end)
    handle.truncate()
    handle.write(record + locator + tail)


def is_zipped_store(path: Path) -> bool:
    """True when ``path`` is a zip with zarr metadata (``zarr.json`` or ``.zattrs``) at its root.

    Parameters
    ----------
    path : Path
        A file.

    Returns
    -------
    bool
        Whether it is a zipped zarr store.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return any(marker in names for marker in _ROOT_MARKERS)


def check_zip_replaceable(target: Path) -> None:
    """Raise `TargetExistsError` unless ``target`` is absent or a ``.ozx`` zarr zip we may replace.

    Parameters
    ----------
    target : Path
        Where a ``.ozx`` store is about to be written.
    """
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir():
        kind = "a folder"
    elif not target.is_file():
        kind = "not a regular file"
    elif target.suffix.lower() != ZIP_SUFFIX or not is_zipped_store(target):
        kind = "a file that is not a zipped zarr store (.ozx)"
    else:
        return
    raise TargetExistsError(
        f"{target} already exists and is {kind}; it was left untouched. Choose another name, "
        "or move it away first."
    )


def _store_version(store: Path) -> str:
    """The NGFF version a staged store's root ``zarr.json`` records, checked for zipping."""
    root = store / _METADATA
    if not root.is_file():
        if any((store / name).is_file() for name in (".zattrs", ".zgroup")):
            check_zip_version("0.4")
        raise StoreFormatError(
            f"Cannot zip {store}: nothing wrote a zarr.json at its root, so it is not a zarr v3 "
            "store. This is a bug in the writer; please report it. The target was left as it was."
        )
    attributes = load_json(root).get("attributes")
    ome = attributes.get("ome") if isinstance(attributes, dict) else None
    version = ome.get("version") if isinstance(ome, dict) else None
    if not isinstance(version, str):
        raise StoreFormatError(
            f"Cannot zip {store}: its zarr.json has no attributes.ome.version, so it is not an "
            "NGFF 0.5 store. Write OME-Zarr metadata at the root. The target was left as it was."
        )
    check_zip_version(version)
    return version


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where folders can be opened: not on Windows)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def staged_zip(target: Path, *, ngff_version: str | None = None) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds, zip it and move it to ``target``.

    The staging folder ``.<name>.omezarr-export-<pid>-<token>.partial`` lies beside the target
    and holds the store (the folder yielded, ``store``) and then its zip (``packed.ozx``), which
    is synced and renamed onto the target in one step. If the block raises, a generator using
    it is closed (a Cancel) or zipping fails, the staging folder goes and the target keeps its
    old content. Leftovers of interrupted writes to the same target are removed first (they are
    folders like any staged store's, see `staging.remove_leftovers`).

    Parameters
    ----------
    target : Path
        The ``.ozx`` file to write.
    ngff_version : str, optional
        The NGFF version about to be written, checked before anything is touched; in any case
        the version is read from the staged store's ``zarr.json`` for the archive comment.

    Yields
    ------
    Path
        The empty folder to write the whole store into.

    Raises
    ------
    InvalidOptionError
        For NGFF 0.4 (given or found in the staged store).
    TargetExistsError
        When ``target`` is a folder, or a file that is not a zipped zarr store; nothing is
        touched.
    WriteFailedError
        When the disk refuses (full, read-only, no permission); the old target is intact.
    """
    target = Path(target)
    if ngff_version is not None:
        check_zip_version(ngff_version)
    check_zip_replaceable(target)
    with staging_folder(target) as stage:
        store = stage / "store"
        store.mkdir()
        yield store
        packed = stage / f"packed{ZIP_SUFFIX}"
        zip_store(store, packed, version=_store_version(store))
        os.replace(packed, target)
        _sync_folder(target.parent)
        shutil.rmtree(stage, ignore_errors=True)
