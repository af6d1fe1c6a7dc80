"""Read zarr v2/v3 node metadata, cheaply and safely, and open arrays lazily.

This module is the only reading code that touches metadata files or zarr arrays directly: it
reads one or two small JSON files per node (``.zgroup``/``.zattrs``/``.zarray`` or
``zarr.json``), resolves child paths without ever leaving the dropped folder, and wraps
``zarr.open_array`` so that every failure becomes a :class:`StoreFormatError`.

Paths are local folders (`pathlib.Path`) or remote and zipped ones (`upath.UPath`, from
`core.stores`). For remote stores every document goes through `stores.fetch_many`: the
candidate files of a node, and of several nodes at once (`prefetch_nodes`), are fetched
concurrently and cached for the read session, so a store opens in a few round trips.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import StoreFormatError

__all__ = [
    "CheckedArray",
    "NodeMeta",
    "child_path",
    "has_zarr_metadata",
    "is_node",
    "load_json",
    "map_in_session",
    "open_array",
    "open_level",
    "prefetch_nodes",
    "read_node_meta",
]


_V2_FILES = (".zgroup", ".zattrs", ".zarray")
_MAX_JSON_BYTES = 16 * 1024 * 1024
_MAX_CHUNK_BYTES = 2**31  # Blosc's own limit; one larger chunk could not be decoded anyway


@dataclass(frozen=True)
class NodeMeta:
    """The metadata of one zarr node, with OME attributes unwrapped.

    Parameters
    ----------
    path : Path
        The node's folder.
    zarr_format : int or None
        2, 3, or None when the folder has no zarr metadata at all.
    node_type : str or None
        ``"group"``, ``"array"`` or None (attributes only, or nothing).
    attrs : dict
        The node's attributes; for zarr v3 the content of ``attributes["ome"]`` merged over
        the other attributes, so callers see ``multiscales`` at the top level either way.
    ome_version : str or None
        ``ome.version`` of a zarr v3 node (NGFF 0.5+), else None.
    array : dict
        The ``.zarray`` / ``zarr.json`` array document for arrays, else empty.
    """

    path: Path
    zarr_format: int | None
    node_type: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    ome_version: str | None = None
    array: dict[str, Any] = field(default_factory=dict)


def load_json(path: Any) -> dict[str, Any]:
    """Load one JSON object, turning every failure into a StoreFormatError.

    Parameters
    ----------
    path : Path or UPath
        The document (local, remote or in a zip).

    Returns
    -------
    dict
        The parsed object.

    Raises
    ------
    StoreFormatError
        When the document is missing, too large, not JSON, or not an object.
    StoreAccessError
        When a remote store cannot be reached.
    """
    if isinstance(path, Path):
        try:
            if path.stat().st_size > _MAX_JSON_BYTES:
                raise StoreFormatError(f"{path} is larger than 16 MB; it is not zarr metadata.")
            data: bytes | None = path.read_bytes()
        except OSError as exc:
            raise StoreFormatError(f"Could not read {path}: {exc}.") from exc
    else:
        data = stores.fetch_many([path])[stores.describe(path)]
        if data is None:
            raise StoreFormatError(f"Could not read {stores.describe(path)}: it does not exist.")
    return _parse_json(path, data)


def _parse_json(path: Any, data: bytes) -> dict[str, Any]:
    shown = stores.describe(path) if not isinstance(path, Path) else str(path)
    if len(data) > _MAX_JSON_BYTES:
        raise StoreFormatError(f"{shown} is larger than 16 MB; it is not zarr metadata.")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreFormatError(f"Could not read {shown}: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise StoreFormatError(
            f"{shown} is not valid JSON ({exc.msg} at line {exc.lineno}); the store's metadata "
            "is corrupt. Restore it from a backup or re-export the image."
        ) from exc
    if not isinstance(doc, dict):
        raise StoreFormatError(f"{shown} holds a JSON {type(doc).__name__}, not an object.")
    return doc


def has_zarr_metadata(path: Any, *, zarr_format: int | None = None) -> bool:
    """Return True when ``path`` holds a zarr v2 or v3 metadata file (no parsing).

    Parameters
    ----------
    path : Path or UPath
        A node's folder.
    zarr_format : int, optional
        Known from the parent: a remote store is asked only for that format's files.

    Returns
    -------
    bool
        Whether a metadata document is there.
    """
    if isinstance(path, Path):
        return any((path / name).is_file() for name in (*_V2_FILES, "zarr.json"))
    names = _candidates(zarr_format, "group" if zarr_format == 2 else None)
    documents = _remote_documents([path], names)
    return any(documents[stores.describe(path / name)] is not None for name in names)


def is_node(path: Any, *, zarr_format: int | None = None) -> bool:
    """Return True when ``path`` may be a zarr group: a local folder, or remote metadata found.

    Object stores and HTTP servers have no folders to ask about, so a remote group exists when
    one of its metadata documents does (the same request then serves `read_node_meta`, given
    the same ``zarr_format``).

    Parameters
    ----------
    path : Path or UPath
        A group's folder.
    zarr_format : int, optional
        Known from the parent.

    Returns
    -------
    bool
        Whether the group may be there.
    """
    if isinstance(path, Path):
        return path.is_dir()
    return has_zarr_metadata(path, zarr_format=zarr_format)


def map_in_session(function: Any, items: Any, threads: int) -> list[Any]:
    """``list(map(function, items))`` on a thread pool, sharing the caller's read session.

    A thread starts with an empty context; each task runs in a copy of the caller's, so the
    metadata cache of `stores.read_session` is shared by every thread.

    Parameters
    ----------
    function : callable
        Called once per item.
    items : iterable
        The items.
    threads : int
        The pool's size.

    Returns
    -------
    list
        The results, in the items' order.
    """
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(contextvars.copy_context().run, function, i) for i in items]
        return [future.result() for future in futures]


def _candidates(zarr_format: int | None, node_type: str | None) -> tuple[str, ...]:
    """The metadata files a node can have, given what its parent already told us.

    Over a network every name asked for is a request, so a level of a zarr v2 image is asked
    for ``.zarray`` and ``.zattrs`` only, and a level of a v3 image for ``zarr.json`` only.
    """
    if zarr_format == 3:
        return ("zarr.json",)
    if zarr_format == 2:
        # A v2 group we read is one for its attributes: ``.zgroup`` adds nothing to them.
        return {"array": (".zarray", ".zattrs"), "group": (".zattrs",)}.get(
            node_type or "", _V2_FILES
        )
    return ("zarr.json", *_V2_FILES)


def _remote_documents(paths: list[Any], names: tuple[str, ...]) -> dict[str, bytes | None]:
    """The metadata documents ``names`` of every node in ``paths``, in one concurrent batch."""
    return stores.fetch_many([path / name for path in paths for name in names])


def prefetch_nodes(
    paths: list[Any],
    *,
    zarr_format: int | None = None,
    node_type: str | None = None,
    groups: tuple[Any, ...] = (),
) -> None:
    """Fetch the metadata of several remote nodes at once; later reads come from the cache.

    Does nothing for local folders (reading a file there costs no round trip); outside a
    `stores.read_session` nothing is kept.

    Parameters
    ----------
    paths : list of Path or UPath
        Node folders (levels, label images, wells...).
    zarr_format : int, optional
        The zarr format of their store, when known (only its files are asked for).
    node_type : str, optional
        ``"array"`` or ``"group"``, when known.
    groups : tuple of Path or UPath
        Groups of the same store to fetch in the same round trip (an image's ``labels``).
    """
    remote = [path for path in paths if not isinstance(path, Path)]
    if remote:
        names = _candidates(zarr_format, node_type)
        group_names = _candidates(zarr_format, "group")
        stores.fetch_many(
            [path / name for path in remote for name in names]
            + [group / name for group in groups for name in group_names]
        )


def read_node_meta(
    path: Any, *, zarr_format: int | None = None, node_type: str | None = None
) -> NodeMeta:
    """Read a node's metadata (v3 ``zarr.json`` first, then v2 files).

    Parameters
    ----------
    path : str, Path or UPath
        The node's folder.
    zarr_format, node_type : optional
        What the node is known to be, from its parent; a remote store is then asked only for
        the files such a node has.

    Returns
    -------
    NodeMeta
        The parsed metadata; ``zarr_format`` is None when no metadata file exists.

    Raises
    ------
    StoreFormatError
        When a metadata file exists but cannot be read or parsed.
    StoreAccessError
        When a remote store cannot be reached.
    """
    if isinstance(path, str):
        path = Path(path)
    if isinstance(path, Path):
        names = ("zarr.json", *_V2_FILES)
        present = {name: path / name for name in names if (path / name).is_file()}
        load = load_json
    else:
        names = _candidates(zarr_format, node_type)
        documents = _remote_documents([path], names)
        present = {n: path / n for n in names if documents[stores.describe(path / n)] is not None}

        def load(doc_path: Any) -> dict[str, Any]:
            return _parse_json(doc_path, documents[stores.describe(doc_path)] or b"")

    if "zarr.json" in present:
        v3 = present["zarr.json"]
        doc = load(v3)
        attributes = doc.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise StoreFormatError(f"{stores.describe(v3)}: 'attributes' must be a JSON object.")
        ome = attributes.get("ome")
        attrs = dict(attributes)
        version = None
        if isinstance(ome, dict):
            attrs.update(ome)
            version = ome.get("version")
        node_type = doc.get("node_type")
        array = doc if node_type == "array" else {}
        return NodeMeta(path, 3, node_type, attrs, version, array)
    attrs = load(present[".zattrs"]) if ".zattrs" in present else {}
    if ".zarray" in present:
        return NodeMeta(path, 2, "array", attrs, None, load(present[".zarray"]))
    if ".zgroup" in present:
        return NodeMeta(path, 2, "group", attrs)
    if attrs:
        return NodeMeta(path, 2, None, attrs)
    return NodeMeta(path, None, None, {})


def child_path(root: Path, relative: object, *, what: str) -> Path:
    """Resolve a metadata-given relative path inside ``root``, refusing anything outside.

    Parameters
    ----------
    root : Path
        The group folder the path is relative to.
    relative : object
        The path as found in the metadata (must be a non-empty relative string).
    what : str
        What the path names, for the error message (e.g. ``"dataset path"``).

    Returns
    -------
    Path
        ``root / relative``.

    Raises
    ------
    StoreFormatError
        When the path is not a string, is absolute, or contains ``..``.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise StoreFormatError(
            f"{stores.describe(root)}: {what} {relative!r} is not a non-empty string."
        )
    posix = PurePosixPath(relative.replace("\\", "/"))
    # "%", "?" and "#" change what a URL names ("%2e%2e" is ".." once decoded)
    if posix.is_absolute() or ".." in posix.parts or set(relative) & set(":%?#"):
        raise StoreFormatError(
            f"{stores.describe(root)}: {what} {relative!r} points outside the store; only "
            "relative paths inside the dropped folder are read."
        )
    return root.joinpath(*posix.parts)


class CheckedArray:
    """A zarr array seen through ``__getitem__`` only, so that chunk failures name the array.

    dask reads chunks lazily, long after the reader returned; a corrupt or truncated chunk then
    fails deep inside a codec (``RuntimeError: error during blosc decompression``), and a
    remote one in the network library. This thin wrapper turns such failures into a
    :class:`StoreFormatError` (or :class:`StoreAccessError`) that says which array it was.
    """

    def __init__(self, array: Any, path: Any) -> None:
        self.array = array
        self._path = path
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, key: Any) -> Any:
        network = stores.network_errors()
        try:
            return self.array[key]
        except (RuntimeError, ValueError, TypeError, KeyError, OSError, *network) as exc:
            if stores.is_remote(self._path) and isinstance(exc, (OSError, *network)):
                where = f"a chunk of the zarr array at {stores.describe(self._path)}"
                raise stores.access_error(where, exc) from exc
            raise StoreFormatError(
                f"Could not read a chunk of the zarr array at {stores.describe(self._path)} "
                f"({exc}). The chunk file is corrupt or truncated; restore the store from a "
                "backup or re-export it."
            ) from exc


def _check_level(path: Path, arr: Any) -> None:
    """Refuse arrays napari cannot show: non-numeric types, empty dimensions, huge chunks."""
    if arr.dtype.kind not in "biuf":
        raise StoreFormatError(
            f"The zarr array at {stores.describe(path)} has data type {arr.dtype}, which is not "
            "a number type; only boolean, integer and floating-point images can be shown."
        )
    if arr.ndim < 1 or 0 in arr.shape:
        raise StoreFormatError(
            f"The zarr array at {stores.describe(path)} has shape {tuple(arr.shape)}, with an "
            "empty dimension; there are no pixels to show. Re-export the image."
        )
    chunks = tuple(int(n) for n in arr.chunks)
    if len(chunks) != arr.ndim or min(chunks, default=1) < 1:
        raise StoreFormatError(
            f"The zarr array at {stores.describe(path)} declares chunk shape {chunks}; every "
            "chunk dimension must be a positive whole number. The metadata is corrupt; re-export "
            "the image."
        )
    if math.prod(chunks) * arr.dtype.itemsize > _MAX_CHUNK_BYTES:
        size = math.prod(chunks) * arr.dtype.itemsize / 2**30
        raise StoreFormatError(
            f"The zarr array at {stores.describe(path)} has chunks {chunks} of {size:.1f} GiB "
            "each; reading one would need that much memory. Re-chunk the store (e.g. 1024 x "
            "1024 on y and x)."
        )


def open_array(path: Path, *, zarr_format: int | None = None) -> CheckedArray:
    """Open one zarr array read-only, checked, without dask: index it to read pixels.

    Parameters
    ----------
    path : Path
        The array's folder.
    zarr_format : int, optional
        2 or 3; found from the files when omitted.

    Returns
    -------
    CheckedArray
        The array; a corrupt chunk read through it raises :class:`StoreFormatError`.

    Raises
    ------
    StoreFormatError
        As for `open_level`.
    """
    import zarr

    meta = read_node_meta(path, zarr_format=zarr_format, node_type="array")
    if meta.node_type != "array":
        raise StoreFormatError(
            f"{stores.describe(path)} is listed as a resolution level but holds no zarr array "
            "(.zarray or zarr.json is missing). The store is incomplete; re-export it."
        )
    try:
        store, key = stores.zarr_store(path)
        arr = zarr.open_array(store=store, path=key, mode="r", zarr_format=zarr_format)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise StoreFormatError(
            f"Could not open the zarr array at {stores.describe(path)}: {exc}."
        ) from exc
    if not isinstance(arr, zarr.Array):
        raise StoreFormatError(f"{stores.describe(path)} is a zarr group, not an array.")
    _check_level(path, arr)
    return CheckedArray(arr, path)


def open_level(path: Path, *, zarr_format: int | None = None) -> Any:
    """Open one zarr array read-only and wrap it lazily in a dask array.

    Parameters
    ----------
    path : Path
        The array's folder.
    zarr_format : int, optional
        2 or 3; found from the files when omitted.

    Returns
    -------
    dask.array.Array
        A lazy view of the array; no chunk is read. Reading a corrupt chunk later raises
        :class:`StoreFormatError` naming the array.

    Raises
    ------
    StoreFormatError
        When the folder holds no readable zarr array, or one with a non-numeric data type or
        an empty dimension.
    """
    import dask.array as da
    import numpy as np
    from dask.base import tokenize

    level = open_array(path, zarr_format=zarr_format)
    arr = level.array
    name = "omezarr-" + tokenize(str(path), _stamp(path), arr.shape, str(arr.dtype), arr.chunks)
    meta = np.empty((0,) * arr.ndim, dtype=arr.dtype)
    # inline_array: slicing and computing stay cheap even with a million chunks (1e12 pixels)
    return da.from_array(level, chunks=arr.chunks, name=name, meta=meta, inline_array=True)


def _stamp(path: Any) -> object:
    """What changes when the array is rewritten, so that dask never serves old chunks."""
    if isinstance(path, Path):
        meta_file = path / ("zarr.json" if (path / "zarr.json").is_file() else ".zarray")
        return meta_file.stat().st_mtime_ns
    return stores.change_stamp(path)
