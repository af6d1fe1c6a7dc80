"""Read zarr v2/v3 node metadata from disk, cheaply and safely, and open arrays lazily.

This module is the only reading code that touches metadata files or zarr arrays directly: it
reads one or two small JSON files per node (``.zgroup``/``.zattrs``/``.zarray`` or
``zarr.json``), resolves child paths without ever leaving the dropped folder, and wraps
``zarr.open_array`` so that every failure becomes a :class:`StoreFormatError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from napari_omezarr_export.core.errors import StoreFormatError

__all__ = [
    "CheckedArray",
    "NodeMeta",
    "child_path",
    "has_zarr_metadata",
    "load_json",
    "open_array",
    "open_level",
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


def load_json(path: Path) -> dict[str, Any]:
    """Load one JSON object, turning every failure into a StoreFormatError."""
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise StoreFormatError(f"{path} is larger than 16 MB; it is not zarr metadata.")
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreFormatError(f"Could not read {path}: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise StoreFormatError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); the store's metadata "
            "is corrupt. Restore it from a backup or re-export the image."
        ) from exc
    if not isinstance(doc, dict):
        raise StoreFormatError(f"{path} holds a JSON {type(doc).__name__}, not an object.")
    return doc


def has_zarr_metadata(path: Path) -> bool:
    """Return True when ``path`` holds a zarr v2 or v3 metadata file (no parsing)."""
    return any((path / name).is_file() for name in (*_V2_FILES, "zarr.json"))


def read_node_meta(path: str | Path) -> NodeMeta:
    """Read a node's metadata (v3 ``zarr.json`` first, then v2 files).

    Parameters
    ----------
    path : str or Path
        The node's folder.

    Returns
    -------
    NodeMeta
        The parsed metadata; ``zarr_format`` is None when no metadata file exists.

    Raises
    ------
    StoreFormatError
        When a metadata file exists but cannot be read or parsed.
    """
    path = Path(path)
    v3 = path / "zarr.json"
    if v3.is_file():
        doc = load_json(v3)
        attributes = doc.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise StoreFormatError(f"{v3}: 'attributes' must be a JSON object.")
        ome = attributes.get("ome")
        attrs = dict(attributes)
        version = None
        if isinstance(ome, dict):
            attrs.update(ome)
            version = ome.get("version")
        node_type = doc.get("node_type")
        array = doc if node_type == "array" else {}
        return NodeMeta(path, 3, node_type, attrs, version, array)
    attrs = load_json(path / ".zattrs") if (path / ".zattrs").is_file() else {}
    if (path / ".zarray").is_file():
        return NodeMeta(path, 2, "array", attrs, None, load_json(path / ".zarray"))
    if (path / ".zgroup").is_file():
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
        raise StoreFormatError(f"{root}: {what} {relative!r} is not a non-empty string.")
    posix = PurePosixPath(relative.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or ":" in relative:
        raise StoreFormatError(
            f"{root}: {what} {relative!r} points outside the store; only relative paths inside "
            "the dropped folder are read."
        )
    return root.joinpath(*posix.parts)


class CheckedArray:
    """A zarr array seen through ``__getitem__`` only, so that chunk failures name the file.

    dask reads chunks lazily, long after the reader returned; a corrupt or truncated chunk then
    fails deep inside a codec (``RuntimeError: error during blosc decompression``). This thin
    wrapper turns such failures into a :class:`StoreFormatError` that says which array is broken.
    """

    def __init__(self, array: Any, path: Path) -> None:
        self.array = array
        self._path = path
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except (RuntimeError, ValueError, TypeError, KeyError, OSError) as exc:
            raise StoreFormatError(
                f"Could not read a chunk of the zarr array at {self._path} ({exc}). The chunk "
                "file is corrupt or truncated; restore the store from a backup or re-export it."
            ) from exc


def _check_level(path: Path, arr: Any) -> None:
    """Refuse arrays napari cannot show: non-numeric types, empty dimensions, huge chunks."""
    if arr.dtype.kind not in "biuf":
        raise StoreFormatError(
            f"The zarr array at {path} has data type {arr.dtype}, which is not a number type; "
            "only boolean, integer and floating-point images can be shown."
        )
    if arr.ndim < 1 or 0 in arr.shape:
        raise StoreFormatError(
            f"The zarr array at {path} has shape {tuple(arr.shape)}, with an empty dimension; "
            "there are no pixels to show. Re-export the image."
        )
    chunks = tuple(int(n) for n in arr.chunks)
    if len(chunks) != arr.ndim or min(chunks, default=1) < 1:
        raise StoreFormatError(
            f"The zarr array at {path} declares chunk shape {chunks}; every chunk dimension "
            "must be a positive whole number. The metadata is corrupt; re-export the image."
        )
    if math.prod(chunks) * arr.dtype.itemsize > _MAX_CHUNK_BYTES:
        size = math.prod(chunks) * arr.dtype.itemsize / 2**30
        raise StoreFormatError(
            f"The zarr array at {path} has chunks {chunks} of {size:.1f} GiB each; reading "
            "one would need that much memory. Re-chunk the store (e.g. 1024 x 1024 on y and x)."
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

    if not (path / ".zarray").is_file() and not (path / "zarr.json").is_file():
        raise StoreFormatError(
            f"{path} is listed as a resolution level but holds no zarr array (.zarray or "
            "zarr.json is missing). The store is incomplete; re-export it."
        )
    load_json(path / ("zarr.json" if (path / "zarr.json").is_file() else ".zarray"))
    try:
        arr = zarr.open_array(store=str(path), mode="r", zarr_format=zarr_format)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise StoreFormatError(f"Could not open the zarr array at {path}: {exc}.") from exc
    if not isinstance(arr, zarr.Array):
        raise StoreFormatError(f"{path} is a zarr group, not an array.")
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
    meta_file = path / ("zarr.json" if (path / "zarr.json").is_file() else ".zarray")
    stamp = meta_file.stat().st_mtime_ns
    name = "omezarr-" + tokenize(str(path), stamp, arr.shape, str(arr.dtype), arr.chunks)
    meta = np.empty((0,) * arr.ndim, dtype=arr.dtype)
    # inline_array: slicing and computing stay cheap even with a million chunks (1e12 pixels)
    return da.from_array(level, chunks=arr.chunks, name=name, meta=meta, inline_array=True)
