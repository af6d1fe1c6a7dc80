"""Answer "what is this path?" cheaply, without raising.

One small predicate per node kind, in the spirit of ome-zarr-py's ``matches``: each looks at
one or two metadata files of the dropped folder (never at pixel data, never a listing of a big
folder) and :func:`discover` returns a :class:`Node` whose ``kind`` says what it found. Anything
that is not an OME-Zarr image, bioformats2raw series, NGFF 0.6 scene, labels group, label
image, mask, ``.percell`` experiment (or a part of one) or Brieflow table is ``"not_ours"``; a
store that is ours but whose metadata cannot be parsed is ``"broken"`` so that the reader can
explain the problem.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import OmeZarrError, StoreAccessError, StoreFormatError
from napari_omezarr_export.core.read.zarr_nodes import NodeMeta, has_zarr_metadata, read_node_meta

__all__ = ["Node", "NodeKind", "discover", "find_percell_root"]

logger = logging.getLogger(__name__)

NodeKind = Literal[
    "image",
    "image_series",
    "scene",
    "plate",
    "well",
    "labels_group",
    "label_image",
    "mask",
    "particles",
    "percell",
    "percell_region",
    "brieflow_table",
    "broken",
    "not_ours",
]

PERCELL_STORES = ("images.zarr", "labels.zarr", "masks.zarr")
_MASK_NAME = re.compile(r"^(threshold_.+|thresh_\d+)$")
_MAX_PERCELL_DEPTH = 6


@dataclass(frozen=True)
class Node:
    """A discovered path.

    Parameters
    ----------
    path : Path
        The dropped folder.
    kind : NodeKind
        What it is.
    meta : NodeMeta or None
        Its parsed metadata, when it has any.
    percell_root : Path or None
        The enclosing ``.percell`` experiment folder, when there is one.
    message : str
        Why a ``"broken"`` node is broken, or why a ``"not_ours"`` path cannot be opened
        (empty when there is nothing to say).
    extra : dict
        Kind-specific facts (e.g. the mask layout).
    error : OmeZarrError or None
        The error to raise for a ``"broken"`` node, when it is not a plain format error (a
        store that could not be reached).
    documents : dict
        The metadata documents read while discovering (remote stores): opening the node goes
        on with them (`stores.read_session`).
    """

    path: Path
    kind: NodeKind
    meta: NodeMeta | None = None
    percell_root: Path | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    error: OmeZarrError | None = None
    documents: dict[str, bytes | None] = field(default_factory=dict, repr=False)

    @property
    def is_ours(self) -> bool:
        """True when the reader should claim this path."""
        return self.kind != "not_ours"

    @property
    def attrs(self) -> dict[str, Any]:
        """The node's (OME-unwrapped) attributes, or an empty dict."""
        return self.meta.attrs if self.meta is not None else {}


def find_percell_root(path: Path) -> Path | None:
    """Return the nearest ancestor (or ``path`` itself) named ``*.percell``, else None.

    Parameters
    ----------
    path : Path
        Any path.

    Returns
    -------
    Path or None
        The experiment folder.
    """
    for candidate in [path, *list(path.parents)[:_MAX_PERCELL_DEPTH]]:
        if candidate.name.lower().endswith(".percell"):
            return candidate
    return None


def _is_percell_experiment(path: Path) -> bool:
    return path.is_dir() and (
        (path / "experiment.db").is_file() or (path / "images.zarr").is_dir()
    )


def _has_array(path: Path) -> bool:
    return (path / ".zarray").is_file() or (path / "zarr.json").is_file()


def _mask_kind(path: Path) -> NodeKind | None:
    """Recognise PerCell mask groups by their names and the array under them."""
    name = path.name
    if _MASK_NAME.match(name):
        if _has_array(path / "0") or _has_array(path / "mask" / "0"):
            return "mask"
        return None
    if name in ("mask", "particles") and _MASK_NAME.match(path.parent.name):
        if _has_array(path / "0"):
            return "mask" if name == "mask" else "particles"
    return None


def _percell_kind(path: Path, root: Path) -> NodeKind | None:
    """Classify a folder inside a ``.percell`` experiment."""
    if path == root:
        return "percell" if _is_percell_experiment(path) else None
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if not parts or parts[0] not in PERCELL_STORES:
        return None
    if len(parts) == 1:
        return "percell" if _is_percell_experiment(root) else None
    if parts[0] == "images.zarr":
        meta = read_node_meta(path)
        return "percell_region" if "multiscales" in meta.attrs else None
    return None


def _kind_from_meta(meta: NodeMeta) -> NodeKind | None:
    attrs = meta.attrs
    if "multiscales" in attrs:
        return "label_image" if "image-label" in attrs else "image"
    if "scene" in attrs:
        return "scene"
    if "bioformats2raw.layout" in attrs:
        return "image_series"
    if "plate" in attrs:
        return "plate"
    if "well" in attrs:
        return "well"
    if isinstance(attrs.get("labels"), list):
        return "labels_group"
    if {"columns", "num_rows"} <= set(attrs):
        return "brieflow_table"
    return None


def _discover(path: Path) -> Node:
    if not isinstance(path, Path):  # remote or zipped: no folders to ask, no PerCell database
        meta = read_node_meta(path)
        kind = _kind_from_meta(meta)
        return Node(path, kind or "not_ours", meta)
    if not path.is_dir():
        return Node(path, "not_ours")
    root = find_percell_root(path)
    kind: NodeKind | None = _mask_kind(path)
    if kind is None and root is not None:
        kind = _percell_kind(path, root)
    if kind in ("percell", "mask", "particles"):
        return Node(path, kind, read_node_meta(path), percell_root=root)
    if not has_zarr_metadata(path):
        return Node(path, "not_ours")
    meta = read_node_meta(path)
    if kind is None:
        kind = _kind_from_meta(meta)
    if kind is None:
        return Node(path, "not_ours", meta)
    return Node(path, kind, meta, percell_root=root)


def discover(path: str | Path, *, storage_options: dict | None = None) -> Node:
    """Say what ``path`` is, reading at most a few small metadata files. Never raises.

    Parameters
    ----------
    path : str or Path
        A dropped path, or a URL (``https://``, ``s3://``...), or a ``.ozx`` file.
    storage_options : dict, optional
        For remote URLs: fsspec options (credentials, ``endpoint_url``, ``anon``...).

    Returns
    -------
    Node
        ``kind == "not_ours"`` for anything this plugin does not open, ``"broken"`` (with a
        message) for zarr stores whose metadata is corrupt.
    """
    try:
        path = stores.locate(path, storage_options=storage_options)
    except OmeZarrError as exc:  # an unknown scheme, or a missing fsspec package
        return Node(Path(), "not_ours", message=str(exc))
    except (TypeError, ValueError, RuntimeError, OSError):
        return Node(Path(), "not_ours")
    with stores.read_session() as documents:
        try:
            node = _discover(path)
        except StoreAccessError as exc:
            logger.debug("could not reach %s: %s", path, exc)
            node = Node(path, "broken", message=str(exc), error=exc)
        except StoreFormatError as exc:
            logger.debug("%s looks like zarr but is broken: %s", path, exc)
            node = Node(path, "broken", message=str(exc))
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            logger.debug("could not inspect %s: %s", path, exc)
            node = Node(path, "not_ours")
    return replace(node, documents=documents) if stores.is_remote(path) else node
