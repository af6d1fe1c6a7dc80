"""Write stores to object stores (``s3://``...): encoded locally, uploaded metadata last.

Object stores cannot rename, so the local writer's staged swap (`core.write.staging`) is not
available. Instead a store is written whole, by the same code and worker pool as locally, into
a temporary local folder, and then uploaded concurrently (fsspec's ``put`` of many files) in an
order that commits it only at the very end:

1. an existing store at the target is checked (`check_replaceable_remote`: only an OME-Zarr
   image, label image or labels group is replaced) and its OME attributes are withdrawn, root
   group first: the root becomes a plain group carrying an "incomplete write" marker;
2. every chunk;
3. the old store's keys that the new one does not overwrite are deleted;
4. the array metadata (``.zarray``, arrays' ``zarr.json``);
5. the group metadata, deepest group first, the root group's last.

So a reader sees an OME-Zarr image at the target only once all of it is there, and never a mix
of the old and the new presented as one image. A write that fails or is cancelled during the
upload removes every key under the target (where the store allows); its root never says
``multiscales`` in any case. Cancelled while it is still being encoded, a replacement has
touched nothing at the target (a new store may have sent chunks already: they are removed).

A folder marker (the empty ``name/`` object the S3 console's "Create folder" makes) holds no
data: a folder made at the target is an empty target, markers inside a store do not stop its
replacement, and no write or clean-up removes them.

The temporary folder is made in the system's temporary folder (set ``TMPDIR`` to put it
elsewhere) and removed at the end. Replacing a store, it holds the whole compressed store
before step 1 begins, so that a failure while encoding leaves the old store as it was. A new
store's chunks are uploaded in batches while it is encoded instead
(`napari_omezarr_export.core.write.upload_stream`: a few hundred MiB of local disk, and the
upload runs beside the encoding); steps 4 and 5 still come last.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from napari_omezarr_export.core.errors import OmeZarrError, TargetExistsError, WriteFailedError
from napari_omezarr_export.core.ngff.attributes import group_attributes
from napari_omezarr_export.core.stores import describe, error_cause, is_literal

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "INCOMPLETE_MARK",
    "META_DOCS",
    "StagedUpload",
    "StoreListing",
    "check_replaceable_remote",
    "remote_group_attributes",
    "staged_upload",
    "update_remote_group_attributes",
    "withdraw_attributes",
]

log = logging.getLogger(__name__)

# The metadata documents of a zarr store (uploaded last; a distributed write's tasks never
# upload them).
META_DOCS = frozenset({".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json"})
# Attribute keys that make a zarr group an OME-Zarr node (0.4 at the top, 0.5 inside "ome").
_OME_KEYS = frozenset({
    "ome", "multiscales", "omero", "labels", "image-label", "plate", "well",
    "bioformats2raw.layout", "series",
})  # fmt: skip
_COLLECTION_KEYS = frozenset({"plate", "well", "bioformats2raw.layout", "series"})
INCOMPLETE_MARK = "omezarr-export"
_MARK_VALUE = {"state": "incomplete write; the next write here replaces it, or delete it"}
# Files per fsspec put call: within one the uploads are concurrent; between two a write can
# report progress and be cancelled.
_UPLOAD_BATCH = 256


# -- what is at the target -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """One zarr node found under the target: its format, type and attributes."""

    zarr_format: int
    node_type: str | None
    attrs: dict[str, Any]
    broken: bool = False


@dataclass
class StoreListing:
    """What is under an object-store target: its keys and its metadata documents.

    Parameters
    ----------
    keys : set of str
        Every key under the target, relative to it (``""`` for an object at the target itself),
        except folder markers (`_data_paths`): an empty folder is an empty target.
    docs : dict of str to bytes
        The content of the zarr metadata documents among them.
    """

    keys: set[str] = field(default_factory=set)
    docs: dict[str, bytes] = field(default_factory=dict)

    def nodes(self) -> dict[str, _Node]:
        """The zarr nodes, by folder relative to the target (``""`` is the root)."""
        folders: dict[str, dict[str, bytes]] = {}
        for key, content in self.docs.items():
            folder, name = _split(key)
            folders.setdefault(folder, {})[name] = content
        nodes = {folder: _node(docs) for folder, docs in folders.items()}
        return {folder: node for folder, node in nodes.items() if node is not None}

    def arrays(self) -> set[str]:
        """Folders (relative) that are zarr arrays."""
        return {path for path, node in self.nodes().items() if node.node_type == "array"}

    @property
    def interrupted(self) -> bool:
        """Whether this is what an interrupted write of ours left (its root marked incomplete)."""
        root = self.nodes().get("")
        return root is not None and INCOMPLETE_MARK in root.attrs


def _split(key: str) -> tuple[str, str]:
    folder, _, name = key.rpartition("/")
    return folder, name


def _json(content: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _node(docs: dict[str, bytes]) -> _Node | None:
    """Parse a folder's metadata documents (v3 first, as zarr reads them)."""
    if "zarr.json" in docs:
        doc = _json(docs["zarr.json"])
        if doc is None:
            return _Node(3, None, {}, broken=True)
        attributes = doc.get("attributes") if isinstance(doc.get("attributes"), dict) else {}
        ome = attributes.get("ome")
        attrs = {**attributes, **(ome if isinstance(ome, dict) else {})}
        return _Node(3, doc.get("node_type"), attrs)
    attrs: dict[str, Any] = {}
    broken = False
    if ".zattrs" in docs:
        parsed = _json(docs[".zattrs"])
        broken = parsed is None
        attrs = parsed or {}
    if ".zarray" in docs:
        return _Node(2, "array", attrs, broken)
    if ".zgroup" in docs or ".zattrs" in docs:
        return _Node(2, "group" if ".zgroup" in docs else None, attrs, broken)
    return None


def _fs_root(target: UPath) -> tuple[Any, str]:
    """The target's fsspec file system and its path there, without a trailing slash."""
    return target.fs, str(target.path).rstrip("/")


def _cat_many(fs: Any, paths: list[str]) -> dict[str, Any]:
    """``fs.cat`` of several paths; a path with glob characters is read on its own."""
    plain = [p for p in paths if is_literal(p)]
    found: dict[str, Any] = dict(fs.cat(plain, on_error="return")) if plain else {}
    for path in (p for p in paths if not is_literal(p)):
        try:
            found[path] = fs.cat_file(path)
        except FileNotFoundError as exc:
            found[path] = exc
    return found


def _content(found: dict[str, Any], path: str) -> bytes | None:
    """One result of `_cat_many`: the bytes, None for a missing key; other failures raise."""
    result = found.get(path)
    if result is None or isinstance(result, FileNotFoundError):
        return None
    if isinstance(result, BaseException):
        raise result
    return bytes(result)


def _remove(fs: Any, paths: Iterable[str]) -> None:
    """Delete keys: in bulk where fsspec takes them literally, one by one otherwise."""
    paths = list(paths)
    plain = [p for p in paths if is_literal(p)]
    if plain:
        fs.rm(plain)
    for path in (p for p in paths if not is_literal(p)):
        fs.rm_file(path)


def _list(target: UPath) -> StoreListing:
    """List every key under ``target`` and read its metadata documents (a few requests)."""
    fs, root = _fs_root(target)
    fs.invalidate_cache(root)
    paths = _data_paths(fs, root)
    keys = {"" if path.rstrip("/") == root else path[len(root) + 1 :] for path in paths}
    wanted = sorted(k for k in keys if _split(k)[1] in META_DOCS)
    contents = _cat_many(fs, [f"{root}/{k}" for k in wanted]) if wanted else {}
    docs = {}
    for key in wanted:
        content = _content(contents, f"{root}/{key}")
        if content is not None:  # else deleted since the listing
            docs[key] = content
    return StoreListing(keys, docs)


def _data_paths(fs: Any, root: str) -> list[str]:
    """Every object under ``root`` but folder markers; an empty prefix lists nothing.

    A folder marker is the empty ``name/`` object the S3 console's "Create folder" makes: it
    holds no data, and no write or clean-up removes it. A missing bucket raises.
    """
    found = fs.find(root, detail=True)
    return [
        str(path)
        for path, info in found.items()
        if not (str(path).endswith("/") and not info.get("size"))
    ]


def _refusal(listing: StoreListing) -> str | None:
    """Why the store listed may not be replaced by one image or labels store, or None."""
    if not listing.keys:
        return None
    if "" in listing.keys:
        return "an object (a file), not a zarr store"
    nodes = listing.nodes()
    root = nodes.get("")
    if root is None:
        return "data that is not a zarr store (no zarr metadata at its root)"
    if root.node_type == "array":
        return "a zarr array, not an OME-Zarr image"
    if INCOMPLETE_MARK in root.attrs:
        return None  # an interrupted write of ours: its chunks may lack their array metadata
    arrays = {path for path, node in nodes.items() if node.node_type == "array"}
    strays = sorted(k for k in listing.keys if not _is_zarr_key(k, arrays))
    if strays:
        more = f" and {len(strays) - 1} more" if len(strays) > 1 else ""
        return f"a store that also holds objects that are not zarr data ({strays[0]!r}{more})"
    if root.broken:
        return None  # unreadable root metadata: a failed earlier write, safe to replace
    collection = _COLLECTION_KEYS & set(root.attrs)
    if collection:
        return f"an OME-Zarr collection ({', '.join(sorted(collection))}) of several images"
    if {"multiscales", "labels"} & set(root.attrs):
        return None
    if len(nodes) > 1:
        return "a zarr group holding other zarr data"
    return None


def _is_zarr_key(key: str, arrays: set[str]) -> bool:
    """True for a metadata document, or a key inside an array's folder (a chunk)."""
    if _split(key)[1] in META_DOCS:
        return True
    folders = (str(parent) for parent in PurePosixPath(key).parents)
    return any(("" if folder == "." else folder) in arrays for folder in folders)


def check_replaceable_remote(target: UPath) -> StoreListing:
    """Raise `TargetExistsError` unless ``target`` is empty or holds a store we may replace.

    The same rule as on a local disk (`core.write.staging.check_replaceable`): only an OME-Zarr
    image, label image or labels group (or an empty group, or what an interrupted write of this
    package left) is replaced. A plate, a collection, a plain array, a group holding other zarr
    data, or any object under the prefix that is not zarr data refuses, and nothing is touched.

    Parameters
    ----------
    target : UPath
        The object-store location (``s3://bucket/x.ome.zarr``).

    Returns
    -------
    StoreListing
        What is there: the keys under the target and its metadata documents.

    Raises
    ------
    TargetExistsError
        When something is there that may not be replaced.
    WriteFailedError
        When the store cannot be listed (no such bucket, no access, no connection).
    """
    try:
        listing = _list(target)
    except OmeZarrError:
        raise
    except Exception as exc:
        raise WriteFailedError(
            f"Could not look at {describe(target)} before writing ({error_cause(exc)}). "
            f"Nothing was written. {_advice(exc)}"
        ) from exc
    kind = _refusal(listing)
    if kind is not None:
        raise TargetExistsError(
            f"{describe(target)} already exists and is {kind}; it was left untouched. Choose "
            "another name, or delete it first."
        )
    return listing


# -- the order of an upload ----------------------------------------------------------------------


@dataclass(frozen=True)
class _UploadOrder:
    """A staged store's files, relative keys, in the groups they are uploaded in."""

    chunks: list[str]
    array_docs: list[str]
    group_docs: list[list[str]]  # by depth, deepest first; the root's documents last
    zarr_format: int

    @property
    def keys(self) -> set[str]:
        return {*self.chunks, *self.array_docs, *(k for step in self.group_docs for k in step)}


def _upload_order(stage: Path) -> _UploadOrder:
    """Sort a staged store's files: chunks, array metadata, group metadata (root last)."""
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    docs = {key: (stage / key).read_bytes() for key in files if _split(key)[1] in META_DOCS}
    arrays = StoreListing(set(files), docs).arrays()
    chunks, array_docs, groups = [], [], {}
    for key in files:
        folder, name = _split(key)
        if name not in META_DOCS:
            chunks.append(key)
        elif folder in arrays:
            array_docs.append(key)
        else:
            groups.setdefault(folder, []).append(key)
    steps = [
        [k for folder in groups if folder and folder.count("/") == depth for k in groups[folder]]
        for depth in sorted({f.count("/") for f in groups if f}, reverse=True)
    ]
    root = groups.get("", [])
    # v2: the root's .zgroup, then the .zattrs that make it an image; v3: its zarr.json.
    steps += [[k] for k in sorted(root, key=lambda k: (k == ".zattrs", k))]
    fmt = 3 if any(_split(key)[1] == "zarr.json" for key in docs) else 2
    return _UploadOrder(chunks, array_docs, [s for s in steps if s], fmt)


def _marker_docs(zarr_format: int) -> dict[str, bytes]:
    """The root documents of a store being written: a plain group marked incomplete."""
    attrs = {INCOMPLETE_MARK: _MARK_VALUE}
    if zarr_format == 3:
        doc = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
        return {"zarr.json": _dump(doc)}
    return {".zgroup": _dump({"zarr_format": 2}), ".zattrs": _dump(attrs)}


def _dump(doc: dict) -> bytes:
    return json.dumps(doc, indent=2).encode()


def _without_ome(name: str, content: bytes) -> bytes | None:
    """A group document with its OME attributes removed; None when it has none (or is broken)."""
    doc = _json(content)
    if doc is None:
        return None
    if name == "zarr.json":
        if doc.get("node_type") != "group":
            return None
        attributes = doc.get("attributes") if isinstance(doc.get("attributes"), dict) else {}
        if not _OME_KEYS & set(attributes):
            return None
        kept = {k: v for k, v in attributes.items() if k not in _OME_KEYS}
        return _dump({**doc, "attributes": kept})
    if name == ".zattrs" and _OME_KEYS & set(doc):
        return _dump({k: v for k, v in doc.items() if k not in _OME_KEYS})
    if name == ".zmetadata" and isinstance(doc.get("metadata"), dict):
        # consolidated metadata (zarr v2) repeats every .zattrs: readers that use it would
        # still see the old image while its chunks are replaced
        entries = doc["metadata"]
        stripped = {
            key: {k: v for k, v in value.items() if k not in _OME_KEYS}
            if key.rsplit("/", 1)[-1] == ".zattrs" and isinstance(value, dict)
            else value
            for key, value in entries.items()
        }
        return _dump({**doc, "metadata": stripped}) if stripped != entries else None
    return None


def withdraw_attributes(listing: StoreListing, zarr_format: int) -> list[dict[str, bytes]]:
    """The documents that withdraw an existing store's OME attributes, in two steps.

    The first step rewrites the root: its metadata in ``zarr_format`` (the new store's) becomes
    a plain group marked incomplete, and a root document in the other format loses its OME
    attributes. The second removes the OME attributes of every other group (label images, the
    labels group), so that none of the old groups still presents itself as an image while its
    chunks are being overwritten.

    Parameters
    ----------
    listing : StoreListing
        What `check_replaceable_remote` found at the target (may be empty).
    zarr_format : {2, 3}
        The format of the store about to be written.

    Returns
    -------
    list of dict
        Two ``{relative key: content}`` steps, the root's first.
    """
    root = _marker_docs(zarr_format)
    arrays = listing.arrays()
    rest: dict[str, bytes] = {}
    for key, content in listing.docs.items():
        folder, name = _split(key)
        if key in root or folder in arrays:
            continue
        stripped = _without_ome(name, content)
        if stripped is None:
            continue
        (root if folder == "" else rest)[key] = stripped
    return [root, rest]


# -- staging and uploading -----------------------------------------------------------------------


class StagedUpload:
    """A store staged in a local folder, and its upload to an object store in commit order.

    Made by `staged_upload`. Write the whole store into `stage`, then run `iter_upload`.

    Parameters
    ----------
    target : UPath
        Where the store goes.
    stage : Path
        The local folder the store is written into.
    existing : StoreListing
        What is at the target now (from `check_replaceable_remote`).
    """

    def __init__(self, target: UPath, stage: Path, existing: StoreListing) -> None:
        self.target = target
        self.stage = stage
        self._existing = existing
        self._phase = "staging"  # then "withdrawing", "uploading", "done"
        # True once a failure would be the upload's, not the staging's: the last upload began,
        # a cluster's workers began uploading, or marking the target or a batch sent while
        # staging (`upload_stream`) failed.
        self.sending = False
        self._withdrawn: dict[str, bytes | None] = {}
        self._uploaded_elsewhere: set[str] = set()

    @property
    def done(self) -> bool:
        """True once the whole store is at the target."""
        return self._phase == "done"

    @property
    def nothing_to_lose(self) -> bool:
        """True when no store is at the target, so a failure cannot cost one.

        Nothing is there (folder markers aside), or only what an interrupted write of ours
        left, which is never a valid image.
        """
        return not self._existing.keys or self._existing.interrupted

    @property
    def started(self) -> bool:
        """True once the upload has begun (or ended): the target may have been changed."""
        return self._phase != "staging"

    def begin(self, zarr_format: int) -> None:
        """Withdraw the old store's OME attributes now, before chunks are uploaded from elsewhere.

        A distributed write calls this before its workers upload their chunk files straight to
        the target, and a `ChunkStream` before its first batch; from then on a failure removes
        every key under the target (`abort`).

        Parameters
        ----------
        zarr_format : {2, 3}
            The format of the store about to be written.
        """
        if self.started:
            return
        fs, root = _fs_root(self.target)
        self._phase = "withdrawing"
        for step in withdraw_attributes(self._existing, zarr_format):
            self._withdrawn.update({k: self._existing.docs.get(k) for k in step})
            if step:
                fs.pipe({f"{root}/{k}": v for k, v in step.items()})
        self._phase = "uploading"
        if self._existing.interrupted:
            # An interrupted write's leftovers: removed now, behind the incomplete root, so
            # that the chunks uploaded from here on (`upload_stream`) need no bookkeeping.
            marker = set(_marker_docs(zarr_format))  # just written: the new incomplete root
            left = sorted(self._existing.keys - marker)
            if left:
                _remove(fs, (f"{root}/{k}" for k in left))
            self._existing = StoreListing()  # none of it is left

    def add_uploaded(self, keys: Iterable[str]) -> None:
        """Record keys uploaded by others (a cluster's workers): they are part of the new store.

        Parameters
        ----------
        keys : iterable of str
            Keys relative to the target.
        """
        self._uploaded_elsewhere.update(keys)

    def iter_upload(self) -> Iterator[tuple[int, int]]:
        """Upload the staged store, metadata last, yielding ``(files done, files total)``.

        Closing the generator, or a failure, while it runs removes what was written (see
        `staged_upload`).

        Yields
        ------
        tuple of int
            Files uploaded so far and in all, after every batch of chunks.
        """
        if self._phase not in ("staging", "uploading"):
            return
        self.sending = True
        fs, root = _fs_root(self.target)
        order = _upload_order(self.stage)
        total, done = len(order.keys), 0
        self.begin(order.zarr_format)
        for start in range(0, len(order.chunks), _UPLOAD_BATCH):
            batch = order.chunks[start : start + _UPLOAD_BATCH]
            self.put_staged(batch)
            done += len(batch)
            yield done, total
        stale = self._existing.keys - order.keys - self._uploaded_elsewhere - {""}
        if stale:
            _remove(fs, (f"{root}/{k}" for k in sorted(stale)))
        for step in [order.array_docs, *order.group_docs]:
            self.put_staged(step)
            done += len(step)
        self._phase = "done"
        yield done, total

    def put_staged(self, keys: list[str]) -> None:
        """Upload staged files as they are (concurrently), whatever the phase.

        Parameters
        ----------
        keys : list of str
            Keys relative to the stage and to the target.
        """
        if keys:
            fs, root = _fs_root(self.target)
            fs.put([str(self.stage / k) for k in keys], [f"{root}/{k}" for k in keys])

    def abort(self) -> str:
        """Undo a write that failed or was cancelled; return what it left, for the message.

        Before the upload began nothing at the target was touched. While the old attributes
        were being withdrawn, they are put back. Once chunks were being uploaded, every key
        under the target is deleted: the old store, if any, had been withdrawn already.

        Returns
        -------
        str
            A sentence saying what is at the target now.
        """
        phase, self._phase = self._phase, "aborted"
        if phase in ("staging", "done", "aborted"):
            return "Nothing was written there."
        fs, root = _fs_root(self.target)
        try:
            if phase == "withdrawing":
                restore = {f"{root}/{k}": v for k, v in self._withdrawn.items() if v is not None}
                if restore:
                    fs.pipe(restore)
                absent = [f"{root}/{k}" for k, v in self._withdrawn.items() if v is None]
                if absent:
                    _remove(fs, absent)
                return (
                    "The store that was there is intact."
                    if self._existing.keys
                    else "Nothing was left there."
                )
            fs.invalidate_cache(root)
            left = _data_paths(fs, root)
            if left:
                _remove(fs, left)
        except Exception as exc:  # noqa: BLE001 - the clean-up must not hide the failure
            log.warning(
                "Could not clean up %s after a failed write: %s", describe(self.target), exc
            )
            return (
                "Some of what was written could not be removed; it is not a valid image (its "
                "root has no OME metadata) and the next write to this URL replaces it."
            )
        if self._existing.keys:
            return (
                "The store that was there had already been withdrawn and partly overwritten, "
                "so it was removed too; nothing is left there."
            )
        return "What was written was removed; nothing is left there."


@contextlib.contextmanager
def staged_upload(target: UPath) -> Iterator[StagedUpload]:
    """Stage a store in a local temporary folder; upload it metadata-last when the block ends.

    The target is checked first (`check_replaceable_remote`): a store there that may not be
    replaced raises before anything is staged. Write the whole store into ``upload.stage``;
    drive ``upload.iter_upload()`` to upload it with progress (it is run here otherwise). If
    the block raises or its generator is closed, nothing is uploaded, or what was uploaded is
    removed (`StagedUpload.abort`); the temporary folder is always removed.

    Parameters
    ----------
    target : UPath
        The object-store location of the store.

    Yields
    ------
    StagedUpload
        Its ``stage`` is an empty local folder.

    Raises
    ------
    TargetExistsError
        When ``target`` holds something that may not be replaced.
    WriteFailedError
        When staging or the upload fails; the message says what was left at the target.
    """
    existing = check_replaceable_remote(target)
    # Staged on the local disk: whole when it replaces a store, in batches when it is new.
    stage = Path(tempfile.mkdtemp(prefix="omezarr-export-upload-"))
    upload = StagedUpload(target, stage, existing)
    try:
        yield upload
        for _ in upload.iter_upload():
            pass
    except OmeZarrError:
        upload.abort()
        raise
    except Exception as exc:
        staging = not upload.sending
        left = upload.abort()
        if staging and not isinstance(exc, OSError):
            raise
        where = f"staging it in {stage}" if staging else "uploading it"
        raise WriteFailedError(
            f"Could not write {describe(target)} while {where} ({error_cause(exc)}). {left} "
            f"{_advice(exc, staging=staging)}"
        ) from exc
    except BaseException:
        upload.abort()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _advice(exc: BaseException, *, staging: bool = False) -> str:
    import errno

    if staging:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return (
                "The local temporary folder, where the store is encoded before it is uploaded, "
                "is full: set TMPDIR to a disk with room for the compressed store (a new store "
                "needs a few hundred MiB) and try again."
            )
        return (
            "Check the data being saved and the local temporary folder (TMPDIR), then try again."
        )
    if isinstance(exc, PermissionError) or getattr(exc, "status", None) in (401, 403):
        return (
            "Access was denied: check your credentials (for S3: AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID) and that they may write to this bucket."
        )
    if isinstance(exc, FileNotFoundError):
        return "Check that the bucket exists and the URL is right."
    return "Check the URL and your network connection, then try again."


# -- one group's attributes ----------------------------------------------------------------------


def _group_documents(group: UPath, version: str) -> tuple[Any, list[str], dict[str, Any]]:
    """The group's file system, its metadata documents' paths (the attributes' first), read."""
    fs, root = _fs_root(group)
    name = ".zattrs" if version == "0.4" else "zarr.json"
    wanted = [f"{root}/{name}"] + ([f"{root}/.zgroup"] if version == "0.4" else [])
    return fs, wanted, _cat_many(fs, wanted)


def remote_group_attributes(group: UPath) -> dict[str, Any]:
    """Return a remote group's attributes as zarr stores them (empty when there is no group).

    Parameters
    ----------
    group : UPath
        The group's location.

    Returns
    -------
    dict
        ``zarr.json``'s ``attributes`` (zarr v3), or ``.zattrs`` (v2).
    """
    fs, root = _fs_root(group)
    found = _cat_many(fs, [f"{root}/zarr.json", f"{root}/.zattrs"])
    v3 = _content(found, f"{root}/zarr.json")
    if v3 is not None:
        attrs = (_json(v3) or {}).get("attributes")
        return attrs if isinstance(attrs, dict) else {}
    v2 = _content(found, f"{root}/.zattrs")
    return (_json(v2) or {}) if v2 is not None else {}


def update_remote_group_attributes(
    group: UPath, key: str, change: Callable[[Any], Any], version: str
) -> None:
    """Set one OME key of a remote group's attributes, keeping every other attribute.

    Like `core.write.staging.update_group_attributes`: the group's metadata document is read
    once, ``change(old value or None)`` gives the new value, and the document is written back
    in one request (an object store replaces an object whole). A missing group is created.

    Parameters
    ----------
    group : UPath
        The group's location (``.../image.ome.zarr/labels``).
    key : str
        The OME key, such as ``"labels"``.
    change : callable
        Old value (None when absent) -> new value.
    version : {"0.4", "0.5"}
        The group's NGFF version.
    """
    fs, wanted, found = _group_documents(group, version)
    current = _content(found, wanted[0])
    doc = (_json(current) if current is not None else None) or {}
    if version == "0.4":
        if _content(found, wanted[1]) is None:
            fs.pipe({wanted[1]: _dump({"zarr_format": 2})})
        new = group_attributes({key: change(doc.get(key))}, version)
        fs.pipe({wanted[0]: _dump({**doc, **new})})
        return
    attrs = doc.get("attributes") if isinstance(doc.get("attributes"), dict) else {}
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
    new = group_attributes({**ome, key: change(ome.get(key))}, version)
    document = {**doc, "zarr_format": 3, "node_type": "group", "attributes": {**attrs, **new}}
    fs.pipe({wanted[0]: _dump(document)})
